#include "tests/reference/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/dtype.h"
#include "core/float16.h"

namespace poolcat::reference {
namespace {

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("reference: ", what));
}

// ----------------------------------------------------------- elements ----

// Reads element i widened to Acc (float for float32/bfloat16/float16,
// double for float64, int64_t for integers).
template <typename Acc>
Acc Load(const Tensor& t, int64_t i) {
  const void* p = t.data();
  switch (t.dtype()) {
    case DType::kFloat32:
      return static_cast<Acc>(static_cast<const float*>(p)[i]);
    case DType::kFloat64:
      return static_cast<Acc>(static_cast<const double*>(p)[i]);
    case DType::kBFloat16:
      return static_cast<Acc>(
          BFloat16ToFloat(static_cast<const BFloat16*>(p)[i]));
    case DType::kFloat16:
      return static_cast<Acc>(
          Float16ToFloat(static_cast<const Float16*>(p)[i]));
    case DType::kInt8:
      return static_cast<Acc>(static_cast<const int8_t*>(p)[i]);
    case DType::kUInt8:
      return static_cast<Acc>(static_cast<const uint8_t*>(p)[i]);
    case DType::kInt16:
      return static_cast<Acc>(static_cast<const int16_t*>(p)[i]);
    case DType::kInt32:
      return static_cast<Acc>(static_cast<const int32_t*>(p)[i]);
    case DType::kInt64:
      return static_cast<Acc>(static_cast<const int64_t*>(p)[i]);
    case DType::kBool:
      return static_cast<Acc>(static_cast<const uint8_t*>(p)[i] != 0);
  }
  return Acc{};
}

// Writes v (already in the op's precision) as element i, rounding once.
template <typename Acc>
void Store(Tensor& t, int64_t i, Acc v) {
  void* p = t.data();
  switch (t.dtype()) {
    case DType::kFloat32:
      static_cast<float*>(p)[i] = static_cast<float>(v);
      return;
    case DType::kFloat64:
      static_cast<double*>(p)[i] = static_cast<double>(v);
      return;
    case DType::kBFloat16:
      static_cast<BFloat16*>(p)[i] = FloatToBFloat16(static_cast<float>(v));
      return;
    case DType::kFloat16:
      static_cast<Float16*>(p)[i] = FloatToFloat16(static_cast<float>(v));
      return;
    case DType::kInt8:
      static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
      return;
    case DType::kUInt8:
      static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
      return;
    case DType::kInt16:
      static_cast<int16_t*>(p)[i] = static_cast<int16_t>(v);
      return;
    case DType::kInt32:
      static_cast<int32_t*>(p)[i] = static_cast<int32_t>(v);
      return;
    case DType::kInt64:
      static_cast<int64_t*>(p)[i] = static_cast<int64_t>(v);
      return;
    case DType::kBool:
      static_cast<uint8_t*>(p)[i] = v != Acc{} ? 1 : 0;
      return;
  }
}

// c10's element conversion for torch.cat's copy_: integers and doubles reach
// bfloat16/float16 through float (two roundings, as c10 does).
void ConvertElement(const Tensor& src, int64_t si, Tensor& dst, int64_t di) {
  const DType from = src.dtype();
  const DType to = dst.dtype();
  if (from == to) {
    const size_t size = DTypeSize(from);
    std::memcpy(static_cast<char*>(dst.data()) + di * size,
                static_cast<const char*>(src.data()) + si * size, size);
    return;
  }
  if (to == DType::kFloat64) {
    Store<double>(dst, di, Load<double>(src, si));
  } else if (IsFloatingPoint(to)) {
    Store<float>(dst, di, Load<float>(src, si));
  } else if (to == DType::kBool) {
    Store<int64_t>(dst, di, Load<int64_t>(src, si) != 0);
  } else {
    // Promotion never turns a float into an integer, so src is integral.
    Store<int64_t>(dst, di, Load<int64_t>(src, si));
  }
}

// ----------------------------------------------------------- geometry ----

// PyTorch's div_rtn: division rounding toward negative infinity.
int64_t DivFloor(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Everything a pooling loop needs, normalised to (N, C, D, H, W) with
// leading unit spatial dims, as torch's 1-d ops unsqueeze to 2-d.
struct Geometry {
  bool batched = true;
  int64_t n = 1, c = 1;
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1};
  int64_t p[3] = {0, 0, 0};
  int64_t d[3] = {1, 1, 1};
  std::vector<int64_t> output_shape;  // physical
};

// Expands a PyTorch int-or-tuple argument to `sd` values.
absl::StatusOr<std::vector<int64_t>> Expand(const std::vector<int64_t>& v,
                                            int sd, absl::string_view name) {
  if (v.size() == 1) return std::vector<int64_t>(sd, v[0]);
  if (static_cast<int>(v.size()) == sd) return v;
  return Invalid(
      absl::StrCat(name, " must have 1 or ", sd, " values, got ", v.size()));
}

