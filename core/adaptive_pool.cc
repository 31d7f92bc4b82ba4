#include "core/adaptive_pool.h"

#include <type_traits>

#include "core/max_pool.h"
#include "core/pool_kernel-inl.h"

namespace poolcat::pool_internal {
namespace {

void BuildAdaptiveWindows(const PoolPlan& plan, Windows3& windows) {
  for (int i = 0; i < 3; ++i) {
    windows[i] = AdaptiveAxisWindows(plan.in[i], plan.out[i]);
  }
}

// sum / kd / kh / kw in the accumulation type, rounded once at the end.
template <typename T>
struct AdaptiveAvgPolicy {
  using Acc = typename Elem<T>::Acc;
  const Windows3* windows;

  Acc Zero() const { return Acc(0); }
  Acc Add(Acc sum, Acc v) const { return sum + v; }
  T Finish(Acc sum, int64_t od, int64_t oh, int64_t ow) const {
    const Windows3& w = *windows;
    const Acc kd = static_cast<Acc>(w[0].size[od]);
    const Acc kh = static_cast<Acc>(w[1].size[oh]);
    const Acc kw = static_cast<Acc>(w[2].size[ow]);
    return Elem<T>::Store(sum / kd / kh / kw);
  }
};

}  // namespace

absl::Status RunAdaptiveMaxPool(const PoolPlan& plan, const TensorView& input,
                                const MutableTensorView& output,
                                const MutableTensorView* indices,
                                const ExecOptions& exec) {
  Windows3 windows;
  BuildAdaptiveWindows(plan, windows);
  return RunMaxOverWindows(plan, windows, input, output, indices, exec);
}

absl::Status RunAdaptiveAvgPool(const PoolPlan& plan, const TensorView& input,
                                const MutableTensorView& output,
                                const ExecOptions& exec) {
  Windows3 windows;
  BuildAdaptiveWindows(plan, windows);
  const Geometry geometry(plan);
  return DispatchDType(plan.dtype, [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::InternalError("adaptive_avg_pool on an integer dtype was planned");
    } else {
      const AdaptiveAvgPolicy<T> policy{&windows};
      return SumKernel<T>(geometry, windows, input.data_as<T>(),
                          output.data_as<T>(), policy, exec);
    }
  });
}

}  // namespace poolcat::pool_internal
