// Resize throughput (bench/resize.sh, docs/resize.md). A plain main, not Google Benchmark: one run
// is a whole tree pushed through N threads, which is what the pipeline's workers do.
//
//   resize_bench generate DIR COUNT [WIDTH HEIGHT]   write COUNT photo-like JPEGs (default 4000x3000)
//   resize_bench progressive FROM_DIR TO_DIR          the same JPEGs made progressive, losslessly
//   resize_bench run DIR MODE [--threads N] [--target N] [--runs N] [--quality Q] [--chroma 444|420]
//                             [--optimize yes|no]   (the last two: --jpeg-chroma, --no-jpeg-optimize)
//   resize_bench quality DIR [--target N]   PSNR of what ximup sends (as shipped, with libvips's reduce,
//                                           and the TurboJPEG path) against a full decode resized by libvips
//
// MODE: shrink  ximup::shrink_image as shipped: ximup's scaled JPEG decoder and Lanczos-3, libjpeg
//               encodes (libvips rotates, converts colour and encodes a file with an orientation
//               or a profile)
//       vipsreduce the same with libvips's reduce instead of ours (resize_options::resample = false)
//       turbojpeg ximup::shrink_image with TurboJPEG decoding and libvips's reduce (sessions 4-7)
//       libvips ximup::shrink_image with libvips's own JPEG loader (resize_options::turbojpeg = false)
//       full    libvips without shrink-on-load: decode every pixel, vips_resize, encode
//       turbo   libjpeg-turbo directly: TurboJPEG DCT-scaled decode, our area filter, TurboJPEG encode
//               (JPEG only, no EXIF/ICC handling: the lower bound of what a hand-written path costs)
// Files are read into memory first: only decoding, resizing and encoding are timed.
#include <sys/resource.h>
#include <turbojpeg.h>
#include <vips/vips.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ximup/resize.hpp"

