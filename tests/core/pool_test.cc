// Unit tests of the pooling family (core/pool.h): the seed notebook's
// examples with their printed numbers, PyTorch 1.13 edge-case behaviour
// (checked against torch 1.13.1 when written), every dtype and layout, and
// every argument error with its message.
#include "core/pool.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/float16.h"
#include "core/shape_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

Tensor F32(std::vector<int64_t> shape, const std::vector<float>& values) {
  // FromValues memcpy's from values.data(), which may be null when empty.
  if (values.empty()) return *Tensor::Zeros(DType::kFloat32, std::move(shape));
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape),
                                   absl::MakeConstSpan(values));
}

// 0, 1, 2, ... as float32 (torch.arange).
Tensor Arange(std::vector<int64_t> shape, float offset = 0) {
  std::vector<float> v(NumElements(shape));
  std::iota(v.begin(), v.end(), offset);
  return F32(std::move(shape), v);
}

std::vector<float> Floats(const Tensor& t) {
  const float* p = t.data_as<float>();
  return std::vector<float>(p, p + t.numel());
}

std::vector<int64_t> Longs(const Tensor& t) {
  const int64_t* p = t.data_as<int64_t>();
  return std::vector<int64_t>(p, p + t.numel());
}

PoolResult MustPool(absl::string_view op, const Tensor& input,
                    const PoolArgs& args, const ExecOptions& exec = {}) {
  absl::StatusOr<PoolResult> r = Pool(op, input, args, exec);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return PoolResult{Tensor(), std::nullopt};
  return *std::move(r);
}

absl::Status PoolError(absl::string_view op, const Tensor& input,
                       const PoolArgs& args, const ExecOptions& exec = {}) {
  absl::StatusOr<PoolResult> r = Pool(op, input, args, exec);
  return r.status();
}

PoolArgs Window(std::vector<int64_t> kernel, std::vector<int64_t> stride = {},
                std::vector<int64_t> padding = {0}) {
  PoolArgs a;
  a.kernel_size = std::move(kernel);
  a.stride = std::move(stride);
  a.padding = std::move(padding);
  return a;
}

PoolArgs Adaptive(std::vector<int64_t> output_size) {
  PoolArgs a;
  a.output_size = std::move(output_size);
  return a;
}

// Reorders a channels-first (N, C, *spatial) float tensor to (N, *spatial, C).
Tensor ToChannelsLast(const Tensor& t) {
  const int64_t n = t.size(0), c = t.size(1);
  const int64_t plane = t.numel() / (n * c);
  std::vector<int64_t> shape = {n};
  for (int64_t d = 2; d < t.dim(); ++d) shape.push_back(t.size(d));
  shape.push_back(c);
  std::vector<float> src = Floats(t), dst(src.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t s = 0; s < plane; ++s)
        dst[(i * plane + s) * c + j] = src[(i * c + j) * plane + s];
  return F32(shape, dst);
}

