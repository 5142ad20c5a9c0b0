#pragma once
/// Tells an input listed twice in one run (a path twice in --files-from, the same url twice in a
/// manifest), which would otherwise be sent twice. Keys are remembered by a 128-bit hash (two
/// independent 64-bit hashes: a false repeat among millions of keys has odds near 2^-80) in an
/// open-addressing table that grows to at most `max_slots` slots of 16 bytes: memory stays bounded
/// whatever the list's length. Once that table is three quarters full, checking stops (every key
/// counts as new from then on) and full() says so. Pure; not thread-safe.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ximup {

class duplicate_filter {
 public:
  /// `max_slots`: a power of two (rounded up), 16 bytes each; the default holds about 1.5 million
  /// keys in 32 MiB.
  explicit duplicate_filter(std::size_t max_slots = std::size_t{1} << 21U);

  /// True the first time `key` is seen (and whenever the table is full); false for a repeat.
  bool first_time(std::string_view key);
  /// Checking stopped: the table reached its limit.
  [[nodiscard]] bool full() const noexcept { return full_; }

 private:
  struct slot {
    std::uint64_t a = 0;
    std::uint64_t b = 0;  ///< never 0 for a used slot
  };
  void grow();
  bool insert(slot s);  ///< false if present

  std::vector<slot> slots_;
  std::size_t used_ = 0;
  std::size_t max_slots_;
  bool full_ = false;
};

}  // namespace ximup
