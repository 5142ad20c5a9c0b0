// Parsing of API responses with simdjson's on-demand API.
//
// Two passes: a strict validator over the whole body first (on-demand checks only what a caller
// consumes, and its raw_json() of a container does not check what is inside), then extraction
// with simdjson's on-demand API from a document known to be valid. Strings are read from their raw tokens
// with parse_json_string_token because simdjson 3.0.1 rejects the lone surrogates (`\udcXX`) that our own
// `_id`s contain for non-UTF-8 file names; see json_escape.hpp.
#include "ximup/response.hpp"

#include <cctype>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>

#include <simdjson.h>

#include "utf8.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/result_line.hpp"

namespace ximup {
namespace {

namespace od = simdjson::ondemand;

// Nesting deeper than this is refused (simdjson's own default limit is 1024).
constexpr int max_depth = 512;
// describe_error_body keeps at most this many bytes of text.
constexpr std::size_t max_description = 200;

bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string_view trim_right(std::string_view s) noexcept {
  while (!s.empty() && is_json_space(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_json_space(s.front())) {
    s.remove_prefix(1);
  }
  return trim_right(s);
}

// The raw token of an object key, quotes included. `raw` points just past the opening quote, as
// simdjson's raw_json_string does; the document has been validated, so the string is terminated.
std::string_view key_token(const od::raw_json_string& key) noexcept {
  const char* start = key.raw();
  std::size_t i = 0;
  while (start[i] != '"') {
    i += start[i] == '\\' ? 2U : 1U;
  }
  return {start - 1, i + 2};
}

// ---- pass 1: validation ----
//
// A strict RFC 8259 validator. simdjson's on-demand API checks only what a caller consumes, and it
// skips unconsumed values by counting brackets, so `{"a":"b":1}` passes a walk that reads the
// string token without consuming it; consuming every number would reject valid huge numbers.

class json_validator {
 public:
  explicit json_validator(std::string_view text) noexcept : s_(text) {}

  // True when the whole text is one JSON value with optional surrounding whitespace.
  bool document() noexcept {
    skip_space();
    if (!value(0)) {
      return false;
    }
    skip_space();
    return i_ == s_.size();
  }

 private:
  void skip_space() noexcept {
    while (i_ < s_.size() && is_json_space(s_[i_])) {
      ++i_;
    }
  }
  bool eat(char c) noexcept {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) noexcept {
    if (s_.substr(i_, word.size()) != word) {
      return false;
    }
    i_ += word.size();
    return true;
  }
  bool digits() noexcept {
    const std::size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      ++i_;
    }
    return i_ > start;
  }
  bool number() noexcept {
    eat('-');
    if (!eat('0') && !digits()) {
      return false;
    }
    if (eat('.') && !digits()) {
      return false;
    }
    if (eat('e') || eat('E')) {
      if (!eat('+')) {
        eat('-');
      }
      return digits();
    }
    return true;
  }
  bool string() noexcept {
    ++i_;  // the opening quote
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') {
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c != '\\') {
        continue;
      }
      if (i_ >= s_.size()) {
        return false;
      }
      const char e = s_[i_++];
      if (e == 'u') {
        for (int k = 0; k < 4; ++k, ++i_) {
          if (i_ >= s_.size() || std::isxdigit(static_cast<unsigned char>(s_[i_])) == 0) {
            return false;
          }
        }
      } else if (std::string_view(R"("\/bfnrt)").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;  // unterminated
  }
  bool value(int depth) noexcept {
    if (i_ >= s_.size() || depth > max_depth) {
      return false;
    }
    switch (s_[i_]) {
      case '{':
        return container(depth, '}', true);
      case '[':
        return container(depth, ']', false);
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }
  bool container(int depth, char close, bool is_object) noexcept {
    ++i_;
    skip_space();
    if (eat(close)) {
      return true;
    }
    for (;;) {
      if (is_object) {
        if (i_ >= s_.size() || s_[i_] != '"' || !string()) {
          return false;
        }
        skip_space();
        if (!eat(':')) {
          return false;
        }
        skip_space();
      }
      if (!value(depth + 1)) {
        return false;
      }
      skip_space();
      if (eat(close)) {
        return true;
      }
      if (!eat(',')) {
        return false;
      }
      skip_space();
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// One parser per thread, reused: parsing allocates only when a body is larger than any before.
od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

// An empty string when `text` is one valid JSON value (UTF-8, RFC 8259), else what is wrong.
std::string validate_document(std::string_view text) {
  if (trim(text).empty()) {
    return "empty body";
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    return "not valid UTF-8";
  }
  if (!json_validator(text).document()) {
    return "malformed or truncated document";
  }
  return "";
}

// ---- pass 2: extraction (on a document that passed validate_document) ----

// `v` as minified JSON text.
std::string minified(od::value& v) {
  od::json_type type{};
  if (v.type().get(type) != simdjson::SUCCESS) {
    return "null";
  }
  std::string_view raw;
  if (type == od::json_type::object) {
    od::object object;
    if (v.get_object().get(object) != simdjson::SUCCESS || object.raw_json().get(raw) != simdjson::SUCCESS) {
      return "null";
    }
  } else if (type == od::json_type::array) {
    od::array array;
    if (v.get_array().get(array) != simdjson::SUCCESS || array.raw_json().get(raw) != simdjson::SUCCESS) {
      return "null";
    }
  } else {
    return std::string(trim_right(v.raw_json_token()));
  }
  std::string out(raw.size(), '\0');
  std::size_t written = 0;
  if (simdjson::minify(raw.data(), raw.size(), out.data(), written) != simdjson::SUCCESS) {
    return std::string(trim_right(raw));
  }
  out.resize(written);
  return out;
}

// The bytes of a string value, or nullopt when `v` is not a string.
std::optional<std::string> string_bytes(od::value& v) {
  od::json_type type{};
  if (v.type().get(type) != simdjson::SUCCESS || type != od::json_type::string) {
    return std::nullopt;
  }
  return parse_json_string_token(trim_right(v.raw_json_token()));
}

std::optional<int> int_value(od::value& v) {
  std::int64_t n = 0;
  if (v.get_int64().get(n) != simdjson::SUCCESS || n < std::numeric_limits<int>::min() ||
      n > std::numeric_limits<int>::max()) {
    return std::nullopt;
  }
  return static_cast<int>(n);
}

struct status_fields {
  std::optional<int> code;
  std::string text;
  bool is_object = false;
};

status_fields read_status(od::value& v) {
  status_fields status;
  od::object object;
  if (v.get_object().get(object) != simdjson::SUCCESS) {
    return status;
  }
  status.is_object = true;
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) {
      break;
    }
    const auto key = parse_json_string_token(key_token(field.key()));
    if (key == "code") {
      status.code = int_value(field.value());
    } else if (key == "text") {
      status.text = string_bytes(field.value()).value_or("");
    }
  }
  return status;
}

std::string record_label(std::size_t index) {
  return "record " + std::to_string(index + 1);
}

// Reads one record; returns an error message, or "" when the record is sound.
std::string read_record(od::value& v, std::size_t index, std::span<const std::string> sent_ids,
                        parsed_record& record) {
  od::object object;
  if (v.get_object().get(object) != simdjson::SUCCESS) {
    return record_label(index) + " is not an object";
  }
  bool has_status = false;
  std::string problem;
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) {
      return record_label(index) + " is malformed";
    }
    const std::string_view raw_key = key_token(field.key());
    const auto key = parse_json_string_token(raw_key);
    if (key == "_base64" || key == "_url") {
      continue;  // never copied into results
    }
    if (key == "_status") {
      const status_fields status = read_status(field.value());
      if (!status.code && problem.empty()) {
        problem =
            record_label(index) + (status.is_object ? " _status has no integer code" : " has no _status");
      }
      has_status = true;
      record.status_code = status.code.value_or(0);
      record.status_text = status.text;
      continue;
    }
    if (key == "_id") {
      const auto id = string_bytes(field.value());
      if (id) record.id = *id;
      if (index < sent_ids.size() && (!id || *id != sent_ids[index]) && problem.empty()) {
        problem = record_label(index) + " _id does not match the request";
      }
      continue;
    }
    if (key && is_result_line_key(*key)) continue;  // ximup's own member of that name is in the line
    if (!record.fields_json.empty()) {
      record.fields_json.push_back(',');
    }
    record.fields_json.append(raw_key);
    record.fields_json.push_back(':');
    record.fields_json += minified(field.value());
  }
  if (!has_status) {
    return record_label(index) + " has no _status";
  }
  return problem;
}

// Reads the text describing an error from a JSON object body: detail, status.text, message, error.
std::string error_text_from_json(const simdjson::padded_string& padded) {
  od::document doc;
  od::object object;
  if (thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return "";
  }
  std::string detail;
  std::string status_text;
  std::string message;
  std::string error;
  const auto text_of = [](od::value& v) {
    if (auto s = string_bytes(v)) {
      return *s;
    }
    return minified(v);  // e.g. a list of messages
  };
  for (auto field_result : object) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) {
      break;
    }
    const auto key = parse_json_string_token(key_token(field.key()));
    if (key == "detail") {
      detail = text_of(field.value());
    } else if (key == "status") {
      status_text = read_status(field.value()).text;
    } else if (key == "message") {
      message = text_of(field.value());
    } else if (key == "error") {
      error = text_of(field.value());
    }
  }
  for (std::string* candidate : {&detail, &status_text, &message, &error}) {
    if (!trim(*candidate).empty()) {
      return std::move(*candidate);
    }
  }
  return "";
}

