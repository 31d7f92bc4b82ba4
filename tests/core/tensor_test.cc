// Tests of core/dtype.h, core/tensor.h and core/npy.h.
#include "core/tensor.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace poolcat {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

// ---------------------------------------------------------------- dtype ----

TEST(DType, SizesMatchTorchElementSizes) {
  EXPECT_EQ(DTypeSize(DType::kFloat32), 4u);
  EXPECT_EQ(DTypeSize(DType::kFloat64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kFloat16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt8), 1u);
  EXPECT_EQ(DTypeSize(DType::kUInt8), 1u);
  EXPECT_EQ(DTypeSize(DType::kInt16), 2u);
  EXPECT_EQ(DTypeSize(DType::kInt32), 4u);
  EXPECT_EQ(DTypeSize(DType::kInt64), 8u);
  EXPECT_EQ(DTypeSize(DType::kBool), 1u);
}

TEST(DType, NamesRoundTripAndUnknownNameIsNullopt) {
  for (DType d : kAllDTypes) {
    ASSERT_EQ(DTypeFromName(DTypeName(d)), d) << DTypeName(d);
  }
  EXPECT_EQ(DTypeName(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(DTypeName(DType::kBool), "bool");
  EXPECT_FALSE(DTypeFromName("float").has_value());
  EXPECT_FALSE(DTypeFromName("complex64").has_value());
  EXPECT_FALSE(DTypeFromName("").has_value());
}

TEST(DType, FloatingPointClassification) {
  EXPECT_TRUE(IsFloatingPoint(DType::kFloat32));
  EXPECT_TRUE(IsFloatingPoint(DType::kFloat64));
  EXPECT_TRUE(IsFloatingPoint(DType::kBFloat16));
  EXPECT_TRUE(IsFloatingPoint(DType::kFloat16));
  for (DType d : {DType::kInt8, DType::kUInt8, DType::kInt16, DType::kInt32,
                  DType::kInt64, DType::kBool}) {
    EXPECT_FALSE(IsFloatingPoint(d)) << DTypeName(d);
  }
}

// torch.promote_types(a, b) for every pair, printed by torch 1.13.1 in the
// order of kAllDTypes (float32 float64 bfloat16 float16 int8 uint8 int16
// int32 int64 bool).
TEST(DType, PromoteTypesMatchesTorchTable) {
  constexpr DType kFloat32 = DType::kFloat32, kFloat64 = DType::kFloat64,
                  kBFloat16 = DType::kBFloat16, kFloat16 = DType::kFloat16,
                  kInt8 = DType::kInt8, kUInt8 = DType::kUInt8,
                  kInt16 = DType::kInt16, kInt32 = DType::kInt32,
                  kInt64 = DType::kInt64, kBool = DType::kBool;
  const DType kTorch[10][10] = {
      {kFloat32, kFloat64, kFloat32, kFloat32, kFloat32, kFloat32, kFloat32,
       kFloat32, kFloat32, kFloat32},
      {kFloat64, kFloat64, kFloat64, kFloat64, kFloat64, kFloat64, kFloat64,
       kFloat64, kFloat64, kFloat64},
      {kFloat32, kFloat64, kBFloat16, kFloat32, kBFloat16, kBFloat16, kBFloat16,
       kBFloat16, kBFloat16, kBFloat16},
      {kFloat32, kFloat64, kFloat32, kFloat16, kFloat16, kFloat16, kFloat16,
       kFloat16, kFloat16, kFloat16},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt8, kInt16, kInt16, kInt32,
       kInt64, kInt8},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt16, kUInt8, kInt16, kInt32,
       kInt64, kUInt8},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt16, kInt16, kInt16, kInt32,
       kInt64, kInt16},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt32, kInt32, kInt32,
       kInt64, kInt32},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt64, kInt64, kInt64, kInt64,
       kInt64, kInt64},
      {kFloat32, kFloat64, kBFloat16, kFloat16, kInt8, kUInt8, kInt16, kInt32,
       kInt64, kBool},
  };
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 10; ++j) {
      EXPECT_EQ(PromoteTypes(kAllDTypes[i], kAllDTypes[j]), kTorch[i][j])
          << DTypeName(kAllDTypes[i]) << " with " << DTypeName(kAllDTypes[j])
          << " gave " << DTypeName(PromoteTypes(kAllDTypes[i], kAllDTypes[j]));
    }
  }
}

