// Parsing of the `poolcat` CLI's pooling flags into core PoolArgs.
//
// The flags mirror PyTorch's argument names and accept what a PyTorch user
// would write: comma-separated lists ("2,3"), optionally bracketed ("(2, 3)"),
// one value for every spatial dim ("2"), and "None" (or -1) in output_size
// for "keep this input dim". Kept apart from main so it is testable without
// a server.
#ifndef POOLCAT_CLIENT_CLI_ARGS_H_
#define POOLCAT_CLIENT_CLI_ARGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/pool.h"

namespace poolcat {

// The raw text of each pooling flag; nullopt when the flag was not given
// (so PyTorch's default applies).
struct PoolFlags {
  std::optional<std::string> kernel_size;
  std::optional<std::string> stride;
  std::optional<std::string> padding;
  std::optional<std::string> dilation;
  std::optional<std::string> ceil_mode;
  std::optional<std::string> count_include_pad;
  std::optional<std::string> divisor_override;
  std::optional<std::string> norm_type;
  std::optional<std::string> output_size;
  std::optional<std::string> channels_last;
};

// "2,3" -> {2, 3}. With `allow_none`, "None" stands for -1. InvalidArgument
// naming `flag` and the offending text otherwise (empty list, not an
// integer).
absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag,
                                                  absl::string_view text,
                                                  bool allow_none = false);

// true/false, 1/0, yes/no, on/off (any case).
absl::StatusOr<bool> ParseBool(absl::string_view flag, absl::string_view text);

// OK when `text` is valid UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF): protobuf string fields such as PoolRequest.op must be, or
// the server cannot even parse the request. Otherwise InvalidArgument naming
// `--flag` and the first bad byte's offset and value.
absl::Status CheckUtf8(absl::string_view flag, absl::string_view text);

// Builds PoolArgs from the flags given; unset flags keep PoolArgs' (that is,
// PyTorch's) defaults. Only syntax is checked here: whether the values suit
// the op is the server's (the core's) one validation place.
absl::StatusOr<PoolArgs> PoolArgsFromFlags(const PoolFlags& flags);

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_CLI_ARGS_H_