namespace {

using bytes = std::vector<unsigned char>;

[[noreturn]] void fail(const std::string& what) {
  char* e = vips_error_buffer_copy();
  std::fprintf(stderr, "resize_bench: %s %s\n", what.c_str(), e != nullptr ? e : "");
  g_free(e);
  std::exit(1);
}

// ---- generate --------------------------------------------------------------------------------

// Photo-like content: large-scale Perlin structure per channel plus fine grain, so a 12 MP JPEG at
// Q90 is 3-5 MB like a camera's, not a flat colour that compresses to nothing.
void generate(const std::string& dir, int count, int width, int height) {
  std::filesystem::create_directories(dir);
  vips_concurrency_set(2);
  for (int i = 0; i < count; ++i) {
    VipsImage* planes[3] = {};
    const int cells[3] = {200 + 37 * (i % 5), 64 + 11 * (i % 7), 500};
    for (int b = 0; b < 3; ++b) {
      if (vips_perlin(&planes[b], width, height, "cell_size", cells[b], "seed", i * 3 + b, nullptr) != 0)
        fail("perlin");
    }
    VipsImage *joined = nullptr, *scaled = nullptr, *grain = nullptr, *sum = nullptr, *cast = nullptr,
              *tagged = nullptr;
    if (vips_bandjoin(planes, &joined, 3, nullptr) != 0 ||
        vips_linear1(joined, &scaled, 100.0, 128.0, nullptr) != 0 ||
        vips_gaussnoise(&grain, width, height, "sigma", 9.0, "mean", 0.0, "seed", 1000 + i, nullptr) != 0 ||
        vips_add(scaled, grain, &sum, nullptr) != 0 || vips_cast_uchar(sum, &cast, nullptr) != 0 ||
        vips_copy(cast, &tagged, "interpretation", VIPS_INTERPRETATION_sRGB, nullptr) != 0) {
      fail("generate");
    }
    char name[64];
    std::snprintf(name, sizeof name, "/photo_%03d.jpg", i);
    // 4:2:0 chroma subsampling, as cameras and phones write (libvips would not subsample at Q 90).
    if (vips_jpegsave(tagged, (dir + name).c_str(), "Q", 90, "subsample_mode", VIPS_FOREIGN_SUBSAMPLE_ON,
                      nullptr) != 0) {
      fail("jpegsave");
    }
    for (VipsImage* p : {planes[0], planes[1], planes[2], joined, scaled, grain, sum, cast, tagged})
      g_object_unref(p);
    std::fprintf(stderr, "\rgenerated %d/%d", i + 1, count);
  }
  std::fprintf(stderr, "\n");
}

// The same JPEGs made progressive without loss (TurboJPEG's transform: the coefficients are kept,
// only the scans change: libjpeg's standard progressive script), so that the two trees are the same
// pictures and differ only in how their data is ordered.
void make_progressive(const std::string& from, const std::string& to) {
  std::filesystem::create_directories(to);
  tjhandle h = tjInitTransform();
  if (h == nullptr) fail("tjInitTransform");
  for (const auto& entry : std::filesystem::directory_iterator(from)) {
    if (entry.path().extension() != ".jpg") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    const bytes in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    unsigned char* out = nullptr;
    unsigned long out_size = 0;  // NOLINT(google-runtime-int): TurboJPEG's type
    tjtransform t{};
    t.op = TJXOP_NONE;
    t.options = TJXOPT_PROGRESSIVE;
    if (tjTransform(h, in.data(), in.size(), 1, &out, &out_size, &t, 0) != 0)
      fail(std::string("tjTransform: ") + tjGetErrorStr2(h));
    std::ofstream o(to + "/" + entry.path().filename().string(), std::ios::binary);
    o.write(reinterpret_cast<const char*>(out), static_cast<std::streamsize>(out_size));
    tjFree(out);
    if (!o) fail("write " + to);
  }
  tjDestroy(h);
}

// ---- the three paths -------------------------------------------------------------------------

struct options {
  std::uint32_t target = 600;
  int quality = 90;
  ximup::jpeg_chroma chroma = ximup::jpeg_chroma::automatic;  ///< the shipped paths' JPEG output
  bool optimize_coding = true;
};

struct dims {
  int w, h;
};
// The shorter side to `target`, as ximup::plan_resize does.
dims planned(int w, int h, std::uint32_t target) {
  auto p = ximup::plan_resize({static_cast<std::uint32_t>(w), static_cast<std::uint32_t>(h)},
                              {.target = target, .side = ximup::resize_side::shorter});
  if (!p) return {w, h};
  return {static_cast<int>(p->width), static_cast<int>(p->height)};
}

std::atomic<std::size_t> turbojpeg_fallbacks{0};  ///< images the shipped path gave to TurboJPEG

std::size_t shrink_with(const bytes& in, const options& o, bytes& out, const char* decoder, bool resample) {
  ximup::resize_options ro;
  ro.target = o.target;
  ro.jpeg_quality = o.quality;
  ro.chroma = o.chroma;
  ro.optimize_coding = o.optimize_coding;
  ro.turbojpeg = std::string_view(decoder) != "libvips";
  ro.scaled_jpeg = std::string_view(decoder) == "scaled_jpeg";
  ro.resample = resample;
  const auto r = ximup::shrink_image(in, ro, out);
  if (!r.resized())
    fail("shrink_image did not resize: " + std::string(ximup::to_string(r.action)) + " " + r.note);
  // The shipped path hands what scaled_jpeg does not decode (progressive files, scales of 1/2) to
  // TurboJPEG: counted, not an error. Any other decoder is not the path being measured.
  if (r.decoder == "turbojpeg" && std::string_view(decoder) == "scaled_jpeg") {
    turbojpeg_fallbacks.fetch_add(1, std::memory_order_relaxed);
  } else if (r.decoder != decoder) {
    fail("shrink_image decoded with " + std::string(r.decoder) + ", not the path being measured");
  }
  return out.size();
}
// ximup as shipped: our scaled decoder and Lanczos-3 (session 8), libjpeg encodes (session 11; libvips
// rotates, converts and encodes files with an orientation or a profile).
std::size_t run_shrink(const bytes& in, const options& o, bytes& out) {
  return shrink_with(in, o, out, "scaled_jpeg", true);
}
// Our scaled decoder, libvips's reduce (resize_options::resample = false): session 8's first step.
std::size_t run_vipsreduce(const bytes& in, const options& o, bytes& out) {
  return shrink_with(in, o, out, "scaled_jpeg", false);
}
// TurboJPEG decoding and libvips's reduce (scaled_jpeg = false, resample = false): sessions 4-7.
std::size_t run_turbojpeg(const bytes& in, const options& o, bytes& out) {
  return shrink_with(in, o, out, "turbojpeg", false);
}
// libvips's own JPEG loader (resize_options::turbojpeg = false): sessions 1-3's path.
std::size_t run_libvips(const bytes& in, const options& o, bytes& out) {
  return shrink_with(in, o, out, "libvips", false);
}

// Every pixel decoded: no shrink-on-load hint (vips_image_new_from_buffer, not thumbnail).
std::size_t run_full(const bytes& in, const options& o, bytes& out) {
  VipsImage* img =
      vips_image_new_from_buffer(in.data(), in.size(), "", "access", VIPS_ACCESS_SEQUENTIAL, nullptr);
  if (img == nullptr) fail("load");
  const dims d = planned(vips_image_get_width(img), vips_image_get_height(img), o.target);
  VipsImage* resized = nullptr;
  if (vips_resize(img, &resized, static_cast<double>(d.w) / vips_image_get_width(img), "vscale",
                  static_cast<double>(d.h) / vips_image_get_height(img), nullptr) != 0) {
    fail("resize");
  }
  void* buf = nullptr;
  std::size_t len = 0;
  if (vips_jpegsave_buffer(resized, &buf, &len, "Q", o.quality, "strip", TRUE, "optimize_coding", TRUE,
                           nullptr) != 0) {
    fail("save");
  }
  out.assign(static_cast<unsigned char*>(buf), static_cast<unsigned char*>(buf) + len);
  g_free(buf);
  g_object_unref(resized);
  g_object_unref(img);
  return len;
}

// Area (box with fractional coverage) resampling of interleaved 8-bit pixels, separable.
void area_resize(const unsigned char* src, int sw, int sh, unsigned char* dst, int dw, int dh, int channels) {
  struct tap {
    int first;
    std::vector<float> weights;
  };
  const auto taps = [](int from, int to) {
    std::vector<tap> t(static_cast<std::size_t>(to));
    const double scale = static_cast<double>(from) / to;
    for (int i = 0; i < to; ++i) {
      const double a = i * scale, b = (i + 1) * scale;
      tap& x = t[static_cast<std::size_t>(i)];
      x.first = static_cast<int>(a);
      for (int s = x.first; s < from && s < b; ++s) {
        x.weights.push_back(
            static_cast<float>((std::min<double>(s + 1, b) - std::max<double>(s, a)) / scale));
      }
    }
    return t;
  };
  const auto tx = taps(sw, dw), ty = taps(sh, dh);
  std::vector<float> rows(static_cast<std::size_t>(dw) * static_cast<std::size_t>(sh) *
                          static_cast<std::size_t>(channels));
  for (int y = 0; y < sh; ++y) {
    const unsigned char* line = src + static_cast<std::size_t>(y) * static_cast<std::size_t>(sw * channels);
    float* o = rows.data() + static_cast<std::size_t>(y) * static_cast<std::size_t>(dw * channels);
    for (int x = 0; x < dw; ++x) {
      const tap& t = tx[static_cast<std::size_t>(x)];
      for (int c = 0; c < channels; ++c) {
        float acc = 0;
        for (std::size_t k = 0; k < t.weights.size(); ++k) {
          acc += t.weights[k] *
                 line[(static_cast<std::size_t>(t.first) + k) * static_cast<std::size_t>(channels) +
                      static_cast<std::size_t>(c)];
        }
        o[x * channels + c] = acc;
      }
    }
  }
  for (int y = 0; y < dh; ++y) {
    const tap& t = ty[static_cast<std::size_t>(y)];
    unsigned char* o = dst + static_cast<std::size_t>(y) * static_cast<std::size_t>(dw * channels);
    for (int i = 0; i < dw * channels; ++i) {
      float acc = 0;
      for (std::size_t k = 0; k < t.weights.size(); ++k) {
        acc += t.weights[k] *
               rows[(static_cast<std::size_t>(t.first) + k) * static_cast<std::size_t>(dw * channels) +
                    static_cast<std::size_t>(i)];
      }
      o[i] = static_cast<unsigned char>(std::clamp(acc + 0.5F, 0.0F, 255.0F));
    }
  }
}

struct turbo_handles {
  tjhandle decoder = tjInitDecompress();
  tjhandle encoder = tjInitCompress();
  std::vector<unsigned char> decoded, resized;
  turbo_handles() = default;
  turbo_handles(const turbo_handles&) = delete;
  turbo_handles& operator=(const turbo_handles&) = delete;
  ~turbo_handles() {
    tjDestroy(decoder);
    tjDestroy(encoder);
  }
};

std::size_t run_turbo(const bytes& in, const options& o, bytes& out) {
  thread_local turbo_handles tj;
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.decoder, in.data(), in.size(), &w, &h, &subsamp, &colorspace) != 0)
    fail("tj header");
  const dims d = planned(w, h, o.target);
  // The smallest DCT scaling whose output still covers the target size.
  int count = 0;
  tjscalingfactor* factors = tjGetScalingFactors(&count);
  tjscalingfactor best{1, 1};
  for (int i = 0; i < count; ++i) {
    const tjscalingfactor f = factors[i];
    if (TJSCALED(w, f) >= d.w && TJSCALED(h, f) >= d.h && TJSCALED(w, f) < TJSCALED(w, best)) best = f;
  }
  const int sw = TJSCALED(w, best), sh = TJSCALED(h, best);
  tj.decoded.resize(static_cast<std::size_t>(sw) * static_cast<std::size_t>(sh) * 3);
  if (tjDecompress2(tj.decoder, in.data(), in.size(), tj.decoded.data(), sw, 0, sh, TJPF_RGB, 0) != 0)
    fail("tj decode");
  tj.resized.resize(static_cast<std::size_t>(d.w) * static_cast<std::size_t>(d.h) * 3);
  area_resize(tj.decoded.data(), sw, sh, tj.resized.data(), d.w, d.h, 3);
  unsigned char* jpeg = nullptr;
  unsigned long len = 0;
  // 4:4:4 as libvips uses at Q >= 90, so both paths encode the same amount of data.
  if (tjCompress2(tj.encoder, tj.resized.data(), d.w, 0, d.h, TJPF_RGB, &jpeg, &len, TJSAMP_444, o.quality,
                  0) != 0) {
    fail("tj encode");
  }
  out.assign(jpeg, jpeg + len);
  tjFree(jpeg);
  return len;
}

