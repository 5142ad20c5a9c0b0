#pragma once
// Private helper shared by json_escape.cpp and response.cpp: UTF-8 sequence validation.

#include <cstddef>

namespace ximup::detail {

/// Length of the valid UTF-8 sequence starting at p[0] (a byte >= 0x80) within `avail` bytes,
/// or 0 when the bytes there do not start one (Unicode Table 3-7: no overlong forms, no encoded
/// surrogates, nothing above U+10FFFF, no truncated sequence).
inline std::size_t utf8_sequence_length(const unsigned char* p, std::size_t avail) noexcept {
  const unsigned char b0 = p[0];
  const auto cont = [&](std::size_t i) { return i < avail && (p[i] & 0xC0U) == 0x80U; };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    return cont(1) ? 2 : 0;
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (avail < 2) {
      return 0;
    }
    const unsigned char b1 = p[1];
    const bool second_ok = b0 == 0xE0   ? (b1 >= 0xA0 && b1 <= 0xBF)
                           : b0 == 0xED ? (b1 >= 0x80 && b1 <= 0x9F)
                                        : (b1 >= 0x80 && b1 <= 0xBF);
    return second_ok && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (avail < 2) {
      return 0;
    }
    const unsigned char b1 = p[1];
    const bool second_ok = b0 == 0xF0   ? (b1 >= 0x90 && b1 <= 0xBF)
                           : b0 == 0xF4 ? (b1 >= 0x80 && b1 <= 0x8F)
                                        : (b1 >= 0x80 && b1 <= 0xBF);
    return second_ok && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;  // 0x80..0xC1 (continuation or overlong lead) and 0xF5..0xFF
}

}  // namespace ximup::detail
