// The jobs the Highway pooling kernels run, in the plan's normalised
// (H, W) form, and what the kernels share outside Highway's per-target
// namespaces. core/pool_simd.cc plans a job and cuts it into units;
// max_pool_simd.cc, avg_pool_simd.cc and global_pool_simd.cc compute them.
#ifndef POOLCAT_CORE_POOL_SIMD_JOB_H_
#define POOLCAT_CORE_POOL_SIMD_JOB_H_

#include <cstdint>

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
  int64_t band;   // output rows per unit
  int64_t bands;  // units per plane (channels-first) or image (channels-last)
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
  return {
      static_cast<const T*>(job.in) + outer * job.ih * job.iw * job.channels,
      static_cast<T*>(job.out) + outer * job.oh * job.ow * job.channels, y0,
      y0 + job.band < job.oh ? y0 + job.band : job.oh};
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
      kept[slot] =
          hwy::AllocateAligned<float>(static_cast<size_t>(kRetainedFloats));
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

// The kernel files' entry points: each runs units [u0, u1) of a job (for
// global pooling: planes or images [u0, u1)) with the best instruction set
// of this CPU (HWY_DYNAMIC_DISPATCH).
void MaxPoolCFUnits(const Pool2dJob& job, int64_t u0,
                    int64_t u1);  // max_pool_simd.cc
void MaxPoolCLUnits(const Pool2dJob& job, int64_t u0, int64_t u1);
void AvgPoolCFUnits(const Pool2dJob& job, int64_t u0,
                    int64_t u1);  // avg_pool_simd.cc
void AvgPoolCLUnits(const Pool2dJob& job, int64_t u0, int64_t u1);
void GlobalAvgCFPlanes(const GlobalJob& job, int64_t p0,
                       int64_t p1);  // global_pool_simd.cc
void GlobalAvgCLImages(const GlobalJob& job, int64_t i0, int64_t i1);
// Lanes of the 8-wide descriptor GlobalAvgCFPlanes needs (fewer on SSE4).
int64_t GlobalAvgCFLanes();

}  // namespace poolcat::simd::internal

#endif  // POOLCAT_CORE_POOL_SIMD_JOB_H_
