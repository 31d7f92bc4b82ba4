#include "server/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cassert>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/pool_simd.h"
#include "prometheus/client_metric.h"
#include "prometheus/metric_family.h"

#ifndef POOLCAT_VERSION
#error "POOLCAT_VERSION must be defined by the build (server/CMakeLists.txt)"
#endif

namespace poolcat::server {
namespace {

using Clock = Metrics::Clock;

constexpr char kPoolCatService[] = "poolcat.v1.PoolCat";
constexpr int kNumCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED.

// Handling-time bucket bounds in seconds: from a tiny pool (tens of
// microseconds) to a multi-hundred-MiB round trip (seconds).
constexpr double kHandlingBounds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

// Op and stage bounds start lower: a tiny kernel or decode takes a few
// microseconds.
constexpr double kStageBounds[] = {0.000005, 0.00001, 0.000025, 0.00005, 0.0001,
                                   0.00025,  0.0005,  0.001,    0.0025,  0.005,
                                   0.01,     0.025,   0.05,     0.1,     0.25,
                                   0.5,      1,       2.5,      5,       10};

prometheus::MetricFamily OneSample(std::string name, std::string help,
                                   prometheus::MetricType type, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

// Gauges computed when scraped rather than pushed by the code.
class ScrapeTimeGauges : public prometheus::Collectable {
 public:
  struct Gauge {
    std::string name;
    std::string help;
    std::function<double()> read;
  };
  explicit ScrapeTimeGauges(std::vector<Gauge> gauges)
      : gauges_(std::move(gauges)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    for (const Gauge& gauge : gauges_) {
      if (!gauge.read) continue;
      families.push_back(OneSample(
          gauge.name, gauge.help, prometheus::MetricType::Gauge, gauge.read()));
    }
    return families;
  }

 private:
  std::vector<Gauge> gauges_;
};

// The process metrics of the Prometheus client libraries (client_golang's
// process collector: same names, units and sources), read from /proc on
// each scrape. prometheus-cpp has no such collector.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector()
      : ticks_per_second_(static_cast<double>(sysconf(_SC_CLK_TCK))),
        page_bytes_(static_cast<double>(sysconf(_SC_PAGESIZE))) {
    Stat stat;
    if (ReadStat(&stat) && ticks_per_second_ > 0) {
      start_time_seconds_ =
          BootTimeSeconds() + stat.start_ticks / ticks_per_second_;
    }
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> families;
    Stat stat;
    if (ReadStat(&stat) && ticks_per_second_ > 0) {
      families.push_back(
          OneSample("process_cpu_seconds_total",
                    "Total user and system CPU time spent in seconds.",
                    MetricType::Counter,
                    (stat.utime_ticks + stat.stime_ticks) / ticks_per_second_));
      families.push_back(OneSample("process_virtual_memory_bytes",
                                   "Virtual memory size in bytes.",
                                   MetricType::Gauge, stat.vsize_bytes));
      families.push_back(OneSample(
          "process_resident_memory_bytes", "Resident memory size in bytes.",
          MetricType::Gauge, stat.rss_pages * page_bytes_));
    }
    if (const int fds = OpenFds(); fds >= 0) {
      families.push_back(OneSample("process_open_fds",
                                   "Number of open file descriptors.",
                                   MetricType::Gauge, fds));
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      families.push_back(OneSample(
          "process_max_fds", "Maximum number of open file descriptors.",
          MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
    }
    if (start_time_seconds_ > 0) {
      families.push_back(
          OneSample("process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    MetricType::Gauge, start_time_seconds_));
    }
    return families;
  }

 private:
  struct Stat {
    double utime_ticks = 0, stime_ticks = 0, start_ticks = 0, vsize_bytes = 0,
           rss_pages = 0;
  };

  // /proc/self/stat, see proc(5): fields 14, 15 (utime, stime), 22
  // (starttime), 23 (vsize), 24 (rss). The command name (field 2) may hold
  // spaces and parentheses, so counting starts after its last ')'.
  static bool ReadStat(Stat* stat) {
    std::ifstream in("/proc/self/stat");
    std::string line;
    if (!std::getline(in, line)) return false;
    const size_t paren = line.rfind(')');
    if (paren == std::string::npos) return false;
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    for (int i = 3; i <= 24 && fields >> field; ++i) {
      double value = 0;
      if (i >= 14) value = std::strtod(field.c_str(), nullptr);
      if (i == 14) stat->utime_ticks = value;
      if (i == 15) stat->stime_ticks = value;
      if (i == 22) stat->start_ticks = value;
      if (i == 23) stat->vsize_bytes = value;
      if (i == 24) {
        stat->rss_pages = value;
        return true;
      }
    }
    return false;
  }

  // "btime" of /proc/stat: boot time, seconds since the epoch.
  static double BootTimeSeconds() {
    std::ifstream in("/proc/stat");
    std::string key;
    double value = 0;
    while (in >> key) {
      if (key == "btime" && in >> value) return value;
      in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return 0;
  }

  static int OpenFds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    int count = 0;
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    return count - 1;  // Not the descriptor reading the directory.
  }

  const double ticks_per_second_;
  const double page_bytes_;
  double start_time_seconds_ = 0;
};

bool IsServerFault(grpc::StatusCode code) {
  return code == grpc::StatusCode::INTERNAL ||
         code == grpc::StatusCode::UNKNOWN ||
         code == grpc::StatusCode::DATA_LOSS;
}

// gRPC's callback API answers a request body that does not parse with a
// bare UNIMPLEMENTED, which would send a client looking for a missing method.
// Our handlers never return UNIMPLEMENTED, so on our service that status
// means a malformed request: a bad argument.
bool IsUndecodableRequest(const Metrics::MethodSeries& series,
                          const grpc::Status& status) {
  // A method the server does not have comes through gRPC's generic
  // (bidi_stream) handler and keeps its UNIMPLEMENTED.
  return status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
         status.error_message().empty() && series.service == kPoolCatService &&
         series.type == "unary";
}

absl::string_view RpcTypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// The call whose handler runs on this thread, while it runs (see
// Metrics::StartStages).
struct RunningHandler {
  const grpc::ServerContextBase* context;
  Clock::time_point start;
};
thread_local const RunningHandler* running_handler = nullptr;

// Records one RPC: started when gRPC creates the call (before it parses the
// request), a message received once parsed, the response's encoding, and
// handled when the status is about to be sent.
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(Metrics* metrics, grpc::experimental::ServerRpcInfo* info)
      : metrics_(metrics),
        context_(info->server_context()),
        series_(metrics->Series(info->method() == nullptr ? "" : info->method(),
                                RpcTypeName(info->type()))),
        start_(metrics->recording() ? Clock::now() : Clock::time_point()) {
    metrics_->CallCreated();
    metrics_->RpcStarted(series_);
  }
  // gRPC destroys interceptors with the call, after its last operation.
  ~MetricsInterceptor() override { metrics_->CallDestroyed(); }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      if (methods->GetRecvMessage() != nullptr && !series_.raw_handler)
        metrics_->MessageReceived(series_);
      // Proceed runs the handler on this thread; let it find its start.
      // Once Proceed returns the call may be over and *this deleted.
      const RunningHandler handler{context_, start_};
      const RunningHandler* const outer = running_handler;
      running_handler = &handler;
      methods->Proceed();
      running_handler = outer;
      return;
    }
    Clock::time_point encoded;  // Set when the encode stage was timed.
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      metrics_->MessageSent(series_);
      if (series_.computes && !series_.raw_handler && metrics_->recording()) {
        // gRPC would serialise the response right after the interceptors;
        // doing it here (once, not twice) lets the encode stage be timed.
        const Clock::time_point encode_start = Clock::now();
        methods->GetSerializedSendMessage();
        encoded = Clock::now();
        metrics_->ObserveStage(
            Stage::kEncode,
            std::chrono::duration<double>(encoded - encode_start).count());
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      if (IsUndecodableRequest(series_, status)) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              "request is not a valid protobuf message for /" +
                                  series_.service + "/" + series_.method);
        methods->ModifySendStatus(status);
        metrics_->Rejected(RejectReason::kInvalid);
      }
      if (metrics_->recording()) {
        // The status goes out in the same batch as the message just encoded.
        const Clock::time_point end =
            encoded != Clock::time_point() ? encoded : Clock::now();
        metrics_->RpcHandled(
            series_, status.error_code(),
            std::chrono::duration<double>(end - start_).count());
      }
      if (IsServerFault(status.error_code())) {
        // Client mistakes are answered and counted, not logged; a server
        // fault gets one log line.
        std::cerr << "poolcat-server error: /" << series_.service << "/"
                  << series_.method << " failed "
                  << GrpcCodeName(status.error_code()) << ": "
                  << status.error_message() << std::endl;
      }
    }
    methods->Proceed();
  }

