// Ledger file appends.
#include "ledger.hpp"

#include <cerrno>
#include <system_error>

namespace ximup::mock {

ledger::ledger(const std::string& path) : file_(std::fopen(path.c_str(), "ab")) {
  if (file_ == nullptr) {
    throw std::system_error(errno, std::generic_category(), "cannot open ledger " + path);
  }
}

ledger::~ledger() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

bool ledger::append(std::string_view lines) noexcept {
  if (lines.empty()) {
    return true;
  }
  const std::lock_guard lock(mutex_);
  const bool ok =
      std::fwrite(lines.data(), 1, lines.size(), file_) == lines.size() && std::fflush(file_) == 0;
  if (!ok && !reported_) {
    reported_ = true;
    std::fputs("ximup-mock: ledger write failed\n", stderr);
  }
  return ok;
}

}  // namespace ximup::mock
