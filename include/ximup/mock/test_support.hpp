#pragma once
/// Helpers for tests that drive ximup-mock: a base64 encoder independent of ximup's, minimal
/// image headers of every format the mock sniffs, and request bodies. Header-only; pure.
/// The images are headers plus filler, enough for the mock (it reads sizes, never pixels).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ximup::mock::testing {

/// Standard base64 with padding (RFC 4648).
inline std::string encode_base64(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  const auto byte = [&bytes](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int s = 18; s >= 0; s -= 6) {
      out.push_back(alphabet[(v >> s) & 0x3F]);
    }
  }
  if (i + 1 == bytes.size()) {
    const std::uint32_t v = byte(i) << 16;
    out.push_back(alphabet[(v >> 18) & 0x3F]);
    out.push_back(alphabet[(v >> 12) & 0x3F]);
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const std::uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out.push_back(alphabet[(v >> 18) & 0x3F]);
    out.push_back(alphabet[(v >> 12) & 0x3F]);
    out.push_back(alphabet[(v >> 6) & 0x3F]);
    out.push_back('=');
  }
  return out;
}

namespace detail {
inline void put_be16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
  s.push_back(static_cast<char>(v & 0xFF));
}
inline void put_be32(std::string& s, std::uint32_t v) {
  put_be16(s, v >> 16);
  put_be16(s, v & 0xFFFF);
}
inline void put_le16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
inline void put_le32(std::string& s, std::uint32_t v) {
  put_le16(s, v & 0xFFFF);
  put_le16(s, v >> 16);
}
}  // namespace detail

/// PNG signature + IHDR (+ a filler IDAT and IEND; CRCs are zero, the mock does not check them).
inline std::string make_png(std::uint32_t width, std::uint32_t height) {
  std::string s("\x89PNG\r\n\x1a\n", 8);
  detail::put_be32(s, 13);
  s += "IHDR";
  detail::put_be32(s, width);
  detail::put_be32(s, height);
  s += std::string("\x08\x02\x00\x00\x00", 5);
  detail::put_be32(s, 0);
  detail::put_be32(s, 4);
  s += "IDATabcd";
  detail::put_be32(s, 0);
  detail::put_be32(s, 0);
  s += "IEND";
  detail::put_be32(s, 0);
  return s;
}

/// JPEG: SOI, an APP1 segment of `app_bytes` payload bytes, a COM segment, then SOFn (`sof` is the
/// marker's low byte: 0xC0 baseline, 0xC1, 0xC2 progressive), then filler and EOI.
inline std::string make_jpeg(std::uint32_t width, std::uint32_t height, std::uint8_t sof = 0xC0,
                             std::size_t app_bytes = 16) {
  std::string s("\xFF\xD8", 2);
  std::size_t left = app_bytes;
  do {  // segments hold at most 65533 payload bytes: split a large APP1 into several
    const std::size_t n = left > 65533 ? 65533 : left;
    s += std::string("\xFF\xE1", 2);
    detail::put_be16(s, static_cast<std::uint32_t>(n + 2));
    s += std::string(n, '\xFF');  // 0xFF payload bytes: a naive marker scan would trip on them
    left -= n;
  } while (left > 0);
  s += std::string("\xFF\xFE", 2);
  detail::put_be16(s, 2 + 7);
  s += "comment";
  s.push_back('\xFF');
  s.push_back(static_cast<char>(sof));
  detail::put_be16(s, 8 + 3 * 3);
  s.push_back(8);
  detail::put_be16(s, height);
  detail::put_be16(s, width);
  s.push_back(3);
  s += std::string("\x01\x22\x00\x02\x11\x01\x03\x11\x01", 9);
  s += std::string("\xFF\xDA\x00\x02", 4);
  s += "scan data";
  s += std::string("\xFF\xD9", 2);
  return s;
}

/// GIF89a logical screen descriptor.
inline std::string make_gif(std::uint32_t width, std::uint32_t height) {
  std::string s = "GIF89a";
  detail::put_le16(s, width);
  detail::put_le16(s, height);
  s += std::string("\x00\x00\x00", 3);
  s += ";";
  return s;
}

/// WebP with a `kind` chunk: "VP8 " (lossy), "VP8L" (lossless) or "VP8X" (extended).
inline std::string make_webp(std::uint32_t width, std::uint32_t height, std::string_view kind = "VP8 ") {
  std::string chunk;
  if (kind == "VP8 ") {
    chunk = std::string("\x10\x02\x00\x9D\x01\x2A", 6);
    detail::put_le16(chunk, width & 0x3FFF);
    detail::put_le16(chunk, height & 0x3FFF);
  } else if (kind == "VP8L") {
    chunk.push_back('\x2F');
    detail::put_le32(chunk, ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14));
  } else {
    chunk = std::string("\x00\x00\x00\x00", 4);
    const std::uint32_t w = width - 1;
    const std::uint32_t h = height - 1;
    chunk += std::string{static_cast<char>(w & 0xFF), static_cast<char>((w >> 8) & 0xFF),
                         static_cast<char>((w >> 16) & 0xFF)};
    chunk += std::string{static_cast<char>(h & 0xFF), static_cast<char>((h >> 8) & 0xFF),
                         static_cast<char>((h >> 16) & 0xFF)};
  }
  chunk += "filler..";
  std::string s = "RIFF";
  detail::put_le32(s, static_cast<std::uint32_t>(4 + 8 + chunk.size()));
  s += "WEBP";
  s += kind;
  detail::put_le32(s, static_cast<std::uint32_t>(chunk.size()));
  s += chunk;
  return s;
}

/// BMP with a BITMAPINFOHEADER (`height` negative: top-down rows), or a BITMAPCOREHEADER.
inline std::string make_bmp(std::int32_t width, std::int32_t height, bool core = false) {
  std::string s = "BM";
  detail::put_le32(s, 0);
  detail::put_le32(s, 0);
  detail::put_le32(s, core ? 26 : 54);
  if (core) {
    detail::put_le32(s, 12);
    detail::put_le16(s, static_cast<std::uint32_t>(width));
    detail::put_le16(s, static_cast<std::uint32_t>(height));
    detail::put_le16(s, 1);
    detail::put_le16(s, 24);
  } else {
    detail::put_le32(s, 40);
    detail::put_le32(s, static_cast<std::uint32_t>(width));
    detail::put_le32(s, static_cast<std::uint32_t>(height));
    detail::put_le16(s, 1);
    detail::put_le16(s, 24);
    s += std::string(24, '\0');
  }
  s += "pixels";
  return s;
}

/// One record of a request body: `{"_id":<id_json>,"_base64":"..."}` (id_json is raw JSON).
inline std::string base64_record(std::string_view id_json, std::string_view bytes) {
  return "{\"_id\":" + std::string(id_json) + ",\"_base64\":\"" + encode_base64(bytes) + "\"}";
}

/// `{"records":[r1,r2,...]<extra>}`; `extra` is raw JSON members with a leading comma, or empty.
inline std::string records_body(const std::vector<std::string>& records, std::string_view extra = {}) {
  std::string s = "{\"records\":[";
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) {
      s.push_back(',');
    }
    s += records[i];
  }
  s += "]";
  s += extra;
  s += "}";
  return s;
}

}  // namespace ximup::mock::testing
