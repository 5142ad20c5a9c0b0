// The API logic of ximup-mock: routing, auth, simdjson parsing, per-record checks, fake results.
#include "ximup/mock/api_handler.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include "fake_results.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/mock/image_info.hpp"
#include "ximup/mock/json_text.hpp"
#include "ximup/mock/strict_base64.hpp"

namespace ximup::mock {
namespace {

namespace od = simdjson::ondemand;

static_assert(body_padding >= simdjson::SIMDJSON_PADDING);

struct route_entry {
  std::string_view path;
  endpoint_kind kind;
};

constexpr route_entry routes[] = {
    {"tagging/generic/v2/tags", endpoint_kind::tagging_generic},
    {"photo/tags/v2/tags", endpoint_kind::tagging_generic},
    {"tagging/fashion/v2/tags", endpoint_kind::tagging_fashion},
    {"tagging/fashion/v2/meta", endpoint_kind::tagging_fashion},
    {"tagging/fashion/v2/detect_tags", endpoint_kind::tagging_fashion},
    {"tagging/homedecor/v2/tags", endpoint_kind::tagging_homedecor},
    {"dom_colors/generic/v2/dominantcolor", endpoint_kind::colors_generic},
    {"dom_colors/product/v2/dominantcolor", endpoint_kind::colors_product},
    {"recognition/v2/classify", endpoint_kind::classify},
    {"detection/v2/detect", endpoint_kind::detect},
    {"similarity/photos/v2/insert", endpoint_kind::similarity_insert},
    {"similarity/products/v2/insert", endpoint_kind::similarity_insert},
    {"similarity/fashion/v2/insert", endpoint_kind::similarity_insert},
    {"similarity/custom/v2/insert", endpoint_kind::similarity_insert},
    {"authorization/v2/authorize", endpoint_kind::authorize},
};

// Keys the mock writes into a result record; an incoming field with one of these names is not
// echoed (the server's value replaces it).
constexpr std::string_view generated_keys[] = {"_status",          "_width",   "_height",    "_tags",
                                               "_dominant_colors", "_objects", "best_label", "labels"};

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return (x | 0x20) == (y | 0x20); });
}