// Pseudo-random floats in [-4, 4) with a few ties (deterministic LCG).
Tensor Noise(std::vector<int64_t> shape, uint32_t seed) {
  std::vector<float> v(NumElements(shape));
  for (float& x : v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>((seed >> 8) % 4096) / 512.0f - 4.0f;
    if ((seed >> 4) % 7 == 0) x = std::round(x);
  }
  return F32(std::move(shape), v);
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// ---------------------------------------------------------------------------
// The seed notebook (d2l "Pooling"), with its printed numbers.

TEST(SeedNotebook, MaxPool2dOn3x3ArangeWithKernel2Stride1) {
  PoolResult r = MustPool("max_pool2d", Arange({1, 3, 3}), Window({2}, {1}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(4, 5, 7, 8));
}

TEST(SeedNotebook, AvgPool2dOn3x3ArangeWithKernel2Stride1) {
  PoolResult r = MustPool("avg_pool2d", Arange({1, 3, 3}), Window({2}, {1}));
  EXPECT_THAT(Floats(r.output), ElementsAre(2, 3, 5, 6));
}

TEST(SeedNotebook, MaxPool2dKernel3On4x4ArangeGives10) {
  PoolResult r = MustPool("max_pool2d", Arange({1, 1, 4, 4}), Window({3}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_THAT(Floats(r.output), ElementsAre(10));
}

TEST(SeedNotebook, MaxPool2dPadding1Stride2) {
  PoolResult r =
      MustPool("max_pool2d", Arange({1, 1, 4, 4}), Window({3}, {2}, {1}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(5, 7, 13, 15));
}

TEST(SeedNotebook, MaxPool2dKernel2x3Stride2x3Padding0x1) {
  PoolResult r = MustPool("max_pool2d", Arange({1, 1, 4, 4}),
                          Window({2, 3}, {2, 3}, {0, 1}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(5, 7, 13, 15));
}

TEST(SeedNotebook, TwoChannelInputPoolsEachChannel) {
  // torch.cat((X, X + 1), 1), built directly.
  std::vector<float> v = Floats(Arange({16}));
  std::vector<float> plus_one = Floats(Arange({16}, 1));
  v.insert(v.end(), plus_one.begin(), plus_one.end());
  PoolResult r =
      MustPool("max_pool2d", F32({1, 2, 4, 4}, v), Window({3}, {2}, {1}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(5, 7, 13, 15, 6, 8, 14, 16));
}

TEST(SeedNotebook, MaxPool2x2OfTheExampleMatrix) {
  const Tensor x =
      F32({1, 1, 4, 4}, {1, 3, 2, 4, 5, 6, 7, 8, 9, 2, 1, 0, 3, 4, 5, 6});
  PoolResult r = MustPool("max_pool2d", x, Window({2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(6, 8, 9, 6));
}

TEST(SeedNotebook, GlobalAveragePoolingGivesOneValuePerChannel) {
  std::vector<float> v = Floats(Arange({16}));
  std::vector<float> plus_one = Floats(Arange({16}, 1));
  v.insert(v.end(), plus_one.begin(), plus_one.end());
  PoolResult r =
      MustPool("adaptive_avg_pool2d", F32({1, 2, 4, 4}, v), Adaptive({1}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_THAT(Floats(r.output), ElementsAre(7.5f, 8.5f));
}

// ---------------------------------------------------------------------------
// Op names.

TEST(PoolOpName, RoundTripsEveryOp) {
  for (const char* name :
       {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d",
        "avg_pool3d", "lp_pool1d", "lp_pool2d", "adaptive_max_pool1d",
        "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_avg_pool1d",
        "adaptive_avg_pool2d", "adaptive_avg_pool3d"}) {
    absl::StatusOr<PoolOp> op = ParsePoolOp(name);
    ASSERT_TRUE(op.ok()) << name;
    EXPECT_EQ(PoolOpName(*op), name);
  }
}

TEST(ParsePoolOp, RejectsUnknownNamesNamingThem) {
  for (const char* name :
       {"lp_pool3d", "max_pool4d", "max_pool", "maxpool2d", ""}) {
    absl::StatusOr<PoolOp> op = ParsePoolOp(name);
    EXPECT_EQ(op.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(op.status().message(),
                HasSubstr(absl::StrCat("\"", name, "\"")));
  }
}

// ---------------------------------------------------------------------------
// Max pooling semantics.

TEST(MaxPool2d, NanWinsAndTheLastNanGivesTheIndex) {
  PoolArgs a = Window({2});
  a.return_indices = true;
  PoolResult r =
      MustPool("max_pool2d", F32({1, 1, 2, 2}, {1, kNan, kNan, 2}), a);
  EXPECT_TRUE(std::isnan(Floats(r.output)[0]));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(2));
}

TEST(MaxPool2d, TiesKeepTheFirstIndex) {
  PoolArgs a = Window({2});
  a.return_indices = true;
  PoolResult r = MustPool("max_pool2d", F32({1, 1, 2, 2}, {1, 1, 1, 1}), a);
  EXPECT_THAT(Longs(*r.indices), ElementsAre(0));
}

TEST(MaxPool2d, AllMinusInfinityWindowsReportTheirFirstInputPosition) {
  PoolArgs a = Window({2}, {2}, {1});
  a.return_indices = true;
  PoolResult r = MustPool("max_pool2d",
                          F32({1, 1, 3, 3}, std::vector<float>(9, -kInf)), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(-kInf, -kInf, -kInf, -kInf));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(0, 1, 3, 4));
}

TEST(MaxPool3d, AllMinusInfinityWindowIndexIsTheWindowStart) {
  PoolArgs a = Window({2});
  a.return_indices = true;
  PoolResult r = MustPool(
      "max_pool3d", F32({1, 1, 2, 2, 2}, std::vector<float>(8, -kInf)), a);
  EXPECT_THAT(Longs(*r.indices), ElementsAre(0));
}

TEST(MaxPool1d, DilationSkipsInputs) {
  PoolArgs a = Window({2}, {1});
  a.dilation = {3};
  a.return_indices = true;
  PoolResult r = MustPool("max_pool1d", Arange({1, 1, 8}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(3, 4, 5, 6, 7));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(3, 4, 5, 6, 7));
}

TEST(MaxPool1d, DilatedWindowInsidePaddingKeepsPyTorchsIndex) {
  // torch 1.13: max_pool1d(ones(1,1,2), 2, 1, 1, 3, return_indices=True)
  // gives (-inf, 2): the first tap is padding, the second past the end.
  PoolArgs a = Window({2}, {1}, {1});
  a.dilation = {3};
  a.return_indices = true;
  PoolResult r = MustPool("max_pool1d", F32({1, 1, 2}, {1, 1}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(-kInf));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(2));
}

TEST(MaxPool1d, WithoutIndicesAllowsAnEmptyOutputLikeTorch113) {
  PoolResult r = MustPool("max_pool1d", Arange({1, 1, 4}), Window({5}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 0}));
}

TEST(MaxPool1d, WithIndicesRejectsAnEmptyOutput) {
  PoolArgs a = Window({5});
  a.return_indices = true;
  absl::Status s = PoolError("max_pool1d", Arange({1, 1, 4}), a);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("Output size is too small"));
  EXPECT_THAT(s.message(), HasSubstr("kernel_size=[5]"));
}

TEST(MaxPool1d, RejectsANegativeOutputSizeEvenWithoutIndices) {
  absl::Status s = PoolError("max_pool1d", Arange({1, 1, 2}), Window({4}, {1}));
  EXPECT_THAT(s.message(), HasSubstr("Invalid computed output size: [-1]"));
}

TEST(MaxPool2d, CeilModeAddsAPartialLastWindow) {
  PoolArgs a = Window({2}, {2});
  a.ceil_mode = true;
  PoolResult r = MustPool("max_pool2d", Arange({1, 1, 5, 5}), a);
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 3, 3}));
  EXPECT_THAT(Floats(r.output), ElementsAre(6, 8, 9, 16, 18, 19, 21, 23, 24));
}

TEST(MaxPool2d, PaddingOfHalfTheKernelIsAccepted) {
  PoolResult r =
      MustPool("max_pool2d", Arange({1, 1, 3, 3}), Window({4}, {1}, {2}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 4, 4}));
}

TEST(MaxPool2d, OneByOneInputWithKernelOne) {
  PoolResult r = MustPool("max_pool2d", F32({1, 1, 1, 1}, {-3}), Window({1}));
  EXPECT_THAT(Floats(r.output), ElementsAre(-3));
}

TEST(MaxPool2d, ZeroBatchGivesAnEmptyOutput) {
  PoolArgs a = Window({2});
  a.return_indices = true;
  PoolResult r = MustPool("max_pool2d", F32({0, 3, 4, 4}, {}), a);
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{0, 3, 2, 2}));
  EXPECT_EQ(r.indices->shape(), (std::vector<int64_t>{0, 3, 2, 2}));
}

TEST(MaxPool2d, HugeKernelWithHugePaddingCoversTheWholeInput) {
  // Output size (4 + 2^40 - (2^40 - 1) - 1) + 1 = 5 per dim, every window
  // holding the whole input; torch itself fails with "integer out of range".
  const int64_t k = int64_t{1} << 40;
  PoolResult r =
      MustPool("max_pool2d", Arange({1, 1, 4, 4}), Window({k}, {1}, {k / 2}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 5, 5}));
  for (float v : Floats(r.output)) EXPECT_EQ(v, 15);
}

TEST(MaxPool2d, HugeStrideGivesOneWindow) {
  const int64_t s = std::numeric_limits<int64_t>::max();
  PoolResult r = MustPool("max_pool2d", Arange({1, 1, 4, 4}), Window({2}, {s}));
  EXPECT_THAT(Floats(r.output), ElementsAre(5));
}

TEST(MaxPool2d, MaximalKernelIsACleanErrorNotOverflow) {
  const int64_t k = std::numeric_limits<int64_t>::max();
  absl::Status s = PoolError("max_pool2d", Arange({1, 1, 4, 4}), Window({k}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("Output size is too small"));
  PoolArgs a = Window({2});
  a.dilation = {std::numeric_limits<int64_t>::max()};
  EXPECT_EQ(PoolError("max_pool2d", Arange({1, 1, 4, 4}), a).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MaxPool2d, UnbatchedEqualsBatchedWithOneSample) {
  const Tensor batched = Noise({1, 3, 7, 6}, 1);
  const Tensor unbatched = F32({3, 7, 6}, Floats(batched));
  PoolArgs a = Window({3}, {2}, {1});
  a.return_indices = true;
  PoolResult rb = MustPool("max_pool2d", batched, a);
  PoolResult ru = MustPool("max_pool2d", unbatched, a);
  EXPECT_EQ(ru.output.shape(), (std::vector<int64_t>{3, 4, 3}));
  EXPECT_EQ(Floats(ru.output), Floats(rb.output));
  EXPECT_EQ(Longs(*ru.indices), Longs(*rb.indices));
}

TEST(MaxPool3d, ChannelsLastEqualsPermutedChannelsFirst) {
  const Tensor x = Noise({2, 5, 4, 5, 6}, 2);
  PoolArgs a = Window({2, 3, 2}, {1, 2, 2}, {1, 1, 0});
  a.return_indices = true;
  a.ceil_mode = true;
  PoolResult cf = MustPool("max_pool3d", x, a);
  a.channels_last = true;
  PoolResult cl = MustPool("max_pool3d", ToChannelsLast(x), a);
  EXPECT_EQ(Floats(cl.output), Floats(ToChannelsLast(cf.output)));
  // Indices stay per spatial plane, laid out like the output.
  std::vector<int64_t> cf_idx = Longs(*cf.indices), cl_idx = Longs(*cl.indices);
  const int64_t plane = cf.output.numel() / 10;
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 5; ++c)
      for (int64_t s = 0; s < plane; ++s)
        EXPECT_EQ(cl_idx[(n * plane + s) * 5 + c],
                  cf_idx[(n * 5 + c) * plane + s]);
}

TEST(MaxPool2d, EveryIntegerDtypeKeepsExactValues) {
  for (DType dt : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kInt32,
                   DType::kInt64}) {
    const size_t es = DTypeSize(dt);
    std::string bytes(4 * es, '\0');
    // Values 1, 7, 3, 7 (little-endian, fits every integer type).
    const uint8_t vals[4] = {1, 7, 3, 7};
    for (int i = 0; i < 4; ++i) bytes[i * es] = static_cast<char>(vals[i]);
    Tensor x = *Tensor::FromBytes(dt, {1, 1, 2, 2}, bytes);
    PoolArgs a = Window({2});
    a.return_indices = true;
    PoolResult r = MustPool("max_pool2d", x, a);
    EXPECT_EQ(r.output.dtype(), dt);
    EXPECT_EQ(static_cast<uint8_t>(r.output.bytes()[0]), 7) << DTypeName(dt);
    EXPECT_THAT(Longs(*r.indices), ElementsAre(1)) << DTypeName(dt);
  }
}

TEST(MaxPool2d, IntegerLowestValuesKeepTheFirstIndex) {
  const std::vector<int32_t> v(4, std::numeric_limits<int32_t>::min());
  Tensor x = Tensor::FromValues<int32_t>(DType::kInt32, {1, 1, 2, 2},
                                         absl::MakeConstSpan(v));
  PoolArgs a = Window({2});
  a.return_indices = true;
  PoolResult r = MustPool("max_pool2d", x, a);
  EXPECT_EQ(r.output.data_as<int32_t>()[0],
            std::numeric_limits<int32_t>::min());
  EXPECT_THAT(Longs(*r.indices), ElementsAre(0));
}

TEST(MaxPool2d, SixteenBitFloatsKeepExactValues) {
  const std::vector<uint16_t> bf = {
      FloatToBFloat16(1.5f).bits, FloatToBFloat16(-2).bits,
      FloatToBFloat16(3.25f).bits, FloatToBFloat16(0).bits};
  PoolResult r =
      MustPool("max_pool2d",
               Tensor::FromValues<uint16_t>(DType::kBFloat16, {1, 1, 2, 2},
                                            absl::MakeConstSpan(bf)),
               Window({2}));
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], bf[2]);
  const std::vector<uint16_t> h = {
      FloatToFloat16(1.5f).bits, FloatToFloat16(-2).bits,
      FloatToFloat16(0.1f).bits, FloatToFloat16(4).bits};
  r = MustPool("max_pool2d",
               Tensor::FromValues<uint16_t>(DType::kFloat16, {1, 1, 2, 2},
                                            absl::MakeConstSpan(h)),
               Window({2}));
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], h[3]);
}

