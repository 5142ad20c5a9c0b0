#pragma once
// What the files a command is about to write hold now: so that no command writes over a state file,
// the results of a run (the only copy of the API's answers) or an unrelated file given by mistake.
#include <filesystem>
#include <string>
#include <string_view>

namespace ximup::cli {

/// A path as the file system sees it (symlinks and `..` resolved as far as the path exists), for
/// telling whether two names are one file; absolute and lexically normal if that fails.
std::filesystem::path resolved_path(const std::string& path);

/// A results file's first bytes (`more`: the file goes on past them): its first line one of ours (an
/// object that starts with the path and has an outcome), or only the start of one when a run was
/// stopped while writing it.
bool is_results_head(std::string_view head, bool more);

enum class file_content {
  none,          ///< no such file, or empty
  state,         ///< an SQLite database (a state file, or another program's)
  results,       ///< results of `ximup upload`
  export_lines,  ///< `ximup export` or `ximup failures` output
  summary,       ///< an upload's --summary-json
  binary,        ///< NUL bytes in its first MiB: an image, an archive... (not text)
  other,         ///< any other text
};

/// What the regular file at `path` holds, from its first bytes (none for a path that is not a
/// regular file: a directory or a device is for the caller's open to refuse).
file_content content_of(const std::string& path);

}  // namespace ximup::cli
