#include "ximup/batcher.hpp"

#include <algorithm>
#include <utility>

#include "ximup/request_body.hpp"

namespace ximup {

bool batcher::fits_alone(const scan_entry& entry) const noexcept {
  return limits_.envelope_bytes +
             request_body::record_size(entry.id, entry.size, entry.url, entry.extra_fields) <=
         limits_.max_body_bytes;
}

std::optional<batch_plan> batcher::add(scan_entry entry) {
  const std::size_t size = request_body::record_size(entry.id, entry.size, entry.url, entry.extra_fields);
  std::optional<batch_plan> done;
  if (!open_.entries.empty() && open_.body_bytes + size > std::min(limits_.max_body_bytes, cap_)) {
    done = std::exchange(open_, batch_plan{});
  }
  if (open_.entries.empty()) open_.body_bytes = limits_.envelope_bytes;
  open_.body_bytes += size;
  open_.largest_file = std::max(open_.largest_file, entry.size);
  open_.entries.push_back(std::move(entry));
  if (!done && open_.entries.size() >= limits_.max_records) {
    done = std::exchange(open_, batch_plan{});
  }
  return done;
}

std::optional<batch_plan> batcher::flush() {
  if (open_.entries.empty()) return std::nullopt;
  return std::exchange(open_, batch_plan{});
}

}  // namespace ximup
