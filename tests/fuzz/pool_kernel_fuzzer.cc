// Fuzz target for one pooling kernel family (POOLCAT_FUZZ_KIND, set per
// executable by CMakeLists.txt: max, avg, lp, adaptive_max, adaptive_avg):
// the fuzzer's bytes choose spatial rank, dtype, layout, batch, shape and
// every argument (zeros and negatives included), then fill the tensor with
// raw bytes (every float bit pattern: NaN payloads, infinities, -0,
// subnormals). core's Pool and tests/reference's RefPool must agree: both
// refuse, or both compute with bit-identical outputs and indices (any NaN
// equals any NaN; global average within the reference's stated tolerance).
// Sizes are capped so each case is cheap.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/reference/reference.h"

#ifndef POOLCAT_FUZZ_KIND
#error "POOLCAT_FUZZ_KIND must name a PoolKind enumerator, e.g. kMax"
#endif

namespace poolcat::fuzz {
namespace {

constexpr PoolKind kKind = PoolKind::POOLCAT_FUZZ_KIND;
constexpr int64_t kMaxInputElements = 2048;

constexpr DType kDTypes[] = {DType::kFloat32,  DType::kFloat32, DType::kFloat64,
                             DType::kBFloat16, DType::kFloat16, DType::kInt8,
                             DType::kUInt8,    DType::kInt16,   DType::kInt32,
                             DType::kInt64,    DType::kBool};

// A list argument: one value for every dim, or one per dim (PyTorch takes
// both), or occasionally the wrong length.
std::vector<int64_t> ListArg(FuzzInput& in, int sd, int64_t lo, int64_t hi) {
  const int form = static_cast<int>(in.Int(0, 7));
  const int n = form < 3 ? 1 : form < 7 ? sd : static_cast<int>(in.Int(0, 4));
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t& x : v) x = in.Int(lo, hi);
  return v;
}

std::string Describe(PoolOp op, const Tensor& t, const PoolArgs& a) {
  return absl::StrCat(
      "op=", PoolOpName(op), " dtype=", DTypeName(t.dtype()),
      " shape=", ShapeToString(t.shape()),
      " kernel_size=", absl::StrJoin(a.kernel_size, ","),
      " stride=", absl::StrJoin(a.stride, ","),
      " padding=", absl::StrJoin(a.padding, ","),
      " dilation=", absl::StrJoin(a.dilation, ","), " ceil_mode=", a.ceil_mode,
      " count_include_pad=", a.count_include_pad, " divisor_override=",
      a.divisor_override ? absl::StrCat(*a.divisor_override) : "none",
      " norm_type=", a.norm_type,
      " output_size=", absl::StrJoin(a.output_size, ","),
      " indices=", a.return_indices, " channels_last=", a.channels_last);
}

// Global average pooling: the reference sums in long double and promises
// the mean within a tolerance; torch and core sum in the compute type
// (float, or double for float64), so once a plane's running sum can
// overflow that type the result depends on the summation order (torch
// itself returns inf for such a mean). The reference promises nothing then.
bool SumMayOverflow(const Tensor& t) {
  long double total = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    // NaN and +-inf give the same answer in any order; finite values can
    // overflow partway.
    const double v = reference::RefElementAsDouble(t, i);
    if (std::isfinite(v)) total += std::fabs(static_cast<long double>(v));
  }
  // float16 means accumulate in float16 in torch 1.13 (a float16 mean of
  // 96 values of -1509 is -inf there, as in core); the others in float or
  // double.
  const long double limit =
      t.dtype() == DType::kFloat64   ? std::numeric_limits<double>::max()
      : t.dtype() == DType::kFloat16 ? 65504.0L
                                     : std::numeric_limits<float>::max();
  return total > limit;
}

