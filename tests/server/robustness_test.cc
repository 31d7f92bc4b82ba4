// Seeded random requests, valid and not, against an in-process server: every
// answer is a definite status (never UNKNOWN or INTERNAL) and the server
// keeps serving. Deterministic: a fixed seed, no timing.
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/float16.h"
#include "core/npy.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "poolcat/v1/poolcat.grpc.pb.h"
#include "server/compute.h"
#include "server/convert.h"
#include "server/server.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;

class RandomRequests {
 public:
  explicit RandomRequests(uint32_t seed) : rng_(seed) {}

  // Half the time a plausible request (a real op, a small float input of the
  // right rank, small arguments) so that the valid paths are exercised too.
  v1::PoolRequest Pool() { return Chance(0.5) ? Plausible() : Wild(); }

  v1::PoolRequest Plausible() {
    static const char* const kKinds[] = {"max_pool", "avg_pool", "lp_pool",
                                         "adaptive_max_pool",
                                         "adaptive_avg_pool"};
    const std::string kind = kKinds[Below(std::size(kKinds))];
    const int spatial = kind == "lp_pool" ? 1 + static_cast<int>(Below(2))
                                          : 1 + static_cast<int>(Below(3));
    v1::PoolRequest r;
    r.set_op(kind + std::to_string(spatial) + "d");
    v1::Tensor* t = r.mutable_input();
    t->set_dtype(v1::DTYPE_FLOAT32);
    const int rank = spatial + (Chance(0.8) ? 2 : 1);
    int64_t numel = 1;
    for (int i = 0; i < rank; ++i) {
      const int64_t dim = 1 + static_cast<int64_t>(Below(6));
      t->add_shape(dim);
      numel *= dim;
    }
    std::string data(static_cast<size_t>(numel) * 4, '\0');
    for (size_t i = 0; i < data.size(); i += 4)
      data[i + 2] = static_cast<char>(Below(128));
    t->set_data(std::move(data));
    if (kind.rfind("adaptive", 0) == 0) {
      r.add_output_size(1 + static_cast<int64_t>(Below(3)));
    } else {
      r.add_kernel_size(1 + static_cast<int64_t>(Below(3)));
      if (Chance(0.5)) r.add_stride(1 + static_cast<int64_t>(Below(2)));
      if (Chance(0.3)) r.add_padding(static_cast<int64_t>(Below(2)));
      r.set_ceil_mode(Chance(0.3));
    }
    if (kind == "lp_pool") r.set_norm_type(Chance(0.5) ? 2.0 : 1.5);
    r.set_channels_last(Chance(0.3));
    r.set_return_indices(kind.find("max") != std::string::npos && Chance(0.3));
    return r;
  }

  v1::PoolRequest Wild() {
    static const char* const kOps[] = {
        "max_pool1d",          "max_pool2d",
        "max_pool3d",          "avg_pool1d",
        "avg_pool2d",          "avg_pool3d",
        "lp_pool1d",           "lp_pool2d",
        "adaptive_max_pool1d", "adaptive_max_pool2d",
        "adaptive_max_pool3d", "adaptive_avg_pool1d",
        "adaptive_avg_pool2d", "adaptive_avg_pool3d",
        "max_pool4d",          ""};
    v1::PoolRequest r;
    r.set_op(kOps[Below(std::size(kOps))]);
    if (Chance(0.95)) Tensor(r.mutable_input());
    for (auto* field :
         {r.mutable_kernel_size(), r.mutable_stride(), r.mutable_padding(),
          r.mutable_dilation(), r.mutable_output_size()}) {
      if (Chance(0.6)) {
        const int n = 1 + static_cast<int>(Below(4));
        for (int i = 0; i < n; ++i) field->Add(SmallOrWild());
      }
    }
    r.set_ceil_mode(Chance(0.3));
    r.set_channels_last(Chance(0.3));
    r.set_return_indices(Chance(0.3));
    if (Chance(0.3)) r.set_count_include_pad(Chance(0.5));
    if (Chance(0.3)) r.set_divisor_override(SmallOrWild());
    if (Chance(0.5)) {
      const double norms[] = {0.0,
                              -1.0,
                              1.0,
                              2.0,
                              3.5,
                              std::numeric_limits<double>::infinity(),
                              std::numeric_limits<double>::quiet_NaN(),
                              1e308};
      r.set_norm_type(norms[Below(std::size(norms))]);
    }
    return r;
  }

