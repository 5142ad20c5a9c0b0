// Reliability under injected faults: real ximup and ximup-mock processes over TLS on loopback.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string_view>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "faults-token-77aa";

std::map<std::string, std::string> files_under(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = read_text(e.path());
  }
  return files;
}

struct parsed_result {
  std::string outcome;
  std::string error;
  int64_t attempts = 0;
};

std::multimap<std::string, parsed_result> results_by_id(const fs::path& p) {
  std::multimap<std::string, parsed_result> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(p));
  for (std::string line; std::getline(in, line);) {
    auto doc = parser.parse(lenient(line));
    EXPECT_FALSE(doc.error()) << line;
    if (doc.error()) continue;
    parsed_result r;
    r.outcome = std::string(std::string_view(doc["outcome"]));
    std::string_view err;
    if (!doc["error"].get(err)) r.error = std::string(err);
    if (doc["attempts"].get(r.attempts)) r.attempts = -1;
    out.emplace(bytes(std::string_view(doc["_id"])), r);
  }
  return out;
}

// Each of `files` has one line in `results`, ok at its first attempt, and reached the server (the
// mock's ledger, `accepted`) once.
void expect_each_ok_once(const std::map<std::string, std::string>& files,
                         const std::multimap<std::string, parsed_result>& results,
                         const std::multimap<std::string, std::string>& accepted) {
  for (const auto& [id, content] : files) {
    ASSERT_EQ(results.count(id), 1U) << id;
    const auto& r = results.find(id)->second;
    EXPECT_EQ(r.outcome, "ok") << id << ": " << r.error;
    EXPECT_EQ(r.attempts, 1) << id;
    EXPECT_EQ(accepted.count(id), 1U) << "each image is sent once: " << id;
  }
}

// SIGTERM to `run`, which must exit with 143 within `limit` of the signal (not at the end of some
// longer wait: a drain timeout, a retry delay).
void expect_prompt_sigterm_exit(process& run, const fs::path& err, std::chrono::seconds limit,
                                const char* why) {
  const auto signalled = std::chrono::steady_clock::now();
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(limit * 6), 143) << read_text(err);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, limit) << why;
}

// Starts ximup uploading `tree` to `mock` with `extra` flags, no state, results in r.jsonl and the
// summary in summary.json under `dir`.
process start_upload(const mock_server& mock, const fs::path& tree, const temp_dir& dir,
                     std::vector<std::string> extra) {
  extra.insert(extra.end(), {"--no-state", "--summary-json", (dir / "summary.json").string()});
  auto args = mock.upload_args(tree, dir / "r.jsonl", extra);
  args.insert(args.begin(), XIMUP_BIN);
  return {args, dir / "run.out", dir / "run.err", {std::string("XIMILAR_API_TOKEN=") + token}};
}

// The run's --summary-json (summary.json under the test's directory), parsed; `text` for messages.
struct summary_file {
  explicit summary_file(const temp_dir& dir)
      : text(read_text(dir / "summary.json")), doc(parser.parse(text)) {}
  simdjson::dom::parser parser;
  std::string text;
  simdjson::simdjson_result<simdjson::dom::element> doc;
};

// Waits until the run has logged that it is uploading, from when its signals are handled: a sanitizer
// build on a loaded machine took more than the tests' 1.5 s to start, and a SIGTERM before that
// ended it with no results and no summary.
void wait_until_uploading(const fs::path& err) {
  for (int i = 0; i < 3000 && read_text(err).find("uploading to") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
  }
}

// Every line of the results failed, with `needle` in its reason; `count` lines.
void expect_every_line_failed(const fs::path& results, std::size_t count, std::string_view needle) {
  const auto lines = results_by_id(results);
  EXPECT_EQ(lines.size(), count);
  for (const auto& [id, r] : lines) {
    EXPECT_EQ(r.outcome, "failed") << id;
    EXPECT_NE(r.error.find(needle), std::string::npos) << id << ": " << r.error;
  }
}

