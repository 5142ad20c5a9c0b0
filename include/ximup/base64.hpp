#pragma once
/// Base64 encoding (RFC 4648, standard alphabet, with padding, no line breaks) with SIMD variants
/// chosen at run time from the CPU's features. Thread-safe: the variant is chosen once, at first
/// use (or by select_variant), and the encoders are pure functions.

#include <cstddef>
#include <string>
#include <string_view>

namespace ximup::base64 {

/// Characters needed to encode `n` bytes, padding included.
constexpr std::size_t encoded_size(std::size_t n) noexcept { return (n + 2) / 3 * 4; }

/// Encodes `n` bytes at `src` into `dst`, which has room for exactly `encoded_size(n)` characters
/// (no terminating NUL is written). Returns encoded_size(n). Uses the active variant.
std::size_t encode(char* dst, const void* src, std::size_t n) noexcept;

/// Name of the variant in use: "scalar", "ssse3", "avx2", "avx512" or "neon".
[[nodiscard]] std::string_view active_variant_name() noexcept;

}  // namespace ximup::base64
