// A small dense tensor: dtype, shape and contiguous little-endian bytes.
//
// Tensor owns a 64-byte aligned buffer through a shared_ptr, so copies are
// cheap and share storage (like torch.Tensor). TensorView / MutableTensorView
// are non-owning views used by the ops, so a caller (e.g. the server) can run
// an op directly on bytes it already holds and into memory it provides.
#ifndef POOLCAT_CORE_TENSOR_H_
#define POOLCAT_CORE_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "core/dtype.h"

namespace poolcat {

// Advises the whole 2 MiB pages inside [data, data + bytes) onto
// transparent huge pages (MADV_HUGEPAGE) when `bytes` is 4 MiB or more; call
// it before the buffer's pages are first written, since pages already present
// keep their size. Kernels stream through huge pages much faster on machines
// whose TLB misses are costly (under a hypervisor: W1's 103 MB read in 6.8 ms
// against 10.0 ms), and a first write faults once per 2 MiB instead of 512
// times. Tensor buffers get it (and start on a 2 MiB boundary); the server
// uses it for its protobuf tensor buffers. Advice only: without THP, or off
// Linux, nothing changes.
void AdviseHugePages(void* data, size_t bytes);

// Default cap on the element count of any tensor the core creates or accepts
// (2^31 elements: 8 GiB of float32). Callers may pass a tighter limit.
inline constexpr int64_t kDefaultMaxElements = int64_t{1} << 31;

// Returns the element count of `shape`, or InvalidArgument for a negative
// dimension, or ResourceExhausted if the count (or its byte size for
// `dtype`) overflows int64 or exceeds `max_elements`. `what` names the tensor
// in messages ("input", "tensors[2]").
absl::StatusOr<int64_t> CheckedNumel(absl::Span<const int64_t> shape,
                                     DType dtype, int64_t max_elements,
                                     absl::string_view what);

// "[1, 2, 3]"
std::string ShapeToString(absl::Span<const int64_t> shape);

// Product of the dimensions. REQUIRES: shape already validated by
// CheckedNumel (no overflow, no negatives).
int64_t NumElements(absl::Span<const int64_t> shape);

// Read-only, non-owning view of contiguous tensor data.
struct TensorView {
  DType dtype = DType::kFloat32;
  absl::Span<const int64_t> shape;
  const void* data = nullptr;

  int64_t numel() const { return NumElements(shape); }
  size_t nbytes() const {
    return static_cast<size_t>(numel()) * DTypeSize(dtype);
  }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data);
  }
};

// Writable, non-owning view of contiguous tensor data.
struct MutableTensorView {
  DType dtype = DType::kFloat32;
  absl::Span<const int64_t> shape;
  void* data = nullptr;

  int64_t numel() const { return NumElements(shape); }
  size_t nbytes() const {
    return static_cast<size_t>(numel()) * DTypeSize(dtype);
  }
  template <typename T>
  T* data_as() const {
    return static_cast<T*>(data);
  }
  TensorView view() const { return TensorView{dtype, shape, data}; }
};

class Tensor {
 public:
  // An empty float32 tensor of shape (0,).
  Tensor();

  // Allocates an uninitialized tensor. Fails as CheckedNumel does.
  static absl::StatusOr<Tensor> Empty(
      DType dtype, std::vector<int64_t> shape,
      int64_t max_elements = kDefaultMaxElements);
  // Allocates a zero-filled tensor.
  static absl::StatusOr<Tensor> Zeros(
      DType dtype, std::vector<int64_t> shape,
      int64_t max_elements = kDefaultMaxElements);
  // Copies `bytes`, which must hold exactly numel * DTypeSize(dtype) bytes
  // (InvalidArgument naming both sizes otherwise).
  static absl::StatusOr<Tensor> FromBytes(
      DType dtype, std::vector<int64_t> shape, absl::string_view bytes,
      int64_t max_elements = kDefaultMaxElements);
  // Builds a tensor from typed values. REQUIRES: values.size() == numel and
  // sizeof(T) == DTypeSize(dtype).
  template <typename T>
  static Tensor FromValues(DType dtype, std::vector<int64_t> shape,
                           absl::Span<const T> values) {
    Tensor t = *Empty(dtype, std::move(shape));
    // memcpy from an empty span's null pointer is UB even for 0 bytes.
    if (t.nbytes() != 0) std::memcpy(t.data(), values.data(), t.nbytes());
    return t;
  }

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const { return shape_[d < 0 ? d + dim() : d]; }
  int64_t numel() const { return numel_; }
  size_t nbytes() const {
    return static_cast<size_t>(numel_) * DTypeSize(dtype_);
  }

  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T>
  T* data_as() {
    return static_cast<T*>(data());
  }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data());
  }
  absl::string_view bytes() const {
    return absl::string_view(static_cast<const char*>(data()), nbytes());
  }

  TensorView view() const { return TensorView{dtype_, shape_, data()}; }
  MutableTensorView mutable_view() {
    return MutableTensorView{dtype_, shape_, data()};
  }

 private:
  Tensor(DType dtype, std::vector<int64_t> shape, int64_t numel,
         std::shared_ptr<uint8_t> data);

  DType dtype_;
  std::vector<int64_t> shape_;
  int64_t numel_;
  std::shared_ptr<uint8_t> data_;
};

}  // namespace poolcat

#endif  // POOLCAT_CORE_TENSOR_H_
