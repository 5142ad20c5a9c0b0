// Tests for metrics.hpp and latency_histogram.hpp: the rendered text is parsed back with a strict
// parser of the Prometheus text format 0.0.4 and compared with the snapshot.
#include "ximup/metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/prometheus_text.hpp"
#include "ximup/latency_histogram.hpp"

using namespace ximup;
using namespace ximup::test;
using namespace std::chrono_literals;

namespace {

metrics_snapshot full_snapshot() {
  metrics_snapshot s;
  s.running = true;
  s.healthy = true;
  s.elapsed_seconds = 12.5;
  s.shard = shard_spec{2, 7};
  s.images_ok = 1200;
  s.images_failed = 3;
  s.image_bytes_ok = 123456789012ULL;
  s.image_bytes_failed = 4567;
  s.skipped_by_reason = {{"filtered", 10}, {"unchanged", 500}};
  s.requests_by_status = {{200, 121}, {429, 4}, {503, 2}, {0, 3}};
  s.retries_by_reason = {{"http_429", 4}, {"http_503", 2}, {"timeout", 1}, {"network", 2}};
  s.request_bytes = 999'999'999'999ULL;
  s.connections_opened = 9;
  s.throttles = 2;
  s.requests_in_flight = 5;
  s.concurrency_limit = 4;
  s.pacing_rate = 17.25;
  s.plans_queued = 6;
  s.requests_queued = 16;
  latency_histogram h;
  h.observe(3ms);    // le 0.005
  h.observe(5ms);    // le 0.005 (edges are inclusive)
  h.observe(120ms);  // le 0.25
  h.observe(2s);     // le 2.5
  h.observe(61s);    // +Inf
  s.request_duration = h.snapshot();
  return s;
}

}  // namespace

TEST(Metrics, RendersEveryFamilyAndParsesStrictly) {
  const std::string text = render_prometheus(full_snapshot());
  exposition e;
  ASSERT_NO_THROW(e = parse_exposition(text)) << text;

  const std::map<std::string, std::string> expected_types = {
      {"ximup_run_up", "gauge"},
      {"ximup_run_healthy", "gauge"},
      {"ximup_run_elapsed_seconds", "gauge"},
      {"ximup_shard_index", "gauge"},
      {"ximup_shard_count", "gauge"},
      {"ximup_images_total", "counter"},
      {"ximup_image_bytes_total", "counter"},
      {"ximup_skipped_total", "counter"},
      {"ximup_requests_total", "counter"},
      {"ximup_retries_total", "counter"},
      {"ximup_request_bytes_total", "counter"},
      {"ximup_connections_opened_total", "counter"},
      {"ximup_throttles_total", "counter"},
      {"ximup_requests_in_flight", "gauge"},
      {"ximup_concurrency_limit", "gauge"},
      {"ximup_pacing_requests_per_second", "gauge"},
      {"ximup_queue_depth", "gauge"},
      {"ximup_request_duration_seconds", "histogram"},
  };
  for (const auto& [name, type] : expected_types) {
    ASSERT_EQ(e.families.count(name), 1U) << name;
    EXPECT_EQ(e.families.at(name).type, type) << name;
  }
  EXPECT_EQ(e.families.size(), expected_types.size());
  for (const auto& [name, f] : e.families) {
    EXPECT_EQ(name.rfind("ximup_", 0), 0U) << name;
    const bool ends_total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    EXPECT_EQ(f.type == "counter", ends_total) << name << ": counters, and only counters, end in _total";
  }
  // The header says what the text is, for who reads it in a browser.
  EXPECT_EQ(text.rfind("# HELP ximup_run_up ", 0), 0U);
}

