#include "client/tensor_format.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/float16.h"

namespace poolcat {
namespace {

// torch's default print options.
constexpr int kPrecision = 4;
constexpr int kLineWidth = 80;
constexpr int64_t kThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

// The element indices torch shows: all, or the first and last kEdgeItems
// of every dim when summarising.
void ShownIndices(const Tensor& t, bool summarize, int64_t dim, int64_t base,
                  std::vector<int64_t>* out) {
  const int64_t size = t.shape()[dim];
  int64_t stride = 1;
  for (size_t d = dim + 1; d < t.shape().size(); ++d) stride *= t.shape()[d];
  auto visit = [&](int64_t i) {
    if (dim + 1 == t.dim()) {
      out->push_back(base + i);
    } else {
      ShownIndices(t, summarize, dim + 1, base + i * stride, out);
    }
  };
  if (summarize && size > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) visit(i);
    for (int64_t i = size - kEdgeItems; i < size; ++i) visit(i);
  } else {
    for (int64_t i = 0; i < size; ++i) visit(i);
  }
}

class Formatter {
 public:
  Formatter(const Tensor& t, const std::vector<int64_t>& shown)
      : floating_(IsFloatingPoint(t.dtype())), dtype_(t.dtype()) {
    if (!floating_) {
      for (int64_t i : shown) {
        width_ = std::max(width_, static_cast<int>(Raw(t, i).size()));
      }
      return;
    }
    // As torch/_tensor_str.py: the mode and the column width come from the
    // finite non-zero values only.
    std::vector<double> finite_nonzero;
    for (int64_t i : shown) {
      double v = ElementAsDouble(t, i);
      if (std::isfinite(v) && v != 0) finite_nonzero.push_back(v);
    }
    if (finite_nonzero.empty()) return;
    double lo = std::fabs(finite_nonzero[0]), hi = lo;
    for (double v : finite_nonzero) {
      if (v != std::ceil(v)) int_mode_ = false;
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
    }
    sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || (!int_mode_ && lo < 1e-4);
    for (double v : finite_nonzero) {
      width_ = std::max(width_, static_cast<int>(FormatValue(v).size()));
    }
  }

  int width() const { return width_; }

  std::string Format(const Tensor& t, int64_t i) const {
    std::string s;
    if (!floating_) {
      s = Raw(t, i);
    } else {
      s = FormatValue(ElementAsDouble(t, i));
    }
    if (static_cast<int>(s.size()) < width_) {
      s.insert(0, width_ - s.size(), ' ');
    }
    return s;
  }

 private:
  std::string FormatValue(double v) const {
    std::string s;
    if (sci_mode_) {
      s = absl::StrFormat("%.*e", kPrecision, v);
    } else if (int_mode_) {
      s = absl::StrFormat("%.0f", v);
      if (std::isfinite(v)) s += ".";
    } else {
      s = absl::StrFormat("%.*f", kPrecision, v);
    }
    return PythonSpecials(s);
  }

  // printf spells non-finite values "nan"/"inf" as Python does, but may add
  // a sign to NaN; Python never does.
  static std::string PythonSpecials(std::string s) {
    if (s == "-nan") return "nan";
    return s;
  }

  std::string Raw(const Tensor& t, int64_t i) const {
    if (dtype_ == DType::kBool) {
      return t.data_as<uint8_t>()[i] != 0 ? "True" : "False";
    }
    // int64 read as such: a double would round values past 2^53.
    if (dtype_ == DType::kInt64) return absl::StrCat(t.data_as<int64_t>()[i]);
    return absl::StrCat(static_cast<int64_t>(ElementAsDouble(t, i)));
  }

  bool floating_;
  DType dtype_;
  bool int_mode_ = true;
  bool sci_mode_ = false;
  int width_ = 1;
};

std::string FormatDim(const Tensor& t, const Formatter& f, bool summarize,
                      int64_t dim, int64_t base, int indent) {
  const int64_t size = t.shape()[dim];
  int64_t stride = 1;
  for (size_t d = dim + 1; d < t.shape().size(); ++d) stride *= t.shape()[d];
  const bool cut = summarize && size > 2 * kEdgeItems;
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < size; ++i) {
    if (cut && i == kEdgeItems) {
      rows.push_back(-1);  // the "..." marker
      i = size - kEdgeItems - 1;
      continue;
    }
    rows.push_back(i);
  }