 private:
  Metrics* const metrics_;
  const grpc::ServerContextBase* const context_;
  const Metrics::MethodSeries& series_;
  const Clock::time_point start_;
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

constexpr PoolKind kPoolKinds[] = {PoolKind::kMax, PoolKind::kAvg,
                                   PoolKind::kLp, PoolKind::kAdaptiveMax,
                                   PoolKind::kAdaptiveAvg};

}  // namespace

absl::string_view StageName(Stage stage) {
  switch (stage) {
    case Stage::kDecode:
      return "decode";
    case Stage::kQueueWait:
      return "queue_wait";
    case Stage::kCompute:
      return "compute";
    case Stage::kEncode:
      return "encode";
  }
  return "unknown";
}

absl::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kTooLarge:
      return "too_large";
    case RejectReason::kOverConcurrency:
      return "over_concurrency";
    case RejectReason::kInvalid:
      return "invalid";
  }
  return "unknown";
}

RejectReason RejectReasonFor(absl::StatusCode code) {
  return code == absl::StatusCode::kResourceExhausted ? RejectReason::kTooLarge
                                                      : RejectReason::kInvalid;
}

OpId OpIdOf(PoolOp op) {
  return static_cast<int>(op.kind) * 3 + (op.spatial_dims - 1);
}