TEST(Metrics, SampleValuesMatchTheSnapshot) {
  const metrics_snapshot s = full_snapshot();
  const exposition e = parse_exposition(render_prometheus(s));
  EXPECT_EQ(e.value("ximup_run_up"), 1);
  EXPECT_EQ(e.value("ximup_run_healthy"), 1);
  EXPECT_EQ(e.value("ximup_run_elapsed_seconds"), 12.5);
  EXPECT_EQ(e.value("ximup_shard_index"), 2);
  EXPECT_EQ(e.value("ximup_shard_count"), 7);
  EXPECT_EQ(e.value("ximup_images_total", {{"outcome", "ok"}}), 1200);
  EXPECT_EQ(e.value("ximup_images_total", {{"outcome", "failed"}}), 3);
  EXPECT_EQ(e.value("ximup_image_bytes_total", {{"outcome", "ok"}}), 123456789012.0);
  EXPECT_EQ(e.value("ximup_image_bytes_total", {{"outcome", "failed"}}), 4567);
  EXPECT_EQ(e.value("ximup_skipped_total", {{"reason", "filtered"}}), 10);
  EXPECT_EQ(e.value("ximup_skipped_total", {{"reason", "unchanged"}}), 500);
  EXPECT_EQ(e.value("ximup_requests_total", {{"status", "200"}}), 121);
  EXPECT_EQ(e.value("ximup_requests_total", {{"status", "429"}}), 4);
  EXPECT_EQ(e.value("ximup_requests_total", {{"status", "503"}}), 2);
  EXPECT_EQ(e.value("ximup_requests_total", {{"status", "error"}}), 3);
  EXPECT_FALSE(e.has("ximup_requests_total", {{"status", "0"}}));
  EXPECT_EQ(e.value("ximup_retries_total", {{"reason", "http_429"}}), 4);
  EXPECT_EQ(e.value("ximup_retries_total", {{"reason", "network"}}), 2);
  EXPECT_EQ(e.value("ximup_request_bytes_total"), 999'999'999'999.0);
  EXPECT_EQ(e.value("ximup_connections_opened_total"), 9);
  EXPECT_EQ(e.value("ximup_throttles_total"), 2);
  EXPECT_EQ(e.value("ximup_requests_in_flight"), 5);
  EXPECT_EQ(e.value("ximup_concurrency_limit"), 4);
  EXPECT_EQ(e.value("ximup_pacing_requests_per_second"), 17.25);
  EXPECT_EQ(e.value("ximup_queue_depth", {{"queue", "plans"}}), 6);
  EXPECT_EQ(e.value("ximup_queue_depth", {{"queue", "requests"}}), 16);

  // Histogram: cumulative buckets at the standard bounds.
  const std::string b = "ximup_request_duration_seconds_bucket";
  EXPECT_EQ(e.value(b, {{"le", "0.005"}}), 2);
  EXPECT_EQ(e.value(b, {{"le", "0.01"}}), 2);
  EXPECT_EQ(e.value(b, {{"le", "0.1"}}), 2);
  EXPECT_EQ(e.value(b, {{"le", "0.25"}}), 3);
  EXPECT_EQ(e.value(b, {{"le", "1"}}), 3);
  EXPECT_EQ(e.value(b, {{"le", "2.5"}}), 4);
  EXPECT_EQ(e.value(b, {{"le", "60"}}), 4);
  EXPECT_EQ(e.value(b, {{"le", "+Inf"}}), 5);
  EXPECT_EQ(e.value("ximup_request_duration_seconds_count"), 5);
  EXPECT_NEAR(e.value("ximup_request_duration_seconds_sum"), 0.003 + 0.005 + 0.120 + 2 + 61, 1e-9);
  EXPECT_EQ(e.families.at("ximup_request_duration_seconds").samples.size(), latency_bucket_count + 2);
}

// Counters beyond 2^53 are written exactly (as integers, not through a double).
TEST(Metrics, LargeCountersAreExact) {
  metrics_snapshot s;
  s.image_bytes_ok = 18'446'744'073'709'551'615ULL;
  const std::string text = render_prometheus(s);
  EXPECT_NE(text.find("ximup_image_bytes_total{outcome=\"ok\"} 18446744073709551615\n"), std::string::npos);
}

TEST(Metrics, EmptySnapshotIsValidAndComplete) {
  metrics_snapshot s;
  s.running = false;
  s.healthy = false;
  const exposition e = parse_exposition(render_prometheus(s));
  EXPECT_EQ(e.value("ximup_run_up"), 0);
  EXPECT_EQ(e.value("ximup_run_healthy"), 0);
  EXPECT_EQ(e.families.count("ximup_shard_index"), 0U);  // not sharded
  // Fixed label sets are always complete; families keyed by open sets exist without samples.
  EXPECT_EQ(e.value("ximup_images_total", {{"outcome", "ok"}}), 0);
  EXPECT_EQ(e.value("ximup_images_total", {{"outcome", "failed"}}), 0);
  EXPECT_EQ(e.value("ximup_queue_depth", {{"queue", "requests"}}), 0);
  EXPECT_EQ(e.families.at("ximup_retries_total").type, "counter");
  EXPECT_TRUE(e.families.at("ximup_retries_total").samples.empty());
  EXPECT_EQ(e.value("ximup_request_duration_seconds_bucket", {{"le", "+Inf"}}), 0);
  EXPECT_EQ(e.value("ximup_request_duration_seconds_sum"), 0);
}

TEST(Metrics, LabelValuesAreEscapedAndRoundTrip) {
  EXPECT_EQ(escape_label_value("plain_reason"), "plain_reason");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(escape_label_value("two\nlines"), "two\\nlines");
  EXPECT_EQ(escape_label_value("tab\tok"), "tab\tok");
  EXPECT_EQ(escape_label_value("caf\xc3\xa9"), "caf\xc3\xa9");  // valid UTF-8 kept
  EXPECT_EQ(escape_label_value("caf\xe9"), "caf\xef\xbf\xbd");  // Latin-1 byte -> U+FFFD
  EXPECT_EQ(escape_label_value("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  EXPECT_EQ(escape_label_value("\xe6\x97"), "\xef\xbf\xbd\xef\xbf\xbd");  // truncated sequence

  metrics_snapshot s;
  const std::string nasty = "quote\" back\\slash new\nline } , = end\\";
  s.retries_by_reason[nasty] = 7;
  s.skipped_by_reason["caf\xe9"] = 1;
  const std::string text = render_prometheus(s);
  exposition e;
  ASSERT_NO_THROW(e = parse_exposition(text)) << text;
  EXPECT_EQ(e.value("ximup_retries_total", {{"reason", nasty}}), 7);
  EXPECT_EQ(e.value("ximup_skipped_total", {{"reason", "caf\xef\xbf\xbd"}}), 1);
}

TEST(Metrics, SampleValuesFormat) {
  EXPECT_EQ(format_sample_value(0), "0");
  EXPECT_EQ(format_sample_value(1), "1");
  EXPECT_EQ(format_sample_value(0.005), "0.005");
  EXPECT_EQ(format_sample_value(2.5), "2.5");
  EXPECT_EQ(format_sample_value(-3), "-3");
  EXPECT_EQ(format_sample_value(1e21), "1e+21");
  EXPECT_EQ(format_sample_value(INFINITY), "+Inf");
  EXPECT_EQ(format_sample_value(-INFINITY), "-Inf");
  EXPECT_EQ(format_sample_value(NAN), "NaN");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(format_sample_value(third)), third);  // shortest form that reads back the same
}

// The strict parser itself rejects what it should (so the tests above mean something).
TEST(Metrics, StrictParserRejectsBrokenText) {
  const std::string ok = "# HELP x_total h\n# TYPE x_total counter\nx_total{a=\"1\"} 1\n";
  EXPECT_NO_THROW(parse_exposition(ok));
  EXPECT_THROW(parse_exposition("x_total 1\n"), std::runtime_error);                // no TYPE
  EXPECT_THROW(parse_exposition(ok.substr(0, ok.size() - 1)), std::runtime_error);  // no final newline
  EXPECT_THROW(parse_exposition(ok + "x_total{a=\"1\"} 2\n"), std::runtime_error);  // duplicate
  EXPECT_THROW(parse_exposition("# HELP x h\n# TYPE x gauge\nx{a=\"\\t\"} 1\n"),
               std::runtime_error);  // escape
  EXPECT_THROW(parse_exposition("# HELP x h\n# TYPE x gauge\nx{a=1} 1\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("# HELP x h\n# TYPE x gauge\nx 1 2 3\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("# HELP x h\n# TYPE x gauge\nx one\n"), std::runtime_error);
  EXPECT_THROW(parse_exposition("# HELP x h\n# TYPE x gauge\n# HELP y h\n# TYPE y gauge\ny 1\nx 1\n"),
               std::runtime_error);  // interleaved
  const std::string h = "# HELP h h\n# TYPE h histogram\n";
  EXPECT_NO_THROW(
      parse_exposition(h + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"));
  EXPECT_THROW(parse_exposition(h + "h_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"),
               std::runtime_error);  // not cumulative
  EXPECT_THROW(parse_exposition(h + "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 3\n"),
               std::runtime_error);  // +Inf != _count
  EXPECT_THROW(
      parse_exposition(h + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
                           "h_count 2\n"),
      std::runtime_error);  // le not increasing
}

TEST(Metrics, HistogramBucketEdgesAreInclusiveAndExact) {
  EXPECT_EQ(latency_histogram::bucket_index(0ns), 0U);
  EXPECT_EQ(latency_histogram::bucket_index(5ms), 0U);
  EXPECT_EQ(latency_histogram::bucket_index(5ms + 1ns), 1U);
  EXPECT_EQ(latency_histogram::bucket_index(10ms), 1U);
  EXPECT_EQ(latency_histogram::bucket_index(1s), 7U);
  EXPECT_EQ(latency_histogram::bucket_index(60s), 12U);
  EXPECT_EQ(latency_histogram::bucket_index(60s + 1ns), 13U);
  EXPECT_EQ(latency_histogram::bucket_index(std::chrono::hours(24 * 365)), latency_bucket_count - 1);

  latency_histogram h;
  h.observe_seconds(0.005);  // exactly the first bound
  h.observe_seconds(-1);     // counts as 0
  h.observe_seconds(NAN);    // counts as 0
  h.observe_seconds(INFINITY);
  h.observe_seconds(1e300);
  h.observe(-5ms);  // counts as 0
  h.observe(std::chrono::microseconds(250'000));
  const auto s = h.snapshot();
  EXPECT_EQ(s.buckets[0], 4U);
  EXPECT_EQ(s.buckets[5], 1U);  // le 0.25
  EXPECT_EQ(s.buckets[latency_bucket_count - 1], 2U);
  EXPECT_EQ(s.count, 7U);
  EXPECT_GT(s.sum_seconds, 1e9);  // the huge values, clamped
}

// Many threads observe while another takes snapshots: nothing is lost, and every snapshot is a
// valid histogram (run under ThreadSanitizer too).
TEST(Metrics, HistogramIsThreadSafe) {
  latency_histogram h;
  constexpr int threads = 4;
  constexpr int per_thread = 50'000;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::uint64_t last = 0;
    while (!done.load()) {
      const auto s = h.snapshot();
      std::uint64_t total = 0;
      for (const auto b : s.buckets) total += b;
      EXPECT_EQ(total, s.count);
      EXPECT_GE(s.count, last);  // counts only grow
      last = s.count;
      metrics_snapshot m;
      m.request_duration = s;
      EXPECT_NO_THROW(parse_exposition(render_prometheus(m)));
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&h, t] {
      for (int i = 0; i < per_thread; ++i) h.observe(std::chrono::milliseconds((i + t) % 100));  // 0..99 ms
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(threads * per_thread));
  // Sum of (i + t) % 100 ms over i, per thread: 500 full cycles of 0..99 ms = 500 * 4.95 s.
  EXPECT_NEAR(s.sum_seconds, threads * 500 * 4.95, 1e-6);
  EXPECT_EQ(s.buckets[0], static_cast<std::uint64_t>(threads * 500 * 6));  // 0..5 ms
}
