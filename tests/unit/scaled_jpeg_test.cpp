// scaled_jpeg: our baseline JPEG decoder at 1/4 and 1/8 (src/resize/scaled_jpeg.hpp). Real JPEGs
// written by libjpeg (every chroma subsampling, greyscale, restart markers, odd sizes, progressive),
// decoded by it and by TurboJPEG at the same scale and compared pixel by pixel; damaged files must be
// refused, never decoded into something.
#include "scaled_jpeg.hpp"
#include "avx2_switch.hpp"

#include <gtest/gtest.h>
#include <turbojpeg.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "support/jpeg_writer.hpp"

namespace {

using ximup::decode_scaled_jpeg;
using ximup::scaled_jpeg_image;
using ximup::scaled_jpeg_scratch;
using ximup::scaled_jpeg_status;
using bytes = std::vector<std::uint8_t>;

using encoding = ximup::test::jpeg_layout;
using script = encoding::script;

bytes encode(const encoding& e) {
  return ximup::test::write_jpeg(e);
}

// TurboJPEG's decoding at the same scale: DCT-scaled IDCT over every coefficient.
bytes turbo_decode(const bytes& jpeg, int shrink, int bands, int* width, int* height) {
  tjhandle h = tjInitDecompress();
  int w = 0;
  int hh = 0;
  int subsampling = 0;
  int colorspace = 0;
  EXPECT_EQ(tjDecompressHeader3(h, jpeg.data(), jpeg.size(), &w, &hh, &subsampling, &colorspace), 0);
  const tjscalingfactor factor{1, shrink};
  *width = TJSCALED(w, factor);
  *height = TJSCALED(hh, factor);
  bytes pixels(static_cast<std::size_t>(*width * *height * bands));
  EXPECT_EQ(tjDecompress2(h, jpeg.data(), jpeg.size(), pixels.data(), *width, 0, *height,
                          bands == 1 ? TJPF_GRAY : TJPF_RGB, 0),
            0);
  tjDestroy(h);
  return pixels;
}

struct difference {
  double mean = 0;
  int max = 0;
};
difference compare(const bytes& a, const bytes& b) {
  difference d;
  if (a.size() != b.size() || a.empty()) return {1e9, 255};
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int delta = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    sum += delta;
    d.max = std::max(d.max, delta);
  }
  d.mean = sum / static_cast<double>(a.size());
  return d;
}

scaled_jpeg_status decode(const bytes& jpeg, int shrink, bytes& pixels, scaled_jpeg_image& image) {
  scaled_jpeg_scratch scratch;
  return decode_scaled_jpeg(jpeg, shrink, pixels, &image, scratch);
}

struct layout {
  const char* name;
  encoding e;
};

class ScaledJpegLayouts : public ::testing::TestWithParam<layout> {};

std::size_t index(int pixel, int bands, int band) {
  return (static_cast<std::size_t>(pixel) * static_cast<std::size_t>(bands)) + static_cast<std::size_t>(band);
}

// What a scaled decode should approximate: every pixel decoded (TurboJPEG at full size), then the mean
// of each shrink x shrink square (squares cut by the image's edge: the mean of what is inside).
bytes box_filtered_truth(const bytes& jpeg, int shrink, int bands) {
  int width = 0;
  int height = 0;
  const bytes full = turbo_decode(jpeg, 1, bands, &width, &height);
  const int w = (width + shrink - 1) / shrink;
  const int h = (height + shrink - 1) / shrink;
  bytes out(static_cast<std::size_t>(w * h * bands));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < bands; ++c) {
        int sum = 0;
        int n = 0;
        for (int yy = y * shrink; yy < std::min(height, (y + 1) * shrink); ++yy) {
          for (int xx = x * shrink; xx < std::min(width, (x + 1) * shrink); ++xx, ++n)
            sum += full[index(yy * width + xx, bands, c)];
        }
        out[index(y * w + x, bands, c)] = static_cast<std::uint8_t>((sum + n / 2) / n);
      }
    }
  }
  return out;
}

