// Resumable, incremental runs with the state store: real processes, real signals, real files.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "state-token-31c9";

std::vector<std::string> upload_args(const fs::path& tree, const mock_server& mock, const temp_dir& dir) {
  return mock.upload_args(tree, dir / "results.jsonl", {"--state", (dir / "state.sqlite").string()});
}

// path -> status from `ximup export`.
std::map<std::string, std::string> exported(const temp_dir& dir, const mock_server& mock) {
  const int rc = run({XIMUP_BIN, "export", "--endpoint", "tagging", "--api-base", mock.base(), "--state",
                      (dir / "state.sqlite").string(), "-o", (dir / "export.jsonl").string()},
                     dir / "export.out", dir / "export.err");
  EXPECT_EQ(rc, 0) << read_text(dir / "export.err");
  std::map<std::string, std::string> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(dir / "export.jsonl"));
  for (std::string line; std::getline(in, line);) {
    auto doc = parser.parse(lenient(line));
    EXPECT_FALSE(doc.error()) << line;
    if (doc.error()) continue;
    const std::string path = bytes(std::string_view(doc["path"]));
    EXPECT_FALSE(out.contains(path)) << "exported twice: " << path;
    out[path] = std::string(std::string_view(doc["status"]));
  }
  return out;
}

// Paths (made absolute and normal, as the state keys them) with an `ok` line in the results file;
// every line must be whole JSON: a run killed mid-write must not leave a torn line behind.
std::set<std::string> ok_in_results(const fs::path& results) {
  std::set<std::string> ok;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(results));
  for (std::string line; std::getline(in, line);) {
    auto doc = parser.parse(lenient(line));
    EXPECT_FALSE(doc.error()) << "not a whole JSON line: " << line;
    if (doc.error()) continue;
    if (std::string_view(doc["outcome"]) == "ok")
      ok.insert(fs::absolute(bytes(std::string_view(doc["path"]))).lexically_normal().string());
  }
  return ok;
}

}  // namespace

TEST(State, RerunSendsOnlyNewAndChangedFiles) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "60", "--size-kib", "1", "--seed", "1"});
  mock_server mock(dir.path(), token);
  auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(total(ledger_counts(mock.ledger())), 60U);

  auto second = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(total(ledger_counts(mock.ledger())), 60U) << "an unchanged tree must send nothing";
  EXPECT_NE(second.err.find("60 unchanged"), std::string::npos) << second.err;

  // Add 3, change 2 (new content and size), touch 1 (same content, new mtime), delete 2.
  generate_images(dir / "extra", {"--count", "3", "--size-kib", "1", "--seed", "99"});
  std::vector<fs::path> originals;
  for (const auto& e : fs::directory_iterator(tree)) originals.push_back(e.path());
  std::sort(originals.begin(), originals.end());
  for (const auto& e : fs::directory_iterator(dir / "extra")) {
    fs::copy_file(e.path(), tree / ("new-" + e.path().filename().string()));
  }
  for (int i = 0; i < 2; ++i) {
    std::string content = read_text(originals[static_cast<std::size_t>(i)]);
    content += "changed";  // trailing bytes after the image data: still an image to the mock
    write_text(originals[static_cast<std::size_t>(i)], content);
  }
  fs::last_write_time(originals[2], fs::last_write_time(originals[2]) + 5s);
  fs::remove(originals[3]);
  fs::remove(originals[4]);

  auto third = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(third.exit_code, 0) << third.err;
  const auto counts = ledger_counts(mock.ledger());
  EXPECT_EQ(total(counts), 60U + 3 + 2 + 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(counts.at(fs::relative(originals[static_cast<std::size_t>(i)], tree).string()), 2) << i;
  }
}

// --checksum compares contents: a touched file is not sent, and the facts it records then let a
// normal run skip it too and a later checksum run catch a change that kept size and mtime.
TEST(State, ChecksumModeComparesContentsAndRecordsWhatItChecked) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "1", "--seed", "41"});
  mock_server mock(dir.path(), token);
  const auto upload = [&](std::vector<std::string> extra = {}) {
    auto args = upload_args(tree, mock, dir);
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = run_ximup(dir.path(), args, token);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return total(ledger_counts(mock.ledger()));
  };
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tree)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(upload(), 3U);                                               // recorded without hashes
  EXPECT_EQ(upload({"--checksum"}), 3U) << "unchanged files were sent";  // records their hashes

  // Touched (same bytes, new mtime): checksum mode skips it, and a normal run after it too.
  fs::last_write_time(files[0], fs::last_write_time(files[0]) + 5s);
  EXPECT_EQ(upload({"--checksum"}), 3U) << "same content under a new mtime was sent";
  EXPECT_EQ(upload(), 3U)
      << "the normal run took the new mtime for a change: checksum mode did not record it";

  // Same size, same mtime, other bytes (a copy that keeps times): only a recorded hash can tell.
  const auto mtime = fs::last_write_time(files[1]);
  std::string content = read_text(files[1]);
  content[content.size() - 1] = static_cast<char>(content.back() ^ 0x55);
  write_text(files[1], content);
  fs::last_write_time(files[1], mtime);
  EXPECT_EQ(upload(), 3U) << "a normal run cannot see this change";
  EXPECT_EQ(upload({"--checksum"}), 4U) << "the checksum run missed a content change";
  EXPECT_EQ(upload({"--checksum"}), 4U) << "unchanged since the last checksum run";
}

