#!/usr/bin/python3
"""Installs client/node's locked dependencies and runs its node:test suite.

  node_client_test.py --package_dir=DIR --work_dir=DIR [--server=PATH]
                      [--tls=server|mutual] [--run=SCRIPT.py --cli=PATH]

`npm ci` runs in WORK_DIR on a copy of package.json and package-lock.json,
so the source tree stays clean; the tests find the modules via NODE_PATH. A
second run with an unchanged lockfile reuses the install. With --server, the
suite runs under with_server.py against a fresh poolcat-server (serving
TLS with --tls). With --run, SCRIPT.py (cross_language_test.py) runs instead
of the node:test suite, given --cli=PATH and --node=NODE.

Exits 77 (CTest's SKIP_RETURN_CODE) only when node/npm are missing or the npm
registry cannot be reached; any other failure is a failure.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys

SKIP = 77


def skip(message):
    print(f"SKIP: {message}", flush=True)
    return SKIP


def run(cmd, cwd=None, timeout=None, env=None):
    print("+ " + " ".join(cmd), flush=True)
    try:
        return subprocess.run(cmd, cwd=cwd, timeout=timeout, env=env,
                              check=False, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout
        return subprocess.CompletedProcess(cmd, 124, out or "")


def install(npm, package_dir, work_dir):
    """Returns None when node_modules is ready, else an exit status."""
    os.makedirs(work_dir, exist_ok=True)
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        with open(os.path.join(package_dir, name), "rb") as f:
            digest.update(f.read())
        shutil.copyfile(os.path.join(package_dir, name),
                        os.path.join(work_dir, name))
    stamp = os.path.join(work_dir, "node_modules", ".poolcat-lock.sha256")
    try:
        with open(stamp, encoding="ascii") as f:
            if f.read().strip() == digest.hexdigest():
                print("node_modules is up to date with package-lock.json")
                return None
    except OSError:
        pass
    ci = run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"],
             cwd=work_dir, timeout=300)
    print(ci.stdout, end="")
    if ci.returncode != 0:
        ping = run([npm, "ping"], cwd=work_dir, timeout=60)
        print(ping.stdout, end="")
        if ping.returncode != 0:
            return skip("the npm registry is unreachable, so the Node "
                        "client's dependencies cannot be installed; "
                        "its tests did not run")
        print(f"npm ci failed ({ci.returncode}) although the registry "
              f"answers", flush=True)
        return 1
    with open(stamp, "w", encoding="ascii") as f:
        f.write(digest.hexdigest() + "\n")
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--package_dir", required=True)
    parser.add_argument("--work_dir", required=True)
    parser.add_argument("--server")
    parser.add_argument("--tls", choices=("server", "mutual"))
    parser.add_argument("--run", help="a Python script to run instead of "
                        "the node:test suite, once node_modules is ready")
    parser.add_argument("--cli", help="the poolcat CLI, passed to --run")
    args = parser.parse_args()

    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return skip("node and npm are not installed (Debian: apt-get install "
                    "nodejs npm); the Node client's tests did not run")
    status = install(npm, args.package_dir, args.work_dir)
    if status is not None:
        return status

    env = dict(os.environ,
               NODE_PATH=os.path.join(os.path.abspath(args.work_dir),
                                      "node_modules"))
    if args.run:
        cmd = [sys.executable, args.run, f"--cli={args.cli}",
               f"--node={node}"]
    else:
        cmd = [node, "--test", os.path.join(args.package_dir, "test")]
    if args.server:
        here = os.path.dirname(os.path.abspath(__file__))
        tls = [f"--tls={args.tls}"] if args.tls else []
        cmd = [sys.executable, os.path.join(here, "with_server.py"),
               f"--server={args.server}", "--timeout=300", *tls, "--", *cmd]
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, env=env, timeout=400, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