TEST(MaxPool2d, Float64IsSupported) {
  const std::vector<double> v = {0.1, 0.7, -1, 0.3};
  PoolResult r =
      MustPool("max_pool2d",
               Tensor::FromValues<double>(DType::kFloat64, {1, 1, 2, 2},
                                          absl::MakeConstSpan(v)),
               Window({2}));
  EXPECT_EQ(r.output.data_as<double>()[0], 0.7);
}

// ---------------------------------------------------------------------------
// Average pooling semantics.

TEST(AvgPool1d, CeilModeClipsTheLastWindowDivisor) {
  // torch: avg_pool1d(arange(5), 2, 2, 0, True) -> [0.5, 2.5, 4.0]
  PoolArgs a = Window({2}, {2});
  a.ceil_mode = true;
  EXPECT_THAT(Floats(MustPool("avg_pool1d", Arange({1, 1, 5}), a).output),
              ElementsAre(0.5f, 2.5f, 4.0f));
}

TEST(AvgPool1d, CountIncludePadFalseDividesByRealElements) {
  // torch: avg_pool1d(arange(5), 2, 2, 1, True, False) -> [0, 1.5, 3.5]
  PoolArgs a = Window({2}, {2}, {1});
  a.ceil_mode = true;
  a.count_include_pad = false;
  EXPECT_THAT(Floats(MustPool("avg_pool1d", Arange({1, 1, 5}), a).output),
              ElementsAre(0.0f, 1.5f, 3.5f));
}

TEST(AvgPool1d, CeilModeDropsAWindowStartingInTheRightPadding) {
  // in 5, k 2, s 2, p 1: (5 + 2 - 2 + 1) / 2 + 1 = 4, but window 3 would
  // start at 6 - 1 = 5 >= in, so 3 windows remain.
  PoolArgs a = Window({2}, {2}, {1});
  a.ceil_mode = true;
  EXPECT_EQ(MustPool("avg_pool1d", Arange({1, 1, 5}), a).output.shape(),
            (std::vector<int64_t>{1, 1, 3}));
}

TEST(AvgPool2d, CountIncludePadCountsPaddedElements) {
  // 3x3 arange, k 2, s 2, p 1: windows of 1, 2, 2, 4 real elements.
  PoolResult r =
      MustPool("avg_pool2d", Arange({1, 1, 3, 3}), Window({2}, {2}, {1}));
  EXPECT_THAT(Floats(r.output),
              ElementsAre(0.0f / 4, 3.0f / 4, 9.0f / 4, 24.0f / 4));
}

