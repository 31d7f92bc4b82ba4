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

// CPUs allowed by the cgroup CPU quota, or 0 when there is no quota.
// cgroup v2: "max 100000" or "200000 100000" in /sys/fs/cgroup/cpu.max;
// cgroup v1: cpu.cfs_quota_us (-1 = none) over cpu.cfs_period_us.
int CgroupCpuLimit() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  long long period = 0;
  if (v2 >> quota >> period) {
    if (quota == "max" || period <= 0) return 0;
    const long long q = std::atoll(quota.c_str());
    return q > 0 ? static_cast<int>(std::ceil(static_cast<double>(q) / period)) : 0;
  }
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  std::ifstream p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  long long q = 0;
  if (q1 >> q && p1 >> period && q > 0 && period > 0) {
    return static_cast<int>(std::ceil(static_cast<double>(q) / period));
  }
  return 0;
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
