// Disk full (issue 5): the results file, or the state file, lives on a small tmpfs that the run
// outgrows. ximup must stop with a clear error naming the file and exit code 7 (results/state
// I/O), without crashing or hanging; once there is room again (the tmpfs is remounted bigger), a
// rerun resumes and ends with every file exactly once in `ximup export` and every file's bytes in
// the mock's ledger. Needs root (mount); skipped with the reason where mounting is not permitted.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "support/json_lines.hpp"
#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* token = "diskfull-token-9b2e";
constexpr int exit_io_error = 7;  // src/cli/exit_codes.hpp: cannot write results or state

// A tmpfs mounted on a fresh directory; always unmounted at destruction (lazily if busy).
class tmpfs_mount {
 public:
  explicit tmpfs_mount(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }
  ~tmpfs_mount() {
    if (!mounted_) return;
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;

  /// Mounts a tmpfs of `size` (mount(8) syntax: 512k, 64m), read-only if asked; the error text when
  /// that fails.
  std::string mount(const std::string& size, bool read_only = false) {
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", read_only ? MS_RDONLY : 0, options.c_str()) != 0)
      return std::strerror(errno);
    mounted_ = true;
    return {};
  }
  /// Grows (or shrinks) the mounted tmpfs, keeping its files.
  std::string resize(const std::string& size) {
    const std::string options = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, options.c_str()) != 0)
      return std::strerror(errno);
    return {};
  }
  [[nodiscard]] const fs::path& path() const { return dir_; }

 private:
  fs::path dir_;
  bool mounted_ = false;
};

// path -> status of every input in `ximup export`; an input exported twice is a failure.
std::map<std::string, std::string> exported(const temp_dir& dir, const mock_server& mock,
                                            const fs::path& state) {
  const int rc = run({XIMUP_BIN, "export", "--endpoint", "tagging", "--api-base", mock.base(), "--state",
                      state.string(), "-o", (dir / "export.jsonl").string()},
                     dir / "export.out", dir / "export.err");
  EXPECT_EQ(rc, 0) << read_text(dir / "export.err");
  std::map<std::string, std::string> out;
  simdjson::dom::parser parser;
  std::istringstream in(read_text(dir / "export.jsonl"));
  for (std::string line; std::getline(in, line);) {
    simdjson::dom::element doc;
    if (parser.parse(lenient(line)).get(doc) != simdjson::SUCCESS) {
      ADD_FAILURE() << "export line not JSON: " << line;
      continue;
    }
    const std::string path = bytes(std::string_view(doc["path"]));
    EXPECT_FALSE(out.contains(path)) << "exported twice: " << path;
    out[path] = std::string(std::string_view(doc["status"]));
  }
  return out;
}

// Relative path -> content of every file of the tree.
std::map<std::string, std::string> files_under(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = read_text(e.path());
  }
  return files;
}

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_ = dir / "tree";
    // 4,000 images: ~1.4 MB of result lines (more than ximup's 1 MiB results buffer, so the
    // failure comes mid-run), ~0.4 MB of state rows and a WAL of up to ~4 MiB.
    generate_images(tree_, {"--count", "4000", "--nested", "--size-kib", "1", "--seed", "17"});
    files_ = files_under(tree_);
    ASSERT_EQ(files_.size(), 4000U);
  }

  std::vector<std::string> upload_args(const mock_server& mock, const fs::path& results,
                                       const fs::path& state) {
    return mock.upload_args(tree_, results,
                            {"--state", state.string(), "--connections", "4", "--log-level", "warn"});
  }

  // After the rerun: every file exactly once in the export, ok, and its bytes in the ledger.
  void expect_everything_delivered(const mock_server& mock, const fs::path& state) {
    const auto states = exported(dir, mock, state);
    EXPECT_EQ(states.size(), files_.size()) << "every file exactly once in the export";
    std::size_t not_ok = 0;
    for (const auto& [path, status] : states) {
      if (status != "ok" && ++not_ok <= 5) ADD_FAILURE() << path << ": " << status;
    }
    EXPECT_EQ(not_ok, 0U);
    const auto accepted = accepted_hashes(mock.ledger());
    std::size_t missing = 0;
    for (const auto& [id, content] : files_) {
      const auto [first, last] = accepted.equal_range(id);
      if (first == last) {
        if (++missing <= 5) ADD_FAILURE() << "never reached the mock: " << id;
        continue;
      }
      for (auto it = first; it != last; ++it) EXPECT_EQ(it->second, sha256_hex(content)) << id;
    }
    EXPECT_EQ(missing, 0U);
  }

  temp_dir dir;  // declared first: destroyed after the mount below is gone
  fs::path tree_;
  std::map<std::string, std::string> files_;
};

}  // namespace

