#include "client/demo.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/tensor_format.h"

namespace poolcat {
namespace {

Tensor Float32(std::vector<int64_t> shape, const std::vector<float>& values) {
  return Tensor::FromValues<float>(DType::kFloat32, std::move(shape),
                                   absl::MakeConstSpan(values));
}

std::vector<float> Range(int n, float offset = 0) {
  std::vector<float> values(n);
  for (int i = 0; i < n; ++i) values[i] = static_cast<float>(i) + offset;
  return values;
}

// Same data, another shape (the notebook's 2-D tensors travel as unbatched
// one-channel inputs, which is what its hand-written pool2d computes).
absl::StatusOr<Tensor> Reshape(const Tensor& t, std::vector<int64_t> shape) {
  return Tensor::FromBytes(t.dtype(), std::move(shape), t.bytes());
}

PoolArgs Args(std::vector<int64_t> kernel, std::vector<int64_t> stride = {},
              std::vector<int64_t> padding = {0}) {
  PoolArgs args;
  args.kernel_size = std::move(kernel);
  args.stride = std::move(stride);
  args.padding = std::move(padding);
  return args;
}

// IPython's pretty-printing of a tuple of tensors: "(a,\n b)".
std::string FormatTuple(const std::vector<Tensor>& tensors) {
  std::vector<std::string> parts;
  for (const Tensor& t : tensors) {
    parts.push_back(absl::StrReplaceAll(FormatTensor(t), {{"\n", "\n "}}));
  }
  return absl::StrCat("(", absl::StrJoin(parts, ",\n "), ")");
}

struct Example {
  std::string cell;     // where the notebook shows it
  std::string code;     // the notebook's code
  std::string request;  // what the service is asked
  // Runs the example; returns the tensors the notebook printed, the last
  // of which is the one checked.
  std::function<absl::StatusOr<std::vector<Tensor>>()> run;
  std::vector<int64_t> expected_shape;
  std::vector<float> expected;  // the notebook's printed numbers
  // Where the expected numbers come from, when not the notebook's output.
  std::string expected_source = "the notebook";
};

bool Matches(const Tensor& t, const std::vector<int64_t>& shape,
             const std::vector<float>& values) {
  if (t.dtype() != DType::kFloat32 || t.shape() != shape ||
      t.numel() != static_cast<int64_t>(values.size())) {
    return false;
  }
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.data_as<float>()[i] != values[i]) return false;
  }
  return true;
}

}  // namespace

