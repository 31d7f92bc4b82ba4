#!/usr/bin/python3
"""PyTorch anchor for the issue-5 workloads (Debian python3-torch 1.13).

Prints one JSON object per line:
  {"workload": "W1", "layout": "cf"|"cl", "threads": 1, "variant": "reused"|"alloc", "ms": 1.23}
"reused" writes into a preallocated output through the op's out= overload,
"alloc" is the plain functional call (fresh output each time), and
"reused_thp" is "reused" with inputs and outputs on 2 MiB transparent huge
pages, as poolcat's own large tensors are (core/tensor.cc; torch 1.13 has
no switch for it). Times are the
median (--stat min: minimum) over repetitions of the mean wall time per call.

Usage: /usr/bin/python3 bench/torch_bench.py [--threads 1,2] [--min-time 0.1] [--stat median|min]
       [--filter W1]
"""
import argparse
import ctypes
import json
import mmap
import statistics
import sys
import time

import numpy as np
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


HUGE_PAGE = 2 << 20
_mappings = []  # keeps the huge-page buffers alive


def on_huge_pages(t):
    """A copy of t, same sizes and strides, in anonymous memory that starts on
    a 2 MiB boundary and is advised MADV_HUGEPAGE."""
    nbytes = t.numel() * t.element_size()
    buf = mmap.mmap(-1, nbytes + HUGE_PAGE,
                    flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    offset = -ctypes.addressof(ctypes.c_char.from_buffer(buf)) % HUGE_PAGE
    buf.madvise(mmap.MADV_HUGEPAGE, offset, nbytes)
    _mappings.append(buf)
    raw = torch.from_numpy(np.frombuffer(buf, np.uint8, nbytes, offset))
    copy = raw.view(t.dtype).as_strided(t.size(), t.stride())
    copy.copy_(t)
    return copy


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


def variants(kind, x, y, k, s, p, cip, cl, place=lambda t: t):
    """Returns {"alloc": fn, "reused": fn} for one workload and layout, with
    every reused tensor (inputs and outputs) passed through `place`."""
    fmt = torch.channels_last if cl else torch.contiguous_format
    x, y = place(x), place(y)
    if kind == "max":
        out, idx = torch._C._nn.max_pool2d_with_indices(x, k, s, p)
        out = place(out.contiguous(memory_format=fmt))
        idx = place(idx.contiguous(memory_format=fmt))
        return {
            "alloc": lambda: F.max_pool2d(x, k, s, p),
            "reused": lambda: torch._C._nn.max_pool2d_with_indices(x, k, s, p, out=(out, idx)),
        }
    if kind == "avg":
        out = place(F.avg_pool2d(x, k, s, p, count_include_pad=cip).contiguous(memory_format=fmt))
        return {
            "alloc": lambda: F.avg_pool2d(x, k, s, p, count_include_pad=cip),
            "reused": lambda: torch._C._nn.avg_pool2d(x, k, s, p, False, cip, None, out=out),
        }
    if kind == "adaptive_avg":
        out = place(F.adaptive_avg_pool2d(x, 1).contiguous(memory_format=fmt))
        return {
            "alloc": lambda: F.adaptive_avg_pool2d(x, 1),
            "reused": lambda: torch._C._nn.adaptive_avg_pool2d(x, (1, 1), out=out),
        }
    if kind == "cat":
        out = place(torch.cat((x, y), 1).contiguous(memory_format=fmt))
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
                    cl = layout == "cl"
                    fns = variants(kind, x, y, k, s, p, cip, cl)
                    fns["reused_thp"] = variants(kind, x, y, k, s, p, cip, cl,
                                                 on_huge_pages)["reused"]
                    for variant, fn in fns.items():
                        ms = time_call(fn, args.min_time, args.stat)
                        print(json.dumps({"workload": name, "layout": layout,
                                          "threads": threads, "variant": variant,
                                          "ms": ms}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
