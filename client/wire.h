// poolcat.v1 messages on the wire without copying tensor payloads.
//
// A request's tensor bytes go out as gRPC slices that alias the Tensor's own
// buffer (the slices hold a reference to it), and a reply's tensor bytes
// are read from the received slices straight into a new Tensor: one copy
// instead of the three that generated message classes need (into the
// request message, out of the reply message, into a Tensor).
//
// Everything but the payloads is still (de)serialized by the generated
// classes, so field numbers live in the .proto only, except the Tensor
// message's own three fields and the reply messages' tensor fields, which
// are named where they are used. Internal to poolcat::client.
#ifndef POOLCAT_CLIENT_WIRE_H_
#define POOLCAT_CLIENT_WIRE_H_

#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::client_internal {

// Serialized poolcat.v1 requests.
grpc::ByteBuffer EncodePoolRequest(absl::string_view op, const Tensor& input,
                                   const PoolArgs& args, bool return_indices);
grpc::ByteBuffer EncodeConcatRequest(absl::Span<const Tensor> tensors,
                                     int64_t dim);
grpc::ByteBuffer EncodeEchoRequest(const Tensor& tensor);

// A Tensor-typed field of a reply message.
struct TensorField {
  int number;                  // field number in the reply message
  absl::string_view name;      // for messages: "output", "indices"
  std::optional<Tensor>* out;  // set when the field is present
};

// Decodes a reply's Tensor fields, skipping any other field. A malformed
// reply, or a tensor whose dtype is unknown or whose byte count does not
// match its shape, is a server bug: INTERNAL naming the field.
absl::Status DecodeReply(grpc::ByteBuffer* reply,
                         absl::Span<const TensorField> fields);

}  // namespace poolcat::client_internal

#endif  // POOLCAT_CLIENT_WIRE_H_
