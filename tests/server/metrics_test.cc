#include "server/metrics.h"

#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace poolcat::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Scrape(const Metrics& metrics) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : metrics.Collectables()) {
    for (auto& family : collectable->Collect())
      families.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(families);
}

// The value of the sample line that starts with `series` ("name{labels}" or
// "name"), or -1 when there is none.
double Sample(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  size_t at = 0;
  while ((at = text.find(prefix, at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n')
      return std::stod(text.substr(at + prefix.size()));
    at += prefix.size();
  }
  return -1;
}

constexpr char kPoolLabels[] =
    "grpc_method=\"Pool\",grpc_service=\"poolcat.v1.PoolCat\",grpc_type="
    "\"unary\"";

TEST(SplitFullMethod, SplitsServiceAndMethod) {
  EXPECT_EQ(
      SplitFullMethod("/poolcat.v1.PoolCat/Pool"),
      (std::pair<std::string, std::string>{"poolcat.v1.PoolCat", "Pool"}));
  EXPECT_EQ(SplitFullMethod("weird").first, "unknown");
}

TEST(GrpcCodeName, SpellsCodesAsGoGrpcPrometheus) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT),
            "InvalidArgument");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED),
            "ResourceExhausted");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

TEST(Metrics, RecordsStartedMessagesHandledAndLatencyPerMethodAndCode) {
  Metrics metrics;
  const Metrics::MethodSeries& pool =
      metrics.Series("/poolcat.v1.PoolCat/Pool", "unary");
  EXPECT_EQ(&pool, &metrics.Series("/poolcat.v1.PoolCat/Pool", "unary"));
  metrics.RpcStarted(pool);
  metrics.RpcStarted(pool);
  metrics.MessageReceived(pool);
  metrics.MessageReceived(pool);
  metrics.MessageSent(pool);
  metrics.RpcHandled(pool, grpc::StatusCode::OK, 0.002);
  metrics.RpcHandled(pool, grpc::StatusCode::INVALID_ARGUMENT, 0.0001);
  const std::string text = Scrape(metrics);
  const std::string labels = kPoolLabels;
  EXPECT_EQ(Sample(text, "grpc_server_started_total{" + labels + "}"), 2)
      << text;
  EXPECT_EQ(Sample(text, "grpc_server_msg_received_total{" + labels + "}"), 2);
  EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total{" + labels + "}"), 1);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total{grpc_code=\"OK\"," +
                             labels + "}"),
            1);
  EXPECT_EQ(
      Sample(text, "grpc_server_handled_total{grpc_code=\"InvalidArgument\"," +
                       labels + "}"),
      1);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_count{" + labels + "}"),
            2);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_bucket{" + labels +
                             ",le=\"0.0001\"}"),
            1);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_bucket{" + labels +
                             ",le=\"0.0025\"}"),
            2);
}

TEST(Metrics, ExportsEveryServedMethodAndCodeAtZeroBeforeAnyCall) {
  const std::string text = Scrape(Metrics());
  for (const char* method : {"Pool", "Concat", "Echo"}) {
    const std::string labels =
        absl::StrCat("grpc_method=\"", method,
                     "\",grpc_service=\"poolcat.v1.PoolCat\","
                     "grpc_type=\"unary\"");
    EXPECT_EQ(Sample(text, "grpc_server_started_total{" + labels + "}"), 0)
        << method;
    EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total{" + labels + "}"), 0)
        << method;
    for (int code = 0;
         code <= static_cast<int>(grpc::StatusCode::UNAUTHENTICATED); ++code) {
      EXPECT_EQ(
          Sample(text,
                 absl::StrCat("grpc_server_handled_total{grpc_code=\"",
                              GrpcCodeName(static_cast<grpc::StatusCode>(code)),
                              "\",", labels, "}")),
          0)
          << method << " " << code;
    }
  }
  EXPECT_EQ(
      Sample(
          text,
          "grpc_server_started_total{grpc_method=\"Check\",grpc_service=\"grpc."
          "health.v1.Health\",grpc_type=\"unary\"}"),
      0);
}

TEST(Metrics, LabelsMethodsTheServerDoesNotServeAsUnknown) {
  Metrics metrics;
  const Metrics::MethodSeries& a =
      metrics.Series("/poolcat.v1.PoolCat/Nope", "bidi_stream");
  const Metrics::MethodSeries& b =
      metrics.Series("/made.Up/Name123", "bidi_stream");
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.service, "unknown");
  EXPECT_EQ(a.method, "unknown");
  EXPECT_EQ(&metrics.Series("/poolcat.v1.PoolCat/Pool", "client_stream"), &a);
  EXPECT_EQ(metrics.Series("/grpc.health.v1.Health/Check", "unary").method,
            "Check");
  metrics.RpcStarted(b);
  EXPECT_THAT(Scrape(metrics), Not(HasSubstr("Name123")));
}

