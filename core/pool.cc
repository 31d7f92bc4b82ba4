// Front end of the pooling family: op names, planning (delegated to
// shape_check), dispatch to the SIMD fast paths and the generic kernels, and
// the shared window tables and parallel driver of pool_kernel-inl.h.
#include "core/pool.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/adaptive_pool.h"
#include "core/avg_pool.h"
#include "core/max_pool.h"
#include "core/parallel.h"
#include "core/pool_kernel-inl.h"
#include "core/pool_simd.h"
#include "core/shape_check.h"

namespace poolcat {
namespace {

__extension__ typedef __int128 Int128;

struct KindName {
  PoolKind kind;
  absl::string_view prefix;
};
constexpr KindName kKindNames[] = {
    {PoolKind::kMax, "max_pool"},
    {PoolKind::kAvg, "avg_pool"},
    {PoolKind::kLp, "lp_pool"},
    {PoolKind::kAdaptiveMax, "adaptive_max_pool"},
    {PoolKind::kAdaptiveAvg, "adaptive_avg_pool"},
};

}  // namespace

absl::StatusOr<PoolOp> ParsePoolOp(absl::string_view name) {
  for (const KindName& kn : kKindNames) {
    if (name.size() != kn.prefix.size() + 2 ||
        name.substr(0, kn.prefix.size()) != kn.prefix || name.back() != 'd') {
      continue;
    }
    const char digit = name[kn.prefix.size()];
    const int dims = digit - '0';
    if (dims < 1 || dims > 3 || (kn.kind == PoolKind::kLp && dims == 3)) break;
    return PoolOp{kn.kind, dims};
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown pooling op \"", name,
      "\"; expected max_pool{1,2,3}d, avg_pool{1,2,3}d, lp_pool{1,2}d, "
      "adaptive_max_pool{1,2,3}d or adaptive_avg_pool{1,2,3}d"));
}

std::string PoolOpName(PoolOp op) {
  for (const KindName& kn : kKindNames) {
    if (kn.kind == op.kind)
      return absl::StrCat(kn.prefix, op.spatial_dims, "d");
  }
  return absl::StrCat("pool", op.spatial_dims, "d");
}

absl::StatusOr<PoolPlan> PlanPool(PoolOp op, DType dtype,
                                  absl::Span<const int64_t> input_shape,
                                  const PoolArgs& args,
                                  const ExecOptions& exec) {
  return CheckPool(op, dtype, input_shape, args, exec);
}

absl::Status RunPool(const PoolPlan& plan, const TensorView& input,
                     const MutableTensorView& output,
                     const MutableTensorView* indices,
                     const ExecOptions& exec) {
  if (exec.cancelled != nullptr && exec.cancelled->load()) {
    return absl::CancelledError("pooling cancelled before it started");
  }
  if (output.numel() == 0) return absl::OkStatus();
  switch (plan.op.kind) {
    case PoolKind::kMax:
      if (simd::TryMaxPool(plan, input, output, indices, exec)) break;
      return pool_internal::RunMaxPool(plan, input, output, indices, exec);
    case PoolKind::kAvg:
      if (simd::TryAvgPool(plan, input, output, exec)) break;
      return pool_internal::RunAvgPool(plan, input, output, exec);
    case PoolKind::kLp:
      return pool_internal::RunLpPool(plan, input, output, exec);
    case PoolKind::kAdaptiveMax:
      return pool_internal::RunAdaptiveMaxPool(plan, input, output, indices,
                                               exec);
    case PoolKind::kAdaptiveAvg:
      if (simd::TryAdaptiveAvgPool(plan, input, output, exec)) break;
      return pool_internal::RunAdaptiveAvgPool(plan, input, output, exec);
  }
  // A fast path stops early between work units when cancelled but cannot
  // say so through its bool result: report it here.
  if (exec.cancelled != nullptr && exec.cancelled->load()) {
    return absl::CancelledError("pooling cancelled");
  }
  return absl::OkStatus();
}

absl::StatusOr<PoolResult> Pool(PoolOp op, const Tensor& input,
                                const PoolArgs& args, const ExecOptions& exec) {
  absl::StatusOr<PoolPlan> plan =
      PlanPool(op, input.dtype(), input.shape(), args, exec);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<Tensor> output =
      Tensor::Empty(input.dtype(), plan->output_shape, exec.max_elements);
  if (!output.ok()) return output.status();
  PoolResult result{*std::move(output), std::nullopt};
  MutableTensorView indices_view;
  if (plan->returns_indices()) {
    absl::StatusOr<Tensor> indices =
        Tensor::Empty(DType::kInt64, plan->indices_shape, exec.max_elements);
    if (!indices.ok()) return indices.status();
    result.indices = *std::move(indices);
    indices_view = result.indices->mutable_view();
  }
  absl::Status st = RunPool(*plan, input.view(), result.output.mutable_view(),
                            result.indices ? &indices_view : nullptr, exec);
  if (!st.ok()) return st;
  return result;
}

