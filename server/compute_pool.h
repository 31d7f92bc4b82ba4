// The bounded compute pool: where kernel work runs, off gRPC's threads.
//
// A fixed set of worker threads takes admitted tasks in FIFO order. The
// pool owns `threads` OpenMP thread tokens; a task starts only when at least
// one is free and is handed as many as it may use (all free ones for large
// work, one for small work), so the OpenMP threads of all concurrent
// computations never exceed `threads` and the CPUs are not oversubscribed.
// At most `max_concurrent` tasks are admitted (queued or running) at once;
// past that TrySubmit refuses, and the caller fails the RPC fast instead of
// queueing without bound.
//
// Tiny tasks (at most kInlineWorkBytes) run on the submitting thread with
// one thread and no OpenMP team: a hand-off to a worker (queue, wake-up,
// context switch) costs more than such a kernel, and they still count
// against max_concurrent.
#ifndef POOLCAT_SERVER_COMPUTE_POOL_H_
#define POOLCAT_SERVER_COMPUTE_POOL_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace poolcat::server {

class ComputePool {
 public:
  // Receives the number of OpenMP threads it may use (>= 1).
  using Task = absl::AnyInvocable<void(int num_threads) &&>;

  // Work of at least this many bytes (inputs plus outputs) is worth more
  // than one thread; below it, fork/join overhead outweighs the gain.
  static constexpr uint64_t kParallelWorkBytes = uint64_t{256} << 10;
  // Work of at most this many bytes runs inline (a few microseconds).
  static constexpr uint64_t kInlineWorkBytes = uint64_t{16} << 10;

  // REQUIRES: threads >= 1, max_concurrent >= 1.
  ComputePool(int threads, int max_concurrent);
  // Runs every admitted task, then joins the workers.
  ~ComputePool();

  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Admits `task` unless max_concurrent tasks are already admitted, in which
  // case it returns false and `task` is destroyed without running. Tiny work
  // runs before TrySubmit returns; other work runs on a worker.
  bool TrySubmit(uint64_t work_bytes, Task task);

  // Whether TrySubmit runs work of this size on the caller.
  static bool RunsInline(uint64_t work_bytes) {
    return work_bytes <= kInlineWorkBytes;
  }

  int threads() const { return threads_; }
  int max_concurrent() const { return max_concurrent_; }

 private:
  struct Item {
    int wanted_threads;
    Task task;
  };

  void WorkerLoop();

  const int threads_;
  const int max_concurrent_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // Guarded by mu_.
  int free_tokens_;         // Guarded by mu_.
  int admitted_ = 0;        // Guarded by mu_: queued plus running.
  bool stopping_ = false;   // Guarded by mu_.
  std::vector<std::thread> workers_;
};

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_COMPUTE_POOL_H_
