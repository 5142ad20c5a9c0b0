#pragma once
/// state_store: what earlier runs did with each input, for resumable and incremental uploads.
///
/// One SQLite file (WAL mode) holds any number of jobs; a job is one endpoint URL with its endpoint
/// fields (make_job_key). Per job and input it keeps path (bytes), size, mtime, an optional SHA-256,
/// status (pending / ok / failed / retryable), failure reason, attempts, update time and run id.
/// docs/state.md describes the schema, sizes, locking and why a crash at any moment is safe.
///
/// Threads: every state_store method is internally serialized by a mutex, so any thread may call
/// it. Every method blocks on disk I/O (a commit is a WAL append; about every 4 MiB of writes one
/// commit also checkpoints and fsyncs), so the pipeline should call it from a thread that may
/// block, not from an io thread. A state_index is immutable: any number of threads may read it.
/// Ownership: a state_store owns its SQLite connection and its lock file descriptor; both close
/// with it (which also releases the run lock). Errors are values, never exceptions; each message
/// names the state file and says what to do.
///
/// Write protocol for a run:
///   open -> try_lock -> begin_run -> { mark_pending(request's inputs) -> send ->
///   record_results(response's results) }* -> end_run
/// A crash between mark_pending and record_results leaves the inputs `pending` (outcome
/// unknown); the next run plans them as send_unfinished (at-least-once delivery).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ximup {

/// `PRAGMA application_id` of a ximup state file: "XIMU".
inline constexpr std::int32_t state_application_id = 0x58494D55;
/// `PRAGMA user_version`: the schema this build writes and reads.
inline constexpr int state_schema_version = 1;

using sha256_digest = std::array<std::uint8_t, 32>;

/// Stored as these integers; never renumber.
enum class input_status : std::uint8_t {
  pending = 0,    ///< marked before sending; no result recorded yet (outcome unknown after a crash)
  ok = 1,         ///< the server accepted it
  failed = 2,     ///< permanent failure (the server rejected it, or it cannot be read): not resent
                  ///< unless it changes or --retry-failed
  retryable = 3,  ///< retries exhausted, cancelled, network: resent by the next run
};
[[nodiscard]] std::string_view to_string(input_status status) noexcept;

enum class state_errc {
  none,
  not_found,         ///< open_existing: no such file, or no such job in it
  not_a_state_file,  ///< not an SQLite database, or the database of another application
  corrupt,           ///< damaged: SQLITE_CORRUPT / SQLITE_NOTADB, or ximup tables missing
  newer_schema,      ///< written by a newer ximup
  locked,            ///< another ximup run holds the run lock
  disk_full,         ///< SQLITE_FULL
  io,                ///< I/O error, permission, read-only file system, busy timeout
  misuse,            ///< API contract broken (no lock, no run, input not marked pending, ...)
};

/// Success, or what went wrong: `message` names the state file and what the user can do.
struct state_status {
  state_errc code = state_errc::none;
  std::string message;

  [[nodiscard]] bool ok() const noexcept { return code == state_errc::none; }
  explicit operator bool() const noexcept { return ok(); }
};

/// A value, or why there is none.
template <class T>
struct state_result {
  std::optional<T> value;
  state_status status;
};

/// What the decision needs to know about an input as the state recorded it.
struct input_record {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  input_status status = input_status::pending;
  std::optional<sha256_digest> content_hash;  ///< only when recorded with --checksum
};

/// One input's latest state, as lookup() and for_each_entry() return it.
struct state_entry {
  std::string path;  ///< bytes, no encoding assumed
  input_record record;
  std::string reason;             ///< failure reason; empty for ok and pending
  std::uint32_t attempts = 0;     ///< sends in the run that recorded the latest result
  std::int64_t updated_unix = 0;  ///< seconds since the epoch
  std::int64_t run_id = 0;        ///< the run that last marked or recorded it
};

/// The input as the scanner sees it now.
struct file_facts {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::optional<sha256_digest> content_hash;  ///< checksum mode, when plan_input asked for it
};

