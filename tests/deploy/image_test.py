#!/usr/bin/python3
"""Builds the poolcat-server image and runs it (CTest deploy.image).

  image_test.py --cli=PATH --work_dir=DIR

1. deploy/build_image.sh (what `make image` runs) builds the image; with
   podman's layer cache an unchanged tree rebuilds in seconds.
2. The image's configuration: user 65532, ports 50051 and 9464, an
   exec-form entrypoint, a HEALTHCHECK running `poolcat health`, OCI labels.
3. A container with a read-only root filesystem and its two ports mapped to
   free loopback ports: health (the host's CLI, and the image's own
   HEALTHCHECK command inside the container), the seed notebook's Pool call
   through the CLI (max_pool2d 2x2, stride 1, of arange(9) as 3x3 ->
   [[4, 5], [7, 8]]), the notebook's demo through the image's own CLI, and
   /metrics counting the call.
4. `stop` sends SIGTERM (the image's STOPSIGNAL): the server drains and the
   container exits 0.

Exits 77 (CTest's SKIP_RETURN_CODE), saying why, only when no container
engine works on this machine (podman, or docker with a daemon).
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.join(ROOT, "deploy", "build_image.sh")
NO_ENGINE = 3  # build_image.sh's exit status without a working engine
SKIP = 77
# What this kind of container host needs, passed per command (see
# build_image.sh) rather than set in the machine's containers.conf.
ULIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=4096:4096"]


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(poolcat VERSION ([0-9.]+)", f.read()).group(1)


def engine_command():
    """The engine's command prefix, the same choice build_image.sh makes."""
    chosen = os.environ.get("CONTAINER_ENGINE")
    if not chosen:
        if shutil.which("podman") and subprocess.run(
                ["podman", "--runtime", "runc", "info"], capture_output=True,
                timeout=120, check=False).returncode == 0:
            chosen = "podman"
        else:
            chosen = "docker"
    return ["podman", "--runtime", "runc"] if chosen == "podman" else [chosen]


def run(cmd, timeout=300, check=True):
    print("+ " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {' '.join(cmd)}\n"
                             f"{result.stdout}")
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_config(engine, image):
    config = json.loads(run(engine + ["image", "inspect", "--format",
                                      "{{json .Config}}", image]).stdout)
    assert config["User"] == "65532:65532", config["User"]
    assert {"50051/tcp", "9464/tcp"} <= set(config["ExposedPorts"]), config
    entrypoint = config["Entrypoint"]
    assert entrypoint == ["/usr/local/bin/poolcat-server"], entrypoint
    # Asked for by itself: podman keeps it outside the OCI config.
    healthcheck = json.loads(run(engine + [
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}",
        image]).stdout)
    test = (healthcheck or {}).get("Test") or []
    assert test[:3] == ["CMD", "/usr/local/bin/poolcat", "health"], test
    labels = config.get("Labels") or {}
    for key in ("title", "description", "version"):
        assert labels.get(f"org.opencontainers.image.{key}"), (key, labels)
    assert labels["org.opencontainers.image.version"] == project_version()
    print(f"image config: user {config['User']}, ports "
          f"{sorted(config['ExposedPorts'])}, entrypoint {entrypoint}, "
          f"healthcheck {test[1:]}")
    return test[1:]


def wait_healthy(cli, target):
    """Polls `poolcat health` (bounded: 120 tries) until SERVING."""
    for _ in range(120):
        result = subprocess.run([cli, "health", f"--target={target}",
                                 "--deadline=2s"], capture_output=True,
                                text=True, timeout=60, check=False)
        if result.returncode == 0 and "SERVING" in result.stdout:
            return
        time.sleep(0.5)
    raise AssertionError(f"{target} never reported SERVING: {result.stdout}"
                         f"{result.stderr}")


def pool_seed(cli, target, work_dir):
    x = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    path_in = os.path.join(work_dir, "seed_in.npy")
    path_out = os.path.join(work_dir, "seed_out.npy")
    np.save(path_in, x)
    run([cli, "pool", f"--target={target}", "--op=max_pool2d",
         "--kernel_size=2", "--stride=1", "-o", path_out, path_in])
    y = np.load(path_out)
    expected = np.array([[[4, 5], [7, 8]]], dtype=np.float32)
    assert y.dtype == np.float32 and np.array_equal(y, expected), y
    print(f"seed Pool through the CLI: {y.tolist()}")


