#pragma once
// The ledger: JSON lines of accepted records, appended by any io thread. Each append() writes
// and flushes its lines under a mutex, so one request's lines stay together and a reader sees
// them as soon as the response is on its way.

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace ximup::mock {

class ledger {
 public:
  // Opens `path` for appending (created if missing). Throws std::system_error on failure.
  explicit ledger(const std::string& path);
  ~ledger();
  ledger(const ledger&) = delete;
  ledger& operator=(const ledger&) = delete;

  // Appends `lines` (complete lines, each ending in '\n') and flushes. Thread-safe. Returns false
  // on a write error (reported once on stderr).
  bool append(std::string_view lines) noexcept;

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
  bool reported_ = false;
};

}  // namespace ximup::mock