std::string OpName(OpId op) {
  if (op == kCatOp) return "cat";
  if (op < 0 || op >= static_cast<OpId>(std::size(kPoolKinds)) * 3) return "";
  const PoolOp pool{kPoolKinds[op / 3], op % 3 + 1};
  const std::string name = PoolOpName(pool);
  // Only ops the core accepts (it has no lp_pool3d).
  return ParsePoolOp(name).ok() ? name : "";
}

std::string SimdTargetName() { return simd::DispatchedTargetName(); }

std::pair<std::string, std::string> SplitFullMethod(
    absl::string_view full_method) {
  if (!full_method.empty() && full_method.front() == '/')
    full_method.remove_prefix(1);
  const size_t slash = full_method.rfind('/');
  if (slash == absl::string_view::npos)
    return {"unknown", std::string(full_method)};
  return {std::string(full_method.substr(0, slash)),
          std::string(full_method.substr(slash + 1))};
}

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  static constexpr absl::string_view kNames[kNumCodes] = {"OK",
                                                          "Canceled",
                                                          "Unknown",
                                                          "InvalidArgument",
                                                          "DeadlineExceeded",
                                                          "NotFound",
                                                          "AlreadyExists",
                                                          "PermissionDenied",
                                                          "ResourceExhausted",
                                                          "FailedPrecondition",
                                                          "Aborted",
                                                          "OutOfRange",
                                                          "Unimplemented",
                                                          "Internal",
                                                          "Unavailable",
                                                          "DataLoss",
                                                          "Unauthenticated"};
  const int i = static_cast<int>(code);
  if (i < 0 || i >= kNumCodes) return "Unknown";
  return kNames[i];
}

