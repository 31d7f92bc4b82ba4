// Fuzz target for torch.cat: the fuzzer's bytes choose 0-5 tensors (rank
// 0-4, sizes 0-5, any dtype, shapes mostly compatible, now and then a
// legacy (0,) tensor or a mismatch) and dim (-6..5), then fill them with raw
// bytes. core's Cat and tests/reference's RefCat must agree: both refuse, or
// both produce the same dtype, shape and bytes.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/concat.h"
#include "core/tensor.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/reference/reference.h"

namespace poolcat::fuzz {
namespace {

constexpr DType kDTypes[] = {DType::kFloat32, DType::kFloat64, DType::kBFloat16,
                             DType::kFloat16, DType::kInt8,    DType::kUInt8,
                             DType::kInt16,   DType::kInt32,   DType::kInt64,
                             DType::kBool};

void Run(FuzzInput& in) {
  const int count = static_cast<int>(in.Int(0, 5));
  const int rank = static_cast<int>(in.Int(0, 4));
  const int64_t dim = in.Int(-6, 5);
  std::vector<int64_t> base(static_cast<size_t>(rank));
  for (int64_t& s : base) s = in.Int(0, 4);
  const bool same_dtype = in.Bool();
  const DType common = in.Pick(kDTypes);
  std::vector<Tensor> inputs;
  std::string what = absl::StrCat("dim=", dim);
  for (int i = 0; i < count; ++i) {
    std::vector<int64_t> shape = base;
    const int variant = static_cast<int>(in.Int(0, 15));
    if (variant == 0) {
      shape = {0};  // legacy empty tensor, skipped by torch.cat
    } else if (variant == 1 && rank > 0) {
      shape[static_cast<size_t>(in.Int(0, rank - 1))] =
          in.Int(0, 5);  // maybe a mismatch
    } else if (variant == 2) {
      shape.push_back(in.Int(0, 3));  // rank mismatch
    } else if (rank > 0 && dim >= -rank && dim < rank) {
      shape[static_cast<size_t>(dim < 0 ? dim + rank : dim)] = in.Int(0, 5);
    }
    const DType dtype = same_dtype ? common : in.Pick(kDTypes);
    absl::StatusOr<Tensor> t = Tensor::Empty(dtype, shape);
    FUZZ_CHECK(t.ok(), t.status().ToString());
    inputs.push_back(std::move(*t));
    absl::StrAppend(&what, " ", DTypeName(dtype), ShapeToString(shape));
  }
  // One payload split over the tensors in order.
  for (Tensor& t : inputs) {
    FillPayload(in, t.data(), t.nbytes());
    if (t.dtype() == DType::kBool) {
      auto* b = t.data_as<uint8_t>();
      for (int64_t i = 0; i < t.numel(); ++i) b[i] &= 1;
    }
    in.Byte();  // so consecutive tensors do not start with the same bytes
  }
  absl::StatusOr<Tensor> want = reference::RefCat(inputs, dim);
  ExecOptions exec;
  exec.num_threads = 1;
  absl::StatusOr<Tensor> got = Cat(inputs, dim, exec);
  FUZZ_CHECK(want.ok() == got.ok(),
             absl::StrCat(
                 want.ok() ? "core refused a cat the reference does: "
                           : "core did a cat the reference refuses: ",
                 want.ok() ? got.status().ToString() : want.status().ToString(),
                 "\n  ", what));
  if (!got.ok()) {
    FUZZ_CHECK(got.status().code() == absl::StatusCode::kInvalidArgument ||
                   got.status().code() == absl::StatusCode::kOutOfRange,
               absl::StrCat("unexpected refusal ", got.status().ToString(),
                            "\n  ", what));
    return;
  }
  const std::optional<std::string> diff = reference::RefCompare(*want, *got);
  FUZZ_CHECK(!diff.has_value(),
             absl::StrCat("output ", diff.value_or(""), "\n  ", what));
}

}  // namespace
}  // namespace poolcat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  poolcat::fuzz::FuzzInput in(data, size);
  poolcat::fuzz::Run(in);
  return 0;
}
