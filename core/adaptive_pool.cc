#include "core/adaptive_pool.h"

#include <algorithm>
#include <type_traits>

#include "core/cascade_sum-inl.h"
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
// ATen's batched channels-last 1-D/2-D kernel instead divides the channels
// it handles with full vectors by kh * kw in one step (only the channel
// tail goes through sum / kh / kw): channels below `fused_channels` do so.
template <typename T>
struct AdaptiveAvgPolicy {
  using Acc = typename Elem<T>::Acc;
  const Windows3* windows;
  int64_t fused_channels = 0;

  Acc Zero() const { return Acc(0); }
  Acc Add(Acc sum, Acc v) const { return sum + v; }
  T Finish(Acc sum, int64_t od, int64_t oh, int64_t ow, int64_t channel) const {
    const Windows3& w = *windows;
    if (channel < fused_channels) {
      return Elem<T>::Store(sum /
                            static_cast<Acc>(w[1].size[oh] * w[2].size[ow]));
    }
    const Acc kd = static_cast<Acc>(w[0].size[od]);
    const Acc kh = static_cast<Acc>(w[1].size[oh]);
    const Acc kw = static_cast<Acc>(w[2].size[ow]);
    return Elem<T>::Store(sum / kd / kh / kw);
  }
};

// Channels ATen's channels-last adaptive_avg_pool2d kernel covers with full
// vectors: AVX2 holds 8 floats, 4 doubles, 16 bfloat16 values.
template <typename T>
int64_t FusedDivisionChannels(const PoolPlan& plan) {
  if (!plan.channels_last || !plan.batched || plan.op.spatial_dims == 3)
    return 0;
  const int64_t lanes = std::is_same_v<T, BFloat16> ? 16
                        : std::is_same_v<T, double> ? 4
                                                    : 8;
  return plan.channels - plan.channels % lanes;
}

// adaptive_avg_pool3d on float16, which torch 1.13 runs in c10::Half
// arithmetic: every addition and each of the three divisions rounds to
// float16.
struct HalfAdaptiveAvgPolicy {
  using Acc = float;
  const Windows3* windows;

  static float Round(float v) { return Float16ToFloat(FloatToFloat16(v)); }
  float Zero() const { return 0.0f; }
  float Add(float sum, float v) const { return Round(sum + v); }
  Float16 Finish(float sum, int64_t od, int64_t oh, int64_t ow,
                 int64_t /*channel*/) const {
    const Windows3& w = *windows;
    const float kd = Round(static_cast<float>(w[0].size[od]));
    const float kh = Round(static_cast<float>(w[1].size[oh]));
    const float kw = Round(static_cast<float>(w[2].size[ow]));
    return FloatToFloat16(Round(Round(sum / kd) / kh) / kw);
  }
};

// Global average pooling (every output size 1), which torch computes as
// input.mean(spatial dims): ATen's cascade sum (cascade_sum-inl.h), stored
// in the element type, then divided by the element count. float16 too:
// torch's mean path bypasses the pooling kernels' dtype check.
template <typename T>
absl::Status GlobalMean(const PoolPlan& plan, const T* in, T* out,
                        const ExecOptions& exec) {
  using Acc = typename Elem<T>::Acc;
  const Geometry g(plan);
  const int64_t size = g.in_plane();
  const int64_t channels = g.channels;
  // mean's div_ by the count runs in the element type: for bfloat16 and
  // float16 the count itself is rounded to that type first.
  const Acc count = Elem<T>::Load(Elem<T>::Store(static_cast<Acc>(size)));
  auto finish = [&](Acc sum) {
    // The sum is accumulated into a zero-filled output (so -0 becomes +0).
    const Acc stored = Elem<T>::Load(Elem<T>::Store(Acc(0) + sum));
    return Elem<T>::Store(stored / count);
  };
  if (plan.channels_last && channels > 1) {
    // Units are blocks of up to kMaxLanes channels of one sample, never
    // straddling the boundary between the two summation orders.
    const int64_t split = CascadeChannels<T>(channels);
    const int64_t head_blocks = (split + kMaxLanes - 1) / kMaxLanes;
    const int64_t blocks =
        head_blocks + (channels - split + kMaxLanes - 1) / kMaxLanes;
    return ParallelFor(
        g.batch * blocks, size * kMaxLanes, exec, [&](int64_t u0, int64_t u1) {
          Acc sums[kMaxLanes];
          for (int64_t u = u0; u < u1; ++u) {
            const int64_t n = u / blocks, b = u % blocks;
            const int64_t c0 = b < head_blocks
                                   ? b * kMaxLanes
                                   : split + (b - head_blocks) * kMaxLanes;
            const int64_t c1 =
                std::min(b < head_blocks ? split : channels, c0 + kMaxLanes);
            StridedChannelSums<T>(in + n * size * channels, size, channels, c0,
                                  c1, sums);
            for (int64_t c = c0; c < c1; ++c)
              out[n * channels + c] = finish(sums[c - c0]);
          }
        });
  }
  return ParallelFor(g.planes, size, exec, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      out[p] = finish(ContiguousSum<T>(in + p * size, size));
  });
}

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
      return absl::InternalError(
          "adaptive_avg_pool on an integer dtype was planned");
    } else {
      const T* in = input.data_as<T>();
      T* out = output.data_as<T>();
      if (plan.out[0] == 1 && plan.out[1] == 1 && plan.out[2] == 1) {
        return GlobalMean<T>(plan, in, out, exec);
      }
      if constexpr (std::is_same_v<T, Float16>) {
        if (plan.op.spatial_dims == 3) {
          const HalfAdaptiveAvgPolicy policy{&windows};
          return SumKernel<T>(geometry, windows, in, out, policy, exec);
        }
      }
      const AdaptiveAvgPolicy<T> policy{&windows,
                                        FusedDivisionChannels<T>(plan)};
      return SumKernel<T>(geometry, windows, in, out, policy, exec);
    }
  });
}

}  // namespace poolcat::pool_internal