// Against the box-filtered full decode, our pixels are close to TurboJPEG's scaled decode: on this
// test's harsh texture (+-11 levels, every pixel) at most 1.5 levels more mean error than TurboJPEG's
// (measured: 0.5-0.9 more at 1/4; we leave out coefficients 3, 5 and 7 of each quarter's mean, and
// at 1/4 subsampled chroma is upsampled from half our scale); on smooth content within 2 levels. A misplaced
// block, a wrong colour conversion or a lost restart would be tens of levels off. Also: the announced size,
// the same as TurboJPEG's, and the same pixels with AVX2 and without.
TEST_P(ScaledJpegLayouts, AsCloseToTheFullDecodeAsTurboJpeg) {
  for (bool smooth : {false, true}) {
    encoding e = GetParam().e;
    e.smooth = smooth;
    const bytes jpeg = encode(e);
    for (int shrink : {2, 4, 8}) {
      SCOPED_TRACE(std::string(smooth ? "smooth" : "textured") + ", shrink " + std::to_string(shrink));
      bytes mine;
      scaled_jpeg_image image;
      ASSERT_EQ(decode(jpeg, shrink, mine, image), scaled_jpeg_status::decoded);
      // Without AVX2 (the 1/4 scale's pixels block by block, SSE2's colour conversion): the same
      // pixels.
      if (ximup::resize_use_avx2(true)) {  // (where the CPU has it)
        ximup::resize_use_avx2(false);
        bytes without;
        scaled_jpeg_image plain;
        EXPECT_EQ(decode(jpeg, shrink, without, plain), scaled_jpeg_status::decoded);
        ximup::resize_use_avx2(true);
        EXPECT_EQ(without, mine) << "without AVX2";
      }
      int width = 0;
      int height = 0;
      const bytes turbo = turbo_decode(jpeg, shrink, e.components, &width, &height);
      EXPECT_EQ(image.width, static_cast<std::uint32_t>(width));
      EXPECT_EQ(image.height, static_cast<std::uint32_t>(height));
      EXPECT_EQ(image.bands, e.components);
      const bytes truth = box_filtered_truth(jpeg, shrink, e.components);
      const difference ours = compare(mine, truth);
      const difference theirs = compare(turbo, truth);
      if (smooth) {
        EXPECT_LT(ours.mean, 2.0) << "TurboJPEG: " << theirs.mean;
      } else if (shrink == 2) {
        // At 1/2 we keep frequencies 0-3 of the 0-3 and 5-7 that reach a 2 x 2 mean: on this texture
        // (all detail, every pixel) 1.8 levels from the box filter on grey, TurboJPEG 0.15. On photos
        // the final image is closer to the full-quality one than through TurboJPEG (docs/resize.md).
        EXPECT_LT(ours.mean, std::max(theirs.mean + 1.5, 2.5)) << "TurboJPEG: " << theirs.mean;
      } else {
        EXPECT_LT(ours.mean, theirs.mean + 1.5) << "TurboJPEG: " << theirs.mean;
      }
      EXPECT_LT(ours.max, 64);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, ScaledJpegLayouts,
    ::testing::Values(layout{"yuv420", {}}, layout{"yuv444", {.h = 1, .v = 1}},
                      layout{"yuv422", {.h = 2, .v = 1}}, layout{"yuv440", {.h = 1, .v = 2}},
                      layout{"grey", {.components = 1}}, layout{"odd_size", {.width = 1001, .height = 777}},
                      layout{"tiny", {.width = 9, .height = 5}}, layout{"restarts", {.restart_interval = 7}},
                      layout{"restart_every_mcu", {.width = 200, .height = 120, .restart_interval = 1}},
                      layout{"quality_100", {.quality = 100}},
                      layout{"extended_16bit_tables", {.quality = 1, .baseline = false}},
                      layout{"progressive", {.progressive = true}},
                      layout{"progressive_yuv444", {.h = 1, .v = 1, .progressive = true}},
                      layout{"progressive_yuv422", {.h = 2, .v = 1, .progressive = true}},
                      layout{"progressive_grey", {.components = 1, .progressive = true}},
                      layout{"progressive_odd_size", {.width = 1001, .height = 777, .progressive = true}},
                      layout{"progressive_tiny", {.width = 9, .height = 5, .progressive = true}},
                      layout{"progressive_restarts", {.restart_interval = 5, .progressive = true}},
                      layout{"progressive_quality_100", {.quality = 100, .progressive = true}},
                      layout{"progressive_fine_script", {.width = 333, .height = 251, .scans = script::fine}},
                      layout{"scan_per_component",
                             {.width = 333, .height = 251, .scans = script::per_component}}),
    [](const ::testing::TestParamInfo<layout>& p) { return std::string(p.param.name); });

TEST(ScaledJpeg, RestartMarkersDoNotChangeThePixels) {
  bytes plain;
  bytes restarted;
  scaled_jpeg_image a;
  scaled_jpeg_image b;
  ASSERT_EQ(decode(encode({}), 4, plain, a), scaled_jpeg_status::decoded);
  ASSERT_EQ(decode(encode({.restart_interval = 3}), 4, restarted, b), scaled_jpeg_status::decoded);
  EXPECT_EQ(plain, restarted);
}

TEST(ScaledJpeg, OtherScalesAndFormatsAreLeftToTurboJpeg) {
  const bytes baseline = encode({});
  bytes pixels;
  scaled_jpeg_image image;
  for (int shrink : {1, 3, 16})
    EXPECT_EQ(decode(baseline, shrink, pixels, image), scaled_jpeg_status::unsupported);
  EXPECT_EQ(decode(encode({.rgb = true}), 4, pixels, image), scaled_jpeg_status::unsupported);
  // A JFIF major version other than 1: libjpeg warns, so TurboJPEG (and libvips) decide.
  bytes jfif2 = baseline;
  ASSERT_EQ(std::string(jfif2.begin() + 6, jfif2.begin() + 11), std::string("JFIF\0", 5));
  jfif2[11] = 2;
  EXPECT_EQ(decode(jfif2, 4, pixels, image), scaled_jpeg_status::unsupported);
  jfif2[11] = 1;
  EXPECT_EQ(decode(jfif2, 4, pixels, image), scaled_jpeg_status::decoded);
}

// A progressive file holds the same quantised coefficients as a baseline one of the same image and
// quality (its scans only order their bits differently), so it decodes to exactly the same pixels; so
// does a file with a sequential scan per component. (Sizes whole in MCUs: at the edges of other sizes
// the blocks that only pad an MCU differ, which chroma upsampling can reach.)
TEST(ScaledJpeg, ProgressiveAndMultiScanFilesGiveTheBaselinePixels) {
  for (const encoding& e : {encoding{}, encoding{.h = 1, .v = 1}, encoding{.h = 2, .v = 1},
                            encoding{.width = 200, .height = 120, .components = 1}}) {
    std::vector<encoding> others = {e, e, e};
    others[0].progressive = true;
    others[1].progressive = true;
    others[1].restart_interval = 3;
    others[2].scans = e.components == 3 ? script::fine : script::standard;
    others[2].progressive = e.components == 1;
    if (e.components == 3) others.push_back(e), others.back().scans = script::per_component;
    const bytes baseline = encode(e);
    for (int shrink : {2, 4, 8}) {
      bytes expected;
      scaled_jpeg_image a;
      ASSERT_EQ(decode(baseline, shrink, expected, a), scaled_jpeg_status::decoded);
      for (std::size_t i = 0; i < others.size(); ++i) {
        SCOPED_TRACE("variant " + std::to_string(i) + ", shrink " + std::to_string(shrink) + ", components " +
                     std::to_string(e.components) + ", h " + std::to_string(e.h) + ", v " +
                     std::to_string(e.v));
        bytes mine;
        scaled_jpeg_image b;
        ASSERT_EQ(decode(encode(others[i]), shrink, mine, b), scaled_jpeg_status::decoded);
        EXPECT_EQ(b.width, a.width);
        EXPECT_EQ(b.height, a.height);
        EXPECT_EQ(mine, expected);
      }
    }
  }
}

// Refinement scans find each new coefficient with PDEP where the CPU runs it fast, else with a loop:
// the same pixels either way.
TEST(ScaledJpeg, RefinementWithAndWithoutPdepGiveTheSamePixels) {
  const bool had = ximup::scaled_jpeg_use_pdep(true);
  std::printf("PDEP on this CPU: %s\n", had ? "yes" : "no (both runs take the loop)");
  for (const encoding& e :
       {encoding{.progressive = true}, encoding{.width = 333, .height = 251, .scans = script::fine},
        encoding{.components = 1, .progressive = true}}) {
    const bytes jpeg = encode(e);
    bytes with;
    bytes without;
    scaled_jpeg_image a;
    scaled_jpeg_image b;
    ximup::scaled_jpeg_use_pdep(true);
    ASSERT_EQ(decode(jpeg, 4, with, a), scaled_jpeg_status::decoded);
    EXPECT_FALSE(ximup::scaled_jpeg_use_pdep(false));
    ASSERT_EQ(decode(jpeg, 4, without, b), scaled_jpeg_status::decoded);
    EXPECT_EQ(with, without);
  }
  ximup::scaled_jpeg_use_pdep(had);
}

// The SSE2 colour conversion gives the scalar formulas' bytes for every Y, Cb and Cr (16.7 million
// pixels), including the odd tail after the last 16.
TEST(ScaledJpeg, ColourConversionIsExactForEveryInput) {
  constexpr std::size_t n = 65536 + 5;
  bytes cb(n);
  bytes cr(n);
  for (std::size_t i = 0; i < n; ++i) {
    cb[i] = static_cast<std::uint8_t>(i & 255U);
    cr[i] = static_cast<std::uint8_t>((i >> 8) & 255U);
  }
  bytes y(n);
  bytes fast(3 * n);
  bytes reference(3 * n);
  // With AVX2's stores (where the CPU has them) and with SSE2's.
  const bool avx2 = ximup::resize_use_avx2(true);
  for (const bool with_avx2 : {false, true}) {
    if (with_avx2 && !avx2) continue;
    ximup::resize_use_avx2(with_avx2);
    std::size_t differ = 0;
    for (int luma = 0; luma < 256; ++luma) {
      std::fill(y.begin(), y.end(), static_cast<std::uint8_t>(luma));
      ximup::ycbcr_to_rgb(y.data(), cb.data(), cr.data(), fast.data(), n);
      ximup::ycbcr_to_rgb_scalar(y.data(), cb.data(), cr.data(), reference.data(), n);
      if (fast != reference) ++differ;
    }
    EXPECT_EQ(differ, 0U) << "luma values whose rows differ, AVX2 " << with_avx2;
    // Neighbours that differ, so that a pixel stored in its neighbour's place shows.
    for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::uint8_t>((i * 37 + (i >> 8)) & 255U);
    ximup::ycbcr_to_rgb(y.data(), cb.data(), cr.data(), fast.data(), n);
    ximup::ycbcr_to_rgb_scalar(y.data(), cb.data(), cr.data(), reference.data(), n);
    EXPECT_EQ(fast, reference) << "varied luma, AVX2 " << with_avx2;
  }
  ximup::resize_use_avx2(true);
  // Spot checks of the formula itself: grey stays grey, full red-difference saturates.
  const std::uint8_t grey_y = 77;
  const std::uint8_t mid = 128;
  bytes rgb(3);
  ximup::ycbcr_to_rgb(&grey_y, &mid, &mid, rgb.data(), 1);
  EXPECT_EQ(rgb, (bytes{77, 77, 77}));
  const std::uint8_t top = 255;
  ximup::ycbcr_to_rgb(&top, &mid, &top, rgb.data(), 1);
  EXPECT_EQ(rgb[0], 255);
}

// The chroma upsampler's vector loop gives its scalar loop's bytes: every width up to 40 (odd ones
// end in a lone sample; 8-sample groups and tails), blended rows of random values up to 1020 with
// their edges repeated, and the extremes.
TEST(ScaledJpeg, ChromaUpsamplingIsExact) {
  std::srand(7);
  for (std::size_t width = 1; width <= 40; ++width) {
    const std::size_t samples = (width + 1) / 2;
    for (int trial = 0; trial < 50; ++trial) {
      std::vector<std::int16_t> blended(samples + 2);
      for (std::size_t i = 1; i <= samples; ++i) {
        const int v = trial == 0 ? 1020 : (trial == 1 ? 0 : std::rand() % 1021);
        blended[i] = static_cast<std::int16_t>(v);
      }
      blended[0] = blended[1];
      blended[samples + 1] = blended[samples];
      bytes fast(width);
      bytes reference(width);
      ximup::upsample_chroma_row(blended.data() + 1, fast.data(), width);
      ximup::upsample_chroma_row_scalar(blended.data() + 1, reference.data(), width);
      ASSERT_EQ(fast, reference) << "width " << width << ", trial " << trial;
    }
  }
  // The formula itself: a flat row stays flat; a step is blended 3:1 on each side of it.
  const std::vector<std::int16_t> step = {400, 400, 800, 800};  // samples 100 and 200, edges repeated
  bytes out(4);
  ximup::upsample_chroma_row(step.data() + 1, out.data(), 4);
  EXPECT_EQ(out, (bytes{100, 125, 175, 200}));
}

// The 1/2 scale's 4 x 4 pixels of a block: the SSE2 version gives the scalar reference's bytes
// (the same float operations in the same order, no fused multiply-adds) for ordinary values, values
// at the ends of the range (then clamped at 0 and 255) and quantisation steps up to 16 bits, into
// rows with a stride. A flat block is its DC / 8 + 128.
TEST(ScaledJpeg, FourByFourPixelsAreExact) {
  std::mt19937 rng(12);
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  constexpr std::size_t stride = 7;
  std::size_t clamped = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::array<std::uint16_t, 64> quant{};
    const int most = trial % 11 == 0 ? 65535 : 255;
    for (auto& q : quant) q = static_cast<std::uint16_t>(pick(1, most));
    std::array<int, 25> values{};
    for (std::size_t i = 0; i < values.size(); ++i) {
      const int extreme = i == 0 ? 32767 : 1023;
      const int kind = pick(0, 19);
      values[i] = kind == 0   ? extreme
                  : kind == 1 ? -extreme
                  : i == 0    ? pick(-1024, 1023)
                              : pick(-60 / (1 + static_cast<int>(i) / 4), 60 / (1 + static_cast<int>(i) / 4));
    }
    bytes fast(4 * stride, 0xCD);
    bytes reference(4 * stride, 0xCD);
    ximup::block_to_pixels4x4(values.data(), quant.data(), fast.data(), stride);
    ximup::block_to_pixels4x4_scalar(values.data(), quant.data(), reference.data(), stride);
    ASSERT_EQ(fast, reference) << "trial " << trial;
    for (std::size_t y = 0; y < 4; ++y) {
      for (std::size_t x = 4; x < stride; ++x) ASSERT_EQ(fast[y * stride + x], 0xCD);  // outside the block
      for (std::size_t x = 0; x < 4; ++x) clamped += fast[y * stride + x] == 0 || fast[y * stride + x] == 255;
    }
  }
  EXPECT_GT(clamped, 1000U);  // the clamps were reached
  std::array<std::uint16_t, 64> ones{};
  ones.fill(1);
  std::array<int, 25> flat{};
  flat[0] = 80;
  bytes out(16);
  ximup::block_to_pixels4x4(flat.data(), ones.data(), out.data(), 4);
  EXPECT_EQ(out, bytes(16, 138));
}

// The 1/4 scale's row of 2 x 2 pixels: AVX2's 32-bit sums (its DC clamped) give low_frequency's 64-bit
// bytes for every value a block can hold (DC differences add up to 16 bits, AC values up to 10 bits),
// quantisation steps up to 255 and beyond (then one block at a time), every row length up to 40 (the
// eight-block groups and the tails), with AVX2 and without.
TEST(ScaledJpeg, TwoByTwoPixelsAreExact) {
  std::mt19937 rng(11);
  const auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const bool avx2 = ximup::resize_use_avx2(true);
  for (const bool with_avx2 : {false, true}) {
    if (with_avx2 && !avx2) continue;
    ximup::resize_use_avx2(with_avx2);
    for (int trial = 0; trial < 400; ++trial) {
      const std::size_t blocks = static_cast<std::size_t>(1 + trial % 40);
      std::array<std::uint16_t, 64> quant{};
      const int most = trial % 7 == 0 ? 1000 : 255;  // some tables beyond 8 bits
      for (const std::size_t at : {0U, 1U, 8U, 9U}) {
        quant[at] = static_cast<std::uint16_t>(trial % 5 == 0 ? most : pick(1, most));
      }
      std::vector<std::int16_t> values(blocks * 4);
      for (std::size_t i = 0; i < values.size(); ++i) {
        const bool dc = i % 4 == 0;
        const int extreme = dc ? 32767 : 1023;
        const int kind = pick(0, 9);  // mostly ordinary values, some at the ends of the range
        const int v = kind == 0 ? extreme : kind == 1 ? -extreme : dc ? pick(-2048, 2047) : pick(-200, 200);
        values[i] = static_cast<std::int16_t>(v);
      }
      bytes fast(blocks * 4, 0xCD);
      bytes reference(blocks * 4, 0xCD);
      ximup::blocks_to_pixels2x2(values.data(), blocks, quant.data(), fast.data(), fast.data() + 2 * blocks);
      ximup::blocks_to_pixels2x2_scalar(values.data(), blocks, quant.data(), reference.data(),
                                        reference.data() + 2 * blocks);
      ASSERT_EQ(fast, reference) << "trial " << trial << ", AVX2 " << with_avx2;
    }
  }
  ximup::resize_use_avx2(true);
  // The formula itself: a flat block is its DC / 8 + 128; a horizontal step makes its left pixels brighter.
  std::array<std::uint16_t, 64> ones{};
  ones.fill(1);
  const std::vector<std::int16_t> flat = {80, 0, 0, 0, 0, 100, 0, 0};  // 80 / 8 + 128 = 138; then across
  bytes out(8);
  ximup::blocks_to_pixels2x2(flat.data(), 2, ones.data(), out.data(), out.data() + 4);
  EXPECT_EQ(out[0], 138);
  EXPECT_EQ(out[1], 138);
  EXPECT_EQ(out[4], 138);
  EXPECT_GT(out[2], out[3]);
  EXPECT_EQ(out[2], out[6]);
}

// A progressive file's scans must follow libjpeg's rules; what it would warn about or decode in some
// other way is refused: scans cut off (with or without the end of image), a file whose lowest
// frequencies never get their last bit (libjpeg smooths those blocks), bad scan headers, more scans
// than we decode.
TEST(ScaledJpeg, IncompleteOrUnusualProgressionsAreRefused) {
  const bytes jpeg = encode({.width = 320, .height = 240, .progressive = true});
  std::vector<std::size_t> scans;
  for (std::size_t i = 0; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) scans.push_back(i);
  }
  ASSERT_EQ(scans.size(), 10U);  // libjpeg's progressive script
  bytes pixels;
  scaled_jpeg_image image;
  for (std::size_t cut : {scans[1], scans[5], scans[9]}) {
    bytes truncated(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(cut) + 30);
    EXPECT_EQ(decode(truncated, 4, pixels, image), scaled_jpeg_status::corrupt) << "cut at " << cut;
    // Scans left out, the file ended properly: the coefficients are not all complete.
    bytes ended(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(cut));
    ended.insert(ended.end(), {0xFF, 0xD9});
    EXPECT_EQ(decode(ended, 4, pixels, image), scaled_jpeg_status::unsupported) << "ended at " << cut;
  }
  // Scan headers libjpeg refuses or warns about: a DC scan that also claims AC coefficients; an AC
  // scan that refines bits no scan sent (Ah 3, Al 2 where the first pass is due).
  const auto with = [&](std::size_t at, std::uint8_t value) {
    bytes changed = jpeg;
    changed[at] = value;
    return changed;
  };
  ASSERT_EQ(jpeg[scans[1] + 4], 1);     // one component
  EXPECT_EQ(jpeg[scans[1] + 9], 0x02);  // Ah 0, Al 2: luma 1-5's first pass
  EXPECT_EQ(decode(with(scans[0] + 2 + 2 + 1 + 6 + 1, 5), 4, pixels, image),  // DC scan: Se 5
            scaled_jpeg_status::corrupt);
  EXPECT_EQ(decode(with(scans[1] + 9, 0x32), 4, pixels, image), scaled_jpeg_status::corrupt);
  // 190 scans: more than we walk (TurboJPEG decodes it).
  EXPECT_EQ(
      decode(encode({.width = 64, .height = 48, .scans = script::one_per_coefficient}), 4, pixels, image),
      scaled_jpeg_status::unsupported);
}

