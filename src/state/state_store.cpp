// state_store: SQLite in WAL mode, every write one transaction. See docs/state.md.
#include "ximup/state_store.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "run_lock.hpp"
#include "state_index_impl.hpp"
#include "ximup/json_escape.hpp"

namespace ximup {
namespace {

constexpr int busy_timeout_ms = 10'000;
constexpr char sqlite_magic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f',
                                   'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};

constexpr const char* schema_sql = R"sql(
CREATE TABLE jobs (
  job_id     INTEGER PRIMARY KEY,
  key_sha256 BLOB NOT NULL UNIQUE,
  key_text   TEXT NOT NULL,
  created    INTEGER NOT NULL
);
CREATE TABLE runs (
  run_id    INTEGER PRIMARY KEY,
  job_id    INTEGER NOT NULL,
  pid       INTEGER NOT NULL,
  started   INTEGER NOT NULL,
  ended     INTEGER,
  command   TEXT NOT NULL,
  outcome   TEXT,
  sent      INTEGER NOT NULL DEFAULT 0,
  ok        INTEGER NOT NULL DEFAULT 0,
  failed    INTEGER NOT NULL DEFAULT 0,
  retryable INTEGER NOT NULL DEFAULT 0,
  skipped   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_job ON runs (job_id, run_id);
CREATE TABLE inputs (
  job_id   INTEGER NOT NULL,
  path     BLOB NOT NULL,
  size     INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  status   INTEGER NOT NULL CHECK (status BETWEEN 0 AND 3),
  attempts INTEGER NOT NULL,
  updated  INTEGER NOT NULL,
  run_id   INTEGER NOT NULL,
  sha256   BLOB CHECK (sha256 IS NULL OR length(sha256) = 32),
  reason   TEXT,
  PRIMARY KEY (job_id, path)
) WITHOUT ROWID;
)sql";

constexpr const char* entry_columns =
    "path, size, mtime_ns, status, attempts, updated, run_id, sha256, reason";

struct stmt_deleter {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_deleter>;

// Resets a statement when the scope ends, however it ends, so cached statements hold no locks.
class stmt_use {
 public:
  explicit stmt_use(sqlite3_stmt* s) noexcept : s_(s) {}
  ~stmt_use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  stmt_use(const stmt_use&) = delete;
  stmt_use& operator=(const stmt_use&) = delete;

 private:
  sqlite3_stmt* s_;
};

std::int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void bind_i64(sqlite3_stmt* s, int i, std::int64_t v) {
  sqlite3_bind_int64(s, i, static_cast<sqlite3_int64>(v));
}
void bind_u64(sqlite3_stmt* s, int i, std::uint64_t v) {
  sqlite3_bind_int64(s, i, static_cast<sqlite3_int64>(v));
}

// Binds bytes as a BLOB; an empty view becomes an empty BLOB, never NULL.
void bind_blob(sqlite3_stmt* s, int i, std::string_view bytes) {
  if (bytes.empty()) {
    sqlite3_bind_zeroblob(s, i, 0);
  } else {
    sqlite3_bind_blob64(s, i, bytes.data(), bytes.size(), SQLITE_STATIC);
  }
}

void bind_text(sqlite3_stmt* s, int i, std::string_view text) {
  sqlite3_bind_text64(s, i, text.empty() ? "" : text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

void bind_digest(sqlite3_stmt* s, int i, const std::optional<sha256_digest>& digest) {
  if (digest) {
    sqlite3_bind_blob(s, i, digest->data(), static_cast<int>(digest->size()), SQLITE_STATIC);
  } else {
    sqlite3_bind_null(s, i);
  }
}

std::string column_bytes(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);  // before sqlite3_column_bytes, as SQLite asks
  const int n = sqlite3_column_bytes(s, i);
  if (p == nullptr || n <= 0) return {};
  return std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::int64_t column_i64(sqlite3_stmt* s, int i) {
  return static_cast<std::int64_t>(sqlite3_column_int64(s, i));
}
std::uint64_t column_u64(sqlite3_stmt* s, int i) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(s, i));
}

std::optional<sha256_digest> column_digest(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) != SQLITE_BLOB) return std::nullopt;
  const void* p = sqlite3_column_blob(s, i);
  if (p == nullptr || sqlite3_column_bytes(s, i) != 32) return std::nullopt;
  sha256_digest d;
  std::memcpy(d.data(), p, d.size());
  return d;
}

input_status column_status(sqlite3_stmt* s, int i) {
  const auto v = sqlite3_column_int(s, i);
  return v >= 0 && v <= 3 ? static_cast<input_status>(v) : input_status::pending;
}

// Reads the columns of `entry_columns`, starting at column 0.
state_entry read_entry(sqlite3_stmt* s) {
  state_entry e;
  e.path = column_bytes(s, 0);
  e.record.size = column_u64(s, 1);
  e.record.mtime_ns = column_i64(s, 2);
  e.record.status = column_status(s, 3);
  e.attempts = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
  e.updated_unix = column_i64(s, 5);
  e.run_id = column_i64(s, 6);
  e.record.content_hash = column_digest(s, 7);
  e.reason = column_bytes(s, 8);
  return e;
}

std::string sha256_of(std::string_view text) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(text.data(), text.size(), out, &n, EVP_sha256(), nullptr) != 1) return std::string(text);
  return std::string(reinterpret_cast<const char*>(out), n);
}

// The first line of a job key (its URL), for messages.
std::string_view key_summary(std::string_view key) {
  return key.substr(0, key.find('\n'));
}