// ---- run ---------------------------------------------------------------------------------------

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double peak_rss_mib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int run(const std::string& dir, const std::string& mode, int threads, int runs, const options& o) {
  std::vector<bytes> files;
  std::size_t in_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".jpg") continue;
    std::ifstream f(e.path(), std::ios::binary);
    files.emplace_back(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
    in_bytes += files.back().size();
  }
  if (files.empty()) fail("no .jpg files in " + dir);
  std::size_t (*fn)(const bytes&, const options&, bytes&) = nullptr;
  if (mode == "shrink")
    fn = run_shrink;
  else if (mode == "vipsreduce")
    fn = run_vipsreduce;
  else if (mode == "turbojpeg")
    fn = run_turbojpeg;
  else if (mode == "libvips")
    fn = run_libvips;
  else if (mode == "full")
    fn = run_full;
  else if (mode == "turbo")
    fn = run_turbo;
  else
    fail("unknown mode " + mode);
  if (auto e = ximup::resize_init()) fail(*e);  // concurrency 1, no cache: as in ximup

  const double rss_loaded = peak_rss_mib();
  std::vector<double> images_per_s, cpu_ms;
  std::size_t out_bytes = 0;
  for (int r = 0; r < runs; ++r) {
    std::atomic<std::size_t> next{0}, produced{0};
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = cpu_seconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        bytes out;
        for (std::size_t i; (i = next.fetch_add(1)) < files.size();) produced += fn(files[i], o, out);
      });
    }
    for (auto& t : pool) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    images_per_s.push_back(static_cast<double>(files.size()) / s);
    cpu_ms.push_back((cpu_seconds() - cpu_start) * 1000.0 / static_cast<double>(files.size()));
    out_bytes = produced;
    std::fprintf(stderr, "  %s run %d: %.1f images/s, %.1f CPU-ms/image\n", mode.c_str(), r + 1,
                 images_per_s.back(), cpu_ms.back());
  }
  std::sort(images_per_s.begin(), images_per_s.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  const double median = images_per_s[images_per_s.size() / 2];
  const double mb_per_image = static_cast<double>(in_bytes) / 1e6 / static_cast<double>(files.size());
  // One machine-readable line: bench/resize.sh builds the table from these.
  std::printf(
      "mode=%s threads=%d runs=%d images=%zu in_bytes=%zu out_bytes=%zu median_images_per_s=%.2f "
      "median_input_mb_per_s=%.1f saved_pct=%.2f min_images_per_s=%.2f max_images_per_s=%.2f "
      "median_cpu_ms_per_image=%.2f extra_peak_rss_mib=%.1f turbojpeg_fallbacks_per_run=%zu\n",
      mode.c_str(), threads, runs, files.size(), in_bytes, out_bytes, median, median * mb_per_image,
      100.0 * (1.0 - static_cast<double>(out_bytes) / static_cast<double>(in_bytes)), images_per_s.front(),
      images_per_s.back(), cpu_ms[cpu_ms.size() / 2], peak_rss_mib() - rss_loaded,
      turbojpeg_fallbacks.load() / static_cast<std::size_t>(runs));
  return 0;
}

}  // namespace

