// AVX-512 VBMI encoder (Muła & Lemire): per 48 input bytes, vpermb spreads the 16 groups into
// 32-bit lanes [b a c b], vpmultishiftqb pulls every 6-bit field into its own byte, and vpermb
// again looks each field up in the 64-character alphabet held in one register. The remainder
// under 64 bytes uses masked loads and stores, which never touch memory outside the mask.
// Compiled for x86-64 only; functions carry their own target attribute.

// CMake compiles this file only for its architecture; the guard keeps any other build safe.
#if defined(__x86_64__)

#include <immintrin.h>

#include <cstdint>

// GCC 12 reports _mm512_undefined_epi32()'s deliberate self-initialisation, used by the unmasked
// vpermb/vpmultishiftqb intrinsics, as maybe-uninitialized (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "avx512_tables.hpp"
#include "encoders.hpp"

namespace ximup::base64::detail {
namespace {

#define XIMUP_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vbmi"), always_inline)) inline

struct constants {
  __m512i spread;
  __m512i shifts;
  __m512i alphabet;
};

XIMUP_TARGET_AVX512 constants load_constants() {
  return {_mm512_loadu_si512(avx512::spread_index.data()),
          _mm512_set1_epi64(static_cast<long long>(avx512::field_shift_word)), _mm512_loadu_si512(alphabet)};
}

// 48 bytes (in the low 48 bytes of `in`) -> 64 characters.
XIMUP_TARGET_AVX512 __m512i encode_vector(const constants& c, __m512i in) {
  const __m512i lanes = _mm512_permutexvar_epi8(c.spread, in);
  const __m512i fields = _mm512_multishift_epi64_epi8(c.shifts, lanes);
  return _mm512_permutexvar_epi8(fields, c.alphabet);
}

XIMUP_TARGET_AVX512 void encode_block(const constants& c, char* dst, const unsigned char* src) {
  _mm512_storeu_si512(dst, encode_vector(c, _mm512_loadu_si512(src)));
}

// Low `count` bits set, count <= 64.
constexpr std::uint64_t low_mask(std::size_t count) noexcept {
  return count >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
}

#undef XIMUP_TARGET_AVX512

}  // namespace

__attribute__((target("avx512f,avx512bw,avx512vbmi"))) std::size_t encode_avx512(char* dst,
                                                                                 const unsigned char* src,
                                                                                 std::size_t n) noexcept {
  const constants c = load_constants();
  std::size_t i = 0;
  char* d = dst;
  // A block loads 64 bytes and consumes 48, so the last load of a step must end inside src.
  while (n - i >= 112) {
    encode_block(c, d, src + i);
    encode_block(c, d + 64, src + i + 48);
    i += 96;
    d += 128;
  }
  while (n - i >= 64) {
    encode_block(c, d, src + i);
    i += 48;
    d += 64;
  }
  // Whole groups left (at most 63 bytes): masked loads/stores read and write only what they own.
  while (n - i >= 3) {
    const std::size_t take = (n - i) / 3 * 3 < 48 ? (n - i) / 3 * 3 : 48;
    const std::size_t give = take / 3 * 4;
    const __m512i in = _mm512_maskz_loadu_epi8(low_mask(take), src + i);
    _mm512_mask_storeu_epi8(d, low_mask(give), encode_vector(c, in));
    i += take;
    d += give;
  }
  return static_cast<std::size_t>(d - dst) + encode_scalar(d, src + i, n - i);
}

}  // namespace ximup::base64::detail

#endif  // defined(__x86_64__)
