#pragma once
// resample: Lanczos-3 resizing of 8-bit interleaved pixels (issue 7, docs/resize.md).
//
// Why our own: after a JPEG is decoded at 1/2, 1/4 or 1/8, what is left is a reduction by less than 2
// (1000 x 750 -> 800 x 600 for a 12 MP photo to 600 px). libvips's horizontal Lanczos-3 reduce was
// about a fifth of the image's time in perf; this one computes the same filter in fixed point, rows
// first, then columns on the already shorter image, both with SSE2 madds (docs/resize.md; the same
// arithmetic in scalar code without SSE2).
//
// The filter: for each output pixel, the input pixels within 3 x scale of its centre (pixel centres
// at i + 0.5 in both grids), weighted by lanczos3(distance / scale), normalised to sum 1 (scale = input
// size / output size, at least 1, so that a reduction also low-passes). Edges repeat the border
// pixel. Weights have 14 fraction bits; each pass rounds to 8 bits.
//
// Pure and thread-safe: state only in the caller's `resample_scratch` (reused between calls).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ximup {

/// The weights of one axis, from `from` to `to` positions; kept while the next image has the same
/// sizes (a tree of photos from one camera computes them once per thread).
struct resample_axis {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::size_t taps = 0;
  std::vector<std::int16_t> weights;  ///< per output position, `taps` weights
  std::vector<std::uint32_t> starts;  ///< per output position, the first input position
};

struct resample_scratch {
  std::vector<std::uint8_t> rows;            ///< the image after the vertical pass
  std::vector<std::int16_t> band;            ///< the bands of one row, each with its last sample repeated
  std::vector<std::int16_t> padded_weights;  ///< `columns`' weights zero-padded to 8, 16 (or taps) lanes
  std::vector<std::uint8_t> out_bands;       ///< one output row's bands, each contiguous (AVX2, RGB)
  resample_axis vertical;                    ///< rows: height -> out_height
  resample_axis columns;                     ///< width -> out_width
};

/// Resizes `src` (width x height x bands, rows packed) to `dst` (out_width x out_height x bands).
/// Both output sides at least 1; bands 1 to 4. Upscaling works (scale taken as 1) but is not what
/// it is for.
void lanczos3_resample(const std::uint8_t* src, std::uint32_t width, std::uint32_t height, int bands,
                       std::uint8_t* dst, std::uint32_t out_width, std::uint32_t out_height,
                       resample_scratch& scratch);

// Where the CPU has AVX2 (x86-64) the vertical pass runs 32 samples at a time, else 16 with SSE2, and
// the column pass splits and joins RGB rows with byte shuffles and sums eight outputs at a time;
// resize_use_avx2 (avx2_switch.hpp) turns that off for tests.

/// The same filter, weights and rounding without SIMD, one output sample at a time: the reference
/// the tests hold lanczos3_resample to, bit for bit (its SSE2 passes are where mistakes would hide).
void lanczos3_resample_scalar(const std::uint8_t* src, std::uint32_t width, std::uint32_t height, int bands,
                              std::uint8_t* dst, std::uint32_t out_width, std::uint32_t out_height,
                              resample_scratch& scratch);

}  // namespace ximup
