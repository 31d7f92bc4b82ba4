// Highway max_pool kernels (1-D and 2-D, channels-first and channels-last;
// see core/pool_simd.h for what is handled, pool_simd-inl.h for how work is
// cut and rows are padded).
//
// Bit-identity with the generic kernels rests on MaxStep(best, v) =
// (v > best || isnan(v)) ? v : best being associative over consecutive
// (even overlapping) segments of the window in row-major order, so per-row
// maxima combined top to bottom give ATen's result, including which NaN or
// which signed zero wins.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/float16.h"
#include "core/pool_simd_job.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/max_pool_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h (which re-includes this file per target).
#include "core/pool_simd-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {

// Scratch floats per buffer for a group of small planes (MaxPoolCFFlat):
// two such buffers (32 KB) stay in L1/L2.
constexpr int64_t kFlatGroupFloats = 4096;

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
      for (int64_t j = 1; j < kw; ++j)
        acc = MaxStep(acc, hn::LoadU(d, src + x + j));
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
  for (int64_t t = stages; t > 0; --t)
    need[t - 1] = need[t] + (int64_t{1} << (t - 1));
  const float* m = src;
  float* bufs[2] = {t0, t1};
  for (int64_t t = 1; t <= stages; ++t) {
    const int64_t half = int64_t{1} << (t - 1);
    float* out = bufs[t & 1];
    for (int64_t x = 0; x < need[t]; x += n) {
      hn::Store(MaxStep(hn::LoadU(d, m + x), hn::LoadU(d, m + x + half)), d,
                out + x);
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
HWY_INLINE bool ReadsInPlace(const Pool2dJob& job, const float* src,
                             int64_t row_len) {
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
    int64_t next_row = band.begin;   // input rows are reduced just in time
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
        for (; next_copy < std::min(r + kCopyAhead + 1, band.end);
             ++next_copy) {
          PrefetchRowAhead(ip, next_copy, job.iw);
          if (!in_place(next_copy)) {
            ConvertRow(ring + (next_copy % kCopyRing) * row_len + job.pw,
                       ip + next_copy * job.iw, job.iw);
          }
        }
        const float* src = in_place(r)
                               ? reinterpret_cast<const float*>(ip + r * job.iw)
                               : ring + (r % kCopyRing) * row_len;
        RowMax(job, owr, src, t0, t1, rows.get() + (r - band.begin) * owr);
      }
      T* orow = op + y * job.ow;
      for (int64_t x = 0; x < job.ow; x += n) {
        hn::Vec<DF> acc = hn::Set(d, neg_inf);
        if (win.begin < win.end) {
          acc = hn::Load(d, rows.get() + (win.begin - band.begin) * owr + x);
          for (int64_t r = win.begin + 1; r < win.end; ++r) {
            acc = MaxStep(acc,
                          hn::Load(d, rows.get() + (r - band.begin) * owr + x));
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
HWY_INLINE void FlatRowMax(const Pool2dJob& job, const float* HWY_RESTRICT s,
                           int64_t begin, int64_t end, float* HWY_RESTRICT h) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = kKW > 0 ? kKW : job.kw;
  for (int64_t i = begin; i < end; i += n) {
    hn::Vec<DF> acc = hn::LoadU(d, s + i);
    for (int64_t j = 1; j < kw; ++j)
      acc = MaxStepIf<kNaN>(acc, hn::LoadU(d, s + i + j));
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
        const hn::Vec<DF> second =
            MaxStepIf<kNaN>(mid, hn::LoadU(d, top + kh * pitch + x));
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
  for (int64_t i = 0; i < group * plane_floats; ++i)
    scratch[i] = hmax[i] = neg_inf;
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
            hn::BlendedStore(v, hn::FirstN(d, static_cast<size_t>(job.iw - c)),
                             d, first_row + r * pitch + c);
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
  return hn::Vec<DF>{_mm512_castsi512_ps(_mm512_alignr_epi32(
      _mm512_castps_si512(v.raw), _mm512_castps_si512(prev.raw), 15))};
}
// v's lanes moved down one, the last lane taken from lane 0 of `next`.
HWY_INLINE hn::Vec<DF> LanesDownOne(hn::Vec<DF> v, hn::Vec<DF> next) {
  return hn::Vec<DF>{_mm512_castsi512_ps(_mm512_alignr_epi32(
      _mm512_castps_si512(next.raw), _mm512_castps_si512(v.raw), 1))};
}

// Even and odd columns of row[col, col + 2n); columns at or past `iw` are
// -inf when kMasked (and not loaded).
template <bool kMasked>
HWY_INLINE void LoadEvenOdd(DF d, const float* HWY_RESTRICT row, int64_t col,
                            int64_t iw, hn::Vec<DF>& even, hn::Vec<DF>& odd) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<DF> lo, hi;
  if (kMasked && iw - col < 2 * n) {  // a row end inside these columns
    const hn::Vec<DF> neg_inf = hn::Set(d, -__builtin_inff());
    const int64_t left = iw - col;
    const auto lo_in =
        hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(left, 0, n)));
    const auto hi_in =
        hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(left - n, 0, n)));
    // One masked load each, -inf merged into the lanes not loaded.
    lo = hn::Vec<DF>{_mm512_mask_loadu_ps(neg_inf.raw, lo_in.raw, row + col)};
    hi = hn::Vec<DF>{
        _mm512_mask_loadu_ps(neg_inf.raw, hi_in.raw, row + col + n)};
  } else {
    lo = hn::LoadU(d, row + col);
    hi = hn::LoadU(d, row + col + n);
  }
  even = hn::ConcatEven(d, hi, lo);
  odd = hn::ConcatOdd(d, hi, lo);
}

