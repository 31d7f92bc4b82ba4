// torch.cat semantics: expected values were produced with PyTorch 1.13.1
// (/usr/bin/python3) and are quoted next to each case.
#include "core/concat.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

Tensor F32(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape), values);
}

template <typename T>
Tensor Make(DType dtype, std::vector<int64_t> shape, std::vector<T> values) {
  return Tensor::FromValues<T>(dtype, std::move(shape), values);
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data(), t.nbytes());
  return v;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float v;
  if (exponent == 0x1f) {
    v = mantissa ? std::numeric_limits<float>::quiet_NaN()
                 : std::numeric_limits<float>::infinity();
  } else if (exponent == 0) {
    v = std::ldexp(static_cast<float>(mantissa), -24);
  } else {
    v = std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
  }
  return sign ? -v : v;
}

float BFloat16ToFloat(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

std::vector<float> AsFloats(const Tensor& t) {
  std::vector<float> out;
  for (uint16_t h : Values<uint16_t>(t)) {
    out.push_back(t.dtype() == DType::kFloat16 ? HalfToFloat(h)
                                               : BFloat16ToFloat(h));
  }
  return out;
}

std::vector<float> Arange(int64_t n, float start = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

// The seed notebook: X = torch.cat((X, X + 1), 1) for X = arange(16) 1x1x4x4.
TEST(Cat, SeedTwoChannelCatAlongDim1) {
  const Tensor x = F32({1, 1, 4, 4}, Arange(16));
  const Tensor x1 = F32({1, 1, 4, 4}, Arange(16, 1));
  absl::StatusOr<Tensor> y = Cat({x, x1}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kFloat32);
  EXPECT_THAT(y->shape(), ElementsAre(1, 2, 4, 4));
  std::vector<float> expected = Arange(16);
  for (float v : Arange(16, 1)) expected.push_back(v);
  EXPECT_THAT(Values<float>(*y), ElementsAreArray(expected));
}

TEST(Cat, NegativeDimCountsFromTheEnd) {
  // torch.cat([arange(6.).reshape(2,3), arange(4, int32).reshape(2,2)], -1)
  const Tensor a = F32({2, 3}, Arange(6));
  const Tensor b = Make<int32_t>(DType::kInt32, {2, 2}, {0, 1, 2, 3});
  absl::StatusOr<Tensor> y = Cat({a, b}, -1);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kFloat32);
  EXPECT_THAT(y->shape(), ElementsAre(2, 5));
  EXPECT_THAT(Values<float>(*y), ElementsAre(0, 1, 2, 0, 1, 3, 4, 5, 2, 3));
}

TEST(Cat, MiddleDimWithMinusTwo) {
  // [[[0,1,2],[3,4,5],[100,101,102]]]
  const Tensor a = Make<int64_t>(DType::kInt64, {1, 2, 3}, {0, 1, 2, 3, 4, 5});
  const Tensor b = Make<int64_t>(DType::kInt64, {1, 1, 3}, {100, 101, 102});
  absl::StatusOr<Tensor> y = Cat({a, b}, -2);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->shape(), ElementsAre(1, 3, 3));
  EXPECT_THAT(Values<int64_t>(*y),
              ElementsAre(0, 1, 2, 3, 4, 5, 100, 101, 102));
}