TEST(State, SecondConcurrentRunIsRefusedWithExitSix) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "200", "--size-kib", "1", "--seed", "2"});
  mock_server mock(dir.path(), token, {"--latency-ms", "300"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  process first(args, dir / "first.out", dir / "first.err", {std::string("XIMILAR_API_TOKEN=") + token});
  std::this_thread::sleep_for(700ms);  // the first run holds the lock by now
  auto second = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(second.exit_code, 6) << second.err;
  EXPECT_NE(second.err.find("another ximup run"), std::string::npos) << second.err;
  // Only the error: no progress line and no summary of a run that never started.
  EXPECT_EQ(second.err.find("progress:"), std::string::npos) << second.err;
  EXPECT_EQ(second.err.find("ximup summary"), std::string::npos) << second.err;
  EXPECT_EQ(first.wait(120s), 0) << read_text(dir / "first.err");
}

// Files deleted after they failed stay in the state until `ximup prune` removes them; prune
// keeps what exists, keeps ok inputs unless --all, and waits for no running upload (exit 6).
TEST(State, PruneRemovesInputsWhoseFilesAreGone) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "4", "--size-kib", "1", "--seed", "31"});
  write_text(tree / "broken-1.jpg", "not an image");
  write_text(tree / "broken 2.jpg", "not an image either");
  mock_server mock(dir.path(), token);
  auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 1) << first.err;  // the two broken files failed
  fs::remove(tree / "broken 2.jpg");
  fs::remove(tree / "img_000000.jpg");  // an ok input whose file is gone

  const std::vector<std::string> state_args = {"--endpoint", "tagging", "--api-base",
                                               mock.base(),  "--state", (dir / "state.sqlite").string()};
  const auto command = [&](std::vector<std::string> argv) {
    argv.insert(argv.begin(), XIMUP_BIN);
    argv.insert(argv.end(), state_args.begin(), state_args.end());
    return run(argv, dir / "cmd.out", dir / "cmd.err");
  };
  EXPECT_EQ(command({"status"}), 0) << read_text(dir / "cmd.err");
  EXPECT_NE(read_text(dir / "cmd.out").find("gone: 1 of the inputs not ok"), std::string::npos)
      << read_text(dir / "cmd.out");

  EXPECT_EQ(command({"prune", "--dry-run"}), 0) << read_text(dir / "cmd.err");
  EXPECT_NE(read_text(dir / "cmd.out").find("broken 2.jpg\"\tfailed"), std::string::npos)
      << read_text(dir / "cmd.out");
  EXPECT_EQ(exported(dir, mock).size(), 6U) << "--dry-run changed the state";

  EXPECT_EQ(command({"prune"}), 0) << read_text(dir / "cmd.err");
  auto left = exported(dir, mock);
  EXPECT_EQ(left.size(), 5U);
  EXPECT_EQ(left.count((tree / "broken 2.jpg").string()), 0U);
  EXPECT_EQ(left[(tree / "broken-1.jpg").string()], "failed") << "a failed input whose file exists stays";
  EXPECT_EQ(left[(tree / "img_000000.jpg").string()], "ok") << "ok inputs stay without --all";

  EXPECT_EQ(command({"prune", "--all"}), 0) << read_text(dir / "cmd.err");
  left = exported(dir, mock);
  EXPECT_EQ(left.size(), 4U);
  EXPECT_EQ(left.count((tree / "img_000000.jpg").string()), 0U);

  // Not while an upload holds the state.
  fs::create_directories(dir / "slow");
  mock_server slow(dir / "slow", token, {"--latency-ms", "3000"});
  auto args =
      slow.upload_args(tree, dir / "results2.jsonl", {"--state", (dir / "state.sqlite").string(), "--force"});
  args.insert(args.begin(), XIMUP_BIN);
  process upload(args, dir / "up.out", dir / "up.err", {std::string("XIMILAR_API_TOKEN=") + token});
  ASSERT_TRUE(slow.wait_for_counter("requests", 1)) << read_text(dir / "up.err");  // it holds the lock
  EXPECT_EQ(command({"prune"}), 6) << read_text(dir / "cmd.err");
  EXPECT_EQ(upload.wait(60s), 1) << read_text(dir / "up.err");  // broken-1.jpg fails again
}

