// The work behind each RPC, free of gRPC so it can be tested directly:
// Prepare* validates a request and plans the op (cheap, done on the gRPC
// thread so a bad request is refused without taking a compute slot);
// Execute* runs the planned op (on the compute pool), reading the request's
// bytes in place and writing straight into the response's bytes, so a
// payload is never copied on the way through.
#ifndef POOLCAT_SERVER_COMPUTE_H_
#define POOLCAT_SERVER_COMPUTE_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/concat.h"
#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::server {

// Server-wide limits applied to every request.
struct Limits {
  // Per-tensor element cap (inputs and outputs).
  int64_t max_elements = kDefaultMaxElements;
  // Largest response payload the server may send (--max_message_bytes).
  uint64_t max_response_bytes = uint64_t{256} << 20;
};

struct PreparedPool {
  PoolPlan plan;
  TensorView input;  // Into the request, or into aligned_copy.
  // Only when the request's bytes are not aligned for the dtype (never seen
  // with libstdc++ strings, which are at least 8-aligned).
  std::optional<Tensor> aligned_copy;
  // Input plus output bytes: how much work this is, for thread allocation.
  uint64_t work_bytes = 0;
};

struct PreparedConcat {
  CatPlan plan;
  std::vector<TensorView> inputs;
  std::vector<Tensor> aligned_copies;
  uint64_t work_bytes = 0;
};

// REQUIRES: `request` outlives the result.
absl::StatusOr<PreparedPool> PreparePool(
    const poolcat::v1::PoolRequest& request, const Limits& limits);
absl::StatusOr<PreparedConcat> PrepareConcat(
    const poolcat::v1::ConcatRequest& request, const Limits& limits);

// Fill `response`. Cancelled if exec.cancelled was raised meanwhile.
absl::Status ExecutePool(const PreparedPool& prepared,
                         poolcat::v1::PoolResponse* response,
                         const ExecOptions& exec);
absl::Status ExecuteConcat(const PreparedConcat& prepared,
                           poolcat::v1::ConcatResponse* response,
                           const ExecOptions& exec);

// Payload bytes of a tensor message, for the byte counters.
inline uint64_t PayloadBytes(const poolcat::v1::Tensor& t) {
  return t.data().size();
}

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_COMPUTE_H_
