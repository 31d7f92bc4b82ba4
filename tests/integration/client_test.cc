// poolcat::Client against the real poolcat-server binary: the seed notebook,
// every error code, health, large and concurrent traffic, multi-address
// targets, TLS and mutual TLS, and SIGTERM under load.
//
// Expected results of non-notebook calls come from the core computing the
// same op in this process: these tests check the service and transport, the
// core's own suites check the arithmetic against PyTorch.
#include "client/client.h"

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/concat.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace poolcat {
namespace {

using ::poolcat::testing::ServerProcess;
using ::testing::HasSubstr;

// Bounds every wait on the server so a hang fails instead of stalling CI.
constexpr absl::Duration kPatience = absl::Seconds(120);

Tensor Float32(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape),
                                   absl::MakeConstSpan(values));
}

std::vector<float> Range(int n, float offset = 0) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = static_cast<float>(i) + offset;
  return v;
}

Tensor RandomFloat32(std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = *Tensor::Empty(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-10, 10);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = dist(rng);
  return t;
}

PoolArgs Kernel(std::vector<int64_t> kernel, std::vector<int64_t> stride = {},
                std::vector<int64_t> padding = {0}) {
  PoolArgs args;
  args.kernel_size = std::move(kernel);
  args.stride = std::move(stride);
  args.padding = std::move(padding);
  return args;
}

std::vector<float> Values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  return std::vector<float>(t.data_as<float>(), t.data_as<float>() + t.numel());
}

// Same dtype, shape and bytes.
::testing::AssertionResult SameTensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) {
    return ::testing::AssertionFailure()
           << DTypeName(a.dtype()) << ShapeToString(a.shape()) << " vs "
           << DTypeName(b.dtype()) << ShapeToString(b.shape());
  }
  if (a.bytes() != b.bytes()) {
    return ::testing::AssertionFailure() << "same shape, different bytes";
  }
  return ::testing::AssertionSuccess();
}

std::unique_ptr<ServerProcess> StartServer(
    const std::vector<std::string>& flags = {}) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(flags);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

std::unique_ptr<Client> Connect(const std::string& target,
                                ClientOptions options = {}) {
  options.target = target;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// Polls the server's /metrics until `name` (with `labels`) reaches `at_least`;
// false if it does not within kPatience.
// Tests drop their clients before stopping the server, so its exit never
// waits on an idle connection (the SIGTERM-under-load test keeps its own).
bool WaitForMetric(const ServerProcess& server, const std::string& name,
                   const std::vector<std::string>& labels, double at_least) {
  const absl::Time give_up = absl::Now() + kPatience;
  while (absl::Now() < give_up) {
    absl::StatusOr<std::string> text =
        testing::ScrapeMetrics(server.metrics_address());
    if (text.ok() && testing::MetricValue(*text, name, labels) >= at_least) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// A computation that keeps one compute thread busy for seconds (about 2.4 s
// on the development machine: 21^3-element average windows at 4 * 44^3
// positions, 3.2G additions) from a small request (4 MiB), so a test can
// act while it is in flight. The server checks for cancellation between
// the 4 planes.
struct SlowPool {
  Tensor input = RandomFloat32({1, 4, 64, 64, 64}, 99);
  PoolArgs args = Kernel({21}, {1});
  static constexpr char kOp[] = "avg_pool3d";
};

// ----------------------------------------------------------------------------
// The seed notebook, with its printed numbers.

class SeedNotebook : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = StartServer().release(); }
  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      absl::StatusOr<int> code = server_->Stop();
      EXPECT_TRUE(code.ok() && *code == 0) << code.status() << "\n"
                                           << server_->Output();
    }
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    client_ = Connect(server_->address());
    ASSERT_NE(client_, nullptr);
  }

  Tensor X4() const { return Float32({1, 1, 4, 4}, Range(16)); }
  Tensor TwoChannels() {
    absl::StatusOr<Tensor> x =
        client_->Concat({X4(), Float32({1, 1, 4, 4}, Range(16, 1))}, 1);
    EXPECT_TRUE(x.ok()) << x.status();
    return x.ok() ? *x : Tensor();
  }

  static ServerProcess* server_;
  std::unique_ptr<Client> client_;
};
ServerProcess* SeedNotebook::server_ = nullptr;

