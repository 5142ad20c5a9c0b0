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
      // The smallest that fits keeps the big ones for big bodies; none fits: the largest, grown.
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
  // Its old bytes are kept: a body_writer overwrites them instead of zero-filling the memory again.
  out.reserve(size);
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
