#pragma once
/// Logging setup: spdlog's default logger to stderr, as text or JSON lines, and optionally a file.
///
///   text:  [2026-11-29 16:00:00.123] [info] message            (local time, colours on a terminal)
///   json:  {"time":"2026-11-29T16:00:00.123Z","level":"info","message":"..."}   (UTC)
///
/// In JSON every message is escaped with json_string (json_escape.hpp), so each record is exactly
/// one line of valid JSON whatever bytes the message holds (quotes, newlines, control characters,
/// invalid UTF-8 as `\udcXX`). Level names are spdlog's: trace, debug, info, warning, error,
/// critical. A log file gets the same format (text without colours), is appended to, and is
/// flushed after every record.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <spdlog/common.h>
#include <spdlog/formatter.h>

namespace ximup {

enum class log_format { text, json };

struct log_options {
  spdlog::level::level_enum level = spdlog::level::info;
  log_format format = log_format::text;
  std::optional<std::string> file;  ///< --log-file: also write records here
};

/// "text" or "json".
[[nodiscard]] std::optional<log_format> parse_log_format(std::string_view text);
/// "trace", "debug", "info", "warn" (or "warning"), "error", "critical", "off".
[[nodiscard]] std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

/// The formatter that writes one record as one line in `format` (a newline included). In text the
/// level is marked as spdlog's colour range (colour sinks colour it, others ignore the mark).
/// A formatter is used by one sink under that sink's lock; clone() for another sink.
[[nodiscard]] std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format);

/// Replaces spdlog's default logger with one for `options`. Returns "" on success, or an error
/// naming the log file that cannot be opened (the default logger is then left unchanged).
/// Call at startup, before other threads log (spdlog's registry is thread-safe, but records logged
/// while the logger is swapped may go to either logger). Blocks only to open the file.
[[nodiscard]] std::string configure_logging(const log_options& options);

}  // namespace ximup
