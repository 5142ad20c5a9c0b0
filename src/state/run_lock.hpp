#pragma once
// run_lock: the exclusive run lock on `<state>.lock` (flock, released by the kernel when the
// process dies). Not thread-safe: state_store serializes calls.

#include <cstdint>
#include <string>

#include "ximup/state_store.hpp"

namespace ximup {

class run_lock {
 public:
  run_lock() = default;
  ~run_lock() { release(); }
  run_lock(const run_lock&) = delete;
  run_lock& operator=(const run_lock&) = delete;

  /// flock(LOCK_EX | LOCK_NB) on `lock_path` (created when missing); on success writes this pid
  /// and the time into it. `locked` naming the holder, or `io`; both name `state_path`.
  state_status try_acquire(const std::string& lock_path, const std::string& state_path);
  void release() noexcept;
  [[nodiscard]] bool held() const noexcept { return fd_ >= 0; }
  /// The pid the holder of `lock_path` wrote into it; 0 when none can be read (no holder yet, or
  /// one that has not written: it writes right after locking).
  [[nodiscard]] static std::int64_t holder_pid(const std::string& lock_path);

 private:
  int fd_ = -1;
};

}  // namespace ximup