// --------------------------------------------------------------- tensor ----

TEST(CheckedNumel, MultipliesDimensions) {
  const std::vector<int64_t> shape = {2, 3, 4};
  absl::StatusOr<int64_t> n =
      CheckedNumel(shape, DType::kFloat32, kDefaultMaxElements, "x");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 24);
  const std::vector<int64_t> scalar = {};
  EXPECT_EQ(*CheckedNumel(scalar, DType::kFloat32, kDefaultMaxElements, "x"),
            1);
}

TEST(CheckedNumel, RejectsNegativeDimensionNamingIt) {
  const std::vector<int64_t> shape = {2, -3};
  absl::StatusOr<int64_t> n =
      CheckedNumel(shape, DType::kFloat32, kDefaultMaxElements, "input");
  ASSERT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(n.status().message(), HasSubstr("input.shape[1]"));
  EXPECT_THAT(n.status().message(), HasSubstr("-3"));
}

TEST(CheckedNumel, RejectsElementCountOverflowingInt64) {
  const int64_t big = int64_t{1} << 40;
  const std::vector<int64_t> shape = {big, big};
  absl::StatusOr<int64_t> n = CheckedNumel(
      shape, DType::kFloat32, std::numeric_limits<int64_t>::max(), "input");
  ASSERT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("overflows"));
}

TEST(CheckedNumel, RejectsByteSizeOverflowEvenWhenCountFits) {
  // 2^61 elements fit int64, but 2^61 * 8 bytes do not.
  const std::vector<int64_t> shape = {int64_t{1} << 61};
  absl::StatusOr<int64_t> n = CheckedNumel(
      shape, DType::kFloat64, std::numeric_limits<int64_t>::max(), "input");
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CheckedNumel, RejectsMoreElementsThanTheLimit) {
  const std::vector<int64_t> shape = {10, 11};
  absl::StatusOr<int64_t> n = CheckedNumel(shape, DType::kInt8, 100, "input");
  ASSERT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(), HasSubstr("110"));
  EXPECT_THAT(n.status().message(), HasSubstr("100"));
  EXPECT_TRUE(CheckedNumel(shape, DType::kInt8, 110, "input").ok());
}

TEST(CheckedNumel, ZeroSizedDimensionMakesHugeShapesEmpty) {
  // torch.empty(0, 2**62) is legal and empty; the product never overflows.
  const std::vector<int64_t> shape = {int64_t{1} << 62, 0, int64_t{1} << 62};
  absl::StatusOr<int64_t> n = CheckedNumel(shape, DType::kFloat64, 1, "input");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);
}

TEST(CheckedNumel, RejectsProductOverflowingBeforeItsZeroDimension) {
  // torch refuses torch.empty(2**62, 4, 0) ("Storage size calculation
  // overflowed"): the running product overflows before the zero.
  const std::vector<int64_t> shape = {int64_t{1} << 62, 4, 0};
  absl::StatusOr<int64_t> n = CheckedNumel(shape, DType::kFloat32, 1, "input");
  EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(n.status().message(),
              HasSubstr("input shape [4611686018427387904, 4, 0]"));
}

TEST(NumElements, IsZeroWithoutMultiplyingWhenAnyDimensionIsZero) {
  // Shapes that fail CheckedNumel must not make NumElements overflow (UB)
  // where a caller sizes them before validating.
  EXPECT_EQ(NumElements({int64_t{1} << 62, 4, 0}), 0);
  EXPECT_EQ(NumElements({83, 4633647698040324095, 2, 0}), 0);
  EXPECT_EQ(NumElements({2, 3, 4}), 24);
}

TEST(Tensor, DefaultIsEmptyOneDimensionalFloat) {
  Tensor t;
  EXPECT_EQ(t.dtype(), DType::kFloat32);
  EXPECT_THAT(t.shape(), ElementsAre(0));
  EXPECT_EQ(t.numel(), 0);
  EXPECT_NE(t.data(), nullptr);
}

TEST(Tensor, ZerosIsZeroFilledAndAligned) {
  absl::StatusOr<Tensor> t = Tensor::Zeros(DType::kFloat64, {3, 5});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->numel(), 15);
  EXPECT_EQ(t->nbytes(), 120u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t->data_as<double>()[i], 0.0);
  EXPECT_EQ(t->size(-1), 5);
  EXPECT_EQ(t->size(0), 3);
}

