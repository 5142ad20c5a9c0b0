#pragma once
/// Prometheus metrics of a run: a plain snapshot of values and a pure renderer to the Prometheus
/// text exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
///
/// The snapshot holds copies (no atomics, no references into the pipeline): whoever owns the live
/// counters fills one per scrape and calls render_prometheus(). Families, all named `ximup_...`:
///
///   ximup_run_up                              gauge      1 while the run is in progress, 0 after it
///   ximup_run_healthy                         gauge      1 while healthy (what /healthz answers)
///   ximup_run_elapsed_seconds                 gauge      since the run started
///   ximup_shard_index, ximup_shard_count      gauge      only when the run is sharded
///   ximup_images_total{outcome}               counter    inputs with a final result: "ok", "failed"
///   ximup_image_bytes_total{outcome}          counter    their file bytes
///   ximup_skipped_total{reason}               counter    inputs not sent (no result line)
///   ximup_requests_total{status}              counter    sends by HTTP status: "200", "429", ...;
///                                                        "error" for a send that got no HTTP response
///                                                        (connect, TLS, timeout, reset: status 0)
///   ximup_retries_total{reason}               counter    resends by reason ("http_503", "timeout", ...)
///   ximup_request_bytes_total                 counter    request bytes written, every attempt
///   ximup_connections_opened_total            counter
///   ximup_throttles_total                     counter    429/503 answers seen by adaptive flow control
///   ximup_requests_in_flight                  gauge
///   ximup_concurrency_limit                   gauge      adaptive limit of requests in flight
///   ximup_pacing_requests_per_second          gauge      0 when not paced
///   ximup_queue_depth{queue}                  gauge      "plans" (waiting for a worker), "requests"
///                                                        (waiting for a connection)
///   ximup_request_duration_seconds            histogram  write start to full response, per send
///
/// Label values are escaped (backslash, double quote, newline) and bytes that are not valid UTF-8
/// become U+FFFD, as Prometheus requires UTF-8. Families with a label always appear (HELP and
/// TYPE), even with no sample yet; the fixed label sets (outcome, queue) always have every sample.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "ximup/latency_histogram.hpp"
#include "ximup/shard.hpp"

namespace ximup {

struct metrics_snapshot {
  bool running = true;  ///< ximup_run_up
  bool healthy = true;  ///< ximup_run_healthy
  double elapsed_seconds = 0;
  std::optional<shard_spec> shard;  ///< set when the run is sharded

  std::uint64_t images_ok = 0;
  std::uint64_t images_failed = 0;
  std::uint64_t image_bytes_ok = 0;
  std::uint64_t image_bytes_failed = 0;
  /// Suggested reasons: "filtered" (extension or --include/--exclude), "unchanged" (state: done),
  /// "failed_before" (state: failed permanently, unchanged), "not_selected" (--retry-failed).
  std::map<std::string, std::uint64_t> skipped_by_reason;

  /// Sends by HTTP status; key 0 (or below) is a send without an HTTP response, rendered "error".
  std::map<int, std::uint64_t> requests_by_status;
  std::map<std::string, std::uint64_t> retries_by_reason;
  std::uint64_t request_bytes = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t throttles = 0;

  std::uint64_t requests_in_flight = 0;
  std::uint64_t concurrency_limit = 0;
  double pacing_rate = 0;  ///< requests/s
  std::uint64_t plans_queued = 0;
  std::uint64_t requests_queued = 0;

  histogram_snapshot request_duration;
};

/// The text exposition (format 0.0.4) of `snapshot`, ending with a newline. Pure.
/// Serve it with Content-Type metrics_content_type.
[[nodiscard]] std::string render_prometheus(const metrics_snapshot& snapshot);

inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// A label value escaped for the text format (without the quotes); invalid UTF-8 becomes U+FFFD.
[[nodiscard]] std::string escape_label_value(std::string_view value);

/// A sample value: integers exactly, others in the shortest form that reads back the same;
/// "+Inf", "-Inf", "NaN".
[[nodiscard]] std::string format_sample_value(double value);

}  // namespace ximup
