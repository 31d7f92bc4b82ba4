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

class PoolCatService final : public poolcat::v1::PoolCat::CallbackService {
 public:
  // `pool` and `metrics` must outlive the service and every call on it.
  PoolCatService(const Limits& limits, ComputePool* pool, Metrics* metrics);

  grpc::ServerUnaryReactor* Pool(grpc::CallbackServerContext* context,
                                 const poolcat::v1::PoolRequest* request,
                                 poolcat::v1::PoolResponse* response) override;
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
};

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_SERVICE_H_