// Buffers of 4 MiB and more start on a 2 MiB boundary, so that their whole
// 2 MiB pages can be huge pages (core/tensor.cc); smaller ones stay 64-byte
// aligned without the extra address space.
TEST(Tensor, LargeBuffersStartOnAHugePageBoundary) {
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  for (int64_t floats :
       {int64_t{1} << 20, (int64_t{1} << 20) + 7, int64_t{25} << 20}) {
    absl::StatusOr<Tensor> t = Tensor::Zeros(DType::kFloat32, {floats});
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % kHugePage, 0u)
        << floats << " floats";
    // Every byte is usable, the unaligned tail included.
    EXPECT_EQ(t->data_as<float>()[floats - 1], 0.0f);
    t->data_as<float>()[floats - 1] = 1.0f;
  }
  absl::StatusOr<Tensor> small = Tensor::Empty(DType::kFloat32, {1000});
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small->data()) % 64, 0u);
}

TEST(Tensor, EmptyRefusesShapeOverLimit) {
  absl::StatusOr<Tensor> t = Tensor::Empty(DType::kFloat32, {100, 100}, 9999);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(Tensor, FromBytesCopiesExactSize) {
  const float values[] = {1.5f, -2.0f};
  absl::StatusOr<Tensor> t = Tensor::FromBytes(
      DType::kFloat32, {2},
      absl::string_view(reinterpret_cast<const char*>(values), 8));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->data_as<float>()[0], 1.5f);
  EXPECT_EQ(t->data_as<float>()[1], -2.0f);
}

