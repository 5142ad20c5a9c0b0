// read_file: whole files into a reused buffer, with limits and clear errors; stream_file: the same
// files piece by piece.
#include "ximup/file_reader.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace {

using ximup::read_file;
using ximup::read_status;
using ximup::scanned_file;
using ximup::stream_file;
using ximup::test::temp_dir;

std::vector<unsigned char> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out(n);
  for (auto& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

void write(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file of `n` random bytes named `name` in `dir`: its path and its content.
std::pair<std::string, std::vector<unsigned char>> random_file(const temp_dir& dir, const std::string& name,
                                                               std::size_t n, unsigned seed) {
  auto content = random_bytes(n, seed);
  const std::string path = dir / name;
  write(path, content);
  return {path, std::move(content)};
}

// Streams `path` through a buffer of `piece` bytes: the pieces, joined, and their sizes.
struct streamed {
  read_status status;
  std::vector<unsigned char> bytes;
  std::vector<std::size_t> sizes;
};
streamed stream(const std::string& path, std::size_t piece, std::uint64_t max_bytes) {
  streamed out;
  std::vector<unsigned char> buffer(piece);
  out.status = stream_file(path, buffer, max_bytes, [&](std::span<const unsigned char> p) {
    out.bytes.insert(out.bytes.end(), p.begin(), p.end());
    out.sizes.push_back(p.size());
  });
  return out;
}

// One buffer for many files of different sizes, larger and smaller in turn, as a worker uses it:
// each read yields exactly that file, never a tail of the previous one.
TEST(FileReader, OneBufferReadsFilesOfEverySizeExactly) {
  temp_dir dir;
  std::vector<unsigned char> buffer;
  const std::size_t sizes[] = {300000, 0, 1, 4096, 250000, 17, 300001, 65536, 2};
  unsigned seed = 1;
  for (const std::size_t n : sizes) {
    const auto [path, content] = random_file(dir, "f" + std::to_string(n), n, seed++);
    const auto status = read_file(path, buffer, 1U << 20U);
    ASSERT_TRUE(status.ok) << n << ": " << status.error;
    EXPECT_EQ(buffer, content) << "file of " << n << " bytes";
  }
}

// Pieces of files of every size around the piece size join to the file, and every piece but the
// last fills the buffer (what lets the pipeline base64-encode them one after another).
TEST(FileReader, StreamGivesFullPiecesThenTheRest) {
  temp_dir dir;
  constexpr std::size_t piece = 3 * 1024;
  const std::size_t sizes[] = {0, 1, 2, 3, piece - 1, piece, piece + 1, 2 * piece, 5 * piece + 2, 300000};
  unsigned seed = 20;
  for (const std::size_t n : sizes) {
    const auto [path, content] = random_file(dir, "s" + std::to_string(n), n, seed++);
    const streamed got = stream(path, piece, 1U << 20U);
    ASSERT_TRUE(got.status.ok) << n << ": " << got.status.error;
    EXPECT_EQ(got.bytes, content) << "file of " << n << " bytes";
    EXPECT_EQ(got.sizes.size(), (n + piece - 1) / piece) << n;
    for (std::size_t i = 0; i + 1 < got.sizes.size(); ++i)
      EXPECT_EQ(got.sizes[i], piece) << n << " piece " << i;
  }
}

// stream_file refuses what read_file refuses, with the same words, before giving any piece.
TEST(FileReader, StreamRefusesWhatReadRefuses) {
  temp_dir dir;
  const std::string big = dir / "big";
  write(big, random_bytes(1001, 7));
  std::vector<unsigned char> buffer;
  for (const std::string& path : std::vector<std::string>{big, dir / "nope", dir.path().string()}) {
    const read_status whole = read_file(path, buffer, 1000);
    const streamed got = stream(path, 300, 1000);
    EXPECT_FALSE(whole.ok) << path;
    EXPECT_FALSE(got.status.ok) << path;
    EXPECT_EQ(got.status.error, whole.error) << path;
    EXPECT_TRUE(got.sizes.empty()) << path;
  }
  EXPECT_TRUE(stream(big, 300, 1001).status.ok);
}

// A file that grows past the limit while it is read (its size was within it when opened) is refused.
// A /proc file stands in for one: it is regular, fstat says it is empty, and then it gives bytes.
TEST(FileReader, StreamRefusesAFileThatGrowsPastTheLimit) {
  const streamed got = stream("/proc/self/status", 16, 10);
  EXPECT_FALSE(got.status.ok);
  EXPECT_NE(got.status.error.find("grew past the limit of 10 bytes"), std::string::npos) << got.status.error;
  std::vector<unsigned char> buffer;
  const read_status whole = read_file("/proc/self/status", buffer, 10);
  EXPECT_EQ(got.status.error, whole.error);
}

// Sets the file's mtime to `seconds` since the epoch.
void set_mtime(const std::string& path, long seconds) {
  const struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// A read that went well gives the facts of the bytes it read: size and mtime as the file was opened.
TEST(FileReader, AReadGivesTheSizeAndMtimeOfWhatItRead) {
  temp_dir dir;
  const auto [path, content] = random_file(dir, "f", 5000, 3);
  set_mtime(path, 1'700'000'000);
  std::vector<unsigned char> buffer;
  const auto whole = read_file(path, buffer, 1U << 20U);
  ASSERT_TRUE(whole.ok) << whole.error;
  EXPECT_EQ(whole.size, 5000U);
  EXPECT_EQ(whole.mtime_ns, 1'700'000'000LL * 1'000'000'000);
  const streamed got = stream(path, 300, 1U << 20U);
  ASSERT_TRUE(got.status.ok) << got.status.error;
  EXPECT_EQ(got.status.size, 5000U);
  EXPECT_EQ(got.status.mtime_ns, whole.mtime_ns);
  EXPECT_FALSE(got.status.changed);
}

// Held to what the scan saw: a file cut or rewritten since (a writer that truncated it and has
// written part of it) fails as changed before a byte is read, and with no_follow a symbolic link
// swapped in for it is refused, not followed to the file it names (which the walk would not send).
TEST(FileReader, AFileIsHeldToWhatTheScanSaw) {
  temp_dir dir;
  const auto [path, content] = random_file(dir, "f", 5000, 5);
  set_mtime(path, 1'700'000'000);
  const scanned_file as_scanned{5000, 1'700'000'000LL * 1'000'000'000, true};
  std::vector<unsigned char> buffer;
  ASSERT_TRUE(read_file(path, buffer, 1U << 20U, as_scanned).ok);
  ASSERT_EQ(::truncate(path.c_str(), 1000), 0);
  for (const auto& got :
       {read_file(path, buffer, 1U << 20U, as_scanned),
        stream_file(
            path, buffer, 1U << 20U, [](auto) { FAIL() << "a piece was read"; }, as_scanned)}) {
    EXPECT_FALSE(got.ok);
    EXPECT_TRUE(got.changed);
    EXPECT_NE(got.error.find("the file changed after the scan (5000 bytes then, 1000 now)"),
              std::string::npos)
        << got.error;
  }
  // The same size, another mtime: modified again.
  const auto [other, other_content] = random_file(dir, "g", 5000, 6);
  set_mtime(other, 1'700'000'001);
  const auto touched =
      read_file(other, buffer, 1U << 20U, scanned_file{5000, 1'700'000'000LL * 1'000'000'000});
  EXPECT_TRUE(touched.changed);
  EXPECT_NE(touched.error.find("(modified again)"), std::string::npos) << touched.error;

  const auto [secret, secret_content] = random_file(dir, "secret", 5000, 7);
  set_mtime(secret, 1'700'000'000);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink(secret.c_str(), path.c_str()), 0);
  const auto linked = read_file(path, buffer, 1U << 20U, as_scanned);
  EXPECT_FALSE(linked.ok);
  EXPECT_FALSE(linked.changed);
  EXPECT_NE(linked.error.find("is a symbolic link now"), std::string::npos) << linked.error;
  // A walk that follows links (and a listed path) opens the link's target.
  EXPECT_TRUE(
      read_file(path, buffer, 1U << 20U, scanned_file{5000, 1'700'000'000LL * 1'000'000'000, false}).ok);
}

// A file written while it is read (a camera or a copy still filling it) is never taken for the
// file: grown, cut, or rewritten in place with a new mtime, the read fails with `changed` and says
// what to do. The writes happen between two pieces, the way another process's would.
TEST(FileReader, AFileChangedWhileBeingReadIsRefusedAsChanged) {
  temp_dir dir;
  const std::vector<std::pair<std::string, std::function<void(const std::string&)>>> changes = {
      {"grown", [](const std::string& p) { std::ofstream(p, std::ios::app) << "more"; }},
      {"cut", [](const std::string& p) { ASSERT_EQ(::truncate(p.c_str(), 1000), 0); }},
      {"rewritten",
       [](const std::string& p) {
         const int fd = ::open(p.c_str(), O_WRONLY);
         ASSERT_GE(fd, 0);
         ASSERT_EQ(::pwrite(fd, "XXXX", 4, 0), 4);
         ::close(fd);
         set_mtime(p, 1'800'000'000);  // the same size: only the mtime tells
       }},
  };
  unsigned seed = 40;
  for (const auto& named_change : changes) {
    const std::string& name = named_change.first;
    const auto& change = named_change.second;
    const std::string path = random_file(dir, name, 10000, seed++).first;
    set_mtime(path, 1'700'000'000);
    std::vector<unsigned char> buffer(3000);
    bool changed_once = false;
    const auto status = stream_file(path, buffer, 1U << 20U, [&](std::span<const unsigned char>) {
      if (!std::exchange(changed_once, true)) change(path);
    });
    EXPECT_FALSE(status.ok) << name;
    EXPECT_TRUE(status.changed) << name;
    EXPECT_NE(status.error.find("changed while being read"), std::string::npos)
        << name << ": " << status.error;
    EXPECT_NE(status.error.find("--min-age"), std::string::npos) << name << ": " << status.error;
  }
}

// A file whose reported size is not its length (/proc, /sys, some FUSE file systems) and that does
// not change while read is taken as read, not refused as changed on every run.
TEST(FileReader, AFileWhoseSizeIsNotItsLengthIsNotTakenForChanged) {
  std::vector<unsigned char> buffer;
  const auto whole = read_file("/proc/self/cmdline", buffer, 1U << 20U);
  EXPECT_TRUE(whole.ok) << whole.error;
  EXPECT_FALSE(buffer.empty());
  const streamed got = stream("/proc/self/cmdline", 16, 1U << 20U);
  EXPECT_TRUE(got.status.ok) << got.status.error;
  EXPECT_EQ(got.bytes, buffer);
}

// read_file checks the same way: a file whose mtime another thread keeps changing is refused as
// changed (a read of 8 MB overlaps many of those changes; tried until one does), and a read that
// reports success gave the file's bytes.
TEST(FileReader, WholeReadOfAFileBeingTouchedIsRefusedAsChanged) {
  temp_dir dir;
  const auto [path, content] = random_file(dir, "busy", 8U << 20U, 5);
  std::atomic<bool> done{false};
  std::thread toucher([&, p = path] {
    long t = 1'700'000'000;
    while (!done.load()) {
      const struct timespec times[2] = {{t, 0}, {t, 0}};
      ::utimensat(AT_FDCWD, p.c_str(), times, 0);
      ++t;
    }
  });
  std::vector<unsigned char> buffer;
  bool refused = false;
  for (int attempt = 0; attempt < 200 && !refused; ++attempt) {
    const auto status = read_file(path, buffer, 16U << 20U);
    if (status.ok) {
      EXPECT_EQ(buffer, content);
    } else {
      EXPECT_TRUE(status.changed) << status.error;
      refused = true;
    }
  }
  done = true;
  toucher.join();
  EXPECT_TRUE(refused) << "200 whole reads of a file whose mtime changed all the time all succeeded";
}

TEST(FileReader, FileOverTheLimitIsRefusedWithTheFlagToRaise) {
  temp_dir dir;
  const std::string path = dir / "big";
  write(path, random_bytes(1001, 7));
  std::vector<unsigned char> buffer;
  EXPECT_TRUE(read_file(path, buffer, 1001).ok);
  const auto status = read_file(path, buffer, 1000);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.error.find("1001 bytes"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("--max-body-bytes"), std::string::npos) << status.error;
}

TEST(FileReader, MissingDirectoryAndUnreadableInputsSayWhy) {
  temp_dir dir;
  std::vector<unsigned char> buffer;
  auto status = read_file(dir / "nope", buffer, 1000);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.error.find("cannot open"), std::string::npos) << status.error;

  status = read_file(dir.path().string(), buffer, 1000);
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.error.find("not a regular file"), std::string::npos) << status.error;

  if (::geteuid() != 0) {  // root reads anything: the permission case only means something for users
    const std::string locked = dir / "locked";
    write(locked, random_bytes(10, 3));
    ::chmod(locked.c_str(), 0);
    status = read_file(locked, buffer, 1000);
    EXPECT_FALSE(status.ok);
    EXPECT_NE(status.error.find("ermission"), std::string::npos) << status.error;
  }
}

// A pipe is not a regular file: it is refused rather than read until whatever writes it stops, and
// without waiting for a writer (a file replaced by a FIFO after the scan held a worker, and the run,
// forever in open()).
TEST(FileReader, FifoIsRefusedWithoutBlocking) {
  temp_dir dir;
  const std::string fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto reading = std::async(std::launch::async, [&fifo] {
    std::vector<unsigned char> buffer;
    return read_file(fifo, buffer, 1000);
  });
  if (reading.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    const int writer = ::open(fifo.c_str(), O_WRONLY);  // lets the blocked open() return
    ADD_FAILURE() << "read_file waited for a writer";
    reading.wait();
    ::close(writer);
    return;
  }
  const auto status = reading.get();
  EXPECT_FALSE(status.ok);
  EXPECT_NE(status.error.find("not a regular file"), std::string::npos) << status.error;
}

}  // namespace
