#!/usr/bin/python3
"""Offline checks of deploy/k8s (CTest deploy.k8s_validator, deploy.k8s_manifests).

  k8s_test.py validator --work_dir=DIR
      The validator itself: every tests/deploy/fixtures/broken_*.yaml must
      fail it with the message its "# expect:" line names, and
      good_pod.yaml must pass.
  k8s_test.py manifests --work_dir=DIR [--server=PATH]
      Renders deploy/k8s/base and every deploy/k8s/overlays/* with
      `kubectl kustomize`, runs the validator (Kubernetes schemas, unknown
      fields, policy) on each, then checks what poolcat needs of them: 3
      replicas, gRPC probes, threads from limits.cpu, a drain that fits the
      termination grace period, Services, HPA, PDB, NetworkPolicy, the flags
      ConfigMap (with --server: the server starts with those flags), and in
      the monitoring overlay a ServiceMonitor and the alert rules of
      deploy/prometheus/alerts.yml.

The validator's npm dependencies (tests/deploy/k8s-validate) are installed
with `npm ci` into DIR, never the source tree. Exits 77 (CTest's
SKIP_RETURN_CODE), saying why, only when a tool is missing: node/npm, the npm
registry, or kubectl (not a Debian package; the manifests check needs it).
"""

import argparse
import math
import os
import re
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "clients"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import node_client_test  # noqa: E402  (its npm install, shared)

SKIP = 77
K8S = os.path.join(ROOT, "deploy", "k8s")
VALIDATOR_DIR = os.path.join(HERE, "k8s-validate")
FIXTURES = os.path.join(HERE, "fixtures")
GRPC_PORT = 50051
METRICS_PORT = 9464
REPLICAS = 3


class Failures:
    def __init__(self):
        self.messages = []

    def check(self, condition, message):
        if not condition:
            self.messages.append(message)
        return condition


def skip(message):
    print(f"SKIP: {message}", flush=True)
    return SKIP