TEST(Cat, SingleTensorIsCopied) {
  const Tensor a = F32({3}, {1, 2, 3});
  absl::StatusOr<Tensor> y = Cat({a}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_NE(y->data(), a.data());
  EXPECT_THAT(Values<float>(*y), ElementsAre(1, 2, 3));
}

// torch.cat([zeros(1, dtype=a), zeros(1, dtype=b)]).dtype for every pair.
TEST(Cat, PromotesDTypesLikeTorch) {
  const char* kNames[] = {"float32", "float64", "bfloat16", "float16", "int8",
                          "uint8",   "int16",   "int32",    "int64",   "bool"};
  const char* kTable[10][10] = {
      {"float32", "float64", "float32", "float32", "float32", "float32",
       "float32", "float32", "float32", "float32"},
      {"float64", "float64", "float64", "float64", "float64", "float64",
       "float64", "float64", "float64", "float64"},
      {"float32", "float64", "bfloat16", "float32", "bfloat16", "bfloat16",
       "bfloat16", "bfloat16", "bfloat16", "bfloat16"},
      {"float32", "float64", "float32", "float16", "float16", "float16",
       "float16", "float16", "float16", "float16"},
      {"float32", "float64", "bfloat16", "float16", "int8", "int16", "int16",
       "int32", "int64", "int8"},
      {"float32", "float64", "bfloat16", "float16", "int16", "uint8", "int16",
       "int32", "int64", "uint8"},
      {"float32", "float64", "bfloat16", "float16", "int16", "int16", "int16",
       "int32", "int64", "int16"},
      {"float32", "float64", "bfloat16", "float16", "int32", "int32", "int32",
       "int32", "int64", "int32"},
      {"float32", "float64", "bfloat16", "float16", "int64", "int64", "int64",
       "int64", "int64", "int64"},
      {"float32", "float64", "bfloat16", "float16", "int8", "uint8", "int16",
       "int32", "int64", "bool"},
  };
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 10; ++j) {
      const DType a = *DTypeFromName(kNames[i]);
      const DType b = *DTypeFromName(kNames[j]);
      absl::StatusOr<Tensor> ta = Tensor::Zeros(a, {1});
      absl::StatusOr<Tensor> tb = Tensor::Zeros(b, {1});
      absl::StatusOr<Tensor> y = Cat({*ta, *tb}, 0);
      ASSERT_TRUE(y.ok()) << y.status();
      EXPECT_EQ(DTypeName(y->dtype()), kTable[i][j])
          << kNames[i] << " + " << kNames[j];
    }
  }
}

