#include "server/options.h"

#include <cstdlib>
#include <string>

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(int, options_test_answer, 1,
          "flag defined here to test environment overrides");
ABSL_FLAG(std::string, options_test_name, "x", "another flag defined here");

namespace poolcat::server {
namespace {

using ::testing::HasSubstr;

TEST(ValidateOptions, AcceptsDefaults) {
  EXPECT_TRUE(ValidateOptions(ServerOptions()).ok());
}

TEST(ValidateOptions, RejectsEachBadValueNamingTheFlag) {
  struct Case {
    void (*mutate)(ServerOptions&);
    const char* flag;
  };
  const Case cases[] = {
      {[](ServerOptions& o) { o.listen = ""; }, "--listen"},
      {[](ServerOptions& o) { o.threads = -1; }, "--threads"},
      {[](ServerOptions& o) { o.max_message_bytes = 0; },
       "--max_message_bytes"},
      {[](ServerOptions& o) { o.max_message_bytes = int64_t{1} << 32; },
       "--max_message_bytes"},
      {[](ServerOptions& o) { o.max_elements = 0; }, "--max_elements"},
      {[](ServerOptions& o) { o.max_concurrent = 0; }, "--max_concurrent"},
      {[](ServerOptions& o) { o.tls_cert = "c.pem"; }, "--tls_key"},
      {[](ServerOptions& o) { o.tls_key = "k.pem"; }, "--tls_cert"},
      {[](ServerOptions& o) { o.tls_client_ca = "ca.pem"; }, "--tls_client_ca"},
      {[](ServerOptions& o) { o.grace_period = absl::Seconds(-1); },
       "--grace_period"},
      {[](ServerOptions& o) { o.max_retained_bytes = -1; },
       "--max_retained_bytes"},
      {[](ServerOptions& o) { o.max_connection_age = absl::ZeroDuration(); },
       "--max_connection_age"},
      {[](ServerOptions& o) { o.max_connection_age_grace = absl::Seconds(-1); },
       "--max_connection_age_grace"},
  };
  for (const Case& c : cases) {
    ServerOptions options;
    c.mutate(options);
    const absl::Status status = ValidateOptions(options);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.flag;
    EXPECT_THAT(status.message(), HasSubstr(c.flag));
  }
}

TEST(EnvironmentVariableFor, UpperCasesWithPrefix) {
  EXPECT_EQ(EnvironmentVariableFor("max_message_bytes"),
            "POOLCAT_MAX_MESSAGE_BYTES");
}

TEST(ApplyEnvironmentToFlags, SetsFlagsDefinedInTheGivenFile) {
  setenv("POOLCAT_OPTIONS_TEST_ANSWER", "42", 1);
  setenv("POOLCAT_OPTIONS_TEST_NAME", "from-env", 1);
  ASSERT_TRUE(ApplyEnvironmentToFlags(__FILE__).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_options_test_answer), 42);
  EXPECT_EQ(absl::GetFlag(FLAGS_options_test_name), "from-env");
  unsetenv("POOLCAT_OPTIONS_TEST_ANSWER");
  unsetenv("POOLCAT_OPTIONS_TEST_NAME");
}

TEST(ApplyEnvironmentToFlags, IgnoresFlagsOfOtherFiles) {
  absl::SetFlag(&FLAGS_options_test_answer, 1);
  setenv("POOLCAT_OPTIONS_TEST_ANSWER", "7", 1);
  ASSERT_TRUE(ApplyEnvironmentToFlags("/some/other/file.cc").ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_options_test_answer), 1);
  unsetenv("POOLCAT_OPTIONS_TEST_ANSWER");
}

TEST(ApplyEnvironmentToFlags, RejectsUnparsableValueNamingTheVariable) {
  setenv("POOLCAT_OPTIONS_TEST_ANSWER", "many", 1);
  const absl::Status status = ApplyEnvironmentToFlags(__FILE__);
  unsetenv("POOLCAT_OPTIONS_TEST_ANSWER");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("POOLCAT_OPTIONS_TEST_ANSWER"));
  EXPECT_THAT(status.message(), HasSubstr("many"));
}

}  // namespace
}  // namespace poolcat::server
