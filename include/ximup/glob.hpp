#pragma once
/// Glob patterns for --include / --exclude, matched against a path relative to the scanned root.
///
/// Syntax (rclone-like): `*` matches any run of characters except `/`; `**` matches anything,
/// including `/`; `?` one character except `/`; `[abc]`, `[a-z]`, `[!a-z]` a character class;
/// `\x` the literal x. A pattern without `/` is matched against the base name only; a pattern with
/// `/` is matched against the whole relative path (a leading `/` anchors it at the root and is
/// dropped). Matching is on bytes; case-sensitive. Pure; thread-safe.
/// Also: `**/` at the start of a segment matches zero or more whole directories (gitignore-like:
/// `**/*.jpg` matches `a.jpg` and `x/y/a.jpg`); a class never matches `/`; `[^...]` is `[!...]`;
/// a leading `]` in a class is literal. Matching is linear in the path length (no backtracking).

#include <string>
#include <string_view>
#include <vector>

namespace ximup {

class glob_pattern {
 public:
  /// Throws std::invalid_argument with a message naming the pattern when it is malformed
  /// (an unterminated `[` class, a trailing `\`), or longer than 1024 bytes.
  explicit glob_pattern(std::string pattern);

  /// `relative_path` uses `/` as separator and has no leading `/`.
  [[nodiscard]] bool matches(std::string_view relative_path) const noexcept;
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

 private:
  std::string text_;
  std::string pattern_;  // the pattern to match (leading '/' removed)
  bool basename_only_ = false;
};

/// Include/exclude rules: a path passes when it matches no exclude and (there are no includes or
/// it matches at least one include).
struct path_filter {
  std::vector<glob_pattern> include;
  std::vector<glob_pattern> exclude;
  [[nodiscard]] bool accepts(std::string_view relative_path) const noexcept;
};

}  // namespace ximup
