"""Python client for the poolcat.v1 gRPC service: PyTorch-exact pooling and
torch.cat over NumPy arrays. See client/python/README.md.

    import poolcat
    with poolcat.Client("127.0.0.1:50051") as client:
        y = client.pool(x, op="max_pool2d", kernel_size=3, padding=1, stride=2)
        xy = client.concat([x, x + 1], dim=1)

poolcat.aio.Client is the same API for asyncio.
"""

from poolcat._api import TLS
from poolcat.client import Client
from poolcat.errors import PoolcatError
from poolcat import aio

__all__ = ["Client", "PoolcatError", "TLS", "aio"]
__version__ = "0.1.0"