std::string_view trim_spaces(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool token_accepted(std::string_view header, std::string_view token) noexcept {
  header = trim_spaces(header);
  const std::size_t space = header.find(' ');
  if (space == std::string_view::npos || token.empty()) {
    return false;
  }
  const std::string_view scheme = header.substr(0, space);
  if (!iequals(scheme, "Token") && !iequals(scheme, "JWT")) {
    return false;
  }
  return trim_spaces(header.substr(space + 1)) == token;
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_status(std::string& out, unsigned code, std::string_view text, std::string_view request_id) {
  out += "{\"code\":";
  append_uint(out, code);
  out += ",\"text\":";
  ximup::append_json_string(out, text);
  out += ",\"request_id\":\"";
  out += request_id;
  out += "\"}";
}

api_response simple_response(unsigned status, std::string body) {
  api_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// A whole-request 400: `{"detail":...,"status":{...}}`.
api_response bad_request(std::string_view detail, std::string_view request_id) {
  api_response r;
  r.status = 400;
  r.body = "{\"detail\":";
  ximup::append_json_string(r.body, detail);
  r.body += ",\"status\":";
  append_status(r.body, 400, std::string("Bad Request: ").append(detail), request_id);
  r.body.push_back('}');
  return r;
}

void append_tail(std::string& out, std::string_view request_id,
                 std::chrono::steady_clock::time_point started) {
  out += ",\"status\":";
  append_status(out, 200, "OK", request_id);
  out += ",\"statistics\":{\"processing time\":";
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  append_fixed(out, std::max(seconds, 0.0001), 4);
  out += "}}";
}

// The record keys counted in discard mode, quoted.
constexpr std::string_view base64_key = "\"_base64\"";
constexpr std::string_view url_key = "\"_url\"";

// Whether a record key starts at text[pos] (text[pos] == '"'); the key must lie inside text.
bool record_key_at(std::string_view text, std::size_t pos) noexcept {
  const std::string_view rest = text.substr(pos);
  return rest.starts_with(base64_key) || rest.starts_with(url_key);
}

// Record keys starting in text[from, to) that lie entirely inside text, found with memchr.
std::size_t count_record_keys(std::string_view text, std::size_t from, std::size_t to) noexcept {
  std::size_t n = 0;
  const char* const begin = text.data();
  const char* p = begin + from;
  const char* const end = begin + to;
  while (p < end) {
    const void* q = std::memchr(p, '"', static_cast<std::size_t>(end - p));
    if (q == nullptr) {
      break;
    }
    const auto pos = static_cast<std::size_t>(static_cast<const char*>(q) - begin);
    if (record_key_at(text, pos)) {
      ++n;
    }
    p = static_cast<const char*>(q) + 1;
  }
  return n;
}

// One record as read from the request.
struct record_work {
  std::vector<std::pair<std::string_view, std::string_view>> echo;  // raw key literal, raw value
  std::string_view id_raw;                                          // raw JSON of `_id`, empty when absent
  std::string_view url_raw;                                         // raw JSON string literal of `_url`
  int sources = 0;        // how many of `_url` / `_base64` are present
  bool bad_type = false;  // `_url` or `_base64` not a string
  bool bad_base64 = false;
  bool decoded = false;  // `_base64` decoded
  std::size_t bytes = 0;
  sha256_digest digest{};
  std::optional<image_info> info;
  unsigned status = 200;
  std::string_view status_text = "OK";
};

// Raw JSON text of `v` (consumed), validated with Python's rules.
simdjson::error_code raw_value(od::value& v, std::string_view& out) noexcept {
  od::json_type type{};
  if (auto e = v.type().get(type)) {
    return e;
  }
  simdjson::error_code e = simdjson::SUCCESS;
  if (type == od::json_type::object) {
    od::object o;
    e = v.get_object().get(o);
    if (!e) {
      e = o.raw_json().get(out);
    }
  } else if (type == od::json_type::array) {
    od::array a;
    e = v.get_array().get(a);
    if (!e) {
      e = a.raw_json().get(out);
    }
  } else {
    out = v.raw_json_token();
  }
  if (e) {
    return e;
  }
  out = trim_json_whitespace(out);
  return is_valid_json_value(out) ? simdjson::SUCCESS : simdjson::STRING_ERROR;
}

// The raw key literal (with quotes) of `field`, validated; empty on error.
std::string_view raw_key(od::field& field, std::string_view document) noexcept {
  const char* start = field.key().raw() - 1;  // the opening quote
  if (start < document.data() || start >= document.data() + document.size()) {
    return {};
  }
  const auto offset = static_cast<std::size_t>(start - document.data());
  const std::size_t n = json_string_literal_size(document.substr(offset));
  return n == 0 ? std::string_view{} : document.substr(offset, n);
}

bool is_generated_key(std::string_view key_literal) noexcept {
  const std::string_view name = key_literal.substr(1, key_literal.size() - 2);
  return std::find(std::begin(generated_keys), std::end(generated_keys), name) != std::end(generated_keys);
}

class records_request {
 public:
  records_request(const api_request& rq, const handler_config& cfg, const endpoint& ep)
      : rq_(rq), cfg_(cfg), ep_(ep), request_id_(make_request_id(cfg.faults.seed, rq.request_number)) {}

  api_response run() {
    const std::string& body = *rq_.body;
    simdjson::padded_string copy;
    simdjson::padded_string_view view;
    if (body.capacity() - body.size() >= body_padding) {
      view = simdjson::padded_string_view(body.data(), body.size(), body.capacity());
    } else {
      copy = simdjson::padded_string(body);
      view = simdjson::padded_string_view(copy.data(), copy.size(), copy.size() + simdjson::SIMDJSON_PADDING);
    }
    document_ = std::string_view(view.data(), view.size());
    if (auto error = parse(view)) {
      return *error;
    }
    if (!saw_records_) {
      return bad_request("records: this field is required", request_id_);
    }
    if ((ep_.kind == endpoint_kind::classify || ep_.kind == endpoint_kind::detect) && !has_task_id_) {
      return bad_request("task_id: this field is required", request_id_);
    }
    if (ep_.kind == endpoint_kind::similarity_insert && !rq_.collection_id) {
      return bad_request("collection-id header is required", request_id_);
    }
    return respond();
  }

 private:
  // Reads the whole body; returns an error response for a request-level failure.
  std::optional<api_response> parse(simdjson::padded_string_view view) {
    const auto invalid = [this] { return bad_request("JSON parse error", request_id_); };
    od::document doc;
    if (parser_.iterate(view).get(doc)) {
      return invalid();
    }
    od::object top;
    if (auto e = doc.get_object().get(top)) {
      return e == simdjson::INCORRECT_TYPE ? bad_request("the body must be a JSON object", request_id_)
                                           : invalid();
    }
    for (auto field_result : top) {
      od::field field;
      if (std::move(field_result).get(field)) {
        return invalid();
      }
      const std::string_view key = raw_key(field, document_);
      if (key.empty()) {
        return invalid();
      }
      if (key == "\"records\"") {
        saw_records_ = true;
        od::array records;
        if (auto e = field.value().get_array().get(records)) {
          return e == simdjson::INCORRECT_TYPE ? bad_request("records must be a list", request_id_)
                                               : invalid();
        }
        for (auto element : records) {
          od::value value;
          if (element.get(value)) {
            return invalid();
          }
          if (records_.size() == cfg_.max_records) {
            return bad_request(
                "too many records: at most " + std::to_string(cfg_.max_records) + " per request",
                request_id_);
          }
          od::object record;
          if (auto e = value.get_object().get(record)) {
            return e == simdjson::INCORRECT_TYPE ? bad_request("each record must be an object", request_id_)
                                                 : invalid();
          }
          if (!read_record(record)) {
            return invalid();
          }
        }
        continue;
      }
      std::string_view raw;
      if (raw_value(field.value(), raw)) {
        return invalid();
      }
      if (key == "\"task_id\"" && raw != "null" && raw != "\"\"") {
        has_task_id_ = true;
      }
      if (key == "\"colors\"") {
        unsigned n = 0;
        const auto r = std::from_chars(raw.data(), raw.data() + raw.size(), n);
        if (r.ec == std::errc() && r.ptr == raw.data() + raw.size()) {
          colors_ = n;
        }
      }
    }
    if (!doc.current_location().error()) {
      return invalid();  // trailing content after the object
    }
    return std::nullopt;
  }

  // Reads one record object; false on a JSON syntax error.
  bool read_record(od::object& object) {
    record_work& w = records_.emplace_back();
    for (auto field_result : object) {
      od::field field;
      if (std::move(field_result).get(field)) {
        return false;
      }
      const std::string_view key = raw_key(field, document_);
      if (key.empty()) {
        return false;
      }
      if (key == "\"_base64\"") {
        ++w.sources;
        if (!read_base64(field.value(), w)) {
          return false;
        }
        continue;
      }
      std::string_view raw;
      if (raw_value(field.value(), raw)) {
        return false;
      }
      if (key == "\"_url\"") {
        ++w.sources;
        if (raw.front() == '"') {
          w.url_raw = raw;
        } else {
          w.bad_type = true;
        }
      } else if (key == "\"_id\"") {
        w.id_raw = raw;
      }
      if (!is_generated_key(key)) {
        w.echo.emplace_back(key, raw);
      }
    }
    return true;
  }

  // `_base64`: decoded at once (into a buffer reused across records), then hashed and sniffed.
  bool read_base64(od::value& value, record_work& w) {
    od::json_type type{};
    if (value.type().get(type)) {
      return false;
    }
    if (type != od::json_type::string) {
      std::string_view raw;
      if (raw_value(value, raw)) {
        return false;
      }
      w.bad_type = true;
      return true;
    }
    const std::string_view token = trim_json_whitespace(value.raw_json_token());
    if (token.size() < 2 || token.back() != '"') {
      return false;
    }
    if (cfg_.echo_base64) {
      w.echo.emplace_back("\"_base64\"", token);
    }
    std::string_view text = token.substr(1, token.size() - 2);
    if (text.find('\\') != std::string_view::npos) {  // rare: an escaped '/' and the like
      if (!unescape_json_string(text, unescaped_)) {
        return false;
      }
      text = unescaped_;
    }
    if (!decode_base64_strict(strip_data_url_prefix(text), decoded_)) {
      w.bad_base64 = true;
      return true;
    }
    w.decoded = true;
    w.bytes = decoded_.size();
    w.digest = sha256(decoded_);
    w.info = read_image_info(decoded_);
    return true;
  }

  void decide(record_work& w, std::size_t index) {
    const auto reject = [&w](std::string_view text) {
      w.status = 400;
      w.status_text = text;
    };
    if (w.sources != 1) {
      reject("Bad Request: a record needs exactly one of _url and _base64");
    } else if (w.bad_type) {
      reject("Bad Request: _url and _base64 must be strings");
    } else if (ep_.kind == endpoint_kind::similarity_insert && w.id_raw.empty()) {
      reject("Bad Request: _id is required");
    } else if (w.bad_base64) {
      reject("Bad Request: invalid base64");
    } else if (w.url_raw.empty() && !w.info) {
      reject("Bad Request: not a decodable image");
    } else if (record_fault(cfg_.faults, rq_.request_number, index)) {
      w.status = 500;
      w.status_text = "Internal Server Error";
    }
    if (!w.url_raw.empty() && w.status == 200) {
      // No download: results derive from the URL text, the size is made up.
      w.digest = sha256(w.url_raw);
      w.info = image_info{image_format::jpeg, 320U + 8U * w.digest[0], 240U + 8U * w.digest[1]};
    }
  }

  void append_results(std::string& out, const record_work& w) const {
    out += "\"_width\":";
    append_uint(out, w.info->width);
    out += ",\"_height\":";
    append_uint(out, w.info->height);
    out.push_back(',');
    switch (ep_.kind) {
      case endpoint_kind::tagging_generic:
        append_tags(out, w.digest, "generic");
        break;
      case endpoint_kind::tagging_homedecor:
        append_tags(out, w.digest, "homedecor");
        break;
      case endpoint_kind::tagging_fashion:
        append_fashion_tags(out, w.digest);
        break;
      case endpoint_kind::colors_generic:
        append_dominant_colors(out, w.digest, colors_.value_or(6));
        break;
      case endpoint_kind::colors_product:
        append_dominant_colors(out, w.digest, colors_.value_or(3));
        break;
      case endpoint_kind::classify:
        append_classification(out, w.digest);
        break;
      case endpoint_kind::detect:
        append_objects(out, w.digest, w.info->width, w.info->height);
        break;
      case endpoint_kind::similarity_insert:
      case endpoint_kind::authorize:
        out.pop_back();
        break;
    }
  }

  void append_ledger_line(std::string& out, const record_work& w) const {
    out += "{\"sha256\":";
    if (w.decoded) {
      out.push_back('"');
      out += to_hex(w.digest);
      out.push_back('"');
    } else {
      out += "null";
    }
    out += ",\"_id\":";
    out += w.id_raw.empty() ? std::string_view("null") : w.id_raw;
    out += ",\"bytes\":";
    append_uint(out, w.bytes);
    out += ",\"status\":";
    append_uint(out, w.status);
    out += ",\"endpoint\":";
    ximup::append_json_string(out, ep_.path);
    out += ",\"request\":";
    append_uint(out, rq_.request_number);
    if (!w.url_raw.empty()) {
      out += ",\"url\":";
      out += w.url_raw;
    }
    out += "}\n";
  }

  api_response respond() {
    api_response r;
    std::string& out = r.body;
    std::size_t size = 256;
    for (const auto& w : records_) {
      size += 512;
      for (const auto& [k, v] : w.echo) {
        size += k.size() + v.size() + 2;
      }
    }
    out.reserve(size);
    out += "{\"records\":[";
    for (std::size_t i = 0; i < records_.size(); ++i) {
      record_work& w = records_[i];
      decide(w, i);
      if (i > 0) {
        out.push_back(',');
      }
      out.push_back('{');
      for (const auto& [k, v] : w.echo) {
        out += k;
        out.push_back(':');
        out += v;
        out.push_back(',');
      }
      if (w.status == 200) {
        append_results(out, w);
        out.push_back(',');
        ++r.records_ok;
      } else {
        ++r.records_failed;
        if (w.status == 500) {
          ++r.records_fault_failed;
        }
      }
      out += "\"_status\":";
      append_status(out, w.status, w.status_text, request_id_);
      out.push_back('}');
      if (w.status != 500) {
        append_ledger_line(r.ledger, w);
      }
    }
    out.push_back(']');
    append_tail(out, request_id_, started_);
    return r;
  }

  const api_request& rq_;
  const handler_config& cfg_;
  const endpoint& ep_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  const std::string request_id_;
  od::parser parser_;
  std::string_view document_;
  std::vector<record_work> records_;
  std::string decoded_;
  std::string unescaped_;
  bool saw_records_ = false;
  bool has_task_id_ = false;
  std::optional<unsigned> colors_;
};

api_response authorize_response(const api_request& rq, const handler_config& cfg) {
  const std::string request_id = make_request_id(cfg.faults.seed, rq.request_number);
  const std::string_view body = trim_json_whitespace(*rq.body);
  if (body.empty() || body.front() != '{' || !is_valid_json_value(body)) {
    return bad_request("JSON parse error", request_id);
  }
  const sha256_digest d = sha256(cfg.token);
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    a = (a << 8) | d[i];
    b = (b << 8) | d[8 + i];
  }
  api_response r;
  r.body = "{\"user_id\":\"" + fake_uuid(a, b) + "\",\"status\":";
  append_status(r.body, 200, "OK", request_id);
  r.body.push_back('}');
  return r;
}

api_response discard_response(const api_request& rq, const handler_config& cfg) {
  const auto started = std::chrono::steady_clock::now();
  const std::string request_id = make_request_id(cfg.faults.seed, rq.request_number);
  const std::string_view body = *rq.body;
  std::size_t n = 0;
  if (rq.discarded_records) {
    n = *rq.discarded_records;
  } else {
    record_key_counter keys;
    keys.feed(body);
    n = keys.count();
  }
  api_response r;
  r.body.reserve(128 + n * 96);
  r.body += "{\"records\":[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) {
      r.body.push_back(',');
    }
    r.body += "{\"_status\":";
    append_status(r.body, 200, "OK", request_id);
    r.body.push_back('}');
  }
  r.body.push_back(']');
  append_tail(r.body, request_id, started);
  r.records_ok = n;
  return r;
}

}  // namespace

