// Wire (poolcat.v1 protobuf) <-> core conversion, and the one place where the
// wire fields of a request are validated.
//
// Views returned here point into the request message (shape and bytes are
// not copied), so the request must outlive them. Every failure is an
// absl::Status whose message names the field path and the offending value,
// e.g. "input.data has 12 bytes, but shape [1, 1, 2, 2] of float32 needs 16":
//   INVALID_ARGUMENT   unspecified/unknown dtype, negative dimension, byte
//                      count not matching shape, missing input, bad op name,
//                      missing required argument;
//   RESOURCE_EXHAUSTED element count over the limit or overflowing int64.
// Argument *values* (kernel larger than input, zero stride...) are the core's
// to judge (PlanPool / PlanCat); this layer only checks what the core cannot
// see, such as which proto fields are set.
#ifndef POOLCAT_SERVER_CONVERT_H_
#define POOLCAT_SERVER_CONVERT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/dtype.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::server {

// Maps the wire enum to the core's. InvalidArgument naming `field` for
// DTYPE_UNSPECIFIED and for values this server does not know (proto3 enums
// are open, so any int32 can arrive).
absl::StatusOr<DType> DTypeFromProto(int proto_dtype, absl::string_view field);
poolcat::v1::DType DTypeToProto(DType dtype);

// Validates a wire tensor (dtype, non-negative shape, element count at most
// `max_elements`, data size matching shape * dtype size) and returns a view
// of its bytes. `what` is the field path used in messages ("input",
// "tensors[2]").
absl::StatusOr<TensorView> TensorViewFromProto(
    const poolcat::v1::Tensor& tensor, int64_t max_elements,
    absl::string_view what);

// A pooling request in core terms.
struct PoolCall {
  PoolOp op;
  PoolArgs args;
  TensorView input;  // Points into the request.
};

// Parses op and input and maps every argument field onto PoolArgs, applying
// the proto's documented defaults (empty stride = kernel, empty padding = 0,
// empty dilation = 1, unset count_include_pad = true).
absl::StatusOr<PoolCall> PoolCallFromProto(
    const poolcat::v1::PoolRequest& request, int64_t max_elements);

// Validates every tensor of a concat request ("tensors[i]") and that there is
// at least one.
absl::StatusOr<std::vector<TensorView>> ConcatInputsFromProto(
    const poolcat::v1::ConcatRequest& request, int64_t max_elements);

// Sets dtype and shape of `out`; the caller fills out->data.
void SetTensorHeader(DType dtype, absl::Span<const int64_t> shape,
                     poolcat::v1::Tensor* out);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_CONVERT_H_