TEST(AvgPool2d, DivisorOverrideReplacesTheWindowSize) {
  PoolArgs a = Window({2});
  a.divisor_override = 3;
  PoolResult r = MustPool("avg_pool2d", Arange({1, 1, 2, 2}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(2.0f));
}

TEST(AvgPool2d, NegativeDivisorOfZeroSumGivesPositiveZeroChannelsFirst) {
  // ATen adds the quotient to a zeroed output: 0 + (-0) = +0.
  PoolArgs a = Window({2});
  a.divisor_override = -2;
  PoolResult r = MustPool("avg_pool2d", F32({1, 1, 2, 2}, {0, 0, 0, 0}), a);
  EXPECT_EQ(Bits(Floats(r.output)[0]), 0u);
  // Its channels-last kernel stores the quotient, -0.
  a.channels_last = true;
  r = MustPool("avg_pool2d", F32({1, 2, 2, 1}, {0, 0, 0, 0}), a);
  EXPECT_EQ(Bits(Floats(r.output)[0]), 0x80000000u);
}

TEST(AvgPool3d, DivisorOverrideIsTruncatedToIntLikeAten) {
  // avg_pool3d_out_frame stores the factor in an int: 2^32 + 1 -> 1.
  PoolArgs a = Window({2});
  a.divisor_override = (int64_t{1} << 32) + 1;
  PoolResult r =
      MustPool("avg_pool3d", F32({1, 1, 2, 2, 2}, std::vector<float>(8, 1)), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(8.0f));
}

TEST(AvgPool2d, SumsInRowMajorOrderInFloat) {
  // 1e8 + 1 + (-1e8) + 1 in float32 row-major order is 1 (1e8 + 1 rounds
  // to 1e8); the exact average would be 0.5.
  PoolResult r = MustPool("avg_pool2d", F32({1, 1, 2, 2}, {1e8f, 1, -1e8f, 1}),
                          Window({2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(0.25f));
}

TEST(AvgPool2d, BFloat16AccumulatesInFloatAndRoundsToNearestEven) {
  // (1 + 1.0078125) / 2 = 1.00390625, a tie between bfloat16 1 and
  // 1.0078125: ties to even gives 1. (1 + 1.0234375) / 2 = 1.01171875 ->
  // 1.015625. Both as torch 1.13 prints.
  auto avg = [](float a, float b) {
    const std::vector<uint16_t> v = {FloatToBFloat16(a).bits,
                                     FloatToBFloat16(b).bits};
    PoolResult r =
        MustPool("avg_pool2d",
                 Tensor::FromValues<uint16_t>(DType::kBFloat16, {1, 1, 1, 2},
                                              absl::MakeConstSpan(v)),
                 Window({1, 2}));
    return BFloat16ToFloat(BFloat16{r.output.data_as<uint16_t>()[0]});
  };
  EXPECT_EQ(avg(1.0f, 1.0078125f), 1.0f);
  EXPECT_EQ(avg(1.0f, 1.0234375f), 1.015625f);
}

TEST(AvgPool2d, Float16ComputesInFloatAndRoundsOnce) {
  const std::vector<uint16_t> v = {
      FloatToFloat16(1).bits, FloatToFloat16(0.1f).bits,
      FloatToFloat16(0.2f).bits, FloatToFloat16(0.3f).bits};
  PoolResult r =
      MustPool("avg_pool2d",
               Tensor::FromValues<uint16_t>(DType::kFloat16, {1, 1, 2, 2},
                                            absl::MakeConstSpan(v)),
               Window({2}));
  float sum = 0;
  for (uint16_t h : v) sum += Float16ToFloat(Float16{h});
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], FloatToFloat16(sum / 4).bits);
}

TEST(AvgPool2d, HugeKernelWithoutPadCountingAveragesTheWholeInput) {
  const int64_t k = int64_t{1} << 40;
  PoolArgs a = Window({k}, {1}, {k / 2});
  a.count_include_pad = false;
  PoolResult r = MustPool("avg_pool2d", Arange({1, 1, 4, 4}), a);
  for (float v : Floats(r.output)) EXPECT_EQ(v, 7.5f);
}

TEST(AvgPool2d, ChannelsLastEqualsPermutedChannelsFirst) {
  const Tensor x = Noise({2, 9, 7, 8}, 3);
  PoolArgs a = Window({3, 2}, {2, 3}, {1, 1});
  a.ceil_mode = true;
  a.count_include_pad = false;
  PoolResult cf = MustPool("avg_pool2d", x, a);
  a.channels_last = true;
  PoolResult cl = MustPool("avg_pool2d", ToChannelsLast(x), a);
  EXPECT_EQ(Floats(cl.output), Floats(ToChannelsLast(cf.output)));
}

TEST(ChannelsLast, EqualsPermutedChannelsFirstForEveryOpAndRank) {
  // Adaptive average pooling is left out on purpose: torch's channels-last
  // kernels round some of its divisions differently (see adaptive_pool.h).
  struct Case {
    const char* op;
    std::vector<int64_t> shape;
    PoolArgs args;
  };
  PoolArgs max_args = Window({3}, {2}, {1});
  max_args.return_indices = true;
  max_args.ceil_mode = true;
  PoolArgs avg_args = Window({2}, {1}, {1});
  avg_args.count_include_pad = false;
  PoolArgs lp_args = Window({2}, {1});
  PoolArgs amax_args = Adaptive({3});
  amax_args.return_indices = true;
  const std::vector<Case> cases = {
      {"max_pool1d", {2, 5, 9}, max_args},
      {"max_pool2d", {2, 5, 7, 6}, max_args},
      {"max_pool3d", {2, 5, 4, 5, 6}, max_args},
      {"avg_pool1d", {2, 5, 9}, avg_args},
      {"avg_pool3d", {2, 5, 4, 5, 6}, avg_args},
      {"lp_pool1d", {2, 5, 9}, lp_args},
      {"lp_pool2d", {2, 5, 7, 6}, lp_args},
      {"adaptive_max_pool1d", {2, 5, 9}, amax_args},
      {"adaptive_max_pool2d", {2, 5, 7, 6}, amax_args},
      {"adaptive_max_pool3d", {2, 5, 4, 5, 6}, amax_args}};
  for (const Case& c : cases) {
    const Tensor x = Noise(c.shape, 7);
    PoolResult cf = MustPool(c.op, x, c.args);
    PoolArgs cl_args = c.args;
    cl_args.channels_last = true;
    PoolResult cl = MustPool(c.op, ToChannelsLast(x), cl_args);
    EXPECT_EQ(Floats(cl.output), Floats(ToChannelsLast(cf.output))) << c.op;
    if (cf.indices.has_value()) {
      // Compare indices through the same permutation, as floats (exact).
      std::vector<float> as_float;
      for (int64_t v : Longs(*cf.indices))
        as_float.push_back(static_cast<float>(v));
      std::vector<float> cl_idx;
      for (int64_t v : Longs(*cl.indices))
        cl_idx.push_back(static_cast<float>(v));
      EXPECT_EQ(cl_idx,
                Floats(ToChannelsLast(F32(cf.indices->shape(), as_float))))
          << c.op;
    }
  }
}

TEST(AvgPool2d, ResultsDoNotDependOnThreadCount) {
  const Tensor x = Noise({4, 8, 64, 64}, 4);
  ExecOptions one, two;
  one.num_threads = 1;
  two.num_threads = 2;
  PoolArgs a = Window({3}, {1}, {1});
  EXPECT_EQ(Floats(MustPool("avg_pool2d", x, a, one).output),
            Floats(MustPool("avg_pool2d", x, a, two).output));
}

// ---------------------------------------------------------------------------
// Power-average pooling.

TEST(LpPool2d, NormTwoIsTheEuclideanNormOfTheWindow) {
  PoolArgs a = Window({1, 2});
  a.norm_type = 2;
  PoolResult r = MustPool("lp_pool2d", F32({1, 1, 1, 2}, {3, 4}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(5.0f));
}

TEST(LpPool1d, NormOneIsTheWindowSum) {
  PoolArgs a = Window({2});
  a.norm_type = 1;
  PoolResult r = MustPool("lp_pool1d", F32({1, 1, 4}, {1, 2, 3, 4}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(3.0f, 7.0f));
}

TEST(LpPool1d, NegativeInputsWithNormTwoMatchTorch) {
  // torch: lp_pool1d(-arange(10.), 2, 2) -> [1, sqrt(13), sqrt(41), ...]
  PoolArgs a = Window({2});
  a.norm_type = 2;
  std::vector<float> neg = Floats(Arange({10}));
  for (float& v : neg) v = -v;
  PoolResult r = MustPool("lp_pool1d", F32({1, 1, 10}, neg), a);
  EXPECT_THAT(Floats(r.output),
              ElementsAre(1.0f, std::sqrt(13.0f), std::sqrt(41.0f),
                          std::sqrt(85.0f), std::sqrt(145.0f)));
}

TEST(LpPool1d, OddNormOfNegativeWindowIsNan) {
  // The cube average is negative: sign * relu(abs) keeps it, and a negative
  // number to the power 1/3 is NaN, as in torch.
  PoolArgs a = Window({2});
  a.norm_type = 3;
  PoolResult r = MustPool("lp_pool1d", F32({1, 1, 2}, {-1, -2}), a);
  EXPECT_TRUE(std::isnan(Floats(r.output)[0]));
}

TEST(LpPool1d, BFloat16ScalarTailRoundsRsqrtTwiceLikeAten) {
  // torch 1.13.1: lp_pool1d(bf16 [[5.125], [2.125]], -2, 1, 2, True) is
  // [[5.125], [2.109375]]: outside whole 32-element vector blocks ATen's
  // rsqrt is 1 / sqrt(x) in bfloat16 (float32 would give 2.125).
  const std::vector<uint16_t> v = {FloatToBFloat16(5.125f).bits,
                                   FloatToBFloat16(2.125f).bits};
  PoolArgs a = Window({1}, {2});
  a.norm_type = -2;
  a.ceil_mode = true;
  PoolResult r = MustPool("lp_pool1d",
                          Tensor::FromValues<uint16_t>(DType::kBFloat16, {2, 1},
                                                       absl::MakeConstSpan(v)),
                          a);
  const uint16_t* o = r.output.data_as<uint16_t>();
  EXPECT_EQ(BFloat16ToFloat(BFloat16{o[0]}), 5.125f);
  EXPECT_EQ(BFloat16ToFloat(BFloat16{o[1]}), 2.109375f);
}

TEST(LpPool2d, IgnoresPaddingAndClipsCeilModeWindows) {
  PoolArgs a = Window({2}, {2}, {1});
  a.norm_type = 1;
  a.ceil_mode = true;
  PoolResult r =
      MustPool("lp_pool2d", F32({1, 1, 3, 3}, std::vector<float>(9, 1)), a);
  // No padding: the ceil-mode windows are clipped (4, 2, 2 and 1 ones), so
  // every average is 1 and the result avg * 4 (kernel area) is 4, as torch.
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_THAT(Floats(r.output), ElementsAre(4, 4, 4, 4));
}

// ---------------------------------------------------------------------------
// Adaptive pooling.

TEST(AdaptiveAvgPool1d, WindowsOverlapWhereSizesDoNotDivide) {
  // in 10, out 3: [0,4), [3,7), [6,10).
  PoolResult r =
      MustPool("adaptive_avg_pool1d", Arange({1, 1, 10}), Adaptive({3}));
  EXPECT_THAT(Floats(r.output), ElementsAre(1.5f, 4.5f, 7.5f));
}

TEST(AdaptiveAvgPool2d, MinusOneKeepsTheInputSize) {
  PoolResult r =
      MustPool("adaptive_avg_pool2d", Arange({1, 1, 4, 6}), Adaptive({-1, 2}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 4, 2}));
}

TEST(AdaptiveAvgPool2d, ZeroOutputSizeGivesAnEmptyOutput) {
  PoolResult r =
      MustPool("adaptive_avg_pool2d", Arange({1, 1, 4, 6}), Adaptive({0}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{1, 1, 0, 0}));
}

TEST(AdaptiveAvgPool2d, AcceptsZeroChannelsLikeTorch) {
  PoolResult r =
      MustPool("adaptive_avg_pool2d", F32({2, 0, 3, 3}, {}), Adaptive({2}));
  EXPECT_EQ(r.output.shape(), (std::vector<int64_t>{2, 0, 2, 2}));
}

TEST(AdaptiveAvgPool1d, GlobalAverageUsesTorchMeanSummationOrder) {
  // torch 1.13.1: adaptive_avg_pool1d(1/(i+1) for i < 1000, 1) is
  // 0.007485470734536648 (0x3bf548ae); a plain running sum gives
  // 0.007485478185117245.
  std::vector<float> v(1000);
  for (int i = 0; i < 1000; ++i) v[i] = 1.0f / static_cast<float>(i + 1);
  PoolResult r =
      MustPool("adaptive_avg_pool1d", F32({1, 1, 1000}, v), Adaptive({1}));
  EXPECT_EQ(Bits(Floats(r.output)[0]), 0x3bf548aeu);
  PoolResult r2 =
      MustPool("adaptive_avg_pool2d", F32({1, 1, 25, 40}, v), Adaptive({1}));
  EXPECT_EQ(Bits(Floats(r2.output)[0]), 0x3bf548aeu);
}

// 1/(i+1) for i < n, rounded to the 16-bit type by `round`.
template <typename Round>
std::vector<uint16_t> Reciprocals16(int n, Round round) {
  std::vector<uint16_t> v(n);
  for (int i = 0; i < n; ++i)
    v[i] = round(1.0f / static_cast<float>(i + 1)).bits;
  return v;
}

TEST(AdaptiveAvgPool2d, ChannelsLastDividesVectorChannelsByTheAreaLikeAten) {
  // torch 1.13.1, values 1/(i+1) in physical (1, 3, 5, 8) channels_last
  // order, output (1, 2): element 3 is 0x3d580e56 through the channels-last
  // kernel (sum / 6) and 0x3d580e57 through the contiguous one (sum / 3 / 2).
  std::vector<float> v(3 * 5 * 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 1.0f / static_cast<float>(i + 1);
  PoolArgs a = Adaptive({1, 2});
  a.channels_last = true;
  PoolResult cl = MustPool("adaptive_avg_pool2d", F32({1, 3, 5, 8}, v), a);
  EXPECT_EQ(Bits(Floats(cl.output)[3]), 0x3d580e56u);
  // The same values channels-first: (1, 8, 3, 5) with c = i % 8.
  std::vector<float> cf_in(v.size());
  for (int64_t c = 0; c < 8; ++c)
    for (int64_t s = 0; s < 15; ++s) cf_in[c * 15 + s] = v[s * 8 + c];
  PoolResult cf = MustPool("adaptive_avg_pool2d", F32({1, 8, 3, 5}, cf_in),
                           Adaptive({1, 2}));
  EXPECT_EQ(Bits(Floats(cf.output)[3 * 2]),
            0x3d580e57u);  // channel 3, column 0
}

TEST(AdaptiveAvgPool1d, BFloat16GlobalAverageRoundsTheSumThenDivides) {
  // torch 1.13.1: adaptive_avg_pool1d(bf16 1/(i+1), i < 1000, 1) is 0x3bf6.
  const std::vector<uint16_t> v = Reciprocals16(1000, FloatToBFloat16);
  PoolResult r =
      MustPool("adaptive_avg_pool1d",
               Tensor::FromValues<uint16_t>(DType::kBFloat16, {1, 1, 1000},
                                            absl::MakeConstSpan(v)),
               Adaptive({1}));
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], 0x3bf6);
}

TEST(AdaptiveAvgPool2d, Float16GlobalAverageIsTorchsHalfMean) {
  // torch 1.13.1 accepts float16 here (through mean): 0x1faa.
  const std::vector<uint16_t> v = Reciprocals16(1000, FloatToFloat16);
  PoolResult r =
      MustPool("adaptive_avg_pool2d",
               Tensor::FromValues<uint16_t>(DType::kFloat16, {1, 1, 25, 40},
                                            absl::MakeConstSpan(v)),
               Adaptive({1}));
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], 0x1faa);
}

