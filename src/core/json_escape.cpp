// JSON string escaping with PEP 383 "surrogateescape" for bytes that are not valid UTF-8.
#include "ximup/json_escape.hpp"

#include <array>
#include <cstdint>
#include <cstring>

#include <simdjson.h>

#include "utf8.hpp"

namespace ximup {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";

using detail::utf8_sequence_length;

// True when none of the 8 bytes in `w` needs escaping: all in 0x20..0x7E except '"' and '\'.
inline bool word_is_plain(std::uint64_t w) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ULL;
  constexpr std::uint64_t highs = 0x8080808080808080ULL;
  const auto has_zero = [](std::uint64_t v) { return (v - ones) & ~v & highs; };
  const std::uint64_t special = (w & highs)                         // >= 0x80
                                | ((w - ones * 0x20) & ~w & highs)  // < 0x20
                                | has_zero(w ^ (ones * 0x7F))       // DEL
                                | has_zero(w ^ (ones * 0x22))       // '"'
                                | has_zero(w ^ (ones * 0x5C));      // '\'
  return special == 0;
}

inline bool byte_is_plain(unsigned char c) noexcept {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

// Length of the longest prefix of [p, p + n) that is copied unchanged: plain ASCII and valid
// multi-byte UTF-8 sequences.
inline std::size_t plain_run(const unsigned char* p, std::size_t n) noexcept {
  std::size_t i = 0;
  while (i < n) {
    if (n - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p + i, sizeof w);
      if (word_is_plain(w)) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (byte_is_plain(c)) {
      ++i;
    } else if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(p + i, n - i);
      if (len == 0) {
        break;
      }
      i += len;
    } else {
      break;
    }
  }
  return i;
}

// Escape for the special byte at p[0] (which plain_run stopped at), at most 6 characters.
struct escape {
  std::array<char, 6> text{};
  std::size_t size = 0;
};

inline escape escape_for(unsigned char c) noexcept {
  escape e;
  if (c == '"' || c == '\\') {
    e.text = {'\\', static_cast<char>(c)};
    e.size = 2;
  } else if (c < 0x80) {  // control character or DEL
    e.text = {'\\', 'u', '0', '0', hex_digits[c >> 4U], hex_digits[c & 0xFU]};
    e.size = 6;
  } else {  // a byte that is not part of a valid UTF-8 sequence
    e.text = {'\\', 'u', 'd', 'c', hex_digits[c >> 4U], hex_digits[c & 0xFU]};
    e.size = 6;
  }
  return e;
}

inline int hex_value(char c) noexcept {
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

// Reads the 4 hex digits after "\u" at s[i]; -1 when malformed.
inline long read_hex4(std::string_view s, std::size_t i) noexcept {
  if (i + 4 > s.size()) {
    return -1;
  }
  long v = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const int d = hex_value(s[i + k]);
    if (d < 0) {
      return -1;
    }
    v = v * 16 + d;
  }
  return v;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0U | (cp >> 6U)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else if (cp < 0x10000) {  // includes lone surrogates (generalized UTF-8)
    out.push_back(static_cast<char>(0xE0U | (cp >> 12U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else {
    out.push_back(static_cast<char>(0xF0U | (cp >> 18U)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 12U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6U) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  }
}

}  // namespace

void append_json_string(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  // Most names need no escaping: reserve for that case, escapes grow the string geometrically.
  out.reserve(out.size() + n + 2);
  out.push_back('"');
  std::size_t i = 0;
  while (i < n) {
    const std::size_t run = plain_run(p + i, n - i);
    out.append(bytes.data() + i, run);
    i += run;
    if (i == n) {
      break;
    }
    const escape e = escape_for(p[i]);
    out.append(e.text.data(), e.size);
    ++i;
  }
  out.push_back('"');
}

std::string json_string(std::string_view bytes) {
  std::string out;
  append_json_string(out, bytes);
  return out;
}

std::size_t json_string_size(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t size = 2;
  std::size_t i = 0;
  while (i < n) {
    const std::size_t run = plain_run(p + i, n - i);
    size += run;
    i += run;
    if (i == n) {
      break;
    }
    size += escape_for(p[i]).size;
    ++i;
  }
  return size;
}

bool is_valid_utf8(std::string_view bytes) noexcept {
  return simdjson::validate_utf8(bytes.data(), bytes.size());
}

std::string decode_surrogateescape(std::string_view utf8ish) {
  std::string out;
  out.reserve(utf8ish.size());
  std::size_t i = 0;
  while (i < utf8ish.size()) {
    const void* hit = std::memchr(utf8ish.data() + i, 0xED, utf8ish.size() - i);
    const std::size_t at = hit == nullptr
                               ? utf8ish.size()
                               : static_cast<std::size_t>(static_cast<const char*>(hit) - utf8ish.data());
    out.append(utf8ish.data() + i, at - i);
    i = at;
    if (i == utf8ish.size()) {
      break;
    }
    // ED B2 80 .. ED B3 BF encode U+DC80 .. U+DCFF, which stand for the bytes 0x80 .. 0xFF.
    if (i + 2 < utf8ish.size()) {
      const auto b1 = static_cast<unsigned char>(utf8ish[i + 1]);
      const auto b2 = static_cast<unsigned char>(utf8ish[i + 2]);
      if ((b1 == 0xB2 || b1 == 0xB3) && (b2 & 0xC0U) == 0x80U) {
        out.push_back(static_cast<char>(((b1 & 0x01U) << 6U) | 0x80U | (b2 & 0x3FU)));
        i += 3;
        continue;
      }
    }
    out.push_back(utf8ish[i]);
    ++i;
  }
  return out;
}

std::optional<std::string> parse_json_string_token(std::string_view token) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') {
    return std::nullopt;
  }
  const std::string_view s = token.substr(1, token.size() - 2);
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c < 0x20) {
      return std::nullopt;  // an unescaped quote ends the string early; raw controls are invalid
    }
    if (c != '\\') {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (i + 1 >= s.size()) {
      return std::nullopt;  // the backslash escapes the closing quote
    }
    const char e = s[i + 1];
    i += 2;
    switch (e) {
      case '"':
        out.push_back('"');
        continue;
      case '\\':
        out.push_back('\\');
        continue;
      case '/':
        out.push_back('/');
        continue;
      case 'b':
        out.push_back('\b');
        continue;
      case 'f':
        out.push_back('\f');
        continue;
      case 'n':
        out.push_back('\n');
        continue;
      case 'r':
        out.push_back('\r');
        continue;
      case 't':
        out.push_back('\t');
        continue;
      case 'u':
        break;
      default:
        return std::nullopt;
    }
    const long u = read_hex4(s, i);
    if (u < 0) {
      return std::nullopt;
    }
    i += 4;
    auto cp = static_cast<std::uint32_t>(u);
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
      const long low = read_hex4(s, i + 2);
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000U + ((cp - 0xD800U) << 10U) + (static_cast<std::uint32_t>(low) - 0xDC00U);
        i += 6;
      }
    }
    if (cp >= 0xDC80 && cp <= 0xDCFF) {
      out.push_back(static_cast<char>(cp - 0xDC00U));  // surrogateescape: the original byte
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

}  // namespace ximup
