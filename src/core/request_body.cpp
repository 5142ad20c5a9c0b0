#include "ximup/request_body.hpp"

#include <algorithm>
#include <cstring>

#include "ximup/base64.hpp"
#include "ximup/json_escape.hpp"

namespace ximup {
namespace {
constexpr std::string_view body_prefix = R"({"records":[)";
constexpr std::string_view record_prefix = R"({"_id":)";
constexpr std::string_view data_prefix = R"(,"_base64":")";
constexpr std::string_view url_prefix = R"(,"_url":)";
constexpr std::string_view record_suffix = R"("})";

// Appends `bytes` as a JSON string (append_json_string's escaping) through a scratch string per
// thread, whose capacity is reused from record to record.
void append_json(body_writer& body, std::string_view bytes) {
  thread_local std::string scratch;
  scratch.clear();
  append_json_string(scratch, bytes);
  body.append(scratch);
}
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

body_writer::body_writer(std::string& body, std::size_t expected) : body_(body) {
  if (body_.size() < expected) body_.resize(expected);
}

char* body_writer::claim(std::size_t n) {
  if (body_.size() - at_ < n) body_.resize(std::max(at_ + n, body_.size() + body_.size() / 2));
  char* out = body_.data() + at_;
  at_ += n;
  return out;
}

void body_writer::append(std::string_view bytes) {
  if (!bytes.empty()) std::memcpy(claim(bytes.size()), bytes.data(), bytes.size());
}

void body_writer::close() {
  body_.resize(at_);
}

void request_body::begin(body_writer& body) const {
  body.append(body_prefix);
}

// Starts a record object: separator, `{"_id":...` and the manifest's extra members.
void request_body::open_record(body_writer& body, record_slot& slot, std::string_view extra_fields) {
  if (body.size() > body_prefix.size()) body.push_back(',');
  slot.offset = body.size();
  body.append(record_prefix);
  append_json(body, slot.id);
  body.append(extra_fields);
}

void request_body::append_record(body_writer& body, std::span<const unsigned char> data, record_slot& slot,
                                 std::string_view extra_fields) const {
  open_data_record(body, slot, extra_fields);
  append_data(body, data);
  close_data_record(body, slot, data.size());
}

void request_body::open_data_record(body_writer& body, record_slot& slot,
                                    std::string_view extra_fields) const {
  open_record(body, slot, extra_fields);
  body.append(data_prefix);
}

void request_body::append_data(body_writer& body, std::span<const unsigned char> piece) {
  base64::encode(body.claim(base64::encoded_size(piece.size())), piece.data(), piece.size());
}

void request_body::close_data_record(body_writer& body, record_slot& slot, std::uint64_t bytes) {
  body.append(record_suffix);
  slot.length = body.size() - slot.offset;
  slot.bytes = bytes;
}

void request_body::append_url_record(body_writer& body, std::string_view url, record_slot& slot,
                                     std::string_view extra_fields) const {
  open_record(body, slot, extra_fields);
  body.append(url_prefix);
  append_json(body, url);
  body.push_back('}');
  slot.length = body.size() - slot.offset;
  slot.bytes = 0;
}

void request_body::finish(body_writer& body) const {
  body.push_back(']');
  body.append(fields_);
  body.push_back('}');
  body.close();
}

std::string request_body::assemble(std::string_view old_body, std::span<record_slot> records) const {
  std::size_t size = envelope_size();
  for (const auto& r : records) size += r.length + 1;
  std::string out;
  body_writer body(out, size);
  begin(body);
  for (auto& r : records) {
    if (body.size() > body_prefix.size()) body.push_back(',');
    const std::size_t at = body.size();
    body.append(old_body.substr(r.offset, r.length));
    r.offset = at;
  }
  finish(body);
  return out;
}

}  // namespace ximup