void Run(FuzzInput& in) {
  const int sd = kKind == PoolKind::kLp ? static_cast<int>(in.Int(1, 2))
                                        : static_cast<int>(in.Int(1, 3));
  const PoolOp op{kKind, sd};
  const DType dtype = in.Pick(kDTypes);
  PoolArgs a;
  a.channels_last = in.Bool();
  const bool batched = in.Int(0, 3) != 0;
  // Occasionally a rank one off, which both must refuse.
  const int rank_error = in.Int(0, 15) == 0 ? (in.Bool() ? 1 : -1) : 0;
  std::vector<int64_t> spatial(
      static_cast<size_t>(std::max(0, sd + rank_error)));
  for (int64_t& s : spatial) s = in.Int(0, 11) == 0 ? 0 : in.Int(1, 12);
  const int64_t n = in.Int(0, 9) == 0 ? 0 : in.Int(1, 3);
  const int64_t c = in.Int(0, 15) == 0 ? 0 : in.Int(1, 9);

  if (kKind == PoolKind::kAdaptiveMax || kKind == PoolKind::kAdaptiveAvg) {
    a.output_size = ListArg(in, sd, -2, 9);
    a.return_indices = kKind == PoolKind::kAdaptiveMax && in.Bool();
  } else {
    a.kernel_size = ListArg(in, sd, 0, 7);
    if (in.Bool()) a.stride = ListArg(in, sd, 0, 4);
    a.padding = ListArg(in, sd, -1, 4);
    if (kKind == PoolKind::kMax) a.dilation = ListArg(in, sd, 0, 3);
    a.ceil_mode = in.Bool();
    a.count_include_pad = in.Bool();
    if (kKind == PoolKind::kAvg && in.Int(0, 3) == 0)
      a.divisor_override = in.Int(-3, 5);
    if (kKind == PoolKind::kLp) {
      const double kNorms[] = {1.0,
                               2.0,
                               3.0,
                               0.5,
                               1.5,
                               4.0,
                               -1.0,
                               -0.5,
                               0.0,
                               std::numeric_limits<double>::infinity(),
                               -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(),
                               1e308,
                               1e-30};
      // Not |p| < 2.9e-39: torch refuses 1/p for bfloat16 ("cannot be
      // converted to type at::BFloat16 without overflow") and neither core
      // nor the reference models that refusal (see tests/RELIABILITY.md).
      a.norm_type = in.Pick(kNorms);
    }
    a.return_indices = kKind == PoolKind::kMax && in.Bool();
  }

  std::vector<int64_t> shape;
  if (batched) shape.push_back(n);
  if (!a.channels_last) shape.push_back(c);
  shape.insert(shape.end(), spatial.begin(), spatial.end());
  if (a.channels_last) shape.push_back(c);
  if (NumElements(shape) > kMaxInputElements) return;

  absl::StatusOr<Tensor> input = Tensor::Empty(dtype, shape);
  FUZZ_CHECK(input.ok(), input.status().ToString());
  FillPayload(in, input->data(), input->nbytes());
  if (dtype == DType::kBool) {
    // bool tensors hold 0 or 1; anything else is not a bool tensor at all.
    auto* b = input->data_as<uint8_t>();
    for (int64_t i = 0; i < input->numel(); ++i) b[i] &= 1;
  }

  std::string what = Describe(op, *input, a);
  // The values too (the first 256), so a failure can be replayed in torch.
  absl::StrAppend(&what, "\n  input=[");
  for (int64_t i = 0; i < std::min<int64_t>(input->numel(), 256); ++i) {
    absl::StrAppend(&what, i == 0 ? "" : ", ",
                    reference::RefElementAsDouble(*input, i));
  }
  absl::StrAppend(&what, "]");
  absl::StatusOr<reference::RefPoolResult> want =
      reference::RefPool(op, *input, a);
  ExecOptions exec;
  exec.num_threads = 1;
  absl::StatusOr<PoolResult> got = Pool(op, *input, a, exec);
  FUZZ_CHECK(want.ok() == got.ok(),
             absl::StrCat(
                 want.ok() ? "core refused a call the reference computes: "
                           : "core computed a call the reference refuses: ",
                 want.ok() ? got.status().ToString() : want.status().ToString(),
                 "\n  ", what));
  if (!got.ok()) {
    FUZZ_CHECK(got.status().code() == absl::StatusCode::kInvalidArgument ||
                   got.status().code() == absl::StatusCode::kOutOfRange,
               absl::StrCat("unexpected refusal ", got.status().ToString(),
                            "\n  ", what));
    return;
  }
  if (!want->tolerance.empty() && SumMayOverflow(*input)) {
    // The reference makes no promise here (see SumMayOverflow).
    FUZZ_CHECK(want->output.shape() == got->output.shape(),
               absl::StrCat("output shapes differ\n  ", what));
    return;
  }
  const std::optional<std::string> diff =
      want->tolerance.empty() ? reference::RefCompare(want->output, got->output)
                              : reference::RefCompareWithin(
                                    want->output, got->output, want->tolerance);
  FUZZ_CHECK(!diff.has_value(),
             absl::StrCat("output ", diff.value_or(""), "\n  ", what));
  FUZZ_CHECK(want->indices.has_value() == got->indices.has_value(),
             absl::StrCat("indices from only one side\n  ", what));
  if (want->indices) {
    const std::optional<std::string> idx =
        reference::RefCompare(*want->indices, *got->indices);
    FUZZ_CHECK(!idx.has_value(),
               absl::StrCat("indices ", idx.value_or(""), "\n  ", what));
  }
}

}  // namespace
}  // namespace poolcat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  poolcat::fuzz::FuzzInput in(data, size);
  poolcat::fuzz::Run(in);
  return 0;
}
