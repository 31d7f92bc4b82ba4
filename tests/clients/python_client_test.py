#!/usr/bin/python3
"""The poolcat Python package against the real poolcat-server.

Run through with_server.py, which starts a server on loopback and sets
POOLCAT_TARGET (and, with --tls, the certificates in POOLCAT_TLS_*):
- every example of the seed notebook (shared/seeds/000_03731dc8b5fa7a4c.txt)
  with its printed numbers;
- randomized cases against torch.nn.functional and torch.cat (Debian's
  python3-torch 1.13), compared byte for byte: shapes, dtypes, layouts,
  indices, bfloat16 through the dtype option. POOLCAT_RANDOM_SEED and
  POOLCAT_RANDOM_CASES change the seed and the count;
- error mapping (INVALID_ARGUMENT naming the argument, NOT_FOUND,
  UNAVAILABLE) and deadlines;
- the asyncio client.
"""

import asyncio
import os
import socket
import sys
import unittest

import grpc
import numpy as np

import poolcat

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # Only the randomized comparisons need torch.
    torch = None

TARGET = os.environ.get("POOLCAT_TARGET")
SEED = int(os.environ.get("POOLCAT_RANDOM_SEED", "20261125"))
RANDOM_CASES = int(os.environ.get("POOLCAT_RANDOM_CASES", "160"))


def tls_from_env():
    """poolcat.TLS when with_server.py --tls made certificates, else None."""
    ca = os.environ.get("POOLCAT_TLS_CA")
    if not ca:
        return None
    return poolcat.TLS(ca=ca, cert=os.environ.get("POOLCAT_TLS_CLIENT_CERT"),
                       key=os.environ.get("POOLCAT_TLS_CLIENT_KEY"))


def arange_4x4():
    return np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)


class ServerTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.client = poolcat.Client(TARGET, timeout=60, tls=tls_from_env())

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def assertRaisesCode(self, code, call, *args, **kwargs):
        """Runs call; returns the PoolcatError it must raise with `code`."""
        with self.assertRaises(poolcat.PoolcatError) as e:
            call(*args, **kwargs)
        self.assertEqual(e.exception.code(), code, e.exception.details())
        return e.exception


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set (run via "
                     "with_server.py)")