bool IsAdaptive(PoolKind kind) {
  return kind == PoolKind::kAdaptiveAvg || kind == PoolKind::kAdaptiveMax;
}

absl::StatusOr<Geometry> MakeGeometry(PoolOp op, const Tensor& input,
                                      const PoolArgs& a) {
  const int sd = op.spatial_dims;
  const PoolKind kind = op.kind;
  if (sd < 1 || sd > 3 || (kind == PoolKind::kLp && sd == 3))
    return Invalid("no such op");
  if (input.dtype() == DType::kBool) return Invalid("bool input");
  if (!IsFloatingPoint(input.dtype()) && kind != PoolKind::kMax &&
      kind != PoolKind::kAdaptiveMax) {
    return Invalid(
        absl::StrCat(DTypeName(input.dtype()), " input needs a max pool"));
  }
  Geometry g;
  const int64_t rank = input.dim();
  if (rank == sd + 2) {
    g.batched = true;
  } else if (rank == sd + 1) {
    g.batched = false;
  } else {
    return Invalid(absl::StrCat("input rank ", rank, " for a ", sd, "-d op"));
  }
  // Logical (channels-first) sizes.
  const std::vector<int64_t>& shape = input.shape();
  const int64_t lead = g.batched ? 1 : 0;
  g.n = g.batched ? shape[0] : 1;
  std::vector<int64_t> spatial;
  if (a.channels_last) {
    g.c = shape[rank - 1];
    spatial.assign(shape.begin() + lead, shape.end() - 1);
  } else {
    g.c = shape[lead];
    spatial.assign(shape.begin() + lead + 1, shape.end());
  }
  for (int i = 0; i < sd; ++i) g.in[3 - sd + i] = spatial[i];

  // Which dims may be empty: the batch always; channels for adaptive avg
  // 1-d/2-d, and for the other adaptive ops only when unbatched (torch
  // checks dims 1.. of the tensor it sees); spatial dims never.
  // torch's global-average fast path (input.mean()) checks no sizes at all.
  bool global_average = kind == PoolKind::kAdaptiveAvg;
  if (global_average) {
    auto os = Expand(a.output_size, sd, "output_size");
    if (!os.ok()) return os.status();
    for (int i = 0; i < sd; ++i) {
      global_average = global_average &&
                       ((*os)[i] == 1 || ((*os)[i] == -1 && spatial[i] == 1));
    }
  }
  for (int64_t x : spatial) {
    if (x <= 0 && !global_average) return Invalid("empty spatial dim");
  }
  if (g.c <= 0 && !global_average) {
    const bool c_may_be_empty = (kind == PoolKind::kAdaptiveAvg && sd <= 2) ||
                                (IsAdaptive(kind) && !g.batched);
    if (!c_may_be_empty) return Invalid("empty channel dim");
  }

  std::vector<int64_t> out(sd);
  if (IsAdaptive(kind)) {
    auto os = Expand(a.output_size, sd, "output_size");
    if (!os.ok()) return os.status();
    for (int i = 0; i < sd; ++i) {
      int64_t o = (*os)[i];
      if (o == -1) o = spatial[i];  // None in PyTorch
      if (o < 0) return Invalid("negative output_size");
      out[i] = o;
    }
  } else {
    auto k = Expand(a.kernel_size, sd, "kernel_size");
    if (!k.ok()) return k.status();
    auto s = a.stride.empty() ? k : Expand(a.stride, sd, "stride");
    if (!s.ok()) return s.status();
    std::vector<int64_t> p(sd, 0), d(sd, 1);
    if (kind != PoolKind::kLp) {
      auto pp = Expand(a.padding, sd, "padding");
      if (!pp.ok()) return pp.status();
      p = *pp;
    }
    if (kind == PoolKind::kMax) {
      auto dd = Expand(a.dilation, sd, "dilation");
      if (!dd.ok()) return dd.status();
      d = *dd;
    }
    if (kind == PoolKind::kLp && a.norm_type == 0)
      return Invalid("norm_type 0");
    if (kind == PoolKind::kAvg && sd >= 2 && a.divisor_override.has_value() &&
        *a.divisor_override == 0) {
      return Invalid("divisor_override 0");
    }
    for (int i = 0; i < sd; ++i) {
      if ((*k)[i] <= 0) return Invalid("kernel_size <= 0");
      if ((*s)[i] <= 0) return Invalid("stride <= 0");
      if (d[i] <= 0) return Invalid("dilation <= 0");
      if (p[i] < 0) return Invalid("padding < 0");
      if (p[i] > (*k)[i] / 2) return Invalid("padding > kernel_size / 2");
      // avg_pool3d refuses inputs smaller than the kernel (padding aside).
      if (kind == PoolKind::kAvg && sd == 3 && spatial[i] < (*k)[i]) {
        return Invalid("avg_pool3d input smaller than kernel");
      }
      out[i] = RefPoolingOutputSize(spatial[i], (*k)[i], p[i], (*s)[i], d[i],
                                    a.ceil_mode);
      // max_pool1d without indices is the one op torch lets produce an
      // empty output.
      const int64_t min_out =
          (kind == PoolKind::kMax && sd == 1 && !a.return_indices) ? 0 : 1;
      if (out[i] < min_out) return Invalid("output size too small");
      g.k[3 - sd + i] = (*k)[i];
      g.s[3 - sd + i] = (*s)[i];
      g.p[3 - sd + i] = p[i];
      g.d[3 - sd + i] = d[i];
    }
  }
  for (int i = 0; i < sd; ++i) g.out[3 - sd + i] = out[i];

  if (g.batched) g.output_shape.push_back(g.n);
  if (!a.channels_last) g.output_shape.push_back(g.c);
  for (int i = 0; i < sd; ++i) g.output_shape.push_back(out[i]);
  if (a.channels_last) g.output_shape.push_back(g.c);
  return g;
}

