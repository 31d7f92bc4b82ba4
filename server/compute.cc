#include "server/compute.h"

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/tensor.h"
#include "server/convert.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;

uint64_t BytesOf(DType dtype, absl::Span<const int64_t> shape) {
  return static_cast<uint64_t>(NumElements(shape)) * DTypeSize(dtype);
}

// Upper bound on the encoded size of a response holding tensors with these
// payload sizes and ranks: per tensor, its field tag and length (<= 11
// bytes), dtype (<= 3), the packed shape (<= 11 + 10 per dimension) and the
// data's tag and length (<= 11).
uint64_t ResponseBytesBound(
    std::initializer_list<std::pair<uint64_t, size_t>> tensors) {
  uint64_t total = 0;
  for (const auto& [payload, rank] : tensors) total += payload + 36 + 10 * rank;
  return total;
}

absl::Status CheckResponseSize(uint64_t response_bytes, const Limits& limits,
                               absl::string_view what) {
  if (response_bytes > limits.max_response_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        what, " would take up to ", response_bytes,
        " bytes, more than this server sends in one message (",
        limits.max_response_bytes, " bytes, --max_message_bytes)"));
  }
  return absl::OkStatus();
}

// Kernels read elements through typed pointers, so the bytes must be aligned
// for the dtype. Returns a 64-byte aligned copy when they are not.
std::optional<Tensor> AlignIfNeeded(TensorView* view) {
  const size_t align = DTypeSize(view->dtype);
  if (reinterpret_cast<uintptr_t>(view->data) % align == 0) return std::nullopt;
  absl::StatusOr<Tensor> copy = Tensor::FromBytes(
      view->dtype, std::vector<int64_t>(view->shape.begin(), view->shape.end()),
      absl::string_view(static_cast<const char*>(view->data), view->nbytes()));
  if (!copy.ok()) return std::nullopt;  // Unreachable: the view was validated.
  view->data = copy->data();
  return std::move(*copy);
}

// Sizes `out` for a tensor and returns a writable view of its bytes.
MutableTensorView AllocateInto(DType dtype, absl::Span<const int64_t> shape,
                               v1::Tensor* out) {
  SetTensorHeader(dtype, shape, out);
  std::string* bytes = out->mutable_data();
  const size_t size = BytesOf(dtype, shape);
  if (bytes->capacity() < size) {
    bytes->reserve(size);
    AdviseHugePages(bytes->data(), bytes->capacity());  // Before the fill.
  }
  // resize() zero-fills; std::string offers nothing cheaper in C++17, and
  // the fill is one sequential pass over memory the kernel writes next.
  bytes->resize(size);
  return MutableTensorView{dtype, shape, bytes->data()};
}

}  // namespace

absl::StatusOr<PreparedPool> PreparePool(const v1::PoolRequest& request,
                                         const Limits& limits) {
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, limits.max_elements);
  if (!call.ok()) return call.status();
  ExecOptions exec;
  exec.max_elements = limits.max_elements;
  absl::StatusOr<PoolPlan> plan = PlanPool(call->op, call->input.dtype,
                                           call->input.shape, call->args, exec);
  if (!plan.ok()) return plan.status();

  PreparedPool prepared;
  prepared.plan = *std::move(plan);
  prepared.input = call->input;
  const uint64_t out_bytes =
      BytesOf(prepared.plan.dtype, prepared.plan.output_shape);
  const uint64_t idx_bytes =
      prepared.plan.returns_indices()
          ? BytesOf(DType::kInt64, prepared.plan.indices_shape)
          : 0;
  const size_t rank = prepared.plan.output_shape.size();
  absl::Status size_ok = CheckResponseSize(
      ResponseBytesBound(
          {{out_bytes, rank}, {idx_bytes, idx_bytes > 0 ? rank : 0}}),
      limits,
      absl::StrCat("the response for output shape ",
                   ShapeToString(prepared.plan.output_shape),
                   idx_bytes > 0 ? " with indices" : ""));
  if (!size_ok.ok()) return size_ok;
  prepared.aligned_copy = AlignIfNeeded(&prepared.input);
  prepared.work_bytes = prepared.input.nbytes() + out_bytes + idx_bytes;
  return prepared;
}

absl::StatusOr<PreparedConcat> PrepareConcat(const v1::ConcatRequest& request,
                                             const Limits& limits) {
  absl::StatusOr<std::vector<TensorView>> inputs =
      ConcatInputsFromProto(request, limits.max_elements);
  if (!inputs.ok()) return inputs.status();
  ExecOptions exec;
  exec.max_elements = limits.max_elements;
  absl::StatusOr<CatPlan> plan = PlanCat(*inputs, request.dim(), exec);
  if (!plan.ok()) return plan.status();

  PreparedConcat prepared;
  prepared.plan = *std::move(plan);
  prepared.inputs = *std::move(inputs);
  const uint64_t out_bytes =
      BytesOf(prepared.plan.dtype, prepared.plan.output_shape);
  absl::Status size_ok = CheckResponseSize(
      ResponseBytesBound({{out_bytes, prepared.plan.output_shape.size()}}),
      limits,
      absl::StrCat("the response for output shape ",
                   ShapeToString(prepared.plan.output_shape), " of ",
                   DTypeName(prepared.plan.dtype)));
  if (!size_ok.ok()) return size_ok;
  prepared.work_bytes = out_bytes;
  for (TensorView& view : prepared.inputs) {
    if (std::optional<Tensor> copy = AlignIfNeeded(&view)) {
      prepared.aligned_copies.push_back(*std::move(copy));
    }
    prepared.work_bytes += view.nbytes();
  }
  return prepared;
}

absl::Status ExecutePool(const PreparedPool& prepared,
                         v1::PoolResponse* response, const ExecOptions& exec) {
  const PoolPlan& plan = prepared.plan;
  const MutableTensorView output =
      AllocateInto(plan.dtype, plan.output_shape, response->mutable_output());
  if (!plan.returns_indices()) {
    return RunPool(plan, prepared.input, output, nullptr, exec);
  }
  const MutableTensorView indices = AllocateInto(
      DType::kInt64, plan.indices_shape, response->mutable_indices());
  return RunPool(plan, prepared.input, output, &indices, exec);
}

absl::Status ExecuteConcat(const PreparedConcat& prepared,
                           v1::ConcatResponse* response,
                           const ExecOptions& exec) {
  const MutableTensorView output =
      AllocateInto(prepared.plan.dtype, prepared.plan.output_shape,
                   response->mutable_output());
  return RunCat(prepared.plan, prepared.inputs, output, exec);
}

}  // namespace poolcat::server
