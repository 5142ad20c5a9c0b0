// resample: ximup's Lanczos-3 (src/resize/resample.hpp). Pure pixel checks here; the comparison with
// libvips's own Lanczos-3 is in resize_test.cpp (which links libvips).
#include "resample.hpp"
#include "avx2_switch.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace {

using ximup::lanczos3_resample;
using ximup::lanczos3_resample_scalar;
using ximup::resample_scratch;
using bytes = std::vector<std::uint8_t>;

bytes resample(const bytes& src, std::uint32_t w, std::uint32_t h, int bands, std::uint32_t ow,
               std::uint32_t oh) {
  resample_scratch scratch;
  bytes out(std::size_t{ow} * oh * static_cast<std::size_t>(bands), 0xCD);
  lanczos3_resample(src.data(), w, h, bands, out.data(), ow, oh, scratch);
  return out;
}

void simd_passes_match_the_scalar_reference() {
  std::mt19937 rng(7);
  const std::vector<std::array<std::uint32_t, 4>> sizes = {
      {1000, 750, 800, 600}, {750, 1000, 600, 800}, {37, 29, 20, 15}, {500, 500, 499, 497},
      {64, 48, 7, 5},        {103, 77, 101, 75},    {3, 3, 1, 1},     {2000, 1500, 802, 601},
      {100, 80, 150, 120},   {17, 300, 13, 299},    {300, 17, 41, 9}, {40, 40, 16, 16},
      {1000, 750, 801, 600}, {1000, 751, 801, 600}};
  // One scratch through every case, as a worker's: the weights it keeps for the last sizes must be
  // replaced whenever either axis changes (the last two cases change one axis each).
  resample_scratch kept;
  for (const auto& [w, h, ow, oh] : sizes) {
    for (int bands = 1; bands <= 4; ++bands) {
      for (const bool saturating : {false, true}) {
        bytes src(std::size_t{w} * h * static_cast<std::size_t>(bands));
        for (std::size_t i = 0; i < src.size(); ++i) {
          // Hard 0/255 edges make Lanczos overshoot past both ends: the clamps are exercised.
          src[i] = saturating ? static_cast<std::uint8_t>(rng() % 3 == 0 ? 255 : 0)
                              : static_cast<std::uint8_t>(rng());
        }
        bytes expected(std::size_t{ow} * oh * static_cast<std::size_t>(bands), 0xCD);
        resample_scratch scratch;
        lanczos3_resample_scalar(src.data(), w, h, bands, expected.data(), ow, oh, scratch);
        const std::string what = std::to_string(w) + "x" + std::to_string(h) + " -> " + std::to_string(ow) +
                                 "x" + std::to_string(oh) + ", " + std::to_string(bands) + " bands" +
                                 (saturating ? ", saturating" : "");
        ASSERT_EQ(resample(src, w, h, bands, ow, oh), expected) << what;
        bytes reused(expected.size(), 0xCD);
        lanczos3_resample(src.data(), w, h, bands, reused.data(), ow, oh, kept);
        ASSERT_EQ(reused, expected) << what << ", kept scratch";
      }
    }
  }
}

// The SIMD passes (rows 32 samples at a time with AVX2 where the CPU has it, else and after it 16
// with SSE2; columns four outputs at a time with their packed clamp, all bands of a row split in one
// pass) give exactly the scalar reference's bytes: random and saturating pictures, every band count,
// reductions by 1 to 4/3 (8 lanes), to 2.5 (16 lanes) and beyond (wider filters), widths that leave
// 0-3 columns to the scalar tail, upscaling. With AVX2 and without it, when the CPU has it.
TEST(Resample, SimdPassesMatchTheScalarReferenceExactly) {
  const bool avx2 = ximup::resize_use_avx2(true);
  for (const bool with_avx2 : {false, true}) {
    if (with_avx2 && !avx2) continue;
    ximup::resize_use_avx2(with_avx2);
    SCOPED_TRACE(with_avx2 ? "AVX2" : "SSE2");
    simd_passes_match_the_scalar_reference();
  }
  ximup::resize_use_avx2(true);
}