class SeedNotebook(ServerTest):
    """Each cell of the notebook, through the service."""

    def test_server_is_serving(self):
        self.assertEqual(self.client.health(), "SERVING")

    def test_hand_written_pool2d_max_and_avg_on_3x3(self):
        # In [5], In [6]: pool2d(X, (2, 2)) and pool2d(X, (2, 2), 'avg').
        x = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]],
                     np.float32)[None]
        np.testing.assert_array_equal(
            self.client.pool(x, op="max_pool2d", kernel_size=2, stride=1),
            [[[4, 5], [7, 8]]])
        np.testing.assert_array_equal(
            self.client.pool(x, op="avg_pool2d", kernel_size=2, stride=1),
            [[[2, 3], [5, 6]]])

    def test_2x2_max_pool_of_the_4x4_matrix(self):
        # The markdown example: [[1,3,2,4],[5,6,7,8],[9,2,1,0],[3,4,5,6]].
        x = np.array([[1, 3, 2, 4], [5, 6, 7, 8], [9, 2, 1, 0], [3, 4, 5, 6]],
                     np.float32)[None]
        np.testing.assert_array_equal(
            self.client.pool(x, op="max_pool2d", kernel_size=2),
            [[[6, 8], [9, 6]]])

    def test_max_pool2d_3_on_4x4_arange_is_10(self):
        # In [8]: nn.MaxPool2d(3)(X).
        out = self.client.pool(arange_4x4(), op="max_pool2d", kernel_size=3)
        self.assertEqual(out.dtype, np.float32)
        np.testing.assert_array_equal(out, [[[[10.0]]]])

    def test_max_pool2d_3_padding_1_stride_2(self):
        # In [9].
        out = self.client.pool(arange_4x4(), op="max_pool2d", kernel_size=3,
                               padding=1, stride=2)
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])

    def test_max_pool2d_2x3_stride_2x3_padding_0x1(self):
        # In [10].
        out = self.client.pool(arange_4x4(), op="max_pool2d",
                               kernel_size=(2, 3), stride=(2, 3),
                               padding=(0, 1))
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])

    def test_cat_x_and_x_plus_1_then_max_pool_gives_two_channels(self):
        # In [11], In [12].
        x = arange_4x4()
        both = self.client.concat([x, x + 1], dim=1)
        self.assertEqual(both.shape, (1, 2, 4, 4))
        np.testing.assert_array_equal(both, np.concatenate([x, x + 1], 1))
        out = self.client.pool(both, op="max_pool2d", kernel_size=3,
                               padding=1, stride=2)
        np.testing.assert_array_equal(
            out, [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]])

    def test_global_average_pooling_is_adaptive_avg_pool_to_1(self):
        # The notebook's "global pooling" (GAP) paragraph.
        out = self.client.pool(arange_4x4(), op="adaptive_avg_pool2d",
                               output_size=1)
        np.testing.assert_array_equal(out, [[[[7.5]]]])


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set")
class Results(ServerTest):

    def test_return_indices_are_int64_flat_per_plane(self):
        out, idx = self.client.pool(arange_4x4(), op="max_pool2d",
                                    kernel_size=3, padding=1, stride=2,
                                    return_indices=True)
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])
        self.assertEqual(idx.dtype, np.int64)
        np.testing.assert_array_equal(idx, [[[[5, 7], [13, 15]]]])

    def test_channels_last_layout_comes_back_channels_last(self):
        x = np.concatenate([arange_4x4(), arange_4x4() + 1], 1)
        nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        out = self.client.pool(nhwc, op="max_pool2d", kernel_size=3,
                               padding=1, stride=2, channels_last=True)
        np.testing.assert_array_equal(
            out.transpose(0, 3, 1, 2),
            [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]])

    def test_every_dtype_comes_back_as_it_went(self):
        for name in ("float32", "float64", "float16", "int8", "uint8",
                     "int16", "int32", "int64", "bool"):
            with self.subTest(dtype=name):
                x = (np.arange(16) % 3 == 0).astype(name).reshape(1, 4, 4)
                out = self.client.concat([x, x], dim=0)
                self.assertEqual(out.dtype, np.dtype(name))
                np.testing.assert_array_equal(out, np.concatenate([x, x]))
                if name == "bool":  # No max of bools in torch either.
                    e = self.assertRaisesCode(
                        grpc.StatusCode.INVALID_ARGUMENT, self.client.pool, x,
                        op="max_pool2d", kernel_size=2)
                    self.assertIn("dtype bool", e.details())
                    continue
                pooled = self.client.pool(x, op="max_pool2d", kernel_size=2)
                self.assertEqual(pooled.dtype, np.dtype(name))
                np.testing.assert_array_equal(
                    pooled, x.reshape(1, 2, 2, 2, 2).max(axis=(2, 4)))

    def test_bfloat16_option_pools_in_bfloat16(self):
        # 1 + 2^-8 is not a bfloat16: it rounds (ties to even) to 1.
        x = np.array([[[1.0, 1.00390625, 3.0, 2.0]]], np.float32)
        out = self.client.pool(x, op="avg_pool1d", kernel_size=2,
                               dtype="bfloat16")
        self.assertEqual(out.dtype, np.float32)
        np.testing.assert_array_equal(out, [[[1.0, 2.5]]])

    def test_replies_over_grpcs_default_4mib_limit_arrive(self):
        # 6 MiB back: the client must lift gRPC's 4 MiB receive default.
        a = np.arange(1024 * 768, dtype=np.float32).reshape(1, 1, 1024, 768)
        out = self.client.concat([a, -a], dim=1)
        np.testing.assert_array_equal(out, np.concatenate([a, -a], 1))

    def test_async_client_runs_calls_concurrently(self):
        async def run():
            async with poolcat.aio.Client(TARGET, timeout=60,
                                          tls=tls_from_env()) as client:
                xs = [arange_4x4() + i for i in range(8)]
                pooled = await asyncio.gather(*[
                    client.pool(x, op="max_pool2d", kernel_size=3, padding=1,
                                stride=2) for x in xs])
                cat = await client.concat(xs, dim=1)
                return xs, pooled, cat, await client.health()
        xs, pooled, cat, status = asyncio.run(run())
        for i, out in enumerate(pooled):
            np.testing.assert_array_equal(out, [[[[5 + i, 7 + i],
                                                  [13 + i, 15 + i]]]])
        np.testing.assert_array_equal(cat, np.concatenate(xs, 1))
        self.assertEqual(status, "SERVING")


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set")
class Errors(ServerTest):

    def test_bad_arguments_are_invalid_argument_naming_them(self):
        x = arange_4x4()
        cases = [
            (dict(op="max_pool2d", kernel_size=0), "kernel_size"),
            (dict(op="max_pool2d", kernel_size=2, stride=0), "stride"),
            (dict(op="max_pool2d", kernel_size=2, padding=2), "pad"),
            (dict(op="max_pool2d", kernel_size=2, dilation=0), "dilation"),
            (dict(op="max_pool2d", kernel_size=(2, 2, 2)), "kernel_size"),
            (dict(op="avg_pool2d", kernel_size=2, divisor_override=0),
             "divisor"),
            (dict(op="lp_pool2d", kernel_size=2), "norm_type"),
            (dict(op="adaptive_avg_pool2d", output_size=(1, -2)),
             "output_size"),
            (dict(op="median_pool2d", kernel_size=2), "median_pool2d"),
            (dict(op="max_pool2d", kernel_size=5), "size"),
            # Client-side: not even encodable.
            (dict(op="max_pool2d", kernel_size=2.5), "kernel_size"),
        ]
        for kwargs, name in cases:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                e = self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT,
                                          self.client.pool, x, **kwargs)
                self.assertIn(name, e.details())
                self.assertIn(name, str(e))

    def test_unsupported_dtype_for_op_is_invalid_argument(self):
        e = self.assertRaisesCode(
            grpc.StatusCode.INVALID_ARGUMENT, self.client.pool,
            np.ones((1, 4, 4), np.int32), op="avg_pool2d", kernel_size=2)
        self.assertIn("int32", e.details())

    def test_bad_concat_is_invalid_argument(self):
        a, b = np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32)
        e = self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT,
                                  self.client.concat, [a, b], dim=0)
        self.assertIn("tensors", e.details())
        # torch's IndexError, as gRPC's code for it.
        e = self.assertRaisesCode(grpc.StatusCode.OUT_OF_RANGE,
                                  self.client.concat, [a, a], dim=2)
        self.assertIn("Dimension out of range", e.details())
        self.assertRaisesCode(grpc.StatusCode.INVALID_ARGUMENT,
                              self.client.concat, [], dim=0)

    def test_unknown_health_service_is_not_found(self):
        self.assertRaisesCode(grpc.StatusCode.NOT_FOUND, self.client.health,
                              "no.such.Service")

    def test_a_closed_port_is_unavailable(self):
        # A loopback port that was free a moment ago: nothing listens there.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with poolcat.Client(f"127.0.0.1:{port}", timeout=30) as nowhere:
            self.assertRaisesCode(grpc.StatusCode.UNAVAILABLE,
                                  nowhere.health)


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set")
class Deadlines(ServerTest):

    def test_tiny_deadline_on_a_big_op_is_deadline_exceeded(self):
        # Seconds of work (as tests/integration's SlowPool) against 1 ms.
        x = np.random.default_rng(99).standard_normal(
            (1, 4, 64, 64, 64)).astype(np.float32)
        self.assertRaisesCode(grpc.StatusCode.DEADLINE_EXCEEDED,
                              self.client.pool, x, op="avg_pool3d",
                              kernel_size=21, stride=1, timeout=0.001)
        # The server is fine afterwards.
        np.testing.assert_array_equal(
            self.client.pool(arange_4x4(), op="max_pool2d", kernel_size=3),
            [[[[10.0]]]])

    def test_client_default_deadline_applies_unless_a_call_overrides_it(self):
        # A default deadline in the past fails every call that keeps it.
        with poolcat.Client(TARGET, timeout=-1, tls=tls_from_env()) as past:
            self.assertRaisesCode(grpc.StatusCode.DEADLINE_EXCEEDED,
                                  past.pool, arange_4x4(), op="max_pool2d",
                                  kernel_size=3)
            np.testing.assert_array_equal(
                past.pool(arange_4x4(), op="max_pool2d", kernel_size=3,
                          timeout=60), [[[[10.0]]]])

    def test_async_deadline_is_deadline_exceeded(self):
        async def run():
            async with poolcat.aio.Client(TARGET, timeout=-1,
                                          tls=tls_from_env()) as client:
                with self.assertRaises(poolcat.PoolcatError) as e:
                    await client.concat([arange_4x4()], dim=0)
                return e.exception
        error = asyncio.run(run())
        self.assertEqual(error.code(), grpc.StatusCode.DEADLINE_EXCEEDED)


