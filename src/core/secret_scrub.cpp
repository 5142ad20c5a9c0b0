#include "ximup/secret_scrub.hpp"

#include <cstddef>

namespace ximup {
namespace {

constexpr std::string_view redacted = "[redacted]";
constexpr std::size_t shortest_secret = 8;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The character a `\uXXXX` at `at` (pointing at the backslash) stands for, when it is printable
// ASCII other than `"` and `\`; else 0.
char printable_escape(std::string_view text, std::size_t at) {
  if (at + 6 > text.size() || text[at + 1] != 'u') return 0;
  int code = 0;
  for (std::size_t i = at + 2; i < at + 6; ++i) {
    const int d = hex_digit(text[i]);
    if (d < 0) return 0;
    code = code * 16 + d;
  }
  if (code < 0x20 || code > 0x7E || code == '"' || code == '\\') return 0;
  return static_cast<char>(code);
}

bool replace_all(std::string& text, std::string_view secret) {
  bool found = false;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + redacted.size())) {
    text.replace(at, secret.size(), redacted);
    found = true;
  }
  return found;
}

}  // namespace

std::string unescape_printable_json(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i++];
    } else if (text[i + 1] == '/') {
      out += '/';
      i += 2;
    } else if (const char c = printable_escape(text, i); c != 0) {
      out += c;
      i += 6;
    } else {
      out.append(text.substr(i, 2));  // `\\`, `\"`, `\n`, a non-ASCII `\u`: kept, and not read again
      i += 2;
    }
  }
  return out;
}

bool may_hold_secret(std::string_view text, std::string_view secret) noexcept {
  return secret.size() >= shortest_secret &&
         (text.find(secret) != std::string_view::npos || text.find('\\') != std::string_view::npos);
}

bool scrub_secret(std::string& text, std::string_view secret) {
  if (!may_hold_secret(text, secret)) return false;
  bool found = replace_all(text, secret);
  if (text.find('\\') != std::string::npos) {
    std::string plain = unescape_printable_json(text);
    if (plain.find(secret) != std::string::npos) {
      replace_all(plain, secret);
      text = std::move(plain);
      found = true;
    }
  }
  return found;
}

}  // namespace ximup
