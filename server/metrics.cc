#include "server/metrics.h"

#include <chrono>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

namespace poolcat::server {
namespace {

// Handling-time buckets in seconds: from a tiny pool (tens of microseconds)
// to a multi-hundred-MiB round trip (seconds).
const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* const kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return *kBuckets;
}

// Gauges computed when scraped rather than pushed by the code.
class ScrapeTimeGauges : public prometheus::Collectable {
 public:
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> read;
  };
  explicit ScrapeTimeGauges(std::vector<Gauge> gauges) : gauges_(std::move(gauges)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    for (const Gauge& gauge : gauges_) {
      if (!gauge.read) continue;
      prometheus::MetricFamily family;
      family.name = gauge.name;
      family.help = gauge.help;
      family.type = prometheus::MetricType::Gauge;
      prometheus::ClientMetric metric;
      metric.gauge.value = gauge.read();
      family.metric.push_back(std::move(metric));
      families.push_back(std::move(family));
    }
    return families;
  }

 private:
  std::vector<Gauge> gauges_;
};

bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL || code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS;
}

// gRPC's callback API answers a request body that does not parse with a
// bare UNIMPLEMENTED, which would send a client looking for a missing method.
// Our handlers never return UNIMPLEMENTED, so on our service that status
// means a malformed request: a bad argument.
bool IsUndecodableRequest(const Metrics::MethodSeries& series, const grpc::Status& status) {
  // A method the server does not have comes through gRPC's generic
  // (bidi_stream) handler and keeps its UNIMPLEMENTED.
  return status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
         status.error_message().empty() && series.service == "poolcat.v1.PoolCat" &&
         series.type == "unary";
}

// Methods the server serves. Any other name a client sends is counted as
// grpc_service="unknown", grpc_method="unknown", so made-up names cannot grow
// the label set without bound.
bool IsServedMethod(absl::string_view service, absl::string_view method) {
  if (service == "poolcat.v1.PoolCat") {
    return method == "Pool" || method == "Concat" || method == "Echo";
  }
  if (service == "grpc.health.v1.Health") return method == "Check" || method == "Watch";
  return service == "grpc.reflection.v1alpha.ServerReflection" &&
         method == "ServerReflectionInfo";
}

absl::string_view RpcTypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY: return "unary";
    case Type::CLIENT_STREAMING: return "client_stream";
    case Type::SERVER_STREAMING: return "server_stream";
    case Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unknown";
}

// Times one RPC: started when gRPC creates it (at call start), handled when
// the status is about to be sent.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        series_(metrics->Series(info->method() == nullptr ? "" : info->method(),
                                RpcTypeName(info->type()))),
        start_(std::chrono::steady_clock::now()) {
    metrics_->CallCreated();
    Metrics::RpcStarted(series_);
  }
  // gRPC destroys interceptors with the call, after its last operation.
  ~MetricsInterceptor() override { metrics_->CallDestroyed(); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
      grpc::Status status = methods->GetSendStatus();
      if (IsUndecodableRequest(series_, status)) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request is not a valid protobuf message for /" + series_.service +
                                  "/" + series_.method);
        methods->ModifySendStatus(status);
      }
      metrics_->RpcHandled(series_, status.error_code(), elapsed.count());
      if (IsServerFault(status.error_code())) {
        // Client mistakes are answered and counted, not logged; a server
        // fault gets one log line.
        std::cerr << "poolcat-server error: /" << series_.service << "/" << series_.method
                  << " failed " << GrpcCodeName(status.error_code()) << ": "
                  << status.error_message() << std::endl;
      }
    }
    methods->Proceed();
  }

 private:
  Metrics* metrics_;
  Metrics::MethodSeries& series_;
  std::chrono::steady_clock::time_point start_;
};

class MetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info);
  }

 private:
  Metrics* metrics_;
};

}  // namespace

std::pair<std::string, std::string> SplitFullMethod(absl::string_view full_method) {
  if (!full_method.empty() && full_method.front() == '/') full_method.remove_prefix(1);
  const size_t slash = full_method.rfind('/');
  if (slash == absl::string_view::npos) return {"unknown", std::string(full_method)};
  return {std::string(full_method.substr(0, slash)),
          std::string(full_method.substr(slash + 1))};
}

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  static constexpr absl::string_view kNames[] = {
      "OK",           "Canceled",           "Unknown",           "InvalidArgument",
      "DeadlineExceeded", "NotFound",       "AlreadyExists",     "PermissionDenied",
      "ResourceExhausted", "FailedPrecondition", "Aborted",      "OutOfRange",
      "Unimplemented", "Internal",          "Unavailable",       "DataLoss",
      "Unauthenticated"};
  const int i = static_cast<int>(code);
  if (i < 0 || i >= static_cast<int>(std::size(kNames))) return "Unknown";
  return kNames[i];
}

