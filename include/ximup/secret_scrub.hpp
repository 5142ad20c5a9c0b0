#pragma once
/// Cutting the API token out of what a server says before any of it reaches a log or the results.
///
/// A careless server or proxy may quote the Authorization header back: in an error page, in a
/// record's field, in a redirect's Location. JSON lets it write the same characters in many ways
/// (`\/` for '/', `\u0073` for 's'), and a JSON reader of our results would turn any of them back
/// into the token, so the search is made on the text with those escapes written out.
/// Pure functions; thread-safe.

#include <string>
#include <string_view>

namespace ximup {

/// `text` with the JSON escapes that stand for printable ASCII other than `"` and `\` (`\/`,
/// `\u0020`..`\u007e`) written as the characters: as JSON, the same values. Other escapes (`\\`,
/// `\"`, `\n`, `\u00e9`, ...) are kept as they are.
[[nodiscard]] std::string unescape_printable_json(std::string_view text);

/// Whether scrub_secret(text, secret) may change `text`: `secret` is long enough to be scrubbed and
/// `text` holds it, or holds an escape it could hide behind. A cheap test before copying `text`.
[[nodiscard]] bool may_hold_secret(std::string_view text, std::string_view secret) noexcept;

/// Replaces every occurrence of `secret` in `text` with "[redacted]", also where `text` writes it
/// with escapes (then `text` becomes unescape_printable_json(text) first). Returns whether anything
/// was replaced. A `secret` shorter than 8 characters is left alone: replacing it could rewrite
/// ordinary words.
bool scrub_secret(std::string& text, std::string_view secret);

}  // namespace ximup
