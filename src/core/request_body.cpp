#include "ximup/request_body.hpp"

#include <algorithm>
#include <array>

#include "ximup/base64.hpp"
#include "ximup/json_escape.hpp"

namespace ximup {
namespace {
constexpr std::string_view body_prefix = R"({"records":[)";
constexpr std::string_view record_prefix = R"({"_id":)";
constexpr std::string_view data_prefix = R"(,"_base64":")";
constexpr std::string_view url_prefix = R"(,"_url":)";
constexpr std::string_view record_suffix = R"("})";
}  // namespace

std::size_t request_body::envelope_size() const noexcept {
  return body_prefix.size() + 1 /* ] */ + fields_.size() + 1 /* } */;
}

std::size_t request_body::record_size(std::string_view id, std::uint64_t file_bytes, std::string_view url,
                                      std::string_view extra_fields) noexcept {
  const std::size_t common = 1 /* , */ + record_prefix.size() + json_string_size(id) + extra_fields.size();
  if (!url.empty()) return common + url_prefix.size() + json_string_size(url) + 1 /* } */;
  return common + data_prefix.size() + base64::encoded_size(static_cast<std::size_t>(file_bytes)) +
         record_suffix.size();
}

void request_body::begin(std::string& body) const {
  body.append(body_prefix);
}

// Starts a record object: separator, `{"_id":...` and the manifest's extra members.
void request_body::open_record(std::string& body, record_slot& slot, std::string_view extra_fields) {
  if (body.size() > body_prefix.size()) body.push_back(',');
  slot.offset = body.size();
  body.append(record_prefix);
  append_json_string(body, slot.id);
  body.append(extra_fields);
}

void request_body::append_record(std::string& body, std::span<const unsigned char> data, record_slot& slot,
                                 std::string_view extra_fields) const {
  open_record(body, slot, extra_fields);
  body.append(data_prefix);
  // Encoded in cache-sized pieces on the stack, each appended: the body's memory is written once.
  // (Encoding in place would need resize() first, whose zero fill of the whole record cost more
  // than the encode itself in perf of bench/upload.sh; resize_and_overwrite is C++23.) A piece is
  // a multiple of 3 bytes, so only the last one can carry padding.
  constexpr std::size_t piece = std::size_t{3} * 16 * 1024;
  // Left uninitialised on purpose: filling it first is the cost this loop exists to avoid.
  std::array<char, base64::encoded_size(piece)> encoded;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  for (std::size_t done = 0; done < data.size(); done += piece) {
    const std::size_t n = std::min(piece, data.size() - done);
    body.append(encoded.data(), base64::encode(encoded.data(), data.data() + done, n));
  }
  body.append(record_suffix);
  slot.length = body.size() - slot.offset;
  slot.bytes = data.size();
}

void request_body::append_url_record(std::string& body, std::string_view url, record_slot& slot,
                                     std::string_view extra_fields) const {
  open_record(body, slot, extra_fields);
  body.append(url_prefix);
  append_json_string(body, url);
  body.push_back('}');
  slot.length = body.size() - slot.offset;
  slot.bytes = 0;
}

void request_body::finish(std::string& body) const {
  body.push_back(']');
  body.append(fields_);
  body.push_back('}');
}

std::string request_body::assemble(std::string_view old_body, std::span<record_slot> records) const {
  std::size_t size = envelope_size();
  for (const auto& r : records) size += r.length + 1;
  std::string body;
  body.reserve(size);
  begin(body);
  for (auto& r : records) {
    if (body.size() > body_prefix.size()) body.push_back(',');
    const std::size_t at = body.size();
    body.append(old_body.substr(r.offset, r.length));
    r.offset = at;
  }
  finish(body);
  return body;
}

}  // namespace ximup
