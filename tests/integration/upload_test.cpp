// End-to-end: real ximup and ximup-mock processes over real TLS on loopback, real files.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;

namespace {

constexpr const char* token = "integration-token-5f1d0c";

// A scripted HTTP/1.1 server (python3, plain, loopback) for answers ximup-mock does not give. For each
// connection it runs `on_connection`, python indented by two spaces inside
// `while True: c,_=s.accept(); ...`, where request(c) reads the next request's body (None when the
// client closed), answer(c, records) sends a 200 with those records, and args are its arguments.
struct scripted_server {
  scripted_server(const temp_dir& dir, const std::string& name, const std::string& on_connection,
                  const std::vector<std::string>& args)
      : port_file(dir / (name + ".port")),
        server(command(on_connection, port_file, args), dir / (name + ".out"), dir / (name + ".err")) {
    for (int i = 0; i < 500 && !fs::exists(port_file); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    port = fs::exists(port_file) ? read_text(port_file) : std::string();
  }
  static std::vector<std::string> command(const std::string& on_connection, const fs::path& port_file,
                                          const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        "python3", "-c",
        "import socket,sys,os,json\n"
        "args=sys.argv[2:]\n"
        "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
        "open(sys.argv[1]+'.tmp','w').write(str(s.getsockname()[1])); "
        "os.replace(sys.argv[1]+'.tmp',sys.argv[1])\n"
        "def request(c):\n"
        "  data=b''\n"
        "  while b'\\r\\n\\r\\n' not in data:\n"
        "    d=c.recv(65536)\n"
        "    if not d: return None\n"
        "    data+=d\n"
        "  head,body=data.split(b'\\r\\n\\r\\n',1)\n"
        "  n=[int(l.split(b':')[1]) for l in head.split(b'\\r\\n') if "
        "l.lower().startswith(b'content-length')]\n"
        "  while n and len(body)<n[0]: body+=c.recv(65536)\n"
        "  return body\n"
        "def answer(c,recs):\n"
        "  out=json.dumps({'records':recs}).encode()\n"
        "  c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: '"
        "+str(len(out)).encode()+b'\\r\\n\\r\\n'+out)\n"
        "while True:\n"
        "  c,_=s.accept()\n" +
            on_connection + "  c.close()\n",
        port_file.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
  fs::path port_file;
  process server;
  std::string port;  ///< "" when it did not start
};

bool image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::set<std::string> exts = {".jpg",  ".jpeg", ".jpe", ".png", ".gif",
                                             ".webp", ".bmp",  ".tif", ".tiff"};
  return exts.contains(ext);
}

// Relative path (bytes) -> file content, for every regular file with an image extension.
std::map<std::string, std::string> input_files(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file() && !e.is_symlink() && image_extension(e.path())) {
      files[fs::relative(e.path(), root).string()] = read_text(e.path());
    }
  }
  return files;
}

struct result_line {
  std::string path;
  std::string id;
  std::string outcome;
  int status_code = 0;
  std::string error;
  bool has_base64 = false;
  bool has_tags = false;
};

std::vector<result_line> read_results(const fs::path& p) {
  std::vector<result_line> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(p));
  for (std::string line; std::getline(in, line);) {
    auto doc = parser.parse(lenient(line));
    EXPECT_FALSE(doc.error()) << "not JSON: " << line;
    if (doc.error()) continue;
    result_line r;
    r.path = bytes(std::string_view(doc["path"]));
    r.id = bytes(std::string_view(doc["_id"]));
    r.outcome = std::string(std::string_view(doc["outcome"]));
    int64_t code = 0;
    if (!doc["status_code"].get(code)) r.status_code = static_cast<int>(code);
    std::string_view err;
    if (!doc["error"].get(err)) r.error = std::string(err);
    r.has_base64 = !doc["_base64"].error();
    r.has_tags = !doc["_tags"].error();
    out.push_back(std::move(r));
  }
  return out;
}

class Upload : public ::testing::Test {
 protected:
  temp_dir dir;

  // Starts ximup with `args`, runs `started` (if any), sends SIGTERM after a second and expects
  // exit 143 within 20 s: a stop must not wait for whatever ximup was blocked on.
  void expect_sigterm_ends_the_run(std::vector<std::string> args, const std::function<void()>& started = {}) {
    args.insert(args.begin(), XIMUP_BIN);
    process p(args, dir / "p.out", dir / "p.err", {std::string("XIMILAR_API_TOKEN=") + token});
    if (started) started();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(std::chrono::seconds(20)), 143) << read_text(dir / "p.err");
  }
};

}  // namespace

