#pragma once
/// JSON text helpers for the mock server, with Python's `json` leniency where it matters.
///
/// simdjson rejects lone surrogate escapes such as `\udc80`, but the real API (Python) accepts
/// them and ximup sends them for file names that are not UTF-8 (PEP 383 surrogateescape). The mock
/// therefore navigates with simdjson and validates/unescapes the strings it keeps with these
/// functions. Writing strings uses the core's escaping (`ximup/json_escape.hpp`,
/// `append_json_string`). Pure functions; thread-safe.

#include <cstddef>
#include <string>
#include <string_view>

namespace ximup::mock {

/// True when `text` is exactly one JSON value, optionally surrounded by JSON whitespace.
/// Strings may contain any escape Python's `json.loads` accepts, lone surrogates included; raw
/// control characters in strings, NaN/Infinity, leading zeros and nesting deeper than 512 levels
/// are rejected. Does not check UTF-8 (simdjson already did, for the whole body).
[[nodiscard]] bool is_valid_json_value(std::string_view text) noexcept;

/// Length of the JSON string literal that starts at `text[0]` (which must be `"`), closing quote
/// included; 0 when `text` does not start with a complete, valid string literal.
[[nodiscard]] std::size_t json_string_literal_size(std::string_view text) noexcept;

/// Unescapes the inside of a JSON string literal (the text between the quotes) into `out`
/// (replacing its contents). Lone surrogates become their 3-byte generalized UTF-8 form, as
/// Python's "surrogatepass" does. Returns false on a bad escape or a raw control character.
[[nodiscard]] bool unescape_json_string(std::string_view escaped, std::string& out);

/// Strips JSON whitespace (space, tab, CR, LF) from both ends.
[[nodiscard]] std::string_view trim_json_whitespace(std::string_view text) noexcept;

}  // namespace ximup::mock
