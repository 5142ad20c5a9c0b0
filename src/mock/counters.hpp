#pragma once
// The server's live counters: relaxed atomics bumped by any io thread, copied by snapshot().

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "ximup/mock/mock_server.hpp"

namespace ximup::mock {

struct live_counters {
  using counter = std::atomic<std::uint64_t>;
  counter connections{0};
  counter tls_handshake_failures{0};
  counter requests{0};
  counter stats_requests{0};
  counter bytes_received{0};
  counter records_ok{0};
  counter records_failed{0};
  counter ledger_lines{0};
  std::array<counter, 600> by_status{};
  /// Indexed like tls_suite_names; the last one is "other".
  static constexpr std::array<const char*, 4> tls_suite_names{
      "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "other"};
  std::array<counter, tls_suite_names.size()> by_tls_suite{};
  counter latency{0};
  counter fail{0};
  counter rate_limited{0};
  counter reset{0};
  counter hang{0};
  counter trickle{0};
  counter interim{0};
  counter garbage{0};
  counter record_fail{0};
  counter reject_token{0};
  counter idle_close{0};

  static void bump(counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
  /// Counts a completed handshake under its cipher suite's standard name.
  void count_tls_suite(std::string_view name) noexcept {
    std::size_t i = 0;
    while (i + 1 < tls_suite_names.size() && name != tls_suite_names[i]) ++i;
    bump(by_tls_suite[i]);
  }
  void count_status(unsigned status) noexcept {
    if (status < by_status.size()) {
      bump(by_status[status]);
    }
  }
  [[nodiscard]] counters_snapshot snapshot() const;
};

}  // namespace ximup::mock
