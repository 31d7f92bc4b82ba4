#include "client/npy_cast.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "core/float16.h"

namespace poolcat {

absl::StatusOr<Tensor> CastForWire(const Tensor& tensor,
                                   absl::string_view dtype_name,
                                   absl::string_view flag) {
  std::optional<DType> dtype = DTypeFromName(dtype_name);
  if (!dtype.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " expects a dtype name such as bfloat16, but got '",
        dtype_name, "'"));
  }
  if (*dtype == tensor.dtype()) return tensor;
  if (*dtype != DType::kBFloat16 || tensor.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", dtype_name, " cannot apply to a ",
        DTypeName(tensor.dtype()),
        " .npy: only float32 -> bfloat16 is supported (.npy has no bfloat16)"));
  }
  absl::StatusOr<Tensor> out = Tensor::Empty(DType::kBFloat16, tensor.shape());
  if (!out.ok()) return out.status();
  const float* in = tensor.data_as<float>();
  BFloat16* narrow = out->data_as<BFloat16>();
  for (int64_t i = 0; i < tensor.numel(); ++i) {
    narrow[i] = FloatToBFloat16(in[i]);
  }
  return out;
}

Tensor WidenForNpy(const Tensor& tensor) {
  if (tensor.dtype() != DType::kBFloat16) return tensor;
  Tensor out = *Tensor::Empty(DType::kFloat32, tensor.shape());
  const BFloat16* in = tensor.data_as<BFloat16>();
  float* wide = out.data_as<float>();
  for (int64_t i = 0; i < tensor.numel(); ++i) wide[i] = BFloat16ToFloat(in[i]);
  return out;
}

}  // namespace poolcat
