// `ximup status`, `ximup failures`, `ximup export` and `ximup prune`: a state file without uploading.
#include <dirent.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "commands.hpp"
#include "endpoint_flags.hpp"
#include "exit_codes.hpp"
#include "output_files.hpp"
#include "ximup/json_escape.hpp"
#include "ximup/state_store.hpp"

namespace ximup::cli {
namespace {

struct state_flags {
  endpoint_flags target;
  std::string state = "ximup-state.sqlite";
  std::string output = "-";
  bool check = false;
  bool dry_run = false;     // prune
  bool include_ok = false;  // prune --all
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

// Whether the directory at `path` has any entry; false when it cannot be read (uncertain).
bool has_entries(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return false;
  bool any = false;
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") {
      any = true;
      break;
    }
  }
  ::closedir(dir);
  return any;
}

// Tells whether inputs' files are gone. Only certain absence counts: an absolute path that lstat()
// says does not exist (ENOENT, ENOTDIR), or that is now a directory or anything but a file or a
// link; any other error (a permission) does not count. For an input that succeeded (`prune --all`)
// absence is not enough when the nearest existing directory above the file is empty: a disk that
// is not mounted leaves an empty mount point, under which every file looks deleted, and dropping
// those inputs (then every input) sent the whole tree again once the disk was back. (An input not
// done yet may go: if its file comes back, the next run sends it as new, which it was.) URLs and
// the relative keys of old state files (relative to a directory we do not know) are never gone.
class gone_check {
 public:
  bool operator()(const std::string& path, input_status status) {
    if (!path.starts_with('/')) return false;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode);
    if (errno != ENOENT && errno != ENOTDIR) return false;
    if (status != input_status::ok) return true;
    std::string dir = path.substr(0, path.rfind('/'));
    while (!dir.empty() && ::stat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR) return false;
      dir.resize(dir.rfind('/'));
    }
    if (dir.empty()) return true;           // (only "/" is left, and it is not empty)
    if (!S_ISDIR(st.st_mode)) return true;  // a file where the file's directory was
    // Inputs come sorted by path: most share the directory of the one before.
    if (dir != last_dir_) {
      last_dir_ = dir;
      last_dir_has_entries_ = has_entries(dir);
    }
    return last_dir_has_entries_;
  }

 private:
  std::string last_dir_;
  bool last_dir_has_entries_ = true;
};

// Paths of the job's inputs with one of the statuses `only` whose files are gone.
state_result<std::vector<std::string>> gone_inputs(state_store& store, std::span<const input_status> only,
                                                   std::vector<input_status>* statuses = nullptr) {
  state_result<std::vector<std::string>> gone;
  gone.value.emplace();
  gone_check is_gone;
  gone.status = store.for_each_entry(
      [&](const state_entry& e) {
        if (is_gone(e.path, e.record.status)) {
          gone.value->push_back(e.path);
          if (statuses != nullptr) statuses->push_back(e.record.status);
        }
        return true;
      },
      only);
  if (!gone.status.ok()) gone.value.reset();
  return gone;
}

constexpr input_status not_ok[] = {input_status::failed, input_status::retryable, input_status::pending};

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
  if (c.total() > c.ok) {
    // Unfinished inputs whose files were deleted would be listed by `ximup failures` forever.
    if (auto gone = gone_inputs(*store, not_ok); gone.value && !gone.value->empty()) {
      std::printf("gone: %zu of the inputs not ok no longer exist (`ximup prune` removes them)\n",
                  gone.value->size());
    }
  }
  auto runs = store->last_runs(10);
  if (runs.value) {
    std::printf("last runs:\n");
    // A run without an outcome is running, or died without writing one (SIGKILL, the OOM killer, a
    // power cut): the run lock held by its pid tells which, since the kernel drops the lock with its
    // holder. Its pid alone cannot (ximup is pid 1 in a container, which always exists), nor the lock
    // alone (`prune` takes it too); the pid is the fallback only where /proc/locks cannot be read (a
    // pid reused since is then shown as running).
    const auto lock = store->lock_now();
    for (const auto& r : *runs.value) {
      const bool alive = lock ? lock->held && (lock->pid == 0 || lock->pid == r.pid)
                              : r.pid > 0 && (::kill(static_cast<pid_t>(r.pid), 0) == 0 || errno == EPERM);
      const char* outcome = !r.outcome.empty() ? r.outcome.c_str() : alive ? "running" : "died";
      // (A run without its end recorded is counted from the inputs it last recorded; skips unknown.)
      const std::string skipped = r.counts_from_inputs ? std::string("?") : std::to_string(r.counts.skipped);
      std::printf(
          "  #%lld %s .. %s pid %lld %-12s sent %llu ok %llu failed %llu retryable %llu skipped %s  %s\n",
          static_cast<long long>(r.run_id), format_time(r.started_unix).c_str(),
          format_time(r.ended_unix).c_str(), static_cast<long long>(r.pid), outcome,
          static_cast<unsigned long long>(r.counts.sent), static_cast<unsigned long long>(r.counts.ok),
          static_cast<unsigned long long>(r.counts.failed),
          static_cast<unsigned long long>(r.counts.retryable), skipped.c_str(), r.command.c_str());
    }
  }
  return exit_code::ok;
}

