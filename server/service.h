// The poolcat.v1.PoolCat service: thin callback handlers.
//
// Pool and Concat validate and plan on the gRPC thread (server/compute.h),
// take a compute slot or fail fast with RESOURCE_EXHAUSTED, and run on the
// bounded ComputePool, whose worker calls Finish. A call that is cancelled or
// whose deadline passes stops the running kernel (ExecOptions::cancelled)
// and ends CANCELLED or DEADLINE_EXCEEDED. Echo answers inline with the
// request's tensor: the bare-gRPC baseline for benchmarks.
#ifndef POOLCAT_SERVER_SERVICE_H_
#define POOLCAT_SERVER_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "poolcat/v1/poolcat.grpc.pb.h"
#include "server/compute.h"
#include "server/compute_pool.h"
#include "server/metrics.h"

namespace poolcat::server {

// Pool is a raw method, parsed by the handler into pooled messages (see
// server/request_parse.h); Concat and Echo are typed.
using PoolCatServiceBase = poolcat::v1::PoolCat::WithRawCallbackMethod_Pool<
    poolcat::v1::PoolCat::WithCallbackMethod_Concat<
        poolcat::v1::PoolCat::WithCallbackMethod_Echo<
            poolcat::v1::PoolCat::Service>>>;

class PoolCatService final : public PoolCatServiceBase {
 public:
  using PoolMessages = grpc::MessageAllocator<poolcat::v1::PoolRequest,
                                              poolcat::v1::PoolResponse>;

  // `pool`, `metrics` and `pool_messages` (where Pool's request/response
  // pairs come from) must outlive the service and every call on it.
  PoolCatService(const Limits& limits, ComputePool* pool, Metrics* metrics,
                 PoolMessages* pool_messages);

  grpc::ServerUnaryReactor* Pool(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Concat(
      grpc::CallbackServerContext* context,
      const poolcat::v1::ConcatRequest* request,
      poolcat::v1::ConcatResponse* response) override;
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const poolcat::v1::EchoRequest* request,
                                 poolcat::v1::EchoResponse* response) override;

 private:
  const Limits limits_;
  ComputePool* const pool_;
  Metrics* const metrics_;
  PoolMessages* const pool_messages_;
  const Metrics::MethodSeries& pool_series_;
};

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_SERVICE_H_
