// Emulation of ATen 1.13's CPU cascade sum (aten/src/ATen/native/cpu/
// SumKernel.cpp) one output at a time, so that global average pooling,
// which torch computes as input.mean(spatial dims), is bit-identical.
//
// ATen sums with AVX2 vectors; vector lanes never interact until the final
// horizontal add, so each lane is reproduced here as a scalar sequence with
// the same association order. Two input layouts occur:
//   * reduced dims contiguous (channels-first): vectorized_inner_sum when
//     the row holds at least one full vector, else a scalar row_sum;
//   * reduced dims strided by C (channels-last): per channel, either
//     multi_row_sum over the whole row (channels in the leading full groups
//     of 4 vectors / 4 scalars) or row_sum (the rest).
// This is the serial order; ATen uses it whenever it runs single-threaded
// or the input has fewer than 32768 elements, and for any thread count when
// more than one output is produced (it then splits the outputs, not a row).
#ifndef POOLCAT_CORE_CASCADE_SUM_INL_H_
#define POOLCAT_CORE_CASCADE_SUM_INL_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/float16.h"
#include "core/pool_kernel-inl.h"

namespace poolcat::pool_internal {

// ceil(log2(x)) as c10::utils::CeilLog2 (1 for x <= 2).
inline int64_t CeilLog2(int64_t x) {
  if (x <= 2) return 1;
  return 64 - __builtin_clzll(static_cast<unsigned long long>(x - 1));
}

// Most sums computed side by side (lanes): a vector's width in the
// contiguous case, a block of channels in the channels-last case.
inline constexpr int64_t kMaxLanes = 32;
inline constexpr int64_t kLevels = 4;  // multi_row_sum's cascade depth
inline constexpr int64_t kIlp = 4;     // row_sum's interleaving factor

// multi_row_sum for `lanes` independent sums at once: add_row(i, acc) adds
// row i's `lanes` values into acc[0, lanes). Rows are summed in chunks of
// 2^level_power whose partial sums are carried up four levels. `acc` holds
// kLevels * lanes values; the sums end in acc[0, lanes).
template <typename Acc, typename AddRow>
void CascadeLanes(int64_t size, int64_t lanes, AddRow add_row, Acc* acc) {
  const int64_t level_power = std::max<int64_t>(4, CeilLog2(size) / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  std::fill(acc, acc + kLevels * lanes, Acc(0));
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i) add_row(i, acc);
    for (int64_t j = 1; j < kLevels; ++j) {
      Acc* up = acc + j * lanes;
      Acc* down = acc + (j - 1) * lanes;
      for (int64_t l = 0; l < lanes; ++l) {
        up[l] += down[l];
        down[l] = Acc(0);
      }
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < size; ++i) add_row(i, acc);
  for (int64_t j = 1; j < kLevels; ++j) {
    for (int64_t l = 0; l < lanes; ++l) acc[l] += acc[j * lanes + l];
  }
}

// row_sum for `lanes` independent sums: kIlp interleaved cascades (row i
// goes to cascade i % kIlp), the leftover rows into the first, then the
// cascades added in order. add_row as for CascadeLanes; `work` holds
// kLevels * kIlp * lanes values; the sums end in work[0, lanes).
template <typename Acc, typename AddRow>
void RowSumLanes(int64_t size, int64_t lanes, AddRow add_row, Acc* work) {
  const int64_t size_ilp = size / kIlp;
  CascadeLanes<Acc>(
      size_ilp, kIlp * lanes,
      [&](int64_t i, Acc* acc) {
        for (int64_t k = 0; k < kIlp; ++k)
          add_row(i * kIlp + k, acc + k * lanes);
      },
      work);
  for (int64_t i = size_ilp * kIlp; i < size; ++i) add_row(i, work);
  for (int64_t k = 1; k < kIlp; ++k) {
    for (int64_t l = 0; l < lanes; ++l) work[l] += work[k * lanes + l];
  }
}

// AVX2 vector shapes per element type: kLoad elements per Vectorized<T>
// load, kLanes accumulator lanes (Vectorized<acc_t>).
template <typename T>
struct SumVec {
  static constexpr int64_t kLoad = 32 / sizeof(T);
  static constexpr int64_t kLanes = 32 / sizeof(typename Elem<T>::Acc);
};

// Lane `lane` of InnerSumCastLoadPolicy's load of the vector at `x`.
template <typename T>
typename Elem<T>::Acc InnerLaneLoad(const T* x, int64_t lane) {
  if constexpr (std::is_same_v<T, BFloat16>) {
    // Two float halves of 16 bfloat16 values, added lane-wise.
    return BFloat16ToFloat(x[lane]) + BFloat16ToFloat(x[lane + 8]);
  } else if constexpr (std::is_same_v<T, Float16>) {
    // load_reduce_vec: neighbouring pairs reduced into one float lane.
    return (0.0f + Float16ToFloat(x[2 * lane])) +
           Float16ToFloat(x[2 * lane + 1]);
  } else {
    return x[lane];
  }
}

// Sum of the `size` contiguous values at x, as torch.sum over contiguous
// reduced dims computes it.
template <typename T>
typename Elem<T>::Acc ContiguousSum(const T* x, int64_t size) {
  using Acc = typename Elem<T>::Acc;
  constexpr int64_t kLoad = SumVec<T>::kLoad;
  constexpr int64_t kLanes = SumVec<T>::kLanes;
  Acc work[kLevels * kIlp * kLanes];
  if (size < kLoad) {
    // scalar_inner_sum: one lane over the elements.
    RowSumLanes<Acc>(
        size, 1, [&](int64_t i, Acc* acc) { acc[0] += Elem<T>::Load(x[i]); },
        work);
    return work[0];
  }
  // vectorized_inner_sum: row_sum over whole vectors, then the scalar tail,
  // then the vector's lanes in order.
  const int64_t vec_count = size / kLoad;
  RowSumLanes<Acc>(
      vec_count, kLanes,
      [&](int64_t v, Acc* acc) {
        const T* block = x + v * kLoad;
        for (int64_t lane = 0; lane < kLanes; ++lane)
          acc[lane] += InnerLaneLoad<T>(block, lane);
      },
      work);
  Acc result = Acc(0);
  for (int64_t k = vec_count * kLoad; k < size; ++k)
    result += Elem<T>::Load(x[k]);
  for (int64_t lane = 0; lane < kLanes; ++lane) result += work[lane];
  return result;
}

// Channels [0, CascadeChannels(C)) of a channels-last sum use
// multi_row_sum over the whole row, the rest row_sum: vectorized_outer_sum
// (taken when a full input vector of channels exists) does groups of 4
// accumulator vectors first, scalar_outer_sum groups of 4 channels.
template <typename T>
int64_t CascadeChannels(int64_t channels) {
  const int64_t group =
      channels >= SumVec<T>::kLoad ? 4 * SumVec<T>::kLanes : 4;
  return channels / group * group;
}

// Sums over `size` positions of channels [c0, c1) of a (size, channels)
// row-major block, as torch.sum over the spatial dims of a channels-last
// tensor, into sums[0, c1 - c0). REQUIRES: c1 - c0 <= kMaxLanes and the
// range on one side of CascadeChannels(channels).
template <typename T>
void StridedChannelSums(const T* x, int64_t size, int64_t channels, int64_t c0,
                        int64_t c1, typename Elem<T>::Acc* sums) {
  using Acc = typename Elem<T>::Acc;
  const int64_t lanes = c1 - c0;
  auto add_row = [&](int64_t i, Acc* acc) {
    const T* row = x + i * channels + c0;
    for (int64_t l = 0; l < lanes; ++l) acc[l] += Elem<T>::Load(row[l]);
  };
  Acc work[kLevels * kIlp * kMaxLanes];
  if (c0 < CascadeChannels<T>(channels)) {
    CascadeLanes<Acc>(size, lanes, add_row, work);
  } else {
    RowSumLanes<Acc>(size, lanes, add_row, work);
  }
  std::copy(work, work + lanes, sums);
}

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_CASCADE_SUM_INL_H_
