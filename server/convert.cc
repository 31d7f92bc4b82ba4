#include "server/convert.h"

#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "proto/dtype_mapping.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;

std::vector<int64_t> ToVector(
    const google::protobuf::RepeatedField<int64_t>& field) {
  return std::vector<int64_t>(field.begin(), field.end());
}

}  // namespace

absl::StatusOr<DType> DTypeFromProto(int proto_dtype, absl::string_view field) {
  if (std::optional<DType> dtype = wire::DTypeFromProto(proto_dtype))
    return *dtype;
  if (proto_dtype == v1::DTYPE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is DTYPE_UNSPECIFIED; set it to one of ",
                     wire::KnownProtoDTypeNames()));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " has unknown value ", proto_dtype,
                   "; expected one of ", wire::KnownProtoDTypeNames()));
}

v1::DType DTypeToProto(DType dtype) { return wire::DTypeToProto(dtype); }

absl::StatusOr<TensorView> TensorViewFromProto(const v1::Tensor& tensor,
                                               int64_t max_elements,
                                               absl::string_view what) {
  absl::StatusOr<DType> dtype =
      DTypeFromProto(tensor.dtype(), absl::StrCat(what, ".dtype"));
  if (!dtype.ok()) return dtype.status();
  const absl::Span<const int64_t> shape(
      tensor.shape().data(), static_cast<size_t>(tensor.shape_size()));
  absl::StatusOr<int64_t> numel =
      CheckedNumel(shape, *dtype, max_elements, what);
  if (!numel.ok()) return numel.status();
  if (*numel == 0) {
    // CheckedNumel answers 0 for any shape with a zero dim, but torch
    // multiplies the sizes in order and refuses a product that overflows
    // before it reaches the zero ("Storage size calculation overflowed");
    // such a shape would also overflow NumElements (undefined behaviour)
    // wherever the server sizes the response.
    int64_t running = 1;
    for (const int64_t d : shape) {
      if (d == 0) break;
      if (running > std::numeric_limits<int64_t>::max() / d) {
        return absl::ResourceExhaustedError(
            absl::StrCat(what, " shape ", ShapeToString(shape),
                         " has too many elements (overflows int64 before its "
                         "zero dimension)"));
      }
      running *= d;
    }
  }
  // CheckedNumel guarantees numel * size fits in int64.
  const uint64_t needed = static_cast<uint64_t>(*numel) * DTypeSize(*dtype);
  if (tensor.data().size() != needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ".data has ", tensor.data().size(), " bytes, but shape ",
        ShapeToString(shape), " of ", DTypeName(*dtype), " needs ", needed));
  }
  return TensorView{*dtype, shape, tensor.data().data()};
}

absl::StatusOr<PoolCall> PoolCallFromProto(const v1::PoolRequest& request,
                                           int64_t max_elements) {
  PoolCall call;
  absl::StatusOr<PoolOp> op = ParsePoolOp(request.op());
  if (!op.ok()) return op.status();
  call.op = *op;
  if (!request.has_input()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "input is not set; ", request.op(), " needs an input tensor"));
  }
  absl::StatusOr<TensorView> input =
      TensorViewFromProto(request.input(), max_elements, "input");
  if (!input.ok()) return input.status();
  call.input = *input;

  PoolArgs& args = call.args;
  args.kernel_size = ToVector(request.kernel_size());
  args.stride = ToVector(request.stride());
  if (request.padding_size() > 0) args.padding = ToVector(request.padding());
  if (request.dilation_size() > 0) args.dilation = ToVector(request.dilation());
  args.ceil_mode = request.ceil_mode();
  if (request.has_count_include_pad())
    args.count_include_pad = request.count_include_pad();
  if (request.has_divisor_override())
    args.divisor_override = request.divisor_override();
  args.output_size = ToVector(request.output_size());
  args.return_indices = request.return_indices();
  args.channels_last = request.channels_last();
  if (call.op.kind == PoolKind::kLp) {
    // PoolArgs defaults norm_type to 2, but the wire contract makes it
    // required: F.lp_pool2d has no default for it either.
    if (!request.has_norm_type()) {
      return absl::InvalidArgumentError(
          absl::StrCat("norm_type is not set; ", request.op(),
                       " requires it (the power p)"));
    }
    args.norm_type = request.norm_type();
  }
  return call;
}

absl::StatusOr<std::vector<TensorView>> ConcatInputsFromProto(
    const v1::ConcatRequest& request, int64_t max_elements) {
  if (request.tensors_size() == 0) {
    return absl::InvalidArgumentError(
        "tensors is empty; torch.cat needs at least one tensor");
  }
  std::vector<TensorView> views;
  views.reserve(static_cast<size_t>(request.tensors_size()));
  for (int i = 0; i < request.tensors_size(); ++i) {
    absl::StatusOr<TensorView> view = TensorViewFromProto(
        request.tensors(i), max_elements, absl::StrCat("tensors[", i, "]"));
    if (!view.ok()) return view.status();
    views.push_back(*view);
  }
  return views;
}

void SetTensorHeader(DType dtype, absl::Span<const int64_t> shape,
                     v1::Tensor* out) {
  out->set_dtype(DTypeToProto(dtype));
  out->mutable_shape()->Assign(shape.begin(), shape.end());
}

}  // namespace poolcat::server
