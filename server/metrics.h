// Every metric the server exports, defined in one place.
//
// RPC metrics follow the grpc-ecosystem (go-grpc-prometheus) names and
// labels, so stock dashboards and alerts work unchanged:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}  histogram
//   grpc_server_msg_received_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_msg_sent_total{grpc_type,grpc_service,grpc_method}
// They are recorded by one interceptor (NewInterceptorFactory), never by the
// handlers. The same interceptor turns gRPC's bare UNIMPLEMENTED for an
// unparsable request body into INVALID_ARGUMENT before it is counted.
//
// poolcat's own:
//   poolcat_op_seconds{op}  histogram: computing one op's output (op from the
//       fixed set: the pooling ops' PyTorch names and "cat"; never shapes or
//       other client values)
//   poolcat_stage_seconds{stage}  histogram: where the time of a Pool or
//       Concat call goes; stage is one of
//         decode      call start to a validated plan (gRPC parses the
//                     request, convert.h checks it, core plans the op)
//         queue_wait  admitted to the compute pool until a worker starts it
//                     (0 for tiny work, which runs inline)
//         compute     allocating the output and running the kernel
//         encode      serialising the response message
//   poolcat_bytes_in_total / poolcat_bytes_out_total  tensor payload bytes
//   poolcat_inflight_requests  RPCs in progress (all services)
//   poolcat_inflight_computations  admitted computations (queued or running)
//   poolcat_rejected_total{reason}  calls refused before computing; reason:
//       too_large (a tensor or the response over a limit), over_concurrency
//       (--max_concurrent computations already admitted), invalid (a bad
//       or undecodable request). A request over --max_message_bytes is
//       refused by gRPC's transport before any interceptor sees it: it is
//       in no metric.
//   poolcat_compute_threads  OpenMP threads of the compute pool
//   poolcat_max_concurrent_computations  the --max_concurrent cap
//   poolcat_buffer_pool_bytes  tensor buffers kept for reuse (message pools)
//   poolcat_malloc_kept_bytes  estimate of freed memory malloc keeps
//   poolcat_build_info{version,simd_target}  always 1
// and the process metrics Prometheus client libraries publish, read from
// /proc on each scrape: process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds.
//
// Recording costs a few relaxed atomic additions per call on cache lines of
// the calling thread's own shard: every series is fixed at start and found
// by index, so the hot path takes no map lookup, lock or allocation, and
// concurrent calls do not contend. The series become Prometheus families
// only on scrape. With `recording` off (metrics not exported) nothing is
// recorded at all.
#ifndef POOLCAT_SERVER_METRICS_H_
#define POOLCAT_SERVER_METRICS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "core/pool.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/collectable.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace poolcat::server {

// poolcat_stage_seconds{stage}: label values in StageName.
enum class Stage { kDecode, kQueueWait, kCompute, kEncode };
inline constexpr int kNumStages = 4;
absl::string_view StageName(Stage stage);

// poolcat_rejected_total{reason}: label values in RejectReasonName.
enum class RejectReason { kTooLarge, kOverConcurrency, kInvalid };
inline constexpr int kNumRejectReasons = 3;
absl::string_view RejectReasonName(RejectReason reason);
// Why a request that failed validation was refused: ResourceExhausted (a
// tensor or the response over a limit) is too_large, anything else invalid.
RejectReason RejectReasonFor(absl::StatusCode code);

// The op label of poolcat_op_seconds: an index into the fixed op set.
using OpId = int;
OpId OpIdOf(PoolOp op);
inline constexpr OpId kCatOp = 15;
inline constexpr int kNumOps = 16;  // 5 kinds x 3 ranks (lp has no 3-D) + cat.
// "max_pool2d", ..., "cat"; empty for an index that is no op.
std::string OpName(OpId op);

// The SIMD target Highway dispatches the kernels to on this CPU ("AVX2").
std::string SimdTargetName();

