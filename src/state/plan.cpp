// The pure parts of the state unit: the skip/send decision, job keys, export lines.
#include <ctime>

#include "ximup/json_escape.hpp"
#include "ximup/state_store.hpp"

namespace ximup {

std::string_view to_string(input_status status) noexcept {
  switch (status) {
    case input_status::pending:
      return "pending";
    case input_status::ok:
      return "ok";
    case input_status::failed:
      return "failed";
    case input_status::retryable:
      return "retryable";
  }
  return "unknown";
}

std::string_view to_string(plan p) noexcept {
  switch (p) {
    case plan::send_new:
      return "send_new";
    case plan::send_changed:
      return "send_changed";
    case plan::send_unfinished:
      return "send_unfinished";
    case plan::send_failed:
      return "send_failed";
    case plan::send_forced:
      return "send_forced";
    case plan::skip_unchanged:
      return "skip_unchanged";
    case plan::skip_failed:
      return "skip_failed";
    case plan::skip_not_failed:
      return "skip_not_failed";
    case plan::need_checksum:
      return "need_checksum";
  }
  return "unknown";
}

bool sends(plan p) noexcept {
  switch (p) {
    case plan::send_new:
    case plan::send_changed:
    case plan::send_unfinished:
    case plan::send_failed:
    case plan::send_forced:
      return true;
    case plan::skip_unchanged:
    case plan::skip_failed:
    case plan::skip_not_failed:
    case plan::need_checksum:
      return false;
  }
  return false;
}

plan plan_input(const std::optional<input_record>& previous, const file_facts& now, run_mode mode) noexcept {
  if (mode == run_mode::force) return plan::send_forced;
  if (mode == run_mode::retry_failed) {
    // A repair pass: only what the state lists as not ok; new files wait for a normal run.
    if (!previous || previous->status == input_status::ok) return plan::skip_not_failed;
    return previous->status == input_status::failed ? plan::send_failed : plan::send_unfinished;
  }
  if (!previous) return plan::send_new;
  const input_record& p = *previous;
  // Outcome unknown (crash, stop) or retries exhausted: finish the job whatever the file looks like.
  if (p.status == input_status::pending || p.status == input_status::retryable) return plan::send_unfinished;

  bool unchanged = false;
  if (p.size != now.size) {
    // changed, whatever the mtime or hash
  } else if (mode == run_mode::checksum && p.content_hash) {
    if (!now.content_hash) return plan::need_checksum;
    unchanged = *now.content_hash == *p.content_hash;  // like rsync -c: mtime does not matter
  } else {
    unchanged = p.mtime_ns == now.mtime_ns;  // also checksum mode without a recorded hash
  }
  if (!unchanged) return plan::send_changed;
  return p.status == input_status::ok ? plan::skip_unchanged : plan::skip_failed;
}

std::string make_job_key(std::string_view url, std::string_view fields_json,
                         std::span<const std::pair<std::string, std::string>> headers) {
  std::string key;
  key.append(url).append("\n").append(fields_json);
  for (const auto& [name, value] : headers) key.append("\n").append(name).append(": ").append(value);
  return key;
}

namespace {

void append_utc(std::string& out, std::int64_t unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  char text[32];
  if (::gmtime_r(&t, &tm) != nullptr && std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) != 0) {
    out += '"';
    out += text;
    out += '"';
  } else {
    out += "null";
  }
}

}  // namespace

std::string format_export_line(const state_entry& entry) {
  constexpr char hex[] = "0123456789abcdef";
  std::string line;
  line.reserve(160 + entry.path.size() + entry.reason.size());
  line += "{\"path\":";
  append_json_string(line, entry.path);
  line += ",\"status\":\"";
  line += to_string(entry.record.status);
  line += "\",\"attempts\":" + std::to_string(entry.attempts);
  line += ",\"bytes\":" + std::to_string(entry.record.size);
  line += ",\"mtime_ns\":" + std::to_string(entry.record.mtime_ns);
  if (entry.record.content_hash) {
    line += ",\"sha256\":\"";
    for (const std::uint8_t b : *entry.record.content_hash) {
      line += hex[b >> 4U];
      line += hex[b & 0x0FU];
    }
    line += '"';
  }
  if (!entry.reason.empty()) {
    line += ",\"reason\":";
    append_json_string(line, entry.reason);
  }
  line += ",\"run\":" + std::to_string(entry.run_id);
  line += ",\"updated\":";
  append_utc(line, entry.updated_unix);
  line += "}\n";
  return line;
}

}  // namespace ximup
