// Progress lines: pure formatting, and a reporter thread that redraws (TTY) or logs (plain).
#include "ximup/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ximup {
namespace {

constexpr std::string_view plain_prefix = "progress: ";
constexpr std::string_view clear_to_eol = "\x1b[K";

std::string format_fixed1(double v) {
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%.1f", std::isfinite(v) ? v : 0.0);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("0.0");
}

// Columns of the terminal on `fd`, or 0 when unknown.
std::size_t terminal_columns(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0) {
    return 0;
  }
  return ws.ws_col;
}

bool is_live_terminal(int fd) {
  if (::isatty(fd) == 0) {
    return false;
  }
  const char* term = std::getenv("TERM");  // NOLINT(concurrency-mt-unsafe): read once, at construction
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

}  // namespace

progress_rates compute_rates(const progress_snapshot& now, const progress_snapshot& since) {
  progress_rates r;
  const double seconds = (now.elapsed - since.elapsed).count();
  if (seconds > 0 && std::isfinite(seconds)) {
    const auto delta = [](std::uint64_t a, std::uint64_t b) {
      return a > b ? static_cast<double>(a - b) : 0.0;
    };
    r.mb_per_s = delta(now.bytes_done, since.bytes_done) / 1e6 / seconds;
    r.images_per_s = delta(now.files_done, since.files_done) / seconds;
  }
  if (now.files_total) {
    const std::uint64_t total = *now.files_total;
    const std::uint64_t remaining = total > now.files_done ? total - now.files_done : 0;
    if (remaining == 0) {
      r.eta = std::chrono::duration<double>(0);
    } else if (r.images_per_s > 0) {
      r.eta = std::chrono::duration<double>(static_cast<double>(remaining) / r.images_per_s);
    }
  }
  return r;
}

std::string format_duration(std::chrono::duration<double> d) {
  double seconds = d.count();
  if (!std::isfinite(seconds) || seconds < 0) {
    seconds = 0;
  }
  constexpr double max_seconds = 99.0 * 86400;  // "99d00h" at most; anything longer is a guess anyway
  const auto s = static_cast<std::uint64_t>(std::floor(seconds < max_seconds ? seconds : max_seconds));
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                  static_cast<unsigned long long>(s % 60));
  } else if (s < 86400) {
    std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                  static_cast<unsigned long long>(s % 3600 / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llud%02lluh", static_cast<unsigned long long>(s / 86400),
                  static_cast<unsigned long long>(s % 86400 / 3600));
  }
  return buf;
}

namespace {

std::string format_line(const progress_snapshot& now, const progress_snapshot& since, bool with_eta) {
  const progress_rates r = compute_rates(now, since);
  std::string line = format_duration(now.elapsed);
  line += "  ";
  if (now.files_total) {
    const std::uint64_t total = *now.files_total;
    const double percent =
        total == 0 ? 100.0 : 100.0 * static_cast<double>(now.files_done) / static_cast<double>(total);
    line += std::to_string(now.files_done) + "/" + std::to_string(total) + " files (" +
            format_fixed1(percent) + "%)";
  } else {
    line += std::to_string(now.files_done) + " files done, " + std::to_string(now.files_seen_so_far) +
            "+ found so far";
  }
  line += "  " + format_fixed1(r.mb_per_s) + " MB/s";
  line += "  " + format_fixed1(r.images_per_s) + " images/s";
  line += "  " + std::to_string(now.requests_in_flight) + " in flight";
  line += "  " + std::to_string(now.retries) + (now.retries == 1 ? " retry" : " retries");
  line += "  " + std::to_string(now.files_failed) + " failed";
  if (with_eta && now.files_total) {
    line += "  ETA ";
    line += r.eta ? format_duration(*r.eta) : std::string("--");
  }
  return line;
}

}  // namespace

std::string format_progress_line(const progress_snapshot& now, const progress_snapshot& since) {
  return format_line(now, since, true);
}

const progress_snapshot& rate_window::add(const progress_snapshot& now) {
  if (samples_.empty()) {
    samples_.emplace_back();  // the start of the run: early rates are averages since then
  }
  samples_.push_back(now);
  const auto horizon = now.elapsed - window_;
  while (samples_.size() > 2 && samples_[1].elapsed <= horizon) {
    samples_.pop_front();
  }
  return samples_.front();
}

progress_reporter::progress_reporter(std::function<progress_snapshot()> source,
                                     const progress_options& options)
    : source_(std::move(source)), options_(options), rates_(options.rate_window) {
  live_ = !options_.quiet && (options_.mode == progress_mode::always ||
                              (options_.mode == progress_mode::automatic && is_live_terminal(options_.fd)));
}

progress_reporter::~progress_reporter() {
  stop();
}

void progress_reporter::start() {
  std::lock_guard lifecycle(lifecycle_);
  if (options_.quiet || started_) {
    return;
  }
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void progress_reporter::stop(bool final_line) {
  std::lock_guard lifecycle(lifecycle_);
  if (!started_ || stopped_) {
    return;
  }
  stopped_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  if (final_line) {
    draw(source_(), progress_snapshot{}, true);
  } else if (live_) {
    // (A line drawn in place before is wiped. Built by appending: GCC 12 at -O3 takes "\r" +
    // std::string for an overlapping memcpy, -Wrestrict, and the Release build fails.)
    std::string wipe(1, '\r');
    wipe += clear_to_eol;
    write_all(wipe);
  }
}

void progress_reporter::run() {
  using clock = std::chrono::steady_clock;
  const clock::duration interval = live_ ? options_.redraw_interval : options_.stats_interval;
  auto next = clock::now() + interval;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) {
      break;
    }
    const auto now = clock::now();
    next += interval;
    if (next <= now) {
      next = now + interval;  // a slow source or a stopped terminal: skip, never burst
    }
    lock.unlock();
    const progress_snapshot snapshot = source_();
    const progress_snapshot& since = rates_.add(snapshot);
    draw(snapshot, since, false);
    lock.lock();
  }
}

void progress_reporter::draw(const progress_snapshot& now, const progress_snapshot& since, bool final_line) {
  // The final line has whole-run averages (since is the start) and no ETA: the run is over.
  std::string line = format_line(now, since, !final_line);
  if (live_) {
    if (const std::size_t columns = terminal_columns(options_.fd); columns > 1 && line.size() >= columns) {
      line.resize(columns - 1);  // a wrapped line could not be redrawn in place
    }
    write_all("\r" + line + std::string(clear_to_eol) + (final_line ? "\n" : ""));
  } else if (options_.line_sink) {
    options_.line_sink(line);
  } else {
    write_all(std::string(plain_prefix) + line + "\n");
  }
}

void progress_reporter::write_all(const std::string& text) const {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(options_.fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace ximup
