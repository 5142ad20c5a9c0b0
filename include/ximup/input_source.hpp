#pragma once
/// input_source: the first stage of a run, one stream of inputs whatever they come from.
///
///   directories    the scanner (scanner.hpp): extensions and globs apply
///   --manifest     JSONL or CSV (manifest.hpp): a `path` item is stat'ed here; a `url` item becomes
///                  a `_url` record that nothing reads; extra fields ride along into the record
///   --files-from   one path a line or NUL-separated (manifest.hpp)
///
/// Every item is a scan_item: an entry to upload or an error that becomes a failed result line
/// (a bad manifest line is named "<manifest>:<line>"). Listed files are taken as given: the
/// extension and glob filters apply to directory walks only. Not thread-safe: the scan thread
/// pulls; next() blocks on the file system or the manifest stream.

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ximup/scanner.hpp"

namespace ximup {

enum class input_kind { directories, manifest, files_from };

struct input_options {
  input_kind kind = input_kind::directories;
  std::vector<std::string> roots;  ///< directories (or files) to walk
  scan_options scan;
  std::string list_path;        ///< manifest or files list; "-" is standard input
  std::string manifest_format;  ///< "jsonl" or "csv"; empty: from the extension
  bool nul_separated = false;   ///< files-from -0
  /// When set and true, reading the manifest or list ends as at its end (a stopping run must not
  /// wait for a pipe that stays silent). Must outlive the input_source.
  const std::atomic<bool>* cancel = nullptr;
  /// With `cancel`: called on the reading thread whenever the manifest or list has been silent for
  /// 200 ms (a slow producer on a pipe), so that what was read so far need not wait for more.
  std::function<void()> on_idle;
};

class input_source {
 public:
  /// Opens the manifest or list; on failure error() says why (nothing is read then).
  explicit input_source(input_options options);
  ~input_source();
  input_source(const input_source&) = delete;
  input_source& operator=(const input_source&) = delete;

  /// "" when the source opened; else what went wrong and with which file.
  [[nodiscard]] const std::string& error() const noexcept;
  /// The next input or error; nullopt at the end.
  std::optional<scan_item> next();
  /// Files skipped by extension or filter (directory walks).
  [[nodiscard]] std::uint64_t skipped() const noexcept;
  /// What a directory walk left out and why (all zero for manifests and lists).
  [[nodiscard]] scan_counters walk_counters() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup
