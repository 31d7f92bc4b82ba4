#!/usr/bin/python3
"""poolcat_client against the real poolcat-server.

Run through with_server.py, which sets POOLCAT_TARGET to a server it started
on loopback. Replays the seed notebook's examples with its printed numbers
(shared/seeds/000_03731dc8b5fa7a4c.txt) and checks errors come back as
PoolcatError with the gRPC code. Under with_server.py --tls the same
checks run over TLS (or mutual TLS) with the certificates it made. Where Debian's python3-torch is importable,
a few further results are compared with PyTorch itself.
"""

import os
import sys
import unittest

import grpc
import numpy as np

import poolcat_client

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # The seed checks need no torch.
    torch = None

TARGET = os.environ.get("POOLCAT_TARGET")


def credentials_from_env():
    """TLS credentials when with_server.py --tls made certificates, else None."""
    def read(name):
        path = os.environ.get(name)
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()
    ca = read("POOLCAT_TLS_CA")
    if ca is None:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=read("POOLCAT_TLS_CLIENT_KEY"),
        certificate_chain=read("POOLCAT_TLS_CLIENT_CERT"))


def arange_4x4():
    return np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)


@unittest.skipUnless(TARGET, "POOLCAT_TARGET is not set (run via "
                     "with_server.py)")