// Why -o must not be written (it was truncated before the state was read: `-o ximup-state.sqlite`
// emptied the state, `-o results.jsonl` lost the API's answers), or "". Only an earlier export, an
// empty file or a new one is written over.
std::string refuse_output(const state_flags& f) {
  const auto out = resolved_path(f.output);
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".lock"}) {
    if (out == resolved_path(f.state + suffix)) {
      return "-o '" + f.output + "' is the state file being read" +
             (*suffix != '\0' ? std::string(" (its ") + suffix + " file)" : std::string()) +
             ": choose another -o path";
    }
  }
  switch (content_of(f.output)) {
    case file_content::none:
    case file_content::export_lines:
      return "";
    case file_content::state:
      return "-o '" + f.output +
             "' is an SQLite database (a state file?): ximup will not write over it; "
             "choose another -o path";
    case file_content::results:
      return "-o '" + f.output +
             "' holds the results of a run (the only copy of the API's answers): ximup "
             "will not write over it; choose another -o path";
    case file_content::summary:
    case file_content::binary:
    case file_content::other:
      break;
  }
  return "-o '" + f.output +
         "' exists and is not an earlier export: ximup will not write over it; choose "
         "another -o path";
}

// Streams the job's inputs (all, or only those with the given statuses) to stdout or a file.
int stream_entries(const state_flags& f, std::span<const input_status> only, bool as_json) {
  int code = exit_code::ok;
  auto store = open_job(f, code);
  if (!store) return code;
  std::FILE* out = stdout;
  if (f.output != "-") {
    if (const std::string refused = refuse_output(f); !refused.empty()) {
      spdlog::error("{}", refused);
      return exit_code::usage;
    }
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

// Removes from the state the inputs whose files no longer exist (not ok ones; with --all also ok
// ones), printing each as path<TAB>status. Takes the run lock: not while an upload runs.
int run_prune(const state_flags& f) {
  int code = exit_code::ok;
  auto store = open_job(f, code);
  if (!store) return code;
  if (auto st = store->try_lock(); !st.ok()) {
    spdlog::error("{}", st.message);
    return st.code == state_errc::locked ? exit_code::locked : exit_code::io_error;
  }
  std::vector<input_status> statuses;
  auto gone = gone_inputs(*store, f.include_ok ? std::span<const input_status>() : not_ok, &statuses);
  if (!gone.value) {
    spdlog::error("{}", gone.status.message);
    return exit_code::io_error;
  }
  for (std::size_t i = 0; i < gone.value->size(); ++i) {
    std::printf("%s\t%s\n", json_string((*gone.value)[i]).c_str(),
                std::string(to_string(statuses[i])).c_str());
  }
  if (std::fflush(stdout) != 0) {
    spdlog::error("cannot write the list: {}", std::strerror(errno));
    return exit_code::io_error;
  }
  const char* which = f.include_ok ? "inputs" : "inputs not ok";
  if (f.dry_run) {
    spdlog::info("would remove {} {} whose files no longer exist (--dry-run: nothing changed)",
                 gone.value->size(), which);
    return exit_code::ok;
  }
  auto removed = store->forget(*gone.value);
  if (!removed.value) {
    spdlog::error("{}", removed.status.message);
    return exit_code::io_error;
  }
  spdlog::info("removed {} {} whose files no longer exist from {}", *removed.value, which, store->path());
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
  out.emplace_back(fcmd, [failures] { return stream_entries(*failures, not_ok, false); });

  auto exporter = std::make_shared<state_flags>();
  auto* e = app.add_subcommand("export", "Write the latest result of every input as JSON lines");
  add_state_flags(*e, *exporter);
  e->add_option("-o,--output", exporter->output, "Write here instead of stdout");
  e->footer("Example:\n  ximup export --endpoint tagging -o latest.jsonl");
  out.emplace_back(e, [exporter] { return stream_entries(*exporter, {}, true); });

  auto pruner = std::make_shared<state_flags>();
  auto* p = app.add_subcommand(
      "prune", "Remove inputs whose files no longer exist from a state file (path<TAB>status of each)");
  add_state_flags(*p, *pruner);
  p->add_flag("--dry-run", pruner->dry_run, "Only list them");
  p->add_flag("--all", pruner->include_ok,
              "Also inputs that succeeded (default: failed, retryable, pending)");
  p->footer(
      "Files deleted before their upload finished stay failed, retryable or pending in the state, and\n"
      "`ximup failures` lists them, until they are pruned. Inputs that succeeded are kept unless --all:\n"
      "`ximup export` reports them.\nExample:\n  ximup prune --endpoint tagging --dry-run");
  out.emplace_back(p, [pruner] { return run_prune(*pruner); });
}

}  // namespace ximup::cli
