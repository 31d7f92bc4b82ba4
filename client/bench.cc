#include "client/bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"

namespace poolcat {
namespace {

// Values of every dtype drawn from a fixed seed, so runs are repeatable and
// floats are not all equal (a constant input could hit shortcuts).
Tensor RandomInput(DType dtype, const std::vector<int64_t>& shape) {
  Tensor t = *Tensor::Empty(dtype, shape);
  std::mt19937 rng(42);
  uint8_t* bytes = static_cast<uint8_t*>(t.data());
  switch (dtype) {
    case DType::kFloat32: {
      std::uniform_real_distribution<float> dist(-1, 1);
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = dist(rng);
      break;
    }
    case DType::kFloat64: {
      std::uniform_real_distribution<double> dist(-1, 1);
      for (int64_t i = 0; i < t.numel(); ++i) {
        t.data_as<double>()[i] = dist(rng);
      }
      break;
    }
    case DType::kBool:
      for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = rng() & 1;
      break;
    default:
      // Integers and 16-bit floats: random bit patterns would include NaNs
      // for the latter, so keep the exponent in a tame range.
      for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = rng() & 0x3f;
      break;
  }
  return t;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // Nearest rank.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

}  // namespace

absl::StatusOr<BenchReport> RunBench(absl::Span<Client* const> clients,
                                     const BenchOptions& options,
                                     const CallOptions& call,
                                     std::ostream& progress_out) {
  if (options.concurrency < 1 || options.concurrency > 4096) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--concurrency must be in [1, 4096], got ", options.concurrency));
  }
  if (options.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--duration must be > 0, got ",
                     absl::FormatDuration(options.duration)));
  }
  if (options.duration == absl::InfiniteDuration() && options.requests == 0) {
    return absl::InvalidArgumentError(
        "a bench needs --duration or --requests to stop");
  }
  if (options.requests < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--requests must be >= 0, got ", options.requests));
  }
  absl::StatusOr<int64_t> numel = CheckedNumel(options.shape, options.dtype,
                                               kDefaultMaxElements, "--shape");
  if (!numel.ok()) return numel.status();

  const Tensor input = RandomInput(options.dtype, options.shape);
  auto one_call = [&](Client& client) -> absl::Status {
    if (options.echo) return client.Echo(input, call).status();
    return client.Pool(options.op, input, options.args, call).status();
  };
  auto interrupted = [&] {
    return call.cancellation != nullptr && call.cancellation->cancelled();
  };
  BenchReport report;
  report.request_bytes = static_cast<int64_t>(input.nbytes());
  report.connections = static_cast<int>(clients.size());
  // Connects, and fails fast on arguments the server refuses.
  for (Client* client : clients) {
    absl::Status first = one_call(*client);
    if (first.code() == absl::StatusCode::kCancelled && interrupted()) {
      report.cancelled = 1;  // stopped before the run began
      return report;
    }
    if (!first.ok()) return first;
  }

  std::atomic<int64_t> issued{0};
  std::atomic<int64_t> finished{0};
  std::atomic<int> running{options.concurrency};
  absl::Mutex mu;
  std::vector<double> latencies_ms;

  const absl::Time start = absl::Now();
  const absl::Time end = start + options.duration;
  auto worker = [&](Client& client) {
    std::vector<double> mine;
    std::map<std::string, int64_t> errors;
    std::map<std::string, std::string> first_error;
    int64_t cancelled = 0;
    while (absl::Now() < end) {
      if (options.requests > 0 && issued.fetch_add(1) >= options.requests) {
        break;
      }
      if (interrupted()) break;
      const absl::Time t0 = absl::Now();
      absl::Status status = one_call(client);
      const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
      finished.fetch_add(1, std::memory_order_relaxed);
      if (status.ok()) {
        mine.push_back(ms);
      } else if (status.code() == absl::StatusCode::kCancelled &&
                 interrupted()) {
        ++cancelled;
      } else {
        std::string code = absl::StatusCodeToString(status.code());
        if (errors[code]++ == 0) {
          first_error[code] = std::string(status.message());
        }
      }
    }
    absl::MutexLock lock(&mu);
    latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    report.cancelled += cancelled;
    for (const auto& [code, n] : errors) {
      if (report.errors[code] == 0) {
        report.first_error[code] = first_error[code];
      }
      report.errors[code] += n;
    }
    running.fetch_sub(1);
  };

  std::vector<std::thread> threads;
  threads.reserve(options.concurrency);
  for (int i = 0; i < options.concurrency; ++i) {
    threads.emplace_back(worker, std::ref(*clients[i % clients.size()]));
  }
  while (running.load() > 0) {
    absl::SleepFor(absl::Milliseconds(options.progress ? 500 : 50));
    if (options.progress) {
      const double s = absl::ToDoubleSeconds(absl::Now() - start);
      const int64_t n = finished.load(std::memory_order_relaxed);
      progress_out << absl::StrFormat("\r\033[K%6.1fs  %d calls  %.0f calls/s",
                                      s, n, s > 0 ? n / s : 0.0)
                   << std::flush;
    }
  }
  for (std::thread& t : threads) t.join();
  if (options.progress) progress_out << "\r\033[K" << std::flush;

  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  report.ok = static_cast<int64_t>(latencies_ms.size());
  report.requests_per_second =
      report.seconds > 0 ? report.ok / report.seconds : 0;
  report.p50_ms = Percentile(latencies_ms, 50);
  report.p90_ms = Percentile(latencies_ms, 90);
  report.p99_ms = Percentile(latencies_ms, 99);
  report.max_ms = latencies_ms.empty() ? 0 : latencies_ms.back();
  return report;
}

