#pragma once
/// results_writer: appends result lines (result_line.hpp) to the results file.
///
/// Thread-safe: write() takes a short lock around a buffered append, so the io threads can call it
/// without a hop. A write failure (disk full, I/O error) is sticky: error() names the file and the
/// cause, and the pipeline stops the run; nothing is silently lost.

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

  /// Opens (truncates, or appends with `append`) `path`; "-" is standard output. False + error() on failure.
  bool open(const std::string& path, bool append = false);
  /// Appends one line; false once any write has failed.
  bool write(std::string_view line);
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
};

}  // namespace ximup
