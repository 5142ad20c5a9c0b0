// resample: Lanczos-3 in fixed point, rows then columns; see resample.hpp.
#include "resample.hpp"

#include "avx2_switch.hpp"
#include "rgb_join.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numbers>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ximup {
namespace {

constexpr int fraction_bits = 14;
constexpr std::int32_t one = 1 << fraction_bits;
constexpr std::int32_t half = 1 << (fraction_bits - 1);

double lanczos3(double x) {
  x = std::abs(x);
  if (x < 1e-9) return 1.0;
  if (x >= 3.0) return 0.0;
  const double px = std::numbers::pi * x;
  return 3.0 * std::sin(px) * std::sin(px / 3.0) / (px * px);
}

// The weights of one axis: for output position i, `taps` weights starting at input starts[i] (the
// positions past the input's end, which only the last outputs can reach, have weight 0). Returns
// false when `s` already holds them (the same sizes as the last call).
bool plan_axis(std::uint32_t from, std::uint32_t to, resample_axis& s) {
  if (s.from == from && s.to == to) return false;
  const double step = static_cast<double>(from) / to;
  const double scale = std::max(step, 1.0);
  const double support = 3.0 * scale;
  // The input positions within `support` of an output's centre: at most 2 x support + 1, and one
  // fewer when 2 x support is not whole (a reduction by 1.25 reaches 8 pixels, not 9: one madd of
  // 8 lanes per output in the column pass). Counted rather than bounded.
  const auto window = [&](std::uint32_t i) {
    const double centre = (i + 0.5) * step;  // in input coordinates; input pixel k is centred at k + 0.5
    return std::pair{static_cast<std::int64_t>(std::ceil(centre - support - 0.5)),
                     static_cast<std::int64_t>(std::floor(centre + support - 0.5))};
  };
  std::size_t taps = 1;
  for (std::uint32_t i = 0; i < to; ++i) {
    const auto [first, last] = window(i);
    taps = std::max(taps, static_cast<std::size_t>(last - first + 1));
  }
  s.starts.assign(to, 0);
  s.weights.assign(std::size_t{to} * taps, 0);
  std::vector<double> w(taps);
  const auto last_input = static_cast<std::int64_t>(from) - 1;
  for (std::uint32_t i = 0; i < to; ++i) {
    const double centre = (i + 0.5) * step;
    const auto [first, last] = window(i);
    const std::int64_t start = std::clamp<std::int64_t>(first, 0, last_input);
    std::fill(w.begin(), w.end(), 0.0);
    double sum = 0;
    for (std::int64_t k = first; k <= last; ++k) {
      const double weight = lanczos3((static_cast<double>(k) + 0.5 - centre) / scale);
      const std::int64_t at = std::clamp<std::int64_t>(k, 0, last_input) - start;  // edges repeat
      w[static_cast<std::size_t>(at)] += weight;
      sum += weight;
    }
    // Fixed point, and the rounding error put on the largest weight so that they sum to exactly one.
    std::int16_t* fixed = s.weights.data() + std::size_t{i} * taps;
    std::int32_t total = 0;
    std::size_t largest = 0;
    for (std::size_t t = 0; t < taps; ++t) {
      fixed[t] = static_cast<std::int16_t>(std::lround(w[t] / sum * one));
      total += fixed[t];
      if (fixed[t] > fixed[largest]) largest = t;
    }
    fixed[largest] = static_cast<std::int16_t>(fixed[largest] + (one - total));
    s.starts[i] = static_cast<std::uint32_t>(start);
  }
  s.from = from;
  s.to = to;
  s.taps = taps;
  return true;
}

// sum of p[i] * w[i] for i < n: the last columns of a row (dot4 does the rest with SSE2), filters
// wider than 16 lanes, and everything without SSE2.
std::int32_t dot(const std::int16_t* p, const std::int16_t* w, std::size_t n) {
  std::int32_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += std::int32_t{p[i]} * w[i];
  return sum;
}

#if defined(__SSE2__)
// dot() of `Lanes` lanes (8 or 16) for four outputs: band + starts[i] against weights + Lanes i; lane i
// of the result is output i's sum.
template <std::size_t Lanes>
__m128i dot4(const std::int16_t* band, const std::uint32_t* starts, const std::int16_t* weights) {
  static_assert(Lanes == 8 || Lanes == 16);
  const auto partial = [&](std::size_t i) {  // four lanes whose sum is output i's
    const std::int16_t* p = band + starts[i];
    const std::int16_t* w = weights + Lanes * i;
    const __m128i low = _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)),
                                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(w)));
    if constexpr (Lanes == 8) {
      return low;
    } else {
      return _mm_add_epi32(low, _mm_madd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8)),
                                               _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 8))));
    }
  };
  const __m128i p0 = partial(0);
  const __m128i p1 = partial(1);
  const __m128i p2 = partial(2);
  const __m128i p3 = partial(3);
  // Transpose-and-add: lane i of the result is the sum of output i's four lanes.
  const __m128i a = _mm_add_epi32(_mm_unpacklo_epi32(p0, p1), _mm_unpackhi_epi32(p0, p1));
  const __m128i c = _mm_add_epi32(_mm_unpacklo_epi32(p2, p3), _mm_unpackhi_epi32(p2, p3));
  return _mm_add_epi32(_mm_unpacklo_epi64(a, c), _mm_unpackhi_epi64(a, c));
}