def prepare_validator(work_dir):
    """(node command, None) when the validator can run, else (None, status)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, skip("node and npm are not installed (Debian: apt-get "
                          "install nodejs npm); the manifest checks did not run")
    status = node_client_test.install(npm, VALIDATOR_DIR, work_dir)
    if status is not None:
        return None, status
    return node, None


def run_validator(node, work_dir, files):
    env = dict(os.environ, NODE_PATH=os.path.join(work_dir, "node_modules"))
    return subprocess.run([node, os.path.join(VALIDATOR_DIR, "validate.js"),
                           *files], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300,
                          check=False)


def validator_main(args):
    node, status = prepare_validator(args.work_dir)
    if node is None:
        return status
    failures = Failures()
    fixtures = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".yaml"))
    broken = [f for f in fixtures if f.startswith("broken_")]
    failures.check(len(broken) >= 10, f"only {len(broken)} broken fixtures")
    for name in fixtures:
        path = os.path.join(FIXTURES, name)
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        match = re.match(r"# expect: (.+)$", first.strip())
        if not failures.check(match, f"{name}: no '# expect:' first line"):
            continue
        expect = match.group(1)
        result = run_validator(node, args.work_dir, [path])
        if expect == "pass":
            ok = failures.check(result.returncode == 0,
                                f"{name} should pass but the validator said "
                                f"({result.returncode}):\n{result.stdout}")
        else:
            ok = failures.check(
                result.returncode == 1 and expect in result.stdout,
                f"{name} should fail with '{expect}' but the validator "
                f"said ({result.returncode}):\n{result.stdout}")
        print(f"{'ok ' if ok else 'FAILED'} {name}: {expect}")
    return report(failures, f"{len(fixtures)} fixtures")


def render(kubectl, directory):
    result = subprocess.run([kubectl, "kustomize", directory],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n"
                           f"{result.stderr}")
    return result.stdout


def seconds(duration, what):
    """Seconds of an absl duration such as "25s", "5m", "1m30s"."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"{what}: cannot read duration {duration!r}")
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def whole_cpus(quantity):
    """CPUs of a Kubernetes quantity ("2", "500m"), rounded up as the
    downward API does for POOLCAT_THREADS (divisor 1)."""
    text = str(quantity)
    if text.endswith("m"):
        return max(1, -(-int(text[:-1]) // 1000))
    return max(1, math.ceil(float(text)))


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


def check_poolcat(name, objects, failures, server):
    """What poolcat needs of one rendered overlay."""
    def of_kind(kind):
        return [o for o in objects if o["kind"] == kind]

    def one(kind):
        found = of_kind(kind)
        failures.check(len(found) == 1,
                       f"{name}: {len(found)} {kind} objects, want 1")
        return found[0] if found else None

    def where(path, message):
        return f"{name}: {path}: {message}"

    deployment = one("Deployment")
    if deployment is None:
        return
    spec = deployment["spec"]
    failures.check(spec.get("replicas") == REPLICAS,
                   where("Deployment.spec.replicas",
                         f"{spec.get('replicas')}, want {REPLICAS}"))
    pod_labels = spec["template"]["metadata"]["labels"]
    failures.check(selects(spec["selector"]["matchLabels"], pod_labels),
                   where("Deployment.spec.selector", "does not select its pods"))
    pod = spec["template"]["spec"]
    containers = pod["containers"]
    failures.check(len(containers) == 1, where("containers", "want one"))
    c = containers[0]
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    failures.check(ports == {"grpc": GRPC_PORT, "metrics": METRICS_PORT},
                   where("container ports", f"{ports}"))

    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        grpc = (c.get(probe) or {}).get("grpc") or {}
        failures.check(grpc.get("port") == GRPC_PORT,
                       where(probe, f"not a grpc probe on {GRPC_PORT}: "
                                    f"{c.get(probe)}"))

    env = {e["name"]: e for e in c.get("env", [])}
    threads = ((env.get("POOLCAT_THREADS") or {}).get("valueFrom") or {}).get(
        "resourceFieldRef") or {}
    failures.check(threads.get("resource") == "limits.cpu" and
                   threads.get("containerName") == c["name"],
                   where("env POOLCAT_THREADS",
                         f"not from this container's limits.cpu: {threads}"))
    limits = c["resources"]["limits"]
    failures.check(c["resources"]["requests"] == limits,
                   where("resources", "requests differ from limits (the "
                                      "pods should be Guaranteed)"))

    # The flags ConfigMap.
    refs = [e["configMapRef"]["name"] for e in c.get("envFrom", [])
            if "configMapRef" in e]
    maps = {o["metadata"]["name"]: o for o in of_kind("ConfigMap")}
    flags = {}
    if failures.check(len(refs) == 1 and refs[0] in maps,
                      where("envFrom", f"no flags ConfigMap: {refs}")):
        flags = maps[refs[0]]["data"]
    for key in ("POOLCAT_GRACE_PERIOD", "POOLCAT_MAX_CONNECTION_AGE",
                "POOLCAT_MAX_CONNECTION_AGE_GRACE", "POOLCAT_LISTEN",
                "POOLCAT_METRICS_LISTEN"):
        failures.check(key in flags, where("flags ConfigMap", f"no {key}"))
    failures.check(flags.get("POOLCAT_LISTEN", "").endswith(f":{GRPC_PORT}"),
                   where("POOLCAT_LISTEN", flags.get("POOLCAT_LISTEN")))
    failures.check(
        flags.get("POOLCAT_METRICS_LISTEN", "").endswith(f":{METRICS_PORT}"),
        where("POOLCAT_METRICS_LISTEN", flags.get("POOLCAT_METRICS_LISTEN")))

    # Drain: preStop pause + --grace_period + up to 10 s to exit fit in
    # terminationGracePeriodSeconds, and it is not much longer.
    pre_stop = (((c.get("lifecycle") or {}).get("preStop") or {})
                .get("exec") or {}).get("command") or []
    if failures.check(len(pre_stop) == 2 and pre_stop[0].endswith("sleep"),
                      where("preStop", f"not a sleep: {pre_stop}")) and \
            "POOLCAT_GRACE_PERIOD" in flags:
        drain = float(pre_stop[1]) + seconds(flags["POOLCAT_GRACE_PERIOD"],
                                             "POOLCAT_GRACE_PERIOD")
        tgps = pod.get("terminationGracePeriodSeconds", 30)
        failures.check(drain < tgps <= drain + 10,
                       where("terminationGracePeriodSeconds",
                             f"{tgps}, want preStop + grace period "
                             f"({drain:g}) plus at most 10"))

    spread = pod.get("topologySpreadConstraints") or []
    failures.check(any(t.get("topologyKey") == "kubernetes.io/hostname" and
                       selects(t["labelSelector"]["matchLabels"], pod_labels)
                       for t in spread),
                   where("topologySpreadConstraints", "none across nodes"))

    # Services.
    services = of_kind("Service")
    cluster = [s for s in services if s["spec"].get("clusterIP") != "None"]
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    for kind, found, want in (("ClusterIP", cluster, {"grpc", "metrics"}),
                              ("headless", headless, {"grpc"})):
        if not failures.check(len(found) == 1,
                              f"{name}: {len(found)} {kind} Services"):
            continue
        s = found[0]
        failures.check(selects(s["spec"]["selector"], pod_labels),
                       where(f"Service {s['metadata']['name']}",
                             "does not select the pods"))
        names = {p["name"] for p in s["spec"]["ports"]}
        failures.check(names == want, where(f"Service {s['metadata']['name']}",
                                            f"ports {names}, want {want}"))
        for p in s["spec"]["ports"]:
            failures.check(p["targetPort"] in ports,
                           where(f"Service {s['metadata']['name']}",
                                 f"targetPort {p['targetPort']} is no "
                                 f"container port"))

    hpa = one("HorizontalPodAutoscaler")
    if hpa:
        failures.check(hpa["apiVersion"] == "autoscaling/v2",
                       where("HPA", hpa["apiVersion"]))
        target = hpa["spec"]["scaleTargetRef"]
        failures.check(target["kind"] == "Deployment" and
                       target["name"] == deployment["metadata"]["name"],
                       where("HPA.scaleTargetRef", f"{target}"))
        failures.check(hpa["spec"].get("minReplicas") == REPLICAS,
                       where("HPA.minReplicas", "differs from replicas"))
        failures.check(any(m["type"] == "Resource" and
                           m["resource"]["name"] == "cpu"
                           for m in hpa["spec"]["metrics"]),
                       where("HPA.metrics", "no CPU metric"))

    pdb = one("PodDisruptionBudget")
    if pdb:
        failures.check(selects(pdb["spec"]["selector"]["matchLabels"],
                               pod_labels), where("PDB", "selects no pods"))

    policy = one("NetworkPolicy")
    if policy:
        failures.check(selects(policy["spec"]["podSelector"]["matchLabels"],
                               pod_labels),
                       where("NetworkPolicy", "selects no pods"))
        failures.check("Ingress" in policy["spec"].get("policyTypes", []),
                       where("NetworkPolicy", "does not restrict ingress"))
        allowed = set()
        for rule in policy["spec"].get("ingress", []):
            # A rule without ports lets every port in.
            if failures.check(rule.get("ports"),
                              where("NetworkPolicy", "a rule without ports")):
                allowed |= {p["port"] for p in rule["ports"]}
        failures.check(allowed == {GRPC_PORT, METRICS_PORT},
                       where("NetworkPolicy", f"ports {allowed}"))

    check_monitoring(name, objects, services, failures)
    if server and flags:
        check_server_takes_flags(name, server, flags, limits, failures)


def check_monitoring(name, objects, services, failures):
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if name.endswith("monitoring"):
        failures.check(len(monitors) == 1 and len(rules) == 1,
                       f"{name}: want one ServiceMonitor and one "
                       f"PrometheusRule")
    for monitor in monitors:
        selected = [s for s in services
                    if selects(monitor["spec"]["selector"]["matchLabels"],
                               s["metadata"].get("labels", {}))]
        scraped = [s for s in selected
                   if any(p["name"] == "metrics" for p in s["spec"]["ports"])]
        failures.check(len(scraped) == 1,
                       f"{name}: ServiceMonitor scrapes {len(scraped)} "
                       f"Services, want 1")
        # The alert rules select job="poolcat"; the operator's job label is
        # the Service's name unless jobLabel says otherwise.
        if scraped and "jobLabel" not in monitor["spec"]:
            failures.check(scraped[0]["metadata"]["name"] == "poolcat",
                           f"{name}: scraped as job "
                           f"{scraped[0]['metadata']['name']!r}, the alert "
                           f"rules expect job=\"poolcat\"")
        failures.check([e.get("port") for e in monitor["spec"]["endpoints"]]
                       == ["metrics"], f"{name}: ServiceMonitor endpoints")
    with open(os.path.join(ROOT, "deploy", "prometheus", "alerts.yml"),
              encoding="utf-8") as f:
        alerts = yaml.safe_load(f)
    for rule in rules:
        failures.check(rule["spec"] == alerts,
                       f"{name}: PrometheusRule {rule['metadata']['name']} "
                       f"differs from deploy/prometheus/alerts.yml; "
                       f"regenerate it: /usr/bin/python3 deploy/prometheus/"
                       f"to_prometheusrule.py --out deploy/k8s/overlays/"
                       f"monitoring/prometheusrule.yaml")


def check_server_takes_flags(name, server, flags, limits, failures):
    """The real server starts with the ConfigMap's flags (a misspelt
    variable or an unreadable value fails here, not in the cluster)."""
    # A misspelt variable would be ignored silently: each must name a flag.
    helpfull = subprocess.run([server, "--helpfull"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=60,
                              check=False).stdout
    known = set(re.findall(r"^    --([a-z_]+) ", helpfull, re.MULTILINE))
    for key in flags:
        failures.check(key.startswith("POOLCAT_") and
                       key[len("POOLCAT_"):].lower() in known,
                       f"{name}: ConfigMap key {key} is no poolcat-server "
                       f"flag (POOLCAT_<FLAG>)")
    os.environ["POOLCAT_SERVER"] = server
    from poolcat_server import PoolcatServer  # tests/integration
    env_before = dict(os.environ)
    os.environ.update(flags)
    threads = whole_cpus(limits["cpu"])
    os.environ["POOLCAT_THREADS"] = str(threads)
    try:
        # The command line's loopback addresses win over the ConfigMap's.
        with PoolcatServer(["--metrics_listen=127.0.0.1:0"]) as server_proc:
            output = server_proc.output()
            code = server_proc.stop()
        failures.check(code == 0, f"{name}: server with the ConfigMap's flags "
                                  f"exited {code}:\n{output}")
        failures.check(f"threads={threads}" in output,
                       f"{name}: server did not take POOLCAT_THREADS:\n"
                       f"{output}")
        print(f"{name}: the server starts with the ConfigMap's flags: "
              f"{output.strip()}")
    except RuntimeError as e:
        failures.check(False, f"{name}: server does not start with the "
                              f"ConfigMap's flags: {e}")
    finally:
        os.environ.clear()
        os.environ.update(env_before)


def manifests_main(args):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return skip("kubectl is not installed, so deploy/k8s cannot be "
                    "rendered (`kubectl kustomize`); kubectl is not a Debian "
                    "package: install it from the Kubernetes project's apt "
                    "repository to run this check")
    node, status = prepare_validator(args.work_dir)
    if node is None:
        return status
    failures = Failures()
    overlays = os.path.join(K8S, "overlays")
    targets = [os.path.join(K8S, "base")] + sorted(
        os.path.join(overlays, d) for d in os.listdir(overlays))
    rendered_dir = os.path.join(args.work_dir, "rendered")
    os.makedirs(rendered_dir, exist_ok=True)
    for target in targets:
        name = os.path.relpath(target, K8S)
        try:
            text = render(kubectl, target)
        except RuntimeError as e:
            failures.check(False, str(e))
            continue
        out = os.path.join(rendered_dir, name.replace("/", "_") + ".yaml")
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
        result = run_validator(node, args.work_dir, [out])
        print(result.stdout, end="")
        failures.check(result.returncode == 0,
                       f"{name}: the validator failed ({result.returncode})")
        objects = [o for o in yaml.safe_load_all(text) if o]
        check_poolcat(name, objects, failures, args.server)
        if name.startswith("overlays/"):
            namespaced = [o for o in objects if o["kind"] != "Namespace"]
            failures.check(all(o["metadata"].get("namespace") == "poolcat"
                               for o in namespaced),
                           f"{name}: not every object is in namespace poolcat")
    return report(failures, f"{len(targets)} kustomizations")


def report(failures, what):
    for message in failures.messages:
        print(f"FAILED: {message}")
    print(f"{what}: {len(failures.messages)} problems")
    return 1 if failures.messages else 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("validator", "manifests"))
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--server")
    args = parser.parse_args()
    args.work_dir = os.path.abspath(args.work_dir)
    if args.mode == "validator":
        return validator_main(args)
    return manifests_main(args)


if __name__ == "__main__":
    sys.exit(main())
