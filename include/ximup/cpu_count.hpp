#pragma once
/// cpu_count: how many CPUs this process may use, for the defaults of --workers and --io-threads.
///
/// std::thread::hardware_concurrency() counts the machine's CPUs: under `taskset`, in a container
/// limited to one CPU, or in a Kubernetes Job on a large node, ximup started a worker per host CPU
/// (each with its resize buffers, against the Job's memory limit). This takes the smaller of the
/// affinity mask's count (what `nproc` says) and the cgroup's CPU quota rounded up (cgroup v2
/// cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us), and at least 1.

#include <optional>
#include <string_view>

namespace ximup {

/// The quota of a cgroup v2 `cpu.max` ("max 100000" or "150000 100000"), in CPUs rounded up; nullopt
/// for no limit or text that is not one.
[[nodiscard]] std::optional<unsigned> cpus_from_cpu_max(std::string_view text);
/// The same from cgroup v1's cpu.cfs_quota_us ("-1": no limit) and cpu.cfs_period_us.
[[nodiscard]] std::optional<unsigned> cpus_from_cfs(std::string_view quota, std::string_view period);

/// min(affinity count, cgroup quota), at least 1.
[[nodiscard]] unsigned usable_cpus();

}  // namespace ximup
