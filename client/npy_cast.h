// bfloat16 across the .npy boundary. NumPy has no bfloat16, so the CLI
// reads bfloat16 data as a float32 .npy (values exactly representable in
// bfloat16, as PyTorch's `t.float().numpy()` writes them), narrows it before
// sending, and widens a bfloat16 result back to float32 before writing.
#ifndef POOLCAT_CLIENT_NPY_CAST_H_
#define POOLCAT_CLIENT_NPY_CAST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace poolcat {

// Returns `tensor` as `dtype_name`: the same tensor when it already has that
// dtype; float32 -> bfloat16 (round to nearest even, so representable
// values are kept exactly). InvalidArgument naming `flag` for anything else
// (an unknown name, or a conversion that .npy does not need).
absl::StatusOr<Tensor> CastForWire(const Tensor& tensor,
                                   absl::string_view dtype_name,
                                   absl::string_view flag);

// bfloat16 -> float32 (exact); any other tensor unchanged.
Tensor WidenForNpy(const Tensor& tensor);

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_NPY_CAST_H_
