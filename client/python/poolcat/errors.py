"""The one exception type poolcat raises."""

import grpc


class PoolcatError(grpc.RpcError):
    """A failed call: the gRPC status code and the server's message.

    It has grpc's own accessors, code() and details(), and is a
    grpc.RpcError, so code written for plain gRPC stubs handles it too.
    Arguments the client cannot even encode (an unsupported dtype, a
    non-integer kernel_size) raise it as well, with INVALID_ARGUMENT and a
    message naming the argument, so callers catch a single type.
    """

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(f"{code.name}: {details}")
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        """The gRPC status code, e.g. grpc.StatusCode.INVALID_ARGUMENT."""
        return self._code

    def details(self) -> str:
        """The server's message (it names the offending argument and value)."""
        return self._details


def invalid_argument(details):
    return PoolcatError(grpc.StatusCode.INVALID_ARGUMENT, details)


def from_rpc_error(error):
    """A grpc.RpcError (sync or aio) as PoolcatError."""
    code = error.code() if callable(getattr(error, "code", None)) else None
    details = error.details() if callable(getattr(error, "details", None)) else None
    return PoolcatError(code or grpc.StatusCode.UNKNOWN, details or str(error))
