// Internal building blocks shared by the pooling kernels (max_pool.cc,
// avg_pool.cc, adaptive_pool.cc): element traits, per-axis window tables,
// the parallel driver and the two generic kernels (windowed max and
// windowed sum). Not part of the public API.
//
// Every plan is normalised to 3 spatial dims (D, H, W). A kernel walks
// either output rows of a channels-first plane (unit = one (plane, od, oh)
// row) or output pixels of a channels-last tensor (unit = one (n, od, oh,
// ow) pixel, inner loop over channels). Both visit a window in row-major
// (d, h, w) order, the order ATen sums in, so float results are
// bit-identical to PyTorch's.
#ifndef POOLCAT_CORE_POOL_KERNEL_INL_H_
#define POOLCAT_CORE_POOL_KERNEL_INL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "core/dtype.h"
#include "core/exec.h"
#include "core/float16.h"
#include "core/pool.h"

namespace poolcat::pool_internal {

// How an element type is loaded into its accumulation type and stored back
// (once, rounding to nearest even for the 16-bit floats).
template <typename T>
struct Elem {
  using Acc = T;  // double, float and the integer types accumulate as is
  static Acc Load(T v) { return v; }
  static T Store(Acc v) { return v; }
};
template <>
struct Elem<BFloat16> {
  using Acc = float;
  static float Load(BFloat16 v) { return BFloat16ToFloat(v); }
  static BFloat16 Store(float v) { return FloatToBFloat16(v); }
};
template <>
struct Elem<Float16> {
  using Acc = float;
  static float Load(Float16 v) { return Float16ToFloat(v); }
  static Float16 Store(float v) { return FloatToFloat16(v); }
};

// -inf for floating types; the lowest value for integers (a window of only
// lowest values then keeps its first index, as an all -inf window does).
template <typename Acc>
constexpr Acc LowestValue() {
  if constexpr (std::numeric_limits<Acc>::has_infinity) {
    return -std::numeric_limits<Acc>::infinity();
  } else {
    return std::numeric_limits<Acc>::lowest();
  }
}

template <typename Acc>
inline bool IsNan(Acc v) {
  if constexpr (std::is_floating_point_v<Acc>) {
    return std::isnan(v);
  } else {
    return false;
  }
}

// Calls fn(T{}) with the C++ element type of `dtype`. REQUIRES: not bool.
template <typename Fn>
auto DispatchDType(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kFloat64:
      return fn(double{});
    case DType::kBFloat16:
      return fn(BFloat16{});
    case DType::kFloat16:
      return fn(Float16{});
    case DType::kInt8:
      return fn(int8_t{});
    case DType::kUInt8:
      return fn(uint8_t{});
    case DType::kInt16:
      return fn(int16_t{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kFloat32:
    case DType::kBool:
      break;
  }
  return fn(float{});
}

// Input windows along one axis: output o reads [begin[o], end[o]) with
// stride `step` (the dilation). `size[o]` is the window size before
// clipping to the input (avg_pool's count_include_pad divisor factor).
struct AxisWindows {
  std::vector<int64_t> begin;
  std::vector<int64_t> end;
  std::vector<int64_t> size;
  int64_t step = 1;
};
using Windows3 = AxisWindows[3];

// max_pool: start o*s-p, end min(start+(k-1)*d+1, in), start advanced by
// whole dilations into the input (ATen's `while (ih0 < 0) ih0 += d`).
AxisWindows MaxAxisWindows(int64_t in, int64_t out, int64_t kernel,
                           int64_t stride, int64_t pad, int64_t dilation);
// avg_pool: start o*s-p, end min(start+k, in+p), size = end-start, then
// both clipped to [0, in].
AxisWindows AvgAxisWindows(int64_t in, int64_t out, int64_t kernel,
                           int64_t stride, int64_t pad);
// adaptive pooling: [floor(o*in/out), ceil((o+1)*in/out)) in exact
// integer arithmetic, as ATen 1.13's start_index/end_index.
AxisWindows AdaptiveAxisWindows(int64_t in, int64_t out);

// Threads for this call: exec.num_threads, else ComputeThreads().
int NumThreads(const ExecOptions& exec);

// Runs fn(begin, end) over [0, units) in chunks on up to NumThreads(exec)
// OpenMP threads (one thread when the whole job is small). `unit_cost` is a
// rough count of element reads per unit. Checks exec.cancelled before each
// chunk and returns Cancelled if it was raised, OK otherwise.
absl::Status ParallelFor(int64_t units, int64_t unit_cost,
                         const ExecOptions& exec,
                         absl::FunctionRef<void(int64_t, int64_t)> fn);

// Geometry of a plan in normalised form.
struct Geometry {
  int64_t planes;    // N * C
  int64_t batch;     // N
  int64_t channels;  // C
  int64_t in[3];
  int64_t out[3];
  bool channels_last;

  explicit Geometry(const PoolPlan& plan)
      : planes(plan.batch * plan.channels),
        batch(plan.batch),
        channels(plan.channels),
        in{plan.in[0], plan.in[1], plan.in[2]},
        out{plan.out[0], plan.out[1], plan.out[2]},
        channels_last(plan.channels_last) {}
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

// Channels-first kernels hand out whole output rows: row r of the
// (planes, od, oh) grid.
struct OutputRow {
  int64_t plane, d, h;
};
inline OutputRow OutputRowAt(const Geometry& g, int64_t r) {
  return {r / (g.out[0] * g.out[1]), (r / g.out[1]) % g.out[0], r % g.out[1]};
}

// Channels-last kernels hand out output pixels: pixel p of the
// (batch, od, oh, ow) grid.
struct OutputPixel {
  int64_t n, d, h, w;
};
inline OutputPixel OutputPixelAt(const Geometry& g, int64_t p) {
  const int64_t od = g.out[0], oh = g.out[1], ow = g.out[2];
  return {p / (od * oh * ow), (p / (oh * ow)) % od, (p / ow) % oh, p % ow};
}

// Element reads of the first window: the per-output cost ParallelFor uses
// to size its chunks (windows differ little, so the first stands for all).
inline int64_t FirstWindowCost(const Windows3& w) {
  int64_t cost = 1;
  for (const AxisWindows& axis : w) {
    if (!axis.end.empty()) cost *= axis.end[0] - axis.begin[0];
  }
  return std::max<int64_t>(cost, 1);
}

// Windowed max (max_pool, adaptive_max_pool). The window's first element
// position is the initial index; a value replaces the running max when it
// is greater or NaN, so ties keep the first index and the last NaN wins.
// `indices` (flattened per spatial plane, int64) may be null.
template <typename T>
absl::Status MaxKernel(const Geometry& g, const Windows3& w, const T* in,
                       T* out, int64_t* indices, const ExecOptions& exec) {
  using E = Elem<T>;
  using Acc = typename E::Acc;
  const int64_t ih = g.in[1], iw = g.in[2];
  const int64_t od = g.out[0], oh = g.out[1], ow = g.out[2];
  const int64_t window_cost = FirstWindowCost(w);
  if (!g.channels_last) {
    const int64_t rows = g.planes * od * oh;
    return ParallelFor(
        rows, ow * window_cost, exec, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const auto [plane, d_out, h_out] = OutputRowAt(g, r);
            const T* ip = in + plane * g.in_plane();
            T* op = out + r * ow;
            int64_t* xp = indices == nullptr ? nullptr : indices + r * ow;
            const int64_t d0 = w[0].begin[d_out], d1 = w[0].end[d_out];
            const int64_t h0 = w[1].begin[h_out], h1 = w[1].end[h_out];
            for (int64_t x = 0; x < ow; ++x) {
              const int64_t w0 = w[2].begin[x], w1 = w[2].end[x];
              int64_t best_index = (d0 * ih + h0) * iw + w0;
              Acc best = LowestValue<Acc>();
              for (int64_t d = d0; d < d1; d += w[0].step) {
                for (int64_t h = h0; h < h1; h += w[1].step) {
                  const int64_t row = (d * ih + h) * iw;
                  for (int64_t c = w0; c < w1; c += w[2].step) {
                    const Acc v = E::Load(ip[row + c]);
                    if (v > best || IsNan(v)) {
                      best = v;
                      best_index = row + c;
                    }
                  }
                }
              }
              op[x] = E::Store(best);
              if (xp != nullptr) xp[x] = best_index;
            }
          }
        });
  }
  // Channels-last: one unit per output pixel, vectorisable channel loop.
  const int64_t ch = g.channels;
  const int64_t pixels = g.batch * od * oh * ow;
  return ParallelFor(
      pixels, ch * window_cost, exec, [&](int64_t p0, int64_t p1) {
        std::vector<Acc> best(ch);
        std::vector<int64_t> best_index(ch);
        for (int64_t p = p0; p < p1; ++p) {
          const auto [n, d_out, h_out, w_out] = OutputPixelAt(g, p);
          const T* ip = in + n * g.in_plane() * ch;
          const int64_t d0 = w[0].begin[d_out], d1 = w[0].end[d_out];
          const int64_t h0 = w[1].begin[h_out], h1 = w[1].end[h_out];
          const int64_t w0 = w[2].begin[w_out], w1 = w[2].end[w_out];
          const int64_t first = (d0 * ih + h0) * iw + w0;
          for (int64_t c = 0; c < ch; ++c) {
            best[c] = LowestValue<Acc>();
            best_index[c] = first;
          }
          for (int64_t d = d0; d < d1; d += w[0].step) {
            for (int64_t h = h0; h < h1; h += w[1].step) {
              for (int64_t x = w0; x < w1; x += w[2].step) {
                const int64_t index = (d * ih + h) * iw + x;
                const T* src = ip + index * ch;
                Acc* bp = best.data();
                if (indices == nullptr) {
                  // Values only: a select the compiler vectorises.
                  for (int64_t c = 0; c < ch; ++c) {
                    const Acc v = E::Load(src[c]);
                    bp[c] = (v > bp[c] || IsNan(v)) ? v : bp[c];
                  }
                  continue;
                }
                int64_t* bi = best_index.data();
                for (int64_t c = 0; c < ch; ++c) {
                  const Acc v = E::Load(src[c]);
                  const bool take = v > bp[c] || IsNan(v);
                  bp[c] = take ? v : bp[c];
                  bi[c] = take ? index : bi[c];
                }
              }
            }
          }
          T* op = out + p * ch;
          for (int64_t c = 0; c < ch; ++c) op[c] = E::Store(best[c]);
          if (indices != nullptr) {
            int64_t* xp = indices + p * ch;
            for (int64_t c = 0; c < ch; ++c) xp[c] = best_index[c];
          }
        }
      });
}

// Windowed sum (avg_pool, lp_pool, adaptive_avg_pool). Sums each window in
// row-major order with Policy::Add starting from Policy::Zero(), then writes
// Policy::Finish(sum, od, oh, ow, channel). An empty window
// (only possible in theory) writes zero, as ATen does.
template <typename T, typename Policy>
absl::Status SumKernel(const Geometry& g, const Windows3& w, const T* in,
                       T* out, const Policy& policy, const ExecOptions& exec) {
  using E = Elem<T>;
  using Acc = typename Policy::Acc;
  const int64_t ih = g.in[1], iw = g.in[2];
  const int64_t od = g.out[0], oh = g.out[1], ow = g.out[2];
  const int64_t window_cost = FirstWindowCost(w);
  if (!g.channels_last) {
    const int64_t rows = g.planes * od * oh;
    return ParallelFor(
        rows, ow * window_cost, exec, [&](int64_t r0, int64_t r1) {
          for (int64_t r = r0; r < r1; ++r) {
            const auto [plane, d_out, h_out] = OutputRowAt(g, r);
            const T* ip = in + plane * g.in_plane();
            T* op = out + r * ow;
            const int64_t d0 = w[0].begin[d_out], d1 = w[0].end[d_out];
            const int64_t h0 = w[1].begin[h_out], h1 = w[1].end[h_out];
            for (int64_t x = 0; x < ow; ++x) {
              const int64_t w0 = w[2].begin[x], w1 = w[2].end[x];
              if (d0 >= d1 || h0 >= h1 || w0 >= w1) {
                op[x] = E::Store(0);
                continue;
              }
              Acc sum = policy.Zero();
              for (int64_t d = d0; d < d1; ++d) {
                for (int64_t h = h0; h < h1; ++h) {
                  const T* src = ip + (d * ih + h) * iw;
                  for (int64_t c = w0; c < w1; ++c)
                    sum = policy.Add(sum, E::Load(src[c]));
                }
              }
              op[x] = policy.Finish(sum, d_out, h_out, x, plane % g.channels);
            }
          }
        });
  }
  const int64_t ch = g.channels;
  const int64_t pixels = g.batch * od * oh * ow;
  return ParallelFor(
      pixels, ch * window_cost, exec, [&](int64_t p0, int64_t p1) {
        std::vector<Acc> sums(ch);
        for (int64_t p = p0; p < p1; ++p) {
          const auto [n, d_out, h_out, w_out] = OutputPixelAt(g, p);
          const T* ip = in + n * g.in_plane() * ch;
          T* op = out + p * ch;
          const int64_t d0 = w[0].begin[d_out], d1 = w[0].end[d_out];
          const int64_t h0 = w[1].begin[h_out], h1 = w[1].end[h_out];
          const int64_t w0 = w[2].begin[w_out], w1 = w[2].end[w_out];
          if (d0 >= d1 || h0 >= h1 || w0 >= w1) {
            for (int64_t c = 0; c < ch; ++c) op[c] = E::Store(0);
            continue;
          }
          Acc* sp = sums.data();
          for (int64_t c = 0; c < ch; ++c) sp[c] = policy.Zero();
          for (int64_t d = d0; d < d1; ++d) {
            for (int64_t h = h0; h < h1; ++h) {
              for (int64_t x = w0; x < w1; ++x) {
                const T* src = ip + ((d * ih + h) * iw + x) * ch;
                for (int64_t c = 0; c < ch; ++c)
                  sp[c] = policy.Add(sp[c], E::Load(src[c]));
              }
            }
          }
          for (int64_t c = 0; c < ch; ++c)
            op[c] = policy.Finish(sp[c], d_out, h_out, w_out, c);
        }
      });
}

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_POOL_KERNEL_INL_H_