TEST(State, SigtermDrainsInFlightAndTheRerunFinishes) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "400", "--size-kib", "1", "--seed", "3"});
  mock_server mock(dir.path(), token, {"--latency-ms", "400"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  args.insert(args.end(), {"--connections", "4", "--summary-json", (dir / "run1.json").string()});
  process run1(args, dir / "run1.out", dir / "run1.err", {std::string("XIMILAR_API_TOKEN=") + token});
  std::this_thread::sleep_for(1500ms);
  run1.signal(SIGTERM);
  const int rc = run1.wait(60s);
  EXPECT_EQ(rc, 143) << read_text(dir / "run1.err");
  const std::size_t sent_before = total(ledger_counts(mock.ledger()));
  EXPECT_GT(sent_before, 0U);
  EXPECT_LT(sent_before, 400U) << "the stop must leave work for the rerun";
  // What the stop left unsent is "cancelled" (may succeed on a rerun), never a local failure, and
  // the run's own record counts as sent only what reached the server.
  simdjson::dom::parser parser;
  simdjson::dom::element summary;
  ASSERT_EQ(parser.parse(read_text(dir / "run1.json")).get(summary), simdjson::SUCCESS);
  EXPECT_EQ(std::uint64_t(summary["files_ok"]), sent_before);
  EXPECT_TRUE(summary["failures_by_reason"]["local"].error()) << read_text(dir / "run1.json");
  EXPECT_EQ(std::uint64_t(summary["files_failed"]), std::uint64_t(summary["files_failed_retryable"]));
  const int status_rc = run({XIMUP_BIN, "status", "--endpoint", "tagging", "--api-base", mock.base(),
                             "--state", (dir / "state.sqlite").string()},
                            dir / "status.out", dir / "status.err");
  EXPECT_EQ(status_rc, 0) << read_text(dir / "status.err");
  EXPECT_NE(read_text(dir / "status.out").find("sent " + std::to_string(sent_before) + " ok"),
            std::string::npos)
      << read_text(dir / "status.out");

  auto rerun = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
  const auto counts = ledger_counts(mock.ledger());
  EXPECT_EQ(counts.size(), 400U);
  EXPECT_EQ(total(counts), 400U) << "a drained stop leaves no outcome unknown: nothing is sent twice";
  for (const auto& [path, status] : exported(dir, mock)) EXPECT_EQ(status, "ok") << path;
}

TEST(State, CrashLoopWithSigkillEndsWithEveryFileExactlyOnce) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "2000", "--nested", "--size-kib", "1", "--seed", "4"});
  mock_server mock(dir.path(), token, {"--latency-ms", "2"});
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> delay_ms(20, 250);
  constexpr int kills = 22;
  constexpr int connections = 4;
  for (int k = 0; k < kills; ++k) {
    auto args = upload_args(tree, mock, dir);
    args.insert(args.begin(), XIMUP_BIN);
    args.insert(args.end(), {"--connections", std::to_string(connections), "--log-level", "warn"});
    process p(args, dir / "crash.out", dir / "crash.err", {std::string("XIMILAR_API_TOKEN=") + token});
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    p.signal(SIGKILL);
    p.wait(30s);
  }
  auto final_run = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(final_run.exit_code, 0) << final_run.err;

  const auto counts = ledger_counts(mock.ledger());
  EXPECT_EQ(counts.size(), 2000U) << "every file reached the server";
  // Duplicates only from requests in flight at a kill: at most connections x 10 records each,
  // plus the queued request a worker may have marked pending just before the kill.
  const std::size_t duplicates = total(counts) - counts.size();
  EXPECT_LE(duplicates, static_cast<std::size_t>(kills * (connections * 2 + 2) * 10));
  const auto states = exported(dir, mock);
  EXPECT_EQ(states.size(), 2000U) << "every file exactly once in the export";
  for (const auto& [path, status] : states) EXPECT_EQ(status, "ok") << path;
  // The state calls each of them ok only after its result line was on disk: no kill in between
  // may leave an input done in the state with its tags lost from the results file.
  const auto ok_lines = ok_in_results(dir / "results.jsonl");
  for (const auto& [path, status] : states) EXPECT_TRUE(ok_lines.contains(path)) << "no ok line: " << path;
}

