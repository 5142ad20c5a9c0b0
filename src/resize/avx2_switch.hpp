#pragma once
// avx2_switch: whether the resize code's AVX2 loops run. The build targets plain x86-64; the
// resampler's passes (resample.cpp) and the decoder's colour conversion (scaled_jpeg.cpp) have AVX2
// loops chosen at run time, row by row, and SSE2 ones beside them that the tests also run.

namespace ximup {

/// True when the CPU has AVX2 (x86-64) and no test or benchmark has turned the AVX2 loops off.
bool avx2_on();

/// Tests and benchmarks: false turns every AVX2 loop of the resize code off (their SSE2 loops run),
/// true back on if the CPU has AVX2. Returns whether they are now on. Process-wide.
bool resize_use_avx2(bool wanted);

}  // namespace ximup
