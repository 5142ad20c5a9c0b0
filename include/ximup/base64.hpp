#pragma once
/// Base64 encoding (RFC 4648, standard alphabet, with padding, no line breaks) with SIMD variants
/// chosen at run time from the CPU's features. Thread-safe: the variant is chosen once, at first
/// use (or by select_variant), and the encoders are pure functions.
///
/// Every variant writes the same bytes. An encoder reads only `src[0, n)` and writes only
/// `dst[0, encoded_size(n))`, so callers may encode straight into the final place of a larger
/// buffer. Design notes and measured speeds: docs/base64.md.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace ximup::base64 {

/// Characters needed to encode `n` bytes, padding included.
constexpr std::size_t encoded_size(std::size_t n) noexcept {
  return (n + 2) / 3 * 4;
}

/// Encodes `n` bytes at `src` into `dst`, which has room for exactly `encoded_size(n)` characters
/// (no terminating NUL is written). Returns encoded_size(n). Uses the active variant.
std::size_t encode(char* dst, const void* src, std::size_t n) noexcept;

/// Name of the variant in use: "scalar", "ssse3", "avx2", "avx512" or "neon".
[[nodiscard]] std::string_view active_variant_name() noexcept;

/// The encoders. x86-64 builds hold scalar, ssse3, avx2 and avx512 (AVX-512 VBMI); ARM64 builds
/// hold scalar and neon.
enum class variant : unsigned char { scalar, ssse3, avx2, avx512, neon };

/// Every variant, in order of preference from slowest to fastest within an architecture.
inline constexpr std::array<variant, 5> all_variants{variant::scalar, variant::ssse3, variant::avx2,
                                                     variant::avx512, variant::neon};

/// The name used by XIMUP_SIMD and active_variant_name(): "scalar", "ssse3", ...
[[nodiscard]] std::string_view variant_name(variant v) noexcept;

/// True when `v` is compiled into this binary and this CPU (and OS) can run it.
[[nodiscard]] bool supported(variant v) noexcept;

/// The fastest supported variant on this machine.
[[nodiscard]] variant best_variant() noexcept;

/// Encodes like encode() but with variant `v`. Precondition: supported(v); an unsupported `v`
/// falls back to scalar rather than running instructions the CPU lacks.
std::size_t encode_with(variant v, char* dst, const void* src, std::size_t n) noexcept;

/// Outcome of choosing a variant: `error` is empty on success, else a one-line message for the
/// user (the CLI prints it and exits with status 2).
struct variant_choice {
  variant chosen = variant::scalar;
  std::string error;
};

/// Interprets a XIMUP_SIMD value without changing anything: "" or "auto" picks best_variant();
/// a variant name picks it when supported(); anything else is an error naming the valid choices.
[[nodiscard]] variant_choice choose_variant(std::string_view request);

/// Reads the environment variable XIMUP_SIMD, chooses with choose_variant and, on success, makes
/// the choice the variant used by encode(). Returns the error text, empty on success; on error the
/// active variant is unchanged. Call at startup, before encoding threads start.
[[nodiscard]] std::string select_variant();

}  // namespace ximup::base64
