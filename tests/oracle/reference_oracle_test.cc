// Checks the reference implementation (tests/reference) against the PyTorch
// oracle cases, which is what entitles it to judge core/ in the
// differential tests. Usage: reference_oracle_test [CASE_DIR] (or set
// POOLCAT_ORACLE_DIR).
#include <string>

#include "gtest/gtest.h"
#include "tests/oracle/oracle_case.h"
#include "tests/reference/reference.h"

namespace poolcat::oracle {
namespace {

Outcome RunReference(const OracleCase& c) {
  Outcome o;
  if (c.is_pool) {
    absl::StatusOr<PoolOp> op = reference::RefParsePoolOp(c.op);
    if (!op.ok()) {
      o.status = op.status();
      return o;
    }
    absl::StatusOr<reference::RefPoolResult> r =
        reference::RefPool(*op, c.inputs[0], c.args);
    o.status = r.status();
    if (r.ok()) {
      o.output = r->output;
      o.indices = r->indices;
      o.tolerance = r->tolerance;
    }
    return o;
  }
  absl::StatusOr<Tensor> r = reference::RefCat(c.inputs, c.dim);
  o.status = r.status();
  if (r.ok()) o.output = *r;
  return o;
}

TEST(ReferenceOracle, ReferenceMatchesTorchOnEveryCase) {
  RunAllCases(400, RunReference);
}

}  // namespace
}  // namespace poolcat::oracle
