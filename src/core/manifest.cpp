// Manifests (JSONL, CSV) and file lists, read a line at a time.
#include "ximup/manifest.hpp"
#include <poll.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "ximup/json_escape.hpp"
#include "ximup/response.hpp"
#include "ximup/result_line.hpp"

namespace ximup {
namespace {

constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";
constexpr std::size_t read_chunk = 64U << 10U;

char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) noexcept {
  if (text.size() < prefix.size()) {
    return false;
  }
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (ascii_lower(text[i]) != prefix[i]) {
      return false;
    }
  }
  return true;
}

bool ends_with_ci(std::string_view text, std::string_view suffix) noexcept {
  return text.size() >= suffix.size() && iequals_prefix(text.substr(text.size() - suffix.size()), suffix);
}

void strip_bom(std::string& line) {
  if (line.starts_with(utf8_bom)) {
    line.erase(0, utf8_bom.size());
  }
}

bool is_json_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_blank(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), is_json_space);
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// Splits a stream into delimited pieces with a bounded buffer.
class line_source {
 public:
  enum class status { line, too_long, end, error };

  line_source(input_stream in, std::size_t max_line)
      : in_(std::move(in)), max_line_(max_line), buffer_(read_chunk, '\0') {}

  // The next piece without its delimiter. A piece over max_line bytes is consumed but not kept
  // (too_long). The last piece need not end with the delimiter.
  status next(std::string& out, char delim) {
    out.clear();
    bool any = false;
    bool too_long = false;
    while (true) {
      if (pos_ == len_) {
        if (eof_) {
          return !any ? status::end : too_long ? status::too_long : status::line;
        }
        const long n = in_.read(buffer_.data(), buffer_.size());
        if (n < 0) {
          error_ = errno;
          return status::error;
        }
        pos_ = 0;
        len_ = static_cast<std::size_t>(n);
        eof_ = n == 0;
        continue;
      }
      any = true;
      const char* start = buffer_.data() + pos_;
      const auto* hit = static_cast<const char*>(std::memchr(start, delim, len_ - pos_));
      const std::size_t take = hit == nullptr ? len_ - pos_ : static_cast<std::size_t>(hit - start);
      if (!too_long && out.size() + take > max_line_) {
        too_long = true;
        out.clear();
        out.shrink_to_fit();
      }
      if (!too_long) {
        out.append(start, take);
      }
      pos_ += take;
      if (hit != nullptr) {
        ++pos_;
        return too_long ? status::too_long : status::line;
      }
    }
  }

  [[nodiscard]] int error() const noexcept { return error_; }

 private:
  input_stream in_;
  std::size_t max_line_;
  std::string buffer_;
  std::size_t pos_ = 0;
  std::size_t len_ = 0;
  bool eof_ = false;
  int error_ = 0;
};

manifest_error bad(std::uint64_t line, std::string message) {
  return manifest_error{line, std::move(message), false};
}

manifest_error read_failure(const char* what, int err) {
  return manifest_error{0, std::string("cannot read ") + what + ": " + errno_text(err), true};
}

std::string too_long_message(const char* what, std::size_t max) {
  return std::string(what) + " is longer than " + std::to_string(max) + " bytes";
}

// Checks what an item points at; "" when usable.
std::string check_location(const std::string& path, const std::string& url) {
  if (path.empty() && url.empty()) {
    return "neither path nor url";
  }
  if (!path.empty() && !url.empty()) {
    return "both path and url: give one";
  }
  if (path.find('\0') != std::string::npos) {
    return "path holds a NUL byte";
  }
  if (!url.empty() && !iequals_prefix(url, "http://") && !iequals_prefix(url, "https://")) {
    return "url must start with http:// or https://";
  }
  return "";
}

// Fields a record cannot carry: what ximup sets in the request, and what it writes in the result
// line beside the fields the API echoes (`path` and `url` are read as the input, never copied).
bool is_reserved_field(std::string_view name) noexcept {
  return name == "_base64" || name == "_url" || (name != "path" && is_result_line_key(name));
}

std::string reserved_message(std::string_view name) {
  if (name != "_base64" && name != "_url") {
    return json_string(name) +
           " is a member of ximup's result lines: echoed back by the API, it would appear there twice "
           "(rename the field)";
  }
  return std::string(name) + " is set by ximup" + (name == "_url" ? " (use url)" : " (use path)");
}

