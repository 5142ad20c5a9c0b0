#pragma once
/// Scanner: walks input trees as a stream, one entry at a time.
///
/// Memory: holds one open directory handle per level of the current path (never the listing of a
/// whole tree, never a whole directory's names). Not thread-safe: one thread calls next().
/// Order is the file system's readdir order. Paths are bytes (no UTF-8 assumption).
/// Descriptors: one per level of the current path; a tree deeper than the free descriptors gives
/// "cannot open directory: Too many open files" errors for the deeper directories, and the walk
/// goes on. Roots are always followed when they are symbolic links; a root that is a file passes
/// the same extension and filter checks (on its base name). Fifos, sockets and devices found in a
/// tree are ignored (not counted). Directories are not pruned by the filter: it applies to files.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ximup/glob.hpp"

namespace ximup {

struct scan_options {
  /// Lower-case extensions without the dot; a file passes when its extension, compared
  /// case-insensitively, is in the list. Empty list: every regular file passes.
  std::vector<std::string> extensions = default_extensions();
  path_filter filter;
  /// Follow symbolic links to files and directories; directory loops (a directory that is its own
  /// ancestor by device and inode) are detected, reported as an error item, and not entered.
  bool follow_symlinks = false;

  static std::vector<std::string> default_extensions() {
    return {"jpg", "jpeg", "jpe", "png", "gif", "webp", "bmp", "tif", "tiff"};
  }
};

/// One regular file to upload.
struct scan_entry {
  std::string path;  ///< path to open: the root as given joined with the relative path
  std::string id;    ///< path relative to the root it was found under ('/'-separated); for a
                     ///< root that is itself a file, its base name
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  ///< modification time, nanoseconds since the epoch
  /// SHA-256 of the content; only set by the pipeline in --checksum mode (the scanner never reads files).
  std::optional<std::array<std::uint8_t, 32>> content_hash;
  /// Manifest inputs only (the scanner leaves both empty):
  std::string url;           ///< a url item: sent as `_url`, nothing is read (path holds the url too)
  std::string extra_fields;  ///< fields copied into the record: JSON members, each with a leading comma
  /// The input's key in the state store, set by the pipeline when it looks the input up (empty
  /// without a state store; the scanner never sets it).
  std::string state_key;
  /// Found by a walk that does not follow symbolic links: the file is opened with O_NOFOLLOW, so
  /// that a link put in its place after the scan is refused, not followed.
  bool no_follow = false;
};

/// Something that could not be scanned: an unreadable directory, a file that vanished between
/// readdir and stat, a symlink loop. The scan goes on after it.
struct scan_error {
  std::string path;
  std::string message;  ///< what happened, e.g. "cannot open directory: Permission denied"
  bool fatal = false;   ///< nothing more can be read from the list (a CSV header without path or url)
};

struct scan_item {
  std::optional<scan_entry> entry;  ///< set for a file
  std::optional<scan_error> error;  ///< set for an error
};

struct scan_counters {
  std::uint64_t files = 0;               ///< entries returned
  std::uint64_t skipped = 0;             ///< regular files skipped by extension or filter
  std::uint64_t links_not_followed = 0;  ///< symbolic links left alone (no --follow-symlinks)
  std::uint64_t not_regular = 0;         ///< FIFOs, sockets, devices: never read
  std::uint64_t errors = 0;
  std::uint64_t directories = 0;  ///< directories entered
};

class scanner {
 public:
  /// Roots may be directories or regular files. A root that does not exist or cannot be read is
  /// reported as an error item when reached (callers validate roots up front for exit code 4).
  scanner(std::vector<std::string> roots, scan_options options);
  ~scanner();
  scanner(const scanner&) = delete;
  scanner& operator=(const scanner&) = delete;

  /// The next file or error; nullopt when every root is done.
  std::optional<scan_item> next();
  [[nodiscard]] const scan_counters& counters() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup
