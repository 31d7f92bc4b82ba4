// avg_pool{1,2,3}d and lp_pool{1,2}d kernels (internal: call RunPool in
// core/pool.h).
//
// avg_pool: each window is summed in row-major order in float32 (float64
// for float64 inputs; bfloat16/float16 accumulate in float32), then divided
// once by divisor_override, or by the window size before clipping to the
// input (count_include_pad) or after, and rounded once: ATen's cpu_avg_pool
// and avg_pool3d_out_frame (whose int divisor we reproduce too).
//
// lp_pool: torch.nn.functional's formula, step by step, with ATen's pow
// special cases (p = 2, 3, -2 by multiplication, 0.5 sqrt, -0.5 rsqrt, -1
// reciprocal):
//   out = avg_pool(x.pow(p), k, stride, 0, ceil_mode)
//   (sign(out) * relu(abs(out))).mul(prod(k)).pow(1 / p)
// float32/float64 compute each step in the element type; bfloat16 rounds
// after every step as torch does (including its scalar-tail rsqrt, see
// PowBFloat16); float16 (refused by torch) computes the whole formula in
// float32 and rounds once. Known difference: for other p
// torch's vectorised pow (Sleef powf, 1 ulp) is used on 16-element blocks
// and std::pow on the tail; we always use std::pow in double, rounded once,
// so a result may differ from torch's by 1 ulp in that case only.
#ifndef POOLCAT_CORE_AVG_POOL_H_
#define POOLCAT_CORE_AVG_POOL_H_

#include "absl/status/status.h"
#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::pool_internal {

// REQUIRES: plan from PlanPool with kind kAvg; views matching the plan.
absl::Status RunAvgPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const ExecOptions& exec);

// REQUIRES: plan from PlanPool with kind kLp; views matching the plan.
absl::Status RunLpPool(const PoolPlan& plan, const TensorView& input,
                       const MutableTensorView& output,
                       const ExecOptions& exec);

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_AVG_POOL_H_
