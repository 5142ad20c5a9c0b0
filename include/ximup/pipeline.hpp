#pragma once
/// upload_pipeline: scanner -> batcher -> encoder workers -> sender pool -> results.
///
///   scanner thread    walks the roots, packs files into batch plans (batcher)  -> plans queue
///   N worker threads  take a plan, acquire its bytes from the budget, read and encode the files
///                     straight into a request body                             -> sender queue
///   io threads        send over keep-alive connections; on each response decide (retry_policy):
///                     results written, records retried, batches split, or the run stopped
///
/// Queues are bounded and block; the byte budget (--max-inflight) bounds file bytes, bodies and
/// responses in flight together. Every input ends with exactly one result line. run() blocks;
/// request_stop() may be called from any thread (signal handling).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ximup/batcher.hpp"
#include "ximup/input_source.hpp"
#include "ximup/resize.hpp"
#include "ximup/retry_policy.hpp"
#include "ximup/scanner.hpp"
#include "ximup/sender_pool.hpp"
#include "ximup/shard.hpp"
#include "ximup/state_store.hpp"

namespace ximup {

/// Limits that end a run gracefully: no new inputs are taken once one is reached; what was
/// taken finishes. 0 means no limit.
struct run_limits {
  std::uint64_t max_files = 0;
  std::uint64_t max_bytes = 0;
  std::chrono::milliseconds max_duration{0};
};

struct upload_options {
  input_options input;  ///< directories, a manifest or a files list
  run_limits limits_run;
  /// --shard I/N: only inputs whose `_id` (the path relative to its root) hashes into shard I.
  std::optional<shard_spec> shard;
  /// --min-age: files modified less than this before the run started (or dated after it) are left
  /// for a later run, as rclone's --min-age: a file still being written is not sent half-written.
  /// 0: off. Manifest urls have no age and are always taken.
  std::chrono::milliseconds min_age{0};
  /// --resize: shrink large images in the workers before encoding (off when target is 0).
  resize_options resize;
  /// Scan and plan only: count what would be sent and what the state would skip; nothing is sent,
  /// no results are written and the state is only read (no lock, no run recorded).
  bool dry_run = false;
  batch_limits limits;
  std::size_t workers = 2;
  std::size_t max_inflight = 256U << 20U;
  sender_options sender;
  retry_policy retry;
  std::string results_path = "results.jsonl";
  bool preflight = true;
  /// The state store (resume, incremental runs, run lock); nullopt runs without one (--no-state).
  std::optional<std::string> state_path;
  run_mode mode = run_mode::normal;  ///< --retry-failed, --force, --checksum
  std::string command_summary;       ///< recorded with the run (`ximup status`)
  std::string token_origin;          ///< where the token came from (load_token), named when it is refused
  std::chrono::milliseconds drain_timeout{30'000};  ///< after SIGINT/SIGTERM, wait this long for responses
};

/// Why a run ended early; maps to an exit code in the CLI.
enum class run_stop {
  none,
  auth,
  endpoint,  ///< 404/409 for a whole request: the endpoint URL, task or collection id is wrong
  unreachable,
  tls_untrusted,
  io_error,
  interrupted,
  locked,
  state_error,
  input_error
};

struct run_summary {
  std::uint64_t files_ok = 0;
  std::uint64_t files_failed = 0;            ///< all failures
  std::uint64_t files_failed_retryable = 0;  ///< failures a later run may fix (retries exhausted, cancelled)
  std::uint64_t bytes_ok = 0;
  std::uint64_t bytes_failed = 0;  ///< image bytes of the failed inputs
  std::uint64_t bytes_sent = 0;    ///< request bytes written, all attempts
  std::uint64_t requests = 0;      ///< sends
  std::uint64_t retries = 0;
  std::map<std::string, std::uint64_t> retries_by_reason;
  std::map<std::string, std::uint64_t> failures_by_reason;
  std::map<int, std::uint64_t> responses_by_status;
  std::uint64_t stale_resends = 0;
  std::uint64_t outcome_unknown = 0;  ///< sends whose response was lost (possible server duplicates)
  std::uint64_t connections_opened = 0;
  std::uint64_t scan_skipped = 0;         ///< files left out by extension or filter
  std::uint64_t links_not_followed = 0;   ///< symbolic links in the walk, not followed
  std::uint64_t not_regular = 0;          ///< FIFOs, sockets, devices in the walk
  std::uint64_t scan_errors = 0;          ///< unreadable directories, vanished files, bad manifest lines
  std::uint64_t shard_skipped = 0;        ///< inputs of other shards
  std::uint64_t images_resized = 0;       ///< --resize: images sent smaller
  std::uint64_t bytes_before_resize = 0;  ///< their file bytes
  std::uint64_t bytes_after_resize = 0;   ///< their bytes as sent
  std::uint64_t resize_unchanged_notes =
      0;  ///< sent as they were for a reason worth a note (undecodable, animated, ...)
  std::uint64_t skipped_unchanged = 0;  ///< the state says done and unchanged
  std::uint64_t skipped_failed = 0;     ///< failed permanently before and unchanged
  std::uint64_t skipped_other = 0;      ///< --retry-failed: new or ok inputs left alone
  std::uint64_t skipped_too_new = 0;    ///< --min-age: modified too recently, left for a later run
  std::uint64_t skipped_duplicate = 0;  ///< listed again in the same --files-from or manifest: sent once
  /// Inputs an earlier run left unfinished, sent again: pending ones (a crash or a second signal
  /// left their outcome unknown: the server may have them already) and retryable ones.
  std::uint64_t resumed_pending = 0;
  std::uint64_t resumed_retryable = 0;
  std::uint64_t unknown_at_stop = 0;  ///< images in requests abandoned at --drain-timeout
  std::string limit_reached;          ///< e.g. "--max-files 100": no new inputs were taken after it
  std::uint64_t planned_files = 0;    ///< inputs taken to send (in a dry run: would be sent)
  std::uint64_t planned_bytes = 0;
  std::uint64_t planned_requests = 0;  ///< batches planned
  bool dry_run = false;
  std::size_t peak_inflight_bytes = 0;
  flow_snapshot flow;  ///< concurrency limit and pacing at the end, throttle signals seen
  std::uint64_t budget_waits = 0;
  double elapsed_seconds = 0;
  run_stop stopped = run_stop::none;
  std::string stop_message;  ///< what happened and what to do, when stopped
  bool stop_logged = false;  ///< stop_message went to the log already (the run's own stop)
  int stop_signal = 0;
};

/// Counters of a run in progress, for progress lines and metrics. Cheap to take (a few locks).
struct live_stats {
  std::uint64_t files_done = 0;  ///< inputs with their final result line
  std::uint64_t files_failed = 0;
  std::uint64_t bytes_done = 0;          ///< image bytes of the inputs done ok
  std::uint64_t files_planned = 0;       ///< inputs taken to send so far
  bool scan_done = false;                ///< files_planned is final
  std::uint64_t requests_in_flight = 0;  ///< sends waiting for a response
  std::uint64_t requests_open = 0;       ///< requests not yet final (in flight, queued or waiting to retry)
  std::uint64_t retries = 0;
  std::size_t plans_queued = 0;       ///< batches waiting for a worker
  std::size_t concurrency_limit = 0;  ///< adaptive limit of requests in flight
  std::size_t requests_queued = 0;    ///< requests waiting for a connection
  flow_snapshot flow;
  std::uint64_t sends = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t connections_opened = 0;
  histogram_snapshot request_latency;  ///< from writing a request to its whole response
};

class upload_pipeline {
 public:
  explicit upload_pipeline(upload_options options);
  ~upload_pipeline();
  upload_pipeline(const upload_pipeline&) = delete;
  upload_pipeline& operator=(const upload_pipeline&) = delete;

  run_summary run();
  /// Stops taking new files; requests in flight finish. Async-signal-unsafe: call from a thread.
  void request_stop(int signal_number);
  /// Before the process exits at once (a second signal): writes the result lines buffered so far,
  /// so the file ends with a whole line. Waits at most about a second for a writer; any thread.
  void flush_results_for_exit() noexcept;
  /// Counters now; from any thread, also before run() and after it returned.
  [[nodiscard]] live_stats live() const;
  /// The run's counters as they stand (a summary of a run in progress); from any thread.
  [[nodiscard]] run_summary summary_so_far() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup
