#include "core/parallel.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>

namespace poolcat {
namespace {

// ceil(quota / period) CPUs, or 0 for no (or a malformed) quota.
int QuotaCpus(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  return static_cast<int>(std::ceil(static_cast<double>(quota) / period));
}

// The smaller of two limits where 0 means "none".
int MinLimit(int a, int b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

// This process's cgroup path for the v2 hierarchy ("0::/path") or for the v1
// hierarchy holding the "cpu" controller ("4:cpu,cpuacct:/path"), from
// /proc/self/cgroup; "/" when absent.
std::string CgroupPath(bool v2) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    const size_t first = line.find(':');
    const size_t second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (v2 && line.compare(0, first, "0") == 0 && controllers.empty())
      return path;
    if (!v2) {
      size_t pos = 0;
      while (pos <= controllers.size()) {
        const size_t comma =
            std::min(controllers.find(',', pos), controllers.size());
        if (controllers.compare(pos, comma - pos, "cpu") == 0) return path;
        pos = comma + 1;
      }
    }
  }
  return "/";
}

// Calls fn(dir) for mount + path and each ancestor up to mount itself. A
// quota may sit on any ancestor, and inside a container the visible mount
// is often the container's own cgroup, where the full path does not exist.
template <typename Fn>
void ForCgroupAncestors(const std::string& mount, std::string path, Fn fn) {
  while (!path.empty() && path.back() == '/') path.pop_back();
  while (true) {
    fn(mount + path);
    if (path.empty()) return;
    path.erase(path.rfind('/'));
  }
}

// CPUs allowed by the cgroup CPU quota, or 0 when there is no quota: the
// smallest quota on this process's cgroup or any ancestor. cgroup v2:
// "max 100000" or "200000 100000" in cpu.max; cgroup v1:
// cpu.cfs_quota_us (-1 = none) over cpu.cfs_period_us.
int CgroupCpuLimit() {
  int limit = 0;
  ForCgroupAncestors(
      "/sys/fs/cgroup", CgroupPath(true), [&](const std::string& dir) {
        std::ifstream v2(dir + "/cpu.max");
        std::string quota;
        long long period = 0;
        if (v2 >> quota >> period && quota != "max") {
          limit = MinLimit(limit, QuotaCpus(std::atoll(quota.c_str()), period));
        }
      });
  for (const char* mount :
       {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
    ForCgroupAncestors(mount, CgroupPath(false), [&](const std::string& dir) {
      std::ifstream q1(dir + "/cpu.cfs_quota_us");
      std::ifstream p1(dir + "/cpu.cfs_period_us");
      long long quota = 0, period = 0;
      if (q1 >> quota && p1 >> period)
        limit = MinLimit(limit, QuotaCpus(quota, period));
    });
  }
  return limit;
}

int DefaultThreads() {
  if (const char* env = std::getenv("POOLCAT_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return AvailableCpus();
}

std::atomic<int> g_threads_override{0};

}  // namespace

int AvailableCpus() {
  int cpus = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (cpus <= 0) cpus = 1;
  const int quota = CgroupCpuLimit();
  if (quota > 0) cpus = std::min(cpus, quota);
  return std::max(cpus, 1);
}

int ComputeThreads() {
  const int n = g_threads_override.load(std::memory_order_relaxed);
  if (n > 0) return n;
  static const int kDefault = DefaultThreads();
  return kDefault;
}

void SetComputeThreads(int n) {
  g_threads_override.store(n > 0 ? n : 0, std::memory_order_relaxed);
}

}  // namespace poolcat