TEST(Tensor, FromBytesRejectsSizeMismatchNamingBothSizes) {
  const std::string bytes(7, '\0');
  absl::StatusOr<Tensor> t = Tensor::FromBytes(DType::kFloat32, {2}, bytes);
  ASSERT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("7 bytes"));
  EXPECT_THAT(t.status().message(), HasSubstr("needs 8"));
  EXPECT_EQ(Tensor::FromBytes(DType::kFloat32, {2}, std::string(9, '\0'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Tensor, CopiesShareStorage) {
  Tensor a = *Tensor::Zeros(DType::kInt32, {4});
  Tensor b = a;
  b.data_as<int32_t>()[2] = 7;
  EXPECT_EQ(a.data_as<int32_t>()[2], 7);
}

// ------------------------------------------------------------------ npy ----

// The bytes numpy 1.24 writes for
//   np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)):
// the dict, padded with spaces (21 - len("2") growth spaces, then
// alignment) to a 128-byte header ending in '\n'.
std::string NumpyArange6F32() {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header.resize(117, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00\x76\x00", 10);
  out += header;
  for (int i = 0; i < 6; ++i) {
    const float f = static_cast<float>(i);
    out.append(reinterpret_cast<const char*>(&f), 4);
  }
  return out;
}

TEST(Npy, SerializeMatchesNumpyBytesExactly) {
  const float values[] = {0, 1, 2, 3, 4, 5};
  Tensor t = Tensor::FromValues<float>(DType::kFloat32, {2, 3}, values);
  absl::StatusOr<std::string> bytes = SerializeNpy(t);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, NumpyArange6F32());
}

TEST(Npy, ParsesNumpyBytes) {
  absl::StatusOr<Tensor> t = ParseNpy(NumpyArange6F32());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_THAT(t->shape(), ElementsAre(2, 3));
  EXPECT_THAT(std::vector<float>(t->data_as<float>(), t->data_as<float>() + 6),
              ElementsAre(0, 1, 2, 3, 4, 5));
}

TEST(Npy, HeaderIsPaddedTo64BytesForEveryRank) {
  for (int rank = 0; rank < 40; ++rank) {
    std::vector<int64_t> shape(rank, 1);
    if (rank > 0) shape[0] = 123456789;  // long first axis: fewer growth spaces
    if (rank > 0) shape.back() = 0;
    Tensor t = *Tensor::Empty(DType::kInt16, shape);
    std::string bytes = *SerializeNpy(t);
    ASSERT_EQ(bytes[6], '\x01') << rank;
    const size_t hlen =
        static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    EXPECT_EQ((10 + hlen) % 64, 0u) << rank;
    EXPECT_EQ(bytes[10 + hlen - 1], '\n') << rank;
    EXPECT_EQ(bytes.size(), 10 + hlen + t.nbytes()) << rank;
    absl::StatusOr<Tensor> back = ParseNpy(bytes);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->shape(), shape);
  }
}

TEST(Npy, RoundTripsEveryNumpyDtype) {
  for (DType d : kAllDTypes) {
    if (d == DType::kBFloat16) continue;
    Tensor t = *Tensor::Empty(d, {3, 1, 4});
    for (size_t i = 0; i < t.nbytes(); ++i) {
      // Bool bytes must stay 0/1; other types get an arbitrary pattern.
      t.data_as<uint8_t>()[i] =
          d == DType::kBool ? (i % 3 == 0) : static_cast<uint8_t>(i * 37 + 11);
    }
    absl::StatusOr<std::string> bytes = SerializeNpy(t);
    ASSERT_TRUE(bytes.ok()) << DTypeName(d) << ": " << bytes.status();
    absl::StatusOr<Tensor> back = ParseNpy(*bytes);
    ASSERT_TRUE(back.ok()) << DTypeName(d) << ": " << back.status();
    EXPECT_EQ(back->dtype(), d);
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(back->bytes(), t.bytes()) << DTypeName(d);
  }
}

TEST(Npy, RoundTripsScalarAndEmpty) {
  const double v[] = {3.25};
  Tensor scalar = Tensor::FromValues<double>(DType::kFloat64, {}, v);
  Tensor back = *ParseNpy(*SerializeNpy(scalar));
  EXPECT_TRUE(back.shape().empty());
  EXPECT_EQ(back.data_as<double>()[0], 3.25);
  Tensor empty = *Tensor::Empty(DType::kInt64, {0});
  Tensor back_empty = *ParseNpy(*SerializeNpy(empty));
  EXPECT_THAT(back_empty.shape(), ElementsAre(0));
  EXPECT_EQ(back_empty.dtype(), DType::kInt64);
}

TEST(Npy, WritesVersion2WhenHeaderExceeds65535Bytes) {
  // 25000 unit dims make the shape tuple 75000 characters long.
  std::vector<int64_t> shape(25000, 1);
  Tensor t = *Tensor::Zeros(DType::kUInt8, shape);
  std::string bytes = *SerializeNpy(t);
  ASSERT_EQ(bytes[6], '\x02');
  ASSERT_EQ(bytes[7], '\x00');
  size_t hlen = 0;
  for (int i = 0; i < 4; ++i)
    hlen |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
  EXPECT_GT(hlen, 65535u);
  EXPECT_EQ((12 + hlen) % 64, 0u);
  absl::StatusOr<Tensor> back = ParseNpy(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shape().size(), 25000u);
}

TEST(Npy, RefusesBFloat16OnWrite) {
  Tensor t = *Tensor::Zeros(DType::kBFloat16, {2});
  absl::StatusOr<std::string> bytes = SerializeNpy(t);
  ASSERT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bytes.status().message(), HasSubstr("bfloat16"));
}

