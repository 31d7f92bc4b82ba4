#!/usr/bin/python3
"""The poolcat Python package against an in-process fake PoolCat server.

Checks what the client puts on the wire and how it decodes replies and
errors, without the C++ server: the fake records each request and answers
with the request's own input tensor, or with a status the test chooses.
"""

import asyncio
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import threading
import unittest

import grpc
import numpy as np

import poolcat
from poolcat import _health
from poolcat import _stubs

try:
    import torch
except ImportError:  # Only the bfloat16 rounding check uses it.
    torch = None

pb2, pb2_grpc = _stubs.load()


class FakePoolCat(pb2_grpc.PoolCatServicer):

    def __init__(self):
        self.requests = []
        self.fail_with = None  # (grpc.StatusCode, message) to abort with.
        self.reply = None  # A canned reply instead of the echo.
        # Set to make calls wait (at most 30 s) until the client gives up.
        self.hold = None

    def _answer(self, request, context, echo):
        self.requests.append(request)
        if self.hold is not None:
            self.hold.wait(30)
        if self.fail_with:
            context.abort(*self.fail_with)
        return self.reply if self.reply is not None else echo

    def Pool(self, request, context):
        echo = pb2.PoolResponse(output=request.input)
        if request.return_indices:
            echo.indices.CopyFrom(pb2.Tensor(
                dtype=pb2.DTYPE_INT64, shape=request.input.shape,
                data=np.arange(np.prod(request.input.shape), dtype="<i8")
                .tobytes()))
        return self._answer(request, context, echo)

    def Concat(self, request, context):
        return self._answer(request, context,
                            pb2.ConcatResponse(output=request.tensors[-1]))


def _health_handler(status):
    def check(request, context):
        if request.service not in ("", "poolcat.v1.PoolCat"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return _health.HealthCheckResponse(status=status)
    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=_health.HealthCheckRequest.FromString,
            response_serializer=_health.HealthCheckResponse.SerializeToString),
    })


