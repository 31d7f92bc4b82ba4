// Highway avg_pool kernels (1-D and 2-D, channels-first and channels-last;
// see core/pool_simd.h for what is handled, pool_simd-inl.h for how work is
// cut and rows are padded).
//
// Bit-identity with the generic kernels: averages add the window's elements
// in row-major order, one vector lane per output, starting from +0.0; the
// padding +0.0s read from scratch rows leave such a sum unchanged (it can
// never be -0.0). Each sum is divided by the float divisor pool_simd.cc
// computed for its output, as the generic kernel divides.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/float16.h"
#include "core/pool_simd_job.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/avg_pool_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h (which re-includes this file per target).
#include "core/pool_simd-inl.h"
#include "hwy/highway.h"

// Full unrolling of small loops with compile-time trip counts, typically
// ones indexing arrays of vectors that must stay in registers. GCC only:
// clang unrolls such loops by itself, and with the pragma took four times
// as long to compile these kernels (then in core/pool_simd.cc with the
// others: over 14 min, stopped unfinished, instead of under 4 min in the
// fuzz build).
#ifndef POOLCAT_UNROLL
#if defined(__clang__)
#define POOLCAT_UNROLL
#else
#define POOLCAT_UNROLL _Pragma("GCC unroll 16")
#endif
#endif

