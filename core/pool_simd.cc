// Highway kernels behind core/pool_simd.h (see there for what is handled).
//
// Work is cut into units of (plane or image, band of output rows); the
// OpenMP driver (pool_internal::ParallelFor, shared with the generic
// kernels) runs ranges of units, each through HWY_DYNAMIC_DISPATCH. Inside
// a unit, input rows are first copied into padded scratch rows (-inf for
// max, +0.0 for avg) so the inner loops need no bounds checks, and output
// rows are vectors along the width (channels-first) or along C
// (channels-last); tails use masked stores (channels-first) or a one-lane
// descriptor (channels-last). bfloat16/float16 are widened to float32 lanes
// as they are loaded and rounded once, to nearest even, as they are stored,
// exactly as core/float16.h converts, so they share every kernel.
//
// Bit-identity with the generic kernels rests on three facts:
//  * MaxStep(best, v) = (v > best || isnan(v)) ? v : best is associative
//    over consecutive (even overlapping) segments of the window in row-major
//    order, so per-row maxima combined top to bottom give ATen's result,
//    including which NaN or which signed zero wins.
//  * Averages add the window's elements in row-major order, one vector lane
//    per output, starting from +0.0; the padding +0.0s read from scratch
//    rows leave such a sum unchanged (it can never be -0.0).
//  * Global average pooling replays ATen's cascade sum (cascade_sum-inl.h)
//    lane by lane, with the same association order.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#ifndef POOLCAT_CORE_POOL_SIMD_JOB_ONCE_
#define POOLCAT_CORE_POOL_SIMD_JOB_ONCE_
#include "core/float16.h"
#include "hwy/aligned_allocator.h"

namespace poolcat::simd::internal {

// Element types the 2-D kernels take; all compute in float32 lanes.
enum class ElemType { kFloat32, kBFloat16, kFloat16 };

// A 2-D pooling job in the plan's normalised (H, W) form.
struct Pool2dJob {
  const void* in;
  int64_t in_numel;
  void* out;
  ElemType elem;
  int64_t channels;  // channels-last: C; channels-first: 1
  int64_t ih, iw, oh, ow;
  int64_t kh, kw, sh, sw, ph, pw;
  int64_t band;       // output rows per unit
  int64_t bands;      // units per plane (channels-first) or image (channels-last)
  int64_t band_rows;  // most input rows a band reads (scratch rows to hold)
  // avg_pool: the float divisor of output (y, x) at divisors[y * ow + x];
  // 1.0 where a window is empty (the sum, +0.0, is then stored as is) and
  // for a vector's worth of lanes past the end.
  const float* divisors;
  // avg_pool: store +0.0 + quotient (a -0 quotient, from a negative
  // divisor_override, becomes +0) as ATen's kernels that accumulate into a
  // zeroed output do: all but the batched 2-D channels-last one.
  bool add_to_zero;
  // Channels-first max_pool of small planes (MaxPoolCFFlat): the row pitch
  // and row count of the padded scratch plane; 0 for the banded kernels.
  int64_t flat_pitch;
  int64_t flat_rows;
};

// A float32 global average pooling job: planes (channels-first) or images
// (channels-last) of `size` spatial positions each.
struct GlobalJob {
  const float* in;
  float* out;
  int64_t size;      // spatial positions per plane
  int64_t channels;  // channels-last: C (1 for channels-first)
};

// Input rows [begin, end) read by output o of an axis (stride s, pad p,
// kernel k, input size n): ATen's window, clipped to the input.
struct Range {
  int64_t begin;
  int64_t end;
};
inline Range Window(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n) {
  const int64_t start = o * s - p;
  const int64_t end = start + k < n ? start + k : n;
  return {start > 0 ? start : 0, end};
}

// Input rows touched by a band of output rows [y0, y1).
inline Range BandRows(const Pool2dJob& job, int64_t y0, int64_t y1) {
  const Range first = Window(y0, job.sh, job.ph, job.kh, job.ih);
  const Range last = Window(y1 - 1, job.sh, job.ph, job.kh, job.ih);
  return {first.begin, last.end > first.begin ? last.end : first.begin};
}

inline int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Work unit u of a job: output rows [y0, y1) of one plane (channels-first)
// or image (channels-last), and that plane's or image's input and output.
template <typename T>
struct Unit {
  const T* in;
  T* out;
  int64_t y0, y1;
};
template <typename T>
inline Unit<T> UnitAt(const Pool2dJob& job, int64_t u) {
  const int64_t outer = u / job.bands;  // plane or image
  const int64_t y0 = (u % job.bands) * job.band;
  return {static_cast<const T*>(job.in) + outer * job.ih * job.iw * job.channels,
          static_cast<T*>(job.out) + outer * job.oh * job.ow * job.channels, y0,
          y0 + job.band < job.oh ? y0 + job.band : job.oh};
}

// c10::utils::CeilLog2 as the cascade sum uses it (1 for x <= 2).
inline int64_t CeilLog2(int64_t x) {
  if (x <= 2) return 1;
  return 64 - __builtin_clzll(static_cast<unsigned long long>(x - 1));
}

// Scratch floats for one kernel call, aligned for any target. Small
// requests reuse a per-thread buffer (one per `slot`), so tiny jobs such as
// a 4x4 pooling pay no allocation; large ones get their own allocation,
// freed at the end of the call, so a thread never keeps more than
// kRetainedFloats per slot.
class ScratchFloats {
 public:
  static constexpr int64_t kRetainedFloats = int64_t{64} << 10;  // 256 KB

  ScratchFloats(int slot, int64_t count) {
    thread_local hwy::AlignedFreeUniquePtr<float[]> kept[2];
    thread_local int64_t kept_count[2] = {0, 0};
    if (count > kRetainedFloats) {
      owned_ = hwy::AllocateAligned<float>(static_cast<size_t>(count));
      data_ = owned_.get();
      return;
    }
    if (kept_count[slot] < count) {
      kept[slot] = hwy::AllocateAligned<float>(static_cast<size_t>(kRetainedFloats));
      kept_count[slot] = kRetainedFloats;
    }
    data_ = kept[slot].get();
  }
  float* get() const { return data_; }
  float& operator[](int64_t i) const { return data_[i]; }

 private:
  hwy::AlignedFreeUniquePtr<float[]> owned_;
  float* data_ = nullptr;
};

}  // namespace poolcat::simd::internal
#endif  // POOLCAT_CORE_POOL_SIMD_JOB_ONCE_

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/pool_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep

#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

constexpr int64_t kPrefetchRows = 4;
// Padded copies of input rows are made kCopyAhead rows before they are
// read, into a ring of kCopyRing rows: loads straight after the (unaligned)
// stores of a copy would wait for the stores to commit, as store-to-load
// forwarding fails for loads spanning several stores.
constexpr int64_t kCopyAhead = 2;
constexpr int64_t kCopyRing = 4;
// Scratch floats per buffer for a group of small planes (MaxPoolCFFlat):
// two such buffers (32 KB) stay in L1/L2.
constexpr int64_t kFlatGroupFloats = 4096;
using D1 = hn::CappedTag<float, 1>;

// ATen's max update: v replaces best when greater or NaN.
template <class V>
HWY_INLINE V MaxStep(V best, V v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  // x86 MAXPS(a, b) is exactly `a > b ? a : b` (b on ties and NaN), so only
  // a NaN v needs a blend: one instruction fewer in the innermost loops.
  return hn::IfThenElse(hn::IsNaN(v), v, hn::Max(v, best));
#else
  return hn::IfThenElse(hn::Or(v > best, hn::IsNaN(v)), v, best);
#endif
}

// Full unrolling of small loops with compile-time trip counts, typically
// ones indexing arrays of vectors that must stay in registers. GCC only:
// clang unrolls such loops by itself, and with the pragma took four times
// as long to compile this file (over 14 min, stopped unfinished, instead
// of under 4 min in the fuzz build).
#ifndef POOLCAT_UNROLL
#if defined(__clang__)
#define POOLCAT_UNROLL
#else
#define POOLCAT_UNROLL _Pragma("GCC unroll 16")
#endif
#endif

// Channels-first input is read once, row after row, plane after plane:
// keep the row kPrefetchRows ahead in flight. Past the plane's end this is
// the next plane (the next unit's data); past the tensor's end a prefetch
// is harmless (it never faults).
template <typename T>
HWY_INLINE void PrefetchRowAhead(const T* plane, int64_t row, int64_t width) {
  const char* c = reinterpret_cast<const char*>(plane + (row + kPrefetchRows) * width);
  for (int64_t i = 0; i < width * static_cast<int64_t>(sizeof(T)); i += 64) hwy::Prefetch(c + i);
}

// Loads Lanes(d) elements as float32 lanes. The 16-bit conversions are
// exact (c10's fp16_ieee_to_fp32_value, vectorised).
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const float* HWY_RESTRICT p) {
  return hn::LoadU(d, p);
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const BFloat16* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, D> d16;
  const hn::RebindToUnsigned<D> du;
  const auto h = hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p));
  return hn::BitCast(d, hn::ShiftLeft<16>(hn::PromoteTo(du, h)));
}
template <class D>
HWY_INLINE hn::Vec<D> LoadF(D d, const Float16* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, D> d16;
  const hn::RebindToUnsigned<D> du;
  const auto h = hn::LoadU(d16, reinterpret_cast<const uint16_t*>(p));
  const auto w = hn::ShiftLeft<16>(hn::PromoteTo(du, h));
  const auto sign = hn::And(w, hn::Set(du, 0x80000000u));
  const auto two_w = w + w;
  const auto normalized =
      hn::BitCast(d, hn::ShiftRight<4>(two_w) + hn::Set(du, 0xE0u << 23)) *
      hn::Set(d, 0x1.0p-112f);
  const auto denormalized =
      hn::BitCast(d, hn::Or(hn::ShiftRight<17>(two_w), hn::Set(du, 126u << 23))) -
      hn::Set(d, 0.5f);
  const auto is_denormal = hn::ShiftRight<27>(two_w) == hn::Zero(du);
  const auto magnitude = hn::IfThenElse(is_denormal, hn::BitCast(du, denormalized),
                                        hn::BitCast(du, normalized));
  return hn::BitCast(d, hn::Or(sign, magnitude));
}

