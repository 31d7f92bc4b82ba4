#include "client/wire.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/slice.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "poolcat/v1/poolcat.pb.h"
#include "proto/dtype_mapping.h"

namespace poolcat::client_internal {
namespace {

namespace pb = ::poolcat::v1;
using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// poolcat.v1.Tensor's fields.
constexpr int kTensorDType = 1;
constexpr int kTensorShape = 2;
constexpr int kTensorData = 3;
// The request fields that hold tensors.
constexpr int kPoolRequestInput = 2;
constexpr int kConcatRequestTensors = 1;
constexpr int kEchoRequestTensor = 1;

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

void AppendLengthDelimitedTag(int field, std::string* out) {
  AppendVarint(
      WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      out);
}

// Builds a ByteBuffer from serialized pieces and zero-copy payload slices.
class SliceWriter {
 public:
  std::string* pending() { return &pending_; }

  // Appends `tensor`'s bytes without copying; the slice keeps a reference
  // to the tensor's buffer until gRPC is done with it.
  void AppendPayload(const Tensor& tensor) {
    if (tensor.nbytes() == 0) return;
    Flush();
    auto* keep = new Tensor(tensor);
    slices_.emplace_back(
        const_cast<void*>(keep->data()), keep->nbytes(),
        [](void* p) { delete static_cast<Tensor*>(p); }, keep);
  }

  grpc::ByteBuffer Finish() {
    Flush();
    return grpc::ByteBuffer(slices_.data(), slices_.size());
  }

 private:
  void Flush() {
    if (pending_.empty()) return;
    slices_.emplace_back(pending_);  // copies the (small) serialized bytes
    pending_.clear();
  }

  std::string pending_;
  std::vector<grpc::Slice> slices_;
};

// Appends field `field` holding `tensor` as a poolcat.v1.Tensor message:
// dtype and shape serialized by the generated class, then the data field
// whose bytes are the tensor's own memory.
void AppendTensorField(int field, const Tensor& tensor, SliceWriter* writer) {
  pb::Tensor header;
  header.set_dtype(wire::DTypeToProto(tensor.dtype()));
  header.mutable_shape()->Assign(tensor.shape().begin(), tensor.shape().end());
  std::string data_prefix;
  AppendLengthDelimitedTag(kTensorData, &data_prefix);
  AppendVarint(tensor.nbytes(), &data_prefix);

  const std::string header_bytes = header.SerializeAsString();
  std::string* out = writer->pending();
  AppendLengthDelimitedTag(field, out);
  AppendVarint(header_bytes.size() + data_prefix.size() + tensor.nbytes(), out);
  out->append(header_bytes);
  out->append(data_prefix);
  writer->AppendPayload(tensor);
}

absl::Status Malformed(absl::string_view what) {
  return absl::InternalError(
      absl::StrCat("server reply: malformed ", what, " field"));
}

// Reads one poolcat.v1.Tensor message (the stream limited to it).
absl::StatusOr<Tensor> ReadTensor(CodedInputStream* in,
                                  absl::string_view name) {
  uint64_t dtype_value = 0;
  std::vector<int64_t> shape;
  // Canonical serializers write dtype, shape, then data: the data is then
  // read straight into a tensor of that dtype and shape. Any other order
  // goes through `early` and is checked at the end.
  std::optional<Tensor> tensor;
  std::string early;
  while (true) {
    const uint32_t tag = in->ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    if (field == kTensorDType && wire_type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in->ReadVarint64(&dtype_value)) return Malformed(name);
    } else if (field == kTensorShape &&
               wire_type == WireFormatLite::WIRETYPE_VARINT) {
      uint64_t dim = 0;
      if (!in->ReadVarint64(&dim)) return Malformed(name);
      shape.push_back(static_cast<int64_t>(dim));
    } else if (field == kTensorShape &&
               wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in->ReadVarint32(&length)) return Malformed(name);
      const CodedInputStream::Limit limit = in->PushLimit(length);
      while (in->BytesUntilLimit() > 0) {
        uint64_t dim = 0;
        if (!in->ReadVarint64(&dim)) return Malformed(name);
        shape.push_back(static_cast<int64_t>(dim));
      }
      in->PopLimit(limit);
    } else if (field == kTensorData &&
               wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in->ReadVarint32(&length)) return Malformed(name);
      std::optional<DType> dtype =
          wire::DTypeFromProto(static_cast<int64_t>(dtype_value));
      absl::StatusOr<int64_t> numel =
          dtype.has_value()
              ? CheckedNumel(shape, *dtype, kDefaultMaxElements, name)
              : absl::StatusOr<int64_t>(absl::UnknownError("no dtype yet"));
      if (numel.ok() &&
          static_cast<uint64_t>(*numel) * DTypeSize(*dtype) == length) {
        absl::StatusOr<Tensor> t = Tensor::Empty(*dtype, shape);
        if (!t.ok()) return t.status();
        if (!in->ReadRaw(t->data(), static_cast<int>(length))) {
          return Malformed(name);
        }
        tensor = *std::move(t);
        early.clear();
      } else {
        tensor.reset();
        if (!in->ReadString(&early, static_cast<int>(length))) {
          return Malformed(name);
        }
      }
    } else if (!WireFormatLite::SkipField(in, tag)) {
      return Malformed(name);
    }
  }

  std::optional<DType> dtype =
      wire::DTypeFromProto(static_cast<int64_t>(dtype_value));
  if (!dtype.has_value()) {
    return absl::InternalError(absl::StrCat("server reply: ", name,
                                            ".dtype is not a known dtype, got ",
                                            dtype_value));
  }
  if (tensor.has_value() && tensor->dtype() == *dtype &&
      tensor->shape() == shape) {
    return *std::move(tensor);
  }
  // Fields came in another order (or the data was absent or the wrong
  // size): check and copy.
  absl::StatusOr<Tensor> out = Tensor::FromBytes(
      *dtype, shape, tensor.has_value() ? tensor->bytes() : early);
  if (!out.ok()) {
    return absl::InternalError(
        absl::StrCat("server reply: ", name, ": ", out.status().message()));
  }
  return out;
}

}  // namespace