// to_sample() of four sums at once (rounding added): the saturating packs clamp to 0..255 as it does.
std::uint32_t to_samples4(__m128i sums) {
  const __m128i shifted = _mm_srai_epi32(_mm_add_epi32(sums, _mm_set1_epi32(half)), fraction_bits);
  const __m128i words = _mm_packs_epi32(shifted, shifted);
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(words, words)));
}
#endif

std::uint8_t to_sample(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> fraction_bits, 0, 255));
}

#if defined(__x86_64__)
// The vertical pass's SSE2 loop (below) 32 samples at a time with AVX2, on CPUs that have it (chosen
// at run time; the build targets plain x86-64): the same arithmetic. AVX2's unpacks and packs work
// within each 128-bit half, so each half computes exactly what the SSE2 loop does for its 16
// samples. A function of its own, whole: the SSE2 helpers are not inlined into AVX2 code. Returns
// how far it got.
[[gnu::target("avx2")]] std::size_t vertical_avx2(const std::uint8_t* const* lines, std::size_t count,
                                                  const std::int16_t* w, std::uint8_t* out, std::size_t row) {
  const __m256i zero = _mm256_setzero_si256();
  std::size_t j = 0;
  for (; j + 32 <= row; j += 32) {
    __m256i acc0 = _mm256_set1_epi32(half);
    __m256i acc1 = acc0;
    __m256i acc2 = acc0;
    __m256i acc3 = acc0;
    for (std::size_t t = 0; t < count; t += 2) {
      const bool pair = t + 1 < count;
      const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lines[t] + j));
      const __m256i b2 = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lines[t + 1] + j)) : zero;
      const auto w0 = static_cast<std::uint16_t>(w[t]);
      const auto w1 = static_cast<std::uint16_t>(pair ? w[t + 1] : 0);
      const __m256i weights = _mm256_set1_epi32(static_cast<std::int32_t>(w0 | (std::uint32_t{w1} << 16)));
      const __m256i lo = _mm256_unpacklo_epi8(a, b2);
      const __m256i hi = _mm256_unpackhi_epi8(a, b2);
      acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_unpacklo_epi8(lo, zero), weights));
      acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_unpackhi_epi8(lo, zero), weights));
      acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_unpacklo_epi8(hi, zero), weights));
      acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_unpackhi_epi8(hi, zero), weights));
    }
    const __m256i first =
        _mm256_packs_epi32(_mm256_srai_epi32(acc0, fraction_bits), _mm256_srai_epi32(acc1, fraction_bits));
    const __m256i second =
        _mm256_packs_epi32(_mm256_srai_epi32(acc2, fraction_bits), _mm256_srai_epi32(acc3, fraction_bits));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), _mm256_packus_epi16(first, second));
  }
  return j;
}

