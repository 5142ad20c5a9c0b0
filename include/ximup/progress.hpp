#pragma once
/// Progress of a run, for people watching a terminal and for logs of unattended runs.
///
/// - format_progress_line / compute_rates: pure; rates over a window between two snapshots.
/// - progress_reporter: one thread that samples a snapshot source and writes to a file descriptor.
///   Live mode (a TTY, or mode `always`): one line redrawn in place with "\r" + "ESC[K" at most
///   every `redraw_interval` (250 ms: 4 times a second), cut to the terminal width so it never wraps.
///   Plain mode (cron, containers, pipes, or mode `never`): one ordinary line every `stats_interval`,
///   with no control characters at all. `quiet` prints nothing.
///
/// Lines say "progress:" first in plain mode so they can be grepped out of a log.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace ximup {

/// What the pipeline has done so far. Counters only grow during a run.
struct progress_snapshot {
  std::uint64_t files_done = 0;              ///< inputs finished (ok or failed): their result line is written
  std::uint64_t files_failed = 0;            ///< of files_done, the failed ones
  std::optional<std::uint64_t> files_total;  ///< known once the scan has ended
  std::uint64_t files_seen_so_far = 0;       ///< inputs the scan has found so far
  std::uint64_t bytes_done = 0;              ///< image bytes of the finished inputs
  std::uint64_t requests_in_flight = 0;
  std::uint64_t retries = 0;
  std::chrono::duration<double> elapsed{0};  ///< since the run started
};

struct progress_rates {
  double mb_per_s = 0;      ///< 10^6 bytes per second
  double images_per_s = 0;  ///< finished inputs per second
  /// Time left at images_per_s, when files_total is known and the rate is above 0.
  std::optional<std::chrono::duration<double>> eta;
};

/// Rates between `since` and `now` (`since` is an earlier snapshot of the same run; pass
/// `progress_snapshot{}` for averages over the whole run). Zero when no time has passed. Pure.
[[nodiscard]] progress_rates compute_rates(const progress_snapshot& now, const progress_snapshot& since);

/// One line, no newline and no control characters, e.g.
///   "1m05s  1200/5000 files (24.0%)  12.3 MB/s  18.5 images/s  8 in flight  3 retries  2 failed  ETA 3m25s"
/// and while the scan runs (total unknown):
///   "1m05s  1200 files done, 3400+ found so far  12.3 MB/s  18.5 images/s  8 in flight  ..."
/// Rates as compute_rates(now, since). Pure.
[[nodiscard]] std::string format_progress_line(const progress_snapshot& now, const progress_snapshot& since);

/// "45s", "3m05s", "2h04m", "3d05h". Pure.
[[nodiscard]] std::string format_duration(std::chrono::duration<double> d);

/// Keeps the snapshots of the last `window` so rates follow recent speed, not the run's average.
/// Not thread-safe (the reporter's thread owns it).
class rate_window {
 public:
  explicit rate_window(std::chrono::duration<double> window = std::chrono::seconds(10)) : window_(window) {}
  /// Adds `now` and returns the snapshot to measure from: the newest one at least `window` older
  /// than `now`, or the oldest kept (`progress_snapshot{}` before the first add).
  const progress_snapshot& add(const progress_snapshot& now);

 private:
  std::chrono::duration<double> window_;
  std::deque<progress_snapshot> samples_;
};

enum class progress_mode {
  automatic,  ///< live line when the output is a terminal (and TERM is not "dumb"), plain lines otherwise
  always,     ///< live line even when the output is not a terminal
  never,      ///< plain lines only
};

struct progress_options {
  int fd = 2;  ///< where lines go (not owned); stderr by default
  progress_mode mode = progress_mode::automatic;
  bool quiet = false;                               ///< print nothing at all
  std::chrono::milliseconds stats_interval{30000};  ///< plain mode: one line this often
  std::chrono::milliseconds redraw_interval{250};   ///< live mode: redraw at most this often
  std::chrono::milliseconds rate_window{10000};     ///< rates are measured over about this long
  /// Plain mode: when set, each stats line (without prefix or newline) goes here instead of `fd`,
  /// e.g. to the logger when logs are JSON lines. Called from the reporter's thread.
  std::function<void(const std::string&)> line_sink;
};

/// Thread-safe: start() and stop() may be called from any thread, stop() more than once.
/// `source` is called from the reporter's thread while it runs and from the thread calling stop()
/// after that thread has ended (never concurrently with itself); it must not block for long.
/// Writes are plain write(2) calls on `fd` (EINTR retried, other errors ignored: progress is
/// never worth failing a run for).
class progress_reporter {
 public:
  progress_reporter(std::function<progress_snapshot()> source, const progress_options& options);
  /// Stops (and prints the final line) if still running.
  ~progress_reporter();
  progress_reporter(const progress_reporter&) = delete;
  progress_reporter& operator=(const progress_reporter&) = delete;

  /// Starts the thread; does nothing when quiet or already started.
  void start();
  /// Wakes the thread, joins it, then prints a final line with whole-run averages (live mode:
  /// redrawn in place and ended with "\n"; none with `final_line` false: a run that never started).
  /// Blocks only for the join (at most one write).
  void stop(bool final_line = true);
  /// True when lines are redrawn in place (decided once, in the constructor).
  [[nodiscard]] bool live() const noexcept { return live_; }

 private:
  void run();
  void draw(const progress_snapshot& now, const progress_snapshot& since, bool final_line);
  void write_all(const std::string& text) const;

  std::function<progress_snapshot()> source_;
  progress_options options_;
  bool live_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
  bool stopped_ = false;
  std::mutex lifecycle_;  // serializes start() and stop()
  std::thread thread_;
  rate_window rates_;
};

}  // namespace ximup
