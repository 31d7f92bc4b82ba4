#include "client/cli_args.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace poolcat {
namespace {

// Accepts the tuple/list spelling a PyTorch user may paste: "(2, 3)", "[2,3]".
absl::string_view StripBrackets(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() >= 2 && ((text.front() == '(' && text.back() == ')') ||
                           (text.front() == '[' && text.back() == ']'))) {
    text = absl::StripAsciiWhitespace(text.substr(1, text.size() - 2));
  }
  return text;
}

absl::Status BadValue(absl::string_view flag, absl::string_view text,
                      absl::string_view expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, " expects ", expected, ", but got '", text, "'"));
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseIntList(absl::string_view flag,
                                                  absl::string_view text,
                                                  bool allow_none) {
  const absl::string_view expected =
      allow_none ? "a comma-separated list of integers or None"
                 : "a comma-separated list of integers";
  absl::string_view body = StripBrackets(text);
  if (body.empty()) return BadValue(flag, text, expected);
  std::vector<int64_t> values;
  // A trailing comma, as in Python's one-tuple "(2,)", is allowed.
  if (body.back() == ',') body.remove_suffix(1);
  for (absl::string_view item : absl::StrSplit(body, ',')) {
    item = absl::StripAsciiWhitespace(item);
    int64_t value = 0;
    if (allow_none && item == "None") {
      value = -1;
    } else if (!absl::SimpleAtoi(item, &value)) {
      return BadValue(flag, text, expected);
    }
    values.push_back(value);
  }
  return values;
}

absl::StatusOr<bool> ParseBool(absl::string_view flag, absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (lower == "true" || lower == "1" || lower == "yes" || lower == "on") {
    return true;
  }
  if (lower == "false" || lower == "0" || lower == "no" || lower == "off") {
    return false;
  }
  return BadValue(flag, text, "true or false");
}

absl::Status CheckUtf8(absl::string_view flag, absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t k) {
      return static_cast<unsigned char>(text[k]);
    };
    const unsigned char lead = byte(i);
    // Sequence length and the range the second byte must fall in, which
    // rules out overlong forms, surrogates and code points past U+10FFFF.
    size_t len = 1;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      len = 3;
      if (lead == 0xE0) lo = 0xA0;
      if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      len = 4;
      if (lead == 0xF0) lo = 0x90;
      if (lead == 0xF4) hi = 0x8F;
    } else {
      len = 0;
    }
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char c = byte(i + k);
      ok = k == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xBF);
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, " is not valid UTF-8: byte 0x",
                       absl::Hex(lead, absl::kZeroPad2), " at offset ", i));
    }
    i += len;
  }
  return absl::OkStatus();
}

absl::StatusOr<PoolArgs> PoolArgsFromFlags(const PoolFlags& flags) {
  PoolArgs args;
  struct ListFlag {
    absl::string_view name;
    const std::optional<std::string>& text;
    std::vector<int64_t>* out;
    bool allow_none;
  };
  const ListFlag lists[] = {
      {"kernel_size", flags.kernel_size, &args.kernel_size, false},
      {"stride", flags.stride, &args.stride, false},
      {"padding", flags.padding, &args.padding, false},
      {"dilation", flags.dilation, &args.dilation, false},
      {"output_size", flags.output_size, &args.output_size, true},
  };
  for (const ListFlag& list : lists) {
    if (!list.text.has_value()) continue;
    // stride=None is PyTorch's way of saying "same as kernel_size".
    if (list.name == "stride" && StripBrackets(*list.text) == "None") {
      list.out->clear();
      continue;
    }
    absl::StatusOr<std::vector<int64_t>> values =
        ParseIntList(list.name, *list.text, list.allow_none);
    if (!values.ok()) return values.status();
    *list.out = *std::move(values);
  }

  struct BoolFlag {
    absl::string_view name;
    const std::optional<std::string>& text;
    bool* out;
  };
  const BoolFlag bools[] = {
      {"ceil_mode", flags.ceil_mode, &args.ceil_mode},
      {"count_include_pad", flags.count_include_pad, &args.count_include_pad},
      {"channels_last", flags.channels_last, &args.channels_last},
  };
  for (const BoolFlag& b : bools) {
    if (!b.text.has_value()) continue;
    absl::StatusOr<bool> value = ParseBool(b.name, *b.text);
    if (!value.ok()) return value.status();
    *b.out = *value;
  }

  if (flags.divisor_override.has_value()) {
    absl::string_view text =
        absl::StripAsciiWhitespace(*flags.divisor_override);
    if (text != "None") {
      int64_t value = 0;
      if (!absl::SimpleAtoi(text, &value)) {
        return BadValue("divisor_override", *flags.divisor_override,
                        "an integer or None");
      }
      args.divisor_override = value;
    }
  }
  if (flags.norm_type.has_value()) {
    double value = 0;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(*flags.norm_type),
                          &value)) {
      return BadValue("norm_type", *flags.norm_type, "a number");
    }
    args.norm_type = value;
  }
  return args;
}

}  // namespace poolcat
