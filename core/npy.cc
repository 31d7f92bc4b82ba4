#include "core/npy.h"

#include <cctype>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace poolcat {
namespace {

constexpr absl::string_view kMagic = "\x93NUMPY";
// NumPy pads the header so the data starts on a 64-byte boundary
// (numpy.lib.format.ARRAY_ALIGN).
constexpr size_t kArrayAlign = 64;
// NumPy leaves room after the shape so the first axis can grow in place
// (numpy.lib.format.GROWTH_AXIS_MAX_DIGITS); we copy it so our files are
// byte-identical to np.save's.
constexpr size_t kGrowthAxisMaxDigits = 21;
// Headers are parsed from untrusted bytes: cap their size well below what
// would let a hostile file make us allocate much.
constexpr size_t kMaxHeaderLen = size_t{1} << 20;

absl::Status NpyError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("npy: ", what));
}

// The descriptor NumPy writes for `dtype`; nullopt for bfloat16.
std::optional<absl::string_view> DescrFor(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "<f4";
    case DType::kFloat64:
      return "<f8";
    case DType::kFloat16:
      return "<f2";
    case DType::kInt8:
      return "|i1";
    case DType::kUInt8:
      return "|u1";
    case DType::kInt16:
      return "<i2";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
    case DType::kBool:
      return "|b1";
    case DType::kBFloat16:
      return std::nullopt;
  }
  return std::nullopt;
}

absl::StatusOr<DType> DTypeForDescr(absl::string_view descr) {
  if (descr.size() < 2) {
    return NpyError(absl::StrCat("unsupported dtype descr '", descr, "'"));
  }
  const char order = descr[0];
  if (order == '>') {
    return NpyError(
        absl::StrCat("big-endian dtype descr '", descr,
                     "' is not supported; save a little-endian array"));
  }
  if (order != '<' && order != '|') {
    return NpyError(absl::StrCat("unsupported dtype descr '", descr, "'"));
  }
  const absl::string_view kind_size = descr.substr(1);
  struct Entry {
    absl::string_view code;
    DType dtype;
  };
  static constexpr Entry kTable[] = {
      {"f4", DType::kFloat32}, {"f8", DType::kFloat64}, {"f2", DType::kFloat16},
      {"i1", DType::kInt8},    {"u1", DType::kUInt8},   {"i2", DType::kInt16},
      {"i4", DType::kInt32},   {"i8", DType::kInt64},   {"b1", DType::kBool},
  };
  for (const Entry& e : kTable) {
    if (e.code == kind_size) {
      // A multi-byte type marked '|' has no defined byte order.
      if (order == '|' && DTypeSize(e.dtype) > 1) break;
      return e.dtype;
    }
  }
  if (kind_size[0] == 'O') {
    return NpyError(
        absl::StrCat("object arrays (descr '", descr, "') are not supported"));
  }
  return NpyError(
      absl::StrCat("unsupported dtype descr '", descr,
                   "'; supported: <f4 <f8 <f2 |i1 |u1 <i2 <i4 <i8 |b1"));
}

// A tiny parser for the Python dict literal NumPy writes, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// It accepts exactly the grammar np.save produces (plus either quote style
// and free whitespace) and nothing else.
class HeaderParser {
 public:
  explicit HeaderParser(absl::string_view text) : text_(text) {}

  struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortran_order;
    std::optional<std::vector<int64_t>> shape;
  };

  absl::StatusOr<Header> Parse() {
    Header h;
    SkipSpace();
    if (!Consume('{')) return Fail("expected '{'");
    while (true) {
      SkipSpace();
      if (Consume('}')) break;
      absl::StatusOr<std::string> key = ParseString();
      if (!key.ok()) return key.status();
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':' after a key");
      SkipSpace();
      if (*key == "descr") {
        if (pos_ < text_.size() && text_[pos_] == '[') {
          return NpyError(
              "structured dtypes (descr is a list) are not supported");
        }
        absl::StatusOr<std::string> v = ParseString();
        if (!v.ok()) return v.status();
        h.descr = *std::move(v);
      } else if (*key == "fortran_order") {
        if (ConsumeWord("True")) {
          h.fortran_order = true;
        } else if (ConsumeWord("False")) {
          h.fortran_order = false;
        } else {
          return Fail("fortran_order must be True or False");
        }
      } else if (*key == "shape") {
        absl::StatusOr<std::vector<int64_t>> v = ParseShape();
        if (!v.ok()) return v.status();
        h.shape = *std::move(v);
      } else {
        return NpyError(absl::StrCat("unexpected header key '", *key, "'"));
      }
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume('}')) break;
      return Fail("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size())
      return Fail("trailing characters after the header dict");
    if (!h.descr || !h.fortran_order || !h.shape) {
      return NpyError(
          "header must have the keys 'descr', 'fortran_order' and 'shape'");
    }
    return h;
  }

 private:
  absl::Status Fail(absl::string_view what) const {
    return NpyError(
        absl::StrCat("malformed header at offset ", pos_, ": ", what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           absl::ascii_isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool ConsumeWord(absl::string_view w) {
    if (text_.substr(pos_, w.size()) == w) {
      pos_ += w.size();
      return true;
    }
    return false;
  }
  absl::StatusOr<std::string> ParseString() {
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Fail("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Fail("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    if (!Consume('(')) return Fail("shape must be a tuple");
    std::vector<int64_t> shape;
    while (true) {
      SkipSpace();
      if (Consume(')')) break;
      if (pos_ >= text_.size() ||
          !absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return Fail("shape entries must be non-negative integers");
      }
      int64_t v = 0;
      while (pos_ < text_.size() &&
             absl::ascii_isdigit(static_cast<unsigned char>(text_[pos_]))) {
        const int digit = text_[pos_] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) {
          return NpyError("shape entry overflows int64");
        }
        v = v * 10 + digit;
        ++pos_;
      }
      Consume('L');  // Python 2 long suffix in old files.
      shape.push_back(v);
      SkipSpace();
      if (Consume(',')) continue;
      SkipSpace();
      if (Consume(')')) break;
      return Fail("expected ',' or ')' in shape");
    }
    return shape;
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

uint32_t ReadLE(absl::string_view bytes, size_t offset, size_t n) {
  uint32_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + i]))
         << (8 * i);
  }
  return v;
}

std::string ShapeRepr(const std::vector<int64_t>& shape) {
  // Python's tuple repr: "()", "(5,)", "(2, 3)".
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

}  // namespace

absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes, int64_t max_elements) {
  if (bytes.size() < kMagic.size() + 2 ||
      bytes.substr(0, kMagic.size()) != kMagic) {
    return NpyError("bad magic: not a .npy file (expected \\x93NUMPY)");
  }
  const int major = static_cast<uint8_t>(bytes[6]);
  const int minor = static_cast<uint8_t>(bytes[7]);
  size_t len_bytes;
  if (major == 1 && minor == 0) {
    len_bytes = 2;
  } else if ((major == 2 || major == 3) && minor == 0) {
    len_bytes = 4;  // 3.0 differs from 2.0 only in allowing a UTF-8 header.
  } else {
    return NpyError(absl::StrCat("unsupported format version ", major, ".",
                                 minor, "; supported: 1.0, 2.0, 3.0"));
  }
  const size_t prefix = kMagic.size() + 2 + len_bytes;
  if (bytes.size() < prefix) return NpyError("truncated header length");
  const size_t header_len = ReadLE(bytes, kMagic.size() + 2, len_bytes);
  if (header_len > kMaxHeaderLen) {
    return NpyError(absl::StrCat("header length ", header_len,
                                 " exceeds the limit of ", kMaxHeaderLen));
  }
  if (bytes.size() - prefix < header_len) {
    return NpyError(absl::StrCat("truncated header: needs ", header_len,
                                 " bytes, only ", bytes.size() - prefix,
                                 " present"));
  }
  absl::StatusOr<HeaderParser::Header> header =
      HeaderParser(bytes.substr(prefix, header_len)).Parse();
  if (!header.ok()) return header.status();
  absl::StatusOr<DType> dtype = DTypeForDescr(*header->descr);
  if (!dtype.ok()) return dtype.status();
  if (*header->fortran_order) {
    // Arrays with at most one non-unit dimension have the same bytes in both
    // orders, so only a genuinely column-major layout is refused.
    int non_unit = 0;
    for (int64_t d : *header->shape) non_unit += d != 1;
    if (non_unit > 1) {
      return NpyError(
          absl::StrCat("Fortran-order arrays are not supported (shape ",
                       ShapeToString(*header->shape),
                       "); save a C-order array (np.ascontiguousarray)"));
    }
  }
  absl::StatusOr<int64_t> numel =
      CheckedNumel(*header->shape, *dtype, max_elements, "npy array");
  if (!numel.ok()) return numel.status();
  // An empty array may still have sizes whose product overflows before the
  // zero dim (NumPy refuses those, "array is too big"); NumElements over such
  // a shape would overflow.
  int64_t running = 1;
  for (const int64_t d : *header->shape) {
    if (d == 0) break;
    if (running > std::numeric_limits<int64_t>::max() / d) {
      return absl::ResourceExhaustedError(
          absl::StrCat("npy array shape ", ShapeToString(*header->shape),
                       " has too many elements (overflows int64 before its "
                       "zero dimension)"));
    }
    running *= d;
  }
  const absl::string_view data = bytes.substr(prefix + header_len);
  const size_t want = static_cast<size_t>(*numel) * DTypeSize(*dtype);
  if (data.size() < want) {
    return NpyError(absl::StrCat("truncated data: shape ",
                                 ShapeToString(*header->shape), " of ",
                                 DTypeName(*dtype), " needs ", want,
                                 " bytes, only ", data.size(), " present"));
  }
  if (data.size() > want) {
    return NpyError(
        absl::StrCat("oversized data: shape ", ShapeToString(*header->shape),
                     " of ", DTypeName(*dtype), " needs ", want, " bytes, but ",
                     data.size(), " follow the header"));
  }
  absl::StatusOr<Tensor> t =
      Tensor::FromBytes(*dtype, *header->shape, data, max_elements);
  if (!t.ok()) return t.status();
  if (*dtype == DType::kBool) {
    // NumPy bools are 0/1 bytes; anything else would be a non-canonical bool
    // that later arithmetic (e.g. cat into uint8) would expose.
    const uint8_t* p = t->data_as<uint8_t>();
    for (int64_t i = 0; i < *numel; ++i) {
      if (p[i] > 1) {
        return NpyError(absl::StrCat("bool element ", i, " has byte value ",
                                     static_cast<int>(p[i]),
                                     "; expected 0 or 1"));
      }
    }
  }
  return t;
}

absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor) {
  const std::optional<absl::string_view> descr = DescrFor(tensor.dtype());
  if (!descr) {
    return NpyError(
        absl::StrCat(DTypeName(tensor.dtype()),
                     " has no NumPy dtype and cannot be written to .npy"));
  }
  // Same text and key order as numpy.lib.format._write_array_header.
  std::string dict = absl::StrCat(
      "{'descr': '", *descr,
      "', 'fortran_order': False, 'shape': ", ShapeRepr(tensor.shape()), ", }");
  if (!tensor.shape().empty()) {
    const size_t digits = absl::StrCat(tensor.shape()[0]).size();
    if (digits < kGrowthAxisMaxDigits)
      dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  auto wrap = [&](int major, size_t len_bytes) {
    const size_t hlen = dict.size() + 1;  // + '\n'
    const size_t pad =
        kArrayAlign - ((kMagic.size() + 2 + len_bytes + hlen) % kArrayAlign);
    const size_t total = hlen + pad;
    std::string out(kMagic);
    out.push_back(static_cast<char>(major));
    out.push_back('\0');
    for (size_t i = 0; i < len_bytes; ++i)
      out.push_back(static_cast<char>((total >> (8 * i)) & 0xff));
    out.append(dict);
    out.append(pad, ' ');
    out.push_back('\n');
    return out;
  };
  std::string out = wrap(1, 2);
  if (out.size() - (kMagic.size() + 4) > 0xffff) out = wrap(2, 4);
  out.append(tensor.bytes().data(), tensor.nbytes());
  return out;
}

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path,
                                   int64_t max_elements) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("cannot open '", path, "' for reading"));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad())
    return absl::DataLossError(absl::StrCat("error reading '", path, "'"));
  absl::StatusOr<Tensor> t = ParseNpy(buf.str(), max_elements);
  if (!t.ok()) {
    return absl::Status(t.status().code(),
                        absl::StrCat(path, ": ", t.status().message()));
  }
  return t;
}

absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor) {
  absl::StatusOr<std::string> bytes = SerializeNpy(tensor);
  if (!bytes.ok()) return bytes.status();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open '", path, "' for writing"));
  out.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  out.close();
  if (!out)
    return absl::DataLossError(absl::StrCat("error writing '", path, "'"));
  return absl::OkStatus();
}

}  // namespace poolcat
