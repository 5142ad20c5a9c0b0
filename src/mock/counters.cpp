// Counters: snapshot and JSON rendering.
#include "counters.hpp"

#include <string>

namespace ximup::mock {
namespace {

std::uint64_t load(const live_counters::counter& c) noexcept {
  return c.load(std::memory_order_relaxed);
}

void member(std::string& out, const char* name, std::uint64_t value, bool first = false) {
  if (!first) {
    out.push_back(',');
  }
  out.push_back('"');
  out += name;
  out += "\":";
  out += std::to_string(value);
}

}  // namespace

counters_snapshot live_counters::snapshot() const {
  counters_snapshot s;
  s.connections = load(connections);
  s.tls_handshake_failures = load(tls_handshake_failures);
  s.requests = load(requests);
  s.stats_requests = load(stats_requests);
  s.bytes_received = load(bytes_received);
  s.records_ok = load(records_ok);
  s.records_failed = load(records_failed);
  s.ledger_lines = load(ledger_lines);
  for (unsigned code = 0; code < by_status.size(); ++code) {
    if (const std::uint64_t n = load(by_status[code]); n > 0) {
      s.responses_by_status[code] = n;
    }
  }
  for (std::size_t i = 0; i < by_tls_suite.size(); ++i) {
    if (const std::uint64_t n = load(by_tls_suite[i]); n > 0) {
      s.handshakes_by_cipher[tls_suite_names[i]] = n;
    }
  }
  s.faults.latency = load(latency);
  s.faults.fail = load(fail);
  s.faults.rate_limited = load(rate_limited);
  s.faults.reset = load(reset);
  s.faults.hang = load(hang);
  s.faults.trickle = load(trickle);
  s.faults.interim = load(interim);
  s.faults.garbage = load(garbage);
  s.faults.record_fail = load(record_fail);
  s.faults.reject_token = load(reject_token);
  s.faults.idle_close = load(idle_close);
  return s;
}

std::uint64_t counters_snapshot::status(unsigned code) const {
  const auto it = responses_by_status.find(code);
  return it == responses_by_status.end() ? 0 : it->second;
}

std::string counters_snapshot::to_json() const {
  std::string out = "{";
  member(out, "connections", connections, true);
  member(out, "tls_handshake_failures", tls_handshake_failures);
  member(out, "requests", requests);
  member(out, "stats_requests", stats_requests);
  member(out, "bytes_received", bytes_received);
  member(out, "records_ok", records_ok);
  member(out, "records_failed", records_failed);
  member(out, "ledger_lines", ledger_lines);
  out += ",\"responses_by_status\":{";
  bool first = true;
  for (const auto& [code, n] : responses_by_status) {
    member(out, std::to_string(code).c_str(), n, first);
    first = false;
  }
  out += "},\"handshakes_by_cipher\":{";
  first = true;
  for (const auto& [name, n] : handshakes_by_cipher) {
    member(out, name.c_str(), n, first);
    first = false;
  }
  out += "},\"faults\":{";
  member(out, "latency", faults.latency, true);
  member(out, "fail", faults.fail);
  member(out, "rate_limited", faults.rate_limited);
  member(out, "reset", faults.reset);
  member(out, "hang", faults.hang);
  member(out, "trickle", faults.trickle);
  member(out, "interim", faults.interim);
  member(out, "garbage", faults.garbage);
  member(out, "record_fail", faults.record_fail);
  member(out, "reject_token", faults.reject_token);
  member(out, "idle_close", faults.idle_close);
  out += "}}";
  return out;
}

}  // namespace ximup::mock
