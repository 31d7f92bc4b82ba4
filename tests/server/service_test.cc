// Handler tests against an in-process server on 127.0.0.1.
#include "server/service.h"

#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.grpc.pb.h"
#include "server/server.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Tensor FloatTensor(std::vector<int64_t> shape,
                       const std::vector<float>& values) {
  v1::Tensor t;
  t.set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(std::string(reinterpret_cast<const char*>(values.data()),
                         values.size() * sizeof(float)));
  return t;
}

std::vector<float> Floats(const v1::Tensor& t) {
  std::vector<float> out(t.data().size() / sizeof(float));
  std::memcpy(out.data(), t.data().data(), out.size() * sizeof(float));
  return out;
}

class ServiceTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options) {
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "";
    absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
        PoolCatServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::PoolCat::NewStub(channel_);
  }
  void SetUp() override { StartServer(ServerOptions()); }

  // grpc.health.v1.Health/Check by hand (no generated health stubs ship
  // with grpc++): HealthCheckRequest{service} -> HealthCheckResponse{status}.
  int HealthStatus(const std::string& service) {
    grpc::GenericStub generic(channel_);
    std::string request =
        "\x0a" + std::string(1, static_cast<char>(service.size())) + service;
    if (service.empty()) request.clear();
    grpc::Slice slice(request);
    grpc::ByteBuffer send(&slice, 1), recv;
    grpc::ClientContext context;
    grpc::Status status;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    generic.UnaryCall(&context, "/grpc.health.v1.Health/Check",
                      grpc::StubOptions(), &send, &recv, [&](grpc::Status s) {
                        std::lock_guard<std::mutex> lock(mu);
                        status = s;
                        done = true;
                        cv.notify_one();
                      });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (!status.ok()) return -static_cast<int>(status.error_code());
    std::vector<grpc::Slice> slices;
    recv.Dump(&slices);
    std::string bytes;
    for (const grpc::Slice& s : slices)
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    // Field 1, varint: 0x08 <status>; an absent field means UNKNOWN (0).
    return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
  }

  std::unique_ptr<PoolCatServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PoolCat::Stub> stub_;
};

TEST_F(ServiceTest, BindsARealPortOnLoopback) {
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(ServiceTest, EchoReturnsTheRequestTensor) {
  v1::EchoRequest request;
  *request.mutable_tensor() = FloatTensor({2, 2}, {1, 2, 3, 4});
  v1::EchoResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->Echo(&context, request, &response).ok());
  EXPECT_EQ(response.tensor().SerializeAsString(),
            request.tensor().SerializeAsString());
}

TEST_F(ServiceTest, MaxPool2dComputesTheSeedExample) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() = FloatTensor(
      {1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
  request.add_kernel_size(2);
  request.add_stride(2);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.output().dtype(), v1::DTYPE_FLOAT32);
  EXPECT_THAT(response.output().shape(), ElementsAre(1, 1, 2, 2));
  EXPECT_THAT(Floats(response.output()), ElementsAre(6, 8, 14, 16));
  EXPECT_FALSE(response.has_indices());
}

TEST_F(ServiceTest, MaxPool2dReturnsIndicesWhenAsked) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() = FloatTensor({1, 1, 2, 2}, {1, 4, 3, 2});
  request.add_kernel_size(2);
  request.set_return_indices(true);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.indices().dtype(), v1::DTYPE_INT64);
  EXPECT_THAT(response.indices().shape(), ElementsAre(1, 1, 1, 1));
  ASSERT_EQ(response.indices().data().size(), 8u);
  int64_t index = -1;
  std::memcpy(&index, response.indices().data().data(), 8);
  EXPECT_EQ(index, 1);
}

TEST_F(ServiceTest, ReturnIndicesIsIgnoredByOpsWithoutIndices) {
  // The proto documents return_indices as max/adaptive_max only; other ops
  // ignore it, as they ignore any argument they do not take.
  v1::PoolRequest request;
  request.set_op("avg_pool2d");
  *request.mutable_input() = FloatTensor({1, 1, 2, 2}, {1, 4, 3, 2});
  request.add_kernel_size(2);
  request.set_return_indices(true);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Floats(response.output()), ElementsAre(2.5f));
  EXPECT_FALSE(response.has_indices());
}