TEST_F(Upload, TreeOfFiveHundredFilesArrivesIntactWithOneResultEach) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "520", "--nested", "--weird-names", "--non-images", "7", "--zero-byte",
                         "--size-kib", "3", "--seed", "11"});
  const auto files = input_files(tree);
  ASSERT_GE(files.size(), 500U);

  mock_server mock(dir.path(), token);
  const auto run = run_ximup(
      dir.path(), mock.upload_args(tree, dir / "results.jsonl", {"--connections", "4", "--workers", "2"}),
      token);
  mock.stop();
  // Non-images and the zero-byte file are rejected by the API: exit 1 (some failed permanently).
  EXPECT_EQ(run.exit_code, 1) << run.err;

  const auto results = read_results(dir / "results.jsonl");
  const auto ledger = accepted_hashes(mock.ledger());
  std::map<std::string, int> seen;
  std::size_t ok = 0;
  std::size_t rejected = 0;
  for (const auto& r : results) {
    ++seen[r.id];
    EXPECT_FALSE(r.has_base64) << "results must never hold _base64";
    EXPECT_EQ(fs::path(r.path), tree / r.id) << "path and _id disagree";
    const auto file = files.find(r.id);
    ASSERT_NE(file, files.end()) << "result for an unknown input: " << r.id;
    const bool is_image = file->second.size() >= 4 && (file->second.rfind("\x89PNG", 0) == 0 ||
                                                       file->second.rfind("\xff\xd8\xff", 0) == 0);
    if (is_image) {
      EXPECT_EQ(r.outcome, "ok") << r.id << ": " << r.error;
      EXPECT_TRUE(r.has_tags) << r.id;
      const auto [first, last] = ledger.equal_range(r.id);
      ASSERT_NE(first, last) << "the mock never accepted " << r.id;
      for (auto it = first; it != last; ++it) EXPECT_EQ(it->second, sha256_hex(file->second)) << r.id;
      ++ok;
    } else {
      EXPECT_EQ(r.outcome, "failed") << r.id;
      EXPECT_EQ(r.status_code, 400) << r.id;
      EXPECT_NE(r.error.find("rejected"), std::string::npos) << r.error;
      ++rejected;
    }
  }
  EXPECT_EQ(results.size(), files.size()) << "exactly one result line per input";
  for (const auto& [path, n] : files)
    EXPECT_EQ(seen[path], 1) << "input without exactly one result: " << path;
  EXPECT_GE(rejected, 8U);  // 7 non-images + the zero-byte file
  EXPECT_EQ(ok + rejected, files.size());
  EXPECT_NE(run.err.find("summary"), std::string::npos);
  EXPECT_EQ(run.err.find(token), std::string::npos) << "the token leaked into the output";
  EXPECT_EQ(read_text(dir / "results.jsonl").find(token), std::string::npos);
}

// A server that reads each body only after a pause, as a slow server or proxy does: the client's
// socket fills long before a 12 MiB body is written (the sender buffers at most tcp_wmem's 4 MiB,
// the receiver's window stays at its first size while nothing is read), so the TLS records that
// the socket does not take wait in write_records' backlog. Every byte still arrives, in order.
TEST_F(Upload, BodiesLargerThanTheSocketBuffersReachASlowReaderIntact) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "6", "--size-kib", "3072", "--seed", "5"});
  const auto files = input_files(tree);
  ASSERT_EQ(files.size(), 6U);

  mock_server mock(dir.path(), token, {"--body-delay-ms", "400"});
  const auto run = run_ximup(
      dir.path(), mock.upload_args(tree, dir / "results.jsonl", {"--connections", "1", "--batch-size", "3"}),
      token);
  mock.stop();
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const auto results = read_results(dir / "results.jsonl");
  EXPECT_EQ(results.size(), files.size());
  for (const auto& r : results) EXPECT_EQ(r.outcome, "ok") << r.id << ": " << r.error;
  const auto ledger = accepted_hashes(mock.ledger());
  for (const auto& [id, content] : files) {
    const auto [first, last] = ledger.equal_range(id);
    ASSERT_NE(first, last) << "the mock never accepted " << id;
    EXPECT_EQ(first->second, sha256_hex(content)) << id;
  }
}

// Files sent as they are go into the body piece by piece, so a file can fail after its record was
// opened there. Here /proc/self/smaps stands in for a file that grows past --max-body-bytes while it
// is read (fstat says 0 bytes, reading gives far more than 64 KiB). Its half-written record is taken
// back out: the other records of its request reach the mock intact, and it has its own failed line.
TEST_F(Upload, AFileThatFailsHalfwayIsTakenOutOfItsRequest) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "5", "--size-kib", "20", "--seed", "9"});
  const auto files = input_files(tree);
  ASSERT_EQ(files.size(), 5U);
  fs::create_symlink("/proc/self/smaps", tree / "grows.jpg");

  mock_server mock(dir.path(), token);
  const auto run =
      run_ximup(dir.path(),
                mock.upload_args(tree, dir / "results.jsonl",
                                 {"--follow-symlinks", "--max-body-bytes", "64KiB", "--workers", "1"}),
                token);
  mock.stop();
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const auto results = read_results(dir / "results.jsonl");
  EXPECT_EQ(results.size(), files.size() + 1);
  const auto ledger = accepted_hashes(mock.ledger());
  for (const auto& r : results) {
    if (r.id == "grows.jpg") {
      EXPECT_EQ(r.outcome, "failed");
      EXPECT_NE(r.error.find("grew past the limit of 65536 bytes"), std::string::npos) << r.error;
      EXPECT_EQ(ledger.count(r.id), 0U);
      continue;
    }
    EXPECT_EQ(r.outcome, "ok") << r.id << ": " << r.error;
    const auto [first, last] = ledger.equal_range(r.id);
    ASSERT_NE(first, last) << "the mock never accepted " << r.id;
    EXPECT_EQ(first->second, sha256_hex(files.at(r.id))) << r.id;
  }
}

TEST_F(Upload, MissingDirectoryIsExitFour) {
  mock_server mock(dir.path(), token);
  const auto run = run_ximup(dir.path(), mock.upload_args(dir / "nope", dir / "r.jsonl"), token);
  EXPECT_EQ(run.exit_code, 4) << run.err;
  EXPECT_NE(run.err.find("input not found"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("nope"), std::string::npos) << run.err;
}

TEST_F(Upload, MalformedUrlIsAUsageError) {
  fs::create_directories(dir / "in");
  const auto run =
      run_ximup(dir.path(), {"upload", (dir / "in").string(), "--endpoint", "https://bad host/x"}, token);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("malformed URL"), std::string::npos) << run.err;
}

