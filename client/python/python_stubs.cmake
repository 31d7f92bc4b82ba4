# poolcat_python_stubs: the Python client's messages and gRPC stubs, generated
# from proto/poolcat/v1/poolcat.proto into <build>/client/python/stubs by
# poolcat/_codegen.py (protoc writes the messages, grpc_tools.protoc the
# service stubs). Nothing is written into the source tree; the CTests import
# the package from the source tree and these stubs (POOLCAT_PYTHON_STUBS).
#
# include()d from tests/clients/CMakeLists.txt; sets
# POOLCAT_PYTHON_CLIENT_ENABLED and POOLCAT_PYTHON_STUBS_DIR.

set(POOLCAT_PYTHON /usr/bin/python3 CACHE FILEPATH
    "Debian's Python, with grpcio, numpy, grpc_tools and torch")
set(POOLCAT_PYTHON_STUBS_DIR ${PROJECT_BINARY_DIR}/client/python/stubs)

execute_process(
  COMMAND ${POOLCAT_PYTHON} -c "import grpc, grpc_tools.protoc, numpy"
  RESULT_VARIABLE poolcat_python_status OUTPUT_QUIET ERROR_QUIET)
if(poolcat_python_status EQUAL 0)
  set(POOLCAT_PYTHON_CLIENT_ENABLED ON)
  set(poolcat_stub_dir ${POOLCAT_PYTHON_STUBS_DIR}/poolcat/v1)
  add_custom_command(
    OUTPUT ${poolcat_stub_dir}/poolcat_pb2.py
           ${poolcat_stub_dir}/poolcat_pb2_grpc.py
    COMMAND ${CMAKE_COMMAND} -E env
      POOLCAT_PROTOC=$<TARGET_FILE:protobuf::protoc>
      ${POOLCAT_PYTHON} ${PROJECT_SOURCE_DIR}/client/python/poolcat/_codegen.py
        --force --out ${POOLCAT_PYTHON_STUBS_DIR}
        --proto_dir ${PROJECT_SOURCE_DIR}/proto
    DEPENDS ${PROJECT_SOURCE_DIR}/proto/poolcat/v1/poolcat.proto
            ${PROJECT_SOURCE_DIR}/client/python/poolcat/_codegen.py
    COMMENT "Generating the Python client's poolcat.v1 stubs (protoc, grpc_tools)"
    VERBATIM)
  add_custom_target(poolcat_python_stubs ALL
    DEPENDS ${poolcat_stub_dir}/poolcat_pb2.py
            ${poolcat_stub_dir}/poolcat_pb2_grpc.py)
else()
  set(POOLCAT_PYTHON_CLIENT_ENABLED OFF)
  message(WARNING "Python client disabled: ${POOLCAT_PYTHON} cannot import "
                  "grpc, grpc_tools and numpy (Debian python3-grpcio, "
                  "python3-grpc-tools, python3-numpy)")
endif()