  v1::ConcatRequest Concat() {
    v1::ConcatRequest r;
    r.set_dim(Chance(0.3) ? SmallOrWild() : static_cast<int64_t>(Below(7)) - 3);
    const int n = static_cast<int>(Below(5));
    for (int i = 0; i < n; ++i) Tensor(r.add_tensors());
    return r;
  }

 private:
  uint64_t Below(uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
  }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int64_t SmallOrWild() {
    static const int64_t kValues[] = {std::numeric_limits<int64_t>::min(),
                                      -5,
                                      -1,
                                      0,
                                      1,
                                      1,
                                      2,
                                      2,
                                      3,
                                      4,
                                      7,
                                      int64_t{1} << 40,
                                      std::numeric_limits<int64_t>::max()};
    return kValues[Below(std::size(kValues))];
  }

  void Tensor(v1::Tensor* t) {
    // Mostly valid dtypes, sometimes unspecified or unknown enum values.
    static const int kDTypes[] = {0, 1, 1, 1, 2,  3,  4,  5,
                                  6, 7, 8, 9, 10, 11, -3, 1000};
    static const int kSizes[] = {4, 4, 4, 4, 8, 2, 2, 1,
                                 1, 2, 4, 8, 1, 4, 4, 4};
    const size_t d = Below(std::size(kDTypes));
    t->set_dtype(static_cast<v1::DType>(kDTypes[d]));
    const int rank = static_cast<int>(Below(7));
    int64_t numel = 1;
    bool wild = false;
    for (int i = 0; i < rank; ++i) {
      const int64_t dim =
          Chance(0.9) ? static_cast<int64_t>(Below(6)) : SmallOrWild();
      t->add_shape(dim);
      if (dim < 0 || dim > 64) wild = true;
      if (!wild) numel *= dim;
    }
    uint64_t bytes =
        wild ? Below(64) : static_cast<uint64_t>(numel) * kSizes[d];
    if (Chance(0.1)) bytes = bytes > 0 && Chance(0.5) ? bytes - 1 : bytes + 1;
    std::string data(bytes, '\0');
    for (char& c : data) c = static_cast<char>(Below(256));
    t->set_data(std::move(data));
  }

  std::mt19937 rng_;
};

