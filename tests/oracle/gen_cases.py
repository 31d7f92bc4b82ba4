#!/usr/bin/python3
"""Generates the PyTorch oracle cases for poolcat (run with /usr/bin/python3).

Usage: /usr/bin/python3 gen_cases.py OUTDIR [--count N] [--seed S]

Every case is a directory OUTDIR/NNNN/ holding
  input0.npy, input1.npy, ...  the op's inputs, in their physical layout
                               (channels_last inputs are N,*spatial,C)
  expected.npy                 torch's result (absent when expect=error)
  indices.npy                  torch's int64 indices (when indices=true)
  case.txt                     key=value lines; keys are the CLI flag names:
      kind=pool|concat  op=max_pool2d  kernel_size=2,2  stride=1,2
      padding=0,1  dilation=1,1  ceil_mode=true|false
      count_include_pad=true|false  divisor_override=N  norm_type=P
      output_size=a,b (-1 = keep that input size, torch's None)
      channels_last=true|false  indices=true|false  dim=D  inputs=K
      expect=ok|error
    Unset arguments are omitted (the op's PyTorch default applies).
    Extra keys, which a consumer may ignore or use:
      max_ulp=2          results may differ from torch by 2 ulp (lp_pool
                         with a norm_type whose pow torch vectorises with
                         SLEEF, e.g. 3 or 1.5)
      computed_via=T     torch 1.13 CPU refuses this dtype for this op, so
                         torch computed in T (float32 or float64) and the
                         result was cast back (float16 pooling, bfloat16 3-d
                         pooling, integer max pooling)
      input_dtypes=a,b / output_dtype=t / dtype=bfloat16
                         present only when a tensor is bfloat16: .npy has no
                         bfloat16, so such tensors are stored as float32
                         holding values exactly representable in bfloat16;
                         input_dtypes gives every input's real dtype and
                         output_dtype the result's (dtype=bfloat16 is set too
                         for pooling cases).
      seed=S             the per-case seed (for reproduction)

The script is deterministic for a given --seed and finishes in seconds.
"""

import argparse
import math
import os
import random
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

assert torch.__version__.startswith("1.13"), torch.__version__
torch.set_num_threads(1)

FLOAT_DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
INT_DTYPES = [torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64]
DTYPE_NAMES = {
    torch.float32: "float32", torch.float64: "float64", torch.bfloat16: "bfloat16",
    torch.float16: "float16", torch.int8: "int8", torch.uint8: "uint8", torch.int16: "int16",
    torch.int32: "int32", torch.int64: "int64", torch.bool: "bool",
}
# Norm types whose pow / root torch computes exactly (copy, x*x, sqrt,
# reciprocal, rsqrt); any other goes through SLEEF's 1-ulp pow.
EXACT_NORMS = [1.0, 2.0, 0.5, -1.0, -2.0, -0.5]
INEXACT_NORMS = [3.0, 1.5, 4.0]


def first_line(e):
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def fmt_list(v):
    return ",".join(str(int(x)) for x in v)


def fmt_bool(b):
    return "true" if b else "false"


def random_values(rng, shape, dtype, specials):
    """Random input data. Small integers make ties common; `specials` sprinkles
    NaN and +-inf into float tensors."""
    n = int(np.prod(shape)) if len(shape) else 1
    if dtype in INT_DTYPES:
        info = torch.iinfo(dtype)
        if rng.random() < 0.5:
            lo, hi = max(info.min, -5), min(info.max, 5)
        else:
            lo, hi = max(info.min, -(2 ** 40)), min(info.max, 2 ** 40)
        vals = [rng.randint(lo, hi) for _ in range(n)]
        return torch.tensor(vals, dtype=torch.int64).reshape(shape).to(dtype)
    if dtype == torch.bool:
        return torch.tensor([rng.random() < 0.5 for _ in range(n)], dtype=torch.bool).reshape(shape)
    mode = rng.random()
    if mode < 0.25:
        vals = [float(rng.randint(-4, 4)) for _ in range(n)]  # ties
    elif mode < 0.5:
        vals = [rng.uniform(0.0, 10.0) for _ in range(n)]
    else:
        vals = [rng.gauss(0.0, 3.0) for _ in range(n)]
    if specials and n:
        for _ in range(rng.randint(1, 3)):
            vals[rng.randrange(n)] = rng.choice([math.nan, math.inf, -math.inf])
    return torch.tensor(vals, dtype=torch.float64).reshape(shape).to(dtype)


