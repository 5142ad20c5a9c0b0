#pragma once
// Test support: read ximup's JSON lines with simdjson's DOM although they may hold the lone
// surrogate escapes (\udc80..\udcff) that stand for non-UTF-8 bytes (json_escape.hpp) and that
// simdjson 3.0.1 rejects. lenient() swaps each for a private-use escape \uf780..\uf7ff before
// parsing; bytes() maps those code points back to the original bytes after.
#include <string>
#include <string_view>

namespace ximup::test {

inline std::string lenient(std::string_view line) {
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] != '\\' || i + 1 >= line.size()) {
      out.push_back(line[i]);
      continue;
    }
    if (line[i + 1] == 'u' && i + 5 < line.size() &&
        (line.substr(i + 2, 2) == "dc" || line.substr(i + 2, 2) == "DC")) {
      out += "\\uf7";
      out += line.substr(i + 4, 2);
      i += 5;
      continue;
    }
    out.push_back(line[i]);
    out.push_back(line[i + 1]);
    ++i;
  }
  return out;
}

inline std::string bytes(std::string_view parsed) {
  std::string out;
  for (std::size_t i = 0; i < parsed.size(); ++i) {
    const auto b0 = static_cast<unsigned char>(parsed[i]);
    if (b0 == 0xEF && i + 2 < parsed.size()) {
      const auto b1 = static_cast<unsigned char>(parsed[i + 1]);
      const auto b2 = static_cast<unsigned char>(parsed[i + 2]);
      if ((b1 == 0x9E || b1 == 0x9F) && b2 >= 0x80 && b2 <= 0xBF) {  // U+F780..U+F7FF
        out.push_back(static_cast<char>(0x80U + ((b1 - 0x9EU) << 6U) + (b2 - 0x80U)));
        i += 2;
        continue;
      }
    }
    out.push_back(parsed[i]);
  }
  return out;
}

}  // namespace ximup::test
