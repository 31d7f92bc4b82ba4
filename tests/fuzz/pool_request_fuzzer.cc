// Fuzz target: arbitrary bytes as a poolcat.v1.PoolRequest, through the
// server's request path (ParsePoolRequest into a pooled message that keeps
// its input buffer from input to input, server/convert validation,
// PreparePool, ExecutePool) exactly as the Pool handler runs it.
//
// ParsePoolRequest must accept exactly what protobuf's own parse accepts and
// give an equal message (presence of the input included).
//
// Every input must end in OK or a client-error status with a message
// (never a crash, UB, INTERNAL or UNKNOWN). When the server computes a
// result, tests/reference must accept the same call and agree bit for bit
// (within its stated tolerance for global average pooling); when core's
// planner refuses a well-formed request, the reference must refuse it too.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/pool.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "poolcat/v1/poolcat.pb.h"
#include "server/compute.h"
#include "server/convert.h"
#include "server/request_parse.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/request_check.h"
#include "tests/reference/reference.h"

namespace poolcat::fuzz {
namespace {

bool HasIndices(PoolKind kind) {
  return kind == PoolKind::kMax || kind == PoolKind::kAdaptiveMax;
}

// Whether tests/reference promises an answer for this call: small sizes,
// and for lp an exponent that float represents exactly (the reference
// rounds p to the compute type before x.pow(p); torch keeps it double, so
// pow(-tiny, 2.0000000004656613) is NaN in torch and core, not in the
// reference).
bool ReferenceCovers(const server::PoolCall& call) {
  if (!SmallForReference(call.input.shape)) return false;
  if (call.op.kind == PoolKind::kLp &&
      static_cast<double>(static_cast<float>(call.args.norm_type)) !=
          call.args.norm_type) {
    return false;
  }
  return true;
}

void CheckPoolRequest(const poolcat::v1::PoolRequest& request) {
  server::Limits limits;
  limits.max_elements = kFuzzMaxElements;
  limits.max_response_bytes = kFuzzMaxResponseBytes;
  const std::string what = absl::StrCat(
      "PoolRequest{", request.ShortDebugString().substr(0, 400), "}");

  absl::StatusOr<server::PreparedPool> prepared =
      server::PreparePool(request, limits);
  // What the conversion layer alone says, to tell its refusals from core's.
  absl::StatusOr<server::PoolCall> call =
      server::PoolCallFromProto(request, kFuzzMaxElements);
  if (!prepared.ok()) {
    CheckRefusal(prepared.status(), what);
    if (call.ok() &&
        prepared.status().code() != absl::StatusCode::kResourceExhausted &&
        ReferenceCovers(*call)) {
      PoolArgs args = call->args;
      if (!HasIndices(call->op.kind)) args.return_indices = false;
      absl::StatusOr<reference::RefPoolResult> want =
          reference::RefPool(call->op, TensorFromView(call->input), args);
      FUZZ_CHECK(!want.ok(), absl::StrCat(what, ": server refused (",
                                          prepared.status().ToString(),
                                          ") what the reference computes"));
    }
    return;
  }
  FUZZ_CHECK(call.ok(),
             absl::StrCat(what, ": prepared, but conversion refuses: ",
                          call.status().ToString()));

  poolcat::v1::PoolResponse response;
  ExecOptions exec;
  exec.max_elements = kFuzzMaxElements;
  exec.num_threads = 1;
  const absl::Status run = server::ExecutePool(*prepared, &response, exec);
  if (!run.ok()) {
    CheckRefusal(run, what);
    return;
  }
  const Tensor got = TensorFromResponse(response.output(), "output");
  if (!ReferenceCovers(*call)) return;
  PoolArgs args = call->args;
  if (!HasIndices(call->op.kind)) args.return_indices = false;
  absl::StatusOr<reference::RefPoolResult> want =
      reference::RefPool(call->op, TensorFromView(call->input), args);
  FUZZ_CHECK(
      want.ok(),
      absl::StrCat(what, ": server computed what the reference refuses: ",
                   want.status().ToString()));
  const std::optional<std::string> diff =
      want->tolerance.empty()
          ? reference::RefCompare(want->output, got)
          : reference::RefCompareWithin(want->output, got, want->tolerance);
  FUZZ_CHECK(!diff.has_value(),
             absl::StrCat(what, ": output ", diff.value_or("")));
  FUZZ_CHECK(
      want->indices.has_value() == response.has_indices(),
      absl::StrCat(what,
                   ": indices returned by only one of server and reference"));
  if (want->indices) {
    const Tensor indices = TensorFromResponse(response.indices(), "indices");
    const std::optional<std::string> idx =
        reference::RefCompare(*want->indices, indices);
    FUZZ_CHECK(!idx.has_value(),
               absl::StrCat(what, ": indices ", idx.value_or("")));
  }
}

}  // namespace
}  // namespace poolcat::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = poolcat::fuzz::SilenceProtobufLogs();
  (void)quiet;
  poolcat::v1::PoolRequest expected;
  const bool protobuf_ok =
      expected.ParseFromArray(data, static_cast<int>(size));

  // The server's parse, into one message kept across inputs as the server's
  // message pool keeps it: cleared, its input tensor still attached.
  static poolcat::v1::PoolRequest* const pooled = new poolcat::v1::PoolRequest;
  if (poolcat::v1::Tensor* input = pooled->release_input()) {
    pooled->Clear();
    input->Clear();
    pooled->set_allocated_input(input);
  }
  grpc::Slice slice(data, size);
  grpc::ByteBuffer bytes(&slice, 1);
  const absl::Status parsed = poolcat::server::ParsePoolRequest(&bytes, pooled);
  FUZZ_CHECK(parsed.ok() == protobuf_ok,
             absl::StrCat("ParsePoolRequest says ", parsed.ToString(),
                          ", protobuf's parse ", protobuf_ok ? "ok" : "fails"));
  if (!protobuf_ok) return 0;  // Refused with INVALID_ARGUMENT.
  FUZZ_CHECK(
      google::protobuf::util::MessageDifferencer::Equals(*pooled, expected) &&
          pooled->has_input() == expected.has_input(),
      absl::StrCat("ParsePoolRequest gave {",
                   pooled->ShortDebugString().substr(0, 400),
                   "}, protobuf's parse {",
                   expected.ShortDebugString().substr(0, 400), "}"));
  poolcat::fuzz::CheckPoolRequest(*pooled);
  return 0;
}
