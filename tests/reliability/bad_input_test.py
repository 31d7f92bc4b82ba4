#!/usr/bin/python3
"""The bad-input matrix: hostile and malformed requests sent to the real
poolcat-server over the wire (raw gRPC request bytes, so anything can be
sent, including truncated or garbage protobuf and invalid UTF-8), and bad
arguments and malformed .npy files given to the real `poolcat` CLI.

Every case names the gRPC status code it must get and fragments its message
must contain (the field and, where there is one, the value). After the
matrix, the same server must still answer a correct request correctly, must
still be running, and must not have opened or written any file.

Run by CTest (label reliability) with POOLCAT_SERVER and POOLCAT_CLI set:
    ctest --test-dir build -R reliability.bad_input --output-on-failure
"""

import os
import struct
import subprocess
import sys
import tempfile
import unittest

import grpc
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from poolcat_server import CLI, PoolcatServer  # noqa: E402

RPC_TIMEOUT = 60  # seconds; every call is bounded so a hang fails the test
RUN_TIMEOUT = 120
# A small message limit makes "message over the size limit" cheap to send.
MAX_MESSAGE_BYTES = 1 << 20
POOL = "/poolcat.v1.PoolCat/Pool"
CONCAT = "/poolcat.v1.PoolCat/Concat"
ECHO = "/poolcat.v1.PoolCat/Echo"

INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
OUT_OF_RANGE = grpc.StatusCode.OUT_OF_RANGE


def load_proto():
    out = tempfile.mkdtemp(prefix="poolcat_bad_input_")
    subprocess.run(["protoc", f"-I{REPO}/proto", f"--python_out={out}",
                    "poolcat/v1/poolcat.proto"], check=True)
    sys.path.insert(0, out)
    from poolcat.v1 import poolcat_pb2  # noqa: E402
    return poolcat_pb2


pb = load_proto()
DT = {np.dtype(np.float32): 1, np.dtype(np.float64): 2, np.dtype(np.float16): 4,
      np.dtype(np.int8): 5, np.dtype(np.uint8): 6, np.dtype(np.int16): 7,
      np.dtype(np.int32): 8, np.dtype(np.int64): 9, np.dtype(np.bool_): 10}


