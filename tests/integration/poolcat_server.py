"""Starts the real poolcat-server for a Python integration test.

    with PoolcatServer(["--max_elements=1000"]) as server:
        run([CLI, "health", f"--target={server.address}"])

The server listens on 127.0.0.1:0; its address comes from the
"poolcat-server listening on HOST:PORT" line it prints. Its output keeps being
collected (server.output()) so it never blocks on a full pipe.
"""

import os
import queue
import signal
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.environ.get("POOLCAT_SERVER", "build/bin/poolcat-server")
CLI = os.environ.get("POOLCAT_CLI", "build/bin/poolcat")
PHRASE = "poolcat-server listening on "


class PoolcatServer:
    def __init__(self, flags=(), timeout=60.0):
        self.flags = list(flags)
        self.timeout = timeout
        self.proc = None
        self.address = None
        self.metrics_address = None
        self._lines = []
        self._lock = threading.Lock()

    def __enter__(self):
        args = [SERVER, "--listen=127.0.0.1:0", "--metrics_listen="] + self.flags
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        lines = queue.Queue()

        def reader():
            for line in self.proc.stdout:
                with self._lock:
                    self._lines.append(line)
                lines.put(line)
            lines.put(None)

        threading.Thread(target=reader, daemon=True).start()
        give_up = time.monotonic() + self.timeout
        while True:
            left = give_up - time.monotonic()
            if left <= 0:
                self.__exit__(None, None, None)
                raise RuntimeError("no listening line in time:\n" + self.output())
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=30)
                raise RuntimeError(f"server exited ({self.proc.returncode}) before "
                                   f"listening: {' '.join(args)}\n{self.output()}")
            if PHRASE in line:
                rest = line.split(PHRASE, 1)[1]
                self.address = rest.split()[0]
                if "metrics=" in rest:
                    m = rest.split("metrics=", 1)[1].rstrip(")\n ").split(",")[0]
                    self.metrics_address = None if m == "off" else m
                return self

    def output(self):
        with self._lock:
            return "".join(self._lines)

    def stop(self, sig=signal.SIGTERM, timeout=120.0):
        """Sends `sig` and returns the exit code."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def __exit__(self, *exc):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc.stdout.close()
