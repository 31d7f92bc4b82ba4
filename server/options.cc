#include "server/options.h"

#include <climits>
#include <cstdlib>
#include <string>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace poolcat::server {

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.listen.empty()) {
    return absl::InvalidArgumentError(
        "--listen must be host:port, but got an empty value");
  }
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0 (0 = all usable CPUs), but got ",
                     options.threads));
  }
  // gRPC takes message limits as int.
  if (options.max_message_bytes <= 0 || options.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_bytes must be in [1, ", INT_MAX,
                     "], but got ", options.max_message_bytes));
  }
  if (options.max_elements <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_elements must be > 0, but got ", options.max_elements));
  }
  if (options.max_concurrent <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_concurrent must be > 0, but got ", options.max_concurrent));
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert and --tls_key must be given together, but only one was "
        "set");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca (mutual TLS) needs --tls_cert and --tls_key too");
  }
  if (options.grace_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grace_period must be >= 0, but got ",
                     absl::FormatDuration(options.grace_period)));
  }
  for (const auto& [flag, value] :
       {std::pair<const char*, absl::Duration>{"max_connection_age",
                                               options.max_connection_age},
        {"max_connection_age_grace", options.max_connection_age_grace}}) {
    if (value <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " must be > 0 (or inf), but got ",
                       absl::FormatDuration(value)));
    }
  }
  if (options.max_retained_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_retained_bytes must be >= 0, but got ",
                     options.max_retained_bytes));
  }
  return absl::OkStatus();
}

std::string EnvironmentVariableFor(absl::string_view flag_name) {
  return absl::StrCat("POOLCAT_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyEnvironmentToFlags(absl::string_view defining_file) {
  // absl reports a flag's file with leading slashes removed.
  const size_t start = defining_file.find_first_not_of("/\\");
  if (start == absl::string_view::npos) return absl::OkStatus();
  defining_file.remove_prefix(start);
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename() != defining_file) continue;
    const std::string variable = EnvironmentVariableFor(name);
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", variable, "=\"", value,
                       "\" is not a valid --", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

}  // namespace poolcat::server
