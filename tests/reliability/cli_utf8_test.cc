// CheckUtf8 (client/cli_args.h): a non-UTF-8 --op used to reach protobuf,
// which logged an error and sent a request the server could not parse
// ("request is not a valid protobuf message"); the CLI now refuses it
// itself, naming the flag and the bad byte (bad-input matrix case
// cli_non_utf8_op).
#include <string>

#include "absl/status/status.h"
#include "client/cli_args.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat {
namespace {

using ::testing::HasSubstr;

TEST(CheckUtf8, AcceptsAsciiAndWellFormedMultiByteText) {
  EXPECT_TRUE(CheckUtf8("op", "max_pool2d").ok());
  EXPECT_TRUE(CheckUtf8("op", "").ok());
  EXPECT_TRUE(
      CheckUtf8("op", "p\xc3\xa9le \xe2\x82\xac \xf0\x9f\x90\x88").ok());
  EXPECT_TRUE(CheckUtf8("op", "\xf4\x8f\xbf\xbf").ok());  // U+10FFFF
}

TEST(CheckUtf8, RefusesBadBytesNamingTheFlagByteAndOffset) {
  const absl::Status s = CheckUtf8("op", "max_pool2d\xff");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("--op"));
  EXPECT_THAT(s.message(), HasSubstr("0xff"));
  EXPECT_THAT(s.message(), HasSubstr("offset 10"));
}

TEST(CheckUtf8, RefusesOverlongSurrogateTruncatedAndOutOfRangeSequences) {
  for (const std::string bad :
       {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xe2\x82",
        "\xf4\x90\x80\x80", "\x80", "\xf5\x80\x80\x80"}) {
    EXPECT_EQ(CheckUtf8("op", bad).code(), absl::StatusCode::kInvalidArgument)
        << bad.size();
  }
}

}  // namespace
}  // namespace poolcat
