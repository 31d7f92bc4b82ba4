// poolcat::Client: the C++ client library of the poolcat.v1.PoolCat service.
//
// Usage:
//   poolcat::ClientOptions options;
//   options.target = "localhost:50051";
//   absl::StatusOr<std::unique_ptr<poolcat::Client>> client =
//       poolcat::Client::Create(options);
//   poolcat::PoolArgs args;
//   args.kernel_size = {2};
//   absl::StatusOr<poolcat::Tensor> y = (*client)->Pool("max_pool2d", x, args);
//
// Every RPC failure comes back as an absl::Status with the gRPC status code
// (the numbering is the same) and the server's message unchanged, so a
// caller sees e.g. INVALID_ARGUMENT "max_pool2d: stride should be greater
// than zero, but got stride=[0, 0]". Calls the client itself stops say so:
// CANCELLED "call cancelled by the client", DEADLINE_EXCEEDED.
//
// A Client is thread-safe: one instance may serve any number of threads
// (all share one gRPC channel).
#ifndef POOLCAT_CLIENT_CLIENT_H_
#define POOLCAT_CLIENT_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "core/pool.h"
#include "core/tensor.h"

namespace grpc {
class ClientContext;
}  // namespace grpc

namespace poolcat {
namespace client_internal {
class CallScope;
}  // namespace client_internal

// Transport security. With `enabled` false the channel is plaintext.
struct TlsOptions {
  bool enabled = false;
  // PEM root certificates to verify the server with; empty means the
  // system's default roots.
  std::string root_ca_pem;
  // Client certificate chain and private key (PEM) for mutual TLS. Both or
  // neither.
  std::string client_cert_pem;
  std::string client_key_pem;
  // Expect this name in the server's certificate instead of the target's
  // host (e.g. when connecting to 127.0.0.1 with a certificate for
  // "poolcat.test").
  std::string server_name_override;
};

// Retry of calls that fail with UNAVAILABLE (server restarting, connection
// refused), done by gRPC itself through the channel's service config.
struct RetryOptions {
  // Total attempts including the first; 1 disables retries. gRPC caps it
  // at 5.
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  double backoff_multiplier = 2.0;
};

struct ClientOptions {
  // A gRPC target: "host:port", "dns:///host:port", or several addresses
  // such as "ipv4:127.0.0.1:5001,127.0.0.1:5002".
  std::string target = "localhost:50051";
  // Deadline of every call that does not set its own;
  // absl::InfiniteDuration() for none.
  absl::Duration default_deadline = absl::Seconds(60);
  TlsOptions tls;
  // Largest message sent or received. The server's default is the same, so
  // any tensor it accepts can come back.
  int64_t max_message_bytes = int64_t{256} << 20;
  RetryOptions retry;
  // gRPC shares one connection among all channels of a process that have
  // the same target and settings. With `own_connection` this client opens
  // connections of its own (e.g. to load a server from many connections).
  bool own_connection = false;
  // gRPC load-balancing policy. Empty picks round_robin for a target that
  // lists several addresses or is an explicit dns: name, e.g.
  // dns:///poolcat-headless:50051 (so calls spread over every address), and
  // pick_first otherwise.
  std::string load_balancing_policy;
};

// Lets another thread cancel calls in flight, e.g. on Ctrl-C. Cancel() makes
// every call that uses this object, running or later, fail with CANCELLED.
class Cancellation {
 public:
  Cancellation() = default;
  Cancellation(const Cancellation&) = delete;
  Cancellation& operator=(const Cancellation&) = delete;

  void Cancel();
  bool cancelled() const;

 private:
  friend class client_internal::CallScope;
  // Registers a call; false if already cancelled.
  bool Attach(grpc::ClientContext* context);
  void Detach(grpc::ClientContext* context);

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

// Per-call settings.
struct CallOptions {
  // Overrides ClientOptions::default_deadline for this call.
  std::optional<absl::Duration> deadline;
  // Not owned; may be null. Must outlive the call.
  Cancellation* cancellation = nullptr;
};

// What the grpc.health.v1 service reports.
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN", "UNKNOWN".
absl::string_view ServingStatusName(ServingStatus status);

// The service config JSON a client with `options` gives its channel:
// load-balancing policy and the retry policy for poolcat.v1.PoolCat.
// Exposed for tests.
std::string ServiceConfigJson(const ClientOptions& options);

class Client {
 public:
  // InvalidArgument for inconsistent options (e.g. a client certificate
  // without its key, a non-positive message size or attempt count). Does
  // not connect: the first call does.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Pools `input` with the PyTorch functional `op` ("max_pool2d", ...).
  // args.return_indices is ignored: use PoolWithIndices for indices.
  absl::StatusOr<Tensor> Pool(absl::string_view op, const Tensor& input,
                              const PoolArgs& args,
                              const CallOptions& call = {});
  // Like Pool; when args.return_indices is set and the op has indices
  // (max_pool*, adaptive_max_pool*), `indices` holds the int64 argmax
  // indices. Other ops ignore return_indices and leave `indices` empty.
  absl::StatusOr<PoolResult> PoolWithIndices(absl::string_view op,
                                             const Tensor& input,
                                             const PoolArgs& args,
                                             const CallOptions& call = {});
  // torch.cat(tensors, dim).
  absl::StatusOr<Tensor> Concat(absl::Span<const Tensor> tensors, int64_t dim,
                                const CallOptions& call = {});
  // Returns `tensor` as the server echoed it (the benchmark baseline).
  absl::StatusOr<Tensor> Echo(const Tensor& tensor,
                              const CallOptions& call = {});
  // grpc.health.v1 Check for `service` ("" is the whole server).
  absl::StatusOr<ServingStatus> Health(absl::string_view service = "",
                                       const CallOptions& call = {});

  const ClientOptions& options() const { return options_; }

 private:
  struct Channel;
  Client(ClientOptions options, std::unique_ptr<Channel> channel);

  ClientOptions options_;
  std::unique_ptr<Channel> channel_;
};

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_CLIENT_H_
