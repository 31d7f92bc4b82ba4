"""What the sync and async clients share: arguments -> requests, replies ->
arrays, channel setup. Neither client does any encoding of its own."""

import operator
import os

import grpc
import numpy as np

from poolcat import _health
from poolcat import _tensor
from poolcat.errors import PoolcatError, invalid_argument

DEFAULT_TARGET = "localhost:50051"
# Same default deadline as the C++ client (client/client.h), so a server that
# never answers cannot hang a caller that set none.
DEFAULT_TIMEOUT = 60.0

# The server accepts up to --max_message_bytes (256 MiB by default); gRPC's
# client default of 4 MiB would refuse results far smaller than that, so the
# client leaves the limit to the server.
_DEFAULT_OPTIONS = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
)


class TLS:
    """TLS settings for Client(tls=...).

    Args:
      ca: root certificates (PEM bytes, or a file path); None: the system's.
      cert, key: client certificate chain and private key for mutual TLS
        (PEM bytes or file paths), both or neither.
      server_name: name to check the server's certificate against instead of
        the target's host (grpc.ssl_target_name_override).
    """

    def __init__(self, ca=None, cert=None, key=None, server_name=None):
        if (cert is None) != (key is None):
            raise invalid_argument("tls: cert and key go together; got only "
                                   f"{'cert' if key is None else 'key'}")
        self.ca, self.cert, self.key = ca, cert, key
        self.server_name = server_name

    def _pem(self, name):
        value = getattr(self, name)
        if value is None or isinstance(value, bytes):
            return value
        try:
            with open(os.fspath(value), "rb") as f:
                return f.read()
        except (OSError, TypeError) as e:
            raise invalid_argument(f"tls.{name}: cannot read {value!r}: {e}")

    def credentials(self):
        return grpc.ssl_channel_credentials(
            root_certificates=self._pem("ca"), private_key=self._pem("key"),
            certificate_chain=self._pem("cert"))


def channel_args(target, tls, options):
    """(target, credentials or None, options) for grpc.*_channel."""
    if not isinstance(target, str) or not target:
        raise invalid_argument(f"target must be a non-empty string such as "
                               f"'127.0.0.1:50051', got {target!r}")
    opts = list(options)
    if isinstance(tls, dict):
        tls = TLS(**tls)
    if isinstance(tls, TLS) and tls.server_name:
        opts.append(("grpc.ssl_target_name_override", tls.server_name))
    # The caller's options win: gRPC would use the first of two equal keys.
    opts += [o for o in _DEFAULT_OPTIONS if o[0] not in dict(opts)]
    if tls is None or tls is False:
        creds = None
    elif tls is True:
        creds = grpc.ssl_channel_credentials()
    elif isinstance(tls, TLS):
        creds = tls.credentials()
    elif isinstance(tls, grpc.ChannelCredentials):
        creds = tls
    else:
        raise invalid_argument(
            f"tls must be None, True, a poolcat.TLS, a dict of its arguments "
            f"or grpc.ChannelCredentials, got {tls!r}")
    return target, creds, opts


