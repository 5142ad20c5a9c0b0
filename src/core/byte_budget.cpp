#include "ximup/byte_budget.hpp"

#include <algorithm>
#include <utility>

namespace ximup {

budget_lease::budget_lease(budget_lease&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

budget_lease& budget_lease::operator=(budget_lease&& other) noexcept {
  if (this != &other) {
    if (budget_ != nullptr) budget_->release(bytes_);
    budget_ = std::exchange(other.budget_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

budget_lease::~budget_lease() {
  if (budget_ != nullptr) budget_->release(bytes_);
}

void budget_lease::shrink_to(std::size_t bytes) noexcept {
  if (budget_ == nullptr || bytes >= bytes_) return;
  budget_->release(bytes_ - bytes);
  bytes_ = bytes;
}

budget_lease byte_budget::acquire(std::size_t bytes) {
  const std::size_t want = std::min(bytes, capacity_);
  std::unique_lock lock(mutex_);
  if (in_use_ + want > capacity_ && !cancelled_) {
    ++waits_;
    freed_.wait(lock, [&] { return in_use_ + want <= capacity_ || cancelled_; });
  }
  if (cancelled_) return {};
  in_use_ += want;
  peak_ = std::max(peak_, in_use_);
  return budget_lease(this, want);
}

void byte_budget::cancel() {
  {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
  }
  freed_.notify_all();
}

void byte_budget::release(std::size_t bytes) noexcept {
  {
    std::lock_guard lock(mutex_);
    in_use_ -= std::min(bytes, in_use_);
  }
  freed_.notify_all();
}

std::size_t byte_budget::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}
std::size_t byte_budget::peak() const {
  std::lock_guard lock(mutex_);
  return peak_;
}
std::size_t byte_budget::waits() const {
  std::lock_guard lock(mutex_);
  return waits_;
}

}  // namespace ximup
