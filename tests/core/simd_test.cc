// The Highway fast paths (core/pool_simd.h) against the generic kernels, bit
// for bit, under every instruction set compiled in and supported by this
// CPU (hwy::SetSupportedTargetsForTest), on random inputs with NaN, +-inf,
// signed zeros and ties.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/float16.h"
#include "core/pool_simd.h"
#include "gtest/gtest.h"
#include "hwy/targets.h"

namespace poolcat {
namespace {

// Values drawn from a small set so that windows hold ties, plus specials.
std::vector<float> SpecialRandom(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  const float inf = std::numeric_limits<float>::infinity();
  for (float& x : v) {
    const uint32_t r = rng() % 100;
    if (r < 2) {
      x = std::numeric_limits<float>::quiet_NaN();
    } else if (r < 3) {
      x = -std::numeric_limits<float>::quiet_NaN();
    } else if (r < 5) {
      x = -inf;
    } else if (r < 6) {
      x = inf;
    } else if (r < 10) {
      x = (rng() & 1) ? 0.0f : -0.0f;
    } else if (r < 40) {
      x = static_cast<float>(static_cast<int>(rng() % 5) - 2);  // ties
    } else {
      x = std::uniform_real_distribution<float>(-10.0f, 10.0f)(rng);
    }
  }
  return v;
}

// Smooth random values: avg and global pooling results that are not NaN,
// so rounding differences would show.
std::vector<float> PlainRandom(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

struct Case {
  PoolOp op;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;  // physical
  PoolArgs args;
  int threads = 1;
  std::string Describe() const {
    return absl::StrCat(PoolOpName(op), " ", DTypeName(dtype), " shape=[",
                        absl::StrJoin(shape, ","), "] k=[",
                        absl::StrJoin(args.kernel_size, ","), "] s=[",
                        absl::StrJoin(args.stride, ","), "] p=[",
                        absl::StrJoin(args.padding, ","),
                        "] ceil=", args.ceil_mode,
                        " cip=", args.count_include_pad,
                        " div=", args.divisor_override.value_or(0), " out=[",
                        absl::StrJoin(args.output_size, ","),
                        "] cl=", args.channels_last, " threads=", threads);
  }
};

// Stores float values as `dtype` elements (rounding to nearest even).
std::vector<uint8_t> Encode(DType dtype, const std::vector<float>& values) {
  std::vector<uint8_t> bytes(values.size() * DTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    if (dtype == DType::kFloat32) {
      std::memcpy(&bytes[4 * i], &values[i], 4);
    } else {
      const uint16_t bits = dtype == DType::kBFloat16
                                ? FloatToBFloat16(values[i]).bits
                                : FloatToFloat16(values[i]).bits;
      std::memcpy(&bytes[2 * i], &bits, 2);
    }
  }
  return bytes;
}

float Decode(DType dtype, const uint8_t* p) {
  if (dtype == DType::kFloat32) {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return dtype == DType::kBFloat16 ? BFloat16ToFloat(BFloat16{bits})
                                   : Float16ToFloat(Float16{bits});
}

// Runs the fast path directly (it must accept the case) and the generic
// kernel through RunPool with fast paths off; compares the bytes.
void ExpectFastPathMatchesGeneric(const Case& c,
                                  const std::vector<float>& values) {
  SCOPED_TRACE(c.Describe());
  ExecOptions exec;
  exec.num_threads = c.threads;
  absl::StatusOr<PoolPlan> plan =
      PlanPool(c.op, c.dtype, c.shape, c.args, exec);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::vector<uint8_t> data = Encode(c.dtype, values);
  const TensorView in{c.dtype, c.shape, data.data()};
  const int64_t out_n = NumElements(plan->output_shape);
  const size_t elem = DTypeSize(c.dtype);
  // Poison both outputs differently so an unwritten element shows.
  std::vector<uint8_t> fast(static_cast<size_t>(out_n) * elem, 0x5A);
  std::vector<uint8_t> generic(static_cast<size_t>(out_n) * elem, 0xA5);
  const MutableTensorView fast_view{c.dtype, plan->output_shape, fast.data()};
  const MutableTensorView generic_view{c.dtype, plan->output_shape,
                                       generic.data()};
  bool handled = false;
  switch (c.op.kind) {
    case PoolKind::kMax:
      handled = simd::TryMaxPool(*plan, in, fast_view, nullptr, exec);
      break;
    case PoolKind::kAvg:
      handled = simd::TryAvgPool(*plan, in, fast_view, exec);
      break;
    case PoolKind::kAdaptiveAvg:
      handled = simd::TryAdaptiveAvgPool(*plan, in, fast_view, exec);
      break;
    default:
      break;
  }
  simd::SetFastPathsEnabledForTest(false);
  const absl::Status s = RunPool(*plan, in, generic_view, nullptr, exec);
  simd::SetFastPathsEnabledForTest(true);
  ASSERT_TRUE(s.ok()) << s;
  if (!handled) {
    // Only the channels-first global average on targets narrower than 8
    // float lanes (SSE4) is allowed to decline among these cases.
    ASSERT_EQ(c.op.kind, PoolKind::kAdaptiveAvg) << "fast path declined";
    return;
  }
  for (int64_t i = 0; i < out_n; ++i) {
    const uint8_t* a = &fast[static_cast<size_t>(i) * elem];
    const uint8_t* b = &generic[static_cast<size_t>(i) * elem];
    const float fa = Decode(c.dtype, a);
    const float fb = Decode(c.dtype, b);
    // A NaN made by arithmetic (an average of NaN, or of +inf and -inf)
    // has the sign and payload of whichever operand the compiler put first
    // (x86 keeps the first NaN operand), which C++ leaves unspecified, in
    // ATen as here. Max pooling only moves values, so it is exact.
    if (c.op.kind != PoolKind::kMax && std::isnan(fa) && std::isnan(fb))
      continue;
    ASSERT_EQ(std::memcmp(a, b, elem), 0)
        << "output " << i << ": fast " << fa << " generic " << fb;
  }
}

std::vector<int64_t> Shape(int64_t n, int64_t c, int64_t h, int64_t w,
                           bool cl) {
  return cl ? std::vector<int64_t>{n, h, w, c}
            : std::vector<int64_t>{n, c, h, w};
}

// Runs `body` once per Highway target compiled in and supported here.
template <typename Body>
void ForEachTarget(Body body) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    ::testing::Test::RecordProperty(
        absl::StrCat("target_", hwy::TargetName(target)), "tested");
    SCOPED_TRACE(absl::StrCat("target ", hwy::TargetName(target)));
    body();
    if (::testing::Test::HasFatalFailure()) break;
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(SimdPool, MaxPool2dMatchesGenericOnEveryTarget) {
  ForEachTarget([] {
    uint32_t seed = 1;
    for (bool cl : {false, true}) {
      for (int64_t k : {1, 2, 3, 4, 5, 7}) {
        for (int64_t s : {1, 2, 3}) {
          if (!cl && s == 3)
            continue;  // channels-first handles strides 1 and 2
          for (int64_t p = 0; p <= k / 2; ++p) {
            for (bool ceil : {false, true}) {
              for (int64_t w :
                   {int64_t{1}, int64_t{9}, int64_t{23}, int64_t{40}}) {
                if (w + 2 * p < k) continue;
                Case c;
                c.op = {PoolKind::kMax, 2};
                c.shape = Shape(2, cl ? 19 : 3, 11, w, cl);
                c.args.kernel_size = {k};
                c.args.stride = {s};
                c.args.padding = {p};
                c.args.ceil_mode = ceil;
                c.args.channels_last = cl;
                ExpectFastPathMatchesGeneric(
                    c, SpecialRandom(NumElements(c.shape), seed++));
                if (::testing::Test::HasFatalFailure()) return;
              }
            }
          }
        }
      }
    }
  });
}

// Width-stride-2 channels-first max_pool with 2- and 3-wide windows reads
// the input in place on AVX-512: rows of one to several groups of four
// vectors (odd and even widths, so the last window may reach into the right
// padding), every pad and row stride, NaN and signed zeros, 1-D too.
TEST(SimdPool, MaxPoolStride2InPlaceMatchesGeneric) {
  ForEachTarget([] {
    uint32_t seed = 900;
    for (int64_t kw : {2, 3}) {
      for (int64_t pw = 0; pw <= kw / 2; ++pw) {
        for (int64_t kh : {1, 2, 3}) {
          for (int64_t sh : {1, 2}) {
            for (int64_t w : {int64_t{2}, int64_t{31}, int64_t{32}, int64_t{33},
                              int64_t{112}, int64_t{129}, int64_t{131},
                              int64_t{200}, int64_t{257}}) {
              for (bool ceil : {false, true}) {
                Case c;
                c.op = {PoolKind::kMax, 2};
                c.shape = Shape(2, 2, 9, w, false);
                c.args.kernel_size = {kh, kw};
                c.args.stride = {sh, 2};
                c.args.padding = {kh / 2, pw};
                c.args.ceil_mode = ceil;
                if (w + 2 * pw < kw) continue;
                ExpectFastPathMatchesGeneric(
                    c, SpecialRandom(NumElements(c.shape), seed++));
                if (::testing::Test::HasFatalFailure()) return;
              }
            }
          }
        }
      }
    }
    Case c;
    c.op = {PoolKind::kMax, 1};
    c.shape = {3, 4, 301};
    c.args.kernel_size = {3};
    c.args.stride = {2};
    c.args.padding = {1};
    ExpectFastPathMatchesGeneric(c, SpecialRandom(NumElements(c.shape), seed));
  });
}

TEST(SimdPool, MaxPoolRectangularAnd1dMatchGeneric) {
  ForEachTarget([] {
    Case c;
    c.op = {PoolKind::kMax, 2};
    c.shape = {3, 2, 13, 35};
    c.args.kernel_size = {2, 5};
    c.args.stride = {3, 1};
    c.args.padding = {1, 2};
    ExpectFastPathMatchesGeneric(c, SpecialRandom(NumElements(c.shape), 7));
    Case d;
    d.op = {PoolKind::kMax, 1};
    d.shape = {4, 3, 37};
    d.args.kernel_size = {9};
    d.args.stride = {1};
    d.args.padding = {4};
    ExpectFastPathMatchesGeneric(d, SpecialRandom(NumElements(d.shape), 8));
  });
}

// Channels-last max_pool with small windows (2x2, 3x3 at stride 2, 1-D)
// folds each window straight from the input: channel counts that take the
// four-vector, one-vector and scalar loops, padding and ceil_mode clipping,
// NaN and signed zeros, every dtype.
TEST(SimdPool, ChannelsLastDirectWindowsMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 1300;
    for (DType dtype : {DType::kFloat32, DType::kBFloat16, DType::kFloat16}) {
      for (int64_t ch : {int64_t{1}, int64_t{15}, int64_t{16}, int64_t{64},
                         int64_t{67}, int64_t{80}}) {
        for (int64_t k : {2, 3}) {
          for (int64_t p = 0; p <= k / 2; ++p) {
            for (bool ceil : {false, true}) {
              Case c;
              c.op = {PoolKind::kMax, 2};
              c.dtype = dtype;
              c.shape = Shape(2, ch, 9, 13, /*cl=*/true);
              c.args.kernel_size = {k};
              c.args.stride = {2};
              c.args.padding = {p};
              c.args.ceil_mode = ceil;
              c.args.channels_last = true;
              ExpectFastPathMatchesGeneric(
                  c, SpecialRandom(NumElements(c.shape), seed++));
              if (::testing::Test::HasFatalFailure()) return;
            }
          }
        }
        Case d;  // 1-D, window 3 at stride 2
        d.op = {PoolKind::kMax, 1};
        d.dtype = dtype;
        d.shape = {3, 21, ch};
        d.args.kernel_size = {3};
        d.args.stride = {2};
        d.args.padding = {1};
        d.args.channels_last = true;
        ExpectFastPathMatchesGeneric(
            d, SpecialRandom(NumElements(d.shape), seed++));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  });
}

TEST(SimdPool, LargeShapesSplitIntoBandsAndThreadsMatchGeneric) {
  ForEachTarget([] {
    for (bool cl : {false, true}) {
      Case c;  // W1-like, rows wide enough that bands split a plane/image
      c.op = {PoolKind::kMax, 2};
      // Rows of ~24 KB: a 256 KB band holds a few of them.
      c.shape = cl ? Shape(2, 64, 40, 200, cl) : Shape(2, 2, 40, 3000, cl);
      c.args.kernel_size = {3};
      c.args.stride = {2};
      c.args.padding = {1};
      c.args.channels_last = cl;
      c.threads = 2;
      ExpectFastPathMatchesGeneric(c, SpecialRandom(NumElements(c.shape), 11));
      Case a = c;  // the same through avg_pool, stride 1
      a.op = {PoolKind::kAvg, 2};
      a.args.stride = {1};
      a.args.count_include_pad = false;
      ExpectFastPathMatchesGeneric(a, PlainRandom(NumElements(a.shape), 12));
      Case m = c;  // SPPF-like k5 s1 p2
      m.args.kernel_size = {5};
      m.args.stride = {1};
      m.args.padding = {2};
      ExpectFastPathMatchesGeneric(m, SpecialRandom(NumElements(m.shape), 13));
    }
  });
}

// Small channels-first planes (SPPF's 20x20) take a flattened kernel that
// skips the NaN handling for planes without NaN: ties of +0/-0 and
// infinities, in planes with and without NaN, on every window size the
// kernel specialises (3, 5) and others, strides and ceil_mode.
TEST(SimdPool, SmallPlanesWithAndWithoutNaNMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 100;
    for (int64_t k : {1, 2, 3, 5, 7, 9}) {
      for (int64_t sh : {1, 2}) {
        for (bool ceil : {false, true}) {
          for (int64_t w : {int64_t{5}, int64_t{20}, int64_t{33}}) {
            Case c;
            c.op = {PoolKind::kMax, 2};
            c.shape = {2, 5, 20, w};
            c.args.kernel_size = {k, k};
            c.args.stride = {sh, 1};
            c.args.padding = {k / 2, k / 2};
            c.args.ceil_mode = ceil;
            std::vector<float> v = SpecialRandom(NumElements(c.shape), seed++);
            // Planes 0..8 without NaN (signed zeros instead); plane 9 keeps
            // its NaNs, and plane 4 gets exactly one.
            const int64_t plane = 20 * w;
            for (int64_t i = 0; i < 9 * plane; ++i) {
              if (std::isnan(v[static_cast<size_t>(i)])) {
                v[static_cast<size_t>(i)] =
                    std::signbit(v[static_cast<size_t>(i)]) ? -0.0f : 0.0f;
              }
            }
            v[static_cast<size_t>(4 * plane + 7 * w + 3)] =
                std::numeric_limits<float>::quiet_NaN();
            ExpectFastPathMatchesGeneric(c, v);
            if (::testing::Test::HasFatalFailure()) return;
            if (k == 5 && sh == 1 && !ceil && w == 20) {
              Case h = c;  // the same through bfloat16 and float16
              for (DType dt : {DType::kBFloat16, DType::kFloat16}) {
                h.dtype = dt;
                ExpectFastPathMatchesGeneric(h, v);
                if (::testing::Test::HasFatalFailure()) return;
              }
            }
          }
        }
      }
    }
  });
}

TEST(SimdPool, AvgPool2dMatchesGenericOnEveryTarget) {
  ForEachTarget([] {
    uint32_t seed = 100;
    for (bool cl : {false, true}) {
      for (int64_t k : {1, 2, 3, 5}) {
        for (int64_t s : {1, 2, 3}) {
          if (!cl && s == 3) continue;
          for (int64_t p = 0; p <= k / 2; ++p) {
            for (bool ceil : {false, true}) {
              for (bool cip : {false, true}) {
                for (int64_t w : {int64_t{5}, int64_t{18}, int64_t{33}}) {
                  if (w + 2 * p < k) continue;
                  Case c;
                  c.op = {PoolKind::kAvg, 2};
                  c.shape = Shape(2, cl ? 21 : 3, 9, w, cl);
                  c.args.kernel_size = {k};
                  c.args.stride = {s};
                  c.args.padding = {p};
                  c.args.ceil_mode = ceil;
                  c.args.count_include_pad = cip;
                  c.args.channels_last = cl;
                  // Mostly smooth values; every third case with specials.
                  const int64_t n = NumElements(c.shape);
                  ExpectFastPathMatchesGeneric(c, seed % 3 == 0
                                                      ? SpecialRandom(n, seed)
                                                      : PlainRandom(n, seed));
                  ++seed;
                  if (::testing::Test::HasFatalFailure()) return;
                }
              }
            }
          }
        }
      }
    }
  });
}

// Stride-1 channels-first avg_pool reads the input in place on AVX-512
// (masked loads instead of padded copies): rows of several groups of four
// vectors, with masked and unmasked groups and short last groups, windows at
// and past the size it takes (8 taps), rectangular ones, and rows too wide
// for its mask table.
TEST(SimdPool, AvgPoolStride1WideRowsMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 700;
    const std::vector<std::vector<int64_t>> kernels = {
        {3, 3}, {2, 4}, {5, 5}, {7, 7}, {8, 8}, {9, 9}, {1, 6}};
    for (const std::vector<int64_t>& k : kernels) {
      for (int64_t w : {int64_t{64}, int64_t{65}, int64_t{100}, int64_t{150},
                        int64_t{1400}}) {
        for (bool pad : {false, true}) {
          for (bool ceil : {false, true}) {
            Case c;
            c.op = {PoolKind::kAvg, 2};
            c.shape = Shape(2, 2, 11, w, false);
            c.args.kernel_size = k;
            c.args.stride = {1};
            c.args.padding = {pad ? k[0] / 2 : 0, pad ? k[1] / 2 : 0};
            c.args.ceil_mode = ceil;
            c.args.count_include_pad = seed % 2 == 0;
            const int64_t n = NumElements(c.shape);
            ExpectFastPathMatchesGeneric(c, seed % 3 == 0
                                                ? SpecialRandom(n, seed)
                                                : PlainRandom(n, seed));
            ++seed;
            if (::testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  });
}

TEST(SimdPool, AvgPoolDivisorOverrideMatchesGeneric) {
  ForEachTarget([] {
    for (bool cl : {false, true}) {
      for (int64_t divisor : {7, -3}) {
        for (bool batched : {true, false}) {
          // Signed zeros in the input: a -3 divisor then gives -0 quotients,
          // which some of ATen's kernels turn into +0.
          Case c;
          c.op = {PoolKind::kAvg, 2};
          c.shape = Shape(1, 5, 12, 17, cl);
          if (!batched) c.shape.erase(c.shape.begin());
          c.args.kernel_size = {3, 2};
          c.args.stride = {2, 1};
          c.args.padding = {1, 1};
          c.args.divisor_override = divisor;
          c.args.channels_last = cl;
          ExpectFastPathMatchesGeneric(c,
                                       SpecialRandom(NumElements(c.shape), 21));
        }
      }
    }
  });
}

// Floats from uniformly random bit patterns: every binade (subnormals,
// values near FLT_MAX), both zeros, infinities and NaN payloads.
std::vector<float> RandomBitPatterns(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) {
    const uint32_t bits = rng();
    std::memcpy(&x, &bits, sizeof x);
  }
  return v;
}

// Quotients of sums from every binade (subnormal, near FLT_MAX, infinite,
// NaN payloads): with 1x1 windows each output is x / divisor for a random
// x; 3x3 windows divide sums of such values. Any faster division the
// kernels use must round exactly as a divide does.
TEST(SimdPool, AvgPoolQuotientsOfEveryBinadeMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 900;
    for (bool cl : {false, true}) {
      for (int64_t k : {1, 3}) {
        for (int64_t divisor :
             {0, 1, 3, 6, 9, 255, 65535, 65536, 65537, 1000003}) {
          Case c;
          c.op = {PoolKind::kAvg, 2};
          c.shape = Shape(2, cl ? 19 : 3, 11, 37, cl);
          c.args.kernel_size = {k};
          c.args.stride = {1};
          c.args.padding = {k / 2};
          c.args.count_include_pad = false;
          if (divisor != 0) c.args.divisor_override = divisor;
          c.args.channels_last = cl;
          ExpectFastPathMatchesGeneric(
              c, RandomBitPatterns(NumElements(c.shape), seed++));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  });
}

TEST(SimdPool, AvgPool1dMatchesGeneric) {
  ForEachTarget([] {
    for (bool cl : {false, true}) {
      Case c;
      c.op = {PoolKind::kAvg, 1};
      c.shape =
          cl ? std::vector<int64_t>{3, 40, 6} : std::vector<int64_t>{3, 6, 40};
      c.args.kernel_size = {4};
      c.args.stride = {1};
      c.args.padding = {2};
      c.args.channels_last = cl;
      ExpectFastPathMatchesGeneric(c, SpecialRandom(NumElements(c.shape), 31));
    }
  });
}

TEST(SimdPool, GlobalAvgPoolMatchesGenericOnEveryTarget) {
  ForEachTarget([] {
    uint32_t seed = 300;
    struct Size {
      int64_t h, w;
    };
    // 4900 and 65536 positions reach the cascade's second and third levels.
    for (Size hw : {Size{1, 1}, Size{2, 3}, Size{3, 5}, Size{7, 7},
                    Size{16, 16}, Size{70, 70}, Size{256, 256}}) {
      for (bool cl : {false, true}) {
        for (int64_t ch : {1, 3, 8, 33, 70}) {
          if (hw.h * hw.w * ch > 300000) continue;
          Case c;
          c.op = {PoolKind::kAdaptiveAvg, 2};
          c.shape = Shape(2, ch, hw.h, hw.w, cl);
          c.args.output_size = {1, 1};
          c.args.channels_last = cl;
          c.threads = 2;
          const int64_t n = NumElements(c.shape);
          ExpectFastPathMatchesGeneric(
              c, seed % 4 == 0 ? SpecialRandom(n, seed) : PlainRandom(n, seed));
          ++seed;
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  });
}

// On AVX-512 channels-first global averages of short planes go sixteen
// planes at a time (a lane transpose, then the adds): plane counts around
// multiples of 16, thread splits that start a group at any plane, tails of
// 0 to 7 elements, and planes of signed zeros and NaN match the generic
// cascade plane by plane.
TEST(SimdPool, GlobalAvgPoolSixteenPlaneGroupsMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 1200;
    for (int64_t planes : {15, 16, 17, 31, 33, 48, 70}) {
      for (int64_t size : {8, 9, 15, 49, 63, 100, 511}) {
        for (int threads : {1, 3}) {
          Case c;
          c.op = {PoolKind::kAdaptiveAvg, 2};
          c.shape = {1, planes, 1, size};
          c.args.output_size = {1, 1};
          c.threads = threads;
          std::vector<float> v = seed % 3 == 0
                                     ? SpecialRandom(planes * size, seed)
                                     : PlainRandom(planes * size, seed);
          ++seed;
          for (int64_t i = 0; i < size; ++i) {
            v[static_cast<size_t>(5 * size + i)] = -0.0f;  // plane 5: all -0
          }
          v[static_cast<size_t>(9 * size + size - 1)] =
              std::numeric_limits<float>::quiet_NaN();
          ExpectFastPathMatchesGeneric(c, v);
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
  });
}

// Values whose float16 images include subnormals (below 6.1e-5).
std::vector<float> WithTinyValues(std::vector<float> v, uint32_t seed) {
  std::mt19937 rng(seed);
  for (float& x : v) {
    if (rng() % 4 == 0) x *= 1e-6f;
  }
  return v;
}

// Channels-first global averages of planes shorter than 64 vectors of 8
// take a shortcut (plain sums, no cascade levels): planes around that
// boundary, and planes of only -0.0 (whose mean must come out +0.0) or
// holding NaN, match the generic cascade.
TEST(SimdPool, GlobalAvgPoolShortcutBoundaryAndSignedZerosMatchGeneric) {
  ForEachTarget([] {
    uint32_t seed = 900;
    for (int64_t size : {8, 9, 31, 32, 49, 255, 256, 504, 511, 512, 513, 520}) {
      Case c;
      c.op = {PoolKind::kAdaptiveAvg, 2};
      c.shape = {2, 9, 1, size};
      c.args.output_size = {1, 1};
      std::vector<float> v = PlainRandom(NumElements(c.shape), seed++);
      for (int64_t i = 0; i < size; ++i) {
        v[static_cast<size_t>(i)] = -0.0f;  // plane 0: all -0
        v[static_cast<size_t>(size + i)] =
            i % 2 ? -0.0f : 0.0f;  // plane 1: mixed zeros
      }
      v[static_cast<size_t>(2 * size + size / 2)] =
          std::numeric_limits<float>::quiet_NaN();
      ExpectFastPathMatchesGeneric(c, v);
      if (::testing::Test::HasFatalFailure()) return;
    }
  });
}

TEST(SimdPool, HalfPrecisionMaxAndAvgMatchGenericOnEveryTarget) {
  ForEachTarget([] {
    uint32_t seed = 500;
    for (DType dtype : {DType::kBFloat16, DType::kFloat16}) {
      for (PoolKind kind : {PoolKind::kMax, PoolKind::kAvg}) {
        for (bool cl : {false, true}) {
          for (int64_t k : {2, 3, 5}) {
            for (int64_t s : {1, 2}) {
              for (int64_t w : {int64_t{7}, int64_t{37}}) {
                Case c;
                c.op = {kind, 2};
                c.dtype = dtype;
                c.shape = Shape(2, cl ? 35 : 3, 9, w, cl);
                c.args.kernel_size = {k};
                c.args.stride = {s};
                c.args.padding = {k / 2};
                c.args.ceil_mode = (seed & 1) != 0;
                c.args.count_include_pad = (seed & 2) != 0;
                c.args.channels_last = cl;
                const int64_t n = NumElements(c.shape);
                std::vector<float> values =
                    kind == PoolKind::kMax || seed % 3 == 0
                        ? SpecialRandom(n, seed)
                        : PlainRandom(n, seed);
                ExpectFastPathMatchesGeneric(
                    c, WithTinyValues(std::move(values), seed));
                ++seed;
                if (::testing::Test::HasFatalFailure()) return;
              }
            }
          }
        }
      }
    }
  });
}

// Seeded random configurations: every argument the fast paths accept,
// mixed (kernel, stride, padding per axis, ceil_mode, count_include_pad,
// divisor_override, batched or not, 1-D or 2-D, layouts, dtypes, threads).
TEST(SimdPool, RandomConfigurationsMatchGenericOnEveryTarget) {
  ForEachTarget([] {
    std::mt19937 rng(2024);
    auto pick = [&](int64_t lo, int64_t hi) {
      return lo +
             static_cast<int64_t>(rng() % static_cast<uint32_t>(hi - lo + 1));
    };
    for (int i = 0; i < 300; ++i) {
      Case c;
      const bool avg = rng() % 2 == 0;
      const int dims = rng() % 4 == 0 ? 1 : 2;
      c.op = {avg ? PoolKind::kAvg : PoolKind::kMax, dims};
      const DType dtypes[] = {DType::kFloat32, DType::kFloat32,
                              DType::kBFloat16, DType::kFloat16};
      c.dtype = dtypes[rng() % 4];
      c.args.channels_last = rng() % 2 == 0;
      c.threads = static_cast<int>(pick(1, 2));
      const int64_t ch = pick(1, 40);
      std::vector<int64_t> spatial;
      c.args.padding.clear();  // PoolArgs defaults to {0}
      for (int d = 0; d < dims; ++d) {
        const int64_t k = pick(1, 6);
        // Channels-first handles width strides 1 and 2 only.
        const int64_t s =
            d == dims - 1 && !c.args.channels_last ? pick(1, 2) : pick(1, 3);
        const int64_t p = pick(0, k / 2);
        c.args.kernel_size.push_back(k);
        c.args.stride.push_back(s);
        c.args.padding.push_back(p);
        spatial.push_back(pick(std::max<int64_t>(k - 2 * p, 1), 30));
      }
      c.args.ceil_mode = rng() % 2 == 0;
      if (avg) {
        c.args.count_include_pad = rng() % 2 == 0;
        if (dims == 2 && rng() % 5 == 0)
          c.args.divisor_override = pick(-5, 9) | 1;
      }
      if (rng() % 3 != 0) c.shape.push_back(pick(1, 3));  // batch
      if (!c.args.channels_last) c.shape.push_back(ch);
      c.shape.insert(c.shape.end(), spatial.begin(), spatial.end());
      if (c.args.channels_last) c.shape.push_back(ch);
      const int64_t n = NumElements(c.shape);
      const uint32_t seed = rng();
      ExpectFastPathMatchesGeneric(
          c, WithTinyValues(avg && seed % 2 ? PlainRandom(n, seed)
                                            : SpecialRandom(n, seed),
                            seed));
      if (::testing::Test::HasFatalFailure()) return;
    }
  });
}

// DispatchedTargetName reports the target the kernels really run with,
// including one chosen by SetSupportedTargetsForTest; the best by default.
TEST(SimdPool, DispatchedTargetNameIsTheTargetInUse) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    EXPECT_STREQ(simd::DispatchedTargetName(), hwy::TargetName(target));
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_STREQ(simd::DispatchedTargetName(), hwy::TargetName(targets.front()));
}

TEST(SimdPool, DeclinesWhatItDoesNotHandle) {
  const std::vector<int64_t> shape = {1, 2, 8, 8};
  std::vector<float> data(128, 1.0f);
  const TensorView in{DType::kFloat32, shape, data.data()};
  std::vector<float> out(128);
  std::vector<int64_t> idx(128);
  auto plan_for = [&](PoolArgs args, PoolKind kind = PoolKind::kMax) {
    return *PlanPool({kind, 2}, DType::kFloat32, shape, args);
  };
  PoolArgs base;
  base.kernel_size = {2};
  {
    PoolArgs a = base;
    a.return_indices = true;
    const PoolPlan plan = plan_for(a);
    const MutableTensorView ov{DType::kFloat32, plan.output_shape, out.data()};
    const MutableTensorView iv{DType::kInt64, plan.indices_shape, idx.data()};
    EXPECT_FALSE(simd::TryMaxPool(plan, in, ov, &iv, {}));
  }
  {
    PoolArgs a = base;
    a.dilation = {2};
    const PoolPlan plan = plan_for(a);
    const MutableTensorView ov{DType::kFloat32, plan.output_shape, out.data()};
    EXPECT_FALSE(simd::TryMaxPool(plan, in, ov, nullptr, {}));
  }
  {
    PoolArgs a = base;
    a.stride = {3};
    const PoolPlan plan = plan_for(a);
    const MutableTensorView ov{DType::kFloat32, plan.output_shape, out.data()};
    EXPECT_FALSE(simd::TryMaxPool(plan, in, ov, nullptr,
                                  {}));  // channels-first stride 3
  }
  {
    std::vector<double> d64(128, 1.0);
    const PoolPlan plan =
        *PlanPool({PoolKind::kMax, 2}, DType::kFloat64, shape, base);
    const TensorView in64{DType::kFloat64, shape, d64.data()};
    std::vector<double> o64(128);
    const MutableTensorView ov{DType::kFloat64, plan.output_shape, o64.data()};
    EXPECT_FALSE(simd::TryMaxPool(plan, in64, ov, nullptr, {}));
  }
  {
    simd::SetFastPathsEnabledForTest(false);
    const PoolPlan plan = plan_for(base);
    const MutableTensorView ov{DType::kFloat32, plan.output_shape, out.data()};
    EXPECT_FALSE(simd::TryMaxPool(plan, in, ov, nullptr, {}));
    simd::SetFastPathsEnabledForTest(true);
    EXPECT_TRUE(simd::TryMaxPool(plan, in, ov, nullptr, {}));
  }
}

}  // namespace
}  // namespace poolcat
