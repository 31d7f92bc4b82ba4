#!/usr/bin/python3
"""Tiny-request throughput of poolcat-server with metrics on vs off.

Not a test (it asserts nothing about speed); the figure for issue 6's
closing note. Starts two servers from the same binary, one with
--metrics_listen=127.0.0.1:0 and one with metrics off (--metrics_listen=),
then runs `poolcat bench` against them alternately, so both see the same
machine load, and prints the median calls/s of each and the difference.
Throughput on a shared machine is noisy, so it also prints the median of
the per-round on/off ratios (each pair ran back to back) and the server's
CPU time per call (user + system, from /proc/PID/stat). With --simultaneous
the two benchmarks run at the same time instead, so whatever else the
machine does slows both alike.

  /usr/bin/python3 tests/metrics/metrics_overhead.py \
      --server build/bin/poolcat-server --cli build/bin/poolcat --rounds 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import poolcat_server  # noqa: E402


def cpu_seconds(pid):
    """User + system CPU time of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5); the split starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", default="build/bin/poolcat-server")
    parser.add_argument("--cli", default="build/bin/poolcat")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", default="5s")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--simultaneous", action="store_true",
                        help="run both benchmarks of a round at the same time")
    parser.add_argument("--server_flags", default="",
                        help="extra flags for both servers, space separated")
    args = parser.parse_args()
    poolcat_server.SERVER = args.server
    extra = args.server_flags.split()

    bench = [args.cli, "bench", "--op=max_pool2d", "--shape=1,1,4,4",
             "--kernel_size=2", f"--concurrency={args.concurrency}",
             f"--duration={args.duration}", "--json"]
    rates = {"on": [], "off": []}
    cpu_us = {"on": [], "off": []}
    with poolcat_server.PoolcatServer(["--metrics_listen=127.0.0.1:0"] + extra) as on, \
         poolcat_server.PoolcatServer(["--metrics_listen="] + extra) as off:
        servers = {"on": on, "off": off}
        for r in range(args.rounds):
            # Alternate which goes first, so a trend in machine load hits both.
            order = ["on", "off"] if r % 2 == 0 else ["off", "on"]
            before = {name: cpu_seconds(servers[name].proc.pid) for name in order}
            if args.simultaneous:
                procs = {name: subprocess.Popen(
                    bench + [f"--target={servers[name].address}"], stdout=subprocess.PIPE,
                    text=True) for name in order}
                outs = {name: procs[name].communicate()[0] for name in order}
                assert all(p.returncode == 0 for p in procs.values())
            else:
                outs = {}
                for name in order:
                    outs[name] = subprocess.run(
                        bench + [f"--target={servers[name].address}"], check=True,
                        capture_output=True, text=True).stdout
            for name in order:
                result = json.loads(outs[name])
                per_call = 1e6 * (cpu_seconds(servers[name].proc.pid) - before[name]) / result["ok"]
                rate = result["requests_per_second"]
                rates[name].append(float(rate))
                cpu_us[name].append(per_call)
                print(f"round {r} metrics {name}: {rate:.0f} calls/s, "
                      f"server CPU {per_call:.2f} us/call", flush=True)
    on_median = statistics.median(rates["on"])
    off_median = statistics.median(rates["off"])
    cpu_on = statistics.median(cpu_us["on"])
    cpu_off = statistics.median(cpu_us["off"])
    print(json.dumps({"calls_per_second_on": rates["on"],
                      "calls_per_second_off": rates["off"],
                      "median_calls_per_second_on": on_median,
                      "median_calls_per_second_off": off_median,
                      "throughput_on_vs_off_percent": 100.0 * (on_median / off_median - 1.0),
                      "median_paired_throughput_on_vs_off_percent": 100.0 * (statistics.median(
                          a / b for a, b in zip(rates["on"], rates["off"])) - 1.0),
                      "median_server_cpu_us_per_call_on": cpu_on,
                      "median_server_cpu_us_per_call_off": cpu_off,
                      "cpu_on_vs_off_percent": 100.0 * (cpu_on / cpu_off - 1.0)}))


if __name__ == "__main__":
    main()
