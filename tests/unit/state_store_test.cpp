// Tests for state_store.hpp on real files: formats refused, the run lock across processes, the
// decision core, round trips of byte paths, export, size per file, speed, and SIGKILL / disk-full
// crash safety (forked children).
#include "ximup/state_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ximup/json_escape.hpp"

namespace {

namespace fs = std::filesystem;
using namespace ximup;

constexpr std::string_view key_a = "https://api.ximilar.com/tagging/generic/v2/tags\n,\"lang\":\"en\"";
constexpr std::string_view key_b = "https://api.ximilar.com/tagging/fashion/v2/tags\n";

// A directory from mkdtemp, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "ximup-state-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFFU);
  return s;
}

// Runs `sql` on `path` with the raw SQLite API (fixtures a ximup store would refuse to make).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  const std::string message = err != nullptr ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

state_store open_ok(const std::string& path, std::string_view key = key_a) {
  auto r = state_store::open(path, key);
  if (!r.value) throw std::runtime_error("open failed: " + r.status.message);
  return std::move(*r.value);
}

// Opens, locks and begins a run.
state_store open_run(const std::string& path, std::string_view key = key_a) {
  state_store s = open_ok(path, key);
  if (auto st = s.try_lock(); !st) throw std::runtime_error(st.message);
  if (auto run = s.begin_run("ximup upload test"); !run.value) throw std::runtime_error(run.status.message);
  return s;
}

pending_input pending(std::string_view path, std::uint64_t size = 100, std::int64_t mtime_ns = 7) {
  return pending_input{path, size, mtime_ns, std::nullopt};
}

input_result result(std::string_view path, input_status status, std::string_view reason = {},
                    std::uint32_t attempts = 1) {
  return input_result{path, status, reason, attempts};
}

input_record record(input_status status, std::uint64_t size = 100, std::int64_t mtime_ns = 7,
                    std::optional<sha256_digest> hash = std::nullopt) {
  return input_record{size, mtime_ns, status, hash};
}

sha256_digest digest(std::uint8_t fill) {
  sha256_digest d;
  d.fill(fill);
  return d;
}

std::vector<state_entry> all_entries(state_store& s, std::span<const input_status> only = {}) {
  std::vector<state_entry> out;
  const auto st = s.for_each_entry(
      [&](const state_entry& e) {
        out.push_back(e);
        return true;
      },
      only);
  if (!st) throw std::runtime_error(st.message);
  return out;
}

// Reads everything a child wrote to the pipe `fd` until EOF.
std::string drain(int fd) {
  std::string out;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      out.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Opening

TEST(StateStore, CreatesReopensAndSeparatesJobs) {
  temp_dir dir;
  const std::string db = dir / "state.db";
  std::int64_t job = 0;
  {
    auto r = state_store::open(db, key_a);
    ASSERT_TRUE(r.value) << r.status.message;
    job = r.value->job_id();
    EXPECT_GT(job, 0);
  }
  {
    auto again = state_store::open(db, key_a, open_mode::open_existing);
    ASSERT_TRUE(again.value) << again.status.message;
    EXPECT_EQ(again.value->job_id(), job);
    auto other = state_store::open(db, key_b);
    ASSERT_TRUE(other.value) << other.status.message;
    EXPECT_NE(other.value->job_id(), job);
  }
  {
    // The file is ours: application_id and schema version set, WAL mode.
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &raw), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(
                  raw, "SELECT * FROM pragma_application_id, pragma_user_version, pragma_journal_mode", -1,
                  &s, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(s, 0), state_application_id);
    EXPECT_EQ(sqlite3_column_int(s, 1), state_schema_version);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)), "wal");
    sqlite3_finalize(s);
    sqlite3_close(raw);
  }
  const auto unknown_job = state_store::open(db, "https://example.com/other\n", open_mode::open_existing);
  EXPECT_FALSE(unknown_job.value);
  EXPECT_EQ(unknown_job.status.code, state_errc::not_found);
  EXPECT_NE(unknown_job.status.message.find(db), std::string::npos) << unknown_job.status.message;

  const auto missing = state_store::open(dir / "missing.db", key_a, open_mode::open_existing);
  EXPECT_EQ(missing.status.code, state_errc::not_found);
  EXPECT_FALSE(fs::exists(dir / "missing.db"));
}

TEST(StateStore, RefusesAForeignSqliteFileWithoutTouchingIt) {
  temp_dir dir;
  const std::string db = dir / "foreign.db";
  raw_exec(db,
           "PRAGMA application_id = 1234; CREATE TABLE photos (name TEXT); INSERT INTO photos VALUES ('a');");
  const std::string before = read_bytes(db);
  const auto r = state_store::open(db, key_a);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.status.code, state_errc::not_a_state_file);
  EXPECT_NE(r.status.message.find(db), std::string::npos) << r.status.message;
  EXPECT_NE(r.status.message.find("another application"), std::string::npos) << r.status.message;
  EXPECT_EQ(read_bytes(db), before);  // not switched to WAL, not "started over"
  EXPECT_FALSE(fs::exists(db + "-wal"));

  // A plain SQLite database (application_id 0) with tables is foreign too.
  const std::string plain = dir / "plain.db";
  raw_exec(plain, "CREATE TABLE t (x);");
  EXPECT_EQ(state_store::open(plain, key_a).status.code, state_errc::not_a_state_file);
}

TEST(StateStore, RefusesRandomBytes) {
  temp_dir dir;
  const std::string db = dir / "random.db";
  const std::string bytes = random_bytes(64 * 1024, 1);
  write_bytes(db, bytes);
  const auto r = state_store::open(db, key_a);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.status.code, state_errc::not_a_state_file);
  EXPECT_NE(r.status.message.find(db), std::string::npos) << r.status.message;
  EXPECT_EQ(read_bytes(db), bytes);

  const std::string tiny = dir / "tiny.db";
  write_bytes(tiny, "SQLite");
  EXPECT_EQ(state_store::open(tiny, key_a).status.code, state_errc::not_a_state_file);
}