void record_key_counter::feed(std::string_view piece) noexcept {
  if (piece.empty()) {
    return;
  }
  // Keys that began in the tail and end in this piece: search the tail joined with the first
  // bytes of the piece, counting only keys that start in the tail and reach into the piece.
  if (tail_size_ > 0) {
    char joined[2 * tail_capacity];
    const std::size_t head = std::min(piece.size(), tail_capacity);
    std::memcpy(joined, tail_, tail_size_);
    std::memcpy(joined + tail_size_, piece.data(), head);
    const std::string_view j(joined, tail_size_ + head);
    for (std::size_t pos = 0; pos < tail_size_; ++pos) {
      if (j[pos] == '"' && record_key_at(j, pos)) {
        const std::size_t len = j.substr(pos).starts_with(base64_key) ? base64_key.size() : url_key.size();
        if (pos + len > tail_size_) {
          ++count_;
        }
      }
    }
  }
  count_ += count_record_keys(piece, 0, piece.size());
  // The new tail: the last tail_capacity bytes of everything seen so far.
  if (piece.size() >= tail_capacity) {
    std::memcpy(tail_, piece.data() + piece.size() - tail_capacity, tail_capacity);
    tail_size_ = tail_capacity;
  } else {
    const std::size_t keep = std::min(tail_size_, tail_capacity - piece.size());
    std::memmove(tail_, tail_ + tail_size_ - keep, keep);
    std::memcpy(tail_ + keep, piece.data(), piece.size());
    tail_size_ = keep + piece.size();
  }
}

