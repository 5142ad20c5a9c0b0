#pragma once
/// results_writer: appends result lines (result_line.hpp) to the results file.
///
/// Thread-safe: write() takes a short lock around a buffered append, so the io threads can call it
/// without a hop. A write failure (disk full, I/O error) is sticky: error() names the file and the
/// cause, and the pipeline stops the run; nothing is silently lost.
///
/// Ordering with the state store: a line sits in a 1 MiB buffer until sync() or close(). The
/// pipeline calls sync() before it commits inputs as done in the state, so an input the state calls
/// ok always has its line on disk, whatever kills the process (or the machine) afterwards.

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace ximup {

class results_writer {
 public:
  results_writer() = default;
  ~results_writer();
  results_writer(const results_writer&) = delete;
  results_writer& operator=(const results_writer&) = delete;

  /// Opens (truncates, or appends with `append`) `path` and holds an exclusive flock on it until
  /// close; "-" is standard output. False + error() on failure (locked() when another run holds it).
  /// Appending to a file whose last line has no newline (a run killed mid-write) first cuts that torn
  /// line off (its input was never recorded as done, so it is sent again): see cut_bytes().
  bool open(const std::string& path, bool append = false);
  /// Appends one line; false once any write has failed.
  bool write(std::string_view line);
  /// Makes every line written so far durable: flushes the buffer, then fdatasyncs a file (on a
  /// duplicate descriptor outside the lock, so writers do not wait for the disk). False + error()
  /// once any write has failed: then the lines' inputs must not be recorded as done.
  bool sync();
  /// Hands the buffered lines to the kernel (no fsync): what a SIGKILL or an OOM kill then leaves in
  /// the file. False + error() once any write has failed.
  bool flush();
  /// For an immediate exit: flushes the buffer (whole lines only) if the lock comes free within
  /// about a second; never throws. No fsync: the data reaches the kernel, which survives the exit.
  void flush_for_exit() noexcept;
  /// Bytes of a torn last line that open() cut off (0 when the file ended with a newline).
  [[nodiscard]] std::uint64_t cut_bytes() const noexcept { return cut_bytes_; }
  /// Bytes an open() without `append` emptied the file of (what an earlier run had written).
  [[nodiscard]] std::uint64_t replaced_bytes() const noexcept { return replaced_bytes_; }
  /// open() failed because another process holds the file's lock (flock, taken while it is open).
  [[nodiscard]] bool locked() const noexcept { return locked_; }
  /// Flushes and fsyncs; false + error() on failure.
  bool close();
  [[nodiscard]] std::string error() const;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  void fail(const char* what, int err);

  mutable std::mutex mutex_;
  std::FILE* file_ = nullptr;
  bool owns_ = false;
  std::string path_;
  std::string error_;
  std::uint64_t cut_bytes_ = 0;
  std::uint64_t replaced_bytes_ = 0;
  bool locked_ = false;
};

}  // namespace ximup
