#!/usr/bin/python3
"""Runs a command against a freshly started poolcat-server.

  with_server.py --server=PATH [--timeout=SECONDS] -- COMMAND [ARGS...]

Starts PATH on a free loopback port (--listen=127.0.0.1:0, metrics off),
waits for its "poolcat-server listening on HOST:PORT" line, runs COMMAND with
POOLCAT_TARGET=HOST:PORT in its environment, then stops the server with
SIGTERM (SIGKILL if it outlives its grace period). Exits with COMMAND's exit
status, or 1 if the server could not be started. Every wait is bounded.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading

_LISTENING = re.compile(r"poolcat-server listening on (\S+):(\d+)")


def _pump(stream, label, found, lines):
    """Copies the server's output to our stderr; reports the listening line."""
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip("\n")
        print(f"[{label}] {line}", file=sys.stderr, flush=True)
        lines.append(line)
        m = _LISTENING.search(line)
        if m and not found.is_set():
            host = m.group(1).strip("[]")
            found.address = f"{m.group(1)}:{m.group(2)}"
            found.loopback = host in ("127.0.0.1", "localhost", "::1")
            found.set()
    stream.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--startup_timeout", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="limit on COMMAND's run time, seconds")
    parser.add_argument("--server_arg", action="append", default=[],
                        help="extra flag for the server (repeatable)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND given")
    if not os.access(args.server, os.X_OK):
        print(f"with_server: {args.server} is not an executable; build the "
              f"poolcat-server target first", file=sys.stderr)
        return 1

    server = subprocess.Popen(
        [args.server, "--listen=127.0.0.1:0", "--metrics_listen="]
        + args.server_arg,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    found = threading.Event()
    lines = []
    pumps = [threading.Thread(target=_pump, args=(s, n, found, lines),
                              daemon=True)
             for s, n in ((server.stdout, "server"),
                          (server.stderr, "server:err"))]
    for t in pumps:
        t.start()
    try:
        # Wake up early if the server dies before it listens.
        waited = 0.0
        while not found.wait(0.2):
            waited += 0.2
            if server.poll() is not None or waited >= args.startup_timeout:
                print(f"with_server: server did not report "
                      f"'poolcat-server listening on HOST:PORT' "
                      f"(exit status {server.poll()}, waited {waited:.0f}s)",
                      file=sys.stderr)
                return 1
        if not found.loopback:
            print(f"with_server: server listens on {found.address}, "
                  f"not loopback; refusing to test", file=sys.stderr)
            return 1
        env = dict(os.environ, POOLCAT_TARGET=found.address)
        print(f"with_server: POOLCAT_TARGET={found.address}", file=sys.stderr,
              flush=True)
        try:
            return subprocess.run(command, env=env, timeout=args.timeout,
                                  check=False).returncode
        except subprocess.TimeoutExpired:
            print(f"with_server: command exceeded {args.timeout:.0f}s",
                  file=sys.stderr)
            return 1
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print("with_server: server ignored SIGTERM for 30s; killing",
                      file=sys.stderr)
                server.kill()
                server.wait(timeout=30)
        for t in pumps:
            t.join(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
