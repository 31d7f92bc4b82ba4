"""Generated poolcat.v1 messages and stubs, produced from the repo's proto.

The generated modules are never committed: they are made on first use with
Debian's `protoc` (protobuf-compiler) and `grpc_python_plugin`
(protobuf-compiler-grpc), so they always match both the proto and the
installed python3-protobuf, which only accepts code from its own protoc.

Where things are found (environment variables override the defaults):
  POOLCAT_PROTO_DIR       proto root holding poolcat/v1/poolcat.proto
                          (default: <repo>/proto, two levels above this package)
  POOLCAT_CLIENT_GEN_DIR  where generated modules go (default: _generated/
                          beside this file, else ~/.cache/poolcat_client/)
  POOLCAT_PROTOC          protoc binary (default: protoc on PATH)
  POOLCAT_GRPC_PYTHON_PLUGIN  grpc_python_plugin binary (default: on PATH)
"""

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile

_PROTO_REL = os.path.join("poolcat", "v1", "poolcat.proto")
_STAMP = "proto.sha256"

_loaded = None


def proto_dir():
    env = os.environ.get("POOLCAT_PROTO_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "proto"))


def _default_gen_dir():
    env = os.environ.get("POOLCAT_CLIENT_GEN_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    if os.access(here, os.W_OK):
        return os.path.join(here, "_generated")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "poolcat_client")


def _tool(env_name, default):
    path = os.environ.get(env_name) or shutil.which(default)
    if not path:
        raise RuntimeError(
            f"poolcat_client needs `{default}` to generate its gRPC stubs; "
            f"install Debian's protobuf-compiler and protobuf-compiler-grpc "
            f"or set {env_name}")
    return path


def _read_stamp(gen_dir):
    try:
        with open(os.path.join(gen_dir, _STAMP), encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def _generate(src_root, gen_dir, digest):
    """Runs protoc into a temporary sibling dir, then swaps it into place.

    The swap by rename keeps concurrent first uses (parallel tests) from ever
    seeing a half-written package.
    """
    parent = os.path.dirname(os.path.abspath(gen_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".poolcat_gen_", dir=parent)
    try:
        cmd = [
            _tool("POOLCAT_PROTOC", "protoc"),
            f"--plugin=protoc-gen-grpc_python="
            f"{_tool('POOLCAT_GRPC_PYTHON_PLUGIN', 'grpc_python_plugin')}",
            f"--proto_path={src_root}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            os.path.join(src_root, _PROTO_REL),
        ]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise RuntimeError(
                f"protoc failed ({run.returncode}) generating poolcat stubs: "
                f"{run.stderr.strip()}")
        with open(os.path.join(tmp, _STAMP), "w", encoding="ascii") as f:
            f.write(digest + "\n")
        if os.path.isdir(gen_dir):
            stamp = _read_stamp(gen_dir)
            if stamp == digest:
                return  # Another process won the race with the same output.
            if stamp is None and os.listdir(gen_dir):
                # Not ours (no stamp): never move a user's directory away.
                raise RuntimeError(
                    f"{gen_dir} is not empty and holds no poolcat_client "
                    f"stubs; point POOLCAT_CLIENT_GEN_DIR elsewhere")
            old = tempfile.mkdtemp(prefix=".poolcat_old_", dir=parent)
            os.rename(gen_dir, os.path.join(old, "gen"))
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(tmp, gen_dir)
            tmp = None
        except OSError:
            if _read_stamp(gen_dir) != digest:
                raise
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def load(gen_dir=None):
    """Returns (poolcat_pb2, poolcat_pb2_grpc), generating them if stale."""
    global _loaded
    if _loaded is not None:
        return _loaded
    src_root = proto_dir()
    proto = os.path.join(src_root, _PROTO_REL)
    try:
        with open(proto, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        raise RuntimeError(
            f"poolcat_client cannot read {proto} ({e.strerror}); "
            f"set POOLCAT_PROTO_DIR to the directory holding "
            f"poolcat/v1/poolcat.proto") from e
    gen_dir = gen_dir or _default_gen_dir()
    if _read_stamp(gen_dir) != digest:
        _generate(src_root, gen_dir, digest)
    # The grpc plugin's output imports `poolcat.v1.poolcat_pb2` absolutely,
    # so the generated root has to be importable.
    if gen_dir not in sys.path:
        sys.path.insert(0, gen_dir)
    pb2 = importlib.import_module("poolcat.v1.poolcat_pb2")
    pb2_grpc = importlib.import_module("poolcat.v1.poolcat_pb2_grpc")
    _loaded = (pb2, pb2_grpc)
    return _loaded
