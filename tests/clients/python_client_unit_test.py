#!/usr/bin/python3
"""poolcat_client against an in-process fake PoolCat server.

Checks what the client puts on the wire and how it decodes replies and
errors, without the C++ server: the fake records each request and answers
with the request's own input tensor, or with a status the test chooses.
"""

import concurrent.futures
import threading
import unittest

import grpc
import numpy as np

import poolcat_client
from poolcat_client import _health
from poolcat_client import _stubs

pb2, pb2_grpc = _stubs.load()


class FakePoolCat(pb2_grpc.PoolCatServicer):

    def __init__(self):
        self.requests = []
        self.fail_with = None  # (grpc.StatusCode, message) to abort with.
        self.reply = None  # A canned reply instead of the echo.
        # Set to make calls wait (at most 30 s) until the client gives up.
        self.hold = None

    def _answer(self, request, context, echo):
        self.requests.append(request)
        if self.hold is not None:
            self.hold.wait(30)
        if self.fail_with:
            context.abort(*self.fail_with)
        return self.reply if self.reply is not None else echo

    def Pool(self, request, context):
        echo = pb2.PoolResponse(output=request.input)
        if request.return_indices:
            echo.indices.CopyFrom(pb2.Tensor(
                dtype=pb2.DTYPE_INT64, shape=request.input.shape,
                data=np.arange(np.prod(request.input.shape), dtype="<i8")
                .tobytes()))
        return self._answer(request, context, echo)

    def Concat(self, request, context):
        return self._answer(request, context,
                            pb2.ConcatResponse(output=request.tensors[-1]))


def _health_handler(status):
    def check(request, context):
        if request.service not in ("", "poolcat.v1.PoolCat"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return _health.HealthCheckResponse(status=status)
    return grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=_health.HealthCheckRequest.FromString,
            response_serializer=_health.HealthCheckResponse.SerializeToString),
    })


