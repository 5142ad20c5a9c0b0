#pragma once
// state_index internals, shared by state_index.cpp (lookups) and state_store.cpp (loading).

#include <cstdint>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ximup/state_store.hpp"

namespace ximup {

struct state_index::impl {
  static constexpr std::uint32_t no_digest = std::numeric_limits<std::uint32_t>::max();
  // Marks a slot whose hash several paths share: their records live in `colliding`.
  static constexpr std::uint8_t collided = 0xFF;

  struct slot {
    std::uint64_t hash;
    std::uint64_t size;
    std::int64_t mtime_ns;
    std::uint32_t digest = no_digest;  // index into digests
    std::uint8_t status;               // input_status, or collided
  };
  static_assert(sizeof(slot) == 32);

  detail::path_hash_fn hash_fn = nullptr;
  std::size_t count = 0;    // inputs
  std::vector<slot> slots;  // sorted by hash, one per hash
  std::vector<sha256_digest> digests;
  std::unordered_map<std::string, input_record> colliding;

  // Loading, pass 1: one call per row.
  void add(std::string_view path, const input_record& record, bool with_hashes);
  // Sorts; returns the hashes shared by several paths (normally none).
  std::unordered_set<std::uint64_t> finish();
  // Loading, pass 2 (only when finish() found collisions): one call per row.
  void add_colliding(const std::unordered_set<std::uint64_t>& hashes, std::string_view path,
                     const input_record& record);

  [[nodiscard]] input_record record_of(const slot& s) const;
};

}  // namespace ximup
