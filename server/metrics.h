// Every metric family the server exports, defined in one place.
//
// RPC metrics follow the grpc-ecosystem (go-grpc-prometheus) names and
// labels, so stock dashboards and alerts work:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram)
// They are recorded by one interceptor (NewInterceptorFactory), never by the
// handlers. The same interceptor turns gRPC's bare UNIMPLEMENTED for an
// unparsable request body into INVALID_ARGUMENT before it is counted. The poolcat_* families describe the compute side:
//   poolcat_inflight_computations  admitted computations (queued or running)
//   poolcat_rejected_total{reason="max_concurrent"}  calls refused at the cap
//   poolcat_bytes_in_total / poolcat_bytes_out_total  tensor payload bytes
//   poolcat_buffer_pool_bytes  tensor buffers kept for reuse (message pools)
//   poolcat_malloc_kept_bytes  estimate of freed memory malloc keeps
//   poolcat_compute_threads  size of the compute pool
//   poolcat_max_concurrent_computations  the --max_concurrent cap
// All metrics live on one thread-safe prometheus::Registry.
#ifndef POOLCAT_SERVER_METRICS_H_
#define POOLCAT_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace poolcat::server {

class Metrics {
 public:
  // \param buffer_pool_bytes read on every scrape for poolcat_buffer_pool_bytes.
  // \param malloc_kept_bytes read on every scrape for poolcat_malloc_kept_bytes.
  explicit Metrics(std::function<double()> buffer_pool_bytes = nullptr,
                   std::function<double()> malloc_kept_bytes = nullptr);

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // What an exporter serves: the registry and the scrape-time gauges.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::shared_ptr<prometheus::Collectable> scrape_time_gauges() const { return scrape_time_; }

  // Series of one method, looked up once per RPC and kept (Family::Add's
  // references stay valid for the registry's life).
  struct MethodSeries {
    std::string service, method, type;
    prometheus::Counter* started = nullptr;
    prometheus::Histogram* seconds = nullptr;
    std::array<std::atomic<prometheus::Counter*>, 17> handled{};  // By code.
  };
  // `full_method` is gRPC's "/package.Service/Method"; `type` is "unary",
  // "server_stream"... A method the server does not serve is labelled
  // "unknown" (clients cannot grow the label set). Thread-safe; the result
  // lives as long as *this.
  MethodSeries& Series(absl::string_view full_method, absl::string_view type);

  // RPC metrics, for the interceptor.
  static void RpcStarted(MethodSeries& series) { series.started->Increment(); }
  void RpcHandled(MethodSeries& series, grpc::StatusCode code, double seconds);

  // Calls whose gRPC call object still exists (from creation to the end of
  // every operation on it, status sent included).
  int active_calls() const { return active_calls_.load(std::memory_order_acquire); }
  void CallCreated() { active_calls_.fetch_add(1, std::memory_order_acq_rel); }
  void CallDestroyed() { active_calls_.fetch_sub(1, std::memory_order_acq_rel); }

  // The one interceptor that calls RpcStarted/RpcHandled for every RPC.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  void ComputationAdmitted() { inflight_.Increment(); }
  void ComputationDone() { inflight_.Decrement(); }
  // A call refused because --max_concurrent computations were admitted.
  void RejectedTooManyConcurrent() { rejected_concurrency_.Increment(); }
  void BytesIn(double n) { bytes_in_.Increment(n); }
  void BytesOut(double n) { bytes_out_.Increment(n); }
  void SetComputeThreads(int n) { compute_threads_.Set(n); }
  void SetMaxConcurrent(int n) { max_concurrent_.Set(n); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> scrape_time_;
  prometheus::Family<prometheus::Counter>& started_family_;
  prometheus::Family<prometheus::Counter>& handled_family_;
  prometheus::Family<prometheus::Histogram>& seconds_family_;
  prometheus::Gauge& inflight_;
  prometheus::Family<prometheus::Counter>& rejected_family_;
  prometheus::Counter& rejected_concurrency_;
  prometheus::Counter& bytes_in_;
  prometheus::Counter& bytes_out_;
  prometheus::Gauge& compute_threads_;
  prometheus::Gauge& max_concurrent_;

  std::atomic<int> active_calls_{0};
  std::mutex series_mu_;
  std::unordered_map<std::string, std::unique_ptr<MethodSeries>> series_;  // By method + type.
};

// "/poolcat.v1.PoolCat/Pool" -> {"poolcat.v1.PoolCat", "Pool"}.
std::pair<std::string, std::string> SplitFullMethod(absl::string_view full_method);

// Name of a gRPC code as go-grpc-prometheus spells grpc_code ("OK",
// "InvalidArgument", "DeadlineExceeded"), so stock dashboards match.
absl::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_METRICS_H_
