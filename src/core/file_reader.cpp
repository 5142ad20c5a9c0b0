#include "ximup/file_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <span>

namespace ximup {
namespace {

std::string errno_hint(int err) {
  std::string text = std::strerror(err);
  switch (err) {
    case ENOENT:
      return text + " (the file vanished after the scan)";
    case EACCES:
    case EPERM:
      return text + " (check the file's permissions)";
    case EMFILE:
    case ENFILE:
      return text + " (raise the open-files limit: ulimit -n)";
    case EIO:
      return text + " (the disk or file system reported an I/O error)";
    default:
      return text;
  }
}

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads into [p, p + n) until it is full or the file ends; the bytes read, or -1 with errno set.
ssize_t fill(int fd, unsigned char* p, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

std::int64_t mtime_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Opens `path` as a regular file of at most `max_bytes` (by fstat); its size and mtime in the status.
read_status open_input(const std::string& path, std::uint64_t max_bytes, fd_guard& file,
                       const std::optional<scanned_file>& scanned) {
  // O_NONBLOCK: a path the scan saw as a file may be a FIFO by now, whose open would wait for a writer
  // forever (and hold the worker past any signal); it is refused below instead. Regular files ignore
  // the flag.
  const bool no_follow = scanned && scanned->no_follow;
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (no_follow ? O_NOFOLLOW : 0));
  if (file.fd < 0 && no_follow && errno == ELOOP) {
    return {false,
            "is a symbolic link now (it was a file when scanned): not followed, nothing was sent "
            "(--follow-symlinks follows links)"};
  }
  if (file.fd < 0) return {false, "cannot open: " + errno_hint(errno)};
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return {false, "cannot stat: " + errno_hint(errno)};
  if (!S_ISREG(st.st_mode)) return {false, "not a regular file (it changed since the scan)"};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (scanned && (size != scanned->size || mtime_of(st) != scanned->mtime_ns)) {
    read_status changed{false, {}, true, size, mtime_of(st)};
    changed.error = "the file changed after the scan (" +
                    (size == scanned->size
                         ? std::string("modified again")
                         : std::to_string(scanned->size) + " bytes then, " + std::to_string(size) + " now") +
                    "): it may still be being written; nothing was sent. Run again when it is complete, or "
                    "leave new files for a later run with --min-age";
    return changed;
  }
  if (size > max_bytes) {
    return {false, "file is " + std::to_string(size) + " bytes, over the limit of " +
                       std::to_string(max_bytes) + " (raise --max-body-bytes)"};
  }
  return {true, {}, false, size, mtime_of(st)};
}

// After reading `got` bytes to the end of the file: the status of the read, failed with `changed`
// when the file is not as it was opened: another size or mtime now. (Not the count read: files of
// /proc, /sys and some FUSE file systems report a size other than their length, and would fail on
// every run; a file written while read changes its size or its mtime.)
read_status check_unchanged(const fd_guard& file, read_status opened, std::uint64_t got) {
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return {false, "cannot stat: " + errno_hint(errno)};
  const auto now_size = static_cast<std::uint64_t>(st.st_size);
  if (now_size == opened.size && mtime_of(st) == opened.mtime_ns) return opened;
  read_status changed{false, {}, true, opened.size, opened.mtime_ns};
  changed.error = "the file changed while being read (" + std::to_string(opened.size) +
                  " bytes when opened, " + std::to_string(got) + " read, " + std::to_string(now_size) +
                  " now): it may still be being written; nothing was sent. Run again when it is complete, "
                  "or leave new files for a later run with --min-age";
  return changed;
}

read_status read_failed() {
  return {false, "cannot read: " + errno_hint(errno)};
}

read_status grew_past(std::uint64_t max_bytes) {
  return {false, "file grew past the limit of " + std::to_string(max_bytes) + " bytes while being read"};
}

}  // namespace

read_status read_file(const std::string& path, std::vector<unsigned char>& buffer, std::uint64_t max_bytes,
                      const std::optional<scanned_file>& scanned) {
  // The buffer is reused from file to file and is not cleared first: resize() zero-fills only what
  // it adds beyond the current size (zero-filling every file before reading it took 0.5% of
  // ximup's CPU in perf of bench/upload.sh).
  fd_guard file{-1};
  auto opened = open_input(path, max_bytes, file, scanned);
  if (!opened.ok) return opened;
  // Read to EOF (one byte past the size, to see a file that grew), then check_unchanged.
  const std::uint64_t expected = opened.size;
  if (buffer.size() < expected + 1) buffer.resize(static_cast<std::size_t>(expected) + 1);
  std::size_t got = 0;
  for (;;) {
    if (got > max_bytes) return grew_past(max_bytes);
    if (got == buffer.size()) buffer.resize(buffer.size() * 2);
    const ssize_t n = fill(file.fd, buffer.data() + got, buffer.size() - got);
    if (n < 0) return read_failed();
    got += static_cast<std::size_t>(n);
    if (got < buffer.size()) break;  // the file ended before the buffer did
  }
  if (got > max_bytes) return grew_past(max_bytes);
  buffer.resize(got);
  return check_unchanged(file, std::move(opened), got);
}

read_status stream_file(const std::string& path, std::span<unsigned char> buffer, std::uint64_t max_bytes,
                        const std::function<void(std::span<const unsigned char>)>& piece,
                        const std::optional<scanned_file>& scanned) {
  fd_guard file{-1};
  auto opened = open_input(path, max_bytes, file, scanned);
  if (!opened.ok) return opened;
  std::uint64_t total = 0;
  for (;;) {
    const ssize_t n = fill(file.fd, buffer.data(), buffer.size());
    if (n < 0) return read_failed();
    const auto got = static_cast<std::size_t>(n);
    total += got;
    if (total > max_bytes) return grew_past(max_bytes);
    if (got > 0) piece(buffer.first(got));
    if (got < buffer.size()) return check_unchanged(file, std::move(opened), total);  // the file ended
  }
}

}  // namespace ximup
