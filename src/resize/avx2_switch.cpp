// avx2_switch: see avx2_switch.hpp.
#include "avx2_switch.hpp"

#include <atomic>

namespace ximup {
namespace {

#if defined(__x86_64__)
bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}
const bool avx2_available = cpu_has_avx2();
#else
constexpr bool avx2_available = false;
#endif
std::atomic<bool> use_avx2{avx2_available};

}  // namespace

bool avx2_on() {
  return use_avx2.load(std::memory_order_relaxed);
}

bool resize_use_avx2(bool wanted) {
  if (wanted && !avx2_available) return false;
  use_avx2.store(wanted, std::memory_order_relaxed);
  return wanted;
}

}  // namespace ximup
