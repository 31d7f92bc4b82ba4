#!/usr/bin/python3
"""The `poolcat` CLI end to end against the real poolcat-server: every seed
notebook example, errors and their exit codes, health, demo, bench, TLS.

Run by CTest with POOLCAT_SERVER and POOLCAT_CLI set (see CMakeLists.txt).
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from poolcat_server import CLI, HERE, PoolcatServer  # noqa: E402

# Every CLI run is bounded, so a hang fails the test instead of stalling CI.
RUN_TIMEOUT = 120


def run(*args, check=False):
    proc = subprocess.run([CLI, *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"poolcat {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stderr}")
    return proc


class CliTestCase(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = PoolcatServer().__enter__()
        cls.tmp = tempfile.TemporaryDirectory()

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        cls.server.__exit__(None, None, None)
        cls.tmp.cleanup()
        assert code == 0, f"server exit code {code}:\n{cls.server.output()}"

    def path(self, name):
        return os.path.join(self.tmp.name, f"{self.id()}.{name}")

    def save(self, name, array):
        p = self.path(name)
        np.save(p, array)
        return p

    def pool(self, x, *flags, indices=False):
        """Runs `poolcat pool` on array x; returns the output (and indices)."""
        inp = self.save("in.npy", x)
        out = self.path("out.npy")
        extra = [f"--indices={self.path('idx.npy')}"] if indices else []
        run("pool", f"--target={self.server.address}", *flags, *extra,
            "-o", out, inp, check=True)
        if indices:
            return np.load(out), np.load(self.path("idx.npy"))
        return np.load(out)

    def assert_same(self, got, expected):
        expected = np.asarray(expected)
        self.assertEqual(got.dtype, expected.dtype)
        self.assertEqual(got.shape, expected.shape)
        np.testing.assert_array_equal(got, expected)


def arange(n, shape, offset=0):
    return (np.arange(n, dtype=np.float32) + offset).reshape(shape)


class SeedNotebookThroughCli(CliTestCase):
    """The seed notebook's examples with its printed numbers."""

    def test_in5_max_pool_2x2_stride_1_on_3x3(self):
        y = self.pool(arange(9, (1, 3, 3)), "--op=max_pool2d", "--kernel_size=2,2",
                      "--stride=1")
        self.assert_same(y, np.array([[[4, 5], [7, 8]]], np.float32))

    def test_in6_avg_pool_2x2_stride_1_on_3x3(self):
        y = self.pool(arange(9, (1, 3, 3)), "--op=avg_pool2d", "--kernel_size=2",
                      "--stride=1")
        self.assert_same(y, np.array([[[2, 3], [5, 6]]], np.float32))

    def test_in8_max_pool_kernel_3(self):
        y = self.pool(arange(16, (1, 1, 4, 4)), "--op=max_pool2d", "--kernel_size=3")
        self.assert_same(y, np.array([[[[10]]]], np.float32))

    def test_in9_max_pool_kernel_3_padding_1_stride_2(self):
        y = self.pool(arange(16, (1, 1, 4, 4)), "--op=max_pool2d", "--kernel_size=3",
                      "--padding=1", "--stride=2")
        self.assert_same(y, np.array([[[[5, 7], [13, 15]]]], np.float32))

    def test_in10_rectangular_kernel_stride_and_padding(self):
        y = self.pool(arange(16, (1, 1, 4, 4)), "--op=max_pool2d", "--kernel_size=2,3",
                      "--stride=2,3", "--padding=0,1")
        self.assert_same(y, np.array([[[[5, 7], [13, 15]]]], np.float32))

    def test_in11_cat_and_in12_two_channel_pool(self):
        a = self.save("a.npy", arange(16, (1, 1, 4, 4)))
        b = self.save("b.npy", arange(16, (1, 1, 4, 4), 1))
        cat = self.path("cat.npy")
        run("concat", f"--target={self.server.address}", "--dim=1", "-o", cat, a, b,
            check=True)
        x = np.load(cat)
        self.assert_same(x, np.concatenate([arange(16, (1, 1, 4, 4)),
                                            arange(16, (1, 1, 4, 4), 1)], axis=1))
        y = self.pool(x, "--op=max_pool2d", "--kernel_size=3", "--padding=1",
                      "--stride=2")
        self.assert_same(y, np.array([[[[5, 7], [13, 15]], [[6, 8], [14, 16]]]],
                                     np.float32))

    def test_markdown_matrix_2x2_max_pool(self):
        m = np.array([[1, 3, 2, 4], [5, 6, 7, 8], [9, 2, 1, 0], [3, 4, 5, 6]],
                     np.float32).reshape(1, 4, 4)
        y = self.pool(m, "--op=max_pool2d", "--kernel_size=2")
        self.assert_same(y, np.array([[[6, 8], [9, 6]]], np.float32))

    def test_global_average_pooling(self):
        x = np.concatenate([arange(16, (1, 1, 4, 4)), arange(16, (1, 1, 4, 4), 1)], 1)
        y = self.pool(x, "--op=adaptive_avg_pool2d", "--output_size=1")
        self.assert_same(y, np.array([[[[7.5]], [[8.5]]]], np.float32))

    def test_demo_replays_every_example_and_exits_zero(self):
        proc = run("demo", f"--target={self.server.address}")
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("10/10 examples match", proc.stdout)
        # The notebook's In [12] output, as it printed it.
        self.assertIn("tensor([[[[ 5.,  7.],\n          [13., 15.]],\n\n"
                      "         [[ 6.,  8.],\n          [14., 16.]]]])", proc.stdout)


