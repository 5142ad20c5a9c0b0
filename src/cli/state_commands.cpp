// `ximup status`, `ximup failures` and `ximup export`: read a state file without uploading.
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "commands.hpp"
#include "endpoint_flags.hpp"
#include "exit_codes.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/state_store.hpp"

namespace ximup::cli {
namespace {

struct state_flags {
  endpoint_flags target;
  std::string state = "ximup-state.sqlite";
  std::string output = "-";
  bool check = false;
};

void add_state_flags(CLI::App& cmd, state_flags& f) {
  f.target.add_to(cmd);
  cmd.add_option("--state", f.state, "State file written by `ximup upload`")->capture_default_str();
}

// Opens the job of the given endpoint in an existing state file; nullopt after printing why.
std::optional<state_store> open_job(const state_flags& f, int& code) {
  auto ep = f.target.resolve();
  if (!ep.value) {
    spdlog::error("{}", ep.error);
    code = exit_code::usage;
    return std::nullopt;
  }
  auto opened =
      state_store::open(f.state, make_job_key(ep.value->url, ep.value->fields_json, ep.value->headers),
                        open_mode::open_existing);
  if (!opened.value) {
    spdlog::error("{}", opened.status.message);
    code = opened.status.code == state_errc::not_found ? exit_code::input_not_found : exit_code::io_error;
    return std::nullopt;
  }
  return std::move(*opened.value);
}

std::string format_time(std::int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  const std::time_t t = unix_seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int run_status(const state_flags& f) {
  int code = exit_code::ok;
  auto store = open_job(f, code);
  if (!store) return code;
  if (f.check) {
    if (auto st = store->check_integrity(true); !st.ok()) {
      spdlog::error("{}", st.message);
      return exit_code::io_error;
    }
    std::printf("integrity: ok\n");
  }
  auto counts = store->counts();
  if (!counts.value) {
    spdlog::error("{}", counts.status.message);
    return exit_code::io_error;
  }
  const auto& c = *counts.value;
  std::printf("state: %s\n", store->path().c_str());
  std::printf("inputs: %llu (ok %llu, failed %llu, retryable %llu, pending %llu)\n",
              static_cast<unsigned long long>(c.total()), static_cast<unsigned long long>(c.ok),
              static_cast<unsigned long long>(c.failed), static_cast<unsigned long long>(c.retryable),
              static_cast<unsigned long long>(c.pending));
  auto runs = store->last_runs(10);
  if (runs.value) {
    std::printf("last runs:\n");
    for (const auto& r : *runs.value) {
      std::printf(
          "  #%lld %s .. %s pid %lld %-12s sent %llu ok %llu failed %llu retryable %llu skipped %llu  %s\n",
          static_cast<long long>(r.run_id), format_time(r.started_unix).c_str(),
          format_time(r.ended_unix).c_str(), static_cast<long long>(r.pid),
          r.outcome.empty() ? "running" : r.outcome.c_str(), static_cast<unsigned long long>(r.counts.sent),
          static_cast<unsigned long long>(r.counts.ok), static_cast<unsigned long long>(r.counts.failed),
          static_cast<unsigned long long>(r.counts.retryable),
          static_cast<unsigned long long>(r.counts.skipped), r.command.c_str());
    }
  }
  return exit_code::ok;
}

// Streams the job's inputs (all, or only those with the given statuses) to stdout or a file.
int stream_entries(const state_flags& f, std::span<const input_status> only, bool as_json) {
  int code = exit_code::ok;
  auto store = open_job(f, code);
  if (!store) return code;
  std::FILE* out = stdout;
  if (f.output != "-") {
    out = std::fopen(f.output.c_str(), "we");
    if (out == nullptr) {
      spdlog::error("cannot open '{}' for writing: {}", f.output, std::strerror(errno));
      return exit_code::io_error;
    }
  }
  bool write_ok = true;
  auto st = store->for_each_entry(
      [&](const state_entry& e) {
        const std::string line = as_json
                                     ? format_export_line(e)
                                     : json_string(e.path) + "\t" + std::string(to_string(e.record.status)) +
                                           "\t" + e.reason + "\n";
        write_ok = std::fwrite(line.data(), 1, line.size(), out) == line.size();
        return write_ok;
      },
      only);
  const bool closed = out == stdout ? std::fflush(out) == 0 : std::fclose(out) == 0;
  if (!st.ok()) {
    spdlog::error("{}", st.message);
    return exit_code::io_error;
  }
  if (!write_ok || !closed) {
    spdlog::error("cannot write '{}': {}", f.output, std::strerror(errno));
    return exit_code::io_error;
  }
  return exit_code::ok;
}

}  // namespace

void add_state_commands(CLI::App& app, std::vector<std::pair<CLI::App*, std::function<int()>>>& out) {
  auto status = std::make_shared<state_flags>();
  auto* s = app.add_subcommand("status", "Counts per outcome and the last runs, from a state file");
  add_state_flags(*s, *status);
  s->add_flag("--check", status->check, "Also run a full integrity check of the state file");
  s->footer("Example:\n  ximup status --state ximup-state.sqlite --endpoint tagging");
  out.emplace_back(s, [status] { return run_status(*status); });

  auto failures = std::make_shared<state_flags>();
  auto* fcmd =
      app.add_subcommand("failures", "List failed inputs with their reasons (path<TAB>status<TAB>reason)");
  add_state_flags(*fcmd, *failures);
  fcmd->add_option("-o,--output", failures->output, "Write here instead of stdout");
  fcmd->footer("Example:\n  ximup failures --endpoint tagging > failed.tsv");
  out.emplace_back(fcmd, [failures] {
    static constexpr input_status failed[] = {input_status::failed, input_status::retryable,
                                              input_status::pending};
    return stream_entries(*failures, failed, false);
  });

  auto exporter = std::make_shared<state_flags>();
  auto* e = app.add_subcommand("export", "Write the latest result of every input as JSON lines");
  add_state_flags(*e, *exporter);
  e->add_option("-o,--output", exporter->output, "Write here instead of stdout");
  e->footer("Example:\n  ximup export --endpoint tagging -o latest.jsonl");
  out.emplace_back(e, [exporter] { return stream_entries(*exporter, {}, true); });
}

}  // namespace ximup::cli
