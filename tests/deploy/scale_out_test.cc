// Scale-out: three real poolcat-server replicas on loopback ports behind one
// multi-address round_robin target of the C++ client, the way a client
// balances per call over a headless Kubernetes Service.
//
// Every call is the seed notebook's max_pool2d (2x2 window, stride 1) of
// arange(9) as 3x3, whose answer is [[4, 5], [7, 8]]; the replicas' own
// /metrics (grpc_server_handled_total) say who served what.
#include <signal.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "core/pool.h"
#include "core/tensor.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"

namespace poolcat {
namespace {

using ::poolcat::testing::ServerProcess;

constexpr int kReplicas = 3;
constexpr int kRequests = 3000;
// Concurrent callers sharing the one client (and so one channel).
constexpr int kCallers = 4;

// The seed notebook's example: pool2d(X, (2, 2)) with X = arange(9) as 3x3.
Tensor SeedInput() {
  const std::vector<float> values = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  return Tensor::FromValues<float>(DType::kFloat32, {1, 3, 3}, values);
}

PoolArgs SeedArgs() {
  PoolArgs args;
  args.kernel_size = {2};
  args.stride = {1};
  return args;
}

bool IsSeedAnswer(const Tensor& y) {
  if (y.dtype() != DType::kFloat32 ||
      y.shape() != std::vector<int64_t>{1, 2, 2}) {
    return false;
  }
  const float* v = y.data_as<float>();
  return v[0] == 4 && v[1] == 5 && v[2] == 7 && v[3] == 8;
}

// Pool calls this replica answered OK, from its /metrics.
absl::StatusOr<double> PoolCallsServed(const ServerProcess& server) {
  absl::StatusOr<std::string> text =
      testing::ScrapeMetrics(server.metrics_address());
  if (!text.ok()) return text.status();
  return testing::MetricValue(*text, "grpc_server_handled_total",
                              {"grpc_method=\"Pool\"", "grpc_code=\"OK\""});
}

// True once every thread of `pid` is stopped (state T in
// /proc/PID/task/*/stat); SIGSTOP takes effect on each thread a moment after
// kill() returns, and a thread still running could answer a call. Waits at
// most 30 s.
bool WaitUntilStopped(pid_t pid) {
  const std::string tasks = absl::StrCat("/proc/", pid, "/task");
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    bool all_stopped = true;
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      // "TID (comm) STATE ...": the state follows the last ')'.
      const size_t paren = line.rfind(')');
      if (paren == std::string::npos || paren + 2 >= line.size() ||
          line[paren + 2] != 'T') {
        all_stopped = false;
        break;
      }
    }
    if (!error && all_stopped) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

class ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<std::string> addresses;
    for (int i = 0; i < kReplicas; ++i) {
      absl::StatusOr<std::unique_ptr<ServerProcess>> server =
          ServerProcess::Start({"--metrics_listen=127.0.0.1:0", "--threads=1"});
      ASSERT_TRUE(server.ok()) << server.status();
      addresses.push_back((*server)->address());
      replicas_.push_back(*std::move(server));
    }
    // "ipv4:127.0.0.1:A,127.0.0.1:B,127.0.0.1:C": the client picks
    // round_robin for a target with several addresses.
    ClientOptions options;
    options.target = absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
    options.own_connection = true;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  // Sends kRequests seed calls from kCallers threads and returns the
  // failures as text (empty when every call returned the seed answer). With
  // `pause_after` > 0, every caller stops before its next call once that
  // many calls have completed; the last one to stop runs `at_pause` with the
  // number completed, while no call is in flight, and `at_pause` lets them
  // go on with `resume`.
  std::vector<std::string> Drive(
      int pause_after = 0,
      std::function<void(int completed, absl::Notification& resume)> at_pause =
          nullptr) {
    const Tensor x = SeedInput();
    const PoolArgs args = SeedArgs();
    std::atomic<int> next{0};
    std::atomic<int> completed{0};
    absl::Mutex mu;
    int paused = 0;
    absl::Notification resume;
    std::vector<std::string> failures;
    std::vector<std::thread> callers;
    for (int t = 0; t < kCallers; ++t) {
      callers.emplace_back([&] {
        while (next.fetch_add(1) < kRequests) {
          absl::StatusOr<Tensor> y = client_->Pool("max_pool2d", x, args);
          if (!y.ok() || !IsSeedAnswer(*y)) {
            absl::MutexLock lock(&mu);
            failures.push_back(y.ok() ? "wrong answer" : y.status().ToString());
          }
          if (completed.fetch_add(1) + 1 >= pause_after && pause_after > 0 &&
              !resume.HasBeenNotified()) {
            bool last;
            {
              absl::MutexLock lock(&mu);
              last = ++paused == kCallers;
            }
            if (last) {
              at_pause(completed.load(), resume);
            } else {
              resume.WaitForNotification();
            }
          }
        }
      });
    }
    for (std::thread& t : callers) t.join();
    EXPECT_EQ(completed.load(), kRequests);
    return failures;
  }

