#include "ximup/flow_control.hpp"

#include <algorithm>

namespace ximup {
namespace {
constexpr auto rate_window = std::chrono::seconds(2);
// The shortest span a rate is measured over, so the burst a server allows at the start is not
// taken for its rate.
constexpr auto shortest_span = std::chrono::seconds(1);
// On a throttle, pace at this share of the achieved rate: close enough under the server's limit
// to keep most of its throughput, far enough to stop the 429s.
constexpr double pacing_cut = 0.95;
}  // namespace

flow_control::flow_control(flow_options options)
    : opt_(options), limit_(static_cast<double>(std::max<std::size_t>(1, options.max_concurrency))) {
  if (opt_.fixed_rate && *opt_.fixed_rate > 0) rate_ = *opt_.fixed_rate;
}

bool flow_control::may_send(std::size_t index) const {
  std::lock_guard lock(mutex_);
  return static_cast<double>(index) < std::max(1.0, limit_);
}

flow_control::clock::duration flow_control::reserve(clock::time_point now) {
  std::lock_guard lock(mutex_);
  const auto earliest = std::max(now, hold_until_);
  if (rate_ <= 0) return earliest - now;
  const auto interval =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(1.0 / rate_));
  // A burst of half a second's worth of requests may start at once after an idle spell.
  const auto burst = std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(std::max(1.0, rate_ / 2) / rate_));
  const auto start = std::max(earliest, std::max(next_start_, earliest - burst));
  next_start_ = std::max(next_start_, earliest - burst) + interval;
  return start - now;
}

void flow_control::on_success(clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!opt_.adaptive) return;
  successes_.push_back(now);
  while (!successes_.empty() && now - successes_.front() > rate_window) successes_.pop_front();
  const double max = static_cast<double>(std::max<std::size_t>(1, opt_.max_concurrency));
  limit_ = std::min(max, limit_ + 1.0 / std::max(1.0, limit_));
  if (rate_ > 0 && !opt_.fixed_rate) rate_ += opt_.increase_per_success;
}

void flow_control::on_throttle(clock::time_point now, bool rate_limited) {
  std::lock_guard lock(mutex_);
  ++throttles_;
  if (!opt_.adaptive) return;
  if (last_throttle_ && now - *last_throttle_ < opt_.cooldown) return;
  last_throttle_ = now;
  limit_ = std::max(1.0, limit_ / 2);
  if (!opt_.fixed_rate && rate_limited) {  // (a bare 503: fewer in flight, no pacing; see the header)
    const double achieved = recent_rate(now);
    // No success within the measuring window (at the start of a run, or after a quiet spell):
    // nothing to measure the server's rate by. Pacing from a floor of 1 request/s, rising 1/s per
    // 100 successes, held a run against a 5/s limit to 30% of it; fewer in flight (above) until a
    // later throttle can measure the rate.
    if (rate_ == 0 && achieved == 0) return;
    const double base = rate_ > 0 ? std::min(rate_, std::max(achieved, 1.0)) : achieved;
    rate_ = std::max(1.0, pacing_cut * base);
  }
}

void flow_control::hold_until(clock::time_point until) {
  std::lock_guard lock(mutex_);
  hold_until_ = std::max(hold_until_, until);
}

// Requests the server accepted per second, over the time the recorded successes cover (between
// one second and the window): what the server lets through is what pacing must aim at; a throttle
// early in a run must not divide a second's successes by the whole window.
double flow_control::recent_rate(clock::time_point now) const {
  std::size_t n = 0;
  std::optional<clock::time_point> first;
  for (auto t : successes_) {
    if (now - t > rate_window) continue;
    ++n;
    if (!first) first = t;
  }
  if (n == 0) return 0;
  const auto span = std::clamp<clock::duration>(now - *first, shortest_span, rate_window);
  return static_cast<double>(n) / std::chrono::duration<double>(span).count();
}

flow_snapshot flow_control::snapshot() const {
  std::lock_guard lock(mutex_);
  return {static_cast<std::size_t>(std::max(1.0, limit_)), rate_, throttles_};
}

}  // namespace ximup