// Which I/O operation failed, from SQLite's extended code, and the system error when known.
std::string io_detail(int rc, int sys) {
  std::string what;
  switch (rc) {
    case SQLITE_IOERR_READ:
    case SQLITE_IOERR_SHORT_READ:
      what = "a read failed";
      break;
    case SQLITE_IOERR_WRITE:
      what = "a write failed";
      break;
    case SQLITE_IOERR_FSYNC:
    case SQLITE_IOERR_DIR_FSYNC:
      what = "fsync failed";
      break;
    case SQLITE_IOERR_TRUNCATE:
      what = "truncating failed";
      break;
    case SQLITE_IOERR_SHMOPEN:
    case SQLITE_IOERR_SHMSIZE:
    case SQLITE_IOERR_SHMMAP:
      what = "the -shm file failed";
      break;
    default:
      break;
  }
  if (sys != 0) what += (what.empty() ? "" : ": ") + std::string(std::strerror(sys));
  return what.empty() ? std::string() : " (" + what + ")";
}

// What SQLite's `rc` means for the user of the state file `path`.
state_status sqlite_status(sqlite3* db, int rc, const std::string& path, std::string_view doing) {
  const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int sys = db != nullptr ? sqlite3_system_errno(db) : 0;
  const std::string file = "the state file '" + path + "'";
  const std::string during = doing.empty() ? std::string() : " while " + std::string(doing);
  switch (rc & 0xFF) {
    case SQLITE_FULL:
      return {state_errc::disk_full,
              "cannot write " + file + during +
                  ": the disk is full; the state keeps every batch committed before: free "
                  "some space and run again"};
    case SQLITE_IOERR:
      if (sys == ENOSPC || sys == EDQUOT) {
        return {state_errc::disk_full, "cannot write " + file + during + ": " + std::strerror(sys) +
                                           "; the state keeps every batch committed before: free some space "
                                           "and run again"};
      }
      return {state_errc::io, "I/O error on " + file + during + ": " + msg + io_detail(rc, sys) +
                                  " (check the disk, and the file size limit: ulimit -f)"};
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return {state_errc::corrupt, file + " is damaged (" + msg + during +
                                       "); ximup will not overwrite it: move it aside to start a fresh state "
                                       "(every input is sent again) or restore a backup"};
    case SQLITE_READONLY:
      return {state_errc::io,
              "cannot write " + file + ": " + msg +
                  " (check the permissions of the file, its -wal and -shm files and its directory)"};
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return {state_errc::io, "cannot open " + file + ": " + msg +
                                  (sys != 0 ? std::string(" (") + std::strerror(sys) + ")" : std::string())};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return {state_errc::io, file + " stayed busy for " + std::to_string(busy_timeout_ms / 1000) + " s" +
                                  during + " (another process is using it)"};
    default:
      return {state_errc::io, file + ": " + msg + during};
  }
}

// Prepares, binds with `bind`, and steps `sql` to its end; rows are ignored.
template <class Bind>
int run_sql(sqlite3* db, const char* sql, Bind&& bind) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) return rc;
  bind(s.get());
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

}  // namespace

struct state_store::impl {
  std::string path;
  std::string lock_path;
  sqlite3* db = nullptr;
  std::int64_t job_id = 0;
  std::string jobs_beside;  // the jobs the file held when this open added job_id ("" if none)
  std::atomic<std::int64_t> run_id{0};
  std::atomic<bool> lock_held{false};
  run_lock lock;  // released in ~impl after the connection closes (its last checkpoint included)
  std::mutex mutex;
  stmt_ptr st_pending;
  stmt_ptr st_result;
  stmt_ptr st_lookup;
  // lookup()s share one read transaction while this store holds the run lock (docs/state.md).
  bool read_open = false;

  ~impl() {
    end_read();
    st_pending.reset();
    st_result.reset();
    st_lookup.reset();
    if (db != nullptr) sqlite3_close_v2(db);  // the last connection checkpoints and removes the WAL
    lock.release();
  }

  state_status error(int rc, std::string_view doing) const { return sqlite_status(db, rc, path, doing); }

  // Ends the read transaction lookups share, so that a write or another reader sees fresh data.
  void end_read() noexcept {
    if (!read_open) return;
    read_open = false;
    if (sqlite3_get_autocommit(db) == 0 &&
        sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);  // a read transaction: nothing to lose
    }
  }

  state_status prepare(const std::string& sql, stmt_ptr& out) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    out.reset(raw);
    return rc == SQLITE_OK ? state_status{} : error(rc, "preparing statements");
  }

  // A query that returns one integer (a pragma, a count), its parameters bound by `bind`.
  template <class Bind = void (*)(sqlite3_stmt*)>
  state_status query_int(
      const char* sql, std::int64_t& out, std::string_view doing, Bind&& bind = [](sqlite3_stmt*) {}) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) return error(rc, doing);
    bind(s.get());
    rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return error(rc == SQLITE_DONE ? SQLITE_CORRUPT : rc, doing);
    out = column_i64(s.get(), 0);
    return {};
  }

  // Runs `body` (returning state_status) in one transaction: commits on success, rolls back on
  // any failure (SQLite may already have rolled back after SQLITE_FULL or SQLITE_IOERR).
  template <class Body>
  state_status transaction(std::string_view doing, Body&& body, const char* begin = "BEGIN IMMEDIATE") {
    end_read();
    int rc = sqlite3_exec(db, begin, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return error(rc, doing);
    state_status st = body();
    if (st) {
      rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) return st;
      st = error(rc, doing);
    }
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  }

  // Writes need the run lock (begin_run, forget) and, for inputs, a run (check_writable).
  state_status check_locked(std::string_view what) const {
    if (!lock_held.load()) {
      return {state_errc::misuse,
              std::string(what) + " on the state file '" + path + "' needs the run lock (try_lock)"};
    }
    return {};
  }

  state_status check_writable(std::string_view what) const {
    if (auto st = check_locked(what); !st) return st;
    if (run_id.load() == 0) {
      return {state_errc::misuse,
              std::string(what) + " on the state file '" + path + "' needs a run (begin_run)"};
    }
    return {};
  }

  state_status identify_and_setup(open_mode mode);
  state_status create_schema();
  state_status find_job(std::string_view job_key, open_mode mode);
  state_status prepare_all();
};

