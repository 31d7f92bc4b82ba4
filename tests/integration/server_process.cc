#include "tests/integration/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace poolcat::testing {
namespace {

constexpr absl::string_view kListeningPhrase = "poolcat-server listening on ";

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

std::string ServerBinary() {
  return EnvOr("POOLCAT_SERVER", POOLCAT_SERVER_BINARY);
}

std::string CliBinary() { return EnvOr("POOLCAT_CLI", POOLCAT_CLI_BINARY); }

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::vector<std::string>& flags, absl::Duration timeout) {
  std::vector<std::string> args = {ServerBinary(), "--listen=127.0.0.1:0",
                                   "--metrics_listen="};
  args.insert(args.end(), flags.begin(), flags.end());
  // Built before fork: the child may only call async-signal-safe functions.
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return ErrnoError("pipe2");
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died already
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);

  std::unique_ptr<ServerProcess> server(new ServerProcess());
  server->pid_ = pid;
  server->out_fd_ = pipe_fds[0];

  // Read until the listening line, the child's exit, or the timeout.
  std::string seen;
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    size_t at = absl::string_view(seen).find(kListeningPhrase);
    if (at != absl::string_view::npos &&
        seen.find('\n', at) != std::string::npos) {
      absl::string_view line = absl::string_view(seen).substr(at);
      line = line.substr(0, line.find('\n'));
      line.remove_prefix(kListeningPhrase.size());
      server->address_ = std::string(line.substr(0, line.find(' ')));
      const size_t colon = server->address_.rfind(':');
      if (colon == std::string::npos ||
          !absl::SimpleAtoi(server->address_.substr(colon + 1),
                            &server->port_)) {
        return absl::InternalError(
            absl::StrCat("cannot parse the listening line: ", line));
      }
      const size_t metrics = line.find("metrics=");
      if (metrics != std::string::npos) {
        absl::string_view value = line.substr(metrics + 8);
        value = value.substr(0, value.find_first_of(",) "));
        if (value != "off") server->metrics_address_ = std::string(value);
      }
      break;
    }
    const int64_t left_ms = absl::ToInt64Milliseconds(give_up - absl::Now());
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          "poolcat-server printed no listening line in time; output:\n", seen));
    }
    pollfd pfd = {server->out_fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left_ms));
    if (ready < 0 && errno != EINTR) return ErrnoError("poll");
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(server->out_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::StatusOr<int> code = server->Wait(absl::Seconds(10));
      return absl::FailedPreconditionError(absl::StrCat(
          "poolcat-server exited before listening (exit ",
          code.ok() ? absl::StrCat(*code) : code.status().ToString(),
          "); command: ", absl::StrJoin(args, " "), "; output:\n", seen));
    }
    seen.append(buffer, n);
  }
  {
    absl::MutexLock lock(&server->mu_);
    server->output_ = std::move(seen);
  }
  server->drainer_ = std::thread([s = server.get()] { s->Drain(); });
  return server;
}

void ServerProcess::Drain() {
  char buffer[4096];
  while (true) {
    const ssize_t n = read(out_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    absl::MutexLock lock(&mu_);
    output_.append(buffer, n);
  }
}

ServerProcess::~ServerProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (drainer_.joinable()) drainer_.join();  // EOF once the child is gone
  if (out_fd_ >= 0) close(out_fd_);
}

void ServerProcess::Signal(int signal) {
  if (!exited_) kill(pid_, signal);
}

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  if (exited_) return absl::FailedPreconditionError("already waited for");
  const absl::Time give_up = absl::Now() + timeout;
  while (true) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      exited_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (done < 0 && errno != EINTR) return ErrnoError("waitpid");
    if (absl::Now() >= give_up) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      exited_ = true;
      return absl::DeadlineExceededError(
          absl::StrCat("poolcat-server still running after ",
                       absl::FormatDuration(timeout), "; killed it"));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

absl::StatusOr<int> ServerProcess::Stop(absl::Duration timeout) {
  Signal(SIGTERM);
  return Wait(timeout);
}

std::string ServerProcess::Output() const {
  absl::MutexLock lock(&mu_);
  return output_;
}

absl::StatusOr<std::string> ScrapeMetrics(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a host:port: ", address));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Bounded: a server that accepts but never answers fails the scrape.
  timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status s = ErrnoError("connect to metrics");
    close(fd);
    return s;
  }
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    absl::Status s = ErrnoError("write to metrics");
    close(fd);
    return s;
  }
  std::string response;
  char buffer[8192];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      absl::Status s = ErrnoError("read from metrics");
      close(fd);
      return s;
    }
    if (n == 0) break;
    response.append(buffer, n);
  }
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) {
    return absl::InternalError("metrics response has no body");
  }
  return response.substr(body + 4);
}

double MetricValue(const std::string& metrics_text, const std::string& name,
                   const std::vector<std::string>& label_filters) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(metrics_text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == absl::string_view::npos ||
        line.substr(0, name_end) != name) {
      continue;
    }
    absl::string_view labels;
    absl::string_view rest = line.substr(name_end);
    if (rest.front() == '{') {
      const size_t close = rest.find('}');
      if (close == absl::string_view::npos) continue;
      labels = rest.substr(0, close + 1);
      rest = rest.substr(close + 1);
    }
    bool match = true;
    for (const std::string& filter : label_filters) {
      if (!absl::StrContains(labels, filter)) match = false;
    }
    double value = 0;
    rest = absl::StripAsciiWhitespace(rest);
    rest = rest.substr(0, rest.find(' '));  // drop a timestamp
    if (match && absl::SimpleAtod(rest, &value)) sum += value;
  }
  return sum;
}

int EstablishedConnectionsOnPort(int port) {
  constexpr absl::string_view kEstablished = "01";
  int count = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..." with hex "ADDR:PORT".
      std::vector<absl::string_view> fields =
          absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (fields.size() < 4 || fields[3] != kEstablished) continue;
      const size_t colon = fields[1].rfind(':');
      if (colon == absl::string_view::npos) continue;
      const std::string hex_port(fields[1].substr(colon + 1));
      if (std::strtol(hex_port.c_str(), nullptr, 16) == port) ++count;
    }
  }
  return count;
}

absl::StatusOr<int> UnusedLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoError("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status s = ErrnoError("bind");
    close(fd);
    return s;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace poolcat::testing
