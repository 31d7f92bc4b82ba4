// Highway global average pooling (adaptive_avg_pool to 1x1, float32):
// ATen's cascade sum (cascade_sum-inl.h) replayed lane by lane, with the
// same association order, so results are bit-identical to torch. Lanes are
// channels (channels-last) or 8-lane vectors along a plane (channels-first).

#include <cstdint>

#include "core/cascade_sum-inl.h"
#include "core/pool_simd_job.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/global_pool_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h (which re-includes this file per target).
#include "core/pool_simd-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {

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
  using pool_internal::CeilLog2;
  using pool_internal::kLevels;
  static_assert(kLevels == 4, "the accumulators below are ATen's four levels");
  const int64_t level_power =
      CeilLog2(size) / kLevels > 4 ? CeilLog2(size) / kLevels : 4;
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
  using pool_internal::kIlp;
  static_assert(kIlp == 4, "the cascades below are ATen's four");
  const int64_t size_ilp = size / kIlp;
  V p0 = CascadeRows(zero, size_ilp,
                     [&](int64_t i) { return load(i * kIlp + 0); });
  const V p1 = CascadeRows(zero, size_ilp,
                           [&](int64_t i) { return load(i * kIlp + 1); });
  const V p2 = CascadeRows(zero, size_ilp,
                           [&](int64_t i) { return load(i * kIlp + 2); });
  const V p3 = CascadeRows(zero, size_ilp,
                           [&](int64_t i) { return load(i * kIlp + 3); });
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
  hn::Vec<D> p0 = hn::Zero(d), p1 = hn::Zero(d), p2 = hn::Zero(d),
             p3 = hn::Zero(d);
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
    case 0:
      p = (r << 1) | j3;
      l = j & 7;
      break;
    case 1:
      p = (r2 << 3) | (r1 << 2) | (j0 << 1) | j3;
      l = (j2 << 2) | (j1 << 1) | r0;
      break;
    case 2:
      p = (r2 << 3) | (j1 << 2) | (j0 << 1) | j3;
      l = (j2 << 2) | (r1 << 1) | r0;
      break;
    default:
      p = j;
      l = r;
      break;
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
          if (TransposePosition(s - 1, from, k & 15) == want)
            t.index[s - 1][o][j] = k;
        }
      }
    }
  }
  return t;
}
alignas(64) constexpr Transpose16x8Indices kTranspose16x8 =
    MakeTranspose16x8Indices();

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
      return hn::Combine(d, hn::LoadU(d8, hi + k * 8),
                         hn::LoadU(d8, lo + k * 8));
    });
  }
  Transpose16x8(v);
  hn::Vec<DF> result = hn::Zero(d);
  const auto plane_starts =
      hn::Iota(di, 0) * hn::Set(di, static_cast<int32_t>(size));
  for (int64_t k = vec_count * 8; k < size; ++k) {
    result = result + hn::GatherIndex(d, x + k, plane_starts);
  }
  for (int l = 0; l < 8; ++l) result = result + v[l];
  const hn::Vec<DF> quotient =
      (hn::Zero(d) + result) / hn::Set(d, static_cast<float>(size));
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
        hn::Store(
            ShortRowSum(d8, vec_count,
                        [&](int64_t v) { return hn::LoadU(d8, x + v * 8); }),
            d8, lanes[q]);
      } else {
        hn::Store(RowSum(hn::Zero(d8), vec_count,
                         [&](int64_t v) { return hn::LoadU(d8, x + v * 8); }),
                  d8, lanes[q]);
      }
    }
    for (size_t lane = 0; lane < hn::Lanes(d8); ++lane) {
      for (int64_t q = 0; q < planes; ++q) result[q] += lanes[q][lane];
    }
    // The sum lands in a zero-filled output first (-0 becomes +0).
    for (int64_t q = 0; q < planes; ++q)
      job.out[g + q] = (0.0f + result[q]) / count;
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
  const Multi<D, K> sum =
      cascade ? CascadeRows(zero, size, load) : RowSum(zero, size, load);
  const hn::Vec<D> div = hn::Set(d, count);
  for (int k = 0; k < K; ++k)
    hn::StoreU((hn::Zero(d) + sum.v[k]) / div, d, dst + k * n);
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
int64_t CappedEightLanes() {
  return static_cast<int64_t>(hn::Lanes(hn::CappedTag<float, 8>()));
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace poolcat::simd::internal {

HWY_EXPORT(GlobalAvgCF);
HWY_EXPORT(GlobalAvgCL);
HWY_EXPORT(CappedEightLanes);

void GlobalAvgCFPlanes(const GlobalJob& job, int64_t p0, int64_t p1) {
  HWY_DYNAMIC_DISPATCH(GlobalAvgCF)(job, p0, p1);
}
void GlobalAvgCLImages(const GlobalJob& job, int64_t i0, int64_t i1) {
  HWY_DYNAMIC_DISPATCH(GlobalAvgCL)(job, i0, i1);
}
int64_t GlobalAvgCFLanes() { return HWY_DYNAMIC_DISPATCH(CappedEightLanes)(); }

}  // namespace poolcat::simd::internal
#endif  // HWY_ONCE
