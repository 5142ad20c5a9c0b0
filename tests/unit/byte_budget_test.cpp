#include "ximup/byte_budget.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ximup/bounded_queue.hpp"

using namespace ximup;
using namespace std::chrono_literals;

TEST(ByteBudget, LeasesReturnTheirBytes) {
  byte_budget b(100);
  {
    auto l1 = b.acquire(60);
    auto l2 = b.acquire(40);
    EXPECT_EQ(b.in_use(), 100U);
    l1.shrink_to(10);
    EXPECT_EQ(b.in_use(), 50U);
  }
  EXPECT_EQ(b.in_use(), 0U);
  EXPECT_EQ(b.peak(), 100U);
}

TEST(ByteBudget, AcquireBlocksUntilBytesAreReleased) {
  byte_budget b(100);
  auto held = std::make_unique<budget_lease>(b.acquire(80));
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto l = b.acquire(50);
    got = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(got.load());  // 80 + 50 > 100: must wait
  held.reset();
  t.join();
  EXPECT_TRUE(got.load());
  EXPECT_EQ(b.waits(), 1U);
  EXPECT_LE(b.peak(), 100U);
}

TEST(ByteBudget, OversizedRequestTakesTheWholeBudget) {
  byte_budget b(100);
  auto l = b.acquire(1000);
  EXPECT_EQ(l.bytes(), 100U);
  EXPECT_EQ(b.in_use(), 100U);
}

TEST(ByteBudget, CancelWakesWaitersWithAnInvalidLease) {
  byte_budget b(10);
  auto held = b.acquire(10);
  std::thread t([&] {
    auto l = b.acquire(5);
    EXPECT_FALSE(l.valid());
  });
  std::this_thread::sleep_for(20ms);
  b.cancel();
  t.join();
}

TEST(ByteBudget, ManyThreadsNeverExceedCapacity) {
  byte_budget b(1000);
  std::atomic<std::size_t> max_seen{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 2000; ++k) {
        auto l = b.acquire(300);
        const auto now = b.in_use();
        auto prev = max_seen.load();
        while (now > prev && !max_seen.compare_exchange_weak(prev, now)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(max_seen.load(), 1000U);
  EXPECT_EQ(b.in_use(), 0U);
}

TEST(BoundedQueue, PushBlocksWhenFullAndCloseDrains) {
  bounded_queue<int> q(2);
  q.push(1);
  q.push(2);
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.push(3);
    pushed = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(q.pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(q.counters().blocked_pushes, 1U);
  q.close();
  EXPECT_EQ(q.pop(), 2);
  EXPECT_EQ(q.pop(), 3);
  EXPECT_EQ(q.pop(), std::nullopt);
  EXPECT_FALSE(q.push(4));
  EXPECT_EQ(q.counters().max_depth, 2U);
}

TEST(BoundedQueue, CloseAndTakeReturnsWhatWasQueued) {
  bounded_queue<int> q(4);
  q.push(1);
  q.push(2);
  auto rest = q.close_and_take();
  EXPECT_EQ(rest.size(), 2U);
  EXPECT_EQ(q.pop(), std::nullopt);
}
