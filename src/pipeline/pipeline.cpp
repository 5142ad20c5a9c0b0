#include "ximup/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "ximup/bounded_queue.hpp"
#include "ximup/byte_budget.hpp"
#include "ximup/duplicate_filter.hpp"
#include "ximup/file_reader.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/request_body.hpp"
#include "ximup/response.hpp"
#include "ximup/result_line.hpp"
#include "ximup/results_writer.hpp"
#include "ximup/secret_scrub.hpp"

namespace ximup {
namespace {

// Failure messages logged one by one before the log only counts them.
constexpr std::uint64_t logged_failures_limit = 20;

std::string hint_for(failure_kind kind) {
  switch (kind) {
    case failure_kind::network:
    case failure_kind::timeout:
    case failure_kind::tls:
    case failure_kind::http_retryable:
    case failure_kind::bad_response:
      return " (retries exhausted; run again to resend)";
    case failure_kind::cancelled:
      return " (run again to send it)";
    case failure_kind::too_large:
      return " (this image alone is more than the server takes: --resize, or a smaller --resize, shrinks "
             "images before sending)";
    default:
      return "";
  }
}

}  // namespace

struct upload_pipeline::impl {
  explicit impl(upload_options o)
      : opt(std::move(o)),
        body(opt.sender.target.fields_json),
        budget(opt.max_inflight),
        plans(std::max<std::size_t>(2, opt.workers * 2)),
        rng(std::random_device{}()) {
    opt.limits.envelope_bytes = body.envelope_size();
  }

  // --- results --------------------------------------------------------------------------------

  void record_final(const record_slot& r, outcome result, int http_status, std::optional<int> status_code,
                    std::string_view status_text, std::string_view error, std::string_view fields,
                    failure_kind kind) {
    result_record line;
    line.path = r.path;
    line.id = r.id;
    line.result = result;
    line.http_status = http_status;
    line.status_code = status_code;
    line.status_text = status_text;
    line.attempts = r.attempts;
    line.bytes = r.bytes;
    line.error = error;
    line.fields_json = fields;
    line.local_fields = r.local_fields;
    if (!writer.write(format_result_line(line))) stop(run_stop::io_error, writer.error());
    // Retryable: the server never judged the image (auth, endpoint: the token or the URL was refused;
    // a 4xx for the request as a whole, which per-image rejections are not: they come as records'
    // _status inside a 200, so a whole 400 is about the request: its size, its fields).
    const bool refused_request = kind == failure_kind::http_permanent && !status_code && http_status >= 400;
    const bool retryable_kind =
        kind == failure_kind::network || kind == failure_kind::timeout || kind == failure_kind::tls ||
        kind == failure_kind::http_retryable || kind == failure_kind::bad_response ||
        kind == failure_kind::cancelled || kind == failure_kind::auth || kind == failure_kind::endpoint ||
        kind == failure_kind::untrusted || kind == failure_kind::file_changed || refused_request;
    if (r.in_state) {
      const input_status st = result == outcome::ok ? input_status::ok
                              : retryable_kind      ? input_status::retryable
                                                    : input_status::failed;
      record_state(r.state_key, st, error, r.attempts);
    }
    std::lock_guard lock(stats_mutex);
    if (result == outcome::ok) {
      ++summary.files_ok;
      summary.bytes_ok += r.bytes;
    } else {
      ++summary.files_failed;
      summary.bytes_failed += r.bytes;
      // (A refused request is sent again by the next run, but the same request is refused again: no
      // rerun alone fixes it, so it counts with the permanent failures, exit 1, not 5.)
      if (retryable_kind && !refused_request) ++summary.files_failed_retryable;
      const std::string reason = kind == failure_kind::none ? "local" : std::string(to_string(kind));
      ++summary.failures_by_reason[reason];
      // A failure of the whole run (the token, the endpoint, the certificate) is said once, by the
      // error that stops the run, and what a stopped run did not send by its summary; a line per
      // image in flight or queued repeated it up to twenty times.
      const bool run_wide = kind == failure_kind::auth || kind == failure_kind::endpoint ||
                            kind == failure_kind::untrusted || kind == failure_kind::cancelled;
      if (!run_wide && ++failure_lines <= logged_failures_limit) {
        spdlog::warn("failed: {}: {}", json_string(r.path), error);
      } else if (!run_wide && failure_lines == logged_failures_limit + 1) {
        spdlog::warn("more failures are not logged one by one; see the results file");
      }
    }
  }

  void local_failure(std::string path, std::string id, std::uint64_t bytes, std::string_view error,
                     failure_kind kind = failure_kind::none) {
    record_slot r;
    r.path = std::move(path);
    r.id = std::move(id);
    r.bytes = bytes;
    record_final(r, outcome::failed, 0, std::nullopt, {}, error, {}, kind);
  }

  // An input the run stopped before sending: failed for this run, counted with the "cancelled"
  // ones that may succeed on a rerun (not as a permanent local failure), and not counted as sent.
  // In the state it becomes retryable like the requests the stop cut short (marked first, with its
  // facts, if it was new), so that `ximup failures` lists it and --retry-failed resends it.
  void not_sent(scan_entry& e) {
    retry_later(e, "not sent: the run was stopped (run again to send it)", failure_kind::cancelled);
  }

  // An input that was not sent for a reason a rerun may not meet (a stop, a file still being
  // written): failed for this run; retryable in the state (marked first, with its facts, if it was
  // new), so that any later run, `ximup failures` and --retry-failed see it.
  void retry_later(scan_entry& e, std::string_view reason, failure_kind kind) {
    if (state && !e.state_key.empty()) {
      enqueue_state({e.state_key, input_status::pending, {}, 0, {e.size, e.mtime_ns, e.content_hash}});
      enqueue_state({e.state_key, input_status::retryable, std::string(reason), 0, {}});
    }
    local_failure(std::move(e.path), std::move(e.id), e.size, reason, kind);
  }

  // A file that could not be read: failed, or retryable when it changed while being read.
  void read_failure(scan_entry& e, const read_status& status) {
    if (status.changed) {
      retry_later(e, status.error, failure_kind::file_changed);
    } else {
      local_failure(std::move(e.path), std::move(e.id), e.size, status.error);
    }
  }

  // What the scan saw of `e`, which the reader holds the opened file to (file_reader.hpp): the facts
  // the state records for a file read are then the scan's.
  static scanned_file as_scanned(const scan_entry& e) { return {e.size, e.mtime_ns, e.no_follow}; }

  // --- state store ----------------------------------------------------------------------------
  // Pending marks and results reach the state store through one thread of its own (SQLite commits
  // block on disk; workers and io threads must not). It gathers what arrives within
  // state_commit_window and writes it in two transactions (marks, then results), so a run of small
  // files makes a few commits a second instead of two per request. One queue keeps each input's
  // mark before its result.

  struct state_update {
    std::string path;
    input_status status;  // pending: a mark before sending, with the file's facts
    std::string reason;
    std::uint32_t attempts = 0;
    file_facts facts;
    bool refresh = false;  // only new facts of a skipped input (checksum mode), status untouched
  };

  void enqueue_state(state_update u) {
    {
      std::lock_guard lock(state_mutex);
      state_queue.push_back(std::move(u));
    }
    state_ready.notify_one();
  }

  void record_state(const std::string& path, input_status status, std::string_view reason, int attempts) {
    enqueue_state({path, status, std::string(reason), static_cast<std::uint32_t>(std::max(attempts, 0)), {}});
  }

  static constexpr auto state_commit_window = std::chrono::milliseconds(50);
  static constexpr std::size_t state_commit_batch = 1000;

