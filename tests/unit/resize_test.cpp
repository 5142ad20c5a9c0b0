#include "ximup/resize.hpp"

#include "jpeg_encode.hpp"
#include "resample.hpp"

#include <gtest/gtest.h>
#include <unistd.h>
#include <vips/vips.h>
// (not included by vips.h: vips_vector_set_enabled / vips_vector_isenabled)
#include <vips/vector.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <thread>

using namespace ximup;

// ---- plan_resize: the pure decision ----------------------------------------------------------

namespace {
resize_options opts(std::uint32_t target, resize_side side = resize_side::shorter) {
  resize_options o;
  o.target = target;
  o.side = side;
  return o;
}
std::optional<dimensions> plan(std::uint32_t w, std::uint32_t h, std::uint32_t target,
                               resize_side side = resize_side::shorter) {
  return plan_resize({w, h}, opts(target, side));
}
}  // namespace

TEST(ResizePlan, ShorterSideBecomesTheTarget) {
  EXPECT_EQ(plan(4000, 3000, 600), (dimensions{800, 600}));
  EXPECT_EQ(plan(3000, 4000, 600), (dimensions{600, 800}));
  EXPECT_EQ(plan(2000, 2000, 600), (dimensions{600, 600}));
}

TEST(ResizePlan, LongerSideBecomesTheTarget) {
  EXPECT_EQ(plan(4000, 3000, 600, resize_side::longer), (dimensions{600, 450}));
  EXPECT_EQ(plan(3000, 4000, 600, resize_side::longer), (dimensions{450, 600}));
  EXPECT_EQ(plan(2000, 2000, 600, resize_side::longer), (dimensions{600, 600}));
}

TEST(ResizePlan, ShorterResizesOnlyWhenBothSidesExceedTheTarget) {
  EXPECT_FALSE(plan(4000, 500, 600));
  EXPECT_FALSE(plan(500, 4000, 600));
  EXPECT_FALSE(plan(4000, 600, 600));
  EXPECT_EQ(plan(4000, 601, 600), (dimensions{3993, 600}));  // 3993.34
}

TEST(ResizePlan, LongerResizesWhenTheLongerSideExceedsTheTarget) {
  EXPECT_EQ(plan(4000, 500, 600, resize_side::longer), (dimensions{600, 75}));
  EXPECT_FALSE(plan(600, 500, 600, resize_side::longer));
  EXPECT_FALSE(plan(599, 599, 600, resize_side::longer));
}

TEST(ResizePlan, ExactBoundaryIsLeftAlone) {
  EXPECT_FALSE(plan(600, 600, 600));
  EXPECT_EQ(plan(601, 601, 600), (dimensions{600, 600}));
  EXPECT_FALSE(plan(600, 10, 600, resize_side::longer));
  EXPECT_EQ(plan(601, 10, 600, resize_side::longer), (dimensions{600, 10}));  // 9.98 -> 10
}

TEST(ResizePlan, TinyEmptyAndOff) {
  EXPECT_FALSE(plan(1, 1, 600));
  EXPECT_FALSE(plan(1, 1, 600, resize_side::longer));
  EXPECT_FALSE(plan(0, 0, 600));
  EXPECT_FALSE(plan(0, 5000, 600));
  EXPECT_FALSE(plan(5000, 4000, 0));
  EXPECT_EQ(plan(2, 2, 1), (dimensions{1, 1}));
}

TEST(ResizePlan, RoundsToNearestAndNeverBelowOnePixel) {
  EXPECT_EQ(plan(5000, 3, 100, resize_side::longer), (dimensions{100, 1}));  // 0.06 -> 1
  EXPECT_EQ(plan(3, 5000, 100, resize_side::longer), (dimensions{1, 100}));
  EXPECT_EQ(plan(1000, 333, 500, resize_side::longer), (dimensions{500, 167}));  // 166.5 -> 167
  EXPECT_EQ(plan(999, 500, 300), (dimensions{599, 300}));                        // 599.4 -> 599
  EXPECT_EQ(plan(3, 2, 1), (dimensions{2, 1}));                                  // 1.5 -> 2
  EXPECT_EQ(plan(4294967295U, 4294967294U, 7), (dimensions{7, 7}));              // no overflow
}

TEST(ResizePlan, NamesAndFormatSniffing) {
  EXPECT_EQ(to_string(resize_action::resized), "resized");
  EXPECT_EQ(to_string(resize_action::unchanged_undecodable), "unchanged_undecodable");
  const auto sniff = [](std::string_view s) {
    return sniff_image_format({reinterpret_cast<const unsigned char*>(s.data()), s.size()});
  };
  EXPECT_EQ(sniff("\xFF\xD8\xFF\xE0"), "jpeg");
  EXPECT_EQ(sniff("\x89PNG\r\n\x1A\n...."), "png");
  EXPECT_EQ(sniff("GIF89a"), "gif");
  EXPECT_EQ(sniff("RIFF1234WEBPVP8 "), "webp");
  EXPECT_EQ(sniff(std::string_view("II*\0", 4)), "tiff");
  EXPECT_EQ(sniff("<svg"), "");
  EXPECT_EQ(sniff(""), "");
}

// ---- shrink_image on real images generated here ----------------------------------------------