// The column pass's split of a row of RGB pixels into three rows of 16-bit samples, 16 pixels at a
// time with byte shuffles (SSSE3's, which every AVX2 CPU has) where the plain loop moves one byte at a
// time: it was about a third of the resampler's time (perf). (Lambdas would not take the target.)
// Sixteen pixels are 48 bytes, loaded as three groups; each band takes its bytes from each group (mask
// byte -1: none) into consecutive places, then is widened to 16 bits.
[[gnu::target("avx2")]] inline void split_band(__m128i a, __m128i c, __m128i e, __m128i m0, __m128i m1,
                                               __m128i m2, std::int16_t* to) {
  const __m128i bytes =
      _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(a, m0), _mm_shuffle_epi8(c, m1)), _mm_shuffle_epi8(e, m2));
  const __m128i zero = _mm_setzero_si128();
  _mm_storeu_si128(reinterpret_cast<__m128i*>(to), _mm_unpacklo_epi8(bytes, zero));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(to + 8), _mm_unpackhi_epi8(bytes, zero));
}

// Returns how many pixels it did.
[[gnu::target("avx2")]] std::size_t split_rgb_avx2(const std::uint8_t* in, std::size_t width, std::int16_t* r,
                                                   std::int16_t* g, std::int16_t* b) {
  const __m128i r0 = _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i r1 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14, -1, -1, -1, -1, -1);
  const __m128i r2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 1, 4, 7, 10, 13);
  const __m128i g0 = _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i g1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1);
  const __m128i g2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 2, 5, 8, 11, 14);
  const __m128i b0 = _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i b1 = _mm_setr_epi8(-1, -1, -1, -1, -1, 1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1);
  const __m128i b2 = _mm_setr_epi8(-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 3, 6, 9, 12, 15);
  std::size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    const std::uint8_t* p = in + 3 * x;
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
    const __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32));
    split_band(a, c, e, r0, r1, r2, r + x);
    split_band(a, c, e, g0, g1, g2, g + x);
    split_band(a, c, e, b0, b1, b2, b + x);
  }
  return x;
}

// The column pass's dot4/to_samples4 loop eight outputs at a time with AVX2, for a band whose outputs
// are stored one byte apart (`out`): the same sums (integer additions, in another order) shifted and
// saturated the same way. With 8 lanes two outputs share a register (a 128-bit half each); with 16
// one output fills one. Returns how many outputs it did. (No lambdas: they would not take the target.)
template <std::size_t Lanes>
[[gnu::target("avx2")]] std::uint32_t columns_avx2(const std::int16_t* band, const std::uint32_t* starts,
                                                   const std::int16_t* weights, std::uint32_t out_width,
                                                   std::uint8_t* out) {
  static_assert(Lanes == 8 || Lanes == 16);
  const __m256i rounding = _mm256_set1_epi32(half);
  std::uint32_t x = 0;
  for (; x + 8 <= out_width; x += 8) {
    const std::uint32_t* at = starts + x;
    const std::int16_t* w = weights + std::size_t{x} * Lanes;
    __m128i sums;
    __m128i sums_high;  // outputs 4-7 (16 lanes)
    if constexpr (Lanes == 8) {
      // q[i]: output 2i's four partial sums in the low half, 2i + 1's in the high half.
      __m256i q[4];
      for (std::size_t i = 0; i < 4; ++i) {
        const __m256i p = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(band + at[2 * i]))),
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(band + at[2 * i + 1])), 1);
        q[i] = _mm256_madd_epi16(p, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 * i)));
      }
      // Low half: outputs 0, 2, 4, 6; high half: 1, 3, 5, 7.
      const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(q[0], q[1]), _mm256_hadd_epi32(q[2], q[3]));
      const __m256i shifted = _mm256_srai_epi32(_mm256_add_epi32(h, rounding), fraction_bits);
      sums = _mm256_castsi256_si128(shifted);
      sums_high = _mm256_extracti128_si256(shifted, 1);
      // 16-bit, then bytes, then the two halves' bytes interleaved: outputs 0-7 in order.
      const __m128i even = _mm_packus_epi16(_mm_packs_epi32(sums, sums), _mm_setzero_si128());
      const __m128i odd = _mm_packus_epi16(_mm_packs_epi32(sums_high, sums_high), _mm_setzero_si128());
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + x), _mm_unpacklo_epi8(even, odd));
    } else {
      // q[i]: output i's eight partial sums, four in each half.
      __m256i q[8];
      for (std::size_t i = 0; i < 8; ++i) {
        q[i] = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(band + at[i])),
                                 _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 * i)));
      }
      // Each half: outputs 0-3 (g0) or 4-7 (g1), that half's partial sums; the halves then added.
      const __m256i g0 = _mm256_hadd_epi32(_mm256_hadd_epi32(q[0], q[1]), _mm256_hadd_epi32(q[2], q[3]));
      const __m256i g1 = _mm256_hadd_epi32(_mm256_hadd_epi32(q[4], q[5]), _mm256_hadd_epi32(q[6], q[7]));
      const __m128i rounding4 = _mm_set1_epi32(half);
      sums = _mm_srai_epi32(
          _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(g0), _mm256_extracti128_si256(g0, 1)),
                        rounding4),
          fraction_bits);
      sums_high = _mm_srai_epi32(
          _mm_add_epi32(_mm_add_epi32(_mm256_castsi256_si128(g1), _mm256_extracti128_si256(g1, 1)),
                        rounding4),
          fraction_bits);
      const __m128i words = _mm_packs_epi32(sums, sums_high);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + x), _mm_packus_epi16(words, words));
    }
  }
  return x;
}