// ---- quality ---------------------------------------------------------------------------------

VipsImage* decode_image(const bytes& jpeg) {
  VipsImage* img = vips_image_new_from_buffer(jpeg.data(), jpeg.size(), "", nullptr);
  if (img == nullptr) fail("decode output");
  return img;
}

// PSNR (dB) of `image` against `reference`, both 8-bit with the same size and bands.
double psnr(VipsImage* image, VipsImage* reference) {
  VipsImage *difference = nullptr, *squared = nullptr;
  double mse = 0;
  if (vips_subtract(image, reference, &difference, nullptr) != 0 ||
      vips_multiply(difference, difference, &squared, nullptr) != 0 || vips_avg(squared, &mse, nullptr) != 0)
    fail("psnr");
  g_object_unref(squared);
  g_object_unref(difference);
  return mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

// For every JPEG in DIR: the image ximup sends (our scaled decoder) and the one the TurboJPEG path
// sends, each against a reference made from every pixel (full decode, rotated, vips_resize's
// lanczos3 to the same size, not encoded). Prints PSNR per file and the medians.
int quality(const std::string& dir, const options& o) {
  if (auto e = ximup::resize_init()) fail(*e);
  std::vector<double> ours, ours_vips, theirs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".jpg") continue;
    std::ifstream f(e.path(), std::ios::binary);
    const bytes in((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    VipsImage* full = decode_image(in);
    VipsImage* rotated = nullptr;
    if (vips_autorot(full, &rotated, nullptr) != 0) fail("autorot");
    const dims d = planned(vips_image_get_width(rotated), vips_image_get_height(rotated), o.target);
    VipsImage* reference = nullptr;
    if (vips_resize(rotated, &reference, static_cast<double>(d.w) / vips_image_get_width(rotated), "vscale",
                    static_cast<double>(d.h) / vips_image_get_height(rotated), nullptr) != 0)
      fail("resize");
    std::array<double, 3> db{};
    std::array<std::string, 3> who;
    for (int i = 0; i < 3; ++i) {  // shipped; libvips's reduce; TurboJPEG and libvips's reduce
      ximup::resize_options ro;
      ro.target = o.target;
      ro.jpeg_quality = o.quality;
      ro.scaled_jpeg = i < 2;
      ro.resample = i == 0;
      bytes out;
      const auto r = ximup::shrink_image(in, ro, out);
      if (!r.resized()) fail("not resized: " + e.path().string());
      who[static_cast<std::size_t>(i)] = r.decoder;
      VipsImage* sent = decode_image(out);
      if (vips_image_get_width(sent) != vips_image_get_width(reference) ||
          vips_image_get_height(sent) != vips_image_get_height(reference))
        fail("size differs from the reference: " + e.path().string());
      db[static_cast<std::size_t>(i)] = psnr(sent, reference);
      g_object_unref(sent);
    }
    std::printf("%-60s %-11s %.2f dB  +vips reduce %.2f dB  %-9s+vips reduce %.2f dB\n",
                e.path().filename().c_str(), who[0].c_str(), db[0], db[1], who[2].c_str(), db[2]);
    if (who[0] == "scaled_jpeg") {
      ours.push_back(db[0]);
      ours_vips.push_back(db[1]);
      theirs.push_back(db[2]);
    }
    for (VipsImage* img : {reference, rotated, full}) g_object_unref(img);
  }
  if (ours.empty()) fail("no JPEG in " + dir + " went through scaled_jpeg");
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf(
      "median PSNR against the full decode, %zu files scaled_jpeg decoded: shipped (scaled_jpeg, "
      "our Lanczos-3) %.2f dB, scaled_jpeg and libvips's reduce %.2f dB, TurboJPEG and libvips's "
      "reduce %.2f dB\n",
      ours.size(), median(ours), median(ours_vips), median(theirs));
  return 0;
}

int main(int argc, char** argv) {
  ximup::set_resize_module_fallback(XIMUP_RESIZE_MODULE_PATH);
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "generate") {
    if (auto e = ximup::resize_init()) fail(*e);
    const int w = args.size() >= 5 ? std::stoi(args[3]) : 4000;
    const int h = args.size() >= 5 ? std::stoi(args[4]) : 3000;
    generate(args[1], std::stoi(args[2]), w, h);
    return 0;
  }
  if (args.size() == 3 && args[0] == "progressive") {
    make_progressive(args[1], args[2]);
    return 0;
  }
  if (args.size() >= 3 && args[0] == "run") {
    int threads = 2, runs = 5;
    options o;
    for (std::size_t i = 3; i + 1 < args.size(); i += 2) {
      if (args[i] == "--threads")
        threads = std::stoi(args[i + 1]);
      else if (args[i] == "--runs")
        runs = std::stoi(args[i + 1]);
      else if (args[i] == "--target")
        o.target = static_cast<std::uint32_t>(std::stoul(args[i + 1]));
      else if (args[i] == "--quality")
        o.quality = std::stoi(args[i + 1]);
      else if (args[i] == "--chroma" && (args[i + 1] == "444" || args[i + 1] == "420"))
        o.chroma = args[i + 1] == "444" ? ximup::jpeg_chroma::full : ximup::jpeg_chroma::half;
      else if (args[i] == "--optimize" && (args[i + 1] == "yes" || args[i + 1] == "no"))
        o.optimize_coding = args[i + 1] == "yes";
      else
        fail("unknown option or value: " + args[i] + " " + args[i + 1]);
    }
    return run(args[1], args[2], threads, runs, o);
  }
  if (args.size() >= 2 && args[0] == "quality") {
    options o;
    if (args.size() >= 4 && args[2] == "--target") o.target = static_cast<std::uint32_t>(std::stoul(args[3]));
    return quality(args[1], o);
  }
  std::fprintf(
      stderr,
      "usage: resize_bench generate DIR COUNT [WIDTH HEIGHT]\n"
      "       resize_bench progressive FROM_DIR TO_DIR\n"
      "       resize_bench run DIR shrink|vipsreduce|turbojpeg|libvips|full|turbo [--threads N] [--runs N] "
      "[--target N] [--quality Q] [--chroma 444|420] [--optimize yes|no]\n"
      "       resize_bench quality DIR [--target N]\n");
  return 2;
}