TEST_F(DiskFull, ResultsFileOnAFullDiskIsExitSevenThenTheRerunCompletes) {
  tmpfs_mount small(dir / "small");
  if (const std::string error = small.mount("256k"); !error.empty()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): " << error;
  }
  const fs::path results = small.path() / "results.jsonl";
  const fs::path state = dir / "state.sqlite";  // on the big disk
  mock_server mock(dir.path(), token);

  const auto first = run_ximup(dir.path(), upload_args(mock, results, state), token, 120s);
  ASSERT_NE(first.exit_code, -1) << "the run hung on a full disk (killed after 120 s): " << first.err;
  EXPECT_EQ(first.exit_code, exit_io_error) << first.err;
  EXPECT_NE(first.err.find(results.string()), std::string::npos)
      << "the message names the file: " << first.err;
  EXPECT_NE(first.err.find("No space left on device"), std::string::npos) << first.err;
  // The summary's counts are answers, and it says that not all of them were recorded.
  EXPECT_NE(first.err.find("not all recorded"), std::string::npos) << first.err;
  // The write cut short left no half line behind: readers of the file (jq) meet only whole lines,
  // and the rerun has no torn tail to cut (nor says that the run was killed).
  const std::string written = read_text(results);
  if (!written.empty()) {
    EXPECT_EQ(written.back(), '\n') << "the full disk left half a line";
  }

  ASSERT_EQ(small.resize("64m"), "");
  const auto rerun = run_ximup(dir.path(), upload_args(mock, results, state), token, 120s);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(rerun.err.find("half-written line"), std::string::npos) << rerun.err;
  mock.stop();
  expect_everything_delivered(mock, state);
}

TEST_F(DiskFull, StateFileOnAFullDiskIsExitSevenThenTheRerunCompletes) {
  tmpfs_mount small(dir / "small");
  if (const std::string error = small.mount("256k"); !error.empty()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): " << error;
  }
  const fs::path results = dir / "results.jsonl";  // on the big disk
  const fs::path state = small.path() / "state.sqlite";
  mock_server mock(dir.path(), token);

  const auto first = run_ximup(dir.path(), upload_args(mock, results, state), token, 120s);
  ASSERT_NE(first.exit_code, -1) << "the run hung on a full disk (killed after 120 s): " << first.err;
  EXPECT_EQ(first.exit_code, exit_io_error) << first.err;
  EXPECT_NE(first.err.find(state.string()), std::string::npos) << "the message names the file: " << first.err;
  EXPECT_NE(first.err.find("disk is full"), std::string::npos) << first.err;

  ASSERT_EQ(small.resize("64m"), "");
  const auto rerun = run_ximup(dir.path(), upload_args(mock, results, state), token, 120s);
  EXPECT_EQ(rerun.exit_code, 0) << rerun.err;
  mock.stop();
  expect_everything_delivered(mock, state);
}

// A state file in a directory the run cannot write to (a read-only file system: as root, which CI
// is, permission bits would not stop it): exit 7 before anything is sent, and the message names the
// directory, the reason and what to do, where SQLite alone said "unable to open database file (No
// such file or directory)".
TEST(ReadOnlyStateDirectory, IsNamedWithWhatToDoAndNothingIsSent) {
  temp_dir dir;
  tmpfs_mount read_only(dir / "ro");
  if (const std::string error = read_only.mount("1m", true); !error.empty()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): " << error;
  }
  const fs::path tree = dir / "tree";
  generate_images(tree, {"--count", "3", "--size-kib", "1", "--seed", "5"});
  mock_server mock(dir.path(), token);
  const auto state = read_only.path() / "state.sqlite";
  const auto result = run_ximup(
      dir.path(), mock.upload_args(tree, dir / "results.jsonl", {"--state", state.string()}), token, 60s);
  mock.stop();
  EXPECT_EQ(result.exit_code, exit_io_error) << result.err;
  EXPECT_NE(result.err.find("cannot write the state file '" + state.string() + "': its directory '" +
                            read_only.path().string() + "' is not writable (Read-only file system)"),
            std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("--no-state"), std::string::npos) << result.err;
  EXPECT_TRUE(accepted_hashes(mock.ledger()).empty());
}
