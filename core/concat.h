// torch.cat semantics: concatenation along `dim` (negative counts from the
// end), result dtype by PyTorch promotion, legacy 1-D empty tensors of shape
// (0,) skipped, zero-size inputs allowed.
#ifndef POOLCAT_CORE_CONCAT_H_
#define POOLCAT_CORE_CONCAT_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/exec.h"
#include "core/tensor.h"

namespace poolcat {

struct CatPlan {
  DType dtype = DType::kFloat32;  // promoted result dtype
  int64_t dim = 0;                // normalised, non-negative
  std::vector<int64_t> output_shape;
  std::vector<bool> skipped;  // per input: legacy (0,) tensor
};

// Validates the inputs as torch.cat does: at least one tensor, equal ranks
// (except skipped legacy empties), equal sizes off `dim`, dim in range.
// InvalidArgument / OutOfRange / ResourceExhausted with "tensors[i]" and
// the offending value in the message.
absl::StatusOr<CatPlan> PlanCat(absl::Span<const TensorView> inputs,
                                int64_t dim, const ExecOptions& exec = {});

// REQUIRES: plan from PlanCat for these inputs; output of plan's dtype/shape.
absl::Status RunCat(const CatPlan& plan, absl::Span<const TensorView> inputs,
                    const MutableTensorView& output,
                    const ExecOptions& exec = {});

absl::StatusOr<Tensor> Cat(absl::Span<const Tensor> inputs, int64_t dim,
                           const ExecOptions& exec = {});

}  // namespace poolcat

#endif  // POOLCAT_CORE_CONCAT_H_
