// Server settings, and how flags pick them up from the environment.
#ifndef POOLCAT_SERVER_OPTIONS_H_
#define POOLCAT_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tensor.h"

namespace poolcat::server {

struct ServerOptions {
  // host:port for gRPC; port 0 picks a free port.
  std::string listen = "0.0.0.0:50051";
  // OpenMP threads shared by all computations; 0 = the core's
  // ComputeThreads() (the CPUs this process may use).
  int threads = 0;
  // Largest message received or sent, in bytes.
  int64_t max_message_bytes = int64_t{256} << 20;
  // Per-tensor element cap.
  int64_t max_elements = kDefaultMaxElements;
  // Computations admitted at once (queued or running); past it, calls fail
  // fast with RESOURCE_EXHAUSTED.
  int max_concurrent = 256;
  // PEM files. cert + key enable TLS; client_ca also requires and verifies
  // client certificates (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // How long in-flight calls may take to finish after SIGTERM/SIGINT.
  absl::Duration grace_period = absl::Seconds(10);
  // host:port of the Prometheus /metrics endpoint; empty disables it.
  std::string metrics_listen = "0.0.0.0:9464";
  // Tensor buffers the message pools keep for reuse, and free memory malloc
  // may keep, each at most this many bytes; 0 keeps none (glibc defaults:
  // large blocks go back to the kernel at once).
  int64_t max_retained_bytes = int64_t{256} << 20;
  // gRPC's MAX_CONNECTION_AGE: a connection older than this gets GOAWAY, so
  // long-lived clients behind an L4 load balancer reconnect and re-balance
  // as replicas come and go. Infinite (the default) never closes one.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // MAX_CONNECTION_AGE_GRACE: how long calls on such a connection may still
  // run before it is closed hard. Infinite waits for them.
  absl::Duration max_connection_age_grace = absl::InfiniteDuration();
};

// InvalidArgument naming the flag for any value out of range or any
// inconsistent combination (e.g. --tls_key without --tls_cert).
absl::Status ValidateOptions(const ServerOptions& options);

// For every absl flag defined in the source file `defining_file` (pass
// __FILE__), reads the environment variable POOLCAT_<FLAG NAME IN UPPER
// CASE> and, when set, parses it into the flag. Call before
// absl::ParseCommandLine so a flag on the command line wins.
// InvalidArgument naming the variable if a value does not parse.
absl::Status ApplyEnvironmentToFlags(absl::string_view defining_file);

// "POOLCAT_MAX_MESSAGE_BYTES" for "max_message_bytes".
std::string EnvironmentVariableFor(absl::string_view flag_name);

}  // namespace poolcat::server

#endif  // POOLCAT_SERVER_OPTIONS_H_
