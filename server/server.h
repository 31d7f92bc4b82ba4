// Building, starting and stopping poolcat-server.
//
// PoolCatServer::Start wires everything (service, compute pool, health,
// reflection, keepalive policy, TLS, metrics interceptor and exporter) and
// listens; RunServer is what the binary does: start, print the listening
// line, wait for SIGTERM/SIGINT, drain, exit 0.
#ifndef POOLCAT_SERVER_SERVER_H_
#define POOLCAT_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "prometheus/exposer.h"
#include "server/compute_pool.h"
#include "server/memory.h"
#include "server/message_pool.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/service.h"

namespace poolcat::server {

class PoolCatServer {
 public:
  // InvalidArgument for bad options or unreadable TLS files, Unavailable
  // when the address cannot be bound. A metrics endpoint that cannot be
  // bound is logged and skipped rather than fatal.
  static absl::StatusOr<std::unique_ptr<PoolCatServer>> Start(
      const ServerOptions& options);

  // Shuts down with no grace period if Shutdown was not called.
  ~PoolCatServer();

  // The bound address, host as given in --listen and the real port.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // Port of the /metrics endpoint, or 0 when disabled.
  int metrics_port() const { return metrics_port_; }
  int threads() const { return pool_->threads(); }
  bool tls() const { return tls_; }

  // Health goes NOT_SERVING, new calls are refused, and calls in flight get
  // up to `grace` to finish before they are cancelled. Returns when every
  // call has ended and every connection is closed: the number of calls that
  // were still running when the grace period ran out (0 for a clean drain).
  // Idempotent (later calls return 0).
  int Shutdown(absl::Duration grace);

 private:
  PoolCatServer() = default;

  // Declaration order is destruction order in reverse: the gRPC server goes
  // first, so no call can reach the service, pool or metrics after them.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RetentionGuard> retention_;
  std::unique_ptr<ComputePool> pool_;
  std::unique_ptr<RetentionBudget> buffer_budget_;
  std::unique_ptr<
      MessagePool<poolcat::v1::PoolRequest, poolcat::v1::PoolResponse>>
      pool_messages_;
  std::unique_ptr<
      MessagePool<poolcat::v1::ConcatRequest, poolcat::v1::ConcatResponse>>
      concat_messages_;
  std::unique_ptr<PoolCatService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
  int port_ = 0;
  int metrics_port_ = 0;
  bool tls_ = false;
  bool shut_down_ = false;
};

// Runs the server until SIGTERM or SIGINT. Returns the process exit code:
// 0 after a clean shutdown, 1 if the server could not start.
// REQUIRES: called before any other thread starts (it blocks the signals
// for every thread it creates).
int RunServer(const ServerOptions& options);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_SERVER_H_