// h[k] = the window max along one input row of outputs x + k * n + lane.
template <int K, int KW, int PW, bool kMasked>
HWY_INLINE void RowMaxStride2(DF d, const float* HWY_RESTRICT row, int64_t iw,
                              int64_t x, hn::Vec<DF>* HWY_RESTRICT h) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const float neg_inf = -__builtin_inff();
  hn::Vec<DF> even[K + 1], odd[K];
  for (int k = 0; k < K; ++k)
    LoadEvenOdd<kMasked>(d, row, 2 * (x + k * n), iw, even[k], odd[k]);
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

// K vectors of outputs at x of output rows [y0, y1), top to bottom. The
// window max of each input row is computed once: when window y + 1 starts
// on the last row of window y (3 rows high at stride 2: every output row
// of W1), that row's maxima are carried over in registers. Input rows are
// prefetched by the first column group only.
template <int K, int KW, int PW, bool kMasked>
HWY_INLINE void MaxStride2Column(DF d, const Pool2dJob& job,
                                 const float* HWY_RESTRICT plane,
                                 float* HWY_RESTRICT out, int64_t y0,
                                 int64_t y1, int64_t x) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<DF> h[K];  // the maxima of input row `h_row`
  int64_t h_row = -1;
  for (int64_t y = y0; y < y1; ++y) {
    const Range win = Window(y, job.sh, job.ph, job.kh, job.ih);
    if (x == 0) {
      // Each input row once, kPrefetchRows ahead of the window's last.
      for (int64_t r = std::max(win.end - job.sh, win.begin); r < win.end;
           ++r) {
        PrefetchRowAhead(plane, r, job.iw);
      }
    }
    hn::Vec<DF> acc[K];
    for (int k = 0; k < K; ++k) acc[k] = hn::Set(d, -__builtin_inff());
    for (int64_t r = win.begin; r < win.end; ++r) {
      if (r != h_row) {
        RowMaxStride2<K, KW, PW, kMasked>(d, plane + r * job.iw, job.iw, x, h);
        h_row = r;
      }
      for (int k = 0; k < K; ++k)
        acc[k] = r == win.begin ? h[k] : MaxStep(acc[k], h[k]);
    }
    float* orow = out + y * job.ow;
    for (int k = 0; k < K; ++k)
      StoreF(d, acc[k], job.ow - (x + k * n), orow + x + k * n);
  }
}