namespace {

// Owns a VipsImage.
class vimage {
 public:
  vimage() = default;
  explicit vimage(VipsImage* p) : p_(p) {}
  vimage(vimage&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  vimage& operator=(vimage&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  vimage(const vimage&) = delete;
  vimage& operator=(const vimage&) = delete;
  ~vimage() {
    if (p_ != nullptr) g_object_unref(p_);
  }
  VipsImage* get() const { return p_; }
  VipsImage** out() { return &p_; }

 private:
  VipsImage* p_ = nullptr;
};

void check(int rc) {
  if (rc != 0) {
    char* e = vips_error_buffer_copy();
    std::string msg = e != nullptr ? e : "";
    g_free(e);
    throw std::runtime_error("libvips: " + msg);
  }
}

// Textured content (noise around a mean), so JPEGs are photo-sized rather than tiny.
vimage noise(int w, int h, int bands, int seed, double mean = 128, double sigma = 40) {
  std::vector<vimage> planes;
  for (int b = 0; b < bands; ++b) {
    vimage p;
    check(vips_gaussnoise(p.out(), w, h, "mean", mean, "sigma", sigma, "seed", seed * 10 + b, nullptr));
    planes.push_back(std::move(p));
  }
  std::vector<VipsImage*> raw;
  for (auto& p : planes) raw.push_back(p.get());
  vimage joined, cast, tagged;
  check(vips_bandjoin(raw.data(), joined.out(), bands, nullptr));
  check(vips_cast_uchar(joined.get(), cast.out(), nullptr));
  const VipsInterpretation type = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
  check(vips_copy(cast.get(), tagged.out(), "interpretation", type, nullptr));
  return tagged;
}

// One colour (with a little noise) in every pixel.
vimage flat(int w, int h, std::array<double, 3> rgb) {
  vimage n = noise(w, h, 3, 7, 0, 2);
  vimage f, c, t;
  std::array<double, 3> ones{1, 1, 1};
  check(vips_linear(n.get(), f.out(), ones.data(), rgb.data(), 3, nullptr));
  check(vips_cast_uchar(f.get(), c.out(), nullptr));
  check(vips_copy(c.get(), t.out(), "interpretation", VIPS_INTERPRETATION_sRGB, nullptr));
  return t;
}

struct decoded {
  int width = 0, height = 0, bands = 0, orientation = 0;
  bool has_profile = false;
  std::string format;
};

decoded decode(const std::vector<unsigned char>& bytes) {
  vimage img(vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr));
  if (img.get() == nullptr) throw std::runtime_error("output does not decode");
  decoded d;
  d.width = vips_image_get_width(img.get());
  d.height = vips_image_get_height(img.get());
  d.bands = vips_image_get_bands(img.get());
  d.orientation = vips_image_get_orientation(img.get());
  d.has_profile = vips_image_get_typeof(img.get(), VIPS_META_ICC_NAME) != 0;
  d.format = std::string(sniff_image_format(bytes));
  return d;
}

// Mean of a rectangle of an encoded image, band `band`.
double mean_of(const std::vector<unsigned char>& bytes, int left, int top, int w, int h, int band = 0) {
  vimage img(vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr));
  vimage area, one;
  check(vips_crop(img.get(), area.out(), left, top, w, h, nullptr));
  check(vips_extract_band(area.get(), one.out(), band, nullptr));
  double avg = 0;
  check(vips_avg(one.get(), &avg, nullptr));
  return avg;
}

class Resize : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_resize_module_fallback(XIMUP_RESIZE_MODULE_PATH);
    ASSERT_FALSE(resize_init().has_value());
    dir_ = std::filesystem::temp_directory_path() / ("ximup-resize-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes the image to the temp dir with libvips (format and options from the suffix, e.g.
  // ".jpg[Q=90]") and reads the file back: what ximup's workers hold.
  static std::vector<unsigned char> file(const vimage& img, const std::string& name,
                                         const std::string& options = "") {
    const std::string path = (dir_ / name).string();
    check(vips_image_write_to_file(img.get(), (path + options).c_str(), nullptr));
    return read(path);
  }
  static std::vector<unsigned char> read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static resize_options options(std::uint32_t target, std::uint64_t min_bytes = 0) {
    resize_options o;
    o.target = target;
    o.min_bytes = min_bytes;
    return o;
  }
  // shrink_image to `target` with JPEGs decoded by `decoder`: "scaled_jpeg" (ours, at 1/2, 1/4, 1/8),
  // "turbojpeg" or "libvips" (its loader); checks that the asked decoder is the one that ran.
  static resize_report shrink_decoded_by(std::string_view decoder, const std::vector<unsigned char>& input,
                                         std::uint32_t target, std::vector<unsigned char>& out) {
    resize_options o = options(target);
    o.turbojpeg = decoder != "libvips";
    o.scaled_jpeg = decoder == "scaled_jpeg";
    resize_report r = shrink_image(input, o, out);
    EXPECT_EQ(r.decoder, decoder);
    return r;
  }
  static std::string decoder_name(std::string_view decoder) { return std::string(decoder) + " decodes"; }

  static inline std::filesystem::path dir_;
};

// libvips must not generate ORC code: ORC's code memory is not safe across threads (shrink_image.cpp
// says why), and ximup's workers resize at the same time.
TEST_F(Resize, LibvipsGeneratesNoOrcCode) {
  EXPECT_FALSE(vips_vector_isenabled());
}

}  // namespace

TEST_F(Resize, LargeJpegIsResizedToThePlannedSize) {
  const auto input = file(noise(1200, 900, 3, 1), "large.jpg", "[Q=90]");
  ASSERT_GT(input.size(), 100U * 1024U);  // above the default min_bytes
  resize_options o;
  o.target = 300;
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, o, out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_TRUE(r.note.empty());
  EXPECT_EQ(r.original, (dimensions{1200, 900}));
  EXPECT_EQ(r.original_bytes, input.size());
  EXPECT_EQ(r.original_format, "jpeg");
  EXPECT_EQ(r.decoder, "scaled_jpeg");  // 1200 x 900 to 400 x 300: decoded at 1/2
  EXPECT_EQ(r.sent, (dimensions{400, 300}));
  EXPECT_EQ(r.sent_format, "jpeg");
  EXPECT_EQ(r.sent_bytes, out.size());
  EXPECT_LT(out.size(), input.size());
  const decoded d = decode(out);
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.width, 400);
  EXPECT_EQ(d.height, 300);
  EXPECT_EQ(d.bands, 3);
}

