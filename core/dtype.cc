#include "core/dtype.h"

namespace poolcat {
namespace {

struct DTypeInfo {
  absl::string_view name;
  size_t size;
};

DTypeInfo Info(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return {"float32", 4};
    case DType::kFloat64:
      return {"float64", 8};
    case DType::kBFloat16:
      return {"bfloat16", 2};
    case DType::kFloat16:
      return {"float16", 2};
    case DType::kInt8:
      return {"int8", 1};
    case DType::kUInt8:
      return {"uint8", 1};
    case DType::kInt16:
      return {"int16", 2};
    case DType::kInt32:
      return {"int32", 4};
    case DType::kInt64:
      return {"int64", 8};
    case DType::kBool:
      return {"bool", 1};
  }
  return {"unknown", 0};
}

// Rank within a category, used for promotion: a wider type wins.
enum class Category { kBool, kIntegral, kFloating };

Category CategoryOf(DType dtype) {
  if (dtype == DType::kBool) return Category::kBool;
  return IsFloatingPoint(dtype) ? Category::kFloating : Category::kIntegral;
}

}  // namespace

size_t DTypeSize(DType dtype) { return Info(dtype).size; }

absl::string_view DTypeName(DType dtype) { return Info(dtype).name; }

std::optional<DType> DTypeFromName(absl::string_view name) {
  for (DType dtype : kAllDTypes) {
    if (DTypeName(dtype) == name) return dtype;
  }
  return std::nullopt;
}

bool IsFloatingPoint(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 ||
         dtype == DType::kBFloat16 || dtype == DType::kFloat16;
}

DType PromoteTypes(DType a, DType b) {
  if (a == b) return a;
  const Category ca = CategoryOf(a);
  const Category cb = CategoryOf(b);
  if (ca != cb) return ca > cb ? a : b;
  if (ca == Category::kFloating) {
    // float16 with bfloat16 has no common 16-bit type: PyTorch picks float32.
    if (a == DType::kFloat64 || b == DType::kFloat64) return DType::kFloat64;
    return DType::kFloat32;
  }
  // Integral. uint8 has no signed 8-bit superset: with int8 it becomes int16.
  if (a == DType::kUInt8 || b == DType::kUInt8) {
    const DType other = a == DType::kUInt8 ? b : a;
    return other == DType::kInt8 ? DType::kInt16 : other;
  }
  return DTypeSize(a) >= DTypeSize(b) ? a : b;
}

}  // namespace poolcat