class ClientAgainstFakeServer(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.fake = FakePoolCat()
        cls.server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=2))
        pb2_grpc.add_PoolCatServicer_to_server(cls.fake, cls.server)
        cls.server.add_generic_rpc_handlers([_health_handler(1)])
        port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server_port = port
        cls.server.start()
        cls.client = poolcat.Client(f"127.0.0.1:{port}", timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop(grace=None)

    def setUp(self):
        self.fake.requests.clear()
        self.fake.fail_with = None
        self.fake.reply = None
        self.fake.hold = None

    def last(self):
        self.assertEqual(len(self.fake.requests), 1)
        return self.fake.requests[0]

    def test_defaults_leave_optional_fields_empty(self):
        self.client.pool(np.zeros((1, 1, 4, 4), np.float32), op="max_pool2d",
                         kernel_size=3)
        r = self.last()
        self.assertEqual(r.op, "max_pool2d")
        self.assertEqual(list(r.kernel_size), [3])
        self.assertEqual(list(r.stride), [])
        self.assertEqual(list(r.padding), [])
        self.assertEqual(list(r.dilation), [])
        self.assertEqual(list(r.output_size), [])
        self.assertFalse(r.ceil_mode or r.channels_last or r.return_indices)
        self.assertFalse(r.HasField("count_include_pad"))
        self.assertFalse(r.HasField("divisor_override"))
        self.assertFalse(r.HasField("norm_type"))

    def test_every_argument_reaches_the_wire(self):
        self.client.pool(np.zeros((2, 3, 4), np.float32), op="avg_pool2d",
                         kernel_size=(2, 3), stride=[1, 2], padding=(0, 1),
                         dilation=2, ceil_mode=True, count_include_pad=False,
                         divisor_override=np.int64(5), norm_type=2,
                         channels_last=True)
        r = self.last()
        self.assertEqual(list(r.kernel_size), [2, 3])
        self.assertEqual(list(r.stride), [1, 2])
        self.assertEqual(list(r.padding), [0, 1])
        self.assertEqual(list(r.dilation), [2])
        self.assertTrue(r.ceil_mode and r.channels_last)
        self.assertTrue(r.HasField("count_include_pad"))
        self.assertFalse(r.count_include_pad)
        self.assertEqual(r.divisor_override, 5)
        self.assertEqual(r.norm_type, 2.0)

    def test_output_size_none_means_keep_dimension(self):
        self.client.pool(np.zeros((1, 5, 7), np.float32), op="adaptive_avg_pool2d",
                         output_size=(None, 3))
        self.assertEqual(list(self.last().output_size), [-1, 3])

    def test_input_tensor_is_little_endian_row_major(self):
        x = np.arange(12, dtype=">i4").reshape(3, 4).T  # Big-endian, F order.
        self.client.pool(x, op="max_pool1d", kernel_size=1)
        t = self.last().input
        self.assertEqual(t.dtype, pb2.DTYPE_INT32)
        self.assertEqual(list(t.shape), [4, 3])
        self.assertEqual(t.data, np.ascontiguousarray(x, "<i4").tobytes())

    def test_every_numpy_dtype_round_trips(self):
        for name, wire in [("float32", pb2.DTYPE_FLOAT32),
                           ("float64", pb2.DTYPE_FLOAT64),
                           ("float16", pb2.DTYPE_FLOAT16),
                           ("int8", pb2.DTYPE_INT8),
                           ("uint8", pb2.DTYPE_UINT8),
                           ("int16", pb2.DTYPE_INT16),
                           ("int32", pb2.DTYPE_INT32),
                           ("int64", pb2.DTYPE_INT64),
                           ("bool", pb2.DTYPE_BOOL)]:
            with self.subTest(dtype=name):
                self.fake.requests.clear()
                x = (np.arange(-3, 3) % 2 if name == "bool" else
                     np.arange(-3, 3) if name != "uint8" else
                     np.arange(250, 256)).astype(name).reshape(1, 2, 3)
                out = self.client.pool(x, op="max_pool1d", kernel_size=1)
                self.assertEqual(self.last().input.dtype, wire)
                self.assertEqual(out.dtype, np.dtype(name))
                self.assertTrue(out.flags.writeable)
                np.testing.assert_array_equal(out, x)

    def test_scalar_and_empty_shapes_round_trip(self):
        for x in (np.float32(7.5), np.zeros((0, 3, 2), np.float64)):
            with self.subTest(shape=np.shape(x)):
                out = self.client.concat([x])
                self.assertEqual(out.shape, np.shape(x))
                np.testing.assert_array_equal(out, x)

    def test_return_indices_gives_output_and_int64_indices(self):
        out, idx = self.client.pool(np.ones((1, 2, 2), np.float32), op="max_pool2d",
                                    kernel_size=1, return_indices=True)
        self.assertTrue(self.last().return_indices)
        self.assertEqual(out.shape, (1, 2, 2))
        self.assertEqual(idx.dtype, np.int64)
        np.testing.assert_array_equal(idx.ravel(), [0, 1, 2, 3])

    def test_concat_sends_every_tensor_and_dim(self):
        a = np.zeros((1, 2), np.float32)
        b = np.ones((1, 3), np.int64)
        out = self.client.concat([a, b], dim=-1)
        r = self.last()
        self.assertEqual(r.dim, -1)
        self.assertEqual([t.dtype for t in r.tensors],
                         [pb2.DTYPE_FLOAT32, pb2.DTYPE_INT64])
        np.testing.assert_array_equal(out, b)

    def test_server_status_becomes_poolcat_error(self):
        self.fake.fail_with = (grpc.StatusCode.INVALID_ARGUMENT,
                               "pool.kernel_size must be > 0, got 0")
        with self.assertRaises(poolcat.PoolcatError) as e:
            self.client.pool(np.zeros((1, 4, 4), np.float32), op="max_pool2d",
                             kernel_size=0)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.exception.details(),
                         "pool.kernel_size must be > 0, got 0")
        self.assertIn("INVALID_ARGUMENT", str(e.exception))

    def test_caller_channel_options_override_the_clients(self):
        with poolcat.Client(
                f"127.0.0.1:{self.server_port}", timeout=30,
                options=[("grpc.max_receive_message_length", 1024)]) as small:
            with self.assertRaises(poolcat.PoolcatError) as e:
                small.concat([np.zeros(1024, np.float32)])
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_per_call_timeout_gives_deadline_exceeded(self):
        self.fake.hold = threading.Event()
        try:
            with self.assertRaises(poolcat.PoolcatError) as e:
                self.client.concat([np.zeros(3, np.float32)], timeout=0.2)
        finally:
            self.fake.hold.set()
        self.assertEqual(e.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_bfloat16_arrays_round_trip_as_bfloat16(self):
        try:
            import ml_dtypes  # pylint: disable=import-outside-toplevel
        except ImportError:
            self.skipTest("no numpy bfloat16 dtype (ml_dtypes) installed")
        x = np.array([1.0, -2.5, 0.0], dtype=ml_dtypes.bfloat16)
        out = self.client.concat([x])
        t = self.last().tensors[0]
        self.assertEqual(t.dtype, pb2.DTYPE_BFLOAT16)
        self.assertEqual(t.data, x.view("<u2").tobytes())
        self.assertEqual(out.dtype, x.dtype)
        np.testing.assert_array_equal(out, x)

    def test_reply_with_wrong_byte_count_is_refused(self):
        self.fake.reply = pb2.ConcatResponse(output=pb2.Tensor(
            dtype=pb2.DTYPE_FLOAT32, shape=[2, 2], data=b"\0" * 12))
        with self.assertRaises(poolcat.PoolcatError) as e:
            self.client.concat([np.zeros(3, np.float32)])
        self.assertEqual(e.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertIn("12 bytes", e.exception.details())

    def test_unsupported_dtype_is_refused_before_sending(self):
        for x in (np.zeros(3, np.complex64), np.zeros(3, np.uint16),
                  np.array(["a"])):
            with self.subTest(dtype=x.dtype):
                with self.assertRaises(poolcat.PoolcatError) as e:
                    self.client.concat([np.zeros(3), x])
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn("arrays[1].dtype", e.exception.details())
        self.assertEqual(self.fake.requests, [])

    def test_non_integer_arguments_are_refused_before_sending(self):
        x = np.zeros((1, 4, 4), np.float32)
        for kwargs, name in [({"kernel_size": "3"}, "kernel_size"),
                             ({"kernel_size": (2, 1.5)}, "kernel_size[1]"),
                             ({"kernel_size": 2, "stride": True}, "stride"),
                             ({"kernel_size": 2, "divisor_override": 1.0},
                              "divisor_override")]:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                with self.assertRaises(poolcat.PoolcatError) as e:
                    self.client.pool(x, op="avg_pool2d", **kwargs)
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(e.exception.details().startswith(name + " "),
                                e.exception.details())
        self.assertEqual(self.fake.requests, [])

    def test_health_reports_serving_status_by_name(self):
        self.assertEqual(self.client.health(), "SERVING")
        with self.assertRaises(poolcat.PoolcatError) as e:
            self.client.health("no.such.Service")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)


    def test_dtype_option_sends_bfloat16_rounded_like_torch(self):
        x = np.array([1.0, 1.00390625, 1.01171875, -3.3, 65504.0, 3.4e38,
                      np.inf, -np.inf, np.nan, 1e-40, -0.0],
                     np.float32).reshape(1, 11)
        out = self.client.concat([x], dtype="bfloat16")
        t = self.last().tensors[0]
        self.assertEqual(t.dtype, pb2.DTYPE_BFLOAT16)
        bits = np.frombuffer(t.data, "<u2")
        if torch is not None:
            want = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16)
            want = want.numpy().view(np.uint16).ravel()
            # NaN aside: torch's vectorized .to() makes it 0xFFFF, c10's
            # scalar BFloat16(float) and poolcat's core 0x7FC0.
            keep = ~np.isnan(x.ravel())
            np.testing.assert_array_equal(bits[keep], want[keep])
        # The two ties round to even; NaN is c10::BFloat16's 0x7FC0, as in
        # poolcat's core (core/float16.h) and CLI.
        self.assertEqual(list(bits[:3]), [0x3F80, 0x3F80, 0x3F82])
        self.assertEqual(bits[8], 0x7FC0)
        # The bfloat16 reply is widened exactly to float32.
        self.assertEqual(out.dtype, np.float32)
        np.testing.assert_array_equal(
            out.view(np.uint32) >> 16, bits.astype(np.uint32).reshape(1, 11))

    def test_dtype_option_converts_before_sending(self):
        x = np.array([[0.5, 1.5, 2.5]], np.float64)
        out = self.client.pool(x, op="max_pool1d", kernel_size=1,
                               dtype="float16")
        self.assertEqual(self.last().input.dtype, pb2.DTYPE_FLOAT16)
        self.assertEqual(out.dtype, np.float16)
        self.fake.requests.clear()
        self.client.concat([x, x.astype(np.int32)], dtype=[None, "bfloat16"])
        self.assertEqual([t.dtype for t in self.last().tensors],
                         [pb2.DTYPE_FLOAT64, pb2.DTYPE_BFLOAT16])

    def test_bad_dtype_option_names_it(self):
        x = np.zeros((1, 4), np.float32)
        for kwargs, name in [({"dtype": "complex64"}, "dtype"),
                             ({"dtype": ["float32"]}, "dtype has 1 entries"),
                             ({"dtype": [None, "qint8"]}, "dtype[1]")]:
            with self.subTest(**kwargs):
                with self.assertRaises(poolcat.PoolcatError) as e:
                    self.client.concat([x, x], **kwargs)
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(e.exception.details().startswith(name),
                                e.exception.details())
        self.assertEqual(self.fake.requests, [])

    def test_misplaced_op_and_input_are_refused_naming_them(self):
        x = np.zeros((1, 4), np.float32)
        for args, kwargs, name in [((x, 3), {}, "op must be"),
                                   (("max_pool1d", x), {}, "op must be"),
                                   (("x",), {"op": "max_pool1d"}, "x must be")]:
            with self.subTest(name=name):
                with self.assertRaises(poolcat.PoolcatError) as e:
                    self.client.pool(*args, **kwargs)
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(e.exception.details().startswith(name),
                                e.exception.details())
        self.assertEqual(self.fake.requests, [])

    def test_error_is_an_rpc_error_with_grpc_accessors(self):
        self.fake.fail_with = (grpc.StatusCode.RESOURCE_EXHAUSTED, "too big")
        with self.assertRaises(grpc.RpcError) as e:
            self.client.concat([np.zeros(3, np.float32)])
        self.assertIsInstance(e.exception, poolcat.PoolcatError)
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertEqual(e.exception.details(), "too big")
        self.assertEqual(str(e.exception), "RESOURCE_EXHAUSTED: too big")

    def test_client_default_timeout_and_per_call_override(self):
        # A default already expired fails every call that does not override
        # it; the override wins. Negative deadlines are in the past whatever
        # the clock does.
        with poolcat.Client(f"127.0.0.1:{self.server_port}",
                            timeout=-1) as expired:
            with self.assertRaises(poolcat.PoolcatError) as e:
                expired.health()
            self.assertEqual(e.exception.code(),
                             grpc.StatusCode.DEADLINE_EXCEEDED)
            self.assertEqual(expired.health(timeout=30), "SERVING")

    def test_async_client_pools_concats_and_maps_errors(self):
        async def run():
            async with poolcat.aio.Client(f"127.0.0.1:{self.server_port}",
                                          timeout=30) as client:
                x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
                out, idx = await client.pool(x, op="max_pool1d",
                                             kernel_size=1,
                                             return_indices=True)
                cat = await client.concat([x], dim=1)
                status = await client.health()
                self.fake.fail_with = (grpc.StatusCode.INVALID_ARGUMENT,
                                       "stride should be greater than zero")
                try:
                    await client.pool(x, op="max_pool1d", kernel_size=1,
                                      stride=0)
                except poolcat.PoolcatError as e:
                    error = e
                return x, out, idx, cat, status, error
        x, out, idx, cat, status, error = asyncio.run(run())
        np.testing.assert_array_equal(out, x)
        self.assertEqual(idx.dtype, np.int64)
        np.testing.assert_array_equal(cat, x)
        self.assertEqual(status, "SERVING")
        self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("stride", error.details())


