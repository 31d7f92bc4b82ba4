#!/usr/bin/python3
"""poolcat-server's /metrics after a known mix of calls.

Starts the real server (one compute thread, --max_concurrent=1, small
limits), sends successes, invalid arguments, undecodable bodies, tensors and
responses over the limits, calls refused at the concurrency cap, health
checks and an unknown method, keeps a tally of what each call got, and
checks every counter of the scrape against the tally, label by label. The
exposition must also pass `promtool check metrics`.
"""

import os
import shutil
import subprocess
import sys
import time
import unittest
from collections import Counter, namedtuple

import grpc
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from poolcat_server import PoolcatServer  # noqa: E402
import metrics_text  # noqa: E402
from poolcat import _stubs  # noqa: E402

pb2, pb2_grpc = _stubs.load()

RPC_TIMEOUT = 300  # seconds; bounds every call so a hang fails the test
PATIENCE = 120  # seconds a polled condition may take on a loaded machine
POOLCAT = "poolcat.v1.PoolCat"
HEALTH = "grpc.health.v1.Health"
MAX_ELEMENTS = 4000000
MAX_MESSAGE_BYTES = 24 << 20

# gRPC codes as go-grpc-prometheus spells grpc_code.
GO_CODE = {
    grpc.StatusCode.OK: "OK", grpc.StatusCode.CANCELLED: "Canceled",
    grpc.StatusCode.UNKNOWN: "Unknown", grpc.StatusCode.INVALID_ARGUMENT: "InvalidArgument",
    grpc.StatusCode.DEADLINE_EXCEEDED: "DeadlineExceeded",
    grpc.StatusCode.NOT_FOUND: "NotFound", grpc.StatusCode.ALREADY_EXISTS: "AlreadyExists",
    grpc.StatusCode.PERMISSION_DENIED: "PermissionDenied",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "ResourceExhausted",
    grpc.StatusCode.FAILED_PRECONDITION: "FailedPrecondition",
    grpc.StatusCode.ABORTED: "Aborted", grpc.StatusCode.OUT_OF_RANGE: "OutOfRange",
    grpc.StatusCode.UNIMPLEMENTED: "Unimplemented", grpc.StatusCode.INTERNAL: "Internal",
    grpc.StatusCode.UNAVAILABLE: "Unavailable", grpc.StatusCode.DATA_LOSS: "DataLoss",
    grpc.StatusCode.UNAUTHENTICATED: "Unauthenticated",
}

# One call as the client saw it. `parsed`: the body was a valid message;
# `reason`: the poolcat_rejected_total reason the test meant it to hit.
Call = namedtuple("Call", "service method code parsed bytes_in bytes_out op reason")


def tensor(shape, seed=0):
    n = int(np.prod(shape))
    data = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return pb2.Tensor(dtype=pb2.DTYPE_FLOAT32, shape=list(shape), data=data.tobytes())


def payload(*tensors):
    return sum(len(t.data) for t in tensors)


