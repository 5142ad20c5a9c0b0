// resample: Lanczos-3 in fixed point, rows then columns; see resample.hpp.
#include "resample.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

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
// positions past the input's end, which only the last outputs can reach, have weight 0).
std::size_t plan_axis(std::uint32_t from, std::uint32_t to, resample_scratch& s) {
  const double step = static_cast<double>(from) / to;
  const double scale = std::max(step, 1.0);
  const double support = 3.0 * scale;
  const auto taps = static_cast<std::size_t>(std::ceil(2.0 * support)) + 1;
  s.starts.assign(to, 0);
  s.weights.assign(std::size_t{to} * taps, 0);
  std::vector<double> w(taps);
  const auto last_input = static_cast<std::int64_t>(from) - 1;
  for (std::uint32_t i = 0; i < to; ++i) {
    const double centre = (i + 0.5) * step;  // in input coordinates; input pixel k is centred at k + 0.5
    const auto first = static_cast<std::int64_t>(std::ceil(centre - support - 0.5));
    const auto last = static_cast<std::int64_t>(std::floor(centre + support - 0.5));
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
  return taps;
}

std::uint8_t to_sample(std::int32_t sum) {
  return static_cast<std::uint8_t>(std::clamp(sum >> fraction_bits, 0, 255));
}

}  // namespace

void lanczos3_resample(const std::uint8_t* src, std::uint32_t width, std::uint32_t height, int bands,
                       std::uint8_t* dst, std::uint32_t out_width, std::uint32_t out_height,
                       resample_scratch& s) {
  const auto b = static_cast<std::size_t>(bands);
  // Rows: each output row is a weighted sum of whole input rows (contiguous, vectorisable).
  const std::size_t row = std::size_t{width} * b;
  std::size_t taps = plan_axis(height, out_height, s);
  s.rows.resize(row * out_height);
  s.sums.resize(row);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    std::fill(s.sums.begin(), s.sums.end(), half);
    const std::int16_t* w = s.weights.data() + std::size_t{y} * taps;
    const std::size_t count = std::min<std::size_t>(taps, height - s.starts[y]);
    for (std::size_t t = 0; t < count; ++t) {
      const std::int32_t weight = w[t];
      if (weight == 0) continue;
      const std::uint8_t* in = src + (s.starts[y] + t) * row;
      std::int32_t* sums = s.sums.data();
      for (std::size_t j = 0; j < row; ++j) sums[j] += weight * in[j];
    }
    std::uint8_t* out = s.rows.data() + std::size_t{y} * row;
    for (std::size_t j = 0; j < row; ++j) out[j] = to_sample(s.sums[j]);
  }
  // Columns, on the shorter image.
  taps = plan_axis(width, out_width, s);
  for (std::uint32_t y = 0; y < out_height; ++y) {
    const std::uint8_t* in = s.rows.data() + std::size_t{y} * row;
    std::uint8_t* out = dst + std::size_t{y} * out_width * b;
    for (std::uint32_t x = 0; x < out_width; ++x) {
      const std::int16_t* w = s.weights.data() + std::size_t{x} * taps;
      const std::size_t count = std::min<std::size_t>(taps, width - s.starts[x]);
      const std::uint8_t* p = in + std::size_t{s.starts[x]} * b;
      for (std::size_t c = 0; c < b; ++c) {
        std::int32_t sum = half;
        for (std::size_t t = 0; t < count; ++t) sum += w[t] * p[t * b + c];
        out[std::size_t{x} * b + c] = to_sample(sum);
      }
    }
  }
}

}  // namespace ximup
