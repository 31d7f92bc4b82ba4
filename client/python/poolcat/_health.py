"""Messages of the standard gRPC health service (grpc.health.v1).

Debian ships neither health.proto nor the grpcio-health-checking module, and
the two messages are tiny, so their descriptors are built here. They live in
a private descriptor pool so they never clash with a grpc_health module the
application may also import.
"""

from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

CHECK_METHOD = "/grpc.health.v1.Health/Check"

# grpc.health.v1.HealthCheckResponse.ServingStatus, by number.
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING",
                  3: "SERVICE_UNKNOWN"}


def _file_descriptor():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="poolcat/grpc_health_v1.proto",
        package="grpc.health.v1", syntax="proto3")
    field = descriptor_pb2.FieldDescriptorProto
    request = fdp.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=field.TYPE_STRING,
                      label=field.LABEL_OPTIONAL)
    response = fdp.message_type.add(name="HealthCheckResponse")
    status = response.enum_type.add(name="ServingStatus")
    for number, name in sorted(SERVING_STATUS.items()):
        status.value.add(name=name, number=number)
    response.field.add(
        name="status", number=1, type=field.TYPE_ENUM,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
        label=field.LABEL_OPTIONAL)
    return fdp


def _message_classes():
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file_descriptor())
    names = ("grpc.health.v1.HealthCheckRequest",
             "grpc.health.v1.HealthCheckResponse")
    descriptors = [pool.FindMessageTypeByName(n) for n in names]
    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is None:  # protobuf < 4.22, e.g. Debian 12's 4.21.
        factory = message_factory.MessageFactory(pool)
        get_class = factory.GetPrototype
    return tuple(get_class(d) for d in descriptors)


HealthCheckRequest, HealthCheckResponse = _message_classes()