// Every way of cutting the file short is refused: the header, inside the scan, and just the EOI.
TEST(ScaledJpeg, TruncatedFilesAreCorrupt) {
  const bytes jpeg = encode({.width = 320, .height = 240});
  bytes pixels;
  scaled_jpeg_image image;
  for (std::size_t keep : {std::size_t{0}, std::size_t{3}, std::size_t{100}, jpeg.size() / 2, jpeg.size() - 2,
                           jpeg.size() - 1}) {
    const bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(keep));
    EXPECT_NE(decode(cut, 4, pixels, image), scaled_jpeg_status::decoded) << "first " << keep << " bytes";
  }
}

// Where libjpeg would warn, we refuse: bytes left over before the EOI, restart markers out of order.
TEST(ScaledJpeg, ExtraneousBytesAndMisnumberedRestartsAreCorrupt) {
  const bytes jpeg = encode({.width = 320, .height = 240});
  bytes extra(jpeg.begin(), jpeg.end() - 2);
  extra.insert(extra.end(), {0x12, 0x34, 0x56, 0xFF, 0xD9});
  bytes pixels;
  scaled_jpeg_image image;
  EXPECT_EQ(decode(extra, 4, pixels, image), scaled_jpeg_status::corrupt);

  bytes restarted = encode({.width = 320, .height = 240, .restart_interval = 2});
  for (std::size_t i = 0; i + 1 < restarted.size(); ++i) {
    if (restarted[i] == 0xFF && restarted[i + 1] == 0xD1) {
      restarted[i + 1] = 0xD3;  // RST1 -> RST3
      break;
    }
  }
  EXPECT_EQ(decode(restarted, 4, pixels, image), scaled_jpeg_status::corrupt);
}

