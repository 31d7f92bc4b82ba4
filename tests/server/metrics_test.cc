#include "server/metrics.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace poolcat::server {
namespace {

using ::testing::HasSubstr;

std::string Scrape(const Metrics& metrics) {
  auto families = metrics.registry()->Collect();
  for (auto& f : metrics.scrape_time_gauges()->Collect()) families.push_back(f);
  return prometheus::TextSerializer().Serialize(families);
}

TEST(SplitFullMethod, SplitsServiceAndMethod) {
  EXPECT_EQ(SplitFullMethod("/poolcat.v1.PoolCat/Pool"),
            (std::pair<std::string, std::string>{"poolcat.v1.PoolCat", "Pool"}));
  EXPECT_EQ(SplitFullMethod("weird").first, "unknown");
}

TEST(GrpcCodeName, SpellsCodesAsGoGrpcPrometheus) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT), "InvalidArgument");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED), "ResourceExhausted");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

TEST(Metrics, RecordsStartedHandledAndLatencyPerMethodAndCode) {
  Metrics metrics;
  Metrics::MethodSeries& pool = metrics.Series("/poolcat.v1.PoolCat/Pool", "unary");
  EXPECT_EQ(&pool, &metrics.Series("/poolcat.v1.PoolCat/Pool", "unary"));
  Metrics::RpcStarted(pool);
  Metrics::RpcStarted(pool);
  metrics.RpcHandled(pool, grpc::StatusCode::OK, 0.002);
  metrics.RpcHandled(pool, grpc::StatusCode::INVALID_ARGUMENT, 0.0001);
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("grpc_server_started_total{grpc_method=\"Pool\","
                              "grpc_service=\"poolcat.v1.PoolCat\",grpc_type=\"unary\"} 2"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handled_total{grpc_code=\"InvalidArgument\","
                              "grpc_method=\"Pool\",grpc_service=\"poolcat.v1.PoolCat\","
                              "grpc_type=\"unary\"} 1"));
  EXPECT_THAT(text, HasSubstr("grpc_server_handling_seconds_count{grpc_method=\"Pool\""));
}

TEST(Metrics, LabelsMethodsTheServerDoesNotServeAsUnknown) {
  Metrics metrics;
  Metrics::MethodSeries& a = metrics.Series("/poolcat.v1.PoolCat/Nope", "bidi_stream");
  Metrics::MethodSeries& b = metrics.Series("/made.Up/Name123", "bidi_stream");
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(a.service, "unknown");
  EXPECT_EQ(a.method, "unknown");
  EXPECT_EQ(metrics.Series("/grpc.health.v1.Health/Check", "unary").method, "Check");
}

TEST(Metrics, ExportsThePoolcatFamilies) {
  Metrics metrics([] { return 1234.0; }, [] { return 99.0; });
  metrics.ComputationAdmitted();
  metrics.RejectedTooManyConcurrent();
  metrics.BytesIn(100);
  metrics.BytesOut(25);
  metrics.SetComputeThreads(2);
  metrics.SetMaxConcurrent(64);
  const std::string text = Scrape(metrics);
  EXPECT_THAT(text, HasSubstr("poolcat_inflight_computations 1"));
  EXPECT_THAT(text, HasSubstr("poolcat_rejected_total{reason=\"max_concurrent\"} 1"));
  EXPECT_THAT(text, HasSubstr("poolcat_bytes_in_total 100"));
  EXPECT_THAT(text, HasSubstr("poolcat_bytes_out_total 25"));
  EXPECT_THAT(text, HasSubstr("poolcat_compute_threads 2"));
  EXPECT_THAT(text, HasSubstr("poolcat_max_concurrent_computations 64"));
  EXPECT_THAT(text, HasSubstr("poolcat_buffer_pool_bytes 1234"));
  EXPECT_THAT(text, HasSubstr("poolcat_malloc_kept_bytes 99"));
}

}  // namespace
}  // namespace poolcat::server
