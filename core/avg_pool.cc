#include "core/avg_pool.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <vector>

#include "core/pool_kernel-inl.h"

namespace poolcat::pool_internal {
namespace {

// Divides each window sum by ATen's divide_factor.
template <typename T>
struct AvgPolicy {
  using Acc = typename Elem<T>::Acc;
  const Windows3* windows;
  bool count_include_pad;
  std::optional<int64_t> divisor_override;
  // avg_pool3d_out_frame keeps the factor in an `int`.
  bool int_divisor;
  // ATen's channels-first kernels add the quotient to a zeroed output, so a
  // -0 quotient (negative divisor_override) comes out +0; the 2-D
  // channels-last kernel stores the quotient itself.
  bool add_to_zero;

  Acc Zero() const { return Acc(0); }
  Acc Add(Acc sum, Acc v) const { return sum + v; }
  T Finish(Acc sum, int64_t od, int64_t oh, int64_t ow,
           int64_t /*channel*/) const {
    const Windows3& w = *windows;
    int64_t factor;
    if (divisor_override.has_value()) {
      factor = *divisor_override;
    } else if (count_include_pad) {
      // Unsigned arithmetic: a product of huge padded windows wraps as
      // ATen's int64 product does, without undefined behaviour.
      factor = static_cast<int64_t>(static_cast<uint64_t>(w[0].size[od]) *
                                    static_cast<uint64_t>(w[1].size[oh]) *
                                    static_cast<uint64_t>(w[2].size[ow]));
    } else {
      factor = (w[0].end[od] - w[0].begin[od]) *
               (w[1].end[oh] - w[1].begin[oh]) *
               (w[2].end[ow] - w[2].begin[ow]);
    }
    if (int_divisor) factor = static_cast<int32_t>(factor);
    const Acc quotient = sum / static_cast<Acc>(factor);
    return Elem<T>::Store(add_to_zero ? Acc(0) + quotient : quotient);
  }
};

void BuildAvgWindows(const PoolPlan& plan, Windows3& windows) {
  for (int i = 0; i < 3; ++i) {
    windows[i] = AvgAxisWindows(plan.in[i], plan.out[i], plan.kernel[i],
                                plan.stride[i], plan.pad[i]);
  }
}

// Average over `plan`'s windows of `in` (element type T) into `out`.
template <typename T>
absl::Status AvgInto(const PoolPlan& plan, const Windows3& windows, const T* in,
                     T* out, bool count_include_pad,
                     std::optional<int64_t> divisor_override,
                     const ExecOptions& exec) {
  const bool channels_last_2d =
      plan.channels_last && plan.batched && plan.op.spatial_dims == 2;
  const AvgPolicy<T> policy{&windows, count_include_pad, divisor_override,
                            plan.op.spatial_dims == 3, !channels_last_2d};
  return SumKernel<T>(Geometry(plan), windows, in, out, policy, exec);
}

// torch.pow(x, exponent) for a float tensor and a Python float exponent.
template <typename F>
F PowLikeTorch(F x, double exponent) {
  if (exponent == 0.5) return std::sqrt(x);
  if (exponent == -0.5) return F(1) / std::sqrt(x);
  if (exponent == -1.0) return F(1) / x;
  if (exponent == 2.0) return x * x;
  if (exponent == 3.0) return x * x * x;
  if (exponent == -2.0) return F(1) / (x * x);
  return static_cast<F>(std::pow(static_cast<double>(x), exponent));
}

// torch.pow on a bfloat16 tensor: sqrt/rsqrt/reciprocal on the double
// exponent, otherwise the exponent is first rounded to bfloat16, and every
// bfloat16 operation rounds its float32 result. ATen's elementwise loop runs
// vector code on whole blocks of 32 elements and scalar code on the rest;
// the two differ for rsqrt, which the scalar code computes as 1 / sqrt(x)
// in bfloat16 (two roundings) and the vector code in float32 (one).
// `vector_lane` says which code an element gets.
float PowBFloat16(float x, double exponent, bool vector_lane) {
  auto r = [](float v) { return BFloat16ToFloat(FloatToBFloat16(v)); };
  if (exponent == 0.5) return r(std::sqrt(x));
  if (exponent == -0.5)
    return vector_lane ? r(1.0f / std::sqrt(x)) : r(1.0f / r(std::sqrt(x)));
  if (exponent == -1.0) return r(1.0f / x);
  const float e =
      BFloat16ToFloat(FloatToBFloat16(static_cast<float>(exponent)));
  if (e == 2.0f) return r(x * x);
  if (e == 3.0f) return r(r(x * x) * x);
  if (e == -2.0f) return r(1.0f / r(x * x));
  return r(static_cast<float>(
      std::pow(static_cast<double>(x), static_cast<double>(e))));
}

// Elements [0, VectorEnd(n)) of an n-element bfloat16 elementwise op take
// ATen's vector path (2 x Vectorized<BFloat16>::size() = 32 per step).
int64_t VectorEnd(int64_t n) { return n / 32 * 32; }

// sign(v) * relu(abs(v)): v itself, except that zeros become +0 (NaN stays).
template <typename F>
F SignReluAbs(F v) {
  return v == F(0) ? F(0) : v;
}

// lp_pool computed in type F (float or double), stored as T.
template <typename T, typename F>
absl::Status LpInFloat(const PoolPlan& plan, const Windows3& windows,
                       const TensorView& input, T* out,
                       const ExecOptions& exec) {
  const double p = plan.args.norm_type;
  const int64_t in_n = input.numel();
  const int64_t out_n = NumElements(plan.output_shape);
  const T* src = input.data_as<T>();
  std::vector<F> powered(in_n);
  for (int64_t i = 0; i < in_n; ++i) {
    powered[i] = PowLikeTorch<F>(static_cast<F>(Elem<T>::Load(src[i])), p);
  }
  std::vector<F> pooled(out_n);
  absl::Status st = AvgInto<F>(plan, windows, powered.data(), pooled.data(),
                               /*count_include_pad=*/true, std::nullopt, exec);
  if (!st.ok()) return st;
  const F kprod =
      static_cast<F>(plan.kernel[0] * plan.kernel[1] * plan.kernel[2]);
  const double inv_p = 1.0 / p;
  for (int64_t i = 0; i < out_n; ++i) {
    const F v = SignReluAbs(pooled[i]) * kprod;
    out[i] = Elem<T>::Store(
        static_cast<typename Elem<T>::Acc>(PowLikeTorch<F>(v, inv_p)));
  }
  return absl::OkStatus();
}

// lp_pool on bfloat16, rounding after each step as torch does.
absl::Status LpBFloat16(const PoolPlan& plan, const Windows3& windows,
                        const TensorView& input, BFloat16* out,
                        const ExecOptions& exec) {
  const double p = plan.args.norm_type;
  const int64_t in_n = input.numel();
  const int64_t out_n = NumElements(plan.output_shape);
  const BFloat16* src = input.data_as<BFloat16>();
  std::vector<BFloat16> powered(in_n);
  for (int64_t i = 0; i < in_n; ++i) {
    powered[i] = FloatToBFloat16(
        PowBFloat16(BFloat16ToFloat(src[i]), p, i < VectorEnd(in_n)));
  }
  absl::Status st =
      AvgInto<BFloat16>(plan, windows, powered.data(), out,
                        /*count_include_pad=*/true, std::nullopt, exec);
  if (!st.ok()) return st;
  const float kprod =
      static_cast<float>(plan.kernel[0] * plan.kernel[1] * plan.kernel[2]);
  const double inv_p = 1.0 / p;
  for (int64_t i = 0; i < out_n; ++i) {
    const float v = BFloat16ToFloat(
        FloatToBFloat16(SignReluAbs(BFloat16ToFloat(out[i])) * kprod));
    out[i] = FloatToBFloat16(PowBFloat16(v, inv_p, i < VectorEnd(out_n)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunAvgPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const ExecOptions& exec) {
  Windows3 windows;
  BuildAvgWindows(plan, windows);
  // avg_pool1d has no divisor_override in PyTorch.
  const std::optional<int64_t> divisor =
      plan.op.spatial_dims == 1 ? std::nullopt : plan.args.divisor_override;
  return DispatchDType(plan.dtype, [&](auto tag) -> absl::Status {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      return absl::InternalError("avg_pool on an integer dtype was planned");
    } else {
      return AvgInto<T>(plan, windows, input.data_as<T>(), output.data_as<T>(),
                        plan.args.count_include_pad, divisor, exec);
    }
  });
}

absl::Status RunLpPool(const PoolPlan& plan, const TensorView& input,
                       const MutableTensorView& output,
                       const ExecOptions& exec) {
  Windows3 windows;
  BuildAvgWindows(plan, windows);
  switch (plan.dtype) {
    case DType::kFloat32:
      return LpInFloat<float, float>(plan, windows, input,
                                     output.data_as<float>(), exec);
    case DType::kFloat64:
      return LpInFloat<double, double>(plan, windows, input,
                                       output.data_as<double>(), exec);
    case DType::kFloat16:
      return LpInFloat<Float16, float>(plan, windows, input,
                                       output.data_as<Float16>(), exec);
    case DType::kBFloat16:
      return LpBFloat16(plan, windows, input, output.data_as<BFloat16>(), exec);
    default:
      return absl::InternalError("lp_pool on an integer dtype was planned");
  }
}

}  // namespace poolcat::pool_internal