def to_numpy(t):
    """(array, real dtype name) for saving; bfloat16 is stored as float32."""
    if t.dtype == torch.bfloat16:
        return t.float().numpy(), "bfloat16"
    return t.numpy(), DTYPE_NAMES[t.dtype]


class Case:
    def __init__(self, seed):
        self.kv = {}
        self.inputs = []
        self.expected = None
        self.indices = None
        self.seed = seed

    def write(self, path):
        os.makedirs(path)
        dtypes = []
        for i, t in enumerate(self.inputs):
            arr, name = to_numpy(t)
            np.save(os.path.join(path, f"input{i}.npy"), np.array(arr, order="C"))
            dtypes.append(name)
        kv = dict(self.kv)
        out_name = None
        if self.expected is not None:
            arr, out_name = to_numpy(self.expected)
            np.save(os.path.join(path, "expected.npy"), np.array(arr, order="C"))
        if self.indices is not None:
            np.save(os.path.join(path, "indices.npy"), np.array(self.indices.numpy(), order="C"))
        if "bfloat16" in dtypes or out_name == "bfloat16":
            kv["input_dtypes"] = ",".join(dtypes)
            if out_name is not None:
                kv["output_dtype"] = out_name
            if kv["kind"] == "pool":
                kv["dtype"] = "bfloat16"
        kv["seed"] = str(self.seed)
        with open(os.path.join(path, "case.txt"), "w") as f:
            for k, v in kv.items():
                f.write(f"{k}={v}\n")


# ------------------------------------------------------------------ pooling --

POOL_OPS = [
    ("max_pool", 1), ("max_pool", 2), ("max_pool", 3),
    ("avg_pool", 1), ("avg_pool", 2), ("avg_pool", 3),
    ("lp_pool", 1), ("lp_pool", 2),
    ("adaptive_max_pool", 1), ("adaptive_max_pool", 2), ("adaptive_max_pool", 3),
    ("adaptive_avg_pool", 1), ("adaptive_avg_pool", 2), ("adaptive_avg_pool", 3),
]


def call_pool(family, sd, x, a):
    """Runs the torch functional on a channels-first (logical) tensor."""
    name = f"{family}{sd}d"
    f = getattr(F, name)
    if family == "max_pool":
        kw = dict(kernel_size=a["k"], stride=a["s"], padding=a["p"], dilation=a["d"],
                  ceil_mode=a["ceil"], return_indices=a["idx"])
        return f(x, **kw)
    if family == "avg_pool":
        kw = dict(kernel_size=a["k"], stride=a["s"], padding=a["p"], ceil_mode=a["ceil"],
                  count_include_pad=a["cip"])
        if sd > 1 and a["div"] is not None:
            kw["divisor_override"] = a["div"]
        return f(x, **kw)
    if family == "lp_pool":
        k = a["k"][0] if sd == 1 else tuple(a["k"])
        s = None if a["s"] is None else (a["s"][0] if sd == 1 else tuple(a["s"]))
        return f(x, a["norm"], k, s, ceil_mode=a["ceil"])
    # -1 is poolcat's spelling of torch's None (keep the input size); the
    # 1-d functionals take no None, so the size itself is passed there.
    if sd == 1:
        out = [x.shape[-1] if a["out"][0] == -1 else a["out"][0]]
    else:
        out = [None if o == -1 else o for o in a["out"]]
    if family == "adaptive_max_pool":
        return f(x, out if sd > 1 else out[0], return_indices=a["idx"])
    return f(x, out if sd > 1 else out[0])


