#!/usr/bin/python3
"""PyTorch anchor for the issue-5 workloads (Debian python3-torch 1.13).

Prints one JSON object per line:
  {"workload": "W1", "layout": "cf"|"cl", "threads": 1, "variant": "reused"|"alloc", "ms": 1.23}
"reused" writes into a preallocated output through the op's out= overload,
"alloc" is the plain functional call (fresh output each time). Times are the
median (--stat min: minimum) over repetitions of the mean wall time per call.

Usage: /usr/bin/python3 bench/torch_bench.py [--threads 1,2] [--min-time 0.1] [--stat median|min]
       [--filter W1]
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

# name, kind, (N, C, H, W), kernel, stride, pad, count_include_pad
WORKLOADS = [
    ("W1", "max", (32, 64, 112, 112), 3, 2, 1, True),
    ("W2", "max", (32, 128, 56, 56), 2, 2, 0, True),
    ("W3", "avg", (32, 64, 56, 56), 3, 1, 1, False),
    ("W4", "adaptive_avg", (32, 2048, 7, 7), 0, 0, 0, True),
    ("W5", "max", (8, 256, 20, 20), 5, 1, 2, True),
    ("W6", "cat", (32, 64, 56, 56), 0, 0, 0, True),
    ("W7", "max", (1, 1, 4, 4), 2, 2, 0, True),
]


def time_call(fn, min_time, stat="median", repetitions=5):
    fn()  # warm-up (and first touch of reused outputs)
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    iters = max(1, int(min_time / repetitions / once))
    means = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        means.append((time.perf_counter() - start) / iters)
    return (min(means) if stat == "min" else statistics.median(means)) * 1e3


def variants(kind, x, y, k, s, p, cip, cl):
    """Returns {"alloc": fn, "reused": fn} for one workload and layout."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    if kind == "max":
        out, idx = torch._C._nn.max_pool2d_with_indices(x, k, s, p)
        out = out.contiguous(memory_format=fmt)
        idx = idx.contiguous(memory_format=fmt)
        return {
            "alloc": lambda: F.max_pool2d(x, k, s, p),
            "reused": lambda: torch._C._nn.max_pool2d_with_indices(x, k, s, p, out=(out, idx)),
        }
    if kind == "avg":
        out = F.avg_pool2d(x, k, s, p, count_include_pad=cip).contiguous(memory_format=fmt)
        return {
            "alloc": lambda: F.avg_pool2d(x, k, s, p, count_include_pad=cip),
            "reused": lambda: torch._C._nn.avg_pool2d(x, k, s, p, False, cip, None, out=out),
        }
    if kind == "adaptive_avg":
        out = F.adaptive_avg_pool2d(x, 1).contiguous(memory_format=fmt)
        return {
            "alloc": lambda: F.adaptive_avg_pool2d(x, 1),
            "reused": lambda: torch._C._nn.adaptive_avg_pool2d(x, (1, 1), out=out),
        }
    if kind == "cat":
        out = torch.cat((x, y), 1).contiguous(memory_format=fmt)
        return {
            "alloc": lambda: torch.cat((x, y), 1),
            "reused": lambda: torch.cat((x, y), 1, out=out),
        }
    raise ValueError(kind)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--min-time", type=float, default=0.1,
                        help="seconds spent per measurement")
    parser.add_argument("--filter", default="", help="only workloads whose name starts so")
    parser.add_argument("--stat", choices=["median", "min"], default="median",
                        help="statistic over the repetitions")
    args = parser.parse_args()
    torch.manual_seed(0)
    for name, kind, shape, k, s, p, cip in WORKLOADS:
        if not name.startswith(args.filter):
            continue
        base = torch.rand(shape) * 2 - 1
        other = torch.rand(shape) * 2 - 1
        for layout in ("cf", "cl"):
            fmt = torch.channels_last if layout == "cl" else torch.contiguous_format
            x = base.contiguous(memory_format=fmt)
            y = other.contiguous(memory_format=fmt)
            for threads in [int(t) for t in args.threads.split(",")]:
                torch.set_num_threads(threads)
                with torch.no_grad():
                    for variant, fn in variants(kind, x, y, k, s, p, cip, layout == "cl").items():
                        ms = time_call(fn, args.min_time, args.stat)
                        print(json.dumps({"workload": name, "layout": layout,
                                          "threads": threads, "variant": variant,
                                          "ms": ms}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