enum class run_mode {
  normal,        ///< send new, changed, unfinished (pending, retryable); skip ok and permanent
                 ///< failures that are unchanged (size and mtime_ns)
  retry_failed,  ///< send only inputs the state lists as not ok (failed, retryable, pending);
                 ///< leave new and ok inputs alone: a repair pass, not an upload of new files
  force,         ///< send everything
  checksum,      ///< as normal, but "unchanged" means same size and same SHA-256 (mtime ignored,
                 ///< like rsync -c); inputs recorded without a hash fall back to size and mtime
};

enum class plan {
  send_new,         ///< not in the state
  send_changed,     ///< size, mtime or content differs from what was recorded
  send_unfinished,  ///< pending (a crash or stop left its outcome unknown) or retryable
  send_failed,      ///< retry_failed: its last result was a failure
  send_forced,      ///< force
  skip_unchanged,   ///< ok before, unchanged
  skip_failed,      ///< failed permanently before and unchanged (--retry-failed resends it)
  skip_not_failed,  ///< retry_failed: new or ok, left alone
  need_checksum,    ///< checksum mode: compute the SHA-256 into file_facts and ask again
};
[[nodiscard]] std::string_view to_string(plan p) noexcept;
/// True for the send_* plans.
[[nodiscard]] bool sends(plan p) noexcept;

/// The decision core. Pure; thread-safe.
[[nodiscard]] plan plan_input(const std::optional<input_record>& previous, const file_facts& now,
                              run_mode mode) noexcept;

/// The job key text for an endpoint: its URL, its endpoint fields JSON and extra request headers
/// that change what the server does with an image (e.g. `collection-id`), one per line. Never pass
/// secrets: the key is stored as text in the state file. Pure.
[[nodiscard]] std::string make_job_key(std::string_view url, std::string_view fields_json,
                                       std::span<const std::pair<std::string, std::string>> headers = {});

/// One input about to be sent (mark_pending). Views: valid for the call only.
struct pending_input {
  std::string_view path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  /// In checksum mode pass it for every input sent, so that later runs can compare contents.
  std::optional<sha256_digest> content_hash;
};

/// One input's result (record_results). Views: valid for the call only.
struct input_result {
  std::string_view path;
  input_status status = input_status::ok;  ///< ok, failed or retryable (never pending)
  std::string_view reason;                 ///< for failed and retryable; ignored for ok
  std::uint32_t attempts = 1;
};

struct status_counts {
  std::uint64_t pending = 0;
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t retryable = 0;
  [[nodiscard]] std::uint64_t total() const noexcept { return pending + ok + failed + retryable; }
};

/// What a run did, as the caller counted it (end_run).
struct run_counts {
  std::uint64_t sent = 0;  ///< inputs sent at least once
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
  std::uint64_t retryable = 0;
  std::uint64_t skipped = 0;  ///< planned skip_*
};

/// One row of the runs table (`ximup status`: last runs).
struct run_info {
  std::int64_t run_id = 0;
  std::int64_t started_unix = 0;
  std::int64_t ended_unix = 0;  ///< 0 while running, or when it never ended (see outcome)
  std::int64_t pid = 0;
  std::string command;  ///< as given to begin_run
  std::string outcome;  ///< as given to end_run; "crashed" when a later run found it unended;
                        ///< empty while it runs
  run_counts counts;
  /// The run never recorded its end (running, killed, crashed): `counts` are taken from the inputs
  /// whose latest record it wrote (sent counts pending ones too; skipped is unknown).
  bool counts_from_inputs = false;
};

namespace detail {
/// The 64-bit path hash a state_index is keyed on (an index keeps the function it was built
/// with). Tests replace it to force collisions; set it only while no index is being loaded.
using path_hash_fn = std::uint64_t (*)(std::string_view) noexcept;
/// Sets the hash for indexes loaded from now on; returns the previous one.
path_hash_fn set_state_index_hash(path_hash_fn fn) noexcept;
}  // namespace detail