TEST_F(Resize, LongerSideOption) {
  const auto input = file(noise(1200, 900, 3, 2), "longer.jpg", "[Q=90]");
  resize_options o = options(300);
  o.side = resize_side::longer;
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, o, out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  const decoded d = decode(out);
  EXPECT_EQ(d.width, 300);
  EXPECT_EQ(d.height, 225);
}

TEST_F(Resize, ExifOrientationIsAppliedAndNotKept) {
  // Stored landscape 1200x900, top half bright; orientation 6 displays it rotated 90 degrees
  // clockwise: portrait 900x1200 with the bright half on the right.
  vimage base = noise(1200, 900, 3, 3, 60, 20);
  vimage top, bright, combined, tagged;
  check(vips_crop(base.get(), top.out(), 0, 0, 1200, 450, nullptr));
  check(vips_linear1(top.get(), bright.out(), 1.0, 120.0, "uchar", TRUE, nullptr));
  check(vips_insert(base.get(), bright.get(), combined.out(), 0, 0, nullptr));
  check(vips_copy(combined.get(), tagged.out(), nullptr));
  vips_image_set_int(tagged.get(), VIPS_META_ORIENTATION, 6);
  const auto input = file(tagged, "oriented.jpg", "[Q=90]");
  ASSERT_EQ(decode(input).orientation, 6);  // the file really carries the tag
  ASSERT_EQ(decode(input).width, 1200);

  for (const char* decoder : {"scaled_jpeg", "turbojpeg", "libvips"}) {  // decoded at 1/2
    SCOPED_TRACE(decoder_name(decoder));
    std::vector<unsigned char> out;
    const resize_report r = shrink_decoded_by(decoder, input, 300, out);
    ASSERT_EQ(r.action, resize_action::resized) << r.note;
    EXPECT_EQ(r.original, (dimensions{900, 1200}));  // as displayed
    EXPECT_EQ(r.sent, (dimensions{300, 400}));
    const decoded d = decode(out);
    EXPECT_EQ(d.width, 300);
    EXPECT_EQ(d.height, 400);
    EXPECT_NE(d.orientation, 6);  // stripped: a viewer must not rotate it a second time
    const double left = mean_of(out, 0, 0, 150, 400);
    const double right = mean_of(out, 150, 0, 150, 400);
    EXPECT_GT(right, left + 60) << "left " << left << " right " << right;
  }
}

TEST_F(Resize, EmbeddedProfileIsConvertedToSrgb) {
  // The same colour saved in Display P3 with its profile: the pixel values differ from sRGB's.
  const std::array<double, 3> colour{200, 100, 50};
  vimage srgb = flat(800, 600, colour);
  vimage p3;
  check(vips_icc_transform(srgb.get(), p3.out(), "p3", "input_profile", "srgb", nullptr));
  const auto input = file(p3, "p3.jpg", "[Q=95]");
  ASSERT_TRUE(decode(input).has_profile);
  ASSERT_GT(std::abs(mean_of(input, 0, 0, 800, 600, 0) - colour[0]), 8.0);  // really not sRGB values

  for (const char* decoder : {"scaled_jpeg", "turbojpeg", "libvips"}) {  // decoded at 1/2
    SCOPED_TRACE(decoder_name(decoder));
    std::vector<unsigned char> out;
    const resize_report r = shrink_decoded_by(decoder, input, 300, out);
    ASSERT_EQ(r.action, resize_action::resized) << r.note;
    const decoded d = decode(out);
    EXPECT_FALSE(d.has_profile);  // stripped; the pixels are sRGB
    for (int band = 0; band < 3; ++band) {
      EXPECT_NEAR(mean_of(out, 0, 0, d.width, d.height, band), colour[static_cast<std::size_t>(band)], 4.0)
          << "band " << band;
    }
  }
}

TEST_F(Resize, CmykIsConvertedToSrgb) {
  const std::array<double, 3> colour{200, 100, 50};
  vimage srgb = flat(800, 600, colour);
  vimage cmyk;
  check(vips_icc_transform(srgb.get(), cmyk.out(), "cmyk", "input_profile", "srgb", nullptr));
  const auto input = file(cmyk, "cmyk.jpg", "[Q=95]");
  ASSERT_EQ(decode(input).bands, 4);

  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(300), out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.decoder, "libvips");  // TurboJPEG's path takes YCbCr and greyscale only
  const decoded d = decode(out);
  EXPECT_EQ(d.bands, 3);
  EXPECT_FALSE(d.has_profile);
  for (int band = 0; band < 3; ++band) {
    EXPECT_NEAR(mean_of(out, 0, 0, d.width, d.height, band), colour[static_cast<std::size_t>(band)], 8.0)
        << "band " << band;
  }
}

TEST_F(Resize, TruncatedPngIsSentUnchangedWithANote) {
  auto input = file(noise(800, 600, 4, 13), "truncated.png");
  input.resize(input.size() * 6 / 10);
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(200), out);
  EXPECT_EQ(r.action, resize_action::unchanged_undecodable);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.note.empty());
}

TEST_F(Resize, SmallFileIsUntouchedAndNotDecoded) {
  const auto input = file(flat(1200, 900, {90, 90, 90}), "small.jpg", "[Q=50]");
  ASSERT_LT(input.size(), 100U * 1024U);
  resize_options o;
  o.target = 300;                           // default min_bytes = 100 KiB
  std::vector<unsigned char> out{1, 2, 3};  // cleared by the call
  const resize_report r = shrink_image(input, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_small_file);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.sent_bytes, input.size());
  EXPECT_EQ(r.original, (dimensions{0, 0}));  // not decoded, so unknown
  EXPECT_TRUE(r.note.empty());
}