TEST(Metrics, ExportsThePoolcatFamilies) {
  Metrics::Options options;
  options.buffer_pool_bytes = [] { return 1234.0; };
  options.malloc_kept_bytes = [] { return 99.0; };
  Metrics metrics(options);
  metrics.ComputationAdmitted();
  metrics.Rejected(RejectReason::kOverConcurrency);
  metrics.Rejected(RejectReason::kInvalid);
  metrics.Rejected(RejectReason::kInvalid);
  metrics.BytesIn(100);
  metrics.BytesOut(25);
  metrics.SetComputeThreads(2);
  metrics.SetMaxConcurrent(64);
  metrics.CallCreated();
  const std::string text = Scrape(metrics);
  EXPECT_EQ(Sample(text, "poolcat_inflight_computations"), 1) << text;
  EXPECT_EQ(Sample(text, "poolcat_inflight_requests"), 1);
  EXPECT_EQ(Sample(text, "poolcat_rejected_total{reason=\"too_large\"}"), 0);
  EXPECT_EQ(Sample(text, "poolcat_rejected_total{reason=\"over_concurrency\"}"),
            1);
  EXPECT_EQ(Sample(text, "poolcat_rejected_total{reason=\"invalid\"}"), 2);
  EXPECT_EQ(Sample(text, "poolcat_bytes_in_total"), 100);
  EXPECT_EQ(Sample(text, "poolcat_bytes_out_total"), 25);
  EXPECT_EQ(Sample(text, "poolcat_compute_threads"), 2);
  EXPECT_EQ(Sample(text, "poolcat_max_concurrent_computations"), 64);
  EXPECT_EQ(Sample(text, "poolcat_buffer_pool_bytes"), 1234);
  EXPECT_EQ(Sample(text, "poolcat_malloc_kept_bytes"), 99);
  metrics.CallDestroyed();
}

TEST(Metrics, BuildInfoIsOneWithVersionAndSimdTarget) {
  const std::string text = Scrape(Metrics());
  const std::string series =
      absl::StrCat("poolcat_build_info{simd_target=\"", SimdTargetName(),
                   "\",version=\"", POOLCAT_TEST_VERSION, "\"}");
  EXPECT_EQ(Sample(text, series), 1) << text;
  EXPECT_NE(SimdTargetName(), "");
  EXPECT_NE(SimdTargetName(), "none");
}

