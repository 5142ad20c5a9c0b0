#include "ximup/cpu_count.hpp"

#include <gtest/gtest.h>
#include <sched.h>

using namespace ximup;

TEST(CpuCount, CgroupQuotasInWholeCpusRoundedUp) {
  EXPECT_EQ(cpus_from_cpu_max("max 100000\n"), std::nullopt);
  EXPECT_EQ(cpus_from_cpu_max("100000 100000\n"), 1U);
  EXPECT_EQ(cpus_from_cpu_max("150000 100000\n"), 2U);  // 1.5 CPUs: two threads may run
  EXPECT_EQ(cpus_from_cpu_max("50000 100000"), 1U);
  EXPECT_EQ(cpus_from_cpu_max("800000 100000"), 8U);
  EXPECT_EQ(cpus_from_cpu_max(""), std::nullopt);
  EXPECT_EQ(cpus_from_cpu_max("garbage"), std::nullopt);
  EXPECT_EQ(cpus_from_cpu_max("100000 0"), std::nullopt);
  EXPECT_EQ(cpus_from_cfs("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(cpus_from_cfs("200000\n", "100000\n"), 2U);
  EXPECT_EQ(cpus_from_cfs("", ""), std::nullopt);
}

// The affinity mask bounds the count (taskset, cpusets): with one CPU allowed, one.
TEST(CpuCount, TheAffinityMaskBoundsTheCount) {
  cpu_set_t all;
  ASSERT_EQ(::sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_LE(usable_cpus(), static_cast<unsigned>(CPU_COUNT(&all)));
  std::size_t first = 0;
  while (!CPU_ISSET(first, &all)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(usable_cpus(), 1U);
  ASSERT_EQ(::sched_setaffinity(0, sizeof all, &all), 0);
}
