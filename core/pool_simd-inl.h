// Per-target helpers shared by the Highway pooling kernels
// (max_pool_simd.cc, avg_pool_simd.cc; included once per target through
// foreach_target.h, hence the toggling include guard).
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

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/float16.h"
#include "core/pool_simd_job.h"

#if defined(POOLCAT_CORE_POOL_SIMD_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef POOLCAT_CORE_POOL_SIMD_INL_H_
#undef POOLCAT_CORE_POOL_SIMD_INL_H_
#else
#define POOLCAT_CORE_POOL_SIMD_INL_H_
#endif

#include "hwy/cache_control.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using D1 = hn::CappedTag<float, 1>;

constexpr int64_t kPrefetchRows = 4;
// Padded copies of input rows are made kCopyAhead rows before they are
// read, into a ring of kCopyRing rows: loads straight after the (unaligned)
// stores of a copy would wait for the stores to commit, as store-to-load
// forwarding fails for loads spanning several stores.
constexpr int64_t kCopyAhead = 2;
constexpr int64_t kCopyRing = 4;

// Channels-first input is read once, row after row, plane after plane:
// keep the row kPrefetchRows ahead in flight. Past the plane's end this is
// the next plane (the next unit's data); past the tensor's end a prefetch
// is harmless (it never faults).
template <typename T>
HWY_INLINE void PrefetchRowAhead(const T* plane, int64_t row, int64_t width) {
  const char* c =
      reinterpret_cast<const char*>(plane + (row + kPrefetchRows) * width);
  for (int64_t i = 0; i < width * static_cast<int64_t>(sizeof(T)); i += 64)
    hwy::Prefetch(c + i);
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
  const auto denormalized = hn::BitCast(d, hn::Or(hn::ShiftRight<17>(two_w),
                                                  hn::Set(du, 126u << 23))) -
                            hn::Set(d, 0.5f);
  const auto is_denormal = hn::ShiftRight<27>(two_w) == hn::Zero(du);
  const auto magnitude = hn::IfThenElse(
      is_denormal, hn::BitCast(du, denormalized), hn::BitCast(du, normalized));
  return hn::BitCast(d, hn::Or(sign, magnitude));
}

// float32 lanes to bfloat16 bits: round to nearest even, NaN -> 0x7FC0
// (core/float16.h's FloatToBFloat16).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> ToHalfBits(D /*d*/, hn::Vec<D> v,
                                                       BFloat16*) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto u = hn::BitCast(du, v);
  const auto rounded =
      hn::ShiftRight<16>(u + hn::Set(du, 0x7FFFu) +
                         hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u)));
  const auto bits = hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)),
                                   hn::Set(du, 0x7FC0u), rounded);
  return hn::DemoteTo(d16, hn::BitCast(di, bits));
}

// float32 lanes to float16 bits: round to nearest even, overflow to inf,
// NaN -> sign | 0x7E00 (c10's fp16_ieee_from_fp32_value, vectorised).
template <class D>
HWY_INLINE hn::Vec<hn::Rebind<uint16_t, D>> ToHalfBits(D d, hn::Vec<D> v,
                                                       Float16*) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint16_t, D> d16;
  const auto w = hn::BitCast(du, v);
  const auto shl1_w = w + w;
  const auto sign = hn::And(w, hn::Set(du, 0x80000000u));
  auto base = (hn::Abs(v) * hn::Set(d, 0x1.0p+112f)) * hn::Set(d, 0x1.0p-110f);
  // bias = max(shl1_w & 0xFF000000, 0x71000000), compared as exponents.
  const auto exponent = hn::BitCast(di, hn::ShiftRight<24>(shl1_w));
  const auto bias =
      hn::ShiftLeft<24>(hn::BitCast(du, hn::Max(exponent, hn::Set(di, 0x71))));
  base =
      hn::BitCast(d, hn::ShiftRight<1>(bias) + hn::Set(du, 0x07800000u)) + base;
  const auto bits = hn::BitCast(du, base);
  const auto exp_bits =
      hn::And(hn::ShiftRight<13>(bits), hn::Set(du, 0x00007C00u));
  const auto mantissa_bits = hn::And(bits, hn::Set(du, 0x00000FFFu));
  const auto magnitude =
      hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), hn::Set(du, 0x7E00u),
                     exp_bits + mantissa_bits);
  return hn::DemoteTo(
      d16, hn::BitCast(di, hn::Or(hn::ShiftRight<16>(sign), magnitude)));
}

// Stores the first `count` lanes of v (all when count >= Lanes) as T.
template <class D>
HWY_INLINE void StoreF(D d, hn::Vec<D> v, int64_t count,
                       float* HWY_RESTRICT p) {
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
HWY_INLINE void ConvertRow(float* HWY_RESTRICT dst, const T* HWY_RESTRICT src,
                           int64_t count) {
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
HWY_INLINE int64_t ScratchRowLength(const Pool2dJob& job, int64_t owr,
                                    int64_t lanes) {
  const int64_t a = job.pw + job.iw;
  const int64_t b = owr * job.sw + job.kw;
  // Whole vectors, so that rows carved out of one allocation stay aligned.
  return RoundUp((a > b ? a : b) + 2 * job.kw + 4 * lanes, lanes);
}

// Calls fn(ElemTag<T>()) with T the element type of `elem` (float,
// BFloat16 or Float16): one dispatch for every kernel's three
// instantiations.
template <typename T>
struct ElemTag {
  using type = T;
};
template <class Fn>
HWY_INLINE void WithElemType(ElemType elem, const Fn& fn) {
  switch (elem) {
    case ElemType::kFloat32:
      return fn(ElemTag<float>());
    case ElemType::kBFloat16:
      return fn(ElemTag<BFloat16>());
    case ElemType::kFloat16:
      return fn(ElemTag<Float16>());
  }
}

// The loops of the channels-last kernels that read each window straight
// from the input: every output pixel of units [u0, u1), its channels in
// chunks of four vectors, then one vector, then one lane at a time.
// fold(k, d, in, rows, cols, pixel, dst) computes one chunk: k is
// std::integral_constant<int, K> for K vectors of descriptor d's lanes, `in`
// the image's input at the chunk's first channel, rows and cols the window
// clipped to the input, pixel = y * ow + x, dst the chunk's output.
template <typename T, class Fold>
HWY_INLINE void ForEachWindowCL(const Pool2dJob& job, int64_t u0, int64_t u1,
                                const Fold& fold) {
  const DF d;
  const D1 d1;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t ch = job.channels;
  const std::integral_constant<int, 4> four;
  const std::integral_constant<int, 1> one;
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    for (int64_t y = y0; y < y1; ++y) {
      const Range rows = Window(y, job.sh, job.ph, job.kh, job.ih);
      for (int64_t x = 0; x < job.ow; ++x) {
        const Range cols = Window(x, job.sw, job.pw, job.kw, job.iw);
        const int64_t pixel = y * job.ow + x;
        T* dst = op + pixel * ch;
        int64_t c = 0;
        for (; c + 4 * n <= ch; c += 4 * n)
          fold(four, d, ip + c, rows, cols, pixel, dst + c);
        for (; c + n <= ch; c += n)
          fold(one, d, ip + c, rows, cols, pixel, dst + c);
        for (; c < ch; ++c) fold(one, d1, ip + c, rows, cols, pixel, dst + c);
      }
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#endif  // include guard (toggled per target)
