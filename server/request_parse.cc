#include "server/request_parse.h"

#include <climits>
#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;
using ::google::protobuf::internal::WireFormatLite;

// What a first pass over the serialized request finds without copying any
// tensor bytes: whether the input field is present, and the size of its
// data (the last occurrence wins, as in a parse).
struct InputOnWire {
  bool present = false;
  uint64_t data_bytes = 0;
};

bool IsLengthDelimited(uint32_t tag) {
  return WireFormatLite::GetTagWireType(tag) ==
         WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
}

// Malformed input just ends the scan: the parse that follows reports it.
InputOnWire ScanForInput(grpc::ByteBuffer* bytes) {
  InputOnWire found;
  grpc::ProtoBufferReader reader(bytes);
  if (!reader.status().ok()) return found;
  google::protobuf::io::CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT_MAX);
  while (const uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) !=
            v1::PoolRequest::kInputFieldNumber ||
        !IsLengthDelimited(tag)) {
      if (!WireFormatLite::SkipField(&in, tag)) break;
      continue;
    }
    found.present = true;
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) break;
    const auto limit = in.PushLimit(static_cast<int>(length));
    while (const uint32_t inner = in.ReadTag()) {
      if (WireFormatLite::GetTagFieldNumber(inner) ==
              v1::Tensor::kDataFieldNumber &&
          IsLengthDelimited(inner)) {
        uint32_t size = 0;
        // Only a size whose bytes are really there counts: a hostile
        // length prefix must not make the server reserve memory.
        if (!in.ReadVarint32(&size) || !in.Skip(static_cast<int>(size))) break;
        found.data_bytes = size;
      } else if (!WireFormatLite::SkipField(&in, inner)) {
        break;
      }
    }
    in.PopLimit(limit);
  }
  return found;
}

// Built only on failure: a Status with a message allocates.
absl::Status NotAPoolRequest() {
  return absl::InvalidArgumentError(
      "request is not a valid protobuf message for /poolcat.v1.PoolCat/Pool");
}

}  // namespace

absl::Status ParsePoolRequest(grpc::ByteBuffer* bytes,
                              v1::PoolRequest* request) {
  const size_t length = bytes->Length();
  if (length > static_cast<size_t>(INT_MAX)) return NotAPoolRequest();
  const InputOnWire input_on_wire = ScanForInput(bytes);

  std::unique_ptr<v1::Tensor> input(request->release_input());
  request->Clear();
  if (input_on_wire.present) {
    if (input == nullptr) input = std::make_unique<v1::Tensor>();
    input->Clear();  // Keeps the data buffer's capacity.
    std::string* data = input->mutable_data();
    if (data->capacity() < input_on_wire.data_bytes) {
      data->reserve(input_on_wire.data_bytes);
      // Before the parse writes the buffer's pages for the first time.
      AdviseHugePages(data->data(), data->capacity());
    }
    request->set_allocated_input(input.release());
  }
  // Merging into the cleared message is a parse that fills the kept input
  // in place (its shape was cleared, so the packed field is not appended to).
  grpc::ProtoBufferReader reader(bytes);
  if (!reader.status().ok() || !request->MergeFromBoundedZeroCopyStream(
                                   &reader, static_cast<int>(length))) {
    return NotAPoolRequest();
  }
  return absl::OkStatus();
}

}  // namespace poolcat::server