// At most `limit` bytes of `text` on one printable line: control characters (C0, DEL, C1) become
// spaces, runs of spaces shrink to one, invalid UTF-8 bytes become U+FFFD; "..." marks a cut.
std::string printable_line(std::string_view text, std::size_t limit) {
  std::string out;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  bool cut = false;
  const auto add_space = [&] {
    if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
  };
  while (i < n) {
    if (i >= limit) {
      cut = true;
      break;
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F || c == ' ') {
        add_space();
      } else {
        out.push_back(static_cast<char>(c));
      }
      ++i;
      continue;
    }
    const std::size_t len = detail::utf8_sequence_length(p + i, n - i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    } else if (i + len > limit) {
      cut = true;  // do not split a character
      break;
    } else if (c == 0xC2 && p[i + 1] < 0xA0) {
      add_space();  // C1 control U+0080..U+009F
      i += len;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  if (cut) {
    out += "...";
  }
  return out;
}

}  // namespace

namespace {

// Puts `records` in the order of `sent_ids` by their `_id`s, with a missing record where none came
// back; false (records untouched) unless there is a record, every record has an `_id` and a
// `_status`, the sent ones are distinct and each returned one was sent, once.
bool match_by_id(std::vector<parsed_record>& records, std::span<const std::string> sent_ids) {
  if (records.empty()) return false;  // (no record to go by: the answer says nothing of any image)
  std::map<std::string_view, std::size_t> sent;
  for (std::size_t i = 0; i < sent_ids.size(); ++i) {
    if (!sent.emplace(sent_ids[i], i).second) return false;
  }
  std::vector<std::optional<std::size_t>> found(sent_ids.size());
  for (std::size_t r = 0; r < records.size(); ++r) {
    if (!records[r].id || records[r].status_code == 0) return false;
    const auto it = sent.find(*records[r].id);
    if (it == sent.end() || found[it->second]) return false;
    found[it->second] = r;
  }
  std::vector<parsed_record> ordered(sent_ids.size());
  for (std::size_t i = 0; i < sent_ids.size(); ++i) {
    if (found[i]) {
      ordered[i] = std::move(records[*found[i]]);
    } else {
      ordered[i].id = sent_ids[i];
      ordered[i].missing = true;
    }
  }
  records = std::move(ordered);
  return true;
}

}  // namespace

