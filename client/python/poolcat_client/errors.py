"""The one exception type poolcat_client raises."""

import grpc


class PoolcatError(Exception):
    """A failed call: the gRPC status code and the server's message.

    Arguments the client cannot even encode (an unsupported dtype, a
    non-integer kernel size) raise it too, with INVALID_ARGUMENT, so callers
    catch a single type.
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
