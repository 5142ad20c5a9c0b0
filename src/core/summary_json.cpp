// The run summary as JSON, written atomically.
#include "ximup/summary_json.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "ximup/json_escape.hpp"

namespace ximup {
namespace {

class json_object_writer {
 public:
  explicit json_object_writer(std::string& out) : out_(out) { out_.push_back('{'); }
  ~json_object_writer() { out_.push_back('}'); }
  json_object_writer(const json_object_writer&) = delete;
  json_object_writer& operator=(const json_object_writer&) = delete;

  void key(std::string_view name) {
    if (!first_) {
      out_.push_back(',');
    }
    first_ = false;
    append_json_string(out_, name);
    out_.push_back(':');
  }
  void number(std::string_view name, std::uint64_t value) {
    key(name);
    out_ += std::to_string(value);
  }
  void number(std::string_view name, int value) {
    key(name);
    out_ += std::to_string(value);
  }
  // Rounded to 3 decimals (they are measurements); shortest form; 0 when not finite.
  void number(std::string_view name, double value) {
    key(name);
    if (!std::isfinite(value)) {
      value = 0;
    }
    if (std::fabs(value) < 1e15) {
      value = std::round(value * 1000) / 1000;
    }
    char buf[64];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out_.append(buf, ec == std::errc{} ? end : buf);
    if (ec != std::errc{}) {
      out_.push_back('0');
    }
  }
  void boolean(std::string_view name, bool value) {
    key(name);
    out_ += value ? "true" : "false";
  }
  void string(std::string_view name, std::string_view value) {
    key(name);
    append_json_string(out_, value);
  }
  template <typename Map>
  void counts(std::string_view name, const Map& map) {
    key(name);
    json_object_writer inner(out_);
    for (const auto& [k, n] : map) {
      if constexpr (std::is_same_v<std::decay_t<decltype(k)>, int>) {
        inner.number(std::to_string(k), n);
      } else {
        inner.number(k, n);
      }
    }
  }
  [[nodiscard]] std::string& out() noexcept { return out_; }

 private:
  std::string& out_;
  bool first_ = true;
};

std::string errno_text(int err) {
  return std::strerror(err);
}

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      if (n == 0) {
        errno = EIO;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

std::string_view run_stop_name(run_stop stop) noexcept {
  switch (stop) {
    case run_stop::none:
      return "none";
    case run_stop::auth:
      return "auth";
    case run_stop::endpoint:
      return "endpoint";
    case run_stop::unreachable:
      return "unreachable";
    case run_stop::tls_untrusted:
      return "tls_untrusted";
    case run_stop::io_error:
      return "io_error";
    case run_stop::interrupted:
      return "interrupted";
    case run_stop::locked:
      return "locked";
    case run_stop::state_error:
      return "state_error";
    case run_stop::input_error:
      return "input_error";
  }
  return "unknown";
}

std::string summary_to_json(const run_summary& s) {
  std::string out;
  out.reserve(1024);
  {
    json_object_writer w(out);
    const double secs = s.elapsed_seconds;
    const bool timed = std::isfinite(secs) && secs > 0;
    w.string("ximup_version", XIMUP_VERSION);
    w.number("files_ok", s.files_ok);
    w.number("files_failed", s.files_failed);
    w.number("files_failed_retryable", s.files_failed_retryable);
    w.number("scan_skipped", s.scan_skipped);
    w.number("links_not_followed", s.links_not_followed);
    w.number("not_regular", s.not_regular);
    w.number("scan_errors", s.scan_errors);
    w.number("shard_skipped", s.shard_skipped);
    w.number("images_resized", s.images_resized);
    w.number("bytes_before_resize", s.bytes_before_resize);
    w.number("bytes_after_resize", s.bytes_after_resize);
    w.number("resize_unchanged_notes", s.resize_unchanged_notes);
    w.number("skipped_unchanged", s.skipped_unchanged);
    w.number("skipped_failed", s.skipped_failed);
    w.number("skipped_other", s.skipped_other);
    w.number("skipped_too_new", s.skipped_too_new);
    w.number("skipped_duplicate", s.skipped_duplicate);
    w.number("resumed_pending", s.resumed_pending);
    w.number("resumed_retryable", s.resumed_retryable);
    w.number("unknown_at_stop", s.unknown_at_stop);
    w.boolean("dry_run", s.dry_run);
    w.number("planned_files", s.planned_files);
    w.number("planned_bytes", s.planned_bytes);
    w.number("planned_requests", s.planned_requests);
    w.string("limit_reached", s.limit_reached);
    w.counts("failures_by_reason", s.failures_by_reason);
    w.number("bytes_ok", s.bytes_ok);
    w.number("bytes_failed", s.bytes_failed);
    w.number("bytes_sent", s.bytes_sent);
    w.number("throughput_mb_per_s", timed ? static_cast<double>(s.bytes_ok) / 1e6 / secs : 0.0);
    w.number("throughput_images_per_s", timed ? static_cast<double>(s.files_ok) / secs : 0.0);
    w.number("requests", s.requests);
    w.number("retries", s.retries);
    w.counts("retries_by_reason", s.retries_by_reason);
    w.counts("responses_by_status", s.responses_by_status);
    w.number("stale_resends", s.stale_resends);
    w.number("outcome_unknown", s.outcome_unknown);
    w.number("connections_opened", s.connections_opened);
    w.number("peak_inflight_bytes", static_cast<std::uint64_t>(s.peak_inflight_bytes));
    w.number("budget_waits", s.budget_waits);
    w.key("flow");
    {
      json_object_writer flow(w.out());
      flow.number("concurrency_limit", static_cast<std::uint64_t>(s.flow.concurrency_limit));
      flow.number("rate", s.flow.rate);
      flow.number("throttles", s.flow.throttles);
    }
    w.number("elapsed_seconds", secs);
    w.string("stopped", run_stop_name(s.stopped));
    w.string("stop_message", s.stop_message);
    w.number("stop_signal", s.stop_signal);
  }
  return out;
}

std::string write_summary_json(const std::string& path, const run_summary& summary) {
  const std::string text = summary_to_json(summary) + "\n";
  if (path == "-") {
    if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
      return "cannot write the summary to standard output: " + errno_text(errno);
    }
    return "";
  }
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  const auto fail = [&](const char* what) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return std::string("cannot ") + what + " summary file '" + path + "': " + errno_text(err);
  };
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return "cannot create summary file '" + path + "': " + errno_text(errno);
  }
  if (!write_fully(fd, text)) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return fail("write");
  }
  if (::fsync(fd) != 0 && errno != EINVAL) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return fail("sync");
  }
  if (::close(fd) != 0) {
    return fail("write");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail("replace");
  }
  // Make the rename durable too; best effort (a directory may refuse fsync).
  if (const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return "";
}

}  // namespace ximup
