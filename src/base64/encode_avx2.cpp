// AVX2 encoder: the SSSE3 scheme on 256-bit registers, 24 bytes -> 32 characters per block.
// pshufb works within 128-bit lanes, so each lane must hold its own 12 bytes: after the first
// block, one 32-byte load starting 4 bytes early does that (Muła & Lemire), with a per-lane
// reshuffle. Making the class for the offset lookup takes three operations (see to_ascii).
// Compiled for x86-64 only; functions carry their own target attribute.

// CMake compiles this file only for its architecture; the guard keeps any other build safe.
#if defined(__x86_64__)

#include <immintrin.h>

#include "encoders.hpp"

namespace ximup::base64::detail {
namespace {

#define XIMUP_TARGET_AVX2 __attribute__((target("avx2"), always_inline)) inline

// First block: src[0, 16) into the low lane, src[12, 28) into the high one (two loads), so both
// lanes hold their 12 bytes at positions 0..11.
XIMUP_TARGET_AVX2 __m256i load_first_block(const unsigned char* src) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 12));
  const __m256i in = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
  // Bytes [a b c] of each group -> 32-bit lane bytes [b a c b].
  return _mm256_shuffle_epi8(in, _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                                  1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10));
}

// Later blocks: one 32-byte load from src - 4 puts src[0, 12) at positions 4..15 of the low lane
// and src[12, 24) at positions 0..11 of the high lane; the reshuffle differs per lane. Only used
// after the first block, so src - 4 is still inside the input.
XIMUP_TARGET_AVX2 __m256i load_block(const unsigned char* src) {
  const __m256i in = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src - 4));
  return _mm256_shuffle_epi8(in, _mm256_setr_epi8(5, 4, 6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14,  //
                                                  1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10));
}

// Same field split as encode_ssse3.cpp: mulhi shifts right by 10 / 6, mullo left by 4 / 8.
XIMUP_TARGET_AVX2 __m256i split_fields(__m256i lanes) {
  const __m256i hi_fields = _mm256_and_si256(lanes, _mm256_set1_epi32(0x0FC0FC00));
  const __m256i shifted_right = _mm256_mulhi_epu16(hi_fields, _mm256_set1_epi32(0x04000040));
  const __m256i lo_fields = _mm256_and_si256(lanes, _mm256_set1_epi32(0x003F03F0));
  const __m256i shifted_left = _mm256_mullo_epi16(lo_fields, _mm256_set1_epi32(0x01000010));
  return _mm256_or_si256(shifted_right, shifted_left);
}

// 6-bit values -> ASCII through a per-range offset; classes as in encode_ssse3.cpp:
// 0..25 -> 0, 26..51 -> 1, 52..61 -> 2..11, 62 -> 12, 63 -> 13.
XIMUP_TARGET_AVX2 __m256i to_ascii(__m256i fields) {
  const __m256i above_upper = _mm256_cmpgt_epi8(fields, _mm256_set1_epi8(25));  // -1 from 'a' on
  const __m256i cls = _mm256_sub_epi8(_mm256_subs_epu8(fields, _mm256_set1_epi8(51)), above_upper);
  const __m256i offsets = _mm256_setr_epi8(65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0,  //
                                           65, 71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 0, 0);
  return _mm256_add_epi8(fields, _mm256_shuffle_epi8(offsets, cls));
}

XIMUP_TARGET_AVX2 void store_block(char* dst, __m256i lanes) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), to_ascii(split_fields(lanes)));
}

#undef XIMUP_TARGET_AVX2

}  // namespace

__attribute__((target("avx2"))) std::size_t encode_avx2(char* dst, const unsigned char* src,
                                                        std::size_t n) noexcept {
  std::size_t i = 0;
  char* d = dst;
  // A block reads up to 4 bytes past the 24 it consumes, so the last read must end inside src.
  if (n < 28) {
    return encode_scalar(dst, src, n);
  }
  store_block(d, load_first_block(src));
  i += 24;
  d += 32;
  while (n - i >= 100) {
    store_block(d, load_block(src + i));
    store_block(d + 32, load_block(src + i + 24));
    store_block(d + 64, load_block(src + i + 48));
    store_block(d + 96, load_block(src + i + 72));
    i += 96;
    d += 128;
  }
  while (n - i >= 28) {
    store_block(d, load_block(src + i));
    i += 24;
    d += 32;
  }
  return static_cast<std::size_t>(d - dst) + encode_scalar(d, src + i, n - i);
}

}  // namespace ximup::base64::detail

#endif  // defined(__x86_64__)