TEST_F(Resize, ImageThatFitsIsUntouched) {
  const auto input = file(noise(500, 400, 3, 4), "fits.jpg", "[Q=90]");
  const std::vector<unsigned char> copy = input;
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(600), out);
  EXPECT_EQ(r.action, resize_action::unchanged_fits);
  EXPECT_TRUE(out.empty());  // the caller sends `input`
  EXPECT_EQ(input, copy);    // byte-identical
  EXPECT_EQ(r.original, (dimensions{500, 400}));
  EXPECT_EQ(r.sent, r.original);
  EXPECT_EQ(r.sent_bytes, input.size());
  EXPECT_EQ(r.sent_format, "jpeg");
}

TEST_F(Resize, ResizingOffLeavesEverythingAlone) {
  const auto input = file(noise(800, 600, 3, 5), "off.jpg", "[Q=90]");
  std::vector<unsigned char> out;
  EXPECT_EQ(shrink_image(input, options(0), out).action, resize_action::unchanged_disabled);
  EXPECT_TRUE(out.empty());
}

TEST_F(Resize, PngWithAlphaStaysPngWithAlpha) {
  const auto input = file(noise(800, 600, 4, 6), "alpha.png");
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(200), out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.original_format, "png");
  EXPECT_EQ(r.sent_format, "png");
  const decoded d = decode(out);
  EXPECT_EQ(d.format, "png");
  EXPECT_EQ(d.bands, 4);
  EXPECT_EQ(d.width, 267);  // 266.67
  EXPECT_EQ(d.height, 200);
}

TEST_F(Resize, PngWithoutAlphaBecomesJpeg) {
  const auto input = file(noise(800, 600, 3, 7), "opaque.png");
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(200), out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.sent_format, "jpeg");
  const decoded d = decode(out);
  EXPECT_EQ(d.format, "jpeg");
  EXPECT_EQ(d.bands, 3);
  EXPECT_EQ(d.width, 267);
}

TEST_F(Resize, GreyscaleStaysGreyscale) {
  const auto input = file(noise(800, 600, 1, 8), "grey.jpg", "[Q=90]");
  for (const char* decoder : {"scaled_jpeg", "turbojpeg", "libvips"}) {  // decoded at 1/2
    SCOPED_TRACE(decoder_name(decoder));
    std::vector<unsigned char> out;
    const resize_report r = shrink_decoded_by(decoder, input, 200, out);
    ASSERT_EQ(r.action, resize_action::resized) << r.note;
    EXPECT_EQ(decode(out).bands, 1);
    EXPECT_EQ(r.sent, (dimensions{267, 200}));
  }
}

// The three JPEG decoders must give the same picture: quadrants of different colours (a swapped
// channel, a flipped or shifted image, a wrong scale would all show), compared region by region, for
// each of the eight EXIF orientations (our and TurboJPEG's paths hand the tag to libvips, which rotates).
TEST_F(Resize, AllJpegDecodersGiveTheSamePicture) {
  vimage canvas = flat(1600, 1200, {40, 90, 200});
  const std::array<std::array<double, 3>, 3> colours{{{220, 40, 40}, {30, 200, 60}, {240, 230, 20}}};
  const std::array<std::array<int, 2>, 3> corners{{{800, 0}, {0, 600}, {800, 600}}};
  for (std::size_t i = 0; i < colours.size(); ++i) {
    vimage patch = flat(800, 600, colours[i]);
    vimage joined;
    check(vips_insert(canvas.get(), patch.get(), joined.out(), corners[i][0], corners[i][1], nullptr));
    canvas = std::move(joined);
  }
  vimage grain = noise(1600, 1200, 3, 21, 0, 12);  // texture, so the file is photo-sized
  vimage sum, cast, textured;
  check(vips_add(canvas.get(), grain.get(), sum.out(), nullptr));
  check(vips_cast_uchar(sum.get(), cast.out(), nullptr));
  textured = vimage(vips_image_copy_memory(cast.get()));  // computed once, not once per orientation
  ASSERT_NE(textured.get(), nullptr);

  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE("orientation " + std::to_string(orientation));
    vimage tagged;
    check(vips_copy(textured.get(), tagged.out(), nullptr));
    vips_image_set_int(tagged.get(), VIPS_META_ORIENTATION, orientation);
    const auto input = file(tagged, "quadrants.jpg", "[Q=92]");
    ASSERT_EQ(decode(input).orientation, orientation);
    const bool swapped = orientation >= 5;  // 5-8 turn the picture a quarter
    const dimensions expected = swapped ? dimensions{300, 400} : dimensions{400, 300};

    // 1600 x 1200 to 400 x 300: decoded at 1/4, where all three decode.
    const std::array<const char*, 3> decoders{"scaled_jpeg", "turbojpeg", "libvips"};
    std::array<std::vector<unsigned char>, 3> outs;
    for (std::size_t i = 0; i < decoders.size(); ++i) {
      SCOPED_TRACE(decoder_name(decoders[i]));
      const resize_report r = shrink_decoded_by(decoders[i], input, 300, outs[i]);
      ASSERT_EQ(r.action, resize_action::resized) << r.note;
      ASSERT_EQ(r.sent, expected);
    }
    // Each quadrant, 10 px in from its edges (the resize blends colours across a boundary).
    const int half_w = static_cast<int>(expected.width) / 2;
    const int half_h = static_cast<int>(expected.height) / 2;
    for (const auto& [left, top] :
         std::array<std::array<int, 2>, 4>{{{0, 0}, {half_w, 0}, {0, half_h}, {half_w, half_h}}}) {
      for (int band = 0; band < 3; ++band) {
        const double vips = mean_of(outs[2], left + 10, top + 10, half_w - 20, half_h - 20, band);
        for (std::size_t i = 0; i < 2; ++i) {
          EXPECT_NEAR(mean_of(outs[i], left + 10, top + 10, half_w - 20, half_h - 20, band), vips, 1.5)
              << decoders[i] << ": quadrant at " << left << "," << top << " band " << band;
        }
      }
    }
  }
}