namespace {

constexpr int kNumShards = 16;  // Threads beyond it share shards.
constexpr int kMaxMethods = 7;  // AddMethod calls in the constructor.
// Cells per histogram: the most bounds, and +Inf.
constexpr size_t kMaxBuckets = std::size(kStageBounds) + 1;
static_assert(std::size(kHandlingBounds) + 1 <= kMaxBuckets);

// One histogram's cells: per-bucket counts (not cumulative) and the sum in
// nanoseconds.
struct HistogramCells {
  std::atomic<uint64_t> counts[kMaxBuckets];
  std::atomic<uint64_t> sum_nanos;
};

void Add(std::atomic<uint64_t>& cell, uint64_t n = 1) {
  cell.fetch_add(n, std::memory_order_relaxed);
}

void Observe(HistogramCells& cells, absl::Span<const double> bounds,
             double seconds) {
  // Bucket i counts values in (bounds[i-1], bounds[i]]; the last is +Inf.
  size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  Add(cells.counts[i]);
  const double nanos = seconds * 1e9;
  Add(cells.sum_nanos, nanos > 0 ? static_cast<uint64_t>(nanos + 0.5) : 0);
}

// Which shard this thread adds to: assigned round robin on first use.
int ThisThreadShardIndex() {
  static std::atomic<int> next{0};
  thread_local const int index =
      next.fetch_add(1, std::memory_order_relaxed) % kNumShards;
  return index;
}

}  // namespace

struct alignas(64) Metrics::Shard {
  struct MethodCells {
    std::atomic<uint64_t> started, msg_received, msg_sent;
    std::atomic<uint64_t> handled[kNumCodes];
    HistogramCells seconds;
  };
  MethodCells methods[kMaxMethods];
  HistogramCells op_seconds[kNumOps];
  HistogramCells stage_seconds[kNumStages];
  std::atomic<uint64_t> rejected[kNumRejectReasons];
  std::atomic<uint64_t> bytes_in, bytes_out;
  // Admitted on one thread, done on another: a shard's count may be
  // negative, the sum is right.
  std::atomic<int64_t> inflight_computations;
};

// The hot series as Prometheus families, summed over the shards on each
// scrape.
class Metrics::HotFamilies : public prometheus::Collectable {
 public:
  explicit HotFamilies(const Metrics* metrics) : metrics_(metrics) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    const Metrics& m = *metrics_;
    auto started = Family("grpc_server_started_total",
                          "Total number of RPCs started on the server.",
                          MetricType::Counter);
    auto handled = Family(
        "grpc_server_handled_total",
        "Total number of RPCs completed on the server, regardless of success "
        "or failure.",
        MetricType::Counter);
    auto seconds =
        Family("grpc_server_handling_seconds",
               "Histogram of response latency (seconds) of gRPC that had been "
               "application-level handled by the server.",
               MetricType::Histogram);
    auto received =
        Family("grpc_server_msg_received_total",
               "Total number of RPC stream messages received on the server.",
               MetricType::Counter);
    auto sent =
        Family("grpc_server_msg_sent_total",
               "Total number of gRPC stream messages sent by the server.",
               MetricType::Counter);
    for (const MethodSeries& series : m.methods_) {
      const Labels labels = {{"grpc_method", series.method},
                             {"grpc_service", series.service},
                             {"grpc_type", series.type}};
      const auto cells = [&](const Shard& shard) -> const Shard::MethodCells& {
        return shard.methods[series.index];
      };
      AddCounter(&started, labels,
                 Sum([&](const Shard& s) { return &cells(s).started; }));
      AddCounter(&received, labels,
                 Sum([&](const Shard& s) { return &cells(s).msg_received; }));
      AddCounter(&sent, labels,
                 Sum([&](const Shard& s) { return &cells(s).msg_sent; }));
      AddHistogram(&seconds, labels, kHandlingBounds,
                   [&](const Shard& s) { return &cells(s).seconds; });
      for (int code = 0; code < kNumCodes; ++code) {
        Labels with_code = labels;
        with_code.insert(
            with_code.begin(),
            {"grpc_code",
             std::string(GrpcCodeName(static_cast<grpc::StatusCode>(code)))});
        AddCounter(&handled, std::move(with_code), Sum([&](const Shard& s) {
          return &cells(s).handled[code];
        }));
      }
    }

