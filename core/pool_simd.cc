// The Highway fast paths behind core/pool_simd.h: which plans they take,
// the job each becomes (geometry, banding, avg divisors) and the OpenMP
// driver over its units. The kernels themselves live one op family per
// file: max_pool_simd.cc, avg_pool_simd.cc, global_pool_simd.cc.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/pool_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h (which re-includes this file per target).
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {

// Name of the target this copy was compiled for; dispatched as the
// kernels are (one chosen target per process).
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include "core/pool_kernel-inl.h"
#include "core/pool_simd.h"
#include "core/pool_simd_job.h"

namespace poolcat::simd {
namespace internal {

HWY_EXPORT(TargetName);

namespace {

std::atomic<bool> g_enabled{true};

// Scratch kept per unit: a band's rows should stay in L2.
constexpr int64_t kBandBytes = int64_t{256} << 10;
// Refuse (generic path) shapes whose scratch rows would be absurd.
constexpr int64_t kMaxRowFloats = int64_t{1} << 22;
// Largest scratch (rows of a band) a unit may allocate (floats).
constexpr int64_t kMaxScratchFloats = int64_t{1} << 24;
// Largest divisor table built for avg_pool (floats).
constexpr int64_t kMaxDivisors = int64_t{1} << 24;

// 1-D and 2-D float32/bfloat16/float16 plans without dilation (3-D ops
// differ in small ways, e.g. avg_pool3d's int divisor: left to the generic
// kernels). Fills the geometry and banding of `job`.
bool Supported2d(const PoolPlan& plan, Pool2dJob& job) {
  if (plan.op.spatial_dims > 2) return false;
  switch (plan.dtype) {
    case DType::kFloat32:
      job.elem = ElemType::kFloat32;
      break;
    case DType::kBFloat16:
      job.elem = ElemType::kBFloat16;
      break;
    case DType::kFloat16:
      job.elem = ElemType::kFloat16;
      break;
    default:
      return false;
  }
  if (plan.in[0] != 1 || plan.out[0] != 1 || plan.kernel[0] != 1 ||
      plan.pad[0] != 0) {
    return false;
  }
  if (plan.dilation[1] != 1 || plan.dilation[2] != 1) return false;
  job.channels = plan.channels_last ? plan.channels : 1;
  job.ih = plan.in[1];
  job.iw = plan.in[2];
  job.oh = plan.out[1];
  job.ow = plan.out[2];
  job.kh = plan.kernel[1];
  job.kw = plan.kernel[2];
  job.sh = plan.stride[1];
  job.sw = plan.stride[2];
  job.ph = plan.pad[1];
  job.pw = plan.pad[2];
  if (job.ih <= 0 || job.iw <= 0 || job.oh <= 0 || job.ow <= 0) return false;
  if (!plan.channels_last && job.sw != 1 && job.sw != 2) return false;
  // Sizes bounded so every scratch computation stays far from overflow.
  const int64_t row_floats =
      plan.channels_last ? job.ow * job.channels
                         : job.ow * job.sw + job.pw + job.iw + 3 * job.kw;
  if (job.kw > kMaxRowFloats || job.kh > kMaxRowFloats ||
      row_floats > kMaxRowFloats) {
    return false;
  }
  int64_t band = std::max<int64_t>(
      1, (kBandBytes / (4 * row_floats) - job.kh) / job.sh + 1);
  band = std::min(band, job.oh);
  job.band = band;
  job.bands = (job.oh + band - 1) / band;
  job.band_rows = std::min((band - 1) * job.sh + job.kh, job.ih);
  if (job.band_rows * row_floats > kMaxScratchFloats) return false;
  return true;
}

// Small channels-first max_pool planes with width stride 1 (SPPF) go
// through MaxPoolCFFlat, one unit per plane: rows narrower than a few
// vectors waste most lanes in the banded kernel. Windows up to 9 wide and
// high (the flat kernel folds the taps one by one).
void UseFlatPlanes(const PoolPlan& plan, Pool2dJob& job) {
  constexpr int64_t kMaxFlatTaps = 9;
  constexpr int64_t kMaxFlatWidth = 64;
  constexpr int64_t kMaxFlatFloats = int64_t{16}
                                     << 10;  // 64 KB: stays in L1/L2
  if (plan.channels_last || job.sw != 1 || job.kw > kMaxFlatTaps ||
      job.kh > kMaxFlatTaps)
    return;
  const int64_t pitch = std::max(job.pw + job.iw, job.ow - 1 + job.kw);
  const int64_t rows =
      std::max(job.ph + job.ih, (job.oh - 1) * job.sh + job.kh);
  if (job.iw > kMaxFlatWidth || rows * pitch > kMaxFlatFloats) return;
  job.flat_pitch = pitch;
  job.flat_rows = rows;
  job.band = job.oh;
  job.bands = 1;
}

int64_t Outer(const PoolPlan& plan) {
  return plan.channels_last ? plan.batch : plan.batch * plan.channels;
}

// Runs fn over every unit of the job on the OpenMP pool; the generic
// kernels' driver does the chunking and cancellation checks.
template <typename Fn>
void RunUnits(const PoolPlan& plan, const Pool2dJob& job,
              const ExecOptions& exec, Fn fn) {
  const int64_t units = Outer(plan) * job.bands;
  const int64_t cost = job.band * job.ow * job.channels * job.kh * job.kw;
  // Cancellation surfaces through RunPool's own check after we return.
  (void)pool_internal::ParallelFor(
      units, cost, exec, [&](int64_t u0, int64_t u1) { fn(job, u0, u1); });
}

// The avg_pool divisor of every output, as avg_pool.cc's AvgPolicy computes
// it (ATen's divide_factor), converted to float once.
std::vector<float> AvgDivisors(const PoolPlan& plan, const Pool2dJob& job) {
  // Padded so a full vector can be loaded at any output of the last row.
  std::vector<float> div(static_cast<size_t>(job.oh * job.ow + 64), 1.0f);
  // The factor is separable: (rows of the window) x (columns), each a size
  // or a count, or the override; an empty window (no input row or column)
  // gets 1 (its sum, 0, is stored as is). Built per axis, then row by row
  // as column factor x row factor + (1 for empty columns): the products are
  // exact in float below 2^24, and the table is built per call, where one
  // plane's pooling costs about as much as the table.
  const auto axis = [](int64_t o, int64_t s, int64_t p, int64_t k, int64_t n,
                       bool include_pad) {
    const int64_t start = o * s - p;
    const int64_t end = std::min(start + k, n + p);
    const int64_t count = std::min(end, n) - std::max<int64_t>(start, 0);
    if (count <= 0) return int64_t{0};  // empty
    return include_pad ? end - start : count;
  };
  const bool include_pad = plan.args.count_include_pad;
  const bool override = plan.args.divisor_override.has_value();
  std::vector<float> col_factor(static_cast<size_t>(job.ow));
  std::vector<float> col_empty(static_cast<size_t>(job.ow));
  int64_t max_col = 0;
  for (int64_t x = 0; x < job.ow; ++x) {
    const int64_t f = axis(x, job.sw, job.pw, job.kw, job.iw, include_pad);
    max_col = std::max(max_col, f);
    col_factor[static_cast<size_t>(x)] = f == 0     ? 0.0f
                                         : override ? 1.0f
                                                    : static_cast<float>(f);
    col_empty[static_cast<size_t>(x)] = f == 0 ? 1.0f : 0.0f;
  }
  const float override_factor =
      override ? static_cast<float>(*plan.args.divisor_override) : 0.0f;
  for (int64_t y = 0; y < job.oh; ++y) {
    const int64_t f = axis(y, job.sh, job.ph, job.kh, job.ih, include_pad);
    if (f == 0) continue;  // every window of the row is empty: 1s
    float* row = div.data() + y * job.ow;
    if (!override && f * max_col >= (int64_t{1} << 24)) {
      // Products a float may not hold exactly: round the int64 product.
      for (int64_t x = 0; x < job.ow; ++x) {
        const int64_t c = axis(x, job.sw, job.pw, job.kw, job.iw, include_pad);
        row[x] = c == 0 ? 1.0f : static_cast<float>(f * c);
      }
      continue;
    }
    const float row_factor = override ? override_factor : static_cast<float>(f);
    const float* HWY_RESTRICT cf = col_factor.data();
    const float* HWY_RESTRICT ce = col_empty.data();
    for (int64_t x = 0; x < job.ow; ++x) row[x] = row_factor * cf[x] + ce[x];
  }
  return div;
}

}  // namespace
}  // namespace internal

void SetFastPathsEnabledForTest(bool enabled) {
  internal::g_enabled.store(enabled);
}

const char* DispatchedTargetName() {
  return HWY_DYNAMIC_DISPATCH(internal::TargetName)();
}

bool TryMaxPool(const PoolPlan& plan, const TensorView& input,
                const MutableTensorView& output,
                const MutableTensorView* indices, const ExecOptions& exec) {
  using namespace internal;  // NOLINT(build/namespaces): local to this body
  if (!g_enabled.load(std::memory_order_relaxed) || indices != nullptr)
    return false;
  Pool2dJob job{};
  if (!Supported2d(plan, job)) return false;
  job.in = input.data;
  job.in_numel = input.numel();
  job.out = output.data;
  UseFlatPlanes(plan, job);
  if (plan.channels_last) {
    RunUnits(plan, job, exec, MaxPoolCLUnits);
  } else {
    RunUnits(plan, job, exec, MaxPoolCFUnits);
  }
  return true;
}

bool TryAvgPool(const PoolPlan& plan, const TensorView& input,
                const MutableTensorView& output, const ExecOptions& exec) {
  using namespace internal;  // NOLINT(build/namespaces): local to this body
  if (!g_enabled.load(std::memory_order_relaxed)) return false;
  Pool2dJob job{};
  if (!Supported2d(plan, job) || job.oh * job.ow > kMaxDivisors) return false;
  const std::vector<float> divisors = AvgDivisors(plan, job);
  job.in = input.data;
  job.in_numel = input.numel();
  job.out = output.data;
  job.divisors = divisors.data();
  job.add_to_zero =
      !(plan.channels_last && plan.batched && plan.op.spatial_dims == 2);
  if (plan.channels_last) {
    RunUnits(plan, job, exec, AvgPoolCLUnits);
  } else {
    RunUnits(plan, job, exec, AvgPoolCFUnits);
  }
  return true;
}

bool TryAdaptiveAvgPool(const PoolPlan& plan, const TensorView& input,
                        const MutableTensorView& output,
                        const ExecOptions& exec) {
  using namespace internal;  // NOLINT(build/namespaces): local to this body
  if (!g_enabled.load(std::memory_order_relaxed)) return false;
  if (plan.dtype != DType::kFloat32) return false;
  if (plan.out[0] != 1 || plan.out[1] != 1 || plan.out[2] != 1) return false;
  GlobalJob job{input.data_as<float>(), output.data_as<float>(),
                plan.in[0] * plan.in[1] * plan.in[2], plan.channels};
  if (job.size <= 0) return false;
  if (plan.channels_last && plan.channels > 1) {
    (void)pool_internal::ParallelFor(
        plan.batch, job.size * plan.channels, exec,
        [&](int64_t i0, int64_t i1) { GlobalAvgCLImages(job, i0, i1); });
    return true;
  }
  // Channels-first (or a single channel): ATen's 8-lane inner sum.
  if (job.size < 8 || GlobalAvgCFLanes() != 8) return false;
  job.channels = 1;
  (void)pool_internal::ParallelFor(
      plan.batch * plan.channels, job.size, exec,
      [&](int64_t p0, int64_t p1) { GlobalAvgCFPlanes(job, p0, p1); });
  return true;
}

}  // namespace poolcat::simd

#endif  // HWY_ONCE