// The column pass's RGB output from its three band rows (split_rgb_avx2 the other way round): 16
// pixels at a time, where storing each band's bytes three apart was about a fifth of the resampler's
// time. Returns how many pixels it did.
[[gnu::target("avx2")]] std::size_t join_rgb_avx2(const std::uint8_t* r, const std::uint8_t* g,
                                                  const std::uint8_t* b, std::size_t width,
                                                  std::uint8_t* out) {
  std::size_t x = 0;
  for (; x + 16 <= width; x += 16) {
    rgb_join::store16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + x)),
                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(g + x)),
                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + x)), out + 3 * x);
  }
  return x;
}
#endif

}  // namespace

void lanczos3_resample(const std::uint8_t* src, std::uint32_t width, std::uint32_t height, int bands,
                       std::uint8_t* dst, std::uint32_t out_width, std::uint32_t out_height,
                       resample_scratch& s) {
  const auto b = static_cast<std::size_t>(bands);
  // Rows: each output row is a weighted sum of whole input rows.
  const std::size_t row = std::size_t{width} * b;
  plan_axis(height, out_height, s.vertical);
  const resample_axis& vertical = s.vertical;
  s.rows.resize(row * out_height);
  std::vector<const std::uint8_t*> lines(vertical.taps + 1);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const std::int16_t* w = vertical.weights.data() + std::size_t{y} * vertical.taps;
    const std::size_t count = std::min<std::size_t>(vertical.taps, height - vertical.starts[y]);
    for (std::size_t t = 0; t < count; ++t) lines[t] = src + (vertical.starts[y] + t) * row;
    std::uint8_t* out = s.rows.data() + std::size_t{y} * row;
    std::size_t j = 0;
#if defined(__x86_64__)
    if (avx2_on()) j = vertical_avx2(lines.data(), count, w, out, row);
#endif
#if defined(__SSE2__)
    // 16 samples at a time, all taps in registers: input rows taken in pairs, their bytes interleaved
    // and widened to 16 bits, so that one madd multiplies and adds two taps for 4 samples.
    const __m128i zero = _mm_setzero_si128();
    for (; j + 16 <= row; j += 16) {
      __m128i acc0 = _mm_set1_epi32(half);
      __m128i acc1 = acc0;
      __m128i acc2 = acc0;
      __m128i acc3 = acc0;
      for (std::size_t t = 0; t < count; t += 2) {
        const bool pair = t + 1 < count;
        const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(lines[t] + j));
        const __m128i b2 = pair ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(lines[t + 1] + j)) : zero;
        const auto w0 = static_cast<std::uint16_t>(w[t]);
        const auto w1 = static_cast<std::uint16_t>(pair ? w[t + 1] : 0);
        const __m128i weights = _mm_set1_epi32(static_cast<std::int32_t>(w0 | (std::uint32_t{w1} << 16)));
        const __m128i lo = _mm_unpacklo_epi8(a, b2);
        const __m128i hi = _mm_unpackhi_epi8(a, b2);
        acc0 = _mm_add_epi32(acc0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), weights));
        acc1 = _mm_add_epi32(acc1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), weights));
        acc2 = _mm_add_epi32(acc2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), weights));
        acc3 = _mm_add_epi32(acc3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), weights));
      }
      const __m128i first =
          _mm_packs_epi32(_mm_srai_epi32(acc0, fraction_bits), _mm_srai_epi32(acc1, fraction_bits));
      const __m128i second =
          _mm_packs_epi32(_mm_srai_epi32(acc2, fraction_bits), _mm_srai_epi32(acc3, fraction_bits));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j), _mm_packus_epi16(first, second));
    }
