// Faults against the real poolcat-server over loopback: overload past
// --max_concurrent, clients cancelling mid-call, deadlines expiring during
// kernels, connections dropped mid-message, SIGTERM under load, SIGKILL and
// restart. After each, the server (or its successor) must answer correct
// requests correctly. Deterministic in what is asserted: waits poll for a
// condition (bounded), never assert on elapsed time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"
#include "tests/reliability/reliability_util.h"

namespace poolcat::reliability {
namespace {

using ::testing::HasSubstr;
using testing::ServerProcess;

std::unique_ptr<ServerProcess> StartServer(
    const std::vector<std::string>& flags) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(flags);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::unique_ptr<Client> Connect(const std::string& address,
                                int max_attempts = 4) {
  ClientOptions options;
  options.target = address;
  options.own_connection = true;
  options.retry.max_attempts = max_attempts;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? std::move(*client) : nullptr;
}

// Several seconds of one compute thread from a 4 MiB request (21^3-element
// average windows); the server checks for cancellation between planes.
Job SlowJob() {
  Job job;
  job.name = "slow_avg3d";
  job.large = true;
  job.op = "avg_pool3d";
  job.args = Args({21}, {1});
  job.inputs.push_back(RandomFloat32({1, 4, 64, 64, 64}, 99));
  return job;  // No expected answer: only cancelled or deadline-exceeded.
}

void ExpectServesCorrectly(Client& client) {
  for (const Job& job : MixedJobs()) {
    const absl::Status s = RunJob(client, job);
    EXPECT_TRUE(s.ok()) << job.name << ": " << s;
  }
}

// ---------------------------------------------------------------------------

TEST(Overload,
     SurplusPastMaxConcurrentIsResourceExhaustedAndTheServerRecovers) {
  constexpr int kMaxConcurrent = 4;
  constexpr int kSurplus = 32;
  auto server = StartServer({absl::StrCat("--max_concurrent=", kMaxConcurrent),
                             "--threads=1", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  ASSERT_NE(client, nullptr);
  const int64_t base_kib = ProcStatusKiB(server->pid(), "VmRSS");

  // Fill every slot with slow computations...
  const Job slow = SlowJob();
  std::vector<std::unique_ptr<Cancellation>> stops;
  std::vector<absl::Status> slow_status(kMaxConcurrent);
  std::vector<std::thread> holders;
  // All made before any thread starts: a push_back could move the vector
  // under a running thread (ThreadSanitizer caught exactly that).
  for (int i = 0; i < kMaxConcurrent; ++i)
    stops.push_back(std::make_unique<Cancellation>());
  for (int i = 0; i < kMaxConcurrent; ++i) {
    holders.emplace_back([&, i] {
      CallOptions call;
      call.cancellation = stops[static_cast<size_t>(i)].get();
      slow_status[static_cast<size_t>(i)] = RunJob(*client, slow, call);
    });
  }
  ASSERT_TRUE(WaitForMetric(*server, "poolcat_inflight_computations", {},
                            kMaxConcurrent))
      << server->Output();
  // ...then send large requests at once: every one is surplus.
  const std::vector<Job> jobs = MixedJobs();
  std::vector<absl::Status> surplus(kSurplus);
  std::vector<std::thread> extra;
  for (int i = 0; i < kSurplus; ++i) {
    extra.emplace_back([&, i] {
      surplus[static_cast<size_t>(i)] = RunJob(*client, jobs[6 + i % 3]);
    });
  }
  for (std::thread& t : extra) t.join();
  const int64_t peak_kib = ProcStatusKiB(server->pid(), "VmHWM");
  for (auto& stop : stops) stop->Cancel();
  for (std::thread& t : holders) t.join();

  int exhausted = 0;
  for (const absl::Status& s : surplus) {
    // A slow call could only have finished early on an absurdly fast
    // machine; then the surplus call runs and must be right.
    EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kResourceExhausted)
        << s;
    if (s.code() == absl::StatusCode::kResourceExhausted) {
      ++exhausted;
      EXPECT_THAT(s.message(), HasSubstr("max_concurrent"));
    }
  }
  EXPECT_GT(exhausted, kSurplus / 2);
  for (const absl::Status& s : slow_status) {
    EXPECT_TRUE(s.code() == absl::StatusCode::kCancelled || s.ok()) << s;
  }
  // Memory: the surplus is refused before any work; what it costs is the
  // received messages (at most kSurplus * 4 MiB) on top of the base. Bound:
  // base + 512 MiB.
  std::printf(
      "OVERLOAD: max_concurrent=%d surplus=%d exhausted=%d base_rss_mib=%lld "
      "peak_rss_mib=%lld\n",
      kMaxConcurrent, kSurplus, exhausted,
      static_cast<long long>(base_kib / 1024),
      static_cast<long long>(peak_kib / 1024));
  EXPECT_LT(peak_kib, base_kib + (int64_t{512} << 10));

  // Recovery: the slots are free again, all of them at once.
  ASSERT_TRUE(WaitForMetricAtMost(*server, "poolcat_inflight_computations", 0));
  absl::StatusOr<std::string> metrics =
      testing::ScrapeMetrics(server->metrics_address());
  ASSERT_TRUE(metrics.ok());
  EXPECT_GE(testing::MetricValue(*metrics, "poolcat_rejected_total"),
            exhausted);
  std::vector<absl::Status> after(kMaxConcurrent);
  std::vector<std::thread> again;
  for (int i = 0; i < kMaxConcurrent; ++i) {
    again.emplace_back(
        [&, i] { after[static_cast<size_t>(i)] = RunJob(*client, jobs[i]); });
  }
  for (std::thread& t : again) t.join();
  for (const absl::Status& s : after) EXPECT_TRUE(s.ok()) << s;
  ExpectServesCorrectly(*client);
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(Faults, ClientsCancellingMidCallLeaveTheServerServing) {
  auto server = StartServer(
      {"--max_concurrent=2", "--threads=1", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address());
  ASSERT_NE(client, nullptr);
  const Job slow = SlowJob();
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    Cancellation stop;
    absl::Status status;
    std::thread call_thread([&] {
      CallOptions call;
      call.cancellation = &stop;
      status = RunJob(*client, slow, call);
    });
    // Half the rounds cancel while the kernel runs, half at once (while the
    // request may still be in transit).
    if (round % 2 == 0) {
      ASSERT_TRUE(
          WaitForMetric(*server, "poolcat_inflight_computations", {}, 1));
    }
    stop.Cancel();
    call_thread.join();
    EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  }
  // Every cancelled computation gave its slot back: with --max_concurrent=2,
  // two calls at once are both admitted.
  std::vector<absl::Status> after(2);
  const std::vector<Job> jobs = MixedJobs();
  std::thread a([&] { after[0] = RunJob(*client, jobs[6]); });
  std::thread b([&] { after[1] = RunJob(*client, jobs[7]); });
  a.join();
  b.join();
  EXPECT_TRUE(after[0].ok()) << after[0];
  EXPECT_TRUE(after[1].ok()) << after[1];
  ExpectServesCorrectly(*client);
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(Faults, DeadlinesExpiringDuringKernelsFreeTheirSlots) {
  auto server = StartServer(
      {"--max_concurrent=2", "--threads=1", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address(), /*max_attempts=*/1);
  ASSERT_NE(client, nullptr);
  const Job slow = SlowJob();
  for (int i = 0; i < 6; ++i) {
    CallOptions call;
    call.deadline = absl::Milliseconds(200 + 150 * i);
    const absl::Status s = RunJob(*client, slow, call);
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  }
  // The server ended every one of those calls itself (DeadlineExceeded when
  // the deadline struck during the kernel, Canceled when gRPC had already
  // torn the call down) and its compute slots are all free again.
  const absl::Time give_up = absl::Now() + absl::Seconds(120);
  double ended = 0;
  while (ended < 6 && absl::Now() < give_up) {
    const std::string text =
        testing::ScrapeMetrics(server->metrics_address()).value_or("");
    ended = testing::MetricValue(
                text, "grpc_server_handled_total",
                {"grpc_method=\"Pool\"", "grpc_code=\"DeadlineExceeded\""}) +
            testing::MetricValue(
                text, "grpc_server_handled_total",
                {"grpc_method=\"Pool\"", "grpc_code=\"Canceled\""});
    if (ended < 6) absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(ended, 6);
  EXPECT_TRUE(WaitForMetricAtMost(*server, "poolcat_inflight_computations", 0));
  std::printf("DEADLINES: 6 deadlines expired during kernels\n");
  ExpectServesCorrectly(*client);
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

// --- connections dropped mid-message: raw HTTP/2 bytes, then close. -------

std::string Frame(uint8_t type, uint8_t flags, uint32_t stream,
                  const std::string& payload) {
  std::string f;
  const uint32_t n = static_cast<uint32_t>(payload.size());
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>(stream >> 24);
  f += static_cast<char>(stream >> 16);
  f += static_cast<char>(stream >> 8);
  f += static_cast<char>(stream);
  return f + payload;
}

// HPACK "literal header field without indexing, new name", no Huffman.
std::string Header(const std::string& name, const std::string& value) {
  std::string h(1, '\0');
  h += static_cast<char>(name.size());
  h += name;
  h += static_cast<char>(value.size());
  h += value;
  return h;
}

// The bytes a gRPC client sends for a Pool call whose message claims
// `claimed` bytes, cut after `cut` bytes.
std::string CallPrefix(uint32_t claimed, size_t cut) {
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const std::string settings = Frame(0x4, 0, 0, "");
  const std::string headers =
      Frame(0x1, 0x4, 1,
            Header(":method", "POST") + Header(":scheme", "http") +
                Header(":path", "/poolcat.v1.PoolCat/Pool") +
                Header(":authority", "127.0.0.1") +
                Header("content-type", "application/grpc") +
                Header("te", "trailers"));
  std::string message(5, '\0');
  message[1] = static_cast<char>(claimed >> 24);
  message[2] = static_cast<char>(claimed >> 16);
  message[3] = static_cast<char>(claimed >> 8);
  message[4] = static_cast<char>(claimed);
  message += std::string(4000, 'x');
  const std::string data = Frame(0x0, 0, 1, message);
  const std::string all = preface + settings + headers + data;
  return all.substr(0, std::min(cut, all.size()));
}

void SendAndDrop(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // The server may hang up first on garbage.
    sent += static_cast<size_t>(n);
  }
  close(fd);
}

TEST(Faults, ConnectionsDroppedMidMessageLeaveNoTrace) {
  auto server = StartServer({});
  ASSERT_NE(server, nullptr);
  const std::string full = CallPrefix(1 << 20, std::string::npos);
  int dropped = 0;
  // Cut at every stage: inside the preface, the frame headers, the HEADERS
  // block, the gRPC message prefix and the message body.
  for (size_t cut :
       {size_t{5}, size_t{24}, size_t{30}, size_t{40}, size_t{60}, size_t{120},
        size_t{170}, size_t{200}, size_t{1000}, full.size()}) {
    for (int i = 0; i < 5; ++i) {
      SendAndDrop(server->port(), CallPrefix(1 << 20, cut));
      ++dropped;
    }
  }
  // Garbage instead of HTTP/2, and a plausible call whose message length
  // prefix claims 4 GiB.
  for (int i = 0; i < 5; ++i) {
    SendAndDrop(server->port(), std::string(512, static_cast<char>(0xA5)));
    SendAndDrop(server->port(), CallPrefix(0xFFFFFFFFu, std::string::npos));
    dropped += 2;
  }
  std::printf("DROPPED: %d connections dropped mid-message\n", dropped);
  // The server lets go of every dropped connection...
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (testing::EstablishedConnectionsOnPort(server->port()) > 0 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(testing::EstablishedConnectionsOnPort(server->port()), 0);
  // ...and serves a real client correctly.
  auto client = Connect(server->address());
  ASSERT_NE(client, nullptr);
  ExpectServesCorrectly(*client);
  client.reset();
  EXPECT_EQ(*server->Stop(), 0);
}

TEST(Faults, SigtermDuringMixedLoadCompletesEveryAcceptedCall) {
  auto server =
      StartServer({"--grace_period=120s", "--metrics_listen=127.0.0.1:0"});
  ASSERT_NE(server, nullptr);
  auto client = Connect(server->address(), /*max_attempts=*/1);
  ASSERT_NE(client, nullptr);
  const std::vector<Job> jobs = MixedJobs();
  constexpr int kClients = 32;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, bad{0};
  std::mutex mu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; !stop.load(); ++n) {
        const absl::Status s =
            RunJob(*client, jobs[static_cast<size_t>(t + n) % jobs.size()]);
        if (s.ok()) {
          ++ok;
        } else if (s.code() == absl::StatusCode::kUnavailable ||
                   s == absl::CancelledError("CANCELLED")) {
          // Not accepted: the server had stopped taking calls. A call whose
          // stream reached the server as shutdown began but never reached
          // the service is cancelled by gRPC itself with the bare message
          // "CANCELLED" (the service's own cancellations say why; see
          // integration.Shutdown.SigtermDuringLoadFinishesEveryAcceptedCall).
          ++refused;
          absl::SleepFor(absl::Milliseconds(5));
        } else {
          ++bad;
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back(s.ToString());
        }
      }
    });
  }
  // Let the load reach the kernels, then SIGTERM.
  ASSERT_TRUE(WaitForMetric(*server, "grpc_server_handled_total",
                            {"grpc_code=\"OK\""}, 200));
  server->Signal(SIGTERM);
  absl::StatusOr<int> code = server->Wait(absl::Seconds(180));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  std::printf(
      "SIGTERM: %d calls completed, %d refused after shutdown began, %d "
      "failed\n",
      ok.load(), refused.load(), bad.load());
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server->Output();
  EXPECT_EQ(bad.load(), 0) << absl::StrJoin(errors, "\n");
  EXPECT_GT(ok.load(), 0);
}

TEST(Faults, SigkillAndRestartOnTheSamePortClientsWithRetryRecover) {
  absl::StatusOr<int> port = testing::UnusedLoopbackPort();
  ASSERT_TRUE(port.ok());
  const std::string listen = absl::StrCat("--listen=127.0.0.1:", *port);
  auto server = StartServer({listen});
  ASSERT_NE(server, nullptr);
  const std::vector<Job> jobs = MixedJobs();
  constexpr int kClients = 16;
  constexpr int kCallsAfterRestart = 20;
  std::atomic<bool> restarted{false};
  std::atomic<int> unavailable{0}, bad{0}, ok_after{0};
  std::vector<std::thread> threads;
  // Each client retries a failed call (its own backoff, on top of the
  // client library's retries of UNAVAILABLE) until it gets an answer.
  for (int t = 0; t < kClients; ++t) {
    threads.emplace_back([&, t] {
      ClientOptions options;
      options.target = absl::StrCat("127.0.0.1:", *port);
      options.own_connection = true;
      options.retry.max_attempts = 5;
      options.default_deadline = absl::Seconds(30);
      auto client = Client::Create(options);
      if (!client.ok()) {
        ++bad;
        return;
      }
      int done_after = 0;
      for (int n = 0; done_after < kCallsAfterRestart; ++n) {
        const Job& job = jobs[static_cast<size_t>(t + n) % jobs.size()];
        const bool after = restarted.load();
        absl::Status s = RunJob(**client, job);
        for (int attempt = 0; !s.ok() && attempt < 200; ++attempt) {
          if (s.code() != absl::StatusCode::kUnavailable &&
              s.code() != absl::StatusCode::kDeadlineExceeded) {
            break;
          }
          ++unavailable;
          absl::SleepFor(absl::Milliseconds(100));
          s = RunJob(**client, job);
        }
        if (!s.ok()) {
          ++bad;
          return;
        }
        if (after) {
          ++done_after;
          ++ok_after;
        }
      }
    });
  }
  ASSERT_TRUE(absl::StrContains(server->address(), absl::StrCat(*port)));
  absl::SleepFor(absl::Seconds(2));  // Load under way (not asserted on).
  server->Signal(SIGKILL);
  ASSERT_TRUE(server->Wait(absl::Seconds(60)).ok());
  server.reset();
  server = StartServer({listen});
  ASSERT_NE(server, nullptr);
  restarted.store(true);
  for (std::thread& t : threads) t.join();
  std::printf(
      "SIGKILL: %d failed attempts retried, %d calls answered after restart\n",
      unavailable.load(), ok_after.load());
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ok_after.load(), kClients * kCallsAfterRestart);
  EXPECT_EQ(*server->Stop(), 0);
}

}  // namespace
}  // namespace poolcat::reliability
