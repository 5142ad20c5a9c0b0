#pragma once
/// resize: shrinks an image before it is base64-encoded (`--resize N`, issue 7; docs/resize.md).
///
/// plan_resize() is the pure decision (which size, or none). shrink_image() applies it with libvips:
/// it decodes at a reduced size where the format allows it ("shrink-on-load": JPEG DCT scaling 1/2,
/// 1/4 or 1/8, chosen here; WebP), applies the EXIF orientation, converts an embedded colour profile
/// (or CMYK) to sRGB, resizes to exactly the planned size (vips_thumbnail), and saves the result
/// without metadata: as PNG when it has an alpha channel, as JPEG (`jpeg_quality`) otherwise.
/// JPEGs (YCbCr or greyscale) are decoded by our scaled decoder (baseline and progressive files at
/// 1/4 and 1/8, baseline files of one scan at 1/2 too; src/resize/scaled_jpeg.hpp) or else by TurboJPEG
/// instead of libvips's loader, at the same DCT scaling, and reduced by our Lanczos-3; rotation and colour
/// conversion are libvips's, and when there is neither to do, libjpeg encodes the pixels directly with
/// libvips's settings (the same bytes). CMYK JPEGs and files TurboJPEG refuses (any warning: truncated,
/// extraneous bytes) go through libvips's loader.
///
/// Thread safety: every function here may be called concurrently from any number of threads. No
/// state is shared between calls except libvips's global setup (below). libvips itself runs each
/// call on the calling thread plus at most one helper thread (concurrency 1: ximup parallelises
/// across its workers, not inside one image), with its operation cache off.
///
/// What blocks: shrink_image() is CPU-bound and blocks the caller for the whole decode, resize and
/// encode: about 27 CPU-ms for a 4 MB 12-megapixel JPEG on the Intel Xeon VM of session 12 (60-65 on the
/// AMD EPYC of earlier sessions), more than half of it entropy decoding, which no scaling avoids
/// (docs/resize.md). It does no I/O and holds no lock
/// for longer than copying an error message. Files under min_bytes return at once, undecoded.
///
/// Memory per call, outside the caller's buffers: one decoded image at shrink-on-load size at most
/// (width x height x bands: 1000 x 750 x 3 = 2.2 MiB for a 4000 x 3000 JPEG resized to 600; JPEGs
/// are decoded whole at that size (each thread keeps its pixel buffer, and the scaled decoder's copy
/// of the scan, each up to 16 MiB, for its next call), other formats stream a few strips), plus
/// libvips's encoded output while it is copied into `out` (libjpeg's direct encoding writes into
/// `out`, doubling it as it fills, and keeps its capacity for the next call). Formats without shrink-on-load
/// (PNG, GIF, TIFF) stream at full width; progressive JPEGs keep each 8x8 block's lowest frequencies
/// (24 bytes a block, 64 at 1/2; those left to TurboJPEG hold full-size coefficient arrays).
/// Measured (bench/resize.sh, 12 MP JPEGs, 2 threads), the process peak grows by about 24 MiB per
/// resizing thread (16 with TurboJPEG, 26 with libvips's JPEG loader): per-thread decoder and libvips
/// buffers, malloc arenas; a 17.9 MP progressive JPEG through TurboJPEG took about 100 MiB more.
/// `out` is always smaller than the input when it is filled, so a budget lease taken for the
/// file's bytes also covers what is sent.
///
/// One-time global init: the first call of resize_init() or shrink_image() initialises libvips
/// (std::call_once) and keeps it for the life of the process; at exit an atexit handler shuts it
/// down (vips_shutdown ends its idle worker threads), so no resize may run after main returns. Threads
/// that called shrink_image() release libvips's per-thread buffers automatically when they exit.
/// Nothing here throws: failures become a resize_report that says to send the input unchanged.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ximup {

struct dimensions {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  friend bool operator==(const dimensions&, const dimensions&) = default;
};

/// Which side `target` applies to. shorter: images whose both sides exceed N are scaled so that the
/// shorter side is N. longer: images whose longer side exceeds N are scaled so that it is N (the
/// image then fits in an N x N box).
enum class resize_side { shorter, longer };

/// The chroma resolution of resized JPEGs. automatic: libvips's choice, full chroma (4:4:4) at quality
/// 90 and above, halved each way (4:2:0) below. full: 4:4:4 at any quality. half: 4:2:0 at any
/// quality, as OpenCV (and so Ximilar's official client) writes: fewer bytes and less CPU, softer colour
/// edges.
enum class jpeg_chroma { automatic, full, half };