class Metrics {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    // False: nothing is recorded (no exporter would serve it); the
    // interceptor still tracks live calls and rewrites undecodable requests.
    bool recording = true;
    // Read on every scrape for poolcat_buffer_pool_bytes and
    // poolcat_malloc_kept_bytes; a null function leaves the gauge out.
    std::function<double()> buffer_pool_bytes;
    std::function<double()> malloc_kept_bytes;
  };

  explicit Metrics(Options options);
  Metrics() : Metrics(Options{}) {}
  ~Metrics();

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  bool recording() const { return recording_; }

  // What an exporter serves: the hot series, the registry, the scrape-time
  // gauges and the process metrics. Each may be collected from any thread.
  std::vector<std::shared_ptr<prometheus::Collectable>> Collectables() const;

  // One (method, type) the RPC metrics are labelled with; fixed at start.
  struct MethodSeries {
    int index = 0;
    std::string full_method;  // "/poolcat.v1.PoolCat/Pool"
    std::string service, method, type;
    bool computes = false;  // Pool or Concat: has call stages.
    // Pool is a raw method (server/request_parse.h): its handler parses the
    // request and serializes the response, so it counts the message
    // received (once parsed) and times the encode stage itself.
    bool raw_handler = false;
  };
  // `full_method` is gRPC's "/package.Service/Method"; `type` is "unary",
  // "server_stream"... A method the server does not serve is labelled
  // grpc_service="unknown", grpc_method="unknown" (gRPC hands such calls to
  // its generic handler as bidi_stream), so clients cannot grow the label
  // set. Thread-safe, lock-free; the result lives as long as *this.
  const MethodSeries& Series(absl::string_view full_method,
                             absl::string_view type) const;

  // Everything below records nothing unless recording(), and is lock-free.

  // RPC metrics, for the interceptor.
  void RpcStarted(const MethodSeries& series);
  void MessageReceived(const MethodSeries& series);
  void MessageSent(const MethodSeries& series);
  void RpcHandled(const MethodSeries& series, grpc::StatusCode code,
                  double seconds);

  // Calls whose gRPC call object still exists (from creation to the end of
  // every operation on it, status sent included): poolcat_inflight_requests,
  // and what Shutdown waits for. Kept even when not recording.
  int active_calls() const {
    return active_calls_.load(std::memory_order_acquire);
  }
  void CallCreated() { active_calls_.fetch_add(1, std::memory_order_acq_rel); }
  void CallDestroyed() {
    active_calls_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // The one interceptor that records the RPC metrics of every call.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // Times the stages of one Pool or Concat call. Each Mark observes the time
  // since the previous mark (the call's start for the first) under its stage
  // and returns it in seconds. Copyable, so a task can carry it to a worker.
  // An inactive timer (not recording) reads no clock and observes nothing.
  class StageTimer {
   public:
    StageTimer() = default;
    StageTimer(Metrics* metrics, Clock::time_point start)
        : metrics_(metrics), last_(start) {}
    double Mark(Stage stage);
    bool active() const { return metrics_ != nullptr; }

   private:
    Metrics* metrics_ = nullptr;
    Clock::time_point last_;
  };
  // A timer from the start of the call `context` belongs to. The
  // interceptor runs the handler from inside its own hook, so while a
  // handler runs its call's start is known on this thread; called from
  // anywhere else, the timer starts now.
  StageTimer StartStages(const grpc::ServerContextBase* context);
  void ObserveStage(Stage stage, double seconds);
  void ObserveOp(OpId op, double seconds);

  void ComputationAdmitted();
  void ComputationDone();
  void Rejected(RejectReason reason);
  void BytesIn(uint64_t n);
  void BytesOut(uint64_t n);
  void SetComputeThreads(int n) { compute_threads_.Set(n); }
  void SetMaxConcurrent(int n) { max_concurrent_.Set(n); }

 private:
  // The hot series (RPC metrics, ops, stages, rejections, bytes, computations
  // in flight) are plain atomics in per-thread shards: a thread always adds
  // to its own shard, so calls on different cores do not fight over cache
  // lines; a scrape sums the shards (HotFamilies).
  struct Shard;
  class HotFamilies;
  Shard& ThisThreadShard();
  void AddMethod(absl::string_view service, absl::string_view method,
                 absl::string_view type, bool computes = false,
                 bool raw_handler = false);

  const bool recording_;
  std::unique_ptr<Shard[]> shards_;
  std::vector<MethodSeries> methods_;  // Served, then the unknown one last.
  std::atomic<int> active_calls_{0};

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> hot_;
  std::shared_ptr<prometheus::Collectable> scrape_time_;
  std::shared_ptr<prometheus::Collectable> process_;
  prometheus::Gauge& compute_threads_;
  prometheus::Gauge& max_concurrent_;
};

// "/poolcat.v1.PoolCat/Pool" -> {"poolcat.v1.PoolCat", "Pool"}.
std::pair<std::string, std::string> SplitFullMethod(
    absl::string_view full_method);

// Name of a gRPC code as go-grpc-prometheus spells grpc_code ("OK",
// "InvalidArgument", "DeadlineExceeded"), so stock dashboards match.
absl::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_METRICS_H_