  void state_stage() {
    std::vector<state_update> batch;
    bool state_failed = false;
    std::vector<pending_input> marks;
    std::vector<pending_input> refreshes;
    std::vector<input_result> results;
    for (;;) {
      {
        std::unique_lock lock(state_mutex);
        state_ready.wait(lock, [&] { return !state_queue.empty() || state_done; });
        if (state_queue.empty()) return;
        // A crash loses at most this window's updates: inputs left unmarked are new or changed and
        // sent again anyway; inputs left pending are sent again as unfinished.
        state_ready.wait_for(lock, state_commit_window,
                             [&] { return state_done || state_queue.size() >= state_commit_batch; });
        batch.assign(std::make_move_iterator(state_queue.begin()),
                     std::make_move_iterator(state_queue.end()));
        state_queue.clear();
      }
      marks.clear();
      refreshes.clear();
      results.clear();
      for (const auto& u : batch) {
        if (u.refresh) {
          refreshes.push_back({u.path, u.facts.size, u.facts.mtime_ns, u.facts.content_hash});
        } else if (u.status == input_status::pending) {
          marks.push_back({u.path, u.facts.size, u.facts.mtime_ns, u.facts.content_hash});
        } else {
          results.push_back({u.path, u.status, u.reason, u.attempts});
        }
      }
      // After a failed write nothing more is committed (the run stops; what the state did not
      // record is sent again by the next run). Results of inputs whose marks were lost could not be
      // recorded anyway: record_results refuses a batch with an unmarked input.
      if (state_failed) continue;
      if (!marks.empty()) {
        if (auto st = state->mark_pending(marks); !st.ok()) {
          state_failed = true;
          stop(run_stop::state_error, st.message);
          continue;
        }
      }
      if (!refreshes.empty()) {
        if (auto st = state->refresh_facts(refreshes); !st.ok()) {
          state_failed = true;
          stop(run_stop::state_error, st.message);
          continue;
        }
      }
      if (results.empty()) continue;
      // Their result lines first: an input the state calls done must have its line on disk. When the
      // results file cannot be written, nothing more is committed (those inputs stay pending and
      // are sent again by the next run).
      if (!writer.sync()) {
        state_failed = true;
        stop(run_stop::io_error, writer.error());
        continue;
      }
      if (auto st = state->record_results(results); !st.ok()) {
        state_failed = true;
        stop(run_stop::state_error, st.message);
      }
    }
  }

