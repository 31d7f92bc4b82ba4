// Reading the PyTorch oracle cases written by gen_cases.py (see its
// docstring for the format) and checking an implementation against them.
#ifndef POOLCAT_TESTS_ORACLE_ORACLE_CASE_H_
#define POOLCAT_TESTS_ORACLE_ORACLE_CASE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace poolcat::oracle {

struct OracleCase {
  std::string dir;
  std::map<std::string, std::string> kv;  // case.txt
  std::string text;                       // case.txt verbatim, for messages
  bool is_pool = true;
  std::string op;              // pool op name
  PoolArgs args;               // pool arguments
  int64_t dim = 0;             // concat
  std::vector<Tensor> inputs;  // in their real dtypes
  bool expect_ok = true;
  std::optional<Tensor> expected;  // in its real dtype
  std::optional<Tensor> indices;
  int64_t max_ulp = 0;
};

// The case directories under `root` (NNNN/), sorted.
std::vector<std::string> ListCaseDirs(const std::string& root);

// Loads one case directory.
absl::StatusOr<OracleCase> LoadCase(const std::string& dir);

// What an implementation produced for a case: an error, or outputs.
struct Outcome {
  absl::Status status;
  std::optional<Tensor> output;
  std::optional<Tensor> indices;
  std::vector<double> tolerance;  // per output element; empty = exact
};

// Compares `got` with the case's expectation; nullopt when it matches,
// otherwise a description of the first difference.
std::optional<std::string> CheckOutcome(const OracleCase& c,
                                        const Outcome& got);

// Runs `run` on every case under CaseRoot() and records a GoogleTest
// failure, with the case's directory and full config, for each mismatch.
// Fails if no root was given or fewer than `min_cases` cases are found.
// Returns the number checked.
int RunAllCases(size_t min_cases,
                const std::function<Outcome(const OracleCase&)>& run);

// Root directory of the cases, set by oracle_main.cc's main(): argv[1] if
// given, else $POOLCAT_ORACLE_DIR, else empty.
const std::string& CaseRoot();

}  // namespace poolcat::oracle

#endif  // POOLCAT_TESTS_ORACLE_ORACLE_CASE_H_