    auto ops = Family(
        "poolcat_op_seconds",
        "Time to compute one op's output (allocation and kernel), by op, in "
        "seconds",
        MetricType::Histogram);
    for (OpId op = 0; op < kNumOps; ++op) {
      const std::string name = OpName(op);
      if (name.empty()) continue;
      AddHistogram(&ops, {{"op", name}}, kStageBounds,
                   [&](const Shard& s) { return &s.op_seconds[op]; });
    }
    auto stages = Family(
        "poolcat_stage_seconds",
        "Time a Pool or Concat call spends in each stage: decode, queue_wait, "
        "compute, encode (seconds)",
        MetricType::Histogram);
    for (int stage = 0; stage < kNumStages; ++stage) {
      AddHistogram(
          &stages,
          {{"stage", std::string(StageName(static_cast<Stage>(stage)))}},
          kStageBounds,
          [&](const Shard& s) { return &s.stage_seconds[stage]; });
    }
    auto rejected =
        Family("poolcat_rejected_total",
               "Calls refused before computing, by reason: too_large, "
               "over_concurrency, invalid",
               MetricType::Counter);
    for (int r = 0; r < kNumRejectReasons; ++r) {
      AddCounter(
          &rejected,
          {{"reason",
            std::string(RejectReasonName(static_cast<RejectReason>(r)))}},
          Sum([&](const Shard& s) { return &s.rejected[r]; }));
    }
    auto bytes_in = Family("poolcat_bytes_in_total",
                           "Tensor payload bytes received in requests",
                           MetricType::Counter);
    AddCounter(&bytes_in, {}, Sum([](const Shard& s) { return &s.bytes_in; }));
    auto bytes_out =
        Family("poolcat_bytes_out_total",
               "Tensor payload bytes sent in responses", MetricType::Counter);
    AddCounter(&bytes_out, {},
               Sum([](const Shard& s) { return &s.bytes_out; }));
    int64_t inflight = 0;
    for (int i = 0; i < kNumShards; ++i) {
      inflight +=
          m.shards_[i].inflight_computations.load(std::memory_order_relaxed);
    }