TEST(Metrics, ProcessMetricsDescribeThisProcess) {
  const std::string text = Scrape(Metrics());
  EXPECT_GE(Sample(text, "process_cpu_seconds_total"), 0) << text;
  EXPECT_GT(Sample(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(Sample(text, "process_virtual_memory_bytes"),
            Sample(text, "process_resident_memory_bytes"));
  // stdin, stdout and stderr at least.
  EXPECT_GE(Sample(text, "process_open_fds"), 3);
  EXPECT_GE(Sample(text, "process_max_fds"), Sample(text, "process_open_fds"));
  const double start = Sample(text, "process_start_time_seconds");
  EXPECT_LE(start, static_cast<double>(std::time(nullptr)) + 1);
  // Started after 2020-01-01: a real epoch time, not seconds since boot.
  EXPECT_GT(start, 1577836800);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter"));
  EXPECT_THAT(text, HasSubstr("# TYPE process_open_fds gauge"));
}

TEST(Metrics, ObservesStagesAndOpsUnderTheirLabels) {
  Metrics metrics;
  Metrics::StageTimer stages = metrics.StartStages(nullptr);
  ASSERT_TRUE(stages.active());
  EXPECT_GE(stages.Mark(Stage::kDecode), 0);
  stages.Mark(Stage::kQueueWait);
  metrics.ObserveOp(OpIdOf(PoolOp{PoolKind::kAvg, 3}),
                    stages.Mark(Stage::kCompute));
  metrics.ObserveOp(kCatOp, 0.5);
  metrics.ObserveStage(Stage::kEncode, 0.25);
  const std::string text = Scrape(metrics);
  for (const char* stage : {"decode", "queue_wait", "compute", "encode"}) {
    EXPECT_EQ(Sample(text, absl::StrCat("poolcat_stage_seconds_count{stage=\"",
                                        stage, "\"}")),
              1)
        << stage;
  }
  EXPECT_EQ(Sample(text, "poolcat_stage_seconds_sum{stage=\"encode\"}"), 0.25);
  EXPECT_EQ(Sample(text, "poolcat_op_seconds_count{op=\"avg_pool3d\"}"), 1);
  EXPECT_EQ(Sample(text, "poolcat_op_seconds_count{op=\"max_pool2d\"}"), 0);
  EXPECT_EQ(Sample(text, "poolcat_op_seconds_sum{op=\"cat\"}"), 0.5);
}

TEST(Metrics, OpLabelsAreExactlyTheOpsTheCoreServes) {
  std::set<std::string> names;
  for (OpId op = 0; op < kNumOps; ++op) {
    const std::string name = OpName(op);
    if (name.empty()) continue;
    names.insert(name);
    if (name == "cat") continue;
    absl::StatusOr<PoolOp> parsed = ParsePoolOp(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(OpIdOf(*parsed), op) << name;
  }
  EXPECT_EQ(names.size(), 15u);  // 5 kinds x 3 ranks, no lp_pool3d, and cat.
  EXPECT_EQ(names.count("lp_pool3d"), 0u);
  EXPECT_EQ(names.count("adaptive_avg_pool1d"), 1u);
  const std::string text = Scrape(Metrics());
  for (const std::string& name : names) {
    EXPECT_EQ(Sample(text, "poolcat_op_seconds_count{op=\"" + name + "\"}"), 0)
        << name;
  }
}

TEST(Metrics, RejectReasonFollowsTheStatusCode) {
  EXPECT_EQ(RejectReasonFor(absl::StatusCode::kResourceExhausted),
            RejectReason::kTooLarge);
  EXPECT_EQ(RejectReasonFor(absl::StatusCode::kInvalidArgument),
            RejectReason::kInvalid);
  EXPECT_EQ(RejectReasonFor(absl::StatusCode::kOutOfRange),
            RejectReason::kInvalid);
  EXPECT_EQ(RejectReasonName(RejectReason::kOverConcurrency),
            "over_concurrency");
  EXPECT_EQ(StageName(Stage::kQueueWait), "queue_wait");
}

TEST(Metrics, SumsWhatManyThreadsRecordConcurrently) {
  Metrics metrics;
  const Metrics::MethodSeries& pool =
      metrics.Series("/poolcat.v1.PoolCat/Pool", "unary");
  constexpr int kThreads = 40;  // More than the shards: some threads share one.
  constexpr int kCalls = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kCalls; ++i) {
        metrics.RpcStarted(pool);
        metrics.RpcHandled(pool, grpc::StatusCode::OK, 0.001);
        metrics.BytesIn(3);
        metrics.ObserveOp(kCatOp, 0.5);
        metrics.ComputationAdmitted();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  // Done on another thread than admitted: the gauge still sums to 0.
  std::thread([&] {
    for (int i = 0; i < kThreads * kCalls; ++i) metrics.ComputationDone();
  }).join();
  const std::string text = Scrape(metrics);
  const double n = kThreads * kCalls;
  EXPECT_EQ(Sample(text, "grpc_server_started_total{" +
                             std::string(kPoolLabels) + "}"),
            n);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total{grpc_code=\"OK\"," +
                             std::string(kPoolLabels) + "}"),
            n);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_bucket{" +
                             std::string(kPoolLabels) + ",le=\"0.001\"}"),
            n);
  EXPECT_EQ(Sample(text, "poolcat_bytes_in_total"), 3 * n);
  EXPECT_EQ(Sample(text, "poolcat_op_seconds_count{op=\"cat\"}"), n);
  EXPECT_DOUBLE_EQ(Sample(text, "poolcat_op_seconds_sum{op=\"cat\"}"), 0.5 * n);
  EXPECT_EQ(Sample(text, "poolcat_inflight_computations"), 0);
}

TEST(Metrics, RecordsNothingWhenNotRecording) {
  Metrics::Options options;
  options.recording = false;
  Metrics metrics(options);
  const Metrics::MethodSeries& pool =
      metrics.Series("/poolcat.v1.PoolCat/Pool", "unary");
  metrics.RpcStarted(pool);
  metrics.MessageReceived(pool);
  metrics.RpcHandled(pool, grpc::StatusCode::OK, 0.1);
  metrics.Rejected(RejectReason::kInvalid);
  metrics.BytesIn(10);
  metrics.ComputationAdmitted();
  Metrics::StageTimer stages = metrics.StartStages(nullptr);
  EXPECT_FALSE(stages.active());
  EXPECT_EQ(stages.Mark(Stage::kDecode), 0);
  metrics.ObserveOp(kCatOp, 1);
  // Live calls are still tracked: shutdown waits for them.
  metrics.CallCreated();
  EXPECT_EQ(metrics.active_calls(), 1);
  metrics.CallDestroyed();
  const std::string text = Scrape(metrics);
  EXPECT_EQ(Sample(text, "grpc_server_started_total{" +
                             std::string(kPoolLabels) + "}"),
            0);
  EXPECT_EQ(Sample(text, "poolcat_rejected_total{reason=\"invalid\"}"), 0);
  EXPECT_EQ(Sample(text, "poolcat_bytes_in_total"), 0);
  EXPECT_EQ(Sample(text, "poolcat_inflight_computations"), 0);
  EXPECT_EQ(Sample(text, "poolcat_op_seconds_count{op=\"cat\"}"), 0);
  EXPECT_EQ(Sample(text, "poolcat_stage_seconds_count{stage=\"decode\"}"), 0);
}

}  // namespace
}  // namespace poolcat::server
