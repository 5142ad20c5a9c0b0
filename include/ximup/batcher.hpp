#pragma once
/// batcher: the pure decision core that packs scanned files into requests.
///
/// A batch holds at most `max_records` records and its body (estimated exactly from file sizes
/// and ids: base64 is 4/3 of the bytes plus the JSON around each record) stays within
/// `max_body_bytes`. A file that cannot fit in any body on its own is refused by fits_alone() and
/// fails locally with a clear reason instead of being sent. Not thread-safe; no I/O.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ximup/scanner.hpp"

namespace ximup {

struct batch_limits {
  std::size_t max_records = 10;             ///< the API's documented limit
  std::size_t max_body_bytes = 32U << 20U;  ///< --max-body-bytes
  std::size_t envelope_bytes = 0;           ///< bytes of the body outside the records
};

struct batch_plan {
  std::vector<scan_entry> entries;
  std::size_t body_bytes = 0;      ///< exact body size if every file still has its scanned size
  std::uint64_t largest_file = 0;  ///< bytes of the largest file (the reader's buffer)
  /// One file too large for a body as it is, planned alone because --resize may shrink it below the
  /// limit; body_bytes is then the limit itself (what the body may become).
  bool oversize = false;
};

class batcher {
 public:
  explicit batcher(batch_limits limits) : limits_(limits) {}

  /// True when a body holding only this file stays within max_body_bytes.
  [[nodiscard]] bool fits_alone(const scan_entry& entry) const noexcept;
  /// Adds a file (precondition: fits_alone). Returns the finished batch when the file could not
  /// join the open one (which is returned; the file starts the next) or the count limit is reached
  /// (the batch including the file is returned).
  std::optional<batch_plan> add(scan_entry entry);
  /// Returns the open batch, if any.
  std::optional<batch_plan> flush();
  /// What the server taught: it refused a body as too large (413), so batches of several files
  /// started from now on stay within `bytes` (the lowest cap given wins). A file alone is still
  /// planned up to max_body_bytes: whether it fits, only its own send can tell.
  void cap_body_bytes(std::size_t bytes) noexcept { cap_ = std::min(cap_, bytes); }

  [[nodiscard]] const batch_limits& limits() const noexcept { return limits_; }

 private:
  batch_limits limits_;
  std::size_t cap_ = SIZE_MAX;  ///< cap_body_bytes
  batch_plan open_;
};

}  // namespace ximup
