#pragma once
/// Reads one input file into a caller-owned buffer (the reader's "file bytes" in the memory
/// budget). Thread-safe (no shared state). Errors name the cause and what the user can do.

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ximup {

struct read_status {
  bool ok = false;
  std::string error;  ///< e.g. "cannot open: Permission denied (check the file's permissions)"
  /// The failure may go away by itself: the file changed while it was read (still being written?).
  bool changed = false;
  /// The file's size and modification time when it was opened (set when ok): the facts of the
  /// bytes read, which may be newer than the scan's.
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

/// What the scan saw of a file. A file that is no longer so when it is opened is not read: one of
/// another size or modification time (being written since: its bytes so far would be sent as the
/// file) fails as `changed`; with `no_follow`, a symbolic link put in its place is refused instead
/// of followed (a link swapped in after the scan must not send the file it points to). O_NOFOLLOW
/// covers the last component only: a directory above it swapped for a link is followed, and only
/// the size and mtime check stands in the way of a file there.
struct scanned_file {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  bool no_follow = false;
};

/// Reads the whole regular file at `path` into `buffer` (resized to the bytes read). Fails when
/// the file cannot be opened or read, is not a regular file, or is larger than `max_bytes` (also
/// when it grows past that while being read), and with `changed` set when its size or modification
/// time changed while it was read (a file still being written: rclone's "source file is being
/// updated"), so that half a file is never taken for the file. Pass the same buffer for file after file: its
/// memory is reused. After a failure the buffer's content is unspecified.
read_status read_file(const std::string& path, std::vector<unsigned char>& buffer, std::uint64_t max_bytes,
                      const std::optional<scanned_file>& scanned = std::nullopt);

/// Reads the regular file at `path` piece by piece through `buffer` (not empty), calling `piece`
/// for each: every piece but the last fills the buffer, so with a buffer of a multiple of 3 bytes
/// the base64 of the pieces, one after another, is the base64 of the file. An empty file gives no
/// piece. Checks and errors as read_file's; after a failure, what the pieces given so far were used
/// for is the caller's to undo. (The pipeline encodes each piece while it is still in cache.)
read_status stream_file(const std::string& path, std::span<unsigned char> buffer, std::uint64_t max_bytes,
                        const std::function<void(std::span<const unsigned char>)>& piece,
                        const std::optional<scanned_file>& scanned = std::nullopt);

}  // namespace ximup