// Damaged scan bytes, at each scale: every outcome is allowed except a crash or a read outside the
// file (AddressSanitizer in CI), and a decoded image has the announced size.
class ScaledJpegDamage : public ::testing::TestWithParam<layout> {};

TEST_P(ScaledJpegDamage, NeverReadsOutsideTheFile) {
  const bytes jpeg = encode(GetParam().e);
  std::size_t scan = 0;
  for (std::size_t i = 0; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA && scan == 0) scan = i;
  }
  ASSERT_GT(scan, 0U);
  unsigned seed = 12345;
  int refused = 0;
  for (int round = 0; round < 300; ++round) {
    bytes damaged = jpeg;
    for (int n = 0; n < 1 + round % 4; ++n) {
      seed = seed * 1103515245U + 12345U;
      const std::size_t at = scan + (seed >> 8) % (damaged.size() - scan);
      damaged[at] = static_cast<std::uint8_t>(seed >> 20);
    }
    bytes pixels;
    scaled_jpeg_image image;
    const auto status = decode(damaged, 2 << (round % 3), pixels, image);  // 1/2, 1/4, 1/8
    if (status == scaled_jpeg_status::decoded) {
      EXPECT_EQ(pixels.size(), std::size_t{image.width} * image.height * 3);
    } else {
      ++refused;
    }
  }
  EXPECT_GT(refused, 100);  // most damage is noticed
}

