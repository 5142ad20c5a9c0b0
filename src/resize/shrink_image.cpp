// shrink_image() with libvips: header first (cheap, lazy), the pure plan, then vips_thumbnail_buffer
// (shrink-on-load, orientation, sRGB) and one save. See include/ximup/resize.hpp for the contract.
#include <vips/vips.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <utility>

#include "ximup/resize.hpp"

namespace ximup {
namespace {

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
};
vips_setup& setup() {
  static vips_setup s;
  return s;
}

void init_vips(vips_setup& s) {
  if (VIPS_INIT("ximup") != 0) {
    s.error = with_detail("libvips failed to initialise", take_vips_error());
    return;
  }
  vips_concurrency_set(1);  // ximup parallelises across its workers
  vips_cache_set_max(0);    // every input is new: caching operations only costs memory
  vips_cache_set_max_mem(0);
  vips_cache_set_max_files(0);
  vips_block_untrusted_set(TRUE);  // defence in depth; formats are also filtered by sniffing
  g_log_set_handler("VIPS",
                    static_cast<GLogLevelFlags>(G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                                G_LOG_LEVEL_DEBUG),
                    drop_log, nullptr);
}

// JPEG: we pick the DCT scaling ourselves, the largest of 1/2, 1/4, 1/8 that still covers the
// planned size. (vips_thumbnail_buffer keeps at least a factor of two for its final resize, so for
// 4000x3000 -> 800x600 it decodes 2000x1500 instead of 1000x750: four times the pixels. See
// docs/resize.md for the measurement.) Sequential access unless the orientation needs rows out of
// order; then the shrunk image is decoded into memory (the documented per-call bound).
int thumbnail_jpeg(std::span<const unsigned char> input, dimensions stored, bool swap, int orientation,
                   dimensions plan, bool has_profile, VipsImage** out) {
  const dimensions need = swap ? dimensions{plan.height, plan.width} : plan;
  int shrink = 1;
  while (shrink < 8 && stored.width / (2U * static_cast<unsigned>(shrink)) >= need.width &&
         stored.height / (2U * static_cast<unsigned>(shrink)) >= need.height) {
    shrink *= 2;
  }
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
  if (auto error = resize_init()) return unchanged(std::move(r), resize_action::unchanged_error, *error);
  static thread_local vips_thread_guard thread_guard;
  (void)thread_guard;

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
  const auto plan = plan_resize(r.original, options);
  if (!plan) return unchanged(std::move(r), resize_action::unchanged_fits);

  // thumbnail: auto-rotate, embedded profile (or CMYK) to sRGB, then an exact resize to the planned
  // size (size=force: both sides given, so libvips does not round our plan again).
  VipsImage* thumb_raw = nullptr;
  const int thumb_failed =
      format == "jpeg" ? thumbnail_jpeg(input, stored, swap, orientation, *plan, has_profile, &thumb_raw)
                       : thumbnail_other(input, *plan, has_profile, &thumb_raw);
  if (thumb_failed != 0) {
    return unchanged(
        std::move(r), resize_action::unchanged_undecodable,
        with_detail("cannot decode this " + format + " file, sent unchanged", take_vips_error()));
  }
  image_ref thumb(thumb_raw);
  const bool alpha = vips_image_hasalpha(thumb.image) != FALSE;
  g_buffer encoded;
  // The save runs the whole pipeline: decoding errors of the pixels surface here.
  const int failed =
      alpha ? vips_pngsave_buffer(thumb.image, &encoded.data, &encoded.size, "strip", TRUE, nullptr)
            : vips_jpegsave_buffer(thumb.image, &encoded.data, &encoded.size, "Q",
                                   std::clamp(options.jpeg_quality, 1, 100), "strip", TRUE, "optimize_coding",
                                   TRUE, nullptr);
  if (failed != 0 || encoded.data == nullptr) {
    return unchanged(
        std::move(r), resize_action::unchanged_undecodable,
        with_detail("cannot decode this " + format + " file, sent unchanged", take_vips_error()));
  }
  const dimensions sent{static_cast<std::uint32_t>(vips_image_get_width(thumb.image)),
                        static_cast<std::uint32_t>(vips_image_get_height(thumb.image))};
  if (encoded.size >= input.size()) {
    return unchanged(std::move(r), resize_action::unchanged_not_smaller,
                     "resized to " + std::to_string(sent.width) + "x" + std::to_string(sent.height) +
                         " it was " + std::to_string(encoded.size) + " bytes, not smaller: sent unchanged");
  }
  const auto* bytes = static_cast<const unsigned char*>(encoded.data);
  out.assign(bytes, bytes + encoded.size);
  r.action = resize_action::resized;
  r.sent_bytes = encoded.size;
  r.sent = sent;
  r.sent_format = alpha ? "png" : "jpeg";
  return r;
}

}  // namespace

std::optional<std::string> resize_init() noexcept {
  vips_setup& s = setup();
  try {
    std::call_once(s.once, [&] { init_vips(s); });
  } catch (...) {
    return std::string("libvips failed to initialise");
  }
  return s.error;
}

std::string resize_library_version() {
  return std::string("libvips ") + vips_version_string();
}

resize_report shrink_image(std::span<const unsigned char> input, const resize_options& options,
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

}  // namespace ximup