TEST(StateStore, RefusesADamagedStateFile) {
  temp_dir dir;
  const std::string db = dir / "damaged.db";
  {
    state_store s = open_run(db);
    const std::vector<pending_input> in{pending("a.jpg"), pending("b.jpg")};
    ASSERT_TRUE(s.mark_pending(in));
  }
  ASSERT_FALSE(fs::exists(db + "-wal"));  // closed cleanly: everything is in the main file
  // Keep the 100-byte header (magic, application_id, version) and overwrite the rest of page 1,
  // which holds the schema table.
  std::string bytes = read_bytes(db);
  ASSERT_GE(bytes.size(), 4096U);
  const std::string noise = random_bytes(4096 - 100, 2);
  bytes.replace(100, noise.size(), noise);
  write_bytes(db, bytes);

  const auto r = state_store::open(db, key_a);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.status.code, state_errc::corrupt) << r.status.message;
  EXPECT_NE(r.status.message.find(db), std::string::npos) << r.status.message;
  EXPECT_NE(r.status.message.find("damaged"), std::string::npos) << r.status.message;
  EXPECT_EQ(read_bytes(db), bytes);  // never started over
}

TEST(StateStore, FullIntegrityCheckFindsDamageTheCheapCheckSkips) {
  temp_dir dir;
  const std::string db = dir / "deep.db";
  {
    state_store s = open_run(db);
    std::vector<std::string> paths;
    for (int i = 0; i < 2000; ++i)
      paths.push_back("/photos/album/IMG_" + std::to_string(100000 + i) + ".jpg");
    std::vector<pending_input> in;
    for (const auto& p : paths) in.push_back(pending(p));
    ASSERT_TRUE(s.mark_pending(in));
  }
  std::string bytes = read_bytes(db);
  ASSERT_GT(bytes.size(), 6 * 4096U);
  const std::string noise = random_bytes(4096, 3);
  bytes.replace(bytes.size() - 2 * 4096, noise.size(), noise);  // a page of the inputs table
  write_bytes(db, bytes);

  auto r = state_store::open(db, key_a);
  ASSERT_TRUE(r.value) << r.status.message;  // the cheap check reads only the header and schema
  const auto st = r.value->check_integrity(true);
  EXPECT_EQ(st.code, state_errc::corrupt) << st.message;
  EXPECT_NE(st.message.find(db), std::string::npos) << st.message;
}

TEST(StateStore, RefusesANewerSchemaVersion) {
  temp_dir dir;
  const std::string db = dir / "newer.db";
  { open_ok(db); }
  raw_exec(db, "PRAGMA user_version = " + std::to_string(state_schema_version + 1));
  const auto r = state_store::open(db, key_a);
  EXPECT_FALSE(r.value);
  EXPECT_EQ(r.status.code, state_errc::newer_schema);
  EXPECT_NE(r.status.message.find(db), std::string::npos) << r.status.message;
  EXPECT_NE(r.status.message.find("newer ximup"), std::string::npos) << r.status.message;
}

TEST(StateStore, AnEmptyFileIsANewState) {
  temp_dir dir;
  const std::string db = dir / "empty.db";
  write_bytes(db, "");  // e.g. from mktemp: SQLite's own notion of an empty database
  EXPECT_EQ(state_store::open(db, key_a, open_mode::open_existing).status.code, state_errc::not_found);
  auto r = state_store::open(db, key_a);
  ASSERT_TRUE(r.value) << r.status.message;
}

// ---------------------------------------------------------------------------------------------
// The run lock

TEST(StateStore, RunLockIsExclusiveAcrossProcessesAndDiesWithItsHolder) {
  temp_dir dir;
  const std::string db = dir / "locked.db";
  { open_ok(db); }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    auto r = state_store::open(db, key_a);
    const char verdict = r.value && r.value->try_lock() ? 'L' : 'F';
    [[maybe_unused]] const auto n = ::write(ready[1], &verdict, 1);
    for (;;) ::pause();  // holds the lock until killed
  }
  ::close(ready[1]);
  char verdict = 0;
  ASSERT_EQ(::read(ready[0], &verdict, 1), 1);
  ::close(ready[0]);
  ASSERT_EQ(verdict, 'L');

  state_store s = open_ok(db);
  const auto refused = s.try_lock();
  EXPECT_EQ(refused.code, state_errc::locked);
  EXPECT_NE(refused.message.find("another ximup run (pid " + std::to_string(child) + ", started at "),
            std::string::npos)
      << refused.message;
  EXPECT_NE(refused.message.find(db), std::string::npos) << refused.message;
  EXPECT_FALSE(s.locked());
  EXPECT_EQ(s.begin_run("x").status.code, state_errc::misuse);  // no run without the lock

  ::kill(child, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  const auto taken = s.try_lock();
  EXPECT_TRUE(taken) << taken.message;
  EXPECT_TRUE(s.locked());
  EXPECT_TRUE(s.try_lock());  // idempotent

  // A second store in this process is refused too (flock is per open file description).
  state_store other = open_ok(db);
  EXPECT_EQ(other.try_lock().code, state_errc::locked);
  s.unlock();
  EXPECT_TRUE(other.try_lock());
}

// `ximup status` asks the kernel whether the run lock is held, not whether a pid exists: a run that
// the OOM killer ended in a container (pid 1 there, which always exists) showed as running.
TEST(StateStore, WhetherTheRunLockIsHeldComesFromTheKernel) {
  temp_dir dir;
  const std::string db = dir / "held.db";
  state_store holder = open_ok(db);
  state_store reader = open_ok(db);
  ASSERT_TRUE(reader.lock_now().has_value());
  EXPECT_FALSE(reader.lock_now()->held);
  ASSERT_TRUE(holder.try_lock());
  EXPECT_TRUE(reader.lock_now()->held);
  EXPECT_EQ(reader.lock_now()->pid, ::getpid());  // as the holder wrote it: status matches it to the run
  EXPECT_FALSE(reader.locked());
  holder.unlock();
  EXPECT_FALSE(reader.lock_now()->held);

  const std::string_view text =
      "1: FLOCK  ADVISORY  WRITE 1234 08:02:5243190 0 EOF\n"
      "1: -> FLOCK  ADVISORY  WRITE 1300 08:02:5243190 0 EOF\n"
      "2: POSIX  ADVISORY  WRITE 99 00:2f:77 0 EOF\n"
      "3: OFDLCK ADVISORY  READ  -1 00:05:88 0 0\n";
  EXPECT_TRUE(proc_locks_list_flock(text, 5243190));
  EXPECT_FALSE(proc_locks_list_flock(text, 524319));  // a prefix of an inode is not it
  EXPECT_FALSE(proc_locks_list_flock(text, 77));      // a POSIX lock (SQLite's own) is not the run lock
  EXPECT_FALSE(proc_locks_list_flock(text, 88));
  EXPECT_FALSE(proc_locks_list_flock("", 5243190));
}