def to_logical(t, batched, cl, sd):
    """Physical (N,*sp,C) -> logical channels-first view, as a torch user with
    NHWC data would write it (a permuted, channels_last-strided view)."""
    if not cl:
        return t
    if batched:
        return t.permute(0, sd + 1, *range(1, sd + 1))
    return t.permute(sd, *range(0, sd))


def to_physical(t, batched, cl, sd):
    if not cl:
        return t.contiguous()
    if batched:
        return t.permute(0, *range(2, sd + 2), 1).contiguous()
    return t.permute(*range(1, sd + 1), 0).contiguous()


def gen_pool_case(rng, case, force_error):
    family, sd = rng.choice(POOL_OPS)
    adaptive = family.startswith("adaptive")
    is_max = family in ("max_pool", "adaptive_max_pool")
    # dtype
    r = rng.random()
    if is_max and r < 0.2:
        dtype = rng.choice(INT_DTYPES)
    elif force_error and is_max and r < 0.3:
        dtype = torch.bool
    else:
        dtype = rng.choices(FLOAT_DTYPES, weights=[4, 2, 2, 2])[0]
    batched = rng.random() < 0.7
    cl = rng.random() < 0.35
    n = rng.choice([0, 1, 1, 2, 3]) if batched else 1
    c = rng.choice([1, 2, 3, 5]) if rng.random() < 0.8 else rng.choice([9, 12, 19, 21, 37])
    a = {"k": None, "s": None, "p": None, "d": None, "ceil": False, "cip": True, "div": None,
         "norm": 2.0, "out": None, "idx": False}
    kv = {"kind": "pool", "op": f"{family}{sd}d"}
    spatial = []
    if adaptive:
        spatial = [rng.randint(1, 9) for _ in range(sd)]
        out = [rng.choice([-1, 1, 2, 3, 4, rng.randint(1, 12)]) for _ in range(sd)]
        if rng.random() < 0.15:
            out = [1] * sd  # global pooling
        a["out"] = out
        kv["output_size"] = fmt_list(out if rng.random() < 0.8 or len(set(out)) > 1 else out[:1])
        if is_max:
            a["idx"] = rng.random() < 0.5
            kv["indices"] = fmt_bool(a["idx"])
    else:
        k = [rng.randint(1, 4) for _ in range(sd)]
        if rng.random() < 0.1:
            k = [rng.randint(5, 8) for _ in range(sd)]  # big kernels
        s = None if rng.random() < 0.3 else [rng.randint(1, 3) for _ in range(sd)]
        p = [rng.randint(0, kk // 2) for kk in k] if family != "lp_pool" else [0] * sd
        d = [1] * sd
        if family == "max_pool" and rng.random() < 0.4:
            d = [rng.randint(1, 3) for _ in range(sd)]
        a.update(k=k, s=s, p=p, d=d, ceil=rng.random() < 0.4)
        spatial = [rng.randint(max(1, dd * (kk - 1) + 1 - 2 * pp), dd * (kk - 1) + 1 + 6)
                   for kk, dd, pp in zip(k, d, p)]
        kv["kernel_size"] = fmt_list(k if rng.random() < 0.8 or len(set(k)) > 1 else k[:1])
        if s is not None:
            kv["stride"] = fmt_list(s)
        if family in ("max_pool", "avg_pool"):
            kv["padding"] = fmt_list(p)
        if family == "max_pool":
            kv["dilation"] = fmt_list(d)
            a["idx"] = rng.random() < 0.5
            kv["indices"] = fmt_bool(a["idx"])
        kv["ceil_mode"] = fmt_bool(a["ceil"])
        if family == "avg_pool":
            a["cip"] = rng.random() < 0.5
            kv["count_include_pad"] = fmt_bool(a["cip"])
            if sd > 1 and rng.random() < 0.3:
                a["div"] = rng.choice([1, 2, 3, 7, -2])
                kv["divisor_override"] = str(a["div"])
        if family == "lp_pool":
            a["norm"] = rng.choice(EXACT_NORMS * 3 + INEXACT_NORMS)
            kv["norm_type"] = repr(a["norm"])
            if a["norm"] not in EXACT_NORMS:
                kv["max_ulp"] = "2"
    breaker = None
    if force_error:
        breakers = ["rank", "spatial0"]
        if not adaptive:
            breakers += ["pad", "stride0", "kernel0", "small"]
            if family == "max_pool":
                breakers += ["dilation0"]
            if family == "avg_pool" and sd > 1:
                breakers += ["div0"]
            if family == "lp_pool":
                breakers += ["norm0"]
        else:
            breakers += ["out-2"]
        if dtype != torch.bool:
            b = breaker = rng.choice(breakers)
            if b == "rank":
                batched = True
                cl = False  # keep the permutation out of it: torch judges the rank
                spatial = spatial + [2] if rng.random() < 0.5 else spatial[:-1]
                if not spatial:
                    spatial = [2, 2, 2, 2]
                # (kernel lists keep sd entries; the rank is what is wrong)
            elif b == "spatial0":
                spatial[rng.randrange(len(spatial))] = 0
            elif b == "pad":
                i = rng.randrange(sd)
                a["p"][i] = a["k"][i] // 2 + 1
                kv["padding"] = fmt_list(a["p"])
            elif b == "stride0":
                a["s"] = [rng.randint(1, 2) for _ in range(sd)]
                a["s"][rng.randrange(sd)] = 0
                kv["stride"] = fmt_list(a["s"])
            elif b == "kernel0":
                a["k"][rng.randrange(sd)] = 0
                a["p"] = [0] * sd
                a["s"] = a["s"] or [1] * sd
                kv["kernel_size"] = fmt_list(a["k"])
                kv["stride"] = fmt_list(a["s"])
                if "padding" in kv:
                    kv["padding"] = fmt_list(a["p"])
            elif b == "small":
                a["p"] = [0] * sd
                a["ceil"] = False
                a["idx"] = True if family == "max_pool" else a["idx"]
                if "padding" in kv:
                    kv["padding"] = fmt_list(a["p"])
                if "indices" in kv:
                    kv["indices"] = "true"
                kv["ceil_mode"] = "false"
                i = rng.randrange(sd)
                spatial[i] = max(0, a["d"][i] * (a["k"][i] - 1))  # one short of a window
                if spatial[i] == 0:
                    a["k"][i] = 2
                    kv["kernel_size"] = fmt_list(a["k"])
                    spatial[i] = 1
            elif b == "dilation0":
                a["d"][rng.randrange(sd)] = 0
                kv["dilation"] = fmt_list(a["d"])
            elif b == "div0":
                a["div"] = 0
                kv["divisor_override"] = "0"
            elif b == "norm0":
                a["norm"] = 0.0
                kv["norm_type"] = "0.0"
                kv.pop("max_ulp", None)
            elif b == "out-2":
                a["out"][rng.randrange(sd)] = -2
                kv["output_size"] = fmt_list(a["out"])
    kv["channels_last"] = fmt_bool(cl)
    if cl:
        phys_shape = ([n] if batched else []) + spatial + [c]
    else:
        phys_shape = ([n] if batched else []) + [c] + spatial
    # Global average pooling is torch's mean(), a cascade sum (core copies
    # its order exactly; the reference allows for any order). Half of these
    # cases get larger positive inputs, the rest the usual mix.
    global_avg = (family == "adaptive_avg_pool" and not force_error and
                  all((sp if o == -1 else o) == 1 for o, sp in zip(a["out"], spatial)))
    if global_avg:
        kv["global_average"] = "true"
    if global_avg and rng.random() < 0.5:
        spatial = [rng.randint(1, 24) for _ in spatial]
        phys_shape = (([n] if batched else []) + spatial + [c] if cl else
                      ([n] if batched else []) + [c] + spatial)
        x = torch.tensor(np.array([rng.uniform(0.5, 10.0) for _ in range(int(np.prod(phys_shape)))]),
                         dtype=torch.float64).reshape(phys_shape).to(dtype)
    else:
        x = random_values(rng, phys_shape, dtype, specials=rng.random() < 0.25)
    case.inputs = [x]

    # Compute with torch, in a wider type when torch 1.13 refuses this dtype.
    # torch 1.13 CPU has no kernel for some dtype/op pairs (float16 pooling
    # except adaptive_avg_pool3d and global averages, bfloat16 3-d pooling,
    # integer max pooling): then torch computes in float32 (float64 for
    # integers, exact for the values used) and the result is cast back.
    def attempt(compute):
        return call_pool(family, sd, to_logical(x.to(compute), batched, cl, sd), a)

    try:
        try:
            res = attempt(dtype)
        except RuntimeError as e:
            if "not implemented for" not in str(e) or dtype == torch.bool:
                raise
            compute = torch.float64 if dtype in INT_DTYPES else torch.float32
            kv["computed_via"] = DTYPE_NAMES[compute]
            res = attempt(compute)
    except (RuntimeError, ValueError, IndexError, TypeError, ZeroDivisionError) as e:
        if dtype == torch.bool and not force_error:
            return False
        kv.pop("computed_via", None)
        kv["expect"] = "error"
        kv["torch_error"] = first_line(e)
        case.kv = kv
        return True
    if breaker == "rank":
        return False  # torch's global-average fast path takes any rank; poolcat does not
    out, idx = (res if isinstance(res, tuple) else (res, None))
    if dtype in INT_DTYPES and out.numel() and bool(torch.isinf(out).any()):
        return False  # a window wholly in padding has no integer meaning in torch
    case.expected = to_physical(out, batched, cl, sd).to(dtype)
    if idx is not None:
        case.indices = to_physical(idx, batched, cl, sd)
    kv["expect"] = "ok"
    case.kv = kv
    return True


# ---------------------------------------------------------------------- cat --

CAT_DTYPES = FLOAT_DTYPES + INT_DTYPES + [torch.bool]


def gen_cat_case(rng, case, force_error):
    rank = rng.randint(1, 4)
    base = [rng.randint(0 if rng.random() < 0.15 else 1, 4) for _ in range(rank)]
    k = rng.randint(1, 4)
    dim = rng.randrange(-rank, rank)
    common = rng.choice(CAT_DTYPES)
    tensors = []
    for _ in range(k):
        shape = list(base)
        shape[dim] = rng.randint(0, 3)
        dt = common if rng.random() < 0.5 else rng.choice(CAT_DTYPES)
        if rng.random() < 0.12:
            shape = [0]  # legacy empty, skipped by cat
        tensors.append(random_values(rng, shape, dt, specials=rng.random() < 0.2))
    if force_error:
        b = rng.choice(["dim", "rank", "size", "scalar"])
        if b == "dim":
            dim = rng.choice([rank, -rank - 1, rank + 3])
        elif b == "rank":
            tensors[rng.randrange(k)] = random_values(rng, base + [2], common, False)
        elif b == "size":
            if rank == 1:
                tensors.append(random_values(rng, [2, 2], common, False))
            else:
                i = rng.randrange(k)
                shape = list(base)
                off = (dim + 1) % rank
                shape[off] = base[off] + 1
                tensors[i] = random_values(rng, shape, common, False)
        else:
            tensors[rng.randrange(k)] = random_values(rng, [], common, False)
    case.inputs = tensors
    kv = {"kind": "concat", "dim": str(dim), "inputs": str(len(tensors))}
    try:
        out = torch.cat(tensors, dim)
        case.expected = out
        kv["expect"] = "ok"
    except (RuntimeError, IndexError, ValueError) as e:
        kv["expect"] = "error"
        kv["torch_error"] = first_line(e)
    case.kv = kv
    return True


def gen_large_adaptive_case(rng, case):
    """A long 1-d adaptive pool where i*in exceeds 2^24, so a window bound
    computed in float32 would differ from the exact one torch 1.13.1 uses."""
    family = rng.choice(["adaptive_max_pool", "adaptive_avg_pool"])
    length = rng.randint(60000, 120000)
    out = rng.randint(3000, 9000)
    x = torch.randn(1, 1, length, dtype=torch.float32)
    case.inputs = [x]
    kv = {"kind": "pool", "op": f"{family}1d", "output_size": str(out)}
    if family == "adaptive_max_pool":
        kv["indices"] = "true"
        res, idx = F.adaptive_max_pool1d(x, out, return_indices=True)
        case.indices = idx
    else:
        res = F.adaptive_avg_pool1d(x, out)
    kv["channels_last"] = "false"
    kv["expect"] = "ok"
    case.expected = res
    case.kv = kv
    return True


def gen_signed_zero_case(rng, case):
    """avg_pool of zeros with a negative divisor_override: torch's channels-
    first kernels add the -0 quotient to a zeroed output (+0); only its
    channels-last 2-d kernel (batched 4-d input) keeps -0."""
    sd = rng.choice([1, 2, 3])
    batched = rng.random() < 0.6
    cl = rng.random() < 0.6
    c = rng.randint(2, 5)
    spatial = [rng.randint(2, 6) for _ in range(sd)]
    k = [rng.randint(1, 2) for _ in range(sd)]
    shape = ([2] if batched else []) + (spatial + [c] if cl else [c] + spatial)
    x = torch.zeros(shape, dtype=torch.float32)
    if rng.random() < 0.5:
        x = -x
    case.inputs = [x]
    div = rng.choice([-1, -2, -3])
    kv = {"kind": "pool", "op": f"avg_pool{sd}d", "kernel_size": fmt_list(k),
          "padding": fmt_list([0] * sd), "ceil_mode": "false", "count_include_pad": "true"}
    a = {"k": k, "s": None, "p": [0] * sd, "ceil": False, "cip": True, "div": None}
    if sd > 1:
        a["div"] = div
        kv["divisor_override"] = str(div)
    out = call_pool("avg_pool", sd, to_logical(x, batched, cl, sd), a)
    kv["channels_last"] = fmt_bool(cl)
    kv["expect"] = "ok"
    case.expected = to_physical(out, batched, cl, sd)
    case.kv = kv
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=480)
    ap.add_argument("--seed", type=int, default=20231113)
    args = ap.parse_args()
    if os.path.isdir(args.outdir):
        shutil.rmtree(args.outdir)
    os.makedirs(args.outdir)
    master = random.Random(args.seed)
    written = 0
    stats = {}
    while written < args.count:
        seed = master.randrange(2 ** 31)
        rng = random.Random(seed)
        torch.manual_seed(seed)
        case = Case(seed)
        force_error = rng.random() < 0.12
        if written % 120 == 7:
            ok = gen_large_adaptive_case(rng, case)
        elif written % 40 == 23:
            ok = gen_signed_zero_case(rng, case)
        elif rng.random() < 0.18:
            ok = gen_cat_case(rng, case, force_error)
        else:
            ok = gen_pool_case(rng, case, force_error)
        if not ok:
            continue
        case.write(os.path.join(args.outdir, f"{written:04d}"))
        key = (case.kv.get("op", "cat"), case.kv["expect"])
        stats[key] = stats.get(key, 0) + 1
        written += 1
    for key in sorted(stats):
        print(f"{key[0]:>22} {key[1]:>5} {stats[key]}")
    print(f"wrote {written} cases to {args.outdir}")


if __name__ == "__main__":
    main()