/// A snapshot of one job's inputs for skip decisions without SQLite: 32 bytes per input (plus 32
/// more per recorded hash when loaded with hashes), so 100,000 inputs take about 3 MB. Keyed on a
/// 64-bit hash of the path; paths whose hashes collide are kept by full path, so find() is exact.
/// Immutable; any number of threads may call find() at once.
class state_index {
 public:
  state_index();
  ~state_index();
  state_index(state_index&&) noexcept;
  state_index& operator=(state_index&&) noexcept;

  /// What the state recorded for `path` at load time; nullopt for an unknown path.
  [[nodiscard]] std::optional<input_record> find(std::string_view path) const;
  [[nodiscard]] std::size_t size() const noexcept;
  /// Heap bytes held (for the memory budget and the test).
  [[nodiscard]] std::size_t memory_bytes() const noexcept;

 private:
  friend class state_store;
  struct impl;
  std::unique_ptr<impl> impl_;
};

enum class open_mode {
  create,         ///< create the file and the job when missing (upload)
  open_existing,  ///< both must exist (status, export, failures); a missing one is not_found
};

class state_store {
 public:
  /// Opens or creates the state file at `path` for the job `job_key` (make_job_key). Blocks on
  /// disk I/O. Cheap checks only (never a full scan, so it stays fast for big files): the
  /// 16-byte SQLite magic from the raw header, then through SQLite the application_id, the
  /// user_version (newer than state_schema_version is an error) and the schema table (the ximup
  /// tables must be there; reading it fails on a damaged first page). A foreign, damaged or newer
  /// file is an error naming it; it is never overwritten or started over. Damage deeper in the
  /// file shows as `corrupt` from the operation that reads it (check_integrity() looks for it).
  [[nodiscard]] static state_result<state_store> open(const std::string& path, std::string_view job_key,
                                                      open_mode mode = open_mode::create);

  /// Movable (not while other threads use it); a moved-from store may only be destroyed or
  /// assigned to. The destructor ends nothing: a run not ended shows as "crashed" later.
  state_store(state_store&&) noexcept;
  state_store& operator=(state_store&&) noexcept;
  ~state_store();

  [[nodiscard]] const std::string& path() const noexcept;
  [[nodiscard]] std::int64_t job_id() const noexcept;
  /// When this open added the job to a file that held other jobs with an input done: those
  /// ("2 job(s): URL, URL"); else "". A run that starts a new job beside others usually spelled its endpoint
  /// differently (a trailing slash, a port) and would send everything again: worth a warning.
  [[nodiscard]] const std::string& jobs_beside() const noexcept;

  /// Takes the run lock: flock(LOCK_EX | LOCK_NB) on `<path>.lock`, which the kernel releases when
  /// this process dies, so a crash never leaves a stale lock. Writes this pid and the start time
  /// into the lock file. Never blocks. `locked`, naming the holder's pid and start time, when
  /// another process (or another state_store in this process) holds it. Idempotent.
  [[nodiscard]] state_status try_lock();
  /// Releases the run lock (the destructor does too). The lock file itself stays: removing it
  /// would race with a process that is just opening it.
  void unlock() noexcept;
  [[nodiscard]] bool locked() const noexcept;
  /// The run lock now: whether any process (this one included) holds it, read from /proc/locks
  /// without touching the lock (a probing flock would make a run that starts at that instant fail
  /// as locked), and the pid its holder wrote into the lock file (0 when unknown). A run row without
  /// an outcome is running only while the lock is held by its pid; the pid alone cannot tell (in a
  /// container ximup is pid 1, which always exists), nor the lock alone (`prune` takes it too).
  /// nullopt when /proc/locks cannot be read.
  struct run_lock_now {
    bool held = false;
    std::int64_t pid = 0;
  };
  [[nodiscard]] std::optional<run_lock_now> lock_now() const;

