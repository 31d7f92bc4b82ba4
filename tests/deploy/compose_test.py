#!/usr/bin/python3
"""Checks deploy/compose.yaml (CTest deploy.compose).

The compose tool validates the file against the Compose schema (`config`):
docker-compose (Debian's, v1), `docker compose` (v2), or a podman-compose
that has `config` (Debian 12's 1.0.3 has not, and its --dry-run still
creates networks, so it is not used). The same tool must refuse
tests/deploy/fixtures/compose/broken.yaml. Then, on the resolved file: the
three services, pinned images, poolcat hardened like the Kubernetes pods
(read-only root, uid 65532, no capabilities) on loopback ports, every bind
mount present in the repository, and Prometheus and Grafana pointed at the
services and files compose gives them.

Exits 77 (CTest's SKIP_RETURN_CODE) when no compose tool can validate here.
"""

import os
import posixpath
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy")
COMPOSE = os.path.join(DEPLOY, "compose.yaml")
BROKEN = os.path.join(HERE, "fixtures", "compose", "broken.yaml")
SKIP = 77


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120, check=False)


def find_tool():
    """The command prefix that validates a compose file, or None."""
    candidates = []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("podman-compose"):
        candidates.append(["podman-compose"])
    for tool in candidates:
        probe = run(tool + ["config", "--help"])
        if probe.returncode == 0 and "config" in probe.stdout:
            return tool
    return None


def main():
    tool = find_tool()
    if tool is None:
        print("SKIP: no compose tool that can validate a file (`config`): "
              "install docker-compose (Debian) to run this check", flush=True)
        return SKIP
    print(f"validating with {' '.join(tool)}")
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)
        return condition

    broken = run(tool + ["-f", BROKEN, "config"])
    check(broken.returncode != 0 and "readonly" in broken.stdout + broken.stderr,
          f"{' '.join(tool)} accepted {BROKEN}:\n{broken.stdout}{broken.stderr}")

    result = run(tool + ["-f", COMPOSE, "config"])
    if not check(result.returncode == 0,
                 f"{' '.join(tool)} config refused deploy/compose.yaml:\n"
                 f"{result.stderr}"):
        return report(failures)
    config = yaml.safe_load(result.stdout)
    services = config.get("services", {})
    check(set(services) == {"poolcat", "prometheus", "grafana"},
          f"services {sorted(services)}")

    for name, service in services.items():
        image = service.get("image", "")
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        check(tag and tag != "latest", f"{name}: image {image!r} is not pinned")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) \
                else volume.get("source", "")
            check(os.path.exists(source), f"{name}: mount source {source} "
                                          f"does not exist")
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else \
                f"{port.get('host_ip', '')}:{port.get('published')}"
            check(str(text).startswith("127.0.0.1:"),
                  f"{name}: port {port} is not bound to loopback")

    poolcat = services.get("poolcat", {})
    build = poolcat.get("build", {})
    check(os.path.isfile(os.path.join(build.get("context", ""),
                                      build.get("dockerfile", ""))),
          f"poolcat: build {build} names no Dockerfile")
    check(poolcat.get("read_only") is True, "poolcat: root is not read-only")
    check(str(poolcat.get("user", "")).split(":")[0] == "65532",
          "poolcat: not uid 65532")
    check("ALL" in poolcat.get("cap_drop", []), "poolcat: capabilities kept")
    published = {str(p).split(":")[-1].split("/")[0]
                 for p in poolcat.get("ports", [])}
    check({"50051", "9464"} <= published, f"poolcat: ports {published}")

    # Prometheus scrapes the poolcat service's metrics port as job "poolcat"
    # (the alert rules' job) and loads the rules file compose mounts.
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml"),
              encoding="utf-8") as f:
        prometheus = yaml.safe_load(f)
    jobs = {j["job_name"]: j for j in prometheus.get("scrape_configs", [])}
    targets = [t for c in jobs.get("poolcat", {}).get("static_configs", [])
               for t in c.get("targets", [])]
    check(targets == ["poolcat:9464"],
          f"prometheus.yml: job poolcat targets {targets}")
    prometheus_service = services.get("prometheus", {})
    mounted = {str(v).split(":")[1]
               for v in prometheus_service.get("volumes", [])}
    config_file = "/etc/prometheus/prometheus.yml"  # the image's default
    for arg in prometheus_service.get("command", []):
        if arg.startswith("--config.file="):
            config_file = arg.split("=", 1)[1]
    check(config_file in mounted, f"prometheus: {config_file} is not mounted")
    check(prometheus.get("rule_files"), "prometheus.yml loads no rules")
    for rule_file in prometheus.get("rule_files", []):
        # Relative paths are relative to the configuration file.
        path = posixpath.join(posixpath.dirname(config_file), rule_file)
        check(path in mounted, f"prometheus: rule file {path} is not mounted")

    # Grafana: the datasource is the prometheus service, and the dashboard
    # is mounted where the provisioning file looks.
    grafana = services.get("grafana", {})
    with open(os.path.join(DEPLOY, "grafana", "provisioning", "datasources",
                           "prometheus.yaml"), encoding="utf-8") as f:
        urls = [d["url"] for d in yaml.safe_load(f)["datasources"]]
    check(urls == ["http://prometheus:9090"], f"grafana datasources {urls}")
    with open(os.path.join(DEPLOY, "grafana", "provisioning", "dashboards",
                           "poolcat.yaml"), encoding="utf-8") as f:
        paths = [p["options"]["path"] for p in yaml.safe_load(f)["providers"]]
    targets = [str(v).split(":")[1] for v in grafana.get("volumes", [])]
    check(any(os.path.dirname(t) in paths and t.endswith(".json")
              for t in targets),
          f"grafana: no dashboard mounted under {paths}: {targets}")
    return report(failures)


def report(failures):
    for message in failures:
        print(f"FAILED: {message}")
    print(f"deploy/compose.yaml: {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