// float32 lanes to bfloat16 bits: round to nearest even, NaN -> 0x7FC0
// (core/float16.h's FloatToBFloat16).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> ToHalfBits(D /*d*/, hn::Vec<D> v, BFloat16*) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto u = hn::BitCast(du, v);
  const auto rounded = hn::ShiftRight<16>(
      u + hn::Set(du, 0x7FFFu) + hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Set(du, 0x7FC0u), rounded);
  return hn::DemoteTo(d16, hn::BitCast(di, bits));
}

// float32 lanes to float16 bits: round to nearest even, overflow to inf,
// NaN -> sign | 0x7E00 (c10's fp16_ieee_from_fp32_value, vectorised).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> ToHalfBits(D d, hn::Vec<D> v, Float16*) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto w = hn::BitCast(du, v);
  const auto shl1_w = w + w;
  const auto sign = hn::And(w, hn::Set(du, 0x80000000u));
  auto base = (hn::Abs(v) * hn::Set(d, 0x1.0p+112f)) * hn::Set(d, 0x1.0p-110f);
  // bias = max(shl1_w & 0xFF000000, 0x71000000), compared as exponents.
  const auto exponent = hn::BitCast(di, hn::ShiftRight<24>(shl1_w));
  const auto bias = hn::ShiftLeft<24>(hn::BitCast(du, hn::Max(exponent, hn::Set(di, 0x71))));
  base = hn::BitCast(d, hn::ShiftRight<1>(bias) + hn::Set(du, 0x07800000u)) + base;
  const auto bits = hn::BitCast(du, base);
  const auto exp_bits = hn::And(hn::ShiftRight<13>(bits), hn::Set(du, 0x00007C00u));
  const auto mantissa_bits = hn::And(bits, hn::Set(du, 0x00000FFFu));
  const auto magnitude = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Set(du, 0x7E00u),
                                        exp_bits + mantissa_bits);
  return hn::DemoteTo(d16, hn::BitCast(di, hn::Or(hn::ShiftRight<16>(sign), magnitude)));
}

// Stores the first `count` lanes of v (all when count >= Lanes) as T.
template <class D>
HWY_INLINE void StoreF(D d, hn::Vec<D> v, int64_t count, float* HWY_RESTRICT p) {
  if (count >= static_cast<int64_t>(hn::Lanes(d))) {
    hn::StoreU(v, d, p);
  } else {
    hn::BlendedStore(v, hn::FirstN(d, static_cast<size_t>(count)), d, p);
  }
}
template <class D, typename Half>
HWY_INLINE void StoreF(D d, hn::Vec<D> v, int64_t count, Half* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, D> d16;
  const auto bits = ToHalfBits(d, v, p);
  uint16_t* q = reinterpret_cast<uint16_t*>(p);
  if (count >= static_cast<int64_t>(hn::Lanes(d))) {
    hn::StoreU(bits, d16, q);
  } else {
    hn::BlendedStore(bits, hn::FirstN(d16, static_cast<size_t>(count)), d16, q);
  }
}

// dst[0, count) = src[0, count) as float32.
template <typename T>
HWY_INLINE void ConvertRow(float* HWY_RESTRICT dst, const T* HWY_RESTRICT src, int64_t count) {
  if constexpr (std::is_same_v<T, float>) {
    std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(float));
  } else {
    const DF d;
    const D1 d1;
    const int64_t n = static_cast<int64_t>(hn::Lanes(d));
    int64_t i = 0;
    for (; i + n <= count; i += n) hn::StoreU(LoadF(d, src + i), d, dst + i);
    for (; i < count; ++i) hn::StoreU(LoadF(d1, src + i), d1, dst + i);
  }
}

// Length of a padded scratch row: the input row at offset pw, then enough
// padding for every tap of every (vector-rounded) output and the doubling
// passes' reads.
int64_t ScratchRowLength(const Pool2dJob& job, int64_t owr, int64_t lanes) {
  const int64_t a = job.pw + job.iw;
  const int64_t b = owr * job.sw + job.kw;
  // Whole vectors, so that rows carved out of one allocation stay aligned.
  return RoundUp((a > b ? a : b) + 2 * job.kw + 4 * lanes, lanes);
}

// Horizontal window max of one padded row for outputs [0, owr): width
// stride 1 or 2. `t0`, `t1` are scratch rows for the doubling passes.
void RowMax(const Pool2dJob& job, int64_t owr, const float* HWY_RESTRICT src,
            float* HWY_RESTRICT t0, float* HWY_RESTRICT t1,
            float* HWY_RESTRICT dst) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = job.kw;
  if (job.sw == 2) {
    // De-interleaved loads: even lanes are taps 0, 2, ..., odd lanes 1, 3, ...
    for (int64_t x = 0; x < owr; x += n) {
      const float* base = src + 2 * x;
      hn::Vec<DF> even, odd;
      hn::LoadInterleaved2(d, base, even, odd);
      hn::Vec<DF> acc = kw > 1 ? MaxStep(even, odd) : even;
      for (int64_t j = 2; j < kw; j += 2) {
        hn::LoadInterleaved2(d, base + j, even, odd);
        acc = MaxStep(acc, even);
        if (j + 1 < kw) acc = MaxStep(acc, odd);
      }
      hn::Store(acc, d, dst + x);
    }
    return;
  }
  if (kw <= 4) {
    for (int64_t x = 0; x < owr; x += n) {
      hn::Vec<DF> acc = hn::LoadU(d, src + x);
      for (int64_t j = 1; j < kw; ++j) acc = MaxStep(acc, hn::LoadU(d, src + x + j));
      hn::Store(acc, d, dst + x);
    }
    return;
  }
  // Large stride-1 windows: maxima of widths 2, 4, 8, ... by doubling, then
  // two overlapping power-of-two windows per output (log2(k) + 1 steps).
  int64_t stages = 0;
  while ((int64_t{2} << stages) <= kw) ++stages;
  const int64_t widest = int64_t{1} << stages;
  // need[t]: outputs of stage t (width 2^t) that later steps read.
  int64_t need[64];
  need[stages] = owr + kw - widest;
  for (int64_t t = stages; t > 0; --t) need[t - 1] = need[t] + (int64_t{1} << (t - 1));
  const float* m = src;
  float* bufs[2] = {t0, t1};
  for (int64_t t = 1; t <= stages; ++t) {
    const int64_t half = int64_t{1} << (t - 1);
    float* out = bufs[t & 1];
    for (int64_t x = 0; x < need[t]; x += n) {
      hn::Store(MaxStep(hn::LoadU(d, m + x), hn::LoadU(d, m + x + half)), d, out + x);
    }
    m = out;
  }
  for (int64_t x = 0; x < owr; x += n) {
    hn::Vec<DF> acc = hn::LoadU(d, m + x);
    if (widest < kw) acc = MaxStep(acc, hn::LoadU(d, m + x + kw - widest));
    hn::Store(acc, d, dst + x);
  }
}

// Whether a channels-first kernel may read input row `src` in place of a
// padded copy: no padding and every window inside the row, so only lanes of
// outputs past the row's end (never stored) see the following row's values,
// and the whole over-read (`row_len` floats) stays inside the input.
HWY_INLINE bool ReadsInPlace(const Pool2dJob& job, const float* src, int64_t row_len) {
  return job.pw == 0 && (job.ow - 1) * job.sw + job.kw <= job.iw &&
         static_cast<const float*>(job.in) + job.in_numel - src >= row_len;
}

// Channels-first max_pool over units [u0, u1) of (plane, band).
template <typename T>
void MaxPoolCFT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t owr = RoundUp(job.ow, n);
  const int64_t row_len = ScratchRowLength(job, owr, n);
  const int64_t band_rows = job.band_rows;
  ScratchFloats scratch(0, (kCopyRing + 2) * row_len);
  ScratchFloats rows(1, band_rows * owr);
  const float neg_inf = -__builtin_inff();
  // Padding of the padded rows; their middles [pw, pw + iw) are rewritten
  // per input row. The doubling rows need no initial values: lanes read
  // before being written only feed outputs past the row end.
  for (int64_t i = 0; i < kCopyRing * row_len; ++i) scratch[i] = neg_inf;
  float* ring = scratch.get();
  float* t0 = ring + kCopyRing * row_len;
  float* t1 = t0 + row_len;
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    const Range band = BandRows(job, y0, y1);
    int64_t next_row = band.begin;  // input rows are reduced just in time
    int64_t next_copy = band.begin;  // and copied kCopyAhead rows earlier
    const T* plane = ip;  // C++17 lambdas cannot capture structured bindings
    const auto in_place = [&](int64_t r) {
      if constexpr (std::is_same_v<T, float>) {
        return ReadsInPlace(job, plane + r * job.iw, row_len);
      }
      return false;
    };
    for (int64_t y = y0; y < y1; ++y) {
      const Range win = Window(y, job.sh, job.ph, job.kh, job.ih);
      for (; next_row < win.end; ++next_row) {
        const int64_t r = next_row;
        for (; next_copy < std::min(r + kCopyAhead + 1, band.end); ++next_copy) {
          PrefetchRowAhead(ip, next_copy, job.iw);
          if (!in_place(next_copy)) {
            ConvertRow(ring + (next_copy % kCopyRing) * row_len + job.pw,
                       ip + next_copy * job.iw, job.iw);
          }
        }
        const float* src = in_place(r) ? reinterpret_cast<const float*>(ip + r * job.iw)
                                       : ring + (r % kCopyRing) * row_len;
        RowMax(job, owr, src, t0, t1, rows.get() + (r - band.begin) * owr);
      }
      T* orow = op + y * job.ow;
      for (int64_t x = 0; x < job.ow; x += n) {
        hn::Vec<DF> acc = hn::Set(d, neg_inf);
        if (win.begin < win.end) {
          acc = hn::Load(d, rows.get() + (win.begin - band.begin) * owr + x);
          for (int64_t r = win.begin + 1; r < win.end; ++r) {
            acc = MaxStep(acc, hn::Load(d, rows.get() + (r - band.begin) * owr + x));
          }
        }
        StoreF(d, acc, job.ow - x, orow + x);
      }
    }
  }
}

