"""The synchronous client for the poolcat.v1.PoolCat gRPC service."""

import grpc

from poolcat import _api
from poolcat import _health
from poolcat import _stubs
from poolcat.errors import from_rpc_error


class Client:
    """Calls a poolcat server. Thread-safe; close() it or use `with`.

    Args:
      target: gRPC target, e.g. "127.0.0.1:50051" or
        "ipv4:127.0.0.1:5001,127.0.0.1:5002".
      timeout: default deadline of each call in seconds (None: no deadline);
        every method also takes timeout= for one call.
      tls: None (plaintext), True (TLS, system roots), a poolcat.TLS (or a
        dict of its arguments: ca, cert, key, server_name) or
        grpc.ChannelCredentials.
      options: extra gRPC channel options, (key, value) pairs.
    """

    def __init__(self, target=_api.DEFAULT_TARGET, timeout=_api.DEFAULT_TIMEOUT,
                 tls=None, options=()):
        self._timeout = _api.check_timeout("timeout", timeout)
        target, creds, opts = _api.channel_args(target, tls, options)
        self._pb2, pb2_grpc = _stubs.load()
        if creds is None:
            self._channel = grpc.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.secure_channel(target, creds, options=opts)
        self._stub = pb2_grpc.PoolCatStub(self._channel)
        self._health_check = self._channel.unary_unary(
            _health.CHECK_METHOD,
            request_serializer=_health.HealthCheckRequest.SerializeToString,
            response_deserializer=_health.HealthCheckResponse.FromString)

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _call(self, method, request, timeout):
        timeout = _api.check_timeout("timeout", timeout)
        try:
            return method(request,
                          timeout=self._timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    def pool(self, x, op, kernel_size=None, stride=None, padding=0,
             dilation=1, ceil_mode=False, count_include_pad=True,
             divisor_override=None, norm_type=None, output_size=None,
             channels_last=False, return_indices=False, *, dtype=None,
             timeout=None):
        """torch.nn.functional.<op>(x, ...) computed by the server.

        Args:
          x: the input array, (N, C, *spatial) or (C, *spatial); with
            channels_last, (N, *spatial, C) or (*spatial, C).
          op: the PyTorch functional name: max_pool{1,2,3}d,
            avg_pool{1,2,3}d, lp_pool{1,2}d, adaptive_max_pool{1,2,3}d,
            adaptive_avg_pool{1,2,3}d.
          kernel_size, stride, padding, dilation, output_size: an int for
            every spatial dimension or one per dimension, as in PyTorch.
            stride=None means kernel_size; output_size may hold None (keep
            that input size).
          ceil_mode, count_include_pad, divisor_override, norm_type,
            return_indices: PyTorch's; ops ignore those they don't take.
          channels_last: x and the result are channels-last (NHWC, ...).
          dtype: send x as this dtype (e.g. "bfloat16", "float16"); a
            bfloat16 result comes back as float32 (exact).
          timeout: this call's deadline in seconds (default: the client's).

        Returns:
          The pooled array, of x's dtype; with return_indices, a pair
          (output, int64 indices).

        Raises:
          PoolcatError: code() is the gRPC status, e.g. INVALID_ARGUMENT
            with a message naming the offending argument.
        """
        request, result = _api.pool_request(
            self._pb2, x, op, kernel_size, stride, padding, dilation,
            ceil_mode, count_include_pad, divisor_override, norm_type,
            output_size, channels_last, return_indices, dtype)
        return result(self._call(self._stub.Pool, request, timeout))

    def concat(self, arrays, dim=0, *, dtype=None, timeout=None):
        """torch.cat(arrays, dim) on the server, with torch's dtype promotion.

        dtype converts every input (one dtype) or each (a list, None for
        "as it is") before sending, e.g. "bfloat16".

        Raises:
          PoolcatError: with the gRPC status code and the server's message.
        """
        request, result = _api.concat_request(self._pb2, arrays, dim, dtype)
        return result(self._call(self._stub.Concat, request, timeout))

    def health(self, service="", *, timeout=None):
        """The grpc.health.v1 status of `service` ("" is the whole server).

        Returns:
          "SERVING", "NOT_SERVING", "UNKNOWN" or "SERVICE_UNKNOWN".
        """
        reply = self._call(self._health_check, _api.health_request(service),
                           timeout)
        return _api.health_result(reply)