TEST(AdaptiveAvgPool3d, Float16AccumulatesInHalfLikeTorch) {
  // torch 1.13.1: adaptive_avg_pool3d(half 1/(i+1) as (1,1,4,4,4), (1,1,2))
  // is [0x2dd9, 0x2b40] (0.09137, 0.05664); a float32 sum would give
  // 0.09155 and 0.05667.
  const std::vector<uint16_t> v = Reciprocals16(64, FloatToFloat16);
  PoolResult r =
      MustPool("adaptive_avg_pool3d",
               Tensor::FromValues<uint16_t>(DType::kFloat16, {1, 1, 4, 4, 4},
                                            absl::MakeConstSpan(v)),
               Adaptive({1, 1, 2}));
  EXPECT_EQ(r.output.data_as<uint16_t>()[0], 0x2dd9);
  EXPECT_EQ(r.output.data_as<uint16_t>()[1], 0x2b40);
}

TEST(AdaptiveAvgPool3d,
     GlobalAverageChannelsLastMatchesChannelsFirstWithinTwoUlp) {
  // The two layouts reduce in different (torch-matching) orders.
  const Tensor x = Noise({2, 33, 5, 6, 7}, 5);
  PoolResult cf = MustPool("adaptive_avg_pool3d", x, Adaptive({1}));
  PoolArgs a = Adaptive({1});
  a.channels_last = true;
  PoolResult cl = MustPool("adaptive_avg_pool3d", ToChannelsLast(x), a);
  std::vector<float> f = Floats(cf.output), l = Floats(cl.output);
  ASSERT_EQ(f.size(), l.size());
  for (size_t i = 0; i < f.size(); ++i)
    EXPECT_NEAR(f[i], l[i], 4 * 1.2e-7f * std::abs(f[i]) + 1e-7f);
}

