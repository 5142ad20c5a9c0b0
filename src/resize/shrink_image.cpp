// The resize module (ximup-resize.so, see resize_module.hpp): shrink_image() with libvips: header first
// (cheap, lazy), the pure plan, then vips_thumbnail_buffer (shrink-on-load, orientation, sRGB) and one save;
// plain JPEGs are decoded by scaled_jpeg or TurboJPEG and reduced by our Lanczos-3 instead, and encoded
// by libjpeg directly when libvips has nothing left to do (jpeg_encode.hpp). See
// include/ximup/resize.hpp for the contract.
#include <turbojpeg.h>
#include <vips/vips.h>
// (not included by vips.h: vips_vector_set_enabled / vips_vector_isenabled)
#include <vips/vector.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

#include "jpeg_encode.hpp"
#include "resample.hpp"
#include "resize_module.hpp"
#include "scaled_jpeg.hpp"
#include "ximup/resize.hpp"

namespace ximup {
namespace {

std::optional<std::string> vips_resize_init() noexcept;

// Owns a GObject reference (VipsImage) or a g_malloc'd buffer.
struct image_ref {
  VipsImage* image = nullptr;
  image_ref() = default;
  explicit image_ref(VipsImage* i) noexcept : image(i) {}
  image_ref(const image_ref&) = delete;
  image_ref& operator=(const image_ref&) = delete;
  ~image_ref() { reset(); }
  void reset() noexcept {
    if (image != nullptr) g_object_unref(image);
    image = nullptr;
  }
};
struct g_buffer {
  void* data = nullptr;
  std::size_t size = 0;
  g_buffer() = default;
  g_buffer(const g_buffer&) = delete;
  g_buffer& operator=(const g_buffer&) = delete;
  ~g_buffer() { g_free(data); }
};

// libvips keeps per-thread buffers; they are freed when a thread that used it exits.
struct vips_thread_guard {
  vips_thread_guard() = default;
  vips_thread_guard(const vips_thread_guard&) = delete;
  vips_thread_guard& operator=(const vips_thread_guard&) = delete;
  ~vips_thread_guard() { vips_thread_shutdown(); }
};

// libvips's error buffer is process-global: copy-and-clear is atomic, but when two calls fail at the
// same moment one note may carry both messages (the action is always right). One line, bounded.
std::string take_vips_error() {
  char* text = vips_error_buffer_copy();
  std::string message = text != nullptr ? text : "";
  g_free(text);
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  while (!message.empty() && message.back() == ' ') message.pop_back();
  if (message.size() > 300) message.resize(300);
  return message;
}

std::string with_detail(std::string what, const std::string& detail) {
  if (!detail.empty()) what += ": " + detail;
  return what;
}

// libvips warnings (a JPEG with extraneous bytes, ...) would go to stderr through GLib: the report
// carries what matters, so they are dropped. Only the "VIPS" log domain is affected.
void drop_log(const gchar*, GLogLevelFlags, const gchar*, gpointer) {}

struct vips_setup {
  std::once_flag once;
  std::optional<std::string> error;
  std::atomic<bool> ready{false};  ///< VIPS_INIT succeeded
};
vips_setup& setup() {
  static vips_setup s;
  return s;
}

// glibc hands the free memory at the top of a thread's heap back to the system once it passes the
// trim threshold (by default twice the largest block freed so far, about 6 MB here), and every resized
// photo allocates and frees a few MB: libjpeg's coefficient buffer (2.9 MB at 800x600; its optimize
// pass keeps the whole image) among them. Given back, those pages fault in again for the next photo:
// about 1,000 minor faults per 12 MP photo, half the run's. Blocks up to 8 MiB now come from the
// heaps, whose top is kept up to 16 MiB: for 96 photos through the binary 101,000 -> 30,000 faults,
// system time 0.36 -> 0.21 s, 1.043x less CPU (7 alternating pairs), peak RSS 82 -> 96 MiB
// (docs/resize.md, session 12).
// Process-wide, so only once --resize is on, and not over malloc tunables the user set.
void keep_freed_memory() {
#if defined(__GLIBC__)
  if (const char* t = std::getenv("GLIBC_TUNABLES");
      t != nullptr && std::strstr(t, "glibc.malloc.") != nullptr)
    return;
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
#endif
}

void init_vips(vips_setup& s) {
  keep_freed_memory();
  if (VIPS_INIT("ximup") != 0) {
    s.error = with_detail("libvips failed to initialise", take_vips_error());
    return;
  }
  vips_concurrency_set(1);  // ximup parallelises across its workers
  vips_cache_set_max(0);    // every input is new: caching operations only costs memory
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  vips_block_untrusted_set(TRUE);  // defence in depth; formats are also filtered by sniffing
  // No run-time generated SIMD (liborc): libvips compiles ORC programs for operations such as its
  // reduce and frees them after, and ORC 0.4.33 (Debian 12) splits and merges its code-memory chunk
  // list outside its lock, so workers resizing at the same time can corrupt it: a two-thread
  // benchmark process crashed in orc_code_allocate_codemem (once, in some thousands of images).
  // libvips's C paths take over:
  // its reduce (PNG, WebP, TIFF, CMYK JPEG) costs about 15% more CPU (docs/resize.md); ximup's own
  // JPEG path uses none of them.
  vips_vector_set_enabled(FALSE);
  s.ready.store(true);
  g_log_set_handler("VIPS",
                    static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                                G_LOG_LEVEL_DEBUG),
                    drop_log, nullptr);
}

// JPEG: we pick the DCT scaling ourselves, the largest of 1/2, 1/4, 1/8 that still covers the
// planned size (`need`, in stored orientation). (vips_thumbnail_buffer keeps at least a factor of two
// for its final resize, so for 4000x3000 -> 800x600 it decodes 2000x1500 instead of 1000x750: four
// times the pixels. See docs/resize.md for the measurement.)
int jpeg_shrink_factor(dimensions stored, dimensions need) {
  int shrink = 1;
  while (shrink < 8 && stored.width / (2U * static_cast<unsigned>(shrink)) >= need.width &&
         stored.height / (2U * static_cast<unsigned>(shrink)) >= need.height) {
    shrink *= 2;
  }
  return shrink;
}

// One TurboJPEG decompressor per thread, the scaled decoder's scratch, and the pixels decoded last
// (reused by the next call).
struct turbo_decoder {
  tjhandle handle = tjInitDecompress();
  scaled_jpeg_scratch scratch;
  std::vector<unsigned char> pixels;
  resample_scratch resample;
  std::vector<unsigned char> resized;  ///< `pixels` at the planned size
  turbo_decoder() = default;
  turbo_decoder(const turbo_decoder&) = delete;
  turbo_decoder& operator=(const turbo_decoder&) = delete;
  ~turbo_decoder() {
    if (handle != nullptr) tjDestroy(handle);
  }
};

// Releases the thread's decoder buffers that one call grew past 16 MiB (the pixels, the scan copy and
// blocks, the resampler's rows, the resized pixels), once the image that reads them is gone: declare
// it before that image. Smaller ones (a 12 MP photo to 600 px needs 2.2 MiB of pixels) stay for the
// thread's next call.
struct decoder_trim {
  turbo_decoder& decoder;
  explicit decoder_trim(turbo_decoder& d) noexcept : decoder(d) {}
  decoder_trim(const decoder_trim&) = delete;
  decoder_trim& operator=(const decoder_trim&) = delete;
  ~decoder_trim() {
    constexpr std::size_t limit = std::size_t{16} << 20;
    if (decoder.pixels.capacity() > limit) std::vector<unsigned char>().swap(decoder.pixels);
    if (decoder.scratch.scan.capacity() + decoder.scratch.planes.capacity() +
            decoder.scratch.blocks.capacity() * sizeof(scaled_jpeg_block) +
            decoder.scratch.half_blocks.capacity() * sizeof(scaled_jpeg_half_block) >
        limit)
      decoder.scratch = {};
    if (decoder.resample.rows.capacity() > limit) decoder.resample = {};
    if (decoder.resized.capacity() > limit) std::vector<unsigned char>().swap(decoder.resized);
  }
};

// What the JPEG fast path decoded, in the stored orientation: decoder.pixels or decoder.resized.
struct decoded_pixels {
  std::span<const unsigned char> data;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int bands = 0;
};

// libjpeg's warnings that mean pixels are missing or garbled (jerror.h: JWRN_HIT_MARKER,
// JWRN_HUFF_BAD_CODE, JWRN_ARITH_BAD_CODE, JWRN_MUST_RESYNC, JWRN_JPEG_EOF, JWRN_BOGUS_PROGRESSION), as
// opposed to benign ones such as extraneous bytes before a marker or an unknown JFIF revision.
bool damaged_entropy_data(std::string_view message) {
  for (const std::string_view damage :
       {"Corrupt JPEG data: premature end of data segment", "Corrupt JPEG data: bad Huffman code",
        "Corrupt JPEG data: bad arithmetic code", "Corrupt JPEG data: found marker",
        "Premature end of JPEG file", "Inconsistent progression sequence"}) {
    if (message.starts_with(damage)) return true;
  }
  return false;
}

// The JPEG fast path: scaled_jpeg (baseline and progressive files at 1/2, 1/4 and 1/8) or
// else TurboJPEG decodes the whole buffer at the same DCT scaling as thumbnail_jpeg, and our Lanczos-3
// reduces it to the planned size (in the stored orientation). Then either libjpeg encodes those pixels
// directly (encode_direct) or libvips rotates and converts them as it would have (finish_in_vips).
// libjpeg-turbo's fast Huffman decoder runs only while enough input is buffered, which TurboJPEG's in-memory
// source always is and libvips's streaming source often is not (docs/resize.md). YCbCr, RGB and greyscale
// JPEGs only (CMYK needs libvips's conversion). Returns false when the file is not one of those or TurboJPEG
// refuses it, warnings included (truncated data, extraneous bytes): the caller then takes libvips's path,
// whose rules decide, unless TurboJPEG's refusal says the entropy-coded data itself is damaged
// (`damage`: its message), which libvips would decode with grey where the data is missing (it fails only
// on a file cut before its end marker). On true, *who names the decoder.
bool decode_jpeg_turbo(std::span<const unsigned char> input, dimensions stored, bool swap, dimensions plan,
                       bool try_scaled, bool resample, turbo_decoder& decoder, decoded_pixels& out,
                       std::string_view* who, std::string* damage) {
  if (decoder.handle == nullptr) return false;
  int width = 0;
  int height = 0;
  int subsampling = 0;
  int colorspace = 0;
  if (tjDecompressHeader3(decoder.handle, input.data(), input.size(), &width, &height, &subsampling,
                          &colorspace) != 0) {
    return false;
  }
  const bool grey = colorspace == TJCS_GRAY;
  if (!grey && colorspace != TJCS_YCbCr && colorspace != TJCS_RGB) return false;
  if (static_cast<std::uint32_t>(width) != stored.width ||
      static_cast<std::uint32_t>(height) != stored.height)
    return false;
  const dimensions need = swap ? dimensions{plan.height, plan.width} : plan;  // in stored orientation
  const tjscalingfactor factor{1, jpeg_shrink_factor(stored, need)};
  const int scaled_width = TJSCALED(width, factor);
  const int scaled_height = TJSCALED(height, factor);
  const int bands = grey ? 1 : 3;
  const std::size_t size = static_cast<std::size_t>(scaled_width) * static_cast<std::size_t>(scaled_height) *
                           static_cast<std::size_t>(bands);
  // Our decoder first (at 1/4 and 1/8; at 1/2 baseline files of one scan); whatever it does not decode
  // exactly as announced goes to TurboJPEG, whose rules (and libvips's after it) then decide.
  scaled_jpeg_image scaled;
  if (try_scaled &&
      decode_scaled_jpeg(input, factor.denom, decoder.pixels, &scaled, decoder.scratch) ==
          scaled_jpeg_status::decoded &&
      scaled.width == static_cast<std::uint32_t>(scaled_width) &&
      scaled.height == static_cast<std::uint32_t>(scaled_height) && scaled.bands == bands) {
    *who = "scaled_jpeg";
  } else {
    decoder.pixels.resize(size);
    if (tjDecompress2(decoder.handle, input.data(), input.size(), decoder.pixels.data(), scaled_width, 0,
                      scaled_height, grey ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
      const char* message = tjGetErrorStr2(decoder.handle);
      if (message != nullptr && damaged_entropy_data(message)) *damage = message;
      return false;
    }
    *who = "turbojpeg";
  }
  // What is left is a reduction by less than 2: our Lanczos-3 (resample.hpp) does it, and libvips gets
  // an image already at the planned size (it then only rotates and converts colour).
  const unsigned char* data = decoder.pixels.data();
  std::size_t data_size = size;
  int data_width = scaled_width;
  int data_height = scaled_height;
  if (resample && (static_cast<std::uint32_t>(scaled_width) != need.width ||
                   static_cast<std::uint32_t>(scaled_height) != need.height)) {
    decoder.resized.resize(std::size_t{need.width} * need.height * static_cast<std::size_t>(bands));
    lanczos3_resample(decoder.pixels.data(), static_cast<std::uint32_t>(scaled_width),
                      static_cast<std::uint32_t>(scaled_height), bands, decoder.resized.data(), need.width,
                      need.height, decoder.resample);
    data = decoder.resized.data();
    data_size = decoder.resized.size();
    data_width = static_cast<int>(need.width);
    data_height = static_cast<int>(need.height);
  }
  out = {{data, data_size},
         static_cast<std::uint32_t>(data_width),
         static_cast<std::uint32_t>(data_height),
         bands};
  return true;
}

// The fast path's pixels need nothing more from libvips: no orientation to apply, no profile to
// convert, already at the planned size (without our resampler, libvips reduces them).
bool encode_direct(const decoded_pixels& pixels, int orientation, std::span<const unsigned char> profile,
                   dimensions plan) {
  return orientation <= 1 && profile.empty() && pixels.width == plan.width && pixels.height == plan.height;
}

// libvips rotates and converts the fast path's pixels as it would have: the orientation and the colour
// profile read from the header are set on the image. false when libvips fails (the caller then takes
// libvips's own path); on true, *out reads the decoder's pixels.
bool finish_in_vips(const decoded_pixels& p, int orientation, std::span<const unsigned char> profile,
                    dimensions plan, VipsImage** out) {
  image_ref pixels(vips_image_new_from_memory(p.data.data(), p.data.size(), static_cast<int>(p.width),
                                              static_cast<int>(p.height), p.bands, VIPS_FORMAT_UCHAR));
  if (pixels.image == nullptr) return false;
  if (orientation > 1) vips_image_set_int(pixels.image, VIPS_META_ORIENTATION, orientation);
  if (!profile.empty())
    vips_image_set_blob_copy(pixels.image, VIPS_META_ICC_NAME, profile.data(), profile.size());
  return vips_thumbnail_image(pixels.image, out, static_cast<int>(plan.width), "height",
                              static_cast<int>(plan.height), "size", VIPS_SIZE_FORCE, "export_profile",
                              profile.empty() ? nullptr : "srgb", nullptr) == 0;
}

// Every other JPEG through libvips's loader. Sequential access unless the orientation needs rows out
// of order; then the shrunk image is decoded into memory (the documented per-call bound).
int thumbnail_jpeg(std::span<const unsigned char> input, dimensions stored, bool swap, int orientation,
                   dimensions plan, bool has_profile, VipsImage** out) {
  const int shrink = jpeg_shrink_factor(stored, swap ? dimensions{plan.height, plan.width} : plan);
  const VipsAccess access = orientation > 1 ? VIPS_ACCESS_RANDOM : VIPS_ACCESS_SEQUENTIAL;
  image_ref loaded(vips_image_new_from_buffer(input.data(), input.size(), "", "shrink", shrink, "access",
                                              access, "fail_on", VIPS_FAIL_ON_TRUNCATED, nullptr));
  if (loaded.image == nullptr) return -1;
  return vips_thumbnail_image(loaded.image, out, static_cast<int>(plan.width), "height",
                              static_cast<int>(plan.height), "size", VIPS_SIZE_FORCE, "export_profile",
                              has_profile ? "srgb" : nullptr, nullptr);
}

// Other formats: vips_thumbnail_buffer does their shrink-on-load where there is one (WebP).
// fail_on goes in the loader's option string: libvips 8.14 does not pass thumbnail's own fail_on
// property to buffer loaders, and a truncated PNG would then be "resized" with the rows missing.
// It only reads the buffer; the const_cast is for its C signature.
int thumbnail_other(std::span<const unsigned char> input, dimensions plan, bool has_profile,
                    VipsImage** out) {
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-const-cast)
  void* data = const_cast<unsigned char*>(input.data());
  return vips_thumbnail_buffer(data, input.size(), out, static_cast<int>(plan.width), "height",
                               static_cast<int>(plan.height), "size", VIPS_SIZE_FORCE, "export_profile",
                               has_profile ? "srgb" : nullptr, "option_string", "[fail_on=truncated]",
                               nullptr);
}

VipsForeignSubsample subsample_mode(jpeg_chroma chroma) {
  switch (chroma) {
    case jpeg_chroma::full:
      return VIPS_FOREIGN_SUBSAMPLE_OFF;
    case jpeg_chroma::half:
      return VIPS_FOREIGN_SUBSAMPLE_ON;
    case jpeg_chroma::automatic:
      break;
  }
  return VIPS_FOREIGN_SUBSAMPLE_AUTO;
}

resize_report unchanged(resize_report r, resize_action action, std::string note = {}) {
  r.action = action;
  r.sent_bytes = r.original_bytes;
  r.sent = r.original;
  r.sent_format = r.original_format;
  r.note = std::move(note);
  return r;
}

resize_report shrink(std::span<const unsigned char> input, const resize_options& options,
                     std::vector<unsigned char>& out) {
  resize_report r;
  r.original_bytes = input.size();
  r.original_format = std::string(sniff_image_format(input));
  if (options.target == 0) return unchanged(std::move(r), resize_action::unchanged_disabled);
  if (input.size() < options.min_bytes) return unchanged(std::move(r), resize_action::unchanged_small_file);
  if (r.original_format.empty()) {
    return unchanged(std::move(r), resize_action::unchanged_unsupported_format,
                     "not a JPEG, PNG, GIF, WebP or TIFF image: sent unchanged");
  }
  if (auto error = vips_resize_init()) return unchanged(std::move(r), resize_action::unchanged_error, *error);
  static thread_local vips_thread_guard thread_guard;
  (void)thread_guard;
  // libvips's error buffer is global and only read on failure: what a call that succeeded left in
  // it (a garbage colour profile, ignored) went into the next failing file's note. (Two files that
  // fail at the same moment on two workers can still share theirs.)
  vips_error_clear();

  const std::string& format = r.original_format;
  // The header only: libvips loads lazily, and sequentially when pixels are read.
  image_ref header(vips_image_new_from_buffer(input.data(), input.size(), "", "access",
                                              VIPS_ACCESS_SEQUENTIAL, "fail_on", VIPS_FAIL_ON_TRUNCATED,
                                              nullptr));
  if (header.image == nullptr) {
    return unchanged(
        std::move(r), resize_action::unchanged_undecodable,
        with_detail("cannot decode this " + format + " file, sent unchanged", take_vips_error()));
  }
  const int pages = vips_image_get_n_pages(header.image);
  auto width = static_cast<std::uint32_t>(vips_image_get_width(header.image));
  auto height = static_cast<std::uint32_t>(vips_image_get_height(header.image));
  if (pages > 1 && vips_image_get_page_height(header.image) > 0) {
    height = static_cast<std::uint32_t>(vips_image_get_page_height(header.image));
  }
  const dimensions stored{width, height};
  const int orientation = vips_image_get_orientation(header.image);
  const bool swap = vips_image_get_orientation_swap(header.image) != FALSE;
  if (swap) std::swap(width, height);
  r.original = {width, height};
  // A profile is converted to sRGB; without one the pixels are taken as sRGB already (CMYK always
  // goes through libvips's CMYK profile), and greyscale stays one band.
  const bool has_profile = vips_image_get_typeof(header.image, VIPS_META_ICC_NAME) != 0;
  std::vector<unsigned char> profile;  // for the TurboJPEG path, which sets it on the decoded pixels
  if (has_profile && format == "jpeg") {
    const void* data = nullptr;
    std::size_t length = 0;
    if (vips_image_get_blob(header.image, VIPS_META_ICC_NAME, &data, &length) == 0 && data != nullptr) {
      const auto* first = static_cast<const unsigned char*>(data);
      profile.assign(first, first + length);
    }
  }
  // What a decode that cannot stream holds at once (0: it streams, or keeps only a scaled image).
  std::uint64_t held = 0;
  std::string_view held_what;
  const std::uint64_t stored_pixels = std::uint64_t{stored.width} * stored.height;
  int flag = 0;
  if (format == "png" && vips_image_get_typeof(header.image, "interlaced") != 0 &&
      vips_image_get_int(header.image, "interlaced", &flag) == 0 && flag != 0) {
    held = stored_pixels * vips_format_sizeof(vips_image_get_format(header.image)) *
           static_cast<std::uint64_t>(std::max(1, vips_image_get_bands(header.image)));
    held_what = "interlaced PNG";
  } else if (format == "gif") {
    held = stored_pixels * 8;
    held_what = "GIF";
  } else if (format == "jpeg" && vips_image_get_typeof(header.image, "jpeg-multiscan") != 0 &&
             vips_image_get_int(header.image, "jpeg-multiscan", &flag) == 0 && flag != 0) {
    // Whole coefficient arrays when TurboJPEG or libvips decodes it (our decoder keeps less): two
    // bytes a sample, chroma a quarter of luma's in 4:2:0 (measured with libvips's loader: about 3
    // bytes a pixel for 4:2:0 YCbCr, 6 for 4:4:4).
    const char* subsample = nullptr;
    const bool full_chroma = vips_image_get_typeof(header.image, "jpeg-chroma-subsample") != 0 &&
                             vips_image_get_string(header.image, "jpeg-chroma-subsample", &subsample) == 0 &&
                             subsample != nullptr && std::string_view(subsample) == "4:4:4";
    held = stored_pixels * static_cast<std::uint64_t>(std::max(1, vips_image_get_bands(header.image))) *
           (full_chroma ? 2U : 1U);
    held_what = "progressive JPEG";
  }
  header.reset();
  if (pages > 1) {
    return unchanged(
        std::move(r), resize_action::unchanged_animated,
        "animated or multi-page " + format + " (" + std::to_string(pages) + " frames): sent unchanged");
  }
  if (std::uint64_t{width} * height > options.max_source_pixels) {
    return unchanged(std::move(r), resize_action::unchanged_too_large,
                     std::to_string(width) + "x" + std::to_string(height) +
                         " is more pixels than the resize limit: sent unchanged");
  }
  // A decode that would hold `bytes` at once, over the limit: the file is sent as it is.
  const auto holds_too_much = [&](std::uint64_t bytes, std::string_view what) {
    return unchanged(std::move(r), resize_action::unchanged_too_large,
                     std::to_string(width) + "x" + std::to_string(height) + " " + std::string(what) +
                         " would hold about " + std::to_string(bytes >> 20U) +
                         " MiB at once to decode, more than the resize limit of " +
                         std::to_string(options.max_decode_bytes >> 20U) + " MiB: sent unchanged");
  };
  if (held > options.max_decode_bytes) return holds_too_much(held, held_what);
  const auto plan = plan_resize(r.original, options);
  if (!plan) return unchanged(std::move(r), resize_action::unchanged_fits);
  // Optimised Huffman tables take a second pass over the output, so libjpeg keeps every coefficient
  // of it: two bytes a sample, six a pixel in 4:4:4 (118 MB for 600 x 32727). Over the limit the
  // standard tables are used, which stream (about 7% more bytes).
  const bool optimize_coding =
      options.optimize_coding && std::uint64_t{plan->width} * plan->height * 6U <= options.max_decode_bytes;
  // A JPEG is decoded at 1/2, 1/4 or 1/8 where the plan allows; the fast path holds those pixels
  // whole, and so does libvips's loader when an orientation makes it read rows out of order. A
  // strip or a panorama whose shorter side is under twice the target is decoded at full size: a
  // 2 MB baseline JPEG of 1100 x 60000 held 200 MB of pixels and took 550 MB to resize. Over the
  // limit, libvips's loader streams it in sequential order; with an orientation it is not tried.
  bool stream_jpeg = false;
  if (format == "jpeg") {
    const int shrink = jpeg_shrink_factor(stored, swap ? dimensions{plan->height, plan->width} : *plan);
    const auto scaled = [shrink](std::uint32_t side) {
      return (std::uint64_t{side} + static_cast<unsigned>(shrink) - 1) / static_cast<unsigned>(shrink);
    };
    const std::uint64_t pixels_held = scaled(stored.width) * scaled(stored.height) * 3U;
    if (pixels_held > options.max_decode_bytes) {
      if (orientation > 1)
        return holds_too_much(pixels_held, "JPEG with orientation " + std::to_string(orientation));
      stream_jpeg = true;
    }
  }

  // thumbnail: auto-rotate, embedded profile (or CMYK) to sRGB, then an exact resize to the planned
  // size (size=force: both sides given, so libvips does not round our plan again).
  static thread_local turbo_decoder decoder;
  const decoder_trim trim{decoder};  // declared before `thumb`, which reads the pixels
  VipsImage* thumb_raw = nullptr;
  int thumb_failed = 0;
  const bool profile_read = !has_profile || !profile.empty();
  std::string_view who;
  bool fast_path = false;
  std::optional<decoded_pixels> direct;  // the fast path's pixels, for libjpeg without libvips
  if (format == "jpeg" && options.turbojpeg && profile_read && !stream_jpeg) {
    decoded_pixels pixels;
    std::string damage;
    if (decode_jpeg_turbo(input, stored, swap, *plan, options.scaled_jpeg, options.resample, decoder, pixels,
                          &who, &damage)) {
      if (encode_direct(pixels, orientation, profile, *plan)) {
        direct = pixels;
        fast_path = true;
      } else {
        fast_path = finish_in_vips(pixels, orientation, profile, *plan, &thumb_raw);
      }
    } else if (!damage.empty()) {
      r.decoder = "turbojpeg";
      return unchanged(std::move(r), resize_action::unchanged_undecodable,
                       "damaged JPEG data (" + damage + "): sent unchanged, the server decides");
    }
  }
  if (fast_path) {
    r.decoder = who;
  } else {
    r.decoder = "libvips";
    thumb_failed = format == "jpeg"
                       ? thumbnail_jpeg(input, stored, swap, orientation, *plan, has_profile, &thumb_raw)
                       : thumbnail_other(input, *plan, has_profile, &thumb_raw);
  }
  if (thumb_failed != 0) {
    return unchanged(
        std::move(r), resize_action::unchanged_undecodable,
        with_detail("cannot decode this " + format + " file, sent unchanged", take_vips_error()));
  }
  image_ref thumb(thumb_raw);
  const int quality = std::clamp(options.jpeg_quality, 1, 100);
  bool alpha = false;
  dimensions sent;
  if (direct) {
    const jpeg_encode_options settings{
        .quality = quality, .optimize_coding = optimize_coding, .chroma = options.chroma};
    const std::string error =
        encode_jpeg(direct->data, direct->width, direct->height, direct->bands, settings, out);
    if (!error.empty()) {
      return unchanged(std::move(r), resize_action::unchanged_error,
                       "cannot encode the resized image (" + error + "): sent unchanged");
    }
    sent = {direct->width, direct->height};
  } else {
    alpha = vips_image_hasalpha(thumb.image) != FALSE;
    g_buffer encoded;
    // The save runs the whole pipeline: decoding errors of the pixels surface here.
    const int failed =
        alpha ? vips_pngsave_buffer(thumb.image, &encoded.data, &encoded.size, "strip", TRUE, nullptr)
              : vips_jpegsave_buffer(thumb.image, &encoded.data, &encoded.size, "Q", quality, "strip", TRUE,
                                     "optimize_coding", optimize_coding ? TRUE : FALSE, "subsample_mode",
                                     subsample_mode(options.chroma), nullptr);
    if (failed != 0 || encoded.data == nullptr) {
      return unchanged(
          std::move(r), resize_action::unchanged_undecodable,
          with_detail("cannot decode this " + format + " file, sent unchanged", take_vips_error()));
    }
    const auto* bytes = static_cast<const unsigned char*>(encoded.data);
    out.assign(bytes, bytes + encoded.size);
    sent = {static_cast<std::uint32_t>(vips_image_get_width(thumb.image)),
            static_cast<std::uint32_t>(vips_image_get_height(thumb.image))};
  }
  if (out.size() >= input.size()) {
    const std::size_t size = out.size();
    out.clear();
    return unchanged(std::move(r), resize_action::unchanged_not_smaller,
                     "resized to " + std::to_string(sent.width) + "x" + std::to_string(sent.height) +
                         " it was " + std::to_string(size) + " bytes, not smaller: sent unchanged");
  }
  r.action = resize_action::resized;
  r.sent_bytes = out.size();
  r.sent = sent;
  r.sent_format = alpha ? "png" : "jpeg";
  return r;
}

std::optional<std::string> vips_resize_init() noexcept {
  vips_setup& s = setup();
  try {
    std::call_once(s.once, [&] { init_vips(s); });
  } catch (...) {
    return std::string("libvips failed to initialise");
  }
  return s.error;
}

// libvips keeps a pool of idle worker threads ("libvips worker"); vips_shutdown() ends them. At
// exit they would otherwise still be running, and LeakSanitizer's scan crashed on the dynamic TLS
// of their dlopen'd libraries in the sanitizer builds.
void vips_resize_shutdown() noexcept {
  if (setup().ready.exchange(false)) vips_shutdown();
}

std::string vips_library_version() {
  return std::string("libvips ") + vips_version_string();
}

resize_report vips_shrink_image(std::span<const unsigned char> input, const resize_options& options,
                                std::vector<unsigned char>& out) noexcept {
  out.clear();
  try {
    return shrink(input, options, out);
  } catch (const std::exception& e) {
    out.clear();
    resize_report r;
    r.original_bytes = r.sent_bytes = input.size();
    r.note = with_detail("resize failed, sent unchanged", e.what());
    return r;  // action unchanged_error; formats and sizes may be unknown here
  } catch (...) {
    out.clear();
    resize_report r;
    r.original_bytes = r.sent_bytes = input.size();
    r.note = "resize failed, sent unchanged";
    return r;
  }
}

}  // namespace

}  // namespace ximup

// The module's entry point (resize_module.hpp), found by dlsym.
extern "C" __attribute__((visibility("default"))) const ximup::detail::resize_module_api*
ximup_resize_module_v1() {
  static const ximup::detail::resize_module_api api{
      sizeof(ximup::resize_options), sizeof(ximup::resize_report), &ximup::vips_resize_init,
      &ximup::vips_library_version,  &ximup::vips_shrink_image,    &ximup::vips_resize_shutdown};
  return &api;
}
