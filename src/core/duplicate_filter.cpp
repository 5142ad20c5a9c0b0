#include "ximup/duplicate_filter.hpp"

#include <bit>
#include <functional>

namespace ximup {
namespace {

// FNV-1a, 64 bits: independent of std::hash (libstdc++'s is a Murmur variant).
std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

constexpr std::size_t initial_slots = 1024;

}  // namespace

duplicate_filter::duplicate_filter(std::size_t max_slots)
    : slots_(std::min(initial_slots, std::bit_ceil(std::max<std::size_t>(max_slots, 4)))),
      max_slots_(std::bit_ceil(std::max<std::size_t>(max_slots, 4))) {}

bool duplicate_filter::insert(slot s) {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = s.a & mask;; i = (i + 1) & mask) {
    slot& here = slots_[i];
    if (here.b == 0) {
      here = s;
      ++used_;
      return true;
    }
    if (here.a == s.a && here.b == s.b) return false;
  }
}

void duplicate_filter::grow() {
  std::vector<slot> old(slots_.size() * 2);
  old.swap(slots_);
  used_ = 0;
  for (const slot& s : old) {
    if (s.b != 0) insert(s);
  }
}

bool duplicate_filter::first_time(std::string_view key) {
  if (full_) return true;
  const slot s{std::hash<std::string_view>{}(key), fnv1a(key) | 1U};
  const bool added = insert(s);
  if (added && 2 * used_ > slots_.size()) {
    if (slots_.size() < max_slots_) {
      grow();
    } else if (4 * used_ > 3 * slots_.size()) {
      full_ = true;
    }
  }
  return added;
}

}  // namespace ximup