  /// Starts a run (needs the lock): a runs row with `command` (a summary for `ximup status`), this
  /// pid and the time. Earlier runs left unended (crashed, killed) get the outcome "crashed".
  [[nodiscard]] state_result<std::int64_t> begin_run(std::string_view command);
  /// Ends the run `run_id` (the one begin_run returned) with the caller's counts and an outcome
  /// word ("completed", "interrupted", "stopped: auth", ...).
  [[nodiscard]] state_status end_run(std::int64_t run_id, const run_counts& counts, std::string_view outcome);
  /// The current run, 0 when none.
  [[nodiscard]] std::int64_t run_id() const noexcept;

  /// Records `inputs` as pending in the current run, before they are sent: inserts new ones,
  /// replaces size, mtime and hash of known ones, clears their reason. One transaction: all or
  /// nothing.
  [[nodiscard]] state_status mark_pending(std::span<const pending_input> inputs);
  /// Replaces the recorded size, mtime and hash of known `inputs`, leaving their status, reason and
  /// run alone (checksum mode: a file whose content is unchanged under a new mtime, or that was
  /// recorded without a hash, is skipped and gets its current facts, so that later runs compare
  /// against them). Unknown paths are ignored. One transaction.
  [[nodiscard]] state_status refresh_facts(std::span<const pending_input> inputs);
  /// Records the results of one response in one transaction: all or nothing. Every input must
  /// have been marked pending in the current run (misuse otherwise; nothing is written).
  [[nodiscard]] state_status record_results(std::span<const input_result> results);

  /// Removes the inputs `paths` from this job (`ximup prune`: inputs whose files are gone). Needs
  /// the run lock, not a run. One transaction: all or nothing. The value is how many rows went
  /// (paths the job does not hold are ignored).
  [[nodiscard]] state_result<std::uint64_t> forget(std::span<const std::string> paths);

  /// The latest state of `path` in this job (one prepared point query on the primary key). While
  /// this store holds the run lock, consecutive lookups share one read transaction (nobody else
  /// can write inputs then), which makes them about 3x cheaper; the next write ends it. For a
  /// decision per scanned file prefer load_index().
  [[nodiscard]] state_result<state_entry> lookup(std::string_view path);
  /// A snapshot of every input of the job (streams the rows once). With `with_hashes`, recorded
  /// SHA-256 hashes are kept too (checksum mode).
  [[nodiscard]] state_result<state_index> load_index(bool with_hashes = false);

  /// Inputs of the job per status.
  [[nodiscard]] state_result<status_counts> counts();
  /// Inputs of the job left pending or retryable by runs before `run_id` that run `run_id` did not
  /// touch (a list run names only what it lists: these wait for a list that names them).
  [[nodiscard]] state_result<std::uint64_t> unfinished_before(std::int64_t run_id);
  /// Calls `visit` for each input of the job whose status is in `only` (every input when empty),
  /// in path byte order, streaming (one row in memory). `visit` returns false to stop early. The
  /// store is locked during the call: `visit` must not call this store.
  [[nodiscard]] state_status for_each_entry(const std::function<bool(const state_entry&)>& visit,
                                            std::span<const input_status> only = {});
  /// The last `limit` runs of the job, newest first.
  [[nodiscard]] state_result<std::vector<run_info>> last_runs(std::size_t limit = 10);

  /// Full check: PRAGMA integrity_check (`full`) or quick_check. Reads the whole file: seconds for
  /// big files, so only on request (`ximup status --check`) and in tests.
  [[nodiscard]] state_status check_integrity(bool full = false);

 private:
  struct impl;
  explicit state_store(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

/// The `ximup export` JSON line for `entry`, ending in '\n': `path` (json_escape.hpp rules),
/// `status`, `attempts`, `bytes`, `mtime_ns`, `sha256` (lower-case hex, when recorded), `reason`
/// (when not empty), `run`, `updated` (UTC, ISO 8601). Pure; thread-safe.
[[nodiscard]] std::string format_export_line(const state_entry& entry);

/// Whether the text of /proc/locks lists a flock on the file of inode `inode` (matched by inode
/// alone: overlayfs shows the lower file system's device there, not the one stat gives).
[[nodiscard]] bool proc_locks_list_flock(std::string_view proc_locks, std::uint64_t inode);

}  // namespace ximup
