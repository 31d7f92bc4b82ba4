// adaptive_max_pool{1,2,3}d and adaptive_avg_pool{1,2,3}d kernels
// (internal: call RunPool in core/pool.h).
//
// Windows are ATen 1.13's: [floor(o*in/out), ceil((o+1)*in/out)), exact
// integer arithmetic. adaptive_max_pool shares max_pool's kernel
// (first index on ties, NaN wins). adaptive_avg_pool sums each window in
// row-major order and divides by the window's depth, height and width in
// turn (sum / kd / kh / kw, each a rounded division, as ATen does), with
// torch 1.13's special cases reproduced bit for bit:
//   * every output size 1 (global average pooling) is torch's
//     input.mean(spatial dims): ATen's cascade sum (cascade_sum-inl.h),
//     then one division by the element count (for bfloat16 and float16,
//     which torch accepts here, the sum and the count are first rounded to
//     the element type);
//   * batched channels-last 1-D/2-D input divides the channels ATen covers
//     with whole vectors by kh * kw in one step;
//   * float16 adaptive_avg_pool3d accumulates and divides in float16, as
//     torch's c10::Half arithmetic does (non-global float16 1-D/2-D, which
//     torch refuses, computes in float32 and rounds once).
#ifndef POOLCAT_CORE_ADAPTIVE_POOL_H_
#define POOLCAT_CORE_ADAPTIVE_POOL_H_

#include "absl/status/status.h"
#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::pool_internal {

// REQUIRES: plan from PlanPool with kind kAdaptiveMax; views matching it.
absl::Status RunAdaptiveMaxPool(const PoolPlan& plan, const TensorView& input,
                                const MutableTensorView& output,
                                const MutableTensorView* indices,
                                const ExecOptions& exec);

// REQUIRES: plan from PlanPool with kind kAdaptiveAvg; views matching it.
absl::Status RunAdaptiveAvgPool(const PoolPlan& plan, const TensorView& input,
                                const MutableTensorView& output,
                                const ExecOptions& exec);

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_ADAPTIVE_POOL_H_
