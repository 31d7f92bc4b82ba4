// poolcat::Client against an in-process PoolCat service that answers what
// each test scripts: status codes and messages cross unchanged, UNAVAILABLE
// is retried as the service config says and nothing else is, and replies
// the client cannot trust are reported as INTERNAL; health statuses the
// real server only shows while stopping (NOT_SERVING) are decoded, and the
// CLI's health exit code follows them. (The real server is
// exercised in client_test.cc; it never fails on purpose.)
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.grpc.pb.h"

namespace poolcat {
namespace {

using ::testing::HasSubstr;
namespace pb = ::poolcat::v1;

// Fails the first `failures` calls with `code`, then echoes. Pool replies
// with `pool_reply` as scripted.
class ScriptedService final : public pb::PoolCat::Service {
 public:
  grpc::StatusCode code = grpc::StatusCode::UNAVAILABLE;
  std::string message = "scripted failure";
  int failures = 0;
  pb::PoolResponse pool_reply;
  std::atomic<int> calls{0};

  grpc::Status Echo(grpc::ServerContext*, const pb::EchoRequest* request,
                    pb::EchoResponse* response) override {
    if (calls.fetch_add(1) < failures) return grpc::Status(code, message);
    *response->mutable_tensor() = request->tensor();
    return grpc::Status::OK;
  }
  grpc::Status Pool(grpc::ServerContext*, const pb::PoolRequest*,
                    pb::PoolResponse* response) override {
    calls.fetch_add(1);
    *response = pool_reply;
    return grpc::Status::OK;
  }
};

class ClientStatus : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    target_ = absl::StrCat("127.0.0.1:", port);
  }
  void TearDown() override { server_->Shutdown(); }

  std::unique_ptr<Client> Connect(int max_attempts) {
    ClientOptions options;
    options.target = target_;
    options.retry.max_attempts = max_attempts;
    options.retry.initial_backoff = absl::Milliseconds(1);
    options.retry.max_backoff = absl::Milliseconds(5);
    options.default_deadline = absl::Seconds(60);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  const Tensor x_ = *Tensor::Zeros(DType::kFloat32, {1, 2, 2});
  ScriptedService service_;
  std::unique_ptr<grpc::Server> server_;
  std::string target_;
};

TEST_F(ClientStatus, EveryCodeAndMessageCrossesUnchanged) {
  auto client = Connect(/*max_attempts=*/1);
  for (int code = 1; code <= 16; ++code) {
    service_.code = static_cast<grpc::StatusCode>(code);
    service_.message = absl::StrCat("message for code ", code);
    service_.failures = 1;
    service_.calls = 0;
    absl::StatusOr<Tensor> y = client->Echo(x_);
    EXPECT_EQ(static_cast<int>(y.status().code()), code);
    EXPECT_EQ(y.status().message(), service_.message);
  }
}

TEST_F(ClientStatus, UnavailableIsRetriedUpToMaxAttempts) {
  auto client = Connect(/*max_attempts=*/4);
  service_.failures = 3;
  absl::StatusOr<Tensor> y = client->Echo(x_);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(service_.calls.load(), 4);
}

TEST_F(ClientStatus, RetriesEndWithTheLastUnavailable) {
  auto client = Connect(/*max_attempts=*/3);
  service_.failures = 100;
  absl::StatusOr<Tensor> y = client->Echo(x_);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.calls.load(), 3);
}

TEST_F(ClientStatus, OneAttemptMeansNoRetry) {
  auto client = Connect(/*max_attempts=*/1);
  service_.failures = 1;
  EXPECT_EQ(client->Echo(x_).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.calls.load(), 1);
}