// Flat physical offset of logical element (n, c, z, y, x) of a tensor with
// spatial sizes `sz` in the given layout.
int64_t Offset(const Geometry& g, const int64_t sz[3], bool channels_last,
               int64_t n, int64_t c, int64_t z, int64_t y, int64_t x) {
  const int64_t plane = (z * sz[1] + y) * sz[2] + x;
  const int64_t spatial = sz[0] * sz[1] * sz[2];
  if (channels_last) return (n * spatial + plane) * g.c + c;
  return (n * g.c + c) * spatial + plane;
}

// The spacing of `dtype` values near v (one ulp).
double UlpOf(DType dtype, double v) {
  int precision = 24;
  if (dtype == DType::kFloat64) precision = 53;
  if (dtype == DType::kBFloat16) precision = 8;
  if (dtype == DType::kFloat16) precision = 11;
  if (v == 0 || !std::isfinite(v)) return 0;
  int e;
  std::frexp(v, &e);
  const int min_exp = dtype == DType::kFloat16
                          ? -13
                          : (dtype == DType::kFloat64 ? -1021 : -125);
  return std::ldexp(1.0, std::max(e, min_exp) - precision);
}

// --------------------------------------------------------------- pools ----

bool UsesChannelsLastKernel(const Geometry& g, PoolOp op, bool cl);

template <typename Acc>
Acc LowestOf() {
  if constexpr (std::is_floating_point_v<Acc>)
    return -std::numeric_limits<Acc>::infinity();
  return std::numeric_limits<Acc>::lowest();
}

// What a window lying wholly in the padding yields: -inf for floats, the
// dtype's lowest value for integers.
template <typename Acc>
Acc LowestFor(DType dtype) {
  switch (dtype) {
    case DType::kInt8:
      return static_cast<Acc>(std::numeric_limits<int8_t>::lowest());
    case DType::kUInt8:
      return static_cast<Acc>(std::numeric_limits<uint8_t>::lowest());
    case DType::kInt16:
      return static_cast<Acc>(std::numeric_limits<int16_t>::lowest());
    case DType::kInt32:
      return static_cast<Acc>(std::numeric_limits<int32_t>::lowest());
    default:
      return LowestOf<Acc>();
  }
}

template <typename Acc>
bool IsNan(Acc v) {
  if constexpr (std::is_floating_point_v<Acc>) return std::isnan(v);
  return false;
}

// max_pool{1,2,3}d: cpu_max_pool / max_pool3d_out_frame.
template <typename Acc>
void MaxPool(const Geometry& g, const Tensor& in, Tensor& out, Tensor* idx,
             bool cl, Acc lowest) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            int64_t start[3], end[3];
            const int64_t o[3] = {od, oh, ow};
            for (int i = 0; i < 3; ++i) {
              start[i] = o[i] * g.s[i] - g.p[i];
              end[i] = std::min(start[i] + (g.k[i] - 1) * g.d[i] + 1, g.in[i]);
              while (start[i] < 0) start[i] += g.d[i];
            }
            int64_t max_index =
                (start[0] * g.in[1] + start[1]) * g.in[2] + start[2];
            Acc max_value = lowest;
            for (int64_t z = start[0]; z < end[0]; z += g.d[0])
              for (int64_t y = start[1]; y < end[1]; y += g.d[1])
                for (int64_t x = start[2]; x < end[2]; x += g.d[2]) {
                  const Acc v =
                      Load<Acc>(in, Offset(g, g.in, cl, n, c, z, y, x));
                  if (v > max_value || IsNan(v)) {
                    max_value = v;
                    max_index = (z * g.in[1] + y) * g.in[2] + x;
                  }
                }
            const int64_t oi = Offset(g, g.out, cl, n, c, od, oh, ow);
            Store<Acc>(out, oi, max_value);
            if (idx != nullptr) idx->data_as<int64_t>()[oi] = max_index;
          }
}

