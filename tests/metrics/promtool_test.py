#!/usr/bin/python3
"""The operations files under promtool, and the dashboard's shape.

* `promtool check config` on deploy/prometheus/prometheus.yml (which loads
  the rules), `promtool check rules` on alerts.yml, `promtool test rules` on
  alerts_test.yml;
* every rule of alerts.yml has cases in alerts_test.yml: a recording rule
  an expression test with samples, an alert a case where it fires and one
  where it does not;
* to_prometheusrule.py wraps exactly those rules in a PrometheusRule;
* the Grafana dashboard is valid JSON whose panels cover rate, errors,
  latency percentiles, kernel time per op, in-flight, rejections, CPU and
  memory. (tests/metrics/prometheus_test.py runs each of its queries against
  a real Prometheus.)

`promtool check metrics` runs on a real server's exposition in
scrape_test.py.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DEPLOY = os.environ.get("POOLCAT_DEPLOY_DIR", os.path.join(HERE, "..", "..", "deploy"))
PROMETHEUS_DIR = os.path.join(DEPLOY, "prometheus")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def load_yaml(name):
    with open(os.path.join(PROMETHEUS_DIR, name)) as f:
        return yaml.safe_load(f)


class Promtool(unittest.TestCase):

    def setUp(self):
        if not os.path.exists(PROMTOOL):
            self.fail("promtool not found: install Debian's prometheus package (make deps)")

    def promtool(self, *args):
        result = subprocess.run([PROMTOOL, *args], cwd=PROMETHEUS_DIR, capture_output=True,
                                text=True, timeout=300)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, f"promtool {' '.join(args)}:\n{output}")
        return output

    def test_check_config_loads_the_rules(self):
        output = self.promtool("check", "config", "prometheus.yml")
        self.assertIn("SUCCESS: 1 rule files found", output)

    def test_check_rules(self):
        rules = sum(len(g["rules"]) for g in load_yaml("alerts.yml")["groups"])
        output = self.promtool("check", "rules", "alerts.yml")
        self.assertIn(f"SUCCESS: {rules} rules found", output)

    def test_test_rules(self):
        self.assertIn("SUCCESS", self.promtool("test", "rules", "alerts_test.yml"))

    def test_every_rule_has_test_cases(self):
        rules = [r for g in load_yaml("alerts.yml")["groups"] for r in g["rules"]]
        tests = load_yaml("alerts_test.yml")
        self.assertEqual(tests["rule_files"], ["alerts.yml"])
        expr_tests = [t for case in tests["tests"] for t in case.get("promql_expr_test", [])]
        alert_tests = [t for case in tests["tests"] for t in case.get("alert_rule_test", [])]
        for rule in rules:
            if "record" in rule:
                with self.subTest(record=rule["record"]):
                    self.assertTrue(any(rule["record"] in t["expr"] and t.get("exp_samples")
                                        for t in expr_tests))
            else:
                with self.subTest(alert=rule["alert"]):
                    cases = [t for t in alert_tests if t["alertname"] == rule["alert"]]
                    self.assertTrue(any(t.get("exp_alerts") for t in cases), "never fires")
                    self.assertTrue(any(not t.get("exp_alerts") for t in cases),
                                    "never stays quiet")

    def test_rules_cover_rate_errors_latency_saturation_and_target_down(self):
        rules = [r for g in load_yaml("alerts.yml")["groups"] for r in g["rules"]]
        records = {r["record"] for r in rules if "record" in r}
        for wanted in ("instance_method:grpc_server_handled:rate5m",
                       "instance_method:grpc_server_errors:ratio_rate5m",
                       "instance_method:grpc_server_handling_seconds:p50_5m",
                       "instance_method:grpc_server_handling_seconds:p99_5m"):
            self.assertIn(wanted, records)
        alerts = {r["alert"]: r["expr"] for r in rules if "alert" in r}
        self.assertIn('up{job="poolcat"} == 0', alerts["PoolcatDown"])
        self.assertIn("Internal", alerts["PoolcatServerErrors"])
        self.assertIn("handling_seconds", alerts["PoolcatSlowCalls"])
        self.assertIn('reason="over_concurrency"', alerts["PoolcatRejectingCalls"])
        self.assertIn("poolcat_max_concurrent_computations", alerts["PoolcatNearConcurrencyCap"])

    def test_prometheusrule_wraps_exactly_these_rules(self):
        with tempfile.TemporaryDirectory(prefix="poolcat_promrule_") as tmp:
            out = os.path.join(tmp, "prometheusrule.yaml")
            subprocess.run([sys.executable, os.path.join(PROMETHEUS_DIR, "to_prometheusrule.py"),
                            "--out", out], check=True, timeout=120)
            with open(out) as f:
                doc = yaml.safe_load(f)
            self.assertEqual(doc["kind"], "PrometheusRule")
            self.assertEqual(doc["apiVersion"], "monitoring.coreos.com/v1")
            self.assertEqual(doc["spec"], load_yaml("alerts.yml"))
            spec = os.path.join(tmp, "spec.yml")
            with open(spec, "w") as f:
                yaml.safe_dump(doc["spec"], f)
            self.promtool("check", "rules", spec)


class Dashboard(unittest.TestCase):

    def setUp(self):
        with open(os.path.join(DEPLOY, "grafana", "poolcat-dashboard.json")) as f:
            self.dashboard = json.load(f)
        self.panels = self.dashboard["panels"]

    def exprs(self, panel):
        return " ".join(t["expr"] for t in panel["targets"])

    def test_panels_are_well_formed(self):
        ids = [p["id"] for p in self.panels]
        self.assertEqual(len(ids), len(set(ids)))
        for panel in self.panels:
            with self.subTest(panel=panel["title"]):
                self.assertTrue(panel["targets"])
                self.assertEqual(panel["datasource"]["uid"], "${datasource}")
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"]["uid"], "${datasource}")
                    # Every query follows the dashboard's job and instance.
                    self.assertIn('job=~"$job",instance=~"$instance"', target["expr"])
                    self.assertEqual(target["expr"].count("("), target["expr"].count(")"))

    def test_panels_cover_what_operators_watch(self):
        wanted = {
            "rate": "rate(grpc_server_handled_total",
            "errors": 'grpc_code!="OK"',
            "error ratio": 'grpc_code=~"Unknown|Internal|Unavailable|DataLoss"',
            "latency percentiles": "histogram_quantile(0.99, sum by (grpc_method, le) "
                                   "(rate(grpc_server_handling_seconds_bucket",
            "kernel time per op": "sum by (op, le) (rate(poolcat_op_seconds_bucket",
            "stages": "poolcat_stage_seconds_sum",
            "in-flight requests": "poolcat_inflight_requests",
            "in-flight computations": "poolcat_inflight_computations",
            "rejections": "sum by (reason) (rate(poolcat_rejected_total",
            "CPU": "rate(process_cpu_seconds_total",
            "memory": "process_resident_memory_bytes",
        }
        everything = " ".join(self.exprs(p) for p in self.panels)
        for what, fragment in wanted.items():
            self.assertIn(fragment, everything, what)

    def test_variables_select_job_and_instance(self):
        names = [v["name"] for v in self.dashboard["templating"]["list"]]
        self.assertEqual(names, ["datasource", "job", "instance"])


if __name__ == "__main__":
    unittest.main()