// The start of the Python clients of the --discard tests (python3 -c SCRIPT PORT CAFILE TOKEN):
// request(n, size) builds a POST of n records of 4*size base64 bytes each, and `s` is a TLS
// connection to the mock that trusts CAFILE. The test appends what it does with them.
const std::string discard_client_script = R"PY(
import socket, ssl, sys
port, cafile, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def request(n, size):
    recs = ",".join('{"_id":"%d","_base64":"%s"}' % (i, "QUJD" * size) for i in range(n))
    body = ('{"records":[%s]}' % recs).encode()
    head = ("POST /tagging/generic/v2/tags HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode()
    return head + body
ctx = ssl.create_default_context(cafile=cafile)
with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
)PY";

}  // namespace

// Every fault at once, at 3-6% each: every image arrives intact at least once, has exactly one
// final result line, and nothing fails that the retry budget could have saved.
TEST(Faults, SoakEveryFaultAtOnceLosesNothing) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "2000", "--nested", "--size-kib", "2", "--seed", "5"});
  const auto files = files_under(tree);
  ASSERT_EQ(files.size(), 2000U);

  mock_server mock(dir.path(), token,
                   {"--seed",
                    "42",
                    "--fail-rate",
                    "0.05",
                    "--reset-rate",
                    "0.05",
                    "--hang-rate",
                    "0.03",
                    "--trickle-rate",
                    "0.03",
                    "--idle-close-ms",
                    "300",
                    "--record-fail-rate",
                    "0.05",
                    "--garbage-rate",
                    "0.05",
                    "--latency-ms",
                    "3",
                    "--latency-jitter-ms",
                    "3",
                    "--rate-limit",
                    "300",
                    "--interim-rate",
                    "0.05"});
  const auto run = run_ximup(
      dir.path(),
      mock.upload_args(tree, dir / "results.jsonl",
                       {"--connections", "8", "--retries", "12", "--retry-base", "20ms", "--retry-max",
                        "500ms", "--first-byte-timeout", "1500ms", "--response-timeout", "1500ms",
                        "--write-timeout", "5s", "--log-level", "warn"}),
      token, 240s);
  mock.stop();
  ASSERT_NE(run.exit_code, -1) << "the run did not end within its bound (a hang, not a slow machine)";
  EXPECT_EQ(run.exit_code, 0) << run.err;

  const auto results = results_by_id(dir / "results.jsonl");
  const auto accepted = accepted_hashes(mock.ledger());
  EXPECT_EQ(results.size(), files.size()) << "exactly one final line per input";
  std::size_t retried = 0;
  for (const auto& [id, content] : files) {
    ASSERT_EQ(results.count(id), 1U) << id;
    const auto& r = results.find(id)->second;
    EXPECT_EQ(r.outcome, "ok") << id << ": " << r.error;
    if (r.attempts > 1) ++retried;
    const auto [first, last] = accepted.equal_range(id);
    ASSERT_NE(first, last) << "never arrived: " << id;
    for (auto it = first; it != last; ++it) EXPECT_EQ(it->second, sha256_hex(content)) << id;
  }
  EXPECT_GT(retried, 0U) << "faults were injected, so some images must have needed more than one attempt";
  EXPECT_NE(run.err.find("retried"), std::string::npos) << run.err;
}

// Interim responses (100 Continue, 103 Early Hints) before half of the answers, on one keep-alive
// connection: ximup reads past them to each request's own answer. (Taken as the answer, a 103
// failed its batch for good and left the real answer to be read as the next request's.)
TEST(Faults, InterimResponsesAreReadPastToTheAnswer) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "20", "--size-kib", "1", "--seed", "29"});
  const auto files = files_under(tree);
  mock_server mock(dir.path(), token, {"--interim-rate", "0.5", "--seed", "7"});
  process run = start_upload(mock, tree, dir, {"--connections", "1", "--batch-size", "2"});
  EXPECT_EQ(run.wait(60s), 0) << read_text(dir / "run.err");
  EXPECT_GT(mock.counter("faults/interim"), 0) << "the mock sent no interim response: the test tests nothing";
  mock.stop();
  const auto results = results_by_id(dir / "r.jsonl");
  const auto accepted = accepted_hashes(mock.ledger());
  EXPECT_EQ(results.size(), files.size());
  expect_each_ok_once(files, results, accepted);
}

