"""A thin, synchronous client for the poolcat.v1.PoolCat gRPC service."""

import operator

import grpc
import numpy as np

from poolcat_client import _health
from poolcat_client import _stubs
from poolcat_client import _tensor
from poolcat_client.errors import PoolcatError

# The server accepts up to --max_message_bytes (256 MiB by default); gRPC's
# client default of 4 MiB would refuse results far smaller than that, so the
# client leaves the limit to the server.
_DEFAULT_OPTIONS = (
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
)


def _int(name, value):
    """operator.index(value), refusing bools and naming `name` on error."""
    if not isinstance(value, (bool, np.bool_)):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise PoolcatError(grpc.StatusCode.INVALID_ARGUMENT,
                       f"{name} must be an int, got {value!r}")


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
        if dt is not None and dt.name == "bfloat16":
            return dt
    return None


class Client:
    """Calls a poolcat server. Thread-safe; close() it or use `with`.

    Args:
      target: gRPC target, e.g. "localhost:50051" or
        "ipv4:127.0.0.1:5001,127.0.0.1:5002".
      timeout: default deadline of each call, in seconds (None: no deadline).
      credentials: grpc.ChannelCredentials (e.g. grpc.ssl_channel_credentials)
        for TLS; None for a plaintext channel.
      options: extra gRPC channel options, (key, value) pairs.
    """

    def __init__(self, target="localhost:50051", timeout=None,
                 credentials=None, options=()):
        self._pb2, pb2_grpc = _stubs.load()
        # The caller's options win: gRPC would use the first of two equal keys.
        opts = list(options)
        opts += [o for o in _DEFAULT_OPTIONS if o[0] not in dict(opts)]
        if credentials is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.secure_channel(target, credentials,
                                                options=opts)
        self._stub = pb2_grpc.PoolCatStub(self._channel)
        self._health_check = self._channel.unary_unary(
            _health.CHECK_METHOD,
            request_serializer=_health.HealthCheckRequest.SerializeToString,
            response_deserializer=_health.HealthCheckResponse.FromString)
        self._timeout = timeout

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout):
        try:
            return method(request,
                          timeout=self._timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise PoolcatError(e.code(), e.details() or "") from e

    def pool(self, op, x, kernel_size=None, stride=None, padding=0,
             dilation=1, ceil_mode=False, count_include_pad=True,
             divisor_override=None, norm_type=None, output_size=None,
             channels_last=False, return_indices=False, timeout=None):
        """Runs torch.nn.functional.<op> on the server.

        Args:
          op: the PyTorch functional name, e.g. "max_pool2d",
            "adaptive_avg_pool3d", "lp_pool1d".
          x: the input array, (N, C, *spatial) or (C, *spatial); with
            channels_last, (N, *spatial, C) or (*spatial, C).
          kernel_size, stride, padding, dilation, output_size: an int for
            every spatial dimension or one per dimension, as in PyTorch.
            stride=None means kernel_size; output_size may hold None.
          The other arguments are PyTorch's; ops ignore those they don't take.
          timeout: this call's deadline in seconds (default: the client's).

        Returns:
          The pooled array, of x's dtype; with return_indices, a pair
          (output, int64 indices).

        Raises:
          PoolcatError: with the gRPC status code, e.g. INVALID_ARGUMENT
            naming the offending argument.
        """
        pb2 = self._pb2
        request = pb2.PoolRequest(
            op=op,
            input=_tensor.to_proto(pb2, x, "x"),
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
            request.divisor_override = _int("divisor_override",
                                            divisor_override)
        if norm_type is not None:
            request.norm_type = float(norm_type)
        reply = self._call(self._stub.Pool, request, timeout)
        out = _tensor.from_proto(pb2, reply.output, _bfloat16_dtype([x]))
        if not return_indices:
            return out
        if not reply.HasField("indices"):
            raise PoolcatError(grpc.StatusCode.INTERNAL,
                               "server sent no indices for return_indices")
        return out, _tensor.from_proto(pb2, reply.indices)

    def concat(self, arrays, dim=0, timeout=None):
        """torch.cat(arrays, dim) on the server, with torch's dtype promotion.

        Raises:
          PoolcatError: with the gRPC status code and the server's message.
        """
        pb2 = self._pb2
        arrays = list(arrays)
        request = pb2.ConcatRequest(
            tensors=[_tensor.to_proto(pb2, a, f"arrays[{i}]")
                     for i, a in enumerate(arrays)],
            dim=_int("dim", dim))
        reply = self._call(self._stub.Concat, request, timeout)
        return _tensor.from_proto(pb2, reply.output, _bfloat16_dtype(arrays))

    def health(self, service="", timeout=None):
        """The grpc.health.v1 status of `service` ("" is the whole server).

        Returns:
          "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN".
        """
        reply = self._call(self._health_check,
                           _health.HealthCheckRequest(service=service),
                           timeout)
        return _health.SERVING_STATUS.get(reply.status, str(reply.status))

