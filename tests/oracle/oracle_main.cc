// main() of the oracle checkers: the case directory comes from the command
// line (argv[1]) or $POOLCAT_ORACLE_DIR, for CaseRoot().
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "tests/oracle/oracle_case.h"

namespace poolcat::oracle {
namespace {
std::string g_case_root;
}  // namespace

const std::string& CaseRoot() { return g_case_root; }

}  // namespace poolcat::oracle

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc > 1) {
    poolcat::oracle::g_case_root = argv[1];
  } else if (const char* env = std::getenv("POOLCAT_ORACLE_DIR")) {
    poolcat::oracle::g_case_root = env;
  }
  return RUN_ALL_TESTS();
}