state_status state_store::impl::identify_and_setup(open_mode mode) {
  std::int64_t app_id = 0;
  std::int64_t version = 0;
  std::int64_t objects = 0;
  if (auto st = query_int("PRAGMA application_id", app_id, "reading its header"); !st) return st;
  if (auto st = query_int("PRAGMA user_version", version, "reading its header"); !st) return st;
  if (auto st = query_int("SELECT count(*) FROM sqlite_schema", objects, "reading its schema"); !st)
    return st;

  bool fresh = false;
  if (app_id == state_application_id) {
    if (version > state_schema_version) {
      return {state_errc::newer_schema, "the state file '" + path +
                                            "' was written by a newer ximup (schema version " +
                                            std::to_string(version) + ", this ximup knows up to " +
                                            std::to_string(state_schema_version) +
                                            "); upgrade ximup, or give this run another --state file"};
    }
    if (version < 1) {
      return {state_errc::corrupt, "the state file '" + path +
                                       "' is damaged (a ximup file without a schema version); ximup will not "
                                       "overwrite it: move it aside to start a fresh state"};
    }
    // Same version: the ximup tables must be there (reading the schema table also catches a
    // damaged first page).
    std::set<std::string> tables;
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type = 'table'", -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) return error(rc, "reading its schema");
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) tables.insert(column_bytes(s.get(), 0));
    if (rc != SQLITE_DONE) return error(rc, "reading its schema");
    for (const char* name : {"jobs", "runs", "inputs"}) {
      if (!tables.contains(name)) {
        return {state_errc::corrupt,
                "the state file '" + path + "' is damaged (table '" + name +
                    "' is missing); ximup will not overwrite it: move it aside to start a "
                    "fresh state"};
      }
    }
  } else if (app_id == 0 && version == 0 && objects == 0) {
    fresh = true;
  } else {
    return {state_errc::not_a_state_file,
            "'" + path +
                "' is not a ximup state file (an SQLite database of another application, application_id " +
                std::to_string(app_id) + "); ximup will not touch it: give --state another file name"};
  }
  if (fresh && mode == open_mode::open_existing) {
    return {state_errc::not_found, "the state file '" + path +
                                       "' holds no ximup state yet (an upload with --state "
                                       "fills it)"};
  }

  // Only now, with the file known to be ours or empty, change its journal mode.
  {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) return error(rc, "switching to WAL mode");
    rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW) return error(rc, "switching to WAL mode");
    const std::string journal = column_bytes(s.get(), 0);
    if (journal != "wal") {
      return {state_errc::io, "cannot use write-ahead logging for the state file '" + path +
                                  "' (journal mode '" + journal +
                                  "'): put the state file on a local file system"};
    }
  }
  // NORMAL in WAL mode: commits survive a crash of the process; a power loss may undo the last
  // commits but never corrupts the file (docs/state.md).
  if (const int rc = sqlite3_exec(db,
                                  "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 16777216; "
                                  "PRAGMA foreign_keys = OFF",
                                  nullptr, nullptr, nullptr);
      rc != SQLITE_OK) {
    return error(rc, "setting it up");
  }
  return fresh ? create_schema() : state_status{};
}

state_status state_store::impl::create_schema() {
  return transaction("creating it", [&]() -> state_status {
    // Another process may have created it since we looked.
    std::int64_t app_id = 0;
    std::int64_t objects = 0;
    if (auto st = query_int("PRAGMA application_id", app_id, "creating it"); !st) return st;
    if (auto st = query_int("SELECT count(*) FROM sqlite_schema", objects, "creating it"); !st) return st;
    if (app_id == state_application_id) return {};
    if (app_id != 0 || objects != 0) {
      return {state_errc::not_a_state_file, "'" + path +
                                                "' is not a ximup state file (another program created "
                                                "it at the same time); give --state another file name"};
    }
    const std::string sql = std::string(schema_sql) +
                            "PRAGMA application_id = " + std::to_string(state_application_id) +
                            "; PRAGMA user_version = " + std::to_string(state_schema_version) + ";";
    if (const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr); rc != SQLITE_OK) {
      return error(rc, "creating it");
    }
    return {};
  });
}

