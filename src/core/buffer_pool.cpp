#include "ximup/buffer_pool.hpp"

#include <algorithm>
#include <utility>

namespace ximup {

buffer_pool::buffer_pool(std::size_t max_buffers, std::size_t max_capacity) noexcept
    : max_buffers_(max_buffers), max_capacity_(max_capacity) {}

std::string buffer_pool::take(std::size_t size) {
  std::string out;
  {
    std::lock_guard lock(mutex_);
    if (!free_.empty()) {
      // The smallest that fits keeps the big ones for big bodies; none fits: the largest goes.
      auto best = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        const bool fits = it->capacity() >= size;
        if (best == free_.end() || (fits && (best->capacity() < size || it->capacity() < best->capacity())) ||
            (!fits && best->capacity() < size && it->capacity() > best->capacity())) {
          best = it;
        }
      }
      out = std::move(*best);
      if (best != free_.end() - 1) *best = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (out.capacity() >= size) return out;  // with its old bytes: a body_writer overwrites them
  // Too small: growing it would copy its old bytes into the new memory only to overwrite them
  // (half of a run's page faults, perf). A new string instead, with headroom: bodies of one run
  // are often a few percent apart, and pages of a mapped block that are never written cost no
  // memory.
  out = std::string();
  out.reserve(size + size / 8);
  return out;
}

void buffer_pool::give(std::string&& buffer) noexcept {
  // A string without heap memory (the small-string buffer) is not worth keeping.
  if (buffer.capacity() > max_capacity_ || buffer.capacity() <= std::string().capacity()) return;
  std::lock_guard lock(mutex_);
  if (free_.size() < max_buffers_) free_.push_back(std::move(buffer));
}

std::size_t buffer_pool::size() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

}  // namespace ximup