grpc::ByteBuffer EncodePoolRequest(absl::string_view op, const Tensor& input,
                                   const PoolArgs& args, bool return_indices) {
  pb::PoolRequest request;  // everything but the input tensor
  request.set_op(std::string(op));
  request.mutable_kernel_size()->Assign(args.kernel_size.begin(),
                                        args.kernel_size.end());
  request.mutable_stride()->Assign(args.stride.begin(), args.stride.end());
  request.mutable_padding()->Assign(args.padding.begin(), args.padding.end());
  request.mutable_dilation()->Assign(args.dilation.begin(),
                                     args.dilation.end());
  request.set_ceil_mode(args.ceil_mode);
  request.set_count_include_pad(args.count_include_pad);
  if (args.divisor_override.has_value()) {
    request.set_divisor_override(*args.divisor_override);
  }
  request.set_norm_type(args.norm_type);
  request.mutable_output_size()->Assign(args.output_size.begin(),
                                        args.output_size.end());
  request.set_channels_last(args.channels_last);
  request.set_return_indices(return_indices);

  SliceWriter writer;
  request.AppendToString(writer.pending());
  AppendTensorField(kPoolRequestInput, input, &writer);
  return writer.Finish();
}

grpc::ByteBuffer EncodeConcatRequest(absl::Span<const Tensor> tensors,
                                     int64_t dim) {
  pb::ConcatRequest request;  // everything but the tensors
  request.set_dim(dim);
  SliceWriter writer;
  request.AppendToString(writer.pending());
  for (const Tensor& tensor : tensors) {
    AppendTensorField(kConcatRequestTensors, tensor, &writer);
  }
  return writer.Finish();
}

grpc::ByteBuffer EncodeEchoRequest(const Tensor& tensor) {
  SliceWriter writer;
  AppendTensorField(kEchoRequestTensor, tensor, &writer);
  return writer.Finish();
}

absl::Status DecodeReply(grpc::ByteBuffer* reply,
                         absl::Span<const TensorField> fields) {
  grpc::ProtoBufferReader reader(reply);
  CodedInputStream in(&reader);
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const TensorField* target = nullptr;
    for (const TensorField& f : fields) {
      if (WireFormatLite::GetTagFieldNumber(tag) == f.number &&
          WireFormatLite::GetTagWireType(tag) ==
              WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        target = &f;
      }
    }
    if (target == nullptr) {
      if (!WireFormatLite::SkipField(&in, tag)) return Malformed("reply");
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return Malformed(target->name);
    const CodedInputStream::Limit limit = in.PushLimit(length);
    absl::StatusOr<Tensor> tensor = ReadTensor(&in, target->name);
    if (!tensor.ok()) return tensor.status();
    if (!in.ConsumedEntireMessage() || in.BytesUntilLimit() != 0) {
      return Malformed(target->name);
    }
    in.PopLimit(limit);
    *target->out = *std::move(tensor);
  }
  if (!in.ConsumedEntireMessage()) return Malformed("reply");
  return absl::OkStatus();
}

}  // namespace poolcat::client_internal