// Every input a stopped run left unsent is in the state as not done: the ones cut short in flight
// and the ones still waiting to be read, so `ximup failures` lists as many as the results call not
// sent, and --retry-failed (which takes no new inputs) sends every one of them.
TEST(State, InputsAStopLeftUnsentAreRetryableInTheState) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "200", "--size-kib", "1", "--seed", "8"});
  mock_server mock(dir.path(), token, {"--latency-ms", "300"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  args.insert(args.end(), {"--connections", "2", "--batch-size", "2"});
  process p(args, dir / "p.out", dir / "p.err", {std::string("XIMILAR_API_TOKEN=") + token});
  // Stopped once requests are under way (a fixed 1.5 s could come before the first on a loaded
  // machine under ASan); 100 requests at 300 ms on two connections take 15 s.
  EXPECT_TRUE(mock.wait_for_counter("requests", 2, 60s)) << read_text(dir / "p.err");
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(60s), 143) << read_text(dir / "p.err");
  std::size_t not_done = 0;
  for (const auto& [path, status] : exported(dir, mock)) not_done += status == "ok" ? 0U : 1U;
  std::size_t failed_lines = 0;
  std::istringstream lines(read_text(dir / "results.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    if (line.find(R"("outcome":"failed")") == std::string::npos) continue;
    ++failed_lines;
    // One text for one cause, whichever stage the stop met the input in (grep and jq filter on it).
    EXPECT_NE(line.find(R"x("error":"not sent: the run was stopped (run again to send it)")x"),
              std::string::npos)
        << line;
  }
  EXPECT_GT(failed_lines, 0U);
  EXPECT_EQ(not_done, failed_lines) << "inputs the results call not sent are missing from the state";
  const std::size_t accepted = ledger_counts(mock.ledger()).size();
  auto retry = upload_args(tree, mock, dir);
  retry.emplace_back("--retry-failed");
  const auto again = run_ximup(dir.path(), retry, token);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(ledger_counts(mock.ledger()).size(), accepted + failed_lines)
      << "--retry-failed left inputs unsent";
  mock.stop();
}

// A run killed without its summary (SIGKILL) has no outcome in the state: `status` shows it as died,
// not running, once its process is gone; a live run shows as running.
TEST(State, StatusTellsADeadRunFromARunningOne) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "40", "--size-kib", "1", "--seed", "6"});
  mock_server mock(dir.path(), token, {"--hang-rate", "1"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  // `ximup status` output, or "" while it fails (before the upload has created the state file).
  const auto status = [&] {
    const int rc = run({XIMUP_BIN, "status", "--endpoint", "tagging", "--api-base", mock.base(), "--state",
                        (dir / "state.sqlite").string()},
                       dir / "status.out", dir / "status.err");
    return rc == 0 ? read_text(dir / "status.out") : std::string();
  };
  process p(args, dir / "p.out", dir / "p.err", {std::string("XIMILAR_API_TOKEN=") + token});
  std::string shown;
  for (int i = 0; i < 100 && shown.find(" running ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(100ms);
    shown = status();
  }
  EXPECT_NE(shown.find(" running "), std::string::npos) << shown << read_text(dir / "status.err");
  p.signal(SIGKILL);
  p.wait(30s);
  shown = status();
  ASSERT_FALSE(shown.empty()) << read_text(dir / "status.err");
  EXPECT_EQ(shown.find(" running "), std::string::npos) << shown;
  EXPECT_NE(shown.find(" died "), std::string::npos) << shown;
  mock.stop();
}

// A 401 says nothing about the images: inputs refused with it are sent by the next run (with the
// token fixed) without --retry-failed.
TEST(State, InputsRefusedWithA401AreSentByTheNextRun) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "120", "--size-kib", "1", "--seed", "6"});
  std::string port;
  {
    mock_server refusing(dir.path(), token, {"--reject-token-after", "3", "--latency-ms", "20"});
    port = refusing.port();
    auto args = upload_args(tree, refusing, dir);
    args.insert(args.end(), {"--connections", "2"});
    const auto first = run_ximup(dir.path(), args, token);
    refusing.stop();
    ASSERT_EQ(first.exit_code, 3) << first.err;
    ASSERT_LT(total(ledger_counts(refusing.ledger())), 120U) << "the 401s came before the end";
  }
  fs::remove(dir / "ledger.jsonl");
  // The same endpoint URL (port included), so the same job in the state: only the token is fixed.
  mock_server mock(dir.path(), token, {"--listen", "127.0.0.1:" + port});
  const auto second = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  const auto states = exported(dir, mock);
  EXPECT_EQ(states.size(), 120U);
  for (const auto& [path, status] : states) EXPECT_EQ(status, "ok") << path;
}

// A new list per cron run names only new files: what an earlier run left unfinished (here refused
// with a wrong token, so retryable) is not sent by a run whose list does not name it, and that run
// says how many wait and where to find them; a walk, which names every file, says nothing.
TEST(State, AListRunSaysWhatEarlierRunsLeftUnfinishedOutsideItsList) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  fs::create_directories(tree);  // (generate_images logs beside its output)
  generate_images(tree / "old", {"--count", "3", "--size-kib", "1", "--seed", "12"});
  generate_images(tree / "new", {"--count", "1", "--size-kib", "1", "--seed", "13"});
  const auto list_of = [&](const fs::path& sub, const fs::path& list) {
    std::string lines;
    for (const auto& e : fs::directory_iterator(sub)) lines += e.path().string() + "\n";
    write_text(list, lines);
  };
  list_of(tree / "old", dir / "old.txt");
  list_of(tree / "new", dir / "new.txt");
  mock_server mock(dir.path(), token);
  const auto from = [&](const fs::path& list) {
    auto args = upload_args(tree, mock, dir);
    args[1] = "--files-from";
    args.insert(args.begin() + 2, list.string());
    return args;
  };
  const auto refused = run_ximup(dir.path(), from(dir / "old.txt"), "not-the-token");
  ASSERT_EQ(refused.exit_code, 3) << refused.err;
  const auto next = run_ximup(dir.path(), from(dir / "new.txt"), token);
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_NE(
      next.err.find("3 inputs that earlier runs left unfinished (pending or retryable) were not in this "
                    "run's inputs"),
      std::string::npos)
      << next.err;
  const auto walk = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(walk.exit_code, 0) << walk.err;
  EXPECT_EQ(walk.err.find("not in this run's inputs"), std::string::npos) << walk.err;
  for (const auto& [path, status] : exported(dir, mock)) EXPECT_EQ(status, "ok") << path;
}

