#include "server/memory.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <climits>

namespace poolcat::server {
namespace {

// glibc refuses a larger M_MMAP_THRESHOLD (HEAP_MAX_SIZE / 2 on 64-bit).
constexpr uint64_t kMaxMmapThreshold = uint64_t{32} << 20;

}  // namespace

void ConfigureAllocator(uint64_t max_retained_bytes) {
  // Setting the threshold explicitly also turns off glibc's dynamic
  // threshold, which would otherwise drift with the workload.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMaxMmapThreshold));
  mallopt(M_TRIM_THRESHOLD,
          static_cast<int>(std::min<uint64_t>(max_retained_bytes, INT_MAX)));
}

uint64_t RetainedBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.fordblks;
}

RetentionGuard::RetentionGuard(uint64_t max_retained_bytes)
    : max_retained_bytes_(max_retained_bytes), thread_([this] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
          if (RetainedBytes() > max_retained_bytes_) malloc_trim(0);
        }
      }) {}

RetentionGuard::~RetentionGuard() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace poolcat::server