// A server that takes bodies of at most 6,500 bytes answers 413 to the batches of ten images of 1 KiB
// and to the batches of five: ximup splits them down to two and three without spending the images'
// --retries (here 0) on the 413s, and an image too large alone fails with a hint.
TEST(Faults, ATooLargeAnswerSplitsWithoutSpendingRetries) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "20", "--size-kib", "1", "--seed", "31"});
  const auto files = files_under(tree);
  write_text(tree / "huge.jpg", std::string(8000, 'x'));
  mock_server mock(dir.path(), token, {"--max-body", "6500"});
  process run = start_upload(mock, tree, dir, {"--connections", "1", "--retries", "0"});
  EXPECT_EQ(run.wait(60s), 1) << read_text(dir / "run.err");
  EXPECT_GT(mock.counter("responses_by_status/413"), 2);
  mock.stop();
  const auto results = results_by_id(dir / "r.jsonl");
  const auto accepted = accepted_hashes(mock.ledger());
  EXPECT_EQ(results.size(), files.size() + 1);
  expect_each_ok_once(files, results, accepted);  // (a 413 that split the request is not an attempt)
  ASSERT_EQ(results.count("huge.jpg"), 1U);
  const auto& huge = results.find("huge.jpg")->second;
  EXPECT_EQ(huge.outcome, "failed");
  EXPECT_NE(huge.error.find("HTTP 413"), std::string::npos) << huge.error;
  EXPECT_NE(huge.error.find("--resize, or a smaller --resize, shrinks images before sending"),
            std::string::npos)
      << huge.error;
}

// A server that answers 413 as soon as it has read a request's header and closes the connection
// without reading the body (no lingering close): the client's write fails with a reset while the
// 413 waits in its socket. ximup reads that answer and splits the batch (12 MB of three images, then
// 8 MB of two), as it does for a 413 read after the body; it had taken the reset for a network error
// and retried the whole batch until its retries were spent ("Connection reset by peer").
TEST(Faults, ATooLargeAnswerBeforeTheBodyIsReadStillSplits) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "3072", "--seed", "37"});
  const auto files = files_under(tree);
  mock_server mock(dir.path(), token, {"--max-body", "5000000", "--abrupt-413"});
  process run = start_upload(mock, tree, dir, {"--connections", "1", "--retries", "0"});
  EXPECT_EQ(run.wait(60s), 0) << read_text(dir / "run.err");
  EXPECT_EQ(mock.counter("responses_by_status/413"), 2);
  mock.stop();
  const auto results = results_by_id(dir / "r.jsonl");
  const auto accepted = accepted_hashes(mock.ledger());
  EXPECT_EQ(results.size(), files.size());
  expect_each_ok_once(files, results, accepted);
}

// After a 413 for a body of several images, batches planned later stay within half that body: a
// server whose limit is under --max-body-bytes is not sent each batch twice. The files come through
// a pipe, ten, then (once those are answered) ten more: the second ten go in bodies the server
// takes, with no 413 (they went as one batch of ten again, refused and split like the first).
TEST(Faults, BatchesPlannedAfterATooLargeAnswerStayWithinWhatTheServerTook) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "20", "--size-kib", "1", "--seed", "41"});
  const auto files = files_under(tree);
  const fs::path fifo = dir / "list";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  mock_server mock(dir.path(), token, {"--max-body", "6500"});
  process run({XIMUP_BIN, "upload", "--files-from", fifo.string(), "--endpoint", "tagging", "--api-base",
               mock.base(), "--cacert", mock.cert().string(), "--results", (dir / "r.jsonl").string(),
               "--connections", "1", "--retries", "0", "--no-state"},
              dir / "run.out", dir / "run.err", {std::string("XIMILAR_API_TOKEN=") + token});
  int fd = -1;
  for (int i = 0; i < 600 && fd < 0; ++i) {
    fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO until ximup opens it
    if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(fd, 0) << "ximup never opened the list: " << read_text(dir / "run.err");
  ::fcntl(fd, F_SETFL, 0);
  const auto write_paths = [&](std::size_t from, std::size_t to) {
    std::string lines;
    std::size_t i = 0;
    for (const auto& [id, content] : files) {
      if (i >= from && i < to) lines += (tree / id).string() + "\n";
      ++i;
    }
    EXPECT_EQ(::write(fd, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  };
  write_paths(0, 10);
  EXPECT_TRUE(mock.wait_for_counter("records_ok", 10)) << read_text(dir / "run.err");
  const long long refused = mock.counter("responses_by_status/413");
  EXPECT_GT(refused, 0) << "the first ten went in a body the server took: the test tests nothing";
  write_paths(10, 20);
  ::close(fd);
  EXPECT_EQ(run.wait(60s), 0) << read_text(dir / "run.err");
  EXPECT_EQ(mock.counter("responses_by_status/413"), refused) << read_text(dir / "run.err");
  EXPECT_NE(read_text(dir / "run.err").find("requests of several images now stay within"), std::string::npos)
      << read_text(dir / "run.err");
  mock.stop();
  const auto results = results_by_id(dir / "r.jsonl");
  EXPECT_EQ(results.size(), files.size());
  for (const auto& [id, r] : results) EXPECT_EQ(r.outcome, "ok") << id << ": " << r.error;
}

// A rate limit that asks for 100 s of quiet (Retry-After: 100) holds every new request for at most
// 10 x --retry-max (here 2 s), as each resent request's own wait is bounded; the hold was a fixed
// minute, so this run took more than a minute.
TEST(Faults, ARetryAfterHoldsNoLongerThanTenRetryMax) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "4", "--size-kib", "1", "--seed", "37"});
  mock_server mock(dir.path(), token, {"--rate-limit", "1", "--retry-after", "100"});
  process run =
      start_upload(mock, tree, dir,
                   {"--batch-size", "1", "--retry-base", "100ms", "--retry-max", "200ms", "--retries", "8"});
  EXPECT_EQ(run.wait(45s), 0) << "a Retry-After of 100 s held the run past 10 x --retry-max: "
                              << read_text(dir / "run.err");
  EXPECT_GT(mock.counter("responses_by_status/429"), 0)
      << "the rate limit never answered 429: nothing tested";
  mock.stop();
  EXPECT_EQ(results_by_id(dir / "r.jsonl").size(), 4U);
}