// The lock belongs to the file, not to the name it was opened by: a symlink to the state, or a
// path spelled with ./ and .., must meet the same lock, or two runs would write one state.
TEST(StateStore, RunLockHoldsWhateverPathNamesTheFile) {
  temp_dir dir;
  const std::string db = dir / "real.db";
  state_store holder = open_ok(db);
  ASSERT_TRUE(holder.try_lock());
  const std::string link = dir / "link.db";
  ASSERT_EQ(::symlink(db.c_str(), link.c_str()), 0);
  state_store via_link = open_ok(link);
  EXPECT_EQ(via_link.try_lock().code, state_errc::locked);
  std::filesystem::create_directories(dir / "sub");
  state_store via_dots = open_ok(dir / "sub/.././real.db");
  EXPECT_EQ(via_dots.try_lock().code, state_errc::locked);
  holder.unlock();
  EXPECT_TRUE(via_link.try_lock());
}

// ---------------------------------------------------------------------------------------------
// The decision core

TEST(StateStore, PlanInputNormalMode) {
  const file_facts same{100, 7, std::nullopt};
  EXPECT_EQ(plan_input(std::nullopt, same, run_mode::normal), plan::send_new);
  EXPECT_EQ(plan_input(record(input_status::ok), same, run_mode::normal), plan::skip_unchanged);
  EXPECT_EQ(plan_input(record(input_status::ok), {101, 7, {}}, run_mode::normal), plan::send_changed);
  EXPECT_EQ(plan_input(record(input_status::ok), {100, 8, {}}, run_mode::normal), plan::send_changed);
  EXPECT_EQ(plan_input(record(input_status::failed), same, run_mode::normal), plan::skip_failed);
  EXPECT_EQ(plan_input(record(input_status::failed), {100, 9, {}}, run_mode::normal), plan::send_changed);
  EXPECT_EQ(plan_input(record(input_status::retryable), same, run_mode::normal), plan::send_unfinished);
  EXPECT_EQ(plan_input(record(input_status::pending), same, run_mode::normal), plan::send_unfinished);
  // A hash recorded earlier does not matter outside checksum mode.
  EXPECT_EQ(plan_input(record(input_status::ok, 100, 7, digest(1)), same, run_mode::normal),
            plan::skip_unchanged);
}

TEST(StateStore, PlanInputRetryFailedTouchesOnlyWhatIsNotOk) {
  const file_facts same{100, 7, std::nullopt};
  EXPECT_EQ(plan_input(std::nullopt, same, run_mode::retry_failed), plan::skip_not_failed);
  EXPECT_EQ(plan_input(record(input_status::ok), same, run_mode::retry_failed), plan::skip_not_failed);
  EXPECT_EQ(plan_input(record(input_status::ok), {5, 5, {}}, run_mode::retry_failed), plan::skip_not_failed);
  EXPECT_EQ(plan_input(record(input_status::failed), same, run_mode::retry_failed), plan::send_failed);
  EXPECT_EQ(plan_input(record(input_status::retryable), same, run_mode::retry_failed), plan::send_unfinished);
  EXPECT_EQ(plan_input(record(input_status::pending), same, run_mode::retry_failed), plan::send_unfinished);
}

TEST(StateStore, PlanInputForceSendsEverything) {
  for (const auto status :
       {input_status::ok, input_status::failed, input_status::pending, input_status::retryable}) {
    EXPECT_EQ(plan_input(record(status), {100, 7, {}}, run_mode::force), plan::send_forced);
  }
  EXPECT_EQ(plan_input(std::nullopt, {}, run_mode::force), plan::send_forced);
}

TEST(StateStore, PlanInputChecksumModeComparesContents) {
  const auto ok_hashed = record(input_status::ok, 100, 7, digest(0xAB));
  // Same size: the caller must hash, then ask again.
  EXPECT_EQ(plan_input(ok_hashed, {100, 7, std::nullopt}, run_mode::checksum), plan::need_checksum);
  EXPECT_EQ(plan_input(ok_hashed, {100, 7, digest(0xAB)}, run_mode::checksum), plan::skip_unchanged);
  EXPECT_EQ(plan_input(ok_hashed, {100, 999, digest(0xAB)}, run_mode::checksum),
            plan::skip_unchanged);  // touched
  EXPECT_EQ(plan_input(ok_hashed, {100, 7, digest(0xCD)}, run_mode::checksum), plan::send_changed);
  // Another size is a change without hashing.
  EXPECT_EQ(plan_input(ok_hashed, {101, 7, std::nullopt}, run_mode::checksum), plan::send_changed);
  // Recorded without a hash: size and mtime decide.
  EXPECT_EQ(plan_input(record(input_status::ok), {100, 7, std::nullopt}, run_mode::checksum),
            plan::skip_unchanged);
  EXPECT_EQ(plan_input(record(input_status::ok), {100, 8, std::nullopt}, run_mode::checksum),
            plan::send_changed);
  EXPECT_EQ(plan_input(std::nullopt, {100, 7, std::nullopt}, run_mode::checksum), plan::send_new);
  EXPECT_EQ(
      plan_input(record(input_status::failed, 100, 7, digest(1)), {100, 7, digest(1)}, run_mode::checksum),
      plan::skip_failed);
  for (const auto p :
       {plan::send_new, plan::send_changed, plan::send_unfinished, plan::send_failed, plan::send_forced}) {
    EXPECT_TRUE(sends(p)) << to_string(p);
  }
  for (const auto p : {plan::skip_unchanged, plan::skip_failed, plan::skip_not_failed, plan::need_checksum}) {
    EXPECT_FALSE(sends(p)) << to_string(p);
  }
}

TEST(StateStore, JobKeyHoldsUrlFieldsAndHeaders) {
  const std::vector<std::pair<std::string, std::string>> headers{{"collection-id", "c1"}};
  EXPECT_EQ(make_job_key("https://h/similarity/products/v2/insert", ",\"a\":1", headers),
            "https://h/similarity/products/v2/insert\n,\"a\":1\ncollection-id: c1");
  EXPECT_NE(make_job_key("u", "", headers), make_job_key("u", ""));
}

// ---------------------------------------------------------------------------------------------
// Writing and reading