// From the first scan to the end: headers of later scans and tables between scans are damaged too.
INSTANTIATE_TEST_SUITE_P(
    Files, ScaledJpegDamage,
    ::testing::Values(layout{"baseline_restarts", {.width = 160, .height = 120, .restart_interval = 4}},
                      layout{"progressive", {.width = 160, .height = 120, .progressive = true}},
                      layout{"progressive_restarts",
                             {.width = 160, .height = 120, .restart_interval = 4, .progressive = true}},
                      layout{"scan_per_component",
                             {.width = 160, .height = 120, .scans = script::per_component}}),
    [](const ::testing::TestParamInfo<layout>& p) { return std::string(p.param.name); });

// A header that announces far more blocks than the file's data can hold (40000 x 40000 in a 64 x 64
// file) is refused before anything that size is allocated or decoded (the fuzzer's slowest input
// took two minutes and 880 MB before this check).
TEST(ScaledJpeg, AHeaderLargerThanItsDataIsCorrupt) {
  bytes jpeg = encode({.width = 64, .height = 64});
  std::size_t sof = 0;
  for (std::size_t i = 0; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      sof = i;
      break;
    }
  }
  ASSERT_GT(sof, 0U);
  for (std::size_t at : {sof + 5, sof + 7}) {  // height, width: 40000 = 0x9C40
    jpeg[at] = 0x9C;
    jpeg[at + 1] = 0x40;
  }
  bytes pixels;
  scaled_jpeg_image image;
  EXPECT_EQ(decode(jpeg, 4, pixels, image), scaled_jpeg_status::corrupt);
  EXPECT_EQ(decode(jpeg, 8, pixels, image), scaled_jpeg_status::corrupt);
}

