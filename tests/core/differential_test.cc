// Seeded randomized differential tests: core/ against the reference
// implementation in tests/reference (itself checked against torch 1.13.1 by
// the oracle suite). Thousands of configurations across every pooling op,
// 1-3 spatial dims, every supported dtype, both layouts, batched and
// unbatched inputs, ceil_mode, padding, dilation, count_include_pad,
// divisor_override, norm_type and adaptive output sizes (including -1),
// plus torch.cat. Outputs and indices must agree bit for bit (any NaN equals
// any NaN); global average pooling, whose torch summation order the
// reference does not copy, within the reference's stated tolerance.
// Invalid configurations must be refused by both.
//
// Every failure prints the full configuration; the seed of each test is
// fixed, so a failure reproduces exactly (POOLCAT_DIFFERENTIAL_SEED=N runs
// a different, equally reproducible, set).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/concat.h"
#include "core/dtype.h"
#include "core/float16.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "tests/reference/reference.h"

namespace poolcat {
namespace {

using reference::RefCat;
using reference::RefCompare;
using reference::RefCompareWithin;
using reference::RefPool;
using reference::RefPoolResult;

constexpr DType kFloatTypes[] = {DType::kFloat32, DType::kFloat64,
                                 DType::kBFloat16, DType::kFloat16};
constexpr DType kIntTypes[] = {DType::kInt8, DType::kUInt8, DType::kInt16,
                               DType::kInt32, DType::kInt64};

// Seeds are fixed so every failure reproduces; POOLCAT_DIFFERENTIAL_SEED
// (an integer) shifts all of them, to explore new configurations by hand.
uint64_t SeedOffset() {
  const char* env = std::getenv("POOLCAT_DIFFERENTIAL_SEED");
  return env == nullptr ? 0 : std::strtoull(env, nullptr, 10) * 7919;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed + SeedOffset()) {}
  int64_t Int(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen_);
  }
  double Real(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(gen_);
  }
  bool Chance(double p) { return Real(0, 1) < p; }
  template <typename T, size_t N>
  T Pick(const T (&items)[N]) {
    return items[Int(0, N - 1)];
  }
  std::mt19937_64& gen() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

// Fills `t` with values that exercise the semantics: ties (small integers),
// mixed magnitudes, and, when `specials`, NaN and +-inf.
void FillRandom(Rng& rng, Tensor& t, bool specials) {
  const int64_t n = t.numel();
  const int mode = static_cast<int>(rng.Int(0, 2));
  for (int64_t i = 0; i < n; ++i) {
    double v;
    if (mode == 0) {
      v = static_cast<double>(rng.Int(-4, 4));
    } else if (mode == 1) {
      v = rng.Real(0, 10);
    } else {
      v = std::normal_distribution<double>(0, 3)(rng.gen());
    }
    if (specials && rng.Chance(0.05)) {
      const double kSpecials[] = {std::nan(""), INFINITY, -INFINITY, -0.0};
      v = rng.Pick(kSpecials);
    }
    void* p = t.data();
    switch (t.dtype()) {
      case DType::kFloat32:
        static_cast<float*>(p)[i] = static_cast<float>(v);
        break;
      case DType::kFloat64:
        static_cast<double*>(p)[i] = v;
        break;
      case DType::kBFloat16:
        static_cast<BFloat16*>(p)[i] = FloatToBFloat16(static_cast<float>(v));
        break;
      case DType::kFloat16:
        static_cast<Float16*>(p)[i] = FloatToFloat16(static_cast<float>(v));
        break;
      case DType::kInt8:
        static_cast<int8_t*>(p)[i] = static_cast<int8_t>(rng.Int(-128, 127));
        break;
      case DType::kUInt8:
        static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(rng.Int(0, 255));
        break;
      case DType::kInt16:
        static_cast<int16_t*>(p)[i] = static_cast<int16_t>(
            mode == 0 ? rng.Int(-3, 3) : rng.Int(-32768, 32767));
        break;
      case DType::kInt32:
        static_cast<int32_t*>(p)[i] = static_cast<int32_t>(
            mode == 0 ? rng.Int(-3, 3) : rng.Int(INT32_MIN, INT32_MAX));
        break;
      case DType::kInt64:
        static_cast<int64_t*>(p)[i] =
            mode == 0 ? rng.Int(-3, 3)
                      : rng.Int(std::numeric_limits<int64_t>::min(),
                                std::numeric_limits<int64_t>::max());
        break;
      case DType::kBool:
        static_cast<uint8_t*>(p)[i] = rng.Chance(0.5) ? 1 : 0;
        break;
    }
  }
}

std::string ListStr(const std::vector<int64_t>& v) {
  return absl::StrJoin(v, ",");
}

struct PoolConfig {
  PoolOp op;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // physical
  PoolArgs args;

