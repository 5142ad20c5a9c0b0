// Tests for log_format.hpp: JSON lines stay one valid JSON object per record whatever the message.
#include "ximup/log_format.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ximup/json_escape.hpp"
#include "ximup/response.hpp"

using namespace ximup;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct record {
  std::string time;
  std::string level;
  std::string message;  // bytes, after undoing the escapes
};

// Parses one JSON line with simdjson; the message through its raw token (simdjson 3.0.1 rejects
// the lone surrogates that invalid UTF-8 becomes).
std::optional<record> parse_record(const std::string& line) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string padded(line);
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  record r;
  std::string_view time;
  std::string_view level;
  if (doc["time"].get_string().get(time) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  if (doc["level"].get_string().get(level) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  simdjson::ondemand::value message;
  if (doc["message"].get(message) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::string_view token = message.raw_json_token();
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  const auto bytes = parse_json_string_token(token);
  if (!bytes) {
    return std::nullopt;
  }
  r.time = time;
  r.level = level;
  r.message = *bytes;
  return r;
}

// A logger writing into a string with the given format.
struct captured_logger {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  explicit captured_logger(log_format format) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    sink->set_formatter(make_log_formatter(format));
    logger = std::make_shared<spdlog::logger>("test", sink);
    logger->set_level(spdlog::level::trace);
  }
};

// Redirects fd 2 into a file for its lifetime.
struct stderr_capture {
  fs::path path;
  int saved = -1;
  explicit stderr_capture(fs::path p) : path(std::move(p)) {
    std::fflush(stderr);
    saved = ::dup(2);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~stderr_capture() { restore(); }
  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;
  void restore() {
    if (saved < 0) {
      return;
    }
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    saved = -1;
  }
};

class LogFormatFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ximup-log-test-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    previous_ = spdlog::default_logger();
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::shared_ptr<spdlog::logger> previous_;
};

const std::string nasty_message = "say \"hi\"\nsecond line\r\n\ttab \\ back\x01\x1f\x7f end {\"x\":1}";

}  // namespace

TEST(LogFormat, JsonRecordIsOneValidLineWithTheMessage) {
  captured_logger c(log_format::json);
  c.logger->info("uploaded {} files", 42);
  c.logger->warn(nasty_message);
  c.logger->error("caf\xC3\xA9 and \xFF\xFE bytes");
  const auto lines = lines_of(c.out.str());
  ASSERT_EQ(lines.size(), 3U) << c.out.str();
  for (const auto& line : lines) {
    EXPECT_TRUE(is_valid_json(line)) << line;
  }
  const auto r0 = parse_record(lines[0]);
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->level, "info");
  EXPECT_EQ(r0->message, "uploaded 42 files");
  const auto r1 = parse_record(lines[1]);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->level, "warning");
  EXPECT_EQ(r1->message, nasty_message);
  const auto r2 = parse_record(lines[2]);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->level, "error");
  EXPECT_EQ(r2->message, "caf\xC3\xA9 and \xFF\xFE bytes");  // surrogateescape round trip
}

TEST(LogFormat, JsonTimeIsUtcIsoWithMilliseconds) {
  captured_logger c(log_format::json);
  c.logger->info("x");
  const auto r = parse_record(lines_of(c.out.str()).at(0));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->time.size(), 24U) << r->time;  // 2026-11-29T16:00:00.123Z
  EXPECT_EQ(r->time[4], '-');
  EXPECT_EQ(r->time[10], 'T');
  EXPECT_EQ(r->time[19], '.');
  EXPECT_EQ(r->time.back(), 'Z');
  EXPECT_EQ(c.out.str().rfind(R"({"time":")", 0), 0U);
}

TEST(LogFormat, TextRecordHasTimeLevelAndMessage) {
  captured_logger c(log_format::text);
  c.logger->info("hello {}", "world");
  const std::string out = c.out.str();
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.front(), '[');
  EXPECT_NE(out.find("] [info] hello world\n"), std::string::npos) << out;
}

TEST(LogFormat, ParsesFormatsAndLevels) {
  EXPECT_EQ(parse_log_format("json"), log_format::json);
  EXPECT_EQ(parse_log_format("text"), log_format::text);
  EXPECT_FALSE(parse_log_format("xml"));
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("warning"), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("off"), spdlog::level::off);
  EXPECT_EQ(parse_log_level("trace"), spdlog::level::trace);
  EXPECT_FALSE(parse_log_level("loud"));
}

TEST_F(LogFormatFiles, JsonToStderrAndFileEveryLineParses) {
  const fs::path log_file = dir_ / "run.log";
  const fs::path err_file = dir_ / "stderr.txt";
  {
    stderr_capture capture(err_file);
    log_options o;
    o.format = log_format::json;
    o.level = spdlog::level::debug;
    o.file = log_file.string();
    ASSERT_EQ(configure_logging(o), "");
    spdlog::trace("not shown");
    spdlog::debug("debug {}", 1);
    spdlog::info(nasty_message);
    spdlog::warn("last");
    spdlog::default_logger()->flush();
    capture.restore();
  }
  for (const fs::path& path : {log_file, err_file}) {
    const std::string text = read_file(path);
    const auto lines = lines_of(text);
    ASSERT_EQ(lines.size(), 3U) << path << ":\n" << text;
    std::vector<std::string> messages;
    for (const auto& line : lines) {
      const auto r = parse_record(line);
      ASSERT_TRUE(r) << line;
      messages.push_back(r->message);
    }
    EXPECT_EQ(messages, (std::vector<std::string>{"debug 1", nasty_message, "last"}));
    EXPECT_EQ(text.find('\x1b'), std::string::npos);
  }
}

TEST_F(LogFormatFiles, TextFileIsAppendedWithoutColours) {
  const fs::path log_file = dir_ / "run.log";
  { std::ofstream(log_file) << "earlier\n"; }
  {
    stderr_capture capture(dir_ / "stderr.txt");
    log_options o;
    o.file = log_file.string();
    ASSERT_EQ(configure_logging(o), "");
    spdlog::debug("below the level");
    spdlog::error("broken {}", "pipe");
    capture.restore();
  }
  const auto lines = lines_of(read_file(log_file));
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0], "earlier");
  EXPECT_NE(lines[1].find("] [error] broken pipe"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[1].find('\x1b'), std::string::npos);
}

TEST_F(LogFormatFiles, UnopenableFileIsAnErrorNamingIt) {
  const std::string path = (dir_ / "missing-dir" / "run.log").string();
  const auto before = spdlog::default_logger();
  log_options o;
  o.format = log_format::json;
  o.file = path;
  const std::string error = configure_logging(o);
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  EXPECT_EQ(spdlog::default_logger(), before);  // unchanged
  EXPECT_FALSE(fs::exists(dir_ / "missing-dir"));
}