// One step of a window max: MaxStep, or, when the plane holds no NaN, the
// bare x86 MAXPS (v > best ? v : best, MaxStep without its NaN blend).
template <bool kNaN, class V>
HWY_INLINE V MaxStepIf(V best, V v) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  if constexpr (!kNaN) return hn::Max(v, best);
#endif
  return MaxStep(best, v);
}

// Horizontal window max over the flattened padded plane `s` (row pitch
// job.flat_pitch), positions [begin, end): every vector is full, whatever
// the row width. Lanes whose window crosses into the next row only feed
// outputs past the row's end, which are never stored. kKW: the window
// width when known at compile time (0: job.kw).
template <bool kNaN, int kKW>
HWY_INLINE void FlatRowMax(const Pool2dJob& job, const float* HWY_RESTRICT s, int64_t begin,
                           int64_t end, float* HWY_RESTRICT h) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = kKW > 0 ? kKW : job.kw;
  for (int64_t i = begin; i < end; i += n) {
    hn::Vec<DF> acc = hn::LoadU(d, s + i);
    for (int64_t j = 1; j < kw; ++j) acc = MaxStepIf<kNaN>(acc, hn::LoadU(d, s + i + j));
    hn::Store(acc, d, h + i);
  }
}

// Output rows of a plane from the row maxima `h`: the max over each
// window's rows, top to bottom. With row stride 1, output rows go in pairs
// that share the fold of their common rows (MaxStep folds are associative
// over consecutive segments). kKH: the window height when known at compile
// time (0: job.kh).
template <bool kNaN, int kKH, typename T>
HWY_INLINE void FlatColumnMax(const Pool2dJob& job, const float* HWY_RESTRICT h,
                              T* HWY_RESTRICT op) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t pitch = job.flat_pitch;
  const int64_t kh = kKH > 0 ? kKH : job.kh;
  int64_t y = 0;
  if (job.sh == 1 && kh > 1) {
    for (; y + 2 <= job.oh; y += 2) {
      const float* top = h + y * pitch;
      T* orow = op + y * job.ow;
      for (int64_t x = 0; x < job.ow; x += n) {
        hn::Vec<DF> mid = hn::LoadU(d, top + pitch + x);
        for (int64_t r = 2; r < kh; ++r) {
          mid = MaxStepIf<kNaN>(mid, hn::LoadU(d, top + r * pitch + x));
        }
        const hn::Vec<DF> first = MaxStepIf<kNaN>(hn::LoadU(d, top + x), mid);
        const hn::Vec<DF> second = MaxStepIf<kNaN>(mid, hn::LoadU(d, top + kh * pitch + x));
        StoreF(d, first, job.ow - x, orow + x);
        StoreF(d, second, job.ow - x, orow + job.ow + x);
      }
    }
  }
  for (; y < job.oh; ++y) {
    const float* top = h + y * job.sh * pitch;
    T* orow = op + y * job.ow;
    for (int64_t x = 0; x < job.ow; x += n) {
      hn::Vec<DF> acc = hn::LoadU(d, top + x);
      for (int64_t r = 1; r < kh; ++r) {
        acc = MaxStepIf<kNaN>(acc, hn::LoadU(d, top + r * pitch + x));
      }
      StoreF(d, acc, job.ow - x, orow + x);
    }
  }
}

// Both passes of one plane, with the window size fixed at compile time for
// the common SPPF / ResNet sizes.
template <bool kNaN, typename T>
HWY_INLINE void FlatPlaneMax(const Pool2dJob& job, const float* HWY_RESTRICT s,
                             float* HWY_RESTRICT h, T* HWY_RESTRICT op) {
  // Only the input rows' maxima are computed: the -inf padding rows' stay
  // as initialised (-inf, the max of -inf). Starting at a whole vector
  // keeps the stores aligned; extra positions get their true maxima.
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t begin = job.ph * job.flat_pitch / n * n;
  const int64_t end = (job.ph + job.ih) * job.flat_pitch;
  if (job.kw == 5 && job.kh == 5) {
    FlatRowMax<kNaN, 5>(job, s, begin, end, h);
    FlatColumnMax<kNaN, 5>(job, h, op);
  } else if (job.kw == 3 && job.kh == 3) {
    FlatRowMax<kNaN, 3>(job, s, begin, end, h);
    FlatColumnMax<kNaN, 3>(job, h, op);
  } else {
    FlatRowMax<kNaN, 0>(job, s, begin, end, h);
    FlatColumnMax<kNaN, 0>(job, h, op);
  }
}

// Channels-first max_pool of small planes with width stride 1 (SPPF's
// 20x20, k5): units are whole planes. Each plane is copied into a padded
// scratch plane (-inf borders; -inf never changes a MaxStep fold, as the
// clipped windows of the generic kernel leave those taps out), then the
// horizontal maxima run over the flattened scratch, so vectors are full even
// though a row is narrower than two vectors, and the vertical maxima are
// taken per output row. A plane without NaN (checked once) uses the bare
// MAXPS step, which equals MaxStep on non-NaN values.
template <typename T>
void MaxPoolCFFlatT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t pitch = job.flat_pitch;
  const int64_t area = job.flat_rows * pitch;
  const int64_t plane_floats = RoundUp(RoundUp(area, n) + 2 * n + job.kw, n);
  // Planes go in groups: all copies first, so the unaligned loads of the
  // window passes never wait on masked stores still in flight.
  const int64_t group = std::max<int64_t>(1, kFlatGroupFloats / plane_floats);
  ScratchFloats scratch(0, group * plane_floats);
  ScratchFloats hmax(1, group * plane_floats);
  const float neg_inf = -__builtin_inff();
  // Only the input rows' middles are rewritten per plane; borders stay -inf.
  // Row maxima of padding rows are never computed: -inf, as they would be.
  for (int64_t i = 0; i < group * plane_floats; ++i) scratch[i] = hmax[i] = neg_inf;
  const int64_t scan_begin = job.ph * pitch;
  const int64_t scan_end = (job.ph + job.ih) * pitch;
  const T* in_end = static_cast<const T*>(job.in) + job.in_numel;
  bool has_nan[kFlatGroupFloats];
  for (int64_t g0 = u0; g0 < u1; g0 += group) {
    const int64_t count = std::min(group, u1 - g0);
    for (int64_t q = 0; q < count; ++q) {
      const T* ip = static_cast<const T*>(job.in) + (g0 + q) * job.ih * job.iw;
      float* s = scratch.get() + q * plane_floats;
      float* first_row = s + job.ph * pitch + job.pw;
      auto nan = hn::IsNaN(hn::Set(d, neg_inf));
      if (std::is_same_v<T, float> && in_end - (ip + job.ih * job.iw) >= n) {
        // Whole-vector loads (the last one of a row reads into the next
        // row, inside the input), stores masked to the row: a call-free
        // copy that also looks for NaN (one of the next row only costs the
        // NaN-aware steps).
        for (int64_t r = 0; r < job.ih; ++r) {
          for (int64_t c = 0; c < job.iw; c += n) {
            const hn::Vec<DF> v = LoadF(d, ip + r * job.iw + c);
            nan = hn::Or(nan, hn::IsNaN(v));
            hn::BlendedStore(v, hn::FirstN(d, static_cast<size_t>(job.iw - c)), d,
                             first_row + r * pitch + c);
          }
        }
      } else {
        for (int64_t r = 0; r < job.ih; ++r) {
          ConvertRow(first_row + r * pitch, ip + r * job.iw, job.iw);
        }
        for (int64_t i = scan_begin; i < scan_end; i += n) {
          nan = hn::Or(nan, hn::IsNaN(hn::LoadU(d, s + i)));
        }
      }
      has_nan[q] = !hn::AllFalse(d, nan);
    }
    for (int64_t q = 0; q < count; ++q) {
      const float* s = scratch.get() + q * plane_floats;
      float* h = hmax.get() + q * plane_floats;
      T* op = static_cast<T*>(job.out) + (g0 + q) * job.oh * job.ow;
      if (has_nan[q]) {
        FlatPlaneMax<true>(job, s, h, op);
      } else {
        FlatPlaneMax<false>(job, s, h, op);
      }
    }
  }
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// Channels-first float32 max_pool with width stride 2 and windows 2 or 3
// wide with pad 0 or 1 (ResNet's stem, W1, and 2x2 downsampling, W2), read
// straight from the input with no scratch rows. The 2n input columns at 2x
// are split into even and odd columns, the first two taps of outputs
// x, ..., x + n - 1 in lanes; a window starting one column to the left
// (pad 1) takes its first tap from the odd columns moved up a lane, and a
// 3-wide one without padding its last from the next even columns moved
// down a lane. Columns past the row are masked loads filled with -inf, as
// MaxPoolCFT's padded scratch rows hold (and never fault past the tensor).
// Per-row maxima are folded top to bottom as there.

