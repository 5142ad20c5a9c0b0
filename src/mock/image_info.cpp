// Image format sniffing and header-only size reading.
#include "ximup/mock/image_info.hpp"

#include <cstddef>

namespace ximup::mock {
namespace {

using bytes_view = std::string_view;

std::uint32_t u8(bytes_view b, std::size_t i) noexcept {
  return static_cast<unsigned char>(b[i]);
}
std::uint32_t be16(bytes_view b, std::size_t i) noexcept {
  return (u8(b, i) << 8) | u8(b, i + 1);
}
std::uint32_t le16(bytes_view b, std::size_t i) noexcept {
  return u8(b, i) | (u8(b, i + 1) << 8);
}
std::uint32_t le24(bytes_view b, std::size_t i) noexcept {
  return le16(b, i) | (u8(b, i + 2) << 16);
}
std::uint32_t be32(bytes_view b, std::size_t i) noexcept {
  return (be16(b, i) << 16) | be16(b, i + 2);
}
std::uint32_t le32(bytes_view b, std::size_t i) noexcept {
  return le16(b, i) | (le16(b, i + 2) << 16);
}

bool is_sof(std::uint32_t marker) noexcept {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

std::optional<image_info> make(image_format f, std::uint32_t w, std::uint32_t h) noexcept {
  if (w == 0 || h == 0) {
    return std::nullopt;
  }
  return image_info{f, w, h};
}

std::optional<image_info> jpeg_info(bytes_view b) noexcept {
  std::size_t pos = 2;  // after SOI
  const std::size_t n = b.size();
  for (;;) {
    // Tolerate stray bytes between segments (libjpeg warns and resyncs), then fill bytes.
    while (pos < n && u8(b, pos) != 0xFF) {
      ++pos;
    }
    while (pos < n && u8(b, pos) == 0xFF) {
      ++pos;
    }
    if (pos >= n) {
      return std::nullopt;
    }
    const std::uint32_t marker = u8(b, pos++);
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      continue;  // no length
    }
    if (marker == 0xD9 || marker == 0xDA) {
      return std::nullopt;  // EOI or scan before any frame header
    }
    if (pos + 2 > n) {
      return std::nullopt;
    }
    const std::uint32_t length = be16(b, pos);
    if (length < 2) {
      return std::nullopt;
    }
    if (is_sof(marker)) {
      if (length < 8 || pos + 7 > n) {
        return std::nullopt;
      }
      return make(image_format::jpeg, be16(b, pos + 5), be16(b, pos + 3));
    }
    pos += length;
  }
}

std::optional<image_info> png_info(bytes_view b) noexcept {
  if (b.size() < 24 || b.substr(12, 4) != "IHDR") {
    return std::nullopt;
  }
  const std::uint32_t w = be32(b, 16);
  const std::uint32_t h = be32(b, 20);
  if (w > 0x7FFFFFFFU || h > 0x7FFFFFFFU) {
    return std::nullopt;
  }
  return make(image_format::png, w, h);
}

std::optional<image_info> gif_info(bytes_view b) noexcept {
  if (b.size() < 10) {
    return std::nullopt;
  }
  return make(image_format::gif, le16(b, 6), le16(b, 8));
}

std::optional<image_info> webp_info(bytes_view b) noexcept {
  if (b.size() < 20) {
    return std::nullopt;
  }
  const bytes_view chunk = b.substr(12, 4);
  if (chunk == "VP8 ") {
    if (b.size() < 30 || u8(b, 23) != 0x9D || u8(b, 24) != 0x01 || u8(b, 25) != 0x2A) {
      return std::nullopt;
    }
    return make(image_format::webp, le16(b, 26) & 0x3FFF, le16(b, 28) & 0x3FFF);
  }
  if (chunk == "VP8L") {
    if (b.size() < 25 || u8(b, 20) != 0x2F) {
      return std::nullopt;
    }
    const std::uint32_t bits = le32(b, 21);
    return make(image_format::webp, (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
  }
  if (chunk == "VP8X") {
    if (b.size() < 30) {
      return std::nullopt;
    }
    return make(image_format::webp, le24(b, 24) + 1, le24(b, 27) + 1);
  }
  return std::nullopt;
}

std::optional<image_info> bmp_info(bytes_view b) noexcept {
  if (b.size() < 18) {
    return std::nullopt;
  }
  const std::uint32_t dib = le32(b, 14);
  if (dib == 12) {  // BITMAPCOREHEADER: 16-bit unsigned sizes
    if (b.size() < 22) {
      return std::nullopt;
    }
    return make(image_format::bmp, le16(b, 18), le16(b, 20));
  }
  if (dib < 16 || dib > 1024 || b.size() < 26) {
    return std::nullopt;
  }
  // BITMAPINFOHEADER and later (and OS/2 2.x): signed 32-bit sizes, negative height = top-down.
  const std::uint32_t w = le32(b, 18);
  std::uint32_t h = le32(b, 22);
  if (w >= 0x80000000U) {
    return std::nullopt;
  }
  if (h >= 0x80000000U) {
    if (h == 0x80000000U) {
      return std::nullopt;
    }
    h = ~h + 1;  // two's complement magnitude
  }
  return make(image_format::bmp, w, h);
}

}  // namespace

std::string_view format_name(image_format format) noexcept {
  switch (format) {
    case image_format::jpeg:
      return "jpeg";
    case image_format::png:
      return "png";
    case image_format::gif:
      return "gif";
    case image_format::webp:
      return "webp";
    case image_format::bmp:
      return "bmp";
    case image_format::unknown:
      break;
  }
  return "unknown";
}

image_format sniff_format(std::string_view b) noexcept {
  if (b.size() >= 3 && u8(b, 0) == 0xFF && u8(b, 1) == 0xD8 && u8(b, 2) == 0xFF) {
    return image_format::jpeg;
  }
  if (b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
    return image_format::png;
  }
  if (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a") {
    return image_format::gif;
  }
  if (b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
    return image_format::webp;
  }
  if (b.substr(0, 2) == "BM") {
    return image_format::bmp;
  }
  return image_format::unknown;
}

std::optional<image_info> read_image_info(std::string_view bytes) noexcept {
  switch (sniff_format(bytes)) {
    case image_format::jpeg:
      return jpeg_info(bytes);
    case image_format::png:
      return png_info(bytes);
    case image_format::gif:
      return gif_info(bytes);
    case image_format::webp:
      return webp_info(bytes);
    case image_format::bmp:
      return bmp_info(bytes);
    case image_format::unknown:
      break;
  }
  return std::nullopt;
}

}  // namespace ximup::mock
