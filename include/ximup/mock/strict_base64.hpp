#pragma once
/// Strict base64 decoding (RFC 4648 standard alphabet, padding required, no whitespace, no line
/// breaks, non-canonical trailing bits rejected) as the mock's check of what clients send.
/// Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace ximup::mock {

/// Strips a `data:<media type>;base64,` prefix (e.g. `data:image/jpeg;base64,`) when present;
/// otherwise returns `text` unchanged.
[[nodiscard]] std::string_view strip_data_url_prefix(std::string_view text) noexcept;

/// Decodes `text` into `out` (replacing its contents). Returns false, with `out` unspecified,
/// when `text` is not strict base64: length not a multiple of 4, a character outside the
/// alphabet, `=` anywhere but the last one or two positions, or non-zero bits under the padding.
/// The empty string is valid and decodes to nothing.
[[nodiscard]] bool decode_base64_strict(std::string_view text, std::string& out);

}  // namespace ximup::mock