TEST_F(ServiceTest, RecycledMessagesCarryNothingFromThePreviousCall) {
  // Calls one after another reuse the same recycled message pair.
  v1::PoolRequest with_indices;
  with_indices.set_op("max_pool2d");
  *with_indices.mutable_input() =
      FloatTensor({1, 1, 4, 4}, std::vector<float>(16, 3.0f));
  with_indices.add_kernel_size(2);
  with_indices.set_return_indices(true);
  v1::PoolRequest plain;
  plain.set_op("avg_pool1d");
  *plain.mutable_input() = FloatTensor({1, 2}, {1, 5});
  plain.add_kernel_size(2);
  for (int round = 0; round < 3; ++round) {
    v1::PoolResponse first, second;
    grpc::ClientContext c1, c2;
    ASSERT_TRUE(stub_->Pool(&c1, with_indices, &first).ok());
    EXPECT_TRUE(first.has_indices());
    ASSERT_TRUE(stub_->Pool(&c2, plain, &second).ok());
    EXPECT_FALSE(second.has_indices());
    EXPECT_THAT(second.output().shape(), ElementsAre(1, 1));
    EXPECT_THAT(Floats(second.output()), ElementsAre(3));
  }
  v1::ConcatRequest big, small;
  *big.add_tensors() = FloatTensor({3}, {1, 2, 3});
  *big.add_tensors() = FloatTensor({2}, {4, 5});
  *small.add_tensors() = FloatTensor({1}, {9});
  for (int round = 0; round < 2; ++round) {
    v1::ConcatResponse a, b;
    grpc::ClientContext c1, c2;
    ASSERT_TRUE(stub_->Concat(&c1, big, &a).ok());
    EXPECT_THAT(Floats(a.output()), ElementsAre(1, 2, 3, 4, 5));
    ASSERT_TRUE(stub_->Concat(&c2, small, &b).ok());
    EXPECT_THAT(b.output().shape(), ElementsAre(1));
    EXPECT_THAT(Floats(b.output()), ElementsAre(9));
  }
}

TEST_F(ServiceTest, PoolRefusesBadRequestsWithInvalidArgument) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() = FloatTensor({1, 1, 2, 2}, {1, 2, 3});
  request.add_kernel_size(2);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      status.error_message(),
      "input.data has 12 bytes, but shape [1, 1, 2, 2] of float32 needs 16");
}

TEST_F(ServiceTest, PoolRefusesUnknownOpAndMissingInput) {
  v1::PoolRequest request;
  request.set_op("median_pool2d");
  v1::PoolResponse response;
  {
    grpc::ClientContext context;
    const grpc::Status status = stub_->Pool(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("median_pool2d"));
  }
  request.set_op("max_pool2d");
  {
    grpc::ClientContext context;
    const grpc::Status status = stub_->Pool(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("input is not set"));
  }
}

TEST_F(ServiceTest, PoolRefusesUnknownDTypeEnumValue) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() = FloatTensor({1, 1, 2, 2}, {1, 2, 3, 4});
  request.mutable_input()->set_dtype(static_cast<v1::DType>(1000));
  request.add_kernel_size(2);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(),
              HasSubstr("input.dtype has unknown value 1000"));
}

TEST_F(ServiceTest, PoolRefusesOverflowingShapeWithResourceExhausted) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d :
       {int64_t{1} << 40, int64_t{1} << 40, int64_t{4}, int64_t{4}}) {
    input->add_shape(d);
  }
  request.add_kernel_size(2);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Pool(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("input"));
}

TEST_F(ServiceTest, ConcatJoinsAlongDim) {
  v1::ConcatRequest request;
  *request.add_tensors() = FloatTensor({1, 2}, {1, 2});
  *request.add_tensors() = FloatTensor({2, 2}, {3, 4, 5, 6});
  request.set_dim(0);
  v1::ConcatResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Concat(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(response.output().shape(), ElementsAre(3, 2));
  EXPECT_THAT(Floats(response.output()), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST_F(ServiceTest, ConcatRefusesEmptyListAndNamesBadTensor) {
  v1::ConcatResponse response;
  {
    v1::ConcatRequest request;
    grpc::ClientContext context;
    const grpc::Status status = stub_->Concat(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("tensors is empty"));
  }
  {
    v1::ConcatRequest request;
    *request.add_tensors() = FloatTensor({2}, {1, 2});
    *request.add_tensors() = FloatTensor({2}, {1, 2});
    request.mutable_tensors(1)->set_dtype(v1::DTYPE_UNSPECIFIED);
    grpc::ClientContext context;
    const grpc::Status status = stub_->Concat(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(),
                HasSubstr("tensors[1].dtype is DTYPE_UNSPECIFIED"));
  }
}

TEST_F(ServiceTest, ConcatRefusesMismatchedShapesWithCoreMessage) {
  v1::ConcatRequest request;
  *request.add_tensors() = FloatTensor({1, 2}, {1, 2});
  *request.add_tensors() = FloatTensor({1, 3}, {3, 4, 5});
  request.set_dim(0);
  v1::ConcatResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub_->Concat(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("tensors[1]"));
}

TEST_F(ServiceTest, HealthReportsServingForServerAndService) {
  EXPECT_EQ(HealthStatus(""), 1);  // SERVING
  EXPECT_EQ(HealthStatus("poolcat.v1.PoolCat"), 1);
}

TEST_F(ServiceTest, ShutdownRefusesNewCalls) {
  server_->Shutdown(absl::ZeroDuration());
  v1::EchoRequest request;
  v1::EchoResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  const grpc::Status status = stub_->Echo(&context, request, &response);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ServiceTest, UnparsableRequestBodyIsInvalidArgument) {
  grpc::GenericStub generic(channel_);
  grpc::Slice slice(std::string("\xff\xff\xff"));
  grpc::ByteBuffer send(&slice, 1), recv;
  grpc::ClientContext context;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/poolcat.v1.PoolCat/Pool", grpc::StubOptions(),
                    &send, &recv,
                    [&done](grpc::Status s) { done.set_value(s); });
  const grpc::Status status = done.get_future().get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("/poolcat.v1.PoolCat/Pool"));
}

std::unique_ptr<v1::PoolCat::Stub> StartWithMessageLimit(
    int64_t max_message_bytes, std::unique_ptr<PoolCatServer>* server) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.max_message_bytes = max_message_bytes;
  absl::StatusOr<std::unique_ptr<PoolCatServer>> started =
      PoolCatServer::Start(options);
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return nullptr;
  *server = *std::move(started);
  return v1::PoolCat::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
}