// ---- JSON scanning of a document already known to be valid ----

// Index just past the string starting at s[i] == '"'.
std::size_t string_end(std::string_view s, std::size_t i) noexcept {
  ++i;
  while (i < s.size() && s[i] != '"') {
    i += s[i] == '\\' ? 2U : 1U;
  }
  return i + 1;
}

std::size_t skip_space(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && is_json_space(s[i])) {
    ++i;
  }
  return i;
}

// Index just past the value starting at s[i].
std::size_t value_end(std::string_view s, std::size_t i) noexcept {
  const char c = s[i];
  if (c == '"') {
    return string_end(s, i);
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char d = s[i];
      if (d == '"') {
        i = string_end(s, i);
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) {
          return i + 1;
        }
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !is_json_space(s[i])) {
    ++i;
  }
  return i;
}

void append_minified(std::string& out, std::string_view value) {
  std::size_t i = 0;
  while (i < value.size()) {
    const char c = value[i];
    if (c == '"') {
      const std::size_t end = string_end(value, i);
      out.append(value.substr(i, end - i));
      i = end;
    } else {
      if (!is_json_space(c)) {
        out.push_back(c);
      }
      ++i;
    }
  }
}

// The bytes of a string member value, nullopt when it is not a string.
std::optional<std::string> string_value(std::string_view token) {
  if (token.empty() || token.front() != '"') {
    return std::nullopt;
  }
  return parse_json_string_token(token);
}

}  // namespace

// ---- public helpers ----

long input_stream::read(char* data, std::size_t size) const {
  if (file_ != nullptr) {
    errno = 0;
    const std::size_t n = std::fread(data, 1, size, file_);
    if (n == 0 && std::ferror(file_) != 0) {
      if (errno == 0) {
        errno = EIO;
      }
      return -1;
    }
    return static_cast<long>(n);
  }
  while (true) {
    if (cancel_ != nullptr) {
      if (cancel_->load()) {
        return 0;
      }
      pollfd ready{fd_, POLLIN, 0};
      const int polled = ::poll(&ready, 1, 200);
      if (polled == 0 && on_idle_) on_idle_();
      if (polled == 0 || (polled < 0 && errno == EINTR)) {
        continue;
      }
    }
    const ssize_t n = ::read(fd_, data, size);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return static_cast<long>(n);
  }
}

std::optional<manifest_format> manifest_format_from_path(std::string_view path) {
  if (ends_with_ci(path, ".jsonl") || ends_with_ci(path, ".ndjson") || ends_with_ci(path, ".json")) {
    return manifest_format::jsonl;
  }
  if (ends_with_ci(path, ".csv")) {
    return manifest_format::csv;
  }
  return std::nullopt;
}

std::optional<manifest_format> parse_manifest_format(std::string_view name) {
  if (name == "jsonl" || name == "ndjson" || name == "json") {
    return manifest_format::jsonl;
  }
  if (name == "csv") {
    return manifest_format::csv;
  }
  return std::nullopt;
}

constexpr std::string_view jsonl_hint =
    ": a manifest is JSON lines, one whole object per line (jq -c '.[]' writes an array that way)";

