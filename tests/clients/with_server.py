#!/usr/bin/python3
"""Runs a command against a freshly started poolcat-server.

  with_server.py --server=PATH [--tls=server|mutual] [--timeout=SECONDS]
                 -- COMMAND [ARGS...]

Starts PATH on a free loopback port (--listen=127.0.0.1:0, metrics off),
waits for its "poolcat-server listening on HOST:PORT" line, runs COMMAND with
POOLCAT_TARGET=HOST:PORT in its environment, then stops the server with
SIGTERM (SIGKILL if it outlives its grace period). Exits with COMMAND's exit
status, or 1 if the server could not be started. Every wait is bounded.

--tls makes a throwaway CA and a server certificate for 127.0.0.1 with
openssl and serves TLS; COMMAND gets the CA as POOLCAT_TLS_CA. With
--tls=mutual the server also demands a client certificate signed by that CA,
passed as POOLCAT_TLS_CLIENT_CERT and POOLCAT_TLS_CLIENT_KEY.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
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


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, timeout=60,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _make_certs(directory, mutual):
    """Writes ca.pem, server.{pem,key} (and client.{pem,key}) to directory.

    Returns (server flags, environment for the command).
    """
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=poolcat test CA", cwd=directory)

    def leaf(name, extensions):
        with open(os.path.join(directory, f"{name}.ext"), "w",
                  encoding="ascii") as f:
            f.write(extensions)
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=poolcat test {name}", cwd=directory)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.pem",
                 "-days", "2", "-extfile", f"{name}.ext", cwd=directory)

    leaf("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\n")
    def path(name):
        return os.path.join(directory, name)

    flags = [f"--tls_cert={path('server.pem')}",
             f"--tls_key={path('server.key')}"]
    env = {"POOLCAT_TLS_CA": path("ca.pem")}
    if mutual:
        leaf("client", "extendedKeyUsage=clientAuth\n")
        flags.append(f"--tls_client_ca={path('ca.pem')}")
        env.update(POOLCAT_TLS_CLIENT_CERT=path("client.pem"),
                   POOLCAT_TLS_CLIENT_KEY=path("client.key"))
    return flags, env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--startup_timeout", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="limit on COMMAND's run time, seconds")
    parser.add_argument("--server_arg", action="append", default=[],
                        help="extra flag for the server (repeatable)")
    parser.add_argument("--tls", choices=("server", "mutual"))
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no COMMAND given")
    if not os.access(args.server, os.X_OK):
        print(f"with_server: {args.server} is not an executable; build the "
              f"poolcat-server target first", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="poolcat_with_server_") as tmp:
        tls_flags, tls_env = [], {}
        if args.tls:
            try:
                tls_flags, tls_env = _make_certs(tmp, args.tls == "mutual")
            except (OSError, subprocess.SubprocessError) as e:
                err = getattr(e, "stderr", b"") or b""
                print(f"with_server: making test certificates failed: {e} "
                      f"{err.decode(errors='replace')}", file=sys.stderr)
                return 1
        return _serve(args, command, tls_flags, tls_env)


def _serve(args, command, tls_flags, tls_env):
    server = subprocess.Popen(
        [args.server, "--listen=127.0.0.1:0", "--metrics_listen="]
        + tls_flags + args.server_arg,
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
        env = dict(os.environ, POOLCAT_TARGET=found.address, **tls_env)
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