TEST(StateStore, RoundTripsByteExactPathsIncludingNonUtf8AndNewlines) {
  temp_dir dir;
  const std::string db = dir / "bytes.db";
  const std::vector<std::string> paths{"plain/a.jpg",
                                       "line\nbreak.jpg",
                                       std::string("\xff\xfe/latin1-\xe9t\xe9.jpg"),
                                       "dir/\x80\x81.png",
                                       std::string("nul\0inside", 10),
                                       "emoji \xf0\x9f\x93\xb7.jpg",
                                       std::string(600, 'x') + ".jpg"};
  {
    state_store s = open_run(db);
    std::vector<pending_input> in;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      in.push_back({paths[i], 1000 + i, static_cast<std::int64_t>(1'700'000'000'123'456'789 + i),
                    i == 0 ? std::optional(digest(0x5A)) : std::nullopt});
    }
    ASSERT_TRUE(s.mark_pending(in));
    std::vector<input_result> out;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      out.push_back(i % 2 == 0 ? result(paths[i], input_status::ok, "ignored for ok", 1)
                               : result(paths[i], input_status::failed, "HTTP 400: \"not an image\"\n", 3));
    }
    ASSERT_TRUE(s.record_results(out));
  }
  state_store s = open_ok(db);
  auto index = s.load_index(true);
  ASSERT_TRUE(index.value) << index.status.message;
  EXPECT_EQ(index.value->size(), paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto found = s.lookup(paths[i]);
    ASSERT_TRUE(found.status) << found.status.message;
    ASSERT_TRUE(found.value) << json_string(paths[i]);
    const state_entry& e = *found.value;
    EXPECT_EQ(e.path, paths[i]);
    EXPECT_EQ(e.record.size, 1000 + i);
    EXPECT_EQ(e.record.mtime_ns, static_cast<std::int64_t>(1'700'000'000'123'456'789 + i));
    EXPECT_EQ(e.record.status, i % 2 == 0 ? input_status::ok : input_status::failed);
    EXPECT_EQ(e.reason, i % 2 == 0 ? "" : "HTTP 400: \"not an image\"\n");
    EXPECT_EQ(e.attempts, i % 2 == 0 ? 1U : 3U);
    EXPECT_EQ(e.record.content_hash.has_value(), i == 0);
    EXPECT_GT(e.updated_unix, 1'600'000'000);
    EXPECT_GT(e.run_id, 0);

    const auto indexed = index.value->find(paths[i]);
    ASSERT_TRUE(indexed);
    EXPECT_EQ(indexed->size, e.record.size);
    EXPECT_EQ(indexed->mtime_ns, e.record.mtime_ns);
    EXPECT_EQ(indexed->status, e.record.status);
    EXPECT_EQ(indexed->content_hash, e.record.content_hash);
  }
  EXPECT_EQ(s.lookup(paths[0]).value->record.content_hash, digest(0x5A));
  // Near misses are different inputs.
  for (const std::string miss : {"plain/a.jpg\n", "plain/a.jp", "line\rbreak.jpg", "nul", ""}) {
    EXPECT_FALSE(s.lookup(miss).value) << json_string(miss);
    EXPECT_FALSE(index.value->find(miss)) << json_string(miss);
  }
}

TEST(StateStore, MarkPendingReplacesWhatChangedAndClearsTheReason) {
  temp_dir dir;
  state_store s = open_run(dir / "p.db");
  const std::vector<pending_input> first{{"a.jpg", 10, 1, digest(1)}};
  ASSERT_TRUE(s.mark_pending(first));
  const std::vector<input_result> failed{result("a.jpg", input_status::retryable, "timeout", 6)};
  ASSERT_TRUE(s.record_results(failed));
  const std::vector<pending_input> again{{"a.jpg", 20, 2, std::nullopt}};
  ASSERT_TRUE(s.mark_pending(again));
  const auto e = s.lookup("a.jpg");
  ASSERT_TRUE(e.value);
  EXPECT_EQ(e.value->record.status, input_status::pending);
  EXPECT_EQ(e.value->record.size, 20U);
  EXPECT_EQ(e.value->record.mtime_ns, 2);
  EXPECT_FALSE(e.value->record.content_hash);
  EXPECT_EQ(e.value->reason, "");
  EXPECT_EQ(e.value->attempts, 6U);  // from the latest result, until a new one is recorded
}

TEST(StateStore, RefreshFactsReplacesSizeMtimeAndHashButNotTheOutcome) {
  temp_dir dir;
  state_store s = open_run(dir / "r.db");
  const std::vector<pending_input> marks{pending("a.jpg", 10, 1), pending("b.jpg", 10, 1)};
  ASSERT_TRUE(s.mark_pending(marks));
  const std::vector<input_result> results{result("a.jpg", input_status::ok),
                                          result("b.jpg", input_status::failed, "not an image", 2)};
  ASSERT_TRUE(s.record_results(results));
  const std::vector<pending_input> now{
      {"a.jpg", 10, 99, digest(3)}, {"b.jpg", 10, 98, digest(4)}, {"unknown.jpg", 1, 1, digest(5)}};
  ASSERT_TRUE(s.refresh_facts(now));
  const auto a = s.lookup("a.jpg");
  ASSERT_TRUE(a.value);
  EXPECT_EQ(a.value->record.status, input_status::ok);
  EXPECT_EQ(a.value->record.mtime_ns, 99);
  EXPECT_EQ(a.value->record.content_hash, digest(3));
  const auto b = s.lookup("b.jpg");
  ASSERT_TRUE(b.value);
  EXPECT_EQ(b.value->record.status, input_status::failed);
  EXPECT_EQ(b.value->reason, "not an image");
  EXPECT_EQ(b.value->attempts, 2U);
  EXPECT_EQ(b.value->record.mtime_ns, 98);
  EXPECT_FALSE(s.lookup("unknown.jpg").value) << "refresh_facts must not add inputs";
}

TEST(StateStore, ForgetRemovesOnlyTheNamedInputsOfItsJobAndNeedsTheLock) {
  temp_dir dir;
  {
    state_store other_job = open_run(dir / "f.db", key_b);
    const std::vector<pending_input> marks{pending("a.jpg")};
    ASSERT_TRUE(other_job.mark_pending(marks));
  }
  state_store s = open_run(dir / "f.db");
  const std::vector<pending_input> marks{pending("a.jpg"), pending("b.jpg"), pending("c\nd.jpg")};
  ASSERT_TRUE(s.mark_pending(marks));
  const std::vector<std::string> gone{"a.jpg", "c\nd.jpg", "never-recorded.jpg"};
  const auto removed = s.forget(gone);
  ASSERT_TRUE(removed.value) << removed.status.message;
  EXPECT_EQ(*removed.value, 2U);
  const auto left = all_entries(s);
  ASSERT_EQ(left.size(), 1U);
  EXPECT_EQ(left[0].path, "b.jpg");
  // The other job's a.jpg is untouched.
  s.unlock();
  state_store other = open_ok(dir / "f.db", key_b);
  EXPECT_EQ(all_entries(other).size(), 1U);
  // Without the run lock nothing is removed.
  const auto refused = other.forget(std::vector<std::string>{"a.jpg"});
  EXPECT_FALSE(refused.value);
  EXPECT_EQ(refused.status.code, state_errc::misuse);
  EXPECT_EQ(all_entries(other).size(), 1U);
}

