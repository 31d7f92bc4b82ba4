// bench_onednn: the issue-5 workloads through oneDNN (Debian libdnnl-dev),
// the anchor poolcat must beat. One benchmark per workload and memory
// layout, named "<workload>_<layout>" (W1_nchw, W1_nhwc, W1_nChw16c); the
// argument is the number of OpenMP threads. Pooling uses the pooling
// primitive (forward_inference), W6 the concat primitive. Outputs are
// allocated once and reused, as poolcat's W* benchmarks do.
//
// Each blocked and nhwc case also runs with its buffers on 2 MiB transparent
// huge pages ("W1_nChw16c_thp"), as poolcat's own tensors of 4 MiB and more
// are (core/tensor.cc): on this hypervisor the page size alone moves a
// memory-bound workload by a third, and the anchor should get the same
// pages poolcat does.
#include <omp.h>
#include <sys/mman.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_main.h"
#include "bench/workloads.h"
#include "benchmark/benchmark.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace poolcat::bench {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

struct Layout {
  const char* name;
  Tag tag;
  bool huge_pages;
};

// nChw16c is oneDNN's native blocked layout on AVX-512 machines.
constexpr Layout kLayouts[] = {{"nchw", Tag::nchw, false},
                               {"nhwc", Tag::nhwc, false},
                               {"nChw16c", Tag::nChw16c, false},
                               {"nhwc_thp", Tag::nhwc, true},
                               {"nChw16c_thp", Tag::nChw16c, true}};

constexpr size_t kHugePage = size_t{2} << 20;

// Buffers the benchmark hands to oneDNN: 2 MiB aligned and advised
// MADV_HUGEPAGE, or left to oneDNN's own allocation (4 KiB pages).
class Buffers {
 public:
  explicit Buffers(bool huge_pages) : huge_pages_(huge_pages) {}
  memory Make(const memory::desc& md, const dnnl::engine& engine) {
    if (!huge_pages_) return memory(md, engine);
    const size_t bytes = md.get_size();
    void* p = std::aligned_alloc(
        kHugePage, (bytes + kHugePage - 1) / kHugePage * kHugePage);
    if (p == nullptr) throw dnnl::error(dnnl_out_of_memory, "aligned_alloc");
    madvise(p, (bytes + kHugePage - 1) / kHugePage * kHugePage, MADV_HUGEPAGE);
    owned_.emplace_back(p, &std::free);
    return memory(md, engine, p);
  }

 private:
  const bool huge_pages_;
  std::vector<std::unique_ptr<void, void (*)(void*)>> owned_;
};

void FillRandom(const memory& m) {
  float* p = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) p[i] = dist(rng);
}

void Bench(benchmark::State& state, const Workload& w, const Layout& layout) {
  const int threads = static_cast<int>(state.range(0));
  omp_set_num_threads(threads);
  try {
    dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const memory::dims src_dims = {w.n, w.c, w.h, w.w};
    const memory::desc src_md(src_dims, memory::data_type::f32, layout.tag);
    Buffers buffers(layout.huge_pages);  // Outlives the memory objects.
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
    if (w.kind == WorkloadKind::kCat) {
      const std::vector<memory::desc> srcs = {src_md, src_md};
      const memory::desc dst_md({w.n, 2 * w.c, w.h, w.w},
                                memory::data_type::f32, layout.tag);
      const dnnl::concat::primitive_desc pd(dst_md, 1, srcs, engine);
      prim = dnnl::concat(pd);
      for (int i = 0; i < 2; ++i) {
        memory src = buffers.Make(src_md, engine);
        FillRandom(src);
        args.emplace(DNNL_ARG_MULTIPLE_SRC + i, src);
      }
      args.emplace(DNNL_ARG_DST, buffers.Make(pd.dst_desc(), engine));
    } else {
      memory::dims kernel, strides, pad;
      int64_t out_h, out_w;
      if (w.kind == WorkloadKind::kAdaptiveAvgPool) {
        // Adaptive pooling of an input divisible by the output size is a
        // plain pooling with kernel = stride = in / out.
        kernel = {w.h / w.adaptive_out, w.w / w.adaptive_out};
        strides = kernel;
        pad = {0, 0};
        out_h = out_w = w.adaptive_out;
      } else {
        kernel = {w.kernel, w.kernel};
        strides = {w.stride, w.stride};
        pad = {w.pad, w.pad};
        out_h = PooledSize(w.h, w.kernel, w.stride, w.pad);
        out_w = PooledSize(w.w, w.kernel, w.stride, w.pad);
      }
      const dnnl::algorithm alg =
          w.kind == WorkloadKind::kMaxPool ? dnnl::algorithm::pooling_max
          : w.count_include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                : dnnl::algorithm::pooling_avg_exclude_padding;
      const memory::desc dst_md({w.n, w.c, out_h, out_w},
                                memory::data_type::f32, layout.tag);
      const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference,
                                             alg, src_md, dst_md, strides,
                                             kernel, pad, pad);
      const dnnl::pooling_forward::primitive_desc pd(desc, engine);
      prim = dnnl::pooling_forward(pd);
      memory src = buffers.Make(src_md, engine);
      FillRandom(src);
      args.emplace(DNNL_ARG_SRC, src);
      args.emplace(DNNL_ARG_DST, buffers.Make(pd.dst_desc(), engine));
      if (pd.workspace_desc().get_size() != 0) {
        args.emplace(DNNL_ARG_WORKSPACE,
                     buffers.Make(pd.workspace_desc(), engine));
      }
    }
    prim.execute(stream, args);  // first touch of the output pages
    stream.wait();
    for (auto _ : state) {
      prim.execute(stream, args);
      stream.wait();
    }
  } catch (const dnnl::error& e) {
    state.SkipWithError(e.what());
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          BytesMoved(w));
}

void RegisterAll() {
  for (const Workload& w : kWorkloads) {
    for (const Layout& layout : kLayouts) {
      const std::string name = std::string(w.name) + "_" + layout.name;
      benchmark::RegisterBenchmark(
          name.c_str(),
          [&w, &layout](benchmark::State& state) { Bench(state, w, layout); })
          ->Arg(1)
          ->Arg(2)
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace
}  // namespace poolcat::bench

int main(int argc, char** argv) {
  poolcat::bench::RegisterAll();
  return poolcat::bench::RunBenchmarks(argc, argv);
}