// TurboJPEG stops at any libjpeg warning; libvips's loader tolerates all but truncation. A file with
// stray bytes before a marker is then decoded by libvips, as before the fast path existed.
TEST_F(Resize, JpegThatTurboJpegRefusesIsDecodedByLibvips) {
  auto input = file(noise(1200, 900, 3, 22), "stray.jpg", "[Q=90]");
  // "Corrupt JPEG data: 3 extraneous bytes before marker 0xdb": before the first quantisation table.
  // (Before the end marker they would not do: the entropy decoder reads them as padding.)
  const std::array<unsigned char, 2> dqt{0xFF, 0xDB};
  const auto at = std::search(input.begin(), input.end(), dqt.begin(), dqt.end());
  ASSERT_NE(at, input.end());
  input.insert(at, {0x12, 0x34, 0x56});
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(300), out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.decoder, "libvips");
  EXPECT_EQ(decode(out).height, 300);
}

TEST_F(Resize, TruncatedJpegIsSentUnchangedWithANote) {
  auto input = file(noise(1200, 900, 3, 9), "truncated.jpg", "[Q=90]");
  input.resize(input.size() * 6 / 10);
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(300), out);
  EXPECT_EQ(r.action, resize_action::unchanged_undecodable);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.note.empty());
  EXPECT_EQ(r.sent_bytes, input.size());
  EXPECT_EQ(r.original_format, "jpeg");
  EXPECT_EQ(r.original, (dimensions{1200, 900}));  // the header was readable
  EXPECT_EQ(r.decoder, "turbojpeg");               // its refusal ("Premature end of JPEG file") decided
}

// Damaged entropy-coded data that libvips would decode anyway, with grey where the data is missing: a
// file cut short but ending in its end marker (a download that stopped, then "repaired"), and a stray
// marker in the middle of the scan. Sent as they are, with a note, like a file cut without its marker;
// not resized into a picture whose lower half is grey. (Our decoder and TurboJPEG both refuse them.)
TEST_F(Resize, DamagedJpegDataIsSentUnchangedNotResizedWithGrey) {
  const auto whole = file(noise(1200, 900, 3, 19), "whole.jpg", "[Q=90]");
  auto cut = std::vector<unsigned char>(whole.begin(),
                                        whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2));
  cut.insert(cut.end(), {0xFF, 0xD9});
  auto stray = whole;
  stray[stray.size() / 2] = 0xFF;
  stray[stray.size() / 2 + 1] = 0xC9;
  for (const auto* input : {&cut, &stray}) {
    std::vector<unsigned char> out;
    const resize_report r = shrink_image(*input, options(300), out);
    EXPECT_EQ(r.action, resize_action::unchanged_undecodable) << r.note;
    EXPECT_TRUE(out.empty());
    EXPECT_NE(r.note.find("Corrupt JPEG data"), std::string::npos) << r.note;
    EXPECT_EQ(r.sent_bytes, input->size());
  }
}

TEST_F(Resize, JpegWithBrokenHeaderIsSentUnchangedWithANote) {
  std::vector<unsigned char> input{0xFF, 0xD8, 0xFF, 0xE0};
  input.resize(4096, 0x5A);
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(300), out);
  EXPECT_EQ(r.action, resize_action::unchanged_undecodable);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.note.empty());
}

TEST_F(Resize, GarbageInsideAJpegNeverCrashes) {
  const auto good = file(noise(1200, 900, 3, 10), "garbage.jpg", "[Q=90]");
  for (std::size_t start : {std::size_t{700}, good.size() / 3, good.size() / 2}) {
    auto input = good;
    for (std::size_t i = start; i < start + 2000 && i < input.size(); ++i)
      input[i] = static_cast<unsigned char>(i * 31);
    std::vector<unsigned char> out;
    const resize_report r = shrink_image(input, options(300), out);
    if (r.resized()) {
      EXPECT_EQ(decode(out).height, 300);  // libjpeg may decode damaged data; then it is a valid image
    } else {
      EXPECT_TRUE(out.empty());
      EXPECT_FALSE(r.note.empty());
    }
  }
}

TEST_F(Resize, NotAnImageIsSentUnchanged) {
  std::string text(200 * 1024, 'x');
  std::vector<unsigned char> input(text.begin(), text.end());
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(300, 100 * 1024), out);
  EXPECT_EQ(r.action, resize_action::unchanged_unsupported_format);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(r.note.empty());
  EXPECT_EQ(r.original_format, "");
}

TEST_F(Resize, OtherFormatsLibvipsKnowsAreNotLoaded) {
  // An SVG that libvips could render: ximup only decodes the photo formats it sniffs.
  const std::string svg = R"(<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"></svg>)";
  std::vector<unsigned char> input(svg.begin(), svg.end());
  std::vector<unsigned char> out;
  EXPECT_EQ(shrink_image(input, options(300), out).action, resize_action::unchanged_unsupported_format);
}

TEST_F(Resize, AnimatedGifAndWebpAreSentUnchangedWithANote) {
  std::vector<vimage> frames;
  for (int i = 0; i < 3; ++i) frames.push_back(noise(200, 150, 3, 20 + i));
  std::vector<VipsImage*> raw;
  for (auto& f : frames) raw.push_back(f.get());
  vimage strip, anim;
  check(vips_arrayjoin(raw.data(), strip.out(), 3, "across", 1, nullptr));
  check(vips_copy(strip.get(), anim.out(), nullptr));
  vips_image_set_int(anim.get(), VIPS_META_PAGE_HEIGHT, 150);
  vips_image_set_int(anim.get(), VIPS_META_N_PAGES, 3);
  for (const char* name : {"anim.gif", "anim.webp"}) {
    const auto input = file(anim, name);
    std::vector<unsigned char> out;
    const resize_report r = shrink_image(input, options(50), out);
    EXPECT_EQ(r.action, resize_action::unchanged_animated) << name;
    EXPECT_TRUE(out.empty());
    EXPECT_NE(r.note.find("3 frames"), std::string::npos) << r.note;
    EXPECT_EQ(r.original, (dimensions{200, 150})) << name;
  }
}