absl::StatusOr<PoolResult> Pool(absl::string_view op_name, const Tensor& input,
                                const PoolArgs& args, const ExecOptions& exec) {
  absl::StatusOr<PoolOp> op = ParsePoolOp(op_name);
  if (!op.ok()) return op.status();
  return Pool(*op, input, args, exec);
}

namespace pool_internal {

AxisWindows MaxAxisWindows(int64_t in, int64_t out, int64_t kernel,
                           int64_t stride, int64_t pad, int64_t dilation) {
  AxisWindows w;
  w.step = dilation;
  w.begin.resize(out);
  w.end.resize(out);
  w.size.assign(out, kernel);
  for (int64_t o = 0; o < out; ++o) {
    // The plan guarantees o*stride - pad < in, so this cannot overflow; the
    // window extent (k-1)*d+1 can, hence the 128-bit end.
    int64_t start = o * stride - pad;
    const Int128 end = Int128{start} + Int128{kernel - 1} * dilation + 1;
    w.end[o] = end < in ? static_cast<int64_t>(end) : in;
    if (start < 0) {
      start += static_cast<int64_t>((Int128{-start} + dilation - 1) / dilation *
                                    dilation);
    }
    w.begin[o] = start;
  }
  return w;
}

AxisWindows AvgAxisWindows(int64_t in, int64_t out, int64_t kernel,
                           int64_t stride, int64_t pad) {
  AxisWindows w;
  w.begin.resize(out);
  w.end.resize(out);
  w.size.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad;
    const Int128 end =
        std::min<Int128>(Int128{start} + kernel, Int128{in} + pad);
    w.size[o] = static_cast<int64_t>(end - start);
    w.begin[o] = std::max<int64_t>(start, 0);
    w.end[o] = end < in ? static_cast<int64_t>(end) : in;
  }
  return w;
}

AxisWindows AdaptiveAxisWindows(int64_t in, int64_t out) {
  AxisWindows w;
  w.begin.resize(out);
  w.end.resize(out);
  w.size.resize(out);
  for (int64_t o = 0; o < out; ++o) {
    // ATen 1.13's start_index/end_index: exact integer floor(o*in/out) and
    // ceil((o+1)*in/out) (torch 1.13.1 verified on windows where a float32
    // quotient would round differently).
    w.begin[o] = static_cast<int64_t>(Int128{o} * in / out);
    w.end[o] = static_cast<int64_t>((Int128{o + 1} * in + out - 1) / out);
    w.size[o] = w.end[o] - w.begin[o];
  }
  return w;
}

int NumThreads(const ExecOptions& exec) {
  return exec.num_threads > 0 ? exec.num_threads : ComputeThreads();
}

absl::Status ParallelFor(int64_t units, int64_t unit_cost,
                         const ExecOptions& exec,
                         absl::FunctionRef<void(int64_t, int64_t)> fn) {
  if (units <= 0) return absl::OkStatus();
  // Below ~64K element reads threads cost more than they save; chunks of
  // ~256K reads keep cancellation latency and load imbalance small.
  constexpr int64_t kSerialCost = int64_t{1} << 16;
  constexpr int64_t kChunkCost = int64_t{1} << 18;
  int64_t total = 0;
  if (__builtin_mul_overflow(units, std::max<int64_t>(unit_cost, 1), &total)) {
    total = std::numeric_limits<int64_t>::max();
  }
  // More threads than cores only adds contention; cap absurd requests.
  constexpr int kMaxThreads = 256;
  int threads = std::min(NumThreads(exec), kMaxThreads);
  if (total < kSerialCost) threads = 1;
  int64_t chunks = std::max<int64_t>(int64_t{threads} * 4, total / kChunkCost);
  chunks = std::min(chunks, units);
  const int64_t chunk_units = (units + chunks - 1) / chunks;
  chunks = (units + chunk_units - 1) / chunk_units;
  threads = static_cast<int>(std::min<int64_t>(threads, chunks));

  const std::atomic<bool>* cancel = exec.cancelled;
  std::atomic<bool> stopped{false};
  auto run_chunk = [&](int64_t i) {
    if (stopped.load(std::memory_order_relaxed)) return;
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
      stopped.store(true, std::memory_order_relaxed);
      return;
    }
    fn(i * chunk_units, std::min(units, (i + 1) * chunk_units));
  };
  if (threads == 1) {
    for (int64_t i = 0; i < chunks; ++i) run_chunk(i);
  } else {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = 0; i < chunks; ++i) run_chunk(i);
  }
  if (stopped.load()) return absl::CancelledError("pooling cancelled");
  return absl::OkStatus();
}

}  // namespace pool_internal
}  // namespace poolcat