class CliFlags(CliTestCase):

    def test_indices_are_written_as_int64(self):
        y, idx = self.pool(arange(16, (1, 1, 4, 4)), "--op=max_pool2d",
                           "--kernel_size=3", "--padding=1", "--stride=2", indices=True)
        self.assert_same(y, np.array([[[[5, 7], [13, 15]]]], np.float32))
        self.assert_same(idx, np.array([[[[5, 7], [13, 15]]]], np.int64))

    def test_indices_for_an_op_without_them_is_refused(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        proc = run("pool", f"--target={self.server.address}", "--op=avg_pool2d",
                   "--kernel_size=2", f"--indices={self.path('idx.npy')}",
                   "-o", self.path("out.npy"), inp)
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.startswith("INVALID_ARGUMENT: --indices: "),
                        proc.stderr)
        self.assertFalse(os.path.exists(self.path("idx.npy")))

    def test_output_size_none_keeps_that_dim(self):
        x = arange(16, (1, 1, 4, 4))
        y = self.pool(x, "--op=adaptive_avg_pool2d", "--output_size=None,2")
        self.assert_same(y, x.reshape(1, 1, 4, 2, 2).mean(axis=4, dtype=np.float32))
        y2 = self.pool(x, "--op=adaptive_avg_pool2d", "--output_size=-1,2")
        self.assert_same(y2, y)

    def test_channels_last_matches_channels_first(self):
        rng = np.random.default_rng(7)
        x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
        first = self.pool(x, "--op=max_pool2d", "--kernel_size=2")
        last = self.pool(np.ascontiguousarray(x.transpose(0, 2, 3, 1)),
                         "--op=max_pool2d", "--kernel_size=2", "--channels_last=true")
        self.assert_same(last, np.ascontiguousarray(first.transpose(0, 2, 3, 1)))

    def test_bare_boolean_flag_means_true(self):
        x = arange(25, (1, 1, 5, 5))
        y = self.pool(x, "--op=max_pool2d", "--kernel_size=2", "--ceil_mode")
        self.assertEqual(y.shape, (1, 1, 3, 3))

    def test_avg_flags_reach_the_server(self):
        x = arange(16, (1, 1, 4, 4))
        y = self.pool(x, "--op=avg_pool2d", "--kernel_size=2", "--padding=1",
                      "--count_include_pad=false", "--divisor_override=1")
        # divisor 1: plain window sums. With padding 1 the corner window holds
        # only x[0,0]; the middle one rows 1-2, columns 1-2.
        self.assertEqual(y.shape, (1, 1, 3, 3))
        self.assertEqual(y[0, 0, 0, 0], 0.0)
        self.assertEqual(y[0, 0, 1, 1], 5 + 6 + 9 + 10)

    def test_lp_pool_norm_type(self):
        x = arange(16, (1, 1, 4, 4))
        y = self.pool(x, "--op=lp_pool2d", "--norm_type=1", "--kernel_size=2")
        self.assert_same(y, np.array([[[[10, 18], [42, 50]]]], np.float32))

    def test_one_value_applies_to_every_dim(self):
        x = arange(64, (1, 1, 4, 4, 4))
        y = self.pool(x, "--op=max_pool3d", "--kernel_size=2")
        self.assertEqual(y.shape, (1, 1, 2, 2, 2))
        self.assertEqual(y.max(), 63)

    def test_bfloat16_travels_through_float32_npy(self):
        x = arange(16, (1, 1, 4, 4))
        y = self.pool(x, "--op=avg_pool2d", "--kernel_size=2", "--dtype=bfloat16")
        self.assert_same(y, np.array([[[[2.5, 4.5], [10.5, 12.5]]]], np.float32))