bool RunDemo(Client& client, const CallOptions& call, std::ostream& out) {
  const Tensor x3 = Float32({3, 3}, Range(9));
  const Tensor x4 = Float32({1, 1, 4, 4}, Range(16));
  const Tensor x4_plus_1 = Float32({1, 1, 4, 4}, Range(16, 1));
  const Tensor matrix =
      Float32({4, 4}, {1, 3, 2, 4, 5, 6, 7, 8, 9, 2, 1, 0, 3, 4, 5, 6});

  // The notebook's pool2d(X, (p_h, p_w), mode) is a stride-1 window over a
  // 2-D tensor: max/avg_pool2d on it as a (1, H, W) unbatched input.
  auto pool_2d = [&](const std::string& op, const Tensor& x2d,
                     const PoolArgs& args) -> absl::StatusOr<Tensor> {
    absl::StatusOr<Tensor> x = Reshape(x2d, {1, x2d.size(0), x2d.size(1)});
    if (!x.ok()) return x.status();
    absl::StatusOr<Tensor> y = client.Pool(op, *x, args, call);
    if (!y.ok()) return y.status();
    return Reshape(*y, {y->size(1), y->size(2)});
  };
  auto pool = [&](const std::string& op, const Tensor& x,
                  const PoolArgs& args) -> absl::StatusOr<std::vector<Tensor>> {
    absl::StatusOr<Tensor> y = client.Pool(op, x, args, call);
    if (!y.ok()) return y.status();
    return std::vector<Tensor>{*std::move(y)};
  };
  auto two_channels = [&]() -> absl::StatusOr<Tensor> {
    return client.Concat({x4, x4_plus_1}, 1, call);
  };

  std::vector<Example> examples;
  examples.push_back(
      {"In [5]",
       "X, pool2d(X, (2, 2))",
       "max_pool2d(X as (1, 3, 3), kernel_size=(2, 2), stride=1)",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> y =
             pool_2d("max_pool2d", x3, Args({2, 2}, {1}));
         if (!y.ok()) return y.status();
         return std::vector<Tensor>{x3, *std::move(y)};
       },
       {2, 2},
       {4, 5, 7, 8}});
  examples.push_back(
      {"In [6]",
       "pool2d(X, (2, 2), 'avg')",
       "avg_pool2d(X as (1, 3, 3), kernel_size=(2, 2), stride=1)",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> y =
             pool_2d("avg_pool2d", x3, Args({2, 2}, {1}));
         if (!y.ok()) return y.status();
         return std::vector<Tensor>{*std::move(y)};
       },
       {2, 2},
       {2, 3, 5, 6}});
  examples.push_back(
      {"In [7]",
       "X = torch.arange(16, dtype=torch.float32).reshape((1, 1, 4, 4))",
       "Echo(X): the tensor's round trip",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> y = client.Echo(x4, call);
         if (!y.ok()) return y.status();
         return std::vector<Tensor>{*std::move(y)};
       },
       {1, 1, 4, 4},
       Range(16)});
  examples.push_back({"In [8]",
                      "nn.MaxPool2d(3)(X)",
                      "max_pool2d(X, kernel_size=3)",
                      [&]() { return pool("max_pool2d", x4, Args({3})); },
                      {1, 1, 1, 1},
                      {10}});
  examples.push_back(
      {"In [9]",
       "nn.MaxPool2d(3, padding=1, stride=2)(X)",
       "max_pool2d(X, kernel_size=3, stride=2, padding=1)",
       [&]() { return pool("max_pool2d", x4, Args({3}, {2}, {1})); },
       {1, 1, 2, 2},
       {5, 7, 13, 15}});
  examples.push_back(
      {"In [10]",
       "nn.MaxPool2d((2, 3), stride=(2, 3), padding=(0, 1))(X)",
       "max_pool2d(X, kernel_size=(2, 3), stride=(2, 3), padding=(0, 1))",
       [&]() {
         return pool("max_pool2d", x4, Args({2, 3}, {2, 3}, {0, 1}));
       },
       {1, 1, 2, 2},
       {5, 7, 13, 15}});
  std::vector<float> cat_expected = Range(16);
  for (float v : Range(16, 1)) cat_expected.push_back(v);
  examples.push_back({"In [11]",
                      "X = torch.cat((X, X + 1), 1)",
                      "Concat([X, X + 1], dim=1)",
                      [&]() -> absl::StatusOr<std::vector<Tensor>> {
                        absl::StatusOr<Tensor> y = two_channels();
                        if (!y.ok()) return y.status();
                        return std::vector<Tensor>{*std::move(y)};
                      },
                      {1, 2, 4, 4},
                      cat_expected});
  examples.push_back(
      {"In [12]",
       "nn.MaxPool2d(3, padding=1, stride=2)(X)",
       "max_pool2d(two-channel X, kernel_size=3, stride=2, padding=1)",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> x = two_channels();
         if (!x.ok()) return x.status();
         return pool("max_pool2d", *x, Args({3}, {2}, {1}));
       },
       {1, 2, 2, 2},
       {5, 7, 13, 15, 6, 8, 14, 16}});
  examples.push_back(
      {"Markdown, 3.1 max pooling",
       "2x2 max pooling of [[1,3,2,4],[5,6,7,8],[9,2,1,0],[3,4,5,6]]",
       "max_pool2d(matrix as (1, 4, 4), kernel_size=2)",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> y = pool_2d("max_pool2d", matrix, Args({2}));
         if (!y.ok()) return y.status();
         return std::vector<Tensor>{*std::move(y)};
       },
       {2, 2},
       {6, 8, 9, 6}});
  examples.push_back(
      {"Markdown, 3.3 global pooling",
       "global average pooling (GAP) of the two-channel X",
       "adaptive_avg_pool2d(two-channel X, output_size=1)",
       [&]() -> absl::StatusOr<std::vector<Tensor>> {
         absl::StatusOr<Tensor> x = two_channels();
         if (!x.ok()) return x.status();
         PoolArgs args;
         args.output_size = {1};
         return pool("adaptive_avg_pool2d", *x, args);
       },
       {1, 2, 1, 1},
       {7.5, 8.5},
       "the channel means (mean of 0..15 and of 1..16; the notebook "
       "describes GAP without numbers)"});

  out << "Replaying the seed notebook (D2L, pooling) through poolcat-server at "
      << client.options().target << "\n\n";
  int matched = 0;
  for (const Example& example : examples) {
    out << example.cell << ": " << example.code << "\n"
        << "  -> " << example.request << "\n";
    absl::StatusOr<std::vector<Tensor>> result = example.run();
    if (!result.ok()) {
      out << "  FAILED: " << absl::StatusCodeToString(result.status().code())
          << ": " << result.status().message() << "\n\n";
      if (result.status().code() == absl::StatusCode::kUnavailable) {
        // Every other example would wait for the same absent server.
        out << "Is poolcat-server running at " << client.options().target
            << "? (`make run` starts it)\n";
        return false;
      }
      continue;
    }
    const std::vector<Tensor>& tensors = *result;
    out << (tensors.size() == 1 ? FormatTensor(tensors[0])
                                : FormatTuple(tensors))
        << "\n";
    if (Matches(tensors.back(), example.expected_shape, example.expected)) {
      ++matched;
      out << "  matches " << example.expected_source << "\n\n";
    } else {
      out << "  DIFFERS from " << example.expected_source << ": expected "
          << FormatTensor(Float32(example.expected_shape, example.expected))
          << "\n\n";
    }
  }
  out << matched << "/" << examples.size()
      << " examples match the notebook's results\n";
  return matched == static_cast<int>(examples.size());
}

}  // namespace poolcat
