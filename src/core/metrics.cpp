// Prometheus text exposition format 0.0.4 of a metrics_snapshot (see metrics.hpp).
#include "ximup/metrics.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "utf8.hpp"

namespace ximup {
namespace {

using label = std::pair<std::string_view, std::string>;

// HELP text: backslash and newline escaped.
std::string escape_help(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class writer {
 public:
  // Starts a family: its HELP and TYPE lines, which precede its samples.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, const std::vector<label>& labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, val] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        out_ += escape_label_value(val);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  void sample(std::string_view name, const std::vector<label>& labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, const std::vector<label>& labels, double value) {
    sample(name, labels, format_sample_value(value));
  }

  void gauge(std::string_view name, std::string_view help, double value) {
    family(name, "gauge", help);
    sample(name, {}, value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, {}, value);
  }
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, {}, value);
  }
  template <class Key>
  void labelled_counter(std::string_view name, std::string_view help, std::string_view label_name,
                        const std::map<Key, std::uint64_t>& values, std::string (*key_text)(const Key&)) {
    family(name, "counter", help);
    for (const auto& [key, value] : values) sample(name, {{label_name, key_text(key)}}, value);
  }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string string_key(const std::string& key) {
  return key;
}
std::string status_key(const int& status) {
  return status > 0 ? std::to_string(status) : std::string("error");
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  std::size_t i = 0;
  while (i < value.size()) {
    const unsigned char c = bytes[i];
    if (c < 0x80) {
      if (c == '\\') {
        out += "\\\\";
      } else if (c == '"') {
        out += "\\\"";
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const std::size_t n = detail::utf8_sequence_length(bytes + i, value.size() - i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    } else {
      out.append(value.data() + i, n);
      i += n;
    }
  }
  return out;
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc{}) return "NaN";  // cannot happen: 32 chars hold any shortest double
  return std::string(buf.data(), end);
}

std::string render_prometheus(const metrics_snapshot& s) {
  writer w;
  w.gauge("ximup_run_up", "1 while the run is in progress, 0 once it has ended.",
          std::uint64_t{s.running ? 1U : 0U});
  w.gauge("ximup_run_healthy", "1 while the run is healthy (what /healthz answers), else 0.",
          std::uint64_t{s.healthy ? 1U : 0U});
  w.gauge("ximup_run_elapsed_seconds", "Seconds since the run started.", s.elapsed_seconds);
  if (s.shard) {
    w.gauge("ximup_shard_index", "Index of the shard this run uploads (0-based).",
            std::uint64_t{s.shard->index});
    w.gauge("ximup_shard_count", "Number of shards the inputs are split into.",
            std::uint64_t{s.shard->count});
  }

  w.family("ximup_images_total", "counter", "Inputs with a final result, by outcome.");
  w.sample("ximup_images_total", {{"outcome", "ok"}}, s.images_ok);
  w.sample("ximup_images_total", {{"outcome", "failed"}}, s.images_failed);
  w.family("ximup_image_bytes_total", "counter", "File bytes of the inputs with a final result, by outcome.");
  w.sample("ximup_image_bytes_total", {{"outcome", "ok"}}, s.image_bytes_ok);
  w.sample("ximup_image_bytes_total", {{"outcome", "failed"}}, s.image_bytes_failed);
  w.labelled_counter("ximup_skipped_total", "Inputs not sent, by reason.", "reason", s.skipped_by_reason,
                     &string_key);

  w.labelled_counter("ximup_requests_total",
                     "Sends by HTTP status of the response; status=\"error\" when no HTTP response came "
                     "(connect, TLS, timeout, connection reset).",
                     "status", s.requests_by_status, &status_key);
  w.labelled_counter("ximup_retries_total", "Resends scheduled, by reason.", "reason", s.retries_by_reason,
                     &string_key);
  w.counter("ximup_request_bytes_total", "Request bytes written, every attempt.", s.request_bytes);
  w.counter("ximup_connections_opened_total", "Connections opened to the API.", s.connections_opened);
  w.counter("ximup_throttles_total", "Throttle signals (429, 503) seen by adaptive flow control.",
            s.throttles);

  w.gauge("ximup_requests_in_flight", "Sends waiting for their response.", s.requests_in_flight);
  w.gauge("ximup_concurrency_limit", "Adaptive limit of requests in flight.", s.concurrency_limit);
  w.gauge("ximup_pacing_requests_per_second", "Pacing rate of new requests; 0 when not paced.",
          s.pacing_rate);
  w.family(
      "ximup_queue_depth", "gauge",
      "Items waiting in a queue: plans (batches waiting for a worker), requests (waiting for a connection).");
  w.sample("ximup_queue_depth", {{"queue", "plans"}}, s.plans_queued);
  w.sample("ximup_queue_depth", {{"queue", "requests"}}, s.requests_queued);

  constexpr std::string_view duration = "ximup_request_duration_seconds";
  w.family(duration, "histogram",
           "Request latency: from the start of writing a request to its full response or error.");
  const std::string bucket = std::string(duration) + "_bucket";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_bucket_count; ++i) {
    cumulative += s.request_duration.buckets[i];
    const std::string le =
        i < latency_bucket_bounds.size() ? format_sample_value(latency_bucket_bounds[i]) : "+Inf";
    w.sample(bucket, {{"le", le}}, cumulative);
  }
  w.sample(std::string(duration) + "_sum", {}, s.request_duration.sum_seconds);
  // The +Inf bucket and _count must agree; the bucket total is authoritative.
  w.sample(std::string(duration) + "_count", {}, cumulative);
  return w.take();
}

}  // namespace ximup
