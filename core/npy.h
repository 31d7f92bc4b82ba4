// NumPy .npy serialization of Tensors (format versions 1.0, 2.0 and 3.0 read,
// 1.0 written, or 2.0 when the header needs it).
//
// Only little-endian (or byte-order-free) C-order arrays of the dtypes
// poolcat supports are accepted; anything else (Fortran order, big-endian,
// object arrays, truncated data) is refused with InvalidArgument naming the
// problem. bfloat16 has no NumPy descriptor and is refused both ways.
#ifndef POOLCAT_CORE_NPY_H_
#define POOLCAT_CORE_NPY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/tensor.h"

namespace poolcat {

absl::StatusOr<Tensor> ParseNpy(absl::string_view bytes,
                                int64_t max_elements = kDefaultMaxElements);
absl::StatusOr<std::string> SerializeNpy(const Tensor& tensor);

absl::StatusOr<Tensor> ReadNpyFile(const std::string& path,
                                   int64_t max_elements = kDefaultMaxElements);
absl::Status WriteNpyFile(const std::string& path, const Tensor& tensor);

}  // namespace poolcat

#endif  // POOLCAT_CORE_NPY_H_