// A token revoked mid-run (401 after N requests) stops the run with exit 3 long before the tree is
// done; the results of requests already answered are written, and nothing is reported twice.
TEST(Faults, TokenRejectedMidRunStopsTheRunWithAuthExitCode) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3000", "--size-kib", "1", "--seed", "9"});
  mock_server mock(dir.path(), token, {"--reject-token-after", "30", "--latency-ms", "5"});
  const auto run = run_ximup(
      dir.path(), mock.upload_args(tree, dir / "results.jsonl", {"--connections", "4"}), token, 120s);
  mock.stop();
  ASSERT_NE(run.exit_code, -1) << "the run did not stop within its bound";
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_NE(run.err.find("authentication failed"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("XIMILAR_API_TOKEN"), std::string::npos) << run.err;

  const auto results = results_by_id(dir / "results.jsonl");
  const auto accepted = accepted_hashes(mock.ledger());
  std::size_t ok = 0;
  for (const auto& [id, r] : results) {
    EXPECT_EQ(results.count(id), 1U) << "reported twice: " << id;
    if (r.outcome == "ok") {
      ++ok;
      EXPECT_TRUE(accepted.contains(id)) << "ok without reaching the server: " << id;
    }
  }
  // The 30 accepted requests (up to 300 images) have their results written.
  EXPECT_GE(ok, 250U);
  EXPECT_LE(ok, 300U);
  // Far fewer than 3000 failures: a bad token must not produce a failure per file.
  EXPECT_LT(results.size(), 1000U);
}

