#pragma once
/// buffer_pool: request bodies kept for reuse. Workers allocate each body and io threads free it;
/// with glibc that churn fragments the arenas, and bench/upload.sh measured a peak RSS of 90-100 MiB
/// for 47 MiB of bodies in flight (a steady 81 MiB with bodies reused and the mmap threshold fixed,
/// see main.cpp). A body is taken when a request is
/// built and given back when the request is destroyed, so the pool never holds more buffers than
/// were in use at once. Thread-safe.

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace ximup {

class buffer_pool {
 public:
  /// Keeps at most `max_buffers` buffers, none with a capacity over `max_capacity` bytes.
  buffer_pool(std::size_t max_buffers, std::size_t max_capacity) noexcept;

  /// A string with a capacity of at least `size`: the smallest pooled one that fits, else a new
  /// (empty) one with an eighth more room, in place of the largest pooled one, which is freed. A pooled
  /// string keeps the size and bytes it was given back with, so that a body_writer reuses them without
  /// zero-filling: overwrite or clear() it.
  [[nodiscard]] std::string take(std::size_t size);
  /// Keeps `buffer` (as it is) for a later take(), unless the pool is full or it is too large.
  void give(std::string&& buffer) noexcept;

  /// Buffers held now.
  [[nodiscard]] std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> free_;
  std::size_t max_buffers_;
  std::size_t max_capacity_;
};

}  // namespace ximup
