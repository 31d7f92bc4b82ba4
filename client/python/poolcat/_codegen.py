"""Generates poolcat.v1's Python messages and gRPC stubs from the proto.

  python3 -m poolcat._codegen --out ROOT [--proto_dir DIR]
  (or: python3 client/python/poolcat/_codegen.py --out ROOT ...)

writes ROOT/poolcat/v1/poolcat_pb2.py and poolcat_pb2_grpc.py. The build runs
this into its own directory (client/python/CMakeLists.txt); the package runs
it on first use when it finds no up-to-date stubs (poolcat/_stubs.py).

Two Debian 12 tools share the work, each doing what it does right:
- `protoc` (protobuf-compiler 3.21) writes the messages. It is the compiler
  python3-protobuf 4.21 is built with, and python3-protobuf accepts code
  only from a matching protoc.
- `grpc_tools.protoc` (python3-grpc-tools) writes the service stubs. Its
  bundled compiler is libprotoc 3.5.1, older than proto3 `optional` (which
  poolcat.proto uses for count_include_pad, divisor_override and norm_type),
  so it cannot parse the .proto itself; it reads the descriptor set protoc
  produced instead (--descriptor_set_in). The stubs only need the service
  and message names, which that carries exactly.
Where grpc_tools' own compiler is recent enough (a newer grpcio-tools), it
does both, and then protoc is not needed.

Output appears atomically: a directory is generated next to the target and
renamed into place, so concurrent first uses never see half a package.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

PROTO_REL = os.path.join("poolcat", "v1", "poolcat.proto")
# Relative to the output root; the generated stubs import
# `poolcat.v1.poolcat_pb2`, which is why they sit under this package's name.
PACKAGE_REL = os.path.join("poolcat", "v1")
STAMP = ".poolcat-stubs.sha256"
# Bump when the generation recipe changes, so old output is regenerated.
_RECIPE = b"poolcat-python-stubs-2"


class CodegenError(RuntimeError):
    """The stubs could not be generated; the message says what to install."""


def default_proto_dir():
    """<repo>/proto, found from this file (symlinks resolved)."""
    env = os.environ.get("POOLCAT_PROTO_DIR")
    if env:
        return env
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "proto"))


def proto_digest(proto_dir):
    """sha256 of the proto and the recipe, or None when the proto is absent."""
    try:
        with open(os.path.join(proto_dir, PROTO_REL), "rb") as f:
            return hashlib.sha256(_RECIPE + f.read()).hexdigest()
    except OSError:
        return None


def read_stamp(out_root):
    try:
        with open(os.path.join(out_root, PACKAGE_REL, STAMP),
                  encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return None


def _run_grpc_tools(args):
    """grpc_tools.protoc in a child process; returns (status, stderr).

    A child, because the compiler prints to the process's stderr and this
    also runs inside users' programs on first import.
    """
    code = ("import sys\n"
            "from grpc_tools import protoc\n"
            "sys.exit(protoc.main(['protoc'] + sys.argv[1:]))\n")
    run = subprocess.run([sys.executable, "-c", code, *args],
                         capture_output=True, text=True, check=False)
    return run.returncode, run.stderr.strip()


def _have_grpc_tools():
    try:
        import grpc_tools.protoc  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        return False
    return True


def _generate_into(proto_dir, tmp):
    proto = os.path.join(proto_dir, PROTO_REL)
    if not _have_grpc_tools():
        raise CodegenError(
            "poolcat needs grpc_tools to generate its gRPC stubs: install "
            "Debian's python3-grpc-tools (apt-get install python3-grpc-tools)")
    protoc = os.environ.get("POOLCAT_PROTOC") or shutil.which("protoc")
    if protoc:
        descriptors = os.path.join(tmp, "poolcat.desc")
        run = subprocess.run(
            [protoc, f"--proto_path={proto_dir}", f"--python_out={tmp}",
             f"--descriptor_set_out={descriptors}", "--include_imports",
             proto],
            capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise CodegenError(f"protoc failed ({run.returncode}) on {proto}: "
                               f"{run.stderr.strip()}")
        status, err = _run_grpc_tools([f"--descriptor_set_in={descriptors}",
                                       f"--grpc_python_out={tmp}",
                                       PROTO_REL.replace(os.sep, "/")])
        os.remove(descriptors)
        if status != 0:
            raise CodegenError(f"grpc_tools.protoc failed ({status}) writing "
                               f"the poolcat.v1 service stubs: {err}")
        return
    # No protoc: only a grpc_tools whose compiler knows proto3 `optional`
    # (libprotoc >= 3.15) can do both.
    status, err = _run_grpc_tools([f"--proto_path={proto_dir}",
                                   f"--python_out={tmp}",
                                   f"--grpc_python_out={tmp}", proto])
    if status != 0:
        raise CodegenError(
            f"grpc_tools.protoc could not compile {proto} ({err}); install "
            f"Debian's protobuf-compiler so protoc writes the messages")


def generate(out_root, proto_dir=None, force=False):
    """Writes out_root/poolcat/v1/poolcat_pb2{,_grpc}.py if not up to date
    (always with `force`).

    Returns the proto digest the output is stamped with.
    Raises CodegenError when the proto or a tool is missing or fails.
    """
    proto_dir = proto_dir or default_proto_dir()
    digest = proto_digest(proto_dir)
    if digest is None:
        raise CodegenError(
            f"cannot read {os.path.join(proto_dir, PROTO_REL)}; set "
            f"POOLCAT_PROTO_DIR to the directory holding {PROTO_REL}")
    target = os.path.join(out_root, PACKAGE_REL)
    if read_stamp(out_root) == digest and not force:
        return digest
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".poolcat_gen_", dir=parent)
    try:
        _generate_into(proto_dir, tmp)
        generated = os.path.join(tmp, PACKAGE_REL)
        with open(os.path.join(generated, STAMP), "w", encoding="ascii") as f:
            f.write(digest + "\n")
        _swap_into_place(generated, target, digest, parent, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return digest


def _swap_into_place(generated, target, digest, parent, force):
    if os.path.isdir(target):
        stamp = read_stamp(os.path.dirname(os.path.dirname(target)))
        if stamp == digest and not force:
            return  # Another process generated the same stubs meanwhile.
        if stamp is None and os.listdir(target):
            # Not ours (no stamp): never move someone's directory away.
            raise CodegenError(f"{target} holds files that are not poolcat "
                               f"stubs; remove them or generate elsewhere "
                               f"(POOLCAT_PYTHON_STUBS)")
        old = tempfile.mkdtemp(prefix=".poolcat_old_", dir=parent)
        try:
            os.rename(target, os.path.join(old, "v1"))
        except FileNotFoundError:
            pass  # Another process swapped it out first.
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.rename(generated, target)
    except OSError:
        # Lost a race to a concurrent generator: fine if it made the same.
        if read_stamp(os.path.dirname(os.path.dirname(target))) != digest:
            raise


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Generate poolcat.v1 Python stubs into OUT/poolcat/v1/.")
    parser.add_argument("--out", required=True, help="output root")
    parser.add_argument("--proto_dir", default=None,
                        help="directory holding poolcat/v1/poolcat.proto")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even when the stamp is current "
                             "(the build wants fresh file times)")
    args = parser.parse_args(argv)
    try:
        generate(args.out, args.proto_dir, force=args.force)
    except CodegenError as e:
        print(f"poolcat codegen: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