TEST(StateStore, RecordResultsIsAllOrNothingAndNeedsPendingInputs) {
  temp_dir dir;
  state_store s = open_run(dir / "batch.db");
  const std::vector<pending_input> in{pending("a.jpg"), pending("b.jpg")};
  ASSERT_TRUE(s.mark_pending(in));
  const std::vector<input_result> bad{result("a.jpg", input_status::ok),
                                      result("never-marked.jpg", input_status::ok)};
  const auto st = s.record_results(bad);
  EXPECT_EQ(st.code, state_errc::misuse);
  EXPECT_NE(st.message.find("never-marked.jpg"), std::string::npos) << st.message;
  EXPECT_EQ(s.lookup("a.jpg").value->record.status, input_status::pending);  // rolled back
  EXPECT_FALSE(s.lookup("never-marked.jpg").value);

  const std::vector<input_result> pending_result{result("a.jpg", input_status::pending)};
  EXPECT_EQ(s.record_results(pending_result).code, state_errc::misuse);
  const std::vector<pending_input> empty_path{pending("")};
  EXPECT_EQ(s.mark_pending(empty_path).code, state_errc::misuse);

  // Marked in an earlier run is not enough: each run marks what it sends.
  ASSERT_TRUE(s.end_run(s.run_id(), {}, "completed"));
  ASSERT_TRUE(s.begin_run("second").value);
  const std::vector<input_result> stale{result("b.jpg", input_status::ok)};
  EXPECT_EQ(s.record_results(stale).code, state_errc::misuse);
}

TEST(StateStore, WritesNeedTheLockAndARun) {
  temp_dir dir;
  state_store s = open_ok(dir / "w.db");
  const std::vector<pending_input> in{pending("a.jpg")};
  EXPECT_EQ(s.mark_pending(in).code, state_errc::misuse);
  ASSERT_TRUE(s.try_lock());
  EXPECT_EQ(s.mark_pending(in).code, state_errc::misuse);  // no run yet
  const auto run = s.begin_run("upload");
  ASSERT_TRUE(run.value) << run.status.message;
  EXPECT_EQ(s.run_id(), *run.value);
  EXPECT_EQ(s.begin_run("again").status.code, state_errc::misuse);
  EXPECT_TRUE(s.mark_pending(in));
  EXPECT_EQ(s.end_run(*run.value + 1, {}, "completed").code, state_errc::misuse);
  EXPECT_TRUE(s.end_run(*run.value, {}, "completed"));
  EXPECT_EQ(s.run_id(), 0);
  EXPECT_EQ(s.mark_pending(in).code, state_errc::misuse);
}

TEST(StateStore, CountsPerStatusAndPerJob) {
  temp_dir dir;
  const std::string db = dir / "c.db";
  {
    state_store s = open_run(db);
    const std::vector<pending_input> in{pending("1"), pending("2"), pending("3"),
                                        pending("4"), pending("5"), pending("6")};
    ASSERT_TRUE(s.mark_pending(in));
    const std::vector<input_result> out{result("1", input_status::ok), result("2", input_status::ok),
                                        result("3", input_status::failed, "bad"),
                                        result("4", input_status::retryable, "timeout")};
    ASSERT_TRUE(s.record_results(out));
    const auto c = s.counts();
    ASSERT_TRUE(c.value) << c.status.message;
    EXPECT_EQ(c.value->ok, 2U);
    EXPECT_EQ(c.value->failed, 1U);
    EXPECT_EQ(c.value->retryable, 1U);
    EXPECT_EQ(c.value->pending, 2U);
    EXPECT_EQ(c.value->total(), 6U);
  }
  state_store other = open_ok(db, key_b);
  EXPECT_EQ(other.counts().value->total(), 0U);
  EXPECT_FALSE(other.lookup("1").value);
}

TEST(StateStore, ExportsTheLatestResultOfEveryInput) {
  temp_dir dir;
  const std::string db = dir / "export.db";
  const std::string odd("\xff/a\nb.jpg");
  {
    state_store s = open_run(db);
    const std::vector<pending_input> in{pending("a.jpg", 1, 1), pending(odd, 2, 2), pending("c.jpg", 3, 3)};
    ASSERT_TRUE(s.mark_pending(in));
    const std::vector<input_result> out{result("a.jpg", input_status::ok),
                                        result(odd, input_status::failed, "HTTP 400: not an image"),
                                        result("c.jpg", input_status::retryable, "timeout", 6)};
    ASSERT_TRUE(s.record_results(out));
    ASSERT_TRUE(s.end_run(s.run_id(), {3, 1, 1, 1, 0}, "completed"));

    ASSERT_TRUE(s.begin_run("ximup upload --retry-failed").value);
    const std::vector<pending_input> again{pending(odd, 2, 2), pending("c.jpg", 3, 3)};
    ASSERT_TRUE(s.mark_pending(again));
    const std::vector<input_result> out2{result(odd, input_status::failed, "HTTP 400: still not an image", 1),
                                         result("c.jpg", input_status::ok, "", 2)};
    ASSERT_TRUE(s.record_results(out2));
    ASSERT_TRUE(s.end_run(s.run_id(), {2, 1, 1, 0, 1}, "completed"));
  }
  state_store s = open_ok(db, key_a);
  const auto entries = all_entries(s);
  ASSERT_EQ(entries.size(), 3U);        // one line per input, not per result
  EXPECT_EQ(entries[0].path, "a.jpg");  // path byte order
  EXPECT_EQ(entries[1].path, "c.jpg");
  EXPECT_EQ(entries[1].record.status, input_status::ok);
  EXPECT_EQ(entries[1].attempts, 2U);
  EXPECT_EQ(entries[2].path, odd);
  EXPECT_EQ(entries[2].reason, "HTTP 400: still not an image");
  EXPECT_GT(entries[2].run_id, entries[0].run_id);

  const std::vector<input_status> failures{input_status::failed, input_status::retryable};
  const auto failed = all_entries(s, failures);
  ASSERT_EQ(failed.size(), 1U);
  EXPECT_EQ(failed[0].path, odd);

  std::string jsonl;
  for (const auto& e : entries) jsonl += format_export_line(e);
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 3);

  state_entry e;
  e.path = odd;
  e.record = record(input_status::failed, 2, 5, digest(0x0F));
  e.reason = "HTTP 400: \"bad\"";
  e.attempts = 2;
  e.updated_unix = 0;
  e.run_id = 7;
  EXPECT_EQ(
      format_export_line(e),
      R"({"path":"\udcff/a\u000ab.jpg","status":"failed","attempts":2,"bytes":2,"mtime_ns":5,"sha256":")" +
          std::string("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f") +
          R"(","reason":"HTTP 400: \"bad\"","run":7,"updated":"1970-01-01T00:00:00Z"})" + "\n");
  EXPECT_EQ(parse_json_string_token(json_string(odd)), odd);

  // Stopping early.
  int seen = 0;
  ASSERT_TRUE(s.for_each_entry([&](const state_entry&) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
}

TEST(StateStore, RunsTableListsRunsAndMarksUnendedOnesCrashed) {
  temp_dir dir;
  const std::string db = dir / "runs.db";
  std::int64_t first = 0;
  {
    state_store s = open_run(db);
    first = s.run_id();
    // Destroyed without end_run: as if killed.
  }
  state_store s = open_ok(db);
  ASSERT_TRUE(s.try_lock());
  const auto second = s.begin_run("ximup upload photos/ --endpoint generic-tagging");
  ASSERT_TRUE(second.value);
  ASSERT_TRUE(s.end_run(*second.value, {10, 7, 2, 1, 5}, "completed"));
  const auto runs = s.last_runs(10);
  ASSERT_TRUE(runs.value) << runs.status.message;
  ASSERT_EQ(runs.value->size(), 2U);
  const run_info& newest = (*runs.value)[0];
  EXPECT_EQ(newest.run_id, *second.value);
  EXPECT_EQ(newest.command, "ximup upload photos/ --endpoint generic-tagging");
  EXPECT_EQ(newest.outcome, "completed");
  EXPECT_EQ(newest.pid, ::getpid());
  EXPECT_GE(newest.ended_unix, newest.started_unix);
  EXPECT_EQ(newest.counts.sent, 10U);
  EXPECT_EQ(newest.counts.ok, 7U);
  EXPECT_EQ(newest.counts.failed, 2U);
  EXPECT_EQ(newest.counts.retryable, 1U);
  EXPECT_EQ(newest.counts.skipped, 5U);
  EXPECT_EQ((*runs.value)[1].run_id, first);
  EXPECT_EQ((*runs.value)[1].outcome, "crashed");
  EXPECT_EQ((*runs.value)[1].ended_unix, 0);
  EXPECT_EQ(s.last_runs(1).value->size(), 1U);
}

TEST(StateStore, IndexIsExactWhenPathHashesCollide) {
  temp_dir dir;
  state_store s = open_run(dir / "collide.db");
  std::vector<std::string> paths;
  for (int i = 0; i < 50; ++i) paths.push_back("img" + std::to_string(i) + ".jpg");
  std::vector<pending_input> in;
  for (std::size_t i = 0; i < paths.size(); ++i)
    in.push_back(pending(paths[i], i, static_cast<std::int64_t>(i)));
  ASSERT_TRUE(s.mark_pending(in));

  // Every path of the same length collides.
  const auto previous = detail::set_state_index_hash(
      [](std::string_view p) noexcept { return static_cast<std::uint64_t>(p.size()); });
  auto index = s.load_index();
  detail::set_state_index_hash(previous);
  ASSERT_TRUE(index.value) << index.status.message;
  EXPECT_EQ(index.value->size(), paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const auto r = index.value->find(paths[i]);
    ASSERT_TRUE(r) << paths[i];
    EXPECT_EQ(r->size, i);
  }
  EXPECT_FALSE(index.value->find("img9.jpx"));  // same length, no such path
  EXPECT_FALSE(index.value->find("x"));
}

TEST(StateStore, ThreadsMayShareAStore) {
  temp_dir dir;
  state_store s = open_run(dir / "threads.db");
  constexpr int writers = 4;
  constexpr int batches = 50;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int b = 0; b < batches; ++b) {
        std::vector<std::string> paths;
        for (int i = 0; i < 10; ++i)
          paths.push_back("w" + std::to_string(w) + "/" + std::to_string(b * 10 + i));
        std::vector<pending_input> in;
        std::vector<input_result> out;
        for (const auto& p : paths) {
          in.push_back(pending(p));
          out.push_back(result(p, input_status::ok));
        }
        if (!s.mark_pending(in) || !s.record_results(out)) ++errors;
      }
    });
  }
  threads.emplace_back([&] {  // a reader in between: lookups share a read transaction, writes end it
    for (int i = 0; i < 500; ++i) {
      const auto e = s.lookup("w0/" + std::to_string(i % (batches * 10)));
      if (!e.status || (e.value && e.value->record.status != input_status::ok &&
                        e.value->record.status != input_status::pending)) {
        ++errors;
      }
      if (!s.counts().value) ++errors;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(s.counts().value->ok, static_cast<std::uint64_t>(writers * batches * 10));
}

// ---------------------------------------------------------------------------------------------
// Size and speed

// A typical path of about 50 bytes.
std::string typical_path(std::size_t i) {
  char text[96];
  std::snprintf(text, sizeof text, "/home/anna/Pictures/2023/summer-trip/IMG_%06zu.jpg", i);
  return text;
}

TEST(StateStore, TakesWellUnder200BytesPerFile) {
  temp_dir dir;
  const std::string db = dir / "size.db";
  constexpr std::size_t n = 10'000;
  { open_ok(db); }
  const auto empty_size = fs::file_size(db);
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < n; ++i) paths.push_back(typical_path(i));
  std::shuffle(paths.begin(), paths.end(), std::mt19937(4));  // readdir order is not byte order
  std::size_t path_bytes = 0;
  {
    state_store s = open_run(db);
    // As the pipeline writes: one transaction before each 10-record request, one per response.
    for (std::size_t i = 0; i < n; i += 10) {
      std::vector<pending_input> in;
      std::vector<input_result> out;
      for (std::size_t j = i; j < i + 10; ++j) {
        path_bytes += paths[j].size();
        in.push_back(
            pending(paths[j], 2'000'000 + j, 1'700'000'000'000'000'000 + static_cast<std::int64_t>(j)));
        out.push_back(j % 100 == 0 ? result(paths[j], input_status::failed, "HTTP 400: not an image")
                                   : result(paths[j], input_status::ok));
      }
      ASSERT_TRUE(s.mark_pending(in));
      ASSERT_TRUE(s.record_results(out));
    }
    ASSERT_TRUE(s.end_run(s.run_id(), {n, n - n / 100, n / 100, 0, 0}, "completed"));
  }
  ASSERT_FALSE(fs::exists(db + "-wal"));  // checkpointed on close: the main file holds it all
  const auto total = fs::file_size(db);
  const double per_file = static_cast<double>(total - empty_size) / static_cast<double>(n);
  std::cout << "[   state  ] " << n << " inputs, average path " << path_bytes / n << " bytes: file " << total
            << " bytes (empty " << empty_size << "), " << per_file << " bytes per file\n";
  EXPECT_LT(per_file, 200.0);

  state_store s = open_ok(db);
  const auto index = s.load_index();
  ASSERT_TRUE(index.value);
  std::cout << "[   state  ] index of " << index.value->size() << " inputs: " << index.value->memory_bytes()
            << " bytes\n";
  EXPECT_LE(index.value->memory_bytes(), n * 40);
  EXPECT_TRUE(s.check_integrity(true));
}

// Every one of 100,000 entries is found by lookup() and by the loaded index. The time it takes is
// printed for a look, not asserted: bench/rescan.sh is the measurement.
TEST(StateStore, HundredThousandLookupsAllFindTheirEntry) {
  temp_dir dir;
  const std::string db = dir / "speed.db";
  constexpr std::size_t n = 100'000;
  state_store s = open_run(db);
  for (std::size_t i = 0; i < n; i += 1000) {
    std::vector<std::string> paths;
    for (std::size_t j = i; j < i + 1000; ++j) paths.push_back(typical_path(j));
    std::vector<pending_input> in;
    std::vector<input_result> out;
    for (std::size_t j = 0; j < paths.size(); ++j) {
      in.push_back(pending(paths[j], i + j, static_cast<std::int64_t>(i + j)));
      out.push_back(result(paths[j], input_status::ok));
    }
    ASSERT_TRUE(s.mark_pending(in));
    ASSERT_TRUE(s.record_results(out));
  }
  std::vector<std::string> queries;
  for (std::size_t i = 0; i < n; ++i) queries.push_back(typical_path((i * 7919) % n));

  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  const std::clock_t cpu_start = std::clock();
  std::size_t found = 0;
  for (const auto& q : queries) found += s.lookup(q).value ? 1U : 0U;
  const std::chrono::duration<double> lookups = clock::now() - start;
  const double lookups_cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  EXPECT_EQ(found, n);

  start = clock::now();
  const std::clock_t index_cpu_start = std::clock();
  const auto index = s.load_index();
  const std::chrono::duration<double> load = clock::now() - start;
  ASSERT_TRUE(index.value);
  start = clock::now();
  found = 0;
  for (const auto& q : queries) found += index.value->find(q) ? 1U : 0U;
  const std::chrono::duration<double> finds = clock::now() - start;
  const double index_cpu = static_cast<double>(std::clock() - index_cpu_start) / CLOCKS_PER_SEC;
  EXPECT_EQ(found, n);
  std::cout << "[   state  ] 100,000 lookup(): " << lookups.count() << " s (CPU " << lookups_cpu
            << " s); load_index(): " << load.count() << " s (" << index.value->memory_bytes() / 1024
            << " KiB); 100,000 find(): " << finds.count() << " s (index CPU " << index_cpu << " s)\n";
}

// ---------------------------------------------------------------------------------------------
// Crash safety

constexpr std::size_t crash_batch = 40;

std::string crash_path(int round, int batch, std::size_t item) {
  return "r" + std::to_string(round) + "/b" + std::to_string(batch) + "/i" + std::to_string(item);
}

// The child's loop: mark a batch pending, record its results (one transaction each), report the
// batch number on `report` once committed. Never returns.
[[noreturn]] void write_batches_forever(const std::string& db, int round, int report, std::uint32_t seed) {
  auto opened = state_store::open(db, key_a);
  if (!opened.value) ::_exit(2);
  state_store& s = *opened.value;
  if (!s.try_lock()) ::_exit(3);  // the previous, killed writer's lock must be gone
  if (!s.begin_run("crash test").value) ::_exit(4);
  std::mt19937 rng(seed);
  for (int batch = 0;; ++batch) {
    std::vector<std::string> paths;
    for (std::size_t i = 0; i < crash_batch; ++i) paths.push_back(crash_path(round, batch, i));
    std::vector<pending_input> in;
    for (const auto& p : paths) in.push_back(pending(p, static_cast<std::uint64_t>(batch), 1));
    if (!s.mark_pending(in)) ::_exit(5);
    const std::string reason = "batch " + std::to_string(batch);
    std::vector<input_result> out;
    for (std::size_t i = 0; i < paths.size(); ++i) {
      out.push_back(
          i % 3 == 0 ? result(paths[i], input_status::failed, reason, static_cast<std::uint32_t>(batch + 1))
                     : result(paths[i], input_status::ok, {}, static_cast<std::uint32_t>(batch + 1)));
    }
    if (rng() % 4 == 0)
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));  // a kill between
    if (!s.record_results(out)) ::_exit(6);
    if (::write(report, &batch, sizeof batch) != sizeof batch) ::_exit(7);
  }
}

