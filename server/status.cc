#include "server/status.h"

#include <string>

namespace poolcat::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const int code = static_cast<int>(status.code());
  // Valid gRPC codes are 0..16; 2 is UNKNOWN.
  if (status.code() == absl::StatusCode::kUnknown || code < 0 || code > 16) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        std::string(status.message()));
  }
  return grpc::Status(static_cast<grpc::StatusCode>(code),
                      std::string(status.message()));
}

}  // namespace poolcat::server