template <int K, int KW, int PW>
HWY_INLINE void MaxStride2ColumnAt(DF d, const Pool2dJob& job,
                                   const float* HWY_RESTRICT plane,
                                   float* HWY_RESTRICT out, int64_t y0,
                                   int64_t y1, int64_t x) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  // Columns the group reads: [2x, 2(x + K n)), plus one for 3-wide windows
  // without padding (column 2x - 1 for pad 1 is inside the row when x > 0).
  const int64_t end = 2 * (x + K * n) + (KW == 3 && PW == 0 ? 1 : 0);
  if (end <= job.iw) {
    MaxStride2Column<K, KW, PW, false>(d, job, plane, out, y0, y1, x);
  } else {
    MaxStride2Column<K, KW, PW, true>(d, job, plane, out, y0, y1, x);
  }
}

template <int KW, int PW>
void MaxPoolCFStride2(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const DF d;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<float>(job, u);
    for (int64_t x = 0; x < job.ow; x += 4 * n) {
      switch (std::min<int64_t>(4, (job.ow - x + n - 1) / n)) {
        case 4:
          MaxStride2ColumnAt<4, KW, PW>(d, job, ip, op, y0, y1, x);
          break;
        case 3:
          MaxStride2ColumnAt<3, KW, PW>(d, job, ip, op, y0, y1, x);
          break;
        case 2:
          MaxStride2ColumnAt<2, KW, PW>(d, job, ip, op, y0, y1, x);
          break;
        default:
          MaxStride2ColumnAt<1, KW, PW>(d, job, ip, op, y0, y1, x);
          break;
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
    return WithElemType(job.elem, [&](auto elem) {
      MaxPoolCFFlatT<typename decltype(elem)::type>(job, u0, u1);
    });
  }
  return WithElemType(job.elem, [&](auto elem) {
    MaxPoolCFT<typename decltype(elem)::type>(job, u0, u1);
  });
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
      for (int k = 0; k < K; ++k)
        acc[k] = MaxStep(acc[k], LoadF(d, src + i * stride + k * n));
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
  for (; c + 4 * n <= channels; c += 4 * n)
    FoldMaxAt<4>(d, src + c, count, stride, dst + c);
  for (; c + n <= channels; c += n)
    FoldMaxAt<1>(d, src + c, count, stride, dst + c);
  const D1 d1;
  for (; c < channels; ++c) FoldMaxAt<1>(d1, src + c, count, stride, dst + c);
}

// How far ahead of the window the channels-last W pass prefetches its
// input. The hardware prefetcher alone leaves a single thread's W1_cl reads
// about 7% slower (A/B of the two kernels, alternated); 512 B and 1.5 KB
// ahead gained less, 4 KB and more lost.
constexpr int64_t kPrefetchBytesCL = 1024;

// Channels-last max_pool over units [u0, u1) of (image, band): the window
// max along W of every needed input row, then along H.
template <typename T>
void MaxPoolCLT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const int64_t ch = job.channels;
  const int64_t x_bytes = job.sw * ch * static_cast<int64_t>(sizeof(T));
  const int64_t row_floats = job.ow * ch;
  const int64_t band_rows = job.band_rows;
  ScratchFloats rows(1, band_rows * row_floats);
  for (int64_t u = u0; u < u1; ++u) {
    const auto [ip, op, y0, y1] = UnitAt<T>(job, u);
    const Range band = BandRows(job, y0, y1);
    for (int64_t r = band.begin; r < band.end; ++r) {
      float* hrow = rows.get() + (r - band.begin) * row_floats;
      const char* row_bytes =
          reinterpret_cast<const char*>(ip + r * job.iw * ch);
      for (int64_t x = 0; x < job.ow; ++x) {
        const Range win = Window(x, job.sw, job.pw, job.kw, job.iw);
        // The input bytes this output advances over, kPrefetchBytesCL ahead
        // (into the next row at the row's end, the next one read).
        const char* ahead = row_bytes + x * x_bytes + kPrefetchBytesCL;
        for (int64_t i = 0; i < x_bytes; i += 64) hwy::Prefetch(ahead + i);
        FoldMaxChannels(ip + (r * job.iw + win.begin) * ch, win.end - win.begin,
                        ch, ch, hrow + x * ch);
      }
    }
    for (int64_t y = y0; y < y1; ++y) {
      const Range win = Window(y, job.sh, job.ph, job.kh, job.ih);
      const int64_t count = win.end > win.begin ? win.end - win.begin : 0;
      const float* first =
          rows.get() + (count > 0 ? win.begin - band.begin : 0) * row_floats;
      FoldMaxChannels(first, count, row_floats, row_floats,
                      op + y * row_floats);
    }
  }
}