// Checks the batches of `round`: every batch all pending or all resolved, contiguous from 0, every
// reported batch resolved. Returns the number of resolved batches.
int check_round(state_store& s, int round, int last_reported) {
  std::map<int, std::vector<state_entry>> batches;
  const std::string prefix = "r" + std::to_string(round) + "/b";
  for (auto& e : all_entries(s)) {
    if (e.path.rfind(prefix, 0) != 0) continue;
    const int batch = std::stoi(e.path.substr(prefix.size()));
    batches[batch].push_back(std::move(e));
  }
  int resolved = 0;
  int expected = 0;
  for (const auto& [batch, entries] : batches) {
    EXPECT_EQ(batch, expected++) << "batches are contiguous";
    EXPECT_EQ(entries.size(), crash_batch) << "batch " << batch << " was marked pending as a whole";
    const auto pending_rows = std::count_if(entries.begin(), entries.end(), [](const state_entry& e) {
      return e.record.status == input_status::pending;
    });
    EXPECT_TRUE(pending_rows == 0 || static_cast<std::size_t>(pending_rows) == entries.size())
        << "batch " << batch << " has " << pending_rows << " pending of " << entries.size();
    if (pending_rows == 0) {
      ++resolved;
      for (const auto& e : entries) {
        const std::size_t item = std::stoul(e.path.substr(e.path.rfind('i') + 1));
        EXPECT_EQ(e.record.status, item % 3 == 0 ? input_status::failed : input_status::ok);
        EXPECT_EQ(e.attempts, static_cast<std::uint32_t>(batch + 1));
        if (item % 3 == 0) {
          EXPECT_EQ(e.reason, "batch " + std::to_string(batch));
        }
      }
    } else {
      EXPECT_GT(batch, last_reported) << "a reported batch lost its results";
    }
  }
  EXPECT_GE(resolved, last_reported + 1) << "every reported batch is committed";
  // Only the last batch or two may be unresolved (results of the last one, marks of the next).
  EXPECT_LE(static_cast<int>(batches.size()) - resolved, 2);
  return resolved;
}