std::optional<endpoint> route(std::string_view target) noexcept {
  target = target.substr(0, std::min(target.find('?'), target.find('#')));
  if (target.empty() || target.front() != '/') {
    return std::nullopt;
  }
  target.remove_prefix(1);
  if (!target.empty() && target.back() == '/') {
    target.remove_suffix(1);
  }
  for (const auto& r : routes) {
    if (r.path == target) {
      return endpoint{r.kind, r.path};
    }
  }
  return std::nullopt;
}

std::string detail_json(std::string_view detail) {
  std::string out = "{\"detail\":";
  ximup::append_json_string(out, detail);
  out.push_back('}');
  return out;
}

std::string make_request_id(std::uint64_t seed, std::uint64_t request_number) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::uint64_t words[2] = {mix64(seed, request_number),
                                  mix64(seed ^ 0x5265717565737449ULL, request_number)};
  std::string out(32, '0');
  for (std::size_t i = 0; i < 32; ++i) {
    out[i] = hex[(words[i / 16] >> (60 - 4 * (i % 16))) & 0xF];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) {
  return to_hex(sha256(bytes));
}

api_response handle_api_request(const api_request& request, const handler_config& config) {
  static const std::string no_body;
  api_request rq = request;
  if (rq.body == nullptr) {
    rq.body = &no_body;
  }

  const std::optional<endpoint> ep = route(rq.target);
  if (!ep) {
    return simple_response(404, detail_json("Not found."));
  }
  if (!token_accepted(rq.authorization, config.token)) {
    api_response r = simple_response(401, detail_json("Invalid token."));
    r.headers.emplace_back("WWW-Authenticate", "Token");
    return r;
  }
  if (config.reject_token_after > 0 && rq.request_number > config.reject_token_after) {
    api_response r = simple_response(401, detail_json("Invalid token."));
    r.headers.emplace_back("WWW-Authenticate", "Token");
    r.token_rejected_by_fault = true;
    return r;
  }
  if (rq.method != "POST") {
    api_response r =
        simple_response(405, detail_json("Method \"" + std::string(rq.method) + "\" not allowed."));
    r.headers.emplace_back("Allow", "POST, OPTIONS");
    return r;
  }
  if (ep->kind == endpoint_kind::authorize) {
    return authorize_response(rq, config);
  }
  if (config.discard) {
    return discard_response(rq, config);
  }
  return records_request(rq, config, *ep).run();
}

}  // namespace ximup::mock
