// Execution settings shared by every op: limits, threads, cancellation.
#ifndef POOLCAT_CORE_EXEC_H_
#define POOLCAT_CORE_EXEC_H_

#include <atomic>
#include <cstdint>

#include "core/tensor.h"

namespace poolcat {

struct ExecOptions {
  // Any input or output with more elements is refused (ResourceExhausted).
  int64_t max_elements = kDefaultMaxElements;
  // OpenMP threads for this call; 0 means ComputeThreads() (core/parallel.h).
  int num_threads = 0;
  // When non-null and set to true (by another thread, e.g. on RPC
  // cancellation or deadline), a running op stops between planes/slices and
  // returns Cancelled. The output is then unspecified.
  const std::atomic<bool>* cancelled = nullptr;
};

}  // namespace poolcat

#endif  // POOLCAT_CORE_EXEC_H_
