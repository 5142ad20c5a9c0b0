#pragma once
/// Fault injection decisions for ximup-mock: pure functions of (seed, request number), so a run is
/// reproducible with `--seed` whatever the thread timing, as long as requests arrive in the same
/// order (one sequential client gives the same decisions every time).
///
/// Each request draws from its own std::mt19937_64 seeded from splitmix64(seed, request number),
/// always the same draws in the same order, so changing one rate never shifts another fault's
/// draws. At most one of the exclusive faults applies, in this precedence: reset, hang, fail,
/// garbage, trickle. Latency applies on top of any of them, and so do interim responses (a 100
/// Continue and a 103 Early Hints before the final one), drawn last.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ximup::mock {

/// Probabilities are in [0, 1]; 0 disables a fault.
struct fault_config {
  std::uint64_t seed = 0;
  std::uint32_t latency_ms = 0;         ///< base delay before every answer
  std::uint32_t latency_jitter_ms = 0;  ///< uniform in [latency - jitter, latency + jitter], >= 0
  double fail_rate = 0;                 ///< answer 500, 502 or 503 (equally likely) without processing
  double reset_rate = 0;        ///< RST the connection, half before reading the body, half mid-response
  double hang_rate = 0;         ///< read the request and never answer
  double trickle_rate = 0;      ///< send the response one byte per second
  double garbage_rate = 0;      ///< 200 with a truncated (half the time) or non-JSON body
  double record_fail_rate = 0;  ///< each otherwise successful record gets `_status` 500
  double interim_rate = 0;      ///< 100 Continue and 103 Early Hints before the final response

  /// True when any fault or latency is configured.
  [[nodiscard]] bool any() const noexcept;
};

enum class fault_kind : std::uint8_t {
  none,
  reset_mid_request,   ///< header read, body not: the socket is reset
  reset_mid_response,  ///< a prefix of the response is written, then the socket is reset
  hang,
  fail,
  garbage,
  trickle,
};

[[nodiscard]] std::string_view fault_name(fault_kind kind) noexcept;

struct fault_decision {
  fault_kind kind = fault_kind::none;
  unsigned fail_status = 0;  ///< 500, 502 or 503 when kind == fail
  std::chrono::milliseconds latency{0};
  double cut = 0.5;                ///< in (0, 1): where reset_mid_response / garbage cut the bytes
  bool garbage_truncated = false;  ///< garbage: truncated JSON (true) or not JSON at all (false)
  bool interim = false;            ///< interim responses before the final one
};

/// The faults for request number `request_number` (1-based, in arrival order).
[[nodiscard]] fault_decision decide_faults(const fault_config& config, std::uint64_t request_number) noexcept;

/// Whether record `record_index` (0-based) of request `request_number` gets a per-record 500.
[[nodiscard]] bool record_fault(const fault_config& config, std::uint64_t request_number,
                                std::size_t record_index) noexcept;

/// 64-bit mix of `seed` and `n` (splitmix64 finalizer); also used for request ids.
[[nodiscard]] std::uint64_t mix64(std::uint64_t seed, std::uint64_t n) noexcept;

/// Token bucket for `--rate-limit N`: holds at most `burst` tokens, refills `rate_per_second`
/// tokens per second continuously, starts full. Not thread-safe (the server guards it).
class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  token_bucket(double rate_per_second, double burst, clock::time_point now) noexcept;

  /// Takes one token if there is one at `now`; false means "answer 429".
  [[nodiscard]] bool try_acquire(clock::time_point now) noexcept;

 private:
  double rate_;
  double burst_;
  double tokens_;
  clock::time_point last_;
};

}  // namespace ximup::mock