manifest_entry parse_jsonl_line(std::string_view line, std::uint64_t line_number) {
  if (!is_valid_json(line)) {
    if (!is_valid_utf8(line)) {
      return bad(line_number, "not valid UTF-8 (JSON text is UTF-8; write other bytes of a path as \\udcXX)");
    }
    // A JSON array or a pretty-printed object (a .json file) starts with a line like these.
    const std::size_t first = skip_space(line, 0);
    const std::string_view rest = line.substr(std::min(first, line.size()));
    const bool document = rest.starts_with('[') || rest.starts_with(']') || rest == "{" || rest == "}";
    return bad(line_number,
               document ? "invalid JSON" + std::string(jsonl_hint) : std::string("invalid JSON"));
  }
  std::size_t i = skip_space(line, 0);
  if (line[i] != '{') {
    return bad(line_number,
               line[i] == '[' ? "a JSON array" + std::string(jsonl_hint) : std::string("not a JSON object"));
  }
  manifest_item item;
  item.line_number = line_number;
  std::optional<std::string> id;
  std::vector<std::string> seen;
  i = skip_space(line, i + 1);
  while (line[i] != '}') {
    const std::size_t key_end = string_end(line, i);
    const std::string_view key_token = line.substr(i, key_end - i);
    const std::string key = parse_json_string_token(key_token).value_or("");
    i = skip_space(line, key_end);
    i = skip_space(line, i + 1);  // ':'
    const std::size_t end = value_end(line, i);
    const std::string_view value = line.substr(i, end - i);
    i = skip_space(line, end);
    if (line[i] == ',') {
      i = skip_space(line, i + 1);
    }

    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return bad(line_number, "field " + json_string(key) + " appears twice");
    }
    seen.push_back(key);
    if (key == "path" || key == "url" || key == "_id") {
      if (value == "null") {
        continue;  // as if absent (exports often write both columns)
      }
      auto bytes = string_value(value);
      if (!bytes) {
        return bad(line_number, key + " is not a string");
      }
      if (key == "_id") {
        if (bytes->empty()) {
          return bad(line_number, "_id is empty");
        }
        id = std::move(*bytes);
      } else if (bytes->empty()) {
        return bad(line_number, key + " is empty");
      } else {
        (key == "path" ? item.path : item.url) = std::move(*bytes);
      }
      continue;
    }
    if (is_reserved_field(key)) {
      return bad(line_number, reserved_message(key));
    }
    item.extra_fields_json.push_back(',');
    item.extra_fields_json.append(key_token);
    item.extra_fields_json.push_back(':');
    append_minified(item.extra_fields_json, value);
  }
  if (const std::string problem = check_location(item.path, item.url); !problem.empty()) {
    return bad(line_number, problem);
  }
  item.id = id ? std::move(*id) : item.is_url() ? item.url : item.path;
  return item;
}

// ---- manifest_reader ----

struct manifest_reader::impl {
  impl(input_stream in, manifest_format f, manifest_limits l)
      : lines(std::move(in), l.max_line_bytes), format(f), limits(l) {}

  std::optional<manifest_entry> next() {
    if (done) {
      return std::nullopt;
    }
    return format == manifest_format::jsonl ? next_jsonl() : next_csv();
  }

  // Reads one physical line; handles the BOM and line counting. nullopt: end or fatal (in `fatal`).
  std::optional<line_source::status> read_line() {
    if (!replay.empty()) {  // lines a CSV record that never closed its quote had taken
      line = std::move(replay.front());
      replay.pop_front();
      ++line_number;
      return line_source::status::line;
    }
    const auto st = lines.next(line, '\n');
    if (st == line_source::status::end) {
      done = true;
      return std::nullopt;
    }
    if (st == line_source::status::error) {
      done = true;
      fatal = read_failure("the manifest", lines.error());
      return std::nullopt;
    }
    ++line_number;
    if (line_number == 1) {
      strip_bom(line);
    }
    return st;
  }

  std::optional<manifest_entry> end_or_fatal() {
    if (fatal) {
      auto e = std::move(*fatal);
      fatal.reset();
      return e;
    }
    return std::nullopt;
  }

  std::optional<manifest_entry> next_jsonl() {
    while (true) {
      const auto st = read_line();
      if (!st) {
        return end_or_fatal();
      }
      if (*st == line_source::status::too_long) {
        return bad(line_number, too_long_message("line", limits.max_line_bytes));
      }
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (is_blank(line)) {
        continue;
      }
      return parse_jsonl_line(line, line_number);
    }
  }

  // One CSV record: its fields, or why it cannot be used. nullopt at the end (or fatal).
  struct csv_record {
    std::uint64_t line_number = 0;
    std::vector<std::string> fields;
    std::string error;
  };