// A Huffman table with a symbol for a magnitude no 8-bit sample has (DC differences take at most 11
// bits, AC coefficients 10) is refused: the bit reader's refills count on those bounds. libjpeg
// decodes such a file (the symbol is never coded here), so the caller's fallback still can.
TEST(ScaledJpeg, MagnitudesLongerThanEightBitSamplesHaveAreRefused) {
  const bytes jpeg = encode({.width = 64, .height = 64});
  // The last symbol of the first DC (class 0) or AC (class 1) table; libjpeg writes one table per
  // DHT segment, the standard tables, whose last symbols are 11 (DC) and 0xFA (AC: run 15, size 10).
  const auto last_symbol = [&](int table_class) {
    for (std::size_t i = 0; i + 21 < jpeg.size(); ++i) {
      if (jpeg[i] != 0xFF || jpeg[i + 1] != 0xC4 || (jpeg[i + 4] >> 4) != table_class) continue;
      std::size_t symbols = 0;
      for (std::size_t n = 0; n < 16; ++n) symbols += jpeg[i + 5 + n];
      return i + 21 + symbols - 1;
    }
    ADD_FAILURE() << "no DHT of class " << table_class;
    return std::size_t{0};
  };
  bytes pixels;
  scaled_jpeg_image image;
  ASSERT_EQ(decode(jpeg, 4, pixels, image), scaled_jpeg_status::decoded);
  for (const auto& [table_class, from, to] : {std::tuple{0, 11, 12}, std::tuple{1, 0xFA, 0xFB}}) {
    bytes changed = jpeg;
    const std::size_t at = last_symbol(table_class);
    ASSERT_EQ(changed[at], from) << "class " << table_class;
    changed[at] = static_cast<std::uint8_t>(to);
    EXPECT_EQ(decode(changed, 4, pixels, image), scaled_jpeg_status::corrupt) << "class " << table_class;
    int width = 0;
    int height = 0;
    EXPECT_EQ(
        compare(turbo_decode(changed, 4, 3, &width, &height), turbo_decode(jpeg, 4, 3, &width, &height)).max,
        0);
  }
}