// The state keys inputs by absolute path: the same tree named another way (./tree, an absolute
// path, from another working directory) is the same inputs, not new ones.
TEST(State, TheSameTreeSpelledAnotherWayIsNotSentAgain) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "30", "--size-kib", "1", "--seed", "7"});
  mock_server mock(dir.path(), token);
  const auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(total(ledger_counts(mock.ledger())), 30U);
  // Relative to a working directory: dir/tree/../tree/./ from inside dir.
  auto args = upload_args("tree/../tree/.", mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  const int rc = run(args, dir / "again.out", dir / "again.err", {std::string("XIMILAR_API_TOKEN=") + token},
                     std::chrono::minutes(2), dir.path());
  EXPECT_EQ(rc, 0) << read_text(dir / "again.err");
  EXPECT_EQ(total(ledger_counts(mock.ledger())), 30U) << "nothing is sent again";
  EXPECT_NE(read_text(dir / "again.err").find("30 unchanged"), std::string::npos)
      << read_text(dir / "again.err");
}

// --min-age leaves files modified too recently (a copy still filling them) for a later run, which
// takes them once they are old enough; a dry run counts them.
TEST(State, FilesNewerThanMinAgeWaitForALaterRun) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "10", "--size-kib", "1", "--seed", "11"});
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tree)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const auto an_hour_ago = fs::file_time_type::clock::now() - 1h;
  for (std::size_t i = 3; i < files.size(); ++i) fs::last_write_time(files[i], an_hour_ago);
  mock_server mock(dir.path(), token);
  auto args = upload_args(tree, mock, dir);
  args.insert(args.end(), {"--min-age", "10m"});

  auto dry = args;
  dry.emplace_back("--dry-run");
  const auto plan = run_ximup(dir.path(), dry, token);
  EXPECT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("would send:   7 inputs"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("too new:      3 files"), std::string::npos) << plan.out;

  const auto first = run_ximup(dir.path(), args, token);
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("3 files modified less than --min-age 600s"), std::string::npos) << first.err;
  auto counts = ledger_counts(mock.ledger());
  EXPECT_EQ(total(counts), 7U);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_FALSE(counts.contains(files[i].filename().string())) << i;

  for (std::size_t i = 0; i < 3; ++i) fs::last_write_time(files[i], an_hour_ago);
  const auto second = run_ximup(dir.path(), args, token);
  EXPECT_EQ(second.exit_code, 0) << second.err;
  counts = ledger_counts(mock.ledger());
  EXPECT_EQ(total(counts), 10U) << "the files old enough now are sent, the others not again";
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(counts[files[i].filename().string()], 1) << i;
}

// A server that refuses every request as a whole (here one that takes at most 5 records, with
// ximup's batches of 10): that is the request's fault, not its images'. The run stops after three
// refusals in a row (exit 2, a configuration error) instead of failing the tree request by request,
// and no image is recorded failed: the run with a batch size the server takes sends them all.
TEST(State, RequestsRefusedAsAWholeStopTheRunAndLeaveTheImagesToSend) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "60", "--size-kib", "1", "--seed", "43"});
  mock_server mock(dir.path(), token, {"--max-records", "5"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.end(), {"--connections", "1"});
  const auto refused = run_ximup(dir.path(), args, token);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("the API refused 3 requests in a row as a whole (HTTP 400"), std::string::npos)
      << refused.err;
  EXPECT_NE(read_text(dir / "results.jsonl").find("the API refused the request as a whole, not this image"),
            std::string::npos);
  for (const auto& [path, status] : exported(dir, mock)) EXPECT_NE(status, "failed") << path;

  // One refused request (a run too small to meet three): exit 1, as for images the API rejected (a
  // rerun alone sends the same refused request), and its images are still to send.
  const fs::path few = dir / "few";
  generate_images(few, {"--count", "7", "--size-kib", "1", "--seed", "44"});
  auto few_args = mock.upload_args(few, dir / "few.jsonl", {"--state", (dir / "few.sqlite").string()});
  const auto one = run_ximup(dir.path(), few_args, token);
  EXPECT_EQ(one.exit_code, 1) << one.err;
  EXPECT_EQ(one.err.find("may succeed on a rerun"), std::string::npos) << one.err;

  args.insert(args.end(), {"--batch-size", "5"});
  const auto fixed = run_ximup(dir.path(), args, token);
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  std::size_t ok = 0;
  for (const auto& [path, status] : exported(dir, mock)) ok += status == "ok" ? 1U : 0U;
  EXPECT_EQ(ok, 60U);
  mock.stop();
  EXPECT_EQ(total(ledger_counts(mock.ledger())), 60U);
}

