// Fixed-bucket latency histogram on relaxed atomics (see latency_histogram.hpp).
#include "ximup/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace ximup {
namespace {

// The bounds in whole nanoseconds, computed once at compile time: comparisons are exact integers.
constexpr std::array<std::int64_t, latency_bucket_bounds.size()> bounds_ns = [] {
  std::array<std::int64_t, latency_bucket_bounds.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    // Every bound is a positive multiple of 1 ms: rounding to the nearest ns is exact. (std::llround
    // is not constexpr before C++23.)
    // NOLINTNEXTLINE(bugprone-incorrect-roundings)
    out[i] = static_cast<std::int64_t>(latency_bucket_bounds[i] * 1e9 + 0.5);
  }
  return out;
}();

static_assert(bounds_ns.front() == 5'000'000 && bounds_ns.back() == 60'000'000'000);

}  // namespace

std::size_t latency_histogram::bucket_index(std::chrono::nanoseconds value) noexcept {
  const std::int64_t ns = value.count();
  std::size_t i = 0;
  while (i < bounds_ns.size() && ns > bounds_ns[i]) ++i;
  return i;
}

void latency_histogram::observe(std::chrono::nanoseconds value) noexcept {
  if (value.count() < 0) value = std::chrono::nanoseconds(0);
  buckets_[bucket_index(value)].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(value.count()), std::memory_order_relaxed);
}

void latency_histogram::observe_seconds(double seconds) noexcept {
  if (!(seconds > 0)) {  // NaN, zero and negative values
    observe(std::chrono::nanoseconds(0));
    return;
  }
  // Clamp to about 292 years so the conversion cannot overflow; such values land in +Inf anyway.
  constexpr double max_seconds = 9.2e9;
  const double ns = std::round(std::min(seconds, max_seconds) * 1e9);
  observe(std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
}

histogram_snapshot latency_histogram::snapshot() const noexcept {
  histogram_snapshot s;
  // The sum first: an observation in progress then shows in the buckets rather than only the sum.
  const std::uint64_t sum = sum_ns_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
    s.count += s.buckets[i];
  }
  s.sum_seconds = static_cast<double>(sum) / 1e9;
  return s;
}

}  // namespace ximup
