// torch.cat: validation (PlanCat) and the copy (RunCat).
//
// The copy is a set of bulk moves: for each outer slice (the dims before
// `dim`) every input contributes one contiguous run of bytes to one
// contiguous run of the output. Runs are grouped (many small runs) or split
// (one huge run) into work units of roughly kUnitBytes, and OpenMP spreads
// the units over the threads. Large same-dtype copies use non-temporal
// stores (Highway Stream, runtime dispatch) so the output does not first
// get read into the cache (no read-for-ownership) and does not evict the
// inputs still to be read. Mixed dtypes go through a scalar conversion that
// reproduces PyTorch's casts (int -> float -> half for 16-bit floats).

#include <cstdint>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/concat.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// Must come after foreach_target.h (which re-includes this file per target).
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace poolcat {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Copies `bytes` from src to dst with streaming (non-temporal) stores for the
// vector-aligned middle part; the unaligned head and the tail use memcpy.
// Callers issue hwy::FlushStream() before the data is read by other threads.
void StreamCopy(uint8_t* HWY_RESTRICT dst, const uint8_t* HWY_RESTRICT src,
                size_t bytes) {
  const hn::ScalableTag<uint8_t> d;
  const size_t n = hn::Lanes(d);
  const size_t misalign = reinterpret_cast<uintptr_t>(dst) % n;
  size_t head = misalign == 0 ? 0 : n - misalign;
  if (head > bytes) head = bytes;
  std::memcpy(dst, src, head);
  size_t i = head;
  // Four vectors per iteration keep enough stores in flight to fill the
  // write-combining buffers.
  for (; i + 4 * n <= bytes; i += 4 * n) {
    const auto v0 = hn::LoadU(d, src + i);
    const auto v1 = hn::LoadU(d, src + i + n);
    const auto v2 = hn::LoadU(d, src + i + 2 * n);
    const auto v3 = hn::LoadU(d, src + i + 3 * n);
    hn::Stream(v0, d, dst + i);
    hn::Stream(v1, d, dst + i + n);
    hn::Stream(v2, d, dst + i + 2 * n);
    hn::Stream(v3, d, dst + i + 3 * n);
  }
  for (; i + n <= bytes; i += n) {
    hn::Stream(hn::LoadU(d, src + i), d, dst + i);
  }
  std::memcpy(dst + i, src + i, bytes - i);
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace poolcat
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/concat.h"
#include "core/float16.h"
#include "core/parallel.h"
#include "hwy/cache_control.h"

namespace poolcat {

HWY_EXPORT(StreamCopy);

namespace {

// ---------------------------------------------------------------------------
// Element conversion for mixed-dtype cat. Promotion only ever widens
// (bool -> integer -> floating, narrow -> wide), so the casts needed are
// exactly PyTorch's static_casts; 16-bit floats are produced from float, as
// c10::Half / c10::BFloat16 constructors do (core/float16.h).

// Raw byte of a bool tensor (any nonzero byte reads as true).
struct BoolByte {
  uint8_t byte;
};

// The value of a source element as a C++ arithmetic value.
template <typename T>
auto Decode(T v) {
  return v;
}
float Decode(Float16 v) { return Float16ToFloat(v); }
float Decode(BFloat16 v) { return BFloat16ToFloat(v); }
// Any nonzero byte is true, as a C++ bool read would be for 0/1 storage.
int Decode(BoolByte v) { return v.byte != 0 ? 1 : 0; }

template <typename Dst, typename V>
Dst Encode(V v) {
  if constexpr (std::is_same_v<Dst, Float16>) {
    return FloatToFloat16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<Dst, BFloat16>) {
    return FloatToBFloat16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<Dst, BoolByte>) {
    return BoolByte{static_cast<uint8_t>(v != 0 ? 1 : 0)};
  } else {
    return static_cast<Dst>(v);
  }
}

template <typename Dst, typename Src>
void ConvertRun(void* dst, const void* src, int64_t count) {
  const Src* s = static_cast<const Src*>(src);
  Dst* d = static_cast<Dst*>(dst);
  for (int64_t i = 0; i < count; ++i) {
    Src v;
    std::memcpy(&v, s + i, sizeof(Src));  // inputs carry no alignment promise
    const Dst out = Encode<Dst>(Decode(v));
    std::memcpy(d + i, &out, sizeof(Dst));
  }
}

template <typename F>
void VisitDType(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f(float{});
    case DType::kFloat64:
      return f(double{});
    case DType::kBFloat16:
      return f(BFloat16{});
    case DType::kFloat16:
      return f(Float16{});
    case DType::kInt8:
      return f(int8_t{});
    case DType::kUInt8:
      return f(uint8_t{});
    case DType::kInt16:
      return f(int16_t{});
    case DType::kInt32:
      return f(int32_t{});
    case DType::kInt64:
      return f(int64_t{});
    case DType::kBool:
      return f(BoolByte{});
  }
}

using ConvertFn = void (*)(void* dst, const void* src, int64_t count);

ConvertFn GetConverter(DType dst, DType src) {
  ConvertFn fn = nullptr;
  VisitDType(dst, [&](auto dst_tag) {
    VisitDType(src, [&](auto src_tag) {
      fn = &ConvertRun<decltype(dst_tag), decltype(src_tag)>;
    });
  });
  return fn;
}

// ---------------------------------------------------------------------------
// Planning helpers.

// Legacy behaviour kept by torch.cat: a 1-D tensor of shape (0,) is ignored
// whatever the other tensors' ranks are.
bool IsLegacyEmpty(const TensorView& t) {
  return t.shape.size() == 1 && t.shape[0] == 0;
}

std::string DescribeInput(size_t i, const TensorView& t) {
  return absl::StrCat(" (tensors[", i, "] has shape ", ShapeToString(t.shape),
                      ")");
}

// ---------------------------------------------------------------------------
// Copy scheduling.

// Work per unit: large enough that OpenMP scheduling and the cancellation
// check are noise, small enough that 2+ threads balance well.
constexpr size_t kUnitBytes = size_t{256} << 10;
// Below this total a single thread is faster than waking the team.
constexpr size_t kParallelMinBytes = size_t{512} << 10;
// Streaming stores pay off once the output clearly exceeds the per-core
// caches; below it a normal memcpy keeps the output cache-hot for the next op.
constexpr size_t kStreamMinBytes = size_t{8} << 20;
// Runs shorter than this are copied normally: they cover at most a few
// partial cache lines, which streaming stores would write piecemeal. Runs of
// 256 B (cat along C of a channels-last float tensor with C = 64) still gain
// from streaming since the fence is paid once per work unit, not per run.
constexpr size_t kStreamMinRunBytes = 256;

struct Piece {
  const uint8_t* src;    // start of this input's data
  size_t src_row_bytes;  // bytes this input contributes per outer slice
  size_t dst_offset;     // byte offset of its run inside an output slice
  ConvertFn convert;     // null when dtypes match (plain copy)
  size_t src_elem;       // source element size (for conversion)
};

struct CopyJob {
  std::vector<Piece> pieces;
  uint8_t* dst = nullptr;
  size_t dst_row_bytes = 0;  // bytes of one output slice
  size_t dst_elem = 0;
  int64_t outer = 0;
  bool stream = false;
};

// Moves bytes [begin, end) of piece `p`'s run in outer slice `row`.
void CopyPart(const CopyJob& job, const Piece& p, int64_t row, size_t begin,
              size_t end) {
  if (begin >= end) return;
  const uint8_t* src = p.src + static_cast<size_t>(row) * p.src_row_bytes;
  uint8_t* dst =
      job.dst + static_cast<size_t>(row) * job.dst_row_bytes + p.dst_offset;
  if (p.convert != nullptr) {
    // Offsets are in destination bytes; convert whole elements.
    const size_t first = begin / job.dst_elem;
    const size_t last = end / job.dst_elem;
    p.convert(dst + first * job.dst_elem, src + first * p.src_elem,
              static_cast<int64_t>(last - first));
  } else if (job.stream && end - begin >= kStreamMinRunBytes) {
    HWY_DYNAMIC_DISPATCH(StreamCopy)(dst + begin, src + begin, end - begin);
  } else {
    std::memcpy(dst + begin, src + begin, end - begin);
  }
}

// Streaming stores are weakly ordered: fence on the issuing thread so they
// are visible once the OpenMP barrier (or the return) is passed.
void FenceStreams(const CopyJob& job) {
  if (job.stream) hwy::FlushStream();
}

// Destination bytes of piece p per slice.
size_t DstRunBytes(const CopyJob& job, const Piece& p) {
  return p.convert == nullptr ? p.src_row_bytes
                              : p.src_row_bytes / p.src_elem * job.dst_elem;
}

bool IsCancelled(const ExecOptions& exec) {
  return exec.cancelled != nullptr &&
         exec.cancelled->load(std::memory_order_relaxed);
}

}  // namespace

absl::StatusOr<CatPlan> PlanCat(absl::Span<const TensorView> inputs,
                                int64_t dim, const ExecOptions& exec) {
  if (inputs.empty()) {
    return absl::InvalidArgumentError(
        "torch.cat(): expected a non-empty list of Tensors (tensors is empty)");
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    absl::StatusOr<int64_t> numel =
        CheckedNumel(inputs[i].shape, inputs[i].dtype, exec.max_elements,
                     absl::StrCat("tensors[", i, "]"));
    if (!numel.ok()) return numel.status();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].shape.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "zero-dimensional tensor (at position ", i,
          ") cannot be concatenated", DescribeInput(i, inputs[i])));
    }
  }

  CatPlan plan;
  plan.skipped.resize(inputs.size());
  plan.dtype = inputs[0].dtype;
  size_t valid = inputs.size();  // first tensor that is not skipped
  for (size_t i = 0; i < inputs.size(); ++i) {
    plan.dtype = PromoteTypes(plan.dtype, inputs[i].dtype);
    plan.skipped[i] = IsLegacyEmpty(inputs[i]);
    if (!plan.skipped[i] && valid == inputs.size()) valid = i;
  }
  if (valid == inputs.size()) {
    // Only legacy empties: torch accepts any dim and returns shape (0,).
    plan.dim = 0;
    plan.output_shape = {0};
    return plan;
  }

  // The first non-skipped tensor sets the rank that `dim` wraps against.
  const TensorView& first = inputs[valid];
  const int64_t rank = static_cast<int64_t>(first.shape.size());
  if (dim < -rank || dim >= rank) {
    return absl::OutOfRangeError(
        absl::StrCat("Dimension out of range (expected to be in range of [",
                     -rank, ", ", rank - 1, "], but got ", dim, ")"));
  }
  plan.dim = dim < 0 ? dim + rank : dim;

  int64_t size_at_dim = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (plan.skipped[i]) continue;
    const TensorView& t = inputs[i];
    if (static_cast<int64_t>(t.shape.size()) != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("Tensors must have same number of dimensions: got ",
                       rank, " and ", t.shape.size(), DescribeInput(i, t)));
    }
    for (int64_t d = 0; d < rank; ++d) {
      if (d == plan.dim || t.shape[d] == first.shape[d]) continue;
      return absl::InvalidArgumentError(absl::StrCat(
          "Sizes of tensors must match except in dimension ", plan.dim,
          ". Expected size ", first.shape[d], " but got size ", t.shape[d],
          " for tensor number ", i, " in the list.", DescribeInput(i, t)));
    }
    // Sizes along dim are non-negative (checked above) but their sum may
    // still overflow when the other dims are zero.
    if (t.shape[plan.dim] > std::numeric_limits<int64_t>::max() - size_at_dim) {
      return absl::ResourceExhaustedError(
          absl::StrCat("torch.cat(): the output size along dimension ",
                       plan.dim, " overflows int64"));
    }
    size_at_dim += t.shape[plan.dim];
  }
  plan.output_shape.assign(first.shape.begin(), first.shape.end());
  plan.output_shape[plan.dim] = size_at_dim;
  absl::StatusOr<int64_t> out_numel = CheckedNumel(
      plan.output_shape, plan.dtype, exec.max_elements, "cat output");
  if (!out_numel.ok()) return out_numel.status();
  return plan;
}