// avg_pool{1,2,3}d: cpu_avg_pool / avg_pool3d_out_frame. Returns the
// averages in Acc (the caller stores or post-processes them).
// divisor_override 0 means none (0 itself is refused by validation).
template <typename Acc>
std::vector<Acc> AvgPool(const Geometry& g, const std::vector<Acc>& in_values,
                         bool cl, bool cl_kernel, bool count_include_pad,
                         int64_t divisor_override) {
  std::vector<Acc> out(
      static_cast<size_t>(g.n * g.c * g.out[0] * g.out[1] * g.out[2]));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            int64_t start[3], end[3];
            const int64_t o[3] = {od, oh, ow};
            int64_t pool_size = 1, valid_size = 1;
            for (int i = 0; i < 3; ++i) {
              start[i] = o[i] * g.s[i] - g.p[i];
              end[i] = std::min(start[i] + g.k[i], g.in[i] + g.p[i]);
              pool_size *= end[i] - start[i];
              start[i] = std::max<int64_t>(start[i], 0);
              end[i] = std::min(end[i], g.in[i]);
              valid_size *= end[i] - start[i];
            }
            const int64_t divisor = divisor_override != 0 ? divisor_override
                                    : count_include_pad   ? pool_size
                                                          : valid_size;
            Acc sum = 0;
            for (int64_t z = start[0]; z < end[0]; ++z)
              for (int64_t y = start[1]; y < end[1]; ++y)
                for (int64_t x = start[2]; x < end[2]; ++x) {
                  sum += in_values[Offset(g, g.in, cl, n, c, z, y, x)];
                }
            // torch's channels-first kernel accumulates into a zeroed output
            // (`out += sum / divisor`), which turns a -0 quotient into +0;
            // its channels-last kernel divides in place and keeps -0.
            const Acc avg = sum / static_cast<Acc>(divisor);
            out[Offset(g, g.out, cl, n, c, od, oh, ow)] =
                cl_kernel ? avg : Acc{0} + avg;
          }
  return out;
}

// Adaptive window [start, end) of output cell i: floor(i*in/out) and
// ceil((i+1)*in/out), exactly.
int64_t AdaptiveStart(int64_t i, int64_t out, int64_t in) {
  return (i * in) / out;
}
int64_t AdaptiveEnd(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

// adaptive_avg_pool{1,2,3}d. `vector_channels`: channels [0, vector_channels)
// divide by the window size at once (torch's channels-last SIMD lanes), the
// rest by each extent in turn. Global pooling (every output size 1) is
// torch's mean() fast path: see RefIsGlobalAverage.
template <typename Acc>
void AdaptiveAvgPool(const Geometry& g, const Tensor& in, Tensor& out, bool cl,
                     int64_t vector_channels, bool half_arithmetic,
                     std::vector<double>* tolerance) {
  const bool global = g.out[0] == 1 && g.out[1] == 1 && g.out[2] == 1;
  if (global && tolerance != nullptr)
    tolerance->assign(static_cast<size_t>(out.numel()), 0.0);
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            int64_t start[3], end[3];
            const int64_t o[3] = {od, oh, ow};
            for (int i = 0; i < 3; ++i) {
              start[i] = AdaptiveStart(o[i], g.out[i], g.in[i]);
              end[i] = AdaptiveEnd(o[i], g.out[i], g.in[i]);
            }
            Acc sum = 0;
            for (int64_t z = start[0]; z < end[0]; ++z)
              for (int64_t y = start[1]; y < end[1]; ++y)
                for (int64_t x = start[2]; x < end[2]; ++x) {
                  sum += Load<Acc>(in, Offset(g, g.in, cl, n, c, z, y, x));
                }
            const int64_t kd = end[0] - start[0], kh = end[1] - start[1],
                          kw = end[2] - start[2];
            Acc avg;
            if (global) {
              // torch computes input.mean() here, whose blocked reduction
              // order we do not copy: sum (nearly) exactly, round once.
              long double exact = 0;
              for (int64_t z = start[0]; z < end[0]; ++z)
                for (int64_t y = start[1]; y < end[1]; ++y)
                  for (int64_t x = start[2]; x < end[2]; ++x) {
                    exact += static_cast<long double>(
                        Load<Acc>(in, Offset(g, g.in, cl, n, c, z, y, x)));
                  }
              avg = static_cast<Acc>(exact /
                                     static_cast<long double>(kd * kh * kw));
              if (tolerance != nullptr) {
                // Any reasonable summation order stays within a few
                // rounding errors of sum|x|: allow that, plus 2 ulp.
                long double abs_sum = 0;
                for (int64_t z = start[0]; z < end[0]; ++z)
                  for (int64_t y = start[1]; y < end[1]; ++y)
                    for (int64_t x = start[2]; x < end[2]; ++x) {
                      abs_sum += std::fabs(static_cast<long double>(
                          Load<Acc>(in, Offset(g, g.in, cl, n, c, z, y, x))));
                    }
                const double acc_eps =
                    std::is_same_v<Acc, double> ? 0x1p-52 : 0x1p-23;
                const double mean_abs =
                    static_cast<double>(abs_sum / (kd * kh * kw));
                (*tolerance)[Offset(g, g.out, cl, n, c, od, oh, ow)] =
                    kGlobalAverageMaxUlp *
                        UlpOf(out.dtype(), static_cast<double>(avg)) +
                    8 * acc_eps * mean_abs;
              }
            } else if (half_arithmetic) {
              // adaptive_avg_pool3d is the one pooling op torch 1.13 runs on
              // float16, entirely in Half: every addition and each of the
              // three divisions rounds to float16.
              auto h = [](float v) {
                return Float16ToFloat(FloatToFloat16(v));
              };
              float hsum = 0;
              for (int64_t z = start[0]; z < end[0]; ++z)
                for (int64_t y = start[1]; y < end[1]; ++y)
                  for (int64_t x = start[2]; x < end[2]; ++x) {
                    hsum =
                        h(hsum + static_cast<float>(Load<Acc>(
                                     in, Offset(g, g.in, cl, n, c, z, y, x))));
                  }
              avg = static_cast<Acc>(h(h(h(hsum / h(static_cast<float>(kd))) /
                                         h(static_cast<float>(kh))) /
                                       h(static_cast<float>(kw))));
            } else if (c < vector_channels) {
              avg = sum / static_cast<Acc>(kh * kw);
            } else {
              avg = sum / static_cast<Acc>(kd) / static_cast<Acc>(kh) /
                    static_cast<Acc>(kw);
            }
            Store<Acc>(out, Offset(g, g.out, cl, n, c, od, oh, ow), avg);
          }
}

