// Fuzz target: arbitrary bytes as a .npy file (core/npy's ParseNpy, what
// the CLI reads). A refusal is InvalidArgument (or ResourceExhausted past
// the element cap) with a message; an accepted array must survive a
// SerializeNpy -> ParseNpy round trip unchanged (dtype, shape, bytes).
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/npy.h"
#include "core/tensor.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr int64_t kMaxElements = int64_t{1} << 16;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<poolcat::Tensor> parsed =
      poolcat::ParseNpy(bytes, kMaxElements);
  if (!parsed.ok()) {
    const absl::StatusCode code = parsed.status().code();
    FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                   code == absl::StatusCode::kResourceExhausted,
               absl::StrCat("unexpected refusal ", parsed.status().ToString()));
    FUZZ_CHECK(!parsed.status().message().empty(),
               std::string("refusal without a message"));
    return 0;
  }
  FUZZ_CHECK(
      parsed->numel() <= kMaxElements,
      absl::StrCat("accepted ", parsed->numel(), " elements past the cap"));
  absl::StatusOr<std::string> written = poolcat::SerializeNpy(*parsed);
  FUZZ_CHECK(written.ok(), absl::StrCat("cannot write back what was read: ",
                                        written.status().ToString()));
  absl::StatusOr<poolcat::Tensor> again =
      poolcat::ParseNpy(*written, kMaxElements);
  FUZZ_CHECK(again.ok(), absl::StrCat("cannot read back what was written: ",
                                      again.status().ToString()));
  FUZZ_CHECK(again->dtype() == parsed->dtype() &&
                 again->shape() == parsed->shape() &&
                 again->bytes() == parsed->bytes(),
             std::string("round trip changed the array"));
  return 0;
}