class SeedNotebookThroughPythonClient(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.client = poolcat_client.Client(TARGET, timeout=60,
                                           credentials=credentials_from_env())

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def test_server_is_serving(self):
        self.assertEqual(self.client.health(), "SERVING")

    @unittest.skipUnless(os.environ.get("POOLCAT_TLS_CLIENT_CERT"),
                         "server does not demand client certificates")
    def test_mutual_tls_refuses_a_client_without_certificate(self):
        with open(os.environ["POOLCAT_TLS_CA"], "rb") as f:
            ca_only = grpc.ssl_channel_credentials(root_certificates=f.read())
        with poolcat_client.Client(TARGET, timeout=30,
                                   credentials=ca_only) as anonymous:
            with self.assertRaises(poolcat_client.PoolcatError) as e:
                anonymous.health()
        self.assertEqual(e.exception.code, grpc.StatusCode.UNAVAILABLE)

    def test_max_pool2d_k3_on_4x4_arange_is_10(self):
        out = self.client.pool("max_pool2d", arange_4x4(), kernel_size=3)
        self.assertEqual(out.dtype, np.float32)
        np.testing.assert_array_equal(out, [[[[10.0]]]])

    def test_max_pool2d_k3_padding1_stride2(self):
        out = self.client.pool("max_pool2d", arange_4x4(), kernel_size=3,
                               padding=1, stride=2)
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])

    def test_max_pool2d_k2x3_stride2x3_padding0x1(self):
        out = self.client.pool("max_pool2d", arange_4x4(), kernel_size=(2, 3),
                               stride=(2, 3), padding=(0, 1))
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])

    def test_cat_then_max_pool_gives_two_channels(self):
        x = arange_4x4()
        both = self.client.concat([x, x + 1], dim=1)
        np.testing.assert_array_equal(both, np.concatenate([x, x + 1], 1))
        out = self.client.pool("max_pool2d", both, kernel_size=3, padding=1,
                               stride=2)
        np.testing.assert_array_equal(
            out, [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]])

    def test_pool2d_max_and_avg_on_3x3_arange(self):
        # The notebook's hand-written pool2d: 2x2 windows, stride 1.
        x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
        np.testing.assert_array_equal(
            self.client.pool("max_pool2d", x, kernel_size=2, stride=1),
            [[[4, 5], [7, 8]]])
        np.testing.assert_array_equal(
            self.client.pool("avg_pool2d", x, kernel_size=2, stride=1),
            [[[2, 3], [5, 6]]])

    def test_2x2_max_pool_of_the_4x4_matrix(self):
        x = np.array([[1, 3, 2, 4], [5, 6, 7, 8], [9, 2, 1, 0], [3, 4, 5, 6]],
                     np.float32)[None]
        np.testing.assert_array_equal(
            self.client.pool("max_pool2d", x, kernel_size=2), [[[6, 8],
                                                                  [9, 6]]])

    def test_global_average_pooling_is_adaptive_avg_pool_to_1(self):
        out = self.client.pool("adaptive_avg_pool2d", arange_4x4(),
                               output_size=1)
        np.testing.assert_array_equal(out, [[[[7.5]]]])

    def test_return_indices_are_int64_flat_per_plane(self):
        out, idx = self.client.pool("max_pool2d", arange_4x4(), kernel_size=3,
                                    padding=1, stride=2, return_indices=True)
        np.testing.assert_array_equal(out, [[[[5, 7], [13, 15]]]])
        self.assertEqual(idx.dtype, np.int64)
        np.testing.assert_array_equal(idx, [[[[5, 7], [13, 15]]]])

    def test_channels_last_layout_comes_back_channels_last(self):
        x = np.concatenate([arange_4x4(), arange_4x4() + 1], 1)
        nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        out = self.client.pool("max_pool2d", nhwc, kernel_size=3, padding=1,
                               stride=2, channels_last=True)
        np.testing.assert_array_equal(
            out.transpose(0, 3, 1, 2),
            [[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]])

    def test_replies_over_grpcs_default_4mib_limit_arrive(self):
        # 6 MiB back: the client must lift gRPC's 4 MiB receive default.
        a = np.arange(1024 * 768, dtype=np.float32).reshape(1, 1, 1024, 768)
        out = self.client.concat([a, -a], dim=1)
        np.testing.assert_array_equal(out, np.concatenate([a, -a], 1))

    def test_zero_kernel_is_invalid_argument_naming_the_field(self):
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.pool("max_pool2d", arange_4x4(), kernel_size=0)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("kernel", e.exception.message)

    def test_unknown_op_is_invalid_argument(self):
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.pool("median_pool2d", arange_4x4(), kernel_size=2)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("median_pool2d", e.exception.message)

    def test_concat_of_mismatched_shapes_is_invalid_argument(self):
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.concat([np.zeros((2, 3), np.float32),
                                np.zeros((2, 4), np.float32)], dim=0)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)

    @unittest.skipIf(torch is None, "python3-torch not installed")
    def test_matches_pytorch_on_a_few_ops(self):
        rng = np.random.default_rng(1234)
        x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
        t = torch.from_numpy(x)
        cases = [
            (dict(op="avg_pool2d", kernel_size=3, stride=2, padding=1,
                  ceil_mode=True, count_include_pad=False),
             F.avg_pool2d(t, 3, 2, 1, ceil_mode=True,
                          count_include_pad=False)),
            (dict(op="max_pool2d", kernel_size=2, dilation=2),
             F.max_pool2d(t, 2, dilation=2)),
            (dict(op="lp_pool2d", kernel_size=2, norm_type=2.0),
             F.lp_pool2d(t, 2.0, 2)),
            (dict(op="adaptive_avg_pool2d", output_size=(None, 3)),
             F.adaptive_avg_pool2d(t, (None, 3))),
            (dict(op="adaptive_max_pool2d", output_size=1),
             F.adaptive_max_pool2d(t, 1)),
        ]
        for kwargs, want in cases:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                op = kwargs.pop("op")
                got = self.client.pool(op, x, **kwargs)
                np.testing.assert_allclose(got, want.numpy(), rtol=1e-6,
                                           atol=1e-6)
        a = np.arange(6, dtype=np.int32).reshape(2, 3)
        b = np.full((2, 1), 0.5, np.float64)
        got = self.client.concat([a, b], dim=-1)
        want = torch.cat([torch.from_numpy(a), torch.from_numpy(b)], -1)
        self.assertEqual(got.dtype, np.float64)
        np.testing.assert_array_equal(got, want.numpy())


if __name__ == "__main__":
    if not TARGET:
        print("python_client_test: POOLCAT_TARGET not set; the server tests "
              "are skipped", file=sys.stderr)
    unittest.main(verbosity=2)
