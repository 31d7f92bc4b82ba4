#!/usr/bin/python3
"""A real Prometheus server scraping a real poolcat-server.

Starts poolcat-server and Debian's Prometheus (/usr/bin/prometheus) on
loopback, Prometheus with a temporary data directory, a free port, a one
second scrape and evaluation interval and deploy/prometheus's scrape job and
rules. Drives a known mix of calls and asks Prometheus's HTTP API:

* `up` is 1 while the server runs and 0 once it is stopped, and the
  PoolcatDown alert then becomes pending;
* the scraped counters equal the calls sent, and the recorded rates, error
  ratio and latency percentiles reflect that traffic;
* every rule evaluates without error;
* every query of the Grafana dashboard returns data.

Conditions are polled with a generous deadline; nothing depends on timing.
Both processes are stopped at the end (and die with the test should it
crash).
"""

import ctypes
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from collections import Counter

import grpc
import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from poolcat_server import PoolcatServer  # noqa: E402
from poolcat import _stubs  # noqa: E402

pb2, pb2_grpc = _stubs.load()

DEPLOY = os.environ.get("POOLCAT_DEPLOY_DIR", os.path.join(HERE, "..", "..", "deploy"))
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PATIENCE = 180  # seconds a polled condition may take on a loaded machine
RPC_TIMEOUT = 120
POOLCAT = "poolcat.v1.PoolCat"


