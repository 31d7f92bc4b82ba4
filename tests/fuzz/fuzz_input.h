// Shared pieces of the libFuzzer targets in tests/fuzz: a reader that turns
// the fuzzer's bytes into small numbers (each call consumes bytes from the
// front; an exhausted input reads as zeros, so every byte string is a valid
// test case), and FUZZ_CHECK, which aborts with a message so libFuzzer
// records the input as a crash.
#ifndef POOLCAT_TESTS_FUZZ_FUZZ_INPUT_H_
#define POOLCAT_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace poolcat::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  bool Bool() { return (Byte() & 1) != 0; }
  // Uniform-ish integer in [lo, hi] (inclusive) from one byte.
  int64_t Int(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    return lo + static_cast<int64_t>(Byte() % span);
  }
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Byte() % N];
  }
  // What is left of the input, for tensor payloads.
  const uint8_t* rest() const { return data_ + pos_; }
  size_t rest_size() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Fills `size` bytes at `out` from the input's remaining bytes, repeated as
// needed (zeros when none are left). Raw bytes give every float bit pattern,
// NaN payloads and infinities included.
inline void FillPayload(const FuzzInput& in, void* out, size_t size) {
  auto* dst = static_cast<uint8_t*>(out);
  if (in.rest_size() == 0) {
    std::memset(dst, 0, size);
    return;
  }
  for (size_t i = 0; i < size; ++i) dst[i] = in.rest()[i % in.rest_size()];
}

[[noreturn]] inline void FuzzFailure(const char* file, int line,
                                     const std::string& what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line,
               what.c_str());
  std::abort();
}

}  // namespace poolcat::fuzz

// Aborts (a libFuzzer "crash") when `cond` is false; `what` is any
// expression convertible to std::string describing the case.
#define FUZZ_CHECK(cond, what)                                             \
  do {                                                                     \
    if (!(cond)) ::poolcat::fuzz::FuzzFailure(__FILE__, __LINE__, (what)); \
  } while (false)

#endif  // POOLCAT_TESTS_FUZZ_FUZZ_INPUT_H_