// A server that quotes the Authorization header back in its error pages (tests/support/
// echo_auth_server.py): the token must not reach the results, the logs or the summary through it.
TEST(Faults, TokenEchoedByTheServerNeverReachesResultsOrLogs) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "12", "--size-kib", "1", "--seed", "12"});
  make_certificate(dir.path());
  // Error pages (500) that quote the header, then accepted records that carry it in a field (copied
  // to the results), each as it is, with its slashes escaped (`\/`) and with every character a
  // `\u` escape: a JSON reader of the results would get the token back from any of them. Then a
  // redirect whose Location carries it (shown in the error that stops the run).
  for (const std::string mode : {"error", "records", "redirect"}) {
    fs::remove(dir / "port");
    std::vector<std::string> command = {
        "python3", std::string(XIMUP_SOURCE_DIR) + "/tests/support/echo_auth_server.py",
        (dir / "cert.pem").string(), (dir / "key.pem").string(), (dir / "port").string()};
    if (mode == "records") command.emplace_back("--records");
    if (mode == "redirect") {
      command.emplace_back("--redirect");
      command.emplace_back("https://login.example/?token={token}");
    }
    process server(command, dir / "server.out", dir / "server.err");
    for (int i = 0; i < 500 && !fs::exists(dir / "port"); ++i) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(fs::exists(dir / "port")) << read_text(dir / "server.err");
    const std::string base = "https://127.0.0.1:" + read_text(dir / "port") + "/";
    for (const std::string& secret : std::vector<std::string>{token, "slash/in+the/token-4d2a"}) {
      fs::remove(dir / "log.txt");
      const auto run =
          run_ximup(dir.path(),
                    {"upload", tree.string(), "--endpoint", "tagging", "--api-base", base, "--cacert",
                     (dir / "cert.pem").string(), "--results", (dir / "r.jsonl").string(), "--no-state",
                     "--retries", "0", "--log-level", "debug", "--summary-json",
                     (dir / "summary.json").string(), "--log-file", (dir / "log.txt").string()},
                    secret, 120s);
      EXPECT_EQ(run.exit_code, mode == "records" ? 0 : mode == "error" ? 5 : 2) << run.err;
      const std::string results = read_text(dir / "r.jsonl");
      if (mode == "redirect") {
        EXPECT_NE(run.err.find("login.example/?token=[redacted]"), std::string::npos) << run.err;
      } else {
        ASSERT_NE(results.find(mode == "records" ? "echo_escaped" : "bad auth header"), std::string::npos)
            << "the server's words are kept: " << results;
        EXPECT_NE(results.find("[redacted]"), std::string::npos) << results;
      }
      std::string escaped;
      std::string u_escaped;
      for (const char c : secret) {
        escaped += c == '/' ? std::string("\\/") : std::string(1, c);
        char u[8];
        std::snprintf(u, sizeof u, "\\u%04x", static_cast<unsigned char>(c));
        u_escaped += u;
      }
      for (const auto& [name, text] :
           std::map<std::string, std::string>{{"results", results},
                                              {"stderr", run.err},
                                              {"stdout", run.out},
                                              {"log file", read_text(dir / "log.txt")},
                                              {"summary", read_text(dir / "summary.json")}}) {
        EXPECT_EQ(text.find(secret), std::string::npos) << mode << ": the token leaked into the " << name;
        EXPECT_EQ(text.find(escaped), std::string::npos)
            << mode << ": the escaped token leaked into the " << name;
        EXPECT_EQ(text.find(u_escaped), std::string::npos)
            << mode << ": the \\u-escaped token leaked into the " << name;
      }
    }
    server.signal(SIGTERM);
    server.wait(10s);
  }
}

// An endpoint that redirects: not followed (the images and the token would go elsewhere), the run
// stops as for a wrong URL (exit 2) and names the target, and the images stay to be sent: the next
// run, against the right URL, sends every one of them, not "failed before and unchanged".
TEST(Faults, ARedirectStopsTheRunAndLeavesEveryImageToSend) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "12", "--size-kib", "1", "--seed", "31"});
  make_certificate(dir.path());
  process server({"python3", std::string(XIMUP_SOURCE_DIR) + "/tests/support/echo_auth_server.py",
                  (dir / "cert.pem").string(), (dir / "key.pem").string(), (dir / "port").string(),
                  "--redirect", "https://elsewhere.example/v2/tags"},
                 dir / "server.out", dir / "server.err");
  for (int i = 0; i < 500 && !fs::exists(dir / "port"); ++i) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(fs::exists(dir / "port")) << read_text(dir / "server.err");
  const std::string base = "https://127.0.0.1:" + read_text(dir / "port") + "/";
  const std::string state = (dir / "state.sqlite").string();
  const auto moved =
      run_ximup(dir.path(),
                {"upload", tree.string(), "--endpoint", "tagging", "--api-base", base, "--cacert",
                 (dir / "cert.pem").string(), "--results", (dir / "r.jsonl").string(), "--state", state},
                token, 120s);
  EXPECT_EQ(moved.exit_code, 2) << moved.err;
  EXPECT_NE(moved.err.find("redirects (HTTP 307"), std::string::npos) << moved.err;
  EXPECT_NE(moved.err.find("elsewhere.example"), std::string::npos) << moved.err;
  server.signal(SIGTERM);
  server.wait(10s);

  mock_server mock(dir.path(), token);
  const auto again =
      run_ximup(dir.path(),
                {"upload", tree.string(), "--endpoint", "tagging", "--api-base", mock.base(), "--cacert",
                 mock.cert().string(), "--results", (dir / "r2.jsonl").string(), "--state", state},
                token, 120s);
  mock.stop();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(results_by_id(dir / "r2.jsonl").size(), 12U) << again.out;
  EXPECT_EQ(accepted_hashes(mock.ledger()).size(), 12U);
}

// A server that never answers in time and a SIGTERM: the run ends at --drain-timeout, every input
// in flight gets an "interrupted" line, and the summary counts those requests as outcome unknown.
TEST(Faults, DrainTimeoutAbandonsRequestsInFlightAndSaysSo) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "6", "--size-kib", "1", "--seed", "21"});
  mock_server mock(dir.path(), token, {"--latency-ms", "60000"});
  process run = start_upload(mock, tree, dir, {"--batch-size", "2", "--drain-timeout", "1s"});
  wait_until_uploading(dir / "run.err");
  std::this_thread::sleep_for(1500ms);  // the requests are written and waiting
  expect_prompt_sigterm_exit(run, dir / "run.err", 10s, "the drain did not stop at --drain-timeout");
  expect_every_line_failed(dir / "r.jsonl", 6, "--drain-timeout");
  const summary_file summary(dir);
  ASSERT_FALSE(summary.doc.error()) << summary.text;
  EXPECT_EQ(std::uint64_t(summary.doc["unknown_at_stop"]), 6U) << summary.text;
  // Three requests of two; on a loaded machine some may not have been written before the signal.
  const std::uint64_t requests = summary.doc["requests"];
  EXPECT_GE(requests, 1U) << summary.text;
  EXPECT_LE(requests, 3U) << summary.text;
  EXPECT_EQ(std::uint64_t(summary.doc["outcome_unknown"]), requests)
      << "abandoned requests are outcomes unknown: " << summary.text;
  EXPECT_EQ(std::string_view(summary.doc["stopped"]), "interrupted") << summary.text;
}

// Requests queued behind a connection that never gets its answer were never written: a stop ends them
// at once as not sent, and only the one in flight is abandoned at --drain-timeout as "possibly
// processed" (all of them used to be).
TEST(Faults, AStopEndsQueuedRequestsAsNotSentNotAsPossiblyProcessed) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "10", "--size-kib", "1", "--seed", "23"});
  mock_server mock(dir.path(), token, {"--hang-rate", "1"});
  process run =
      start_upload(mock, tree, dir, {"--batch-size", "1", "--connections", "1", "--drain-timeout", "2s"});
  wait_until_uploading(dir / "run.err");
  std::this_thread::sleep_for(1500ms);  // one request written and waiting, the rest queued
  expect_prompt_sigterm_exit(run, dir / "run.err", 10s, "the drain did not stop at --drain-timeout");
  mock.stop();
  const summary_file summary(dir);
  ASSERT_FALSE(summary.doc.error()) << summary.text;
  // One connection: one request written at a time (a second if the first was resent on a new
  // connection); only written requests may be abandoned as possibly processed.
  // (On a slow machine none may be written yet when the signal comes: then all ten are not sent.)
  const std::uint64_t written = summary.doc["requests"];
  EXPECT_LE(written, 2U) << summary.text;
  EXPECT_LE(std::uint64_t(summary.doc["unknown_at_stop"]), std::min<std::uint64_t>(written, 1U))
      << summary.text;
  std::size_t not_sent = 0;
  for (const auto& [id, r] : results_by_id(dir / "r.jsonl")) {
    not_sent += r.error.find("not sent") != std::string::npos ? 1U : 0U;
  }
  EXPECT_GE(not_sent + written, 10U) << read_text(dir / "r.jsonl");
}