def die_with_parent():
    """preexec_fn: SIGKILL the child should this test process die."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_loopback_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def poll(what, condition, patience=PATIENCE):
    """condition() until it returns something truthy; fails after `patience`."""
    deadline = time.monotonic() + patience
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except (OSError, ValueError, KeyError) as e:  # Not up yet, or no data.
            last = e
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}: last result {last!r}")


class Prometheus:
    """Debian's Prometheus with a config and data under a temporary directory."""

    def __init__(self, config):
        self.dir = tempfile.mkdtemp(prefix="poolcat_prometheus_")
        self.config = os.path.join(self.dir, "prometheus.yml")
        with open(self.config, "w") as f:
            yaml.safe_dump(config, f)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.port = free_loopback_port()
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def output(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def get(self, path, **params):
        if self.proc.poll() is not None:
            # Not worth polling for (e.g. it lost its port to another process).
            raise AssertionError(f"prometheus exited ({self.proc.returncode}):\n"
                                 + self.output())
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=30) as reply:
            body = json.loads(reply.read().decode())
        if body.get("status") != "success":
            raise ValueError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr):
        """Instant query: {frozenset(labels): value} (the metric name left out)."""
        data = self.get("/api/v1/query", query=expr)
        if data["resultType"] != "vector":
            raise ValueError(f"{expr}: {data['resultType']}")
        return {frozenset((k, v) for k, v in r["metric"].items() if k != "__name__"):
                float(r["value"][1]) for r in data["result"]}

    def value(self, expr):
        """The value of a query that must return exactly one series."""
        result = self.query(expr)
        if len(result) != 1:
            raise ValueError(f"{expr}: {len(result)} series")
        return next(iter(result.values()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def tensor(shape, seed=0):
    n = int(np.prod(shape))
    data = np.random.default_rng(seed).standard_normal(n).astype(np.float32)
    return pb2.Tensor(dtype=pb2.DTYPE_FLOAT32, shape=list(shape), data=data.tobytes())


class PrometheusScrapesPoolcat(unittest.TestCase):

    def setUp(self):
        for path in (PROMETHEUS, shutil.which("promtool") or "/usr/bin/promtool"):
            if not os.path.exists(path):
                self.fail(f"{path} not found: install Debian's prometheus package (make deps)")
        self.server = PoolcatServer(["--metrics_listen=127.0.0.1:0", "--threads=1"])
        self.server.__enter__()
        self.addCleanup(self.server.__exit__, None, None, None)
        self.assertIsNotNone(self.server.metrics_address)

        # deploy/prometheus's config with this server as the target, the
        # rules by absolute path, and one second intervals.
        with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
            config = yaml.safe_load(f)
        config["global"].update(scrape_interval="1s", evaluation_interval="1s")
        config["rule_files"] = [os.path.join(os.path.abspath(DEPLOY), "prometheus", r)
                                for r in config["rule_files"]]
        (job,) = config["scrape_configs"]
        self.assertEqual(job["job_name"], "poolcat")
        job["scrape_timeout"] = "1s"
        job["static_configs"] = [{"targets": [self.server.metrics_address]}]
        self.prometheus = Prometheus(config)
        self.addCleanup(self.prometheus.stop)

        self.channel = grpc.insecure_channel(self.server.address)
        self.addCleanup(self.channel.close)
        self.stub = pb2_grpc.PoolCatStub(self.channel)

    def sent(self, method, request, expect):
        try:
            getattr(self.stub, method)(request, timeout=RPC_TIMEOUT)
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        self.assertEqual(code, expect, method)

    def test_recorded_rates_and_up_follow_the_traffic(self):
        try:
            self.scenario()
        except BaseException:
            sys.stderr.write("prometheus log:\n" + self.prometheus.output())
            sys.stderr.write("poolcat-server log:\n" + self.server.output())
            raise

    def scenario(self):
        prom = self.prometheus
        target = f'job="poolcat",instance="{self.server.metrics_address}"'
        poll("Prometheus to be ready", lambda: prom.get("/api/v1/status/runtimeinfo"))
        poll("up == 1", lambda: prom.value(f"up{{{target}}}") == 1)
        # Every handled series is exported at 0 from the start, so the first
        # scrape already holds the zero each rate starts from.
        poll("a first scrape", lambda: prom.value(
            f'grpc_server_handled_total{{{target},grpc_method="Pool",grpc_code="OK"}}') == 0)

        # Rounds of 4 OK pools, 1 invalid pool and 1 cat, until the recorded
        # Pool rate shows the traffic.
        tiny = tensor((1, 1, 4, 4))
        ok = pb2.PoolRequest(op="max_pool2d", input=tiny, kernel_size=[2])
        bad = pb2.PoolRequest(op="max_pool2d", input=tiny, kernel_size=[5])
        cat = pb2.ConcatRequest(tensors=[tensor((2, 3)), tensor((1, 3))], dim=0)
        tally = Counter()
        rate = (f'instance_method_code:grpc_server_handled:rate5m{{{target},'
                f'grpc_service="{POOLCAT}",grpc_method="%s",grpc_code="%s"}}')
        deadline = time.monotonic() + PATIENCE
        while True:
            for _ in range(20):
                for _ in range(4):
                    self.sent("Pool", ok, grpc.StatusCode.OK)
                self.sent("Pool", bad, grpc.StatusCode.INVALID_ARGUMENT)
                self.sent("Concat", cat, grpc.StatusCode.OK)
                tally.update({("Pool", "OK"): 4, ("Pool", "InvalidArgument"): 1,
                              ("Concat", "OK"): 1})
            if prom.query(rate % ("Pool", "OK") + " > 0") or time.monotonic() > deadline:
                break
            time.sleep(0.1)

        # Prometheus's counters reach exactly what was sent.
        for (method, code), count in tally.items():
            poll(f"{method} {code} == {count}", lambda: prom.value(
                f'grpc_server_handled_total{{{target},grpc_method="{method}",'
                f'grpc_code="{code}"}}') == count)

        # Recorded rates: counters start at 0 inside the window, so the rates
        # are in the ratio of the calls (4 OK : 1 invalid per round).
        def rates_settled():
            pool_ok = prom.value(rate % ("Pool", "OK"))
            pool_bad = prom.value(rate % ("Pool", "InvalidArgument"))
            return pool_bad > 0 and abs(pool_ok / pool_bad - 4) < 0.01
        poll("recorded Pool rates in the 4:1 ratio of the calls", rates_settled)
        pool_ok = prom.value(rate % ("Pool", "OK"))
        pool_bad = prom.value(rate % ("Pool", "InvalidArgument"))
        pool_all = prom.value(f'instance_method:grpc_server_handled:rate5m{{{target},'
                              f'grpc_method="Pool"}}')
        self.assertAlmostEqual(pool_all, pool_ok + pool_bad, delta=1e-9 * pool_all)
        self.assertGreater(prom.value(rate % ("Concat", "OK")), 0)
        self.assertEqual(prom.value(rate % ("Echo", "OK")), 0)
        # Invalid arguments are the client's: no server errors.
        self.assertEqual(prom.value(f'instance_method:grpc_server_errors:ratio_rate5m{{'
                                    f'{target},grpc_method="Pool"}}'), 0)
        p50 = prom.value(f'instance_method:grpc_server_handling_seconds:p50_5m{{{target},'
                         f'grpc_method="Pool"}}')
        p99 = prom.value(f'instance_method:grpc_server_handling_seconds:p99_5m{{{target},'
                         f'grpc_method="Pool"}}')
        self.assertTrue(0 < p50 <= p99 <= 10, (p50, p99))

        self.check_rules_evaluate(target)
        self.check_dashboard_queries()

        # Stopping the server: `up` drops to 0 and PoolcatDown is pending.
        self.assertEqual(self.server.stop(), 0)
        poll("up == 0", lambda: prom.value(f"up{{{target}}}") == 0)

        def down_alert():
            return [a for a in prom.get("/api/v1/alerts")["alerts"]
                    if a["labels"].get("alertname") == "PoolcatDown"
                    and a["labels"].get("instance") == self.server.metrics_address
                    and a["state"] in ("pending", "firing")]
        poll("PoolcatDown pending", down_alert)

    def check_rules_evaluate(self, target):
        with open(os.path.join(DEPLOY, "prometheus", "alerts.yml")) as f:
            names = {r.get("record") or r.get("alert")
                     for g in yaml.safe_load(f)["groups"] for r in g["rules"]}

        def all_evaluated():
            rules = {r["name"]: r for g in self.prometheus.get("/api/v1/rules")["groups"]
                     for r in g["rules"]}
            evaluated = all(not r["lastEvaluation"].startswith("0001")
                            for r in rules.values())
            return rules if set(rules) == names and evaluated else None
        rules = poll("every rule evaluated", all_evaluated)
        for name, rule in rules.items():
            self.assertEqual(rule["health"], "ok", f"{name}: {rule.get('lastError')}")

    def check_dashboard_queries(self):
        with open(os.path.join(DEPLOY, "grafana", "poolcat-dashboard.json")) as f:
            dashboard = json.load(f)
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        self.assertGreater(len(exprs), 10)
        for expr in exprs:
            query = (expr.replace("$__rate_interval", "1m").replace("$job", "poolcat")
                     .replace("$instance", ".*"))
            with self.subTest(query=query):
                values = poll(f"data for {query}", lambda: [
                    v for v in self.prometheus.query(query).values() if math.isfinite(v)])
                self.assertTrue(values)


if __name__ == "__main__":
    unittest.main()
