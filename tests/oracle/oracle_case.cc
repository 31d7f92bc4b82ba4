#include "tests/oracle/oracle_case.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/float16.h"
#include "core/npy.h"
#include "gtest/gtest.h"
#include "tests/reference/reference.h"

namespace poolcat::oracle {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseInts(const std::string& s) {
  std::vector<int64_t> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad integer list '", s, "'"));
    }
    out.push_back(v);
  }
  return out;
}

// .npy has no bfloat16: such tensors are stored as float32 values that
// bfloat16 represents exactly.
absl::StatusOr<Tensor> ToDType(const Tensor& t, const std::string& dtype_name) {
  if (dtype_name != "bfloat16") return t;
  if (t.dtype() != DType::kFloat32) {
    return absl::InvalidArgumentError("bfloat16 tensor not stored as float32");
  }
  absl::StatusOr<Tensor> out = Tensor::Empty(DType::kBFloat16, t.shape());
  if (!out.ok()) return out.status();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float f = t.data_as<float>()[i];
    const BFloat16 b = FloatToBFloat16(f);
    if (!std::isnan(f) && BFloat16ToFloat(b) != f) {
      return absl::InvalidArgumentError("value not representable in bfloat16");
    }
    out->data_as<BFloat16>()[i] = b;
  }
  return out;
}

bool ParseBool(const std::map<std::string, std::string>& kv,
               const std::string& key, bool dflt) {
  auto it = kv.find(key);
  if (it == kv.end()) return dflt;
  return it->second == "true";
}

}  // namespace