TEST(Cat, IntToFloatConvertsValues) {
  // cat([tensor([1, 2], int32), tensor([0.5])]) -> [1., 2., 0.5]
  const Tensor a = Make<int32_t>(DType::kInt32, {2}, {1, 2});
  absl::StatusOr<Tensor> y = Cat({a, F32({1}, {0.5f})}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(Values<float>(*y), ElementsAre(1.0f, 2.0f, 0.5f));
}

TEST(Cat, LargeIntsRoundToNearestFloat) {
  // int64 [16777217, 2**31-1] with float32 -> [16777216., 2147483648.]
  const Tensor a = Make<int64_t>(DType::kInt64, {2}, {16777217, 2147483647});
  absl::StatusOr<Tensor> y = Cat({a, F32({1}, {0})}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(Values<float>(*y), ElementsAre(16777216.0f, 2147483648.0f, 0.0f));
  // int64 [2**53+1, 2**63-1] with float64 -> [2**53, 2**63]
  const Tensor b = Make<int64_t>(
      DType::kInt64, {2},
      {(int64_t{1} << 53) + 1, std::numeric_limits<int64_t>::max()});
  const Tensor zero64 = Make<double>(DType::kFloat64, {1}, {0.0});
  absl::StatusOr<Tensor> z = Cat({b, zero64}, 0);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_THAT(Values<double>(*z),
              ElementsAre(9007199254740992.0, 9223372036854775808.0, 0.0));
}

TEST(Cat, BoolToIntAndToHalf) {
  // cat([tensor([True, False]), tensor([3], int8)]) -> [1, 0, 3] int8
  const Tensor b = Make<uint8_t>(DType::kBool, {2}, {1, 0});
  const Tensor i8 = Make<int8_t>(DType::kInt8, {1}, {3});
  absl::StatusOr<Tensor> y = Cat({b, i8}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kInt8);
  EXPECT_THAT(Values<int8_t>(*y), ElementsAre(1, 0, 3));
  // cat([tensor([True, False]), tensor([0.5], float16)]) -> [1., 0., 0.5]
  const Tensor h = Make<uint16_t>(DType::kFloat16, {1}, {0x3800});  // 0.5
  absl::StatusOr<Tensor> z = Cat({b, h}, 0);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->dtype(), DType::kFloat16);
  EXPECT_THAT(AsFloats(*z), ElementsAre(1.0f, 0.0f, 0.5f));
}

TEST(Cat, Int8WithUInt8BecomesInt16) {
  // -> [-128, 127, 255] int16
  const Tensor a = Make<int8_t>(DType::kInt8, {2}, {-128, 127});
  const Tensor b = Make<uint8_t>(DType::kUInt8, {1}, {255});
  absl::StatusOr<Tensor> y = Cat({a, b}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kInt16);
  EXPECT_THAT(Values<int16_t>(*y), ElementsAre(-128, 127, 255));
}

TEST(Cat, IntsRoundToNearestEvenInHalfTypes) {
  // int16 [257, 259, -32768, 2049, 2051] with float16 ->
  //   [257, 259, -32768, 2048, 2052];
  // with bfloat16 ->
  //   [256, 260, -32768, 2048, 2048]
  const Tensor a =
      Make<int16_t>(DType::kInt16, {5}, {257, 259, -32768, 2049, 2051});
  const Tensor h = Make<uint16_t>(DType::kFloat16, {1}, {0});
  const Tensor bf = Make<uint16_t>(DType::kBFloat16, {1}, {0});
  absl::StatusOr<Tensor> y = Cat({a, h}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(AsFloats(*y), ElementsAre(257, 259, -32768, 2048, 2052, 0));
  absl::StatusOr<Tensor> z = Cat({a, bf}, 0);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_THAT(AsFloats(*z), ElementsAre(256, 260, -32768, 2048, 2048, 0));
  // int32 70000 with float16 overflows to inf; int32 16777217 in bfloat16 is
  // 2**24.
  const Tensor big = Make<int32_t>(DType::kInt32, {2}, {70000, 16777217});
  absl::StatusOr<Tensor> w = Cat({big, h}, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_THAT(AsFloats(*w),
              ElementsAre(std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::infinity(), 0));
  absl::StatusOr<Tensor> v = Cat({big, bf}, 0);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_THAT(AsFloats(*v), ElementsAre(70144, 16777216, 0));
}

TEST(Cat, Float16WithBFloat16GivesExactFloat32) {
  // cat([tensor([nan, -inf, 6e-8, 65504.], float16), tensor([0.1], bfloat16)])
  //   -> [nan, -inf, 5.960464477539063e-08, 65504.0, 0.10009765625] float32
  const Tensor h =
      Make<uint16_t>(DType::kFloat16, {4}, {0x7e00, 0xfc00, 0x0001, 0x7bff});
  const Tensor bf = Make<uint16_t>(DType::kBFloat16, {1}, {0x3dcd});
  absl::StatusOr<Tensor> y = Cat({h, bf}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kFloat32);
  const std::vector<float> v = Values<float>(*y);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[2], 5.960464477539063e-08f);
  EXPECT_EQ(v[3], 65504.0f);
  EXPECT_EQ(v[4], 0.10009765625f);
}

TEST(Cat, Float32ToFloat64IsExact) {
  // cat([tensor([0.1]), tensor([1.], float64)]) -> [0.10000000149011612, 1.0]
  const Tensor d = Make<double>(DType::kFloat64, {1}, {1.0});
  absl::StatusOr<Tensor> y = Cat({F32({1}, {0.1f}), d}, 0);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(Values<double>(*y), ElementsAre(0.10000000149011612, 1.0));
}

TEST(Cat, SkipsLegacyEmptyTensorsOfAnyRank) {
  // cat([zeros(0), zeros(2,3)], 1) has shape (2, 3).
  absl::StatusOr<Tensor> empty = Tensor::Zeros(DType::kFloat32, {0});
  const Tensor a = F32({2, 3}, Arange(6));
  absl::StatusOr<Tensor> y = Cat({*empty, a, *empty}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->shape(), ElementsAre(2, 3));
  EXPECT_THAT(Values<float>(*y), ElementsAreArray(Arange(6)));
}

TEST(Cat, SkippedTensorsStillTakePartInPromotion) {
  // cat([zeros(0, float64), zeros(2, 3)], 1).dtype == float64
  absl::StatusOr<Tensor> empty = Tensor::Zeros(DType::kFloat64, {0});
  absl::StatusOr<Tensor> y = Cat({*empty, F32({2, 3}, Arange(6))}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_EQ(y->dtype(), DType::kFloat64);
  EXPECT_THAT(Values<double>(*y), ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST(Cat, OnlyLegacyEmptiesAcceptAnyDim) {
  // cat([zeros(0), zeros(0)], 2) has shape (0,).
  absl::StatusOr<Tensor> empty = Tensor::Zeros(DType::kFloat32, {0});
  for (int64_t dim : {-1, 0, 1, 2, 5}) {
    absl::StatusOr<Tensor> y = Cat({*empty, *empty}, dim);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_THAT(y->shape(), ElementsAre(0));
  }
}

TEST(Cat, ZeroSizeInputsWithOtherShapesTakePart) {
  // cat([zeros(2,0,3), ones(2,1,3)], 1) -> shape (2,1,3)
  absl::StatusOr<Tensor> z = Tensor::Zeros(DType::kFloat32, {2, 0, 3});
  const Tensor ones = F32({2, 1, 3}, std::vector<float>(6, 1.0f));
  absl::StatusOr<Tensor> y = Cat({*z, ones}, 1);
  ASSERT_TRUE(y.ok()) << y.status();
  EXPECT_THAT(y->shape(), ElementsAre(2, 1, 3));
  EXPECT_THAT(Values<float>(*y), ElementsAreArray(std::vector<float>(6, 1.0f)));
  // cat([zeros(0,2), zeros(0,5)], 1) -> shape (0, 7)
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {0, 2});
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {0, 5});
  absl::StatusOr<Tensor> w = Cat({*a, *b}, 1);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_THAT(w->shape(), ElementsAre(0, 7));
}

TEST(Cat, ZeroSizeInputIsNotSkippedForShapeChecks) {
  // cat([zeros(0,3), zeros(2,3)], 1) fails: a (0, 3) tensor is not legacy.
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {0, 3});
  absl::StatusOr<Tensor> y = Cat({*a, F32({2, 3}, Arange(6))}, 1);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      y.status().message(),
      HasSubstr("Sizes of tensors must match except in dimension 1. Expected "
                "size 0 but got size 2 for tensor number 1 in the list."));
}

TEST(Cat, RejectsEmptyList) {
  absl::StatusOr<CatPlan> plan = PlanCat({}, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(),
              HasSubstr("torch.cat(): expected a non-empty list of Tensors"));
}

TEST(Cat, RejectsDimOutOfRange) {
  const Tensor a = F32({2, 3}, Arange(6));
  for (int64_t dim : {2, -3}) {
    absl::StatusOr<Tensor> y = Cat({a, a}, dim);
    ASSERT_FALSE(y.ok());
    EXPECT_EQ(y.status().code(), absl::StatusCode::kOutOfRange);
    EXPECT_THAT(
        y.status().message(),
        HasSubstr("Dimension out of range (expected to be in range of [-2, 1], "
                  "but got " +
                  std::to_string(dim) + ")"));
  }
}

TEST(Cat, DimRangeComesFromFirstNonSkippedTensor) {
  // cat([zeros(0), zeros(2,3,4), zeros(2,3)], 3): range [-3, 2], got 3.
  absl::StatusOr<Tensor> e = Tensor::Zeros(DType::kFloat32, {0});
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {2, 3, 4});
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {2, 3});
  absl::StatusOr<Tensor> y = Cat({*e, *a, *b}, 3);
  ASSERT_FALSE(y.ok());
  EXPECT_THAT(y.status().message(),
              HasSubstr("expected to be in range of [-3, 2], but got 3"));
}

