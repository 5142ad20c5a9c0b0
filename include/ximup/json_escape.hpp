#pragma once
/// JSON string escaping for byte strings that may not be valid UTF-8.
///
/// Contract: a path on Linux is a string of bytes. ximup writes it into JSON (the `_id` sent to
/// the API, `path` in results) reversibly, the way Python's `os.fsdecode` does (PEP 383
/// "surrogateescape"): valid UTF-8 sequences pass through unchanged, `"` and `\` are escaped,
/// control characters (< 0x20, and 0x7F) become `\u00XX`, and every byte that is not part of a
/// valid UTF-8 sequence (stray continuation bytes, overlong forms, encoded surrogates, code points
/// above U+10FFFF, truncated sequences) becomes the lone surrogate escape `\udcXX`, where XX is the
/// byte. `json.loads(s).encode("utf-8", "surrogateescape")` in Python gives the original bytes back;
/// `decode_surrogateescape` below does the same in C++.
/// Pure functions; thread-safe.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ximup {

/// Appends `bytes` as a quoted JSON string (with the surrounding `"`) to `out`.
void append_json_string(std::string& out, std::string_view bytes);

/// Returns `bytes` as a quoted JSON string.
[[nodiscard]] std::string json_string(std::string_view bytes);

/// The number of bytes `append_json_string` appends for `bytes` (for exact buffer sizing).
[[nodiscard]] std::size_t json_string_size(std::string_view bytes) noexcept;

/// True when `bytes` is entirely valid UTF-8.
[[nodiscard]] bool is_valid_utf8(std::string_view bytes) noexcept;

/// Inverse of the escaping above applied to an already *unescaped* JSON string value as a parser
/// returns it (UTF-8, in which lone surrogates U+DC80..U+DCFF appear as the 3-byte sequences
/// ED B2 80..ED B3 BF): maps each such sequence back to the single byte 0x80..0xFF.
[[nodiscard]] std::string decode_surrogateescape(std::string_view utf8ish);

/// Parses one JSON string token exactly as it stands in a document, quotes included (e.g. a
/// simdjson on-demand `raw_json_token()` with trailing whitespace removed), and returns the bytes
/// it stands for: escapes are undone, surrogate pairs become UTF-8, and each lone `\udc80`..`\udcff`
/// becomes the single byte 0x80..0xFF, so `parse_json_string_token(json_string(b)) == b` for every
/// byte string b. Any other lone surrogate is kept in its 3-byte generalized UTF-8 form. Raw bytes
/// other than control characters are copied unchanged (not checked as UTF-8). nullopt when `token`
/// is not exactly one valid JSON string (missing quote, raw control character, bad escape).
/// Needed because simdjson 3.0.1 rejects lone surrogates (`"\udc80"` is a STRING_ERROR there), so
/// strings written by append_json_string for non-UTF-8 bytes cannot go through its get_string().
[[nodiscard]] std::optional<std::string> parse_json_string_token(std::string_view token);

}  // namespace ximup
