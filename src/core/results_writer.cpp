#include "ximup/results_writer.hpp"

#include <fcntl.h>
#include <stdio_ext.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string_view>
#include <thread>

namespace ximup {
namespace {

// Cuts a last line that has no newline off the end of `path`: a result line (it starts with
// `{"path":`, or is a start of that) that a killed run left half written. Returns the bytes cut: 0 when the
// file ends with a newline, is empty, does not exist yet or is not a regular file; -1 with errno on failure.
// A tail that is not the start of a result line is not ours to cut: a newline is added after it instead, so
// the next line still starts on a line of its own.
std::int64_t cut_torn_tail(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  std::int64_t result = 0;
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    result = -1;
  } else if (S_ISREG(info.st_mode) && info.st_size > 0) {
    // The end of the last complete line, searching back from the end one block at a time.
    off_t keep = 0;
    std::array<char, 4096> block{};
    for (off_t end = info.st_size; end > 0;) {
      const off_t start = std::max<off_t>(0, end - static_cast<off_t>(block.size()));
      const auto length = static_cast<std::size_t>(end - start);
      if (::pread(fd, block.data(), length, start) != static_cast<ssize_t>(length)) {
        result = -1;
        break;
      }
      const auto* newline = static_cast<const char*>(::memrchr(block.data(), '\n', length));
      if (newline != nullptr) {
        keep = start + static_cast<off_t>(newline - block.data()) + 1;
        break;
      }
      end = start;
    }
    if (result == 0 && keep < info.st_size) {
      // A kill can cut a write at any page boundary, even one byte into a line: a tail shorter than
      // the line start is ours when it is the start of one.
      constexpr std::string_view line_start = R"({"path":)";
      std::array<char, line_start.size()> head{};
      const auto head_size =
          static_cast<std::size_t>(std::min<off_t>(info.st_size - keep, static_cast<off_t>(head.size())));
      const bool ours = ::pread(fd, head.data(), head_size, keep) == static_cast<ssize_t>(head_size) &&
                        std::string_view(head.data(), head_size) == line_start.substr(0, head_size);
      if (ours) {
        result = ::ftruncate(fd, keep) == 0 ? info.st_size - keep : -1;
      } else {
        result = ::pwrite(fd, "\n", 1, info.st_size) == 1 ? 0 : -1;
      }
    }
  }
  const int err = errno;
  ::close(fd);
  errno = err;
  return result;
}

}  // namespace

results_writer::~results_writer() {
  close();
}

void results_writer::fail(const char* what, int err) {
  if (!error_.empty()) return;
  error_ = std::string("cannot ") + what + " results file '" + path_ + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) error_ += " (free some space, or choose another place with --results)";
  // A write cut short (a full disk) can leave half a line at the end, which breaks `jq` and the like
  // until the next run cuts it off: the lines still buffered are dropped (their inputs are not
  // recorded as done, so they are sent again) and the file is cut back to its last whole line now.
  if (owns_ && file_ != nullptr && std::string_view(what) == "write") {
    __fpurge(file_);
    (void)cut_torn_tail(path_);
  }
}

bool results_writer::open(const std::string& path, bool append) {
  std::lock_guard lock(mutex_);
  path_ = path;
  if (path == "-") {
    file_ = stdout;
    owns_ = false;
    return true;
  }
  // Opened without truncating, then locked, then truncated: a second run on the same file (two jobs,
  // or --no-state runs, which take no state lock) must not empty it, nor interleave its buffered
  // writes with ours and cut lines in half.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : 0), 0666);
  if (fd < 0) {
    fail("open", errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    ::close(fd);
    locked_ = true;
    error_ = "another ximup run is writing the results file '" + path +
             "': wait for it to finish, or give this run another --results path";
    return false;
  }  // (a file system without flock: go on unlocked, as before)
  struct stat info {};
  const bool regular = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  if (append) {
    const std::int64_t cut = cut_torn_tail(path);
    if (cut < 0) {
      fail("repair the end of the", errno);
      ::close(fd);
      return false;
    }
    cut_bytes_ = static_cast<std::uint64_t>(cut);
  } else if (regular && info.st_size > 0) {
    if (::ftruncate(fd, 0) != 0) {
      fail("empty the", errno);
      ::close(fd);
      return false;
    }
    replaced_bytes_ = static_cast<std::uint64_t>(info.st_size);
  }
  file_ = ::fdopen(fd, append ? "a" : "w");
  if (file_ == nullptr) {
    fail("open", errno);
    ::close(fd);
    return false;
  }
  owns_ = true;
  std::setvbuf(file_, nullptr, _IOFBF, 1U << 20U);
  return true;
}

bool results_writer::write(std::string_view line) {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr || !error_.empty()) return false;
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    fail("write", errno);
    return false;
  }
  return true;
}

bool results_writer::flush() {
  std::lock_guard lock(mutex_);
  if (!error_.empty()) return false;
  if (file_ != nullptr && std::fflush(file_) != 0) {
    fail("write", errno);
    return false;
  }
  return true;
}

bool results_writer::sync() {
  int fd = -1;
  {
    std::lock_guard lock(mutex_);
    if (!error_.empty()) return false;
    if (file_ == nullptr) return true;  // closed: close() flushed and synced everything
    if (std::fflush(file_) != 0) {
      fail("write", errno);
      return false;
    }
    if (!owns_) return true;  // standard output: flushed is all we can do
    fd = ::dup(::fileno(file_));
    if (fd < 0) {
      fail("sync", errno);
      return false;
    }
  }
  const bool synced = ::fdatasync(fd) == 0 || errno == EINVAL;  // EINVAL: a FIFO or the like
  const int err = errno;
  ::close(fd);
  if (!synced) {
    std::lock_guard lock(mutex_);
    fail("sync", err);
  }
  return synced;
}

void results_writer::flush_for_exit() noexcept {
  std::unique_lock lock(mutex_, std::defer_lock);
  for (int i = 0; i < 100 && !lock.try_lock(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (lock.owns_lock() && file_ != nullptr && error_.empty()) std::fflush(file_);
}

bool results_writer::close() {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return error_.empty();
  if (!error_.empty() && owns_) __fpurge(file_);  // after a failed write: nothing more, no half lines
  if (std::fflush(file_) != 0) fail("write", errno);
  if (owns_) {
    if (::fsync(::fileno(file_)) != 0 && errno != EINVAL) fail("sync", errno);
    if (std::fclose(file_) != 0) fail("close", errno);
  }
  file_ = nullptr;
  return error_.empty();
}

std::string results_writer::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

}  // namespace ximup
