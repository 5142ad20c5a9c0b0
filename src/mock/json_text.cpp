// JSON validation and string unescaping with Python's leniency for lone surrogates.
#include "ximup/mock/json_text.hpp"

#include <cstdint>

namespace ximup::mock {
namespace {

constexpr int max_depth = 512;

bool is_ws(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Reads 4 hex digits at s[i]; -1 when they are not.
long hex4(std::string_view s, std::size_t i) noexcept {
  if (i + 4 > s.size()) {
    return -1;
  }
  long v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const int h = hex_value(s[i + k]);
    if (h < 0) {
      return -1;
    }
    v = v * 16 + h;
  }
  return v;
}

// Recursive-descent validator over `s`, position `i_`.
class validator {
 public:
  explicit validator(std::string_view s) noexcept : s_(s) {}

  bool run() noexcept {
    skip_ws();
    if (!value(0)) {
      return false;
    }
    skip_ws();
    return i_ == s_.size();
  }

 private:
  void skip_ws() noexcept {
    while (i_ < s_.size() && is_ws(s_[i_])) {
      ++i_;
    }
  }

  bool literal(std::string_view word) noexcept {
    if (s_.substr(i_, word.size()) != word) {
      return false;
    }
    i_ += word.size();
    return true;
  }

  bool string() noexcept {
    const std::size_t n = json_string_literal_size(s_.substr(i_));
    if (n == 0) {
      return false;
    }
    i_ += n;
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
    if (i_ < s_.size() && s_[i_] == '-') {
      ++i_;
    }
    if (i_ >= s_.size()) {
      return false;
    }
    if (s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return false;
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) {
        return false;
      }
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) {
        ++i_;
      }
      if (!digits()) {
        return false;
      }
    }
    return true;
  }

  bool value(int depth) noexcept {
    if (i_ >= s_.size()) {
      return false;
    }
    switch (s_[i_]) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
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

  bool object(int depth) noexcept {
    if (depth > max_depth) {
      return false;
    }
    ++i_;  // '{'
    skip_ws();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"' || !string()) {
        return false;
      }
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != ':') {
        return false;
      }
      ++i_;
      skip_ws();
      if (!value(depth)) {
        return false;
      }
      skip_ws();
      if (i_ >= s_.size()) {
        return false;
      }
      if (s_[i_] == '}') {
        ++i_;
        return true;
      }
      if (s_[i_] != ',') {
        return false;
      }
      ++i_;
    }
  }

  bool array(int depth) noexcept {
    if (depth > max_depth) {
      return false;
    }
    ++i_;  // '['
    skip_ws();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      skip_ws();
      if (!value(depth)) {
        return false;
      }
      skip_ws();
      if (i_ >= s_.size()) {
        return false;
      }
      if (s_[i_] == ']') {
        ++i_;
        return true;
      }
      if (s_[i_] != ',') {
        return false;
      }
      ++i_;
    }
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace

bool is_valid_json_value(std::string_view text) noexcept {
  return validator(text).run();
}

std::size_t json_string_literal_size(std::string_view text) noexcept {
  if (text.empty() || text[0] != '"') {
    return 0;
  }
  std::size_t i = 1;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"') {
      return i + 1;
    }
    if (c < 0x20) {
      return 0;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) {
        return 0;
      }
      switch (text[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          i += 2;
          break;
        case 'u':
          if (hex4(text, i + 2) < 0) {
            return 0;
          }
          i += 6;
          break;
        default:
          return 0;
      }
      continue;
    }
    ++i;
  }
  return 0;
}

bool unescape_json_string(std::string_view escaped, std::string& out) {
  out.clear();
  out.reserve(escaped.size());
  std::size_t i = 0;
  while (i < escaped.size()) {
    // Copy the run up to the next backslash in one go.
    const std::size_t next = escaped.find('\\', i);
    const std::size_t end = next == std::string_view::npos ? escaped.size() : next;
    for (std::size_t k = i; k < end; ++k) {
      if (static_cast<unsigned char>(escaped[k]) < 0x20) {
        return false;
      }
    }
    out.append(escaped.substr(i, end - i));
    if (next == std::string_view::npos) {
      break;
    }
    i = next;
    if (i + 1 >= escaped.size()) {
      return false;
    }
    const char e = escaped[i + 1];
    i += 2;
    switch (e) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        const long hi = hex4(escaped, i);
        if (hi < 0) {
          return false;
        }
        i += 4;
        auto cp = static_cast<std::uint32_t>(hi);
        // A high surrogate followed by a low one is one code point; anything else stays a lone
        // surrogate (Python accepts those).
        if (cp >= 0xD800 && cp < 0xDC00 && i + 6 <= escaped.size() && escaped[i] == '\\' &&
            escaped[i + 1] == 'u') {
          const long lo = hex4(escaped, i + 2);
          if (lo >= 0xDC00 && lo < 0xE000) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (static_cast<std::uint32_t>(lo) - 0xDC00);
            i += 6;
          }
        }
        append_utf8(out, cp);
        break;
      }
      default:
        return false;
    }
  }
  return true;
}

std::string_view trim_json_whitespace(std::string_view text) noexcept {
  while (!text.empty() && is_ws(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_ws(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace ximup::mock