def scrape(address):
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as r:
        return r.read().decode()


def pre_stop_command():
    with open(os.path.join(ROOT, "deploy", "k8s", "base", "deployment.yaml"),
              encoding="utf-8") as f:
        deployment = yaml.safe_load(f)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return container["lifecycle"]["preStop"]["exec"]["command"]


def metric_value(text, name, labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for match in re.finditer(r"^(\w+)\{([^}]*)\} (\S+)$", text, re.MULTILINE):
        if match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--work_dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.work_dir, exist_ok=True)

    # A tag of this build directory's own: test runs from several trees on
    # one machine never run each other's image. The layers are shared with
    # `make image`'s poolcat-server:VERSION, so the tag costs nothing.
    digest = hashlib.sha256(os.path.abspath(args.work_dir).encode()).hexdigest()
    image = f"poolcat-server-test:{digest[:12]}"
    start = time.monotonic()
    build = subprocess.run([BUILD, image], check=False, timeout=3600)
    if build.returncode == NO_ENGINE:
        print("SKIP: no working container engine here (podman, or docker "
              "with a running daemon; `make deps` installs podman); the "
              "image was not built or run", flush=True)
        return SKIP
    if build.returncode != 0:
        print(f"FAILED: building {image} exited {build.returncode}")
        return 1
    print(f"built {image} in {time.monotonic() - start:.0f} s", flush=True)

    engine = engine_command()
    health_cmd = check_config(engine, image)
    name = f"poolcat-image-test-{os.getpid()}"
    grpc_port, metrics_port = free_port(), free_port()
    target = f"127.0.0.1:{grpc_port}"
    try:
        run(engine + ["run", "-d", "--name", name, "--read-only", *ULIMITS,
                      "-p", f"127.0.0.1:{grpc_port}:50051",
                      "-p", f"127.0.0.1:{metrics_port}:9464", image])
        wait_healthy(args.cli, target)
        # The image's own HEALTHCHECK command, inside the container.
        run(engine + ["exec", name, *health_cmd])
        uid = run(engine + ["exec", name, "id", "-u"]).stdout.strip()
        assert uid == "65532", f"the server runs as uid {uid}"
        # The root filesystem is read-only, even for root.
        denied = run(engine + ["exec", "--user", "0", name, "touch",
                               "/usr/local/bin/x"], check=False)
        assert denied.returncode != 0 and "Read-only" in denied.stdout, (
            f"the root filesystem is writable: {denied.stdout}")

        # The Kubernetes preStop hook runs a command of the image.
        run(engine + ["exec", name, *pre_stop_command()])

        pool_seed(args.cli, target, args.work_dir)
        # The seed notebook's examples through the image's own CLI.
        demo = run(engine + ["exec", name, "/usr/local/bin/poolcat", "demo",
                             "--target=127.0.0.1:50051"])
        assert "matches the notebook" in demo.stdout, demo.stdout

        metrics = scrape(f"127.0.0.1:{metrics_port}")
        served = metric_value(metrics, "grpc_server_handled_total",
                              {"grpc_method": "Pool", "grpc_code": "OK"})
        # One Pool from the host's CLI, and the demo's pools.
        assert served >= 2, f"/metrics counts {served} Pool calls:\n{metrics}"
        print(f"/metrics: {served:g} Pool calls answered OK")

        # `stop` sends the image's STOPSIGNAL (SIGTERM); the timeout is well
        # past the drain's grace period, so only a hang would need SIGKILL.
        run(engine + ["stop", "--time", "60", name], timeout=180)
        state = json.loads(run(engine + ["inspect", "--format",
                                         "{{json .State}}", name]).stdout)
        logs = run(engine + ["logs", name]).stdout
        print(logs, end="")
        assert state["ExitCode"] == 0, (
            f"exit code {state['ExitCode']} after SIGTERM (137 = killed)")
        assert not state.get("OOMKilled"), state
        print("SIGTERM: drained and exited 0")
    except AssertionError as e:
        print(f"FAILED: {e}")
        logs = run(engine + ["logs", name], check=False).stdout
        print(f"container output:\n{logs}")
        return 1
    finally:
        run(engine + ["rm", "-f", name], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