// adaptive_max_pool{1,2,3}d.
template <typename Acc>
void AdaptiveMaxPool(const Geometry& g, const Tensor& in, Tensor& out,
                     Tensor* idx, bool cl) {
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            int64_t start[3], end[3];
            const int64_t o[3] = {od, oh, ow};
            for (int i = 0; i < 3; ++i) {
              start[i] = AdaptiveStart(o[i], g.out[i], g.in[i]);
              end[i] = AdaptiveEnd(o[i], g.out[i], g.in[i]);
            }
            int64_t max_index =
                (start[0] * g.in[1] + start[1]) * g.in[2] + start[2];
            Acc max_value = LowestOf<Acc>();
            for (int64_t z = start[0]; z < end[0]; ++z)
              for (int64_t y = start[1]; y < end[1]; ++y)
                for (int64_t x = start[2]; x < end[2]; ++x) {
                  const Acc v =
                      Load<Acc>(in, Offset(g, g.in, cl, n, c, z, y, x));
                  if (v > max_value || IsNan(v)) {
                    max_value = v;
                    max_index = (z * g.in[1] + y) * g.in[2] + x;
                  }
                }
            const int64_t oi = Offset(g, g.out, cl, n, c, od, oh, ow);
            Store<Acc>(out, oi, max_value);
            if (idx != nullptr) idx->data_as<int64_t>()[oi] = max_index;
          }
}

// Rounds v to the storage precision of `dtype` when torch computes that
// dtype natively step by step (bfloat16); identity otherwise.
float RoundStep(DType dtype, float v) {
  if (dtype == DType::kBFloat16) return BFloat16ToFloat(FloatToBFloat16(v));
  return v;
}
double RoundStep(DType, double v) { return v; }

// Tensor.pow(exponent) for one element, with torch 1.13's special cases
// (Pow.cpp / PowKernel.cpp): 0 -> 1, 1 -> copy, 0.5 -> sqrt, -0.5 -> rsqrt,
// -1 -> reciprocal, 2 -> x*x, 3 -> x*x*x, -2 -> 1/(x*x); otherwise
// std::pow, in double for float32/float64 (then rounded) and in float for
// bfloat16 whose exponent is first rounded to bfloat16.
//
// `scalar_tail`: the element is in the last numel % 32 (in memory order),
// which torch's cpu_kernel_vec leaves to the scalar loop. It matters only for
// bfloat16 rsqrt, whose scalar form rounds sqrt to bfloat16 before the
// division while the vector form rounds once.
template <typename Acc>
Acc PowElement(DType dtype, Acc x, double exponent, bool scalar_tail) {
  if (exponent == 0.0) return 1;
  if (exponent == 1.0) return x;
  if (exponent == 0.5) return RoundStep(dtype, std::sqrt(x));
  if (exponent == -0.5) {
    const Acc root =
        scalar_tail ? RoundStep(dtype, std::sqrt(x)) : std::sqrt(x);
    return RoundStep(dtype, Acc{1} / root);
  }
  if (exponent == -1.0) return RoundStep(dtype, Acc{1} / x);
  Acc e = static_cast<Acc>(exponent);
  if (dtype == DType::kBFloat16)
    e = RoundStep(dtype, static_cast<float>(exponent));
  if (e == 2) return RoundStep(dtype, x * x);
  if (e == 3) return RoundStep(dtype, RoundStep(dtype, x * x) * x);
  if (e == -2) return RoundStep(dtype, Acc{1} / RoundStep(dtype, x * x));
  if (dtype == DType::kBFloat16) return RoundStep(dtype, std::pow(x, e));
  return static_cast<Acc>(std::pow(static_cast<double>(x), exponent));
}

