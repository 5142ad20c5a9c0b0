// SSSE3 encoder (Muła's scheme): per 12 input bytes, one pshufb places each 3-byte group in a
// 32-bit lane as [b a c b]; two multiplies move the four 6-bit fields to the bottom of the four
// bytes; a pshufb lookup turns each field into the offset that maps it to its ASCII character.
// Compiled for x86-64 only; functions carry their own target attribute (no per-file -m flags),
// so nothing here can leak SSSE3 code into the baseline through shared inline functions.

// CMake compiles this file only for its architecture; the guard keeps any other build safe.
#if defined(__x86_64__)

#include <immintrin.h>

#include "encoders.hpp"

namespace ximup::base64::detail {
namespace {

#define XIMUP_TARGET_SSSE3 __attribute__((target("ssse3"), always_inline)) inline

// Bytes [a b c] of each group -> lane bytes [b a c b]; the last 4 input bytes are unused.
XIMUP_TARGET_SSSE3 __m128i spread_groups(__m128i in) {
  return _mm_shuffle_epi8(in, _mm_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10));
}

// Lane (little-endian words lo = a:b, hi = b:c) -> bytes [a>>2, a:b bits 9..4, b:c bits 11..6,
// c & 63]: mulhi by 2^6 / 2^10 shifts right by 10 / 6; mullo by 2^4 / 2^8 shifts left by 4 / 8.
XIMUP_TARGET_SSSE3 __m128i split_fields(__m128i lanes) {
  const __m128i hi_fields = _mm_and_si128(lanes, _mm_set1_epi32(0x0FC0FC00));
  const __m128i shifted_right = _mm_mulhi_epu16(hi_fields, _mm_set1_epi32(0x04000040));
  const __m128i lo_fields = _mm_and_si128(lanes, _mm_set1_epi32(0x003F03F0));
  const __m128i shifted_left = _mm_mullo_epi16(lo_fields, _mm_set1_epi32(0x01000010));
  return _mm_or_si128(shifted_right, shifted_left);
}

// 6-bit values -> ASCII. Each range gets a class, and a pshufb reads the class's offset to add:
// saturating "minus 51" sends 0..51 to 0 and 52..63 to 1..12, then subtracting the compare mask
// (-1 above 25) adds 1 from 26 on: 0..25 -> 0 ('A'-0), 26..51 -> 1 ('a'-26), 52..61 -> 2..11
// ('0'-52), 62 -> 12 ('+'-62), 63 -> 13 ('/'-63). Three operations make the class.
XIMUP_TARGET_SSSE3 __m128i to_ascii(__m128i fields) {
  const __m128i above_upper = _mm_cmpgt_epi8(fields, _mm_set1_epi8(25));  // -1 from 'a' on
  const __m128i cls = _mm_sub_epi8(_mm_subs_epu8(fields, _mm_set1_epi8(51)), above_upper);
  const __m128i offsets = _mm_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
  return _mm_add_epi8(fields, _mm_shuffle_epi8(offsets, cls));
}

XIMUP_TARGET_SSSE3 void encode_block(char* dst, const unsigned char* src) {
  const __m128i in = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  const __m128i out = to_ascii(split_fields(spread_groups(in)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), out);
}

#undef XIMUP_TARGET_SSSE3

}  // namespace

__attribute__((target("ssse3"))) std::size_t encode_ssse3(char* dst, const unsigned char* src,
                                                          std::size_t n) noexcept {
  std::size_t i = 0;
  char* d = dst;
  // A block loads 16 bytes and consumes 12, so the last load must end inside src.
  while (n - i >= 52) {
    encode_block(d, src + i);
    encode_block(d + 16, src + i + 12);
    encode_block(d + 32, src + i + 24);
    encode_block(d + 48, src + i + 36);
    i += 48;
    d += 64;
  }
  while (n - i >= 16) {
    encode_block(d, src + i);
    i += 12;
    d += 16;
  }
  return static_cast<std::size_t>(d - dst) + encode_scalar(d, src + i, n - i);
}

}  // namespace ximup::base64::detail

#endif  // defined(__x86_64__)
