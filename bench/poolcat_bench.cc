// poolcat_bench: the issue-5 workloads through poolcat's core.
//
//   W1 ... W7        channels-first, output written into a reused buffer
//   W1_cl ... W7_cl  the same, channels-last (N, H, W, C)
//   W1_alloc ...     channels-first through Pool()/Cat(): a fresh output
//                    allocation per call, the path of a server without a pool
//   W1_cl_alloc ...  the same, channels-last
//   copy             memcpy of W1's input (the bandwidth limit)
//
// The argument is the number of compute threads. Times are real (wall) time
// in milliseconds; bytes_per_second counts input read once + output written.
#include <omp.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_main.h"
#include "bench/workloads.h"
#include "benchmark/benchmark.h"
#include "core/concat.h"
#include "core/exec.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::bench {
namespace {

// One random input per workload, shared by both layouts: the values do not
// depend on the layout, only the shape given to the op does.
const Tensor& InputFor(const Workload& w) {
  static auto* cache = new std::map<std::string, Tensor>();
  auto it = cache->find(w.name);
  if (it != cache->end()) return it->second;
  Tensor t = *Tensor::Empty(DType::kFloat32, {InputElements(w)});
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  float* p = t.data_as<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return cache->emplace(w.name, std::move(t)).first->second;
}

std::vector<int64_t> PhysicalShape(const Workload& w, bool channels_last) {
  if (channels_last) return {w.n, w.h, w.w, w.c};
  return {w.n, w.c, w.h, w.w};
}

PoolOp OpFor(const Workload& w) {
  switch (w.kind) {
    case WorkloadKind::kAvgPool:
      return PoolOp{PoolKind::kAvg, 2};
    case WorkloadKind::kAdaptiveAvgPool:
      return PoolOp{PoolKind::kAdaptiveAvg, 2};
    default:
      return PoolOp{PoolKind::kMax, 2};
  }
}

PoolArgs ArgsFor(const Workload& w, bool channels_last) {
  PoolArgs args;
  args.channels_last = channels_last;
  if (w.kind == WorkloadKind::kAdaptiveAvgPool) {
    args.output_size = {w.adaptive_out, w.adaptive_out};
  } else {
    args.kernel_size = {w.kernel};
    args.stride = {w.stride};
    args.padding = {w.pad};
    args.count_include_pad = w.count_include_pad;
  }
  return args;
}

void SetBytes(benchmark::State& state, int64_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          bytes_per_iteration);
}

void BenchPool(benchmark::State& state, const Workload& w, bool channels_last,
               bool fresh_output) {
  ExecOptions exec;
  exec.num_threads = static_cast<int>(state.range(0));
  const std::vector<int64_t> shape = PhysicalShape(w, channels_last);
  const Tensor& flat = InputFor(w);
  const TensorView input{DType::kFloat32, shape, flat.data()};
  const PoolOp op = OpFor(w);
  const PoolArgs args = ArgsFor(w, channels_last);
  absl::StatusOr<PoolPlan> plan =
      PlanPool(op, DType::kFloat32, shape, args, exec);
  if (!plan.ok()) {
    state.SkipWithError(plan.status().ToString().c_str());
    return;
  }
  if (fresh_output) {
    // Pool() takes a Tensor; wrap the shared input bytes in one (a copy of
    // the input, made once, outside the timed loop).
    const Tensor owned = *Tensor::FromBytes(
        DType::kFloat32, shape,
        absl::string_view(static_cast<const char*>(flat.data()),
                          flat.nbytes()));
    for (auto _ : state) {
      absl::StatusOr<PoolResult> r = Pool(op, owned, args, exec);
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
      benchmark::DoNotOptimize(r->output.data());
    }
  } else {
    Tensor out =
        *Tensor::Zeros(DType::kFloat32, plan->output_shape);  // pages touched
    const MutableTensorView out_view = out.mutable_view();
    for (auto _ : state) {
      absl::Status s = RunPool(*plan, input, out_view, nullptr, exec);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
      benchmark::ClobberMemory();
    }
  }
  SetBytes(state, BytesMoved(w));
}

