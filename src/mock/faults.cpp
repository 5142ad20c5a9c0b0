// Fault decisions: pure functions of (seed, request number).
#include "ximup/mock/faults.hpp"

#include <algorithm>
#include <random>

namespace ximup::mock {
namespace {

// Uniform double in [0, 1) from 53 random bits (portable, unlike uniform_real_distribution).
double unit(std::mt19937_64& rng) noexcept {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform integer in [0, n) (n > 0); the modulo bias is irrelevant here.
std::uint64_t below(std::mt19937_64& rng, std::uint64_t n) noexcept {
  return rng() % n;
}

// Distinct streams for request-level and record-level draws.
constexpr std::uint64_t record_stream = 0x7265636f72642d66ULL;  // "record-f"

}  // namespace

bool fault_config::any() const noexcept {
  return latency_ms > 0 || latency_jitter_ms > 0 || fail_rate > 0 || reset_rate > 0 || hang_rate > 0 ||
         trickle_rate > 0 || garbage_rate > 0 || record_fail_rate > 0 || interim_rate > 0;
}

std::string_view fault_name(fault_kind kind) noexcept {
  switch (kind) {
    case fault_kind::none:
      return "none";
    case fault_kind::reset_mid_request:
      return "reset_mid_request";
    case fault_kind::reset_mid_response:
      return "reset_mid_response";
    case fault_kind::hang:
      return "hang";
    case fault_kind::fail:
      return "fail";
    case fault_kind::garbage:
      return "garbage";
    case fault_kind::trickle:
      return "trickle";
  }
  return "none";
}

std::uint64_t mix64(std::uint64_t seed, std::uint64_t n) noexcept {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (n + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

fault_decision decide_faults(const fault_config& config, std::uint64_t request_number) noexcept {
  std::mt19937_64 rng(mix64(config.seed, request_number));
  // Always the same draws in the same order, whatever is enabled.
  const double reset_draw = unit(rng);
  const double hang_draw = unit(rng);
  const double fail_draw = unit(rng);
  const double garbage_draw = unit(rng);
  const double trickle_draw = unit(rng);
  const bool reset_mid_response = (rng() & 1U) != 0;
  const std::uint64_t fail_pick = below(rng, 3);
  const bool garbage_truncated = (rng() & 1U) != 0;
  const double cut = 0.05 + 0.9 * unit(rng);
  const std::uint64_t jitter_draw = rng();
  const double interim_draw = unit(rng);  // (last: the draws before it are those of older versions)

  fault_decision d;
  d.cut = cut;
  d.garbage_truncated = garbage_truncated;
  d.interim = interim_draw < config.interim_rate;
  std::int64_t latency = config.latency_ms;
  if (config.latency_jitter_ms > 0) {
    const std::uint64_t span = 2ULL * config.latency_jitter_ms + 1;
    latency +=
        static_cast<std::int64_t>(jitter_draw % span) - static_cast<std::int64_t>(config.latency_jitter_ms);
  }
  d.latency = std::chrono::milliseconds(std::max<std::int64_t>(0, latency));

  if (reset_draw < config.reset_rate) {
    d.kind = reset_mid_response ? fault_kind::reset_mid_response : fault_kind::reset_mid_request;
  } else if (hang_draw < config.hang_rate) {
    d.kind = fault_kind::hang;
  } else if (fail_draw < config.fail_rate) {
    d.kind = fault_kind::fail;
    static constexpr unsigned statuses[] = {500, 502, 503};
    d.fail_status = statuses[fail_pick];
  } else if (garbage_draw < config.garbage_rate) {
    d.kind = fault_kind::garbage;
  } else if (trickle_draw < config.trickle_rate) {
    d.kind = fault_kind::trickle;
  }
  return d;
}

bool record_fault(const fault_config& config, std::uint64_t request_number,
                  std::size_t record_index) noexcept {
  if (config.record_fail_rate <= 0) {
    return false;
  }
  std::mt19937_64 rng(mix64(mix64(config.seed ^ record_stream, request_number), record_index));
  return unit(rng) < config.record_fail_rate;
}

token_bucket::token_bucket(double rate_per_second, double burst, clock::time_point now) noexcept
    : rate_(rate_per_second), burst_(burst), tokens_(burst), last_(now) {}

bool token_bucket::try_acquire(clock::time_point now) noexcept {
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
  if (tokens_ < 1.0) {
    return false;
  }
  tokens_ -= 1.0;
  return true;
}

}  // namespace ximup::mock
