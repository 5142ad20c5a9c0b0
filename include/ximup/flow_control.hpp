#pragma once
/// flow_control: how many requests may be in flight, and how fast new ones may start.
///
/// - Adaptive concurrency (AIMD), on by default: on a throttle signal (429 or 503) the limit of
///   requests in flight is halved (at most once per `cooldown`, so one burst of 429s counts once);
///   each success adds 1/limit, i.e. about +1 per round of `limit` successes. Never below 1, never
///   above the connection count.
/// - Pacing: `--rate N` fixes a token bucket of N requests/s (burst N/2, at least 1). Without it,
///   a rate limit (a 429, or a 503 with Retry-After) switches adaptive pacing on at 95% of the rate
///   the server accepted over the last two seconds (with no success in that window there is no rate to
///   measure: the concurrency halves and pacing waits for a later throttle). A 503 without Retry-After only
///   halves the concurrency: it is as often a passing fault as overload, and pacing at the rate measured
///   early in a run (at least over a second, and rising 1 request/s per 100 successes) held a run that met
///   one among random 5xx 6 times longer than --no-adaptive (successes over the time they cover, at least one
///   second), and every success adds `increase_per_success` requests/s again. The rate saws between 95% and
///   100% of what the server accepts: at 20 requests/s a cycle lasts about 5 s, so about one request in a
///   hundred meets a 429 (bench/faults.sh measures both).
///
/// Thread-safe (one mutex; every call is short and never blocks). Time is passed in, so the
/// decisions are testable without sleeping.

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>

namespace ximup {

struct flow_options {
  std::size_t max_concurrency = 8;     ///< --connections
  bool adaptive = true;                ///< --no-adaptive turns AIMD and adaptive pacing off
  std::optional<double> fixed_rate;    ///< --rate N (requests/s)
  double increase_per_success = 0.01;  ///< adaptive pacing: requests/s added per success
  std::chrono::milliseconds cooldown{1000};
  /// The longest a Retry-After holds every new request: a minute, or 10 x --retry-max when less (the
  /// bound of a resent request's own wait, which the hold must not outlast).
  std::chrono::milliseconds longest_hold{60'000};
};

struct flow_snapshot {
  std::size_t concurrency_limit = 0;
  double rate = 0;  ///< requests/s; 0 when unpaced
  std::uint64_t throttles = 0;
};

class flow_control {
 public:
  using clock = std::chrono::steady_clock;
  explicit flow_control(flow_options options);

  /// Whether connection number `index` (0-based) may take a request now.
  [[nodiscard]] bool may_send(std::size_t index) const;
  /// Reserves a start slot for one request; returns how long to wait before starting it.
  [[nodiscard]] clock::duration reserve(clock::time_point now);
  void on_success(clock::time_point now);
  /// A throttle signal: `rate_limited` for a 429 or a Retry-After, false for a bare 503.
  void on_throttle(clock::time_point now, bool rate_limited = true);
  /// A throttle's Retry-After: no request starts before `until` (the server asked for quiet, not
  /// only for the request it answered to wait). Applies with --no-adaptive too.
  void hold_until(clock::time_point until);
  [[nodiscard]] flow_snapshot snapshot() const;

 private:
  double recent_rate(clock::time_point now) const;

  flow_options opt_;
  mutable std::mutex mutex_;
  double limit_;
  double rate_ = 0;                 // 0: no pacing
  clock::time_point next_start_{};  // GCRA: earliest start of the next request
  clock::time_point hold_until_{};  // Retry-After: nothing starts before it
  std::optional<clock::time_point> last_throttle_;
  std::deque<clock::time_point> successes_;  // accepted requests in the last two seconds
  std::uint64_t throttles_ = 0;
};

}  // namespace ximup
