// client/wire.h: the zero-copy encoding parses as the generated classes
// parse it, and replies decode whatever order their fields come in.
#include "client/wire.h"

#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.pb.h"

namespace poolcat::client_internal {
namespace {

using ::testing::HasSubstr;
namespace pb = ::poolcat::v1;

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

grpc::ByteBuffer Buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

Tensor Float32(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape),
                                   absl::MakeConstSpan(values));
}

TEST(Wire, PoolRequestParsesWithEveryArgument) {
  PoolArgs args;
  args.kernel_size = {2, 3};
  args.stride = {1};
  args.padding = {0, 1};
  args.dilation = {2};
  args.ceil_mode = true;
  args.count_include_pad = false;
  args.divisor_override = 5;
  args.norm_type = 1.5;
  args.output_size = {-1, 4};
  args.channels_last = true;
  const Tensor x = Float32({1, 2, 3}, {1, 2, 3, 4, 5, 6});
  pb::PoolRequest r;
  ASSERT_TRUE(r.ParseFromString(
      Flatten(EncodePoolRequest("max_pool2d", x, args, true))));
  EXPECT_EQ(r.op(), "max_pool2d");
  EXPECT_EQ(r.input().dtype(), pb::DTYPE_FLOAT32);
  EXPECT_THAT(r.input().shape(), ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(r.input().data(), x.bytes());
  EXPECT_THAT(r.kernel_size(), ::testing::ElementsAre(2, 3));
  EXPECT_THAT(r.stride(), ::testing::ElementsAre(1));
  EXPECT_THAT(r.padding(), ::testing::ElementsAre(0, 1));
  EXPECT_THAT(r.dilation(), ::testing::ElementsAre(2));
  EXPECT_TRUE(r.ceil_mode());
  ASSERT_TRUE(r.has_count_include_pad());
  EXPECT_FALSE(r.count_include_pad());
  EXPECT_EQ(r.divisor_override(), 5);
  EXPECT_EQ(r.norm_type(), 1.5);
  EXPECT_THAT(r.output_size(), ::testing::ElementsAre(-1, 4));
  EXPECT_TRUE(r.channels_last());
  EXPECT_TRUE(r.return_indices());
}

TEST(Wire, ConcatRequestKeepsTensorOrderDtypesAndEmpties) {
  std::vector<int64_t> ints = {7, -8};
  const std::vector<Tensor> tensors = {
      Float32({2}, {1.5, 2.5}),
      Tensor::FromValues<int64_t>(DType::kInt64, {2},
                                  absl::MakeConstSpan(ints)),
      *Tensor::Empty(DType::kFloat32, {0}), Float32({}, {3})};
  pb::ConcatRequest r;
  ASSERT_TRUE(r.ParseFromString(Flatten(EncodeConcatRequest(tensors, -1))));
  EXPECT_EQ(r.dim(), -1);
  ASSERT_EQ(r.tensors_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.tensors(i).data(), tensors[i].bytes()) << i;
    EXPECT_EQ(r.tensors(i).shape_size(), tensors[i].dim()) << i;
  }
  EXPECT_EQ(r.tensors(1).dtype(), pb::DTYPE_INT64);
}

TEST(Wire, RequestPayloadOutlivesTheCallersTensor) {
  grpc::ByteBuffer request;
  {
    Tensor x = Float32({2}, {9, 10});
    request = EncodeEchoRequest(x);
  }  // the buffer still references the data
  pb::EchoRequest r;
  ASSERT_TRUE(r.ParseFromString(Flatten(request)));
  EXPECT_EQ(r.tensor().data(), Float32({2}, {9, 10}).bytes());
}

TEST(Wire, DecodesCanonicalReplies) {
  pb::PoolResponse reply;
  const Tensor y = Float32({1, 2}, {4, 5});
  reply.mutable_output()->set_dtype(pb::DTYPE_FLOAT32);
  reply.mutable_output()->add_shape(1);
  reply.mutable_output()->add_shape(2);
  reply.mutable_output()->set_data(std::string(y.bytes()));
  reply.mutable_indices()->set_dtype(pb::DTYPE_INT64);
  reply.mutable_indices()->add_shape(1);
  reply.mutable_indices()->set_data(std::string(8, '\x01'));
  grpc::ByteBuffer buffer = Buffer(reply.SerializeAsString());
  std::optional<Tensor> output, indices;
  ASSERT_TRUE(
      DecodeReply(&buffer, {{1, "output", &output}, {2, "indices", &indices}})
          .ok());
  ASSERT_TRUE(output.has_value() && indices.has_value());
  EXPECT_EQ(output->shape(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(output->bytes(), y.bytes());
  EXPECT_EQ(indices->dtype(), DType::kInt64);
  EXPECT_EQ(indices->data_as<int64_t>()[0], 0x0101010101010101);
}

TEST(Wire, DecodesFieldsInAnyOrderAndUnpackedShapes) {
  // Tensor{data, shape (unpacked), dtype}: data before what it needs.
  std::string tensor;
  tensor += "\x1a\x08";                                  // data, 8 bytes
  tensor.append("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);  // 1.0f, 2.0f
  tensor += "\x10\x02";  // shape 2 (unpacked varint)
  tensor += "\x08\x01";  // dtype float32
  tensor += "\x78\x05";  // unknown field 15, skipped
  std::string reply = "\x0a";
  reply.push_back(static_cast<char>(tensor.size()));
  reply += tensor;
  grpc::ByteBuffer buffer = Buffer(reply);
  std::optional<Tensor> output;
  ASSERT_TRUE(DecodeReply(&buffer, {{1, "output", &output}}).ok());
  ASSERT_TRUE(output.has_value());
  EXPECT_EQ(output->shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(output->data_as<float>()[1], 2.0f);
}

TEST(Wire, DecodesScalarsAndEmptyTensors) {
  pb::ConcatResponse scalar;
  scalar.mutable_output()->set_dtype(pb::DTYPE_FLOAT32);
  scalar.mutable_output()->set_data(std::string(4, '\0'));
  grpc::ByteBuffer buffer = Buffer(scalar.SerializeAsString());
  std::optional<Tensor> out;
  ASSERT_TRUE(DecodeReply(&buffer, {{1, "output", &out}}).ok());
  EXPECT_TRUE(out->shape().empty());

  pb::ConcatResponse empty;
  empty.mutable_output()->set_dtype(pb::DTYPE_FLOAT32);
  empty.mutable_output()->add_shape(0);
  empty.mutable_output()->add_shape(3);
  buffer = Buffer(empty.SerializeAsString());
  out.reset();
  ASSERT_TRUE(DecodeReply(&buffer, {{1, "output", &out}}).ok());
  EXPECT_EQ(out->shape(), (std::vector<int64_t>{0, 3}));
}

TEST(Wire, BadRepliesAreInternalNamingTheField) {
  pb::EchoResponse wrong_size;
  wrong_size.mutable_tensor()->set_dtype(pb::DTYPE_FLOAT32);
  wrong_size.mutable_tensor()->add_shape(3);
  wrong_size.mutable_tensor()->set_data(std::string(8, '\0'));
  grpc::ByteBuffer buffer = Buffer(wrong_size.SerializeAsString());
  std::optional<Tensor> out;
  absl::Status s = DecodeReply(&buffer, {{1, "tensor", &out}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("tensor"));

  std::string truncated = wrong_size.SerializeAsString();
  truncated.resize(truncated.size() - 3);
  buffer = Buffer(truncated);
  s = DecodeReply(&buffer, {{1, "tensor", &out}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("malformed"));
}

}  // namespace
}  // namespace poolcat::client_internal