  if (dim + 1 == t.dim()) {
    const int element_length = f.width() + 2;
    const int per_line = std::max(1, (kLineWidth - indent) / element_length);
    std::vector<std::string> items;
    for (int64_t r : rows) {
      items.push_back(r < 0 ? std::string(" ...") : f.Format(t, base + r));
    }
    std::vector<std::string> lines;
    for (size_t i = 0; i < items.size(); i += per_line) {
      size_t end = std::min(items.size(), i + per_line);
      lines.push_back(
          absl::StrJoin(items.begin() + i, items.begin() + end, ", "));
    }
    return absl::StrCat(
        "[",
        absl::StrJoin(lines, absl::StrCat(",\n", std::string(indent + 1, ' '))),
        "]");
  }
  std::vector<std::string> slices;
  for (int64_t r : rows) {
    slices.push_back(r < 0 ? std::string("...")
                           : FormatDim(t, f, summarize, dim + 1,
                                       base + r * stride, indent + 1));
  }
  const std::string sep = absl::StrCat(
      ",", std::string(t.dim() - dim - 1, '\n'), std::string(indent + 1, ' '));
  return absl::StrCat("[", absl::StrJoin(slices, sep), "]");
}

}  // namespace

double ElementAsDouble(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat32:
      return t.data_as<float>()[i];
    case DType::kFloat64:
      return t.data_as<double>()[i];
    case DType::kBFloat16:
      return BFloat16ToFloat(t.data_as<BFloat16>()[i]);
    case DType::kFloat16:
      return Float16ToFloat(t.data_as<Float16>()[i]);
    case DType::kInt8:
      return t.data_as<int8_t>()[i];
    case DType::kUInt8:
      return t.data_as<uint8_t>()[i];
    case DType::kInt16:
      return t.data_as<int16_t>()[i];
    case DType::kInt32:
      return t.data_as<int32_t>()[i];
    case DType::kInt64:
      return static_cast<double>(t.data_as<int64_t>()[i]);
    case DType::kBool:
      return t.data_as<uint8_t>()[i] != 0 ? 1.0 : 0.0;
  }
  return 0;
}

std::string FormatTensor(const Tensor& t) {
  constexpr absl::string_view kPrefix = "tensor(";
  std::string body;
  std::vector<std::string> suffixes;
  if (t.numel() == 0) {
    body = "[]";
    if (t.shape() != std::vector<int64_t>{0}) {
      suffixes.push_back(absl::StrCat("size=(", absl::StrJoin(t.shape(), ", "),
                                      t.shape().size() == 1 ? ",)" : ")"));
    }
  } else if (t.dim() == 0) {
    std::vector<int64_t> shown = {0};
    body = Formatter(t, shown).Format(t, 0);
    // A scalar is printed without padding.
    body.erase(0, body.find_first_not_of(' '));
  } else {
    const bool summarize = t.numel() > kThreshold;
    std::vector<int64_t> shown;
    ShownIndices(t, summarize, 0, 0, &shown);
    Formatter f(t, shown);
    body = FormatDim(t, f, summarize, 0, 0, static_cast<int>(kPrefix.size()));
  }
  // torch leaves out the dtype only for its defaults.
  if (t.dtype() != DType::kFloat32 && t.dtype() != DType::kInt64 &&
      t.dtype() != DType::kBool) {
    suffixes.push_back(absl::StrCat("dtype=torch.", DTypeName(t.dtype())));
  }
  std::string out = absl::StrCat(kPrefix, body);
  for (const std::string& s : suffixes) absl::StrAppend(&out, ", ", s);
  absl::StrAppend(&out, ")");
  return out;
}

}  // namespace poolcat