// A file written while ximup reads it is never sent half-written: the run fails it as changed (exit 5,
// a rerun may fix it), the state lists it as retryable, and the next run, once the writing stopped,
// sends it. The writer here is a thread that keeps setting the file's mtime: an 8 MB read overlaps
// thousands of its changes.
TEST(State, AFileBeingWrittenIsRetriedNotSentHalfWritten) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "1", "--size-kib", "1", "--seed", "12"});
  const fs::path busy = fs::directory_iterator(tree)->path();
  {
    std::string content = read_text(busy);
    content.append(24U << 20U, 'x');  // trailing bytes after the image data: still an image to the mock
    write_text(busy, content);
  }
  mock_server mock(dir.path(), token);
  auto args = upload_args(tree, mock, dir);
  args.insert(args.end(), {"--max-body-bytes", "64MiB"});
  std::atomic<bool> done{false};
  std::thread writer([&] {
    auto t = fs::file_time_type::clock::now() - 1h;
    std::error_code ec;
    while (!done.load()) fs::last_write_time(busy, t += 1s, ec);
  });
  // A 24 MB read overlaps the writer's changes unless the scheduler leaves the writer out for all of
  // it (two cores shared with sanitizers and clang-tidy in CI): up to three runs. A run whose read the
  // writer missed sends the file whole (the content never changes), which is counted.
  std::size_t sent_whole = 0;
  ximup_run refused;
  for (int attempt = 0; attempt < 3 && refused.exit_code != 5; ++attempt) {
    refused = run_ximup(dir.path(), args, token);
    if (refused.exit_code == 0) ++sent_whole;
  }
  done = true;
  writer.join();
  ASSERT_EQ(refused.exit_code, 5) << "three runs sent a file whose mtime changed all the time:\n"
                                  << refused.err;
  std::string last_line;
  std::istringstream lines(read_text(dir / "results.jsonl"));
  for (std::string line; std::getline(lines, line);) last_line = line;
  EXPECT_NE(last_line.find(R"("outcome":"failed")"), std::string::npos) << last_line;
  // (Caught at the open when the writer changed it after the scan, else while it was read.)
  EXPECT_TRUE(last_line.find("changed while being read") != std::string::npos ||
              last_line.find("changed after the scan (modified again)") != std::string::npos)
      << last_line;
  EXPECT_EQ(total(ledger_counts(mock.ledger())), sent_whole) << "a file that changed while read was sent";
  EXPECT_EQ(exported(dir, mock)[fs::absolute(busy).lexically_normal().string()], "retryable");

  const auto after = run_ximup(dir.path(), args, token);
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(total(ledger_counts(mock.ledger())), sent_whole + 1);
}

// `export -o` and `failures -o` write only over an earlier export: `-o` naming the state file emptied
// it before it was read (the next run sent everything again), `-o results.jsonl` lost the API's
// answers. And a --log-file that names the state or the results is refused before anything is
// appended to it.
TEST(State, NoCommandWritesOverTheStateOrTheResults) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "5", "--size-kib", "1", "--seed", "13"});
  mock_server mock(dir.path(), token);
  const auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const std::string state_before = read_text(dir / "state.sqlite");
  const std::string results_before = read_text(dir / "results.jsonl");
  write_text(dir / "notes.txt", "my notes\n");
  const auto state_command = [&](const std::string& command, const fs::path& out) {
    return run({XIMUP_BIN, command, "--endpoint", "tagging", "--api-base", mock.base(), "--state",
                (dir / "state.sqlite").string(), "-o", out.string()},
               dir / "cmd.out", dir / "cmd.err");
  };
  for (const char* command : {"export", "failures"}) {
    for (const fs::path& target : {dir / "state.sqlite", dir / "results.jsonl", dir / "notes.txt"}) {
      EXPECT_EQ(state_command(command, target), 2) << command << " -o " << target;
      EXPECT_NE(read_text(dir / "cmd.err").find("choose another -o path"), std::string::npos)
          << read_text(dir / "cmd.err");
    }
    EXPECT_EQ(state_command(command, dir / "latest.jsonl"), 0) << read_text(dir / "cmd.err");
    EXPECT_EQ(state_command(command, dir / "latest.jsonl"), 0) << "an earlier export is written over";
  }
  EXPECT_EQ(read_text(dir / "notes.txt"), "my notes\n");

  for (const char* log : {"state.sqlite", "results.jsonl"}) {
    auto args = upload_args(tree, mock, dir);
    args.insert(args.end(), {"--log-file", (dir / log).string()});
    const auto refused = run_ximup(dir.path(), args, token);
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
  }
  // A fresh directory: the default state path given as --log-file is not created by the refusal.
  fs::create_directories(dir / "fresh");
  const auto fresh =
      run_ximup(dir / "fresh",
                mock.upload_args(tree, dir / "fresh" / "results.jsonl",
                                 {"--log-file", (dir / "fresh" / "ximup-state.sqlite").string()}),
                token);
  EXPECT_EQ(fresh.exit_code, 2) << fresh.err;
  EXPECT_FALSE(fs::exists(dir / "fresh" / "ximup-state.sqlite"));
  EXPECT_EQ(read_text(dir / "state.sqlite"), state_before) << "the state file was written to";
  EXPECT_EQ(read_text(dir / "results.jsonl"), results_before) << "the results file was written to";
}