parse_outcome parse_records_response(std::string_view body, std::span<const std::string> sent_ids) {
  parse_outcome outcome;
  if (std::string invalid = validate_document(body); !invalid.empty()) {
    outcome.error = "invalid JSON: " + invalid;
    return outcome;
  }
  const simdjson::padded_string padded(body);
  od::document doc;
  od::object top;
  if (thread_parser().iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(top) != simdjson::SUCCESS) {
    outcome.error = "response is not a JSON object";
    return outcome;
  }
  bool has_records = false;
  std::string record_problem;
  for (auto field_result : top) {
    od::field field;
    if (std::move(field_result).get(field) != simdjson::SUCCESS) {
      outcome.error = "invalid JSON: malformed document";
      return outcome;
    }
    const auto key = parse_json_string_token(key_token(field.key()));
    if (key == "status") {
      const status_fields status = read_status(field.value());
      outcome.response.status_code = status.code;
      outcome.response.status_text = status.text;
    } else if (key == "records") {
      od::array records;
      if (field.value().get_array().get(records) != simdjson::SUCCESS) {
        outcome.error = "response records is not an array";
        return outcome;
      }
      has_records = true;
      outcome.response.records.clear();
      for (auto element_result : records) {
        if (element_result.error() != simdjson::SUCCESS) {
          outcome.error = "invalid JSON: malformed records array";
          return outcome;
        }
        od::value element = element_result.value_unsafe();
        const std::size_t index = outcome.response.records.size();
        parsed_record& record = outcome.response.records.emplace_back();
        std::string problem = read_record(element, index, sent_ids, record);
        if (record_problem.empty()) {
          record_problem = std::move(problem);
        }
      }
    }
  }
  if (!has_records) {
    outcome.error = "response has no records array";
  } else if (outcome.response.records.size() != sent_ids.size()) {
    outcome.error = "response has " + std::to_string(outcome.response.records.size()) +
                    " records, request had " + std::to_string(sent_ids.size());
  } else {
    outcome.error = std::move(record_problem);
  }
  if (has_records && !outcome.error.empty() && match_by_id(outcome.response.records, sent_ids)) {
    outcome.error.clear();
  }
  return outcome;
}

namespace {

bool iequal_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) {
      return false;
    }
  }
  return true;
}

std::size_t ifind(std::string_view text, std::string_view lower_needle, std::size_t from = 0) {
  for (std::size_t i = from; i + lower_needle.size() <= text.size(); ++i) {
    if (iequal_prefix(text.substr(i), lower_needle)) {
      return i;
    }
  }
  return std::string_view::npos;
}

// An HTML error page (a proxy's 502, a load balancer's 503): its <title>, or else its text
// without tags, marked as HTML. Empty when `text` is not HTML.
// What comes before a page's first element: a UTF-8 byte order mark, an XML declaration
// (XHTML), comments.
std::string_view skip_preamble(std::string_view text) noexcept {
  for (;;) {
    text = trim(text);
    std::string_view end;
    if (text.starts_with("\xEF\xBB\xBF")) {
      text.remove_prefix(3);
      continue;
    }
    if (text.starts_with("<?")) {
      end = "?>";
    } else if (text.starts_with("<!--")) {
      end = "-->";
    } else {
      return text;
    }
    const auto at = text.find(end);
    if (at == std::string_view::npos) return text;
    text.remove_prefix(at + end.size());
  }
}

// A '<' that starts a tag, a closing tag, a comment or a declaration; any other is text ("1 < 2").
bool opens_tag(std::string_view text, std::size_t at) noexcept {
  if (at + 1 >= text.size()) return false;
  const char next = text[at + 1];
  return (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') || next == '/' || next == '!' ||
         next == '?';
}

std::string describe_html(std::string_view body) {
  const std::string_view text = skip_preamble(body);
  if (!iequal_prefix(text, "<!doctype html") && !iequal_prefix(text, "<html") &&
      !iequal_prefix(text, "<head") && !iequal_prefix(text, "<body")) {
    return {};
  }
  if (const auto open = ifind(text, "<title"); open != std::string_view::npos) {
    const auto content = text.find('>', open);
    const auto close = content == std::string_view::npos ? content : ifind(text, "</title", content);
    if (close != std::string_view::npos) {
      std::string title =
          printable_line(trim(text.substr(content + 1, close - content - 1)), max_description);
      if (!title.empty() && title != " ") {
        return title + " (an HTML page)";
      }
    }
  }
  std::string words;
  bool in_tag = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<' && !in_tag && opens_tag(text, i)) {
      // Scripts and style sheets are not words of the page.
      for (const std::string_view element : {std::string_view("script"), std::string_view("style")}) {
        if (iequal_prefix(text.substr(i + 1), element)) {
          const auto end = ifind(text, std::string("</").append(element), i + 1);
          i = end == std::string_view::npos ? text.size() : end;
          break;
        }
      }
      in_tag = true;
      words.push_back(' ');
    } else if (c == '>') {
      in_tag = false;
    } else if (!in_tag) {
      words.push_back(c);
    }
  }
  const std::string line = printable_line(trim(words), max_description);
  return (line.empty() || line == " " ? std::string("(no text)") : line) + " (an HTML page)";
}

}  // namespace

std::string describe_error_body(std::string_view body) {
  try {
    const std::string_view text = trim(body);
    if (text.empty()) {
      return "(empty body)";
    }
    if (std::string html = describe_html(text); !html.empty()) {
      return html;
    }
    if (text.front() == '{') {
      if (validate_document(body).empty()) {
        std::string found = error_text_from_json(simdjson::padded_string(body));
        if (!found.empty()) {
          return printable_line(found, max_description);
        }
      }
    }
    std::string line = printable_line(text, max_description);
    return line.empty() ? "(blank body)" : line;
  } catch (...) {
    return "(response body could not be described)";
  }
}

bool is_valid_json(std::string_view text) {
  return validate_document(text).empty();
}

}  // namespace ximup
