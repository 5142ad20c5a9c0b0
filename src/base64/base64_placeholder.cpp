// Temporary scalar encoder until the SIMD work lands.
#include "ximup/base64.hpp"
namespace ximup::base64 {
namespace {
constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}
std::size_t encode(char* dst, const void* src, std::size_t n) noexcept {
  const auto* s = static_cast<const unsigned char*>(src);
  std::size_t i = 0;
  char* d = dst;
  for (; i + 3 <= n; i += 3) {
    const unsigned v = (unsigned{s[i]} << 16U) | (unsigned{s[i + 1]} << 8U) | s[i + 2];
    *d++ = alphabet[(v >> 18U) & 63U];
    *d++ = alphabet[(v >> 12U) & 63U];
    *d++ = alphabet[(v >> 6U) & 63U];
    *d++ = alphabet[v & 63U];
  }
  if (i < n) {
    const unsigned v = (unsigned{s[i]} << 16U) | (i + 1 < n ? unsigned{s[i + 1]} << 8U : 0U);
    *d++ = alphabet[(v >> 18U) & 63U];
    *d++ = alphabet[(v >> 12U) & 63U];
    *d++ = i + 1 < n ? alphabet[(v >> 6U) & 63U] : '=';
    *d++ = '=';
  }
  return static_cast<std::size_t>(d - dst);
}
std::string_view active_variant_name() noexcept { return "scalar"; }
}  // namespace ximup::base64
