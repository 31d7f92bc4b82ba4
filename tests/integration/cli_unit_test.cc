// The client pieces that need no server: CLI flag parsing, torch-style
// printing, the channel's service config, option validation, and the
// bfloat16 <-> float32 .npy casts.
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/cli_args.h"
#include "client/client.h"
#include "client/npy_cast.h"
#include "client/tensor_format.h"
#include "core/float16.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Tensor Float32(std::vector<int64_t> shape, std::vector<float> values) {
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape),
                                   absl::MakeConstSpan(values));
}

TEST(ParseIntList, AcceptsCommaListsBracketsAndOneValue) {
  EXPECT_EQ(*ParseIntList("k", "2,3"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(*ParseIntList("k", "(2, 3)"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(*ParseIntList("k", "[4]"), (std::vector<int64_t>{4}));
  EXPECT_EQ(*ParseIntList("k", "(2,)"), (std::vector<int64_t>{2}));
  EXPECT_EQ(*ParseIntList("k", "5"), (std::vector<int64_t>{5}));
}

TEST(ParseIntList, NoneMeansMinusOneOnlyWhereAllowed) {
  EXPECT_EQ(*ParseIntList("output_size", "None,4", true),
            (std::vector<int64_t>{-1, 4}));
  EXPECT_EQ(*ParseIntList("output_size", "-1,4", true),
            (std::vector<int64_t>{-1, 4}));
  EXPECT_FALSE(ParseIntList("kernel_size", "None,4").ok());
}

TEST(ParseIntList, RefusesJunkNamingTheFlagAndText) {
  for (const char* bad : {"", "a", "2,,3", "2.5", "2;3", "()"}) {
    absl::StatusOr<std::vector<int64_t>> v = ParseIntList("stride", bad);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(v.status().message(), HasSubstr("--stride"));
    EXPECT_THAT(v.status().message(), HasSubstr(std::string("'") + bad + "'"));
  }
}

TEST(ParseBool, AcceptsTheUsualSpellings) {
  for (const char* t : {"true", "True", "1", "yes", "on"}) {
    EXPECT_TRUE(*ParseBool("ceil_mode", t)) << t;
  }
  for (const char* f : {"false", "FALSE", "0", "no", "off"}) {
    EXPECT_FALSE(*ParseBool("ceil_mode", f)) << f;
  }
  absl::StatusOr<bool> bad = ParseBool("ceil_mode", "maybe");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("--ceil_mode"));
}

TEST(PoolArgsFromFlags, UnsetFlagsKeepPyTorchDefaults) {
  PoolArgs args = *PoolArgsFromFlags(PoolFlags());
  PoolArgs defaults;
  EXPECT_EQ(args.kernel_size, defaults.kernel_size);
  EXPECT_EQ(args.stride, defaults.stride);
  EXPECT_EQ(args.padding, defaults.padding);
  EXPECT_EQ(args.dilation, defaults.dilation);
  EXPECT_EQ(args.count_include_pad, true);
  EXPECT_EQ(args.ceil_mode, false);
  EXPECT_FALSE(args.divisor_override.has_value());
  EXPECT_EQ(args.norm_type, defaults.norm_type);
  EXPECT_FALSE(args.channels_last);
}

TEST(PoolArgsFromFlags, EveryFlagReachesItsField) {
  PoolFlags flags;
  flags.kernel_size = "2,3";
  flags.stride = "1";
  flags.padding = "0,1";
  flags.dilation = "2";
  flags.ceil_mode = "true";
  flags.count_include_pad = "false";
  flags.divisor_override = "7";
  flags.norm_type = "1.5";
  flags.output_size = "None,2";
  flags.channels_last = "true";
  PoolArgs args = *PoolArgsFromFlags(flags);
  EXPECT_EQ(args.kernel_size, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(args.stride, (std::vector<int64_t>{1}));
  EXPECT_EQ(args.padding, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(args.dilation, (std::vector<int64_t>{2}));
  EXPECT_TRUE(args.ceil_mode);
  EXPECT_FALSE(args.count_include_pad);
  EXPECT_EQ(args.divisor_override, 7);
  EXPECT_EQ(args.norm_type, 1.5);
  EXPECT_EQ(args.output_size, (std::vector<int64_t>{-1, 2}));
  EXPECT_TRUE(args.channels_last);
}

TEST(PoolArgsFromFlags, NoneStrideAndDivisorMeanUnset) {
  PoolFlags flags;
  flags.stride = "None";
  flags.divisor_override = "None";
  PoolArgs args = *PoolArgsFromFlags(flags);
  EXPECT_TRUE(args.stride.empty());
  EXPECT_FALSE(args.divisor_override.has_value());
}

TEST(PoolArgsFromFlags, BadValuesNameTheFlag) {
  PoolFlags flags;
  flags.norm_type = "two";
  EXPECT_THAT(PoolArgsFromFlags(flags).status().message(),
              HasSubstr("--norm_type"));
  flags = PoolFlags();
  flags.divisor_override = "1.5";
  EXPECT_THAT(PoolArgsFromFlags(flags).status().message(),
              HasSubstr("--divisor_override"));
}

// Expected strings are what torch 1.13's repr() prints for the same tensor.
TEST(FormatTensor, MatchesTorchReprOfIntegralFloats) {
  EXPECT_EQ(FormatTensor(Float32({2, 2}, {4, 5, 7, 8})),
            "tensor([[4., 5.],\n        [7., 8.]])");
  EXPECT_EQ(FormatTensor(Float32({1, 1, 2, 2}, {5, 7, 13, 15})),
            "tensor([[[[ 5.,  7.],\n          [13., 15.]]]])");
  EXPECT_EQ(FormatTensor(Float32({2}, {-1, 2})), "tensor([-1.,  2.])");
}

TEST(FormatTensor, SeparatesHigherDimsWithBlankLines) {
  EXPECT_EQ(FormatTensor(Float32({1, 2, 1, 1}, {7.5, 8.5})),
            "tensor([[[[7.5000]],\n\n         [[8.5000]]]])");
}

TEST(FormatTensor, MatchesTorchReprOfFractionsSpecialsAndWideRanges) {
  EXPECT_EQ(FormatTensor(Float32({2, 2}, {0.5, 1.25, 3, 4})),
            "tensor([[0.5000, 1.2500],\n        [3.0000, 4.0000]])");
  EXPECT_EQ(FormatTensor(Float32({2}, {1e-5f, 1})),
            "tensor([1.0000e-05, 1.0000e+00])");
  EXPECT_EQ(FormatTensor(Float32({3}, {std::nanf(""), 1, INFINITY})),
            "tensor([nan, 1., inf])");
  EXPECT_EQ(FormatTensor(Float32({2}, {123456789.f, 1})),
            "tensor([1.2346e+08, 1.0000e+00])");
}

TEST(FormatTensor, TakesWidthFromFiniteNonZeroValuesOnly) {
  EXPECT_EQ(FormatTensor(Float32({2}, {0, 10})), "tensor([ 0., 10.])");
  EXPECT_EQ(FormatTensor(Float32({1}, {std::nanf("")})), "tensor([nan])");
  EXPECT_EQ(FormatTensor(Float32({2}, {0, 0})), "tensor([0., 0.])");
  EXPECT_EQ(FormatTensor(Float32({2}, {-0.5, 0})),
            "tensor([-0.5000,  0.0000])");
}

TEST(FormatTensor, PrintsInt64Exactly) {
  std::vector<int64_t> v = {(int64_t{1} << 60) + 1, 3};
  EXPECT_EQ(FormatTensor(Tensor::FromValues<int64_t>(DType::kInt64, {2},
                                                     absl::MakeConstSpan(v))),
            "tensor([1152921504606846977,                   3])");
}

TEST(FormatTensor, WrapsAtEightyColumns) {
  std::vector<float> v(40);
  for (int i = 0; i < 40; ++i) v[i] = static_cast<float>(i);
  EXPECT_EQ(FormatTensor(Float32({40}, v)),
            "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., "
            "11., 12., 13.,\n"
            "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., "
            "25., 26., 27.,\n"
            "        28., 29., 30., 31., 32., 33., 34., 35., 36., 37., 38., "
            "39.])");
}

TEST(FormatTensor, NamesNonDefaultDtypesAndEmptyShapes) {
  std::vector<int32_t> ints = {1, 2, 3};
  EXPECT_EQ(FormatTensor(Tensor::FromValues<int32_t>(
                DType::kInt32, {3}, absl::MakeConstSpan(ints))),
            "tensor([1, 2, 3], dtype=torch.int32)");
  std::vector<uint8_t> bools = {1, 0};
  EXPECT_EQ(FormatTensor(Tensor::FromValues<uint8_t>(
                DType::kBool, {2}, absl::MakeConstSpan(bools))),
            "tensor([ True, False])");
  EXPECT_EQ(FormatTensor(*Tensor::Empty(DType::kFloat32, {0})), "tensor([])");
  EXPECT_EQ(FormatTensor(*Tensor::Empty(DType::kFloat32, {2, 0})),
            "tensor([], size=(2, 0))");
  EXPECT_EQ(FormatTensor(Float32({}, {5})), "tensor(5.)");
}

TEST(FormatTensor, SummarisesPastAThousandElements) {
  std::vector<float> v(2000, 1.0f);
  const std::string s = FormatTensor(Float32({2000}, v));
  EXPECT_EQ(s, "tensor([1., 1., 1.,  ..., 1., 1., 1.])");
}

TEST(ServiceConfigJson, RoundRobinForAddressListsAndDnsTargets) {
  ClientOptions options;
  options.target = "ipv4:127.0.0.1:5001,127.0.0.1:5002";
  EXPECT_THAT(ServiceConfigJson(options), HasSubstr(R"({"round_robin":{}})"));
  options.target = "dns:///poolcat-headless.default.svc:50051";
  EXPECT_THAT(ServiceConfigJson(options), HasSubstr(R"({"round_robin":{}})"));
  options.target = "localhost:50051";
  EXPECT_THAT(ServiceConfigJson(options), HasSubstr(R"({"pick_first":{}})"));
  options.load_balancing_policy = "round_robin";
  EXPECT_THAT(ServiceConfigJson(options), HasSubstr("round_robin"));
}

TEST(ServiceConfigJson, RetriesUnavailableWithBackoff) {
  ClientOptions options;
  options.retry.max_attempts = 5;
  const std::string json = ServiceConfigJson(options);
  EXPECT_THAT(json, HasSubstr(R"("service":"poolcat.v1.PoolCat")"));
  EXPECT_THAT(json, HasSubstr(R"("maxAttempts":5)"));
  EXPECT_THAT(json, HasSubstr(R"("initialBackoff":"0.100000000s")"));
  EXPECT_THAT(json, HasSubstr(R"("retryableStatusCodes":["UNAVAILABLE"])"));
  options.retry.max_attempts = 1;
  EXPECT_THAT(ServiceConfigJson(options), Not(HasSubstr("retryPolicy")));
}

TEST(ClientCreate, RefusesInconsistentOptions) {
  ClientOptions options;
  options.tls.enabled = true;
  options.tls.client_cert_pem = "cert";
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = ClientOptions();
  options.tls.root_ca_pem = "ca";  // TLS material but TLS off
  EXPECT_EQ(Client::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = ClientOptions();
  options.max_message_bytes = 0;
  EXPECT_THAT(Client::Create(options).status().message(),
              HasSubstr("max_message_bytes"));
  options = ClientOptions();
  options.retry.max_attempts = 0;
  EXPECT_THAT(Client::Create(options).status().message(),
              HasSubstr("max_attempts"));
  options = ClientOptions();
  options.target = "";
  EXPECT_FALSE(Client::Create(options).ok());
  EXPECT_TRUE(Client::Create(ClientOptions()).ok());  // connects lazily
}

TEST(NpyCast, Float32NpyNarrowsToBFloat16AndWidensBackExactly) {
  Tensor x = Float32({3}, {1.5f, -2.0f, 0.1015625f});
  absl::StatusOr<Tensor> narrow = CastForWire(x, "bfloat16", "dtype");
  ASSERT_TRUE(narrow.ok()) << narrow.status();
  EXPECT_EQ(narrow->dtype(), DType::kBFloat16);
  Tensor wide = WidenForNpy(*narrow);
  EXPECT_EQ(wide.dtype(), DType::kFloat32);
  EXPECT_EQ(wide.bytes(), x.bytes());
}

TEST(NpyCast, SameDtypeIsUnchangedAndOtherCastsAreRefused) {
  Tensor x = Float32({1}, {1});
  EXPECT_EQ(CastForWire(x, "float32", "dtype")->bytes(), x.bytes());
  absl::StatusOr<Tensor> bad = CastForWire(x, "int8", "dtype");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("--dtype=int8"));
  EXPECT_THAT(CastForWire(x, "quaternion", "dtype").status().message(),
              HasSubstr("quaternion"));
}

}  // namespace
}  // namespace poolcat