TEST_F(Resize, SingleFrameGifIsResized) {
  const auto input = file(noise(400, 300, 3, 30), "still.gif");
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, options(100), out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.original_format, "gif");
  EXPECT_EQ(decode(out).height, 100);
}

TEST_F(Resize, ReencodingThatIsNotSmallerSendsTheOriginal) {
  // A heavily compressed source just above the target, re-encoded at quality 100.
  const auto input = file(noise(700, 700, 3, 11), "lowq.jpg", "[Q=5]");
  resize_options o = options(690);
  o.jpeg_quality = 100;
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_not_smaller);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.sent_bytes, input.size());
  EXPECT_EQ(r.sent, (dimensions{700, 700}));
  EXPECT_FALSE(r.note.empty());
}

// --no-jpeg-optimize: libjpeg's standard Huffman tables instead of tables made for the image. The
// pixels are the same (the tables are lossless); the bytes are more.
TEST_F(Resize, StandardHuffmanTablesGiveTheSamePixelsInMoreBytes) {
  const auto input = file(noise(1600, 1200, 3, 13), "tables.jpg", "[Q=90]");
  resize_options o = options(400);
  std::vector<unsigned char> optimised;
  ASSERT_EQ(shrink_image(input, o, optimised).action, resize_action::resized);
  o.optimize_coding = false;
  std::vector<unsigned char> standard;
  ASSERT_EQ(shrink_image(input, o, standard).action, resize_action::resized);
  EXPECT_GT(standard.size(), optimised.size());
  const auto pixels = [](const std::vector<unsigned char>& bytes) {
    vimage img(vips_image_new_from_buffer(bytes.data(), bytes.size(), "", nullptr));
    if (img.get() == nullptr) throw std::runtime_error("output does not decode");
    std::size_t n = 0;
    auto* memory = static_cast<unsigned char*>(vips_image_write_to_memory(img.get(), &n));
    std::vector<unsigned char> out(memory, memory + n);
    g_free(memory);
    return out;
  };
  EXPECT_EQ(pixels(standard), pixels(optimised));
}

// The luma component's sampling factors in a JPEG's frame header (SOF0/1/2): 0x22 for 4:2:0 (chroma
// halved each way), 0x11 for 4:4:4; 0 when there is no frame header.
int luma_sampling(const std::vector<unsigned char>& jpeg) {
  for (std::size_t i = 2; i + 12 < jpeg.size();) {
    if (jpeg[i] != 0xFF) return 0;
    const int marker = jpeg[i + 1];
    if (marker >= 0xC0 && marker <= 0xC2) return jpeg[i + 11];
    i += 2 + (std::size_t{jpeg[i + 2]} << 8 | jpeg[i + 3]);
  }
  return 0;
}

// --jpeg-chroma: auto leaves it to libvips (4:4:4 at quality 90 and above, 4:2:0 below); 444 and 420
// hold at any quality, and 4:2:0 takes fewer bytes.
TEST_F(Resize, ChromaSubsamplingFollowsTheOption) {
  const auto input = file(noise(1600, 1200, 3, 14), "chroma.jpg", "[Q=95]");
  const auto resized = [&](jpeg_chroma chroma, int quality) {
    resize_options o = options(400);
    o.chroma = chroma;
    o.jpeg_quality = quality;
    std::vector<unsigned char> out;
    const resize_report r = shrink_image(input, o, out);
    EXPECT_EQ(r.action, resize_action::resized) << r.note;
    return out;
  };
  EXPECT_EQ(luma_sampling(resized(jpeg_chroma::automatic, 90)), 0x11);
  EXPECT_EQ(luma_sampling(resized(jpeg_chroma::automatic, 80)), 0x22);
  EXPECT_EQ(luma_sampling(resized(jpeg_chroma::full, 80)), 0x11);
  const auto half = resized(jpeg_chroma::half, 90);
  EXPECT_EQ(luma_sampling(half), 0x22);
  const auto full = resized(jpeg_chroma::full, 90);
  EXPECT_LT(half.size(), full.size());
  EXPECT_EQ(decode(half).width, decode(full).width);
  EXPECT_EQ(decode(half).height, 400);
}

// The JPEG fast path without an orientation or a profile encodes with libjpeg directly: the bytes
// libvips's jpegsave writes for the same pixels and settings. Odd sizes (partial blocks and MCUs),
// RGB and grey, qualities on both sides of jpegsave's automatic chroma, each table and chroma choice.
TEST_F(Resize, DirectEncodeIsByteForByteLibvips) {
  for (const int bands : {3, 1}) {
    const vimage img = noise(301, 203, bands, 21);
    std::size_t n = 0;
    auto* memory = static_cast<unsigned char*>(vips_image_write_to_memory(img.get(), &n));
    const std::vector<unsigned char> pixels(memory, memory + n);
    g_free(memory);
    for (const int quality : {90, 75}) {
      for (const bool optimize : {true, false}) {
        for (const auto& [chroma, mode] : {std::pair{jpeg_chroma::automatic, VIPS_FOREIGN_SUBSAMPLE_AUTO},
                                           std::pair{jpeg_chroma::full, VIPS_FOREIGN_SUBSAMPLE_OFF},
                                           std::pair{jpeg_chroma::half, VIPS_FOREIGN_SUBSAMPLE_ON}}) {
          void* buf = nullptr;
          std::size_t len = 0;
          check(vips_jpegsave_buffer(img.get(), &buf, &len, "Q", quality, "strip", TRUE, "optimize_coding",
                                     optimize ? TRUE : FALSE, "subsample_mode", mode, nullptr));
          const std::vector<unsigned char> expected(static_cast<unsigned char*>(buf),
                                                    static_cast<unsigned char*>(buf) + len);
          g_free(buf);
          std::vector<unsigned char> direct;
          const std::string error = encode_jpeg(pixels, 301, 203, bands, {quality, optimize, chroma}, direct);
          EXPECT_EQ(error, "");
          EXPECT_TRUE(direct == expected)
              << bands << " bands, Q" << quality << ", optimize " << optimize << ", chroma "
              << static_cast<int>(chroma) << ": " << direct.size() << " bytes, libvips " << expected.size();
        }
      }
    }
  }
}