struct resize_options {
  std::uint32_t target = 0;  ///< N in pixels; 0 = resizing off
  resize_side side = resize_side::shorter;
  std::uint64_t min_bytes =
      std::uint64_t{100} * 1024;  ///< files smaller than this are sent untouched, not decoded
  int jpeg_quality = 90;          ///< 1..100
  /// JPEGs written with Huffman tables made for the image (libjpeg's second pass, lossless): 6% fewer
  /// bytes than the standard tables (which take 7% more) for about 13% more CPU per image
  /// (docs/resize.md). false: the standard tables.
  bool optimize_coding = true;
  jpeg_chroma chroma = jpeg_chroma::automatic;
  /// Images with more source pixels are sent untouched (a decompression bomb would cost seconds of CPU).
  std::uint64_t max_source_pixels = 250'000'000;
  /// Images whose decode cannot stream and would hold more than this at once, estimated from the
  /// header, are sent untouched: an interlaced PNG (every pixel), a GIF (its frame and the one
  /// before), a progressive JPEG (its coefficients, as TurboJPEG or libvips hold them: a byte a
  /// pixel per band in 4:2:0, two in 4:4:4). A 711 KB
  /// interlaced PNG of 15800 x 15800 took 827 MB to resize, and got a 512 MiB container killed.
  /// A JPEG whose decoded pixels would exceed it goes to libvips's streaming loader instead (sent
  /// unchanged when an orientation needs its rows out of order), and an output whose coefficients
  /// would (six bytes a pixel) is encoded with the standard Huffman tables.
  std::uint64_t max_decode_bytes = std::uint64_t{128} << 20U;
  /// Decode YCbCr and greyscale JPEGs with TurboJPEG from the whole buffer: about 1.1x less CPU per
  /// image than libvips's JPEG loader for the same pixels (docs/resize.md). false: libvips's loader
  /// for every image (for comparisons in tests and benchmarks).
  bool turbojpeg = true;
  /// Decode baseline JPEGs that shrink by 4 or 8 with ximup's own scaled decoder (scaled_jpeg.hpp):
  /// it reads only the four lowest frequencies of each block's values, and about 1.5x less CPU than
  /// TurboJPEG for such files; anything else still goes to TurboJPEG. false: TurboJPEG for every JPEG
  /// (comparisons in tests and benchmarks). Only with `turbojpeg`.
  bool scaled_jpeg = true;
  /// After a JPEG is decoded by scaled_jpeg or TurboJPEG, do the remaining reduction (by less than 2)
  /// with ximup's Lanczos-3 (resample.hpp) instead of libvips's reduce, which then gets an image at
  /// the planned size. false: libvips resizes (comparisons in tests and benchmarks).
  bool resample = true;
};

/// Pure decision core. `source` is the size as displayed, i.e. after the EXIF orientation. Returns the
/// size to scale to (aspect ratio kept, the other side rounded to nearest and at least 1 px), or
/// nullopt when the image is left as it is (resizing off, already small enough, or no size).
[[nodiscard]] std::optional<dimensions> plan_resize(dimensions source,
                                                    const resize_options& options) noexcept;

enum class resize_action {
  resized,                       ///< `out` holds the new image: send it
  unchanged_disabled,            ///< options.target is 0
  unchanged_small_file,          ///< the file is smaller than min_bytes (not decoded: dimensions unknown)
  unchanged_fits,                ///< the image is already within the target size
  unchanged_not_smaller,         ///< the re-encoded image was not smaller than the file
  unchanged_animated,            ///< more than one frame or page (animated GIF/WebP, multi-page TIFF)
  unchanged_too_large,           ///< more than max_source_pixels
  unchanged_unsupported_format,  ///< not JPEG, PNG, GIF, WebP or TIFF (or not an image at all)
  unchanged_undecodable,         ///< a supported format that failed to decode (corrupt, truncated)
  unchanged_error,               ///< anything else (out of memory, libvips failed to initialise)
};

/// Stable snake_case name for results files ("resized", "unchanged_fits", ...).
[[nodiscard]] std::string_view to_string(resize_action action) noexcept;

struct resize_report {
  resize_action action = resize_action::unchanged_error;
  std::uint64_t original_bytes = 0;
  dimensions original;           ///< as displayed (after EXIF orientation); 0 x 0 when unknown
  std::string original_format;   ///< "jpeg", "png", "gif", "webp", "tiff", or "" when unknown
  std::uint64_t sent_bytes = 0;  ///< == original_bytes unless resized
  dimensions sent;               ///< == original unless resized
  std::string sent_format;       ///< "jpeg" or "png" when resized, else original_format
  std::string note;              ///< human text for the results; empty when resized or unchanged as planned
  /// Who decoded the pixels: "scaled_jpeg" (ximup's JPEG decoder at 1/2, 1/4 or 1/8), "turbojpeg"
  /// (other plain JPEGs), "libvips", or empty when the pixels were not decoded (a static string).
  std::string_view decoder;

  [[nodiscard]] bool resized() const noexcept { return action == resize_action::resized; }
};

/// Decides and, when needed, resizes one image held in memory. When the report says `resized`, `out`
/// holds the encoded image to send (out.size() < input.size()); otherwise `out` is left empty and the
/// caller sends `input` byte-identical. `out` is cleared first; its capacity is reused.
/// Thread-safe; never throws; never aborts the process whatever the input bytes.
resize_report shrink_image(std::span<const unsigned char> input, const resize_options& options,
                           std::vector<unsigned char>& out) noexcept;

/// Initialises libvips once (also done by the first shrink_image()). Returns an error message when
/// libvips cannot be used; then every shrink_image() reports unchanged_error. For start-up checks.
[[nodiscard]] std::optional<std::string> resize_init() noexcept;

/// "libvips 8.14.1" (for `ximup version`), or "not available: <why>".
[[nodiscard]] std::string resize_library_version();

/// shrink_image() and resize_init() run in the resize module, ximup-resize.so (libvips and its ~100
/// libraries are loaded only when resizing is asked for): it is looked for at $XIMUP_RESIZE_MODULE
/// when that is set, else beside the executable, then in ../lib/ximup/ from it, then at the path
/// given here (for test and benchmark binaries of a build tree). Call before the first use.
void set_resize_module_fallback(std::string path);

/// The format recognised from the first bytes: "jpeg", "png", "gif", "webp", "tiff", or "" (pure).
[[nodiscard]] std::string_view sniff_image_format(std::span<const unsigned char> input) noexcept;

}  // namespace ximup
