#!/usr/bin/python3
"""The same tensors through the C++ CLI, Python and Node: identical bytes.

  cross_language_test.py --cli=build/bin/poolcat [--node=node]

Run under with_server.py (POOLCAT_TARGET) by node_client_test.py, which also
installs client/node's dependencies (NODE_PATH). Each case goes through
- `poolcat pool|concat` (the C++ client) with .npy files,
- poolcat.Client (client/python),
- require('<repo>/client/node') (cross_language.js),
and the three results (dtype, shape, raw bytes; indices too) must be equal.
The cases cover every argument, channels-last, indices, float16, bfloat16,
integer and mixed-dtype concatenation, and the seed notebook's example.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

import poolcat
from poolcat import _tensor

HERE = os.path.dirname(os.path.abspath(__file__))


def bfloat16_values(shape, rng):
    """float32 values that are exact bfloat16s (what .npy can carry)."""
    bits = _tensor.float_to_bfloat16_bits(rng.standard_normal(shape) * 8)
    return _tensor.bfloat16_bits_to_float32(bits).reshape(shape)


def cases():
    rng = np.random.default_rng(7)
    x4 = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    return [
        dict(name="seed: max_pool2d(cat(X, X + 1)), k3 p1 s2, indices",
             kind="pool", inputs=[np.concatenate([x4, x4 + 1], 1)],
             args=dict(op="max_pool2d", kernel_size=3, padding=1, stride=2,
                       return_indices=True)),
        dict(name="max_pool2d dilation ceil_mode, indices",
             kind="pool",
             inputs=[rng.standard_normal((2, 3, 9, 8)).astype(np.float32)],
             args=dict(op="max_pool2d", kernel_size=[3, 2], stride=[2, 1],
                       padding=[1, 0], dilation=[1, 2], ceil_mode=True,
                       return_indices=True)),
        dict(name="avg_pool3d ceil_mode count_include_pad=False divisor",
             kind="pool",
             inputs=[rng.standard_normal((1, 2, 5, 6, 7))],  # float64
             args=dict(op="avg_pool3d", kernel_size=[2, 3, 2],
                       stride=[2, 2, 3], padding=[1, 1, 0], ceil_mode=True,
                       count_include_pad=False, divisor_override=5)),
        dict(name="adaptive_avg_pool2d channels-last, None in output_size",
             kind="pool",
             inputs=[rng.standard_normal((2, 5, 7, 3)).astype(np.float32)],
             args=dict(op="adaptive_avg_pool2d", output_size=[None, 3],
                       channels_last=True)),
        dict(name="lp_pool1d norm_type 2",
             kind="pool",
             inputs=[np.abs(rng.standard_normal((3, 11))).astype(np.float32)],
             args=dict(op="lp_pool1d", kernel_size=3, stride=2,
                       norm_type=2.0)),
        dict(name="adaptive_max_pool3d float16, indices", kind="pool",
             inputs=[rng.standard_normal((1, 2, 4, 5, 3)).astype(np.float16)],
             args=dict(op="adaptive_max_pool3d", output_size=[2, 3, 2],
                       return_indices=True)),
        dict(name="max_pool1d int32", kind="pool",
             inputs=[rng.integers(-1000, 1000, (2, 3, 10)).astype(np.int32)],
             args=dict(op="max_pool1d", kernel_size=3, stride=2, padding=1)),
        dict(name="avg_pool2d bfloat16", kind="pool", bfloat16=[True],
             inputs=[bfloat16_values((1, 2, 6, 6), rng)],
             args=dict(op="avg_pool2d", kernel_size=3, stride=2, padding=1)),
        dict(name="concat int32, float64, bool on dim 1 (promotes)",
             kind="concat",
             inputs=[rng.integers(-9, 9, (2, 1, 3)).astype(np.int32),
                     rng.standard_normal((2, 2, 3)),
                     rng.standard_normal((2, 3, 3)) > 0],
             args=dict(dim=1)),
        dict(name="concat uint8, int8 on dim -1 (to int16)", kind="concat",
             inputs=[rng.integers(0, 255, (3, 2)).astype(np.uint8),
                     rng.integers(-128, 127, (3, 4)).astype(np.int8)],
             args=dict(dim=-1)),
        dict(name="concat float32 and bfloat16 (to float32)", kind="concat",
             bfloat16=[False, True],
             inputs=[rng.standard_normal((2, 3)).astype(np.float32),
                     bfloat16_values((1, 3), rng)],
             args=dict(dim=0)),
    ]


def cli_flag(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join("None" if v is None else str(v) for v in value)
    return str(value)


def through_cli(cli, case, tmp, target):
    paths = []
    for i, x in enumerate(case["inputs"]):
        paths.append(os.path.join(tmp, f"in{i}.npy"))
        np.save(paths[-1], x)
    out = os.path.join(tmp, "cli_out.npy")
    idx = os.path.join(tmp, "cli_idx.npy")
    cmd = [cli, case["kind"], f"--target={target}", "-o", out]
    bf16 = case.get("bfloat16", [False] * len(paths))
    if case["kind"] == "pool":
        args = dict(case["args"])
        cmd.append(f"--op={args.pop('op')}")
        if args.pop("return_indices", False):
            cmd.append(f"--indices={idx}")
        cmd += [f"--{k}={cli_flag(v)}" for k, v in args.items()]
        if bf16[0]:
            cmd.append("--dtype=bfloat16")
    else:
        cmd.append(f"--dim={case['args']['dim']}")
        if any(bf16):
            cmd.append("--input_dtypes=" + ",".join(
                "bfloat16" if b else x.dtype.name
                for b, x in zip(bf16, case["inputs"])))
    run = subprocess.run(cmd + paths, capture_output=True, text=True,
                         timeout=120, check=False)
    if run.returncode != 0:
        raise AssertionError(f"{' '.join(cmd + paths)} failed "
                             f"({run.returncode}): {run.stderr}")
    result = {"output": np.load(out)}
    if case["args"].get("return_indices"):
        result["indices"] = np.load(idx)
    return result


def through_python(client, case):
    bf16 = case.get("bfloat16", [False] * len(case["inputs"]))
    if case["kind"] == "pool":
        got = client.pool(case["inputs"][0], **case["args"],
                          dtype="bfloat16" if bf16[0] else None)
        if case["args"].get("return_indices"):
            return {"output": got[0], "indices": got[1]}
        return {"output": got}
    return {"output": client.concat(
        case["inputs"], dim=case["args"]["dim"],
        dtype=["bfloat16" if b else None for b in bf16])}


def node_spec(all_cases, tmp):
    spec = []
    for n, case in enumerate(all_cases):
        bf16 = case.get("bfloat16", [False] * len(case["inputs"]))
        inputs = []
        for i, (x, b) in enumerate(zip(case["inputs"], bf16)):
            path = os.path.join(tmp, f"node_in{n}_{i}.bin")
            np.ascontiguousarray(x).astype(x.dtype.newbyteorder("<")).tofile(
                path)
            inputs.append({"path": path, "shape": list(x.shape),
                           "dtype": x.dtype.name, "bfloat16": b})
        spec.append({"kind": case["kind"], "args": case["args"],
                     "inputs": inputs,
                     "out": os.path.join(tmp, f"node_out{n}")})
    return spec


def load_node_result(case, out_prefix):
    with open(out_prefix + ".json", encoding="utf-8") as f:
        meta = json.load(f)
    result = {}
    for key in ("output", "indices"):
        if key in meta:
            dtype = np.dtype(meta[key]["dtype"]).newbyteorder("<")
            result[key] = np.fromfile(f"{out_prefix}.{key}.bin",
                                      dtype=dtype).reshape(
                                          meta[key]["shape"])
    return result


def same(a, b):
    return (a.dtype == b.dtype and a.shape == b.shape and
            np.ascontiguousarray(a).tobytes() ==
            np.ascontiguousarray(b).tobytes())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--node", default="node")
    args = parser.parse_args()
    target = os.environ["POOLCAT_TARGET"]
    all_cases = cases()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="poolcat_xlang_") as tmp, \
            poolcat.Client(target, timeout=120) as client:
        spec = node_spec(all_cases, tmp)
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump({"target": target, "cases": spec}, f)
        node = subprocess.run(
            [args.node, os.path.join(HERE, "cross_language.js"), spec_path],
            capture_output=True, text=True, timeout=300, check=False)
        if node.returncode != 0:
            print(f"cross_language.js failed ({node.returncode}):\n"
                  f"{node.stdout}{node.stderr}", file=sys.stderr)
            return 1
        for n, case in enumerate(all_cases):
            cli = through_cli(args.cli, case, tmp, target)
            py = through_python(client, case)
            js = load_node_result(case, spec[n]["out"])
            for key in ("output", "indices"):
                if key not in cli and key not in py and key not in js:
                    continue
                results = {"C++ CLI": cli.get(key), "Python": py.get(key),
                           "Node": js.get(key)}
                missing = [k for k, v in results.items() if v is None]
                ok = not missing and same(results["C++ CLI"],
                                          results["Python"]) and same(
                                              results["C++ CLI"],
                                              results["Node"])
                status = "ok" if ok else "DIFFERENT"
                print(f"{status}: {case['name']} [{key}]")
                if not ok:
                    failures += 1
                    for lang, v in results.items():
                        desc = "missing" if v is None else (
                            f"{v.dtype} {list(v.shape)} {v.ravel()[:8]}")
                        print(f"    {lang}: {desc}")
                    continue
                # Sanity: the bytes compared are real results.
                assert results["Python"].size > 0, case["name"]
    print(f"{len(all_cases)} cases through C++, Python and Node: "
          f"{failures} different")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