// v's lanes moved up one, lane 0 taken from the last lane of `prev`.
HWY_INLINE hn::Vec<DF> LanesUpOne(hn::Vec<DF> v, hn::Vec<DF> prev) {
  return hn::Vec<DF>{_mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(v.raw), _mm512_castps_si512(prev.raw), 15))};
}
// v's lanes moved down one, the last lane taken from lane 0 of `next`.
HWY_INLINE hn::Vec<DF> LanesDownOne(hn::Vec<DF> v, hn::Vec<DF> next) {
  return hn::Vec<DF>{_mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(next.raw), _mm512_castps_si512(v.raw), 1))};
}

// Even and odd columns of row[col, col + 2n); columns at or past `iw` are
// -inf when kMasked (and not loaded).
template <bool kMasked>
HWY_INLINE void LoadEvenOdd(DF d, const float* HWY_RESTRICT row, int64_t col, int64_t iw,
                            hn::Vec<DF>& even, hn::Vec<DF>& odd) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<DF> lo, hi;
  if (kMasked) {
    const hn::Vec<DF> neg_inf = hn::Set(d, -__builtin_inff());
    const int64_t left = iw - col;
    const auto lo_in = hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(left, 0, n)));
    const auto hi_in = hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(left - n, 0, n)));
    lo = hn::IfThenElse(lo_in, hn::MaskedLoad(lo_in, d, row + col), neg_inf);
    hi = hn::IfThenElse(hi_in, hn::MaskedLoad(hi_in, d, row + col + n), neg_inf);
  } else {
    lo = hn::LoadU(d, row + col);
    hi = hn::LoadU(d, row + col + n);
  }
  even = hn::ConcatEven(d, hi, lo);
  odd = hn::ConcatOdd(d, hi, lo);
}

// h[k] = the window max along one input row of outputs x + k * n + lane.
template <int K, int KW, int PW, bool kMasked>
HWY_INLINE void RowMaxStride2(DF d, const float* HWY_RESTRICT row, int64_t iw, int64_t x,
                              hn::Vec<DF>* HWY_RESTRICT h) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const float neg_inf = -__builtin_inff();
  hn::Vec<DF> even[K + 1], odd[K];
  for (int k = 0; k < K; ++k) LoadEvenOdd<kMasked>(d, row, 2 * (x + k * n), iw, even[k], odd[k]);
  if (KW == 3 && PW == 0) {
    // Only lane 0 of the next even columns is used: column 2 (x + K n).
    const int64_t col = 2 * (x + K * n);
    even[K] = hn::Set(d, !kMasked || col < iw ? row[col] : neg_inf);
  }
  // Column 2x - 1, the first tap of output x with pad 1 (-inf: padding).
  hn::Vec<DF> prev_odd = hn::Set(d, x > 0 ? row[2 * x - 1] : neg_inf);
  for (int k = 0; k < K; ++k) {
    if (PW == 0) {
      h[k] = MaxStep(even[k], odd[k]);
      if (KW == 3) h[k] = MaxStep(h[k], LanesDownOne(even[k], even[k + 1]));
    } else {
      h[k] = MaxStep(LanesUpOne(odd[k], prev_odd), even[k]);
      if (KW == 3) h[k] = MaxStep(h[k], odd[k]);
      prev_odd = odd[k];
    }
  }
}

// K vectors of outputs at x of output row `y`.
template <int K, int KW, int PW, bool kMasked>
HWY_INLINE void MaxStride2Group(DF d, const Pool2dJob& job, const float* HWY_RESTRICT plane,
                                Range win, int64_t x, float* HWY_RESTRICT orow) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<DF> acc[K];
  for (int k = 0; k < K; ++k) acc[k] = hn::Set(d, -__builtin_inff());
  for (int64_t r = win.begin; r < win.end; ++r) {
    hn::Vec<DF> h[K];
    RowMaxStride2<K, KW, PW, kMasked>(d, plane + r * job.iw, job.iw, x, h);
    for (int k = 0; k < K; ++k) acc[k] = r == win.begin ? h[k] : MaxStep(acc[k], h[k]);
  }
  for (int k = 0; k < K; ++k) StoreF(d, acc[k], job.ow - (x + k * n), orow + x + k * n);
}

template <int K, int KW, int PW>
HWY_INLINE void MaxStride2GroupAt(DF d, const Pool2dJob& job, const float* HWY_RESTRICT plane,
                                  Range win, int64_t x, float* HWY_RESTRICT orow) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  // Columns the group reads: [2x, 2(x + K n)), plus one for 3-wide windows
  // without padding (column 2x - 1 for pad 1 is inside the row when x > 0).
  const int64_t end = 2 * (x + K * n) + (KW == 3 && PW == 0 ? 1 : 0);
  if (end <= job.iw) {
    MaxStride2Group<K, KW, PW, false>(d, job, plane, win, x, orow);
  } else {
    MaxStride2Group<K, KW, PW, true>(d, job, plane, win, x, orow);
  }
}

template <int KW, int PW>
void MaxPoolCFStride2(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<float>(job, u);
    for (int64_t y = y0; y < y1; ++y) {
      const Range win = Window(y, job.sh, job.ph, job.kh, job.ih);
      // Each input row once, kPrefetchRows ahead of the window's last.
      for (int64_t r = std::max(win.end - job.sh, win.begin); r < win.end; ++r) {
        PrefetchRowAhead(ip, r, job.iw);
      }
      float* orow = op + y * job.ow;
      for (int64_t x = 0; x < job.ow; x += 4 * n) {
        switch (std::min<int64_t>(4, (job.ow - x + n - 1) / n)) {
          case 4: MaxStride2GroupAt<4, KW, PW>(d, job, ip, win, x, orow); break;
          case 3: MaxStride2GroupAt<3, KW, PW>(d, job, ip, win, x, orow); break;
          case 2: MaxStride2GroupAt<2, KW, PW>(d, job, ip, win, x, orow); break;
          default: MaxStride2GroupAt<1, KW, PW>(d, job, ip, win, x, orow); break;
        }
      }
    }
  }
}
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3

void MaxPoolCF(const Pool2dJob& job, int64_t u0, int64_t u1) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (job.elem == ElemType::kFloat32 && job.sw == 2 && job.flat_pitch == 0) {
    if (job.kw == 3 && job.pw == 1) return MaxPoolCFStride2<3, 1>(job, u0, u1);
    if (job.kw == 3 && job.pw == 0) return MaxPoolCFStride2<3, 0>(job, u0, u1);
    if (job.kw == 2 && job.pw == 0) return MaxPoolCFStride2<2, 0>(job, u0, u1);
    if (job.kw == 2 && job.pw == 1) return MaxPoolCFStride2<2, 1>(job, u0, u1);
  }
#endif
  if (job.flat_pitch > 0) {
    switch (job.elem) {
      case ElemType::kFloat32: return MaxPoolCFFlatT<float>(job, u0, u1);
      case ElemType::kBFloat16: return MaxPoolCFFlatT<BFloat16>(job, u0, u1);
      case ElemType::kFloat16: return MaxPoolCFFlatT<Float16>(job, u0, u1);
    }
  }
  switch (job.elem) {
    case ElemType::kFloat32: return MaxPoolCFT<float>(job, u0, u1);
    case ElemType::kBFloat16: return MaxPoolCFT<BFloat16>(job, u0, u1);
    case ElemType::kFloat16: return MaxPoolCFT<Float16>(job, u0, u1);
  }
}

// dst[c] = fold of MaxStep over src[i * stride + c], i < count, for K
// vectors of channels at c (-inf when count is 0).
template <int K, class D, typename S, typename O>
HWY_INLINE void FoldMaxAt(D d, const S* HWY_RESTRICT src, int64_t count,
                          int64_t stride, O* HWY_RESTRICT dst) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> acc[K];
  for (int k = 0; k < K; ++k) acc[k] = hn::Set(d, -__builtin_inff());
  if (count > 0) {
    for (int k = 0; k < K; ++k) acc[k] = LoadF(d, src + k * n);
    for (int64_t i = 1; i < count; ++i) {
      for (int k = 0; k < K; ++k) acc[k] = MaxStep(acc[k], LoadF(d, src + i * stride + k * n));
    }
  }
  for (int k = 0; k < K; ++k) StoreF(d, acc[k], n, dst + k * n);
}

template <typename S, typename O>
void FoldMaxChannels(const S* HWY_RESTRICT src, int64_t count, int64_t stride,
                     int64_t channels, O* HWY_RESTRICT dst) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  int64_t c = 0;
  for (; c + 4 * n <= channels; c += 4 * n) FoldMaxAt<4>(d, src + c, count, stride, dst + c);
  for (; c + n <= channels; c += n) FoldMaxAt<1>(d, src + c, count, stride, dst + c);
  const D1 d1;
  for (; c < channels; ++c) FoldMaxAt<1>(d1, src + c, count, stride, dst + c);
}

