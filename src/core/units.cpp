#include "ximup/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace ximup {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "12.5MiB" into 12.5 and "mib"; nullopt when the number part is missing or malformed.
std::optional<std::pair<double, std::string>> split_number(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.remove_suffix(1);
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + i, value);
  if (ec != std::errc{} || end != text.data() + i || !std::isfinite(value) || value < 0) return std::nullopt;
  std::string_view unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  return std::make_pair(value, lower(unit));
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto& [value, unit] = *parts;
  double mult = 0;
  if (unit.empty() || unit == "b")
    mult = 1;
  else if (unit == "k" || unit == "kb")
    mult = 1e3;
  else if (unit == "kib")
    mult = 1024.0;
  else if (unit == "m" || unit == "mb")
    mult = 1e6;
  else if (unit == "mib")
    mult = 1024.0 * 1024.0;
  else if (unit == "g" || unit == "gb")
    mult = 1e9;
  else if (unit == "gib")
    mult = 1024.0 * 1024.0 * 1024.0;
  else
    return std::nullopt;
  const double bytes = value * mult;
  if (bytes > 9.0e18) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto& [value, unit] = *parts;
  double ms = 0;
  if (unit.empty() || unit == "s")
    ms = value * 1e3;
  else if (unit == "ms")
    ms = value;
  else if (unit == "m" || unit == "min")
    ms = value * 60e3;
  else if (unit == "h")
    ms = value * 3600e3;
  else
    return std::nullopt;
  if (ms > 3.0e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

std::string format_size(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace ximup
