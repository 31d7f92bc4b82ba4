// Runs the real poolcat-server binary as a child process for a test.
//
// Start() launches it with --listen=127.0.0.1:0 (plus the caller's flags),
// reads its output until the "poolcat-server listening on HOST:PORT" line
// and returns; the rest of its output keeps being collected so the child
// never blocks on a full pipe and a failing test can print it. The child
// dies with the test process (PR_SET_PDEATHSIG) should the test crash.
#ifndef POOLCAT_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define POOLCAT_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace poolcat::testing {

// The server binary: $POOLCAT_SERVER, else the path CMake compiled in.
std::string ServerBinary();
// The CLI binary: $POOLCAT_CLI, else the path CMake compiled in.
std::string CliBinary();

class ServerProcess {
 public:
  // `flags` are appended after --listen=127.0.0.1:0 and
  // --metrics_listen= (metrics off); pass --metrics_listen=127.0.0.1:0 to
  // turn them on. Fails if the server exits or prints no listening line
  // within `timeout`.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::vector<std::string>& flags = {},
      absl::Duration timeout = absl::Seconds(60));

  // Kills the server (SIGKILL) if it still runs.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // "127.0.0.1:PORT" from the listening line.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // "127.0.0.1:PORT" of /metrics, or "" when metrics are off.
  const std::string& metrics_address() const { return metrics_address_; }
  pid_t pid() const { return pid_; }

  // Sends `signal` (SIGTERM by default).
  void Signal(int signal);
  // Waits for the server to exit and returns its exit code (128 + signal
  // if a signal killed it); DeadlineExceeded if it is still running after
  // `timeout` (it is then killed).
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(120));
  // SIGTERM then Wait.
  absl::StatusOr<int> Stop(absl::Duration timeout = absl::Seconds(120));

  // Everything the server printed so far (stdout and stderr).
  std::string Output() const;

 private:
  ServerProcess() = default;
  void Drain();

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  std::string address_;
  int port_ = 0;
  std::string metrics_address_;
  std::thread drainer_;
  mutable absl::Mutex mu_;
  std::string output_ ABSL_GUARDED_BY(mu_);
};

// GET http://<address>/metrics over a plain socket; the body.
absl::StatusOr<std::string> ScrapeMetrics(const std::string& address);

// Sum of the values of every sample of `name` whose labels contain all of
// `label_filters` (each "key=\"value\""), in Prometheus text format. 0 when
// there is none.
double MetricValue(const std::string& metrics_text, const std::string& name,
                   const std::vector<std::string>& label_filters = {});

// Established TCP connections (IPv4 and IPv6) whose local port is `port`:
// on the server's side, its open client connections. From /proc/net/tcp*.
int EstablishedConnectionsOnPort(int port);

// A loopback port nothing listens on (bound and closed, so connecting to it
// is refused).
absl::StatusOr<int> UnusedLoopbackPort();

}  // namespace poolcat::testing

#endif  // POOLCAT_TESTS_INTEGRATION_SERVER_PROCESS_H_