// Channels-last max_pool over units [u0, u1) of (image, band): the window
// max along W of every needed input row, then along H.
template <typename T>
void MaxPoolCLT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const int64_t ch = job.channels;
  const int64_t row_floats = job.ow * ch;
  const int64_t band_rows = job.band_rows;
  ScratchFloats rows(1, band_rows * row_floats);
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    const Range band = BandRows(job, y0, y1);
    for (int64_t r = band.begin; r < band.end; ++r) {
      float* hrow = rows.get() + (r - band.begin) * row_floats;
      for (int64_t x = 0; x < job.ow; ++x) {
        const Range win = Window(x, job.sw, job.pw, job.kw, job.iw);
        FoldMaxChannels(ip + (r * job.iw + win.begin) * ch, win.end - win.begin, ch, ch,
                        hrow + x * ch);
      }
    }
    for (int64_t y = y0; y < y1; ++y) {
      const Range win = Window(y, job.sh, job.ph, job.kh, job.ih);
      const int64_t count = win.end > win.begin ? win.end - win.begin : 0;
      const float* first = rows.get() + (count > 0 ? win.begin - band.begin : 0) * row_floats;
      FoldMaxChannels(first, count, row_floats, row_floats, op + y * row_floats);
    }
  }
}

void MaxPoolCL(const Pool2dJob& job, int64_t u0, int64_t u1) {
  switch (job.elem) {
    case ElemType::kFloat32: return MaxPoolCLT<float>(job, u0, u1);
    case ElemType::kBFloat16: return MaxPoolCLT<BFloat16>(job, u0, u1);
    case ElemType::kFloat16: return MaxPoolCLT<Float16>(job, u0, u1);
  }
}

// Stores sum[q][k] / divisor as output row q's vector k at x (masked past
// the row's end): the last step of both channels-first avg kernels.
template <int K, int R>
HWY_INLINE void StoreAverages(DF d, const Pool2dJob& job, const hn::Vec<DF> (&sum)[R][K],
                              int64_t x, const float* const* div, float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int q = 0; q < R; ++q) {
    for (int k = 0; k < K; ++k) {
      const int64_t at = x + k * n;
      const hn::Vec<DF> quotient = sum[q][k] / hn::LoadU(d, div[q] + at);
      StoreF(d, job.add_to_zero ? hn::Zero(d) + quotient : quotient, job.ow - at, out[q] + at);
    }
  }
}

// K vectors of outputs [x, x + K * lanes) of R consecutive channels-first
// avg_pool rows: each lane sums its window in row-major order. The R * K
// sums are independent chains (keeping the adders busy) and rows shared by
// the R windows are loaded once. `rows` + r * row_len is padded input row
// r; win[q], div[q], out[q] belong to output row q.
template <int K, int R, int KW>
HWY_INLINE void AvgRowBlock(DF d, const Pool2dJob& job, const float* HWY_RESTRICT rows,
                            int64_t row_len, const Range* win, int64_t x,
                            const float* const* div, float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = KW != 0 ? KW : job.kw;
  hn::Vec<DF> sum[R][K];
  for (int q = 0; q < R; ++q) {
    for (int k = 0; k < K; ++k) sum[q][k] = hn::Zero(d);
  }
  const int64_t r0 = win[0].begin;
  const int64_t r1 = win[R - 1].end;
  for (int64_t r = r0; r < r1; ++r) {
    const float* p = rows + r * row_len;
    bool in[R];
    for (int q = 0; q < R; ++q) in[q] = win[q].begin <= r && r < win[q].end;
    if (KW == 0 && job.sw == 2) {  // KW != 0 only with stride 1
      for (int64_t j = 0; j < kw; j += 2) {
        for (int k = 0; k < K; ++k) {
          hn::Vec<DF> even, odd;
          hn::LoadInterleaved2(d, p + 2 * (x + k * n) + j, even, odd);
          for (int q = 0; q < R; ++q) {
            if (!in[q]) continue;
            sum[q][k] = sum[q][k] + even;
            if (j + 1 < kw) sum[q][k] = sum[q][k] + odd;
          }
        }
      }
    } else {
      for (int64_t j = 0; j < kw; ++j) {
        for (int k = 0; k < K; ++k) {
          const hn::Vec<DF> v = hn::LoadU(d, p + x + k * n + j);
          for (int q = 0; q < R; ++q) {
            if (in[q]) sum[q][k] = sum[q][k] + v;
          }
        }
      }
    }
  }
  StoreAverages<K, R>(d, job, sum, x, div, out);
}

// AvgRowBlock for `vectors` (1 to 4) vectors; KW: the window width when
// known at compile time (0: job.kw).
template <int R, int KW>
HWY_INLINE void AvgRowBlocks(DF d, const Pool2dJob& job, const float* HWY_RESTRICT rows,
                             int64_t row_len, const Range* win, int64_t x,
                             const float* const* div, float* const* out, int64_t vectors) {
  switch (vectors) {
    case 4: return AvgRowBlock<4, R, KW>(d, job, rows, row_len, win, x, div, out);
    case 3: return AvgRowBlock<3, R, KW>(d, job, rows, row_len, win, x, div, out);
    case 2: return AvgRowBlock<2, R, KW>(d, job, rows, row_len, win, x, div, out);
    default: return AvgRowBlock<1, R, KW>(d, job, rows, row_len, win, x, div, out);
  }
}

// One group of up to four vectors of R output rows.
template <int R>
HWY_INLINE int64_t AvgRowGroup(DF d, const Pool2dJob& job, const float* HWY_RESTRICT rows,
                               int64_t row_len, const Range* win, int64_t x,
                               const float* const* div, float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t vectors = std::min<int64_t>(4, (job.ow - x + n - 1) / n);
  // The common stride-1 window widths get their taps unrolled at compile
  // time (about a seventh fewer instructions for 3x3).
  if (job.sw == 1 && job.kw == 3) {
    AvgRowBlocks<R, 3>(d, job, rows, row_len, win, x, div, out, vectors);
  } else if (job.sw == 1 && job.kw == 5) {
    AvgRowBlocks<R, 5>(d, job, rows, row_len, win, x, div, out, vectors);
  } else if (job.sw == 1 && job.kw == 2) {
    AvgRowBlocks<R, 2>(d, job, rows, row_len, win, x, div, out, vectors);
  } else {
    AvgRowBlocks<R, 0>(d, job, rows, row_len, win, x, div, out, vectors);
  }
  return vectors * n;
}

// Channels-first avg_pool over units [u0, u1) of (plane, band). The sums
// are float32 whatever T is: bfloat16/float16 outputs go through a float
// row pair, rounded once as they are copied out, so the blocks are
// compiled for float outputs only (a third of the instantiations).
template <typename T>
void AvgPoolCFT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  constexpr bool kFloatOut = std::is_same_v<T, float>;
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t owr = RoundUp(job.ow, n);
  const int64_t row_len = ScratchRowLength(job, owr, n);
  const int64_t band_rows = job.band_rows;
  ScratchFloats rows(1, band_rows * row_len);
  ScratchFloats out_rows(0, kFloatOut ? 0 : 2 * owr);
  // Zero margins stay zero: only [pw, pw + iw) of a row is ever rewritten.
  std::memset(rows.get(), 0, static_cast<size_t>(band_rows * row_len) * sizeof(float));
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    const Range band = BandRows(job, y0, y1);
    // Input rows are copied kCopyAhead rows before the sums read them.
    int64_t next_row = band.begin;
    const float* band_rows_ptr = rows.get() - band.begin * row_len;
    for (int64_t y = y0; y < y1; y += 2) {
      // Output rows in pairs (the last one alone when the band is odd).
      const int pair = y + 1 < y1 ? 2 : 1;
      Range win[2];
      const float* div[2];
      float* orow[2];
      for (int q = 0; q < pair; ++q) {
        win[q] = Window(y + q, job.sh, job.ph, job.kh, job.ih);
        div[q] = job.divisors + (y + q) * job.ow;
        if constexpr (kFloatOut) {
          orow[q] = op + (y + q) * job.ow;
        } else {
          orow[q] = out_rows.get() + q * owr;
        }
      }
      for (; next_row < std::min(win[pair - 1].end + kCopyAhead, band.end); ++next_row) {
        const int64_t r = next_row;
        PrefetchRowAhead(ip, r, job.iw);
        ConvertRow(rows.get() + (r - band.begin) * row_len + job.pw, ip + r * job.iw, job.iw);
      }
      for (int64_t x = 0; x < job.ow;) {
        x += pair == 2 ? AvgRowGroup<2>(d, job, band_rows_ptr, row_len, win, x, div, orow)
                       : AvgRowGroup<1>(d, job, band_rows_ptr, row_len, win, x, div, orow);
      }
      if constexpr (!kFloatOut) {
        for (int q = 0; q < pair; ++q) {
          for (int64_t x = 0; x < job.ow; x += n) {
            StoreF(d, hn::Load(d, orow[q] + x), job.ow - x, op + (y + q) * job.ow + x);
          }
        }
      }
    }
  }
}

// AVX-512 only: its masked loads never touch masked-off lanes (Highway's
// scalar target also says its memory ops never fault, but its MaskedLoad
// reads every lane).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// Channels-first float32 avg_pool with stride 1 read straight from the
// input, no scratch rows: zeroing masked loads stand in for the +0.0
// padding (masked-off lanes never fault on this target), so no row is
// copied or bounds-checked. Windows up to kMaxDirectTaps wide and high.
constexpr int64_t kMaxDirectTaps = 8;
// Most (vector, tap) load masks precomputed per call: rows up to 32
// vectors for 8 taps; wider rows take the scratch-row kernel.
constexpr int64_t kMaxDirectMasks = 256;
// Output rows summed together when their windows are whole: 3 rows of 3x3
// windows load 5 input rows (5 loads per output vector, 6 for pairs; 4
// rows need more registers than there are).
constexpr int kDirectRows = 3;