TEST(AdaptiveMaxPool2d, ReturnsPerPlaneIndices) {
  PoolArgs a = Adaptive({2});
  a.return_indices = true;
  PoolResult r = MustPool("adaptive_max_pool2d", Arange({1, 1, 3, 3}), a);
  EXPECT_THAT(Floats(r.output), ElementsAre(4, 5, 7, 8));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(4, 5, 7, 8));
}

TEST(AdaptiveMaxPool1d, NanWinsAndMinusInfinityKeepsWindowStart) {
  PoolArgs a = Adaptive({2});
  a.return_indices = true;
  PoolResult r =
      MustPool("adaptive_max_pool1d", F32({1, 1, 3}, {-kInf, -kInf, -kInf}), a);
  EXPECT_THAT(Longs(*r.indices), ElementsAre(0, 1));
  r = MustPool("adaptive_max_pool1d", F32({1, 1, 4}, {1, kNan, 3, kNan}), a);
  EXPECT_TRUE(std::isnan(Floats(r.output)[0]));
  EXPECT_THAT(Longs(*r.indices), ElementsAre(1, 3));
}

TEST(AdaptiveMaxPool1d, LongWindowsUseExactIntegerBounds) {
  // in 108304, out 8819: o*in exceeds 2^24, where a float32 quotient would
  // misplace 0.26% of the windows; torch 1.13.1 uses exact integers. On an
  // increasing input the max index is each window's last element.
  const int64_t in = 108304, out = 8819;
  PoolArgs a = Adaptive({out});
  a.return_indices = true;
  PoolResult r = MustPool("adaptive_max_pool1d", Arange({1, 1, in}), a);
  const std::vector<int64_t> idx = Longs(*r.indices);
  for (int64_t o = 0; o < out; ++o) {
    ASSERT_EQ(idx[o], ((o + 1) * in + out - 1) / out - 1) << o;
  }
}

TEST(AdaptiveMaxPool2d, LargerOutputThanInputRepeatsValues) {
  PoolResult r =
      MustPool("adaptive_max_pool1d", F32({1, 1, 2}, {1, 2}), Adaptive({4}));
  EXPECT_THAT(Floats(r.output), ElementsAre(1, 1, 2, 2));
}

// ---------------------------------------------------------------------------
// RunPool on caller memory, cancellation, limits.

TEST(RunPool, WritesIntoCallerProvidedMemory) {
  const Tensor x = Arange({1, 1, 4, 4});
  PoolArgs a = Window({2});
  a.return_indices = true;
  absl::StatusOr<PoolPlan> plan =
      PlanPool(*ParsePoolOp("max_pool2d"), x.dtype(), x.shape(), a);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->output_shape, (std::vector<int64_t>{1, 1, 2, 2}));
  EXPECT_EQ(plan->indices_shape, (std::vector<int64_t>{1, 1, 2, 2}));
  std::vector<float> out(4);
  std::vector<int64_t> idx(4);
  MutableTensorView ov{DType::kFloat32, plan->output_shape, out.data()};
  MutableTensorView iv{DType::kInt64, plan->indices_shape, idx.data()};
  ASSERT_TRUE(RunPool(*plan, x.view(), ov, &iv).ok());
  EXPECT_THAT(out, ElementsAre(5, 7, 13, 15));
  EXPECT_THAT(idx, ElementsAre(5, 7, 13, 15));
}

TEST(RunPool, ReturnsCancelledWhenTheFlagIsRaised) {
  std::atomic<bool> cancelled{true};
  ExecOptions exec;
  exec.cancelled = &cancelled;
  absl::Status s =
      PoolError("avg_pool2d", Noise({2, 4, 32, 32}, 6), Window({2}), exec);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
}

