#!/usr/bin/python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/.

    /usr/bin/python3 tests/fuzz/make_seeds.py

Seeds are deterministic (fixed RNG seed), so rerunning rewrites the same
files. Inputs that libFuzzer found later (merged with `-merge=1`) and crash
regressions (named crash-*) sit beside them and are not touched here.

Request seeds are serialized poolcat.v1 messages; the proto module is made
with Debian's protoc into a temporary directory. .npy seeds come from
numpy.save plus hand-made broken headers. Kernel seeds are plain bytes (the
targets read every byte string as a configuration).
"""

import io
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")


def load_proto():
    out = tempfile.mkdtemp(prefix="poolcat_seeds_")
    subprocess.run(["protoc", f"-I{REPO}/proto", f"--python_out={out}",
                    "poolcat/v1/poolcat.proto"], check=True)
    sys.path.insert(0, out)
    from poolcat.v1 import poolcat_pb2  # noqa: E402
    return poolcat_pb2


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def tensor(pb, array, dtype=None):
    codes = {np.float32: 1, np.float64: 2, np.float16: 4, np.int8: 5, np.uint8: 6,
             np.int16: 7, np.int32: 8, np.int64: 9, np.bool_: 10}
    t = pb.Tensor(dtype=dtype or codes[array.dtype.type], shape=list(array.shape))
    t.data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    return t


def pool_seeds(pb, rng):
    x4 = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    x3 = rng.standard_normal((2, 3, 5)).astype(np.float32)
    x5 = rng.standard_normal((1, 2, 3, 4, 4)).astype(np.float64)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1, 2, 3, 4, 5], np.float32).reshape(1, 3, 3)
    seeds = {
        "max2d": pb.PoolRequest(op="max_pool2d", input=tensor(pb, x4), kernel_size=[2]),
        "max2d_indices": pb.PoolRequest(op="max_pool2d", input=tensor(pb, x4), kernel_size=[3],
                                        stride=[2], padding=[1], return_indices=True),
        "max1d_dilated": pb.PoolRequest(op="max_pool1d", input=tensor(pb, x3), kernel_size=[2],
                                        dilation=[2], ceil_mode=True),
        "max3d_int": pb.PoolRequest(op="max_pool3d",
                                    input=tensor(pb, (x5 * 10).astype(np.int32)),
                                    kernel_size=[1, 2, 2]),
        "max2d_specials": pb.PoolRequest(op="max_pool2d", input=tensor(pb, specials),
                                         kernel_size=[2], stride=[1]),
        "avg2d": pb.PoolRequest(op="avg_pool2d", input=tensor(pb, x4), kernel_size=[3],
                                padding=[1], count_include_pad=False),
        "avg2d_divisor": pb.PoolRequest(op="avg_pool2d", input=tensor(pb, x4), kernel_size=[2],
                                        divisor_override=3),
        "avg1d_f16": pb.PoolRequest(op="avg_pool1d", input=tensor(pb, x3.astype(np.float16)),
                                    kernel_size=[2], ceil_mode=True),
        "avg3d": pb.PoolRequest(op="avg_pool3d", input=tensor(pb, x5), kernel_size=[1, 2, 2]),
        "lp2d": pb.PoolRequest(op="lp_pool2d", input=tensor(pb, x4), kernel_size=[2],
                               norm_type=2.0),
        "lp1d_cl": pb.PoolRequest(op="lp_pool1d", input=tensor(pb, x3), kernel_size=[2],
                                    norm_type=1.5, channels_last=True),
        "amax2d": pb.PoolRequest(op="adaptive_max_pool2d", input=tensor(pb, x4),
                                 output_size=[3, -1], return_indices=True),
        "aavg2d_global": pb.PoolRequest(op="adaptive_avg_pool2d", input=tensor(pb, x4),
                                        output_size=[1]),
        "aavg3d": pb.PoolRequest(op="adaptive_avg_pool3d", input=tensor(pb, x5),
                                 output_size=[2, 2, 3]),
        "aavg1d_cl": pb.PoolRequest(op="adaptive_avg_pool1d", input=tensor(pb, x3),
                                    output_size=[2], channels_last=True),
        "bad_stride0": pb.PoolRequest(op="max_pool2d", input=tensor(pb, x4), kernel_size=[2],
                                      stride=[0]),
        "bad_dtype": pb.PoolRequest(op="max_pool2d", input=pb.Tensor(dtype=0, shape=[1, 1, 2, 2],
                                                                      data=b"\0" * 16),
                                    kernel_size=[2]),
        "bad_length": pb.PoolRequest(op="avg_pool2d", input=pb.Tensor(dtype=1, shape=[1, 1, 2, 2],
                                                                       data=b"\0" * 15),
                                     kernel_size=[2]),
        "bad_overflow": pb.PoolRequest(op="max_pool1d",
                                       input=pb.Tensor(dtype=1, shape=[1 << 40, 1 << 40, 2]),
                                       kernel_size=[2]),
        "bad_op": pb.PoolRequest(op="median_pool2d", input=tensor(pb, x4), kernel_size=[2]),
    }
    for name, msg in seeds.items():
        write("pool_request_fuzzer", name, msg.SerializeToString())


def concat_seeds(pb, rng):
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 4)).astype(np.float32)
    seeds = {
        "dim1": pb.ConcatRequest(tensors=[tensor(pb, a), tensor(pb, b)], dim=1),
        "dim_neg": pb.ConcatRequest(tensors=[tensor(pb, a), tensor(pb, a)], dim=-2),
        "promote": pb.ConcatRequest(tensors=[tensor(pb, a.astype(np.int16)),
                                             tensor(pb, a.astype(np.float64)),
                                             tensor(pb, a > 0)], dim=0),
        "legacy_empty": pb.ConcatRequest(tensors=[tensor(pb, np.zeros((0,), np.float32)),
                                                  tensor(pb, a)], dim=0),
        "mismatch": pb.ConcatRequest(tensors=[tensor(pb, a), tensor(pb, b)], dim=0),
        "dim_out_of_range": pb.ConcatRequest(tensors=[tensor(pb, a)], dim=5),
        "empty_list": pb.ConcatRequest(dim=0),
        "scalars": pb.ConcatRequest(tensors=[pb.Tensor(dtype=1, data=b"\0\0\x80\x3f")], dim=0),
    }
    for name, msg in seeds.items():
        write("concat_request_fuzzer", name, msg.SerializeToString())


def npy_seeds(rng):
    arrays = {
        "f32": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "f64": rng.standard_normal((5,)),
        "f16": rng.standard_normal((3, 3)).astype(np.float16),
        "i8": np.arange(-4, 4, dtype=np.int8),
        "u8": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "i16": np.arange(6, dtype=np.int16),
        "i32": np.arange(6, dtype=np.int32).reshape(3, 2),
        "i64": np.arange(4, dtype=np.int64),
        "bool": np.array([True, False, True]),
        "scalar": np.array(3.5, np.float32),
        "empty": np.zeros((0, 3), np.float32),
    }
    for name, arr in arrays.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        write("npy_fuzzer", name, buf.getvalue())
    good = io.BytesIO()
    np.save(good, arrays["f32"])
    g = good.getvalue()
    v2 = io.BytesIO()
    np.lib.format.write_array(v2, arrays["i32"], version=(2, 0))
    write("npy_fuzzer", "version2", v2.getvalue())
    v3 = io.BytesIO()
    np.lib.format.write_array(v3, arrays["f64"], version=(3, 0))
    write("npy_fuzzer", "version3", v3.getvalue())
    fortran = io.BytesIO()
    np.save(fortran, np.asfortranarray(arrays["f32"]))
    write("npy_fuzzer", "fortran", fortran.getvalue())
    big = io.BytesIO()
    np.save(big, arrays["f32"].astype(">f4"))
    write("npy_fuzzer", "big_endian", big.getvalue())
    write("npy_fuzzer", "truncated_data", g[:-5])
    write("npy_fuzzer", "truncated_header", g[:20])
    write("npy_fuzzer", "bad_magic", b"\x93NUMPX" + g[6:])
    write("npy_fuzzer", "huge_shape",
          g.replace(b"(2, 3, 4)", b"(9999999999, 9999999999, 4)".ljust(9)))
    write("npy_fuzzer", "object_dtype", g.replace(b"'<f4'", b"'|O' "))


def kernel_seeds(rng):
    targets = ["max_pool_fuzzer", "avg_pool_fuzzer", "lp_pool_fuzzer",
               "adaptive_max_pool_fuzzer", "adaptive_avg_pool_fuzzer", "concat_fuzzer"]
    r = random.Random(20261125)
    for t in targets:
        for i in range(12):
            n = r.choice([24, 48, 96, 200, 400])
            write(t, f"seed{i:02d}", bytes(r.getrandbits(8) for _ in range(n)))
        # A payload of float specials (NaN with payload bits, +-inf, -0).
        specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1.0, -2.5], np.float32).tobytes()
        write(t, "specials", bytes(r.getrandbits(8) for _ in range(24)) + specials * 8)


def main():
    pb = load_proto()
    rng = np.random.default_rng(7)
    pool_seeds(pb, rng)
    concat_seeds(pb, rng)
    npy_seeds(rng)
    kernel_seeds(rng)


if __name__ == "__main__":
    main()
