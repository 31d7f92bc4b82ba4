// poolcat-server: flags in, RunServer out. Every flag can also be set from
// the environment as POOLCAT_<FLAG NAME IN UPPER CASE> (e.g.
// POOLCAT_MAX_CONCURRENT=64); a flag on the command line wins.
#include <cstdint>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "server/options.h"
#include "server/server.h"

namespace {
const poolcat::server::ServerOptions kDefaults;
}  // namespace

ABSL_FLAG(std::string, listen, kDefaults.listen,
          "host:port to serve gRPC on; port 0 picks a free port (logged)");
ABSL_FLAG(int, threads, kDefaults.threads,
          "compute threads shared by all computations; 0 = CPUs this process "
          "may use");
ABSL_FLAG(int64_t, max_message_bytes, kDefaults.max_message_bytes,
          "largest message received or sent, in bytes");
ABSL_FLAG(int64_t, max_elements, kDefaults.max_elements,
          "largest element count of any input or output tensor");
ABSL_FLAG(int, max_concurrent, kDefaults.max_concurrent,
          "computations admitted at once; past it calls fail with "
          "RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM server certificate chain (enables TLS, with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; when set, clients must present a certificate it "
          "signed (mutual TLS)");
ABSL_FLAG(absl::Duration, grace_period, kDefaults.grace_period,
          "time in-flight calls get to finish after SIGTERM/SIGINT, e.g. 10s");
ABSL_FLAG(std::string, metrics_listen, kDefaults.metrics_listen,
          "host:port for the Prometheus /metrics endpoint; empty disables it");
ABSL_FLAG(int64_t, max_retained_bytes, kDefaults.max_retained_bytes,
          "bytes of tensor buffers kept for reuse (and of free memory malloc "
          "may keep); "
          "0 = keep none, glibc defaults");

ABSL_FLAG(
    absl::Duration, max_connection_age, kDefaults.max_connection_age,
    "close connections older than this (GOAWAY) so clients re-balance across "
    "replicas, e.g. 5m; inf = never");
ABSL_FLAG(
    absl::Duration, max_connection_age_grace,
    kDefaults.max_connection_age_grace,
    "time calls on a connection closed by --max_connection_age may still take, "
    "e.g. 30s; inf = wait for them");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "poolcat-server: PyTorch-exact pooling and concatenation over gRPC.\n"
      "Every flag may also be set as the environment variable POOLCAT_<FLAG>.");
  if (absl::Status env = poolcat::server::ApplyEnvironmentToFlags(__FILE__);
      !env.ok()) {
    std::cerr << "poolcat-server error: " << env.message() << std::endl;
    return 2;
  }
  absl::ParseCommandLine(argc, argv);

  poolcat::server::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_elements = absl::GetFlag(FLAGS_max_elements);
  options.max_concurrent = absl::GetFlag(FLAGS_max_concurrent);
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.grace_period = absl::GetFlag(FLAGS_grace_period);
  options.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  options.max_retained_bytes = absl::GetFlag(FLAGS_max_retained_bytes);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_connection_age_grace =
      absl::GetFlag(FLAGS_max_connection_age_grace);
  return poolcat::server::RunServer(options);
}
