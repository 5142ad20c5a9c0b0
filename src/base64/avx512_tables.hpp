#pragma once
// Private to ximup_base64: the constants of the AVX-512 VBMI encoder, kept apart from the
// intrinsics so that tests/unit/base64_test.cpp can replay the algorithm with plain integers on
// machines without AVX-512 (the instructions themselves are only exercised on such a CPU).

#include <array>
#include <cstdint>

namespace ximup::base64::detail::avx512 {

// vpermb indices: output byte 4j+k takes input byte 3j + {1, 0, 2, 1}[k], so group j's bytes
// [a b c] become the 32-bit lane [b a c b] (little-endian: a:b in bits 15..0, b:c in bits 31..16).
constexpr std::array<std::uint8_t, 64> make_spread_index() {
  constexpr std::array<std::uint8_t, 4> order{1, 0, 2, 1};
  std::array<std::uint8_t, 64> index{};
  for (unsigned p = 0; p < 64; ++p) {
    index[p] = static_cast<std::uint8_t>(3 * (p / 4) + order[p % 4]);
  }
  return index;
}
inline constexpr std::array<std::uint8_t, 64> spread_index = make_spread_index();

// vpmultishiftqb bit offsets within each 64-bit word (two lanes [b a c b]): a>>2 starts at bit 10,
// a:b's middle field at bit 4, b:c's top field at bit 22, c & 63 at bit 16; the second lane adds
// 32. Only the low 6 bits of each resulting byte matter: vpermb ignores the rest.
inline constexpr std::array<std::uint8_t, 8> field_shift{10, 4, 22, 16, 42, 36, 54, 48};

// field_shift as the 64-bit word that vpmultishiftqb's control register repeats (byte 0 first).
constexpr std::uint64_t pack_le(const std::array<std::uint8_t, 8>& bytes) {
  std::uint64_t word = 0;
  for (unsigned i = 0; i < 8; ++i) {
    word |= std::uint64_t{bytes[i]} << (8 * i);
  }
  return word;
}
inline constexpr std::uint64_t field_shift_word = pack_le(field_shift);

}  // namespace ximup::base64::detail::avx512