TEST_F(ServiceTest, UnknownMethodStaysUnimplemented) {
  grpc::GenericStub generic(channel_);
  grpc::Slice slice(std::string(""));
  grpc::ByteBuffer send(&slice, 1), recv;
  grpc::ClientContext context;
  std::promise<grpc::Status> done;
  generic.UnaryCall(&context, "/poolcat.v1.PoolCat/Nope", grpc::StubOptions(),
                    &send, &recv,
                    [&done](grpc::Status s) { done.set_value(s); });
  EXPECT_EQ(done.get_future().get().error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(ServiceLimits, OutputLargerThanTheMessageLimitIsResourceExhausted) {
  std::unique_ptr<PoolCatServer> server;
  auto stub = StartWithMessageLimit(4096, &server);
  ASSERT_NE(stub, nullptr);
  // 1000 int8 + 1 float64 elements in (about 1 KB), 1001 float64 out
  // (8008 bytes): the request fits the limit, the response would not.
  v1::ConcatRequest request;
  v1::Tensor* small = request.add_tensors();
  small->set_dtype(v1::DTYPE_INT8);
  small->add_shape(1000);
  small->set_data(std::string(1000, '\1'));
  v1::Tensor* wide = request.add_tensors();
  wide->set_dtype(v1::DTYPE_FLOAT64);
  wide->add_shape(1);
  wide->set_data(std::string(8, '\0'));
  v1::ConcatResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub->Concat(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("[1001] of float64"));
  EXPECT_THAT(status.error_message(), HasSubstr("--max_message_bytes"));
}

TEST(ServiceLimits, SmallResponsesPassASmallMessageLimit) {
  std::unique_ptr<PoolCatServer> server;
  auto stub = StartWithMessageLimit(256, &server);
  ASSERT_NE(stub, nullptr);
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() =
      FloatTensor({1, 1, 4, 4}, std::vector<float>(16, 2.0f));
  request.add_kernel_size(2);
  request.set_return_indices(true);
  v1::PoolResponse response;
  grpc::ClientContext context;
  const grpc::Status status = stub->Pool(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Floats(response.output()), ElementsAre(2, 2, 2, 2));
}

TEST(ServiceLimits, RequestLargerThanTheMessageLimitIsResourceExhausted) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.max_message_bytes = 1024;
  absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
      PoolCatServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::PoolCat::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  v1::EchoRequest request;
  *request.mutable_tensor() =
      FloatTensor({1000}, std::vector<float>(1000, 1.0f));
  v1::EchoResponse response;
  grpc::ClientContext context;
  EXPECT_EQ(stub->Echo(&context, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST(ServiceStart, FailsCleanlyOnUnreadableTlsFiles) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  options.tls_cert = "/nonexistent/cert.pem";
  options.tls_key = "/nonexistent/key.pem";
  absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
      PoolCatServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(),
              HasSubstr("--tls_cert=/nonexistent/cert.pem"));
}

TEST(ServiceStart, FailsCleanlyOnBadListenAddress) {
  ServerOptions options;
  options.listen = "not-an-address";
  options.metrics_listen = "";
  absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
      PoolCatServer::Start(options);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(server.status().message(), HasSubstr("not-an-address"));
}

}  // namespace
}  // namespace poolcat::server
