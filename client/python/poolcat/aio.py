"""The asyncio client: poolcat.Client's API with awaitable methods.

    async with poolcat.aio.Client("127.0.0.1:50051") as client:
        y = await client.pool(x, op="max_pool2d", kernel_size=2)

Built on grpc.aio; requests and results are made by the same code as the
synchronous client's (poolcat/_api.py).
"""

import grpc
import grpc.aio

from poolcat import _api
from poolcat import _health
from poolcat import _stubs
from poolcat.errors import from_rpc_error


class Client:
    """Like poolcat.Client; create and use it inside a running event loop."""

    def __init__(self, target=_api.DEFAULT_TARGET, timeout=_api.DEFAULT_TIMEOUT,
                 tls=None, options=()):
        self._timeout = _api.check_timeout("timeout", timeout)
        target, creds, opts = _api.channel_args(target, tls, options)
        self._pb2, pb2_grpc = _stubs.load()
        if creds is None:
            self._channel = grpc.aio.insecure_channel(target, options=opts)
        else:
            self._channel = grpc.aio.secure_channel(target, creds, options=opts)
        self._stub = pb2_grpc.PoolCatStub(self._channel)
        self._health_check = self._channel.unary_unary(
            _health.CHECK_METHOD,
            request_serializer=_health.HealthCheckRequest.SerializeToString,
            response_deserializer=_health.HealthCheckResponse.FromString)

    async def close(self):
        await self._channel.close()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _call(self, method, request, timeout):
        timeout = _api.check_timeout("timeout", timeout)
        try:
            return await method(
                request, timeout=self._timeout if timeout is None else timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e) from None

    async def pool(self, x, op, kernel_size=None, stride=None, padding=0,
                   dilation=1, ceil_mode=False, count_include_pad=True,
                   divisor_override=None, norm_type=None, output_size=None,
                   channels_last=False, return_indices=False, *, dtype=None,
                   timeout=None):
        """See poolcat.Client.pool."""
        request, result = _api.pool_request(
            self._pb2, x, op, kernel_size, stride, padding, dilation,
            ceil_mode, count_include_pad, divisor_override, norm_type,
            output_size, channels_last, return_indices, dtype)
        return result(await self._call(self._stub.Pool, request, timeout))

    async def concat(self, arrays, dim=0, *, dtype=None, timeout=None):
        """See poolcat.Client.concat."""
        request, result = _api.concat_request(self._pb2, arrays, dim, dtype)
        return result(await self._call(self._stub.Concat, request, timeout))

    async def health(self, service="", *, timeout=None):
        """See poolcat.Client.health."""
        reply = await self._call(self._health_check,
                                 _api.health_request(service), timeout)
        return _api.health_result(reply)
