// Tests for progress.hpp: rate and ETA math, line format, and the reporter over pipes and a pty.
#include "ximup/progress.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

using namespace ximup;
using namespace std::chrono_literals;

namespace {

progress_snapshot at(double seconds, std::uint64_t done, std::uint64_t bytes) {
  progress_snapshot s;
  s.elapsed = std::chrono::duration<double>(seconds);
  s.files_done = done;
  s.files_seen_so_far = done;
  s.bytes_done = bytes;
  return s;
}

// A pipe whose ends close with the test.
struct test_pipe {
  int read_fd = -1;
  int write_fd = -1;
  test_pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~test_pipe() {
    close_write();
    if (read_fd >= 0) {
      ::close(read_fd);
    }
  }
  test_pipe(const test_pipe&) = delete;
  test_pipe& operator=(const test_pipe&) = delete;
  void close_write() {
    if (write_fd >= 0) {
      ::close(write_fd);
    }
    write_fd = -1;
  }
  // Reads until `needle` has arrived or `timeout` passes; returns everything read.
  std::string read_until(std::string_view needle, std::chrono::milliseconds timeout) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.find(needle) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        break;
      }
      pollfd p{read_fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        break;
      }
      char buf[4096];
      const ssize_t n = ::read(read_fd, buf, sizeof buf);
      if (n <= 0) {
        break;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Reads to end of file (call after close_write).
  std::string read_all() {
    std::string out;
    char buf[4096];
    ssize_t n = 0;
    while ((n = ::read(read_fd, buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
};

// A snapshot source that makes progress each time it is asked.
struct counting_source {
  std::atomic<std::uint64_t> calls{0};
  progress_snapshot operator()() {
    const std::uint64_t n = ++calls;
    progress_snapshot s = at(static_cast<double>(n) * 0.1, n * 10, n * 1'000'000);
    s.files_total = 1000;
    return s;
  }
};

bool has_control_characters(const std::string& text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n') || u == 0x7F) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST(Progress, RatesOverTheWindowBetweenSnapshots) {
  const progress_snapshot since = at(10, 100, 50'000'000);
  progress_snapshot now = at(20, 300, 150'000'000);
  now.files_total = 1300;
  const progress_rates r = compute_rates(now, since);
  EXPECT_DOUBLE_EQ(r.mb_per_s, 10.0);      // 100 MB in 10 s
  EXPECT_DOUBLE_EQ(r.images_per_s, 20.0);  // 200 images in 10 s
  ASSERT_TRUE(r.eta.has_value());
  EXPECT_DOUBLE_EQ(r.eta->count(), 50.0);  // 1000 left at 20/s
}

TEST(Progress, RatesSinceTheStartAreWholeRunAverages) {
  const progress_rates r = compute_rates(at(4, 8, 2'000'000), progress_snapshot{});
  EXPECT_DOUBLE_EQ(r.mb_per_s, 0.5);
  EXPECT_DOUBLE_EQ(r.images_per_s, 2.0);
  EXPECT_FALSE(r.eta.has_value());  // total unknown
}

TEST(Progress, NoTimePassedGivesZeroRatesAndNoEta) {
  progress_snapshot now = at(5, 10, 10);
  now.files_total = 20;
  const progress_rates r = compute_rates(now, now);
  EXPECT_EQ(r.mb_per_s, 0.0);
  EXPECT_EQ(r.images_per_s, 0.0);
  EXPECT_FALSE(r.eta.has_value());
  EXPECT_NE(format_progress_line(now, now).find("ETA --"), std::string::npos);
}

TEST(Progress, EtaIsZeroWhenEverythingIsDone) {
  progress_snapshot now = at(5, 20, 10);
  now.files_total = 20;
  const progress_rates r = compute_rates(now, now);
  ASSERT_TRUE(r.eta.has_value());
  EXPECT_EQ(r.eta->count(), 0.0);
}

TEST(Progress, LineWithKnownTotal) {
  const progress_snapshot since = at(55, 1000, 0);
  progress_snapshot now = at(65, 1200, 123'000'000);
  now.files_total = 5000;
  now.requests_in_flight = 8;
  now.retries = 3;
  now.files_failed = 2;
  EXPECT_EQ(format_progress_line(now, since),
            "1m05s  1200/5000 files (24.0%)  12.3 MB/s  20.0 images/s  8 in flight  3 retries  2 failed  ETA "
            "3m10s");
}

TEST(Progress, LineWhileTheScanRuns) {
  progress_snapshot now = at(65, 1200, 0);
  now.files_seen_so_far = 3400;
  now.retries = 1;
  const std::string line = format_progress_line(now, progress_snapshot{});
  EXPECT_EQ(
      line,
      "1m05s  1200 files done, 3400+ found so far  0.0 MB/s  18.5 images/s  0 in flight  1 retry  0 failed");
  EXPECT_EQ(line.find("ETA"), std::string::npos);
}

TEST(Progress, EmptyTotalIsComplete) {
  progress_snapshot now = at(1, 0, 0);
  now.files_total = 0;
  EXPECT_NE(format_progress_line(now, progress_snapshot{}).find("0/0 files (100.0%)"), std::string::npos);
}

TEST(Progress, DurationsAreShortAndRounded) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(std::chrono::duration<double>(0.9)), "0s");
  EXPECT_EQ(format_duration(45s), "45s");
  EXPECT_EQ(format_duration(185s), "3m05s");
  EXPECT_EQ(format_duration(2h + 4min + 59s), "2h04m");
  EXPECT_EQ(format_duration(3 * 24h + 5h), "3d05h");
  EXPECT_EQ(format_duration(std::chrono::duration<double>(-3)), "0s");
  EXPECT_EQ(format_duration(std::chrono::duration<double>(1e300)), "99d00h");
}

TEST(Progress, RateWindowMeasuresFromAboutTheWindowAgo) {
  rate_window w(10s);
  EXPECT_EQ(w.add(at(1, 10, 0)).elapsed.count(), 0.0);  // the first 10 s: since the start
  for (int t = 2; t <= 10; ++t) {
    w.add(at(t, static_cast<std::uint64_t>(t) * 10, 0));
  }
  EXPECT_EQ(w.add(at(11, 110, 0)).elapsed.count(), 1.0);
  EXPECT_EQ(w.add(at(25, 250, 0)).elapsed.count(), 11.0);  // newest sample at least 10 s old
  EXPECT_EQ(w.add(at(26, 260, 0)).elapsed.count(), 11.0);
  EXPECT_EQ(w.add(at(60, 600, 0)).elapsed.count(), 26.0);  // sparse samples (plain mode)
}

TEST(Progress, PipeGetsPlainStatsLinesWithoutControlCharacters) {
  test_pipe p;
  counting_source source;
  progress_options o;
  o.fd = p.write_fd;
  o.stats_interval = 100ms;
  progress_reporter reporter([&] { return source(); }, o);
  EXPECT_FALSE(reporter.live());
  reporter.start();
  std::string out = p.read_until("\n", 5s);  // a stats line arrives at the interval, before stop()
  EXPECT_EQ(out.rfind("progress: ", 0), 0U) << out;
  reporter.stop();
  reporter.stop();  // idempotent
  p.close_write();
  out += p.read_all();
  EXPECT_FALSE(has_control_characters(out)) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back(), '\n');
  // The final line: whole-run averages, no ETA.
  const std::size_t last = out.rfind('\n', out.size() - 2);
  const std::string final_line = out.substr(last == std::string::npos ? 0 : last + 1);
  EXPECT_EQ(final_line.rfind("progress: ", 0), 0U);
  EXPECT_EQ(final_line.find("ETA"), std::string::npos) << final_line;
}

TEST(Progress, AlwaysModeRedrawsOneLineInPlace) {
  test_pipe p;
  counting_source source;
  progress_options o;
  o.fd = p.write_fd;
  o.mode = progress_mode::always;
  o.redraw_interval = 20ms;
  o.stats_interval = 1h;  // not used in live mode
  progress_reporter reporter([&] { return source(); }, o);
  EXPECT_TRUE(reporter.live());
  reporter.start();
  std::string out = p.read_until("\x1b[K", 5s);
  EXPECT_EQ(out.rfind('\r', 0), 0U);
  EXPECT_EQ(out.find('\n'), std::string::npos);  // redraws never end the line
  reporter.stop();
  p.close_write();
  out += p.read_all();
  EXPECT_NE(out.find("ETA"), std::string::npos);
  ASSERT_GE(out.size(), 4U);
  EXPECT_EQ(out.substr(out.size() - 4), "\x1b[K\n");  // stop() ends the line
  EXPECT_EQ(out.find('\n'), out.size() - 1);
}

TEST(Progress, NeverModeOnATerminalPrintsPlainLines) {
  test_pipe p;
  progress_options o;
  o.fd = p.write_fd;
  o.mode = progress_mode::never;
  progress_reporter reporter([] { return progress_snapshot{}; }, o);
  EXPECT_FALSE(reporter.live());
}

TEST(Progress, AutomaticModeIsLiveOnATerminal) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0);
  ASSERT_EQ(::grantpt(master), 0);
  ASSERT_EQ(::unlockpt(master), 0);
  const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(slave, 0);
  const char* term = std::getenv("TERM");
  const std::string saved_term = term != nullptr ? term : "";
  ::setenv("TERM", "xterm", 1);
  progress_options o;
  o.fd = slave;
  EXPECT_TRUE(progress_reporter([] { return progress_snapshot{}; }, o).live());
  ::setenv("TERM", "dumb", 1);
  EXPECT_FALSE(progress_reporter([] { return progress_snapshot{}; }, o).live());
  if (term != nullptr) {
    ::setenv("TERM", saved_term.c_str(), 1);
  } else {
    ::unsetenv("TERM");
  }
  ::close(slave);
  ::close(master);
}