// api.md: 404 and 409 stop the run (a wrong URL, task or collection id will not get better): exit 2,
// a message that says what to check, and little is sent. (As after any stop, inputs not yet
// scanned get no line; those taken get one each.)
TEST_F(Upload, WrongEndpointPathStopsTheRunWithExitTwo) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "300", "--size-kib", "1", "--seed", "5"});
  mock_server mock(dir.path(), token);
  const auto run = run_ximup(
      dir.path(),
      {"upload", tree.string(), "--endpoint", mock.base() + "no/such/endpoint", "--cacert",
       mock.cert().string(), "--results", (dir / "r.jsonl").string(), "--no-state", "--connections", "2"},
      token);
  mock.stop();
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("404"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("check the endpoint URL"), std::string::npos) << run.err;
  const auto results = read_results(dir / "r.jsonl");
  EXPECT_LE(results.size(), 300U);
  std::set<std::string> paths;
  for (const auto& r : results) EXPECT_TRUE(paths.insert(r.path).second) << "two lines for " << r.path;
  std::size_t answered_404 = 0;
  for (const auto& r : results) {
    EXPECT_EQ(r.outcome, "failed");
    if (r.error.find("404") != std::string::npos) ++answered_404;
  }
  EXPECT_GT(answered_404, 0U);
  EXPECT_LT(answered_404, 150U) << "the run stopped at the first 404 instead of sending everything";
}

// Counts that would wrap in a size_t (and start 2^64 threads) or mean nothing are usage errors.
TEST_F(Upload, OutOfRangeCountsAndZeroTimeoutsAreUsageErrors) {
  fs::create_directories(dir / "in");
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--workers", "-1"},
                                              {"--connections", "0"},
                                              {"--connections", "99999999999999999999"},
                                              {"--io-threads", "100000"},
                                              {"--batch-size", "-1"},
                                              {"--batch-size", "99999999999999999999"},
                                              {"--max-files", "-1"},
                                              {"--first-byte-timeout", "0s"},
                                              {"--rate", "nan"}}) {
    std::vector<std::string> args = {"upload", (dir / "in").string(), "--endpoint", "tagging", "--no-state"};
    args.insert(args.end(), bad.begin(), bad.end());
    const auto run = run_ximup(dir.path(), args, token, std::chrono::seconds(30));
    EXPECT_EQ(run.exit_code, 2) << bad[0] << " " << bad[1] << ": " << run.err;
    EXPECT_NE(run.err.find(bad[0]), std::string::npos) << "the message names the option: " << run.err;
  }
}

// One line of an earlier run's results file, as ximup writes it.
constexpr std::string_view earlier_result_line =
    R"({"path":"/in/a.jpg","_id":"a.jpg","outcome":"ok","attempts":1})"
    "\n";

// The files a run writes must not collide, and the results file must not overwrite a file that is
// not a results file (an image named by mistake): both would lose data without a word.
TEST_F(Upload, OutputPathsThatWouldDestroyDataAreRefused) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "1", "--seed", "8"});
  fs::path image;
  for (const auto& e : fs::recursive_directory_iterator(tree)) {
    if (e.is_regular_file()) image = e.path();
  }
  ASSERT_FALSE(image.empty());
  const std::string before = read_text(image);
  const std::string results_text(earlier_result_line);
  write_text(dir / "earlier.jsonl", results_text);
  // Each refused with exit 2, naming the first flag. The summary replaces its file and the log
  // appends to it: neither may be an image, a results file or a state file.
  const std::vector<std::vector<std::string>> bad = {
      {"--results", image.string(), "--no-state"},
      {"--results", (dir / "same").string(), "--summary-json", (dir / "same").string(), "--no-state"},
      {"--results", (dir / "r.jsonl").string(), "--state", (dir / "r.jsonl").string()},
      {"--results", (dir / "no-such-dir" / "r.jsonl").string()},  // named as the results', not the state's
      {"--summary-json", image.string(), "--no-state"},
      {"--summary-json", (dir / "earlier.jsonl").string(), "--no-state"},
      {"--log-file", image.string(), "--no-state"},
  };
  for (const auto& extra : bad) {
    std::vector<std::string> args = {"upload", tree.string(), "--endpoint", "tagging", "--dry-run"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto run = run_ximup(dir.path(), args, token, std::chrono::seconds(30));
    EXPECT_EQ(run.exit_code, 2) << extra[0] << " " << extra[1] << ": " << run.err;
    EXPECT_NE(run.err.find(extra[0]), std::string::npos) << run.err;
  }
  EXPECT_EQ(read_text(image), before) << "the image was written to";
  EXPECT_EQ(read_text(dir / "earlier.jsonl"), results_text) << "the results were written over";
  // An earlier summary is replaced.
  write_text(dir / "summary.json", "{\"ximup_version\":\"0.0.9\",\"files_ok\":3}\n");
  const auto again = run_ximup(dir.path(),
                               {"upload", tree.string(), "--endpoint", "tagging", "--dry-run", "--no-state",
                                "--results", "-", "--summary-json", (dir / "summary.json").string()},
                               token, std::chrono::seconds(30));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(read_text(dir / "summary.json").find("\"dry_run\":true"), std::string::npos)
      << "an earlier summary is replaced";

  // JSON that is not ours: a first '{' is not enough. Our own lines are taken, also one whose path
  // holds non-UTF-8 bytes (a \udcXX escape) and a first line cut short by a stopped run.
  const std::string pretty = "{\n  \"name\": \"my-package\"\n}\n";
  const std::string ours = R"({"path":"/in/a\udcff.jpg","_id":"a\udcff.jpg","outcome":"ok","attempts":1})";
  const std::vector<std::pair<std::string, int>> files = {
      {pretty, 2},
      {"{\"name\":\"x\",\"outcome\":\"y\"}\n", 2},
      {R"({"path":"/in/b.jpg"})"
       "\n",
       2},
      {ours + "\n" + ours + "\n", 0},
      {ours + "\n" + R"({"path":"/in/c.jp)", 0},
      {R"({"path":"/in/c.jp)", 0},
  };
  for (const auto& [text, code] : files) {
    write_text(dir / "existing.json", text);
    const auto run = run_ximup(dir.path(),
                               {"upload", tree.string(), "--endpoint", "tagging", "--dry-run", "--no-state",
                                "--results", (dir / "existing.json").string()},
                               token, std::chrono::seconds(30));
    EXPECT_EQ(run.exit_code, code) << text << run.err;
    EXPECT_EQ(read_text(dir / "existing.json"), text);  // a dry run writes no results
  }
}

