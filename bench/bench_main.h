// Shared main() helper of the benchmark binaries.
#ifndef POOLCAT_BENCH_BENCH_MAIN_H_
#define POOLCAT_BENCH_BENCH_MAIN_H_

#include <vector>

#include "benchmark/benchmark.h"

namespace poolcat::bench {

// Default runs stay short: 0.1 s per benchmark unless the command line says
// otherwise (a later --benchmark_min_time wins). The flag is used instead of
// Benchmark::MinTime()/UseRealTime() because those append "/min_time:..." and
// "/real_time" to the names, and the names must stay exactly "W1/2" so that
// --benchmark_filter='^W1/2$' selects one benchmark. The reported Time is
// wall-clock time either way.
// Returns the new argv, null-terminated: its argc is size() - 1.
inline std::vector<char*> WithShortDefaultMinTime(int argc, char** argv) {
  static char kDefaultMinTime[] = "--benchmark_min_time=0.1";
  std::vector<char*> args(argv, argv + argc);
  args.insert(args.begin() + (argc > 0 ? 1 : 0), kDefaultMinTime);
  args.push_back(nullptr);
  return args;
}

// The body of every benchmark binary's main(), after its benchmarks are
// registered: short default min time, Google Benchmark's own flags, run.
inline int RunBenchmarks(int argc, char** argv) {
  std::vector<char*> args = WithShortDefaultMinTime(argc, argv);
  int args_count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace poolcat::bench

#endif  // POOLCAT_BENCH_BENCH_MAIN_H_
