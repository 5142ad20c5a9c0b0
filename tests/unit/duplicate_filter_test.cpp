// duplicate_filter: repeats are told from first times across growth, and memory stops at its limit.
#include "ximup/duplicate_filter.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using ximup::duplicate_filter;

TEST(DuplicateFilter, TellsRepeatsFromFirstTimesWhileItGrows) {
  duplicate_filter seen;
  for (int i = 0; i < 100000; ++i)
    EXPECT_TRUE(seen.first_time("/data/img_" + std::to_string(i) + ".jpg")) << i;
  for (int i = 0; i < 100000; i += 7)
    EXPECT_FALSE(seen.first_time("/data/img_" + std::to_string(i) + ".jpg")) << i;
  EXPECT_TRUE(seen.first_time("/data/img_100000.jpg"));
  EXPECT_FALSE(seen.full());
  // Keys that differ only in a byte, or are empty, are distinct keys.
  EXPECT_TRUE(seen.first_time(""));
  EXPECT_FALSE(seen.first_time(""));
  EXPECT_TRUE(seen.first_time(std::string("a\0b", 3)));
  EXPECT_TRUE(seen.first_time(std::string("a\0c", 3)));
}

// At its limit (64 slots here) it stops checking: every key is new from then on, memory no longer grows.
TEST(DuplicateFilter, StopsCheckingAtItsLimit) {
  duplicate_filter seen(64);
  int added = 0;
  while (!seen.full()) {
    ASSERT_TRUE(seen.first_time("k" + std::to_string(added)));
    ++added;
    ASSERT_LT(added, 64);
  }
  EXPECT_GE(added, 48);  // three quarters of 64
  EXPECT_TRUE(seen.first_time("k0")) << "a full filter takes every key as new";
}

}  // namespace