// A list of inputs that is also one of the run's outputs, under any name (itself, a hard link, a
// symlink): an earlier results file given back as the manifest was appended to while it was read,
// without end, and with --no-state emptied before it was read. Refused, the file untouched.
TEST_F(Upload, AnInputListThatIsAlsoAnOutputIsRefused) {
  const std::string earlier(earlier_result_line);
  const fs::path list = dir / "earlier.jsonl";
  write_text(list, earlier);
  fs::create_hard_link(list, dir / "hard.jsonl");
  fs::create_symlink(list, dir / "soft.jsonl");
  const std::vector<std::vector<std::string>> cases = {
      {"--manifest", list.string(), "--results", list.string(), "--no-state"},
      {"--manifest", list.string(), "--results", list.string()},
      {"--files-from", list.string(), "--results", (dir / "hard.jsonl").string(), "--no-state"},
      {"--manifest", (dir / "soft.jsonl").string(), "--results", list.string(), "--no-state"},
      {"--manifest", list.string(), "--results", (dir / "r.jsonl").string(), "--summary-json", list.string()},
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"upload", "--endpoint", "tagging"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto run = run_ximup(dir.path(), args, token, std::chrono::seconds(30));
    EXPECT_EQ(run.exit_code, 2) << extra[1] << " " << extra[3] << ": " << run.err;
    EXPECT_NE(run.err.find("name the same file"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(extra[0]), std::string::npos) << run.err;
    EXPECT_EQ(read_text(list), earlier) << "the list was written to";
  }
  EXPECT_FALSE(fs::exists(dir / "r.jsonl"));
}

// A second signal quits at once, but the results written so far reach the file as whole lines
// (they sat in a 1 MiB buffer that _Exit would drop, or cut mid-line at a buffer boundary).
TEST_F(Upload, SecondSignalQuitsAtOnceAndLeavesWholeLines) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "300", "--size-kib", "1", "--seed", "13"});
  mock_server mock(dir.path(), token, {"--hang-rate", "1"});  // nothing ever answers
  auto args = mock.upload_args(tree, dir / "r.jsonl", {"--no-state", "--connections", "2"});
  args.insert(args.begin(), XIMUP_BIN);
  process p(args, dir / "p.out", dir / "p.err", {std::string("XIMILAR_API_TOKEN=") + token});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  p.signal(SIGTERM);  // stop: what is not sent gets its line
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  p.signal(SIGTERM);  // quit now: the requests in flight never finish
  EXPECT_EQ(p.wait(std::chrono::seconds(30)), 143) << read_text(dir / "p.err");
  const std::string text = read_text(dir / "r.jsonl");
  ASSERT_FALSE(text.empty()) << "the lines written before the exit were lost";
  EXPECT_EQ(text.back(), '\n') << "the file ends in a torn line";
  EXPECT_GT(read_results(dir / "r.jsonl").size(), 0U);  // and every line parses (read_results checks)
}

// Without a state file the results file is the only record of what the server took: after a SIGKILL
// the lines of the answered requests are there (they used to wait in a 1 MiB buffer), all but those of
// the last 100 ms or so.
TEST_F(Upload, WithoutAStateTheResultsReachTheFileAsTheAnswersCome) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "60", "--size-kib", "1", "--seed", "17"});
  mock_server mock(dir.path(), token, {"--latency-ms", "200"});
  auto args =
      mock.upload_args(tree, dir / "r.jsonl", {"--no-state", "--connections", "1", "--batch-size", "1"});
  args.insert(args.begin(), XIMUP_BIN);
  process p(args, dir / "p.out", dir / "p.err", {std::string("XIMILAR_API_TOKEN=") + token});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  p.signal(SIGKILL);
  p.wait(std::chrono::seconds(30));
  mock.stop();
  const auto accepted = read_ledger(mock.ledger()).size();
  ASSERT_GE(accepted, 4U) << read_text(dir / "p.err");
  ASSERT_LT(accepted, 60U) << "the run ended before the kill";
  // At most the answer in flight and one that came within the last flush interval are missing.
  EXPECT_GE(read_results(dir / "r.jsonl").size() + 2, accepted) << read_text(dir / "r.jsonl");
}

// Without a state file nothing else guards the results file: a second run on it while the first
// writes exits 6 and leaves it alone (it used to empty it, and both exited 0 with one run's lines);
// a later run replaces the earlier lines and says so.
TEST_F(Upload, ASecondRunOnTheSameResultsFileWaitsItsTurn) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "6", "--size-kib", "1", "--seed", "19"});
  mock_server mock(dir.path(), token, {"--latency-ms", "1500"});
  auto args = mock.upload_args(tree, dir / "r.jsonl", {"--no-state", "--batch-size", "1"});
  args.insert(args.begin(), XIMUP_BIN);
  process first(args, dir / "first.out", dir / "first.err", {std::string("XIMILAR_API_TOKEN=") + token});
  for (int i = 0; i < 100 && !fs::exists(dir / "r.jsonl"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  args.erase(args.begin());
  const auto second = run_ximup(dir.path(), args, token, std::chrono::seconds(30));
  EXPECT_EQ(second.exit_code, 6) << second.err;
  EXPECT_NE(second.err.find("another ximup run is writing the results file"), std::string::npos)
      << second.err;
  EXPECT_EQ(first.wait(std::chrono::seconds(60)), 0) << read_text(dir / "first.err");
  EXPECT_EQ(read_results(dir / "r.jsonl").size(), 6U) << "the first run's lines were lost";

  const auto third = run_ximup(dir.path(), args, token, std::chrono::seconds(60));
  EXPECT_EQ(third.exit_code, 0) << third.err;
  EXPECT_NE(third.err.find("of an earlier run's results; without a state file they are replaced"),
            std::string::npos)
      << third.err;
  EXPECT_EQ(read_results(dir / "r.jsonl").size(), 6U);
}

// SIGTERM while the connection check waits for a server that accepts and never answers: the run
// ends at once with 143, not when the handshake timeout (here a minute) runs out.
TEST_F(Upload, SignalDuringTheConnectionCheckEndsTheRunAtOnce) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.jpg", "\xFF\xD8\xFF");
  make_certificate(dir.path());
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);  // listens, never accepts: the kernel
  ASSERT_GE(listener, 0);                                  // completes TCP, TLS never starts
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string base = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";
  // The signal comes a second after the check's connection is waiting in the listener's queue (a
  // second after the start could come before it, on a loaded machine under ASan).
  expect_sigterm_ends_the_run(
      {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base", base, "--cacert",
       (dir / "cert.pem").string(), "--no-state", "--results", (dir / "r.jsonl").string(),
       "--handshake-timeout", "60s", "--summary-json", (dir / "s.json").string()},
      [listener] {
        pollfd waiting{listener, POLLIN, 0};
        EXPECT_EQ(::poll(&waiting, 1, 30000), 1) << "no connection check came";
      });
  ::close(listener);
  // The summary times the run that ended early too (the signal came a second into the check).
  simdjson::dom::parser parser;
  simdjson::dom::element summary;
  ASSERT_EQ(parser.parse(read_text(dir / "s.json")).get(summary), simdjson::SUCCESS)
      << read_text(dir / "s.json");
  EXPECT_GT(double(summary["elapsed_seconds"]), 0.5) << read_text(dir / "s.json");
}

