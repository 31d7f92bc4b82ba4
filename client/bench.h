// `poolcat bench`: a closed-loop load generator. `concurrency` threads each
// send one request at a time, spread over the given Clients (one connection
// each, or shared), until `requests` calls were issued or `duration` passed,
// whichever comes first, then report throughput and the latency
// distribution.
//
// With `echo` the same payload goes to the Echo RPC instead of Pool: the
// cost of gRPC itself, the baseline Pool is compared with.
#ifndef POOLCAT_CLIENT_BENCH_H_
#define POOLCAT_CLIENT_BENCH_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/client.h"
#include "core/pool.h"

namespace poolcat {

struct BenchOptions {
  int concurrency = 4;
  // Stops at whichever bound comes first; requests == 0 means no count
  // bound, an infinite duration no time bound (not both).
  absl::Duration duration = absl::Seconds(10);
  int64_t requests = 0;
  std::string op = "max_pool2d";
  std::vector<int64_t> shape = {1, 1, 4, 4};
  DType dtype = DType::kFloat32;
  PoolArgs args;
  bool echo = false;
  // A "\r"-refreshed progress line on `progress_out` twice a second.
  bool progress = false;
};

struct BenchReport {
  int64_t ok = 0;
  int64_t cancelled = 0;
  // Failed calls by status code name, with the first message of each.
  std::map<std::string, int64_t> errors;
  std::map<std::string, std::string> first_error;
  double seconds = 0;
  double requests_per_second = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t request_bytes = 0;
  int connections = 1;
};

// InvalidArgument for bad options; the status of the first call if it fails
// (a wrong op or shape would otherwise fail every call). Every call uses
// `call`; its cancellation (may be null) stops the run early, as Ctrl-C
// does, and calls it cancels are counted apart from errors.
// REQUIRES: !clients.empty(); worker i uses clients[i % clients.size()].
absl::StatusOr<BenchReport> RunBench(absl::Span<Client* const> clients,
                                     const BenchOptions& options,
                                     const CallOptions& call,
                                     std::ostream& progress_out);

// Human-readable summary, several lines.
std::string FormatBenchReport(const BenchOptions& options,
                              const BenchReport& report);
// One JSON object.
std::string BenchReportJson(const BenchOptions& options,
                            const BenchReport& report);

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_BENCH_H_
