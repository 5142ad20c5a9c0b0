// Tests for summary_json.hpp: every run_summary field lands in valid JSON with its value.
#include "ximup/summary_json.hpp"

#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "ximup/response.hpp"

using namespace ximup;
namespace fs = std::filesystem;

namespace {

run_summary full_summary() {
  run_summary s;
  s.files_ok = 1200;
  s.files_failed = 7;
  s.files_failed_retryable = 3;
  s.bytes_ok = 240'000'000;
  s.bytes_sent = 330'000'000;
  s.requests = 130;
  s.retries = 9;
  s.retries_by_reason = {{"timeout", 4}, {"server", 5}};
  s.failures_by_reason = {{"too_large", 2}, {"rejected", 5}};
  s.responses_by_status = {{200, 121}, {429, 6}, {503, 3}};
  s.stale_resends = 2;
  s.outcome_unknown = 1;
  s.connections_opened = 11;
  s.scan_skipped = 4;
  s.links_not_followed = 41;
  s.not_regular = 42;
  s.skipped_unchanged = 500;
  s.skipped_failed = 8;
  s.skipped_other = 12;
  s.skipped_too_new = 13;
  s.skipped_duplicate = 16;
  s.resumed_pending = 14;
  s.resumed_retryable = 15;
  s.unknown_at_stop = 5;
  s.peak_inflight_bytes = 123'456'789;
  s.flow.concurrency_limit = 6;
  s.flow.rate = 42.5;
  s.flow.throttles = 6;
  s.budget_waits = 17;
  s.elapsed_seconds = 60.0;
  s.stopped = run_stop::interrupted;
  s.stop_message = "interrupted by \"SIGINT\"\nrerun to finish";
  s.stop_signal = 2;
  return s;
}

std::uint64_t u64(simdjson::dom::element e, const char* key) {
  std::uint64_t v = 0;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << key;
  return v;
}

double f64(simdjson::dom::element e, const char* key) {
  double v = -1;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << key;
  return v;
}

std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  EXPECT_EQ(e[key].get(v), simdjson::SUCCESS) << key;
  return std::string(v);
}

}  // namespace

TEST(SummaryJson, EveryFieldParsesBackToItsValue) {
  const run_summary s = full_summary();
  const std::string json = summary_to_json(s);
  EXPECT_TRUE(is_valid_json(json)) << json;
  EXPECT_EQ(json.find('\n'), std::string::npos);

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(str(doc, "ximup_version"), XIMUP_VERSION);
  EXPECT_EQ(u64(doc, "files_ok"), s.files_ok);
  EXPECT_EQ(u64(doc, "files_failed"), s.files_failed);
  EXPECT_EQ(u64(doc, "files_failed_retryable"), s.files_failed_retryable);
  EXPECT_EQ(u64(doc, "scan_skipped"), s.scan_skipped);
  EXPECT_EQ(u64(doc, "links_not_followed"), s.links_not_followed);
  EXPECT_EQ(u64(doc, "not_regular"), s.not_regular);
  EXPECT_EQ(u64(doc, "skipped_unchanged"), s.skipped_unchanged);
  EXPECT_EQ(u64(doc, "skipped_failed"), s.skipped_failed);
  EXPECT_EQ(u64(doc, "skipped_other"), s.skipped_other);
  EXPECT_EQ(u64(doc, "skipped_too_new"), s.skipped_too_new);
  EXPECT_EQ(u64(doc, "skipped_duplicate"), s.skipped_duplicate);
  EXPECT_EQ(u64(doc, "resumed_pending"), s.resumed_pending);
  EXPECT_EQ(u64(doc, "resumed_retryable"), s.resumed_retryable);
  EXPECT_EQ(u64(doc, "unknown_at_stop"), s.unknown_at_stop);
  EXPECT_EQ(u64(doc["failures_by_reason"], "too_large"), 2U);
  EXPECT_EQ(u64(doc["failures_by_reason"], "rejected"), 5U);
  EXPECT_EQ(u64(doc, "bytes_ok"), s.bytes_ok);
  EXPECT_EQ(u64(doc, "bytes_sent"), s.bytes_sent);
  EXPECT_DOUBLE_EQ(f64(doc, "throughput_mb_per_s"), 4.0);       // 240 MB in 60 s
  EXPECT_DOUBLE_EQ(f64(doc, "throughput_images_per_s"), 20.0);  // 1200 in 60 s
  EXPECT_EQ(u64(doc, "requests"), s.requests);
  EXPECT_EQ(u64(doc, "retries"), s.retries);
  EXPECT_EQ(u64(doc["retries_by_reason"], "timeout"), 4U);
  EXPECT_EQ(u64(doc["retries_by_reason"], "server"), 5U);
  EXPECT_EQ(u64(doc["responses_by_status"], "200"), 121U);
  EXPECT_EQ(u64(doc["responses_by_status"], "429"), 6U);
  EXPECT_EQ(u64(doc["responses_by_status"], "503"), 3U);
  EXPECT_EQ(u64(doc, "stale_resends"), s.stale_resends);
  EXPECT_EQ(u64(doc, "outcome_unknown"), s.outcome_unknown);
  EXPECT_EQ(u64(doc, "connections_opened"), s.connections_opened);
  EXPECT_EQ(u64(doc, "peak_inflight_bytes"), s.peak_inflight_bytes);
  EXPECT_EQ(u64(doc, "budget_waits"), s.budget_waits);
  EXPECT_EQ(u64(doc["flow"], "concurrency_limit"), s.flow.concurrency_limit);
  EXPECT_DOUBLE_EQ(f64(doc["flow"], "rate"), 42.5);
  EXPECT_EQ(u64(doc["flow"], "throttles"), s.flow.throttles);
  EXPECT_DOUBLE_EQ(f64(doc, "elapsed_seconds"), 60.0);
  EXPECT_EQ(str(doc, "stopped"), "interrupted");
  EXPECT_EQ(str(doc, "stop_message"), s.stop_message);
  int64_t signal = 0;
  ASSERT_EQ(doc["stop_signal"].get(signal), simdjson::SUCCESS);
  EXPECT_EQ(signal, 2);
}