def check_timeout(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_argument(f"{name} must be a number of seconds or None, "
                               f"got {value!r}")
    return float(value)


def _int(name, value):
    """operator.index(value), refusing bools and naming `name` on error."""
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise invalid_argument(f"{name} must be an int, got {value!r}")


def _int_list(name, value, none_means=None, default=None):
    """An int or a sequence of ints -> list of ints, as PyTorch accepts.

    None, or the single int `default`, gives [] (the wire's "default").
    In sequences, None becomes `none_means` (adaptive output_size uses -1,
    "keep this dimension", where PyTorch takes None).
    """
    if value is None:
        return []
    if not isinstance(value, (list, tuple, np.ndarray)):
        v = _int(name, value)
        return [] if v == default else [v]
    return [none_means if v is None and none_means is not None
            else _int(f"{name}[{i}]", v) for i, v in enumerate(value)]


def _bfloat16_dtype(arrays):
    for a in arrays:
        dt = getattr(a, "dtype", None)
        if dt is not None and dt.name == "bfloat16" and dt.itemsize == 2:
            return dt
    return None


def pool_request(pb2, x, op, kernel_size, stride, padding, dilation,
                 ceil_mode, count_include_pad, divisor_override, norm_type,
                 output_size, channels_last, return_indices, dtype):
    """A PoolRequest and the function that turns its reply into the result."""
    if not isinstance(op, str):
        raise invalid_argument(
            f"op must be a PyTorch functional name such as 'max_pool2d', got "
            f"{op!r} (the signature is pool(x, op=..., ...))")
    if isinstance(x, str):
        raise invalid_argument(f"x must be an array, got the string {x!r} "
                               f"(the signature is pool(x, op=..., ...))")
    wire_dtype = _tensor.normalize_dtype(dtype, "dtype")
    request = pb2.PoolRequest(
        op=op,
        input=_tensor.to_proto(pb2, x, "x", wire_dtype),
        kernel_size=_int_list("kernel_size", kernel_size),
        stride=_int_list("stride", stride),
        # Empty means 0 / 1 on the wire, so defaults are left empty.
        padding=_int_list("padding", padding, default=0),
        dilation=_int_list("dilation", dilation, default=1),
        output_size=_int_list("output_size", output_size, none_means=-1),
        ceil_mode=bool(ceil_mode),
        channels_last=bool(channels_last),
        return_indices=bool(return_indices))
    if not count_include_pad:
        request.count_include_pad = False
    if divisor_override is not None:
        request.divisor_override = _int("divisor_override", divisor_override)
    if norm_type is not None:
        if isinstance(norm_type, bool) or not isinstance(
                norm_type, (int, float, np.integer, np.floating)):
            raise invalid_argument(
                f"norm_type must be a number, got {norm_type!r}")
        request.norm_type = float(norm_type)
    bfloat16_dtype = (_bfloat16_dtype([x])
                      if wire_dtype is None or isinstance(wire_dtype, str) else None)

    def result(reply):
        out = _tensor.from_proto(pb2, reply.output, bfloat16_dtype)
        if not return_indices:
            return out
        if not reply.HasField("indices"):
            raise PoolcatError(grpc.StatusCode.INTERNAL,
                               "server sent no indices for return_indices")
        return out, _tensor.from_proto(pb2, reply.indices)

    return request, result


def concat_request(pb2, arrays, dim, dtype):
    """A ConcatRequest and the function that turns its reply into the result.

    `dtype` converts every input (a str/dtype) or each one (a sequence with
    None for "as it is") before sending.
    """
    if isinstance(arrays, np.ndarray) or not hasattr(arrays, "__iter__"):
        raise invalid_argument(
            "arrays must be a list of arrays, e.g. concat([a, b], dim=1)")
    arrays = list(arrays)
    if isinstance(dtype, (list, tuple)):
        if len(dtype) != len(arrays):
            raise invalid_argument(f"dtype has {len(dtype)} entries for "
                                   f"{len(arrays)} arrays")
        dtypes = [_tensor.normalize_dtype(d, f"dtype[{i}]")
                  for i, d in enumerate(dtype)]
    else:
        dtypes = [_tensor.normalize_dtype(dtype, "dtype")] * len(arrays)
    request = pb2.ConcatRequest(
        tensors=[_tensor.to_proto(pb2, a, f"arrays[{i}]", d)
                 for i, (a, d) in enumerate(zip(arrays, dtypes))],
        dim=_int("dim", dim))
    bfloat16_dtype = _bfloat16_dtype(
        a for a, d in zip(arrays, dtypes) if d is None or isinstance(d, str))

    def result(reply):
        return _tensor.from_proto(pb2, reply.output, bfloat16_dtype)

    return request, result


def health_request(service):
    if not isinstance(service, str):
        raise invalid_argument(f"service must be a string, got {service!r}")
    return _health.HealthCheckRequest(service=service)


def health_result(reply):
    return _health.SERVING_STATUS.get(reply.status, str(reply.status))