TEST_F(SeedNotebook, In5MaxPoolTwoByTwoStrideOneOnThreeByThree) {
  absl::StatusOr<Tensor> y = client_->Pool(
      "max_pool2d", Float32({1, 3, 3}, Range(9)), Kernel({2, 2}, {1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(Values(*y), (std::vector<float>{4, 5, 7, 8}));
}

TEST_F(SeedNotebook, In6AvgPoolTwoByTwoStrideOneOnThreeByThree) {
  absl::StatusOr<Tensor> y = client_->Pool(
      "avg_pool2d", Float32({1, 3, 3}, Range(9)), Kernel({2, 2}, {1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(Values(*y), (std::vector<float>{2, 3, 5, 6}));
}

TEST_F(SeedNotebook, In8MaxPool2dKernelThree) {
  absl::StatusOr<Tensor> y = client_->Pool("max_pool2d", X4(), Kernel({3}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(Values(*y), (std::vector<float>{10}));
}

TEST_F(SeedNotebook, In9MaxPool2dPaddingOneStrideTwo) {
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", X4(), Kernel({3}, {2}, {1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15}));
}

TEST_F(SeedNotebook, In10MaxPool2dRectangularKernelStrideAndPadding) {
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", X4(), Kernel({2, 3}, {2, 3}, {0, 1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15}));
}

TEST_F(SeedNotebook, In11CatAlongChannels) {
  Tensor x = TwoChannels();
  EXPECT_EQ(x.shape(), (std::vector<int64_t>{1, 2, 4, 4}));
  std::vector<float> expected = Range(16);
  for (float v : Range(16, 1)) expected.push_back(v);
  EXPECT_EQ(Values(x), expected);
}

TEST_F(SeedNotebook, In12MaxPoolOnTwoChannels) {
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", TwoChannels(), Kernel({3}, {2}, {1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15, 6, 8, 14, 16}));
}

TEST_F(SeedNotebook, MarkdownMatrixTwoByTwoMaxPool) {
  Tensor m =
      Float32({1, 4, 4}, {1, 3, 2, 4, 5, 6, 7, 8, 9, 2, 1, 0, 3, 4, 5, 6});
  absl::StatusOr<Tensor> y = client_->Pool("max_pool2d", m, Kernel({2}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(Values(*y), (std::vector<float>{6, 8, 9, 6}));
}

TEST_F(SeedNotebook, GlobalAveragePoolingIsAdaptiveToOne) {
  PoolArgs args;
  args.output_size = {1};
  absl::StatusOr<Tensor> y =
      client_->Pool("adaptive_avg_pool2d", TwoChannels(), args);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->shape(), (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(Values(*y), (std::vector<float>{7.5, 8.5}));
}

TEST_F(SeedNotebook, MaxPoolReturnsInt64IndicesPerPlane) {
  PoolArgs args = Kernel({3}, {2}, {1});
  args.return_indices = true;
  absl::StatusOr<PoolResult> r =
      client_->PoolWithIndices("max_pool2d", TwoChannels(), args);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->indices.has_value());
  EXPECT_EQ(r->indices->dtype(), DType::kInt64);
  EXPECT_EQ(r->indices->shape(), r->output.shape());
  const int64_t* idx = r->indices->data_as<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx, idx + 8),
            (std::vector<int64_t>{5, 7, 13, 15, 5, 7, 13, 15}));
}

TEST_F(SeedNotebook, PoolIgnoresReturnIndicesAndEchoRoundTrips) {
  PoolArgs args = Kernel({2});
  args.return_indices = true;  // Pool() returns the output only
  absl::StatusOr<Tensor> y = client_->Pool("max_pool2d", X4(), args);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15}));
  absl::StatusOr<Tensor> echoed = client_->Echo(X4());
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_TRUE(SameTensor(*echoed, X4()));
}

// ----------------------------------------------------------------------------
// Error codes: the server's code and message reach the caller unchanged.

class Errors : public SeedNotebook {};

TEST_F(Errors, BadArgumentIsInvalidArgumentNamingIt) {
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", X4(), Kernel({2}, {0}));
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("stride"));
}

TEST_F(Errors, UnknownOpIsInvalidArgumentNamingIt) {
  absl::StatusOr<Tensor> y = client_->Pool("median_pool2d", X4(), Kernel({2}));
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("median_pool2d"));
}

TEST_F(Errors, PaddingOverHalfTheKernelIsInvalidArgument) {
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", X4(), Kernel({2}, {1}, {2}));
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("pad"));
}

TEST_F(Errors, ConcatOfMismatchedShapesIsRefused) {
  absl::StatusOr<Tensor> y = client_->Concat(
      {Float32({2, 3}, Range(6)), Float32({2, 2}, Range(4))}, 0);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(y.status().message(), HasSubstr("tensors"));
}

TEST_F(Errors, ConcatOfNothingIsRefused) {
  absl::StatusOr<Tensor> y = client_->Concat({}, 0);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(Errors, TinyDeadlineOnABigOpIsDeadlineExceeded) {
  SlowPool slow;
  CallOptions call;
  call.deadline = absl::Milliseconds(1);
  absl::StatusOr<Tensor> y =
      client_->Pool(SlowPool::kOp, slow.input, slow.args, call);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kDeadlineExceeded)
      << y.status();
  // The server is still fine afterwards.
  EXPECT_TRUE(client_->Pool("max_pool2d", X4(), Kernel({2})).ok());
}

TEST_F(Errors, CancellationBeforeTheCallIsCancelled) {
  Cancellation cancellation;
  cancellation.Cancel();
  CallOptions call;
  call.cancellation = &cancellation;
  absl::StatusOr<Tensor> y =
      client_->Pool("max_pool2d", X4(), Kernel({2}), call);
  EXPECT_EQ(y.status().code(), absl::StatusCode::kCancelled);
}

TEST(ErrorLimits, ElementsOverMaxElementsAreResourceExhausted) {
  auto server = StartServer({"--max_elements=1000"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  absl::StatusOr<Tensor> y =
      client->Pool("max_pool2d", RandomFloat32({1, 1, 40, 40}, 1), Kernel({2}));
  EXPECT_EQ(y.status().code(), absl::StatusCode::kResourceExhausted)
      << y.status();
  // Under the limit is fine.
  EXPECT_TRUE(
      client->Pool("max_pool2d", RandomFloat32({1, 1, 30, 30}, 1), Kernel({2}))
          .ok());
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(ErrorLimits, MessageOverMaxMessageBytesIsResourceExhausted) {
  auto server = StartServer({"--max_message_bytes=1048576"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  // 2 MiB of float32.
  absl::StatusOr<Tensor> y = client->Pool(
      "max_pool2d", RandomFloat32({1, 1, 512, 1024}, 2), Kernel({2}));
  EXPECT_EQ(y.status().code(), absl::StatusCode::kResourceExhausted)
      << y.status();
  EXPECT_TRUE(
      client
          ->Pool("max_pool2d", RandomFloat32({1, 1, 256, 256}, 2), Kernel({2}))
          .ok());
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(ErrorLimits, CallsPastMaxConcurrentAreResourceExhausted) {
  auto server = StartServer(
      {"--max_concurrent=1", "--threads=1", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  ASSERT_FALSE(server->metrics_address().empty()) << server->Output();
  auto client = Connect(server->address());
  SlowPool slow;
  const Tensor small = Float32({1, 1, 4, 4}, Range(16));
  // While a slow call holds the only slot, another call is refused. Should
  // the slow call finish before the second arrives (a very fast machine),
  // the second succeeds instead and the round is repeated (bounded).
  absl::Status second;
  for (int round = 0; round < 3; ++round) {
    Cancellation stop_slow;
    absl::Status slow_status;
    std::thread holder([&] {
      CallOptions call;
      call.cancellation = &stop_slow;
      slow_status =
          client->Pool(SlowPool::kOp, slow.input, slow.args, call).status();
    });
    const bool holding =
        WaitForMetric(*server, "poolcat_inflight_computations", {}, 1);
    second = client->Pool("max_pool2d", small, Kernel({2})).status();
    stop_slow.Cancel();
    holder.join();
    ASSERT_TRUE(holding);
    EXPECT_TRUE(slow_status.ok() ||
                slow_status.code() == absl::StatusCode::kCancelled)
        << slow_status;
    if (second.code() == absl::StatusCode::kResourceExhausted) break;
    ASSERT_TRUE(second.ok()) << second;
  }
  EXPECT_EQ(second.code(), absl::StatusCode::kResourceExhausted) << second;
  EXPECT_THAT(second.message(), HasSubstr("max_concurrent"));
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(ErrorLimits, ClientCancellationReachesTheServer) {
  auto server = StartServer({"--threads=1", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  SlowPool slow;
  Cancellation cancellation;
  absl::Status status;
  std::thread call_thread([&] {
    CallOptions call;
    call.cancellation = &cancellation;
    status = client->Pool(SlowPool::kOp, slow.input, slow.args, call).status();
  });
  // Cancel only once the server computes, so the server side is exercised.
  ASSERT_TRUE(WaitForMetric(*server, "poolcat_inflight_computations", {}, 1));
  cancellation.Cancel();
  call_thread.join();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  // The server saw the cancellation and stopped the computation (the
  // metrics spell codes as go-grpc-prometheus does: "Canceled").
  EXPECT_TRUE(WaitForMetric(*server, "grpc_server_handled_total",
                            {"grpc_method=\"Pool\"", "grpc_code=\"Canceled\""},
                            1))
      << testing::ScrapeMetrics(server->metrics_address()).value_or("");
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(ErrorLimits, UnreachableServerIsUnavailable) {
  absl::StatusOr<int> port = testing::UnusedLoopbackPort();
  ASSERT_TRUE(port.ok()) << port.status();
  ClientOptions options;
  options.retry.max_attempts = 2;
  auto client = Connect(absl::StrCat("127.0.0.1:", *port), options);
  absl::StatusOr<ServingStatus> health = client->Health();
  EXPECT_EQ(health.status().code(), absl::StatusCode::kUnavailable)
      << health.status();
}

// ----------------------------------------------------------------------------
// Health.

TEST(Health, ServerAndServiceAreServing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  absl::StatusOr<ServingStatus> whole = client->Health();
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(*whole, ServingStatus::kServing);
  absl::StatusOr<ServingStatus> service = client->Health("poolcat.v1.PoolCat");
  ASSERT_TRUE(service.ok()) << service.status();
  EXPECT_EQ(*service, ServingStatus::kServing);
  EXPECT_EQ(client->Health("no.such.Service").status().code(),
            absl::StatusCode::kNotFound);
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

// ----------------------------------------------------------------------------
// Traffic: big, many, spread.

TEST(Traffic, TwoHundredMebibyteTensorRoundTrips) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  // 200 MiB of float32: (2, 25, 1024, 1024).
  Tensor big = *Tensor::Empty(DType::kFloat32, {2, 25, 1024, 1024});
  ASSERT_EQ(big.nbytes(), size_t{200} << 20);
  for (int64_t i = 0; i < big.numel(); ++i) {
    big.data_as<float>()[i] = static_cast<float>(i % 1000003) * 0.5f;
  }
  absl::StatusOr<Tensor> echoed = client->Echo(big);
  ASSERT_TRUE(echoed.ok()) << echoed.status();
  EXPECT_TRUE(SameTensor(*echoed, big));
  echoed = Tensor();  // free before the next 200 MiB call

  absl::StatusOr<Tensor> pooled = client->Pool("max_pool2d", big, Kernel({2}));
  ASSERT_TRUE(pooled.ok()) << pooled.status();
  absl::StatusOr<PoolResult> local = Pool("max_pool2d", big, Kernel({2}));
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_TRUE(SameTensor(*pooled, local->output));
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(Traffic, SixtyFourConcurrentClientsGetCorrectResults) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr int kClients = 64;
  constexpr int kCallsEach = 4;
  std::atomic<int> correct{0};
  absl::Mutex mu;
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  // Clients stay connected until their connections were counted.
  absl::BlockingCounter done_calling(kClients);
  absl::Notification counted;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      ClientOptions options;
      options.target = server->address();
      options.own_connection = true;  // 64 connections, not one shared
      absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
      for (int i = 0; i < kCallsEach && client.ok(); ++i) {
        // Each call differs: seed, op and shape depend on client and call.
        const uint32_t seed = static_cast<uint32_t>(c * kCallsEach + i);
        Tensor x = RandomFloat32({2, 3 + i, 17 + c % 5, 19}, seed);
        const char* op = (seed % 2 == 0) ? "max_pool2d" : "avg_pool2d";
        PoolArgs args = Kernel({3}, {2}, {1});
        absl::StatusOr<Tensor> got = (*client)->Pool(op, x, args);
        absl::StatusOr<PoolResult> want = Pool(op, x, args);
        if (got.ok() && want.ok() && SameTensor(*got, want->output)) {
          correct.fetch_add(1);
        } else {
          absl::MutexLock lock(&mu);
          problems.push_back(absl::StrCat("client ", c, " call ", i, ": ",
                                          got.status().ToString()));
        }
      }
      if (!client.ok()) {
        absl::MutexLock lock(&mu);
        problems.push_back(client.status().ToString());
      }
      done_calling.DecrementCount();
      counted.WaitForNotificationWithTimeout(kPatience);
    });
  }
  done_calling.Wait();
  const int connections = testing::EstablishedConnectionsOnPort(server->port());
  counted.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_GE(connections, kClients);
  EXPECT_EQ(correct.load(), kClients * kCallsEach);
  for (const std::string& p : problems) ADD_FAILURE() << p;
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(Traffic, MultiAddressTargetSpreadsCallsOverServers) {
  auto a = StartServer({"--metrics_listen=127.0.0.1:0"});
  auto b = StartServer({"--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto client = Connect(
      absl::StrCat("ipv4:127.0.0.1:", a->port(), ",127.0.0.1:", b->port()));
  const Tensor x = Float32({1, 1, 4, 4}, Range(16));
  const std::string started = "grpc_server_started_total";
  const std::vector<std::string> pool = {"grpc_method=\"Pool\""};
  // round_robin alternates once both connections are up; calls made while
  // only one is ready go to it. Bounded: stop once both served calls.
  bool both = false;
  for (int i = 0; i < 400 && !both; ++i) {
    absl::StatusOr<Tensor> y = client->Pool("max_pool2d", x, Kernel({2}));
    ASSERT_TRUE(y.ok()) << y.status();
    ASSERT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15}));
    if (i % 20 == 19) {
      absl::StatusOr<std::string> ma =
          testing::ScrapeMetrics(a->metrics_address());
      absl::StatusOr<std::string> mb =
          testing::ScrapeMetrics(b->metrics_address());
      ASSERT_TRUE(ma.ok() && mb.ok());
      both = testing::MetricValue(*ma, started, pool) > 0 &&
             testing::MetricValue(*mb, started, pool) > 0;
    }
  }
  EXPECT_TRUE(both) << "one of the two servers never got a call";
  client.reset();
  EXPECT_EQ(*a->Stop(), 0);
  EXPECT_EQ(*b->Stop(), 0);
}

TEST(Traffic, DeadAddressInTargetIsSkipped) {
  auto live = StartServer();
  ASSERT_NE(live, nullptr);
  absl::StatusOr<int> dead = testing::UnusedLoopbackPort();
  ASSERT_TRUE(dead.ok());
  auto client = Connect(
      absl::StrCat("ipv4:127.0.0.1:", *dead, ",127.0.0.1:", live->port()));
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<Tensor> y = client->Pool(
        "max_pool2d", Float32({1, 1, 4, 4}, Range(16)), Kernel({3}));
    ASSERT_TRUE(y.ok()) << "call " << i << ": " << y.status();
    EXPECT_EQ(Values(*y), (std::vector<float>{10}));
  }
  client.reset();
  EXPECT_EQ(*live->Stop(), 0);
}

// ----------------------------------------------------------------------------
// Shutdown.

TEST(Shutdown, SigtermDuringLoadFinishesEveryAcceptedCall) {
  auto server = StartServer(
      {"--threads=1", "--grace_period=120s", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());

  // Slow calls that are known to be accepted before SIGTERM (the server
  // counts them as started); they queue on its single compute thread, so
  // most are still in flight when SIGTERM arrives.
  // Each takes about 0.4 s here (17^3 windows at 48^3 positions).
  constexpr int kAccepted = 6;
  const Tensor slow_input = RandomFloat32({1, 1, 64, 64, 64}, 5);
  const PoolArgs slow_args = Kernel({17}, {1});
  absl::StatusOr<PoolResult> slow_want =
      Pool("avg_pool3d", slow_input, slow_args);
  ASSERT_TRUE(slow_want.ok()) << slow_want.status();
  std::vector<absl::StatusOr<Tensor>> accepted(kAccepted,
                                               absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  std::atomic<bool> stop_load{false};
  // On any early return the server is killed so every thread finishes.
  absl::Cleanup join_all = [&] {
    stop_load.store(true);
    server->Signal(SIGKILL);
    for (std::thread& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  for (int i = 0; i < kAccepted; ++i) {
    threads.emplace_back([&, i] {
      accepted[i] = client->Pool("avg_pool3d", slow_input, slow_args);
    });
  }
  // Every slow call has started on the server: it is accepted.
  ASSERT_TRUE(WaitForMetric(*server, "grpc_server_started_total",
                            {"grpc_method=\"Pool\""}, kAccepted));
  // Load: small calls in a loop until the server stops answering.
  constexpr int kLoaders = 4;
  absl::Mutex mu;
  int load_ok = 0;
  std::vector<std::string> load_problems;
  const Tensor small = Float32({1, 1, 4, 4}, Range(16));
  for (int i = 0; i < kLoaders; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 100000 && !stop_load.load(); ++n) {
        CallOptions call;
        call.deadline = absl::Seconds(60);
        absl::StatusOr<Tensor> y =
            client->Pool("max_pool2d", small, Kernel({2}), call);
        absl::MutexLock lock(&mu);
        if (y.ok()) {
          if (Values(*y) != std::vector<float>{5, 7, 13, 15}) {
            load_problems.push_back("wrong result");
          }
          ++load_ok;
        } else if (y.status().code() == absl::StatusCode::kUnavailable ||
                   y.status() == absl::CancelledError("CANCELLED")) {
          // Refused: the server no longer accepts calls. A call whose
          // stream reached the server as it began shutting down, but that
          // never reached the service, is cancelled by gRPC itself with
          // the bare message "CANCELLED" (the service's own cancellations
          // say why). Accepted calls are the slow ones, checked below.
          return;
        } else {
          load_problems.push_back(y.status().ToString());
          return;
        }
      }
    });
  }
  ASSERT_TRUE(WaitForMetric(*server, "grpc_server_started_total",
                            {"grpc_method=\"Pool\""}, kAccepted + 10));
  server->Signal(SIGTERM);
  absl::StatusOr<int> code = server->Wait(kPatience);
  stop_load.store(true);
  for (std::thread& t : threads) t.join();
  std::move(join_all).Cancel();

  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server->Output();
  EXPECT_THAT(server->Output(), HasSubstr("stopped"));
  for (int i = 0; i < kAccepted; ++i) {
    ASSERT_TRUE(accepted[i].ok())
        << "accepted call " << i << ": " << accepted[i].status();
    EXPECT_TRUE(SameTensor(*accepted[i], slow_want->output)) << i;
  }
  EXPECT_GT(load_ok, 0);
  for (const std::string& p : load_problems) {
    ADD_FAILURE() << p << "\nserver output:\n" << server->Output();
  }
}

TEST(Shutdown, IdleServerExitsZeroOnSigint) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  server->Signal(SIGINT);
  absl::StatusOr<int> code = server->Wait(kPatience);
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server->Output();
}

// ----------------------------------------------------------------------------
// TLS and mutual TLS, with certificates made for this test.

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir_template[] = "/tmp/poolcat_tls_XXXXXX";
    ASSERT_NE(mkdtemp(dir_template), nullptr);
    dir_ = new std::string(dir_template);
    const std::string command =
        absl::StrCat(POOLCAT_GEN_CERTS, " ", *dir_, " >/dev/null");
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }
  static std::string Pem(const std::string& name) {
    std::ifstream in(Path(name));
    std::stringstream s;
    s << in.rdbuf();
    EXPECT_FALSE(s.str().empty()) << name;
    return s.str();
  }
  static std::vector<std::string> ServerFlags(bool mutual) {
    std::vector<std::string> flags = {"--tls_cert=" + Path("server.pem"),
                                      "--tls_key=" + Path("server.key")};
    if (mutual) flags.push_back("--tls_client_ca=" + Path("ca.pem"));
    return flags;
  }
  // Health over TLS with the given client credentials.
  static absl::StatusOr<ServingStatus> Check(const ServerProcess& server,
                                             TlsOptions tls) {
    ClientOptions options;
    options.target = server.address();
    options.tls = std::move(tls);
    options.retry.max_attempts = 1;
    options.default_deadline = absl::Seconds(30);
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->Health();
  }
  static TlsOptions Trusting(const std::string& ca) {
    TlsOptions tls;
    tls.enabled = true;
    tls.root_ca_pem = Pem(ca);
    return tls;
  }

  static std::string* dir_;
};
std::string* Tls::dir_ = nullptr;

TEST_F(Tls, ClientTrustingTheCaConnects) {
  auto server = StartServer(ServerFlags(false));
  ASSERT_NE(server, nullptr);
  absl::StatusOr<ServingStatus> s = Check(*server, Trusting("ca.pem"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, ServingStatus::kServing);

  // Pool over TLS too, with the certificate's DNS name instead of the IP.
  ClientOptions options;
  options.tls = Trusting("ca.pem");
  options.tls.server_name_override = "poolcat.test";
  auto client = Connect(server->address(), options);
  absl::StatusOr<Tensor> y = client->Pool(
      "max_pool2d", Float32({1, 1, 4, 4}, Range(16)), Kernel({3}, {2}, {1}));
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(Values(*y), (std::vector<float>{5, 7, 13, 15}));
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST_F(Tls, PlaintextClientAndUntrustingClientAreRejected) {
  auto server = StartServer(ServerFlags(false));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Check(*server, TlsOptions()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Check(*server, Trusting("other_ca.pem")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(*server->Stop(), 0);
}

TEST_F(Tls, MutualTlsAcceptsACertificateFromTheClientCa) {
  auto server = StartServer(ServerFlags(true));
  ASSERT_NE(server, nullptr);
  TlsOptions tls = Trusting("ca.pem");
  tls.client_cert_pem = Pem("client.pem");
  tls.client_key_pem = Pem("client.key");
  absl::StatusOr<ServingStatus> s = Check(*server, tls);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, ServingStatus::kServing);
  EXPECT_EQ(*server->Stop(), 0);
}

TEST_F(Tls, MutualTlsRejectsAClientWithoutCertificate) {
  auto server = StartServer(ServerFlags(true));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Check(*server, Trusting("ca.pem")).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(*server->Stop(), 0);
}

TEST_F(Tls, MutualTlsRejectsACertificateFromAnotherCa) {
  auto server = StartServer(ServerFlags(true));
  ASSERT_NE(server, nullptr);
  TlsOptions tls = Trusting("ca.pem");
  tls.client_cert_pem = Pem("other_client.pem");
  tls.client_key_pem = Pem("other_client.key");
  EXPECT_EQ(Check(*server, tls).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(*server->Stop(), 0);
}

}  // namespace
}  // namespace poolcat
