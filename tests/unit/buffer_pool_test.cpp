// buffer_pool: reuse of request bodies, fit choice, limits, and many threads at once.
#include "ximup/buffer_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace {

using ximup::buffer_pool;

TEST(BufferPool, GivesBackTheSameMemoryAndPicksTheSmallestThatFits) {
  buffer_pool pool(4, 1U << 20U);
  std::string small = pool.take(1000);
  std::string large = pool.take(100'000);
  EXPECT_GE(small.capacity(), 1000U);
  EXPECT_GE(large.capacity(), 100'000U);
  small.assign(900, 's');
  const char* small_memory = small.data();
  const char* large_memory = large.data();
  pool.give(std::move(small));
  pool.give(std::move(large));
  EXPECT_EQ(pool.size(), 2U);

  std::string a = pool.take(500);  // both fit: the smaller one
  EXPECT_EQ(a.data(), small_memory);
  EXPECT_EQ(a, std::string(900, 's')) << "a pooled buffer keeps its bytes, for a body_writer to overwrite";
  std::string b = pool.take(50'000);
  EXPECT_EQ(b.data(), large_memory);
  EXPECT_EQ(pool.size(), 0U);
  pool.give(std::move(a));
  pool.give(std::move(b));
  std::string fresh = pool.take(200'000);  // none fits: a new one with headroom, the largest freed
  EXPECT_GE(fresh.capacity(), 225'000U);
  EXPECT_TRUE(fresh.empty()) << "a new buffer, not the old bytes copied into a grown one";
  EXPECT_EQ(pool.size(), 1U);
  EXPECT_EQ(pool.take(100).data(), small_memory) << "the smaller one stayed";
}

TEST(BufferPool, KeepsAtMostItsLimitsAndNothingEmpty) {
  buffer_pool pool(2, 4096);
  pool.give(std::string());  // no memory: nothing to keep
  EXPECT_EQ(pool.size(), 0U);
  pool.give(pool.take(10'000));  // over max_capacity
  EXPECT_EQ(pool.size(), 0U);
  for (int i = 0; i < 3; ++i) pool.give(pool.take(100) + "x");
  EXPECT_EQ(pool.size(), 1U);  // each take reused the one given before
  std::string x = pool.take(100);
  std::string y = pool.take(100);
  std::string z = pool.take(100);
  pool.give(std::move(x));
  pool.give(std::move(y));
  pool.give(std::move(z));
  EXPECT_EQ(pool.size(), 2U);
}

TEST(BufferPool, ManyThreadsTakeAndGiveWithoutLosingBuffers) {
  buffer_pool pool(64, 1U << 20U);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&pool, &failures, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::size_t size = 100 + static_cast<std::size_t>((i * 37 + t * 11) % 5000);
        std::string b = pool.take(size);
        if (b.capacity() < size) ++failures;
        const char mine = static_cast<char>('a' + t);
        b.assign(size, mine);
        std::this_thread::yield();
        if (b.find_first_not_of(mine) != std::string::npos) ++failures;  // another thread had it too
        pool.give(std::move(b));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(pool.size(), 1U);
  EXPECT_LE(pool.size(), 8U) << "never more buffers than were in use at once";
}

}  // namespace