Metrics::Metrics(std::function<double()> buffer_pool_bytes,
                 std::function<double()> malloc_kept_bytes)
    : registry_(std::make_shared<prometheus::Registry>()),
      scrape_time_(std::make_shared<ScrapeTimeGauges>(std::vector<ScrapeTimeGauges::Gauge>{
          {"poolcat_buffer_pool_bytes",
           "Tensor buffers kept for reuse by the next large call (bytes, bounded by "
           "--max_retained_bytes)",
           std::move(buffer_pool_bytes)},
          {"poolcat_malloc_kept_bytes",
           "Estimate of freed memory malloc keeps instead of returning it to the kernel "
           "(bytes, trimmed past --max_retained_bytes)",
           std::move(malloc_kept_bytes)}})),
      started_family_(prometheus::BuildCounter()
                          .Name("grpc_server_started_total")
                          .Help("Total number of RPCs started on the server")
                          .Register(*registry_)),
      handled_family_(prometheus::BuildCounter()
                          .Name("grpc_server_handled_total")
                          .Help("Total number of RPCs completed on the server, "
                                "regardless of success or failure")
                          .Register(*registry_)),
      seconds_family_(prometheus::BuildHistogram()
                          .Name("grpc_server_handling_seconds")
                          .Help("Histogram of response latency (seconds) of gRPC "
                                "that had been application-level handled by the server")
                          .Register(*registry_)),
      inflight_(prometheus::BuildGauge()
                    .Name("poolcat_inflight_computations")
                    .Help("Computations admitted to the compute pool (queued or running)")
                    .Register(*registry_)
                    .Add({})),
      rejected_family_(prometheus::BuildCounter()
                           .Name("poolcat_rejected_total")
                           .Help("Calls refused by a server limit before computing")
                           .Register(*registry_)),
      rejected_concurrency_(rejected_family_.Add({{"reason", "max_concurrent"}})),
      bytes_in_(prometheus::BuildCounter()
                    .Name("poolcat_bytes_in_total")
                    .Help("Tensor payload bytes received in requests")
                    .Register(*registry_)
                    .Add({})),
      bytes_out_(prometheus::BuildCounter()
                     .Name("poolcat_bytes_out_total")
                     .Help("Tensor payload bytes sent in responses")
                     .Register(*registry_)
                     .Add({})),
      compute_threads_(prometheus::BuildGauge()
                           .Name("poolcat_compute_threads")
                           .Help("OpenMP threads the compute pool shares among computations")
                           .Register(*registry_)
                           .Add({})),
      max_concurrent_(prometheus::BuildGauge()
                          .Name("poolcat_max_concurrent_computations")
                          .Help("Cap on admitted computations (--max_concurrent); past it, "
                                "calls are RESOURCE_EXHAUSTED")
                          .Register(*registry_)
                          .Add({})) {}

Metrics::MethodSeries& Metrics::Series(absl::string_view full_method, absl::string_view type) {
  auto [service, method] = SplitFullMethod(full_method);
  if (!IsServedMethod(service, method)) service = method = "unknown";
  const std::string key = absl::StrCat(service, "/", method, "#", type);
  std::lock_guard<std::mutex> lock(series_mu_);
  std::unique_ptr<MethodSeries>& slot = series_[key];
  if (slot == nullptr) {
    slot = std::make_unique<MethodSeries>();
    slot->service = std::move(service);
    slot->method = std::move(method);
    slot->type = std::string(type);
    const prometheus::Labels labels = {
        {"grpc_type", slot->type}, {"grpc_service", slot->service}, {"grpc_method", slot->method}};
    slot->started = &started_family_.Add(labels);
    slot->seconds = &seconds_family_.Add(labels, LatencyBuckets());
  }
  return *slot;
}

void Metrics::RpcHandled(MethodSeries& series, grpc::StatusCode code, double seconds) {
  series.seconds->Observe(seconds);
  const int i = static_cast<int>(code);
  if (i < 0 || i >= static_cast<int>(series.handled.size())) return;
  prometheus::Counter* counter = series.handled[i].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the same series for the same labels, so a race
    // here only stores the same pointer twice.
    counter = &handled_family_.Add({{"grpc_type", series.type},
                                    {"grpc_service", series.service},
                                    {"grpc_method", series.method},
                                    {"grpc_code", std::string(GrpcCodeName(code))}});
    series.handled[i].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace poolcat::server