TEST_F(Resize, TooManyPixelsIsSentUnchanged) {
  const auto input = file(noise(1200, 900, 3, 12), "many.jpg", "[Q=90]");
  resize_options o = options(300);
  o.max_source_pixels = 1'000'000;
  std::vector<unsigned char> out;
  const resize_report r = shrink_image(input, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_too_large);
  EXPECT_TRUE(out.empty());
}

// Decodes that cannot stream are bounded from the header: an interlaced PNG holds every pixel, a
// progressive JPEG its blocks. Over max_decode_bytes they are sent unchanged (a 711 KB interlaced
// PNG of 15800 x 15800 took 827 MB); the same images non-interlaced and baseline are resized.
TEST_F(Resize, ADecodeThatWouldHoldTooMuchAtOnceIsSentUnchanged) {
  resize_options o = options(300);
  o.min_bytes = 0;
  // 2400 x 1800: interlaced RGB, 3 bytes a pixel, 12.4 MiB; progressive 4:4:4 (libvips's choice at
  // Q90), 6 bytes a pixel, 24.7 MiB.
  o.max_decode_bytes = std::uint64_t{6} << 20U;
  const auto interlaced = file(noise(2400, 1800, 3, 14), "inter.png", "[interlace=true,compression=1]");
  std::vector<unsigned char> out;
  resize_report r = shrink_image(interlaced, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_too_large) << r.note;
  EXPECT_NE(r.note.find("2400x1800 interlaced PNG would hold about 12 MiB at once to decode, more than the "
                        "resize limit of 6 MiB"),
            std::string::npos)
      << r.note;
  const auto progressive = file(noise(2400, 1800, 3, 15), "prog.jpg", "[Q=90,interlace=true]");
  r = shrink_image(progressive, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_too_large) << r.note;
  EXPECT_NE(r.note.find("2400x1800 progressive JPEG would hold about 24 MiB"), std::string::npos) << r.note;
  for (const auto& streamed : {file(noise(2400, 1800, 3, 14), "plain.png", "[compression=1]"),
                               file(noise(2400, 1800, 3, 15), "base.jpg", "[Q=90]")}) {
    EXPECT_EQ(shrink_image(streamed, o, out).action, resize_action::resized);
  }
  o.max_decode_bytes = std::uint64_t{64} << 20U;
  EXPECT_EQ(shrink_image(interlaced, o, out).action, resize_action::resized);
  EXPECT_EQ(shrink_image(progressive, o, out).action, resize_action::resized);
}

// A JPEG whose shorter side is under twice the target is decoded at full size, and the fast path
// holds those pixels whole (a 2 MB strip of 1100 x 60000 took 550 MB): over max_decode_bytes,
// libvips's loader streams it instead; with an orientation (rows read out of order) it is sent
// unchanged. An output whose coefficients exceed the limit gets the standard Huffman tables, since
// optimised ones keep every coefficient for their second pass.
TEST_F(Resize, AFullSizeJpegDecodeOverTheLimitStreams) {
  resize_options o = options(300);
  // 500 x 3000 to 300 x 1800: decoded at full size, 4.3 MiB; the output's coefficients 3.1 MiB.
  const auto strip = file(noise(500, 3000, 3, 16), "strip.jpg", "[Q=90]");
  std::vector<unsigned char> out;
  resize_report r = shrink_image(strip, o, out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.decoder, "turbojpeg");
  std::vector<unsigned char> optimised_fast = out;
  o.optimize_coding = false;
  ASSERT_EQ(shrink_image(strip, o, out).action, resize_action::resized);
  EXPECT_GT(out.size(), optimised_fast.size());

  o.max_decode_bytes = std::uint64_t{2} << 20U;
  std::vector<unsigned char> standard;
  r = shrink_image(strip, o, standard);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(r.decoder, "libvips");
  EXPECT_EQ(r.sent, (dimensions{300, 1800}));
  o.optimize_coding = true;  // asked for, but over the limit: the same bytes as without
  r = shrink_image(strip, o, out);
  ASSERT_EQ(r.action, resize_action::resized) << r.note;
  EXPECT_EQ(out, standard);

  vimage tagged;
  check(vips_copy(noise(500, 3000, 3, 16).get(), tagged.out(), nullptr));
  vips_image_set_int(tagged.get(), VIPS_META_ORIENTATION, 6);
  const auto oriented = file(tagged, "oriented-strip.jpg", "[Q=90]");
  r = shrink_image(oriented, o, out);
  EXPECT_EQ(r.action, resize_action::unchanged_too_large) << r.note;
  EXPECT_NE(
      r.note.find("3000x500 JPEG with orientation 6 would hold about 4 MiB at once to decode, more than "
                  "the resize limit of 2 MiB: sent unchanged"),
      std::string::npos)
      << r.note;
}

