// Helpers shared by the load and fault tests: request mixes with expected
// answers computed by tests/reference (independent of core's kernels), the
// server's memory from /proc, and waiting on a Prometheus metric.
#ifndef POOLCAT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
#define POOLCAT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "tests/integration/server_process.h"
#include "tests/reference/reference.h"

namespace poolcat::reliability {

// One request of a mix and the answer it must get.
struct Job {
  std::string name;
  bool large = false;
  bool concat = false;
  std::string op;  // pooling ops
  PoolArgs args;
  std::vector<Tensor> inputs;  // one for pooling
  int64_t dim = 0;             // concat
  Tensor expected;
};

inline Tensor RandomFloat32(std::vector<int64_t> shape, uint32_t seed) {
  Tensor t = *Tensor::Empty(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, 3.f);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

inline Job PoolJob(std::string name, bool large, std::string op,
                   std::vector<int64_t> shape, PoolArgs args, uint32_t seed) {
  Job job;
  job.name = std::move(name);
  job.large = large;
  job.op = std::move(op);
  job.args = std::move(args);
  job.inputs.push_back(RandomFloat32(std::move(shape), seed));
  absl::StatusOr<PoolOp> op_kind = reference::RefParsePoolOp(job.op);
  absl::StatusOr<reference::RefPoolResult> want =
      reference::RefPool(*op_kind, job.inputs[0], job.args);
  job.expected = want->output;
  return job;
}

inline Job ConcatJob(std::string name, bool large,
                     std::vector<std::vector<int64_t>> shapes, int64_t dim,
                     uint32_t seed) {
  Job job;
  job.name = std::move(name);
  job.large = large;
  job.concat = true;
  job.dim = dim;
  for (auto& shape : shapes)
    job.inputs.push_back(RandomFloat32(std::move(shape), seed++));
  job.expected = *reference::RefCat(job.inputs, dim);
  return job;
}

inline PoolArgs Args(std::vector<int64_t> kernel,
                     std::vector<int64_t> stride = {},
                     std::vector<int64_t> padding = {0}) {
  PoolArgs a;
  a.kernel_size = std::move(kernel);
  a.stride = std::move(stride);
  a.padding = std::move(padding);
  return a;
}

inline PoolArgs Adaptive(std::vector<int64_t> output_size) {
  PoolArgs a;
  a.output_size = std::move(output_size);
  return a;
}

// Small requests of every op family, and a few large ones (1-4 MiB).
inline std::vector<Job> MixedJobs() {
  std::vector<Job> jobs;
  jobs.push_back(PoolJob("max2d_small", false, "max_pool2d", {2, 3, 16, 16},
                         Args({3}, {2}, {1}), 1));
  PoolArgs cl = Args({2});
  cl.channels_last = true;
  jobs.push_back(
      PoolJob("avg2d_small_cl", false, "avg_pool2d", {1, 9, 9, 8}, cl, 2));
  PoolArgs lp = Args({2});
  lp.norm_type = 2.0;
  jobs.push_back(PoolJob("lp1d_small", false, "lp_pool1d", {4, 5, 33}, lp, 3));
  jobs.push_back(PoolJob("amax3d_small", false, "adaptive_max_pool3d",
                         {1, 2, 6, 7, 8}, Adaptive({3, 2, 5}), 4));
  jobs.push_back(PoolJob("aavg2d_small", false, "adaptive_avg_pool2d",
                         {3, 4, 10, 10}, Adaptive({4, 3}), 5));
  jobs.push_back(ConcatJob("cat_small", false, {{2, 3, 4}, {2, 5, 4}}, 1, 6));
  jobs.push_back(PoolJob("max2d_large", true, "max_pool2d", {1, 16, 128, 128},
                         Args({3}, {2}, {1}), 7));
  jobs.push_back(PoolJob("avg3d_large", true, "avg_pool3d", {1, 8, 32, 32, 32},
                         Args({2}), 8));
  jobs.push_back(
      ConcatJob("cat_large", true, {{4, 64, 1024}, {4, 64, 1024}}, 0, 9));
  return jobs;
}

// Runs `job` through `client`; OK only when the answer equals the
// expected tensor bit for bit (Internal describing the difference if not).
inline absl::Status RunJob(Client& client, const Job& job,
                           const CallOptions& call = {}) {
  absl::StatusOr<Tensor> got =
      job.concat ? client.Concat(job.inputs, job.dim, call)
                 : client.Pool(job.op, job.inputs[0], job.args, call);
  if (!got.ok()) return got.status();
  if (std::optional<std::string> diff =
          reference::RefCompare(job.expected, *got)) {
    return absl::InternalError(job.name + ": wrong answer: " + *diff);
  }
  return absl::OkStatus();
}

// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM), or -1.
inline int64_t ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) {
      int64_t kib = -1;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib;
    }
  }
  return -1;
}

// Waits (up to `patience`) until metric `name` with `labels` is >= at_least
// on the server's /metrics. Polls; never asserts on how long it took.
inline bool WaitForMetric(const testing::ServerProcess& server,
                          const std::string& name,
                          const std::vector<std::string>& labels,
                          double at_least,
                          absl::Duration patience = absl::Seconds(120)) {
  const absl::Time give_up = absl::Now() + patience;
  while (absl::Now() < give_up) {
    absl::StatusOr<std::string> text =
        testing::ScrapeMetrics(server.metrics_address());
    if (text.ok() && testing::MetricValue(*text, name, labels) >= at_least)
      return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// Waits (up to `patience`) until metric `name` (all samples summed) is <=
// at_most.
inline bool WaitForMetricAtMost(const testing::ServerProcess& server,
                                const std::string& name, double at_most,
                                absl::Duration patience = absl::Seconds(120)) {
  const absl::Time give_up = absl::Now() + patience;
  while (absl::Now() < give_up) {
    absl::StatusOr<std::string> text =
        testing::ScrapeMetrics(server.metrics_address());
    if (text.ok() && testing::MetricValue(*text, name) <= at_most) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

}  // namespace poolcat::reliability

#endif  // POOLCAT_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