absl::Status RunCat(const CatPlan& plan, absl::Span<const TensorView> inputs,
                    const MutableTensorView& output, const ExecOptions& exec) {
  if (IsCancelled(exec)) return absl::CancelledError("cat cancelled");
  const size_t total_bytes = output.nbytes();
  if (total_bytes == 0) return absl::OkStatus();

  // Output shape is (outer, size_at_dim * inner) row-major; every input is
  // (outer, size_i * inner).
  const std::vector<int64_t>& shape = plan.output_shape;
  int64_t outer = 1;
  for (int64_t d = 0; d < plan.dim; ++d) outer *= shape[d];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(plan.dim) + 1; d < shape.size(); ++d) {
    inner *= shape[d];
  }

  CopyJob job;
  job.dst = static_cast<uint8_t*>(output.data);
  job.dst_elem = DTypeSize(plan.dtype);
  job.dst_row_bytes = total_bytes / static_cast<size_t>(outer);
  job.outer = outer;
  job.stream = total_bytes >= kStreamMinBytes;
  size_t offset = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (plan.skipped[i] || inputs[i].numel() == 0) continue;
    Piece p;
    p.src = static_cast<const uint8_t*>(inputs[i].data);
    p.src_elem = DTypeSize(inputs[i].dtype);
    p.src_row_bytes =
        static_cast<size_t>(inputs[i].shape[plan.dim] * inner) * p.src_elem;
    p.dst_offset = offset;
    p.convert = inputs[i].dtype == plan.dtype
                    ? nullptr
                    : GetConverter(plan.dtype, inputs[i].dtype);
    job.pieces.push_back(p);
    offset += DstRunBytes(job, p);
  }

  int threads = exec.num_threads > 0 ? exec.num_threads : ComputeThreads();
  if (total_bytes < kParallelMinBytes) threads = 1;

  // Two ways to cut the work into units of ~kUnitBytes:
  //  - slices are small: a unit is a block of consecutive outer slices;
  //  - slices are large: a unit is a byte range of one piece in one slice.
  std::atomic<bool> stopped{false};
  if (job.dst_row_bytes <= kUnitBytes) {
    const int64_t rows_per_unit = std::max<int64_t>(
        1, static_cast<int64_t>(kUnitBytes / job.dst_row_bytes));
    const int64_t units = (outer + rows_per_unit - 1) / rows_per_unit;
    threads = static_cast<int>(std::min<int64_t>(threads, units));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t u = 0; u < units; ++u) {
      if (stopped.load(std::memory_order_relaxed)) continue;
      if (IsCancelled(exec)) {
        stopped.store(true, std::memory_order_relaxed);
        continue;
      }
      const int64_t row_end = std::min(outer, (u + 1) * rows_per_unit);
      for (int64_t row = u * rows_per_unit; row < row_end; ++row) {
        for (const Piece& p : job.pieces)
          CopyPart(job, p, row, 0, DstRunBytes(job, p));
      }
      FenceStreams(job);
    }
  } else {
    // chunk_start[k]: index of piece k's first unit within one slice.
    std::vector<int64_t> chunk_start(job.pieces.size() + 1, 0);
    for (size_t k = 0; k < job.pieces.size(); ++k) {
      const size_t bytes = DstRunBytes(job, job.pieces[k]);
      chunk_start[k + 1] =
          chunk_start[k] +
          static_cast<int64_t>((bytes + kUnitBytes - 1) / kUnitBytes);
    }
    const int64_t units_per_row = chunk_start.back();
    const int64_t units = units_per_row * outer;
    threads = static_cast<int>(std::min<int64_t>(threads, units));
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t u = 0; u < units; ++u) {
      if (stopped.load(std::memory_order_relaxed)) continue;
      if (IsCancelled(exec)) {
        stopped.store(true, std::memory_order_relaxed);
        continue;
      }
      const int64_t row = u / units_per_row;
      const int64_t in_row = u % units_per_row;
      const size_t k = static_cast<size_t>(
          std::upper_bound(chunk_start.begin(), chunk_start.end(), in_row) -
          chunk_start.begin() - 1);
      const Piece& p = job.pieces[k];
      const size_t begin =
          static_cast<size_t>(in_row - chunk_start[k]) * kUnitBytes;
      const size_t end = std::min(DstRunBytes(job, p), begin + kUnitBytes);
      CopyPart(job, p, row, begin, end);
      FenceStreams(job);
    }
  }
  if (stopped.load()) return absl::CancelledError("cat cancelled");
  return absl::OkStatus();
}

absl::StatusOr<Tensor> Cat(absl::Span<const Tensor> inputs, int64_t dim,
                           const ExecOptions& exec) {
  std::vector<TensorView> views;
  views.reserve(inputs.size());
  for (const Tensor& t : inputs) views.push_back(t.view());
  absl::StatusOr<CatPlan> plan = PlanCat(views, dim, exec);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<Tensor> out =
      Tensor::Empty(plan->dtype, plan->output_shape, exec.max_elements);
  if (!out.ok()) return out.status();
  absl::Status s = RunCat(*plan, views, out->mutable_view(), exec);
  if (!s.ok()) return s;
  return out;
}

}  // namespace poolcat

#endif  // HWY_ONCE
