#include "server/memory.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <fstream>

namespace poolcat::server {
namespace {

// glibc refuses a larger M_MMAP_THRESHOLD (HEAP_MAX_SIZE / 2 on 64-bit).
constexpr uint64_t kMaxMmapThreshold = uint64_t{32} << 20;

// Resident memory not backing live allocations when configured.
std::atomic<int64_t> g_baseline_unused_bytes{0};

// Resident set size, from /proc/self/statm (second field, in pages).
int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size_pages = 0, resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0;
  return resident_pages * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// Resident bytes minus bytes in live malloc allocations (heap and mmapped).
int64_t UnusedResidentBytes() {
  const struct mallinfo2 info = mallinfo2();
  return ResidentBytes() - static_cast<int64_t>(info.uordblks + info.hblkhd);
}

}  // namespace

void ConfigureAllocator(uint64_t max_retained_bytes) {
  g_baseline_unused_bytes.store(UnusedResidentBytes());
  if (max_retained_bytes == 0) return;
  // Setting the threshold explicitly also turns off glibc's dynamic
  // threshold, which would otherwise drift with the workload.
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMaxMmapThreshold));
  mallopt(M_TRIM_THRESHOLD,
          static_cast<int>(std::min<uint64_t>(max_retained_bytes, INT_MAX)));
}

uint64_t MallocKeptBytes() {
  const int64_t retained =
      UnusedResidentBytes() - g_baseline_unused_bytes.load();
  return retained > 0 ? static_cast<uint64_t>(retained) : 0;
}

RetentionGuard::RetentionGuard(uint64_t max_retained_bytes)
    : max_retained_bytes_(max_retained_bytes), thread_([this] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!cv_.wait_for(lock, std::chrono::seconds(1),
                             [this] { return stop_; })) {
          // malloc_trim also returns whole free pages inside the heap, which
          // the automatic top-of-heap trimming cannot reach.
          if (MallocKeptBytes() > max_retained_bytes_) malloc_trim(0);
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