// Tap j of input row i of a block (`p`: that row at the block's first
// column): added to the sums of the block's output rows whose windows hold
// row i (every one when R == 1).
template <int K, int R>
HWY_INLINE void AvgDirectTap(DF d, const float* HWY_RESTRICT p, int64_t i, int64_t kh,
                             int64_t j, int64_t kw, const hn::Mask<DF>* HWY_RESTRICT masks,
                             bool mask_middle, hn::Vec<DF> (&sum)[R][K]) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  POOLCAT_UNROLL
  for (int k = 0; k < K; ++k) {
    const bool masked = (k == 0 || k == K - 1) ? masks != nullptr : mask_middle;
    const hn::Vec<DF> v = masked ? hn::MaskedLoad(masks[k * kw + j], d, p + k * n + j)
                                 : hn::LoadU(d, p + k * n + j);
    POOLCAT_UNROLL
    for (int q = 0; q < R; ++q) {
      if (R == 1 || (q <= i && i < q + kh)) sum[q][k] = sum[q][k] + v;
    }
  }
}

// Every tap of input row i, in order.
template <int K, int R, int KW>
HWY_INLINE void AvgDirectTaps(DF d, const Pool2dJob& job, const float* HWY_RESTRICT p,
                              int64_t i, int64_t kh, const hn::Mask<DF>* HWY_RESTRICT masks,
                              bool mask_middle, hn::Vec<DF> (&sum)[R][K]) {
  if constexpr (KW != 0) {
    POOLCAT_UNROLL
    for (int64_t j = 0; j < KW; ++j) AvgDirectTap<K, R>(d, p, i, kh, j, KW, masks, mask_middle, sum);
  } else {
    for (int64_t j = 0; j < job.kw; ++j) {
      AvgDirectTap<K, R>(d, p, i, kh, j, job.kw, masks, mask_middle, sum);
    }
  }
}

// K vectors of outputs at x of R output rows: R > 1 consecutive rows whose
// windows are whole (input row r0 + i feeds output rows q with
// q <= i < q + kh), R == 1 one row whose clipped window is rows
// [r0, r0 + rows). Rows shared by the R windows are loaded once. Each lane
// adds its window in row-major order from +0.0, as the scratch kernel does.
// `masks` holds the K * kw load masks of this group, or is null when every
// load is inside the row.
//
// The sums must stay in registers, so the loops indexing them are fully
// unrolled (GCC otherwise keeps the array on the stack), and so are the
// row and tap loops when the window size is known at compile time (the
// row-to-sum tests then fold away). Loops with run-time trip counts are
// left rolled: unrolling them only multiplied code size and compile time.
template <int K, int R, int KH, int KW>
HWY_INLINE void AvgDirectBlock(DF d, const Pool2dJob& job, const float* HWY_RESTRICT plane,
                               int64_t r0, int64_t rows, int64_t x,
                               const hn::Mask<DF>* HWY_RESTRICT masks,
                               const float* const* div, float* const* out) {
  hn::Vec<DF> sum[R][K];
  for (int q = 0; q < R; ++q) {
    for (int k = 0; k < K; ++k) sum[q][k] = hn::Zero(d);
  }
  // With padding of at most one column, only a group's first and last
  // vectors can reach past the row (stride 1: every output has a column of
  // the row, so a middle vector's window ends at most at column iw + pw - 2).
  const bool mask_middle = masks != nullptr && job.pw > 1;
  const float* first = plane + r0 * job.iw + x - job.pw;
  if constexpr (R > 1 && KH != 0) {
    POOLCAT_UNROLL
    for (int64_t i = 0; i < KH + R - 1; ++i) {
      AvgDirectTaps<K, R, KW>(d, job, first + i * job.iw, i, KH, masks, mask_middle, sum);
    }
  } else {
    const int64_t count = R > 1 ? job.kh + R - 1 : rows;
    for (int64_t i = 0; i < count; ++i) {
      AvgDirectTaps<K, R, KW>(d, job, first + i * job.iw, i, job.kh, masks, mask_middle, sum);
    }
  }
  StoreAverages<K, R>(d, job, sum, x, div, out);
}

// One output row or pair of rows, every vector of it, in groups of up to
// four vectors.
template <int R, int KH, int KW>
HWY_INLINE void AvgDirectRows(DF d, const Pool2dJob& job, const float* HWY_RESTRICT plane,
                              int64_t r0, int64_t rows, const hn::Mask<DF>* masks,
                              const bool* group_masked, const float* const* div,
                              float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = KW != 0 ? KW : job.kw;
  int64_t g = 0;
  for (int64_t x = 0; x < job.ow; x += 4 * n, ++g) {
    const hn::Mask<DF>* m = group_masked[g] ? masks + (x / n) * kw : nullptr;
    switch (std::min<int64_t>(4, (job.ow - x + n - 1) / n)) {
      case 4: AvgDirectBlock<4, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out); break;
      case 3: AvgDirectBlock<3, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out); break;
      case 2: AvgDirectBlock<2, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out); break;
      default: AvgDirectBlock<1, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out); break;
    }
  }
}

template <int KH, int KW>
void AvgPoolCFDirect(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const hn::RebindToSigned<DF> di;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kh = KH != 0 ? KH : job.kh;
  const int64_t kw = KW != 0 ? KW : job.kw;
  const int64_t vectors = (job.ow + n - 1) / n;
  // masks[v * kw + j]: lanes of vector v whose tap j lies inside the row.
  hn::Mask<DF> masks[kMaxDirectMasks];
  bool group_masked[kMaxDirectMasks];
  for (int64_t v = 0; v < vectors; ++v) {
    for (int64_t j = 0; j < kw; ++j) {
      const auto col = hn::Iota(di, static_cast<int32_t>(v * n + j - job.pw));
      masks[v * kw + j] = hn::RebindMask(
          d, hn::And(col > hn::Set(di, -1), hn::Set(di, static_cast<int32_t>(job.iw)) > col));
    }
  }
  for (int64_t x = 0, g = 0; x < job.ow; x += 4 * n, ++g) {
    const int64_t last = std::min(x + 4 * n, vectors * n) - 1 + kw - 1 - job.pw;
    group_masked[g] = x - job.pw < 0 || last >= job.iw;
  }
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<float>(job, u);
    for (int64_t y = y0; y < y1;) {
      const int64_t top = y - job.ph;  // first row of a whole window
      // Rows past y1 are only written by the branches that cover them.
      const float* div[kDirectRows];
      float* orow[kDirectRows];
      for (int q = 0; q < kDirectRows; ++q) {
        div[q] = job.divisors + (y + q) * job.ow;
        orow[q] = op + (y + q) * job.ow;
      }
      if (y + kDirectRows <= y1 && top >= 0 && top + kDirectRows - 1 + kh <= job.ih) {
        AvgDirectRows<kDirectRows, KH, KW>(d, job, ip, top, 0, masks, group_masked, div, orow);
        y += kDirectRows;
      } else if (y + 2 <= y1 && top >= 0 && top + 1 + kh <= job.ih) {
        AvgDirectRows<2, KH, KW>(d, job, ip, top, 0, masks, group_masked, div, orow);
        y += 2;
      } else {
        const Range win = Window(y, 1, job.ph, kh, job.ih);
        const int64_t rows = win.end > win.begin ? win.end - win.begin : 0;
        AvgDirectRows<1, KH, KW>(d, job, ip, win.begin, rows, masks, group_masked, div, orow);
        y += 1;
      }
    }
  }
}

// Whether AvgPoolCFDirect takes the job.
bool UsesAvgDirect(const Pool2dJob& job) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(DF()));
  return job.elem == ElemType::kFloat32 && job.sw == 1 && job.sh == 1 &&
         job.kw <= kMaxDirectTaps && job.kh <= kMaxDirectTaps &&
         (job.ow + n - 1) / n * job.kw <= kMaxDirectMasks;
}
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3

void AvgPoolCF(const Pool2dJob& job, int64_t u0, int64_t u1) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (UsesAvgDirect(job)) {
    if (job.kh == 3 && job.kw == 3) return AvgPoolCFDirect<3, 3>(job, u0, u1);
    if (job.kh == 2 && job.kw == 2) return AvgPoolCFDirect<2, 2>(job, u0, u1);
    if (job.kh == 5 && job.kw == 5) return AvgPoolCFDirect<5, 5>(job, u0, u1);
    return AvgPoolCFDirect<0, 0>(job, u0, u1);
  }
#endif
  switch (job.elem) {
    case ElemType::kFloat32: return AvgPoolCFT<float>(job, u0, u1);
    case ElemType::kBFloat16: return AvgPoolCFT<BFloat16>(job, u0, u1);
    case ElemType::kFloat16: return AvgPoolCFT<Float16>(job, u0, u1);
  }
}

// K vectors of channels of one channels-last avg_pool output.
template <int K, class D, typename T>
HWY_INLINE void AvgAt(D d, const T* HWY_RESTRICT in, const Pool2dJob& job,
                      Range rows, Range cols, float divisor, T* HWY_RESTRICT dst) {
  const int64_t ch = job.channels;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> sum[K];
  for (int k = 0; k < K; ++k) sum[k] = hn::Zero(d);
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const T* p = in + (r * job.iw) * ch;
    for (int64_t x = cols.begin; x < cols.end; ++x) {
      for (int k = 0; k < K; ++k) sum[k] = sum[k] + LoadF(d, p + x * ch + k * n);
    }
  }
  const hn::Vec<D> div = hn::Set(d, divisor);
  for (int k = 0; k < K; ++k) {
    const hn::Vec<D> quotient = sum[k] / div;
    StoreF(d, job.add_to_zero ? hn::Zero(d) + quotient : quotient, n, dst + k * n);
  }
}