TEST(Cat, RejectsSizeMismatchOffDim) {
  // The brief's example: dimension 1, expected 4, got 3, tensor number 1.
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {1, 2, 4});
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {1, 2, 3});
  absl::StatusOr<Tensor> y = Cat({*a, *b}, 1);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      y.status().message(),
      HasSubstr("Sizes of tensors must match except in dimension 1. Expected "
                "size 4 but got size 3 for tensor number 1 in the list."));
  EXPECT_THAT(y.status().message(), HasSubstr("tensors[1]"));
}

TEST(Cat, MismatchIndexCountsSkippedTensors) {
  // cat([zeros(2,3), zeros(0), zeros(3,2)], 0): "... tensor number 2 ..."
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {2, 3});
  absl::StatusOr<Tensor> e = Tensor::Zeros(DType::kFloat32, {0});
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {3, 2});
  absl::StatusOr<Tensor> y = Cat({*a, *e, *b}, 0);
  ASSERT_FALSE(y.ok());
  EXPECT_THAT(
      y.status().message(),
      HasSubstr(
          "Expected size 3 but got size 2 for tensor number 2 in the list."));
}

TEST(Cat, RejectsRankMismatch) {
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {2, 3});
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {2, 3, 1});
  absl::StatusOr<Tensor> y = Cat({*a, *b}, 0);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      y.status().message(),
      HasSubstr("Tensors must have same number of dimensions: got 2 and 3"));
}

