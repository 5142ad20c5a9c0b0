// One JSONL results line per input, built in a single exactly-sized allocation.
#include "ximup/result_line.hpp"

#include <charconv>
#include <limits>

#include "ximup/json_escape.hpp"

namespace ximup {
namespace {

// Room for any 64-bit integer in decimal, sign included.
constexpr std::size_t max_integer_chars = std::numeric_limits<std::uint64_t>::digits10 + 2;

template <typename Integer>
void append_integer(std::string& out, Integer value) {
  char buffer[max_integer_chars];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

}  // namespace

bool is_result_line_key(std::string_view name) noexcept {
  for (const std::string_view key : {"path", "outcome", "http_status", "status_code", "status_text",
                                     "attempts", "bytes", "error", "resize"}) {
    if (name == key) return true;
  }
  return false;
}

std::string format_result_line(const result_record& r) {
  const bool failed = r.result == outcome::failed;
  // Upper bound: fixed keys and punctuation, integers at their widest, strings escaped.
  std::size_t size = 160 + 4 * max_integer_chars + json_string_size(r.path) + json_string_size(r.id) +
                     r.fields_json.size() + r.local_fields.size();
  if (r.status_code) {
    size += json_string_size(r.status_text);
  }
  if (failed) {
    size += json_string_size(r.error);
  }
  std::string out;
  out.reserve(size);

  out += "{\"path\":";
  append_json_string(out, r.path);
  out += ",\"_id\":";
  append_json_string(out, r.id);
  out += failed ? ",\"outcome\":\"failed\"" : ",\"outcome\":\"ok\"";
  out += ",\"http_status\":";
  append_integer(out, r.http_status);
  if (r.status_code) {
    out += ",\"status_code\":";
    append_integer(out, *r.status_code);
    out += ",\"status_text\":";
    append_json_string(out, r.status_text);
  }
  out += ",\"attempts\":";
  append_integer(out, r.attempts);
  out += ",\"bytes\":";
  append_integer(out, r.bytes);
  if (failed) {
    out += ",\"error\":";
    append_json_string(out, r.error);
  }
  if (!r.local_fields.empty()) {
    out += ',';
    out += r.local_fields;
  }
  if (!r.fields_json.empty()) {
    out += ',';
    out += r.fields_json;
  }
  out += "}\n";
  return out;
}

}  // namespace ximup