// What prune counts as gone. A disk that is not mounted leaves its mount point empty, and every file
// under it looked deleted: `prune --all` dropped them all and the next run sent them again. Inputs
// that succeeded under an empty directory (however deep) are kept now; files of a deleted folder
// beside others, a file whose folder became a file, and a file replaced by a directory are gone; an
// input not done yet (a drop folder emptied after a failure) goes on absence alone.
TEST(State, PruneTellsADeletedFolderFromADiskNotMounted) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(dir / "gen", {"--count", "7", "--size-kib", "1", "--seed", "14"});
  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(dir / "gen")) images.push_back(e.path());
  std::sort(images.begin(), images.end());
  const fs::path mount = tree / "mnt";            // stands for a mount point
  const fs::path old_batch = tree / "old" / "b";  // a folder that becomes a file
  fs::create_directories(mount / "day1");
  fs::create_directories(old_batch);
  fs::create_directories(tree / "old" / "c");  // a folder the user deletes
  fs::create_directories(tree / "drop");       // a drop folder emptied after a failure
  fs::copy_file(images[0], mount / "day1" / "a.jpg");
  fs::copy_file(images[1], mount / "b.jpg");
  fs::copy_file(images[2], old_batch / "c.jpg");
  fs::copy_file(images[3], tree / "old" / "keep.jpg");
  fs::copy_file(images[4], tree / "now-a-dir.jpg");
  fs::copy_file(images[5], tree / "stays.jpg");
  fs::copy_file(images[6], tree / "old" / "c" / "d.jpg");
  write_text(tree / "drop" / "bad.jpg", "not an image");
  mock_server mock(dir.path(), token);
  const auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 1) << first.err;  // bad.jpg failed

  fs::remove_all(mount / "day1");  // "unmounted": the mount point is there and empty
  fs::remove(mount / "b.jpg");
  fs::remove_all(old_batch);
  write_text(old_batch, "a file where the folder was");
  fs::remove_all(tree / "old" / "c");
  fs::remove(tree / "now-a-dir.jpg");
  fs::create_directories(tree / "now-a-dir.jpg");
  fs::remove(tree / "drop" / "bad.jpg");
  const auto prune = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {XIMUP_BIN,    "prune",   "--dry-run",
                                     "--endpoint", "tagging", "--api-base",
                                     mock.base(),  "--state", (dir / "state.sqlite").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    EXPECT_EQ(run(argv, dir / "prune.out", dir / "prune.err"), 0) << read_text(dir / "prune.err");
    return read_text(dir / "prune.out");
  };
  const std::string all = prune({"--all"});
  for (const char* gone : {"old/b/c.jpg", "old/c/d.jpg", "now-a-dir.jpg", "drop/bad.jpg"}) {
    EXPECT_NE(all.find(gone), std::string::npos) << gone << " is gone:\n" << all;
  }
  for (const char* kept : {"mnt/", "keep.jpg", "stays.jpg"}) {
    EXPECT_EQ(all.find(kept), std::string::npos) << kept << " is not gone:\n" << all;
  }
  const std::string not_ok = prune({});
  EXPECT_NE(not_ok.find("drop/bad.jpg"), std::string::npos) << not_ok;
}

// Started with SIGHUP ignored (`nohup ximup upload ... &`), a run outlives the session that started
// it: a SIGHUP does not stop it.
TEST(State, AnIgnoredSighupStaysIgnored) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "40", "--size-kib", "1", "--seed", "18"});
  mock_server mock(dir.path(), token, {"--latency-ms", "200"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  args.insert(args.begin(), "/usr/bin/nohup");
  args.insert(args.end(), {"--connections", "1"});
  process run1(args, dir / "run.out", dir / "run.err", {std::string("XIMILAR_API_TOKEN=") + token});
  ASSERT_TRUE(mock.wait_for_counter("requests", 1)) << read_text(dir / "run.err");
  run1.signal(SIGHUP);
  EXPECT_EQ(run1.wait(60s), 0) << read_text(dir / "run.err");
  EXPECT_EQ(total(ledger_counts(mock.ledger())), 40U);
}

// SIGHUP (a terminal or SSH session closed under a catch-up run) drains like SIGTERM: exit 129 with
// a summary and every answered input recorded, instead of the default action killing the run.
TEST(State, SighupDrainsLikeSigterm) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "200", "--size-kib", "1", "--seed", "15"});
  mock_server mock(dir.path(), token, {"--latency-ms", "300"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  args.insert(args.end(), {"--connections", "2", "--summary-json", (dir / "run.json").string()});
  process run1(args, dir / "run.out", dir / "run.err", {std::string("XIMILAR_API_TOKEN=") + token});
  ASSERT_TRUE(mock.wait_for_counter("requests", 1)) << read_text(dir / "run.err");
  run1.signal(SIGHUP);
  EXPECT_EQ(run1.wait(60s), 129) << read_text(dir / "run.err");
  EXPECT_NE(read_text(dir / "run.err").find("received SIGHUP"), std::string::npos)
      << read_text(dir / "run.err");
  // The last progress line does not call the inputs found before the stop the whole: not "N/N (100.0%)".
  EXPECT_NE(read_text(dir / "run.err").find("progress: "), std::string::npos) << read_text(dir / "run.err");
  EXPECT_EQ(read_text(dir / "run.err").find("(100.0%)"), std::string::npos) << read_text(dir / "run.err");
  simdjson::dom::parser parser;
  simdjson::dom::element summary;
  ASSERT_EQ(parser.parse(read_text(dir / "run.json")).get(summary), simdjson::SUCCESS);
  EXPECT_EQ(std::uint64_t(summary["files_ok"]), total(ledger_counts(mock.ledger())));
  EXPECT_EQ(std::uint64_t(summary["unknown_at_stop"]), 0U);
}

// A run after a crash says it resumes, and its summary counts the inputs it sends again that the
// killed run left pending (outcome unknown: the server may have them twice).
TEST(State, ARunAfterACrashSaysWhatItResumes) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "60", "--size-kib", "1", "--seed", "16"});
  mock_server mock(dir.path(), token, {"--latency-ms", "2000"});
  auto args = upload_args(tree, mock, dir);
  args.insert(args.begin(), XIMUP_BIN);
  args.insert(args.end(), {"--connections", "2"});
  process killed(args, dir / "k.out", dir / "k.err", {std::string("XIMILAR_API_TOKEN=") + token});
  ASSERT_TRUE(mock.wait_for_counter("requests", 2)) << read_text(dir / "k.err");
  std::this_thread::sleep_for(300ms);  // the pending marks are committed within 50 ms
  killed.signal(SIGKILL);
  killed.wait(30s);
  std::size_t pending = 0;
  const auto recorded = exported(dir, mock);
  for (const auto& [path, status] : recorded) pending += status == "pending" ? 1U : 0U;
  ASSERT_GT(pending, 0U);
  // `status` counts the killed run by the inputs it recorded (it showed "sent 0 ok 0").
  ASSERT_EQ(run({XIMUP_BIN, "status", "--endpoint", "tagging", "--api-base", mock.base(), "--state",
                 (dir / "state.sqlite").string()},
                dir / "status.out", dir / "status.err"),
            0)
      << read_text(dir / "status.err");
  const std::string shown = read_text(dir / "status.out");
  EXPECT_NE(shown.find(" died "), std::string::npos) << shown;
  EXPECT_NE(shown.find("sent " + std::to_string(recorded.size()) + " ok "), std::string::npos) << shown;
  EXPECT_NE(shown.find("skipped ?"), std::string::npos) << shown;
  // A run cut short by --max-files counts only what it took.
  auto limited = upload_args(tree, mock, dir);
  limited.insert(limited.end(), {"--max-files", "3"});
  const auto first3 = run_ximup(dir.path(), limited, token);
  EXPECT_EQ(first3.exit_code, 0) << first3.err;
  const auto at = first3.err.find("resumed:      ");  // (the killed run had taken the first inputs)
  ASSERT_NE(at, std::string::npos) << first3.err;
  EXPECT_LE(std::stoul(first3.err.substr(at + 14)), 3U) << first3.err;
  pending = 0;
  for (const auto& [path, status] : exported(dir, mock)) pending += status == "pending" ? 1U : 0U;
  ASSERT_GT(pending, 0U);
  const auto again = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("resuming: inputs an earlier run left unfinished"), std::string::npos)
      << again.err;
  EXPECT_NE(
      again.err.find("resumed:      " + std::to_string(pending) + " inputs an earlier run left pending"),
      std::string::npos)
      << again.err;
}

