#pragma once
/// The end-of-run summary as one JSON object (`--summary-json FILE`), for scripts and dashboards.
///
/// Members mirror run_summary (pipeline.hpp), plus derived throughput and the version:
///   {"ximup_version":"0.1.0",
///    "files_ok":..,"files_failed":..,"files_failed_retryable":..,"scan_skipped":..,
///    "scan_errors":..,"shard_skipped":..,"images_resized":..,"bytes_before_resize":..,
///    "bytes_after_resize":..,"resize_unchanged_notes":..,
///    "skipped_unchanged":..,"skipped_failed":..,"skipped_other":..,"skipped_too_new":..,
///    "skipped_duplicate":..,
///    "resumed_pending":..,"resumed_retryable":..,"unknown_at_stop":..,
///    "dry_run":false,"planned_files":..,"planned_bytes":..,"planned_requests":..,"limit_reached":"",
///    "failures_by_reason":{"too_large":2,...},
///    "bytes_ok":..,"bytes_failed":..,"bytes_sent":..,"throughput_mb_per_s":12.345,"throughput_images_per_s":20.5,
///    "requests":..,"retries":..,"retries_by_reason":{"timeout":3,...},
///    "responses_by_status":{"200":40,"429":2},
///    "stale_resends":..,"outcome_unknown":..,"connections_opened":..,
///    "peak_inflight_bytes":..,"budget_waits":..,
///    "flow":{"concurrency_limit":8,"rate":0,"throttles":0},
///    "elapsed_seconds":12.345,
///    "stopped":"none","stop_message":"","stop_signal":0}
/// `stopped` is run_stop_name(): none, auth, unreachable, tls_untrusted, io_error, interrupted,
/// locked, state_error, input_error.
/// Throughput counts successful images (bytes_ok, files_ok) over elapsed_seconds; 0 when no time
/// passed. Strings are escaped with json_string (any bytes stay valid JSON). Numbers that are not
/// finite are written as 0. Pure apart from write_summary_json's file I/O; thread-safe.

#include <string>
#include <string_view>

#include "ximup/pipeline.hpp"

namespace ximup {

/// "none", "auth", "unreachable", "tls_untrusted", "io_error", "interrupted", "locked", "state_error".
[[nodiscard]] std::string_view run_stop_name(run_stop stop) noexcept;

/// One line of minified JSON, no trailing newline.
[[nodiscard]] std::string summary_to_json(const run_summary& summary);

/// Writes summary_to_json and a newline to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`. "-" writes to standard output. Returns "" on success,
/// or an error naming the file and the cause (the temporary file is removed). Blocks on the I/O.
[[nodiscard]] std::string write_summary_json(const std::string& path, const run_summary& summary);

}  // namespace ximup