// A 200 whose body is unusable (here always malformed JSON): the server took the request, so each
// resend may insert it twice, and the summary counts every such request as outcome unknown.
TEST(Faults, UnusableOkAnswersCountAsOutcomeUnknown) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "4", "--size-kib", "1", "--seed", "23"});
  mock_server mock(dir.path(), token, {"--garbage-rate", "1"});
  process run =
      start_upload(mock, tree, dir,
                   {"--batch-size", "1", "--retries", "2", "--retry-base", "10ms", "--retry-max", "20ms"});
  EXPECT_EQ(run.wait(60s), 5) << read_text(dir / "run.err");
  mock.stop();
  expect_every_line_failed(dir / "r.jsonl", 4, "unusable response");
  const summary_file summary(dir);
  ASSERT_FALSE(summary.doc.error()) << summary.text;
  EXPECT_EQ(std::uint64_t(summary.doc["requests"]), 12U) << summary.text;  // 4 images, 3 attempts each
  EXPECT_EQ(std::uint64_t(summary.doc["outcome_unknown"]), 12U) << summary.text;
}

// A signal while requests wait out their retry delays (every answer a 5xx; delays of up to a minute):
// the run ends at once, not after the delays or --drain-timeout, and those requests are "not sent",
// not abandoned in flight with an unknown outcome (they were answered).
TEST(Faults, ASignalEndsTheRetryWaitsAtOnce) {
  temp_dir dir;
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "8", "--size-kib", "1", "--seed", "22"});
  mock_server mock(dir.path(), token, {"--fail-rate", "1"});
  process run =
      start_upload(mock, tree, dir, {"--batch-size", "2", "--retry-base", "60s", "--retry-max", "60s"});
  wait_until_uploading(dir / "run.err");
  std::this_thread::sleep_for(1500ms);  // four requests answered 5xx, each waiting 0-60 s to be resent
  expect_prompt_sigterm_exit(run, dir / "run.err", 10s, "the run sat out its retry delays");
  mock.stop();
  expect_every_line_failed(dir / "r.jsonl", 8, "the run was stopped");
  const summary_file summary(dir);
  ASSERT_FALSE(summary.doc.error()) << summary.text;
  EXPECT_EQ(std::uint64_t(summary.doc["outcome_unknown"]), 0U) << summary.text;
  EXPECT_EQ(std::uint64_t(summary.doc["unknown_at_stop"]), 0U) << summary.text;
}

// ximup-mock --discard over TLS decrypts whole socket reads itself (discard_tls_body): bytes of a
// second request that arrive with the first body must reach the next request, not be dropped. A
// client that pipelines two requests in one write gets two answers, each counting its records.
TEST(Faults, DiscardMockKeepsThePipelinedNextRequest) {
  temp_dir dir;
  mock_server mock(dir.path(), token, {"--discard"});
  const std::string script = discard_client_script + R"PY(
        s.sendall(request(3, 90000) + request(2, 10))  # one write: the second follows the first body
        got = b""
        while got.count(b"HTTP/1.1 200") < 2 or not got.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        answers = got.split(b"HTTP/1.1 ")[1:]
        print(len(answers), *[a.count(b'"_status"') for a in answers])
)PY";
  const int rc = run({"python3", "-c", script, mock.port(), mock.cert().string(), token}, dir / "py.out",
                     dir / "py.err", {}, 60s);
  ASSERT_EQ(rc, 0) << read_text(dir / "py.err");
  EXPECT_EQ(read_text(dir / "py.out"), "2 3 2\n");
}

// ximup-mock --discard over TLS wakes up only for large reads of a body (SO_RCVLOWAT) and must
// set the watermark back before it waits for the next request: a small request that follows a
// large one on the same connection would never wake it (tried: without the reset, the small one
// waits until the client gives up). Requests go one at a time, each after the answer before it.
TEST(Faults, DiscardMockAnswersASmallRequestAfterALargeOne) {
  temp_dir dir;
  mock_server mock(dir.path(), token, {"--discard"});
  const std::string script = discard_client_script + R"PY(
        for n, size in ((3, 90000), (1, 10), (4, 50000), (2, 10)):
            s.sendall(request(n, size))
            got = b""
            while not (b"\r\n\r\n" in got and got.rstrip().endswith(b"}")):
                chunk = s.recv(65536)
                if not chunk:
                    sys.exit("the mock closed the connection")
                got += chunk
            print(got.count(b'"_status"'), end=" ")
)PY";
  const int rc = run({"python3", "-c", script, mock.port(), mock.cert().string(), token}, dir / "py.out",
                     dir / "py.err", {}, 90s);
  ASSERT_EQ(rc, 0) << read_text(dir / "py.err");
  EXPECT_EQ(read_text(dir / "py.out"), "3 1 4 2 ");
}
