#include "core/tensor.h"

#include <sys/mman.h>

#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace poolcat {
namespace {

// Cache-line (and AVX-512 vector) alignment for every buffer.
constexpr size_t kAlignment = 64;

// Buffers this large start on a 2 MiB boundary, so that all their whole
// 2 MiB pages can be huge pages (AdviseHugePages); the tail after the last
// whole huge page keeps 4 KiB pages, so no memory is committed beyond the
// buffer, and the alignment costs address space only.
constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kHugePageMinBytes = 2 * kHugePageBytes;

std::shared_ptr<uint8_t> AllocateAligned(size_t nbytes) {
  if (nbytes < kHugePageMinBytes) {
    void* p = nullptr;
    // Never a null pointer, even for zero bytes.
    if (posix_memalign(&p, kAlignment, nbytes == 0 ? 1 : nbytes) != 0) {
      throw std::bad_alloc();
    }
    return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p),
                                    [](uint8_t* q) { std::free(q); });
  }
  // One huge page more than asked for, aligned inside. posix_memalign would
  // do the same internally, but it asks malloc for more than the chunk it
  // later frees, so glibc's dynamic mmap threshold (raised to the size of a
  // freed mapped chunk) never serves the next buffer of the same size from
  // the heap: every call would map, and fault in, fresh memory.
  void* base = std::malloc(nbytes + kHugePageBytes);
  if (base == nullptr) throw std::bad_alloc();
  const uintptr_t aligned =
      (reinterpret_cast<uintptr_t>(base) + kHugePageBytes - 1) &
      ~(kHugePageBytes - 1);
  uint8_t* p = reinterpret_cast<uint8_t*>(aligned);
  AdviseHugePages(p, nbytes);
  return std::shared_ptr<uint8_t>(p, [base](uint8_t*) { std::free(base); });
}

}  // namespace

void AdviseHugePages(void* data, size_t bytes) {
  if (bytes < kHugePageMinBytes) return;
  const uintptr_t begin =
      (reinterpret_cast<uintptr_t>(data) + kHugePageBytes - 1) &
      ~uintptr_t{kHugePageBytes - 1};
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) &
                        ~uintptr_t{kHugePageBytes - 1};
#ifdef MADV_HUGEPAGE
  // Fails harmlessly where THP is off or unavailable.
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#endif
}

absl::StatusOr<int64_t> CheckedNumel(absl::Span<const int64_t> shape,
                                     DType dtype, int64_t max_elements,
                                     absl::string_view what) {
  int64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ".shape[", i, "] must be non-negative, but got ",
                       shape[i], " in shape ", ShapeToString(shape)));
    }
  }
  // As torch sizes storage: the running product of the dimensions, in
  // order, must not overflow, even when a later dimension is 0 (torch
  // refuses [2^62, 4, 0] with "Storage size calculation overflowed").
  for (int64_t d : shape) {
    if (d == 0) {
      if (overflow) break;
      return int64_t{0};
    }
    if (numel > std::numeric_limits<int64_t>::max() / d) overflow = true;
    if (!overflow) numel *= d;
  }
  const int64_t elem = static_cast<int64_t>(DTypeSize(dtype));
  if (overflow || numel > std::numeric_limits<int64_t>::max() / elem) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " shape ", ShapeToString(shape),
                     " has too many elements (overflows int64)"));
  }
  if (numel > max_elements) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, " shape ", ShapeToString(shape), " has ", numel,
                     " elements, more than the limit of ", max_elements));
  }
  return numel;
}

std::string ShapeToString(absl::Span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int64_t NumElements(absl::Span<const int64_t> shape) {
  // A zero anywhere makes the product 0 without multiplying the others,
  // which could overflow (their product is only checked up to the zero).
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Tensor::Tensor() : Tensor(DType::kFloat32, {0}, 0, AllocateAligned(0)) {}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape, int64_t numel,
               std::shared_ptr<uint8_t> data)
    : dtype_(dtype),
      shape_(std::move(shape)),
      numel_(numel),
      data_(std::move(data)) {}

absl::StatusOr<Tensor> Tensor::Empty(DType dtype, std::vector<int64_t> shape,
                                     int64_t max_elements) {
  absl::StatusOr<int64_t> numel =
      CheckedNumel(shape, dtype, max_elements, "tensor");
  if (!numel.ok()) return numel.status();
  auto data = AllocateAligned(static_cast<size_t>(*numel) * DTypeSize(dtype));
  return Tensor(dtype, std::move(shape), *numel, std::move(data));
}

absl::StatusOr<Tensor> Tensor::Zeros(DType dtype, std::vector<int64_t> shape,
                                     int64_t max_elements) {
  absl::StatusOr<Tensor> t = Empty(dtype, std::move(shape), max_elements);
  if (t.ok()) std::memset(t->data(), 0, t->nbytes());
  return t;
}

absl::StatusOr<Tensor> Tensor::FromBytes(DType dtype,
                                         std::vector<int64_t> shape,
                                         absl::string_view bytes,
                                         int64_t max_elements) {
  absl::StatusOr<Tensor> t = Empty(dtype, std::move(shape), max_elements);
  if (!t.ok()) return t.status();
  if (bytes.size() != t->nbytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor data has ", bytes.size(), " bytes, but shape ",
                     ShapeToString(t->shape()), " of ", DTypeName(dtype),
                     " needs ", t->nbytes()));
  }
  if (!bytes.empty()) std::memcpy(t->data(), bytes.data(), bytes.size());
  return t;
}

}  // namespace poolcat
