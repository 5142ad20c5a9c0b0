// spdlog setup: text or JSON lines to stderr, optionally also to a file.
#include "ximup/log_format.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "ximup/json_escape.hpp"

namespace ximup {
namespace {

constexpr const char* text_pattern = "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v";

// One record as {"time":"...Z","level":"...","message":"..."} and a newline.
class json_line_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    line_.clear();
    line_ += R"({"time":")";
    append_utc_time(msg.time);
    line_ += R"(","level":")";
    const auto level = spdlog::level::to_string_view(msg.level);
    line_.append(level.data(), level.size());
    line_ += R"(","message":)";
    append_json_string(line_, std::string_view(msg.payload.data(), msg.payload.size()));
    line_ += "}\n";
    dest.append(line_.data(), line_.data() + line_.size());
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_line_formatter>();
  }

 private:
  // 2026-11-29T16:00:00.123 (UTC, milliseconds)
  void append_utc_time(spdlog::log_clock::time_point tp) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch());
    auto ms = since_epoch.count() % 1000;
    auto secs = since_epoch.count() / 1000;
    if (ms < 0) {  // before 1970: floor, not truncate
      ms += 1000;
      secs -= 1;
    }
    const auto t = static_cast<std::time_t>(secs);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[40];
    const int n =
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
    if (n > 0) {
      line_.append(buf, static_cast<std::size_t>(n));
    }
  }

  std::string line_;  // reused: the sink calls format() under its lock
};

}  // namespace

std::optional<log_format> parse_log_format(std::string_view text) {
  if (text == "text") {
    return log_format::text;
  }
  if (text == "json") {
    return log_format::json;
  }
  return std::nullopt;
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  using spdlog::level::level_enum;
  struct name_level {
    std::string_view name;
    level_enum level;
  };
  static constexpr name_level names[] = {
      {"trace", level_enum::trace}, {"debug", level_enum::debug},       {"info", level_enum::info},
      {"warn", level_enum::warn},   {"warning", level_enum::warn},      {"error", level_enum::err},
      {"err", level_enum::err},     {"critical", level_enum::critical}, {"off", level_enum::off},
  };
  for (const auto& n : names) {
    if (n.name == text) {
      return n.level;
    }
  }
  return std::nullopt;
}

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format) {
  if (format == log_format::json) {
    return std::make_unique<json_line_formatter>();
  }
  return std::make_unique<spdlog::pattern_formatter>(text_pattern, spdlog::pattern_time_type::local, "\n");
}

std::string configure_logging(const log_options& options) {
  std::vector<spdlog::sink_ptr> sinks;
  if (options.format == log_format::json) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());  // never colours
  } else {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>(spdlog::color_mode::automatic));
  }
  if (options.file) {
    const std::string& path = *options.file;
    // Open it once ourselves for a plain message (spdlog would also create missing directories).
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
      return "cannot open log file '" + path + "': " + std::strerror(errno);
    }
    ::close(fd);
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false));
    } catch (const spdlog::spdlog_ex& e) {
      return "cannot open log file '" + path + "': " + e.what();
    }
  }
  for (const auto& sink : sinks) {
    sink->set_formatter(make_log_formatter(options.format));
  }
  auto logger = std::make_shared<spdlog::logger>("", sinks.begin(), sinks.end());
  logger->set_level(options.level);
  logger->flush_on(
      spdlog::level::trace);  // a log file is complete up to a crash; stderr is unbuffered anyway
  spdlog::set_default_logger(std::move(logger));
  return "";
}

}  // namespace ximup
