// Memory reuse below the message pools (server/message_pool.h): gRPC's own
// buffers and any tensor buffer a pool could not keep.
//
// A first write to a freshly mapped page is expensive, so the server lets
// glibc malloc keep freed blocks for the next call: blocks up to the largest
// mmap threshold glibc allows (32 MiB) come from the heap, and the heap is
// only trimmed once more than `max_retained_bytes` is free at its top. A
// RetentionGuard trims everything when the free memory malloc holds exceeds
// the bound anyway (fragmentation, several arenas), so what is kept stays
// bounded; poolcat_malloc_kept_bytes reports it.
#ifndef POOLCAT_SERVER_MEMORY_H_
#define POOLCAT_SERVER_MEMORY_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace poolcat::server {

// Applies the malloc settings (none when max_retained_bytes is 0: glibc's
// defaults then return large blocks to the kernel at once). Call once, early,
// and before MallocKeptBytes.
void ConfigureAllocator(uint64_t max_retained_bytes);

// Estimate of the memory kept for reuse: resident memory not backing a live
// allocation, beyond what was resident at ConfigureAllocator (code, static
// data). mallinfo2's free-byte count would be no good: it keeps counting
// free chunks whose pages malloc_trim already gave back.
uint64_t MallocKeptBytes();

// Checks MallocKeptBytes() about once a second and returns memory to the
// kernel when it exceeds the bound.
class RetentionGuard {
 public:
  explicit RetentionGuard(uint64_t max_retained_bytes);
  ~RetentionGuard();
  RetentionGuard(const RetentionGuard&) = delete;
  RetentionGuard& operator=(const RetentionGuard&) = delete;

 private:
  const uint64_t max_retained_bytes_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_MEMORY_H_
