// Parsing a Pool request into a pooled message that keeps the input
// tensor's buffer from call to call.
//
// gRPC's own parse of a typed request clears the message first, and a
// cleared message deletes its singular sub-messages, so a PoolRequest's
// input tensor, and the buffer of its bytes, would be new on every call.
// protobuf 3.21 then grows that buffer in steps (it reserves at most 50 MB
// up front, against hostile length prefixes), so a 103 MB input was copied
// into 50, 100 and 200 MB of fresh memory: over 120 ms of decoding for
// 15 ms of pooling. Pool is therefore a raw gRPC method, and its request is
// parsed here into a message whose input tensor (and buffer) is kept.
#ifndef POOLCAT_SERVER_REQUEST_PARSE_H_
#define POOLCAT_SERVER_REQUEST_PARSE_H_

#include "absl/status/status.h"
#include "grpcpp/support/byte_buffer.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::server {

// Parses the serialized PoolRequest in `bytes` into `request`, which ends
// up equal to a fresh parse (has_input() included). The buffer of the input
// tensor `request` already holds is reused, reserved once to the received
// data's size when it is too small, and advised onto huge pages when large.
// InvalidArgument when `bytes` is not a PoolRequest.
absl::Status ParsePoolRequest(grpc::ByteBuffer* bytes,
                              poolcat::v1::PoolRequest* request);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_REQUEST_PARSE_H_
