#pragma once
/// Reads one input file into a caller-owned buffer (the reader's "file bytes" in the memory
/// budget). Thread-safe (no shared state). Errors name the cause and what the user can do.

#include <cstdint>
#include <string>
#include <vector>

namespace ximup {

struct read_status {
  bool ok = false;
  std::string error;  ///< e.g. "cannot open: Permission denied (check the file's permissions)"
};

/// Reads the whole regular file at `path` into `buffer` (resized to the bytes read). Fails when
/// the file cannot be opened or read, is not a regular file, or is larger than `max_bytes` (also
/// when it grows past that while being read). Pass the same buffer for file after file: its
/// memory is reused. After a failure the buffer's content is unspecified.
read_status read_file(const std::string& path, std::vector<unsigned char>& buffer, std::uint64_t max_bytes);

}  // namespace ximup
