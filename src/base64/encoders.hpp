#pragma once
// Private to ximup_base64: the per-variant encoders behind the dispatch in base64.cpp.
// Each one has the contract of ximup::base64::encode (reads src[0, n), writes exactly
// encoded_size(n) characters) and must only be called when the CPU supports it.

#include <cstddef>

namespace ximup::base64::detail {

using encode_fn = std::size_t (*)(char* dst, const unsigned char* src, std::size_t n) noexcept;

inline constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Table-driven scalar encoder; the SIMD encoders finish their last bytes with it.
std::size_t encode_scalar(char* dst, const unsigned char* src, std::size_t n) noexcept;

#if defined(__x86_64__)
std::size_t encode_ssse3(char* dst, const unsigned char* src, std::size_t n) noexcept;
std::size_t encode_avx2(char* dst, const unsigned char* src, std::size_t n) noexcept;
std::size_t encode_avx512(char* dst, const unsigned char* src, std::size_t n) noexcept;
#endif

#if defined(__aarch64__)
std::size_t encode_neon(char* dst, const unsigned char* src, std::size_t n) noexcept;
#endif

}  // namespace ximup::base64::detail