// SIGTERM while reading a manifest from a pipe whose writer stays silent (a producer that hangs):
// the run ends at once with 143 instead of waiting for the pipe.
TEST_F(Upload, SignalWhileAManifestPipeIsSilentEndsTheRunAtOnce) {
  const fs::path fifo = dir / "manifest.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  mock_server mock(dir.path(), token);
  int writer = -1;
  expect_sigterm_ends_the_run(
      {"upload", "--manifest", fifo.string(), "--endpoint", "tagging", "--api-base", mock.base(), "--cacert",
       mock.cert().string(), "--no-state", "--results", (dir / "r.jsonl").string()},
      [&] { writer = ::open(fifo.c_str(), O_WRONLY); });  // returns once ximup has opened it; never writes
  EXPECT_GE(writer, 0);
  if (writer >= 0) ::close(writer);
}

// A named pipe that no writer ever opens: open() alone would wait forever.
TEST_F(Upload, SignalWhileAManifestPipeHasNoWriterEndsTheRunAtOnce) {
  const fs::path fifo = dir / "manifest.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  mock_server mock(dir.path(), token);
  expect_sigterm_ends_the_run({"upload", "--manifest", fifo.string(), "--endpoint", "tagging", "--api-base",
                               mock.base(), "--cacert", mock.cert().string(), "--no-state", "--results",
                               (dir / "r.jsonl").string()});
}

// A manifest pipe whose writer comes late is read whole: waiting in poll() is not taken for its end.
TEST_F(Upload, AManifestPipeWhoseWriterComesLateIsReadWhole) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "1", "--seed", "15"});
  const fs::path fifo = dir / "manifest.jsonl";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  mock_server mock(dir.path(), token);
  std::string lines;
  for (const auto& e : fs::directory_iterator(tree)) lines += "{\"path\": \"" + e.path().string() + "\"}\n";
  std::thread late_writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    // Without waiting: if ximup never opens the pipe (it failed earlier) the test must not hang.
    int fd = -1;
    for (int i = 0; i < 600 && fd < 0; ++i) {
      fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // ENXIO while there is no reader
      if (fd < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_GE(fd, 0) << "ximup never opened the manifest pipe";
    ::fcntl(fd, F_SETFL, 0);
    EXPECT_EQ(::write(fd, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    ::close(fd);
  });
  const auto run =
      run_ximup(dir.path(),
                {"upload", "--manifest", fifo.string(), "--endpoint", "tagging", "--api-base", mock.base(),
                 "--cacert", mock.cert().string(), "--no-state", "--results", (dir / "r.jsonl").string()},
                token);
  late_writer.join();
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(read_results(dir / "r.jsonl").size(), 3U) << run.err;
}

// The same tree named twice is walked once; a tree inside another given tree is refused (its
// files would be sent twice).
TEST_F(Upload, ARootGivenTwiceIsWalkedOnceAndNestedRootsAreRefused) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "5", "--size-kib", "1", "--seed", "14"});
  const auto twice = run_ximup(
      dir.path(),
      {"upload", tree.string(), (tree / ".").string(), "--endpoint", "tagging", "--dry-run", "--no-state"},
      token);
  EXPECT_EQ(twice.exit_code, 0) << twice.err;
  EXPECT_NE(twice.out.find("would send:   5 inputs"), std::string::npos) << twice.out;
  EXPECT_NE(twice.err.find("given twice"), std::string::npos) << twice.err;
  fs::create_directories(tree / "sub");
  const auto nested = run_ximup(
      dir.path(),
      {"upload", tree.string(), (tree / "sub").string(), "--endpoint", "tagging", "--dry-run", "--no-state"},
      token);
  EXPECT_EQ(nested.exit_code, 2) << nested.err;
  EXPECT_NE(nested.err.find("overlap"), std::string::npos) << nested.err;
}

