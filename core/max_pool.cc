#include "core/max_pool.h"

#include "core/pool_kernel-inl.h"

namespace poolcat::pool_internal {

absl::Status RunMaxOverWindows(const PoolPlan& plan, const Windows3& windows,
                               const TensorView& input,
                               const MutableTensorView& output,
                               const MutableTensorView* indices,
                               const ExecOptions& exec) {
  const Geometry geometry(plan);
  int64_t* index_data =
      indices == nullptr ? nullptr : indices->data_as<int64_t>();
  return DispatchDType(plan.dtype, [&](auto tag) {
    using T = decltype(tag);
    return MaxKernel<T>(geometry, windows, input.data_as<T>(),
                        output.data_as<T>(), index_data, exec);
  });
}

absl::Status RunMaxPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const MutableTensorView* indices,
                        const ExecOptions& exec) {
  Windows3 windows;
  for (int i = 0; i < 3; ++i) {
    windows[i] = MaxAxisWindows(plan.in[i], plan.out[i], plan.kernel[i],
                                plan.stride[i], plan.pad[i], plan.dilation[i]);
  }
  return RunMaxOverWindows(plan, windows, input, output, indices, exec);
}

}  // namespace poolcat::pool_internal