// Builds a version-`major` .npy file around `dict` (padded like NumPy) and
// `data`.
std::string MakeNpy(const std::string& dict, const std::string& data,
                    int major = 1) {
  const size_t len_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((6 + 2 + len_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < len_bytes; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(Npy, ParsesVersions2And3AndDoubleQuotes) {
  const std::string data("\x01\x00\x02\x00", 4);
  for (int major : {2, 3}) {
    absl::StatusOr<Tensor> t = ParseNpy(
        MakeNpy("{\"descr\":\"<i2\",\"fortran_order\":False,\"shape\":(2,)}",
                data, major));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->dtype(), DType::kInt16);
    EXPECT_EQ(t->data_as<int16_t>()[1], 2);
  }
}

TEST(Npy, AcceptsKeysInAnyOrderAndByteOrderFreeDescr) {
  absl::StatusOr<Tensor> t = ParseNpy(MakeNpy(
      "{'shape': (3,), 'fortran_order': False, 'descr': '|u1'}", "abc"));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->dtype(), DType::kUInt8);
  EXPECT_EQ(t->data_as<uint8_t>()[2], 'c');
}

struct BadNpy {
  std::string name;
  std::string bytes;
  std::string message;  // a substring the error must contain
};

std::vector<BadNpy> BadNpyFiles() {
  const std::string four(4, '\0');
  return {
      {"bad magic", "\x93NUMPZ\x01\x00\x00\x00", "bad magic"},
      {"empty", "", "bad magic"},
      {"version 4", std::string("\x93NUMPY\x04\x00\x00\x00", 10),
       "version 4.0"},
      {"big endian",
       MakeNpy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
               four),
       "big-endian"},
      {"fortran",
       MakeNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
               std::string(16, '\0')),
       "Fortran"},
      {"object",
       MakeNpy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }",
               std::string(8, '\0')),
       "object"},
      {"complex",
       MakeNpy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
               std::string(8, '\0')),
       "'<c8'"},
      {"unsigned 32",
       MakeNpy("{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }",
               four),
       "'<u4'"},
      {"structured",
       MakeNpy(
           "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
           four),
       "structured"},
      {"truncated data",
       MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
               four),
       "truncated data"},
      {"oversized data",
       MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
               four + "x"),
       "oversized data"},
      {"truncated header",
       MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "")
           .substr(0, 40),
       "truncated header"},
      {"missing shape",
       MakeNpy("{'descr': '<f4', 'fortran_order': False, }", four), "'shape'"},
      {"negative dim",
       MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",
               ""),
       "shape"},
      {"not a dict", MakeNpy("descr", four), "malformed header"},
      {"bool byte 2",
       MakeNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (1,), }",
               "\x02"),
       "bool"},
      {"unknown key",
       MakeNpy(
           "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
           four),
       "'x'"},
  };
}

TEST(Npy, RefusesInvalidFilesWithMessagesNamingTheProblem) {
  for (const BadNpy& bad : BadNpyFiles()) {
    absl::StatusOr<Tensor> t = ParseNpy(bad.bytes);
    ASSERT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument)
        << bad.name << ": " << t.status();
    EXPECT_THAT(t.status().message(), HasSubstr(bad.message)) << bad.name;
  }
}

TEST(Npy, RefusesShapeOverTheElementLimit) {
  absl::StatusOr<Tensor> t =
      ParseNpy(MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                       "(1000000, 1000000), }",
                       ""),
               1000);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  absl::StatusOr<Tensor> huge =
      ParseNpy(MakeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': "
                       "(99999999999999999999999,), }",
                       ""));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
}

// Hostile bytes: every single-byte corruption and every truncation of
// valid files must give a clean status (never a crash, never a tensor whose
// size disagrees with its bytes).
TEST(Npy, CorruptedFilesFailCleanly) {
  std::vector<std::string> files;
  files.push_back(NumpyArange6F32());
  files.push_back(*SerializeNpy(*Tensor::Zeros(DType::kBool, {2, 2})));
  files.push_back(*SerializeNpy(*Tensor::Zeros(DType::kInt64, {3})));
  files.push_back(
      MakeNpy("{'descr': '<i2', 'fortran_order': False, 'shape': (2,)}",
              std::string(4, '\1'), 2));
  int parsed = 0;
  for (const std::string& good : files) {
    for (size_t len = 0; len < good.size(); ++len) {
      absl::StatusOr<Tensor> t = ParseNpy(good.substr(0, len));
      ASSERT_FALSE(t.ok()) << "truncated to " << len;
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument)
          << t.status();
    }
    const unsigned char kBytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, '(',
                                    ')',  ',',  '\'', '9',  ' '};
    for (size_t pos = 0; pos < good.size(); ++pos) {
      for (unsigned char b : kBytes) {
        std::string bad = good;
        bad[pos] = static_cast<char>(b);
        absl::StatusOr<Tensor> t = ParseNpy(bad, /*max_elements=*/1 << 20);
        if (t.ok()) {
          ++parsed;
          EXPECT_LE(t->nbytes(), bad.size());
        } else {
          EXPECT_TRUE(t.status().code() == absl::StatusCode::kInvalidArgument ||
                      t.status().code() == absl::StatusCode::kResourceExhausted)
              << t.status();
        }
      }
    }
  }
  EXPECT_GT(parsed, 0);  // data-byte corruptions still parse
}