// A tripwire: a field added to run_summary changes its size. Add the field to summary_to_json,
// full_summary() and EveryFieldParsesBackToItsValue, then update the number here.
TEST(SummaryJson, CoversEveryRunSummaryField) {
#if defined(__GLIBCXX__) && defined(__LP64__)
  EXPECT_EQ(sizeof(run_summary), 528U) << "run_summary changed: update summary_json.cpp and this test";
#else
  GTEST_SKIP() << "sizes recorded for libstdc++ on LP64";
#endif
}

TEST(SummaryJson, EmptySummaryHasEmptyMapsAndZeroThroughput) {
  const std::string json = summary_to_json(run_summary{});
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  simdjson::dom::object reasons;
  ASSERT_EQ(doc["failures_by_reason"].get(reasons), simdjson::SUCCESS);
  EXPECT_EQ(reasons.size(), 0U);
  EXPECT_EQ(f64(doc, "throughput_mb_per_s"), 0.0);
  EXPECT_EQ(f64(doc, "throughput_images_per_s"), 0.0);
  EXPECT_EQ(str(doc, "stopped"), "none");
  EXPECT_EQ(str(doc, "stop_message"), "");
}

TEST(SummaryJson, MeasurementsAreRoundedAndNeverNan) {
  run_summary s;
  s.files_ok = 1;
  s.elapsed_seconds = 3.0;
  s.flow.rate = std::numeric_limits<double>::quiet_NaN();
  const std::string json = summary_to_json(s);
  EXPECT_TRUE(is_valid_json(json)) << json;
  EXPECT_NE(json.find(R"("throughput_images_per_s":0.333,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("rate":0,)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("elapsed_seconds":3,)"), std::string::npos) << json;
}

TEST(SummaryJson, NonUtf8MessageStaysValidJson) {
  run_summary s;
  s.stopped = run_stop::io_error;
  s.stop_message = "cannot write '/data/\xFF.jsonl'";
  const std::string json = summary_to_json(s);
  EXPECT_TRUE(is_valid_json(json)) << json;
  EXPECT_NE(json.find(R"(\udcff)"), std::string::npos);
}

TEST(SummaryJson, StopNamesCoverEveryReason) {
  EXPECT_EQ(run_stop_name(run_stop::none), "none");
  EXPECT_EQ(run_stop_name(run_stop::auth), "auth");
  EXPECT_EQ(run_stop_name(run_stop::unreachable), "unreachable");
  EXPECT_EQ(run_stop_name(run_stop::tls_untrusted), "tls_untrusted");
  EXPECT_EQ(run_stop_name(run_stop::io_error), "io_error");
  EXPECT_EQ(run_stop_name(run_stop::interrupted), "interrupted");
  EXPECT_EQ(run_stop_name(run_stop::locked), "locked");
  EXPECT_EQ(run_stop_name(run_stop::state_error), "state_error");
}

class SummaryJsonFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ximup-summary-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(SummaryJsonFiles, WritesAtomicallyAndReplaces) {
  const fs::path path = dir_ / "summary.json";
  std::ofstream(path) << "old";
  const run_summary s = full_summary();
  ASSERT_EQ(write_summary_json(path.string(), s), "");
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), summary_to_json(s) + "\n");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) {
    ++entries;
  }
  EXPECT_EQ(entries, 1U);  // no temporary left behind
}

TEST_F(SummaryJsonFiles, UnwritablePlaceIsAnErrorNamingTheFile) {
  const std::string path = (dir_ / "no-such-dir" / "summary.json").string();
  const std::string error = write_summary_json(path, run_summary{});
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
}

TEST_F(SummaryJsonFiles, RenameFailureRemovesTheTemporary) {
  const fs::path path = dir_ / "a-directory";
  fs::create_directories(path / "child");  // rename over a non-empty directory fails
  const std::string error = write_summary_json(path.string(), run_summary{});
  EXPECT_NE(error.find(path.string()), std::string::npos) << error;
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) {
    ++entries;
  }
  EXPECT_EQ(entries, 1U);
}
