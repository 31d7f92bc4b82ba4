#include "server/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat::server {
namespace {

TEST(ToGrpcStatus, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ToGrpcStatus, KeepsCodeAndMessageOfEveryCanonicalCodeButUnknown) {
  for (int code = 1; code <= 16; ++code) {
    if (code == static_cast<int>(absl::StatusCode::kUnknown)) continue;
    const absl::Status status(static_cast<absl::StatusCode>(code),
                              "input.shape[0] bad");
    const grpc::Status mapped = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(mapped.error_code()), code);
    EXPECT_EQ(mapped.error_message(), "input.shape[0] bad");
  }
}

TEST(ToGrpcStatus, InvalidArgumentBecomesInvalidArgument) {
  const grpc::Status mapped = ToGrpcStatus(
      absl::InvalidArgumentError("kernel_size must be > 0, but got 0"));
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(mapped.error_message(), "kernel_size must be > 0, but got 0");
}

TEST(ToGrpcStatus, NeverAnswersUnknown) {
  const grpc::Status mapped = ToGrpcStatus(absl::UnknownError("mystery"));
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(mapped.error_message(), "mystery");
}

TEST(ToGrpcStatus, OutOfRangeCodeNumberBecomesInternal) {
  const grpc::Status mapped =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "x"));
  EXPECT_EQ(mapped.error_code(), grpc::StatusCode::INTERNAL);
}

}  // namespace
}  // namespace poolcat::server