class ClientWithoutServer(unittest.TestCase):

    def test_bad_target_and_tls_are_refused_naming_them(self):
        for kwargs, name in [({"target": None}, "target"),
                             ({"target": "x:1", "tls": "yes"}, "tls must"),
                             ({"target": "x:1", "tls": {"cert": b"pem"}},
                              "tls: cert and key"),
                             ({"target": "x:1", "timeout": "5"}, "timeout"),
                             ({"target": "x:1",
                               "tls": poolcat.TLS(ca="/no/such/ca.pem")},
                              "tls.ca: cannot read")]:
            with self.subTest(name=name):
                with self.assertRaises(poolcat.PoolcatError) as e:
                    poolcat.Client(**kwargs)
                self.assertEqual(e.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(e.exception.details().startswith(name),
                                e.exception.details())

    def test_unreachable_server_is_unavailable_or_deadline(self):
        # Port 1 on loopback: nothing listens there, nothing leaves the host.
        with poolcat.Client("127.0.0.1:1", timeout=5) as client:
            with self.assertRaises(poolcat.PoolcatError) as e:
                client.health()
        self.assertIn(e.exception.code(), (grpc.StatusCode.UNAVAILABLE,
                                         grpc.StatusCode.DEADLINE_EXCEEDED))


class StubGeneration(unittest.TestCase):
    """`import poolcat` with only PYTHONPATH set generates its stubs itself."""

    PYTHON_DIR = os.path.dirname(os.path.dirname(
        os.path.realpath(poolcat.__file__)))

    def load_in_child(self, stubs_dir, pythonpath):
        env = dict(os.environ, PYTHONPATH=pythonpath,
                   POOLCAT_PYTHON_STUBS=stubs_dir)
        run = subprocess.run(
            [sys.executable, "-c",
             "import poolcat\nfrom poolcat import _stubs\n"
             "pb2, pb2_grpc = _stubs.load()\n"
             "print(pb2.__file__)\nprint(pb2_grpc.__file__)\n"
             "print(pb2.PoolRequest(count_include_pad=False)"
             ".HasField('count_include_pad'))"],
            env=env, capture_output=True, text=True, timeout=120, check=False)
        self.assertEqual(run.returncode, 0, run.stderr)
        return run.stdout.split()

    def test_first_use_generates_then_reuses_and_regenerates_when_stale(self):
        with tempfile.TemporaryDirectory() as tmp:
            stub_dir = os.path.join(tmp, "poolcat", "v1")
            # Both documented PYTHONPATH forms.
            for pythonpath in (self.PYTHON_DIR,
                               os.path.join(self.PYTHON_DIR, "src")):
                pb2_file, grpc_file, presence = self.load_in_child(
                    tmp, pythonpath)
                self.assertEqual(os.path.dirname(pb2_file), stub_dir)
                self.assertEqual(os.path.dirname(grpc_file), stub_dir)
                # proto3 `optional` kept its presence (protoc 3.21 output).
                self.assertEqual(presence, "True")
            first = os.stat(pb2_file).st_mtime_ns
            self.load_in_child(tmp, self.PYTHON_DIR)
            self.assertEqual(os.stat(pb2_file).st_mtime_ns, first)
            with open(os.path.join(stub_dir, ".poolcat-stubs.sha256"), "w",
                      encoding="ascii") as f:
                f.write("stale\n")
            os.utime(pb2_file, ns=(0, 0))
            self.load_in_child(tmp, self.PYTHON_DIR)
            self.assertNotEqual(os.stat(pb2_file).st_mtime_ns, 0)

    def test_refuses_to_replace_a_directory_it_did_not_make(self):
        with tempfile.TemporaryDirectory() as tmp:
            stub_dir = os.path.join(tmp, "poolcat", "v1")
            os.makedirs(stub_dir)
            mine = os.path.join(stub_dir, "notes.txt")
            with open(mine, "w", encoding="ascii") as f:
                f.write("not a stub\n")
            env = dict(os.environ, PYTHONPATH=self.PYTHON_DIR,
                       POOLCAT_PYTHON_STUBS=tmp)
            run = subprocess.run(
                [sys.executable, "-c", "import poolcat\npoolcat.Client()"],
                env=env, capture_output=True, text=True, timeout=120,
                check=False)
            self.assertNotEqual(run.returncode, 0)
            self.assertIn("not poolcat stubs", run.stderr)
            self.assertTrue(os.path.exists(mine))


if __name__ == "__main__":
    unittest.main(verbosity=2)
