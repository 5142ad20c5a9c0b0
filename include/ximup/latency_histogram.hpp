#pragma once
/// latency_histogram: request latencies in fixed Prometheus-style buckets, lock-free.
///
/// observe() is called from the io threads (one relaxed atomic add for the bucket and one for the
/// sum, no lock, never blocks); snapshot() from any thread. Values are kept in whole nanoseconds,
/// so bucket edges are exact: a value equal to an upper bound counts in that bucket (`le`).
///
/// A snapshot taken during observe() calls is consistent where Prometheus needs it: `count` is
/// the sum of the bucket counts (so the +Inf bucket always equals _count); `sum_seconds` may lag
/// or lead by the observations in progress.

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace ximup {

/// Upper bounds (seconds) of the finite buckets; one more bucket, +Inf, follows.
inline constexpr std::array<double, 13> latency_bucket_bounds{0.005, 0.01, 0.025, 0.05, 0.1,  0.25, 0.5,
                                                              1.0,   2.5,  5.0,   10.0, 30.0, 60.0};
inline constexpr std::size_t latency_bucket_count = latency_bucket_bounds.size() + 1;  ///< with +Inf

struct histogram_snapshot {
  /// Observations per bucket, NOT cumulative: buckets[i] counts values in
  /// (latency_bucket_bounds[i-1], latency_bucket_bounds[i]]; the last one those above 60 s.
  std::array<std::uint64_t, latency_bucket_count> buckets{};
  std::uint64_t count = 0;  ///< sum of buckets
  double sum_seconds = 0;   ///< sum of the observed values
};

class latency_histogram {
 public:
  latency_histogram() = default;
  latency_histogram(const latency_histogram&) = delete;
  latency_histogram& operator=(const latency_histogram&) = delete;

  /// Records one value; negative values count as 0. Thread-safe, lock-free, never blocks.
  void observe(std::chrono::nanoseconds value) noexcept;
  /// Seconds; NaN and negative values count as 0, huge values (and +Inf) fall in the +Inf bucket.
  void observe_seconds(double seconds) noexcept;

  /// Thread-safe; see the consistency note above.
  [[nodiscard]] histogram_snapshot snapshot() const noexcept;

  /// Index of the bucket a value falls in (pure; exposed for tests).
  [[nodiscard]] static std::size_t bucket_index(std::chrono::nanoseconds value) noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, latency_bucket_count> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace ximup
