#pragma once
/// bounded_queue: a blocking multi-producer, multi-consumer FIFO with a fixed capacity.
///
/// Full policy: *block*. push() waits while the queue is full (ximup never drops an image);
/// pop() waits while it is empty. close() wakes everyone: later pushes fail, pops drain what is
/// left and then return nullopt. All members are thread-safe. Counters say how often producers
/// had to wait, which is how backpressure shows in the summary and in tests.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>

namespace ximup {

struct queue_counters {
  std::uint64_t pushed = 0;
  std::uint64_t popped = 0;
  std::uint64_t blocked_pushes = 0;  ///< pushes that found the queue full and waited
  std::size_t max_depth = 0;
};

template <class T>
class bounded_queue {
 public:
  explicit bounded_queue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// Blocks while full. Returns false (and drops nothing: the item is not taken) when closed.
  bool push(T& item) {
    std::unique_lock lock(mutex_);
    if (items_.size() >= capacity_ && !closed_) {
      ++counters_.blocked_pushes;
      not_full_.wait(lock, [&] { return items_.size() < capacity_ || closed_; });
    }
    if (closed_) return false;
    items_.push_back(std::move(item));
    ++counters_.pushed;
    if (items_.size() > counters_.max_depth) counters_.max_depth = items_.size();
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }
  bool push(T&& item) { return push(item); }

  /// Blocks while empty and open; nullopt once closed and drained.
  std::optional<T> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return std::nullopt;
    std::optional<T> item(std::move(items_.front()));
    items_.pop_front();
    ++counters_.popped;
    lock.unlock();
    not_full_.notify_one();
    return item;
  }

  /// No more pushes; consumers drain the rest.
  void close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  /// Drops what is queued (used when a run is aborted) and returns it to the caller.
  std::deque<T> close_and_take() {
    std::deque<T> rest;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      rest.swap(items_);
    }
    not_empty_.notify_all();
    not_full_.notify_all();
    return rest;
  }

  [[nodiscard]] std::size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] queue_counters counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
  queue_counters counters_;
};

}  // namespace ximup