// Channels-last avg_pool over units [u0, u1) of (image, band).
template <typename T>
void AvgPoolCLT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const D1 d1;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t ch = job.channels;
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    for (int64_t y = y0; y < y1; ++y) {
      const Range rows = Window(y, job.sh, job.ph, job.kh, job.ih);
      for (int64_t x = 0; x < job.ow; ++x) {
        const Range cols = Window(x, job.sw, job.pw, job.kw, job.iw);
        const float divisor = job.divisors[y * job.ow + x];
        T* dst = op + (y * job.ow + x) * ch;
        int64_t c = 0;
        for (; c + 4 * n <= ch; c += 4 * n) AvgAt<4>(d, ip + c, job, rows, cols, divisor, dst + c);
        for (; c + n <= ch; c += n) AvgAt<1>(d, ip + c, job, rows, cols, divisor, dst + c);
        for (; c < ch; ++c) AvgAt<1>(d1, ip + c, job, rows, cols, divisor, dst + c);
      }
    }
  }
}

void AvgPoolCL(const Pool2dJob& job, int64_t u0, int64_t u1) {
  switch (job.elem) {
    case ElemType::kFloat32: return AvgPoolCLT<float>(job, u0, u1);
    case ElemType::kBFloat16: return AvgPoolCLT<BFloat16>(job, u0, u1);
    case ElemType::kFloat16: return AvgPoolCLT<Float16>(job, u0, u1);
  }
}

// K vectors added lane-wise: lets the cascade below run K independent
// chains of channels at once.
template <class D, int K>
struct Multi {
  hn::Vec<D> v[K];
};
template <class D, int K>
HWY_INLINE Multi<D, K> operator+(const Multi<D, K>& a, const Multi<D, K>& b) {
  Multi<D, K> r;
  for (int k = 0; k < K; ++k) r.v[k] = a.v[k] + b.v[k];
  return r;
}

// ATen's multi_row_sum for every lane (see cascade_sum-inl.h); V is a
// vector or a Multi, `zero` its zero.
template <class V, class Load>
HWY_INLINE V CascadeRows(const V& zero, int64_t size, const Load& load) {
  constexpr int64_t kLevels = 4;
  const int64_t level_power = CeilLog2(size) / kLevels > 4 ? CeilLog2(size) / kLevels : 4;
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  V acc0 = zero, acc1 = zero, acc2 = zero, acc3 = zero;
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i) acc0 = acc0 + load(i);
    acc1 = acc1 + acc0;
    acc0 = zero;
    if ((i & (level_mask << level_power)) != 0) continue;
    acc2 = acc2 + acc1;
    acc1 = zero;
    if ((i & (level_mask << (2 * level_power))) != 0) continue;
    acc3 = acc3 + acc2;
    acc2 = zero;
  }
  for (; i < size; ++i) acc0 = acc0 + load(i);
  acc0 = acc0 + acc1;
  acc0 = acc0 + acc2;
  return acc0 + acc3;
}

// ATen's row_sum for every lane: four interleaved cascades, then the tail.
template <class V, class Load>
HWY_INLINE V RowSum(const V& zero, int64_t size, const Load& load) {
  constexpr int64_t kIlp = 4;
  const int64_t size_ilp = size / kIlp;
  V p0 = CascadeRows(zero, size_ilp, [&](int64_t i) { return load(i * kIlp + 0); });
  const V p1 = CascadeRows(zero, size_ilp, [&](int64_t i) { return load(i * kIlp + 1); });
  const V p2 = CascadeRows(zero, size_ilp, [&](int64_t i) { return load(i * kIlp + 2); });
  const V p3 = CascadeRows(zero, size_ilp, [&](int64_t i) { return load(i * kIlp + 3); });
  for (int64_t i = size_ilp * kIlp; i < size; ++i) p0 = p0 + load(i);
  p0 = p0 + p1;
  p0 = p0 + p2;
  return p0 + p3;
}

// RowSum of `count` 8-float vectors at x when each of its four cascades
// is shorter than one level step (16): the cascades are then plain
// sequential sums from +0 followed by three adds of +0, which change
// nothing (a sum started at +0 is never -0, and x86 passes a NaN operand
// through unchanged), so they are left out.
constexpr int64_t kPlainCascadeVectors = 64;
template <class D, class Load>
HWY_INLINE hn::Vec<D> ShortRowSum(D d, int64_t count, const Load& load) {
  const int64_t quads = count / 4;
  hn::Vec<D> p0 = hn::Zero(d), p1 = hn::Zero(d), p2 = hn::Zero(d), p3 = hn::Zero(d);
  for (int64_t i = 0; i < quads; ++i) {
    p0 = p0 + load(4 * i + 0);
    p1 = p1 + load(4 * i + 1);
    p2 = p2 + load(4 * i + 2);
    p3 = p3 + load(4 * i + 3);
  }
  for (int64_t i = quads * 4; i < count; ++i) p0 = p0 + load(i);
  return ((p0 + p1) + p2) + p3;
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// GlobalAvgCF for sixteen planes at once on AVX-512, when its shortcut
// applies: the 8-lane row sums of planes 2i and 2i + 1 share vector i
// (lanes 0-7 and 8-15), a transpose then gathers lane l of all sixteen
// planes in vector l, and the tail adds, lane-order adds and division run
// on sixteen planes side by side. Every plane sees the same operations in
// the same order as in GlobalAvgCF's eight-plane loop.

// Index vectors of Transpose16x8's three exchange stages. Stage s swaps
// bit s of the vector number with a lane bit, pairing vectors o and
// o ^ (1 << s); layouts below name each position by its plane p (bits
// p3..p0) and lane l (bits l2..l0) as (vector bits | lane bits):
//   start    (p3 p2 p1 | p0 l2 l1 l0)   plane pairs, as loaded
//   stage 1  (p3 p2 l0 | p0 l2 l1 p1)
//   stage 2  (p3 l1 l0 | p0 l2 p2 p1)
//   stage 3  (l2 l1 l0 | p3 p2 p1 p0)   vector l holds lane l of each plane
struct Transpose16x8Indices {
  int32_t index[3][8][16];
};
// Flat position 8p + l held by lane j of vector r after `stage` stages.
constexpr int32_t TransposePosition(int stage, int r, int j) {
  const int r0 = r & 1, r1 = (r >> 1) & 1, r2 = (r >> 2) & 1;
  const int j0 = j & 1, j1 = (j >> 1) & 1, j2 = (j >> 2) & 1, j3 = (j >> 3) & 1;
  int p = 0, l = 0;
  switch (stage) {
    case 0: p = (r << 1) | j3; l = j & 7; break;
    case 1: p = (r2 << 3) | (r1 << 2) | (j0 << 1) | j3; l = (j2 << 2) | (j1 << 1) | r0; break;
    case 2: p = (r2 << 3) | (j1 << 2) | (j0 << 1) | j3; l = (j2 << 2) | (r1 << 1) | r0; break;
    default: p = j; l = r; break;
  }
  return 8 * p + l;
}
constexpr Transpose16x8Indices MakeTranspose16x8Indices() {
  Transpose16x8Indices t{};
  for (int s = 1; s <= 3; ++s) {
    const int bit = 1 << (s - 1);
    for (int o = 0; o < 8; ++o) {
      for (int j = 0; j < 16; ++j) {
        const int32_t want = TransposePosition(s, o, j);
        for (int k = 0; k < 32; ++k) {  // k < 16: vector o & ~bit, else o | bit
          const int from = k < 16 ? (o & ~bit) : (o | bit);
          if (TransposePosition(s - 1, from, k & 15) == want) t.index[s - 1][o][j] = k;
        }
      }
    }
  }
  return t;
}
alignas(64) constexpr Transpose16x8Indices kTranspose16x8 = MakeTranspose16x8Indices();

// v[i] = (plane 2i lanes 0-7, plane 2i + 1 lanes 0-7) becomes
// v[l] = (lane l of planes 0, 1, ..., 15).
HWY_INLINE void Transpose16x8(hn::Vec<DF> (&v)[8]) {
  for (int s = 0; s < 3; ++s) {
    const int bit = 1 << s;
    hn::Vec<DF> w[8];
    for (int o = 0; o < 8; ++o) {
      const __m512i index = _mm512_load_si512(kTranspose16x8.index[s][o]);
      w[o].raw = _mm512_permutex2var_ps(v[o & ~bit].raw, index, v[o | bit].raw);
    }
    for (int o = 0; o < 8; ++o) v[o] = w[o];
  }
}

// Planes [g, g + 16) of a GlobalAvgCF job whose planes are shorter than
// kPlainCascadeVectors vectors of 8.
HWY_INLINE void GlobalAvgCF16(const GlobalJob& job, int64_t g) {
  const DF d;
  const hn::Half<DF> d8;
  const hn::RebindToSigned<DF> di;
  const int64_t size = job.size;
  const int64_t vec_count = size / 8;
  const float* x = job.in + g * size;
  hn::Vec<DF> v[8];
  for (int i = 0; i < 8; ++i) {
    const float* lo = x + 2 * i * size;
    const float* hi = lo + size;
    v[i] = ShortRowSum(d, vec_count, [&](int64_t k) {
      return hn::Combine(d, hn::LoadU(d8, hi + k * 8), hn::LoadU(d8, lo + k * 8));
    });
  }
  Transpose16x8(v);
  hn::Vec<DF> result = hn::Zero(d);
  const auto plane_starts = hn::Iota(di, 0) * hn::Set(di, static_cast<int32_t>(size));
  for (int64_t k = vec_count * 8; k < size; ++k) {
    result = result + hn::GatherIndex(d, x + k, plane_starts);
  }
  for (int l = 0; l < 8; ++l) result = result + v[l];
  const hn::Vec<DF> quotient = (hn::Zero(d) + result) / hn::Set(d, static_cast<float>(size));
  hn::StoreU(quotient, d, job.out + g);
}
#endif  // HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3

// Global average pooling, channels-first, planes [p0, p1). ATen sums a
// contiguous row with 8-lane (AVX2) vectors: the tail elements first, then
// each lane's row_sum in lane order. The lane-order adds are a serial chain
// per plane, so eight planes go through them side by side. Requires 8-lane
// vectors and size >= 8.
void GlobalAvgCF(const GlobalJob& job, int64_t p0, int64_t p1) {
  const hn::CappedTag<float, 8> d8;
  constexpr int64_t kGroup = 8;
  HWY_ALIGN float lanes[kGroup][8] = {};
  float result[kGroup];
  const int64_t size = job.size;
  const int64_t vec_count = size / 8;
  const float count = static_cast<float>(size);
  int64_t g = p0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if (vec_count < kPlainCascadeVectors) {
    for (; g + 16 <= p1; g += 16) GlobalAvgCF16(job, g);
  }
#endif
  for (; g < p1; g += kGroup) {
    const int64_t planes = std::min(kGroup, p1 - g);
    for (int64_t q = 0; q < planes; ++q) {
      const float* x = job.in + (g + q) * size;
      result[q] = 0.0f;
      for (int64_t k = vec_count * 8; k < size; ++k) result[q] += x[k];
      if (vec_count < kPlainCascadeVectors) {
        hn::Store(ShortRowSum(d8, vec_count, [&](int64_t v) { return hn::LoadU(d8, x + v * 8); }),
                  d8, lanes[q]);
      } else {
        hn::Store(
            RowSum(hn::Zero(d8), vec_count, [&](int64_t v) { return hn::LoadU(d8, x + v * 8); }),
            d8, lanes[q]);
      }
    }
    for (size_t lane = 0; lane < hn::Lanes(d8); ++lane) {
      for (int64_t q = 0; q < planes; ++q) result[q] += lanes[q][lane];
    }
    // The sum lands in a zero-filled output first (-0 becomes +0).
    for (int64_t q = 0; q < planes; ++q) job.out[g + q] = (0.0f + result[q]) / count;
  }
}

// K vectors of channels at x of a (size, stride) block: the sum over the
// positions as ATen orders it, then the mean.
template <int K, class D>
HWY_INLINE void GlobalChannelsAt(D d, const float* HWY_RESTRICT x, int64_t size,
                                 int64_t stride, bool cascade, float count,
                                 float* HWY_RESTRICT dst) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  Multi<D, K> zero;
  for (int k = 0; k < K; ++k) zero.v[k] = hn::Zero(d);
  const auto load = [&](int64_t i) {
    Multi<D, K> m;
    for (int k = 0; k < K; ++k) m.v[k] = hn::LoadU(d, x + i * stride + k * n);
    return m;
  };
  const Multi<D, K> sum = cascade ? CascadeRows(zero, size, load) : RowSum(zero, size, load);
  const hn::Vec<D> div = hn::Set(d, count);
  for (int k = 0; k < K; ++k) hn::StoreU((hn::Zero(d) + sum.v[k]) / div, d, dst + k * n);
}

