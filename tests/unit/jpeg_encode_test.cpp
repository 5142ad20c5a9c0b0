// jpeg_encode: libjpeg's compressor with our own counting pass for optimised Huffman tables. Run
// twice by CI: as jpeg_encode_test, and as jpeg_encode_portable_test against the library built with
// XIMUP_JPEG_ENCODE_PORTABLE, whose counting takes the loop CPUs without SSE2 run (tests/CMakeLists.txt).
#include "jpeg_encode.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

using namespace ximup;

// The optimize pass's counts are ours (jpeg_encode.cpp): the same tables, so the same bytes, as
// libjpeg's own counting pass, on images whose blocks end anywhere: flat (DC only), smooth (long zero
// runs: ZRL symbols), noise (most coefficients nonzero), a one-pixel checkerboard (the largest high
// frequencies; at Q100 magnitudes near libjpeg's limit), one pixel; sizes that are no multiple of a
// block or MCU, both chromas and greyscale, from Q100 to Q5.
TEST(JpegEncode, OwnStatisticsGiveLibjpegsBytes) {
  struct image {
    const char* name;
    std::uint32_t width;
    std::uint32_t height;
    std::uint8_t (*sample)(std::uint32_t x, std::uint32_t y, int band);
  };
  const std::array<image, 5> images{{
      {"flat", 37, 29, [](std::uint32_t, std::uint32_t, int) { return std::uint8_t{77}; }},
      {"gradient", 301, 203,
       [](std::uint32_t x, std::uint32_t y, int b) {
         return static_cast<std::uint8_t>((x + 2 * y + 50U * static_cast<std::uint32_t>(b)) & 255U);
       }},
      {"noise", 123, 77,
       [](std::uint32_t x, std::uint32_t y, int b) {
         std::uint32_t h = x * 73856093U ^ y * 19349663U ^ static_cast<std::uint32_t>(b) * 83492791U;
         h ^= h >> 13;
         h *= 0x5bd1e995U;
         return static_cast<std::uint8_t>(h >> 24);
       }},
      {"checkerboard", 64, 48,
       [](std::uint32_t x, std::uint32_t y, int) {
         return static_cast<std::uint8_t>((x + y) % 2 == 0 ? 0 : 255);
       }},
      {"one pixel", 1, 1,
       [](std::uint32_t, std::uint32_t, int b) { return static_cast<std::uint8_t>(200 - b); }},
  }};
  for (const image& img : images) {
    for (const int bands : {3, 1}) {
      std::vector<unsigned char> pixels;
      for (std::uint32_t y = 0; y < img.height; ++y)
        for (std::uint32_t x = 0; x < img.width; ++x)
          for (int b = 0; b < bands; ++b) pixels.push_back(img.sample(x, y, b));
      for (const int quality : {100, 90, 50, 5}) {
        for (const jpeg_chroma chroma : {jpeg_chroma::full, jpeg_chroma::half}) {
          std::vector<unsigned char> ours;
          std::vector<unsigned char> libjpegs;
          jpeg_encode_options o{.quality = quality, .optimize_coding = true, .chroma = chroma};
          const std::string error = encode_jpeg(pixels, img.width, img.height, bands, o, ours);
          o.own_statistics = false;
          EXPECT_EQ(encode_jpeg(pixels, img.width, img.height, bands, o, libjpegs), error);
          EXPECT_TRUE(ours == libjpegs)
              << img.name << ", " << bands << " bands, Q" << quality << ", chroma "
              << static_cast<int>(chroma) << ": " << ours.size() << " bytes, libjpeg's " << libjpegs.size();
          EXPECT_EQ(error, "") << img.name;
          // Optimized tables: never more bytes than libjpeg's standard ones.
          o.optimize_coding = false;
          std::vector<unsigned char> standard;
          EXPECT_EQ(encode_jpeg(pixels, img.width, img.height, bands, o, standard), "");
          EXPECT_LE(ours.size(), standard.size()) << img.name;
        }
      }
    }
  }
}

// libjpeg's fatal errors (its longjmp) come back as its message, with nothing in `out`.
TEST(JpegEncode, LibjpegErrorsComeBackAsMessages) {
  const std::vector<unsigned char> wide(65501, 128);  // past JPEG_MAX_DIMENSION (65500)
  std::vector<unsigned char> out{1, 2, 3};
  const std::string error = encode_jpeg(wide, 65501, 1, 1, {}, out);
  EXPECT_NE(error.find("65500"), std::string::npos) << error;
  EXPECT_TRUE(out.empty());
  EXPECT_NE(encode_jpeg(std::span(wide).first(100), 65501, 1, 1, {}, out), "");  // fewer pixels than said
  EXPECT_EQ(encode_jpeg(std::span(wide).first(100), 100, 1, 1, {}, out), "");
  EXPECT_GT(out.size(), 100U);  // a valid (if small) JPEG: headers and one block
  EXPECT_EQ(out[0], 0xFF);
  EXPECT_EQ(out[1], 0xD8);
}