class CliErrors(CliTestCase):

    def assert_fails(self, proc, code, *fragments, exit_code=1):
        self.assertEqual(proc.returncode, exit_code, proc.stderr)
        self.assertTrue(proc.stderr.startswith(code + ": "), proc.stderr)
        for fragment in fragments:
            self.assertIn(fragment, proc.stderr)

    def test_bad_argument_is_invalid_argument_naming_it(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool2d",
                   "--kernel_size=2", "--stride=0", "-o", self.path("o.npy"), inp)
        self.assert_fails(proc, "INVALID_ARGUMENT", "stride")
        self.assertFalse(os.path.exists(self.path("o.npy")))

    def test_unknown_op_is_invalid_argument(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        proc = run("pool", f"--target={self.server.address}", "--op=median_pool2d",
                   "--kernel_size=2", "-o", self.path("o.npy"), inp)
        self.assert_fails(proc, "INVALID_ARGUMENT", "median_pool2d")

    def test_concat_shape_mismatch_is_invalid_argument(self):
        a = self.save("a.npy", np.zeros((2, 3), np.float32))
        b = self.save("b.npy", np.zeros((2, 4), np.float32))
        proc = run("concat", f"--target={self.server.address}", "--dim=0", "-o",
                   self.path("o.npy"), a, b)
        self.assert_fails(proc, "INVALID_ARGUMENT")

    def test_fortran_order_npy_is_refused_with_a_clear_message(self):
        p = self.save("f.npy", np.asfortranarray(np.zeros((3, 4, 5), np.float32)))
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool1d",
                   "--kernel_size=2", "-o", self.path("o.npy"), p)
        self.assert_fails(proc, "INVALID_ARGUMENT", "f.npy")
        self.assertIn("ortran", proc.stderr)

    def test_big_endian_npy_is_refused(self):
        p = self.save("be.npy", np.zeros((1, 4, 4), ">f4"))
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool2d",
                   "--kernel_size=2", "-o", self.path("o.npy"), p)
        self.assert_fails(proc, "INVALID_ARGUMENT", "be.npy")

    def test_missing_input_file(self):
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool2d",
                   "--kernel_size=2", "-o", self.path("o.npy"), self.path("nope.npy"))
        self.assert_fails(proc, "NOT_FOUND", "nope.npy")

    def test_unreachable_server_is_unavailable(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        # Port 1 on loopback: nothing listens there.
        proc = run("pool", "--target=127.0.0.1:1", "--deadline=30", "--op=max_pool2d",
                   "--kernel_size=2", "-o", self.path("o.npy"), inp)
        self.assert_fails(proc, "UNAVAILABLE")

    def test_demo_without_a_server_stops_and_says_so(self):
        proc = run("demo", "--target=127.0.0.1:1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("UNAVAILABLE", proc.stdout)
        self.assertIn("Is poolcat-server running at 127.0.0.1:1?", proc.stdout)

    def test_malformed_list_is_a_usage_error(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool2d",
                   "--kernel_size=2,x", "-o", self.path("o.npy"), inp)
        self.assert_fails(proc, "INVALID_ARGUMENT", "--kernel_size", "2,x", exit_code=2)

    def test_missing_output_flag_is_a_usage_error(self):
        inp = self.save("in.npy", arange(16, (1, 1, 4, 4)))
        proc = run("pool", f"--target={self.server.address}", "--op=max_pool2d", inp)
        self.assertEqual(proc.returncode, 2, proc.stderr)


class CliLimits(unittest.TestCase):
    """Server limits and deadlines surface as their gRPC code names."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmp.cleanup()

    def save(self, name, array):
        p = os.path.join(self.tmp.name, name)
        np.save(p, array)
        return p

    def test_too_many_elements_is_resource_exhausted(self):
        with PoolcatServer(["--max_elements=100"]) as server:
            x = self.save("x.npy", arange(256, (1, 1, 16, 16)))
            proc = run("pool", f"--target={server.address}", "--op=max_pool2d",
                       "--kernel_size=2", "-o", os.path.join(self.tmp.name, "y.npy"), x)
            self.assertEqual(proc.returncode, 1)
            self.assertTrue(proc.stderr.startswith("RESOURCE_EXHAUSTED: "), proc.stderr)
            self.assertEqual(server.stop(), 0)

    def test_tiny_deadline_on_a_big_op_is_deadline_exceeded(self):
        with PoolcatServer() as server:
            rng = np.random.default_rng(3)
            x = self.save("x.npy", rng.standard_normal((1, 4, 512, 512), np.float32))
            proc = run("pool", f"--target={server.address}", "--deadline=0.001",
                       "--op=avg_pool2d", "--kernel_size=31", "--stride=1",
                       "-o", os.path.join(self.tmp.name, "y.npy"), x)
            self.assertEqual(proc.returncode, 1)
            self.assertTrue(proc.stderr.startswith("DEADLINE_EXCEEDED: "), proc.stderr)
            self.assertEqual(server.stop(), 0)


def wait_for_inflight(metrics_address, timeout=120.0):
    """Polls /metrics until a computation is in flight; False on timeout."""
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        with urllib.request.urlopen(f"http://{metrics_address}/metrics",
                                    timeout=30) as response:
            for line in response.read().decode().splitlines():
                if (line.startswith("poolcat_inflight_computations")
                        and float(line.split()[-1]) >= 1):
                    return True
        time.sleep(0.02)
    return False


class CliInterrupt(unittest.TestCase):
    """Ctrl-C cancels the call in flight instead of killing the CLI."""

    # Seconds of compute on one thread from a 4 MiB request.
    SLOW = ["--op=avg_pool3d", "--kernel_size=21", "--stride=1"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.x = os.path.join(self.tmp.name, "x.npy")
        rng = np.random.default_rng(11)
        np.save(self.x, rng.standard_normal((1, 4, 64, 64, 64), np.float32))

    def tearDown(self):
        self.tmp.cleanup()

    def interrupt_when_computing(self, server, args):
        proc = subprocess.Popen([CLI] + args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            self.assertTrue(wait_for_inflight(server.metrics_address))
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        return proc.returncode, out, err

    def test_sigint_cancels_pool_and_writes_nothing(self):
        with PoolcatServer(["--threads=1", "--metrics_listen=127.0.0.1:0"]) as server:
            out_path = os.path.join(self.tmp.name, "y.npy")
            code, _, err = self.interrupt_when_computing(
                server, ["pool", f"--target={server.address}", *self.SLOW,
                         "-o", out_path, self.x])
            self.assertEqual(code, 1, err)
            self.assertEqual(err.strip(), "CANCELLED: call cancelled by the client")
            self.assertFalse(os.path.exists(out_path))
            self.assertEqual(server.stop(), 0)

    def test_sigint_stops_bench_which_still_reports(self):
        with PoolcatServer(["--threads=1", "--metrics_listen=127.0.0.1:0"]) as server:
            code, out, err = self.interrupt_when_computing(
                server, ["bench", f"--target={server.address}", "--duration=600",
                         "--concurrency=1", "--shape=1,4,64,64,64", *self.SLOW,
                         "--json"])
            self.assertEqual(code, 0, err)
            report = json.loads(out)
            self.assertEqual(report["errors"], {})
            self.assertGreaterEqual(report["cancelled"], 1)
            self.assertEqual(server.stop(), 0)


class CliHealthAndBench(CliTestCase):

    def test_health_prints_serving(self):
        proc = run("health", f"--target={self.server.address}")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "SERVING")

    def test_health_of_the_service_by_name(self):
        proc = run("health", f"--target={self.server.address}",
                   "--service=poolcat.v1.PoolCat")
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "SERVING"))

    def test_bench_request_count_json(self):
        proc = run("bench", f"--target={self.server.address}", "--requests=40",
                   "--concurrency=3", "--shape=2,4,16,16", "--kernel_size=3",
                   "--stride=2", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = json.loads(proc.stdout)
        self.assertEqual(report["ok"], 40)
        self.assertEqual(report["errors"], {})
        self.assertEqual(report["shape"], [2, 4, 16, 16])
        lat = report["latency_ms"]
        self.assertTrue(0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"])
        self.assertGreater(report["requests_per_second"], 0)

    def test_bench_spreads_over_connections(self):
        proc = run("bench", f"--target={self.server.address}", "--requests=30",
                   "--concurrency=4", "--connections=3", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        report = json.loads(proc.stdout)
        self.assertEqual((report["ok"], report["connections"]), (30, 3))

    def test_bench_echo_by_duration_stops_by_itself(self):
        proc = run("bench", f"--target={self.server.address}", "--duration=1",
                   "--concurrency=2", "--echo", "--shape=1024")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("requests/s", proc.stdout)
        self.assertIn("p99", proc.stdout)
        self.assertIn("Echo", proc.stdout)

    def test_bench_with_refused_arguments_fails_fast(self):
        proc = run("bench", f"--target={self.server.address}", "--requests=5",
                   "--kernel_size=0")
        self.assertEqual(proc.returncode, 1)
        self.assertTrue(proc.stderr.startswith("INVALID_ARGUMENT: "), proc.stderr)


class CliTls(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.certs = cls.tmp.name
        subprocess.run([os.path.join(HERE, "gen_certs.sh"), cls.certs], check=True,
                       timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def cert(self, name):
        return os.path.join(self.certs, name)

    def test_tls_server_with_ca(self):
        flags = [f"--tls_cert={self.cert('server.pem')}",
                 f"--tls_key={self.cert('server.key')}"]
        with PoolcatServer(flags) as server:
            ok = run("health", f"--target={server.address}",
                     f"--tls_ca={self.cert('ca.pem')}")
            self.assertEqual((ok.returncode, ok.stdout.strip()), (0, "SERVING"),
                             ok.stderr)
            named = run("health", f"--target={server.address}",
                        f"--tls_ca={self.cert('ca.pem')}",
                        "--tls_server_name=poolcat.test")
            self.assertEqual(named.returncode, 0, named.stderr)
            plaintext = run("health", f"--target={server.address}", "--deadline=20")
            self.assertEqual(plaintext.returncode, 1)
            self.assertTrue(plaintext.stderr.startswith("UNAVAILABLE: "),
                            plaintext.stderr)
            self.assertEqual(server.stop(), 0)

    def test_mutual_tls_needs_a_client_certificate(self):
        flags = [f"--tls_cert={self.cert('server.pem')}",
                 f"--tls_key={self.cert('server.key')}",
                 f"--tls_client_ca={self.cert('ca.pem')}"]
        with PoolcatServer(flags) as server:
            x = os.path.join(self.certs, "x.npy")
            np.save(x, arange(16, (1, 1, 4, 4)))
            out = os.path.join(self.certs, "y.npy")
            ok = run("pool", f"--target={server.address}",
                     f"--tls_ca={self.cert('ca.pem')}",
                     f"--tls_cert={self.cert('client.pem')}",
                     f"--tls_key={self.cert('client.key')}",
                     "--op=max_pool2d", "--kernel_size=3", "-o", out, x)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertEqual(np.load(out).tolist(), [[[[10.0]]]])
            anonymous = run("health", f"--target={server.address}",
                            f"--tls_ca={self.cert('ca.pem')}", "--deadline=20")
            self.assertEqual(anonymous.returncode, 1)
            self.assertTrue(anonymous.stderr.startswith("UNAVAILABLE: "),
                            anonymous.stderr)
            self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
