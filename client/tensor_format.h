// Prints a Tensor the way PyTorch 1.13's repr() does, e.g.
//   tensor([[4., 5.],
//           [7., 8.]])
// so `poolcat demo` output can be read side by side with the notebook.
// Follows torch/_tensor_str.py: integer mode for integral floats, 4 decimals
// otherwise, scientific notation for wide ranges, 80-column wrapping, and
// summarisation with "..." past 1000 elements.
#ifndef POOLCAT_CLIENT_TENSOR_FORMAT_H_
#define POOLCAT_CLIENT_TENSOR_FORMAT_H_

#include <string>

#include "core/tensor.h"

namespace poolcat {

std::string FormatTensor(const Tensor& tensor);

// Element `i` (row-major) as a double, whatever the dtype.
double ElementAsDouble(const Tensor& tensor, int64_t i);

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_TENSOR_FORMAT_H_
