#include "ximup/flow_control.hpp"

#include <gtest/gtest.h>

using namespace ximup;
using namespace std::chrono_literals;
using clock_type = flow_control::clock;

namespace {
flow_options options(std::size_t connections, bool adaptive = true,
                     std::optional<double> rate = std::nullopt) {
  flow_options o;
  o.max_concurrency = connections;
  o.adaptive = adaptive;
  o.fixed_rate = rate;
  return o;
}
}  // namespace

TEST(FlowControl, ThrottleHalvesConcurrencyOncePerCooldownAndSuccessGrowsIt) {
  flow_control f(options(8));
  const auto t0 = clock_type::time_point{} + 100s;
  EXPECT_TRUE(f.may_send(7));
  f.on_throttle(t0);
  EXPECT_EQ(f.snapshot().concurrency_limit, 4U);
  EXPECT_FALSE(f.may_send(4));
  EXPECT_TRUE(f.may_send(3));
  f.on_throttle(t0 + 100ms);  // same burst: no second cut
  EXPECT_EQ(f.snapshot().concurrency_limit, 4U);
  f.on_throttle(t0 + 2s);
  f.on_throttle(t0 + 4s);
  f.on_throttle(t0 + 6s);
  EXPECT_EQ(f.snapshot().concurrency_limit, 1U);  // never below 1
  EXPECT_TRUE(f.may_send(0));
  for (int i = 0; i < 100; ++i) f.on_success(t0 + 7s);
  EXPECT_EQ(f.snapshot().concurrency_limit, 8U);  // never above the connections
  EXPECT_EQ(f.snapshot().throttles, 5U);
}

TEST(FlowControl, FixedRateSpacesRequestStarts) {
  flow_control f(options(8, true, 10.0));
  auto now = clock_type::time_point{} + 100s;
  // After an idle spell a burst (1 + rate/2 = 6) may start at once; the rest are spaced 100 ms apart.
  int immediate = 0;
  clock_type::duration last{};
  for (int i = 0; i < 15; ++i) {
    last = f.reserve(now);
    if (last == clock_type::duration::zero()) ++immediate;
  }
  EXPECT_EQ(immediate, 6);
  EXPECT_NEAR(std::chrono::duration<double>(last).count(), 0.9, 0.001);
  f.on_throttle(now);  // a fixed rate is never changed by the server
  EXPECT_DOUBLE_EQ(f.snapshot().rate, 10.0);
}

TEST(FlowControl, ThrottleTurnsOnPacingBelowTheAcceptedRate) {
  flow_control f(options(8));
  auto now = clock_type::time_point{} + 100s;
  for (int i = 0; i < 60; ++i) {  // 30 accepted requests/s over two seconds
    EXPECT_EQ(f.reserve(now), clock_type::duration::zero());
    f.on_success(now);
    now += 33ms;
  }
  EXPECT_DOUBLE_EQ(f.snapshot().rate, 0.0);
  f.on_throttle(now);
  const double paced = f.snapshot().rate;
  EXPECT_NEAR(paced, 0.95 * 30.3, 0.5);  // 95% of what the server accepted
  for (int i = 0; i < 100; ++i) f.on_success(now);
  EXPECT_NEAR(f.snapshot().rate, paced + 1.0, 1e-9);
}

TEST(FlowControl, AnEarlyThrottleMeasuresOverAtLeastOneSecond) {
  // A server's burst of 20 accepted at once, then a 429: its rate is taken as 20/s, not 200/s.
  flow_control f(options(8));
  auto now = clock_type::time_point{} + 100s;
  for (int i = 0; i < 20; ++i) {
    (void)f.reserve(now);
    f.on_success(now);
    now += 5ms;
  }
  f.on_throttle(now);
  EXPECT_NEAR(f.snapshot().rate, 0.95 * 20.0, 0.5);
}

TEST(FlowControl, NonAdaptiveIgnoresThrottles) {
  flow_control f(options(4, false));
  f.on_throttle(clock_type::time_point{} + 10s);
  EXPECT_EQ(f.snapshot().concurrency_limit, 4U);
  EXPECT_DOUBLE_EQ(f.snapshot().rate, 0.0);
}

TEST(FlowControl, ARetryAfterHoldsEveryNewRequestAdaptiveOrNot) {
  for (const bool adaptive : {true, false}) {
    flow_control f(options(8, adaptive));
    const auto now = clock_type::time_point{} + 100s;
    EXPECT_EQ(f.reserve(now), clock_type::duration::zero());
    f.hold_until(now + 3s);
    EXPECT_EQ(f.reserve(now + 1s), 2s) << adaptive;
    f.hold_until(now + 2s);  // an earlier end never shortens a hold
    EXPECT_EQ(f.reserve(now + 1s), 2s) << adaptive;
    EXPECT_EQ(f.reserve(now + 3s), clock_type::duration::zero()) << adaptive;
  }
  // With pacing on, the paced starts begin after the hold.
  flow_control paced(options(8, true, 10.0));
  const auto now = clock_type::time_point{} + 100s;
  paced.hold_until(now + 5s);
  EXPECT_EQ(paced.reserve(now), 5s);
}

TEST(FlowControl, ABare503HalvesTheConcurrencyButOnlyARateLimitPaces) {
  const auto now = clock_type::time_point{} + 100s;
  flow_control f(options(8));
  auto t = now;
  for (int i = 0; i < 40; ++i) {  // 20 accepted requests/s, a 503 among them
    if (i == 10) {
      f.on_throttle(t, false);
      EXPECT_DOUBLE_EQ(f.snapshot().rate, 0.0);
      EXPECT_EQ(f.snapshot().concurrency_limit, 4U);  // still a throttle: fewer in flight
    }
    f.on_success(t);
    t += 50ms;
  }
  f.on_throttle(t, true);  // a 429 (or a Retry-After): pace below what the server took
  EXPECT_NEAR(f.snapshot().rate, 0.95 * 20.0, 1.0);
}

TEST(FlowControl, ARateLimitBeforeAnySuccessWaitsForARateToMeasure) {
  // A 429 before any success (a server whose bucket another client emptied, or a burst of eight
  // requests against a limit of five): fewer in flight, no pacing yet. Paced from a floor of 1
  // request/s, a run against a 5/s limit went at 30% of it.
  const auto now = clock_type::time_point{} + 100s;
  flow_control f(options(8));
  f.on_throttle(now, true);
  EXPECT_DOUBLE_EQ(f.snapshot().rate, 0.0);
  EXPECT_EQ(f.snapshot().concurrency_limit, 4U);
  auto t = now;
  for (int i = 0; i < 10; ++i) {  // then 5 accepted requests/s
    t += 200ms;
    f.on_success(t);
  }
  f.on_throttle(t, true);
  EXPECT_NEAR(f.snapshot().rate, 0.95 * 10 / 1.8, 0.01);  // ten successes over the 1.8 s they span
}
