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

// multi_row_sum for one lane: sums load(0..size-1) in chunks of
// 2^level_power, carrying partial sums up four levels.
template <typename Acc, typename Load>
Acc CascadeRows(int64_t size, Load load) {
  constexpr int64_t kLevels = 4;
  const int64_t level_power = std::max<int64_t>(4, CeilLog2(size) / kLevels);
  const int64_t level_step = int64_t{1} << level_power;
  const int64_t level_mask = level_step - 1;
  Acc acc[kLevels] = {Acc(0), Acc(0), Acc(0), Acc(0)};
  int64_t i = 0;
  while (i + level_step <= size) {
    for (int64_t j = 0; j < level_step; ++j, ++i) acc[0] += load(i);
    for (int64_t j = 1; j < kLevels; ++j) {
      acc[j] += acc[j - 1];
      acc[j - 1] = Acc(0);
      if ((i & (level_mask << (j * level_power))) != 0) break;
    }
  }
  for (; i < size; ++i) acc[0] += load(i);
  for (int64_t j = 1; j < kLevels; ++j) acc[0] += acc[j];
  return acc[0];
}

// row_sum for one lane: four interleaved cascades, the tail, then the four
// partial sums in order.
template <typename Acc, typename Load>
Acc RowSum(int64_t size, Load load) {
  constexpr int64_t kIlp = 4;
  const int64_t size_ilp = size / kIlp;
  Acc partial[kIlp];
  for (int64_t k = 0; k < kIlp; ++k) {
    partial[k] = CascadeRows<Acc>(size_ilp, [&](int64_t i) { return load(i * kIlp + k); });
  }
  for (int64_t i = size_ilp * kIlp; i < size; ++i) partial[0] += load(i);
  for (int64_t k = 1; k < kIlp; ++k) partial[0] += partial[k];
  return partial[0];
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
    return (0.0f + Float16ToFloat(x[2 * lane])) + Float16ToFloat(x[2 * lane + 1]);
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
  if (size < kLoad) {
    return RowSum<Acc>(size, [&](int64_t i) { return Elem<T>::Load(x[i]); });
  }
  const int64_t vec_count = size / kLoad;
  Acc result = Acc(0);
  for (int64_t k = vec_count * kLoad; k < size; ++k) result += Elem<T>::Load(x[k]);
  for (int64_t lane = 0; lane < kLanes; ++lane) {
    result += RowSum<Acc>(vec_count, [&](int64_t v) {
      return InnerLaneLoad<T>(x + v * kLoad, lane);
    });
  }
  return result;
}

// Sum over `size` positions of channel c of a (size, channels) row-major
// block, as torch.sum over the spatial dims of a channels-last tensor.
template <typename T>
typename Elem<T>::Acc StridedChannelSum(const T* x, int64_t size,
                                        int64_t channels, int64_t c) {
  using Acc = typename Elem<T>::Acc;
  auto load = [&](int64_t i) { return Elem<T>::Load(x[i * channels + c]); };
  // vectorized_outer_sum when a full input vector of channels exists,
  // groups of 4 accumulator vectors first; scalar_outer_sum groups by 4.
  const int64_t group = channels >= SumVec<T>::kLoad ? 4 * SumVec<T>::kLanes : 4;
  if (c < channels / group * group) return CascadeRows<Acc>(size, load);
  return RowSum<Acc>(size, load);
}

}  // namespace poolcat::pool_internal

#endif  // POOLCAT_CORE_CASCADE_SUM_INL_H_