state_status state_store::impl::find_job(std::string_view job_key, open_mode mode) {
  const std::string key_hash = sha256_of(job_key);
  const auto select = [&]() -> state_status {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, "SELECT job_id FROM jobs WHERE key_sha256 = ?1", -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) return error(rc, "reading its jobs");
    bind_blob(s.get(), 1, key_hash);
    rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW) {
      job_id = column_i64(s.get(), 0);
    } else if (rc != SQLITE_DONE) {
      return error(rc, "reading its jobs");
    }
    return {};
  };
  if (auto st = select(); !st || job_id != 0) return st;
  // The jobs `sql` selects, named by their endpoint URLs (three at most, then a count): their number.
  const auto list_jobs = [this](const char* sql, std::string& names) -> state_result<std::int64_t> {
    state_result<std::int64_t> jobs;
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) {
      jobs.status = error(rc, "reading its jobs");
      return jobs;
    }
    std::int64_t count = 0;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      if (++count > 3) continue;
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s.get(), 0));
      names += (count > 1 ? ", " : "") + std::string(key_summary(text != nullptr ? text : ""));
    }
    if (rc != SQLITE_DONE) {
      jobs.status = error(rc, "reading its jobs");
      return jobs;
    }
    if (count > 3) names += ", and " + std::to_string(count - 3) + " more";
    jobs.value = count;
    return jobs;
  };
  // Name the jobs it does hold, so the user sees which --endpoint/--api-base the upload used.
  std::string recorded;
  const auto all = list_jobs("SELECT key_text FROM jobs ORDER BY job_id", recorded);
  if (!all.value) return all.status;
  const std::int64_t jobs = *all.value;
  if (mode == open_mode::open_existing) {
    return {state_errc::not_found,
            "the state file '" + path + "' has no job for " + std::string(key_summary(job_key)) +
                " with these endpoint fields; it records " +
                (jobs == 0 ? std::string("no job yet") : std::to_string(jobs) + " job(s): " + recorded) +
                ". Pass the --endpoint, --api-base and --field options the upload used"};
  }
  if (jobs > 0) {
    // Jobs with an input done only: a run stopped at once by a mistyped endpoint (a 404) leaves a
    // job of retryable inputs behind, and the corrected run must not be told to spell its endpoint
    // like that one.
    std::string with_inputs;
    const auto used = list_jobs(
        "SELECT key_text FROM jobs WHERE EXISTS (SELECT 1 FROM inputs WHERE inputs.job_id = jobs.job_id AND "
        "inputs.status = 1) ORDER BY job_id",
        with_inputs);
    if (!used.value) return used.status;
    if (*used.value > 0) jobs_beside = std::to_string(*used.value) + " job(s): " + with_inputs;
  }
  return transaction("adding a job", [&]() -> state_status {
    const int rc =
        run_sql(db, "INSERT OR IGNORE INTO jobs (key_sha256, key_text, created) VALUES (?1, ?2, ?3)",
                [&](sqlite3_stmt* s) {
                  bind_blob(s, 1, key_hash);
                  bind_text(s, 2, job_key);
                  bind_i64(s, 3, now_unix());
                });
    if (rc != SQLITE_OK) return error(rc, "adding a job");
    return select();
  });
}

state_status state_store::impl::prepare_all() {
  if (auto st = prepare(
          "INSERT INTO inputs (job_id, path, size, mtime_ns, status, attempts, updated, run_id, sha256, "
          "reason) "
          "VALUES (?1, ?2, ?3, ?4, 0, 0, ?5, ?6, ?7, NULL) "
          "ON CONFLICT (job_id, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, "
          "status = 0, updated = excluded.updated, run_id = excluded.run_id, sha256 = excluded.sha256, "
          "reason = NULL",
          st_pending);
      !st) {
    return st;
  }
  if (auto st = prepare("UPDATE inputs SET status = ?1, reason = ?2, attempts = ?3, updated = ?4 "
                        "WHERE job_id = ?5 AND path = ?6 AND run_id = ?7",
                        st_result);
      !st) {
    return st;
  }
  return prepare(std::string("SELECT ") + entry_columns + " FROM inputs WHERE job_id = ?1 AND path = ?2",
                 st_lookup);
}

