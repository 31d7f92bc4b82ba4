// Sustained load on the real poolcat-server: POOLCAT_LOAD_CLIENTS (256)
// concurrent clients for POOLCAT_LOAD_SECONDS (60) of mixed small and large
// requests over loopback. Every answer is compared bit for bit with
// tests/reference; any error other than a deliberate rejection
// (RESOURCE_EXHAUSTED from --max_concurrent) fails. The server's resident
// memory is sampled throughout: it must stay under a fixed bound and must
// not grow with the number of requests served (the largest sample of the
// last third of the run may exceed that of the first third by at most a
// generous margin). The figures are printed as one "LOAD:" line and written
// to $POOLCAT_LOAD_REPORT when set (tests/RELIABILITY.md quotes them).
//
// Counts, not times, are asserted: a slow machine serves fewer requests.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "tests/integration/server_process.h"
#include "tests/reliability/reliability_util.h"

namespace poolcat::reliability {
namespace {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  int64_t out = 0;
  return v != nullptr && absl::SimpleAtoi(v, &out) ? out : fallback;
}

struct Sample {
  int64_t served;
  int64_t rss_kib;
};

TEST(Load, ManyClientsGetCorrectAnswersAndMemoryDoesNotGrowWithRequests) {
  const int clients = static_cast<int>(EnvInt("POOLCAT_LOAD_CLIENTS", 256));
  const absl::Duration duration =
      absl::Seconds(EnvInt("POOLCAT_LOAD_SECONDS", 60));
  // Generous absolute bound on the server's RSS, whatever the machine:
  // gRPC buffers at most one request and one response per client (4 MiB
  // each here), plus the retained-buffer budget and the binary.
  constexpr int64_t kRssBoundKiB = int64_t{3} << 20;  // 3 GiB

  absl::StatusOr<std::unique_ptr<testing::ServerProcess>> server =
      testing::ServerProcess::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<Job> jobs = MixedJobs();

  // A few channels shared by all clients, as a real fleet of callers
  // multiplexes over connections.
  std::vector<std::unique_ptr<Client>> channels;
  for (int i = 0; i < 16; ++i) {
    ClientOptions options;
    options.target = (*server)->address();
    options.own_connection = true;
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Create(options);
    ASSERT_TRUE(c.ok()) << c.status();
    channels.push_back(std::move(*c));
  }

  std::atomic<int64_t> served{0}, small{0}, large{0}, rejected{0}, failed{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<Sample> samples;
  std::atomic<bool> stop{false};
  const pid_t pid = (*server)->pid();

  std::thread sampler([&] {
    while (!stop.load()) {
      samples.push_back({served.load(), ProcStatusKiB(pid, "VmRSS")});
      absl::SleepFor(absl::Milliseconds(250));
    }
  });
  const absl::Time end = absl::Now() + duration;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Client& client = *channels[static_cast<size_t>(t) % channels.size()];
      // Each client mostly sends small requests: one in 8 is large.
      for (int64_t n = 0; absl::Now() < end; ++n) {
        const size_t pick = static_cast<size_t>(t * 7 + n);
        const Job& job =
            (pick % 8 == 0) ? jobs[6 + (pick / 8) % 3] : jobs[pick % 6];
        const absl::Status s = RunJob(client, job);
        if (s.ok()) {
          ++served;
          ++(job.large ? large : small);
        } else if (s.code() == absl::StatusCode::kResourceExhausted) {
          ++rejected;
        } else {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          if (failures.size() < 10)
            failures.push_back(job.name + ": " + s.ToString());
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  stop.store(true);
  sampler.join();

  const int64_t peak_kib = ProcStatusKiB(pid, "VmHWM");
  // Largest RSS sample in the first and last third of the run (by time).
  const size_t third = samples.size() / 3;
  int64_t first_max = 0, last_max = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (i < third) first_max = std::max(first_max, samples[i].rss_kib);
    if (i >= samples.size() - third)
      last_max = std::max(last_max, samples[i].rss_kib);
  }
  const std::string report = absl::StrCat(
      "clients=", clients, " seconds=", absl::ToInt64Seconds(duration),
      " served=", served.load(), " small=", small.load(),
      " large=", large.load(), " rejected=", rejected.load(),
      " failed=", failed.load(), " rss_first_third_max_mib=", first_max / 1024,
      " rss_last_third_max_mib=", last_max / 1024,
      " peak_rss_mib=", peak_kib / 1024, " samples=", samples.size());
  std::printf("LOAD: %s\n", report.c_str());
  if (const char* path = std::getenv("POOLCAT_LOAD_REPORT"))
    std::ofstream(path) << report << "\n";

  EXPECT_EQ(failed.load(), 0) << absl::StrJoin(failures, "\n");
  EXPECT_GT(small.load(), 0);
  EXPECT_GT(large.load(), 0);
  ASSERT_GE(third, 1u) << "too few memory samples";
  EXPECT_LT(peak_kib, kRssBoundKiB);
  // Not growing with requests served: the last third (which served at
  // least as many requests as the first) peaks at most 25% + 64 MiB above
  // the first third's peak. A leak of even a few bytes per request over
  // hundreds of thousands of requests, or of one buffer per large request,
  // breaks this.
  EXPECT_LE(last_max, first_max + first_max / 4 + (int64_t{64} << 10))
      << "first third peak " << first_max << " KiB, last third peak "
      << last_max << " KiB";

  // Still serving, correctly, after the load.
  for (const Job& job : jobs)
    EXPECT_TRUE(RunJob(*channels[0], job).ok()) << job.name;
  channels.clear();
  absl::StatusOr<int> code = (*server)->Stop();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << (*server)->Output();
}

}  // namespace
}  // namespace poolcat::reliability
