#include "server/request_parse.h"

#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;
using ::google::protobuf::util::MessageDifferencer;

// `wire` as gRPC might deliver it: split into slices of `slice_bytes`.
grpc::ByteBuffer Buffer(const std::string& wire, size_t slice_bytes = 7) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < wire.size(); at += slice_bytes) {
    slices.emplace_back(wire.substr(at, slice_bytes));
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

v1::PoolRequest Request(std::string data) {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  request.add_kernel_size(2);
  request.set_channels_last(true);
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(v1::DTYPE_FLOAT32);
  input->add_shape(1);
  input->add_shape(static_cast<int64_t>(data.size() / 4));
  input->set_data(std::move(data));
  return request;
}

// A pooled message as the server's recycler leaves it: cleared, with its
// input tensor (and that buffer's capacity) still attached.
void Recycle(v1::PoolRequest* request) {
  v1::Tensor* input = request->release_input();
  request->Clear();
  input->Clear();
  request->set_allocated_input(input);
}

void ExpectParsesAsProtobufDoes(const std::string& wire,
                                v1::PoolRequest* pooled) {
  v1::PoolRequest expected;
  ASSERT_TRUE(expected.ParseFromString(wire));
  grpc::ByteBuffer buffer = Buffer(wire);
  ASSERT_TRUE(ParsePoolRequest(&buffer, pooled).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*pooled, expected))
      << pooled->DebugString() << "\nexpected\n"
      << expected.DebugString();
  EXPECT_EQ(pooled->has_input(), expected.has_input());
}

TEST(ParsePoolRequest, ReusesTheKeptInputBuffer) {
  v1::PoolRequest pooled;
  ExpectParsesAsProtobufDoes(
      Request(std::string(4000, 'a')).SerializeAsString(), &pooled);
  const char* buffer = pooled.input().data().data();
  Recycle(&pooled);
  // A smaller and then an equal input land in the same buffer.
  ExpectParsesAsProtobufDoes(Request(std::string(400, 'b')).SerializeAsString(),
                             &pooled);
  EXPECT_EQ(pooled.input().data().data(), buffer);
  Recycle(&pooled);
  ExpectParsesAsProtobufDoes(
      Request(std::string(4000, 'c')).SerializeAsString(), &pooled);
  EXPECT_EQ(pooled.input().data().data(), buffer);
}

TEST(ParsePoolRequest, ReservesTheWholeInputOnce) {
  // protobuf alone would reserve at most 50 MB and grow from there.
  const size_t size = (size_t{60} << 20) + 12;
  v1::PoolRequest pooled;
  ExpectParsesAsProtobufDoes(
      Request(std::string(size, 'x')).SerializeAsString(), &pooled);
  EXPECT_GE(pooled.input().data().capacity(), size);
  EXPECT_LT(pooled.input().data().capacity(), size + (size_t{1} << 20));
}

TEST(ParsePoolRequest, AbsentInputStaysAbsentInAPooledMessage) {
  v1::PoolRequest pooled = Request("abcd");
  Recycle(&pooled);
  v1::PoolRequest no_input;
  no_input.set_op("max_pool2d");
  ExpectParsesAsProtobufDoes(no_input.SerializeAsString(), &pooled);
  EXPECT_FALSE(pooled.has_input());
  // An input present but empty on the wire is set, as protobuf has it.
  v1::PoolRequest empty_input;
  empty_input.mutable_input();
  ExpectParsesAsProtobufDoes(empty_input.SerializeAsString(), &pooled);
  EXPECT_TRUE(pooled.has_input());
}

TEST(ParsePoolRequest, FieldsOfThePreviousCallDoNotLeakIntoTheNext) {
  v1::PoolRequest pooled = Request("abcdefgh");
  pooled.set_return_indices(true);
  pooled.add_stride(2);
  Recycle(&pooled);
  v1::PoolRequest next;
  next.set_op("avg_pool1d");
  next.mutable_input()->add_shape(3);  // No dtype, no data.
  ExpectParsesAsProtobufDoes(next.SerializeAsString(), &pooled);
  EXPECT_EQ(pooled.input().shape_size(), 1);
  EXPECT_TRUE(pooled.input().data().empty());
}

TEST(ParsePoolRequest, RepeatedInputFieldsMergeAsProtobufMerges) {
  const std::string first = Request("abcd").SerializeAsString();
  v1::PoolRequest second;
  second.mutable_input()->add_shape(7);
  second.mutable_input()->set_data("wxyz0123");
  v1::PoolRequest pooled = Request(std::string(100, 'q'));
  Recycle(&pooled);
  ExpectParsesAsProtobufDoes(first + second.SerializeAsString(), &pooled);
  EXPECT_EQ(pooled.input().data(), "wxyz0123");
}

TEST(ParsePoolRequest, RefusesBytesThatAreNotAPoolRequest) {
  v1::PoolRequest pooled;
  for (const std::string& wire :
       {std::string("\xff\xff\xff", 3), std::string("\x12\x05\x1a", 3),
        std::string("\x0a\x10short", 7)}) {
    grpc::ByteBuffer buffer = Buffer(wire);
    const absl::Status status = ParsePoolRequest(&buffer, &pooled);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(),
              "request is not a valid protobuf message for "
              "/poolcat.v1.PoolCat/Pool");
  }
}

TEST(ParsePoolRequest, AHostileDataLengthReservesNothing) {
  // input { data: <claims 1 GB, carries 3 bytes> }
  const std::string wire("\x12\x08\x1a\x80\x80\x80\x80\x04xyz", 10);
  v1::PoolRequest pooled;
  grpc::ByteBuffer buffer = Buffer(wire);
  EXPECT_EQ(ParsePoolRequest(&buffer, &pooled).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_LT(pooled.mutable_input()->mutable_data()->capacity(), 1u << 20);
}

}  // namespace
}  // namespace poolcat::server
