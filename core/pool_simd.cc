// Placeholder: no SIMD fast path yet; every plan takes the generic kernels.
#include "core/pool_simd.h"

namespace poolcat::simd {

bool TryMaxPool(const PoolPlan&, const TensorView&, const MutableTensorView&,
                const MutableTensorView*, const ExecOptions&) {
  return false;
}
bool TryAvgPool(const PoolPlan&, const TensorView&, const MutableTensorView&,
                const ExecOptions&) {
  return false;
}
bool TryAdaptiveAvgPool(const PoolPlan&, const TensorView&,
                        const MutableTensorView&, const ExecOptions&) {
  return false;
}

}  // namespace poolcat::simd