  // Calls each replica in `which` served, from its metrics.
  std::vector<double> Served(const std::vector<int>& which) {
    std::vector<double> served;
    for (int i : which) {
      absl::StatusOr<double> n = PoolCallsServed(*replicas_[i]);
      EXPECT_TRUE(n.ok()) << "replica " << i << ": " << n.status();
      served.push_back(n.value_or(-1));
    }
    return served;
  }

  // Served(which) once their sum is `total`. A replica counts a call just
  // after sending its reply, so the client can see the reply first; this
  // waits (at most 30 s) for the counts to catch up.
  std::vector<double> ServedOnceTotalIs(const std::vector<int>& which,
                                        double total) {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    std::vector<double> served;
    do {
      served = Served(which);
      double sum = 0;
      for (double n : served) sum += n;
      if (sum == total) break;
      absl::SleepFor(absl::Milliseconds(10));
    } while (absl::Now() < give_up);
    return served;
  }

  std::vector<std::unique_ptr<ServerProcess>> replicas_;
  std::unique_ptr<Client> client_;
};

TEST_F(ScaleOutTest, RoundRobinSpreadsCallsEvenlyOverReplicas) {
  // Until the channel has connected to every replica, round_robin can only
  // pick those it has: warm up until each one has answered (at most 300
  // calls), and count from there.
  const Tensor x = SeedInput();
  int warm_up = 0;
  std::vector<double> baseline;
  for (; warm_up < 300; ++warm_up) {
    ASSERT_TRUE(client_->Pool("max_pool2d", x, SeedArgs()).ok());
    baseline = ServedOnceTotalIs({0, 1, 2}, warm_up + 1);
    if (baseline[0] > 0 && baseline[1] > 0 && baseline[2] > 0) break;
  }
  ASSERT_LT(warm_up, 300) << "round_robin never reached every replica";

  std::vector<std::string> failures = Drive();
  EXPECT_TRUE(failures.empty())
      << failures.size() << " calls failed, e.g. " << failures.front();
  std::vector<double> served =
      ServedOnceTotalIs({0, 1, 2}, warm_up + 1 + kRequests);
  double total = 0;
  for (int i = 0; i < kReplicas; ++i) {
    served[i] -= baseline[i];
    total += served[i];
    // An even share is 33%.
    EXPECT_GE(served[i], 0.25 * kRequests) << "replica " << i;
    EXPECT_LE(served[i], 0.42 * kRequests) << "replica " << i;
  }
  std::printf(
      "Pool calls served per replica: %g %g %g of %d (after %d "
      "warm-up calls)\n",
      served[0], served[1], served[2], kRequests, warm_up + 1);
  // Every call was answered exactly once.
  EXPECT_EQ(total, kRequests);
}

TEST_F(ScaleOutTest, KillingAReplicaMidRunFailsNoCallAndSurvivorsTakeTheLoad) {
  int completed_before = 0;
  std::vector<double> before;
  std::vector<std::string> failures =
      Drive(kRequests / 3, [&](int completed, absl::Notification& resume) {
        // No call is in flight: once the counts catch up they are exact.
        completed_before = completed;
        before = ServedOnceTotalIs({0, 1, 2}, completed);
        // Replica 0 stops answering (frozen, its connections still open),
        // so calls sent to it hang in flight until it dies...
        replicas_[0]->Signal(SIGSTOP);
        EXPECT_TRUE(WaitUntilStopped(replicas_[0]->pid()));
        resume.Notify();
        // ...which gives the callers time to pick it (round_robin sends
        // every third call there). How many do changes nothing checked.
        absl::SleepFor(absl::Milliseconds(300));
        // SIGKILL, like a crashed node: connections reset mid-call. Those
        // calls fail UNAVAILABLE and the client's retry policy sends them
        // again; round_robin stops picking the dead address.
        replicas_[0]->Signal(SIGKILL);
        absl::StatusOr<int> exit = replicas_[0]->Wait();
        EXPECT_TRUE(exit.ok()) << exit.status();
        EXPECT_EQ(exit.value_or(-1), 128 + SIGKILL);
      });

  EXPECT_TRUE(failures.empty())
      << failures.size() << " calls failed, e.g. " << failures.front();
  ASSERT_EQ(before.size(), 3u);
  EXPECT_EQ(before[0] + before[1] + before[2], completed_before);
  // Replica 0 answered nothing after the pause, so the survivors answered
  // every later call, each exactly once.
  std::vector<double> after = ServedOnceTotalIs(
      {1, 2}, before[1] + before[2] + kRequests - completed_before);
  std::printf(
      "Paused after %d calls (served %g %g %g); after the kill the "
      "survivors served %g and %g more\n",
      completed_before, before[0], before[1], before[2], after[0] - before[1],
      after[1] - before[2]);
  const double later = kRequests - completed_before;
  EXPECT_EQ((after[0] - before[1]) + (after[1] - before[2]), later);
  // Both take the load, not just one.
  EXPECT_GE(after[0] - before[1], 0.25 * later);
  EXPECT_GE(after[1] - before[2], 0.25 * later);
}

}  // namespace
}  // namespace poolcat
