#pragma once
/// byte_budget: the memory budget of everything in flight (file bytes read, encoded bodies,
/// requests queued or on the wire), `--max-inflight`.
///
/// A worker acquires a lease before it reads files and builds a body; the lease travels with the
/// request and returns its bytes when the request's last record has its final result. acquire()
/// blocks while the budget is spent: that is the backpressure that keeps memory flat whatever the
/// tree size or the server's speed. A request larger than the whole budget waits until the budget
/// is empty and then takes all of it. Thread-safe.

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

namespace ximup {

class byte_budget;

/// Bytes held from a budget; returned on destruction. Move-only. shrink() returns part early.
class budget_lease {
 public:
  budget_lease() = default;
  budget_lease(byte_budget* budget, std::size_t bytes) noexcept : budget_(budget), bytes_(bytes) {}
  budget_lease(budget_lease&& other) noexcept;
  budget_lease& operator=(budget_lease&& other) noexcept;
  budget_lease(const budget_lease&) = delete;
  budget_lease& operator=(const budget_lease&) = delete;
  ~budget_lease();

  /// Keeps only `bytes` (<= bytes()) and returns the rest to the budget.
  void shrink_to(std::size_t bytes) noexcept;
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }
  [[nodiscard]] bool valid() const noexcept { return budget_ != nullptr; }

 private:
  byte_budget* budget_ = nullptr;
  std::size_t bytes_ = 0;
};

class byte_budget {
 public:
  explicit byte_budget(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// Blocks until `bytes` (clamped to the capacity) are free; an invalid lease when cancelled.
  budget_lease acquire(std::size_t bytes);
  /// Wakes every waiter; later and pending acquires return an invalid lease.
  void cancel();

  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] std::size_t in_use() const;
  [[nodiscard]] std::size_t peak() const;
  /// Number of acquire() calls that had to wait.
  [[nodiscard]] std::size_t waits() const;

 private:
  friend class budget_lease;
  void release(std::size_t bytes) noexcept;

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t in_use_ = 0;
  std::size_t peak_ = 0;
  std::size_t waits_ = 0;
  bool cancelled_ = false;
};

}  // namespace ximup