// lp_pool{1,2}d as torch/nn/functional.py writes it:
//   out = avg_pool(x.pow(p), kernel, stride, 0, ceil_mode)
//   (sign(out) * relu(abs(out))).mul(prod(kernel)).pow(1/p)
template <typename Acc>
void LpPool(const Geometry& g, const Tensor& in, Tensor& out, bool cl,
            const PoolArgs& a) {
  const DType dt = in.dtype();
  const double p = a.norm_type;
  std::vector<Acc> powered(static_cast<size_t>(in.numel()));
  // torch's bfloat16 vectors hold 16 elements and cpu_kernel_vec steps by two
  // of them; what is left over runs through the scalar loop.
  constexpr int64_t kVectorStep = 2 * kReferenceVectorBytes / 2;
  auto in_tail = [](int64_t i, int64_t n) { return i >= n - n % kVectorStep; };
  for (int64_t i = 0; i < in.numel(); ++i) {
    powered[i] =
        PowElement<Acc>(dt, Load<Acc>(in, i), p, in_tail(i, in.numel()));
  }
  std::vector<Acc> avg = AvgPool<Acc>(g, powered, cl, /*cl_kernel=*/false,
                                      /*count_include_pad=*/true,
                                      /*divisor_override=*/0);
  const Acc kernel_volume = static_cast<Acc>(g.k[0] * g.k[1] * g.k[2]);
  for (size_t i = 0; i < avg.size(); ++i) {
    const Acc v = RoundStep(dt, avg[i]);
    const Acc sign = static_cast<Acc>((Acc{0} < v) - (v < Acc{0}));
    Acc mag = std::abs(v);
    if (!(mag > 0) && !std::isnan(mag)) mag = 0;  // relu
    const Acc scaled = RoundStep(dt, RoundStep(dt, sign * mag) * kernel_volume);
    const int64_t n = static_cast<int64_t>(avg.size());
    Store<Acc>(out, static_cast<int64_t>(i),
               PowElement<Acc>(dt, scaled, 1.0 / p,
                               in_tail(static_cast<int64_t>(i), n)));
  }
}

// Whether torch 1.13 runs its channels-last 2-d kernel: only for a 4-d
// tensor (batched 2-d, or batched 1-d after its unsqueeze) whose strides
// suggest_memory_format() calls channels_last. That is every permuted NHWC
// view except the ambiguous C == 1, H*W == 1 (and empty-batch) ones, which
// it calls contiguous. There is no channels-last 3-d kernel in 1.13.
bool UsesChannelsLastKernel(const Geometry& g, PoolOp op, bool cl) {
  if (!cl || !g.batched || op.spatial_dims == 3 || g.n == 0) return false;
  return !(g.c == 1 && g.in[1] * g.in[2] == 1);
}

// Number of leading channels torch's channels-last adaptive-avg kernel
// handles in whole vectors (0 when that kernel is not used).
int64_t AdaptiveAvgVectorChannels(const Geometry& g, PoolOp op, DType dtype,
                                  bool cl) {
  if (!UsesChannelsLastKernel(g, op, cl)) return 0;
  int64_t lanes = 0;
  switch (dtype) {
    case DType::kFloat32:
    case DType::kFloat16:  // computed as float32 (torch 1.13 has no CPU kernel)
      lanes = kReferenceVectorBytes / 4;
      break;
    case DType::kFloat64:
      lanes = kReferenceVectorBytes / 8;
      break;
    case DType::kBFloat16:
      lanes = kReferenceVectorBytes / 2;
      break;
    default:
      return 0;
  }
  return g.c - g.c % lanes;
}