class ClientAgainstFakeServer(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.fake = FakePoolCat()
        cls.server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=2))
        pb2_grpc.add_PoolCatServicer_to_server(cls.fake, cls.server)
        cls.server.add_generic_rpc_handlers([_health_handler(1)])
        port = cls.server.add_insecure_port("127.0.0.1:0")
        cls.server_port = port
        cls.server.start()
        cls.client = poolcat_client.Client(f"127.0.0.1:{port}", timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop(grace=None)

    def setUp(self):
        self.fake.requests.clear()
        self.fake.fail_with = None
        self.fake.reply = None
        self.fake.hold = None

    def last(self):
        self.assertEqual(len(self.fake.requests), 1)
        return self.fake.requests[0]

    def test_defaults_leave_optional_fields_empty(self):
        self.client.pool("max_pool2d", np.zeros((1, 1, 4, 4), np.float32),
                         kernel_size=3)
        r = self.last()
        self.assertEqual(r.op, "max_pool2d")
        self.assertEqual(list(r.kernel_size), [3])
        self.assertEqual(list(r.stride), [])
        self.assertEqual(list(r.padding), [])
        self.assertEqual(list(r.dilation), [])
        self.assertEqual(list(r.output_size), [])
        self.assertFalse(r.ceil_mode or r.channels_last or r.return_indices)
        self.assertFalse(r.HasField("count_include_pad"))
        self.assertFalse(r.HasField("divisor_override"))
        self.assertFalse(r.HasField("norm_type"))

    def test_every_argument_reaches_the_wire(self):
        self.client.pool("avg_pool2d", np.zeros((2, 3, 4), np.float32),
                         kernel_size=(2, 3), stride=[1, 2], padding=(0, 1),
                         dilation=2, ceil_mode=True, count_include_pad=False,
                         divisor_override=np.int64(5), norm_type=2,
                         channels_last=True)
        r = self.last()
        self.assertEqual(list(r.kernel_size), [2, 3])
        self.assertEqual(list(r.stride), [1, 2])
        self.assertEqual(list(r.padding), [0, 1])
        self.assertEqual(list(r.dilation), [2])
        self.assertTrue(r.ceil_mode and r.channels_last)
        self.assertTrue(r.HasField("count_include_pad"))
        self.assertFalse(r.count_include_pad)
        self.assertEqual(r.divisor_override, 5)
        self.assertEqual(r.norm_type, 2.0)

    def test_output_size_none_means_keep_dimension(self):
        self.client.pool("adaptive_avg_pool2d",
                         np.zeros((1, 5, 7), np.float32),
                         output_size=(None, 3))
        self.assertEqual(list(self.last().output_size), [-1, 3])

    def test_input_tensor_is_little_endian_row_major(self):
        x = np.arange(12, dtype=">i4").reshape(3, 4).T  # Big-endian, F order.
        self.client.pool("max_pool1d", x, kernel_size=1)
        t = self.last().input
        self.assertEqual(t.dtype, pb2.DTYPE_INT32)
        self.assertEqual(list(t.shape), [4, 3])
        self.assertEqual(t.data, np.ascontiguousarray(x, "<i4").tobytes())

    def test_every_numpy_dtype_round_trips(self):
        for name, wire in [("float32", pb2.DTYPE_FLOAT32),
                           ("float64", pb2.DTYPE_FLOAT64),
                           ("float16", pb2.DTYPE_FLOAT16),
                           ("int8", pb2.DTYPE_INT8),
                           ("uint8", pb2.DTYPE_UINT8),
                           ("int16", pb2.DTYPE_INT16),
                           ("int32", pb2.DTYPE_INT32),
                           ("int64", pb2.DTYPE_INT64),
                           ("bool", pb2.DTYPE_BOOL)]:
            with self.subTest(dtype=name):
                self.fake.requests.clear()
                x = (np.arange(-3, 3) % 2 if name == "bool" else
                     np.arange(-3, 3) if name != "uint8" else
                     np.arange(250, 256)).astype(name).reshape(1, 2, 3)
                out = self.client.pool("max_pool1d", x, kernel_size=1)
                self.assertEqual(self.last().input.dtype, wire)
                self.assertEqual(out.dtype, np.dtype(name))
                self.assertTrue(out.flags.writeable)
                np.testing.assert_array_equal(out, x)

    def test_scalar_and_empty_shapes_round_trip(self):
        for x in (np.float32(7.5), np.zeros((0, 3, 2), np.float64)):
            with self.subTest(shape=np.shape(x)):
                out = self.client.concat([x])
                self.assertEqual(out.shape, np.shape(x))
                np.testing.assert_array_equal(out, x)

    def test_return_indices_gives_output_and_int64_indices(self):
        out, idx = self.client.pool("max_pool2d",
                                    np.ones((1, 2, 2), np.float32),
                                    kernel_size=1, return_indices=True)
        self.assertTrue(self.last().return_indices)
        self.assertEqual(out.shape, (1, 2, 2))
        self.assertEqual(idx.dtype, np.int64)
        np.testing.assert_array_equal(idx.ravel(), [0, 1, 2, 3])

    def test_concat_sends_every_tensor_and_dim(self):
        a = np.zeros((1, 2), np.float32)
        b = np.ones((1, 3), np.int64)
        out = self.client.concat([a, b], dim=-1)
        r = self.last()
        self.assertEqual(r.dim, -1)
        self.assertEqual([t.dtype for t in r.tensors],
                         [pb2.DTYPE_FLOAT32, pb2.DTYPE_INT64])
        np.testing.assert_array_equal(out, b)

    def test_server_status_becomes_poolcat_error(self):
        self.fake.fail_with = (grpc.StatusCode.INVALID_ARGUMENT,
                               "pool.kernel_size must be > 0, got 0")
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.pool("max_pool2d", np.zeros((1, 4, 4), np.float32),
                             kernel_size=0)
        self.assertEqual(e.exception.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.exception.message,
                         "pool.kernel_size must be > 0, got 0")
        self.assertIn("INVALID_ARGUMENT", str(e.exception))

    def test_caller_channel_options_override_the_clients(self):
        with poolcat_client.Client(
                f"127.0.0.1:{self.server_port}", timeout=30,
                options=[("grpc.max_receive_message_length", 1024)]) as small:
            with self.assertRaises(poolcat_client.PoolcatError) as e:
                small.concat([np.zeros(1024, np.float32)])
        self.assertEqual(e.exception.code, grpc.StatusCode.RESOURCE_EXHAUSTED)

    def test_per_call_timeout_gives_deadline_exceeded(self):
        self.fake.hold = threading.Event()
        try:
            with self.assertRaises(poolcat_client.PoolcatError) as e:
                self.client.concat([np.zeros(3, np.float32)], timeout=0.2)
        finally:
            self.fake.hold.set()
        self.assertEqual(e.exception.code, grpc.StatusCode.DEADLINE_EXCEEDED)

    def test_bfloat16_arrays_round_trip_as_bfloat16(self):
        try:
            import ml_dtypes  # pylint: disable=import-outside-toplevel
        except ImportError:
            self.skipTest("no numpy bfloat16 dtype (ml_dtypes) installed")
        x = np.array([1.0, -2.5, 0.0], dtype=ml_dtypes.bfloat16)
        out = self.client.concat([x])
        t = self.last().tensors[0]
        self.assertEqual(t.dtype, pb2.DTYPE_BFLOAT16)
        self.assertEqual(t.data, x.view("<u2").tobytes())
        self.assertEqual(out.dtype, x.dtype)
        np.testing.assert_array_equal(out, x)

    def test_reply_with_wrong_byte_count_is_refused(self):
        self.fake.reply = pb2.ConcatResponse(output=pb2.Tensor(
            dtype=pb2.DTYPE_FLOAT32, shape=[2, 2], data=b"\0" * 12))
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.concat([np.zeros(3, np.float32)])
        self.assertEqual(e.exception.code, grpc.StatusCode.INTERNAL)
        self.assertIn("12 bytes", e.exception.message)

    def test_unsupported_dtype_is_refused_before_sending(self):
        for x in (np.zeros(3, np.complex64), np.zeros(3, np.uint16),
                  np.array(["a"])):
            with self.subTest(dtype=x.dtype):
                with self.assertRaises(poolcat_client.PoolcatError) as e:
                    self.client.concat([np.zeros(3), x])
                self.assertEqual(e.exception.code,
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertIn("arrays[1].dtype", e.exception.message)
        self.assertEqual(self.fake.requests, [])

    def test_non_integer_arguments_are_refused_before_sending(self):
        x = np.zeros((1, 4, 4), np.float32)
        for kwargs, name in [({"kernel_size": "3"}, "kernel_size"),
                             ({"kernel_size": (2, 1.5)}, "kernel_size[1]"),
                             ({"kernel_size": 2, "stride": True}, "stride"),
                             ({"kernel_size": 2, "divisor_override": 1.0},
                              "divisor_override")]:
            with self.subTest(**{k: repr(v) for k, v in kwargs.items()}):
                with self.assertRaises(poolcat_client.PoolcatError) as e:
                    self.client.pool("avg_pool2d", x, **kwargs)
                self.assertEqual(e.exception.code,
                                 grpc.StatusCode.INVALID_ARGUMENT)
                self.assertTrue(e.exception.message.startswith(name + " "),
                                e.exception.message)
        self.assertEqual(self.fake.requests, [])

    def test_health_reports_serving_status_by_name(self):
        self.assertEqual(self.client.health(), "SERVING")
        with self.assertRaises(poolcat_client.PoolcatError) as e:
            self.client.health("no.such.Service")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)


class ClientWithoutServer(unittest.TestCase):

    def test_unreachable_server_is_unavailable_or_deadline(self):
        # Port 1 on loopback: nothing listens there, nothing leaves the host.
        with poolcat_client.Client("127.0.0.1:1", timeout=5) as client:
            with self.assertRaises(poolcat_client.PoolcatError) as e:
                client.health()
        self.assertIn(e.exception.code, (grpc.StatusCode.UNAVAILABLE,
                                         grpc.StatusCode.DEADLINE_EXCEEDED))


if __name__ == "__main__":
    unittest.main(verbosity=2)
