#pragma once
/// Image sniffing: format from magic bytes, pixel size from the header, without decoding pixels.
/// Pure functions; thread-safe.

#include <cstdint>
#include <optional>
#include <string_view>

namespace ximup::mock {

enum class image_format : std::uint8_t { unknown, jpeg, png, gif, webp, bmp };

/// "jpeg", "png", "gif", "webp", "bmp" or "unknown".
[[nodiscard]] std::string_view format_name(image_format format) noexcept;

/// Format from the magic bytes alone (JPEG FF D8 FF, PNG signature, GIF87a/GIF89a,
/// RIFF....WEBP, BM).
[[nodiscard]] image_format sniff_format(std::string_view bytes) noexcept;

struct image_info {
  image_format format = image_format::unknown;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

/// Format and size when `bytes` look like a decodable image: known magic bytes and a header that
/// gives a non-zero width and height. JPEG: the first SOFn segment (any APPn/COM/DQT/... segments
/// before it are skipped by their length, whatever their size); PNG: IHDR; GIF: logical screen;
/// WebP: VP8, VP8L or VP8X; BMP: BITMAPCOREHEADER or BITMAPINFOHEADER and later (a negative
/// height, top-down rows, gives its absolute value). nullopt otherwise, e.g. for a truncated header.
[[nodiscard]] std::optional<image_info> read_image_info(std::string_view bytes) noexcept;

}  // namespace ximup::mock