  std::string ToString() const {
    std::ostringstream s;
    s << "op=" << PoolOpName(op) << " dtype=" << DTypeName(dtype)
      << " shape=" << ShapeToString(shape)
      << " kernel_size=" << ListStr(args.kernel_size)
      << " stride=" << ListStr(args.stride)
      << " padding=" << ListStr(args.padding)
      << " dilation=" << ListStr(args.dilation)
      << " ceil_mode=" << args.ceil_mode
      << " count_include_pad=" << args.count_include_pad << " divisor_override="
      << (args.divisor_override ? absl::StrCat(*args.divisor_override) : "none")
      << " norm_type=" << args.norm_type
      << " output_size=" << ListStr(args.output_size)
      << " indices=" << args.return_indices
      << " channels_last=" << args.channels_last;
    return s.str();
  }
};

// A list argument given as one value or one per spatial dim, as PyTorch
// accepts both.
std::vector<int64_t> MaybeCollapse(Rng& rng, const std::vector<int64_t>& v) {
  bool same = true;
  for (int64_t x : v) same = same && x == v[0];
  if (same && rng.Chance(0.5)) return {v[0]};
  return v;
}

// A random, usually valid, configuration of a random op.
PoolConfig RandomPoolConfig(Rng& rng, PoolKind kind, bool make_invalid) {
  PoolConfig c;
  const int sd = kind == PoolKind::kLp ? static_cast<int>(rng.Int(1, 2))
                                       : static_cast<int>(rng.Int(1, 3));
  c.op = PoolOp{kind, sd};
  const bool integral_ok =
      kind == PoolKind::kMax || kind == PoolKind::kAdaptiveMax;
  c.dtype = integral_ok && rng.Chance(0.25) ? rng.Pick(kIntTypes)
                                            : rng.Pick(kFloatTypes);
  PoolArgs& a = c.args;
  a.channels_last = rng.Chance(0.35);
  const bool batched = rng.Chance(0.7);
  const int64_t n = rng.Chance(0.08) ? 0 : rng.Int(1, 3);
  int64_t ch = rng.Chance(0.8) ? rng.Int(1, 4) : rng.Int(5, 37);
  // Zero channels: torch accepts them for some adaptive ops only.
  if (rng.Chance(0.03)) ch = 0;
  // Now and then a larger plane, to reach vectorised and parallel paths.
  const int64_t extra = (sd <= 2 && rng.Chance(0.1)) ? 30 : 7;
  std::vector<int64_t> spatial(sd);
  if (kind == PoolKind::kAdaptiveAvg || kind == PoolKind::kAdaptiveMax) {
    for (int i = 0; i < sd; ++i) spatial[i] = rng.Int(1, extra + 3);
    std::vector<int64_t> out(sd);
    for (int i = 0; i < sd; ++i) {
      out[i] = rng.Chance(0.15) ? -1 : rng.Int(1, 12);
    }
    if (rng.Chance(0.15)) out.assign(sd, 1);  // global pooling
    if (rng.Chance(0.04)) out[rng.Int(0, sd - 1)] = 0;
    a.output_size = MaybeCollapse(rng, out);
    a.return_indices = kind == PoolKind::kAdaptiveMax && rng.Chance(0.6);
  } else {
    std::vector<int64_t> k(sd), s(sd), p(sd, 0), d(sd, 1);
    for (int i = 0; i < sd; ++i) {
      k[i] = rng.Chance(0.1) ? rng.Int(5, 9) : rng.Int(1, 4);
      s[i] = rng.Int(1, 3);
      if (kind != PoolKind::kLp) p[i] = rng.Int(0, k[i] / 2);
      if (kind == PoolKind::kMax && rng.Chance(0.4)) d[i] = rng.Int(1, 3);
      const int64_t span = d[i] * (k[i] - 1) + 1;
      spatial[i] = rng.Int(std::max<int64_t>(1, span - 2 * p[i]), span + extra);
      if (kind == PoolKind::kAvg && sd == 3)
        spatial[i] = std::max(spatial[i], k[i]);
    }
    a.kernel_size = MaybeCollapse(rng, k);
    if (rng.Chance(0.75)) a.stride = MaybeCollapse(rng, s);
    a.padding = MaybeCollapse(rng, p);
    a.dilation = MaybeCollapse(rng, d);
    a.ceil_mode = rng.Chance(0.4);
    a.count_include_pad = rng.Chance(0.5);
    if (kind == PoolKind::kAvg && sd >= 2 && rng.Chance(0.25)) {
      const int64_t kDivisors[] = {1, 2, 3, 7, -2, -5};
      a.divisor_override = rng.Pick(kDivisors);
    }
    if (kind == PoolKind::kLp) {
      const double kNorms[] = {1.0, 2.0, 0.5, -1.0, -2.0, -0.5, 3.0, 1.5, 4.0};
      a.norm_type = rng.Pick(kNorms);
    }
    a.return_indices = kind == PoolKind::kMax && rng.Chance(0.5);
  }
  if (make_invalid) {
    const int i = static_cast<int>(rng.Int(0, sd - 1));
    switch (rng.Int(0, 7)) {
      case 0:
        spatial[i] = 0;
        break;
      case 1:
        spatial.push_back(2);
        break;  // wrong rank
      case 2:
        if (!a.kernel_size.empty()) {
          a.kernel_size.assign(sd, 2);
          a.padding.assign(sd, 0);
          a.padding[i] = 2;
        } else {
          a.output_size.assign(sd, 2);
          a.output_size[i] = -3;
        }
        break;
      case 3:
        if (!a.kernel_size.empty()) {
          a.stride.assign(sd, 1);
          a.stride[i] = 0;
        } else {
          a.output_size = {1, 2, 3, 4};  // wrong length
        }
        break;
      case 4:
        if (!a.kernel_size.empty()) {
          a.kernel_size.assign(sd, 1);
          a.kernel_size[i] = 0;
          a.padding.assign(sd, 0);
        }
        break;
      case 5:
        if (kind == PoolKind::kMax) {
          a.dilation.assign(sd, 1);
          a.dilation[i] = 0;
        } else if (kind == PoolKind::kAvg && sd >= 2) {
          a.divisor_override = 0;
        } else if (kind == PoolKind::kLp) {
          a.norm_type = 0;
        }
        break;
      case 6:
        c.dtype = kind == PoolKind::kMax || kind == PoolKind::kAdaptiveMax
                      ? DType::kBool
                      : rng.Pick(kIntTypes);
        break;
      default:
        if (!a.kernel_size.empty()) {
          // A window larger than the padded input: output size < 1.
          a.kernel_size.assign(sd, 3);
          a.padding.assign(sd, 0);
          a.dilation.assign(sd, 1);
          a.ceil_mode = false;
          a.return_indices = kind == PoolKind::kMax;
          spatial[i] = 2;
        }
        break;
    }
  }
  if (batched) c.shape.push_back(n);
  if (!a.channels_last) c.shape.push_back(ch);
  c.shape.insert(c.shape.end(), spatial.begin(), spatial.end());
  if (a.channels_last) c.shape.push_back(ch);
  return c;
}

// Runs one configuration through core and the reference and reports any
// disagreement. Returns true when they agree.
bool CheckPoolConfig(Rng& rng, const PoolConfig& c, int64_t* valid_count) {
  absl::StatusOr<Tensor> input = Tensor::Empty(c.dtype, c.shape);
  if (!input.ok()) {
    ADD_FAILURE() << "cannot allocate input: " << input.status() << "\n"
                  << c.ToString();
    return false;
  }
  FillRandom(rng, *input, rng.Chance(0.3));
  absl::StatusOr<RefPoolResult> want = RefPool(c.op, *input, c.args);
  // Results must not depend on the thread count.
  ExecOptions exec;
  exec.num_threads = static_cast<int>(rng.Int(1, 2));
  absl::StatusOr<PoolResult> got = Pool(c.op, *input, c.args, exec);
  if (want.ok() != got.ok()) {
    ADD_FAILURE() << (want.ok()
                          ? "core refused a valid config: " +
                                got.status().ToString()
                          : "core accepted a config the reference refuses (" +
                                want.status().ToString() + ")")
                  << "\n  config: " << c.ToString();
    return false;
  }
  if (!want.ok()) return true;
  ++*valid_count;
  std::optional<std::string> diff =
      want->tolerance.empty()
          ? RefCompare(want->output, got->output)
          : RefCompareWithin(want->output, got->output, want->tolerance);
  if (diff) {
    ADD_FAILURE() << "output " << *diff << "\n  config: " << c.ToString();
    return false;
  }
  if (want->indices.has_value() != got->indices.has_value()) {
    ADD_FAILURE() << "indices present in only one result\n  config: "
                  << c.ToString();
    return false;
  }
  if (want->indices) {
    if (auto idx_diff = RefCompare(*want->indices, *got->indices)) {
      ADD_FAILURE() << "indices " << *idx_diff
                    << "\n  config: " << c.ToString();
      return false;
    }
  }
  return true;
}

// Runs `count` random configurations of `kind`; about one in eight is made
// invalid on purpose. Stops reporting after a few failures (the rest would
// repeat them) but always counts them.
void RunPoolFamily(PoolKind kind, uint64_t seed, int count) {
  Rng rng(seed);
  int failures = 0;
  int64_t valid = 0;
  int run = 0;
  for (; run < count && failures < 10; ++run) {
    const PoolConfig c = RandomPoolConfig(rng, kind, rng.Chance(0.12));
    if (!CheckPoolConfig(rng, c, &valid)) ++failures;
  }
  EXPECT_EQ(failures, 0) << "(reporting stops after 10 failures)";
  // The generator must mostly produce configurations that compute something.
  EXPECT_GT(valid, run / 2);
}

TEST(Differential, MaxPoolMatchesReference) {
  RunPoolFamily(PoolKind::kMax, 1001, 15000);
}
TEST(Differential, AvgPoolMatchesReference) {
  RunPoolFamily(PoolKind::kAvg, 1002, 15000);
}
TEST(Differential, LpPoolMatchesReference) {
  RunPoolFamily(PoolKind::kLp, 1003, 10000);
}
TEST(Differential, AdaptiveMaxPoolMatchesReference) {
  RunPoolFamily(PoolKind::kAdaptiveMax, 1004, 12000);
}
TEST(Differential, AdaptiveAvgPoolMatchesReference) {
  RunPoolFamily(PoolKind::kAdaptiveAvg, 1005, 15000);
}

// Long 1-d inputs where i * in exceeds 2^24: window bounds computed with a
// float32 quotient would drift from the exact integer ones torch uses.
TEST(Differential, LongAdaptiveWindowsMatchReference) {
  Rng rng(1006);
  int64_t valid = 0;
  int failures = 0;
  for (int i = 0; i < 12 && failures < 3; ++i) {
    PoolConfig c;
    c.op =
        PoolOp{i % 2 == 0 ? PoolKind::kAdaptiveAvg : PoolKind::kAdaptiveMax, 1};
    c.dtype = DType::kFloat32;
    c.shape = {1, 1, rng.Int(60000, 120000)};
    c.args.output_size = {rng.Int(3000, 9000)};
    c.args.return_indices = c.op.kind == PoolKind::kAdaptiveMax;
    if (!CheckPoolConfig(rng, c, &valid)) ++failures;
  }
  EXPECT_EQ(failures, 0);
}

// Every dilated window lying wholly in the padding (k=2, p=1, d >= in + 1):
// -inf (or the integer minimum) with torch's index.
TEST(Differential, AllPaddingWindowsMatchReference) {
  Rng rng(1007);
  int64_t valid = 0;
  for (DType dtype :
       {DType::kFloat32, DType::kBFloat16, DType::kInt16, DType::kInt64}) {
    for (int64_t in = 1; in <= 4; ++in) {
      PoolConfig c;
      c.op = PoolOp{PoolKind::kMax, 2};
      c.dtype = dtype;
      c.shape = {1, 2, 3, in};
      c.args.kernel_size = {1, 2};
      c.args.padding = {0, 1};
      c.args.dilation = {1, in + 1};
      c.args.return_indices = true;
      EXPECT_TRUE(CheckPoolConfig(rng, c, &valid));
    }
  }
  EXPECT_GT(valid, 0);
}

// ------------------------------------------------------------------ cat ----

constexpr DType kCatTypes[] = {
    DType::kFloat32, DType::kFloat64, DType::kBFloat16, DType::kFloat16,
    DType::kInt8,    DType::kUInt8,   DType::kInt16,    DType::kInt32,
    DType::kInt64,   DType::kBool};

std::string CatConfigString(const std::vector<Tensor>& inputs, int64_t dim) {
  std::vector<std::string> parts;
  for (const Tensor& t : inputs) {
    parts.push_back(
        absl::StrCat(DTypeName(t.dtype()), ShapeToString(t.shape())));
  }
  return absl::StrCat("cat dim=", dim, " inputs=", absl::StrJoin(parts, " "));
}

TEST(Differential, CatMatchesReference) {
  Rng rng(2001);
  int failures = 0;
  int64_t valid = 0;
  const int kCount = 15000;
  for (int iter = 0; iter < kCount && failures < 10; ++iter) {
    const int64_t rank = rng.Int(1, 4);
    std::vector<int64_t> base(rank);
    for (auto& b : base) b = rng.Int(rng.Chance(0.1) ? 0 : 1, 4);
    int64_t dim = rng.Int(-rank, rank - 1);
    const DType common = rng.Pick(kCatTypes);
    const int64_t k = rng.Int(1, 5);
    std::vector<Tensor> inputs;
    for (int64_t i = 0; i < k; ++i) {
      std::vector<int64_t> shape = base;
      shape[(dim + rank) % rank] = rng.Int(0, 3);
      if (rng.Chance(0.1)) shape = {0};  // legacy empty
      const DType dt = rng.Chance(0.5) ? common : rng.Pick(kCatTypes);
      Tensor t = *Tensor::Empty(dt, shape);
      FillRandom(rng, t, rng.Chance(0.2));
      inputs.push_back(t);
    }
    if (rng.Chance(0.1)) {  // break it
      switch (rng.Int(0, 3)) {
        case 0:
          dim = rng.Chance(0.5) ? rank : -rank - 1;
          break;
        case 1: {
          std::vector<int64_t> shape = base;
          shape.push_back(2);
          inputs[rng.Int(0, k - 1)] = *Tensor::Zeros(common, shape);
          break;
        }
        case 2: {
          std::vector<int64_t> shape = base;
          if (rank > 1)
            shape[(dim + rank + 1) % rank] += 1;
          else
            shape.push_back(1);
          inputs.push_back(*Tensor::Zeros(common, shape));
          break;
        }
        default:
          inputs[rng.Int(0, k - 1)] = *Tensor::Zeros(common, {});
          break;
      }
    }
    absl::StatusOr<Tensor> want = RefCat(inputs, dim);
    absl::StatusOr<Tensor> got = Cat(inputs, dim);
    if (want.ok() != got.ok()) {
      ++failures;
      ADD_FAILURE() << (want.ok()
                            ? "core refused: " + got.status().ToString()
                            : "core accepted what the reference refuses (" +
                                  want.status().ToString() + ")")
                    << "\n  config: " << CatConfigString(inputs, dim);
      continue;
    }
    if (!want.ok()) continue;
    ++valid;
    if (auto diff = RefCompare(*want, *got)) {
      ++failures;
      ADD_FAILURE() << *diff << "\n  config: " << CatConfigString(inputs, dim);
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GT(valid, kCount / 2);
}

// ------------------------------------------------------------ reference ----
// A few anchors that keep the reference itself honest without torch (the
// oracle suite checks it against torch in depth).

TEST(Reference, OutputSizeFollowsPytorchCeilModeRule) {
  // in=5, k=2, s=2: floor mode 2 windows, ceil mode 3.
  EXPECT_EQ(reference::RefPoolingOutputSize(5, 2, 0, 2, 1, false), 2);
  EXPECT_EQ(reference::RefPoolingOutputSize(5, 2, 0, 2, 1, true), 3);
  // in=5, k=3, s=3, p=1: ceil mode would give 3, but the third window
  // would start in the right padding, so it is dropped.
  EXPECT_EQ(reference::RefPoolingOutputSize(5, 3, 1, 3, 1, true), 2);
  // Dilation widens the window.
  EXPECT_EQ(reference::RefPoolingOutputSize(9, 3, 0, 1, 3, false), 3);
}

TEST(Reference, SeedNotebookMaxAndAvgOn3x3Arange) {
  const float values[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  Tensor x = Tensor::FromValues<float>(DType::kFloat32, {1, 1, 3, 3}, values);
  PoolArgs args;
  args.kernel_size = {2};
  args.stride = {1};
  absl::StatusOr<RefPoolResult> mx =
      RefPool(PoolOp{PoolKind::kMax, 2}, x, args);
  ASSERT_TRUE(mx.ok()) << mx.status();
  const float* m = mx->output.data_as<float>();
  EXPECT_EQ(std::vector<float>(m, m + 4), (std::vector<float>{4, 5, 7, 8}));
  absl::StatusOr<RefPoolResult> av =
      RefPool(PoolOp{PoolKind::kAvg, 2}, x, args);
  ASSERT_TRUE(av.ok()) << av.status();
  const float* v = av->output.data_as<float>();
  EXPECT_EQ(std::vector<float>(v, v + 4), (std::vector<float>{2, 3, 5, 6}));
}

TEST(Reference, RefusesPaddingOverHalfTheKernel) {
  Tensor x = *Tensor::Zeros(DType::kFloat32, {1, 4, 4});
  PoolArgs args;
  args.kernel_size = {2};
  args.padding = {2};
  EXPECT_FALSE(RefPool(PoolOp{PoolKind::kMax, 2}, x, args).ok());
  args.padding = {1};
  EXPECT_TRUE(RefPool(PoolOp{PoolKind::kMax, 2}, x, args).ok());
}

// Found by the fuzzer (corpus pool_request_fuzzer/timeout-4442f34d...): the
// reference walked all 2^55 indices of the dim in front of the 0.
TEST(Reference, EmptyAdaptiveOutputWithAHugeDimReturnsAtOnce) {
  const float values[16] = {};
  Tensor x = Tensor::FromValues<float>(DType::kFloat32, {1, 1, 4, 4}, values);
  PoolArgs args;
  args.output_size = {int64_t{1} << 55, 0, 253};
  for (PoolKind kind : {PoolKind::kAdaptiveMax, PoolKind::kAdaptiveAvg}) {
    absl::StatusOr<RefPoolResult> got = RefPool(PoolOp{kind, 3}, x, args);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->output.shape(),
              (std::vector<int64_t>{1, int64_t{1} << 55, 0, 253}));
    EXPECT_EQ(got->output.numel(), 0);
  }
}

TEST(Reference, CompareTreatsNansAsEqualButNotSignedZeros) {
  const float a[] = {NAN, 0.0f};
  const float b[] = {-NAN, -0.0f};
  Tensor ta = Tensor::FromValues<float>(DType::kFloat32, {2}, a);
  Tensor tb = Tensor::FromValues<float>(DType::kFloat32, {2}, b);
  std::optional<std::string> diff = RefCompare(ta, tb);
  ASSERT_TRUE(diff.has_value());
  EXPECT_NE(diff->find("element 1"), std::string::npos) << *diff;
}

}  // namespace
}  // namespace poolcat