// Global average pooling, channels-last, images [i0, i1). Per channel ATen
// uses multi_row_sum for the leading full groups of channels (groups of 32
// when C >= 8, else of 4) and row_sum for the rest.
void GlobalAvgCL(const GlobalJob& job, int64_t i0, int64_t i1) {
  const DF d;
  const D1 d1;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t ch = job.channels;
  const int64_t group = ch >= 8 ? 32 : 4;
  const int64_t grouped = ch / group * group;
  const float count = static_cast<float>(job.size);
  for (int64_t image = i0; image < i1; ++image) {
    const float* x = job.in + image * job.size * ch;
    float* out = job.out + image * ch;
    for (const bool cascade : {true, false}) {
      const Range part = cascade ? Range{0, grouped} : Range{grouped, ch};
      int64_t c = part.begin;
      for (; c + 4 * n <= part.end; c += 4 * n) {
        GlobalChannelsAt<4>(d, x + c, job.size, ch, cascade, count, out + c);
      }
      for (; c + n <= part.end; c += n) {
        GlobalChannelsAt<1>(d, x + c, job.size, ch, cascade, count, out + c);
      }
      for (; c < part.end; ++c) {
        GlobalChannelsAt<1>(d1, x + c, job.size, ch, cascade, count, out + c);
      }
    }
  }
}

// Lanes of the 8-wide descriptor GlobalAvgCF needs (fewer on SSE4).
int64_t CappedEightLanes() { return static_cast<int64_t>(hn::Lanes(hn::CappedTag<float, 8>())); }

// Name of the target this copy of the kernels was compiled for.
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <algorithm>
#include <atomic>
#include <vector>

#include "core/cascade_sum-inl.h"
#include "core/pool_kernel-inl.h"
#include "core/pool_simd.h"

namespace poolcat::simd {
namespace internal {

HWY_EXPORT(MaxPoolCF);
HWY_EXPORT(MaxPoolCL);
HWY_EXPORT(AvgPoolCF);
HWY_EXPORT(AvgPoolCL);
HWY_EXPORT(GlobalAvgCF);
HWY_EXPORT(GlobalAvgCL);
HWY_EXPORT(CappedEightLanes);
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
    case DType::kFloat32: job.elem = ElemType::kFloat32; break;
    case DType::kBFloat16: job.elem = ElemType::kBFloat16; break;
    case DType::kFloat16: job.elem = ElemType::kFloat16; break;
    default: return false;
  }
  if (plan.in[0] != 1 || plan.out[0] != 1 || plan.kernel[0] != 1 || plan.pad[0] != 0) {
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
  const int64_t row_floats = plan.channels_last ? job.ow * job.channels
                                                : job.ow * job.sw + job.pw + job.iw + 3 * job.kw;
  if (job.kw > kMaxRowFloats || job.kh > kMaxRowFloats || row_floats > kMaxRowFloats) {
    return false;
  }
  int64_t band = std::max<int64_t>(1, (kBandBytes / (4 * row_floats) - job.kh) / job.sh + 1);
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
  constexpr int64_t kMaxFlatFloats = int64_t{16} << 10;  // 64 KB: stays in L1/L2
  if (plan.channels_last || job.sw != 1 || job.kw > kMaxFlatTaps || job.kh > kMaxFlatTaps) return;
  const int64_t pitch = std::max(job.pw + job.iw, job.ow - 1 + job.kw);
  const int64_t rows = std::max(job.ph + job.ih, (job.oh - 1) * job.sh + job.kh);
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
void RunUnits(const PoolPlan& plan, const Pool2dJob& job, const ExecOptions& exec, Fn fn) {
  const int64_t units = Outer(plan) * job.bands;
  const int64_t cost = job.band * job.ow * job.channels * job.kh * job.kw;
  // Cancellation surfaces through RunPool's own check after we return.
  (void)pool_internal::ParallelFor(units, cost, exec, [&](int64_t u0, int64_t u1) {
    fn(job, u0, u1);
  });
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
  const auto axis = [](int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, bool include_pad) {
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
    col_factor[static_cast<size_t>(x)] = f == 0 ? 0.0f : override ? 1.0f : static_cast<float>(f);
    col_empty[static_cast<size_t>(x)] = f == 0 ? 1.0f : 0.0f;
  }
  const float override_factor = override ? static_cast<float>(*plan.args.divisor_override) : 0.0f;
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

void SetFastPathsEnabledForTest(bool enabled) { internal::g_enabled.store(enabled); }

const char* DispatchedTargetName() { return HWY_DYNAMIC_DISPATCH(internal::TargetName)(); }

bool TryMaxPool(const PoolPlan& plan, const TensorView& input,
                const MutableTensorView& output,
                const MutableTensorView* indices, const ExecOptions& exec) {
  using namespace internal;  // NOLINT(build/namespaces): local to this body
  if (!g_enabled.load(std::memory_order_relaxed) || indices != nullptr) return false;
  Pool2dJob job{};
  if (!Supported2d(plan, job)) return false;
  job.in = input.data;
  job.in_numel = input.numel();
  job.out = output.data;
  UseFlatPlanes(plan, job);
  if (plan.channels_last) {
    RunUnits(plan, job, exec, HWY_DYNAMIC_DISPATCH(MaxPoolCL));
  } else {
    RunUnits(plan, job, exec, HWY_DYNAMIC_DISPATCH(MaxPoolCF));
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
  job.add_to_zero = !(plan.channels_last && plan.batched && plan.op.spatial_dims == 2);
  if (plan.channels_last) {
    RunUnits(plan, job, exec, HWY_DYNAMIC_DISPATCH(AvgPoolCL));
  } else {
    RunUnits(plan, job, exec, HWY_DYNAMIC_DISPATCH(AvgPoolCF));
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
    (void)pool_internal::ParallelFor(plan.batch, job.size * plan.channels, exec,
                                     [&](int64_t i0, int64_t i1) {
                                       HWY_DYNAMIC_DISPATCH(GlobalAvgCL)(job, i0, i1);
                                     });
    return true;
  }
  // Channels-first (or a single channel): ATen's 8-lane inner sum.
  if (job.size < 8 || HWY_DYNAMIC_DISPATCH(CappedEightLanes)() != 8) return false;
  job.channels = 1;
  (void)pool_internal::ParallelFor(plan.batch * plan.channels, job.size, exec,
                                   [&](int64_t p0, int64_t p1) {
                                     HWY_DYNAMIC_DISPATCH(GlobalAvgCF)(job, p0, p1);
                                   });
  return true;
}

}  // namespace poolcat::simd

#endif  // HWY_ONCE
