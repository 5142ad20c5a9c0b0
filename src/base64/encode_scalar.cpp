// Scalar encoder: a 4096-entry table maps 12 input bits to two output characters, so 3 bytes
// take two lookups. The main loop loads 8 bytes big-endian, uses the top 6 (four 12-bit fields)
// and stores 8 characters at once; four such steps run per iteration.

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#include "encoders.hpp"

namespace ximup::base64::detail {
namespace {

static_assert(std::endian::native == std::endian::little, "the pair table assumes a little-endian CPU");

constexpr std::array<std::uint16_t, 4096> make_pair_table() {
  std::array<std::uint16_t, 4096> table{};
  for (unsigned i = 0; i < 4096; ++i) {
    // First character in the low byte: stored little-endian, it comes first in memory.
    const auto first = static_cast<unsigned char>(alphabet[i >> 6U]);
    const auto second = static_cast<unsigned char>(alphabet[i & 63U]);
    table[i] = static_cast<std::uint16_t>(first | (second << 8U));
  }
  return table;
}

alignas(64) constexpr std::array<std::uint16_t, 4096> pair_table = make_pair_table();

std::uint64_t load_be64(const unsigned char* p) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
}

// Eight characters for the six bytes in the top 48 bits of `v`.
std::uint64_t encode_six(std::uint64_t v) noexcept {
  return std::uint64_t{pair_table[(v >> 52U) & 0xFFFU]} |
         (std::uint64_t{pair_table[(v >> 40U) & 0xFFFU]} << 16U) |
         (std::uint64_t{pair_table[(v >> 28U) & 0xFFFU]} << 32U) |
         (std::uint64_t{pair_table[(v >> 16U) & 0xFFFU]} << 48U);
}

void store64(char* d, std::uint64_t v) noexcept {
  std::memcpy(d, &v, sizeof v);
}

void store_pair(char* d, std::uint16_t v) noexcept {
  std::memcpy(d, &v, sizeof v);
}

}  // namespace

std::size_t encode_scalar(char* dst, const unsigned char* src, std::size_t n) noexcept {
  std::size_t i = 0;
  char* d = dst;
  // Each 8-byte load uses 6 bytes, so the last load of a step must still end inside src.
  while (n - i >= 26) {
    const std::uint64_t a = load_be64(src + i);
    const std::uint64_t b = load_be64(src + i + 6);
    const std::uint64_t c = load_be64(src + i + 12);
    const std::uint64_t e = load_be64(src + i + 18);
    store64(d, encode_six(a));
    store64(d + 8, encode_six(b));
    store64(d + 16, encode_six(c));
    store64(d + 24, encode_six(e));
    i += 24;
    d += 32;
  }
  while (n - i >= 8) {
    store64(d, encode_six(load_be64(src + i)));
    i += 6;
    d += 8;
  }
  while (n - i >= 3) {
    const unsigned v = (unsigned{src[i]} << 16U) | (unsigned{src[i + 1]} << 8U) | src[i + 2];
    store_pair(d, pair_table[v >> 12U]);
    store_pair(d + 2, pair_table[v & 0xFFFU]);
    i += 3;
    d += 4;
  }
  if (n - i == 1) {
    store_pair(d, pair_table[unsigned{src[i]} << 4U]);
    d[2] = '=';
    d[3] = '=';
    d += 4;
  } else if (n - i == 2) {
    const unsigned v = (unsigned{src[i]} << 8U) | src[i + 1];
    store_pair(d, pair_table[v >> 4U]);
    d[2] = alphabet[(v << 2U) & 63U];
    d[3] = '=';
    d += 4;
  }
  return static_cast<std::size_t>(d - dst);
}

}  // namespace ximup::base64::detail