// Weights sum to one exactly: a flat picture stays flat, to the level, at every size and band count,
// edges included (where the filter reaches past the border).
TEST(Resample, FlatPicturesStayFlat) {
  for (int bands : {1, 3, 4}) {
    for (auto [w, h, ow, oh] : std::vector<std::array<std::uint32_t, 4>>{
             {1000, 750, 800, 600}, {37, 23, 20, 11}, {9, 9, 1, 1}, {5, 300, 4, 151}, {64, 64, 64, 64}}) {
      bytes src(std::size_t{w} * h * static_cast<std::size_t>(bands));
      for (std::size_t i = 0; i < src.size(); ++i)
        src[i] = static_cast<std::uint8_t>(40 + 50 * (i % static_cast<std::size_t>(bands)));
      const bytes out = resample(src, w, h, bands, ow, oh);
      for (std::size_t i = 0; i < out.size(); ++i) {
        ASSERT_EQ(out[i], 40 + 50 * (i % static_cast<std::size_t>(bands)))
            << w << "x" << h << " -> " << ow << "x" << oh << " bands " << bands << " at " << i;
      }
    }
  }
}

// A linear ramp stays the same ramp: each output pixel is the input's value at its centre (Lanczos
// reproduces linear functions away from the edges), within one level.
TEST(Resample, RampsAreSampledAtPixelCentres) {
  const std::uint32_t w = 500;
  const std::uint32_t h = 40;
  const std::uint32_t ow = 400;
  const std::uint32_t oh = 32;
  bytes across(std::size_t{w} * h);
  bytes down(std::size_t{h} * w);  // the same ramp turned a quarter: h x w
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      across[std::size_t{y} * w + x] = static_cast<std::uint8_t>(x / 2);
      down[std::size_t{x} * h + y] = static_cast<std::uint8_t>(x / 2);
    }
  }
  const bytes a = resample(across, w, h, 1, ow, oh);
  const bytes d = resample(down, h, w, 1, oh, ow);
  const double step = static_cast<double>(w) / ow;
  for (std::uint32_t x = 8; x + 8 < ow; ++x) {     // away from the edges, where the border repeats
    const double centre = (x + 0.5) * step - 0.5;  // in input pixels
    const double expected = centre / 2.0 - 0.25;   // x / 2 rounded down is (x - 0.5) / 2 on average
    EXPECT_NEAR(a[std::size_t{oh / 2} * ow + x], expected, 1.0) << "column " << x;
    EXPECT_NEAR(d[std::size_t{x} * oh + oh / 2], expected, 1.0) << "row " << x;
  }
}

// Bands stay apart: a picture whose bands hold different ramps keeps each band's own values.
TEST(Resample, BandsAreFilteredSeparately) {
  const std::uint32_t w = 300;
  const std::uint32_t h = 200;
  bytes src(std::size_t{w} * h * 3);
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      std::uint8_t* p = &src[(std::size_t{y} * w + x) * 3];
      p[0] = 10;
      p[1] = static_cast<std::uint8_t>(x * 255 / (w - 1));
      p[2] = static_cast<std::uint8_t>(y * 255 / (h - 1));
    }
  }
  const bytes out = resample(src, w, h, 3, 240, 160);
  for (std::uint32_t y = 10; y < 150; y += 20) {
    for (std::uint32_t x = 10; x < 230; x += 20) {
      const std::uint8_t* p = &out[(std::size_t{y} * 240 + x) * 3];
      EXPECT_EQ(p[0], 10);
      EXPECT_NEAR(p[1], ((x + 0.5) * 1.25 - 0.5) * 255 / (w - 1), 1.5);
      EXPECT_NEAR(p[2], ((y + 0.5) * 1.25 - 0.5) * 255 / (h - 1), 1.5);
    }
  }
}

}  // namespace
