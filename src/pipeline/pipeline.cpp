#include "ximup/pipeline.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>

#include "ximup/bounded_queue.hpp"
#include "ximup/byte_budget.hpp"
#include "ximup/file_reader.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/request_body.hpp"
#include "ximup/response.hpp"
#include "ximup/result_line.hpp"
#include "ximup/results_writer.hpp"

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
    case failure_kind::bad_response: return " (retries exhausted; run again to resend)";
    case failure_kind::cancelled: return " (run again to send it)";
    default: return "";
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
    if (!writer.write(format_result_line(line))) stop(run_stop::io_error, writer.error());
    std::lock_guard lock(stats_mutex);
    if (result == outcome::ok) {
      ++summary.files_ok;
      summary.bytes_ok += r.bytes;
    } else {
      ++summary.files_failed;
      const bool retryable = kind == failure_kind::network || kind == failure_kind::timeout ||
                             kind == failure_kind::tls || kind == failure_kind::http_retryable ||
                             kind == failure_kind::bad_response || kind == failure_kind::cancelled;
      if (retryable) ++summary.files_failed_retryable;
      const std::string reason = kind == failure_kind::none ? "local" : std::string(to_string(kind));
      ++summary.failures_by_reason[reason];
      if (summary.files_failed <= logged_failures_limit) {
        spdlog::warn("failed: {}: {}", json_string(r.path), error);
      } else if (summary.files_failed == logged_failures_limit + 1) {
        spdlog::warn("more failures are not logged one by one; see the results file");
      }
    }
  }

  void local_failure(std::string path, std::string id, std::uint64_t bytes, std::string_view error) {
    record_slot r;
    r.path = std::move(path);
    r.id = std::move(id);
    r.bytes = bytes;
    record_final(r, outcome::failed, 0, std::nullopt, {}, error, {}, failure_kind::none);
  }

  // --- stopping -------------------------------------------------------------------------------

  void stop(run_stop why, std::string message) {
    {
      std::lock_guard lock(stats_mutex);
      if (summary.stopped != run_stop::none) return;
      summary.stopped = why;
      summary.stop_message = std::move(message);
    }
    stopping.store(true);
    if (why != run_stop::interrupted) spdlog::error("{}", summary.stop_message);
    if (pool) pool->cancel();
    budget.cancel();
    // Plans not yet encoded end as failures that a later run resends.
    for (auto& plan : plans.close_and_take()) {
      for (auto& e : plan.entries) {
        record_slot r;
        r.path = std::move(e.path);
        r.id = std::move(e.id);
        r.bytes = e.size;
        record_final(r, outcome::failed, 0, std::nullopt, {}, "not sent: the run was stopped (run again to send it)",
                     {}, failure_kind::cancelled);
      }
    }
  }

  // --- stages ---------------------------------------------------------------------------------

  // Queues a plan; if the run stopped meanwhile its files are recorded as not sent.
  void enqueue(batch_plan& plan) {
    if (plans.push(plan)) return;
    for (auto& e : plan.entries) {
      local_failure(std::move(e.path), std::move(e.id), e.size, "not sent: the run was stopped (run again to send it)");
    }
  }

  void scan_stage() {
    scanner scan(opt.roots, opt.scan);
    batcher batch(opt.limits);
    while (!stopping.load()) {
      auto item = scan.next();
      if (!item) break;
      if (item->error) {
        local_failure(item->error->path, {}, 0, item->error->message);
        continue;
      }
      auto& e = *item->entry;
      if (!batch.fits_alone(e)) {
        local_failure(e.path, e.id, e.size,
                      "file too large: " + std::to_string(e.size) + " bytes does not fit a request body of "
                      "--max-body-bytes " + std::to_string(opt.limits.max_body_bytes));
        continue;
      }
      if (auto plan = batch.add(std::move(e))) enqueue(*plan);
    }
    if (auto plan = batch.flush()) enqueue(*plan);
    {
      std::lock_guard lock(stats_mutex);
      summary.scan_skipped = scan.counters().skipped;
    }
    plans.close();
  }

  void worker_stage() {
    std::vector<unsigned char> file_bytes;
    while (auto plan = plans.pop()) {
      auto lease = budget.acquire(plan->body_bytes + plan->largest_file);
      if (!lease.valid()) {
        for (auto& e : plan->entries) {
          local_failure(e.path, e.id, e.size, "not sent: the run was stopped (run again to send it)");
        }
        continue;
      }
      auto request = std::make_shared<upload_request>();
      request->body.reserve(plan->body_bytes);
      body.begin(request->body);
      for (auto& e : plan->entries) {
        const auto status = read_file(e.path, file_bytes, opt.limits.max_body_bytes);
        if (!status.ok) {
          local_failure(std::move(e.path), std::move(e.id), e.size, status.error);
          continue;
        }
        record_slot slot;
        slot.path = std::move(e.path);
        slot.id = std::move(e.id);
        body.append_record(request->body, file_bytes, slot);
        request->records.push_back(std::move(slot));
      }
      body.finish(request->body);
      if (file_bytes.capacity() > (8U << 20U)) std::vector<unsigned char>().swap(file_bytes);
      if (request->records.empty()) continue;
      // The file bytes are free again; the body stays held until its results are written.
      lease.shrink_to(request->body.size());
      request->lease = std::make_shared<budget_lease>(std::move(lease));
      request->sequence = next_sequence.fetch_add(1);
      outstanding_add(1);
      pool->submit(std::move(request));
    }
  }

  // --- responses (io threads) -----------------------------------------------------------------

  void outstanding_add(std::int64_t n) {
    std::lock_guard lock(outstanding_mutex);
    outstanding += n;
    if (outstanding == 0) outstanding_zero.notify_all();
  }

  double random_unit() {
    std::lock_guard lock(rng_mutex);
    return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
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
    spdlog::debug("request {} ({} records): {}; retry {} in {} ms", request->sequence, request->records.size(),
                  detail, attempt, delay.count());
    pool->resubmit_after(std::move(request), delay);
  }

  // A request made of some records of `from`, sharing its memory lease.
  std::shared_ptr<upload_request> subset(const upload_request& from, std::vector<record_slot> records) {
    auto r = std::make_shared<upload_request>();
    r->body = body.assemble(from.body, records);
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

  void on_complete(std::shared_ptr<upload_request> request, send_result result) {
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
        }
      } else {
        reason = "HTTP " + std::to_string(result.http_status) + ": " + describe_error_body(result.body);
      }
    }
    if (stopping.load() && kind != failure_kind::none) {
      // A stopping run resends nothing: what is not done is recorded for the next run.
      fail_all(*request, result, kind == failure_kind::auth ? kind : failure_kind::cancelled,
               reason + " (not retried: the run was stopped)");
      outstanding_add(-1);
      return;
    }
    switch (decide(kind, max_attempts(*request), request->records.size(), opt.retry)) {
      case decision::accept: accept(std::move(request), parsed, result); break;
      case decision::retry:
        retry_later(std::move(request),
                    result.http_status != 0 && kind != failure_kind::bad_response
                        ? "http_" + std::to_string(result.http_status)
                        : std::string(to_string(kind)),
                    result.retry_after, reason);
        return;  // still outstanding
      case decision::split: {
        auto& recs = request->records;
        const auto half = static_cast<std::ptrdiff_t>(recs.size() / 2);
        auto first = subset(*request, {recs.begin(), recs.begin() + half});
        auto second = subset(*request, {recs.begin() + half, recs.end()});
        spdlog::info("request {} too large for the server (413): split into {} + {} records", request->sequence,
                     first->records.size(), second->records.size());
        outstanding_add(1);  // two requests replace one
        pool->resubmit_after(std::move(first), std::chrono::milliseconds(0));
        pool->resubmit_after(std::move(second), std::chrono::milliseconds(0));
        return;
      }
      case decision::fail: fail_all(*request, result, kind, reason + hint_for(kind)); break;
      case decision::stop_run:
        fail_all(*request, result, kind, reason);
        stop(run_stop::auth, "authentication failed (" + reason +
                                 "): check the API token in XIMILAR_API_TOKEN or --token-file; the run was stopped");
        break;
    }
    outstanding_add(-1);
  }

  void accept(std::shared_ptr<upload_request> request, const parse_outcome& parsed, const send_result& result) {
    std::vector<record_slot> again;
    int again_code = 0;
    for (std::size_t i = 0; i < request->records.size(); ++i) {
      auto& slot = request->records[i];
      const auto& rec = parsed.response.records[i];
      const failure_kind rk = classify_record_status(rec.status_code);
      if (rk == failure_kind::none) {
        record_final(slot, outcome::ok, result.http_status, rec.status_code, rec.status_text, {}, rec.fields_json, rk);
      } else if (decide(rk, slot.attempts, 1, opt.retry) == decision::retry && !stopping.load()) {
        again.push_back(slot);
        again_code = rec.status_code;
      } else {
        const std::string why = "the API rejected this image: " + std::to_string(rec.status_code) +
                                (rec.status_text.empty() ? "" : " " + rec.status_text) + hint_for(rk);
        record_final(slot, outcome::failed, result.http_status, rec.status_code, rec.status_text, why,
                     rec.fields_json, rk);
      }
    }
    if (!again.empty()) {
      auto retry = subset(*request, std::move(again));
      outstanding_add(1);
      const std::string key = "record_" + std::to_string(again_code);
      retry_later(std::move(retry), key, result.retry_after, key);
    }
  }

  // --- run ------------------------------------------------------------------------------------

  run_summary run() {
    const auto started = std::chrono::steady_clock::now();
    if (!writer.open(opt.results_path)) {
      summary.stopped = run_stop::io_error;
      summary.stop_message = writer.error();
      return summary;
    }
    pool = std::make_unique<sender_pool>(opt.sender, [this](std::shared_ptr<upload_request> r, send_result s) {
      on_complete(std::move(r), std::move(s));
    });
    if (opt.preflight) {
      if (auto error = pool->preflight()) {
        summary.stopped = error->find("not trusted") != std::string::npos ? run_stop::tls_untrusted
                                                                           : run_stop::unreachable;
        summary.stop_message = *error;
        writer.close();
        return summary;
      }
    }
    pool->start();
    std::thread scanner_thread([this] { scan_stage(); });
    std::vector<std::thread> workers;
    for (std::size_t i = 0; i < std::max<std::size_t>(1, opt.workers); ++i) {
      workers.emplace_back([this] { worker_stage(); });
    }
    scanner_thread.join();
    for (auto& w : workers) w.join();
    {
      std::unique_lock lock(outstanding_mutex);
      outstanding_zero.wait(lock, [&] { return outstanding == 0; });
    }
    pool->shutdown();
    if (!writer.close() && summary.stopped == run_stop::none) {
      summary.stopped = run_stop::io_error;
      summary.stop_message = writer.error();
    }
    const auto& c = pool->counters();
    summary.requests = c.sends.load();
    summary.stale_resends = c.stale_resends.load();
    summary.bytes_sent = c.bytes_sent.load();
    summary.connections_opened = c.connections_opened.load();
    summary.peak_inflight_bytes = budget.peak();
    summary.flow = pool->flow();
    summary.budget_waits = budget.waits();
    summary.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return summary;
  }

  upload_options opt;
  request_body body;
  byte_budget budget;
  bounded_queue<batch_plan> plans;
  results_writer writer;
  std::unique_ptr<sender_pool> pool;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_sequence{1};

  std::mutex outstanding_mutex;
  std::condition_variable outstanding_zero;
  std::int64_t outstanding = 0;  // requests submitted and not yet final

  std::mutex rng_mutex;
  std::mt19937_64 rng;

  std::mutex stats_mutex;
  run_summary summary;
};

upload_pipeline::upload_pipeline(upload_options options) : impl_(std::make_unique<impl>(std::move(options))) {}
upload_pipeline::~upload_pipeline() = default;

run_summary upload_pipeline::run() { return impl_->run(); }

void upload_pipeline::request_stop(int signal_number) {
  {
    std::lock_guard lock(impl_->stats_mutex);
    impl_->summary.stop_signal = signal_number;
  }
  impl_->stop(run_stop::interrupted, "interrupted by signal " + std::to_string(signal_number));
}

}  // namespace ximup