// dst[c] = fold of MaxStep over the taps of one window in raster order
// (rows, then columns: the generic kernel's order), for K vectors of
// channels at c (-inf for an empty window).
template <int K, class D, typename S, typename O>
HWY_INLINE void FoldMaxWindowAt(D d, const S* HWY_RESTRICT src, int64_t rows,
                                int64_t cols, int64_t row_stride,
                                int64_t col_stride, O* HWY_RESTRICT dst) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> acc[K];
  if (rows <= 0 || cols <= 0) {
    for (int k = 0; k < K; ++k)
      StoreF(d, hn::Set(d, -__builtin_inff()), n, dst + k * n);
    return;
  }
  for (int k = 0; k < K; ++k) acc[k] = LoadF(d, src + k * n);
  for (int64_t r = 0; r < rows; ++r) {
    const S* row = src + r * row_stride;
    for (int64_t j = r == 0 ? 1 : 0; j < cols; ++j) {
      for (int k = 0; k < K; ++k)
        acc[k] = MaxStep(acc[k], LoadF(d, row + j * col_stride + k * n));
    }
  }
  for (int k = 0; k < K; ++k) StoreF(d, acc[k], n, dst + k * n);
}

// Channels-last max_pool of small windows straight from the input, one
// output pixel at a time: as many loads as the separable passes for 3x3
// windows at stride 2 (and fewer for 2x2), without their scratch rows.
template <typename T>
void MaxPoolCLDirectT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const int64_t ch = job.channels;
  ForEachWindowCL<T>(job, u0, u1,
                     [&](auto k, auto d, const T* in, Range rows, Range cols,
                         int64_t /*pixel*/, T* dst) {
                       FoldMaxWindowAt<decltype(k)::value>(
                           d, in + (rows.begin * job.iw + cols.begin) * ch,
                           rows.end - rows.begin, cols.end - cols.begin,
                           job.iw * ch, ch, dst);
                     });
}

// Direct windows when they take no more loads per output than the
// separable passes: kh * kw against kw per input row (about sh rows per
// output row) plus kh. W1's 3x3 at stride 2 and 2x2 windows go direct,
// SPPF's 5x5 at stride 1 stays separable.
bool UseDirectCL(const Pool2dJob& job) {
  return job.kh * job.kw <= job.sh * job.kw + job.kh;
}

void MaxPoolCL(const Pool2dJob& job, int64_t u0, int64_t u1) {
  const bool direct = UseDirectCL(job);
  return WithElemType(job.elem, [&](auto elem) {
    using T = typename decltype(elem)::type;
    if (direct) return MaxPoolCLDirectT<T>(job, u0, u1);
    return MaxPoolCLT<T>(job, u0, u1);
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace poolcat::simd::internal {

HWY_EXPORT(MaxPoolCF);
HWY_EXPORT(MaxPoolCL);

void MaxPoolCFUnits(const Pool2dJob& job, int64_t u0, int64_t u1) {
  HWY_DYNAMIC_DISPATCH(MaxPoolCF)(job, u0, u1);
}
void MaxPoolCLUnits(const Pool2dJob& job, int64_t u0, int64_t u1) {
  HWY_DYNAMIC_DISPATCH(MaxPoolCL)(job, u0, u1);
}

}  // namespace poolcat::simd::internal
#endif  // HWY_ONCE