#endif
    for (; j < row; ++j) {
      std::int32_t sum = half;
      for (std::size_t t = 0; t < count; ++t) sum += std::int32_t{w[t]} * lines[t][j];
      out[j] = to_sample(sum);
    }
  }
  // Columns, on the shorter image, one band at a time: each row's band is copied out as 16-bit samples
  // with its last sample repeated `taps` times after it, so that every output sample is `taps`
  // multiply-adds over contiguous memory with no edge case (the weights past the end are 0). With SSE2
  // and at most 8 taps (a reduction by less than 4/3, as 1000 -> 800), one madd instruction does them;
  // at most 16 (a reduction by up to 2.5), two (dot4).
  const resample_axis& columns = s.columns;
  const bool new_columns = plan_axis(width, out_width, s.columns);
  const std::size_t lanes = columns.taps <= 8    ? 8
                            : columns.taps <= 16 ? 16
                                                 : columns.taps;  // weights per output, zero-padded
  if (new_columns) {
    s.padded_weights.assign(std::size_t{out_width} * lanes, 0);
    for (std::size_t x = 0; x < out_width; ++x) {
      std::copy_n(columns.weights.data() + x * columns.taps, columns.taps,
                  s.padded_weights.data() + x * lanes);
    }
  }
  // All bands of a row are taken apart in one pass over it; each band is followed by `lanes` copies of
  // its last sample.
  const std::size_t band_stride = std::size_t{width} + lanes;
  s.band.resize(band_stride * b);
  // RGB with AVX2: each band's outputs go to a row of their own, joined after.
  bool join = false;
#if defined(__x86_64__)
  join = b == 3 && avx2_on();
