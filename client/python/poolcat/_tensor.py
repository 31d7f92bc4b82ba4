"""numpy.ndarray <-> poolcat.v1.Tensor.

The wire format is raw little-endian, row-major bytes plus dtype and shape;
numpy arrays of any byte order or memory layout are converted to it.

NumPy has no bfloat16. It travels two ways: arrays whose dtype is named
"bfloat16" (ml_dtypes, JAX) go as they are and come back in that dtype; any
other numeric array goes as bfloat16 when the caller asks with
dtype="bfloat16" (rounded to nearest even, exactly as torch's
.to(torch.bfloat16)), and the bfloat16 result comes back as float32, which
holds every bfloat16 value exactly.
"""

import grpc
import numpy as np

from poolcat.errors import PoolcatError, invalid_argument

# proto DType name -> numpy dtype (wire byte order).
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


def _is_bfloat16(dtype):
    return dtype.name == "bfloat16" and dtype.itemsize == 2


def float_to_bfloat16_bits(values):
    """uint16 bfloat16 patterns of `values`, rounded as torch rounds.

    c10::BFloat16 rounds a float to nearest, ties to even, and turns every
    NaN into 0x7FC0; other dtypes (float64, ints) go through float32 first,
    as torch's conversions do.
    """
    f = np.asarray(values).astype(np.float32)
    bits = f.view(np.uint32)
    nan = np.isnan(f)
    safe = np.where(nan, np.uint32(0), bits)
    rounded = (safe + (((safe >> 16) & 1) + np.uint32(0x7FFF))) >> 16
    return np.where(nan, np.uint32(0x7FC0), rounded).astype(np.uint16)


def bfloat16_bits_to_float32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(
        np.float32)


def normalize_dtype(dtype, what):
    """The dtype option as "bfloat16" or a supported numpy dtype, or None."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype == "bfloat16":
        return "bfloat16"
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is not None and _is_bfloat16(dt):
        return "bfloat16"
    if dt is None or (dt.kind, dt.itemsize) not in _PROTO_OF:
        raise invalid_argument(
            f"{what}: unsupported dtype {dtype!r}; use one of "
            f"{', '.join(SUPPORTED)}")
    return dt


def to_proto(pb2, x, what, dtype=None):
    """Returns a poolcat.v1.Tensor holding `x`; `what` names it in errors.

    `dtype` (from normalize_dtype) converts x to that wire dtype first.
    """
    try:
        x = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise invalid_argument(f"{what}: not convertible to an array: {e}")
    if dtype == "bfloat16" or (dtype is None and _is_bfloat16(x.dtype)):
        if _is_bfloat16(x.dtype):
            raw = x.view(np.uint16).astype("<u2", copy=False)
        elif x.dtype.kind in "biuf":
            raw = float_to_bfloat16_bits(x).astype("<u2", copy=False)
        else:
            raise invalid_argument(
                f"{what}.dtype: cannot send numpy dtype {x.dtype} as bfloat16")
        dtype_name = "DTYPE_BFLOAT16"
    else:
        if dtype is not None:
            if x.dtype.kind not in "biuf":
                raise invalid_argument(
                    f"{what}.dtype: cannot convert numpy dtype {x.dtype} to "
                    f"{dtype}")
            x = x.astype(dtype, copy=False)
        dtype_name = _PROTO_OF.get((x.dtype.kind, x.dtype.itemsize))
        if dtype_name is None:
            raise invalid_argument(
                f"{what}.dtype: numpy dtype {x.dtype} is not supported; use "
                f"one of {', '.join(SUPPORTED)}")
        raw = x.astype(_NUMPY_OF[dtype_name], copy=False)
    return pb2.Tensor(dtype=pb2.DType.Value(dtype_name), shape=list(x.shape),
                      data=raw.tobytes(order="C"))


def from_proto(pb2, tensor, bfloat16_dtype=None):
    """Returns a writable, native-order ndarray holding `tensor`.

    A bfloat16 tensor comes back in `bfloat16_dtype` (the caller's ml_dtypes
    bfloat16) or, without one, widened exactly to float32.
    """
    try:
        dtype_name = pb2.DType.Name(tensor.dtype)
    except ValueError:
        dtype_name = str(tensor.dtype)
    shape = tuple(tensor.shape)
    if dtype_name == "DTYPE_BFLOAT16":
        wire = np.dtype("<u2")
    elif dtype_name in _NUMPY_OF:
        wire = _NUMPY_OF[dtype_name]
    else:
        raise PoolcatError(grpc.StatusCode.INTERNAL,
                           f"server returned unknown dtype {dtype_name}")
    count = 1
    for d in shape:
        count *= d
    if any(d < 0 for d in shape) or count * wire.itemsize != len(tensor.data):
        raise PoolcatError(
            grpc.StatusCode.INTERNAL,
            f"server returned {len(tensor.data)} bytes for a {dtype_name} "
            f"tensor of shape {list(shape)}")
    flat = np.frombuffer(tensor.data, dtype=wire, count=count)
    # frombuffer views the immutable message bytes; every branch copies, so
    # callers get an ordinary writable array.
    if dtype_name != "DTYPE_BFLOAT16":
        out = flat.astype(wire.newbyteorder("="), copy=True)
    elif bfloat16_dtype is not None:
        out = flat.astype(np.uint16).view(bfloat16_dtype)
    else:
        out = bfloat16_bits_to_float32(flat)
    return out.reshape(shape)
