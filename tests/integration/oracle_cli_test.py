#!/usr/bin/python3
"""The PyTorch oracle cases (tests/oracle/gen_cases.py) end to end: every case
goes through the `poolcat` CLI to a real poolcat-server and the .npy it
writes is compared with torch's.

Usage: oracle_cli_test.py [CASE_DIR]
CASE_DIR is the oracle fixture's output (CTest fixture `oracle_cases`); when
absent or empty, cases are generated into a temporary directory.

Comparison follows tests/oracle: bit-identical, NaN equal to NaN, or within
max_ulp units in the last place when the case allows it; expect=error cases
must fail with a non-zero exit and "CODE: message" on stderr, never UNKNOWN
or INTERNAL.
"""

import concurrent.futures
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from poolcat_server import CLI, HERE, PoolcatServer  # noqa: E402

GEN_CASES = os.path.join(os.path.dirname(HERE), "oracle", "gen_cases.py")
MIN_CASES = 300
POOL_FLAGS = ["op", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
              "count_include_pad", "divisor_override", "norm_type", "output_size",
              "channels_last", "dtype"]
ERROR_CODES = {"INVALID_ARGUMENT", "OUT_OF_RANGE", "RESOURCE_EXHAUSTED",
               "FAILED_PRECONDITION"}


def read_case(case_dir):
    kv = {}
    with open(os.path.join(case_dir, "case.txt")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                kv[key] = value
    return kv


def ordered(bits, nbits):
    """Maps float bit patterns to integers ordered like the floats."""
    bits = bits.astype(np.int64)
    sign = np.int64(1) << (nbits - 1)
    return np.where(bits & sign, sign - bits, bits + sign)


def compare(expected, got, max_ulp):
    """None if equal under the oracle's rules, else a description."""
    if expected.dtype != got.dtype:
        return f"dtype: expected {expected.dtype}, got {got.dtype}"
    if expected.shape != got.shape:
        return f"shape: expected {expected.shape}, got {got.shape}"
    if expected.size == 0:
        return None
    e = expected.reshape(-1)
    g = got.reshape(-1)
    if e.dtype.kind != "f":
        bad = np.nonzero(e != g)[0]
    else:
        ints = {2: np.uint16, 4: np.uint32, 8: np.uint64}[e.dtype.itemsize]
        eb, gb = e.view(ints), g.view(ints)
        same = (eb == gb) | (np.isnan(e) & np.isnan(g))
        if max_ulp > 0:
            nbits = 8 * e.dtype.itemsize
            if nbits == 64:
                # int64 cannot hold the ordered difference of float64 bits
                # safely; compare via Python ints.
                close = np.array([abs(int(a) - int(b)) <= max_ulp for a, b in zip(
                    ordered(eb.astype(np.uint64).view(np.int64), 64),
                    ordered(gb.astype(np.uint64).view(np.int64), 64))])
            else:
                close = np.abs(ordered(eb, nbits) - ordered(gb, nbits)) <= max_ulp
            same |= close & ~np.isnan(e) & ~np.isnan(g)
        bad = np.nonzero(~same)[0]
    if bad.size:
        i = bad[0]
        return (f"{bad.size} elements differ; first at {i}: expected {e[i]!r}, "
                f"got {g[i]!r}" + (f" (tolerance {max_ulp} ulp)" if max_ulp else ""))
    return None


def run_case(case_dir, address):
    kv = read_case(case_dir)
    out = os.path.join(case_dir, "cli_out.npy")
    idx = os.path.join(case_dir, "cli_indices.npy")
    for p in (out, idx):
        if os.path.exists(p):
            os.remove(p)
    count = int(kv.get("inputs", "1"))  # pool cases have one input
    inputs = [os.path.join(case_dir, f"input{i}.npy") for i in range(count)]
    if kv["kind"] == "pool":
        args = ["pool", f"--target={address}"]
        args += [f"--{k}={kv[k]}" for k in POOL_FLAGS if k in kv]
        if kv.get("indices") == "true":
            args.append(f"--indices={idx}")
    else:
        args = ["concat", f"--target={address}", f"--dim={kv['dim']}"]
        if "input_dtypes" in kv:
            args.append(f"--input_dtypes={kv['input_dtypes']}")
    args += ["-o", out] + inputs
    proc = subprocess.run([CLI] + args, capture_output=True, text=True, timeout=120)
    command = "poolcat " + " ".join(args)

    if kv["expect"] == "error":
        if proc.returncode == 0:
            return f"expected an error, but the call succeeded\n  {command}"
        code = proc.stderr.split(":", 1)[0]
        if code not in ERROR_CODES:
            return f"expected an argument error, got: {proc.stderr.strip()}\n  {command}"
        return None
    if proc.returncode != 0:
        return f"expected success, got exit {proc.returncode}: {proc.stderr.strip()}\n  {command}"
    diff = compare(np.load(os.path.join(case_dir, "expected.npy")), np.load(out),
                   int(kv.get("max_ulp", "0")))
    if diff:
        return f"output {diff}\n  {command}"
    if kv.get("indices") == "true":
        diff = compare(np.load(os.path.join(case_dir, "indices.npy")), np.load(idx), 0)
        if diff:
            return f"indices {diff}\n  {command}"
    return None


def case_dirs(root):
    if not os.path.isdir(root):
        return []
    return sorted(os.path.join(root, d) for d in os.listdir(root)
                  if os.path.isfile(os.path.join(root, d, "case.txt")))


def main():
    tmp = None
    root = sys.argv[1] if len(sys.argv) > 1 else ""
    dirs = case_dirs(root) if root else []
    if not dirs:
        tmp = tempfile.TemporaryDirectory()
        root = os.path.join(tmp.name, "cases")
        subprocess.run(["/usr/bin/python3", GEN_CASES, root], check=True, timeout=600)
        dirs = case_dirs(root)
    if len(dirs) < MIN_CASES:
        print(f"too few oracle cases under {root}: {len(dirs)} < {MIN_CASES}")
        return 1

    failures = []
    with PoolcatServer() as server:
        # Two CLI processes at a time: the machine has two cores.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda d: (d, run_case(d, server.address)), dirs))
        for case_dir, problem in results:
            if problem:
                failures.append(f"{case_dir}: {problem}\n" + open(
                    os.path.join(case_dir, "case.txt")).read())
        code = server.stop()
        if code != 0:
            failures.append(f"server exit code {code}:\n{server.output()}")
    for failure in failures:
        print("FAIL", failure)
    passed = len(dirs) - len([f for f in failures if not f.startswith("server")])
    print(f"oracle cases through the CLI: {passed} passed, {len(failures)} failed")
    if tmp:
        tmp.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