std::vector<std::string> ListCaseDirs(const std::string& root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.is_directory() &&
        std::filesystem::exists(entry.path() / "case.txt")) {
      dirs.push_back(entry.path().string());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

absl::StatusOr<OracleCase> LoadCase(const std::string& dir) {
  OracleCase c;
  c.dir = dir;
  std::ifstream in(dir + "/case.txt");
  if (!in) return absl::NotFoundError(absl::StrCat("no case.txt in ", dir));
  std::string line;
  while (std::getline(in, line)) {
    c.text += line + "\n";
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    c.kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  const auto& kv = c.kv;
  auto get = [&](const std::string& k) -> std::string {
    auto it = kv.find(k);
    return it == kv.end() ? "" : it->second;
  };
  c.is_pool = get("kind") == "pool";
  c.expect_ok = get("expect") == "ok";
  if (kv.count("max_ulp")) {
    if (!absl::SimpleAtoi(get("max_ulp"), &c.max_ulp))
      return absl::InvalidArgumentError("max_ulp");
  }
  std::vector<std::string> input_dtypes;
  if (kv.count("input_dtypes"))
    input_dtypes = absl::StrSplit(get("input_dtypes"), ',');
  const int64_t n_inputs = c.is_pool ? 1 : std::atoll(get("inputs").c_str());
  for (int64_t i = 0; i < n_inputs; ++i) {
    absl::StatusOr<Tensor> t =
        ReadNpyFile(absl::StrCat(dir, "/input", i, ".npy"));
    if (!t.ok()) return t.status();
    const std::string real =
        i < static_cast<int64_t>(input_dtypes.size()) ? input_dtypes[i] : "";
    absl::StatusOr<Tensor> r = ToDType(*t, real);
    if (!r.ok()) return r.status();
    c.inputs.push_back(*std::move(r));
  }
  if (c.expect_ok) {
    absl::StatusOr<Tensor> e = ReadNpyFile(dir + "/expected.npy");
    if (!e.ok()) return e.status();
    absl::StatusOr<Tensor> r = ToDType(*e, get("output_dtype"));
    if (!r.ok()) return r.status();
    c.expected = *std::move(r);
    if (std::filesystem::exists(dir + "/indices.npy")) {
      absl::StatusOr<Tensor> idx = ReadNpyFile(dir + "/indices.npy");
      if (!idx.ok()) return idx.status();
      c.indices = *std::move(idx);
    }
  }
  if (!c.is_pool) {
    if (!absl::SimpleAtoi(get("dim"), &c.dim))
      return absl::InvalidArgumentError("dim");
    return c;
  }
  c.op = get("op");
  PoolArgs& a = c.args;
  struct ListArg {
    const char* key;
    std::vector<int64_t>* field;
  };
  for (const ListArg& la :
       {ListArg{"kernel_size", &a.kernel_size}, ListArg{"stride", &a.stride},
        ListArg{"padding", &a.padding}, ListArg{"dilation", &a.dilation},
        ListArg{"output_size", &a.output_size}}) {
    if (!kv.count(la.key)) continue;
    absl::StatusOr<std::vector<int64_t>> v = ParseInts(get(la.key));
    if (!v.ok()) return v.status();
    *la.field = *std::move(v);
  }
  a.ceil_mode = ParseBool(kv, "ceil_mode", false);
  a.count_include_pad = ParseBool(kv, "count_include_pad", true);
  a.return_indices = ParseBool(kv, "indices", false);
  a.channels_last = ParseBool(kv, "channels_last", false);
  if (kv.count("divisor_override")) {
    int64_t d;
    if (!absl::SimpleAtoi(get("divisor_override"), &d))
      return absl::InvalidArgumentError("div");
    a.divisor_override = d;
  }
  if (kv.count("norm_type")) {
    if (!absl::SimpleAtod(get("norm_type"), &a.norm_type))
      return absl::InvalidArgumentError("norm");
  }
  return c;
}

std::optional<std::string> CheckOutcome(const OracleCase& c,
                                        const Outcome& got) {
  if (!c.expect_ok) {
    if (got.status.ok())
      return std::string("expected an error, but the call succeeded");
    return std::nullopt;
  }
  if (!got.status.ok())
    return absl::StrCat("expected success, got ", got.status.ToString());
  if (!got.output) return std::string("no output");
  std::optional<std::string> diff =
      got.tolerance.empty()
          ? reference::RefCompare(*c.expected, *got.output, c.max_ulp)
          : reference::RefCompareWithin(*c.expected, *got.output,
                                        got.tolerance);
  if (diff) {
    return absl::StrCat("output ", *diff);
  }
  if (c.indices) {
    if (!got.indices) return std::string("indices missing");
    if (auto idx_diff = reference::RefCompare(*c.indices, *got.indices)) {
      return absl::StrCat("indices ", *idx_diff);
    }
  }
  return std::nullopt;
}

int RunAllCases(size_t min_cases,
                const std::function<Outcome(const OracleCase&)>& run) {
  const std::string& root = CaseRoot();
  if (root.empty()) {
    ADD_FAILURE() << "pass the case directory or set POOLCAT_ORACLE_DIR";
    return 0;
  }
  const std::vector<std::string> dirs = ListCaseDirs(root);
  EXPECT_GE(dirs.size(), min_cases)
      << "too few oracle cases under '" << root
      << "' (run gen_cases.py; see tests/oracle/README.md)";
  int checked = 0, failed = 0;
  for (const std::string& dir : dirs) {
    absl::StatusOr<OracleCase> c = LoadCase(dir);
    if (!c.ok()) {
      ADD_FAILURE() << dir << ": cannot load case: " << c.status();
      ++failed;
      continue;
    }
    const Outcome got = run(*c);
    ++checked;
    if (std::optional<std::string> diff = CheckOutcome(*c, got)) {
      ++failed;
      ADD_FAILURE() << dir << ": " << *diff << "\n"
                    << (got.status.ok()
                            ? ""
                            : "status: " + got.status.ToString() + "\n")
                    << c->text;
    }
  }
  std::cout << "[ oracle   ] " << checked << " cases checked, " << failed
            << " mismatched\n";
  return checked;
}

}  // namespace poolcat::oracle
