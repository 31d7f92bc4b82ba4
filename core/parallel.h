// The one compute pool: how many OpenMP threads the core uses.
#ifndef POOLCAT_CORE_PARALLEL_H_
#define POOLCAT_CORE_PARALLEL_H_

namespace poolcat {

// CPUs this process may really use: the affinity mask, capped by the cgroup
// (v2 cpu.max or v1 cfs quota) CPU quota, at least 1.
int AvailableCpus();

// Threads ops use when ExecOptions::num_threads is 0. Defaults to
// POOLCAT_THREADS if set to a positive integer, else AvailableCpus().
int ComputeThreads();

// Overrides ComputeThreads() (n <= 0 restores the default). Thread-safe.
void SetComputeThreads(int n);

}  // namespace poolcat

#endif  // POOLCAT_CORE_PARALLEL_H_
