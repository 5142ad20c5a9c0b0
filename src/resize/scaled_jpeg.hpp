#pragma once
// scaled_jpeg: decodes a baseline JPEG straight to 1/2, 1/4 or 1/8 of its size (issue 7,
// docs/resize.md).
//
// Why our own: at those scales libjpeg-turbo spends most of its time in its Huffman decoder, which
// must still read every coefficient of every block; ours reads a code and its magnitude bits with
// one table look-up (most symbols), from a copy of the scan with the 0xFF00 stuffing removed, and
// keeps only the coefficients the scaled IDCT needs. The pixels are the same picture: the scaled
// output of each 8x8 block is the mean of its 4x4 (1/4) or 8x8 (1/8) pixels, as libjpeg's
// reduced-size IDCTs compute it (at 1/2: of each 2x2 square, from the 16 lowest frequencies); chroma
// is upsampled with the same triangle filter as libjpeg's "fancy" upsampling.
//
// Scope: 8-bit Huffman JPEGs, baseline/extended (SOF0/SOF1) or progressive (SOF2), greyscale or
// YCbCr with chroma subsampled 4:4:4, 4:2:2, 4:2:0 or 4:4:0, restart markers allowed. A baseline file
// with one interleaved scan is decoded straight to the planes (at any of the three scales);
// progressive files and baseline files with a scan per component go scan by scan through a store of
// each block's first coefficients (`scaled_jpeg_block_of`). Everything else (arithmetic,
// 12-bit, CMYK, RGB, missing tables, a progressive file whose low frequencies are not refined to their last
// bit, which libjpeg would smooth) is `unsupported`; anything the file does not say exactly right (truncated
// data, a bad Huffman code, bytes left over in a restart interval, restart markers out of order, a
// progression libjpeg warns about) is `corrupt`. Either way the caller decodes the file another way, whose
// rules then decide: this decoder never guesses where libjpeg would warn.
//
// Pure and thread-safe: no state outside the `scaled_jpeg_scratch` the caller passes (one per thread,
// reused; it keeps a copy of one scan and the planes, about input size + output size, and for
// multi-scan files 24 bytes per block, 64 at 1/2) and the process-wide PDEP switch below.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace ximup {

struct scaled_jpeg_frame;  ///< a file's tables and layout (scaled_jpeg.cpp; about 300 KiB)
struct scaled_jpeg_frame_deleter {
  void operator()(scaled_jpeg_frame* frame) const noexcept;
};

/// One block of a multi-scan (progressive) file while its scans are decoded; N values: 5 at 1/4 and 1/8
/// (24 bytes), 25 at 1/2 (64 bytes).
template <std::size_t N>
struct scaled_jpeg_block_of {
  std::uint64_t nonzero = 0;          ///< zigzag positions coded nonzero so far (refinement scans need them)
  std::array<std::int16_t, N> low{};  ///< the values of zigzag positions 0 to N - 1
};
using scaled_jpeg_block = scaled_jpeg_block_of<5>;
using scaled_jpeg_half_block = scaled_jpeg_block_of<25>;

struct scaled_jpeg_scratch {
  std::unique_ptr<scaled_jpeg_frame, scaled_jpeg_frame_deleter> frame;
  std::vector<std::uint8_t> scan;         ///< entropy-coded data without byte stuffing, padded
  std::vector<std::size_t> restarts;      ///< offsets in `scan` where each restart interval starts
  std::vector<std::uint8_t> planes;       ///< one plane per component at the scaled size, block-padded
  std::vector<scaled_jpeg_block> blocks;  ///< multi-scan files only: every block of every component
  std::vector<scaled_jpeg_half_block> half_blocks;  ///< the same at 1/2
};

enum class scaled_jpeg_status { decoded, unsupported, corrupt };

struct scaled_jpeg_image {
  std::uint32_t width = 0;   ///< ceil(stored width / shrink), as libjpeg's scaled output
  std::uint32_t height = 0;  ///< ceil(stored height / shrink)
  int bands = 0;             ///< 1 (greyscale) or 3 (RGB)
};