TEST(Npy, AcceptsFortranOrderWhenLayoutIsTheSame) {
  // np.save never writes this, but a 1-d array is identical in both orders.
  absl::StatusOr<Tensor> t = ParseNpy(
      MakeNpy("{'descr': '<i4', 'fortran_order': True, 'shape': (1, 2), }",
              std::string(8, '\0')));
  EXPECT_TRUE(t.ok()) << t.status();
}

TEST(Npy, FileRoundTripAndMissingFile) {
  const std::string path = ::testing::TempDir() + "/npy_roundtrip.npy";
  const int64_t values[] = {-1, 2, std::numeric_limits<int64_t>::max()};
  Tensor t = Tensor::FromValues<int64_t>(DType::kInt64, {3}, values);
  ASSERT_TRUE(WriteNpyFile(path, t).ok());
  absl::StatusOr<Tensor> back = ReadNpyFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->bytes(), t.bytes());
  EXPECT_EQ(ReadNpyFile(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
}

// Cross-checks against the real NumPy when Debian's python3-numpy is present
// (`make deps` installs it): NumPy reads what we write, and we read what
// NumPy writes, byte for byte.
bool HaveNumpy() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Npy, InteroperatesWithNumpy) {
  if (!HaveNumpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  const std::string dir = ::testing::TempDir() + "/npy_numpy_interop";
  std::filesystem::create_directories(dir);
  const std::string script = dir + "/gen.py";
  {
    std::ofstream py(script);
    py << R"PY(import sys, numpy as np
d = sys.argv[1]
cases = {
  'f4': np.arange(24, dtype='<f4').reshape(2, 3, 4) / 7,
  'f8': np.array([1.5, -np.inf, np.nan]),
  'f2': np.array([[0.1, 65504.0]], dtype='<f2'),
  'i1': np.array([-128, 127], dtype='i1'),
  'u1': np.arange(5, dtype='u1'),
  'i2': np.array([-32768, 5], dtype='<i2'),
  'i4': np.array([[1], [2]], dtype='<i4'),
  'i8': np.array([2**62, -1], dtype='<i8'),
  'b1': np.array([True, False, True]),
  'scalar': np.array(2.5, dtype='<f4'),
  'empty': np.zeros((0, 3), dtype='<f4'),
  'bigdim': np.zeros((12345678901, 0), dtype='<f8'),
}
for k, v in cases.items():
    np.save(f'{d}/{k}.npy', v)
# Check the files poolcat wrote (if any) with numpy.
import os
for k in cases:
    p = f'{d}/{k}.poolcat.npy'
    if os.path.exists(p):
        got = np.load(p)
        want = cases[k]
        assert got.dtype == want.dtype and got.shape == want.shape, k
        assert got.tobytes() == want.tobytes(), k
        assert open(p, 'rb').read() == open(f'{d}/{k}.npy', 'rb').read(), k
)PY";
  }
  const std::string run = "/usr/bin/python3 " + script + " " + dir;
  ASSERT_EQ(std::system(run.c_str()), 0);
  const char* names[] = {"f4", "f8", "f2", "i1",     "u1",    "i2",
                         "i4", "i8", "b1", "scalar", "empty", "bigdim"};
  for (const char* name : names) {
    const std::string path = absl::StrCat(dir, "/", name, ".npy");
    absl::StatusOr<Tensor> t = ReadNpyFile(path);
    ASSERT_TRUE(t.ok()) << name << ": " << t.status();
    // Writing it back must reproduce numpy's file byte for byte.
    absl::StatusOr<std::string> bytes = SerializeNpy(*t);
    ASSERT_TRUE(bytes.ok()) << name;
    EXPECT_EQ(*bytes, ReadFile(path)) << name;
    ASSERT_TRUE(
        WriteNpyFile(absl::StrCat(dir, "/", name, ".poolcat.npy"), *t).ok());
  }
  // numpy.load reads every file we wrote and finds the same array.
  EXPECT_EQ(std::system(run.c_str()), 0);
  absl::StatusOr<Tensor> f2 = ReadNpyFile(dir + "/f2.npy");
  ASSERT_TRUE(f2.ok());
  EXPECT_EQ(f2->dtype(), DType::kFloat16);
  EXPECT_EQ(f2->data_as<uint16_t>()[1], 0x7bff);  // 65504, the largest half
}

}  // namespace
}  // namespace poolcat
