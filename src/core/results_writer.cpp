#include "ximup/results_writer.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ximup {

results_writer::~results_writer() {
  close();
}

void results_writer::fail(const char* what, int err) {
  if (!error_.empty()) return;
  error_ = std::string("cannot ") + what + " results file '" + path_ + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) error_ += " (free some space, or choose another place with --results)";
}

bool results_writer::open(const std::string& path, bool append) {
  std::lock_guard lock(mutex_);
  path_ = path;
  if (path == "-") {
    file_ = stdout;
    owns_ = false;
    return true;
  }
  file_ = std::fopen(path.c_str(), append ? "ae" : "we");
  if (file_ == nullptr) {
    fail("open", errno);
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

bool results_writer::close() {
  std::lock_guard lock(mutex_);
  if (file_ == nullptr) return error_.empty();
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
