"""numpy.ndarray <-> poolcat.v1.Tensor.

The wire format is raw little-endian, row-major bytes plus dtype and shape;
numpy arrays of any byte order or memory layout are converted to it.
"""

import grpc
import numpy as np

from poolcat_client.errors import PoolcatError

# proto DType name -> numpy dtype. bfloat16 has no numpy dtype of its own; it
# is accepted from arrays whose dtype is named "bfloat16" (ml_dtypes, JAX).
_NUMPY_OF = {
    "DTYPE_FLOAT32": np.dtype("<f4"),
    "DTYPE_FLOAT64": np.dtype("<f8"),
    "DTYPE_FLOAT16": np.dtype("<f2"),
    "DTYPE_INT8": np.dtype("i1"),
    "DTYPE_UINT8": np.dtype("u1"),
    "DTYPE_INT16": np.dtype("<i2"),
    "DTYPE_INT32": np.dtype("<i4"),
    "DTYPE_INT64": np.dtype("<i8"),
    "DTYPE_BOOL": np.dtype("?"),
}
_PROTO_OF = {(dt.kind, dt.itemsize): name for name, dt in _NUMPY_OF.items()}

SUPPORTED = ("float32", "float64", "float16", "bfloat16", "int8", "uint8",
             "int16", "int32", "int64", "bool")


def _invalid(message):
    return PoolcatError(grpc.StatusCode.INVALID_ARGUMENT, message)


def to_proto(pb2, x, what):
    """Returns a poolcat.v1.Tensor holding `x`; `what` names it in errors."""
    x = np.asarray(x)
    if x.dtype.name == "bfloat16" and x.dtype.itemsize == 2:
        dtype_name = "DTYPE_BFLOAT16"
        raw = x.view(np.uint16).astype("<u2", copy=False)
    else:
        dtype_name = _PROTO_OF.get((x.dtype.kind, x.dtype.itemsize))
        if dtype_name is None:
            raise _invalid(
                f"{what}.dtype: numpy dtype {x.dtype} is not supported; "
                f"use one of {', '.join(SUPPORTED)}")
        raw = x.astype(_NUMPY_OF[dtype_name], copy=False)
    return pb2.Tensor(dtype=pb2.DType.Value(dtype_name),
                      shape=list(x.shape),
                      data=raw.tobytes(order="C"))


def from_proto(pb2, tensor, bfloat16_dtype=None):
    """Returns a writable, native-order ndarray holding `tensor`.

    `bfloat16_dtype` is the numpy dtype a bfloat16 result is given back as,
    the one the caller's bfloat16 input had.
    """
    try:
        dtype_name = pb2.DType.Name(tensor.dtype)
    except ValueError:
        dtype_name = str(tensor.dtype)
    shape = tuple(tensor.shape)
    if dtype_name == "DTYPE_BFLOAT16":
        if bfloat16_dtype is None:
            raise PoolcatError(
                grpc.StatusCode.INTERNAL,
                "server returned a bfloat16 tensor for a request without one")
        wire, native = np.dtype("<u2"), None
    elif dtype_name in _NUMPY_OF:
        wire = _NUMPY_OF[dtype_name]
        native = wire.newbyteorder("=")
    else:
        raise PoolcatError(grpc.StatusCode.INTERNAL,
                           f"server returned unknown dtype {dtype_name}")
    count = 1
    for d in shape:
        count *= d
    if count * wire.itemsize != len(tensor.data) or any(d < 0 for d in shape):
        raise PoolcatError(
            grpc.StatusCode.INTERNAL,
            f"server returned {len(tensor.data)} bytes for a {dtype_name} "
            f"tensor of shape {list(shape)}")
    flat = np.frombuffer(tensor.data, dtype=wire, count=count)
    # frombuffer views the immutable message bytes; copy so callers get an
    # ordinary writable array.
    if native is None:
        out = flat.astype(np.uint16).view(bfloat16_dtype)
    else:
        out = flat.astype(native, copy=True)
    return out.reshape(shape)
