// Checks shared by the request fuzzers (pool_request_fuzzer.cc,
// concat_request_fuzzer.cc): what any answer of the server's request path
// must look like, and how a wire tensor becomes a core Tensor for the
// reference.
#ifndef POOLCAT_TESTS_FUZZ_REQUEST_CHECK_H_
#define POOLCAT_TESTS_FUZZ_REQUEST_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/tensor.h"
#include "google/protobuf/stubs/logging.h"
#include "poolcat/v1/poolcat.pb.h"
#include "server/convert.h"
#include "tests/fuzz/fuzz_input.h"

namespace poolcat::fuzz {

// Protobuf logs every non-UTF-8 string it refuses to parse; at fuzzing
// speed that drowns libFuzzer's own output. Call once per process.
inline bool SilenceProtobufLogs() {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}

// Small limits keep every accepted case cheap for the reference too.
inline constexpr int64_t kFuzzMaxElements = int64_t{1} << 14;
inline constexpr uint64_t kFuzzMaxResponseBytes = uint64_t{1} << 20;

// A refusal is a client error with a message, never UNKNOWN/INTERNAL (a
// server bug) nor an empty message.
inline void CheckRefusal(const absl::Status& status, const std::string& what) {
  const absl::StatusCode code = status.code();
  FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument ||
                 code == absl::StatusCode::kOutOfRange ||
                 code == absl::StatusCode::kResourceExhausted,
             absl::StrCat(what, ": unexpected status ", status.ToString()));
  FUZZ_CHECK(!status.message().empty(),
             absl::StrCat(what, ": refusal without a message"));
}

// A response tensor: a known dtype and bytes matching its shape.
inline Tensor TensorFromResponse(const poolcat::v1::Tensor& wire,
                                 const std::string& what) {
  absl::StatusOr<TensorView> view =
      server::TensorViewFromProto(wire, kFuzzMaxElements, what);
  FUZZ_CHECK(view.ok(),
             absl::StrCat("malformed ", what, ": ", view.status().ToString()));
  absl::StatusOr<Tensor> t = Tensor::FromBytes(
      view->dtype, std::vector<int64_t>(view->shape.begin(), view->shape.end()),
      absl::string_view(static_cast<const char*>(view->data), view->nbytes()));
  FUZZ_CHECK(t.ok(), t.status().ToString());
  return std::move(*t);
}

// tests/reference REQUIRES small sizes (it multiplies them without
// overflow checks): an empty tensor may still have huge non-zero dims.
inline bool SmallForReference(absl::Span<const int64_t> shape) {
  int64_t product = 1;
  for (const int64_t d : shape) {
    if (d == 0) continue;
    if (d > kFuzzMaxElements || product > kFuzzMaxElements / d) return false;
    product *= d;
  }
  return true;
}

inline Tensor TensorFromView(const TensorView& view) {
  absl::StatusOr<Tensor> t = Tensor::FromBytes(
      view.dtype, std::vector<int64_t>(view.shape.begin(), view.shape.end()),
      absl::string_view(static_cast<const char*>(view.data), view.nbytes()));
  FUZZ_CHECK(t.ok(), t.status().ToString());
  return std::move(*t);
}

}  // namespace poolcat::fuzz

#endif  // POOLCAT_TESTS_FUZZ_REQUEST_CHECK_H_
