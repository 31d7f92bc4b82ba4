// max_pool{1,2,3}d kernels (internal: call RunPool in core/pool.h).
#ifndef POOLCAT_CORE_MAX_POOL_H_
#define POOLCAT_CORE_MAX_POOL_H_

#include "absl/status/status.h"
#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::pool_internal {

struct AxisWindows;

// Windowed max over any element type. REQUIRES: plan from PlanPool with
// kind kMax; views matching the plan; `indices` null unless the plan returns
// indices. Returns Cancelled if exec.cancelled was raised.
absl::Status RunMaxPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const MutableTensorView* indices,
                        const ExecOptions& exec);

// The same kernel over caller-supplied windows (one table per normalised
// axis D, H, W); adaptive_max_pool uses it with adaptive windows.
absl::Status RunMaxOverWindows(const PoolPlan& plan,
                               const AxisWindows (&windows)[3],
                               const TensorView& input,
                               const MutableTensorView& output,
                               const MutableTensorView* indices,
                               const ExecOptions& exec);

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_MAX_POOL_H_
