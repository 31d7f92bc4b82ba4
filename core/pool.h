// The pooling family, with PyTorch 1.13 semantics (torch.nn.functional):
//
//   max_pool{1,2,3}d, avg_pool{1,2,3}d, lp_pool{1,2}d,
//   adaptive_max_pool{1,2,3}d, adaptive_avg_pool{1,2,3}d.
//
// Inputs are batched (N, C, *spatial) or unbatched (C, *spatial). With
// channels_last the input is laid out (N, *spatial, C) (or (*spatial, C)
// unbatched) and the output comes back in that same layout; the shapes
// given and returned are always the physical ones.
//
// Usage, in two steps so a caller can provide output memory:
//   absl::StatusOr<PoolPlan> plan =
//       PlanPool(op, input.dtype, input.shape, args);
//   ... allocate plan->output_shape (and plan->indices_shape) ...
//   absl::Status s = RunPool(*plan, input, output, indices_or_null);
// or in one: absl::StatusOr<PoolResult> r = Pool("max_pool2d", input, args);
//
// Exactness: results are bit-identical to torch 1.13.1's CPU kernels (AVX2
// build, serial reduction order) for every dtype torch supports, including
// global average pooling, which torch computes as mean() with a cascade
// sum (reproduced in core/cascade_sum-inl.h). Known differences: lp_pool
// with a norm_type other than 1, 2, -1, -2, 0.5, -0.5 uses std::pow where
// torch's vectorised pow (Sleef, 1 ulp) may round differently (<= 1 ulp per
// pow step; for 3 the cube is exact, x*x*x as torch's, but the cube root is
// such a pow). Where torch refuses a dtype (float16 except
// adaptive_avg_pool3d and global average pooling, integer max pooling,
// bfloat16 in 3-D) the op computes in float32 (or the integer type) and
// rounds once.
//
// Every argument problem is reported by PlanPool as InvalidArgument (bad
// value, rank or dtype) or ResourceExhausted (too many elements), with a
// message naming the argument and value as PyTorch's messages do. RunPool
// never re-validates: REQUIRES a plan from PlanPool with matching views.
#ifndef POOLCAT_CORE_POOL_H_
#define POOLCAT_CORE_POOL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/exec.h"
#include "core/tensor.h"

namespace poolcat {

enum class PoolKind { kMax, kAvg, kLp, kAdaptiveMax, kAdaptiveAvg };

struct PoolOp {
  PoolKind kind = PoolKind::kMax;
  int spatial_dims = 2;  // 1, 2 or 3
};

// Parses a PyTorch functional name ("max_pool2d", "adaptive_avg_pool3d",
// "lp_pool1d"). InvalidArgument naming the op otherwise.
absl::StatusOr<PoolOp> ParsePoolOp(absl::string_view name);
// Inverse of ParsePoolOp.
std::string PoolOpName(PoolOp op);

// Arguments with PyTorch's names and defaults. List arguments take one value
// (applied to every spatial dim) or one per spatial dim, as PyTorch's
// _single/_pair/_triple do; an empty `stride` means stride = kernel_size.
// Arguments an op does not take are ignored (e.g. dilation for avg_pool2d).
struct PoolArgs {
  std::vector<int64_t> kernel_size;         // max, avg, lp
  std::vector<int64_t> stride;              // max, avg, lp; empty = kernel
  std::vector<int64_t> padding = {0};       // max, avg
  std::vector<int64_t> dilation = {1};      // max
  bool ceil_mode = false;                   // max, avg, lp
  bool count_include_pad = true;            // avg
  std::optional<int64_t> divisor_override;  // avg 2d/3d; must be != 0
  double norm_type = 2.0;                   // lp
  std::vector<int64_t> output_size;         // adaptive; -1 keeps input size
  bool return_indices = false;              // max, adaptive_max (int64)
  bool channels_last = false;               // input/output layout
};

// Everything RunPool needs, already validated and normalised to 3 spatial
// dims (missing leading dims have size 1, kernel 1, stride 1, pad 0).
struct PoolPlan {
  PoolOp op;
  PoolArgs args;
  DType dtype = DType::kFloat32;
  bool channels_last = false;
  bool batched = true;
  int64_t batch = 1;           // N (1 when unbatched)
  int64_t channels = 1;        // C
  int64_t in[3] = {1, 1, 1};   // input  D, H, W
  int64_t out[3] = {1, 1, 1};  // output D, H, W
  int64_t kernel[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1};
  int64_t pad[3] = {0, 0, 0};
  int64_t dilation[3] = {1, 1, 1};
  std::vector<int64_t> output_shape;   // physical shape, in the input layout
  std::vector<int64_t> indices_shape;  // empty unless indices are returned

  // True when RunPool must be given an indices view: return_indices was asked
  // of an op that has indices (max, adaptive_max); other ops ignore the flag.
  bool returns_indices() const { return !indices_shape.empty(); }
};

absl::StatusOr<PoolPlan> PlanPool(PoolOp op, DType dtype,
                                  absl::Span<const int64_t> input_shape,
                                  const PoolArgs& args,
                                  const ExecOptions& exec = {});

// Computes the pooling of `input` into `output` (and `indices` when the
// plan returns them; otherwise `indices` must be null). Returns Cancelled if
// exec.cancelled was raised, OK otherwise.
absl::Status RunPool(const PoolPlan& plan, const TensorView& input,
                     const MutableTensorView& output,
                     const MutableTensorView* indices,
                     const ExecOptions& exec = {});

struct PoolResult {
  Tensor output;
  std::optional<Tensor> indices;  // int64, when args.return_indices
};

// PlanPool + allocation + RunPool.
absl::StatusOr<PoolResult> Pool(PoolOp op, const Tensor& input,
                                const PoolArgs& args,
                                const ExecOptions& exec = {});
absl::StatusOr<PoolResult> Pool(absl::string_view op_name, const Tensor& input,
                                const PoolArgs& args,
                                const ExecOptions& exec = {});

}  // namespace poolcat

#endif  // POOLCAT_CORE_POOL_H_
