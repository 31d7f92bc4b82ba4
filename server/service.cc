#include "server/service.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/request_parse.h"
#include "server/status.h"

namespace poolcat::server {
namespace {

namespace v1 = ::poolcat::v1;

// A unary reactor that remembers whether the call was cancelled (by the
// client, by its deadline passing, or by server shutdown) so the kernel can
// stop early, and reports that as CANCELLED or DEADLINE_EXCEEDED.
class ComputeReactor final : public grpc::ServerUnaryReactor {
 public:
  explicit ComputeReactor(grpc::CallbackServerContext* context)
      : context_(context) {}

  void OnCancel() override {
    cancelled_.store(true, std::memory_order_relaxed);
  }
  void OnDone() override { delete this; }

  const std::atomic<bool>* cancelled_flag() const { return &cancelled_; }

  // True once the call can no longer be answered usefully.
  bool Stopped() {
    if (DeadlinePassed()) cancelled_.store(true, std::memory_order_relaxed);
    return cancelled_.load(std::memory_order_relaxed);
  }

  // Finishes with `status`; a Cancelled status (the kernel stopped on our
  // flag) is reported as the reason the flag was raised.
  void FinishWith(const absl::Status& status) {
    if (status.code() == absl::StatusCode::kCancelled) {
      if (DeadlinePassed()) {
        Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                            "deadline passed before the computation finished"));
      } else {
        Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                            "call cancelled before the computation finished"));
      }
      return;
    }
    Finish(ToGrpcStatus(status));
  }

 private:
  bool DeadlinePassed() const {
    return context_->deadline() <= std::chrono::system_clock::now();
  }

  grpc::CallbackServerContext* const context_;
  std::atomic<bool> cancelled_{false};
};

grpc::Status BusyStatus(const ComputePool& pool) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("server is busy: ", pool.max_concurrent(),
                   " computations already admitted (--max_concurrent); retry "
                   "later"));
}

grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// Runs `work` (absl::Status(const ExecOptions&)) under a compute slot, or
// finishes the call RESOURCE_EXHAUSTED at once when none is free, then
// `encode` (absl::Status(Metrics::StageTimer&)) when the work succeeded.
// `stages` times the wait for a worker and the computation, which is also
// `op`'s time.
//
// Tiny work runs right here (see ComputePool) and finishes through the
// default reactor: a custom reactor with OnCancel costs gRPC an extra
// operation per call, measurably more than a microsecond kernel, and such
// work is over before a cancellation could matter. Other work gets a
// ComputeReactor so the kernel stops when the call is cancelled or its
// deadline passes, and a pool worker finishes the call.
template <typename Work, typename Encode>
grpc::ServerUnaryReactor* Compute(grpc::CallbackServerContext* context,
                                  uint64_t work_bytes, const Limits& limits,
                                  ComputePool* pool, Metrics* metrics,
                                  Metrics::StageTimer stages, OpId op,
                                  Work work, Encode encode) {
  metrics->ComputationAdmitted();
  if (ComputePool::RunsInline(work_bytes)) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    absl::Status status;
    const bool admitted = pool->TrySubmit(work_bytes, [&](int num_threads) {
      stages.Mark(Stage::kQueueWait);
      ExecOptions exec;
      exec.max_elements = limits.max_elements;
      exec.num_threads = num_threads;
      status = work(exec);
      if (status.ok()) {
        metrics->ObserveOp(op, stages.Mark(Stage::kCompute));
        status = encode(stages);
      }
    });
    metrics->ComputationDone();
    if (!admitted) metrics->Rejected(RejectReason::kOverConcurrency);
    reactor->Finish(admitted ? ToGrpcStatus(status) : BusyStatus(*pool));
    return reactor;
  }

  auto* reactor = new ComputeReactor(context);
  const bool admitted = pool->TrySubmit(
      work_bytes, [reactor, metrics, stages, op,
                   max_elements = limits.max_elements, work = std::move(work),
                   encode = std::move(encode)](int num_threads) mutable {
        stages.Mark(Stage::kQueueWait);
        absl::Status status;
        if (reactor->Stopped()) {
          // Queued past its deadline or cancelled while waiting: skip work.
          status = absl::CancelledError("stopped before starting");
        } else {
          ExecOptions exec;
          exec.max_elements = max_elements;
          exec.num_threads = num_threads;
          exec.cancelled = reactor->cancelled_flag();
          status = work(exec);
          if (status.ok()) {
            metrics->ObserveOp(op, stages.Mark(Stage::kCompute));
            status = encode(stages);
          }
        }
        metrics->ComputationDone();
        reactor->FinishWith(status);
      });
  if (!admitted) {
    metrics->ComputationDone();
    metrics->Rejected(RejectReason::kOverConcurrency);
    reactor->Finish(BusyStatus(*pool));
  }
  return reactor;
}

