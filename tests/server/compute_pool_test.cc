#include "server/compute_pool.h"

#include <atomic>
#include <future>
#include <vector>

#include "gtest/gtest.h"

namespace poolcat::server {
namespace {

// Work large enough to go to a worker rather than run inline.
constexpr uint64_t kQueued = ComputePool::kInlineWorkBytes + 1;

TEST(ComputePool, RunsEveryAdmittedTaskBeforeDestruction) {
  std::atomic<int> ran{0};
  {
    ComputePool pool(2, 100);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(pool.TrySubmit(i % 2 == 0 ? 0 : kQueued,
                                 [&ran](int) { ran.fetch_add(1); }));
    }
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(ComputePool, RefusesPastMaxConcurrentAndAdmitsAgainWhenDone) {
  ComputePool pool(1, 1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> first_done;
  ASSERT_TRUE(pool.TrySubmit(kQueued, [released, &first_done](int) {
    released.wait();
    first_done.set_value();
  }));
  bool second_ran = false;
  // Refused whether it would run inline or queued.
  EXPECT_FALSE(pool.TrySubmit(0, [&second_ran](int) { second_ran = true; }));
  EXPECT_FALSE(
      pool.TrySubmit(kQueued, [&second_ran](int) { second_ran = true; }));
  release.set_value();
  first_done.get_future().wait();
  // The slot is returned right after the task; submit until it is (the
  // worker may still be between the task's end and its bookkeeping).
  std::promise<void> third_done;
  while (!pool.TrySubmit(kQueued,
                         [&third_done](int) { third_done.set_value(); })) {
    std::this_thread::yield();
  }
  third_done.get_future().wait();
  EXPECT_FALSE(second_ran);
}

TEST(ComputePool, TinyWorkRunsInlineOnTheCallerWithOneThread) {
  ComputePool pool(2, 10);
  std::thread::id ran_on;
  int granted = 0;
  ASSERT_TRUE(pool.TrySubmit(ComputePool::kInlineWorkBytes, [&](int n) {
    ran_on = std::this_thread::get_id();
    granted = n;
  }));
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(granted, 1);
}

TEST(ComputePool, SmallWorkGetsOneThreadAndLargeWorkGetsAllWhenIdle) {
  ComputePool pool(3, 10);
  std::promise<int> small;
  std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  ASSERT_TRUE(pool.TrySubmit(kQueued, [&](int n) {
    ran_on = std::this_thread::get_id();
    small.set_value(n);
  }));
  EXPECT_EQ(small.get_future().get(), 1);
  EXPECT_NE(ran_on, caller);
  // Wait until the small task's token is back: a large task submitted then
  // gets all three. Tokens are returned right after the task returns.
  int granted = 0;
  while (granted != 3) {
    std::promise<int> probe;
    ASSERT_TRUE(pool.TrySubmit(ComputePool::kParallelWorkBytes,
                               [&probe](int n) { probe.set_value(n); }));
    granted = probe.get_future().get();
    ASSERT_GE(granted, 1);
    ASSERT_LE(granted, 3);
  }
}

TEST(ComputePool, ConcurrentTasksNeverHoldMoreThreadsThanThePool) {
  constexpr int kThreads = 3;
  std::atomic<int> held{0};
  std::atomic<int> max_held{0};
  std::atomic<bool> over{false};
  {
    ComputePool pool(kThreads, 1000);
    for (int i = 0; i < 300; ++i) {
      const uint64_t bytes =
          i % 3 == 0 ? ComputePool::kParallelWorkBytes : kQueued;
      ASSERT_TRUE(pool.TrySubmit(bytes, [&](int n) {
        if (n < 1) over = true;
        const int now = held.fetch_add(n) + n;
        if (now > kThreads) over = true;
        int seen = max_held.load();
        while (now > seen && !max_held.compare_exchange_weak(seen, now)) {
        }
        held.fetch_sub(n);
      }));
    }
  }
  EXPECT_FALSE(over.load());
  EXPECT_LE(max_held.load(), kThreads);
}

}  // namespace
}  // namespace poolcat::server
