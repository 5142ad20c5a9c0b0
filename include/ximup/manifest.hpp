#pragma once
/// Inputs beyond directories: a manifest (`--manifest FILE`) or a list of files (`--files-from FILE`).
///
/// Both readers pull a stream piece by piece (64 KiB reads): memory is one line (one CSV record),
/// never the file. Each next() returns one entry: an item to upload, or a bad line with its
/// number and why. A bad line never stops reading; only a `fatal` error does (a read error, or a
/// CSV header that cannot be used), after which next() returns nullopt.
///
/// Manifest formats:
/// - jsonl: one JSON object per line, with `path` or `url` (a string; not both), optional `_id`
///   (a string), and any other members, copied as they are (minified) into the record sent to
///   the API. JSON text is UTF-8; a path of other bytes is written with the `\udcXX` escapes of
///   json_escape.hpp (as ximup's own results write it). Blank lines are skipped.
/// - csv: RFC 4180. The first record is the header naming the columns; a `path` or `url` column
///   (or both: then each row fills exactly one), an optional `_id` column; every other column
///   becomes a string field. Quoted fields may hold commas, doubled quotes and line breaks (kept
///   as they are, CRLF included). Blank lines are skipped; a row with another number of columns
///   than the header is a bad line. Cells are bytes (any encoding), escaped for JSON with
///   json_string.
/// Both: a UTF-8 byte order mark at the start is skipped; a line may end in "\n" or "\r\n".
/// Column and field names `_base64` and `_url` are refused (ximup writes those itself).
/// A path must not be empty or hold a NUL byte; a url must start with http:// or https://.
///
/// Files list (files_from_reader): one path per line ("\n"; a trailing "\r" is stripped, a UTF-8
/// byte order mark at the start is skipped), or NUL-separated (`-0`, as `find -print0` writes;
/// nothing stripped, so names may hold newlines). Empty entries are skipped. Paths are bytes.
///
/// The `id` of an item is its `_id` when given, otherwise the path exactly as written (relative
/// paths stay relative, "./a.jpg" stays "./a.jpg") or the url.
///
/// Readers are not thread-safe (one thread pulls); they do not own the stream (the caller opens
/// it, "-" meaning standard input, and closes it). next() blocks on the stream's reads.

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace ximup {

enum class manifest_format { jsonl, csv };

/// From the extension, case-insensitive: .jsonl, .ndjson, .json -> jsonl; .csv -> csv; else nullopt
/// (e.g. "-": the format must then be given).
[[nodiscard]] std::optional<manifest_format> manifest_format_from_path(std::string_view path);
/// "jsonl" (also "ndjson", "json") or "csv".
[[nodiscard]] std::optional<manifest_format> parse_manifest_format(std::string_view name);

struct manifest_item {
  std::uint64_t line_number =
      0;             ///< 1-based; for CSV the line where the record starts; for NUL lists the entry number
  std::string path;  ///< bytes, as written; empty for a url item
  std::string url;   ///< empty for a path item
  std::string id;    ///< `_id`, or the path as written, or the url
  /// The other fields as JSON members, each with a leading comma, ready to splice into the record
  /// after its own members: `,"label":"cat","meta":{"a":1}`. Empty when there are none.
  std::string extra_fields_json;
  [[nodiscard]] bool is_url() const noexcept { return !url.empty(); }
};

struct manifest_error {
  std::uint64_t line_number = 0;  ///< 0 when no line is to blame (a read error)
  std::string message;            ///< e.g. "neither path nor url", "row has 3 columns, the header has 4"
  bool fatal = false;             ///< nothing more can be read
};

using manifest_entry = std::variant<manifest_item, manifest_error>;

struct manifest_limits {
  /// A longer line (CSV: record) is a bad line, skipped without being held in memory.
  std::size_t max_line_bytes = 1U << 20U;
};

/// A stream, not owned: a FILE* (read with fread) or a file descriptor (read with read(2)).
class input_stream {
 public:
  explicit input_stream(std::FILE* file) noexcept : file_(file) {}
  /// A descriptor; with `cancel`, reads wait for data in slices of 200 ms and end the stream (as
  /// at its end) once *cancel is true: a stopping run is not held by a pipe that stays silent.
  /// `on_idle` (with `cancel`) is called after each silent slice, on the reading thread.
  explicit input_stream(int fd, const std::atomic<bool>* cancel = nullptr,
                        std::function<void()> on_idle = {}) noexcept
      : fd_(fd), cancel_(cancel), on_idle_(std::move(on_idle)) {}
  /// Reads up to `size` bytes; 0 at the end; -1 on error (errno set).
  [[nodiscard]] long read(char* data, std::size_t size) const;

 private:
  std::FILE* file_ = nullptr;
  int fd_ = -1;
  const std::atomic<bool>* cancel_ = nullptr;
  std::function<void()> on_idle_;
};

class manifest_reader {
 public:
  manifest_reader(input_stream in, manifest_format format, manifest_limits limits = {});
  ~manifest_reader();
  manifest_reader(manifest_reader&&) noexcept;
  manifest_reader& operator=(manifest_reader&&) noexcept;

  /// The next item or bad line; nullopt at the end of the stream or after a fatal error.
  [[nodiscard]] std::optional<manifest_entry> next();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

class files_from_reader {
 public:
  files_from_reader(input_stream in, bool nul_separated, manifest_limits limits = {});
  ~files_from_reader();
  files_from_reader(files_from_reader&&) noexcept;
  files_from_reader& operator=(files_from_reader&&) noexcept;

  /// The next path (as a manifest_item with `path` and `id` set) or a bad line (too long, NUL in
  /// a line); nullopt at the end or after a fatal read error.
  [[nodiscard]] std::optional<manifest_entry> next();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Pure parsing of single lines, for tests and for callers with their own framing.
/// One JSONL line (without its line break) -> item or error (line_number as given).
[[nodiscard]] manifest_entry parse_jsonl_line(std::string_view line, std::uint64_t line_number);

}  // namespace ximup