  // `header`: the header's record, whose errors end the manifest (no lines are read again after it).
  std::optional<csv_record> read_record(bool header = false) {
    enum class state { field_start, unquoted, quoted, quote_in_quoted };
    csv_record record;
    std::string field;
    state s = state::field_start;
    std::size_t bytes = 0;
    // The lines after the record's first while a quoted field runs on: when the record turns out
    // bad (a quote never closed by the end of the file or within the record limit, a character
    // after a closing quote), only its first line is skipped and these are read again as rows. A
    // stray quote took every row after it (32,000 of them, up to 1 MiB) with one error.
    std::deque<std::string> taken;
    const auto fail = [&](std::string message) {
      record.fields.clear();
      record.error = std::move(message);
      if (!taken.empty() && !header) {
        record.error +=
            " (lines " + std::to_string(record.line_number) + "-" + std::to_string(line_number) +
            " were read as one record: this line is skipped and the lines after it are read as rows)";
        line_number = record.line_number;
        // (Before any lines still to be read again: replayed lines can open a quote of their own.)
        replay.insert(replay.begin(), std::make_move_iterator(taken.begin()),
                      std::make_move_iterator(taken.end()));
        taken.clear();
      }
      return record;
    };
    while (true) {
      const auto st = read_line();
      if (!st) {
        if (record.line_number == 0 || fatal) {
          return std::nullopt;
        }
        if (!taken.empty() && !header) done = false;  // (the lines taken are still to be read)
        return fail("unterminated quoted field");     // the stream ended inside quotes
      }
      if (record.line_number == 0) {
        record.line_number = line_number;
      } else {
        taken.push_back(line);
      }
      bytes += line.size() + 1;
      if (*st == line_source::status::too_long || bytes > limits.max_line_bytes) {
        if (*st == line_source::status::too_long && !taken.empty())
          taken.pop_back();  // (cut short: not again)
        return fail(too_long_message("record", limits.max_line_bytes));
      }
      const bool cr = !line.empty() && line.back() == '\r';
      const std::size_t n = line.size() - (cr ? 1U : 0U);
      for (std::size_t i = 0; i < n; ++i) {
        const char c = line[i];
        switch (s) {
          case state::field_start:
            if (c == '"') {
              s = state::quoted;
            } else if (c == ',') {
              record.fields.push_back(std::move(field));
              field.clear();
            } else {
              field.push_back(c);
              s = state::unquoted;
            }
            break;
          case state::unquoted:
            if (c == ',') {
              record.fields.push_back(std::move(field));
              field.clear();
              s = state::field_start;
            } else {
              field.push_back(c);  // a quote inside an unquoted field is kept, as Python's csv does
            }
            break;
          case state::quoted:
            if (c == '"') {
              s = state::quote_in_quoted;
            } else {
              field.push_back(c);
            }
            break;
          case state::quote_in_quoted:
            if (c == '"') {
              field.push_back('"');
              s = state::quoted;
            } else if (c == ',') {
              record.fields.push_back(std::move(field));
              field.clear();
              s = state::field_start;
            } else {
              return fail("unexpected character after the closing quote of column " +
                          std::to_string(record.fields.size() + 1));
            }
            break;
        }
      }
      if (s == state::quoted) {  // a line break inside quotes is part of the field
        if (cr) {
          field.push_back('\r');
        }
        field.push_back('\n');
        continue;
      }
      if (s == state::field_start && record.fields.empty() && n == 0) {
        record.line_number = 0;  // a blank line
        bytes = 0;
        continue;
      }
      record.fields.push_back(std::move(field));
      return record;
    }
  }

  std::optional<manifest_entry> next_csv() {
    if (columns.empty()) {
      if (auto header = read_header(); header) {
        return header;
      }
      if (done) {
        return end_or_fatal();
      }
    }
    auto record = read_record();
    if (!record) {
      return end_or_fatal();
    }
    if (!record->error.empty()) {
      return bad(record->line_number, std::move(record->error));
    }
    auto& f = record->fields;
    if (f.size() != columns.size()) {
      return bad(record->line_number, "row has " + std::to_string(f.size()) + " columns, the header has " +
                                          std::to_string(columns.size()));
    }
    manifest_item item;
    item.line_number = record->line_number;
    for (std::size_t c = 0; c < f.size(); ++c) {
      if (c == path_column) {
        item.path = std::move(f[c]);
      } else if (c == url_column) {
        item.url = std::move(f[c]);
      } else if (c == id_column) {
        item.id = std::move(f[c]);
      } else {
        item.extra_fields_json.push_back(',');
        append_json_string(item.extra_fields_json, columns[c]);
        item.extra_fields_json.push_back(':');
        append_json_string(item.extra_fields_json, f[c]);
      }
    }
    if (const std::string problem = check_location(item.path, item.url); !problem.empty()) {
      return bad(record->line_number, problem);
    }
    if (item.id.empty()) {
      item.id = item.is_url() ? item.url : item.path;
    }
    return item;
  }