TEST(Progress, QuietPrintsNothing) {
  test_pipe p;
  std::atomic<int> calls{0};
  progress_options o;
  o.fd = p.write_fd;
  o.quiet = true;
  o.mode = progress_mode::always;
  o.redraw_interval = 1ms;
  {
    progress_reporter reporter(
        [&] {
          ++calls;
          return progress_snapshot{};
        },
        o);
    EXPECT_FALSE(reporter.live());
    reporter.start();
    std::this_thread::sleep_for(20ms);
    reporter.stop();
  }
  p.close_write();
  EXPECT_EQ(p.read_all(), "");
  EXPECT_EQ(calls.load(), 0);
}

TEST(Progress, StopWithoutStartPrintsNothing) {
  test_pipe p;
  progress_options o;
  o.fd = p.write_fd;
  {
    progress_reporter reporter([] { return progress_snapshot{}; }, o);
  }
  p.close_write();
  EXPECT_EQ(p.read_all(), "");
}

TEST(Progress, DestructorStopsAndPrintsTheFinalLine) {
  test_pipe p;
  progress_options o;
  o.fd = p.write_fd;
  {
    progress_reporter reporter([] { return at(2, 4, 0); }, o);
    reporter.start();
  }
  p.close_write();
  EXPECT_EQ(p.read_all(),
            "progress: 2s  4 files done, 4+ found so far  0.0 MB/s  2.0 images/s  0 in flight  0 retries  0 "
            "failed\n");
}
