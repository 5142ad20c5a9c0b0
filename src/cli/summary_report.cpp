#include "summary_report.hpp"

#include <cstdio>
#include <filesystem>

#include "ximup/units.hpp"

namespace ximup::cli {

void print_summary(const run_summary& s, const std::string& results_path, std::FILE* out) {
  const double secs = s.elapsed_seconds > 0 ? s.elapsed_seconds : 1e-9;
  const double mbps = static_cast<double>(s.bytes_ok) / 1e6 / secs;
  std::fprintf(out, "\n== ximup summary ==\n");
  if (s.stopped != run_stop::none) std::fprintf(out, "stopped:      %s\n", s.stop_message.c_str());
  if (!s.limit_reached.empty()) {
    std::fprintf(out, "limit:        %s reached: no new inputs were taken after it (run again to go on)\n",
                 s.limit_reached.c_str());
  }
  std::fprintf(out, "images:       %llu ok, %llu failed", static_cast<unsigned long long>(s.files_ok),
               static_cast<unsigned long long>(s.files_failed));
  if (s.files_failed_retryable > 0) {
    std::fprintf(out, " (%llu may succeed on a rerun)",
                 static_cast<unsigned long long>(s.files_failed_retryable));
  }
  std::fprintf(out, "\n");
  if (s.stopped == run_stop::io_error || s.stopped == run_stop::state_error) {
    // The counts are the server's answers; the stop means not all of them reached the results file
    // or the state.
    std::fprintf(
        out, "  (the server's answers, not all recorded: not all reached the results file or the state)\n");
  }
  for (const auto& [reason, n] : s.failures_by_reason) {
    std::fprintf(out, "  failed %-14s %llu\n", (reason + ":").c_str(), static_cast<unsigned long long>(n));
  }
  if (s.skipped_unchanged + s.skipped_failed + s.skipped_other > 0) {
    std::fprintf(
        out,
        "skipped:      %llu unchanged since they succeeded, %llu failed before and unchanged, %llu left "
        "alone by --retry-failed\n",
        static_cast<unsigned long long>(s.skipped_unchanged),
        static_cast<unsigned long long>(s.skipped_failed), static_cast<unsigned long long>(s.skipped_other));
  }
  if (s.skipped_duplicate > 0) {
    std::fprintf(out, "listed again: %llu inputs the list named more than once, sent once\n",
                 static_cast<unsigned long long>(s.skipped_duplicate));
  }
  if (s.skipped_too_new > 0) {
    std::fprintf(out, "too new:      %llu files modified within --min-age, left for a later run\n",
                 static_cast<unsigned long long>(s.skipped_too_new));
  }
  if (s.images_resized + s.resize_unchanged_notes > 0) {
    std::fprintf(
        out,
        "resized:      %llu images, %s -> %s (%llu more sent as they were, with a note in the results)\n",
        static_cast<unsigned long long>(s.images_resized), format_size(s.bytes_before_resize).c_str(),
        format_size(s.bytes_after_resize).c_str(), static_cast<unsigned long long>(s.resize_unchanged_notes));
  }
  if (s.scan_skipped + s.links_not_followed + s.not_regular > 0) {
    std::fprintf(out,
                 "left out:     %llu files by extension or --include/--exclude, %llu symbolic links not "
                 "followed (--follow-symlinks), %llu not regular files (FIFOs, sockets, devices)\n",
                 static_cast<unsigned long long>(s.scan_skipped),
                 static_cast<unsigned long long>(s.links_not_followed),
                 static_cast<unsigned long long>(s.not_regular));
  }
  if (s.shard_skipped > 0) {
    std::fprintf(out, "other shards: %llu inputs left to the other shards\n",
                 static_cast<unsigned long long>(s.shard_skipped));
  }
  if (s.scan_errors > 0) {
    std::fprintf(out,
                 "input errors: %llu (unreadable directories, vanished files, bad manifest lines: see the "
                 "results file)\n",
                 static_cast<unsigned long long>(s.scan_errors));
  }
  if (s.resumed_pending + s.resumed_retryable > 0) {
    std::fprintf(
        out,
        "resumed:      %llu inputs an earlier run left pending (outcome unknown: possible server-side "
        "duplicates), %llu it left retryable, sent again\n",
        static_cast<unsigned long long>(s.resumed_pending),
        static_cast<unsigned long long>(s.resumed_retryable));
  }
  if (s.unknown_at_stop > 0) {
    std::fprintf(out,
                 "interrupted:  %llu images were in flight at the drain timeout (outcome unknown: possible "
                 "server-side duplicates when resent)\n",
                 static_cast<unsigned long long>(s.unknown_at_stop));
  }
  std::fprintf(out, "bytes:        %s of images ok, %s sent\n", format_size(s.bytes_ok).c_str(),
               format_size(s.bytes_sent).c_str());
  std::fprintf(out, "throughput:   %.1f MB/s, %.1f images/s\n", mbps, static_cast<double>(s.files_ok) / secs);
  std::fprintf(out, "elapsed:      %.2f s\n", s.elapsed_seconds);
  std::fprintf(
      out, "requests:     %llu sent, %llu retries, %llu stale keep-alive resends, %llu outcome unknown\n",
      static_cast<unsigned long long>(s.requests), static_cast<unsigned long long>(s.retries),
      static_cast<unsigned long long>(s.stale_resends), static_cast<unsigned long long>(s.outcome_unknown));
  for (const auto& [reason, n] : s.retries_by_reason) {
    std::fprintf(out, "  retried %-13s %llu\n", (reason + ":").c_str(), static_cast<unsigned long long>(n));
  }
  std::fprintf(out, "flow:         %zu requests in flight allowed at the end, %llu throttle signals",
               s.flow.concurrency_limit, static_cast<unsigned long long>(s.flow.throttles));
  if (s.flow.rate > 0) std::fprintf(out, ", paced at %.1f requests/s", s.flow.rate);
  std::fprintf(out, "\n");
  std::fprintf(out, "memory:       peak %s in flight (budget waits: %llu)\n",
               format_size(s.peak_inflight_bytes).c_str(), static_cast<unsigned long long>(s.budget_waits));
  std::error_code ec;
  const bool written = results_path == "-" || std::filesystem::exists(results_path, ec);
  std::fprintf(out, "results:      %s%s\n", results_path.c_str(),
               written ? "" : " (not created: nothing was run)");
}

}  // namespace ximup::cli