state_store::state_store(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
state_store::state_store(state_store&&) noexcept = default;
state_store& state_store::operator=(state_store&&) noexcept = default;
state_store::~state_store() = default;

state_result<state_store> state_store::open(const std::string& path, std::string_view job_key,
                                            open_mode mode) {
  state_result<state_store> result;
  auto im = std::make_unique<impl>();
  im->path = path;
  // The lock sits beside the real file: a symlink to the state (or another spelling of its path)
  // must find the same lock, or two runs would share one state.
  std::error_code canonical_error;
  const auto real_path = std::filesystem::weakly_canonical(path, canonical_error);
  im->lock_path = (canonical_error ? path : real_path.string()) + ".lock";

  // The raw header first: a file that is not SQLite at all is refused before SQLite touches it.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    const int err = errno;
    if (err != ENOENT) {
      result.status = {state_errc::io, "cannot open the state file '" + path + "': " + std::strerror(err)};
      return result;
    }
    if (mode == open_mode::open_existing) {
      result.status = {state_errc::not_found,
                       "no state file '" + path + "' (an upload with --state creates it)"};
      return result;
    }
  } else if (!S_ISREG(info.st_mode)) {
    result.status = {state_errc::io, "the state file '" + path + "' is not a regular file"};
    return result;
  } else if (info.st_size > 0) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      result.status = {state_errc::io, "cannot open the state file '" + path + "': " + std::strerror(err)};
      return result;
    }
    char header[sizeof sqlite_magic] = {};
    const ssize_t n = ::pread(fd, header, sizeof header, 0);
    const int err = errno;
    ::close(fd);
    if (n < 0) {
      result.status = {state_errc::io, "cannot read the state file '" + path + "': " + std::strerror(err)};
      return result;
    }
    if (static_cast<std::size_t>(n) < sizeof header ||
        std::memcmp(header, sqlite_magic, sizeof header) != 0) {
      result.status = {state_errc::not_a_state_file,
                       "'" + path +
                           "' is not a ximup state file (not an SQLite database); ximup will not "
                           "overwrite it: give --state another file name"};
      return result;
    }
  }

  // A run writes the lock, the journal and (the first time) the file itself beside the state: a
  // directory it cannot write to is named here, where SQLite would only say "unable to open
  // database file" with an errno from its own probing (ENOENT for a read-only directory).
  if (mode == open_mode::create) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    const std::string dir = parent.empty() ? "." : parent.string();
    if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
      const int err = errno;
      result.status = {state_errc::io,
                       "cannot write the state file '" + path + "': its directory '" + dir + "' " +
                           (err == ENOENT ? std::string("does not exist")
                                          : std::string("is not writable (") + std::strerror(err) + ")") +
                           "; give --state a path in a writable directory, or --no-state"};
      return result;
    }
  }

  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                    (mode == open_mode::create ? SQLITE_OPEN_CREATE : 0);
  if (const int rc = sqlite3_open_v2(path.c_str(), &im->db, flags, nullptr); rc != SQLITE_OK) {
    result.status = im->error(rc, "");
    return result;
  }
  sqlite3_busy_timeout(im->db, busy_timeout_ms);
  if (auto st = im->identify_and_setup(mode); !st) {
    result.status = std::move(st);
    return result;
  }
  if (auto st = im->find_job(job_key, mode); !st) {
    result.status = std::move(st);
    return result;
  }
  if (auto st = im->prepare_all(); !st) {
    result.status = std::move(st);
    return result;
  }
  result.value = state_store(std::move(im));
  return result;
}

const std::string& state_store::path() const noexcept {
  return impl_->path;
}
std::int64_t state_store::job_id() const noexcept {
  return impl_->job_id;
}
const std::string& state_store::jobs_beside() const noexcept {
  return impl_->jobs_beside;
}
std::int64_t state_store::run_id() const noexcept {
  return impl_->run_id.load();
}
bool state_store::locked() const noexcept {
  return impl_->lock_held.load();
}