// A file's note holds its own errors only: a JPEG with a garbage ICC profile is resized (the profile
// ignored) but left libvips's complaint about it in libvips's error buffer, which the next failure,
// in any file, took into its note.
TEST_F(Resize, ANoteDoesNotCarryAnEarlierFilesError) {
  const auto plain = file(noise(1200, 900, 3, 17), "plain-icc.jpg", "[Q=90]");
  std::vector<unsigned char> garbage_icc(plain.begin(), plain.begin() + 2);  // SOI
  const std::string tag = "ICC_PROFILE";
  std::vector<unsigned char> segment = {0xFF, 0xE2, 0x02, 0xFE};  // APP2, 766 bytes after its marker
  segment.insert(segment.end(), tag.begin(), tag.end());
  segment.insert(segment.end(), {0, 1, 1});
  for (std::size_t i = segment.size(); i < 768; ++i) segment.push_back(static_cast<unsigned char>(i * 37));
  garbage_icc.insert(garbage_icc.end(), segment.begin(), segment.end());
  garbage_icc.insert(garbage_icc.end(), plain.begin() + 2, plain.end());
  resize_options o = options(300);
  std::vector<unsigned char> out;
  const resize_report icc = shrink_image(garbage_icc, o, out);
  ASSERT_EQ(icc.action, resize_action::resized) << icc.note;

  auto twelve_bit = plain;  // the frame header's sample precision patched to 12: libvips refuses it
  for (std::size_t i = 2; i + 4 < twelve_bit.size(); ++i) {
    if (twelve_bit[i] == 0xFF && twelve_bit[i + 1] == 0xC0) {
      twelve_bit[i + 4] = 12;
      break;
    }
  }
  const resize_report bad = shrink_image(twelve_bit, o, out);
  EXPECT_EQ(bad.action, resize_action::unchanged_undecodable) << bad.note;
  EXPECT_EQ(bad.note.find("ICC"), std::string::npos) << bad.note;
}

TEST_F(Resize, ConcurrentCallsGiveTheSameResults) {
  std::vector<std::vector<unsigned char>> inputs;
  inputs.push_back(file(noise(800, 600, 3, 40), "c1.jpg", "[Q=90]"));
  inputs.push_back(file(noise(400, 300, 4, 41), "c2.png"));
  auto truncated = file(noise(800, 600, 3, 42), "c3.jpg", "[Q=90]");
  truncated.resize(truncated.size() / 2);
  inputs.push_back(truncated);
  inputs.push_back(std::vector<unsigned char>(150 * 1024, 'z'));
  inputs.push_back(file(noise(250, 200, 3, 43), "c5.jpg", "[Q=90]"));

  // Expected results, one call at a time.
  std::vector<resize_action> actions;
  std::vector<std::vector<unsigned char>> outputs(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i)
    actions.push_back(shrink_image(inputs[i], options(240), outputs[i]).action);
  EXPECT_EQ(actions[0], resize_action::resized);
  EXPECT_EQ(actions[1], resize_action::resized);
  EXPECT_EQ(actions[2], resize_action::unchanged_undecodable);
  EXPECT_EQ(actions[3], resize_action::unchanged_unsupported_format);
  EXPECT_EQ(actions[4], resize_action::unchanged_fits);

  constexpr int threads = 4;
  constexpr int calls = 20;
  std::vector<int> mismatches(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<unsigned char> out;  // reused, as a worker does
      for (int c = 0; c < calls; ++c) {
        const std::size_t i = static_cast<std::size_t>(t + c) % inputs.size();
        const resize_report r = shrink_image(inputs[i], options(240), out);
        if (r.action != actions[i] || out != outputs[i]) ++mismatches[static_cast<std::size_t>(t)];
      }
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t) EXPECT_EQ(mismatches[static_cast<std::size_t>(t)], 0) << "thread " << t;
}

// Our Lanczos-3 (resample.hpp, used after the JPEG decoders) against libvips's (vips_resize, the
// kernel vips_thumbnail used before): the same filter, so the same picture within rounding, on a
// picture with detail at every scale (smooth gradient plus noise).
TEST(ResampleAgainstLibvips, SameLanczos3Picture) {
  vimage grain = noise(1000, 750, 3, 31, 0, 25);
  vimage ramp, ramp3, sum, cast;
  check(vips_xyz(ramp.out(), 1000, 750, nullptr));  // two bands: x, y
  std::array<double, 2> scale{0.12, 0.2};
  std::array<double, 2> offset{20, 10};
  vimage scaled;
  check(vips_linear(ramp.get(), scaled.out(), scale.data(), offset.data(), 2, nullptr));
  vimage first;
  check(vips_extract_band(scaled.get(), first.out(), 0, nullptr));
  std::array<VipsImage*, 3> bands{first.get(), first.get(), first.get()};
  check(vips_bandjoin(bands.data(), ramp3.out(), 3, nullptr));
  check(vips_add(ramp3.get(), grain.get(), sum.out(), nullptr));
  check(vips_cast_uchar(sum.get(), cast.out(), nullptr));
  vimage source(vips_image_copy_memory(cast.get()));
  ASSERT_NE(source.get(), nullptr);
  std::size_t size = 0;
  auto* pixels = static_cast<unsigned char*>(vips_image_write_to_memory(source.get(), &size));
  std::vector<unsigned char> src(pixels, pixels + size);
  g_free(pixels);

  ximup::resample_scratch scratch;
  std::vector<unsigned char> ours(std::size_t{800} * 600 * 3);
  ximup::lanczos3_resample(src.data(), 1000, 750, 3, ours.data(), 800, 600, scratch);

  vimage theirs;
  check(vips_resize(source.get(), theirs.out(), 0.8, "kernel", VIPS_KERNEL_LANCZOS3, nullptr));
  ASSERT_EQ(vips_image_get_width(theirs.get()), 800);
  ASSERT_EQ(vips_image_get_height(theirs.get()), 600);
  pixels = static_cast<unsigned char*>(vips_image_write_to_memory(theirs.get(), &size));
  std::vector<unsigned char> reference(pixels, pixels + size);
  g_free(pixels);
  ASSERT_EQ(reference.size(), ours.size());
  double sum_diff = 0;
  int max_diff = 0;
  for (std::size_t i = 0; i < ours.size(); ++i) {
    const int d = std::abs(static_cast<int>(ours[i]) - static_cast<int>(reference[i]));
    sum_diff += d;
    max_diff = std::max(max_diff, d);
  }
  const double mean = sum_diff / static_cast<double>(ours.size());
  EXPECT_LT(mean, 1.0);
  EXPECT_LT(max_diff, 16);
  std::printf("ours vs libvips's Lanczos-3: mean |difference| %.3f, max %d\n", mean, max_diff);
}
