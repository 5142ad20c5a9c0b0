#pragma once
// jpeg_encode: resized pixels to JPEG with libjpeg(-turbo) directly (issue 7, docs/resize.md).
//
// Why not libvips's jpegsave: for the pixels our JPEG path makes (already at the planned size, no
// orientation to apply, no colour profile to convert), libvips only wraps the buffer, runs its
// thumbnail operation (which has nothing left to do) and hands the rows to libjpeg on a worker
// thread. Calling libjpeg here, with the settings jpegsave uses, gives the same bytes (test:
// Resize.DirectEncodeIsByteForByteLibvips) for less CPU (docs/resize.md, session 11).
//
// The settings are jpegsave's with `strip`: jpeg_set_defaults, jpeg_set_quality(quality,
// force_baseline), optimize_coding as asked, no JFIF header, no metadata; chroma full (all
// components 1x1) or halved each way (libjpeg's default 2x2 luma) as jpegsave's subsample_mode
// decides it (automatic: full at quality 90 and above); RGB or greyscale input.
//
// With optimize_coding, libjpeg's counting pass (the symbol statistics its tables are made from) is
// replaced by ours, which counts the same from each block's nonzero mask: libjpeg's tables and bytes
// (tests compare both ways), about 3 CPU-ms less per 12 MP photo resized (docs/resize.md, session 12).
//
// Pure and thread-safe: everything lives in the call.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ximup/resize.hpp"

namespace ximup {

struct jpeg_encode_options {
  int quality = 90;             ///< 1..100
  bool optimize_coding = true;  ///< Huffman tables made for the image (a second pass, lossless)
  jpeg_chroma chroma = jpeg_chroma::automatic;
  /// With optimize_coding: the counting pass is ours (same counts, same tables, same bytes, less
  /// CPU); false leaves it to libjpeg (tests compare the two).
  bool own_statistics = true;
};

/// Encodes `pixels` (width x height x bands, rows packed; bands 3 = RGB, 1 = grey) into `out`
/// (replaced). Returns an empty string, or libjpeg's message when it failed (`out` then empty).
[[nodiscard]] std::string encode_jpeg(std::span<const std::uint8_t> pixels, std::uint32_t width,
                                      std::uint32_t height, int bands, const jpeg_encode_options& options,
                                      std::vector<std::uint8_t>& out);

}  // namespace ximup