    std::vector<prometheus::MetricFamily> families;
    for (auto* family : {&started, &handled, &seconds, &received, &sent, &ops,
                         &stages, &rejected, &bytes_in, &bytes_out}) {
      families.push_back(std::move(*family));
    }
    families.push_back(OneSample(
        "poolcat_inflight_computations",
        "Computations admitted to the compute pool (queued or running)",
        MetricType::Gauge, static_cast<double>(inflight)));
    return families;
  }

 private:
  using Labels = std::vector<prometheus::ClientMetric::Label>;

  static prometheus::MetricFamily Family(std::string name, std::string help,
                                         prometheus::MetricType type) {
    prometheus::MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = type;
    return family;
  }

  // Sum over the shards of the cell `cell_of(shard)` points to.
  template <typename CellOf>
  uint64_t Sum(CellOf cell_of) const {
    uint64_t sum = 0;
    for (int i = 0; i < kNumShards; ++i) {
      sum += cell_of(metrics_->shards_[i])->load(std::memory_order_relaxed);
    }
    return sum;
  }

  static void AddCounter(prometheus::MetricFamily* family, Labels labels,
                         uint64_t value) {
    prometheus::ClientMetric metric;
    metric.label = std::move(labels);
    metric.counter.value = static_cast<double>(value);
    family->metric.push_back(std::move(metric));
  }

  template <typename CellsOf>
  void AddHistogram(prometheus::MetricFamily* family, Labels labels,
                    absl::Span<const double> bounds, CellsOf cells_of) const {
    prometheus::ClientMetric metric;
    metric.label = std::move(labels);
    prometheus::ClientMetric::Histogram& histogram = metric.histogram;
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= bounds.size(); ++b) {
      cumulative +=
          Sum([&](const Shard& s) { return &cells_of(s)->counts[b]; });
      prometheus::ClientMetric::Bucket bucket;
      bucket.cumulative_count = cumulative;
      bucket.upper_bound = b < bounds.size()
                               ? bounds[b]
                               : std::numeric_limits<double>::infinity();
      histogram.bucket.push_back(bucket);
    }
    histogram.sample_count = cumulative;
    histogram.sample_sum = static_cast<double>(Sum([&](const Shard& s) {
                             return &cells_of(s)->sum_nanos;
                           })) *
                           1e-9;
    family->metric.push_back(std::move(metric));
  }

  const Metrics* metrics_;
};

Metrics::Metrics(Options options)
    : recording_(options.recording),
      // Value-initialised: every cell starts at 0.
      shards_(new Shard[kNumShards]()),
      registry_(std::make_shared<prometheus::Registry>()),
      hot_(std::make_shared<HotFamilies>(this)),
      scrape_time_(std::make_shared<ScrapeTimeGauges>(
          std::vector<ScrapeTimeGauges::Gauge>{
              {"poolcat_inflight_requests",
               "RPCs in progress on any service (from the call's start until "
               "its status is sent)",
               [this] { return static_cast<double>(active_calls()); }},
              {"poolcat_buffer_pool_bytes",
               "Tensor buffers kept for reuse by the next large call (bytes, "
               "bounded by "
               "--max_retained_bytes)",
               std::move(options.buffer_pool_bytes)},
              {"poolcat_malloc_kept_bytes",
               "Estimate of freed memory malloc keeps instead of returning it "
               "to the kernel "
               "(bytes, trimmed past --max_retained_bytes)",
               std::move(options.malloc_kept_bytes)}})),
      process_(std::make_shared<ProcessCollector>()),
      compute_threads_(
          prometheus::BuildGauge()
              .Name("poolcat_compute_threads")
              .Help("OpenMP threads the compute pool shares among computations")
              .Register(*registry_)
              .Add({})),
      max_concurrent_(
          prometheus::BuildGauge()
              .Name("poolcat_max_concurrent_computations")
              .Help("Cap on admitted computations (--max_concurrent); past it, "
                    "calls are RESOURCE_EXHAUSTED")
              .Register(*registry_)
              .Add({})) {
  prometheus::BuildGauge()
      .Name("poolcat_build_info")
      .Help(
          "Always 1; the labels say which poolcat-server this is and which "
          "SIMD target "
          "its kernels run on")
      .Register(*registry_)
      .Add({{"version", POOLCAT_VERSION}, {"simd_target", SimdTargetName()}})
      .Set(1);

  // Every method the server serves, its series exported (at 0) before the
  // first call, as go-grpc-prometheus's InitializeMetrics does, so rate()
  // sees every call.
  AddMethod(kPoolCatService, "Pool", "unary", /*computes=*/true,
            /*raw_handler=*/true);
  AddMethod(kPoolCatService, "Concat", "unary", /*computes=*/true);
  AddMethod(kPoolCatService, "Echo", "unary");
  AddMethod("grpc.health.v1.Health", "Check", "unary");
  AddMethod("grpc.health.v1.Health", "Watch", "server_stream");
  AddMethod("grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
            "bidi_stream");
  AddMethod("unknown", "unknown", "bidi_stream");  // Last: Series' fallback.
}

