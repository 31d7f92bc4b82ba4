// The benchmark workloads of issue 5, shared by poolcat_bench and
// bench_onednn so both measure exactly the same shapes. float32 throughout.
#ifndef POOLCAT_BENCH_WORKLOADS_H_
#define POOLCAT_BENCH_WORKLOADS_H_

#include <cstddef>
#include <cstdint>

namespace poolcat::bench {

enum class WorkloadKind { kMaxPool, kAvgPool, kAdaptiveAvgPool, kCat };

struct Workload {
  const char* name;
  WorkloadKind kind;
  // Logical NCHW input shape (for cat: each of the two inputs, cat on dim 1).
  int64_t n, c, h, w;
  // Square pooling window; unused for adaptive pooling and cat.
  int64_t kernel = 0, stride = 0, pad = 0;
  bool count_include_pad = true;
  // Adaptive pooling output size (square).
  int64_t adaptive_out = 0;
};

inline constexpr Workload kWorkloads[] = {
    {"W1", WorkloadKind::kMaxPool, 32, 64, 112, 112, 3, 2, 1},
    {"W2", WorkloadKind::kMaxPool, 32, 128, 56, 56, 2, 2, 0},
    {"W3", WorkloadKind::kAvgPool, 32, 64, 56, 56, 3, 1, 1, false},
    {"W4", WorkloadKind::kAdaptiveAvgPool, 32, 2048, 7, 7, 0, 0, 0, true, 1},
    {"W5", WorkloadKind::kMaxPool, 8, 256, 20, 20, 5, 1, 2},
    {"W6", WorkloadKind::kCat, 32, 64, 56, 56},
    {"W7", WorkloadKind::kMaxPool, 1, 1, 4, 4, 2, 2, 0},
};

// PyTorch's output size without ceil_mode.
constexpr int64_t PooledSize(int64_t in, int64_t kernel, int64_t stride,
                             int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

constexpr int64_t InputElements(const Workload& w) {
  return w.n * w.c * w.h * w.w;
}

constexpr int64_t OutputElements(const Workload& w) {
  switch (w.kind) {
    case WorkloadKind::kCat:
      return 2 * InputElements(w);
    case WorkloadKind::kAdaptiveAvgPool:
      return w.n * w.c * w.adaptive_out * w.adaptive_out;
    default:
      return w.n * w.c * PooledSize(w.h, w.kernel, w.stride, w.pad) *
             PooledSize(w.w, w.kernel, w.stride, w.pad);
  }
}

// Bytes a perfect kernel must move: read every input once, write the output
// once.
constexpr int64_t BytesMoved(const Workload& w) {
  const int64_t inputs = w.kind == WorkloadKind::kCat ? 2 : 1;
  return 4 * (inputs * InputElements(w) + OutputElements(w));
}

}  // namespace poolcat::bench

#endif  // POOLCAT_BENCH_WORKLOADS_H_