# --------------------------------------------------------------------------
# Randomized comparison with PyTorch.

_TORCH_DTYPE = {} if torch is None else {
    "float32": torch.float32, "float64": torch.float64,
    "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16,
    "int32": torch.int32, "int64": torch.int64, "bool": torch.bool,
}
# Pool dtypes PyTorch 1.13 computes on CPU (others it refuses, so there is
# nothing to compare with; poolcat's own tests cover them).
_POOL_DTYPES = {
    "max_pool": ("float32", "float64", "bfloat16"),
    "avg_pool": ("float32", "float64", "bfloat16"),
    "lp_pool": ("float32", "float64", "bfloat16"),
    "adaptive_max_pool": ("float32", "float64", "bfloat16"),
    "adaptive_avg_pool": ("float32", "float64", "bfloat16"),
}
# lp_pool is bit-exact for these powers; others may differ by an ulp or two
# (core/pool.h, tests/oracle/gen_cases.py's EXACT_NORMS).
_LP_NORMS = (1.0, 2.0, 0.5, -1.0, -2.0, -0.5)


def _random_pool_case(rng):
    """(kwargs for Client.pool, numpy input, description) of a valid call."""
    family = rng.choice(list(_POOL_DTYPES))
    sd = int(rng.integers(1, 3 if family == "lp_pool" else 4))
    dtypes = _POOL_DTYPES[family]
    if sd == 3:
        dtypes = ("float32", "float64")  # torch has no 3-d bfloat16 pooling.
    dtype = dtypes[int(rng.integers(len(dtypes)))]
    op = f"{family}{sd}d"
    kw = {"op": op}
    spatial = []
    if family.startswith("adaptive"):
        out = []
        for _ in range(sd):
            size = int(rng.integers(1, 10))
            spatial.append(size)
            out.append(int(rng.integers(1, size + 2)))
        if sd > 1 and rng.random() < 0.3:
            out[int(rng.integers(sd))] = None
        kw["output_size"] = out[0] if sd == 1 else out
        if family == "adaptive_max_pool":
            kw["return_indices"] = bool(rng.random() < 0.5)
    else:
        k = [int(rng.integers(1, 5)) for _ in range(sd)]
        s = [int(rng.integers(1, 4)) for _ in range(sd)]
        p = ([int(rng.integers(0, ki // 2 + 1)) for ki in k]
             if family != "lp_pool" else [0] * sd)
        d = ([int(rng.integers(1, 3)) for _ in range(sd)]
             if family == "max_pool" else [1] * sd)
        for ki, pi, di in zip(k, p, d):
            window = di * (ki - 1) + 1
            spatial.append(max(1, window - 2 * pi) + int(rng.integers(0, 6)))
        kw["kernel_size"] = k
        kw["stride"] = None if rng.random() < 0.25 else s
        kw["ceil_mode"] = bool(rng.random() < 0.4)
        if family != "lp_pool":
            kw["padding"] = p
        if family == "max_pool":
            kw["dilation"] = d
            kw["return_indices"] = bool(rng.random() < 0.5)
        if family == "avg_pool":
            kw["count_include_pad"] = bool(rng.random() < 0.5)
            if sd > 1 and rng.random() < 0.3:
                kw["divisor_override"] = int(rng.integers(1, 6))
        if family == "lp_pool":
            kw["norm_type"] = _LP_NORMS[int(rng.integers(len(_LP_NORMS)))]
    batched = rng.random() < 0.75
    channels = int(rng.integers(1, 5))
    channels_last = bool(rng.random() < 0.3)
    kw["channels_last"] = channels_last
    logical = ([int(rng.integers(1, 3))] if batched else []) + [channels] + spatial
    x = rng.standard_normal(logical) * 4
    if rng.random() < 0.3:
        x = np.round(x)  # Ties: which index wins matters.
    if family == "lp_pool":
        x = np.abs(x) + 0.25  # Fractional powers of negatives are NaN.
    x = x.astype(np.float32 if dtype in ("float16", "bfloat16") else dtype)
    if dtype == "float16":
        x = x.astype(np.float16)
    return kw, x, dtype, batched, sd


def _physical(a, batched, channels_last, sd):
    """Channels-first logical array -> what goes on the wire."""
    if not channels_last:
        return np.ascontiguousarray(a)
    lead = 1 if batched else 0
    order = list(range(lead)) + list(range(lead + 1, lead + 1 + sd)) + [lead]
    return np.ascontiguousarray(a.transpose(order))


def _torch_pool(kw, sent, dtype, batched, sd):
    """torch's result (and indices) for the physical input `sent`, as
    physical numpy arrays.

    Channels-last data is handed to torch as a torch user holding NHWC data
    would: a permuted view, whose strides pick PyTorch's channels-last
    kernels (as tests/oracle/gen_cases.py does).
    """
    t = torch.from_numpy(sent)
    if dtype == "bfloat16":
        t = t.to(torch.bfloat16)
    if kw["channels_last"]:
        lead = [0] if batched else []
        c = len(lead) + sd
        t = t.permute(*lead, c, *range(len(lead), c))
    op = kw["op"]
    f = getattr(F, op)
    if op.startswith("adaptive"):
        args = (kw["output_size"],)
        extra = ({"return_indices": kw["return_indices"]}
                 if op.startswith("adaptive_max") else {})
        result = f(t, *args, **extra)
    elif op.startswith("max"):
        result = f(t, kw["kernel_size"], kw["stride"], kw["padding"],
                   kw["dilation"], ceil_mode=kw["ceil_mode"],
                   return_indices=kw["return_indices"])
    elif op.startswith("avg"):
        extra = ({"divisor_override": kw.get("divisor_override")}
                 if op != "avg_pool1d" else {})
        result = f(t, kw["kernel_size"], kw["stride"], kw["padding"],
                   ceil_mode=kw["ceil_mode"],
                   count_include_pad=kw["count_include_pad"], **extra)
    else:
        # lp_pool1d multiplies by kernel_size, so it must be a number there.
        k = kw["kernel_size"][0] if sd == 1 else kw["kernel_size"]
        result = f(t, kw["norm_type"], k, kw["stride"],
                   ceil_mode=kw["ceil_mode"])
    out, idx = result if isinstance(result, tuple) else (result, None)
    if dtype == "bfloat16":
        out = out.float()
    cl = kw["channels_last"]
    return (_physical(out.numpy(), batched, cl, sd),
            None if idx is None else _physical(idx.numpy(), batched, cl, sd))


def _random_concat_case(rng):
    names = list(_TORCH_DTYPE)
    rank = int(rng.integers(1, 5))
    dim = int(rng.integers(-rank, rank))
    base = [int(rng.integers(1, 4)) for _ in range(rank)]
    arrays, dtypes = [], []
    for _ in range(int(rng.integers(1, 5))):
        shape = list(base)
        shape[dim] = int(rng.integers(0, 4))
        name = names[int(rng.integers(len(names)))]
        v = rng.standard_normal(shape) * 50
        if name == "bool":
            a = v > 0
        elif name in ("float32", "float64", "float16"):
            a = v.astype(name)
        elif name == "bfloat16":
            a = v.astype(np.float32)
        else:
            info = np.iinfo(name)
            a = np.clip(np.round(v), info.min, info.max).astype(name)
        arrays.append(a)
        dtypes.append(name if name == "bfloat16" else None)
    return arrays, dtypes, dim


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set")
@unittest.skipIf(torch is None, "python3-torch is not installed")
class AgainstPyTorch(ServerTest):
    """Random valid calls; every result must equal PyTorch's, byte for byte."""

    def assertSameBytes(self, got, want, what):
        self.assertEqual(got.dtype, want.dtype, what)
        self.assertEqual(got.shape, want.shape, what)
        self.assertEqual(np.ascontiguousarray(got).tobytes(),
                         np.ascontiguousarray(want).tobytes(),
                         f"{what}\ngot  {got.ravel()[:16]}\nwant "
                         f"{want.ravel()[:16]}")

    def test_random_pool_calls_match_torch_nn_functional(self):
        rng = np.random.default_rng(SEED)
        refused = []
        for i in range(RANDOM_CASES):
            kw, x, dtype, batched, sd = _random_pool_case(rng)
            what = (f"case {i} (POOLCAT_RANDOM_SEED={SEED}): {dtype} "
                    f"{list(x.shape)} {kw}")
            with self.subTest(case=i):
                sent = _physical(x, batched, kw["channels_last"], sd)
                wire_dtype = "bfloat16" if dtype == "bfloat16" else None
                try:
                    want, want_idx = _torch_pool(kw, sent, dtype, batched, sd)
                except RuntimeError as torch_error:
                    # e.g. avg_pool3d's "input image smaller than kernel
                    # size": the service must refuse the call too.
                    e = self.assertRaisesCode(
                        grpc.StatusCode.INVALID_ARGUMENT, self.client.pool,
                        sent, **kw, dtype=wire_dtype)
                    refused.append((i, str(torch_error), e.details()))
                    continue
                got = self.client.pool(sent, **kw, dtype=wire_dtype)
                got, got_idx = got if isinstance(got, tuple) else (got, None)
                self.assertSameBytes(got, want, what)
                if want_idx is not None:
                    self.assertSameBytes(got_idx, want_idx, what + " indices")
        for case, torch_says, poolcat_says in refused:
            print(f"  case {case}: torch and poolcat both refuse: "
                  f"{torch_says!r} / {poolcat_says!r}", file=sys.stderr)
        # Most cases are valid: the comparison is what this test is for.
        self.assertLess(len(refused), RANDOM_CASES // 4)

    def test_random_concats_match_torch_cat(self):
        rng = np.random.default_rng(SEED + 1)
        for i in range(RANDOM_CASES // 3):
            arrays, dtypes, dim = _random_concat_case(rng)
            what = (f"case {i} (POOLCAT_RANDOM_SEED={SEED}): dim={dim} "
                    f"{[(a.shape, d or a.dtype.name) for a, d in zip(arrays, dtypes)]}")
            with self.subTest(case=i):
                tensors = [torch.from_numpy(a).to(torch.bfloat16)
                           if d == "bfloat16" else torch.from_numpy(a)
                           for a, d in zip(arrays, dtypes)]
                want = torch.cat(tensors, dim)
                if want.dtype == torch.bfloat16:
                    want = want.float()
                got = self.client.concat(arrays, dim=dim, dtype=dtypes)
                self.assertSameBytes(got, want.numpy(), what)


if __name__ == "__main__":
    if not TARGET:
        print("python_client_test: POOLCAT_TARGET not set; the server tests "
              "are skipped", file=sys.stderr)
    unittest.main(verbosity=2)