std::string FormatBenchReport(const BenchOptions& options,
                              const BenchReport& report) {
  std::string out = absl::StrFormat(
      "%s %s [%s] %s, %d bytes/request, concurrency %d, connections %d\n",
      options.echo ? "echo" : options.op.c_str(), DTypeName(options.dtype),
      absl::StrJoin(options.shape, ","),
      options.echo ? "(Echo RPC)" : "(Pool RPC)", report.request_bytes,
      options.concurrency, report.connections);
  absl::StrAppendFormat(&out, "requests: %d ok in %.2f s: %.1f requests/s\n",
                        report.ok, report.seconds, report.requests_per_second);
  absl::StrAppendFormat(
      &out, "latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
      report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms);
  if (report.cancelled > 0) {
    absl::StrAppendFormat(&out, "cancelled: %d\n", report.cancelled);
  }
  for (const auto& [code, n] : report.errors) {
    absl::StrAppendFormat(&out, "errors: %d %s (first: %s)\n", n, code,
                          report.first_error.at(code));
  }
  return out;
}

namespace {

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string BenchReportJson(const BenchOptions& options,
                            const BenchReport& report) {
  std::vector<std::string> errors;
  for (const auto& [code, n] : report.errors) {
    errors.push_back(absl::StrCat(JsonString(code), ":", n));
  }
  return absl::StrCat(
      "{\"rpc\":", JsonString(options.echo ? "Echo" : "Pool"),
      ",\"op\":", JsonString(options.echo ? "" : options.op),
      ",\"dtype\":", JsonString(DTypeName(options.dtype)), ",\"shape\":[",
      absl::StrJoin(options.shape, ","), "]",
      ",\"request_bytes\":", report.request_bytes,
      ",\"concurrency\":", options.concurrency,
      ",\"connections\":", report.connections, ",\"ok\":", report.ok,
      ",\"cancelled\":", report.cancelled, ",\"errors\":{",
      absl::StrJoin(errors, ","), "}",
      absl::StrFormat(",\"seconds\":%.6f,\"requests_per_second\":%.3f",
                      report.seconds, report.requests_per_second),
      absl::StrFormat(",\"latency_ms\":{\"p50\":%.6f,\"p90\":%.6f,\"p99\":%.6f,"
                      "\"max\":%.6f}}",
                      report.p50_ms, report.p90_ms, report.p99_ms,
                      report.max_ms));
}

}  // namespace poolcat
