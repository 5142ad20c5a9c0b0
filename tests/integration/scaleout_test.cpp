// Issue 8 through the real binaries: shards that are disjoint and cover a tree, and Prometheus
// metrics scraped from a running upload whose counters end equal to the summary.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "support/ledger.hpp"
#include "support/mock_fixture.hpp"
#include "support/process.hpp"
#include "support/prometheus_text.hpp"

namespace fs = std::filesystem;
using namespace ximup::test;

namespace {

const std::string token = "scaleout-token-41b2";

std::vector<std::string> env_for(const temp_dir& dir, std::vector<std::string> extra = {}) {
  extra.push_back("XIMILAR_API_TOKEN=" + token);
  extra.push_back("XDG_CONFIG_HOME=" + (dir / "xdg").string());
  return extra;
}

// GET http://127.0.0.1:port/path with a plain socket: "" when nothing answers.
// The port `--metrics-listen 127.0.0.1:0` bound, from the log it names it in (0 if it never does).
std::uint16_t metrics_port(const fs::path& log) {
  const std::regex bound(R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)");
  for (int i = 0; i < 300; ++i) {
    std::smatch m;
    const std::string err = read_text(log);
    if (std::regex_search(err, m, bound)) return static_cast<std::uint16_t>(std::stoi(m[1]));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

std::string http_get(std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[8192];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        response.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

std::string body_of(const std::string& response) {
  const auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

}  // namespace

TEST(ScaleOut, ShardsAreDisjointAndTogetherCoverTheTree) {
  temp_dir dir;
  generate_images(dir / "tree", {"--count", "120", "--nested", "--size-kib", "1", "--seed", "21"});
  mock_server mock(dir.path(), token);
  std::vector<std::set<std::string>> shards(3);
  for (int i = 0; i < 3; ++i) {
    const auto before = read_ledger(mock.ledger()).size();
    std::vector<std::string> args =
        mock.upload_args(dir / "tree", dir / ("r" + std::to_string(i) + ".jsonl"));
    args.insert(args.begin(), XIMUP_BIN);
    std::vector<std::string> env = env_for(dir);
    if (i < 2) {
      args.insert(args.end(), {"--shard", std::to_string(i) + "/3"});
    } else {  // a Kubernetes Indexed Job pod: the index from the environment
      args.insert(args.end(), {"--shard-count", "3"});
      env.push_back("JOB_COMPLETION_INDEX=2");
    }
    ASSERT_EQ(run(args, dir / "x.out", dir / "x.err", env), 0) << read_text(dir / "x.err");
    const auto ledger = read_ledger(mock.ledger());
    for (std::size_t k = before; k < ledger.size(); ++k)
      shards[static_cast<std::size_t>(i)].insert(*ledger[k].id);
    // Each shard keeps its own state file beside the results.
    EXPECT_TRUE(fs::exists(dir / ("ximup-state.shard-" + std::to_string(i) + "-of-3.sqlite")));
  }
  mock.stop();
  std::set<std::string> all;
  std::size_t total = 0;
  for (const auto& s : shards) {
    EXPECT_GT(s.size(), 20U);  // 120 files over 3 shards: none is nearly empty
    total += s.size();
    all.insert(s.begin(), s.end());
  }
  EXPECT_EQ(total, all.size());  // disjoint
  EXPECT_EQ(all.size(), 120U);   // together everything

  // A bad shard is a usage error.
  const int bad =
      run({XIMUP_BIN, "upload", (dir / "tree").string(), "--endpoint", "tagging", "--shard", "3/3"},
          dir / "b.out", dir / "b.err", env_for(dir));
  EXPECT_EQ(bad, 2);
  EXPECT_NE(read_text(dir / "b.err").find("--shard"), std::string::npos);
}

TEST(ScaleOut, MetricsScrapedDuringARunParseAndEndEqualToTheSummary) {
  temp_dir dir;
  generate_images(dir / "tree", {"--count", "60", "--size-kib", "2", "--seed", "22", "--non-images", "4"});
  mock_server mock(dir.path(), token, {"--latency-ms", "150"});
  std::vector<std::string> args = mock.upload_args(
      dir / "tree", dir / "r.jsonl",
      {"--no-state", "--batch-size", "2", "--connections", "2", "--metrics-listen", "127.0.0.1:0",
       "--metrics-linger", "20s", "--summary-json", (dir / "summary.json").string()});
  args.insert(args.begin(), XIMUP_BIN);
  process p(args, dir / "p.out", dir / "p.err", env_for(dir));
  // The log names the port it bound.
  const std::uint16_t port = metrics_port(dir / "p.err");
  ASSERT_NE(port, 0) << read_text(dir / "p.err");

  // During the run: healthy, and the text parses strictly.
  EXPECT_NE(http_get(port, "/healthz").find("200 OK"), std::string::npos);
  const auto during = parse_exposition(body_of(http_get(port, "/metrics")));
  EXPECT_EQ(during.value("ximup_run_up"), 1.0);
  EXPECT_TRUE(during.families.count("ximup_request_duration_seconds"));

  // After the run (the summary file appears), the lingering metrics equal the summary.
  for (int i = 0; i < 1500 && !fs::exists(dir / "summary.json"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(dir / "summary.json")) << read_text(dir / "p.err");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // lingering: nothing may move now
  const auto after = parse_exposition(body_of(http_get(port, "/metrics")));
  p.signal(SIGTERM);                               // ends the linger
  EXPECT_EQ(p.wait(std::chrono::seconds(30)), 1);  // the non-images failed
  mock.stop();

  simdjson::dom::parser parser;
  simdjson::dom::element s;
  ASSERT_EQ(parser.parse(read_text(dir / "summary.json")).get(s), simdjson::SUCCESS);
  EXPECT_EQ(after.value("ximup_run_up"), 0.0);
  EXPECT_EQ(after.value("ximup_images_total", {{"outcome", "ok"}}), double(uint64_t(s["files_ok"])));
  EXPECT_EQ(after.value("ximup_images_total", {{"outcome", "failed"}}), double(uint64_t(s["files_failed"])));
  EXPECT_EQ(after.value("ximup_image_bytes_total", {{"outcome", "ok"}}), double(uint64_t(s["bytes_ok"])));
  EXPECT_EQ(after.value("ximup_requests_total", {{"status", "200"}}),
            double(uint64_t(s["responses_by_status"]["200"])));
  EXPECT_EQ(after.value("ximup_request_duration_seconds_count"), double(uint64_t(s["requests"])));
  EXPECT_EQ(after.value("ximup_requests_in_flight"), 0.0);
  // The run's time stops with the run: the linger shows it, not the time since the start.
  EXPECT_NEAR(after.value("ximup_run_elapsed_seconds"), double(s["elapsed_seconds"]), 0.002);
}

// A SIGTERM (a pod eviction) drains the run: /healthz stays 200 and ximup_run_healthy 1 meanwhile, so
// a liveness probe or an alert on it does not take the shutdown working as meant for a failure.
TEST(ScaleOut, HealthStaysOkThroughAGracefulDrain) {
  temp_dir dir;
  generate_images(dir / "tree", {"--count", "40", "--size-kib", "1", "--seed", "23"});
  mock_server mock(dir.path(), token, {"--latency-ms", "1500"});
  std::vector<std::string> args = mock.upload_args(
      dir / "tree", dir / "r.jsonl",
      {"--no-state", "--batch-size", "1", "--connections", "2", "--metrics-listen", "127.0.0.1:0"});
  args.insert(args.begin(), XIMUP_BIN);
  process p(args, dir / "p.out", dir / "p.err", env_for(dir));
  const std::uint16_t port = metrics_port(dir / "p.err");
  ASSERT_NE(port, 0) << read_text(dir / "p.err");
  ASSERT_TRUE(mock.wait_for_counter("requests", 1)) << read_text(dir / "p.err");
  p.signal(SIGTERM);
  for (int i = 0; i < 100 && read_text(dir / "p.err").find("received SIGTERM") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(http_get(port, "/healthz").find("200 OK"), std::string::npos) << "unhealthy while draining";
  EXPECT_EQ(parse_exposition(body_of(http_get(port, "/metrics"))).value("ximup_run_healthy"), 1.0);
  EXPECT_EQ(p.wait(std::chrono::seconds(30)), 143) << read_text(dir / "p.err");
}