/// Decodes `jpeg` at 1/`shrink` (2, 4 or 8; other values and the files above are `unsupported`) into
/// `pixels` (resized to
/// width x height x bands, interleaved, rows packed). On anything but `decoded`, `pixels` and `*image`
/// are unspecified. Never throws except std::bad_alloc; never reads outside `jpeg`.
scaled_jpeg_status decode_scaled_jpeg(std::span<const std::uint8_t> jpeg, int shrink,
                                      std::vector<std::uint8_t>& pixels, scaled_jpeg_image* image,
                                      scaled_jpeg_scratch& scratch);

/// JFIF YCbCr -> RGB of `n` pixels (planar in, interleaved out), as libjpeg rounds it; SSE2 where the
/// build has it, its stores AVX2's byte shuffles where the CPU has them (avx2_switch.hpp). The scalar version
/// is the reference the tests hold it to.
void ycbcr_to_rgb(const std::uint8_t* y, const std::uint8_t* cb, const std::uint8_t* cr, std::uint8_t* out,
                  std::size_t n);
void ycbcr_to_rgb_scalar(const std::uint8_t* y, const std::uint8_t* cb, const std::uint8_t* cr,
                         std::uint8_t* out, std::size_t n);

/// The horizontal half of libjpeg's "fancy" upsampling of a chroma row sampled at half the width:
/// `col` holds a row's samples x 4 (blended vertically, at most 1020), with col[-1] and col[n]
/// repeating its first and last; each sample gives (3 x it + its left neighbour + 8) / 16 and (3 x it
/// + its right neighbour + 7) / 16, `width` outputs in all (an odd one last). Eight samples at a
/// time with SSE2 where the build has it; the scalar version is the reference the tests hold it to.
void upsample_chroma_row(const std::int16_t* col, std::uint8_t* dst, std::size_t width);
void upsample_chroma_row_scalar(const std::int16_t* col, std::uint8_t* dst, std::size_t width);

/// The 1/4 scale's pixels of a row of `blocks` blocks, 2 x 2 each, from each block's values of zigzag
/// 0, 1, 2 and 4 (four per block, in `values`) and its component's quantisation table (64 steps,
/// natural order): the block's top two pixels to `top` + 2 x block, its bottom two to `bottom` + 2 x
/// block (bottom after top). Eight blocks at a time with AVX2 where the CPU has it and the four steps
/// fit 8 bits; the scalar version is the reference the tests hold it to.
void blocks_to_pixels2x2(const std::int16_t* values, std::size_t blocks, const std::uint16_t* quant,
                         std::uint8_t* top, std::uint8_t* bottom);
void blocks_to_pixels2x2_scalar(const std::int16_t* values, std::size_t blocks, const std::uint16_t* quant,
                                std::uint8_t* top, std::uint8_t* bottom);

/// The 1/2 scale's 4 x 4 pixels of one block from its values of zigzag 0-24 (`values`, 25) and its
/// component's quantisation table (64 steps, natural order), to `out`, rows `stride` apart: each
/// pixel the mean of a 2 x 2 square of the 8 x 8 IDCT of the 16 lowest frequencies, in float. SSE2
/// where the build has it; the scalar version is the reference the tests hold it to. Compiled
/// without fused multiply-adds, so every CPU gives the same bytes.
void block_to_pixels4x4(const int* values, const std::uint16_t* quant, std::uint8_t* out, std::size_t stride);
void block_to_pixels4x4_scalar(const int* values, const std::uint16_t* quant, std::uint8_t* out,
                               std::size_t stride);

/// Tests and benchmarks: refinement scans of progressive files find coefficients with the PDEP
/// instruction where the CPU runs it fast (Intel since Haswell, AMD since Zen 3), else with a loop.
/// false turns PDEP off, true back on if the CPU has it. Returns whether it is now on. Process-wide.
bool scaled_jpeg_use_pdep(bool wanted);

}  // namespace ximup
