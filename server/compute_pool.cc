#include "server/compute_pool.h"

#include <algorithm>
#include <utility>

namespace poolcat::server {

ComputePool::ComputePool(int threads, int max_concurrent)
    : threads_(std::max(threads, 1)),
      max_concurrent_(std::max(max_concurrent, 1)),
      free_tokens_(threads_) {
  // One worker per token: with every token taken, extra workers could only
  // wait, and with fewer workers than tokens small tasks could not use all
  // CPUs.
  workers_.reserve(static_cast<size_t>(threads_));
  for (int i = 0; i < threads_; ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
}

ComputePool::~ComputePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

bool ComputePool::TrySubmit(uint64_t work_bytes, Task task) {
  const bool inline_task = RunsInline(work_bytes);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (admitted_ >= max_concurrent_ || stopping_) return false;
    ++admitted_;
    if (!inline_task) {
      queue_.push_back(Item{work_bytes >= kParallelWorkBytes ? threads_ : 1,
                            std::move(task)});
    }
  }
  if (!inline_task) {
    cv_.notify_one();
    return true;
  }
  std::move(task)(1);
  task = nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  --admitted_;
  return true;
}

void ComputePool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] {
      return (!queue_.empty() && free_tokens_ > 0) ||
             (stopping_ && queue_.empty());
    });
    if (queue_.empty()) return;  // Stopping and drained.
    Item item = std::move(queue_.front());
    queue_.pop_front();
    const int granted = std::min(item.wanted_threads, free_tokens_);
    free_tokens_ -= granted;
    lock.unlock();
    std::move(item.task)(granted);
    // Destroy the task (and whatever it captured) outside the lock.
    item.task = nullptr;
    lock.lock();
    free_tokens_ += granted;
    --admitted_;
    // Another worker may be waiting for tokens, not just for work.
    cv_.notify_all();
  }
}

}  // namespace poolcat::server