TEST_F(ClientStatus, OtherCodesAreNotRetried) {
  auto client = Connect(/*max_attempts=*/4);
  service_.code = grpc::StatusCode::RESOURCE_EXHAUSTED;
  service_.failures = 1;
  EXPECT_EQ(client->Echo(x_).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(service_.calls.load(), 1);
}

TEST_F(ClientStatus, MalformedReplyIsInternalNamingTheField) {
  auto client = Connect(1);
  pb::Tensor* out = service_.pool_reply.mutable_output();
  out->set_dtype(pb::DTYPE_FLOAT32);
  out->add_shape(2);
  out->set_data(std::string(7, '\0'));  // 2 floats need 8 bytes
  PoolArgs args;
  args.kernel_size = {1};
  absl::StatusOr<Tensor> y = client->Pool("max_pool1d", x_, args);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(y.status().message(), HasSubstr("output"));

  out->set_dtype(pb::DTYPE_UNSPECIFIED);
  out->set_data(std::string(8, '\0'));
  y = client->Pool("max_pool1d", x_, args);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(y.status().message(), HasSubstr("dtype"));
}

TEST_F(ClientStatus, MissingIndicesAreInternal) {
  auto client = Connect(1);
  pb::Tensor* out = service_.pool_reply.mutable_output();
  out->set_dtype(pb::DTYPE_FLOAT32);
  out->add_shape(1);
  out->set_data(std::string(4, '\0'));
  PoolArgs args;
  args.kernel_size = {2};
  args.return_indices = true;
  absl::StatusOr<PoolResult> r =
      client->PoolWithIndices("max_pool1d", x_, args);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(r.status().message(), HasSubstr("indices"));
}

TEST_F(ClientStatus, OpsWithoutIndicesLeaveThemEmpty) {
  auto client = Connect(1);
  pb::Tensor* out = service_.pool_reply.mutable_output();
  out->set_dtype(pb::DTYPE_FLOAT32);
  out->add_shape(1);
  out->set_data(std::string(4, '\0'));
  pb::Tensor* bogus = service_.pool_reply.mutable_indices();
  bogus->set_dtype(pb::DTYPE_INT64);
  bogus->set_data(std::string(8, '\0'));
  PoolArgs args;
  args.kernel_size = {2};
  args.return_indices = true;
  absl::StatusOr<PoolResult> r =
      client->PoolWithIndices("avg_pool1d", x_, args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->indices.has_value());
  // Without indices in the reply, too.
  service_.pool_reply.clear_indices();
  r = client->PoolWithIndices("lp_pool1d", x_, args);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->indices.has_value());
}

TEST_F(ClientStatus, HealthReportsEachServingStatus) {
  auto client = Connect(1);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  ASSERT_NE(health, nullptr);
  health->SetServingStatus("poolcat.v1.PoolCat", true);
  EXPECT_EQ(*client->Health("poolcat.v1.PoolCat"), ServingStatus::kServing);
  health->SetServingStatus("poolcat.v1.PoolCat", false);
  EXPECT_EQ(*client->Health("poolcat.v1.PoolCat"), ServingStatus::kNotServing);
  health->SetServingStatus(false);
  EXPECT_EQ(*client->Health(), ServingStatus::kNotServing);
  EXPECT_EQ(client->Health("unknown.Service").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ClientStatus, CliHealthPrintsNotServingAndFails) {
  server_->GetHealthCheckService()->SetServingStatus(false);
  const std::string out = ::testing::TempDir() + "/poolcat_health.txt";
  const std::string command = absl::StrCat(
      POOLCAT_CLI_BINARY, " health --target=", target_, " > ", out);
  const int rc = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(rc)) << command;
  EXPECT_EQ(WEXITSTATUS(rc), 1);
  std::ifstream in(out);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "NOT_SERVING");

  server_->GetHealthCheckService()->SetServingStatus(true);
  const int ok = std::system(command.c_str());
  EXPECT_EQ(WEXITSTATUS(ok), 0);
  std::ifstream again(out);
  std::getline(again, line);
  EXPECT_EQ(line, "SERVING");
}

}  // namespace
}  // namespace poolcat
