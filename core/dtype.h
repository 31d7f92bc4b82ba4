// Element types a poolcat Tensor can hold, with PyTorch's promotion rules.
//
// The numeric values of DType are part of no wire format: the proto has its
// own enum and server/convert.cc maps between the two.
#ifndef POOLCAT_CORE_DTYPE_H_
#define POOLCAT_CORE_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace poolcat {

enum class DType {
  kFloat32,
  kFloat64,
  kBFloat16,
  kFloat16,
  kInt8,
  kUInt8,
  kInt16,
  kInt32,
  kInt64,
  kBool,
};

// Every DType, in declaration order (handy for tests and name lookups).
inline constexpr DType kAllDTypes[] = {
    DType::kFloat32, DType::kFloat64, DType::kBFloat16, DType::kFloat16,
    DType::kInt8,    DType::kUInt8,   DType::kInt16,    DType::kInt32,
    DType::kInt64,   DType::kBool};

// Size of one element in bytes.
size_t DTypeSize(DType dtype);

// Lower-case name as NumPy/PyTorch spell it: "float32", "bfloat16", "bool".
absl::string_view DTypeName(DType dtype);

// Inverse of DTypeName; nullopt for an unknown name.
std::optional<DType> DTypeFromName(absl::string_view name);

// float32, float64, bfloat16, float16.
bool IsFloatingPoint(DType dtype);

// The dtype torch.cat / torch.result_type gives for two tensor operands of
// these types (both dimensioned, so no "wrapped number" rules apply).
DType PromoteTypes(DType a, DType b);

}  // namespace poolcat

#endif  // POOLCAT_CORE_DTYPE_H_