template <typename Acc>
void RunPoolAs(PoolOp op, const Geometry& g, const Tensor& in, Tensor& out,
               Tensor* idx, const PoolArgs& a, std::vector<double>* tolerance) {
  const bool cl = a.channels_last;
  switch (op.kind) {
    case PoolKind::kMax:
      MaxPool<Acc>(g, in, out, idx, cl, LowestFor<Acc>(in.dtype()));
      return;
    case PoolKind::kAdaptiveMax:
      AdaptiveMaxPool<Acc>(g, in, out, idx, cl);
      return;
    case PoolKind::kAvg:
      if constexpr (std::is_floating_point_v<Acc>) {
        std::vector<Acc> values(static_cast<size_t>(in.numel()));
        for (int64_t i = 0; i < in.numel(); ++i) values[i] = Load<Acc>(in, i);
        const int64_t divisor =
            op.spatial_dims >= 2 && a.divisor_override.has_value()
                ? *a.divisor_override
                : 0;
        std::vector<Acc> avg =
            AvgPool<Acc>(g, values, cl, UsesChannelsLastKernel(g, op, cl),
                         a.count_include_pad, divisor);
        for (size_t i = 0; i < avg.size(); ++i)
          Store<Acc>(out, static_cast<int64_t>(i), avg[i]);
      }
      return;
    case PoolKind::kLp:
      if constexpr (std::is_floating_point_v<Acc>)
        LpPool<Acc>(g, in, out, cl, a);
      return;
    case PoolKind::kAdaptiveAvg:
      if constexpr (std::is_floating_point_v<Acc>) {
        AdaptiveAvgPool<Acc>(
            g, in, out, cl, AdaptiveAvgVectorChannels(g, op, in.dtype(), cl),
            in.dtype() == DType::kFloat16 && op.spatial_dims == 3, tolerance);
      }
      return;
  }
}

}  // namespace

absl::StatusOr<PoolOp> RefParsePoolOp(absl::string_view name) {
  struct Family {
    absl::string_view prefix;
    PoolKind kind;
  };
  static constexpr Family kFamilies[] = {
      {"adaptive_max_pool", PoolKind::kAdaptiveMax},
      {"adaptive_avg_pool", PoolKind::kAdaptiveAvg},
      {"max_pool", PoolKind::kMax},
      {"avg_pool", PoolKind::kAvg},
      {"lp_pool", PoolKind::kLp},
  };
  for (const Family& f : kFamilies) {
    if (name.size() == f.prefix.size() + 2 &&
        name.substr(0, f.prefix.size()) == f.prefix && name.back() == 'd') {
      const char digit = name[f.prefix.size()];
      if (digit < '1' || digit > '3' ||
          (f.kind == PoolKind::kLp && digit == '3'))
        break;
      return PoolOp{f.kind, digit - '0'};
    }
  }
  return Invalid(absl::StrCat("unknown op '", name, "'"));
}

int64_t RefPoolingOutputSize(int64_t in, int64_t kernel, int64_t pad,
                             int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = DivFloor(in + 2 * pad - dilation * (kernel - 1) - 1 +
                             (ceil_mode ? stride - 1 : 0),
                         stride) +
                1;
  // In ceil mode the last window must start inside the input or the left
  // padding, never in the right padding.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

absl::StatusOr<RefPoolResult> RefPool(PoolOp op, const Tensor& input,
                                      const PoolArgs& args) {
  absl::StatusOr<Geometry> g = MakeGeometry(op, input, args);
  if (!g.ok()) return g.status();
  const bool with_indices =
      args.return_indices &&
      (op.kind == PoolKind::kMax || op.kind == PoolKind::kAdaptiveMax);
  absl::StatusOr<Tensor> out = Tensor::Zeros(input.dtype(), g->output_shape);
  if (!out.ok()) return out.status();
  RefPoolResult result{*std::move(out), std::nullopt, {}};
  if (with_indices) {
    absl::StatusOr<Tensor> idx = Tensor::Zeros(DType::kInt64, g->output_shape);
    if (!idx.ok()) return idx.status();
    result.indices = *std::move(idx);
  }
  // An empty output has nothing to compute, and the loops below would still
  // walk every index of its other output dims (the fuzzer found 2^55 of
  // them in front of a 0: adaptive output_size (2^55, 0, 253)).
  if (result.output.numel() == 0) return result;
  Tensor* idx = result.indices ? &*result.indices : nullptr;
  if (input.dtype() == DType::kFloat64) {
    RunPoolAs<double>(op, *g, input, result.output, idx, args,
                      &result.tolerance);
  } else if (IsFloatingPoint(input.dtype())) {
    RunPoolAs<float>(op, *g, input, result.output, idx, args,
                     &result.tolerance);
  } else {
    RunPoolAs<int64_t>(op, *g, input, result.output, idx, args,
                       &result.tolerance);
  }
  return result;
}

absl::StatusOr<Tensor> RefCat(const std::vector<Tensor>& inputs, int64_t dim) {
  if (inputs.empty()) return Invalid("cat needs at least one tensor");
  // Legacy behaviour: 1-d tensors of shape (0,) are skipped entirely (but
  // still take part in dtype promotion).
  DType dtype = inputs[0].dtype();
  for (const Tensor& t : inputs) dtype = PromoteTypes(dtype, t.dtype());
  std::vector<const Tensor*> used;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.dim() == 0)
      return Invalid(absl::StrCat("zero-dimensional tensors[", i, "]"));
    if (t.dim() == 1 && t.numel() == 0) continue;
    used.push_back(&t);
  }
  // Every input was a legacy empty: torch returns one of shape (0,) and
  // never looks at dim.
  if (used.empty()) return Tensor::Zeros(dtype, {0});
  const int64_t rank = used[0]->dim();
  if (dim < -rank || dim >= rank)
    return absl::OutOfRangeError("reference: dim out of range");
  if (dim < 0) dim += rank;
  std::vector<int64_t> shape = used[0]->shape();
  shape[dim] = 0;
  for (const Tensor* t : used) {
    if (t->dim() != rank) return Invalid("ranks differ");
    for (int64_t i = 0; i < rank; ++i) {
      if (i != dim && t->size(i) != shape[i])
        return Invalid("sizes differ off dim");
    }
    shape[dim] += t->size(dim);
  }
  absl::StatusOr<Tensor> out = Tensor::Zeros(dtype, shape);
  if (!out.ok()) return out.status();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= shape[i];
  for (int64_t i = dim + 1; i < rank; ++i) inner *= shape[i];
  int64_t offset = 0;  // along dim
  for (const Tensor* t : used) {
    const int64_t len = t->size(dim);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len; ++j)
        for (int64_t i = 0; i < inner; ++i) {
          ConvertElement(*t, (o * len + j) * inner + i, *out,
                         (o * shape[dim] + offset + j) * inner + i);
        }
    offset += len;
  }
  return out;
}

