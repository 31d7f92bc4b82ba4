"""Finds (generating when needed) the poolcat.v1 messages and gRPC stubs.

The generated modules are never committed. They are importable as
`poolcat.v1.poolcat_pb2` and `poolcat.v1.poolcat_pb2_grpc` from the first
of these that applies:

1. $POOLCAT_PYTHON_STUBS: an output root of `_codegen` (the build writes
   <build>/client/python/stubs; CTest points the tests there).
2. poolcat/v1/ inside this package (git-ignored), generated there on first
   use, the way Python writes __pycache__ beside the sources.
3. ~/.cache/poolcat/stubs-<digest> ($XDG_CACHE_HOME honoured) when the
   package directory is read-only.

Output stamped with a different proto digest is regenerated; without the
proto (an installed copy of the package) existing stubs are used as they are.
"""

import importlib
import os
import sys

from poolcat import _codegen

_loaded = None


def _package_dir():
    return os.path.dirname(os.path.realpath(__file__))


def _has_stubs(root):
    return os.path.isfile(
        os.path.join(root, _codegen.PACKAGE_REL, "poolcat_pb2_grpc.py"))


def _choose_root(digest):
    env = os.environ.get("POOLCAT_PYTHON_STUBS")
    if env:
        return env
    in_package = os.path.dirname(_package_dir())
    if (digest is None or _codegen.read_stamp(in_package) == digest
            or os.access(_package_dir(), os.W_OK)):
        return in_package
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(cache, "poolcat", f"stubs-{digest[:16]}")


def _make_importable(root):
    """Puts root/poolcat first on this package's __path__.

    The generated service module imports `poolcat.v1.poolcat_pb2` by
    absolute name, so the generated `v1` directory must be a subpackage of
    this very package, wherever it was written.
    """
    package = sys.modules["poolcat"]
    extra = os.path.join(os.path.abspath(root), "poolcat")
    if os.path.realpath(extra) == _package_dir():
        return
    if extra not in package.__path__:
        package.__path__.insert(0, extra)


def load():
    """Returns (poolcat_pb2, poolcat_pb2_grpc), generating them if stale.

    Raises:
      poolcat._codegen.CodegenError: no usable stubs and they cannot be
        generated (the message names what is missing).
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    proto_dir = _codegen.default_proto_dir()
    digest = _codegen.proto_digest(proto_dir)
    root = _choose_root(digest)
    if digest is None:
        if not _has_stubs(root):
            raise _codegen.CodegenError(
                f"poolcat has no generated stubs in {root} and cannot find "
                f"{_codegen.PROTO_REL} to make them; set POOLCAT_PROTO_DIR")
    elif _codegen.read_stamp(root) != digest:
        _codegen.generate(root, proto_dir)
    _make_importable(root)
    pb2 = importlib.import_module("poolcat.v1.poolcat_pb2")
    pb2_grpc = importlib.import_module("poolcat.v1.poolcat_pb2_grpc")
    _loaded = (pb2, pb2_grpc)
    return _loaded