  // (Opened as file_reader opens inputs: without waiting for a writer should the path be a FIFO by now.)
  static std::optional<std::array<std::uint8_t, 32>> sha256_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return std::nullopt;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return std::nullopt;
    }
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    std::vector<char> buf(1U << 16U);
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // (an error reads as the end: the hash then differs, and the file is sent)
      EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
    }
    ::close(fd);
    std::array<std::uint8_t, 32> out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, out.data(), &len);
    EVP_MD_CTX_free(ctx);
    return out;
  }

  // What makes two list entries one input. A files list: the file, however its path is spelled. A
  // manifest: the same file or url with the same `_id` and fields (one image may stand for two
  // products of a similarity collection, each with its own `_id`: both are sent).
  [[nodiscard]] std::string listing_key(const scan_entry& e) const {
    std::string key = state_key(e);
    if (opt.input.kind == input_kind::manifest) {
      key.push_back('\0');
      key += e.id;
      key.push_back('\0');
      key += e.extra_fields;
    }
    return key;
  }

  // An input a list names again: sent once, said so.
  void listed_again(const scan_entry& e) {
    std::lock_guard lock(stats_mutex);
    if (++summary.skipped_duplicate <= logged_failures_limit) {
      spdlog::warn("{} is listed again (as {}): sent once", json_string(e.path), json_string(state_key(e)));
    } else if (summary.skipped_duplicate == logged_failures_limit + 1) {
      spdlog::warn("more inputs listed again are not logged one by one; the summary counts them");
    }
  }

  // A run that picks up what an earlier one left says so once, and counts it for the summary.
  void count_resumed(input_status previous) {
    std::lock_guard lock(stats_mutex);
    if (summary.resumed_pending + summary.resumed_retryable == 0 && !opt.dry_run) {
      spdlog::info(
          "resuming: inputs an earlier run left unfinished are sent again (those it left pending, after a "
          "crash or a second signal, may reach the server twice)");
    }
    if (previous == input_status::pending) {
      ++summary.resumed_pending;
    } else {
      ++summary.resumed_retryable;
    }
  }

  // The key of an input in the state store: a url as it is; a path made absolute against the working
  // directory at start and lexically normal, so that ./tree, tree/ and /abs/tree (or a run from
  // another directory) are the same inputs. Symlinks are not resolved: a path is what was asked for.
  [[nodiscard]] std::string state_key(const scan_entry& e) const {
    if (!e.url.empty() || cwd.empty()) return e.path;
    const std::filesystem::path p(e.path);
    return (p.is_absolute() ? p : cwd / p).lexically_normal().string();
  }

  // Decides from the state whether a scanned file is sent; fills its content hash in --checksum mode,
  // and `resumed` with its last status when an earlier run left it unfinished.
  bool should_send(scan_entry& e, std::optional<input_status>& resumed) {
    if (!index) return true;
    file_facts facts{e.size, e.mtime_ns, std::nullopt};
    e.state_key = state_key(e);  // kept for mark_pending and the result, computed once
    auto previous = index->find(e.state_key);
    const std::string* found_key = &e.state_key;
    // States written before keys were absolute hold the path as typed: still honoured, so an
    // upgrade does not send a whole tree again (the input is recorded under its new key when sent).
    if (!previous && e.state_key != e.path) {
      previous = index->find(e.path);
      found_key = &e.path;
    }
    plan p = plan_input(previous, facts, opt.mode);
    if (p == plan::need_checksum) {
      facts.content_hash = sha256_file(e.path);
      p = plan_input(previous, facts, opt.mode);
    }
    if (!sends(p)) {
      // Checksum mode skipped it as unchanged: when it was recorded without a hash, or its content
      // is the same under a new mtime, record the current facts, so that the next checksum run
      // compares contents and the next normal run does not take the new mtime for a change.
      if (opt.mode == run_mode::checksum && !opt.dry_run && previous &&
          (p == plan::skip_unchanged || p == plan::skip_failed) &&
          (!previous->content_hash || previous->mtime_ns != facts.mtime_ns)) {
        if (!facts.content_hash) facts.content_hash = sha256_file(e.path);
        if (facts.content_hash) {
          enqueue_state({*found_key, previous->status, {}, 0, facts, /*refresh=*/true});
        }
      }
      std::lock_guard lock(stats_mutex);
      if (p == plan::skip_unchanged)
        ++summary.skipped_unchanged;
      else if (p == plan::skip_failed)
        ++summary.skipped_failed;
      else
        ++summary.skipped_other;
      return false;
    }
    if (p == plan::send_unfinished && previous) resumed = previous->status;
    if (opt.mode == run_mode::checksum && !facts.content_hash) facts.content_hash = sha256_file(e.path);
    e.content_hash = facts.content_hash;
    return true;
  }

  // --- requests in flight ---------------------------------------------------------------------
  // Every request between submission and its final result is in the registry; the run is done
  // when it is empty and no completion handler is busy. At --drain-timeout whatever is left is
  // recorded as interrupted.

  void track(const std::shared_ptr<upload_request>& r) {
    std::lock_guard lock(registry_mutex);
    registry[r->sequence] = r;
  }

  // Claims a completed request for its handler; false when the drain already recorded it.
  bool claim(const upload_request& r) {
    std::lock_guard lock(registry_mutex);
    if (registry.erase(r.sequence) == 0) return false;
    ++busy_handlers;
    return true;
  }

  void handler_done() {
    {
      std::lock_guard lock(registry_mutex);
      --busy_handlers;
    }
    registry_changed.notify_all();
  }

  // --- stopping -------------------------------------------------------------------------------

  void stop(run_stop why, std::string message) {
    {
      std::lock_guard lock(stats_mutex);
      if (summary.stopped != run_stop::none) return;
      summary.stopped = why;
      summary.stop_message = std::move(message);
      summary.stop_logged = why != run_stop::interrupted;  // (logged below)
    }
    stop_deadline.store(std::chrono::steady_clock::now() + opt.drain_timeout);
    stopping.store(true);
    registry_changed.notify_all();
    if (why != run_stop::interrupted) spdlog::error("{}", summary.stop_message);
    {
      // The signal thread may get here while run() is creating the pool, which it assigns under
      // this lock (ThreadSanitizer found the race: a SIGTERM during the connection check).
      std::lock_guard lock(registry_mutex);
      if (pool) pool->cancel();
    }
    budget.cancel();
    // Plans not yet encoded end as failures that a later run resends.
    for (auto& plan : plans.close_and_take()) {
      for (auto& e : plan.entries) not_sent(e);
    }
  }

  // --- stages ---------------------------------------------------------------------------------

  // Queues a plan; if the run stopped meanwhile its files are recorded as not sent.
  void enqueue(batch_plan& plan) {
    if (plans.push(plan)) return;
    for (auto& e : plan.entries) not_sent(e);
  }

  // The limit (--max-files, --max-bytes, --max-duration) that taking `e` would pass, or "".
  std::string limit_before(const scan_entry& e) {
    const auto& l = opt.limits_run;
    if (l.max_files > 0 && summary.planned_files >= l.max_files)
      return "--max-files " + std::to_string(l.max_files);
    // (A run takes at least one input: one larger than --max-bytes stopped every run before it,
    // and, from a list, everything after it.)
    if (l.max_bytes > 0 && summary.planned_files > 0 && summary.planned_bytes + e.size > l.max_bytes) {
      return "--max-bytes " + std::to_string(l.max_bytes);
    }
    if (l.max_duration.count() > 0 && std::chrono::steady_clock::now() - started >= l.max_duration) {
      return "--max-duration " + std::to_string(l.max_duration.count()) + "ms";
    }
    return {};
  }

  // A batch is ready: queued for the workers, or in a dry run only counted.
  void planned(batch_plan& plan) {
    {
      std::lock_guard lock(stats_mutex);
      ++summary.planned_requests;
    }
    if (!opt.dry_run) enqueue(plan);
  }

  void scan_stage() {
    batcher batch(opt.limits);
    input_options input = opt.input;
    input.cancel = &stopping;
    // A list or manifest on a pipe fed slowly (a watcher, a queue): after 200 ms of silence the
    // inputs read so far go as a batch instead of waiting for the tenth (or for the end).
    input.on_idle = [this, &batch] {
      if (auto plan = batch.flush()) planned(*plan);
    };
    input_source source(std::move(input));
    if (!source.error().empty()) stop(run_stop::input_error, source.error());
    std::uint64_t items_seen = 0;
    // --min-age: files modified after this instant are left for a later run.
    const std::int64_t newest_mtime_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(
            (std::chrono::system_clock::now() - opt.min_age).time_since_epoch())
            .count();
    while (!stopping.load()) {
      auto item = source.next();
      if (!item) break;
      ++items_seen;
      if (item->error) {
        if (opt.dry_run) {
          would_fail(item->error->path, item->error->message);
        } else {
          // (Its _id is its path as shown: a consumer that joins results on _id finds it.)
          local_failure(item->error->path, item->error->path, 0, item->error->message);
        }
        {
          std::lock_guard lock(stats_mutex);
          ++summary.scan_errors;
          ++failed_before_planning;
        }
        // A list nothing more can be read from (its CSV header names no path or url column, a read
        // error) stops the run as an input that cannot be read (exit 4), not as one failed image.
        if (item->error->fatal) {
          stop(run_stop::input_error, json_string(item->error->path) + ": " + item->error->message);
        }
        continue;
      }
      auto& e = *item->entry;
      if (opt.shard && !in_shard(e.id, *opt.shard)) {
        std::lock_guard lock(stats_mutex);
        ++summary.shard_skipped;
        continue;
      }
      if (opt.min_age.count() > 0 && e.url.empty() && e.mtime_ns > newest_mtime_ns) {
        std::lock_guard lock(stats_mutex);
        ++summary.skipped_too_new;
        continue;
      }
      if (opt.input.kind != input_kind::directories && !listed.first_time(listing_key(e))) {
        listed_again(e);
        continue;
      }
      std::optional<input_status> resumed;  // left unfinished by an earlier run
      if (!should_send(e, resumed)) continue;
      if (opt.input.kind == input_kind::directories && opt.input.roots.size() > 1) warn_if_id_repeats(e);
      // Too large for a body as it is: with --resize, a local file that fits the memory budget is
      // planned alone, since shrinking it is what --resize is for (a scan, a 100 MP photo).
      const bool oversize = !batch.fits_alone(e);
      if (oversize && (opt.resize.target == 0 || !e.url.empty() || e.size > oversize_read_limit())) {
        std::string why = "file too large: " + std::to_string(e.size) +
                          " bytes does not fit a request body of --max-body-bytes " +
                          std::to_string(opt.limits.max_body_bytes) + " (base64 adds a third)";
        if (opt.resize.target != 0 && e.url.empty()) {
          why += ", nor --max-inflight's room to resize it (" + std::to_string(oversize_read_limit()) +
                 " bytes)";
        }
        if (opt.dry_run) {
          would_fail(e.path, why);
          continue;
        }
        local_failure(e.path, e.id, e.size, why);
        std::lock_guard lock(stats_mutex);
        ++failed_before_planning;
        continue;
      }
      if (auto limit = limit_before(e); !limit.empty()) {
        spdlog::info(
            "{} reached: no new inputs are taken; what was taken finishes (a rerun goes on from here)",
            limit);
        std::lock_guard lock(stats_mutex);
        summary.limit_reached = std::move(limit);
        break;
      }
      if (resumed) count_resumed(*resumed);  // (taken: past the limits and the size checks)
      {
        std::lock_guard lock(stats_mutex);
        ++summary.planned_files;
        summary.planned_bytes += e.size;
      }
      if (oversize) {
        batch_plan alone;
        alone.body_bytes = opt.limits.max_body_bytes;
        alone.largest_file = e.size;
        alone.oversize = true;
        alone.entries.push_back(std::move(e));
        planned(alone);
        continue;
      }
      batch.cap_body_bytes(learned_body_cap.load(std::memory_order_relaxed));
      if (auto plan = batch.add(std::move(e))) planned(*plan);
    }
    if (auto plan = batch.flush()) planned(*plan);
    {
      std::lock_guard lock(stats_mutex);
      summary.scan_skipped = source.skipped();
      summary.links_not_followed = source.walk_counters().links_not_followed;
      summary.not_regular = source.walk_counters().not_regular;
      // A stop cut the scan short: what was found is not the total (progress showed "210/210 files
      // (100.0%)" for a run stopped with most of its inputs never looked at). A limit is a total.
      scan_done = !stopping.load();
      if (listed.full()) {
        spdlog::info(
            "the list was too long to check it all for inputs listed twice (after about 1.5 million)");
      }
      if (summary.skipped_too_new > 0 && !opt.dry_run) {
        spdlog::info(
            "{} files modified less than --min-age {}s before the run (or dated after it) are left for a "
            "later run",
            summary.skipped_too_new, static_cast<double>(opt.min_age.count()) / 1000.0);
      }
    }
    // A wrong path or filter would otherwise end in a silent "0 ok, 0 failed".
    if (items_seen == 0 && !stopping.load() && source.error().empty()) {
      if (opt.input.kind == input_kind::directories) {
        spdlog::warn(
            "found no inputs ({} files left out by --ext/--include/--exclude, {} symlinks not followed, "
            "{} not regular files): check the paths and the filters",
            summary.scan_skipped, summary.links_not_followed, summary.not_regular);
      } else {  // (the filters apply to directory walks only)
        spdlog::warn("found no inputs: {} lists none",
                     opt.input.list_path == "-" ? "stdin" : opt.input.list_path);
      }
    }
    plans.close();
  }

  // A dry run writes no results: what a real run would record as failed before sending is named in
  // the log instead (the first 20), so that the plan's error count can be acted on.
  void would_fail(const std::string& path, std::string_view why) {
    if (++dry_run_failures <= 20) {
      spdlog::warn("would fail: {}: {}{}", json_string(path), why,
                   dry_run_failures == 20 ? " (further ones are not shown)" : "");
    }
  }

  // With several roots the default _id (the path relative to its root) can repeat: photos/x.jpg and
  // scans/x.jpg both go up as "x.jpg", and an API that keys records by _id (similarity-insert) may
  // keep only one. Each such input is named (the first 10), without keeping every id in memory: the
  // same relative path is looked up under the other roots.
  void warn_if_id_repeats(const scan_entry& e) {
    if (repeated_id_warnings >= 10) return;
    if (root_is_directory.empty()) {  // once per run, not per file
      for (const std::string& root : opt.input.roots) {
        struct stat st {};
        root_is_directory.push_back(::stat(root.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
      }
    }
    for (std::size_t i = 0; i < opt.input.roots.size(); ++i) {
      const std::string& root = opt.input.roots[i];
      std::string other = root;
      if (root_is_directory[i]) {
        if (!other.empty() && other.back() != '/') other += '/';
        other += e.id;
      } else if (std::filesystem::path(root).filename().string() != e.id) {
        continue;  // a file root's _id is its base name
      }
      struct stat st {};
      if (other == e.path || ::stat(other.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      spdlog::warn(
          "_id {} of {} is also the _id of {} under another root: an API that keys records by _id "
          "may keep only one (give each root its own run, or a manifest with your own _id){}",
          json_string(e.id), json_string(e.path), json_string(other),
          ++repeated_id_warnings == 10 ? "; further repeated _ids are not shown" : "");
      return;
    }
  }

  // The largest file read whole to be resized when it cannot be sent as it is: what the memory budget
  // holds beside the body it may become.
  [[nodiscard]] std::uint64_t oversize_read_limit() const {
    return budget.capacity() > opt.limits.max_body_bytes ? budget.capacity() - opt.limits.max_body_bytes : 0;
  }

  // Shrinks `file` when --resize asks for it; returns the bytes to send (`file` or `resized`) and
  // notes what happened in the slot's results fields.
  std::span<const unsigned char> maybe_resize(const std::vector<unsigned char>& file,
                                              std::vector<unsigned char>& resized, record_slot& slot) {
    if (opt.resize.target == 0) return file;
    const resize_report rep = shrink_image(file, opt.resize, resized);
    slot.local_fields = resize_fields(rep);
    std::lock_guard lock(stats_mutex);
    if (rep.resized()) {
      ++summary.images_resized;
      summary.bytes_before_resize += rep.original_bytes;
      summary.bytes_after_resize += rep.sent_bytes;
      return resized;
    }
    if (!rep.note.empty()) ++summary.resize_unchanged_notes;
    return file;
  }

  // `"resize":{...}` for the results line: what was done, original and sent sizes and dimensions.
  static std::string resize_fields(const resize_report& r) {
    std::string out = "\"resize\":{\"action\":";
    append_json_string(out, to_string(r.action));
    out += ",\"original_bytes\":" + std::to_string(r.original_bytes);
    if (r.original.width > 0) {
      out += ",\"original_width\":" + std::to_string(r.original.width) +
             ",\"original_height\":" + std::to_string(r.original.height);
    }
    if (!r.original_format.empty()) {
      out += ",\"original_format\":";
      append_json_string(out, r.original_format);
    }
    out += ",\"sent_bytes\":" + std::to_string(r.sent_bytes);
    if (r.sent.width > 0) {
      out += ",\"sent_width\":" + std::to_string(r.sent.width) +
             ",\"sent_height\":" + std::to_string(r.sent.height);
    }
    if (!r.sent_format.empty()) {
      out += ",\"sent_format\":";
      append_json_string(out, r.sent_format);
    }
    if (!r.note.empty()) {
      out += ",\"note\":";
      append_json_string(out, r.note);
    }
    out += '}';
    return out;
  }

  // Files that are sent as they are go through the worker in pieces of this size, each encoded right
  // after it is read, so that a worker's file bytes in the budget are one piece, not its largest file
  // (client CPU measured the same as reading whole files); a multiple of 3 (whole base64 groups).
  static constexpr std::size_t piece_bytes = std::size_t{3} << 16U;

  // Reads `path` piece by piece into a record of `out`; on failure the record is taken back out.
  read_status append_file_record(body_writer& out, const scan_entry& e, record_slot& slot,
                                 std::vector<unsigned char>& piece) {
    if (piece.empty()) piece.resize(piece_bytes);
    const std::size_t before = out.size();
    body.open_data_record(out, slot, e.extra_fields);
    std::uint64_t bytes = 0;
    auto status = stream_file(
        e.path, piece, opt.limits.max_body_bytes,
        [&](std::span<const unsigned char> p) {
          request_body::append_data(out, p);
          bytes += p.size();
        },
        as_scanned(e));
    if (status.ok) {
      request_body::close_data_record(out, slot, bytes);
    } else {
      out.rewind(before);
    }
    return status;
  }

  void worker_stage() {
    std::vector<unsigned char> file_bytes;  // whole files, for --resize
    std::vector<unsigned char> piece;       // pieces of files sent as they are
    std::vector<unsigned char> resized;
    const bool whole_files = opt.resize.target != 0;
    while (auto plan = plans.pop()) {
      const std::uint64_t reader_bytes =
          whole_files ? plan->largest_file : std::min<std::uint64_t>(plan->largest_file, piece_bytes);
      auto lease = budget.acquire(plan->body_bytes + reader_bytes);
      if (!lease.valid()) {
        for (auto& e : plan->entries) not_sent(e);
        continue;
      }
      auto request = std::make_shared<upload_request>();
      std::vector<file_facts> facts;
      // With --resize the plan's body size is the worst case (every file sent as it is), which the
      // lease above keeps; the body itself starts from what the pool has and grows as records come,
      // since a resized photo is a few per cent of it: sized to the worst case, it was zero-filled
      // (tens of MB per request of 12 MP photos) before being written.
      const std::size_t body_size = whole_files ? 0 : plan->body_bytes;
      request->body = bodies->take(body_size);
      request->body_pool = bodies;
      body_writer out(request->body, body_size);
      body.begin(out);
      for (auto& e : plan->entries) {
        record_slot slot;
        file_facts sent_facts{e.size, e.mtime_ns, e.content_hash};
        if (!e.url.empty()) {
          slot.path = std::move(e.path);
          slot.id = std::move(e.id);
          body.append_url_record(out, e.url, slot, e.extra_fields);
        } else if (!whole_files) {
          slot.id = std::move(e.id);
          const auto status = append_file_record(out, e, slot, piece);
          if (!status.ok) {
            e.id = std::move(slot.id);
            read_failure(e, status);
            continue;
          }
          slot.path = std::move(e.path);
        } else {
          const auto status =
              read_file(e.path, file_bytes,
                        plan->oversize ? oversize_read_limit() : opt.limits.max_body_bytes, as_scanned(e));
          if (!status.ok) {
            read_failure(e, status);
            continue;
          }
          const auto bytes = maybe_resize(file_bytes, resized, slot);
          if (plan->oversize &&
              opt.limits.envelope_bytes + request_body::record_size(e.id, bytes.size(), {}, e.extra_fields) >
                  opt.limits.max_body_bytes) {
            local_failure(std::move(e.path), std::move(e.id), e.size,
                          "file too large: " + std::to_string(file_bytes.size()) +
                              " bytes does not fit a request body of --max-body-bytes " +
                              std::to_string(opt.limits.max_body_bytes) + " (base64 adds a third), and " +
                              (bytes.data() == file_bytes.data()
                                   ? std::string("--resize left it as it is")
                                   : "--resize made it " + std::to_string(bytes.size()) + " bytes") +
                              ": raise --max-body-bytes, or use a smaller --resize");
            continue;
          }
          slot.path = std::move(e.path);
          slot.id = std::move(e.id);
          body.append_record(out, bytes, slot, e.extra_fields);
        }
        slot.state_key = std::move(e.state_key);  // set by should_send when there is a state
        request->records.push_back(std::move(slot));
        facts.push_back(sent_facts);
      }
      body.finish(out);
      if (file_bytes.capacity() > (8U << 20U)) std::vector<unsigned char>().swap(file_bytes);
      if (request->records.empty()) continue;
      // The file bytes are free again; the body stays held until its results are written.
      lease.shrink_to(request->body.size());
      request->lease = std::make_shared<budget_lease>(std::move(lease));
      request->sequence = next_sequence.fetch_add(1);
      if (state) mark_pending(*request, facts);
      track(request);
      pool->submit(std::move(request));
    }
  }

  // Marks the request's inputs pending in the state as they are sent (crash safety: an input whose
  // outcome is unknown is resent by the next run); the state thread commits the marks.
  void mark_pending(upload_request& request, const std::vector<file_facts>& facts) {
    for (std::size_t i = 0; i < request.records.size(); ++i) {
      enqueue_state({request.records[i].state_key, input_status::pending, {}, 0, facts[i]});
      request.records[i].in_state = true;
    }
  }

  // --- responses (io threads) -----------------------------------------------------------------

  double random_unit() {
    std::lock_guard lock(rng_mutex);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }

  // Requests refused as a whole (a 4xx not about the endpoint or the token) one after another, with
  // no answer accepted in between; at refusals_that_stop the run stops (a configuration error).
  static constexpr int refusals_that_stop = 3;
  std::atomic<int> refused_in_a_row{0};

  // Half the smallest body of several records the server refused as too large (413): batches
  // planned after it stay within this, so that a server whose limit is under --max-body-bytes is
  // not sent every batch twice (a lingering server reads the whole refused body first).
  std::atomic<std::size_t> learned_body_cap{SIZE_MAX};

  void learn_body_cap(std::size_t refused_body) {
    const std::size_t cap = refused_body / 2;
    std::size_t now = learned_body_cap.load();
    while (cap < now && !learned_body_cap.compare_exchange_weak(now, cap)) {
    }
    if (cap < now) {
      spdlog::warn(
          "the server refused a body of {} bytes as too large (413): requests of several images now stay "
          "within {} bytes; --max-body-bytes {} starts there",
          refused_body, cap, cap);
    }
  }

  static int max_attempts(const upload_request& r) {
    int a = 0;
    for (const auto& s : r.records) a = std::max(a, s.attempts);
    return a;
  }

  // `reason` keys the summary's retry counts: "http_503", "record_500", "network", "timeout", ...
  void retry_later(std::shared_ptr<upload_request> request, const std::string& reason,
                   const std::optional<std::string>& retry_after, std::string_view detail) {
    const int attempt = max_attempts(*request);
    std::optional<std::chrono::milliseconds> after;
    if (retry_after) after = parse_retry_after(*retry_after, std::chrono::system_clock::now());
    const auto delay = backoff_delay(attempt, opt.retry, random_unit(), after);
    {
      std::lock_guard lock(stats_mutex);
      ++summary.retries;
      ++summary.retries_by_reason[reason];
    }
    spdlog::debug("request {} ({} records): {}; retry {} in {} ms", request->sequence,
                  request->records.size(), detail, attempt, delay.count());
    track(request);
    pool->resubmit_after(std::move(request), delay);
  }

  // A request made of some records of `from`, sharing its memory lease.
  std::shared_ptr<upload_request> subset(const upload_request& from, std::vector<record_slot> records) {
    auto r = std::make_shared<upload_request>();
    r->body = body.assemble(from.body, records);
    r->body_pool = bodies;
    r->records = std::move(records);
    r->lease = from.lease;
    r->sequence = next_sequence.fetch_add(1);
    return r;
  }

  void fail_all(const upload_request& request, const send_result& result, failure_kind kind,
                const std::string& reason) {
    for (const auto& r : request.records) {
      record_final(r, outcome::failed, result.http_status, std::nullopt, {}, reason, {}, kind);
    }
  }

  // Whether the token may be in the reply, written as it is or with escapes (secret_scrub.hpp).
  bool mentions_token(const send_result& r) const {
    return may_hold_secret(r.body, token) || may_hold_secret(r.location, token) ||
           (r.retry_after && may_hold_secret(*r.retry_after, token));
  }

  void on_complete(std::shared_ptr<upload_request> request, const send_result& result) {
    if (!claim(*request)) return;  // recorded as interrupted at --drain-timeout
    // A server may echo the token (an error page quoting the Authorization header, a redirect to a
    // login page carrying it): it is cut out of everything the reply brings, however JSON escapes
    // it, before any of it (fields, status texts, error messages) reaches a log or the results.
    if (mentions_token(result)) {
      send_result scrubbed = result;
      scrub_secret(scrubbed.body, token);
      scrub_secret(scrubbed.location, token);
      if (scrubbed.retry_after) scrub_secret(*scrubbed.retry_after, token);
      complete(std::move(request), scrubbed);
    } else {
      complete(std::move(request), result);
    }
    handler_done();
  }

  void complete(std::shared_ptr<upload_request> request, const send_result& result) {
    {
      std::lock_guard lock(stats_mutex);
      if (result.http_status != 0) ++summary.responses_by_status[result.http_status];
      if (result.outcome_unknown) ++summary.outcome_unknown;
    }
    failure_kind kind = result.transport;
    std::string reason = result.error;
    parse_outcome parsed;
    if (kind == failure_kind::none) {
      kind = classify_status(result.http_status);
      if (kind == failure_kind::none) {
        std::vector<std::string> ids;
        ids.reserve(request->records.size());
        for (const auto& r : request->records) ids.push_back(r.id);
        parsed = parse_records_response(result.body, ids);
        if (!parsed.ok()) {
          kind = failure_kind::bad_response;
          reason = "unusable response: " + parsed.error;
          // The server said 200 to a body it may have acted on: resending may insert it twice.
          std::lock_guard lock(stats_mutex);
          ++summary.outcome_unknown;
        }
      } else {
        reason = "HTTP " + std::to_string(result.http_status) + ": " + describe_error_body(result.body);
      }
    }
    if (stopping.load() && kind != failure_kind::none) {
      // A stopping run resends nothing: what is not done is recorded for the next run.
      const bool says_stopped = reason.find("the run was stopped") != std::string::npos;
      fail_all(*request, result,
               kind == failure_kind::auth || kind == failure_kind::endpoint || kind == failure_kind::untrusted
                   ? kind
                   : failure_kind::cancelled,
               // (One text for one cause: the sender's "not sent: the run was stopped" gets the same
               // hint as the inputs the stop left unencoded.)
               says_stopped ? reason + hint_for(failure_kind::cancelled)
                            : reason + " (not retried: the run was stopped)");
      return;
    }
    const decision what = decide(kind, max_attempts(*request), request->records.size(), opt.retry);
    if (what == decision::accept) {
      refused_in_a_row.store(0);
    } else if (kind == failure_kind::http_permanent && result.http_status >= 400) {
      // A request refused as a whole (400, 422...) is the request's fault, not its images': the
      // same refusal for every request (a --batch-size or --field the API does not take) would
      // otherwise fail the whole tree, request after request.
      fail_all(
          *request, result, kind,
          reason +
              " (the API refused the request as a whole, not this image: check --batch-size and --field; "
              "the next run sends it again)");
      if (refused_in_a_row.fetch_add(1) + 1 == refusals_that_stop) {
        stop(run_stop::endpoint, "the API refused " + std::to_string(refusals_that_stop) +
                                     " requests in a row as a whole (" + reason +
                                     "): check --batch-size, --field and the endpoint's other parameters; "
                                     "the run was stopped and its images stay to be sent");
      }
      return;
    }
    switch (what) {
      case decision::accept:
        accept(request, parsed, result);
        break;
      case decision::retry:
        retry_later(std::move(request),
                    result.http_status != 0 && kind != failure_kind::bad_response
                        ? "http_" + std::to_string(result.http_status)
                        : std::string(to_string(kind)),
                    result.retry_after, reason);
        return;  // still outstanding
      case decision::split: {
        auto& recs = request->records;
        // A 413 is no failure of these images: the send it cost is not one of their --retries (with
        // it counted, two splits left a default run one retry of five for a 503 after them).
        for (auto& r : recs) r.attempts = std::max(0, r.attempts - 1);
        const auto half = static_cast<std::ptrdiff_t>(recs.size() / 2);
        auto first = subset(*request, {recs.begin(), recs.begin() + half});
        auto second = subset(*request, {recs.begin() + half, recs.end()});
        spdlog::info("request {} too large for the server (413): split into {} + {} records",
                     request->sequence, first->records.size(), second->records.size());
        learn_body_cap(request->body.size());
        track(first);
        track(second);
        pool->resubmit_after(std::move(first), std::chrono::milliseconds(0));
        pool->resubmit_after(std::move(second), std::chrono::milliseconds(0));
        return;
      }
      case decision::fail:
        fail_all(*request, result, kind, reason + hint_for(kind));
        break;
      case decision::stop_run:
        fail_all(*request, result, kind, reason);
        if (kind == failure_kind::untrusted) {
          // As the connection check would have said (exit 2): a certificate that fails verification
          // is configuration, also when the check was skipped or the certificate changed mid-run.
          stop(run_stop::tls_untrusted, reason + "; the run was stopped");
        } else if (kind == failure_kind::endpoint && result.http_status / 100 == 3) {
          stop(run_stop::endpoint,
               "the endpoint " + opt.sender.target.url + " redirects (" + reason +
                   (result.location.empty() ? std::string() : ", to " + json_string(result.location)) +
                   "): ximup does not follow redirects, which would send the images and the token elsewhere; "
                   "give the final URL with --endpoint or --api-base; the run was stopped");
        } else if (kind == failure_kind::endpoint) {
          stop(run_stop::endpoint, "the endpoint " + opt.sender.target.url + " answered " + reason +
                                       ": check the endpoint URL or --api-base, and --task-id or "
                                       "--collection-id if the preset takes one; the run was stopped");
        } else {
          const std::string origin =
              opt.token_origin.empty() ? std::string("XIMILAR_API_TOKEN or --token-file") : opt.token_origin;
          stop(run_stop::auth, "authentication failed (" + reason + "): check the API token in " + origin +
                                   " (a token of this account, for this endpoint); the run was stopped");
        }
        break;
    }
  }

  void accept(const std::shared_ptr<upload_request>& request, const parse_outcome& parsed,
              const send_result& result) {
    std::vector<record_slot> again;
    int again_code = 0;
    for (std::size_t i = 0; i < request->records.size(); ++i) {
      auto& slot = request->records[i];
      const auto& rec = parsed.response.records[i];
      // A record the answer left out (records matched by _id) was not judged: resent like a 5xx.
      const failure_kind rk =
          rec.missing ? failure_kind::http_retryable : classify_record_status(rec.status_code);
      if (rk == failure_kind::none) {
        record_final(slot, outcome::ok, result.http_status, rec.status_code, rec.status_text, {},
                     rec.fields_json, rk);
      } else if (const bool retry = decide(rk, slot.attempts, 1, opt.retry) == decision::retry;
                 retry && !stopping.load()) {
        again.push_back(slot);
        again_code = rec.status_code;
      } else {
        // A retryable status met by a stopping run was not retried at all: say so, not "exhausted".
        const std::string why =
            (rec.missing ? std::string("the server's answer had no record for this image")
                         : "the API rejected this image: " + std::to_string(rec.status_code) +
                               (rec.status_text.empty() ? "" : " " + rec.status_text)) +
            (retry ? std::string(" (not retried: the run was stopped; run again to resend)") : hint_for(rk));
        record_final(slot, outcome::failed, result.http_status,
                     rec.missing ? std::nullopt : std::optional<int>(rec.status_code), rec.status_text, why,
                     rec.fields_json, rk);
      }
    }
    if (!again.empty()) {
      auto retry = subset(*request, std::move(again));
      const std::string key =
          again_code == 0 ? std::string("record_missing") : "record_" + std::to_string(again_code);
      retry_later(std::move(retry), key, result.retry_after, key);
    }
  }

  // --- run ------------------------------------------------------------------------------------

  // Opens the state, takes the run lock, starts a run and loads the skip index. False: stopped.
  bool open_state() {
    const std::string key =
        make_job_key(opt.sender.target.url, opt.sender.target.fields_json, opt.sender.target.headers);
    if (opt.dry_run) return open_state_to_read(key);
    // An empty file is taken as a new state (docs/state.md); when it was a state that something
    // emptied, every input is sent again, so say it.
    std::error_code size_error;
    if (std::filesystem::is_regular_file(*opt.state_path, size_error) &&
        std::filesystem::file_size(*opt.state_path, size_error) == 0 && !size_error) {
      spdlog::warn("the state file {} is empty: starting a new state in it, so every input counts as new",
                   json_string(*opt.state_path));
    }
    auto opened = state_store::open(*opt.state_path, key);
    if (!opened.value) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = opened.status.message;
      return false;
    }
    state.emplace(std::move(*opened.value));
    if (!state->jobs_beside().empty()) {
      spdlog::warn(
          "the state file {} had no job for {} (with these endpoint fields) but holds {}: this run starts a "
          "new job, so every input counts as new{}. If it is the same endpoint, spell --endpoint, --api-base "
          "and --field as the earlier runs did",
          json_string(*opt.state_path), opt.sender.target.url, state->jobs_beside(),
          opt.mode == run_mode::retry_failed ? " and --retry-failed finds nothing to retry" : "");
    }
    if (auto st = state->try_lock(); !st.ok()) {
      summary.stopped = st.code == state_errc::locked ? run_stop::locked : run_stop::state_error;
      summary.stop_message = st.message;
      return false;
    }
    auto run = state->begin_run(opt.command_summary);
    if (!run.value) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = run.status.message;
      return false;
    }
    run_id = *run.value;
    auto loaded = state->load_index(opt.mode == run_mode::checksum);
    if (!loaded.value) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = loaded.status.message;
      return false;
    }
    index.emplace(std::move(*loaded.value));
    return true;
  }

  // A dry run reads what the state knows and changes nothing: no file is created, no lock taken.
  bool open_state_to_read(const std::string& key) {
    auto opened = state_store::open(*opt.state_path, key, open_mode::open_existing);
    if (!opened.value && opened.status.code == state_errc::not_found) {
      // Everything would be sent. When the file holds other jobs (the endpoint spelled another way),
      // say so as the real run would, before it sends the tree again.
      std::error_code size_error;
      if (std::filesystem::is_regular_file(*opt.state_path, size_error) &&
          std::filesystem::file_size(*opt.state_path, size_error) > 0 && !size_error) {
        spdlog::warn("{}: the real run would start a new job, so every input counts as new",
                     opened.status.message);
      }
      return true;
    }
    if (!opened.value) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = opened.status.message;
      return false;
    }
    auto loaded = opened.value->load_index(opt.mode == run_mode::checksum);
    if (!loaded.value) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = loaded.status.message;
      return false;
    }
    index.emplace(std::move(*loaded.value));
    return true;
  }

  // Scans and plans without sending (--dry-run).
  run_summary dry_run() {
    summary.dry_run = true;
    if (opt.state_path && !open_state()) return summary;
    scan_stage();
    summary.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
  }

  void close_state() {
    {
      std::lock_guard lock(state_mutex);
      state_done = true;
    }
    state_ready.notify_all();
    if (state_thread.joinable()) state_thread.join();
    if (!state || run_id == 0) return;
    run_counts counts;
    counts.ok = summary.files_ok;
    counts.failed = summary.files_failed - summary.files_failed_retryable;
    counts.retryable = summary.files_failed_retryable;
    // Sent: what reached the server, not the inputs the stop left unsent ("cancelled").
    const auto cancelled = summary.failures_by_reason.find(std::string(to_string(failure_kind::cancelled)));
    counts.sent = summary.files_ok + summary.files_failed -
                  (cancelled == summary.failures_by_reason.end() ? 0 : cancelled->second);
    counts.skipped = summary.skipped_unchanged + summary.skipped_failed + summary.skipped_other +
                     summary.skipped_too_new + summary.skipped_duplicate;
    const char* outcome = "completed";
    switch (summary.stopped) {
      case run_stop::none:
        break;
      case run_stop::interrupted:
        outcome = "interrupted";
        break;
      case run_stop::auth:
        outcome = "stopped: authentication failed";
        break;
      case run_stop::endpoint:
        outcome = "stopped: wrong endpoint";
        break;
      default:
        outcome = "stopped";
        break;
    }
    if (auto st = state->end_run(run_id, counts, outcome); !st.ok() && summary.stopped == run_stop::none) {
      summary.stopped = run_stop::state_error;
      summary.stop_message = st.message;
      return;
    }
    // A walk names every file again, so what an earlier run left unfinished is sent by this one; a
    // list or manifest names only what it lists (a new list per cron run): say what still waits.
    if (opt.input.kind != input_kind::directories) {
      if (const auto left = state->unfinished_before(run_id); left.value && *left.value > 0) {
        spdlog::warn(
            "{} input{} that earlier runs left unfinished (pending or retryable) {} not in this run's "
            "inputs: "
            "a run sends them when its list names them again (`ximup failures` lists them)",
            *left.value, *left.value == 1 ? "" : "s", *left.value == 1 ? "was" : "were");
      }
    }
  }

  // After the drain deadline: what is still in flight is recorded as interrupted, outcome unknown.
  void abandon_in_flight() {
    pool->abort();
    {
      // Requests written whose answers never came: their outcome is unknown like a lost response's.
      std::lock_guard lock(stats_mutex);
      summary.outcome_unknown +=
          static_cast<std::uint64_t>(std::max<std::int64_t>(0, pool->counters().exchanging.load()));
    }
    std::map<std::uint64_t, std::shared_ptr<upload_request>> left;
    {
      std::unique_lock lock(registry_mutex);
      registry_changed.wait(lock, [&] { return busy_handlers == 0; });
      left.swap(registry);
    }
    send_result none;
    for (auto& [seq, request] : left) {
      {
        std::lock_guard lock(stats_mutex);
        summary.unknown_at_stop += request->records.size();
      }
      fail_all(
          *request, none, failure_kind::cancelled,
          "interrupted: no response before --drain-timeout; the server may have processed it (the next run "
          "resends it)");
    }
    if (!left.empty()) spdlog::warn("drain timeout: {} requests abandoned in flight", left.size());
  }

  run_summary run() {
    if (opt.dry_run) return dry_run();
    if (opt.state_path && !open_state()) return summary;
    // With a state store the results file accumulates across runs; `ximup export` gives the latest.
    if (!writer.open(opt.results_path, opt.state_path.has_value())) {
      summary.stopped = writer.locked() ? run_stop::locked : run_stop::io_error;
      summary.stop_message = writer.error();
      close_state();
      return summary;
    }
    if (writer.replaced_bytes() > 0) {
      spdlog::warn(
          "the results file {} held {} bytes of an earlier run's results; without a state file they are "
          "replaced (keep a state file, which appends, or give each run its own --results path)",
          json_string(opt.results_path), writer.replaced_bytes());
    }
    if (writer.cut_bytes() > 0) {
      spdlog::warn(
          "the results file {} ended in a half-written line ({} bytes, from a run that was killed); "
          "cut it off: its input is sent again",
          json_string(opt.results_path), writer.cut_bytes());
    }
    {
      std::lock_guard lock(registry_mutex);  // live() reads the pointer from other threads
      pool = std::make_unique<sender_pool>(
          opt.sender,
          [this](std::shared_ptr<upload_request> r, const send_result& s) { on_complete(std::move(r), s); });
    }
    // A --cacert that cannot be loaded is configuration (exit 2), with or without the connection
    // check: without it, every request would fail the handshake instead, retried to the end.
    if (const std::string& bad = pool->setup_error(); !bad.empty()) {
      summary.stopped = run_stop::tls_untrusted;
      summary.stop_message = bad;
      writer.close();
      close_state();
      return summary;
    }
    if (opt.preflight) {
      if (auto failure = pool->preflight(); failure && stopping.load()) {
        writer.close();  // a signal came during the check: the stop it made stands
        close_state();
        return summary;
      } else if (failure) {
        // An untrusted certificate is configuration too, not something a rerun may fix.
        summary.stopped = failure->configuration ? run_stop::tls_untrusted : run_stop::unreachable;
        summary.stop_message = failure->message;
        writer.close();
        close_state();
        return summary;
      }
    }
    if (state) state_thread = std::thread([this] { state_stage(); });
    pool->start();
    std::atomic<std::size_t> stages_running{1 + std::max<std::size_t>(1, opt.workers)};
    std::vector<std::thread> threads;
    threads.emplace_back([this, &stages_running] {
      scan_stage();
      --stages_running;
      registry_changed.notify_all();
    });
    for (std::size_t i = 0; i < std::max<std::size_t>(1, opt.workers); ++i) {
      threads.emplace_back([this, &stages_running] {
        worker_stage();
        --stages_running;
        registry_changed.notify_all();
      });
    }
    // Done when the stages have ended and nothing is in flight; after a stop, wait at most
    // --drain-timeout for the responses.
    bool abandoned = false;
    {
      std::unique_lock lock(registry_mutex);
      auto flushed = std::chrono::steady_clock::now();
      while (!(stages_running.load() == 0 && registry.empty() && busy_handlers == 0)) {
        registry_changed.wait_for(lock, std::chrono::milliseconds(100));
        if (!state && std::chrono::steady_clock::now() - flushed >= std::chrono::milliseconds(100)) {
          // Without a state the results file is the only record of what the server took: its lines
          // reach the kernel every 100 ms, not when 1 MiB of them has gathered (a SIGKILL or an OOM
          // kill lost them). With a state the state thread syncs them before each commit. (Timed:
          // this loop wakes at every completed request.)
          flushed = std::chrono::steady_clock::now();
          lock.unlock();
          if (!writer.flush()) stop(run_stop::io_error, writer.error());
          lock.lock();
        }
        if (stopping.load() && std::chrono::steady_clock::now() > stop_deadline.load()) {
          lock.unlock();
          abandon_in_flight();
          abandoned = true;
          break;
        }
      }
    }
    for (auto& t : threads) t.join();
    if (!abandoned) pool->shutdown();
    if (!writer.close()) {
      std::lock_guard lock(stats_mutex);  // the state thread may still stop the run
      if (summary.stopped == run_stop::none) {
        summary.stopped = run_stop::io_error;
        summary.stop_message = writer.error();
      }
    }
    {
      // (Assigned under the lock: the metrics server's thread reads the summary meanwhile. Taken
      // before it, so that no other lock is taken while holding it.)
      const auto& c = pool->counters();
      const auto peak = budget.peak();
      const auto waits = budget.waits();
      const auto flow = pool->flow();
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      std::lock_guard lock(stats_mutex);
      summary.requests = c.sends.load();
      summary.stale_resends = c.stale_resends.load();
      summary.bytes_sent = c.bytes_sent.load();
      summary.connections_opened = c.connections_opened.load();
      summary.peak_inflight_bytes = peak;
      summary.budget_waits = waits;
      summary.flow = flow;
      summary.elapsed_seconds = elapsed;
    }
    close_state();
    return summary;
  }

  upload_options opt;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool scan_done = false;   // under stats_mutex
  duplicate_filter listed;  // list inputs seen so far (the scan stage's alone)
  // Inputs failed by the scan stage (unreadable entries, files too large): counted as done by the
  // progress line but never planned. Under stats_mutex.
  std::uint64_t failed_before_planning = 0;
  request_body body;
  // Bodies are reused: as many as were in flight at once, each up to --max-body-bytes.
  std::shared_ptr<buffer_pool> bodies = std::make_shared<buffer_pool>(
      opt.sender.queue_capacity + opt.sender.connections + opt.workers + 4, opt.limits.max_body_bytes);
  byte_budget budget;
  bounded_queue<batch_plan> plans;
  results_writer writer;
  std::unique_ptr<sender_pool> pool;
  std::atomic<bool> stopping{false};
  std::atomic<std::chrono::steady_clock::time_point> stop_deadline{
      std::chrono::steady_clock::time_point::max()};
  std::atomic<std::uint64_t> next_sequence{1};

  std::mutex registry_mutex;
  std::condition_variable registry_changed;
  std::map<std::uint64_t, std::shared_ptr<upload_request>> registry;  // requests not yet final
  int busy_handlers = 0;

  std::optional<state_store> state;
  std::optional<state_index> index;
  int repeated_id_warnings = 0;         // scan thread only
  std::vector<bool> root_is_directory;  // scan thread only: per input root, filled at first use
  int dry_run_failures = 0;             // scan thread only
  // The API token alone (the Authorization value after its scheme), to scrub from server replies
  // (secret_scrub.hpp: tokens under 8 characters are not scrubbed).
  const std::string token = [this] {
    const std::string& auth = opt.sender.authorization;
    const auto space = auth.find(' ');
    return space == std::string::npos ? auth : auth.substr(space + 1);
  }();
  // The working directory at start, for state keys; empty if it cannot be read (keys stay as typed).
  const std::filesystem::path cwd = [] {
    std::error_code ec;
    auto p = std::filesystem::current_path(ec);
    return ec ? std::filesystem::path() : p;
  }();
  std::int64_t run_id = 0;
  std::mutex state_mutex;
  std::condition_variable state_ready;
  std::deque<state_update> state_queue;
  bool state_done = false;
  std::thread state_thread;

  std::mutex rng_mutex;
  std::mt19937_64 rng;

  std::mutex stats_mutex;
  run_summary summary;
  std::uint64_t failure_lines = 0;  ///< failures counted for the log's "failed:" lines (stats_mutex)
};

