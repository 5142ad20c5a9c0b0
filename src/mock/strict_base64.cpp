// Strict RFC 4648 base64 decoding.
#include "ximup/mock/strict_base64.hpp"

#include <array>
#include <cstdint>

namespace ximup::mock {
namespace {

constexpr std::uint8_t invalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_table() noexcept {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) {
    v = invalid;
  }
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return t;
}

constexpr auto table = make_table();

std::uint8_t lookup(char c) noexcept {
  return table[static_cast<unsigned char>(c)];
}

// Per-position tables: OR-ing the four entries of a quantum gives its three output bytes in the
// low 24 bits (first byte lowest); an invalid character sets bit 24 (the 4-table decoding trick).
constexpr std::uint32_t bad = 0x01000000;

// Where the 6 bits of a character at `Position` land in the 24-bit output.
template <int Position>
constexpr std::uint32_t place(std::uint32_t v) noexcept {
  switch (Position) {
    case 0:
      return v << 2;
    case 1:
      return (v >> 4) | ((v & 0x0F) << 12);
    case 2:
      return ((v >> 2) << 8) | ((v & 0x03) << 22);
    default:
      return v << 16;
  }
}

template <int Position>
constexpr std::array<std::uint32_t, 256> make_position_table() noexcept {
  std::array<std::uint32_t, 256> t{};
  for (std::size_t c = 0; c < 256; ++c) {
    t[c] = table[c] == invalid ? bad : place<Position>(table[c]);
  }
  return t;
}

constexpr auto d0 = make_position_table<0>();
constexpr auto d1 = make_position_table<1>();
constexpr auto d2 = make_position_table<2>();
constexpr auto d3 = make_position_table<3>();

}  // namespace

std::string_view strip_data_url_prefix(std::string_view text) noexcept {
  if (text.substr(0, 5) != "data:") {
    return text;
  }
  const std::size_t comma = text.find(',');
  if (comma == std::string_view::npos) {
    return text;
  }
  const std::string_view meta = text.substr(0, comma);
  constexpr std::string_view marker = ";base64";
  if (meta.size() < marker.size() || meta.substr(meta.size() - marker.size()) != marker) {
    return text;
  }
  return text.substr(comma + 1);
}

bool decode_base64_strict(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0) {
    return false;
  }
  if (text.empty()) {
    return true;
  }
  std::size_t padding = 0;
  if (text.back() == '=') {
    padding = text[text.size() - 2] == '=' ? 2 : 1;
  }
  out.resize(text.size() / 4 * 3 - padding);
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const std::size_t full = text.size() / 4 - (padding > 0 ? 1 : 0);
  const char* src = text.data();
  std::uint32_t errors = 0;  // checked once at the end: no branch in the loop
  for (std::size_t q = 0; q < full; ++q, src += 4, dst += 3) {
    const std::uint32_t v = d0[static_cast<unsigned char>(src[0])] | d1[static_cast<unsigned char>(src[1])] |
                            d2[static_cast<unsigned char>(src[2])] | d3[static_cast<unsigned char>(src[3])];
    errors |= v;
    dst[0] = static_cast<unsigned char>(v);
    dst[1] = static_cast<unsigned char>(v >> 8);
    dst[2] = static_cast<unsigned char>(v >> 16);
  }
  if ((errors & bad) != 0) {
    return false;
  }
  if (padding == 0) {
    return true;
  }
  const std::uint32_t a = lookup(src[0]);
  const std::uint32_t b = lookup(src[1]);
  if (a == invalid || b == invalid) {
    return false;
  }
  if (padding == 2) {
    if ((b & 0x0F) != 0) {
      return false;  // non-canonical: bits under the padding must be zero
    }
    dst[0] = static_cast<unsigned char>((a << 2) | (b >> 4));
    return true;
  }
  const std::uint32_t c = lookup(src[2]);
  if (c == invalid || (c & 0x03) != 0) {
    return false;
  }
  const std::uint32_t v = (a << 18) | (b << 12) | (c << 6);
  dst[0] = static_cast<unsigned char>(v >> 16);
  dst[1] = static_cast<unsigned char>(v >> 8);
  return true;
}

}  // namespace ximup::mock
