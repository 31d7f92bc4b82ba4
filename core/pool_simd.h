// SIMD fast paths for the hottest pooling cases (Highway, runtime dispatch:
// one binary, the best instruction set of the host).
//
// Each function returns true when it computed the whole result, false when
// it does not handle this plan (dtype, layout, window shape), in which case
// the caller runs the generic kernel. Results are bit-identical to the
// generic kernels. REQUIRES: plan from PlanPool, views matching it.
#ifndef POOLCAT_CORE_POOL_SIMD_H_
#define POOLCAT_CORE_POOL_SIMD_H_

#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::simd {

bool TryMaxPool(const PoolPlan& plan, const TensorView& input,
                const MutableTensorView& output,
                const MutableTensorView* indices, const ExecOptions& exec);
bool TryAvgPool(const PoolPlan& plan, const TensorView& input,
                const MutableTensorView& output, const ExecOptions& exec);
bool TryAdaptiveAvgPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const ExecOptions& exec);

}  // namespace poolcat::simd

#endif  // POOLCAT_CORE_POOL_SIMD_H_
