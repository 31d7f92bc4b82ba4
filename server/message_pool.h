// A recycling gRPC message allocator: the buffer pool for large tensors.
//
// A first write to freshly mapped memory costs far more than a write to
// memory already in use (here about 100 ms per 100 MB against 20 ms), and a
// tensor over 32 MiB lives in a std::string that glibc maps fresh for every
// call. So the request/response message pairs of an RPC are kept after the
// call and handed to the next, with their bytes fields' capacity: the
// kernels resize the response's strings within it, and protobuf's parser
// refills kept strings of repeated fields without reallocating. (gRPC's own
// parse deletes a singular sub-message, so Pool, whose input is one, parses
// its requests itself: server/request_parse.h.)
//
// What is kept is bounded: a pair goes back to the pool only while the bytes
// all pools of the server hold stay within one RetentionBudget and the pool
// holds fewer than kMaxPooledPairs; otherwise it is freed. The budget's
// count is exported as poolcat_buffer_pool_bytes. Thread-safe.
#ifndef POOLCAT_SERVER_MESSAGE_POOL_H_
#define POOLCAT_SERVER_MESSAGE_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "grpcpp/support/message_allocator.h"

namespace poolcat::server {

// Bytes the pools of one server hold, and their limit.
class RetentionBudget {
 public:
  explicit RetentionBudget(uint64_t limit) : limit_(limit) {}
  // Reserves `n` bytes if that stays within the limit.
  bool TryAdd(uint64_t n) {
    uint64_t now = held_.load(std::memory_order_relaxed);
    do {
      if (now + n > limit_) return false;
    } while (
        !held_.compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }
  void Remove(uint64_t n) { held_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t held() const { return held_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> held_{0};
};

template <typename Request, typename Response>
class MessagePool final : public grpc::MessageAllocator<Request, Response> {
 public:
  // Small pairs are cheap to make; the count cap only stops a burst of tiny
  // calls from keeping thousands of them.
  static constexpr size_t kMaxPooledPairs = 64;

  // Resets a used pair for the next call and returns the buffer bytes it
  // still holds (what the pool keeps).
  using Recycler = std::function<uint64_t(Request*, Response*)>;

  // `retained` must outlive the pool.
  MessagePool(Recycler recycle, RetentionBudget* retained)
      : recycle_(std::move(recycle)), retained_(retained) {}

  ~MessagePool() override {
    for (std::unique_ptr<Holder>& holder : free_)
      retained_->Remove(holder->kept_bytes);
  }

  grpc::MessageHolder<Request, Response>* AllocateMessages() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        Holder* holder = free_.back().release();
        free_.pop_back();
        retained_->Remove(holder->kept_bytes);
        holder->kept_bytes = 0;
        return holder;
      }
    }
    return new Holder(this);
  }

 private:
  class Holder final : public grpc::MessageHolder<Request, Response> {
   public:
    explicit Holder(MessagePool* pool) : pool_(pool) {
      this->set_request(&request_);
      this->set_response(&response_);
    }
    void Release() override { pool_->Recycle(this); }

    MessagePool* const pool_;
    Request request_;
    Response response_;
    uint64_t kept_bytes = 0;  // Counted in the RetentionBudget while pooled.
  };

  void Recycle(Holder* holder) {
    const uint64_t kept = recycle_(&holder->request_, &holder->response_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (free_.size() < kMaxPooledPairs && retained_->TryAdd(kept)) {
        holder->kept_bytes = kept;
        free_.emplace_back(holder);
        return;
      }
    }
    delete holder;
  }

  const Recycler recycle_;
  RetentionBudget* const retained_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Holder>> free_;  // Guarded by mu_; LIFO.
};

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_MESSAGE_POOL_H_
