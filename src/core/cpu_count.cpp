#include "ximup/cpu_count.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace ximup {
namespace {

std::optional<std::uint64_t> number(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<unsigned> quota_cpus(std::uint64_t quota, std::uint64_t period) {
  if (period == 0 || quota == 0) return std::nullopt;
  return static_cast<unsigned>(std::min<std::uint64_t>((quota + period - 1) / period, 1U << 20U));
}

std::string read_small(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? text.str() : std::string();
}

}  // namespace

std::optional<unsigned> cpus_from_cpu_max(std::string_view text) {
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = number(text.substr(0, space));  // "max": no number, no limit
  const auto period = number(text.substr(space + 1));
  if (!quota || !period) return std::nullopt;
  return quota_cpus(*quota, *period);
}

std::optional<unsigned> cpus_from_cfs(std::string_view quota, std::string_view period) {
  const auto q = number(quota);  // "-1": no limit
  const auto p = number(period);
  if (!q || !p) return std::nullopt;
  return quota_cpus(*q, *p);
}

unsigned usable_cpus() {
  unsigned cpus = std::max(1U, std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    cpus = static_cast<unsigned>(std::max(1, CPU_COUNT(&set)));
  auto quota = cpus_from_cpu_max(read_small("/sys/fs/cgroup/cpu.max"));
  if (!quota) {
    quota = cpus_from_cfs(read_small("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                          read_small("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  if (quota) cpus = std::min(cpus, std::max(1U, *quota));
  return cpus;
}

}  // namespace ximup
