// NEON encoder (ARM64 only, where Advanced SIMD is baseline): vld3q de-interleaves 48 bytes into
// the a, b and c bytes of 16 groups, shifts and shift-inserts form the four 6-bit fields, one
// four-register tbl looks all 64 alphabet characters up, and vst4q interleaves 64 characters.

// CMake compiles this file only for its architecture; the guard keeps any other build safe.
#if defined(__aarch64__)

#include <arm_neon.h>

#include <cstdint>

#include "encoders.hpp"

namespace ximup::base64::detail {
namespace {

struct tables {
  uint8x16x4_t alphabet;
  uint8x16_t low6;
};

tables load_tables() noexcept {
  const auto* a = reinterpret_cast<const std::uint8_t*>(alphabet);
  return {{{vld1q_u8(a), vld1q_u8(a + 16), vld1q_u8(a + 32), vld1q_u8(a + 48)}}, vdupq_n_u8(63)};
}

// 48 bytes -> 64 characters.
inline void encode_block(const tables& t, char* dst, const unsigned char* src) noexcept {
  const uint8x16x3_t in = vld3q_u8(src);
  uint8x16x4_t fields;
  fields.val[0] = vshrq_n_u8(in.val[0], 2);
  // vsli: (a << 4) | (b >> 4), then drop a's top bits.
  fields.val[1] = vandq_u8(vsliq_n_u8(vshrq_n_u8(in.val[1], 4), in.val[0], 4), t.low6);
  fields.val[2] = vandq_u8(vsliq_n_u8(vshrq_n_u8(in.val[2], 6), in.val[1], 2), t.low6);
  fields.val[3] = vandq_u8(in.val[2], t.low6);
  uint8x16x4_t out;
  out.val[0] = vqtbl4q_u8(t.alphabet, fields.val[0]);
  out.val[1] = vqtbl4q_u8(t.alphabet, fields.val[1]);
  out.val[2] = vqtbl4q_u8(t.alphabet, fields.val[2]);
  out.val[3] = vqtbl4q_u8(t.alphabet, fields.val[3]);
  vst4q_u8(reinterpret_cast<std::uint8_t*>(dst), out);
}

}  // namespace

std::size_t encode_neon(char* dst, const unsigned char* src, std::size_t n) noexcept {
  const tables t = load_tables();
  std::size_t i = 0;
  char* d = dst;
  while (n - i >= 96) {
    encode_block(t, d, src + i);
    encode_block(t, d + 64, src + i + 48);
    i += 96;
    d += 128;
  }
  if (n - i >= 48) {
    encode_block(t, d, src + i);
    i += 48;
    d += 64;
  }
  return static_cast<std::size_t>(d - dst) + encode_scalar(d, src + i, n - i);
}

}  // namespace ximup::base64::detail

#endif  // defined(__aarch64__)