# --- raw protobuf encoding, for what the Python protobuf library refuses to
# build (invalid UTF-8, wrong wire types, truncation).
def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ld(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def tensor(array, dtype=None, shape=None, data=None):
    array = np.asarray(array)
    t = pb.Tensor(dtype=DT[array.dtype] if dtype is None else dtype,
                  shape=list(array.shape) if shape is None else shape)
    t.data = array.astype(array.dtype.newbyteorder("<")).tobytes() if data is None else data
    return t


X = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
GOOD_POOL = pb.PoolRequest(op="max_pool2d", input=tensor(X), kernel_size=[2])
GOOD_POOL_BYTES = GOOD_POOL.SerializeToString()
A = np.zeros((2, 3), np.float32)


def pool(op="max_pool2d", x=X, **kw):
    t = kw.pop("input", None) or tensor(x)
    return pb.PoolRequest(op=op, input=t, **kw).SerializeToString()


def concat(tensors, dim=0):
    return pb.ConcatRequest(tensors=tensors, dim=dim).SerializeToString()


# A body that does not parse has no fields to name: the server names the
# method (gRPC decodes before poolcat sees a field).
UNPARSABLE_POOL = ["not a valid protobuf message", POOL]
UNPARSABLE_CONCAT = ["not a valid protobuf message", CONCAT]


# (name, method, request bytes, expected code, fragments of the message)
SERVER_CASES = [
    # dtype
    ("dtype_unspecified", POOL, pool(input=tensor(X, dtype=0)), INVALID,
     ["input.dtype", "DTYPE_UNSPECIFIED"]),
    ("dtype_unknown_enum_value", POOL, pool(input=tensor(X, dtype=99)), INVALID,
     ["input.dtype", "99"]),
    ("dtype_negative_enum_value", POOL, pool(input=tensor(X, dtype=-7)), INVALID,
     ["input.dtype", "-7"]),
    ("dtype_bool_for_max_pool", POOL, pool(x=X > 3, kernel_size=[2]), INVALID, ["bool"]),
    ("dtype_integer_for_avg_pool", POOL,
     pool("avg_pool2d", x=X.astype(np.int32), kernel_size=[2]), INVALID, ["int32"]),
    # data length vs shape
    ("data_one_byte_short", POOL, pool(input=tensor(X, data=X.tobytes()[:-1]), kernel_size=[2]),
     INVALID, ["input.data", "63 bytes", "64"]),
    ("data_one_byte_long", POOL, pool(input=tensor(X, data=X.tobytes() + b"\0"),
                                      kernel_size=[2]), INVALID, ["input.data", "65 bytes"]),
    ("data_sized_for_other_dtype", POOL, pool(input=tensor(X, dtype=2), kernel_size=[2]),
     INVALID, ["input.data", "float64", "128"]),
    ("data_missing", POOL, pool(input=tensor(X, data=b""), kernel_size=[2]), INVALID,
     ["input.data", "0 bytes"]),
    # dims
    ("dim_negative", POOL, pool(input=tensor(X, shape=[1, -1, 4, 4], data=b""), kernel_size=[2]),
     INVALID, ["input", "-1"]),
    ("dim_zero_spatial", POOL, pool(x=np.zeros((1, 1, 0, 4), np.float32), kernel_size=[1]),
     INVALID, ["input"]),
    ("dims_huge", POOL, pool(input=tensor(X, shape=[1 << 20, 1 << 20, 4, 4], data=b""),
                             kernel_size=[2]), EXHAUSTED, ["input", "elements"]),
    ("element_count_overflow", POOL,
     pool(input=tensor(X, shape=[(1 << 62), 4, 4, 4], data=b""), kernel_size=[2]),
     EXHAUSTED, ["input"]),
    # Found by concat_request_fuzzer: empty, but overflowing before the zero.
    ("empty_shape_overflowing_before_zero", CONCAT,
     concat([tensor(A, shape=[83, 4633647698040324095, 2, 0], data=b"")]), EXHAUSTED,
     ["tensors[0] shape [83, 4633647698040324095, 2, 0]", "overflows"]),
    ("element_count_int64_max", POOL,
     pool(input=tensor(X, shape=[(1 << 63) - 1, 2], data=b""), kernel_size=[2]),
     EXHAUSTED, ["input"]),
    ("rank_too_small", POOL, pool(x=np.zeros((4,), np.float32), kernel_size=[2]), INVALID,
     ["input", "[4]"]),
    ("rank_too_large", POOL, pool(x=np.zeros((1, 1, 1, 4, 4), np.float32), kernel_size=[2]),
     INVALID, ["input", "[1, 1, 1, 4, 4]"]),
    ("scalar_input", POOL, pool(x=np.float32(1.0).reshape(()), kernel_size=[1]), INVALID,
     ["input"]),
    # kernel / stride / padding / dilation
    ("kernel_larger_than_padded_input", POOL, pool(kernel_size=[5]), INVALID,
     ["kernel_size"]),
    ("kernel_zero", POOL, pool(kernel_size=[0]), INVALID, ["kernel_size", "0"]),
    ("kernel_negative", POOL, pool(kernel_size=[-2]), INVALID, ["kernel_size", "-2"]),
    ("kernel_wrong_length", POOL, pool(kernel_size=[2, 2, 2]), INVALID, ["kernel_size"]),
    ("kernel_missing", POOL, pool(), INVALID, ["kernel_size"]),
    ("stride_zero", POOL, pool(kernel_size=[2], stride=[0]), INVALID, ["stride", "0"]),
    ("stride_negative", POOL, pool(kernel_size=[2], stride=[-1]), INVALID, ["stride", "-1"]),
    ("padding_over_half_kernel", POOL, pool(kernel_size=[2], padding=[2]), INVALID,
     ["pad", "2"]),
    ("padding_negative", POOL, pool(kernel_size=[2], padding=[-1]), INVALID, ["pad", "-1"]),
    ("dilation_zero", POOL, pool(kernel_size=[2], dilation=[0]), INVALID, ["dilation", "0"]),
    ("dilation_negative", POOL, pool(kernel_size=[2], dilation=[-3]), INVALID,
     ["dilation", "-3"]),
    ("divisor_override_zero", POOL, pool("avg_pool2d", kernel_size=[2], divisor_override=0),
     INVALID, ["divisor_override"]),
    ("lp_norm_type_missing", POOL, pool("lp_pool2d", kernel_size=[2]), INVALID, ["norm_type"]),
    ("lp_norm_type_zero", POOL, pool("lp_pool2d", kernel_size=[2], norm_type=0.0), INVALID,
     ["norm_type"]),
    # adaptive output_size
    ("output_size_negative", POOL, pool("adaptive_max_pool2d", output_size=[-2]), INVALID,
     ["output_size", "-2"]),
    ("output_size_wrong_length", POOL, pool("adaptive_avg_pool2d", output_size=[1, 2, 3]),
     INVALID, ["output_size"]),
    ("output_size_huge", POOL, pool("adaptive_max_pool2d", output_size=[1 << 40, 1 << 40]),
     EXHAUSTED, ["output"]),
    # op
    ("op_unknown", POOL, pool("median_pool2d", kernel_size=[2]), INVALID, ["median_pool2d"]),
    ("op_empty", POOL, pool("", kernel_size=[2]), INVALID, ["op"]),
    ("op_4d", POOL, pool("max_pool4d", kernel_size=[2]), INVALID, ["max_pool4d"]),
    ("op_lp_3d", POOL, pool("lp_pool3d", kernel_size=[2], norm_type=2.0), INVALID,
     ["lp_pool3d"]),
    ("op_path_like", POOL, pool("../../etc/passwd", kernel_size=[2]), INVALID,
     ["../../etc/passwd"]),
    ("input_missing", POOL, pb.PoolRequest(op="max_pool2d", kernel_size=[2]).SerializeToString(),
     INVALID, ["input"]),
    # concat
    ("concat_empty", CONCAT, concat([]), INVALID, ["tensors"]),
    ("concat_shape_mismatch", CONCAT, concat([tensor(A), tensor(np.zeros((3, 4), np.float32))]),
     INVALID, ["tensors[1]", "[3, 4]", "Expected size 3 but got size 4"]),
    ("concat_rank_mismatch", CONCAT, concat([tensor(A), tensor(np.zeros((2, 3, 1), np.float32))]),
     INVALID, ["tensor"]),
    # torch's own words for dim: "Dimension out of range (... but got 2)".
    ("concat_dim_out_of_range", CONCAT, concat([tensor(A), tensor(A)], dim=2), OUT_OF_RANGE,
     ["Dimension out of range", "[-2, 1]", "got 2"]),
    ("concat_dim_negative_out_of_range", CONCAT, concat([tensor(A)], dim=-3), OUT_OF_RANGE,
     ["Dimension out of range", "got -3"]),
    ("concat_dim_int64_min", CONCAT, concat([tensor(A)], dim=-(1 << 63)), OUT_OF_RANGE,
     ["Dimension out of range", "got -9223372036854775808"]),
    ("concat_zero_dim_tensors", CONCAT, concat([tensor(np.float32(1).reshape(())),
                                                tensor(np.float32(2).reshape(()))]),
     INVALID, ["zero-dimensional"]),
    ("concat_bad_second_dtype", CONCAT, concat([tensor(A), tensor(A, dtype=42)]), INVALID,
     ["tensors[1].dtype", "42"]),
    ("concat_bad_first_length", CONCAT, concat([tensor(A, data=b"\0" * 5), tensor(A)]), INVALID,
     ["tensors[0].data", "5 bytes"]),
    ("concat_huge_tensor", CONCAT, concat([tensor(A, shape=[1 << 40, 1 << 40], data=b"")]),
     EXHAUSTED, ["tensors[0]"]),
    # the wire itself
    ("message_over_size_limit", ECHO,
     pb.EchoRequest(tensor=tensor(np.zeros(MAX_MESSAGE_BYTES // 4 + 16, np.float32)))
     .SerializeToString(), EXHAUSTED, ["message larger than max"]),
    ("protobuf_truncated", POOL, GOOD_POOL_BYTES[:len(GOOD_POOL_BYTES) // 2], INVALID,
     UNPARSABLE_POOL),
    ("protobuf_garbage", POOL, bytes(range(255, 0, -3)) * 4, INVALID, UNPARSABLE_POOL),
    ("protobuf_length_past_end", CONCAT, varint(1 << 3 | 2) + varint(1 << 30) + b"\0" * 8,
     INVALID, UNPARSABLE_CONCAT),
    ("protobuf_invalid_wire_type", POOL, GOOD_POOL_BYTES + varint(3 << 3 | 7) + b"\1",
     INVALID, UNPARSABLE_POOL),
    ("protobuf_unmatched_group_end", CONCAT, varint(1 << 3 | 4), INVALID, UNPARSABLE_CONCAT),
    ("protobuf_bad_nested_tensor", POOL, ld(1, b"max_pool2d") + ld(2, b"\xff\xff\xff"),
     INVALID, UNPARSABLE_POOL),
    ("protobuf_truncated_varint", POOL, ld(1, b"max_pool2d") + b"\x18\xff\xff", INVALID,
     UNPARSABLE_POOL),
    ("non_utf8_op", POOL, ld(1, b"max_pool2d\xff\xfe") + GOOD_POOL_BYTES[12:], INVALID,
     UNPARSABLE_POOL),
]

# Accepted and answered correctly: unknown fields are skipped (proto3), and
# a Pool answer must be the right one.
EXPECTED_MAX = np.array([[[[5, 7], [13, 15]]]], np.float32)
# Fields of the right number but the wrong wire type are unknown fields too.
MISTYPED_FIELD = varint(1 << 3 | 0) + varint(5) + GOOD_POOL_BYTES
UNKNOWN_FIELDS = (GOOD_POOL_BYTES + ld(99, b"future field") + varint(100 << 3 | 0) + varint(7)
                  + varint(101 << 3 | 5) + b"\1\2\3\4")


def call(channel, method, request, timeout=RPC_TIMEOUT):
    stub = channel.unary_unary(method)  # bytes in, bytes out
    return stub(request, timeout=timeout)


def status_of(channel, method, request, timeout=RPC_TIMEOUT):
    try:
        call(channel, method, request, timeout)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def open_files(pid):
    """Targets of the process's file descriptors that are regular files."""
    files = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("/") and not target.startswith("/dev/"):
            files.add(target)
    return files


class ServerMatrix(unittest.TestCase):
    """Every case against one server, which must survive them all."""

    @classmethod
    def setUpClass(cls):
        # The server's working directory is an empty directory the test
        # watches: no request may create anything in it.
        cls.cwd = tempfile.TemporaryDirectory()
        old = os.getcwd()
        os.chdir(cls.cwd.name)
        try:
            cls.server = PoolcatServer([f"--max_message_bytes={MAX_MESSAGE_BYTES}"]).__enter__()
        finally:
            os.chdir(old)
        cls.files_at_start = open_files(cls.server.proc.pid)
        cls.channel = grpc.insecure_channel(
            cls.server.address,
            options=[("grpc.max_send_message_length", 4 * MAX_MESSAGE_BYTES),
                     ("grpc.max_receive_message_length", 4 * MAX_MESSAGE_BYTES)])

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.server.stop()
        out = cls.server.output()
        cls.server.__exit__(None, None, None)
        cls.cwd.cleanup()
        assert code == 0, f"server exit code {code}:\n{out}"
        for marker in ("AddressSanitizer", "runtime error", "ThreadSanitizer", "Segmentation"):
            assert marker not in out, f"{marker} in server output:\n{out}"

    def test_matrix_has_at_least_forty_named_cases(self):
        names = [c[0] for c in SERVER_CASES]
        self.assertEqual(len(names), len(set(names)))
        self.assertGreaterEqual(len(names), 40)

    def test_every_bad_request_gets_its_code_and_names_the_field(self):
        for name, method, request, code, fragments in SERVER_CASES:
            with self.subTest(case=name):
                got, message = status_of(self.channel, method, request)
                self.assertEqual(got, code, f"{name}: {message}")
                for fragment in fragments:
                    self.assertIn(fragment, message, name)
        self.assert_still_serving()

    def test_deadline_already_passed_is_deadline_exceeded(self):
        for timeout in (0, -1):
            got, _ = status_of(self.channel, POOL, GOOD_POOL_BYTES, timeout=timeout)
            self.assertEqual(got, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assert_still_serving()

    def test_unknown_fields_are_ignored_and_the_answer_is_right(self):
        for request in (UNKNOWN_FIELDS, MISTYPED_FIELD):
            reply = pb.PoolResponse.FromString(call(self.channel, POOL, request))
            got = np.frombuffer(reply.output.data, np.float32).reshape(list(reply.output.shape))
            np.testing.assert_array_equal(got, EXPECTED_MAX)

    def test_output_size_zero_is_an_empty_result_as_in_torch(self):
        # torch 1.13 accepts 0 in an adaptive output_size and returns an empty
        # tensor; poolcat is PyTorch-exact, so this is not an error.
        for op in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
            reply = pb.PoolResponse.FromString(
                call(self.channel, POOL, pool(op, output_size=[0, 2])))
            self.assertEqual(list(reply.output.shape), [1, 1, 0, 2])
            self.assertEqual(reply.output.data, b"")

    def test_unknown_method_is_unimplemented(self):
        got, _ = status_of(self.channel, "/poolcat.v1.PoolCat/Erase", GOOD_POOL_BYTES)
        self.assertEqual(got, grpc.StatusCode.UNIMPLEMENTED)
        got, _ = status_of(self.channel, "/poolcat.v1.Files/Read", b"/etc/passwd")
        self.assertEqual(got, grpc.StatusCode.UNIMPLEMENTED)
        self.assert_still_serving()

    def test_no_request_makes_the_server_open_or_write_files(self):
        # Every case again, plus path-like strings everywhere a string goes.
        for _, method, request, _, _ in SERVER_CASES:
            status_of(self.channel, method, request)
        for path in ("/etc/passwd", "./written_by_request", "/tmp/poolcat_written"):
            status_of(self.channel, POOL, pool(path, kernel_size=[2]))
        self.assertEqual(os.listdir(self.cwd.name), [])
        self.assertFalse(os.path.exists("/tmp/poolcat_written"))
        self.assertLessEqual(open_files(self.server.proc.pid), self.files_at_start)
        self.assert_still_serving()

    def assert_still_serving(self):
        self.assertIsNone(self.server.proc.poll(), "server died")
        reply = pb.PoolResponse.FromString(call(self.channel, POOL, GOOD_POOL_BYTES))
        got = np.frombuffer(reply.output.data, np.float32).reshape(list(reply.output.shape))
        np.testing.assert_array_equal(got, EXPECTED_MAX)
        c = pb.ConcatResponse.FromString(call(self.channel, CONCAT, concat(
            [tensor(np.ones((1, 2), np.float32)), tensor(np.zeros((1, 3), np.float32))], dim=1)))
        np.testing.assert_array_equal(np.frombuffer(c.output.data, np.float32),
                                      [1, 1, 0, 0, 0])


# --- the CLI --------------------------------------------------------------

def npy_header(descr="'<f4'", fortran="False", shape="(1, 1, 4, 4)", version=1):
    header = f"{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}"
    if version == 1:
        pad = 64 - (10 + len(header) + 1) % 64
        header = (header + " " * pad + "\n").encode("latin1")
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header
    pad = 64 - (12 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(header)) + header


GOOD_NPY = npy_header() + X.tobytes()

# (name, bytes of the input file, fragments of the message[, code]); each
# must be refused (INVALID_ARGUMENT unless given) naming the file.
NPY_CASES = [
    ("npy_empty_file", b"", []),
    ("npy_bad_magic", b"\x93NUMPX" + GOOD_NPY[6:], ["magic"]),
    ("npy_truncated_magic", GOOD_NPY[:4], []),
    ("npy_truncated_header", GOOD_NPY[:30], []),
    ("npy_truncated_data", GOOD_NPY[:-3], []),
    ("npy_trailing_bytes", GOOD_NPY + b"\0\0\0\0", []),
    ("npy_unknown_version", b"\x93NUMPY\x07\x00" + GOOD_NPY[8:], ["version"]),
    ("npy_fortran_order", npy_header(fortran="True") + X.tobytes(), ["ortran"]),
    ("npy_big_endian", npy_header(descr="'>f4'") + X.byteswap().tobytes(), [">f4"]),
    ("npy_object_dtype", npy_header(descr="'|O'") + b"\0" * 128, ["|O"]),
    ("npy_complex_dtype", npy_header(descr="'<c8'") + b"\0" * 128, ["<c8"]),
    ("npy_structured_dtype", npy_header(descr="[('a', '<f4')]") + X.tobytes(), []),
    ("npy_header_not_a_dict", npy_header()[:10] + b"[1, 2, 3]".ljust(
        len(npy_header()) - 11) + b"\n" + X.tobytes(), []),
    ("npy_negative_dim", npy_header(shape="(1, -1, 4, 4)") + X.tobytes(), ["shape"]),
    ("npy_overflowing_shape", npy_header(shape="(4294967296, 4294967296, 4294967296)"),
     ["shape", "overflows"], "RESOURCE_EXHAUSTED"),
    ("npy_header_length_past_end", b"\x93NUMPY\x01\x00\xff\xff{'descr'", []),
    ("npy_non_ascii_header", npy_header(descr="'<f\xe94'") + X.tobytes(), []),
]


def run_cli(*args, **kw):
    return subprocess.run([CLI, *args], capture_output=True, timeout=RUN_TIMEOUT, **kw)


class CliMatrix(unittest.TestCase):
    """The same kinds of bad input through the `poolcat` CLI."""

    @classmethod
    def setUpClass(cls):
        cls.server = PoolcatServer([f"--max_message_bytes={MAX_MESSAGE_BYTES}"]).__enter__()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.target = f"--target={cls.server.address}"

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        out = cls.server.output()
        cls.server.__exit__(None, None, None)
        cls.tmp.cleanup()
        assert code == 0, f"server exit code {code}:\n{out}"

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def save(self, name, array):
        p = self.path(name)
        np.save(p, array)
        return p

    def assert_refused(self, proc, code, fragments, out=None):
        stderr = proc.stderr.decode("utf-8", "replace")
        self.assertIn(proc.returncode, (1, 2), stderr)
        self.assertTrue(stderr.startswith(code + ": "), stderr)
        for fragment in fragments:
            self.assertIn(fragment, stderr)
        if out:
            self.assertFalse(os.path.exists(out), "output written despite the error")

    def test_malformed_npy_files_are_refused_naming_the_file(self):
        self.assertGreaterEqual(len(NPY_CASES), 15)
        for name, data, fragments, *code in NPY_CASES:
            code = code[0] if code else "INVALID_ARGUMENT"
            with self.subTest(case=name):
                p = self.write(name + ".npy", data)
                out = self.path(name + ".out.npy")
                proc = run_cli("pool", self.target, "--op=max_pool2d", "--kernel_size=2",
                               "-o", out, p)
                self.assert_refused(proc, code, [name + ".npy"] + fragments, out)
                proc = run_cli("concat", self.target, "--dim=0", "-o", out, p, p)
                self.assert_refused(proc, code, [name + ".npy"], out)
        self.assert_cli_still_works()

    def test_bad_arguments_get_the_servers_code_naming_the_field(self):
        x = self.save("x.npy", X)
        a = self.save("a.npy", A)
        b = self.save("b.npy", np.zeros((3, 4), np.float32))
        c3 = self.save("c3.npy", np.zeros((2, 3, 1), np.float32))
        flags = self.save("bool.npy", X > 3)
        cases = [
            ("cli_stride_zero", ["pool", "--op=max_pool2d", "--kernel_size=2", "--stride=0", x],
             "INVALID_ARGUMENT", ["stride"]),
            ("cli_kernel_larger_than_input", ["pool", "--op=max_pool2d", "--kernel_size=9", x],
             "INVALID_ARGUMENT", ["kernel_size"]),
            ("cli_padding_over_half", ["pool", "--op=avg_pool2d", "--kernel_size=2",
                                       "--padding=2", x], "INVALID_ARGUMENT", ["pad"]),
            ("cli_dilation_zero", ["pool", "--op=max_pool2d", "--kernel_size=2",
                                   "--dilation=0", x], "INVALID_ARGUMENT", ["dilation"]),
            ("cli_output_size_negative", ["pool", "--op=adaptive_avg_pool2d",
                                          "--output_size=-2", x],
             "INVALID_ARGUMENT", ["output_size", "-2"]),
            ("cli_unknown_op", ["pool", "--op=median_pool2d", "--kernel_size=2", x],
             "INVALID_ARGUMENT", ["median_pool2d"]),
            ("cli_rank_too_small", ["pool", "--op=max_pool3d", "--kernel_size=2", a],
             "INVALID_ARGUMENT", ["input"]),
            ("cli_bool_max_pool", ["pool", "--op=max_pool2d", "--kernel_size=2", flags],
             "INVALID_ARGUMENT", ["bool"]),
            ("cli_concat_shape_mismatch", ["concat", "--dim=0", a, b], "INVALID_ARGUMENT", []),
            ("cli_concat_rank_mismatch", ["concat", "--dim=0", a, c3], "INVALID_ARGUMENT", []),
            ("cli_concat_dim_out_of_range", ["concat", "--dim=7", a, a], "OUT_OF_RANGE",
             ["Dimension out of range", "got 7"]),
            ("cli_message_over_limit", ["--max_message_bytes=1024", "pool", "--op=max_pool2d",
                                        "--kernel_size=2",
                                        self.save("big.npy", np.zeros((1, 1, 64, 64),
                                                                      np.float32))],
             "RESOURCE_EXHAUSTED", []),
            ("cli_non_utf8_op", ["pool", b"--op=max_pool2d\xff", "--kernel_size=2", x],
             "INVALID_ARGUMENT", ["--op", "UTF-8"]),
            ("cli_missing_file_non_utf8_name", ["pool", "--op=max_pool2d", "--kernel_size=2",
                                                os.fsencode(self.path("")) + b"nope\xff.npy"],
             "NOT_FOUND", ["nope"]),
        ]
        for name, args, code, fragments in cases:
            with self.subTest(case=name):
                out = self.path(name + ".out.npy")
                sub, rest = (args[1], args[2:]) if args[0].startswith("--") else (args[0], args[1:])
                pre = [args[0]] if args[0].startswith("--") else []
                argv = [sub, *pre, self.target, "-o", out, *rest]
                proc = run_cli(*argv)
                self.assert_refused(proc, code, fragments, out)
        self.assert_cli_still_works()

    def assert_cli_still_works(self):
        self.assertIsNone(self.server.proc.poll(), "server died")
        x = self.save("good.npy", X)
        out = self.path("good.out.npy")
        proc = run_cli("pool", self.target, "--op=max_pool2d", "--kernel_size=2", "-o", out, x)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        np.testing.assert_array_equal(np.load(out), EXPECTED_MAX)


if __name__ == "__main__":
    unittest.main(verbosity=2)
