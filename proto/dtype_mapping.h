// The one mapping between poolcat.v1.DType (wire) and poolcat::DType (core),
// shared by the server and the client so the two can never disagree.
#ifndef POOLCAT_PROTO_DTYPE_MAPPING_H_
#define POOLCAT_PROTO_DTYPE_MAPPING_H_

#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::wire {

// Every core DType has a wire value.
poolcat::v1::DType DTypeToProto(DType dtype);

// nullopt for DTYPE_UNSPECIFIED and for values this build does not know
// (an enum field on the wire may carry any integer).
std::optional<DType> DTypeFromProto(int64_t wire_value);

// "DTYPE_FLOAT32, DTYPE_FLOAT64, ...", for error messages.
std::string KnownProtoDTypeNames();

}  // namespace poolcat::wire

#endif  // POOLCAT_PROTO_DTYPE_MAPPING_H_
