#include "core/shape_check.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/tensor.h"

namespace poolcat {
namespace {

// GCC/Clang 128-bit integers: wide enough for every product of two int64
// values, so the output-size rule is evaluated exactly, then range-checked.
__extension__ typedef __int128 Int128;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

bool IsWindowOp(PoolKind kind) {
  return kind == PoolKind::kMax || kind == PoolKind::kAvg ||
         kind == PoolKind::kLp;
}

bool IsMaxOp(PoolKind kind) {
  return kind == PoolKind::kMax || kind == PoolKind::kAdaptiveMax;
}

std::string List(absl::Span<const int64_t> v) { return ShapeToString(v); }

// "1x4x4", PyTorch's spelling of a plane count and spatial sizes.
std::string Dims(int64_t planes, absl::Span<const int64_t> sizes) {
  return absl::StrCat(planes, "x", absl::StrJoin(sizes, "x"));
}

// Expands an int-or-tuple argument to `nd` values, as _single/_pair/_triple.
absl::StatusOr<std::vector<int64_t>> Expand(absl::string_view op,
                                            absl::string_view name,
                                            const std::vector<int64_t>& values,
                                            int nd) {
  if (values.size() == 1) return std::vector<int64_t>(nd, values[0]);
  if (values.size() == static_cast<size_t>(nd)) return values;
  return absl::InvalidArgumentError(
      absl::StrCat(op, ": ", name, " must be a single int or a list of ", nd,
                   " ints, but got ", name, "=", List(values)));
}

// InvalidArgument "op: <name> <rule>, but got <name>=[...]" when any value
// fails `ok`.
template <typename Pred>
absl::Status CheckEach(absl::string_view op, absl::string_view name,
                       const std::vector<int64_t>& values,
                       absl::string_view rule, Pred ok) {
  for (int64_t v : values) {
    if (!ok(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": ", name, " ", rule, ", but got ", name, "=", List(values)));
    }
  }
  return absl::OkStatus();
}

absl::string_view SupportedList(PoolKind kind) {
  return IsMaxOp(kind) ? "float32, float64, bfloat16, float16, int8, uint8, "
                         "int16, int32, int64"
                       : "float32, float64, bfloat16, float16";
}

// Non-batch dims must be positive, with 1.13's exceptions: adaptive ops
// check only the dims after the first, so unbatched input may have 0
// channels; adaptive_avg_pool1d/2d accept 0 channels in a batch too; and
// global average pooling (every output size 1: torch's mean path) checks
// nothing, an empty plane averaging to NaN.
absl::Status CheckNonBatchDims(absl::string_view name, PoolOp op, bool batched,
                               bool channels_last,
                               absl::Span<const int64_t> input_shape,
                               const std::vector<int64_t>& adaptive_out) {
  const bool adaptive = !IsWindowOp(op.kind);
  const bool global_avg = op.kind == PoolKind::kAdaptiveAvg &&
                          std::all_of(adaptive_out.begin(), adaptive_out.end(),
                                      [](int64_t o) { return o == 1; });
  if (global_avg) return absl::OkStatus();
  const bool zero_channels_ok =
      (adaptive && !batched) ||
      (op.kind == PoolKind::kAdaptiveAvg && op.spatial_dims <= 2);
  const int rank = static_cast<int>(input_shape.size());
  const int lead = batched ? 1 : 0;
  for (int i = lead; i < rank; ++i) {
    const bool is_channel_dim = channels_last ? i == rank - 1 : i == lead;
    if (input_shape[i] == 0 && !(is_channel_dim && zero_channels_ok)) {
      return absl::InvalidArgumentError(absl::StrCat(
          name,
          ": Expected input's non-batch dimensions to have positive "
          "length, but got input of shape ",
          List(input_shape), " (dimension ", i, " is empty)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool PoolSupportsDType(PoolKind kind, DType dtype) {
  if (dtype == DType::kBool) return false;
  return IsFloatingPoint(dtype) || IsMaxOp(kind);
}

absl::StatusOr<int64_t> PoolingOutputSize(int64_t in, int64_t kernel,
                                          int64_t pad, int64_t stride,
                                          int64_t dilation, bool ceil_mode) {
  const Int128 numerator = Int128{in} + 2 * Int128{pad} -
                           Int128{dilation} * (Int128{kernel} - 1) - 1 +
                           (ceil_mode ? Int128{stride} - 1 : 0);
  // Floor division (PyTorch's div_rtn): the numerator may be negative.
  Int128 out = numerator / stride;
  if (numerator % stride != 0 && numerator < 0) --out;
  out += 1;
  // In ceil mode the last window must start inside the input or the left
  // padding, never in the right padding.
  if (ceil_mode && (out - 1) * stride >= Int128{in} + pad) --out;
  if (out > kInt64Max || out < -kInt64Max) {
    return absl::InvalidArgumentError(
        absl::StrCat("pooling output size overflows int64 for input size ", in,
                     ", kernel_size ", kernel, ", padding ", pad, ", stride ",
                     stride, ", dilation ", dilation));
  }
  return static_cast<int64_t>(out);
}

absl::StatusOr<PoolPlan> CheckPool(PoolOp op, DType dtype,
                                   absl::Span<const int64_t> input_shape,
                                   const PoolArgs& args,
                                   const ExecOptions& exec) {
  const int nd = op.spatial_dims;
  if (nd < 1 || nd > 3 || (op.kind == PoolKind::kLp && nd == 3)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported pooling op with ", nd, " spatial dims"));
  }
  const std::string name = PoolOpName(op);

  if (!PoolSupportsDType(op.kind, dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": dtype ", DTypeName(dtype),
        " is not supported, expected one of ", SupportedList(op.kind)));
  }

  // Rank: (C, *spatial) unbatched or (N, C, *spatial) batched; channels_last
  // moves C to the end but keeps the rank.
  const int rank = static_cast<int>(input_shape.size());
  if (rank != nd + 1 && rank != nd + 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": Expected ", nd + 1, "D or ", nd + 2,
                     "D (batch mode) tensor for input, but got input of shape ",
                     List(input_shape)));
  }
  absl::StatusOr<int64_t> in_numel =
      CheckedNumel(input_shape, dtype, exec.max_elements, "input");
  if (!in_numel.ok()) return in_numel.status();

  PoolPlan plan;
  plan.op = op;
  plan.args = args;
  // avg_pool1d takes no divisor_override in PyTorch (the field is ignored,
  // as the wire contract says of every field an op does not take). Drop it
  // here so no kernel can apply it: the SIMD path runs 1-d as 2-d with H=1.
  if (op.kind == PoolKind::kAvg && nd == 1) plan.args.divisor_override.reset();
  plan.dtype = dtype;
  plan.channels_last = args.channels_last;
  plan.batched = rank == nd + 2;
  const int lead = plan.batched ? 1 : 0;
  plan.batch = plan.batched ? input_shape[0] : 1;
  plan.channels =
      args.channels_last ? input_shape[rank - 1] : input_shape[lead];
  const int first_spatial = args.channels_last ? lead : lead + 1;
  std::vector<int64_t> in_sizes(input_shape.begin() + first_spatial,
                                input_shape.begin() + first_spatial + nd);

  std::vector<int64_t> out_sizes(nd);
  const int off = 3 - nd;  // normalised arrays keep leading dims of size 1
  for (int i = 0; i < nd; ++i) plan.in[off + i] = in_sizes[i];

  if (IsWindowOp(op.kind)) {
    absl::Status dims_ok = CheckNonBatchDims(
        name, op, plan.batched, args.channels_last, input_shape, {});
    if (!dims_ok.ok()) return dims_ok;
    if (args.kernel_size.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": kernel_size is required (a single int or a list of ", nd,
          " ints), but got kernel_size=[]"));
    }
    absl::StatusOr<std::vector<int64_t>> k =
        Expand(name, "kernel_size", args.kernel_size, nd);
    if (!k.ok()) return k.status();
    absl::StatusOr<std::vector<int64_t>> s =
        args.stride.empty() ? k : Expand(name, "stride", args.stride, nd);
    if (!s.ok()) return s.status();
    // lp_pool always pools without padding; only max_pool dilates.
    absl::StatusOr<std::vector<int64_t>> p =
        op.kind == PoolKind::kLp ? std::vector<int64_t>(nd, 0)
                                 : Expand(name, "padding", args.padding, nd);
    if (!p.ok()) return p.status();
    absl::StatusOr<std::vector<int64_t>> d =
        op.kind == PoolKind::kMax ? Expand(name, "dilation", args.dilation, nd)
                                  : std::vector<int64_t>(nd, 1);
    if (!d.ok()) return d.status();

    auto positive = [](int64_t v) { return v > 0; };
    absl::Status st = CheckEach(name, "kernel_size", *k,
                                "should be greater than zero", positive);
    if (st.ok()) {
      st = CheckEach(name, "stride", *s, "should be greater than zero",
                     positive);
    }
    if (st.ok()) {
      st = CheckEach(name, "dilation", *d, "should be greater than zero",
                     positive);
    }
    if (st.ok()) {
      st = CheckEach(name, "padding", *p, "must be non-negative",
                     [](int64_t v) { return v >= 0; });
    }
    if (!st.ok()) return st;
    for (int i = 0; i < nd; ++i) {
      if ((*p)[i] > (*k)[i] / 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(name,
                         ": pad should be at most half of kernel size, but got "
                         "padding=",
                         List(*p), " and kernel_size=", List(*k)));
      }
    }
    if (op.kind == PoolKind::kAvg && nd >= 2 &&
        args.divisor_override.has_value() && *args.divisor_override == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": divisor must be not zero, but got divisor_override=0"));
    }
    if (op.kind == PoolKind::kLp && args.norm_type == 0.0) {
      // torch computes 1.0 / norm_type in Python: ZeroDivisionError.
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": norm_type must be non-zero, but got norm_type=0"));
    }

    // 1.13's max_pool1d_impl (taken when no indices are returned) accepts
    // an empty output; every other path needs at least one window.
    const bool allow_empty =
        op.kind == PoolKind::kMax && nd == 1 && !args.return_indices;
    bool too_small = false;
    for (int i = 0; i < nd; ++i) {
      absl::StatusOr<int64_t> o = PoolingOutputSize(
          in_sizes[i], (*k)[i], (*p)[i], (*s)[i], (*d)[i], args.ceil_mode);
      if (!o.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": ", o.status().message()));
      }
      out_sizes[i] = *o;
      if (*o < (allow_empty ? 0 : 1)) too_small = true;
    }
    if (too_small) {
      const std::string settings =
          absl::StrCat(" (kernel_size=", List(*k), ", stride=", List(*s),
                       ", padding=", List(*p), ", dilation=", List(*d),
                       ", ceil_mode=", args.ceil_mode ? "true" : "false", ")");
      if (allow_empty) {
        return absl::InvalidArgumentError(absl::StrCat(
            name, ": Invalid computed output size: ", List(out_sizes),
            settings));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": Given input size: (", Dims(plan.channels, in_sizes),
          "). Calculated output size: (", Dims(plan.channels, out_sizes),
          "). Output size is too small", settings));
    }
    if (op.kind == PoolKind::kAvg && nd == 3) {
      for (int i = 0; i < nd; ++i) {
        if (in_sizes[i] < (*k)[i]) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, ": input image (", absl::StrJoin(in_sizes, "x"),
              ") smaller than kernel size, but got kernel_size=", List(*k)));
        }
      }
    }
    for (int i = 0; i < nd; ++i) {
      plan.kernel[off + i] = (*k)[i];
      plan.stride[off + i] = (*s)[i];
      plan.pad[off + i] = (*p)[i];
      plan.dilation[off + i] = (*d)[i];
    }
  } else {
    if (args.output_size.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": output_size is required (a single int or a list of ", nd,
          " ints, -1 keeping the input size), but got output_size=[]"));
    }
    absl::StatusOr<std::vector<int64_t>> o =
        Expand(name, "output_size", args.output_size, nd);
    if (!o.ok()) return o.status();
    absl::Status st = CheckEach(name, "output_size", *o,
                                "elements must be greater than or equal to 0 "
                                "(or -1 for the input size)",
                                [](int64_t v) { return v >= -1; });
    if (!st.ok()) return st;
    for (int i = 0; i < nd; ++i) {
      out_sizes[i] = (*o)[i] == -1 ? in_sizes[i] : (*o)[i];
    }
    absl::Status dims_ok = CheckNonBatchDims(
        name, op, plan.batched, args.channels_last, input_shape, out_sizes);
    if (!dims_ok.ok()) return dims_ok;
  }
  for (int i = 0; i < nd; ++i) plan.out[off + i] = out_sizes[i];

  // Physical output shape, in the input's layout.
  if (plan.batched) plan.output_shape.push_back(plan.batch);
  if (!args.channels_last) plan.output_shape.push_back(plan.channels);
  plan.output_shape.insert(plan.output_shape.end(), out_sizes.begin(),
                           out_sizes.end());
  if (args.channels_last) plan.output_shape.push_back(plan.channels);
  absl::StatusOr<int64_t> out_numel =
      CheckedNumel(plan.output_shape, dtype, exec.max_elements, "output");
  if (!out_numel.ok()) return out_numel.status();
  if (IsMaxOp(op.kind) && args.return_indices) {
    plan.indices_shape = plan.output_shape;
    absl::StatusOr<int64_t> idx_numel = CheckedNumel(
        plan.indices_shape, DType::kInt64, exec.max_elements, "indices");
    if (!idx_numel.ok()) return idx_numel.status();
  }
  return plan;
}

}  // namespace poolcat