// The state keys a job by its endpoint URL as written: a run that spells the same endpoint another
// way (a trailing slash) starts a new job and sends everything again. It now warns, naming the jobs
// the file holds.
TEST(State, ANewJobBesideOthersIsWarnedAbout) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "1", "--seed", "17"});
  mock_server mock(dir.path(), token);
  const auto first = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.err.find("starts a new job"), std::string::npos) << first.err;
  const auto same = run_ximup(dir.path(), upload_args(tree, mock, dir), token);
  EXPECT_EQ(same.err.find("starts a new job"), std::string::npos) << same.err;
  auto args = upload_args(tree, mock, dir);
  *std::find(args.begin(), args.end(), "tagging") = mock.base() + "tagging/generic/v2/tags/";
  // A dry run warns as well (it said only "3 to send").
  auto dry_same = upload_args(tree, mock, dir);
  dry_same.emplace_back("--dry-run");
  const auto planned_same = run_ximup(dir.path(), dry_same, token);
  EXPECT_EQ(planned_same.exit_code, 0) << planned_same.err;
  EXPECT_EQ(planned_same.err.find("new job"), std::string::npos) << planned_same.err;
  auto dry_other = args;
  dry_other.emplace_back("--dry-run");
  const auto planned_other = run_ximup(dir.path(), dry_other, token);
  EXPECT_EQ(planned_other.exit_code, 0) << planned_other.err;
  EXPECT_NE(planned_other.err.find("the real run would start a new job"), std::string::npos)
      << planned_other.err;
  EXPECT_NE(planned_other.err.find("1 job(s): " + mock.base() + "tagging/generic/v2/tags"), std::string::npos)
      << planned_other.err;
  const auto other = run_ximup(dir.path(), args, token);
  EXPECT_NE(other.err.find("starts a new job"), std::string::npos) << other.err;
  EXPECT_NE(other.err.find("1 job(s): " + mock.base() + "tagging/generic/v2/tags"), std::string::npos)
      << other.err;

  // A first run stopped at once by a mistyped endpoint leaves a job without inputs: the corrected
  // run is not told to spell its endpoint like that one.
  fs::create_directories(dir / "fresh");
  const auto state2 = (dir / "fresh" / "state.sqlite").string();
  auto typo = mock.upload_args(tree, dir / "fresh" / "r.jsonl", {"--state", state2});
  *std::find(typo.begin(), typo.end(), "tagging") = mock.base() + "tagging/generic/v2/tagz";
  const auto mistyped = run_ximup(dir / "fresh", typo, token);
  EXPECT_EQ(mistyped.exit_code, 2) << mistyped.err;
  const auto fixed =
      run_ximup(dir / "fresh", mock.upload_args(tree, dir / "fresh" / "r.jsonl", {"--state", state2}), token);
  EXPECT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(fixed.err.find("starts a new job"), std::string::npos) << fixed.err;
}
