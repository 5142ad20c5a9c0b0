#pragma once
/// Human units on the command line: sizes ("256MiB", "10MB", "4096") and durations
/// ("10s", "500ms", "2m", "1h", a bare number is seconds). Pure.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ximup {

/// Bytes; suffixes B, K/KB (1000), KiB (1024), M/MB, MiB, G/GB, GiB; case-insensitive.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text);
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
/// "1.5 MiB" style, for messages.
[[nodiscard]] std::string format_size(std::uint64_t bytes);

}  // namespace ximup
