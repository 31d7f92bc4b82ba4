// The one place where an absl::Status from the core or the conversion layer
// becomes the grpc::Status a client sees.
#ifndef POOLCAT_SERVER_STATUS_H_
#define POOLCAT_SERVER_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace poolcat::server {

// absl and gRPC share the canonical code numbering, so codes carry over
// unchanged and the message is kept verbatim. The exception is UNKNOWN (and
// any out-of-range code): the service promises never to answer UNKNOWN, so
// such a status becomes INTERNAL with the original message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_STATUS_H_
