#!/usr/bin/python3
"""What generic gRPC tooling sees of a real poolcat-server: server reflection
(as grpcurl uses it) and the grpc.health.v1 service, including the
NOT_SERVING update a Watch receives when the server starts shutting down.

Debian ships grpcio without the reflection and health packages, so their few
messages are encoded and decoded here with the protobuf wire format; the
file descriptors reflection returns are parsed with google.protobuf.
"""

import os
import signal
import sys
import unittest

import grpc
from google.protobuf import descriptor_pb2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from poolcat_server import PoolcatServer  # noqa: E402

REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
SERVING, NOT_SERVING = 1, 2
RPC_TIMEOUT = 60  # seconds; bounds every call so a hang fails the test


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string_field(number, value):
    data = value.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def fields(data):
    """Yields (field number, value) of a message: ints for varints, bytes for
    length-delimited fields."""
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = read_varint(data, i)
        elif wire == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, value


def read_varint(data, i):
    shift = result = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, i


def health_status(message):
    return dict(fields(message)).get(1, 0)


class Reflection(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = PoolcatServer().__enter__()
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.stream = cls.channel.stream_stream(REFLECTION)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.server.stop()
        cls.server.__exit__(None, None, None)
        assert code == 0, cls.server.output()

    def reflect(self, request):
        responses = list(self.stream(iter([request]), timeout=RPC_TIMEOUT))
        self.assertEqual(len(responses), 1)
        return dict(fields(responses[0]))

    def test_lists_the_pool_health_and_reflection_services(self):
        # ServerReflectionRequest.list_services = 7
        response = self.reflect(string_field(7, ""))
        # ServerReflectionResponse.list_services_response = 6, whose
        # repeated ServiceResponse service = 1 has name = 1.
        listed = response[6]
        names = set()
        for number, service in fields(listed):
            self.assertEqual(number, 1)
            names.add(dict(fields(service))[1].decode())
        self.assertIn("poolcat.v1.PoolCat", names)
        self.assertIn("grpc.health.v1.Health", names)
        self.assertIn("grpc.reflection.v1alpha.ServerReflection", names)

    def test_describes_the_poolcat_service_and_its_methods(self):
        # file_containing_symbol = 4 -> file_descriptor_response = 4, whose
        # repeated bytes file_descriptor_proto = 1.
        response = self.reflect(string_field(4, "poolcat.v1.PoolCat"))
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for n, b in fields(response[4]) if n == 1]
        poolcat = [f for f in files if f.package == "poolcat.v1"]
        self.assertEqual(len(poolcat), 1)
        services = {s.name: s for s in poolcat[0].service}
        methods = {m.name: (m.input_type, m.output_type)
                   for m in services["PoolCat"].method}
        self.assertEqual(methods["Pool"], (".poolcat.v1.PoolRequest",
                                           ".poolcat.v1.PoolResponse"))
        self.assertIn("Concat", methods)
        self.assertIn("Echo", methods)
        messages = {m.name for m in poolcat[0].message_type}
        self.assertTrue({"Tensor", "PoolRequest", "ConcatRequest"} <= messages)

    def test_unknown_symbol_is_an_error_response(self):
        response = self.reflect(string_field(4, "no.such.Service"))
        # error_response = 7 carries error_code = 1 (NOT_FOUND is 5).
        self.assertEqual(dict(fields(response[7]))[1], grpc.StatusCode.NOT_FOUND.value[0])


class Health(unittest.TestCase):

    def test_check_reports_serving(self):
        with PoolcatServer() as server:
            with grpc.insecure_channel(server.address) as ch:
                check = ch.unary_unary(HEALTH_CHECK)
                self.assertEqual(health_status(check(b"", timeout=RPC_TIMEOUT)), SERVING)
                self.assertEqual(health_status(check(string_field(1, "poolcat.v1.PoolCat"),
                                                     timeout=RPC_TIMEOUT)), SERVING)
                with self.assertRaises(grpc.RpcError) as error:
                    check(string_field(1, "no.such.Service"), timeout=RPC_TIMEOUT)
                self.assertEqual(error.exception.code(), grpc.StatusCode.NOT_FOUND)
            self.assertEqual(server.stop(), 0)

    def test_watch_sees_not_serving_when_shutdown_starts(self):
        with PoolcatServer(["--grace_period=60s"]) as server, \
                grpc.insecure_channel(server.address) as ch:
            watch = ch.unary_stream(HEALTH_WATCH)
            whole = watch(b"", timeout=RPC_TIMEOUT)
            pool = watch(string_field(1, "poolcat.v1.PoolCat"), timeout=RPC_TIMEOUT)
            self.assertEqual(health_status(next(whole)), SERVING)
            self.assertEqual(health_status(next(pool)), SERVING)
            server.proc.send_signal(signal.SIGTERM)
            # Both watches get the update before the server goes away.
            self.assertEqual(health_status(next(whole)), NOT_SERVING)
            self.assertEqual(health_status(next(pool)), NOT_SERVING)
            whole.cancel()
            pool.cancel()
            self.assertEqual(server.proc.wait(timeout=120), 0, server.output())
            self.assertIn("stopped", server.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
