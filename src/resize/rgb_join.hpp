#pragma once
// rgb_join: 16 pixels' R, G and B bytes (three vectors) stored as 48 bytes of interleaved RGB with
// three byte shuffles per 16 bytes (SSSE3's pshufb), for code compiled for AVX2. Shared by the
// resampler's column pass and the decoder's colour conversion, where storing each band's bytes three
// apart took a fifth of the resampler's time and most of the conversion's.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace ximup::rgb_join {

[[gnu::target("avx2"), gnu::always_inline]] inline __m128i group(__m128i r, __m128i g, __m128i b, __m128i mr,
                                                                 __m128i mg, __m128i mb) {
  return _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(r, mr), _mm_shuffle_epi8(g, mg)),
                      _mm_shuffle_epi8(b, mb));
}

[[gnu::target("avx2"), gnu::always_inline]] inline void store16(__m128i r, __m128i g, __m128i b,
                                                                std::uint8_t* out) {
  // Output group 0 is pixels 0-4 and R of 5; group 1 G, B of 5, pixels 6-9, R, G of 10; group 2 B of
  // 10, pixels 11-15. Per group, where each byte comes from in each band (-1: another band).
  const __m128i r0 = _mm_setr_epi8(0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5);
  const __m128i g0 = _mm_setr_epi8(-1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1);
  const __m128i b0 = _mm_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1);
  const __m128i r1 = _mm_setr_epi8(-1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1);
  const __m128i g1 = _mm_setr_epi8(5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10);
  const __m128i b1 = _mm_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1);
  const __m128i r2 = _mm_setr_epi8(-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1);
  const __m128i g2 = _mm_setr_epi8(-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1);
  const __m128i b2 = _mm_setr_epi8(10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), group(r, g, b, r0, g0, b0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), group(r, g, b, r1, g1, b1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32), group(r, g, b, r2, g2, b2));
}

}  // namespace ximup::rgb_join
#endif