TEST(PlanPool, RefusesAnInputOverTheElementLimit) {
  ExecOptions exec;
  exec.max_elements = 100;
  absl::StatusOr<PoolPlan> plan =
      PlanPool(*ParsePoolOp("max_pool2d"), DType::kFloat32,
               std::vector<int64_t>{1, 1, 20, 20}, Window({2}), exec);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("input"));
}

TEST(PlanPool, RefusesAnOutputOverTheElementLimit) {
  ExecOptions exec;
  exec.max_elements = 100;
  absl::StatusOr<PoolPlan> plan =
      PlanPool(*ParsePoolOp("adaptive_avg_pool2d"), DType::kFloat32,
               std::vector<int64_t>{1, 1, 5, 5}, Adaptive({11}), exec);
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(plan.status().message(), HasSubstr("output"));
}

TEST(PlanPool, RefusesShapesWhoseElementCountOverflows) {
  const int64_t big = int64_t{1} << 40;
  absl::StatusOr<PoolPlan> plan =
      PlanPool(*ParsePoolOp("max_pool2d"), DType::kFloat32,
               std::vector<int64_t>{big, big, 4, 4}, Window({2}));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PoolingOutputSize, FollowsPyTorchsRuleIncludingTheCeilDrop) {
  EXPECT_EQ(*PoolingOutputSize(4, 3, 1, 2, 1, false), 2);
  EXPECT_EQ(*PoolingOutputSize(5, 2, 0, 2, 1, true), 3);
  EXPECT_EQ(*PoolingOutputSize(5, 2, 1, 2, 1, true), 3);
  EXPECT_EQ(*PoolingOutputSize(4, 5, 0, 5, 1, false), 0);
  EXPECT_EQ(*PoolingOutputSize(2, 4, 0, 1, 1, false), -1);
}

// ---------------------------------------------------------------------------
// Argument errors: each names the argument and the offending value.

struct ErrorCase {
  const char* op;
  std::vector<int64_t> shape;
  PoolArgs args;
  std::vector<const char*> fragments;
};

class PoolArgumentErrors : public ::testing::TestWithParam<int> {};

std::vector<ErrorCase> ErrorCases() {
  std::vector<ErrorCase> cases;
  auto window = [](std::vector<int64_t> k, std::vector<int64_t> s = {},
                   std::vector<int64_t> p = {0}) { return Window(k, s, p); };
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({0, 2}),
                   {"max_pool2d", "kernel_size should be greater than zero",
                    "kernel_size=[0, 2]"}});
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({2}, {0, 1}),
                   {"max_pool2d: stride should be greater than zero, but got "
                    "stride=[0, 1]"}});
  cases.push_back({"avg_pool3d",
                   {1, 1, 4, 4, 4},
                   window({2}, {-1}),
                   {"avg_pool3d", "stride should be greater than zero",
                    "stride=[-1, -1, -1]"}});
  cases.push_back({"max_pool1d",
                   {1, 1, 4},
                   window({2}, {}, {-1}),
                   {"padding must be non-negative", "padding=[-1]"}});
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({3}, {1}, {2}),
                   {"pad should be at most half of kernel size",
                    "padding=[2, 2]", "kernel_size=[3, 3]"}});
  {
    PoolArgs a = window({2});
    a.dilation = {1, 0};
    cases.push_back(
        {"max_pool2d",
         {1, 1, 4, 4},
         a,
         {"dilation should be greater than zero", "dilation=[1, 0]"}});
  }
  {
    PoolArgs a = window({2});
    a.divisor_override = 0;
    cases.push_back(
        {"avg_pool2d", {1, 1, 4, 4}, a, {"divisor", "divisor_override=0"}});
  }
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({2, 2, 2, 2}),
                   {"kernel_size must be a single int or a list of 2 ints",
                    "kernel_size=[2, 2, 2, 2]"}});
  cases.push_back({"avg_pool2d",
                   {1, 1, 4, 4},
                   window({2}, {1, 1, 1}),
                   {"stride must be", "stride=[1, 1, 1]"}});
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({2}, {}, {}),
                   {"padding must be", "padding=[]"}});
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   PoolArgs{},
                   {"kernel_size is required", "kernel_size=[]"}});
  cases.push_back({"adaptive_avg_pool2d",
                   {1, 1, 4, 4},
                   PoolArgs{},
                   {"output_size is required", "output_size=[]"}});
  cases.push_back({"adaptive_max_pool2d",
                   {1, 1, 4, 4},
                   Adaptive({2, -2}),
                   {"output_size", "output_size=[2, -2]"}});
  cases.push_back({"adaptive_avg_pool3d",
                   {1, 1, 4, 4, 4},
                   Adaptive({2, 2}),
                   {"output_size must be a single int or a list of 3 ints",
                    "output_size=[2, 2]"}});
  cases.push_back(
      {"max_pool2d",
       {4, 4},
       window({2}),
       {"max_pool2d", "Expected 3D or 4D", "input of shape [4, 4]"}});
  cases.push_back({"avg_pool1d",
                   {1, 1, 1, 4},
                   window({2}),
                   {"avg_pool1d", "Expected 2D or 3D", "[1, 1, 1, 4]"}});
  cases.push_back({"max_pool3d",
                   {1, 0, 4, 4, 4},
                   window({2}),
                   {"non-batch dimensions", "[1, 0, 4, 4, 4]"}});
  cases.push_back({"adaptive_max_pool2d",
                   {2, 0, 4, 4},
                   Adaptive({2}),
                   {"non-batch dimensions", "[2, 0, 4, 4]"}});
  cases.push_back({"avg_pool2d",
                   {1, 1, 4, 0},
                   window({1}),
                   {"non-batch dimensions", "[1, 1, 4, 0]"}});
  cases.push_back({"max_pool2d",
                   {1, 1, 4, 4},
                   window({5}),
                   {"Given input size: (1x4x4). Calculated output size: "
                    "(1x0x0). Output size is "
                    "too small",
                    "kernel_size=[5, 5]"}});
  cases.push_back({"avg_pool3d",
                   {1, 1, 3, 3, 3},
                   window({4}, {1}, {2}),
                   {"smaller than kernel size", "kernel_size=[4, 4, 4]"}});
  {
    PoolArgs a = window({2});
    a.norm_type = 0;
    cases.push_back(
        {"lp_pool2d", {1, 1, 4, 4}, a, {"norm_type", "norm_type=0"}});
  }
  return cases;
}

TEST(PoolArgumentErrorsTable, EveryCaseIsInvalidArgumentNamingTheValue) {
  for (const ErrorCase& c : ErrorCases()) {
    const Tensor x = *Tensor::Zeros(DType::kFloat32, c.shape);
    absl::Status s = PoolError(c.op, x, c.args);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.op << " " << s;
    for (const char* fragment : c.fragments) {
      EXPECT_THAT(s.message(), HasSubstr(fragment)) << c.op;
    }
  }
}

TEST(MaxPool2d, RejectsZeroStride) {
  absl::Status s =
      PoolError("max_pool2d", Arange({1, 1, 4, 4}), Window({2}, {0, 1}));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("stride=[0, 1]"));
}