// Answers a request that failed validation, counted by why it was refused.
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                 Metrics* metrics, const absl::Status& status) {
  metrics->Rejected(RejectReasonFor(status.code()));
  return FinishNow(context, status);
}

// A typed response is serialized by gRPC after the handler (and timed by
// the metrics interceptor).
absl::Status EncodedByGrpc(Metrics::StageTimer&) { return absl::OkStatus(); }

}  // namespace

PoolCatService::PoolCatService(const Limits& limits, ComputePool* pool,
                               Metrics* metrics, PoolMessages* pool_messages)
    : limits_(limits),
      pool_(pool),
      metrics_(metrics),
      pool_messages_(pool_messages),
      pool_series_(metrics->Series("/poolcat.v1.PoolCat/Pool", "unary")) {}

grpc::ServerUnaryReactor* PoolCatService::Pool(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes,
    grpc::ByteBuffer* response_bytes) {
  Metrics::StageTimer stages = metrics_->StartStages(context);
  // The pair goes back to its pool once the last holder lets go: on a
  // refusal right here, otherwise after the worker serialized the response.
  std::shared_ptr<grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>>
      messages(
          pool_messages_->AllocateMessages(),
          [](grpc::MessageHolder<v1::PoolRequest, v1::PoolResponse>* holder) {
            holder->Release();
          });
  const v1::PoolRequest* request = messages->request();
  // ProtoBufferReader only reads the buffer, but takes it non-const.
  if (absl::Status parsed = ParsePoolRequest(
          const_cast<grpc::ByteBuffer*>(request_bytes), messages->request());
      !parsed.ok()) {
    return Refuse(context, metrics_, parsed);
  }
  metrics_->MessageReceived(pool_series_);
  metrics_->BytesIn(PayloadBytes(request->input()));
  absl::StatusOr<PreparedPool> prepared = PreparePool(*request, limits_);
  stages.Mark(Stage::kDecode);
  if (!prepared.ok()) return Refuse(context, metrics_, prepared.status());
  const uint64_t work_bytes = prepared->work_bytes;
  const OpId op = OpIdOf(prepared->plan.op);
  v1::PoolResponse* response = messages->response();
  return Compute(
      context, work_bytes, limits_, pool_, metrics_, stages, op,
      [prepared = *std::move(prepared), response,
       metrics = metrics_](const ExecOptions& exec) {
        absl::Status status = ExecutePool(prepared, response, exec);
        if (status.ok()) {
          metrics->BytesOut(PayloadBytes(response->output()) +
                            PayloadBytes(response->indices()));
        }
        return status;
      },
      [messages, response_bytes](Metrics::StageTimer& encode_stage) {
        bool own_buffer = false;
        const grpc::Status serialized =
            grpc::SerializationTraits<v1::PoolResponse>::Serialize(
                *messages->response(), response_bytes, &own_buffer);
        encode_stage.Mark(Stage::kEncode);
        if (!serialized.ok()) {
          return absl::InternalError(absl::StrCat(
              "cannot serialize the response: ", serialized.error_message()));
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* PoolCatService::Concat(
    grpc::CallbackServerContext* context, const v1::ConcatRequest* request,
    v1::ConcatResponse* response) {
  Metrics::StageTimer stages = metrics_->StartStages(context);
  uint64_t bytes_in = 0;
  for (const v1::Tensor& t : request->tensors()) bytes_in += PayloadBytes(t);
  metrics_->BytesIn(bytes_in);
  absl::StatusOr<PreparedConcat> prepared = PrepareConcat(*request, limits_);
  stages.Mark(Stage::kDecode);
  if (!prepared.ok()) return Refuse(context, metrics_, prepared.status());
  const uint64_t work_bytes = prepared->work_bytes;
  return Compute(
      context, work_bytes, limits_, pool_, metrics_, stages, kCatOp,
      [prepared = *std::move(prepared), response,
       metrics = metrics_](const ExecOptions& exec) {
        absl::Status status = ExecuteConcat(prepared, response, exec);
        if (status.ok()) {
          metrics->BytesOut(PayloadBytes(response->output()));
        }
        return status;
      },
      EncodedByGrpc);
}

grpc::ServerUnaryReactor* PoolCatService::Echo(
    grpc::CallbackServerContext* context, const v1::EchoRequest* request,
    v1::EchoResponse* response) {
  metrics_->BytesIn(PayloadBytes(request->tensor()));
  // The request message is not const itself; gRPC only destroys it after the
  // call, so moving its tensor out leaves the baseline a pure round trip
  // with no payload copy, as a Pool call that reads the request in place.
  response->mutable_tensor()->Swap(
      const_cast<v1::EchoRequest*>(request)->mutable_tensor());
  metrics_->BytesOut(PayloadBytes(response->tensor()));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace poolcat::server
