// The pure parts of the resize unit: the size decision, action names and format sniffing.
#include <algorithm>
#include <cstring>
#include <string_view>

#include "ximup/resize.hpp"

namespace ximup {

std::optional<dimensions> plan_resize(dimensions source, const resize_options& options) noexcept {
  if (options.target == 0 || source.width == 0 || source.height == 0) return std::nullopt;
  const bool width_is_shorter = source.width <= source.height;
  const bool scale_by_width = options.side == resize_side::shorter ? width_is_shorter : !width_is_shorter;
  const std::uint64_t chosen = scale_by_width ? source.width : source.height;
  const std::uint64_t other = scale_by_width ? source.height : source.width;
  if (chosen <= options.target) return std::nullopt;  // shorter: both sides exceed N; longer: it exceeds N
  // other * target / chosen, rounded to nearest (halves up), at least 1; 64-bit cannot overflow.
  const std::uint64_t scaled =
      std::max<std::uint64_t>(1, (2 * other * options.target + chosen) / (2 * chosen));
  const auto scaled_side = static_cast<std::uint32_t>(scaled);  // <= other, so it fits
  if (scale_by_width) return dimensions{options.target, scaled_side};
  return dimensions{scaled_side, options.target};
}

std::string_view to_string(resize_action action) noexcept {
  switch (action) {
    case resize_action::resized:
      return "resized";
    case resize_action::unchanged_disabled:
      return "unchanged_disabled";
    case resize_action::unchanged_small_file:
      return "unchanged_small_file";
    case resize_action::unchanged_fits:
      return "unchanged_fits";
    case resize_action::unchanged_not_smaller:
      return "unchanged_not_smaller";
    case resize_action::unchanged_animated:
      return "unchanged_animated";
    case resize_action::unchanged_too_large:
      return "unchanged_too_large";
    case resize_action::unchanged_unsupported_format:
      return "unchanged_unsupported_format";
    case resize_action::unchanged_undecodable:
      return "unchanged_undecodable";
    case resize_action::unchanged_error:
      return "unchanged_error";
  }
  return "unchanged_error";
}

std::string_view sniff_image_format(std::span<const unsigned char> input) noexcept {
  using namespace std::string_view_literals;
  // string_view literals keep the embedded NULs of the TIFF signatures.
  const auto starts = [&](std::size_t at, std::string_view magic) {
    return input.size() >= at + magic.size() &&
           std::memcmp(input.data() + at, magic.data(), magic.size()) == 0;
  };
  if (starts(0, "\xFF\xD8\xFF"sv)) return "jpeg";
  if (starts(0, "\x89PNG\r\n\x1A\n"sv)) return "png";
  if (starts(0, "GIF87a"sv) || starts(0, "GIF89a"sv)) return "gif";
  if (starts(0, "RIFF"sv) && starts(8, "WEBP"sv)) return "webp";
  if (starts(0, "II*\0"sv) || starts(0, "MM\0*"sv)) return "tiff";
  return "";
}

}  // namespace ximup
