#include "proto/dtype_mapping.h"

#include <vector>

#include "absl/strings/str_join.h"

namespace poolcat::wire {
namespace {

namespace v1 = ::poolcat::v1;

struct DTypePair {
  v1::DType wire;
  DType core;
};

// The only table relating the two enums; both directions read it.
constexpr DTypePair kDTypes[] = {
    {v1::DTYPE_FLOAT32, DType::kFloat32},
    {v1::DTYPE_FLOAT64, DType::kFloat64},
    {v1::DTYPE_BFLOAT16, DType::kBFloat16},
    {v1::DTYPE_FLOAT16, DType::kFloat16},
    {v1::DTYPE_INT8, DType::kInt8},
    {v1::DTYPE_UINT8, DType::kUInt8},
    {v1::DTYPE_INT16, DType::kInt16},
    {v1::DTYPE_INT32, DType::kInt32},
    {v1::DTYPE_INT64, DType::kInt64},
    {v1::DTYPE_BOOL, DType::kBool},
};

}  // namespace

v1::DType DTypeToProto(DType dtype) {
  for (const DTypePair& p : kDTypes) {
    if (p.core == dtype) return p.wire;
  }
  return v1::DTYPE_UNSPECIFIED;  // Unreachable: kDTypes covers every DType.
}

std::optional<DType> DTypeFromProto(int64_t wire_value) {
  for (const DTypePair& p : kDTypes) {
    if (static_cast<int64_t>(p.wire) == wire_value) return p.core;
  }
  return std::nullopt;
}

std::string KnownProtoDTypeNames() {
  std::vector<std::string> names;
  for (const DTypePair& p : kDTypes) names.push_back(v1::DType_Name(p.wire));
  return absl::StrJoin(names, ", ");
}

}  // namespace poolcat::wire