TEST_F(Upload, WrongTokenStopsTheRunWithExitThree) {
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "200", "--size-kib", "2", "--seed", "3"});
  mock_server mock(dir.path(), token);
  const auto run =
      run_ximup(dir.path(), mock.upload_args(tree, dir / "r.jsonl", {"--connections", "2"}), "not-the-token");
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_NE(run.err.find("authentication failed"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("check the API token in XIMILAR_API_TOKEN"), std::string::npos)
      << "the message names where the refused token came from: " << run.err;
  EXPECT_EQ(run.err.find("not-the-token"), std::string::npos) << "the token leaked into the output";
  // Said once: not again in a "failed:" line for each image in flight (there were up to twenty).
  EXPECT_EQ(run.err.find("] failed: "), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("[error] authentication failed"), run.err.rfind("[error] authentication failed"))
      << run.err;
  // A bad token must not produce a failure per file: far fewer requests than 200 files / 10.
  const auto results = read_results(dir / "r.jsonl");
  EXPECT_LE(results.size(), 200U);
  // From a token file, the message names that file (it wins over the environment).
  write_text(dir / "token.txt", "another-wrong-token\n");
  const auto from_file = run_ximup(
      dir.path(), mock.upload_args(tree, dir / "r2.jsonl", {"--token-file", (dir / "token.txt").string()}),
      token);
  EXPECT_EQ(from_file.exit_code, 3) << from_file.err;
  EXPECT_NE(from_file.err.find("--token-file '" + (dir / "token.txt").string() + "'"), std::string::npos)
      << from_file.err;
}

TEST_F(Upload, ServerNotListeningIsAClearErrorAndExitFive) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  const auto run =
      run_ximup(dir.path(),
                {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                 "https://127.0.0.1:1/", "--results", (dir / "r.jsonl").string(), "--connect-timeout", "3s"},
                token);
  EXPECT_EQ(run.exit_code, 5) << run.err;
  EXPECT_NE(run.err.find("cannot connect"), std::string::npos) << run.err;
}

TEST_F(Upload, UntrustedCertificateIsRefusedWithAHint) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  mock_server mock(dir.path(), token);
  // No --cacert: the self-signed certificate is not in the system store.
  const auto run = run_ximup(dir.path(),
                             {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                              mock.base(), "--results", (dir / "r.jsonl").string()},
                             token);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("not trusted"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("--cacert"), std::string::npos) << run.err;
}

// A server that speaks only TLS 1.1 (ximup speaks 1.2 and 1.3): no rerun fixes that, so it is
// configuration (exit 2, like an untrusted certificate) with the cause named, not "unreachable"
// (exit 5, "a rerun may fix").
TEST_F(Upload, NoCommonTlsVersionIsConfigurationNotUnreachable) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  ASSERT_EQ(run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", (dir / "k.pem").string(), "-out", (dir / "c.pem").string(), "-days",
                 "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                dir / "req.out", dir / "req.err"),
            0)
      << read_text(dir / "req.err");
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  ::close(listener);  // (s_server takes the port; another process taking it first is unlikely)
  process server({"openssl", "s_server", "-accept", "127.0.0.1:" + port, "-cert", (dir / "c.pem").string(),
                  "-key", (dir / "k.pem").string(), "-tls1_1", "-cipher", "ALL:@SECLEVEL=0", "-quiet"},
                 dir / "server.out", dir / "server.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto run = run_ximup(dir.path(),
                             {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                              "https://127.0.0.1:" + port + "/", "--cacert", (dir / "c.pem").string(),
                              "--no-state", "--results", (dir / "r.jsonl").string()},
                             token);
  server.signal(SIGTERM);
  EXPECT_EQ(run.exit_code, 2) << run.err << read_text(dir / "server.err");
  EXPECT_NE(run.err.find("the server and ximup share no TLS version"), std::string::npos) << run.err;
}

// The reason a run stopped before sending is an error record whatever the verbosity: with
// --log-level warn and JSON logs (a container) it was only inside the info-level summary, so a log
// collector alerting on errors saw nothing; and it reaches --log-file, which the summary does not.
TEST_F(Upload, AStopBeforeSendingIsLoggedAsAnErrorAtAnyLevel) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  mock_server mock(dir.path(), token);
  const auto run = run_ximup(dir.path(),
                             {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                              mock.base(), "--results", (dir / "r.jsonl").string(), "--log-format", "json",
                              "--log-level", "warn", "--log-file", (dir / "run.log").string()},
                             token);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  bool logged = false;
  simdjson::dom::parser parser;
  std::istringstream lines(run.err);
  for (std::string line; std::getline(lines, line);) {
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(line).get(doc), simdjson::SUCCESS) << line;
    logged = logged || (std::string_view(doc["level"]) == "error" &&
                        std::string_view(doc["message"]).find("not trusted") != std::string_view::npos);
  }
  EXPECT_TRUE(logged) << run.err;
  EXPECT_NE(read_text(dir / "run.log").find("not trusted"), std::string::npos) << read_text(dir / "run.log");
}

// A text --log-file holds the summary too: a cron job that keeps only the log file sees how the run
// ended (the summary went to stderr alone).
TEST_F(Upload, ATextLogFileHoldsTheSummary) {
  generate_images(dir / "in", {"--count", "3", "--size-kib", "1", "--seed", "5"});
  mock_server mock(dir.path(), token);
  const auto run = run_ximup(
      dir.path(),
      mock.upload_args(dir / "in", dir / "r.jsonl", {"--no-state", "--log-file", (dir / "run.log").string()}),
      token);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  const std::string log = read_text(dir / "run.log");
  EXPECT_NE(log.find("== ximup summary =="), std::string::npos) << log;
  EXPECT_NE(log.find("images:       3 ok, 0 failed"), std::string::npos) << log;
  // With -q too: a quiet stderr, and the summary in the log file.
  const auto quiet =
      run_ximup(dir.path(),
                mock.upload_args(dir / "in", dir / "r.jsonl",
                                 {"--no-state", "-q", "--log-file", (dir / "quiet.log").string()}),
                token);
  EXPECT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("== ximup summary =="), std::string::npos) << quiet.err;
  EXPECT_NE(read_text(dir / "quiet.log").find("images:       3 ok, 0 failed"), std::string::npos)
      << read_text(dir / "quiet.log");
}