  // Reads the header; returns a fatal error when it cannot be used, nullopt when it is fine (or
  // the stream is empty: `done`).
  std::optional<manifest_entry> read_header() {
    auto record = read_record(true);
    if (!record) {
      return std::nullopt;
    }
    const auto header_fatal = [&](std::string message) -> manifest_entry {
      done = true;
      return manifest_error{record->line_number, "CSV header: " + std::move(message), true};
    };
    if (!record->error.empty()) {
      return header_fatal(record->error);
    }
    std::string names;
    for (std::size_t c = 0; c < record->fields.size(); ++c) {
      const std::string& name = record->fields[c];
      if (name.empty()) {
        return header_fatal("column " + std::to_string(c + 1) + " has no name");
      }
      if (std::find(record->fields.begin(), record->fields.begin() + static_cast<std::ptrdiff_t>(c), name) !=
          record->fields.begin() + static_cast<std::ptrdiff_t>(c)) {
        return header_fatal("column " + json_string(name) + " appears twice");
      }
      if (is_reserved_field(name)) {
        return header_fatal(reserved_message(name));
      }
      if (name == "path") {
        path_column = c;
      } else if (name == "url") {
        url_column = c;
      } else if (name == "_id") {
        id_column = c;
      }
      names += (c == 0 ? "" : ", ") + json_string(name);
    }
    if (path_column == npos && url_column == npos) {
      return header_fatal("no \"path\" or \"url\" column (columns: " + names + ")");
    }
    columns = std::move(record->fields);
    return std::nullopt;
  }

  static constexpr std::size_t npos = static_cast<std::size_t>(-1);

  line_source lines;
  manifest_format format;
  manifest_limits limits;
  std::string line;
  std::uint64_t line_number = 0;
  std::deque<std::string> replay;  ///< read_line gives these first (read_record)
  bool done = false;
  std::optional<manifest_error> fatal;
  std::vector<std::string> columns;  // CSV header, once read
  std::size_t path_column = npos;
  std::size_t url_column = npos;
  std::size_t id_column = npos;
};

manifest_reader::manifest_reader(input_stream in, manifest_format format, manifest_limits limits)
    : impl_(std::make_unique<impl>(std::move(in), format, limits)) {}
manifest_reader::~manifest_reader() = default;
manifest_reader::manifest_reader(manifest_reader&&) noexcept = default;
manifest_reader& manifest_reader::operator=(manifest_reader&&) noexcept = default;

std::optional<manifest_entry> manifest_reader::next() {
  return impl_->next();
}

// ---- files_from_reader ----

struct files_from_reader::impl {
  impl(input_stream in, bool nul, manifest_limits l)
      : lines(std::move(in), l.max_line_bytes), nul_separated(nul), limits(l) {}

  std::optional<manifest_entry> next() {
    while (!done) {
      const auto st = lines.next(entry, nul_separated ? '\0' : '\n');
      if (st == line_source::status::end) {
        done = true;
        break;
      }
      if (st == line_source::status::error) {
        done = true;
        return read_failure("the list of files", lines.error());
      }
      ++number;
      if (st == line_source::status::too_long) {
        return bad(number, too_long_message(nul_separated ? "entry" : "line", limits.max_line_bytes));
      }
      if (!nul_separated) {
        if (number == 1) {
          strip_bom(entry);
        }
        if (!entry.empty() && entry.back() == '\r') {
          entry.pop_back();
        }
        if (entry.find('\0') != std::string::npos) {
          return bad(number, "path holds a NUL byte (a NUL-separated list needs -0)");
        }
      }
      if (entry.empty()) {
        continue;
      }
      manifest_item item;
      item.line_number = number;
      item.path = entry;
      item.id = std::move(entry);
      return item;
    }
    return std::nullopt;
  }

  line_source lines;
  bool nul_separated;
  manifest_limits limits;
  std::string entry;
  std::uint64_t number = 0;
  bool done = false;
};

files_from_reader::files_from_reader(input_stream in, bool nul_separated, manifest_limits limits)
    : impl_(std::make_unique<impl>(std::move(in), nul_separated, limits)) {}
files_from_reader::~files_from_reader() = default;
files_from_reader::files_from_reader(files_from_reader&&) noexcept = default;
files_from_reader& files_from_reader::operator=(files_from_reader&&) noexcept = default;

std::optional<manifest_entry> files_from_reader::next() {
  return impl_->next();
}

}  // namespace ximup