#endif
  if (join) s.out_bands.resize(std::size_t{out_width} * 3);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const std::uint8_t* in = s.rows.data() + std::size_t{y} * row;
    std::uint8_t* out = dst + std::size_t{y} * out_width * b;
    std::int16_t* bands_start = s.band.data();
    if (b == 3) {
      std::int16_t* b0 = bands_start;
      std::int16_t* b1 = b0 + band_stride;
      std::int16_t* b2 = b1 + band_stride;
      std::size_t x = 0;
#if defined(__x86_64__)
      if (avx2_on()) x = split_rgb_avx2(in, width, b0, b1, b2);
#endif
      for (; x < width; ++x) {
        b0[x] = in[3 * x];
        b1[x] = in[3 * x + 1];
        b2[x] = in[3 * x + 2];
      }
    } else {
      for (std::size_t x = 0; x < width; ++x) {
        for (std::size_t c = 0; c < b; ++c) bands_start[c * band_stride + x] = in[x * b + c];
      }
    }
    // Band c's output sample x goes to `to[x * step + c]`.
    std::uint8_t* to = join ? s.out_bands.data() : out;
    const std::size_t step = join ? 1 : b;
    for (std::size_t c = 0; c < b; ++c) {
      std::int16_t* band = bands_start + c * band_stride;
      std::fill(band + width, band + width + lanes, band[width - 1]);
      std::uint8_t* band_out = join ? to + c * out_width : to + c;
      std::uint32_t x = 0;
#if defined(__x86_64__)
      if (step == 1 && avx2_on()) {
        if (lanes == 8)
          x = columns_avx2<8>(band, columns.starts.data(), s.padded_weights.data(), out_width, band_out);
        if (lanes == 16)
          x = columns_avx2<16>(band, columns.starts.data(), s.padded_weights.data(), out_width, band_out);
      }
#endif
#if defined(__SSE2__)
      // Four output samples at a time when the filter has 8 or 16 lanes: their four partial sums are
      // transposed and added in registers, then shifted and packed to bytes together.
      const auto four_at_a_time = [&]<std::size_t Lanes>() {
        for (; x + 4 <= out_width; x += 4) {
          const std::uint32_t four = to_samples4(
              dot4<Lanes>(band, columns.starts.data() + x, s.padded_weights.data() + std::size_t{x} * Lanes));
          std::uint8_t* o = band_out + std::size_t{x} * step;
          if (join) {
            std::memcpy(o, &four, 4);  // (little-endian: sample x first)
          } else {
            o[0] = static_cast<std::uint8_t>(four);
            o[step] = static_cast<std::uint8_t>(four >> 8U);
            o[2 * step] = static_cast<std::uint8_t>(four >> 16U);
            o[3 * step] = static_cast<std::uint8_t>(four >> 24U);
          }
        }
      };
      if (lanes == 8) four_at_a_time.template operator()<8>();
      if (lanes == 16) four_at_a_time.template operator()<16>();
#endif
      for (; x < out_width; ++x) {
        const std::int16_t* w = s.padded_weights.data() + std::size_t{x} * lanes;
        const std::int16_t* p = band + columns.starts[x];
        band_out[std::size_t{x} * step] = to_sample(dot(p, w, lanes) + half);
      }
    }
#if defined(__x86_64__)
    if (join) {
      const std::uint8_t* r = s.out_bands.data();
      const std::uint8_t* g = r + out_width;
      const std::uint8_t* bl = g + out_width;
      for (std::size_t x = join_rgb_avx2(r, g, bl, out_width, out); x < out_width; ++x) {
        out[3 * x] = r[x];
        out[3 * x + 1] = g[x];
        out[3 * x + 2] = bl[x];
      }
    }
#endif
  }
}

void lanczos3_resample_scalar(const std::uint8_t* src, std::uint32_t width, std::uint32_t height, int bands,
                              std::uint8_t* dst, std::uint32_t out_width, std::uint32_t out_height,
                              resample_scratch& s) {
  const auto b = static_cast<std::size_t>(bands);
  const std::size_t row = std::size_t{width} * b;
  // Its own weights, not the scratch's kept ones: nothing of lanczos3_resample's state is reused.
  resample_axis axis;
  plan_axis(height, out_height, axis);
  s.rows.resize(row * out_height);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const std::int16_t* w = axis.weights.data() + std::size_t{y} * axis.taps;
    const std::size_t count = std::min<std::size_t>(axis.taps, height - axis.starts[y]);
    for (std::size_t j = 0; j < row; ++j) {
      std::int32_t sum = half;
      for (std::size_t t = 0; t < count; ++t) sum += std::int32_t{w[t]} * src[(axis.starts[y] + t) * row + j];
      s.rows[std::size_t{y} * row + j] = to_sample(sum);
    }
  }
  axis = {};
  plan_axis(width, out_width, axis);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const std::uint8_t* in = s.rows.data() + std::size_t{y} * row;
    for (std::uint32_t x = 0; x < out_width; ++x) {
      const std::int16_t* w = axis.weights.data() + std::size_t{x} * axis.taps;
      for (std::size_t c = 0; c < b; ++c) {
        std::int32_t sum = half;
        for (std::size_t t = 0; t < axis.taps; ++t) {
          const std::size_t at = std::min<std::size_t>(axis.starts[x] + t, width - 1);  // the edge repeats
          sum += std::int32_t{w[t]} * in[at * b + c];
        }
        dst[(std::size_t{y} * out_width + x) * b + c] = to_sample(sum);
      }
    }
  }
}

}  // namespace ximup