TEST(ScaledJpeg, NotAJpegIsCorrupt) {
  const std::string text = "GIF89a this is not a JPEG at all";
  const bytes data(text.begin(), text.end());
  bytes pixels;
  scaled_jpeg_image image;
  EXPECT_EQ(decode(data, 4, pixels, image), scaled_jpeg_status::corrupt);
  EXPECT_EQ(decode({}, 4, pixels, image), scaled_jpeg_status::corrupt);
}

// The scratch is reused across files of different layouts without leaking tables between them.
TEST(ScaledJpeg, OneScratchDecodesManyFiles) {
  scaled_jpeg_scratch scratch;
  for (const encoding& e :
       {encoding{.components = 1}, encoding{.progressive = true}, encoding{},
        encoding{.h = 1, .v = 1, .restart_interval = 5}, encoding{.width = 33, .height = 17},
        encoding{.width = 33, .height = 17, .scans = script::fine}}) {
    const bytes jpeg = encode(e);
    bytes reused;
    bytes fresh;
    scaled_jpeg_image a;
    scaled_jpeg_image b;
    ASSERT_EQ(decode_scaled_jpeg(jpeg, 4, reused, &a, scratch), scaled_jpeg_status::decoded);
    ASSERT_EQ(decode(jpeg, 4, fresh, b), scaled_jpeg_status::decoded);
    EXPECT_EQ(reused, fresh);
  }
}

}  // namespace