class MixOfCalls(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = PoolcatServer([
            "--metrics_listen=127.0.0.1:0", "--threads=1", "--max_concurrent=1",
            f"--max_elements={MAX_ELEMENTS}", f"--max_message_bytes={MAX_MESSAGE_BYTES}"])
        cls.server.__enter__()
        cls.channel = grpc.insecure_channel(cls.server.address, options=[
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.max_receive_message_length", 64 << 20)])
        cls.stub = pb2_grpc.PoolCatStub(cls.channel)
        cls.calls = []
        cls.send_mix()
        cls.text = cls.scrape_when_idle()
        cls.samples = metrics_text.parse(cls.text)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)

    # -- sending ------------------------------------------------------------

    @classmethod
    def call(cls, method, request, op=None, reason=None, expect=grpc.StatusCode.OK):
        rpc = getattr(cls.stub, method)
        try:
            reply = rpc(request, timeout=RPC_TIMEOUT)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            reply, code = None, e.code()
        if method == "Pool":
            sent = payload(request.input)
            got = payload(reply.output, reply.indices) if reply else 0
        elif method == "Concat":
            sent = payload(*request.tensors)
            got = payload(reply.output) if reply else 0
        else:
            sent = payload(request.tensor)
            got = payload(reply.tensor) if reply else 0
        if expect is not None and code != expect:
            raise AssertionError(f"{method} {op}: expected {expect}, got {code}")
        cls.calls.append(Call(POOLCAT, method, GO_CODE[code], True, sent, got,
                              op if code == grpc.StatusCode.OK else None, reason))
        return code

    @classmethod
    def raw_call(cls, full_method, body, service, method, parsed, reason=None):
        rpc = cls.channel.unary_unary(full_method, request_serializer=lambda b: b,
                                      response_deserializer=lambda b: b)
        try:
            rpc(body, timeout=RPC_TIMEOUT)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        cls.calls.append(Call(service, method, GO_CODE[code], parsed, 0, 0, None, reason))
        return code

    @classmethod
    def send_mix(cls):
        tiny = tensor((1, 1, 4, 4))
        # Successes: tiny work (runs inline), work for a pool worker
        # (32 KiB in), indices, cat, echo.
        for i in range(5):
            cls.call("Pool", pb2.PoolRequest(op="max_pool2d", input=tiny, kernel_size=[2]),
                     op="max_pool2d")
        for i in range(3):
            cls.call("Pool", pb2.PoolRequest(op="avg_pool2d", input=tensor((1, 8, 32, 32), i),
                                             kernel_size=[3], stride=[1]), op="avg_pool2d")
        for i in range(2):
            cls.call("Pool", pb2.PoolRequest(op="max_pool1d", input=tensor((2, 3, 10), i),
                                             kernel_size=[2], return_indices=True),
                     op="max_pool1d")
        cls.call("Pool", pb2.PoolRequest(op="adaptive_avg_pool3d", input=tensor((2, 3, 4, 5, 6)),
                                         output_size=[1]), op="adaptive_avg_pool3d")
        for i in range(4):
            cls.call("Concat", pb2.ConcatRequest(tensors=[tensor((2, 3), i), tensor((5, 3), i)],
                                                 dim=0), op="cat")
        for i in range(3):
            cls.call("Echo", pb2.EchoRequest(tensor=tensor((7,), i)))

        # Invalid arguments: a window larger than the input, an unknown op,
        # a cat dimension out of range, a body that is no PoolRequest.
        for _ in range(3):
            cls.call("Pool", pb2.PoolRequest(op="max_pool2d", input=tiny, kernel_size=[5]),
                     reason="invalid", expect=grpc.StatusCode.INVALID_ARGUMENT)
        cls.call("Pool", pb2.PoolRequest(op="median_pool2d", input=tiny, kernel_size=[2]),
                 reason="invalid", expect=grpc.StatusCode.INVALID_ARGUMENT)
        for _ in range(2):
            cls.call("Concat", pb2.ConcatRequest(tensors=[tensor((2, 3))], dim=5),
                     reason="invalid", expect=grpc.StatusCode.OUT_OF_RANGE)
        code = cls.raw_call(f"/{POOLCAT}/Pool", b"\xff\xff\xff", POOLCAT, "Pool",
                            parsed=False, reason="invalid")
        assert code == grpc.StatusCode.INVALID_ARGUMENT, code

        # Too large: an input over --max_elements, a cat output over it, a
        # response over --max_message_bytes (adaptive pooling upsamples:
        # 2.56M outputs and their int64 indices, 30 MB).
        for _ in range(2):
            cls.call("Pool", pb2.PoolRequest(op="max_pool2d", input=tensor((1, 1, 2100, 2100)),
                                             kernel_size=[2]),
                     reason="too_large", expect=grpc.StatusCode.RESOURCE_EXHAUSTED)
        half = tensor((1, MAX_ELEMENTS // 2 + 1))
        cls.call("Concat", pb2.ConcatRequest(tensors=[half, half], dim=1),
                 reason="too_large", expect=grpc.StatusCode.RESOURCE_EXHAUSTED)
        cls.call("Pool", pb2.PoolRequest(op="adaptive_max_pool2d", input=tensor((1, 1, 8, 8)),
                                         output_size=[1600], return_indices=True),
                 reason="too_large", expect=grpc.StatusCode.RESOURCE_EXHAUSTED)

        # Over the concurrency cap: while a slow computation holds the only
        # slot, tiny calls are refused. Should the slow one finish first (a
        # much faster machine or kernel), the tiny calls succeed, are tallied
        # as such, and the round is repeated with four times the work (0.4 s,
        # 1.7 s, 6.5 s here).
        refused = 0
        for channels in (1, 4, 15):
            slow = pb2.PoolRequest(op="avg_pool3d", input=tensor((1, channels, 64, 64, 64)),
                                   kernel_size=[21], stride=[1])
            future = cls.stub.Pool.future(slow, timeout=RPC_TIMEOUT)
            deadline = time.monotonic() + PATIENCE
            while not future.done() and time.monotonic() < deadline:
                scraped = metrics_text.parse(metrics_text.scrape(cls.server.metrics_address))
                if metrics_text.value(scraped, "poolcat_inflight_computations") >= 1:
                    break
                time.sleep(0.01)
            for _ in range(2):
                code = cls.call("Pool", pb2.PoolRequest(op="max_pool2d", input=tiny,
                                                        kernel_size=[2]),
                                op="max_pool2d", reason="over_concurrency", expect=None)
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    refused += 1
                else:
                    assert code == grpc.StatusCode.OK, code
                    cls.calls[-1] = cls.calls[-1]._replace(reason=None)
            reply = future.result()
            cls.calls.append(Call(POOLCAT, "Pool", "OK", True, payload(slow.input),
                                  payload(reply.output), "avg_pool3d", None))
            if refused:
                break
        assert refused > 0, "no call was ever refused at --max_concurrent=1"

        # Other services: health checks, and a method nobody serves.
        for _ in range(2):
            cls.raw_call(f"/{HEALTH}/Check", b"", HEALTH, "Check", parsed=True)
        code = cls.raw_call("/made.up.Service/Nope", b"", "unknown", "unknown", parsed=False)
        assert code == grpc.StatusCode.UNIMPLEMENTED, code

    @classmethod
    def scrape_when_idle(cls):
        """The scrape once the server has closed every call: gRPC ends a call
        on the server a moment after the client has its reply."""
        deadline = time.monotonic() + PATIENCE
        while True:
            text = metrics_text.scrape(cls.server.metrics_address)
            samples = metrics_text.parse(text)
            if (metrics_text.value(samples, "poolcat_inflight_requests") == 0
                    or time.monotonic() > deadline):
                return text
            time.sleep(0.01)

    # -- checks -------------------------------------------------------------

    def value(self, name, **labels):
        return metrics_text.value(self.samples, name, **labels)

    def calls_to(self, service, method):
        return [c for c in self.calls if c.service == service and c.method == method]

    def rpc_labels(self, service, method):
        grpc_type = "bidi_stream" if service == "unknown" else "unary"
        return dict(grpc_service=service, grpc_method=method, grpc_type=grpc_type)

    def test_rpc_counters_equal_the_calls_per_method_and_code(self):
        methods = {(c.service, c.method) for c in self.calls}
        self.assertEqual(len(methods), 5)
        for service, method in methods:
            calls = self.calls_to(service, method)
            labels = self.rpc_labels(service, method)
            with self.subTest(method=method):
                self.assertEqual(self.value("grpc_server_started_total", **labels), len(calls))
                self.assertEqual(self.value("grpc_server_handling_seconds_count", **labels),
                                 len(calls))
                by_code = Counter(c.code for c in calls)
                for code in GO_CODE.values():
                    self.assertEqual(
                        self.value("grpc_server_handled_total", grpc_code=code, **labels),
                        by_code[code], f"{method} {code}")
                self.assertEqual(self.value("grpc_server_msg_received_total", **labels),
                                 sum(c.parsed for c in calls))
                self.assertEqual(self.value("grpc_server_msg_sent_total", **labels),
                                 by_code["OK"])

    def test_rejections_are_counted_by_reason(self):
        reasons = Counter(c.reason for c in self.calls if c.reason)
        self.assertEqual(set(reasons), {"invalid", "too_large", "over_concurrency"})
        self.assertEqual(reasons["invalid"], 7)
        self.assertEqual(reasons["too_large"], 4)
        for reason in ("invalid", "too_large", "over_concurrency"):
            self.assertEqual(self.value("poolcat_rejected_total", reason=reason),
                             reasons[reason], reason)
        self.assertEqual(len(metrics_text.series(self.samples, "poolcat_rejected_total")), 3)

    def test_kernel_time_is_counted_per_op_of_each_successful_call(self):
        ops = Counter(c.op for c in self.calls if c.op)
        self.assertEqual(ops["cat"], 4)
        exported = metrics_text.series(self.samples, "poolcat_op_seconds_count")
        self.assertEqual(len(exported), 15)  # The fixed op set, each from the start.
        for (_, labels), count in exported.items():
            op = dict(labels)["op"]
            self.assertEqual(count, ops[op], op)
        self.assertEqual(set(ops) - {dict(k[1])["op"] for k in exported}, set())

    def test_every_stage_of_every_pool_and_concat_call_is_timed(self):
        computing = [c for c in self.calls if c.service == POOLCAT and c.method != "Echo"]
        decoded = sum(c.parsed for c in computing)
        succeeded = sum(c.code == "OK" for c in computing)
        # Only successful calls were admitted to the compute pool here.
        expected = {"decode": decoded, "queue_wait": succeeded, "compute": succeeded,
                    "encode": succeeded}
        for stage, count in expected.items():
            self.assertEqual(self.value("poolcat_stage_seconds_count", stage=stage), count,
                             stage)
            self.assertGreater(self.value("poolcat_stage_seconds_sum", stage=stage), 0, stage)
        # Compute time is the kernel time of the ops.
        self.assertAlmostEqual(self.value("poolcat_stage_seconds_sum", stage="compute"),
                               self.value("poolcat_op_seconds_sum"), places=6)

    def test_payload_bytes_equal_what_was_sent_and_received(self):
        self.assertEqual(self.value("poolcat_bytes_in_total"),
                         sum(c.bytes_in for c in self.calls if c.parsed))
        self.assertEqual(self.value("poolcat_bytes_out_total"),
                         sum(c.bytes_out for c in self.calls))
        self.assertGreater(self.value("poolcat_bytes_out_total"), 0)

    def test_gauges_describe_the_idle_server(self):
        self.assertEqual(self.value("poolcat_inflight_requests"), 0)
        self.assertEqual(self.value("poolcat_inflight_computations"), 0)
        self.assertEqual(self.value("poolcat_compute_threads"), 1)
        self.assertEqual(self.value("poolcat_max_concurrent_computations"), 1)

    def test_histogram_buckets_are_cumulative_and_end_at_the_count(self):
        for name in ("grpc_server_handling_seconds", "poolcat_op_seconds",
                     "poolcat_stage_seconds"):
            for (_, labels), count in metrics_text.series(self.samples,
                                                          name + "_count").items():
                buckets = sorted(
                    ((float(dict(k)["le"]), v) for (_, k), v in
                     metrics_text.series(self.samples, name + "_bucket", **dict(labels)).items()))
                self.assertEqual(buckets[-1], (float("inf"), count), (name, labels))
                values = [v for _, v in buckets]
                self.assertEqual(values, sorted(values), (name, labels))

    def test_build_info_names_version_and_simd_target(self):
        info = metrics_text.series(self.samples, "poolcat_build_info")
        self.assertEqual(len(info), 1)
        (_, labels), value = next(iter(info.items()))
        labels = dict(labels)
        self.assertEqual(value, 1)
        self.assertEqual(labels["version"], os.environ.get("POOLCAT_VERSION", labels["version"]))
        self.assertRegex(labels["version"], r"^\d+\.\d+\.\d+")
        self.assertRegex(labels["simd_target"], r"^[A-Z0-9_]+$")

    def test_process_metrics_describe_the_server_process(self):
        pid = self.server.proc.pid
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        self.assertAlmostEqual(self.value("process_start_time_seconds"),
                               boot + int(fields[19]) / ticks, delta=0.02)
        # Counters only grow: the scrape is older than this read.
        self.assertLessEqual(self.value("process_cpu_seconds_total"),
                             (int(fields[11]) + int(fields[12])) / ticks)
        self.assertGreater(self.value("process_cpu_seconds_total"), 0)
        # The server's memory is its tensors and threads, megabytes at least.
        self.assertGreater(self.value("process_resident_memory_bytes"), 1 << 20)
        self.assertGreater(self.value("process_virtual_memory_bytes"),
                           self.value("process_resident_memory_bytes"))
        self.assertGreaterEqual(self.value("process_open_fds"), 3)
        self.assertLessEqual(self.value("process_open_fds"), self.value("process_max_fds"))
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            self.assertIn(f"# TYPE {name} ", self.text)

    def test_exposition_passes_promtool_check_metrics(self):
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        if not os.path.exists(promtool):
            self.fail("promtool not found: install Debian's prometheus package (make deps)")
        result = subprocess.run([promtool, "check", "metrics"], input=self.text,
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout + result.stderr, "")


if __name__ == "__main__":
    unittest.main()
