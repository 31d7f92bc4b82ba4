// SIMD fast paths for the hottest pooling cases (Highway, runtime dispatch:
// one binary, the best instruction set of the host).
//
// Each function returns true when it computed the whole result, false when
// it does not handle this plan (dtype, layout, window shape), in which case
// the caller runs the generic kernel. Results are bit-identical to the
// generic kernels. REQUIRES: plan from PlanPool, views matching it.
//
// Handled today (1-D and 2-D, no dilation, no indices; float32, and
// bfloat16/float16 widened to float32 lanes in registers on load and
// rounded once, to nearest even, on store):
//   max_pool    channels-first with stride 1 or 2 along the width
//               (stride-2 windows via de-interleaving loads); channels-last
//               with any stride (vectors along C). Separable: the window
//               max of each input row first, then over rows; this keeps the
//               row-major "first max wins, last NaN wins" result because the
//               combine step is associative over consecutive segments.
//               Small channels-first planes with width stride 1 (SPPF's
//               20x20, windows up to 9x9) go whole-plane through padded
//               scratch planes, the row maxima taken over the flattened
//               plane so vectors stay full.
//   avg_pool    the same layouts and strides; sums stay in row-major window
//               order (a separable sum would round differently), padding is
//               read as +0.0 from padded scratch rows, which never changes a
//               sum that starts at +0.0.
//   adaptive_avg_pool to 1x1 (global average pooling), float32 only:
//               ATen's cascade-sum order replayed lane by lane (channels-
//               last: lanes are channels; channels-first: 8-lane vectors
//               along the plane, so it declines on targets narrower than
//               AVX2; planes under 512 elements as plain sums, which is
//               what the cascade reduces to there).
// A fast path checks exec.cancelled between work units; if raised it stops
// early and still returns true (the caller reports Cancelled).
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

// The instruction set the kernels run with on this CPU, as Highway names
// it ("AVX3", "AVX2", "SSE4", "EMU128"...): the best one both compiled in
// and supported (or the one left by hwy::SetSupportedTargetsForTest).
const char* DispatchedTargetName();

// Test hook: with false, every Try* function returns false, so RunPool runs
// the generic kernels (the reference the fast paths are compared with).
// Process-wide; not for use while other threads run pooling ops.
void SetFastPathsEnabledForTest(bool enabled);

}  // namespace poolcat::simd

#endif  // POOLCAT_CORE_POOL_SIMD_H_
