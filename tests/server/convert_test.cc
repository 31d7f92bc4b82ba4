#include "server/convert.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;
using ::testing::HasSubstr;

v1::Tensor MakeTensor(v1::DType dtype, std::vector<int64_t> shape,
                      size_t nbytes) {
  v1::Tensor t;
  t.set_dtype(dtype);
  for (int64_t d : shape) t.add_shape(d);
  t.set_data(std::string(nbytes, '\0'));
  return t;
}

TEST(DTypeFromProto, MapsEveryWireDTypeAndBack) {
  for (DType dtype : kAllDTypes) {
    const v1::DType wire = DTypeToProto(dtype);
    ASSERT_NE(wire, v1::DTYPE_UNSPECIFIED);
    absl::StatusOr<DType> back = DTypeFromProto(wire, "input.dtype");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, dtype);
    // The wire name is the core name, upper-cased and prefixed.
    std::string name(DTypeName(dtype));
    for (char& c : name)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(v1::DType_Name(wire), "DTYPE_" + name);
  }
}

TEST(DTypeFromProto, RejectsUnspecifiedNamingTheField) {
  absl::StatusOr<DType> r =
      DTypeFromProto(v1::DTYPE_UNSPECIFIED, "tensors[1].dtype");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("tensors[1].dtype is DTYPE_UNSPECIFIED"));
  EXPECT_THAT(r.status().message(), HasSubstr("DTYPE_FLOAT32"));
}

TEST(DTypeFromProto, RejectsUnknownValueNamingIt) {
  absl::StatusOr<DType> r = DTypeFromProto(42, "input.dtype");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("input.dtype has unknown value 42"));
  r = DTypeFromProto(-7, "input.dtype");
  EXPECT_THAT(r.status().message(), HasSubstr("unknown value -7"));
}

TEST(TensorViewFromProto, ViewsTheRequestBytesWithoutCopying) {
  const v1::Tensor t = MakeTensor(v1::DTYPE_FLOAT32, {1, 1, 2, 2}, 16);
  absl::StatusOr<TensorView> view =
      TensorViewFromProto(t, kDefaultMaxElements, "input");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->dtype, DType::kFloat32);
  EXPECT_THAT(std::vector<int64_t>(view->shape.begin(), view->shape.end()),
              ::testing::ElementsAre(1, 1, 2, 2));
  EXPECT_EQ(view->data, static_cast<const void*>(t.data().data()));
}

TEST(TensorViewFromProto, ScalarShapeHasOneElement) {
  EXPECT_TRUE(
      TensorViewFromProto(MakeTensor(v1::DTYPE_INT64, {}, 8), 10, "input")
          .ok());
  EXPECT_FALSE(
      TensorViewFromProto(MakeTensor(v1::DTYPE_INT64, {}, 0), 10, "input")
          .ok());
}

TEST(TensorViewFromProto, ZeroSizedTensorHasNoBytes) {
  EXPECT_TRUE(TensorViewFromProto(MakeTensor(v1::DTYPE_FLOAT16, {3, 0, 5}, 0),
                                  10, "input")
                  .ok());
}

TEST(TensorViewFromProto, RejectsByteCountNotMatchingShape) {
  absl::StatusOr<TensorView> r =
      TensorViewFromProto(MakeTensor(v1::DTYPE_FLOAT32, {1, 1, 2, 2}, 12),
                          kDefaultMaxElements, "input");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      r.status().message(),
      "input.data has 12 bytes, but shape [1, 1, 2, 2] of float32 needs 16");
}

TEST(TensorViewFromProto, RejectsNegativeDimensionNamingIndexAndValue) {
  absl::StatusOr<TensorView> r =
      TensorViewFromProto(MakeTensor(v1::DTYPE_FLOAT32, {2, -3}, 0),
                          kDefaultMaxElements, "tensors[0]");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("tensors[0].shape[1]"));
  EXPECT_THAT(r.status().message(), HasSubstr("-3"));
}

TEST(TensorViewFromProto, RejectsUnspecifiedDType) {
  absl::StatusOr<TensorView> r = TensorViewFromProto(
      MakeTensor(v1::DTYPE_UNSPECIFIED, {2}, 8), 100, "input");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("input.dtype is DTYPE_UNSPECIFIED"));
}

TEST(TensorViewFromProto, RejectsMoreElementsThanTheLimit) {
  absl::StatusOr<TensorView> r =
      TensorViewFromProto(MakeTensor(v1::DTYPE_UINT8, {4, 4}, 16), 15, "input");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("input"));
  EXPECT_THAT(r.status().message(), HasSubstr("15"));
}

TEST(TensorViewFromProto, RejectsShapeWhoseProductOverflows) {
  const int64_t big = int64_t{1} << 40;
  absl::StatusOr<TensorView> r =
      TensorViewFromProto(MakeTensor(v1::DTYPE_FLOAT64, {big, big, big}, 0),
                          kDefaultMaxElements, "input");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("input"));
}

v1::PoolRequest MaxPoolRequest() {
  v1::PoolRequest request;
  request.set_op("max_pool2d");
  *request.mutable_input() = MakeTensor(v1::DTYPE_FLOAT32, {1, 1, 4, 4}, 64);
  request.add_kernel_size(2);
  return request;
}