double RefElementAsDouble(const Tensor& t, int64_t i) {
  return Load<double>(t, i);
}

std::optional<std::string> RefCompareWithin(
    const Tensor& expected, const Tensor& actual,
    const std::vector<double>& tolerance) {
  if (expected.dtype() != actual.dtype() ||
      expected.shape() != actual.shape() ||
      static_cast<int64_t>(tolerance.size()) != expected.numel()) {
    return RefCompare(expected, actual);
  }
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const double ev = Load<double>(expected, i);
    const double av = Load<double>(actual, i);
    if (std::isnan(ev) && std::isnan(av)) continue;
    if (ev == av || std::fabs(ev - av) <= tolerance[i]) continue;
    return absl::StrCat("element ", i, ": expected ",
                        absl::StrFormat("%.17g", ev), ", got ",
                        absl::StrFormat("%.17g", av), " (tolerance ",
                        absl::StrFormat("%.3g", tolerance[i]), ")");
  }
  return std::nullopt;
}

namespace {

// Orders the bit patterns of a float type so that adjacent representable
// values differ by one (the usual ulp distance trick).
int64_t OrderedBits(const Tensor& t, int64_t i) {
  int64_t bits = 0;
  int64_t sign_bit = 0;
  switch (t.dtype()) {
    case DType::kFloat32: {
      uint32_t u;
      std::memcpy(&u, static_cast<const char*>(t.data()) + 4 * i, 4);
      bits = u & 0x7fffffff;
      sign_bit = u >> 31;
      break;
    }
    case DType::kFloat64: {
      uint64_t u;
      std::memcpy(&u, static_cast<const char*>(t.data()) + 8 * i, 8);
      bits = static_cast<int64_t>(u & 0x7fffffffffffffffULL);
      sign_bit = static_cast<int64_t>(u >> 63);
      break;
    }
    default: {
      uint16_t u;
      std::memcpy(&u, static_cast<const char*>(t.data()) + 2 * i, 2);
      bits = u & 0x7fff;
      sign_bit = u >> 15;
      break;
    }
  }
  return sign_bit ? -bits : bits;
}

}  // namespace

std::optional<std::string> RefCompare(const Tensor& expected,
                                      const Tensor& actual, int64_t max_ulp) {
  if (expected.dtype() != actual.dtype()) {
    return absl::StrCat("dtype: expected ", DTypeName(expected.dtype()),
                        ", got ", DTypeName(actual.dtype()));
  }
  if (expected.shape() != actual.shape()) {
    return absl::StrCat("shape: expected ", ShapeToString(expected.shape()),
                        ", got ", ShapeToString(actual.shape()));
  }
  const size_t size = DTypeSize(expected.dtype());
  const bool floating = IsFloatingPoint(expected.dtype());
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const char* e = static_cast<const char*>(expected.data()) + i * size;
    const char* a = static_cast<const char*>(actual.data()) + i * size;
    if (std::memcmp(e, a, size) == 0) continue;
    const double ev = Load<double>(expected, i);
    const double av = Load<double>(actual, i);
    if (floating && std::isnan(ev) && std::isnan(av)) continue;
    if (floating && max_ulp > 0 && !std::isnan(ev) && !std::isnan(av)) {
      const int64_t ulps = OrderedBits(expected, i) - OrderedBits(actual, i);
      if (ulps >= -max_ulp && ulps <= max_ulp) continue;
    }
    return absl::StrCat(
        "element ", i, ": expected ", absl::StrFormat("%.17g", ev), ", got ",
        absl::StrFormat("%.17g", av),
        max_ulp > 0 ? absl::StrCat(" (tolerance ", max_ulp, " ulp)") : "");
  }
  return std::nullopt;
}

}  // namespace poolcat::reference
