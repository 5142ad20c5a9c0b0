// run_lock: flock on a side file, with the holder's pid and start time inside for messages.
#include "run_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

namespace ximup {
namespace {

std::string utc_now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  char text[32] = "unknown time";
  if (::gmtime_r(&t, &tm) != nullptr) std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

// The value of the line "`key` value" in `text`, or `fallback`.
std::string field(const std::string& text, std::string_view key, std::string_view fallback) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + pos, end - pos);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ') {
      return std::string(line.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return std::string(fallback);
}

// What the holder wrote (it writes right after locking: it may not have written yet).
std::string holder_text(int fd) {
  char buffer[512];
  const ssize_t n = ::pread(fd, buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

}  // namespace

std::int64_t run_lock::holder_pid(const std::string& lock_path) {
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const std::string text = holder_text(fd);
  ::close(fd);
  const std::string pid = field(text, "pid", "");
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(pid.data(), pid.data() + pid.size(), value);
  return ec == std::errc{} && end == pid.data() + pid.size() ? value : 0;
}

state_status run_lock::try_acquire(const std::string& lock_path, const std::string& state_path) {
  if (fd_ >= 0) return {};
  // O_CLOEXEC: a program ximup starts must not keep the lock alive after ximup dies.
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    return {state_errc::io, "cannot open the lock file '" + lock_path + "' of the state file '" + state_path +
                                "': " + std::strerror(err) + " (check the directory's permissions)"};
  }
  int rc = 0;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      const std::string text = holder_text(fd);
      ::close(fd);
      return {state_errc::locked, "another ximup run (pid " + field(text, "pid", "unknown") +
                                      ", started at " + field(text, "started", "an unknown time") +
                                      ") holds the state file '" + state_path +
                                      "'; wait for it to finish, or give this run another --state file"};
    }
    ::close(fd);
    return {state_errc::io,
            "cannot lock '" + lock_path + "' for the state file '" + state_path + "': " + std::strerror(err)};
  }
  // Informational only: a failure to write it (disk full) does not give the lock up.
  const std::string text = "pid " + std::to_string(::getpid()) + "\nstarted " + utc_now_text() + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = ::pwrite(fd, text.data(), text.size(), 0);
  }
  fd_ = fd;
  return {};
}

void run_lock::release() noexcept {
  if (fd_ < 0) return;
  ::flock(fd_, LOCK_UN);
  ::close(fd_);
  fd_ = -1;
}

}  // namespace ximup