TEST(Cat, RejectsZeroDimensionalTensors) {
  const Tensor scalar = F32({}, {1.0f});
  absl::StatusOr<Tensor> e = Tensor::Zeros(DType::kFloat32, {0});
  absl::StatusOr<Tensor> y = Cat({*e, scalar}, 0);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      y.status().message(),
      HasSubstr(
          "zero-dimensional tensor (at position 1) cannot be concatenated"));
}

TEST(Cat, RejectsOutputOverElementLimit) {
  absl::StatusOr<Tensor> a = Tensor::Zeros(DType::kFloat32, {4, 3});
  ExecOptions exec;
  exec.max_elements = 20;
  absl::StatusOr<Tensor> y = Cat({*a, *a}, 0, exec);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(y.status().message(), HasSubstr("24 elements"));
}

TEST(Cat, RejectsInputOverElementLimit) {
  const std::vector<int64_t> shape = {5, 6};
  const TensorView big{DType::kFloat32, shape, nullptr};
  ExecOptions exec;
  exec.max_elements = 20;
  absl::StatusOr<CatPlan> plan = PlanCat({big}, 0, exec);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("tensors[0]"));
}

TEST(Cat, RejectsNegativeSizes) {
  const std::vector<int64_t> shape = {2, -1};
  const TensorView bad{DType::kFloat32, shape, nullptr};
  absl::StatusOr<CatPlan> plan = PlanCat({bad}, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(plan.status().message(), HasSubstr("tensors[0].shape[1]"));
}

TEST(Cat, RejectsSizeSumOverflowAlongDim) {
  const int64_t huge = std::numeric_limits<int64_t>::max() / 2 + 1;
  const std::vector<int64_t> shape = {0, huge};
  const TensorView t{DType::kFloat32, shape, nullptr};
  absl::StatusOr<CatPlan> plan = PlanCat({t, t}, 1);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(Cat, RunCatWritesIntoCallerMemory) {
  const Tensor a = F32({2, 2}, {1, 2, 3, 4});
  const Tensor b = F32({2, 1}, {5, 6});
  const std::vector<TensorView> views = {a.view(), b.view()};
  absl::StatusOr<CatPlan> plan = PlanCat(views, 1);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<float> out(6, -1.0f);
  const MutableTensorView out_view{plan->dtype, plan->output_shape, out.data()};
  ASSERT_TRUE(RunCat(*plan, views, out_view).ok());
  EXPECT_THAT(out, ElementsAre(1, 2, 5, 3, 4, 6));
}

TEST(Cat, RunCatReturnsCancelledWhenRaised) {
  const Tensor a = F32({2, 2}, {1, 2, 3, 4});
  const std::vector<TensorView> views = {a.view(), a.view()};
  absl::StatusOr<CatPlan> plan = PlanCat(views, 0);
  ASSERT_TRUE(plan.ok());
  std::vector<float> out(8);
  const MutableTensorView out_view{plan->dtype, plan->output_shape, out.data()};
  std::atomic<bool> cancelled{true};
  ExecOptions exec;
  exec.cancelled = &cancelled;
  EXPECT_EQ(RunCat(*plan, views, out_view, exec).code(),
            absl::StatusCode::kCancelled);
}

// Large inputs take the threaded, chunked and streaming paths; the result
// must equal the obvious element-by-element concatenation.
void ExpectMatchesNaiveCat(const std::vector<std::vector<int64_t>>& shapes,
                           int64_t dim, int threads) {
  std::mt19937 rng(1234);
  std::vector<Tensor> inputs;
  for (const auto& s : shapes) {
    absl::StatusOr<Tensor> t = Tensor::Empty(DType::kFloat32, s);
    ASSERT_TRUE(t.ok());
    float* p = t->data_as<float>();
    for (int64_t i = 0; i < t->numel(); ++i)
      p[i] = static_cast<float>(rng() % 100000);
    inputs.push_back(*t);
  }
  ExecOptions exec;
  exec.num_threads = threads;
  absl::StatusOr<Tensor> y = Cat(inputs, dim, exec);
  ASSERT_TRUE(y.ok()) << y.status();
  int64_t outer = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shapes[0][d];
  std::vector<float> expected;
  for (int64_t o = 0; o < outer; ++o) {
    for (const Tensor& t : inputs) {
      const int64_t run = t.numel() / outer;
      const float* p = t.data_as<float>() + o * run;
      expected.insert(expected.end(), p, p + run);
    }
  }
  ASSERT_EQ(static_cast<int64_t>(expected.size()), y->numel());
  EXPECT_EQ(std::memcmp(expected.data(), y->data(), y->nbytes()), 0);
}

TEST(Cat, LargeSlicesSplitAcrossThreadsMatchNaiveCopy) {
  // 4 x 3.2 MB slices per input: split into chunks, streamed (>= 8 MB total).
  ExpectMatchesNaiveCat({{4, 100, 8001}, {4, 37, 8001}}, 1, 2);
  ExpectMatchesNaiveCat({{4, 100, 8001}, {4, 37, 8001}}, 1, 1);
}

TEST(Cat, ManySmallSlicesGroupedAcrossThreadsMatchNaiveCopy) {
  ExpectMatchesNaiveCat({{300000, 3}, {300000, 1}, {300000, 5}}, 1, 2);
  ExpectMatchesNaiveCat({{3000, 17, 3}, {3000, 2, 3}}, 1, 2);
}

TEST(Cat, MixedDTypesConvertInEveryChunk) {
  // 600k int32 + 600k float32 along dim 1 with large slices.
  std::vector<int32_t> iv(600000);
  for (size_t i = 0; i < iv.size(); ++i)
    iv[i] = static_cast<int32_t>(i) - 300000;
  const Tensor a = Make<int32_t>(DType::kInt32, {2, 300000}, iv);
  absl::StatusOr<Tensor> b = Tensor::Zeros(DType::kFloat32, {2, 300000});
  ExecOptions exec;
  exec.num_threads = 2;
  absl::StatusOr<Tensor> y = Cat({a, *b}, 1, exec);
  ASSERT_TRUE(y.ok()) << y.status();
  const float* p = y->data_as<float>();
  for (int64_t r = 0; r < 2; ++r) {
    for (int64_t i = 0; i < 300000; ++i) {
      ASSERT_EQ(p[r * 600000 + i], static_cast<float>(iv[r * 300000 + i]))
          << r << "," << i;
      ASSERT_EQ(p[r * 600000 + 300000 + i], 0.0f);
    }
  }
}

}  // namespace
}  // namespace poolcat