std::optional<state_store::run_lock_now> state_store::lock_now() const {
  struct stat st {};
  if (::stat(impl_->lock_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return run_lock_now{};  // never locked
    return std::nullopt;
  }
  std::ifstream in("/proc/locks");
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  run_lock_now now;
  now.held = proc_locks_list_flock(text.str(), static_cast<std::uint64_t>(st.st_ino));
  if (now.held) now.pid = run_lock::holder_pid(impl_->lock_path);
  return now;
}

bool proc_locks_list_flock(std::string_view proc_locks, std::uint64_t inode) {
  // "1: FLOCK  ADVISORY  WRITE 1234 08:02:5243190 0 EOF": the sixth field is MAJOR:MINOR:INODE; lines
  // of waiters start "1: -> FLOCK ..." and name the same file, so they are matched too (harmless).
  std::size_t start = 0;
  while (start < proc_locks.size()) {
    std::size_t end = proc_locks.find('\n', start);
    if (end == std::string_view::npos) end = proc_locks.size();
    const std::string_view line = proc_locks.substr(start, end - start);
    start = end + 1;
    if (line.find(" FLOCK ") == std::string_view::npos) continue;
    std::istringstream fields{std::string(line)};
    for (std::string field; fields >> field;) {
      const std::size_t last_colon = field.rfind(':');
      if (std::count(field.begin(), field.end(), ':') != 2 || last_colon + 1 >= field.size()) continue;
      std::uint64_t value = 0;
      const char* first = field.data() + last_colon + 1;
      const auto [ptr, ec] = std::from_chars(first, field.data() + field.size(), value);
      if (ec == std::errc{} && ptr == field.data() + field.size() && value == inode) return true;
    }
  }
  return false;
}

state_status state_store::try_lock() {
  std::lock_guard guard(impl_->mutex);
  auto st = impl_->lock.try_acquire(impl_->lock_path, impl_->path);
  impl_->lock_held = impl_->lock.held();
  return st;
}

void state_store::unlock() noexcept {
  std::lock_guard guard(impl_->mutex);
  impl_->end_read();
  impl_->lock.release();
  impl_->lock_held = false;
}

state_result<std::int64_t> state_store::begin_run(std::string_view command) {
  std::lock_guard guard(impl_->mutex);
  state_result<std::int64_t> result;
  if (auto st = impl_->check_locked("begin_run"); !st) {
    result.status = std::move(st);
    return result;
  }
  if (impl_->run_id.load() != 0) {
    result.status = {state_errc::misuse, "begin_run on the state file '" + impl_->path + "': run " +
                                             std::to_string(impl_->run_id.load()) + " has not ended"};
    return result;
  }
  sqlite3* db = impl_->db;
  std::int64_t id = 0;
  result.status = impl_->transaction("starting a run", [&]() -> state_status {
    // We hold the run lock, so a run without an end is one that died.
    int rc = sqlite3_exec(db, "UPDATE runs SET outcome = 'crashed' WHERE ended IS NULL AND outcome IS NULL",
                          nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return impl_->error(rc, "starting a run");
    rc = run_sql(db, "INSERT INTO runs (job_id, pid, started, command) VALUES (?1, ?2, ?3, ?4)",
                 [&](sqlite3_stmt* s) {
                   bind_i64(s, 1, impl_->job_id);
                   bind_i64(s, 2, ::getpid());
                   bind_i64(s, 3, now_unix());
                   bind_text(s, 4, command);
                 });
    if (rc != SQLITE_OK) return impl_->error(rc, "starting a run");
    id = static_cast<std::int64_t>(sqlite3_last_insert_rowid(db));
    return {};
  });
  if (result.status) {
    impl_->run_id = id;
    result.value = id;
  }
  return result;
}

state_status state_store::end_run(std::int64_t run_id, const run_counts& counts, std::string_view outcome) {
  std::lock_guard guard(impl_->mutex);
  if (run_id == 0 || run_id != impl_->run_id.load()) {
    return {state_errc::misuse, "end_run on the state file '" + impl_->path + "': run " +
                                    std::to_string(run_id) + " is not the current run"};
  }
  sqlite3* db = impl_->db;
  auto st = impl_->transaction("ending a run", [&]() -> state_status {
    const int rc =
        run_sql(db,
                "UPDATE runs SET ended = ?1, outcome = ?2, sent = ?3, ok = ?4, failed = ?5, retryable = ?6, "
                "skipped = ?7 WHERE run_id = ?8",
                [&](sqlite3_stmt* s) {
                  bind_i64(s, 1, now_unix());
                  bind_text(s, 2, outcome);
                  bind_u64(s, 3, counts.sent);
                  bind_u64(s, 4, counts.ok);
                  bind_u64(s, 5, counts.failed);
                  bind_u64(s, 6, counts.retryable);
                  bind_u64(s, 7, counts.skipped);
                  bind_i64(s, 8, run_id);
                });
    return rc == SQLITE_OK ? state_status{} : impl_->error(rc, "ending a run");
  });
  if (st) impl_->run_id = 0;
  return st;
}

state_status state_store::mark_pending(std::span<const pending_input> inputs) {
  std::lock_guard guard(impl_->mutex);
  if (auto st = impl_->check_writable("mark_pending"); !st) return st;
  for (const auto& in : inputs) {
    if (in.path.empty())
      return {state_errc::misuse, "mark_pending on the state file '" + impl_->path + "': empty path"};
  }
  const std::int64_t updated = now_unix();
  sqlite3_stmt* s = impl_->st_pending.get();
  return impl_->transaction("marking inputs pending", [&]() -> state_status {
    for (const auto& in : inputs) {
      stmt_use use(s);
      bind_i64(s, 1, impl_->job_id);
      bind_blob(s, 2, in.path);
      bind_u64(s, 3, in.size);
      bind_i64(s, 4, in.mtime_ns);
      bind_i64(s, 5, updated);
      bind_i64(s, 6, impl_->run_id.load());
      bind_digest(s, 7, in.content_hash);
      if (const int rc = sqlite3_step(s); rc != SQLITE_DONE)
        return impl_->error(rc, "marking inputs pending");
    }
    return {};
  });
}

state_status state_store::refresh_facts(std::span<const pending_input> inputs) {
  std::lock_guard guard(impl_->mutex);
  if (auto st = impl_->check_writable("refresh_facts"); !st) return st;
  sqlite3* db = impl_->db;
  return impl_->transaction("recording current file facts", [&]() -> state_status {
    sqlite3_stmt* raw = nullptr;
    const int prc = sqlite3_prepare_v2(
        db, "UPDATE inputs SET size = ?1, mtime_ns = ?2, sha256 = ?3 WHERE job_id = ?4 AND path = ?5", -1,
        &raw, nullptr);
    stmt_ptr s(raw);
    if (prc != SQLITE_OK) return impl_->error(prc, "recording current file facts");
    for (const auto& in : inputs) {
      stmt_use use(s.get());
      bind_u64(s.get(), 1, in.size);
      bind_i64(s.get(), 2, in.mtime_ns);
      bind_digest(s.get(), 3, in.content_hash);
      bind_i64(s.get(), 4, impl_->job_id);
      bind_blob(s.get(), 5, in.path);
      if (const int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) {
        return impl_->error(rc, "recording current file facts");
      }
    }
    return {};
  });
}

state_status state_store::record_results(std::span<const input_result> results) {
  std::lock_guard guard(impl_->mutex);
  if (auto st = impl_->check_writable("record_results"); !st) return st;
  for (const auto& r : results) {
    if (r.status == input_status::pending || r.path.empty()) {
      return {state_errc::misuse,
              "record_results on the state file '" + impl_->path + "': " +
                  (r.path.empty() ? std::string("empty path") : "status pending for " + json_string(r.path))};
    }
  }
  const std::int64_t updated = now_unix();
  sqlite3* db = impl_->db;
  sqlite3_stmt* s = impl_->st_result.get();
  return impl_->transaction("recording results", [&]() -> state_status {
    for (const auto& r : results) {
      stmt_use use(s);
      sqlite3_bind_int(s, 1, static_cast<int>(r.status));
      if (r.status == input_status::ok || r.reason.empty()) {
        sqlite3_bind_null(s, 2);
      } else {
        bind_text(s, 2, r.reason);
      }
      bind_i64(s, 3, static_cast<std::int64_t>(r.attempts));
      bind_i64(s, 4, updated);
      bind_i64(s, 5, impl_->job_id);
      bind_blob(s, 6, r.path);
      bind_i64(s, 7, impl_->run_id.load());
      if (const int rc = sqlite3_step(s); rc != SQLITE_DONE) return impl_->error(rc, "recording results");
      if (sqlite3_changes(db) == 0) {
        return {state_errc::misuse,
                "record_results on the state file '" + impl_->path + "': input " + json_string(r.path) +
                    " was not marked pending in this run; nothing of this batch was written"};
      }
    }
    return {};
  });
}

state_result<std::uint64_t> state_store::forget(std::span<const std::string> paths) {
  std::lock_guard guard(impl_->mutex);
  state_result<std::uint64_t> result;
  if (auto st = impl_->check_locked("forget"); !st) {
    result.status = std::move(st);
    return result;
  }
  sqlite3* db = impl_->db;
  std::uint64_t removed = 0;
  result.status = impl_->transaction("removing inputs", [&]() -> state_status {
    sqlite3_stmt* raw = nullptr;
    const int prc =
        sqlite3_prepare_v2(db, "DELETE FROM inputs WHERE job_id = ?1 AND path = ?2", -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (prc != SQLITE_OK) return impl_->error(prc, "removing inputs");
    for (const auto& p : paths) {
      stmt_use use(s.get());
      bind_i64(s.get(), 1, impl_->job_id);
      bind_blob(s.get(), 2, p);
      if (const int rc = sqlite3_step(s.get()); rc != SQLITE_DONE) return impl_->error(rc, "removing inputs");
      removed += static_cast<std::uint64_t>(sqlite3_changes(db));
    }
    return {};
  });
  if (result.status.ok()) result.value = removed;
  return result;
}

state_result<state_entry> state_store::lookup(std::string_view path) {
  std::lock_guard guard(impl_->mutex);
  state_result<state_entry> result;
  // While we hold the run lock nobody else writes inputs, so consecutive lookups may share one
  // read transaction: that saves the per-statement WAL read-lock syscalls (3x faster). Every
  // write, load_index and unlock() ends it first.
  if (impl_->lock_held.load() && !impl_->read_open && sqlite3_get_autocommit(impl_->db) != 0) {
    impl_->read_open = sqlite3_exec(impl_->db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  sqlite3_stmt* s = impl_->st_lookup.get();
  int rc = SQLITE_OK;
  {
    stmt_use use(s);
    bind_i64(s, 1, impl_->job_id);
    bind_blob(s, 2, path);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      result.value = read_entry(s);
    } else if (rc != SQLITE_DONE) {
      result.status = impl_->error(rc, "looking up an input");
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) impl_->end_read();
  return result;
}

state_result<state_index> state_store::load_index(bool with_hashes) {
  std::lock_guard guard(impl_->mutex);
  state_result<state_index> result;
  state_index index;
  sqlite3* db = impl_->db;
  // Streams (path, record) of every input of the job into `row`.
  const auto stream = [&](const auto& row) -> state_status {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(
        db,
        with_hashes ? "SELECT path, size, mtime_ns, status, sha256 FROM inputs WHERE job_id = ?1"
                    : "SELECT path, size, mtime_ns, status FROM inputs WHERE job_id = ?1",
        -1, &raw, nullptr);
    stmt_ptr s(raw);
    if (rc != SQLITE_OK) return impl_->error(rc, "loading the index");
    bind_i64(s.get(), 1, impl_->job_id);
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(s.get(), 0);
      const int n = sqlite3_column_bytes(s.get(), 0);
      const std::string_view path(p != nullptr ? static_cast<const char*>(p) : "",
                                  static_cast<std::size_t>(n));
      input_record r;
      r.size = column_u64(s.get(), 1);
      r.mtime_ns = column_i64(s.get(), 2);
      r.status = column_status(s.get(), 3);
      if (with_hashes) r.content_hash = column_digest(s.get(), 4);
      row(path, r);
    }
    return rc == SQLITE_DONE ? state_status{} : impl_->error(rc, "loading the index");
  };
  // A read transaction: both passes see the same snapshot.
  result.status = impl_->transaction(
      "loading the index",
      [&]() -> state_status {
        auto& im = *index.impl_;
        if (auto st =
                stream([&](std::string_view path, const input_record& r) { im.add(path, r, with_hashes); });
            !st) {
          return st;
        }
        const auto shared = im.finish();
        if (shared.empty()) return {};
        return stream(
            [&](std::string_view path, const input_record& r) { im.add_colliding(shared, path, r); });
      },
      "BEGIN");
  if (result.status) result.value = std::move(index);
  return result;
}

state_result<status_counts> state_store::counts() {
  std::lock_guard guard(impl_->mutex);
  state_result<status_counts> result;
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(
      impl_->db, "SELECT status, count(*) FROM inputs WHERE job_id = ?1 GROUP BY status", -1, &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) {
    result.status = impl_->error(rc, "counting inputs");
    return result;
  }
  bind_i64(s.get(), 1, impl_->job_id);
  status_counts c;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const std::uint64_t n = column_u64(s.get(), 1);
    switch (column_status(s.get(), 0)) {
      case input_status::pending:
        c.pending += n;
        break;
      case input_status::ok:
        c.ok += n;
        break;
      case input_status::failed:
        c.failed += n;
        break;
      case input_status::retryable:
        c.retryable += n;
        break;
    }
  }
  if (rc != SQLITE_DONE) {
    result.status = impl_->error(rc, "counting inputs");
  } else {
    result.value = c;
  }
  return result;
}

state_result<std::uint64_t> state_store::unfinished_before(std::int64_t run_id) {
  std::lock_guard guard(impl_->mutex);
  state_result<std::uint64_t> result;
  std::int64_t count = 0;
  result.status = impl_->query_int(
      "SELECT count(*) FROM inputs WHERE job_id = ?1 AND run_id < ?2 AND (status = ?3 OR status = ?4)", count,
      "counting unfinished inputs", [&](sqlite3_stmt* s) {
        bind_i64(s, 1, impl_->job_id);
        bind_i64(s, 2, run_id);
        bind_i64(s, 3, static_cast<std::int64_t>(input_status::pending));
        bind_i64(s, 4, static_cast<std::int64_t>(input_status::retryable));
      });
  if (result.status) result.value = static_cast<std::uint64_t>(count);
  return result;
}

state_status state_store::for_each_entry(const std::function<bool(const state_entry&)>& visit,
                                         std::span<const input_status> only) {
  std::lock_guard guard(impl_->mutex);
  std::int64_t mask = only.empty() ? 0xF : 0;
  for (const auto status : only) mask |= std::int64_t{1} << static_cast<unsigned>(status);
  sqlite3_stmt* raw = nullptr;
  const std::string sql = std::string("SELECT ") + entry_columns +
                          " FROM inputs WHERE job_id = ?1 AND ((?2 >> status) & 1) = 1 ORDER BY path";
  int rc = sqlite3_prepare_v2(impl_->db, sql.c_str(), -1, &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) return impl_->error(rc, "reading inputs");
  bind_i64(s.get(), 1, impl_->job_id);
  bind_i64(s.get(), 2, mask);
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    if (!visit(read_entry(s.get()))) return {};
  }
  return rc == SQLITE_DONE ? state_status{} : impl_->error(rc, "reading inputs");
}

state_result<std::vector<run_info>> state_store::last_runs(std::size_t limit) {
  std::lock_guard guard(impl_->mutex);
  state_result<std::vector<run_info>> result;
  sqlite3_stmt* raw = nullptr;
  int rc =
      sqlite3_prepare_v2(impl_->db,
                         "SELECT run_id, started, ended, pid, command, outcome, sent, ok, failed, retryable, "
                         "skipped FROM runs WHERE job_id = ?1 ORDER BY run_id DESC LIMIT ?2",
                         -1, &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) {
    result.status = impl_->error(rc, "reading runs");
    return result;
  }
  bind_i64(s.get(), 1, impl_->job_id);
  bind_u64(s.get(), 2, limit);
  std::vector<run_info> runs;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    run_info r;
    r.run_id = column_i64(s.get(), 0);
    r.started_unix = column_i64(s.get(), 1);
    r.ended_unix = column_i64(s.get(), 2);
    r.pid = column_i64(s.get(), 3);
    r.command = column_bytes(s.get(), 4);
    r.outcome = column_bytes(s.get(), 5);
    r.counts = {column_u64(s.get(), 6), column_u64(s.get(), 7), column_u64(s.get(), 8),
                column_u64(s.get(), 9), column_u64(s.get(), 10)};
    runs.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) {
    result.status = impl_->error(rc, "reading runs");
    return result;
  }
  // A run that never wrote its end (killed, crashed, or running now) has no counts of its own: it
  // is shown with what the inputs it last recorded say (one pass over the job's inputs for all).
  std::string unended;
  for (const auto& r : runs) {
    if (r.ended_unix == 0) unended += (unended.empty() ? "" : ",") + std::to_string(r.run_id);
  }
  if (!unended.empty()) {
    const std::string sql = "SELECT run_id, status, count(*) FROM inputs WHERE job_id = ?1 AND run_id IN (" +
                            unended + ") GROUP BY run_id, status";
    raw = nullptr;
    rc = sqlite3_prepare_v2(impl_->db, sql.c_str(), -1, &raw, nullptr);
    stmt_ptr counts(raw);
    if (rc != SQLITE_OK) {
      result.status = impl_->error(rc, "reading runs");
      return result;
    }
    bind_i64(counts.get(), 1, impl_->job_id);
    while ((rc = sqlite3_step(counts.get())) == SQLITE_ROW) {
      const std::int64_t run = column_i64(counts.get(), 0);
      const auto status = static_cast<input_status>(column_i64(counts.get(), 1));
      const std::uint64_t n = column_u64(counts.get(), 2);
      for (auto& r : runs) {
        if (r.run_id != run) continue;
        r.counts_from_inputs = true;
        r.counts.sent += n;
        if (status == input_status::ok) r.counts.ok += n;
        if (status == input_status::failed) r.counts.failed += n;
        if (status == input_status::retryable) r.counts.retryable += n;
      }
    }
    if (rc != SQLITE_DONE) {
      result.status = impl_->error(rc, "reading runs");
      return result;
    }
  }
  result.value = std::move(runs);
  return result;
}

state_status state_store::check_integrity(bool full) {
  std::lock_guard guard(impl_->mutex);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(impl_->db, full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)", -1,
                              &raw, nullptr);
  stmt_ptr s(raw);
  if (rc != SQLITE_OK) return impl_->error(rc, "checking it");
  std::string problems;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    const std::string line = column_bytes(s.get(), 0);
    if (line == "ok") continue;
    problems += problems.empty() ? "" : "; ";
    problems += line;
  }
  if (rc != SQLITE_DONE) return impl_->error(rc, "checking it");
  if (!problems.empty()) {
    return {state_errc::corrupt, "the state file '" + impl_->path + "' is damaged (" + problems +
                                     "); ximup will not overwrite it: move it aside to start a fresh state"};
  }
  return {};
}

}  // namespace ximup