// Without the connection check the first request meets the certificate: the same stop (exit 2, not
// retried as a passing fault until exit 5), and the images stay to be sent by a run that trusts it.
TEST_F(Upload, UntrustedCertificateStopsTheRunWithoutPreflightToo) {
  generate_images(dir / "in", {"--count", "6", "--size-kib", "1", "--seed", "4"});
  mock_server mock(dir.path(), token);
  const std::vector<std::string> common = {
      "upload",     (dir / "in").string(), "--endpoint", "tagging",
      "--api-base", mock.base(),           "--state",    (dir / "s.sqlite").string()};
  auto args = common;
  args.insert(args.end(),
              {"--results", (dir / "r.jsonl").string(), "--no-preflight", "--retry-base", "10ms"});
  const auto run = run_ximup(dir.path(), args, token);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("not trusted"), std::string::npos) << run.err;
  EXPECT_EQ(mock.counter("requests"), 0);
  args = common;
  args.insert(args.end(), {"--results", (dir / "r2.jsonl").string(), "--cacert", mock.cert().string()});
  const auto trusted = run_ximup(dir.path(), args, token);
  EXPECT_EQ(trusted.exit_code, 0) << trusted.err;
  EXPECT_EQ(read_results(dir / "r2.jsonl").size(), 6U) << trusted.out;
}

// A --cacert that is not a certificate file is a configuration error (exit 2) that names the
// file, found before anything is sent, whether or not the connection check runs. (Without the
// check it used to fail each request's handshake, retried for seconds, and blame the server.)
TEST_F(Upload, ACacertThatCannotBeLoadedIsAConfigurationErrorEvenWithoutPreflight) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  write_text(dir / "not-a-cert.pem", "this is not PEM\n");
  mock_server mock(dir.path(), token);
  for (const bool preflight : {true, false}) {
    std::vector<std::string> args = {"upload",     (dir / "in").string(),
                                     "--endpoint", "tagging",
                                     "--api-base", mock.base(),
                                     "--results",  (dir / "r.jsonl").string(),
                                     "--cacert",   (dir / "not-a-cert.pem").string()};
    if (!preflight) args.emplace_back("--no-preflight");
    const auto run = run_ximup(dir.path(), args, token);
    EXPECT_EQ(run.exit_code, 2) << "preflight " << preflight << ": " << run.err;
    EXPECT_NE(run.err.find("cannot load --cacert"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("not-a-cert.pem"), std::string::npos) << run.err;
  }
  EXPECT_EQ(mock.counter("requests"), 0) << "nothing may be sent";
}

// ximup offers AES-128-GCM first (the mock, like most servers, takes the client's order);
// --tls13-ciphers replaces the list, and a list OpenSSL cannot use is a usage error.
TEST_F(Upload, Tls13CipherPreferenceIsAes128GcmUnlessTheUserChooses) {
  generate_images(dir / "in", {"--count", "2", "--size-kib", "1", "--seed", "3"});
  mock_server mock(dir.path(), token);
  auto args = mock.upload_args(dir / "in", dir / "r.jsonl", {"--no-state"});
  auto run = run_ximup(dir.path(), args, token);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_GE(mock.counter("handshakes_by_cipher/TLS_AES_128_GCM_SHA256"), 1);
  // Only the two python3 fetches of /stats (this one included) used AES-256-GCM.
  EXPECT_EQ(mock.counter("handshakes_by_cipher/TLS_AES_256_GCM_SHA384"), 2);

  args.insert(args.end(), {"--tls13-ciphers", "TLS_CHACHA20_POLY1305_SHA256"});
  run = run_ximup(dir.path(), args, token);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_GE(mock.counter("handshakes_by_cipher/TLS_CHACHA20_POLY1305_SHA256"), 1);

  args.back() = "TLS_NO_SUCH_SUITE";
  run = run_ximup(dir.path(), args, token);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("--tls13-ciphers"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("TLS_NO_SUCH_SUITE"), std::string::npos) << run.err;
}

