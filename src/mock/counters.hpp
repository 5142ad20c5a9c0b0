#pragma once
// The server's live counters: relaxed atomics bumped by any io thread, copied by snapshot().

#include <array>
#include <atomic>
#include <cstdint>

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
  counter latency{0};
  counter fail{0};
  counter rate_limited{0};
  counter reset{0};
  counter hang{0};
  counter trickle{0};
  counter garbage{0};
  counter record_fail{0};
  counter reject_token{0};
  counter idle_close{0};

  static void bump(counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
  void count_status(unsigned status) noexcept {
    if (status < by_status.size()) {
      bump(by_status[status]);
    }
  }
  [[nodiscard]] counters_snapshot snapshot() const;
};

}  // namespace ximup::mock