TEST(AvgPool2d, RejectsIntegerDtypesNamingTheDtype) {
  for (DType dt : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kInt32,
                   DType::kInt64, DType::kBool}) {
    absl::Status s =
        PoolError("avg_pool2d", *Tensor::Zeros(dt, {1, 1, 2, 2}), Window({2}));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(absl::StrCat("dtype ", DTypeName(dt))));
  }
}

TEST(LpPool1d, RejectsIntegerDtypes) {
  absl::Status s = PoolError(
      "lp_pool1d", *Tensor::Zeros(DType::kInt32, {1, 1, 4}), Window({2}));
  EXPECT_THAT(s.message(), HasSubstr("dtype int32"));
}

TEST(MaxPool2d, RejectsBool) {
  absl::Status s = PoolError(
      "max_pool2d", *Tensor::Zeros(DType::kBool, {1, 1, 2, 2}), Window({2}));
  EXPECT_THAT(s.message(), HasSubstr("dtype bool"));
}

TEST(AdaptiveAvgPool2d, RejectsIntegerDtypes) {
  absl::Status s =
      PoolError("adaptive_avg_pool2d",
                *Tensor::Zeros(DType::kInt64, {1, 1, 2, 2}), Adaptive({1}));
  EXPECT_THAT(s.message(), HasSubstr("dtype int64"));
}

// ---------------------------------------------------------------------------
// Every op on every supported dtype agrees with float32 on values that all
// dtypes represent exactly.

TEST(AllOps, EverySupportedDtypeMatchesFloat32OnSmallIntegers) {
  const std::vector<std::pair<const char*, PoolArgs>> ops = {
      {"max_pool2d", Window({2}, {1})},
      {"avg_pool2d", Window({2}, {2})},
      {"lp_pool2d", Window({1}, {1})},
      {"adaptive_max_pool2d", Adaptive({2})},
      {"adaptive_avg_pool2d", Adaptive({2})},
      {"adaptive_avg_pool2d", Adaptive({1})}};
  const std::vector<float> vals = {0,  2,  4,  6,  8,  10, 12, 14,
                                   16, 18, 20, 22, 24, 26, 28, 30};
  for (const auto& [op, args] : ops) {
    std::vector<float> expected =
        Floats(MustPool(op, F32({1, 1, 4, 4}, vals), args).output);
    for (DType dt : kAllDTypes) {
      if (!PoolSupportsDType(ParsePoolOp(op)->kind, dt)) continue;
      std::string bytes(16 * DTypeSize(dt), '\0');
      for (int i = 0; i < 16; ++i) {
        const float f = vals[i];
        switch (dt) {
          case DType::kFloat64: {
            double d = f;
            std::memcpy(&bytes[i * 8], &d, 8);
            break;
          }
          case DType::kBFloat16: {
            uint16_t b = FloatToBFloat16(f).bits;
            std::memcpy(&bytes[i * 2], &b, 2);
            break;
          }
          case DType::kFloat16: {
            uint16_t h = FloatToFloat16(f).bits;
            std::memcpy(&bytes[i * 2], &h, 2);
            break;
          }
          case DType::kFloat32:
            std::memcpy(&bytes[i * 4], &f, 4);
            break;
          default: {
            int64_t v = static_cast<int64_t>(f);
            std::memcpy(&bytes[i * DTypeSize(dt)], &v, DTypeSize(dt));
          }
        }
      }
      PoolResult r =
          MustPool(op, *Tensor::FromBytes(dt, {1, 1, 4, 4}, bytes), args);
      ASSERT_EQ(r.output.numel(), static_cast<int64_t>(expected.size()));
      for (int64_t i = 0; i < r.output.numel(); ++i) {
        double got = 0;
        const char* p =
            static_cast<const char*>(r.output.data()) + i * DTypeSize(dt);
        switch (dt) {
          case DType::kFloat32: {
            float f;
            std::memcpy(&f, p, 4);
            got = f;
            break;
          }
          case DType::kFloat64:
            std::memcpy(&got, p, 8);
            break;
          case DType::kBFloat16: {
            BFloat16 b;
            std::memcpy(&b.bits, p, 2);
            got = BFloat16ToFloat(b);
            break;
          }
          case DType::kFloat16: {
            Float16 h;
            std::memcpy(&h.bits, p, 2);
            got = Float16ToFloat(h);
            break;
          }
          default: {
            int64_t v = 0;
            std::memcpy(&v, p, DTypeSize(dt));
            got = static_cast<double>(v);
          }
        }
        EXPECT_EQ(got, expected[i])
            << op << " " << DTypeName(dt) << " at " << i;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// float16.h conversions (c10::BFloat16 / c10::Half behaviour).

TEST(Float16, RoundsToNearestEvenAndSaturatesToInfinity) {
  EXPECT_EQ(FloatToFloat16(1.0f).bits, 0x3C00);
  EXPECT_EQ(FloatToFloat16(65504.0f).bits, 0x7BFF);
  EXPECT_EQ(FloatToFloat16(65519.0f).bits, 0x7BFF);
  EXPECT_EQ(FloatToFloat16(65520.0f).bits, 0x7C00);
  EXPECT_EQ(FloatToFloat16(-kInf).bits, 0xFC00);
  EXPECT_EQ(FloatToFloat16(1.0f + 1.0f / 2048).bits, 0x3C00);  // tie -> even
  EXPECT_EQ(FloatToFloat16(1.0f + 3.0f / 2048).bits, 0x3C02);  // tie -> even
  EXPECT_EQ(FloatToFloat16(5.9604644775390625e-8f).bits, 0x0001);  // 2^-24
  EXPECT_EQ(FloatToFloat16(2.9802322387695312e-8f).bits,
            0x0000);  // 2^-25 tie -> 0
  EXPECT_EQ(FloatToFloat16(-0.0f).bits, 0x8000);
}

TEST(Float16, NanBecomesCanonicalWithItsSign) {
  EXPECT_EQ(FloatToFloat16(kNan).bits, 0x7E00);
  EXPECT_EQ(FloatToFloat16(-kNan).bits, 0xFE00);
}

TEST(Float16, WideningIsExactForEveryValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = Float16ToFloat(Float16{static_cast<uint16_t>(h)});
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToFloat16(f).bits, h);
  }
}

TEST(BFloat16, RoundsToNearestEvenAndCanonicalisesNan) {
  EXPECT_EQ(FloatToBFloat16(1.0f).bits, 0x3F80);
  EXPECT_EQ(FloatToBFloat16(1.00390625f).bits, 0x3F80);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(1.01171875f).bits, 0x3F82);  // tie -> even
  EXPECT_EQ(FloatToBFloat16(-kNan).bits, 0x7FC0);
  EXPECT_EQ(FloatToBFloat16(3.4028235e38f).bits, 0x7F80);  // rounds up to inf
  EXPECT_EQ(BFloat16ToFloat(BFloat16{0x3F81}), 1.0078125f);
}

}  // namespace
}  // namespace poolcat