HWY_BEFORE_NAMESPACE();
namespace poolcat::simd::internal {
namespace HWY_NAMESPACE {

// Stores sum[q][k] / divisor as output row q's vector k at x (masked past
// the row's end): the last step of both channels-first avg kernels.
template <int K, int R>
HWY_INLINE void StoreAverages(DF d, const Pool2dJob& job,
                              const hn::Vec<DF> (&sum)[R][K], int64_t x,
                              const float* const* div, float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  for (int q = 0; q < R; ++q) {
    for (int k = 0; k < K; ++k) {
      const int64_t at = x + k * n;
      const hn::Vec<DF> quotient = sum[q][k] / hn::LoadU(d, div[q] + at);
      StoreF(d, job.add_to_zero ? hn::Zero(d) + quotient : quotient,
             job.ow - at, out[q] + at);
    }
  }
}

// K vectors of outputs [x, x + K * lanes) of R consecutive channels-first
// avg_pool rows: each lane sums its window in row-major order. The R * K
// sums are independent chains (keeping the adders busy) and rows shared by
// the R windows are loaded once. `rows` + r * row_len is padded input row
// r; win[q], div[q], out[q] belong to output row q.
template <int K, int R, int KW>
HWY_INLINE void AvgRowBlock(DF d, const Pool2dJob& job,
                            const float* HWY_RESTRICT rows, int64_t row_len,
                            const Range* win, int64_t x,
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
HWY_INLINE void AvgRowBlocks(DF d, const Pool2dJob& job,
                             const float* HWY_RESTRICT rows, int64_t row_len,
                             const Range* win, int64_t x,
                             const float* const* div, float* const* out,
                             int64_t vectors) {
  switch (vectors) {
    case 4:
      return AvgRowBlock<4, R, KW>(d, job, rows, row_len, win, x, div, out);
    case 3:
      return AvgRowBlock<3, R, KW>(d, job, rows, row_len, win, x, div, out);
    case 2:
      return AvgRowBlock<2, R, KW>(d, job, rows, row_len, win, x, div, out);
    default:
      return AvgRowBlock<1, R, KW>(d, job, rows, row_len, win, x, div, out);
  }
}

// One group of up to four vectors of R output rows.
template <int R>
HWY_INLINE int64_t AvgRowGroup(DF d, const Pool2dJob& job,
                               const float* HWY_RESTRICT rows, int64_t row_len,
                               const Range* win, int64_t x,
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
  std::memset(rows.get(), 0,
              static_cast<size_t>(band_rows * row_len) * sizeof(float));
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
      for (; next_row < std::min(win[pair - 1].end + kCopyAhead, band.end);
           ++next_row) {
        const int64_t r = next_row;
        PrefetchRowAhead(ip, r, job.iw);
        ConvertRow(rows.get() + (r - band.begin) * row_len + job.pw,
                   ip + r * job.iw, job.iw);
      }
      for (int64_t x = 0; x < job.ow;) {
        x += pair == 2 ? AvgRowGroup<2>(d, job, band_rows_ptr, row_len, win, x,
                                        div, orow)
                       : AvgRowGroup<1>(d, job, band_rows_ptr, row_len, win, x,
                                        div, orow);
      }
      if constexpr (!kFloatOut) {
        for (int q = 0; q < pair; ++q) {
          for (int64_t x = 0; x < job.ow; x += n) {
            StoreF(d, hn::Load(d, orow[q] + x), job.ow - x,
                   op + (y + q) * job.ow + x);
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
HWY_INLINE void AvgDirectTap(DF d, const float* HWY_RESTRICT p, int64_t i,
                             int64_t kh, int64_t j, int64_t kw,
                             const hn::Mask<DF>* HWY_RESTRICT masks,
                             bool mask_middle, hn::Vec<DF> (&sum)[R][K]) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  POOLCAT_UNROLL
  for (int k = 0; k < K; ++k) {
    const bool masked = (k == 0 || k == K - 1) ? masks != nullptr : mask_middle;
    const hn::Vec<DF> v =
        masked ? hn::MaskedLoad(masks[k * kw + j], d, p + k * n + j)
               : hn::LoadU(d, p + k * n + j);
    POOLCAT_UNROLL
    for (int q = 0; q < R; ++q) {
      if (R == 1 || (q <= i && i < q + kh)) sum[q][k] = sum[q][k] + v;
    }
  }
}

// Every tap of input row i, in order.
template <int K, int R, int KW>
HWY_INLINE void AvgDirectTaps(DF d, const Pool2dJob& job,
                              const float* HWY_RESTRICT p, int64_t i,
                              int64_t kh,
                              const hn::Mask<DF>* HWY_RESTRICT masks,
                              bool mask_middle, hn::Vec<DF> (&sum)[R][K]) {
  if constexpr (KW != 0) {
    POOLCAT_UNROLL
    for (int64_t j = 0; j < KW; ++j)
      AvgDirectTap<K, R>(d, p, i, kh, j, KW, masks, mask_middle, sum);
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
HWY_INLINE void AvgDirectBlock(DF d, const Pool2dJob& job,
                               const float* HWY_RESTRICT plane, int64_t r0,
                               int64_t rows, int64_t x,
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
      AvgDirectTaps<K, R, KW>(d, job, first + i * job.iw, i, KH, masks,
                              mask_middle, sum);
    }
  } else {
    const int64_t count = R > 1 ? job.kh + R - 1 : rows;
    for (int64_t i = 0; i < count; ++i) {
      AvgDirectTaps<K, R, KW>(d, job, first + i * job.iw, i, job.kh, masks,
                              mask_middle, sum);
    }
  }
  StoreAverages<K, R>(d, job, sum, x, div, out);
}

// One output row or pair of rows, every vector of it, in groups of up to
// four vectors.
template <int R, int KH, int KW>
HWY_INLINE void AvgDirectRows(DF d, const Pool2dJob& job,
                              const float* HWY_RESTRICT plane, int64_t r0,
                              int64_t rows, const hn::Mask<DF>* masks,
                              const bool* group_masked, const float* const* div,
                              float* const* out) {
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  const int64_t kw = KW != 0 ? KW : job.kw;
  int64_t g = 0;
  for (int64_t x = 0; x < job.ow; x += 4 * n, ++g) {
    const hn::Mask<DF>* m = group_masked[g] ? masks + (x / n) * kw : nullptr;
    switch (std::min<int64_t>(4, (job.ow - x + n - 1) / n)) {
      case 4:
        AvgDirectBlock<4, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out);
        break;
      case 3:
        AvgDirectBlock<3, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out);
        break;
      case 2:
        AvgDirectBlock<2, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out);
        break;
      default:
        AvgDirectBlock<1, R, KH, KW>(d, job, plane, r0, rows, x, m, div, out);
        break;
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
          d, hn::And(col > hn::Set(di, -1),
                     hn::Set(di, static_cast<int32_t>(job.iw)) > col));
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
      if (y + kDirectRows <= y1 && top >= 0 &&
          top + kDirectRows - 1 + kh <= job.ih) {
        AvgDirectRows<kDirectRows, KH, KW>(d, job, ip, top, 0, masks,
                                           group_masked, div, orow);
        y += kDirectRows;
      } else if (y + 2 <= y1 && top >= 0 && top + 1 + kh <= job.ih) {
        AvgDirectRows<2, KH, KW>(d, job, ip, top, 0, masks, group_masked, div,
                                 orow);
        y += 2;
      } else {
        const Range win = Window(y, 1, job.ph, kh, job.ih);
        const int64_t rows = win.end > win.begin ? win.end - win.begin : 0;
        AvgDirectRows<1, KH, KW>(d, job, ip, win.begin, rows, masks,
                                 group_masked, div, orow);
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
  return WithElemType(job.elem, [&](auto elem) {
    AvgPoolCFT<typename decltype(elem)::type>(job, u0, u1);
  });
}

// K vectors of channels of one channels-last avg_pool output.
template <int K, class D, typename T>
HWY_INLINE void AvgAt(D d, const T* HWY_RESTRICT in, const Pool2dJob& job,
                      Range rows, Range cols, float divisor,
                      T* HWY_RESTRICT dst) {
  const int64_t ch = job.channels;
  const int64_t n = static_cast<int64_t>(hn::Lanes(d));
  hn::Vec<D> sum[K];
  for (int k = 0; k < K; ++k) sum[k] = hn::Zero(d);
  for (int64_t r = rows.begin; r < rows.end; ++r) {
    const T* p = in + (r * job.iw) * ch;
    for (int64_t x = cols.begin; x < cols.end; ++x) {
      for (int k = 0; k < K; ++k)
        sum[k] = sum[k] + LoadF(d, p + x * ch + k * n);
    }
  }
  const hn::Vec<D> div = hn::Set(d, divisor);
  for (int k = 0; k < K; ++k) {
    const hn::Vec<D> quotient = sum[k] / div;
    StoreF(d, job.add_to_zero ? hn::Zero(d) + quotient : quotient, n,
           dst + k * n);
  }
}

// Channels-last avg_pool over units [u0, u1) of (image, band).
template <typename T>
void AvgPoolCLT(const Pool2dJob& job, int64_t u0, int64_t u1) {
  ForEachWindowCL<T>(job, u0, u1,
                     [&](auto k, auto d, const T* in, Range rows, Range cols,
                         int64_t pixel, T* dst) {
                       AvgAt<decltype(k)::value>(d, in, job, rows, cols,
                                                 job.divisors[pixel], dst);
                     });
}

void AvgPoolCL(const Pool2dJob& job, int64_t u0, int64_t u1) {
  return WithElemType(job.elem, [&](auto elem) {
    AvgPoolCLT<typename decltype(elem)::type>(job, u0, u1);
  });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat::simd::internal
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace poolcat::simd::internal {

HWY_EXPORT(AvgPoolCF);
HWY_EXPORT(AvgPoolCL);

void AvgPoolCFUnits(const Pool2dJob& job, int64_t u0, int64_t u1) {
  HWY_DYNAMIC_DISPATCH(AvgPoolCF)(job, u0, u1);
}
void AvgPoolCLUnits(const Pool2dJob& job, int64_t u0, int64_t u1) {
  HWY_DYNAMIC_DISPATCH(AvgPoolCL)(job, u0, u1);
}

}  // namespace poolcat::simd::internal
#endif  // HWY_ONCE