Metrics::~Metrics() = default;

void Metrics::AddMethod(absl::string_view service, absl::string_view method,
                        absl::string_view type, bool computes,
                        bool raw_handler) {
  MethodSeries series;
  series.index = static_cast<int>(methods_.size());
  series.full_method = absl::StrCat("/", service, "/", method);
  series.service = std::string(service);
  series.method = std::string(method);
  series.type = std::string(type);
  series.computes = computes;
  series.raw_handler = raw_handler;
  methods_.push_back(std::move(series));
  assert(methods_.size() <= kMaxMethods);
}

std::vector<std::shared_ptr<prometheus::Collectable>> Metrics::Collectables()
    const {
  return {hot_, registry_, scrape_time_, process_};
}

const Metrics::MethodSeries& Metrics::Series(absl::string_view full_method,
                                             absl::string_view type) const {
  for (const MethodSeries& series : methods_) {
    if (series.full_method == full_method && series.type == type) return series;
  }
  return methods_.back();
}

Metrics::Shard& Metrics::ThisThreadShard() {
  return shards_[ThisThreadShardIndex()];
}

void Metrics::RpcStarted(const MethodSeries& series) {
  if (recording_) Add(ThisThreadShard().methods[series.index].started);
}

void Metrics::MessageReceived(const MethodSeries& series) {
  if (recording_) Add(ThisThreadShard().methods[series.index].msg_received);
}

void Metrics::MessageSent(const MethodSeries& series) {
  if (recording_) Add(ThisThreadShard().methods[series.index].msg_sent);
}

void Metrics::RpcHandled(const MethodSeries& series, grpc::StatusCode code,
                         double seconds) {
  if (!recording_) return;
  Shard::MethodCells& cells = ThisThreadShard().methods[series.index];
  Observe(cells.seconds, kHandlingBounds, seconds);
  const int i = static_cast<int>(code);
  Add(cells.handled[i >= 0 && i < kNumCodes
                        ? i
                        : static_cast<int>(grpc::StatusCode::UNKNOWN)]);
}

void Metrics::ObserveStage(Stage stage, double seconds) {
  if (recording_) {
    Observe(ThisThreadShard().stage_seconds[static_cast<int>(stage)],
            kStageBounds, seconds);
  }
}

void Metrics::ObserveOp(OpId op, double seconds) {
  // lp_pool3d's index exists but is never observed (no such op).
  if (recording_ && op >= 0 && op < kNumOps) {
    Observe(ThisThreadShard().op_seconds[op], kStageBounds, seconds);
  }
}

void Metrics::ComputationAdmitted() {
  if (recording_) {
    ThisThreadShard().inflight_computations.fetch_add(
        1, std::memory_order_relaxed);
  }
}

void Metrics::ComputationDone() {
  if (recording_) {
    ThisThreadShard().inflight_computations.fetch_sub(
        1, std::memory_order_relaxed);
  }
}

void Metrics::Rejected(RejectReason reason) {
  if (recording_) Add(ThisThreadShard().rejected[static_cast<int>(reason)]);
}

void Metrics::BytesIn(uint64_t n) {
  if (recording_) Add(ThisThreadShard().bytes_in, n);
}

void Metrics::BytesOut(uint64_t n) {
  if (recording_) Add(ThisThreadShard().bytes_out, n);
}

double Metrics::StageTimer::Mark(Stage stage) {
  if (metrics_ == nullptr) return 0;
  const Clock::time_point now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  metrics_->ObserveStage(stage, seconds);
  return seconds;
}

Metrics::StageTimer Metrics::StartStages(
    const grpc::ServerContextBase* context) {
  if (!recording_) return StageTimer();
  const RunningHandler* handler = running_handler;
  if (handler != nullptr && handler->context == context)
    return StageTimer(this, handler->start);
  return StageTimer(this, Clock::now());
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

}  // namespace poolcat::server