TEST(StateStore, SurvivesSigkillAtAnyMoment) {
  temp_dir dir;
  const std::string db = dir / "crash.db";
  std::mt19937 rng(5);
  std::map<int, int> resolved_by_round;
  constexpr int rounds = 12;
  int reported_total = 0;
  for (int round = 0; round < rounds; ++round) {
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const auto seed = static_cast<std::uint32_t>(rng());
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(report[0]);
      write_batches_forever(db, round, report[1], seed);
    }
    ::close(report[1]);
    std::this_thread::sleep_for(std::chrono::microseconds(2'000 + rng() % 150'000));
    ::kill(child, SIGKILL);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
    ASSERT_TRUE(WIFSIGNALED(wstatus))
        << "the writer stopped by itself with exit code " << WEXITSTATUS(wstatus);
    const std::string reports = drain(report[0]);
    ::close(report[0]);
    int last_reported = -1;
    if (reports.size() >= sizeof(int)) {
      std::memcpy(&last_reported, reports.data() + reports.size() - sizeof(int), sizeof(int));
    }
    reported_total += last_reported + 1;

    auto reopened = state_store::open(db, key_a);
    ASSERT_TRUE(reopened.value) << "round " << round << ": " << reopened.status.message;
    state_store& s = *reopened.value;
    const auto check = s.check_integrity(true);
    ASSERT_TRUE(check) << check.message;
    resolved_by_round[round] = check_round(s, round, last_reported);
    // Earlier rounds are untouched.
    for (int earlier = 0; earlier < round; ++earlier) {
      EXPECT_EQ(check_round(s, earlier, -1), resolved_by_round[earlier]) << "round " << earlier;
    }
    const auto c = s.counts();
    ASSERT_TRUE(c.value);
    EXPECT_EQ(c.value->total() % crash_batch, 0U);
  }
  std::cout << "[   state  ] " << rounds << " SIGKILLed writers, " << reported_total
            << " batches reported committed, all found complete\n";
  auto s = open_ok(db);
  const auto runs = s.last_runs(100);
  ASSERT_TRUE(runs.value);
  for (std::size_t i = 1; i < runs.value->size(); ++i) EXPECT_EQ((*runs.value)[i].outcome, "crashed");
}

TEST(StateStore, DiskFullIsAClearErrorAndLeavesAConsistentFile) {
  temp_dir dir;
  const std::string db = dir / "full.db";
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    std::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead of killing
    auto opened = state_store::open(db, key_a);
    if (!opened.value || !opened.value->try_lock() || !opened.value->begin_run("full").value) ::_exit(2);
    state_store& s = *opened.value;
    // Every file this process writes stops growing at 1 MiB: the WAL fills up like a disk.
    const rlimit limit{1024 * 1024, 1024 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(3);
    for (int batch = 0; batch < 100'000; ++batch) {
      std::vector<std::string> paths;
      for (std::size_t i = 0; i < crash_batch; ++i)
        paths.push_back(crash_path(0, batch, i) + std::string(150, 'p'));
      std::vector<pending_input> in;
      for (const auto& p : paths) in.push_back(pending(p, static_cast<std::uint64_t>(batch), 1));
      state_status st = s.mark_pending(in);
      if (st) {
        std::vector<input_result> out;
        const std::string reason = "batch " + std::to_string(batch);
        for (std::size_t i = 0; i < paths.size(); ++i) {
          out.push_back(result(paths[i], i % 3 == 0 ? input_status::failed : input_status::ok, reason,
                               static_cast<std::uint32_t>(batch + 1)));
        }
        st = s.record_results(out);
      }
      if (!st) {
        const std::string text = std::to_string(static_cast<int>(st.code)) + "|" + st.message;
        [[maybe_unused]] const auto n = ::write(report[1], text.data(), text.size());
        ::_exit(0);
      }
    }
    ::_exit(4);
  }
  ::close(report[1]);
  const std::string text = drain(report[0]);
  ::close(report[0]);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus));
  ASSERT_EQ(WEXITSTATUS(wstatus), 0) << "no write error before the limit";
  const auto bar = text.find('|');
  ASSERT_NE(bar, std::string::npos) << text;
  const auto code = static_cast<state_errc>(std::stoi(text.substr(0, bar)));
  const std::string message = text.substr(bar + 1);
  std::cout << "[   state  ] at the size limit: " << message << "\n";
  EXPECT_TRUE(code == state_errc::disk_full || code == state_errc::io) << message;
  EXPECT_NE(message.find(db), std::string::npos) << message;

  auto reopened = state_store::open(db, key_a);
  ASSERT_TRUE(reopened.value) << reopened.status.message;
  EXPECT_TRUE(reopened.value->check_integrity(true));
  // All or nothing per transaction: batches are whole; a batch is pending or resolved as a whole.
  std::map<int, std::pair<std::size_t, std::size_t>> batches;  // batch -> (rows, pending rows)
  for (const auto& e : all_entries(*reopened.value)) {
    auto& b = batches[std::stoi(e.path.substr(4))];
    ++b.first;
    b.second += e.record.status == input_status::pending ? 1 : 0;
  }
  EXPECT_GT(batches.size(), 3U);
  for (const auto& [batch, rows] : batches) {
    EXPECT_EQ(rows.first, crash_batch) << "batch " << batch;
    EXPECT_TRUE(rows.second == 0 || rows.second == crash_batch) << "batch " << batch;
  }
}

}  // namespace
