// A deliberately simple reference implementation of poolcat's ops, written
// straight from PyTorch 1.13's CPU kernels and checked against torch 1.13.1
// by the oracle suite (tests/oracle). It exists to be obviously right, not
// fast: naive nested loops over (n, c, od, oh, ow, window) that compute in
// the same order and precision as PyTorch.
//
// It shares nothing with core/'s pooling code: only Tensor, DType,
// PromoteTypes and the float16/bfloat16 conversions, plus the PoolOp /
// PoolArgs structs as plain data. Validation is its own, too: each function
// returns InvalidArgument / OutOfRange when PyTorch would refuse the call
// (the message need not match core's; callers only compare the verdict).
//
// Semantics worth knowing (each verified against torch 1.13.1):
//   * reduced precision: bfloat16/float16 inputs are widened to float32, the
//     op runs in float32 and the result is rounded once; float64 runs in
//     double; integers (max pooling only) compare as int64.
//   * lp_pool on bfloat16 follows torch's per-op rounding (x.pow(p), the
//     average, the scale and the final pow each round to bfloat16), as torch
//     computes bfloat16 natively; float16, which torch 1.13 CPU cannot pool,
//     runs entirely in float32 and rounds once.
//   * max: a value replaces the running max when it is greater or NaN; the
//     first index wins ties; a window lying wholly in the padding (possible
//     with dilation) yields -inf (lowest() for integers) and torch's index
//     of the first dilated position past the padding.
//   * adaptive windows: start = floor(i*in/out), end = ceil((i+1)*in/out) in
//     exact integer arithmetic (torch 1.13.1 as shipped; not float).
//   * adaptive_avg_pool1d/2d with channels_last on a batched input runs
//     torch's channels-last kernel, which divides by (kh*kw) for channels in
//     whole SIMD vectors (AVX2: 8 float32 / 4 float64 / 16 bfloat16) and by
//     kh then kw for the remaining tail channels; the reference reproduces
//     that split (kReferenceVectorBytes) so results are bit-exact.
//   * global average pooling (adaptive_avg_pool with every output size 1,
//     after -1 is resolved) is input.mean() in torch, a blocked SIMD cascade
//     sum, which also skips every size check (an empty window gives NaN).
//     The reference does not copy that order: it sums in long double, rounds
//     once and reports a per-element tolerance (RefPoolResult::tolerance).
//   * float16 adaptive_avg_pool3d is the one float16 pooling torch 1.13 runs
//     natively, in Half arithmetic (each addition and division rounds to
//     float16); the reference does the same.
//   * avg_pool: torch's channels-first kernels add the quotient to a zeroed
//     output, turning -0 into +0; its channels-last 2-d kernel keeps -0.
#ifndef POOLCAT_TESTS_REFERENCE_REFERENCE_H_
#define POOLCAT_TESTS_REFERENCE_REFERENCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::reference {

// Width of torch's CPU vectors (AVX2, what torch 1.13.1 uses on x86-64).
inline constexpr int kReferenceVectorBytes = 32;

// Tolerance for global average pooling (see above).
inline constexpr int64_t kGlobalAverageMaxUlp = 2;

struct RefPoolResult {
  Tensor output;
  std::optional<Tensor> indices;  // int64, when args.return_indices
  // Empty when `output` is exact. For global average pooling, the absolute
  // difference allowed per element: kGlobalAverageMaxUlp ulp plus a few
  // rounding errors of the mean of |x| (covers any summation order).
  std::vector<double> tolerance;
};

// Parses "max_pool2d", "adaptive_avg_pool1d", "lp_pool2d", ... (its own
// parser, not core's).
absl::StatusOr<PoolOp> RefParsePoolOp(absl::string_view name);

// Output spatial size of one dim under PyTorch's pooling_output_shape.
// REQUIRES: kernel, stride, dilation >= 1, pad >= 0 (no overflow checks:
// callers keep sizes small).
int64_t RefPoolingOutputSize(int64_t in, int64_t kernel, int64_t pad,
                             int64_t stride, int64_t dilation, bool ceil_mode);

// Runs pooling op `op` on `input` (physical layout; channels_last from
// args). InvalidArgument when PyTorch 1.13 would refuse the arguments.
absl::StatusOr<RefPoolResult> RefPool(PoolOp op, const Tensor& input,
                                      const PoolArgs& args);

// torch.cat(inputs, dim). InvalidArgument / OutOfRange when torch refuses.
absl::StatusOr<Tensor> RefCat(const std::vector<Tensor>& inputs, int64_t dim);

// Bit-exact equality of two tensors (dtype, shape, and every element; any
// two NaNs are equal, +0 and -0 are not). On a mismatch returns a
// description of the first differing element.
std::optional<std::string> RefCompare(const Tensor& expected,
                                      const Tensor& actual,
                                      int64_t max_ulp = 0);

// Like RefCompare, but element i may differ by up to tolerance[i].
std::optional<std::string> RefCompareWithin(
    const Tensor& expected, const Tensor& actual,
    const std::vector<double>& tolerance);

// Element `i` of `t` as a double (for messages and generators).
double RefElementAsDouble(const Tensor& t, int64_t i);

}  // namespace poolcat::reference

#endif  // POOLCAT_TESTS_REFERENCE_REFERENCE_H_