void BenchCat(benchmark::State& state, const Workload& w, bool channels_last,
              bool fresh_output) {
  ExecOptions exec;
  exec.num_threads = static_cast<int>(state.range(0));
  const std::vector<int64_t> shape = PhysicalShape(w, channels_last);
  const int64_t dim = channels_last ? 3 : 1;
  const Tensor& flat = InputFor(w);
  const absl::string_view bytes(static_cast<const char*>(flat.data()),
                                flat.nbytes());
  // Two distinct inputs, as torch.cat((x, y), 1) would see.
  const std::vector<Tensor> inputs = {
      *Tensor::FromBytes(DType::kFloat32, shape, bytes),
      *Tensor::FromBytes(DType::kFloat32, shape, bytes)};
  if (fresh_output) {
    for (auto _ : state) {
      absl::StatusOr<Tensor> r = Cat(inputs, dim, exec);
      if (!r.ok()) {
        state.SkipWithError(r.status().ToString().c_str());
        return;
      }
      benchmark::DoNotOptimize(r->data());
    }
  } else {
    const std::vector<TensorView> views = {inputs[0].view(), inputs[1].view()};
    absl::StatusOr<CatPlan> plan = PlanCat(views, dim, exec);
    if (!plan.ok()) {
      state.SkipWithError(plan.status().ToString().c_str());
      return;
    }
    Tensor out = *Tensor::Zeros(plan->dtype, plan->output_shape);
    const MutableTensorView out_view = out.mutable_view();
    for (auto _ : state) {
      absl::Status s = RunCat(*plan, views, out_view, exec);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        return;
      }
      benchmark::ClobberMemory();
    }
  }
  SetBytes(state, BytesMoved(w));
}

// memcpy of W1's input into a reused buffer, split evenly over the threads.
void BenchCopy(benchmark::State& state) {
  const Workload& w1 = kWorkloads[0];
  const Tensor& src = InputFor(w1);
  Tensor dst = *Tensor::Zeros(DType::kFloat32, {src.numel()});
  const int threads = static_cast<int>(state.range(0));
  const size_t bytes = src.nbytes();
  const auto* s = static_cast<const char*>(src.data());
  auto* d = static_cast<char*>(dst.data());
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      const size_t t = static_cast<size_t>(omp_get_thread_num());
      const size_t nt = static_cast<size_t>(omp_get_num_threads());
      const size_t begin = bytes * t / nt;
      const size_t end = bytes * (t + 1) / nt;
      std::memcpy(d + begin, s + begin, end - begin);
    }
    benchmark::ClobberMemory();
  }
  SetBytes(state, static_cast<int64_t>(2 * bytes));
}

void Configure(benchmark::internal::Benchmark* b) {
  b->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);
}

void RegisterAll() {
  for (const Workload& w : kWorkloads) {
    for (bool channels_last : {false, true}) {
      for (bool fresh : {false, true}) {
        std::string name = w.name;
        if (channels_last) name += "_cl";
        if (fresh) name += "_alloc";
        auto fn = [&w, channels_last, fresh](benchmark::State& state) {
          if (w.kind == WorkloadKind::kCat) {
            BenchCat(state, w, channels_last, fresh);
          } else {
            BenchPool(state, w, channels_last, fresh);
          }
        };
        Configure(benchmark::RegisterBenchmark(name.c_str(), fn));
      }
    }
  }
  Configure(benchmark::RegisterBenchmark("copy", BenchCopy));
}

}  // namespace
}  // namespace poolcat::bench

int main(int argc, char** argv) {
  poolcat::bench::RegisterAll();
  return poolcat::bench::RunBenchmarks(argc, argv);
}