upload_pipeline::upload_pipeline(upload_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}
upload_pipeline::~upload_pipeline() = default;

run_summary upload_pipeline::run() {
  run_summary s = impl_->run();
  // The early returns (a stop during the connection check, a state or results file that cannot be
  // opened) did not time the run.
  if (s.elapsed_seconds == 0) {
    s.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - impl_->started).count();
  }
  return s;
}

live_stats upload_pipeline::live() const {
  live_stats l;
  auto& m = *impl_;
  {
    std::lock_guard lock(m.stats_mutex);
    l.files_done = m.summary.files_ok + m.summary.files_failed;
    l.files_failed = m.summary.files_failed;
    l.bytes_done = m.summary.bytes_ok;
    l.files_planned = m.summary.planned_files + m.failed_before_planning;
    l.scan_done = m.scan_done;
    l.retries = m.summary.retries;
  }
  {
    std::lock_guard lock(m.registry_mutex);
    l.requests_open = m.registry.size();
    if (m.pool) {
      const auto& c = m.pool->counters();
      l.requests_in_flight = static_cast<std::uint64_t>(std::max<std::int64_t>(0, c.in_flight.load()));
      l.requests_queued = static_cast<std::size_t>(std::max<std::int64_t>(0, c.queued.load()));
      l.flow = m.pool->flow();
      l.concurrency_limit = l.flow.concurrency_limit;
      l.sends = c.sends.load();
      l.bytes_sent = c.bytes_sent.load();
      l.connections_opened = c.connections_opened.load();
      l.request_latency = c.request_latency.snapshot();
    }
  }
  l.plans_queued = m.plans.size();
  return l;
}

run_summary upload_pipeline::summary_so_far() const {
  auto& m = *impl_;
  run_summary s;
  {
    std::lock_guard lock(m.stats_mutex);
    s = m.summary;
  }
  // The run's own time once it is over (--metrics-linger shows the final values, this one too).
  if (s.elapsed_seconds == 0) {
    s.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.started).count();
  }
  return s;
}

void upload_pipeline::flush_results_for_exit() noexcept {
  impl_->writer.flush_for_exit();
}

void upload_pipeline::request_stop(int signal_number) {
  {
    std::lock_guard lock(impl_->stats_mutex);
    impl_->summary.stop_signal = signal_number;
  }
  impl_->stop(run_stop::interrupted, "interrupted by signal " + std::to_string(signal_number));
}

}  // namespace ximup
