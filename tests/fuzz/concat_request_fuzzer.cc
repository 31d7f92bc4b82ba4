// Fuzz target: arbitrary bytes as a poolcat.v1.ConcatRequest, through the
// server's request path (server/convert validation, PrepareConcat,
// ExecuteConcat) exactly as the Concat handler runs it.
//
// Every input must end in OK or a client-error status with a message. When
// the server concatenates, tests/reference's torch.cat must agree bit for
// bit; when core's planner refuses well-formed tensors, the reference must
// refuse them too.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "poolcat/v1/poolcat.pb.h"
#include "server/compute.h"
#include "server/convert.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/request_check.h"
#include "tests/reference/reference.h"

namespace poolcat::fuzz {
namespace {

std::vector<Tensor> TensorsFrom(const std::vector<TensorView>& views) {
  std::vector<Tensor> tensors;
  tensors.reserve(views.size());
  for (const TensorView& v : views) tensors.push_back(TensorFromView(v));
  return tensors;
}

bool ReferenceCovers(const std::vector<TensorView>& inputs) {
  for (const TensorView& v : inputs) {
    if (!SmallForReference(v.shape)) return false;
  }
  return true;
}

void CheckConcatRequest(const poolcat::v1::ConcatRequest& request) {
  server::Limits limits;
  limits.max_elements = kFuzzMaxElements;
  limits.max_response_bytes = kFuzzMaxResponseBytes;
  const std::string what = absl::StrCat(
      "ConcatRequest{", request.ShortDebugString().substr(0, 400), "}");

  absl::StatusOr<server::PreparedConcat> prepared =
      server::PrepareConcat(request, limits);
  absl::StatusOr<std::vector<TensorView>> inputs =
      server::ConcatInputsFromProto(request, kFuzzMaxElements);
  if (!prepared.ok()) {
    CheckRefusal(prepared.status(), what);
    if (inputs.ok() &&
        prepared.status().code() != absl::StatusCode::kResourceExhausted &&
        ReferenceCovers(*inputs)) {
      absl::StatusOr<Tensor> want =
          reference::RefCat(TensorsFrom(*inputs), request.dim());
      FUZZ_CHECK(!want.ok(), absl::StrCat(what, ": server refused (",
                                          prepared.status().ToString(),
                                          ") what the reference concatenates"));
    }
    return;
  }
  FUZZ_CHECK(inputs.ok(),
             absl::StrCat(what, ": prepared, but conversion refuses: ",
                          inputs.status().ToString()));
  poolcat::v1::ConcatResponse response;
  ExecOptions exec;
  exec.max_elements = kFuzzMaxElements;
  exec.num_threads = 1;
  const absl::Status run = server::ExecuteConcat(*prepared, &response, exec);
  if (!run.ok()) {
    CheckRefusal(run, what);
    return;
  }
  const Tensor got = TensorFromResponse(response.output(), "output");
  if (!ReferenceCovers(*inputs)) return;
  absl::StatusOr<Tensor> want =
      reference::RefCat(TensorsFrom(*inputs), request.dim());
  FUZZ_CHECK(
      want.ok(),
      absl::StrCat(what, ": server concatenated what the reference refuses: ",
                   want.status().ToString()));
  const std::optional<std::string> diff = reference::RefCompare(*want, got);
  FUZZ_CHECK(!diff.has_value(),
             absl::StrCat(what, ": output ", diff.value_or("")));
}

}  // namespace
}  // namespace poolcat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = poolcat::fuzz::SilenceProtobufLogs();
  (void)quiet;
  poolcat::v1::ConcatRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size)))
    return 0;  // gRPC refuses these.
  poolcat::fuzz::CheckConcatRequest(request);
  return 0;
}
