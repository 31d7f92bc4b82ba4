// The one place where pooling arguments are validated and output shapes are
// computed (the role of ATen's Pool.h). PlanPool (core/pool.h) is a thin
// wrapper over CheckPool; kernels REQUIRE a plan from here and never
// re-check.
//
// Rules follow PyTorch 1.13 (CPU), verified against torch 1.13.1:
//   * kernel_size, stride, dilation > 0; padding >= 0; padding <= kernel/2
//     (1.13 compares with the kernel size, not the dilated one);
//   * output = floor((in + 2p - d(k-1) - 1 + (ceil ? s-1 : 0)) / s) + 1, and
//     in ceil mode the last window is dropped if it starts in the right
//     padding ((out-1)*s >= in + p);
//   * every output spatial size must be >= 1, except max_pool1d without
//     indices, which 1.13 lets produce an empty output (size 0);
//   * avg_pool3d also needs every input size >= kernel size;
//   * avg_pool divisor_override != 0 (2-D/3-D only);
//   * adaptive output sizes >= 0, -1 meaning "same as the input";
//   * batch may be 0; other dims must be positive, except that adaptive ops
//     accept 0 channels when unbatched, adaptive_avg_pool1d/2d also when
//     batched, and global average pooling (torch's mean path) accepts any
//     zero size (an empty plane averages to NaN).
// All size arithmetic is overflow-checked: huge kernels, paddings or
// strides give a clean error or a correct plan, never undefined behaviour.
#ifndef POOLCAT_CORE_SHAPE_CHECK_H_
#define POOLCAT_CORE_SHAPE_CHECK_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/exec.h"
#include "core/pool.h"

namespace poolcat {

// Validates `args` for `op` on an input of `dtype` and physical
// `input_shape` and returns the normalised plan (see PoolPlan).
// InvalidArgument for a bad value, rank or dtype; ResourceExhausted when the
// input or output holds more than exec.max_elements elements.
absl::StatusOr<PoolPlan> CheckPool(PoolOp op, DType dtype,
                                   absl::Span<const int64_t> input_shape,
                                   const PoolArgs& args,
                                   const ExecOptions& exec);

// PyTorch's pooling_output_shape for one dim (no validation of the
// arguments beyond overflow: REQUIRES k, s, d >= 1 and p >= 0). Returns
// InvalidArgument if the result does not fit in int64.
absl::StatusOr<int64_t> PoolingOutputSize(int64_t in, int64_t kernel,
                                          int64_t pad, int64_t stride,
                                          int64_t dilation, bool ceil_mode);

// Whether `dtype` is accepted by pooling op `kind` (max and adaptive max
// also take integer types; nothing takes bool).
bool PoolSupportsDType(PoolKind kind, DType dtype);

}  // namespace poolcat

#endif  // POOLCAT_CORE_SHAPE_CHECK_H_