TEST(PoolCallFromProto, AppliesTheProtoDefaults) {
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(MaxPoolRequest(), kDefaultMaxElements);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->op.kind, PoolKind::kMax);
  EXPECT_EQ(call->op.spatial_dims, 2);
  EXPECT_THAT(call->args.kernel_size, ::testing::ElementsAre(2));
  EXPECT_TRUE(call->args.stride.empty());
  EXPECT_THAT(call->args.padding, ::testing::ElementsAre(0));
  EXPECT_THAT(call->args.dilation, ::testing::ElementsAre(1));
  EXPECT_TRUE(call->args.count_include_pad);
  EXPECT_FALSE(call->args.divisor_override.has_value());
  EXPECT_FALSE(call->args.ceil_mode);
  EXPECT_FALSE(call->args.return_indices);
  EXPECT_FALSE(call->args.channels_last);
}

TEST(PoolCallFromProto, CopiesEverySetArgument) {
  v1::PoolRequest request = MaxPoolRequest();
  request.set_op("avg_pool2d");
  request.add_stride(1);
  request.add_stride(2);
  request.add_padding(1);
  request.add_dilation(2);
  request.set_ceil_mode(true);
  request.set_count_include_pad(false);
  request.set_divisor_override(3);
  request.set_channels_last(true);
  request.set_return_indices(true);
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->op.kind, PoolKind::kAvg);
  EXPECT_THAT(call->args.stride, ::testing::ElementsAre(1, 2));
  EXPECT_THAT(call->args.padding, ::testing::ElementsAre(1));
  EXPECT_THAT(call->args.dilation, ::testing::ElementsAre(2));
  EXPECT_TRUE(call->args.ceil_mode);
  EXPECT_FALSE(call->args.count_include_pad);
  EXPECT_EQ(call->args.divisor_override, 3);
  EXPECT_TRUE(call->args.channels_last);
  EXPECT_TRUE(call->args.return_indices);
}

TEST(PoolCallFromProto, CopiesAdaptiveOutputSize) {
  v1::PoolRequest request = MaxPoolRequest();
  request.set_op("adaptive_avg_pool2d");
  request.clear_kernel_size();
  request.add_output_size(1);
  request.add_output_size(-1);
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_THAT(call->args.output_size, ::testing::ElementsAre(1, -1));
}

TEST(PoolCallFromProto, RejectsUnknownOpNamingIt) {
  v1::PoolRequest request = MaxPoolRequest();
  request.set_op("max_pool4d");
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(), HasSubstr("max_pool4d"));
}

TEST(PoolCallFromProto, RejectsMissingInput) {
  v1::PoolRequest request = MaxPoolRequest();
  request.clear_input();
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(), HasSubstr("input is not set"));
}

TEST(PoolCallFromProto, RejectsBadInputNamingInputField) {
  v1::PoolRequest request = MaxPoolRequest();
  request.mutable_input()->set_data(std::string(60, '\0'));
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      call.status().message(),
      "input.data has 60 bytes, but shape [1, 1, 4, 4] of float32 needs 64");
}

TEST(PoolCallFromProto, LpPoolRequiresNormType) {
  v1::PoolRequest request = MaxPoolRequest();
  request.set_op("lp_pool2d");
  absl::StatusOr<PoolCall> call =
      PoolCallFromProto(request, kDefaultMaxElements);
  EXPECT_EQ(call.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(call.status().message(), HasSubstr("norm_type is not set"));
  request.set_norm_type(3.0);
  call = PoolCallFromProto(request, kDefaultMaxElements);
  ASSERT_TRUE(call.ok()) << call.status();
  EXPECT_EQ(call->args.norm_type, 3.0);
}

TEST(ConcatInputsFromProto, RejectsEmptyTensorList) {
  v1::ConcatRequest request;
  absl::StatusOr<std::vector<TensorView>> r =
      ConcatInputsFromProto(request, 100);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("tensors is empty"));
}

TEST(ConcatInputsFromProto, NamesTheBadTensorByIndex) {
  v1::ConcatRequest request;
  *request.add_tensors() = MakeTensor(v1::DTYPE_INT32, {2}, 8);
  *request.add_tensors() = MakeTensor(v1::DTYPE_INT32, {2}, 7);
  absl::StatusOr<std::vector<TensorView>> r =
      ConcatInputsFromProto(request, 100);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "tensors[1].data has 7 bytes, but shape [2] of int32 needs 8");
}

TEST(ConcatInputsFromProto, ViewsEveryTensor) {
  v1::ConcatRequest request;
  *request.add_tensors() = MakeTensor(v1::DTYPE_INT32, {2}, 8);
  *request.add_tensors() = MakeTensor(v1::DTYPE_FLOAT64, {3}, 24);
  absl::StatusOr<std::vector<TensorView>> r =
      ConcatInputsFromProto(request, 100);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].dtype, DType::kFloat64);
  EXPECT_EQ((*r)[1].data,
            static_cast<const void*>(request.tensors(1).data().data()));
}

TEST(SetTensorHeader, WritesDTypeAndShape) {
  v1::Tensor t;
  const int64_t shape[] = {2, 3};
  SetTensorHeader(DType::kBFloat16, shape, &t);
  EXPECT_EQ(t.dtype(), v1::DTYPE_BFLOAT16);
  EXPECT_THAT(t.shape(), ::testing::ElementsAre(2, 3));
}

}  // namespace
}  // namespace poolcat::server