bool IsDefiniteAnswer(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

TEST(Robustness, RandomRequestsGetDefiniteAnswersAndTheServerKeepsServing) {
  ServerOptions options;
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  absl::StatusOr<std::unique_ptr<PoolCatServer>> server =
      PoolCatServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::PoolCat::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  RandomRequests random(20261125);
  int ok = 0;
  for (int i = 0; i < 1000; ++i) {
    grpc::ClientContext context;
    grpc::Status status;
    std::string what;
    if (i % 4 == 3) {
      const v1::ConcatRequest request = random.Concat();
      v1::ConcatResponse response;
      status = stub->Concat(&context, request, &response);
      what = request.ShortDebugString().substr(0, 300);
    } else {
      const v1::PoolRequest request = random.Pool();
      v1::PoolResponse response;
      status = stub->Pool(&context, request, &response);
      what = request.ShortDebugString().substr(0, 300);
    }
    EXPECT_TRUE(IsDefiniteAnswer(status.error_code()))
        << "request " << i << " got " << status.error_code() << ": "
        << status.error_message() << "\n"
        << what;
    if (!status.ok()) {
      EXPECT_FALSE(status.error_message().empty()) << what;
    }
    ok += status.ok();
  }
  // Some requests must have been valid, or the generator tests nothing.
  EXPECT_GT(ok, 100);
  v1::EchoRequest request;
  v1::EchoResponse response;
  grpc::ClientContext context;
  EXPECT_TRUE(stub->Echo(&context, request, &response).ok());
}

// --- Regressions found by the fuzz targets in tests/fuzz (each input is
// also kept in tests/fuzz/corpus/<target>/crash-*). --------------------------

// concat_request_fuzzer: an empty tensor whose sizes overflow int64 before
// its zero dim ([83, 4633647698040324095, ..., 0]) passed validation and
// then overflowed NumElements (signed overflow, UBSan) while sizing the
// response. torch refuses such shapes ("Storage size calculation
// overflowed"); so does the server now, as RESOURCE_EXHAUSTED.
TEST(FuzzRegression, EmptyShapeOverflowingBeforeItsZeroDimIsResourceExhausted) {
  v1::ConcatRequest request;
  v1::Tensor* t = request.add_tensors();
  t->set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d :
       {int64_t{83}, int64_t{4633647698040324095}, int64_t{2}, int64_t{0}}) {
    t->add_shape(d);
  }
  absl::StatusOr<PreparedConcat> prepared = PrepareConcat(request, Limits{});
  ASSERT_FALSE(prepared.ok());
  EXPECT_EQ(prepared.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(prepared.status().message().find(
                "tensors[0] shape [83, 4633647698040324095, 2, 0]"),
            std::string::npos)
      << prepared.status();
  // Sizes whose product stays in range before the zero are a valid empty
  // tensor, as in torch (torch.empty(0, 2**62, 4)).
  v1::Tensor ok;
  ok.set_dtype(v1::DTYPE_FLOAT32);
  for (int64_t d : {int64_t{0}, int64_t{1} << 62, int64_t{4}}) ok.add_shape(d);
  absl::StatusOr<TensorView> view =
      TensorViewFromProto(ok, kDefaultMaxElements, "input");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->numel(), 0);
}

// The same shape in a .npy header (the CLI's input) is refused too.
TEST(FuzzRegression, NpyShapeOverflowingBeforeItsZeroDimIsRefused) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (83, "
      "4633647698040324095, 0), }";
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy += static_cast<char>(header.size() & 0xff);
  npy += static_cast<char>(header.size() >> 8);
  npy += header;
  absl::StatusOr<Tensor> parsed = ParseNpy(npy);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kResourceExhausted)
      << parsed.status();
  EXPECT_NE(parsed.status().message().find("overflows"), std::string::npos)
      << parsed.status();
}

// avg_pool_fuzzer: avg_pool1d has no divisor_override in PyTorch, and the
// generic kernel ignored it, but the SIMD path (which runs 1-d as 2-d)
// applied it: a bfloat16 channels-last avg_pool1d with kernel 7 and
// divisor_override=3 came out 7/3 too large. The plan now drops it.
TEST(FuzzRegression, AvgPool1dIgnoresDivisorOverrideOnEveryPath) {
  for (const bool channels_last : {false, true}) {
    for (const DType dtype : {DType::kBFloat16, DType::kFloat32}) {
      absl::StatusOr<Tensor> input = Tensor::Empty(dtype, {1, 11, 6});
      ASSERT_TRUE(input.ok());
      for (int64_t i = 0; i < input->numel(); ++i) {
        const float v = static_cast<float>(i % 13) - 4.0f;
        if (dtype == DType::kBFloat16) {
          input->data_as<BFloat16>()[i] = FloatToBFloat16(v);
        } else {
          input->data_as<float>()[i] = v;
        }
      }
      PoolArgs args;
      args.kernel_size = {channels_last ? 7 : 3};  // 7: the fuzzer's case
      args.ceil_mode = true;
      args.channels_last = channels_last;
      absl::StatusOr<PoolResult> plain = Pool("avg_pool1d", *input, args);
      args.divisor_override = 3;
      absl::StatusOr<PoolResult> overridden = Pool("avg_pool1d", *input, args);
      ASSERT_TRUE(plain.ok()) << plain.status();
      ASSERT_TRUE(overridden.ok()) << overridden.status();
      EXPECT_EQ(plain->output.bytes(), overridden->output.bytes())
          << "channels_last=" << channels_last << " dtype=" << DTypeName(dtype);
    }
  }
}

}  // namespace
}  // namespace poolcat::server
