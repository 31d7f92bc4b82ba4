"""Python client for the poolcat.v1 gRPC service (PyTorch-exact pooling and
torch.cat over numpy arrays). See client/python/README.md."""

from poolcat_client.client import Client
from poolcat_client.errors import PoolcatError

__all__ = ["Client", "PoolcatError"]