// The scheme that does not match the port: each direction says which one to use.
TEST_F(Upload, WrongSchemeForThePortGetsAHint) {
  fs::create_directories(dir / "in");
  write_text(dir / "in" / "a.png", "\x89PNG\r\n\x1a\n");
  {
    fs::create_directories(dir / "tls");
    mock_server tls_mock(dir / "tls", token);
    const std::string as_plain = "http://127.0.0.1:" + tls_mock.port() + "/";
    const auto run =
        run_ximup(dir.path(),
                  {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base", as_plain,
                   "--results", (dir / "r1.jsonl").string(), "--retries", "0", "--no-state"},
                  token);
    EXPECT_EQ(run.exit_code, 5) << run.err;
    EXPECT_NE(read_text(dir / "r1.jsonl").find("use an https:// endpoint"), std::string::npos)
        << read_text(dir / "r1.jsonl");
  }
  {
    fs::create_directories(dir / "plain");
    mock_server plain_mock(dir / "plain", token, {}, /*tls=*/false);
    const std::string as_tls = "https://127.0.0.1:" + plain_mock.port() + "/";
    const auto run = run_ximup(dir.path(),
                               {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                                as_tls, "--results", (dir / "r2.jsonl").string(), "--no-state"},
                               token);
    EXPECT_EQ(run.exit_code, 5) << run.err;
    EXPECT_NE(run.err.find("TLS handshake"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("use an http:// endpoint"), std::string::npos) << run.err;
  }
  {
    // A server that answers anything with a TLS alert record (as some TLS stacks do).
    const fs::path port_file = dir / "alert-port";
    process server({"python3", "-c",
                    "import socket,sys,os\n"
                    "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
                    "open(sys.argv[1]+'.tmp','w').write(str(s.getsockname()[1])); "
                    "os.replace(sys.argv[1]+'.tmp',sys.argv[1])\n"
                    "while True:\n"
                    "  c,_=s.accept(); c.recv(65536); c.sendall(bytes([0x15,3,3,0,2,2,70])); c.close()\n",
                    port_file.string()},
                   dir / "alert.out", dir / "alert.err");
    for (int i = 0; i < 500 && !fs::exists(port_file); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(fs::exists(port_file)) << read_text(dir / "alert.err");
    const auto run = run_ximup(dir.path(),
                               {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                                "http://127.0.0.1:" + read_text(port_file) + "/", "--results",
                                (dir / "r3.jsonl").string(), "--retries", "0", "--no-state"},
                               token);
    EXPECT_EQ(run.exit_code, 5) << run.err;
    EXPECT_NE(read_text(dir / "r3.jsonl").find("the server answered with TLS"), std::string::npos)
        << read_text(dir / "r3.jsonl");
  }
}

// Interim responses that are not followed by an answer. A 103 and then a closed connection: the
// server had the request, so it is not resent for free as on a stale keep-alive connection (it could
// be taken twice) but counted as an outcome unknown, an attempt spent. A 101 nobody asked for is no
// answer to trust either (it was taken for the answer: "HTTP 101", failed for good).
TEST(Cli, InterimResponsesWithoutAnAnswerAreNotResentForFree) {
  temp_dir dir;
  generate_images(dir / "in", {"--count", "2", "--size-kib", "1", "--seed", "47"});
  for (const std::string mode : {"drop", "101"}) {
    const fs::path posts = dir / ("posts-" + mode);
    // The first request on each connection is answered, the second gets only the interim response.
    const scripted_server server(
        dir, mode,
        "  served=0\n"
        "  while True:\n"
        "    body=request(c)\n"
        "    if body is None: break\n"
        "    open(args[1],'a').write('POST\\n')\n"
        "    if args[0]=='101': c.sendall(b'HTTP/1.1 101 Switching Protocols\\r\\n\\r\\n'); break\n"
        "    if served==1: c.sendall(b'HTTP/1.1 103 Early Hints\\r\\n\\r\\n'); break\n"
        "    answer(c,[{'_id':r['_id'],'_status':{'code':200,'text':'OK'}} for r in "
        "json.loads(body)['records']])\n"
        "    served+=1\n",
        {mode, posts.string()});
    ASSERT_FALSE(server.port.empty()) << read_text(dir / (mode + ".err"));
    const fs::path results = dir / ("r-" + mode + ".jsonl");
    const auto run = run_ximup(dir.path(),
                               {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                                "http://127.0.0.1:" + server.port + "/", "--results", results.string(),
                                "--retries", "0", "--connections", "1", "--batch-size", "1", "--no-state"},
                               token);
    EXPECT_EQ(run.exit_code, 5) << mode << ": " << run.err << read_text(dir / (mode + ".err"));
    if (mode == "drop") {
      EXPECT_EQ(read_text(posts), "POST\nPOST\n") << "the request answered 103 was sent again";
      EXPECT_NE(run.err.find("1 outcome unknown"), std::string::npos) << run.err;
    } else {
      EXPECT_NE(read_text(results).find("the server answered 101 after 0 interim responses"),
                std::string::npos)
          << read_text(results);
    }
  }
}

// A server that answers each request's records in reverse order and leaves the last one out (every
// record with its _id): the records are matched by _id, and only the one left out is sent again, once
// per answer, until it is answered. (The whole answer was unusable: resent five times, then failed.)
TEST(Cli, RecordsOutOfOrderOrLeftOutAreMatchedByIdAndOnlyTheMissingResent) {
  temp_dir dir;
  generate_images(dir / "in", {"--count", "4", "--size-kib", "1", "--seed", "53"});
  const fs::path received = dir / "received";
  const scripted_server server(
      dir, "reorder",
      "  while True:\n"
      "    body=request(c)\n"
      "    if body is None: break\n"
      "    ids=[r['_id'] for r in json.loads(body)['records']]\n"
      "    open(args[0],'a').write(' '.join(ids)+'\\n')\n"
      "    keep=ids if len(ids)==1 else ids[:-1]\n"
      "    answer(c,[{'_id':i,'_status':{'code':200,'text':'OK'},'_tags':[]} for i in reversed(keep)])\n",
      {received.string()});
  ASSERT_FALSE(server.port.empty()) << read_text(dir / "reorder.err");
  const auto run =
      run_ximup(dir.path(),
                {"upload", (dir / "in").string(), "--endpoint", "tagging", "--api-base",
                 "http://127.0.0.1:" + server.port + "/", "--results", (dir / "r.jsonl").string(),
                 "--connections", "1", "--retry-base", "10ms", "--retry-max", "20ms", "--no-state"},
                token);
  EXPECT_EQ(run.exit_code, 0) << run.err << read_text(dir / "reorder.err");
  const std::string results = read_text(dir / "r.jsonl");
  EXPECT_EQ(std::count(results.begin(), results.end(), '\n'), 4) << results;
  EXPECT_EQ(results.find("\"failed\""), std::string::npos) << results;
  // One request of four, then the one left out alone (answered, being alone).
  const std::string sent = read_text(received);
  ASSERT_EQ(std::count(sent.begin(), sent.end(), '\n'), 2) << sent;
  EXPECT_EQ(std::count(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(sent.find('\n')), ' '), 3)
      << sent;
  EXPECT_NE(run.err.find("0 outcome unknown"), std::string::npos) << run.err;
}

TEST(Cli, SimdVariantIsChosenByEnvironmentAndBadChoicesAreUsageErrors) {
  temp_dir dir;
  EXPECT_EQ(run({XIMUP_BIN, "version"}, dir / "out", dir / "err", {"XIMUP_SIMD=scalar"}), 0);
  EXPECT_NE(read_text(dir / "out").find("base64: scalar"), std::string::npos) << read_text(dir / "out");
  EXPECT_EQ(run({XIMUP_BIN, "version"}, dir / "out", dir / "err", {"XIMUP_SIMD=bogus"}), 2);
  EXPECT_NE(read_text(dir / "err").find("bogus"), std::string::npos) << read_text(dir / "err");
}
