// Tests for metrics_server.hpp over real TCP on 127.0.0.1: a small Beast client whose every
// operation has a deadline, so a misbehaving server fails the test instead of hanging it.
#include "ximup/metrics_server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ximup/metrics.hpp"

using namespace ximup;
using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct reply {
  error_code ec;
  unsigned status = 0;
  std::string content_type;
  std::string allow;
  std::string body;
  std::string content_length;
  bool keep_alive = false;
};

// One connection; every operation runs the client's own io_context until it completes or its
// deadline passes (tcp_stream closes the socket then, and the operation fails with timeout).
class test_client {
 public:
  explicit test_client(std::uint16_t port) : stream_(ioc_) {
    error_code ec;
    stream_.expires_after(5s);
    stream_.async_connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port),
                          [&](error_code e) { ec = e; });
    run();
    if (ec) throw std::runtime_error("connect: " + ec.message());
  }

  reply request(http::verb verb, const std::string& target, bool keep_alive = true, std::string body = {}) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(keep_alive);
    if (!body.empty()) {
      req.body() = std::move(body);
      req.prepare_payload();
    }
    reply out;
    if (out.ec = send_raw_message(req); out.ec) return out;
    http::response_parser<http::string_body> parser;
    parser.skip(verb == http::verb::head);
    stream_.expires_after(5s);
    http::async_read(stream_, buffer_, parser, [&](error_code e, std::size_t) { out.ec = e; });
    run();
    if (out.ec) return out;
    const auto& res = parser.get();
    out.status = res.result_int();
    out.content_type = std::string(res[http::field::content_type]);
    out.allow = std::string(res[http::field::allow]);
    out.content_length = std::string(res[http::field::content_length]);
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    return out;
  }

  error_code send_raw(const std::string& bytes) {
    error_code ec;
    stream_.expires_after(5s);
    asio::async_write(stream_, asio::buffer(bytes), [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  // Whether the server closes the connection within `limit` (EOF or reset, no data).
  bool closed_within(std::chrono::milliseconds limit) {
    error_code ec;
    std::size_t n = 0;
    stream_.expires_after(limit);
    char byte = 0;
    stream_.async_read_some(asio::buffer(&byte, 1), [&](error_code e, std::size_t k) {
      ec = e;
      n = k;
    });
    run();
    return n == 0 && (ec == asio::error::eof || ec == asio::error::connection_reset);
  }

 private:
  template <class Message>
  error_code send_raw_message(Message& msg) {
    error_code ec;
    stream_.expires_after(5s);
    http::async_write(stream_, msg, [&](error_code e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  void run() {
    ioc_.restart();
    ioc_.run();
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

reply get(std::uint16_t port, const std::string& target) {
  test_client c(port);
  return c.request(http::verb::get, target, false);
}

struct fixture {
  std::atomic<bool> healthy{true};
  std::atomic<int> renders{0};
  std::atomic<std::thread::id> render_thread{};
  std::unique_ptr<metrics_server> server;

  explicit fixture(metrics_server_options options = {}) {
    auto started = metrics_server::start(
        "127.0.0.1:0",
        [this] {
          render_thread = std::this_thread::get_id();
          const int n = ++renders;
          return "# HELP test_renders_total r\n# TYPE test_renders_total counter\ntest_renders_total " +
                 std::to_string(n) + "\n";
        },
        [this] { return healthy.load(); }, options);
    if (!started.server) throw std::runtime_error("start: " + started.error);
    EXPECT_TRUE(started.error.empty());
    server = std::move(started.server);
  }
  [[nodiscard]] std::uint16_t port() const { return server->port(); }
};

}  // namespace

TEST(MetricsServer, ServesMetricsOnAPickedPort) {
  fixture f;
  ASSERT_NE(f.port(), 0);
  EXPECT_EQ(f.server->local_address(), "127.0.0.1:" + std::to_string(f.port()));

  test_client c(f.port());
  const reply r = c.request(http::verb::get, "/metrics");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0U) << r.content_type;
  EXPECT_EQ(r.content_type, metrics_content_type);
  EXPECT_EQ(r.body, "# HELP test_renders_total r\n# TYPE test_renders_total counter\ntest_renders_total 1\n");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_NE(f.render_thread.load(), std::this_thread::get_id());  // rendered on the server thread

  // Same keep-alive connection: a fresh render each time; a query string is ignored.
  const reply again = c.request(http::verb::get, "/metrics?name[]=x");
  ASSERT_FALSE(again.ec) << again.ec.message();
  EXPECT_EQ(again.status, 200U);
  EXPECT_NE(again.body.find("test_renders_total 2\n"), std::string::npos);

  // HEAD: the headers GET would send, no body.
  const reply head = c.request(http::verb::head, "/metrics");
  ASSERT_FALSE(head.ec) << head.ec.message();
  EXPECT_EQ(head.status, 200U);
  EXPECT_TRUE(head.body.empty());
  EXPECT_EQ(head.content_length, std::to_string(again.body.size()));

  // Connection: close is honoured.
  const reply last = c.request(http::verb::get, "/healthz", false);
  ASSERT_FALSE(last.ec) << last.ec.message();
  EXPECT_FALSE(last.keep_alive);
  EXPECT_TRUE(c.closed_within(2s));
}

TEST(MetricsServer, HealthFlipsBetween200And503) {
  fixture f;
  reply r = get(f.port(), "/healthz");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 200U);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");

  f.healthy = false;
  r = get(f.port(), "/healthz");
  EXPECT_EQ(r.status, 503U);
  EXPECT_EQ(r.body, "unhealthy\n");
  // /metrics keeps answering while unhealthy: it is how one finds out why.
  EXPECT_EQ(get(f.port(), "/metrics").status, 200U);

  f.healthy = true;
  EXPECT_EQ(get(f.port(), "/healthz").status, 200U);
}

TEST(MetricsServer, CallbacksThatThrowGive500And503) {
  auto started = metrics_server::start(
      "127.0.0.1:0", []() -> std::string { throw std::runtime_error("state is gone"); },
      []() -> bool { throw std::runtime_error("cannot tell"); });
  ASSERT_TRUE(started.server) << started.error;
  const auto port = started.server->port();
  const reply m = get(port, "/metrics");
  EXPECT_EQ(m.status, 500U);
  EXPECT_NE(m.body.find("state is gone"), std::string::npos);
  EXPECT_EQ(get(port, "/healthz").status, 503U);
}

TEST(MetricsServer, UnknownPathsAre404OtherMethods405) {
  fixture f;
  test_client c(f.port());
  reply r = c.request(http::verb::get, "/");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_EQ(r.status, 404U);
  r = c.request(http::verb::get, "/metricsx");
  EXPECT_EQ(r.status, 404U);
  r = c.request(http::verb::post, "/metrics", true, "x=1");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(r.allow, "GET, HEAD");
  r = c.request(http::verb::delete_, "/healthz");
  EXPECT_EQ(r.status, 405U);
  r = c.request(http::verb::put, "/nope", true, "{}");
  EXPECT_EQ(r.status, 405U);
  EXPECT_EQ(f.renders.load(), 0);              // none of these rendered
  r = c.request(http::verb::get, "/metrics");  // still usable after the errors
  EXPECT_EQ(r.status, 200U);
}

TEST(MetricsServer, BindFailuresAreClearErrors) {
  fixture f;
  const std::string taken = "127.0.0.1:" + std::to_string(f.port());
  auto second = metrics_server::start(
      taken, [] { return std::string(); }, [] { return true; });
  EXPECT_FALSE(second.server);
  EXPECT_NE(second.error.find("cannot listen on '" + taken + "'"), std::string::npos) << second.error;
  EXPECT_NE(second.error.find("in use"), std::string::npos) << second.error;

  // An address this machine does not have (TEST-NET-1).
  auto foreign = metrics_server::start(
      "192.0.2.1:0", [] { return std::string(); }, [] { return true; });
  EXPECT_FALSE(foreign.server);
  EXPECT_NE(foreign.error.find("cannot listen on '192.0.2.1:0'"), std::string::npos) << foreign.error;

  for (const char* bad : {"nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:80x",
                          "::1:9090", "[::1]9090", "[]:9090"}) {
    auto r = metrics_server::start(
        bad, [] { return std::string(); }, [] { return true; });
    EXPECT_FALSE(r.server) << bad;
    EXPECT_FALSE(r.error.empty()) << bad;
    EXPECT_NE(r.error.find(bad), std::string::npos) << bad << ": " << r.error;  // the address is quoted
  }
}

TEST(MetricsServer, ParsesListenAddresses) {
  std::string error;
  auto a = parse_listen_address("127.0.0.1:9090", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9090);
  a = parse_listen_address("[::1]:0", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 0);
  a = parse_listen_address(":65535", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "");
  EXPECT_EQ(a->port, 65535);
  a = parse_listen_address("localhost:9100", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "localhost");
  EXPECT_FALSE(parse_listen_address("::1:9090", error));
  EXPECT_NE(error.find("brackets"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("host:65536", error));
  EXPECT_NE(error.find("0 to 65535"), std::string::npos);
  EXPECT_FALSE(parse_listen_address("host", error));
  EXPECT_NE(error.find("no port"), std::string::npos);
}

TEST(MetricsServer, StopWithAnIdleKeepAliveClientIsPrompt) {
  fixture f;  // idle timeout 60 s: only stop() can end the connection below quickly
  test_client c(f.port());
  ASSERT_EQ(c.request(http::verb::get, "/metrics").status, 200U);
  test_client silent(f.port());  // connected, never sent a byte
  const auto before = std::chrono::steady_clock::now();
  f.server->stop();
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_LT(took, 10s);  // far under the 60 s idle timeout, with room for a loaded sanitizer run
  EXPECT_TRUE(c.closed_within(2s));
  EXPECT_TRUE(silent.closed_within(2s));
  f.server->stop();  // idempotent
  f.server.reset();  // and the destructor after stop() is fine
}

TEST(MetricsServer, StalledAndIdleClientsAreDisconnected) {
  metrics_server_options options;
  options.io_timeout = 200ms;
  options.idle_timeout = 300ms;
  fixture f(options);

  test_client stalled(f.port());  // half a request, then nothing
  ASSERT_FALSE(stalled.send_raw("GET /metrics HTTP/1.1\r\nHost: x\r\n"));
  test_client idle(f.port());  // one request, then idle on the keep-alive connection
  ASSERT_EQ(idle.request(http::verb::get, "/healthz").status, 200U);

  const auto before = std::chrono::steady_clock::now();
  EXPECT_TRUE(stalled.closed_within(3s));
  EXPECT_TRUE(idle.closed_within(3s));
  test_client trickle(f.port());  // a byte at a time: each arrives within idle, but the whole is too slow
  const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  bool cut = false;
  for (const char ch : request) {
    if (trickle.send_raw(std::string(1, ch))) {
      cut = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(cut || trickle.closed_within(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - before, 6s);
  EXPECT_EQ(get(f.port(), "/healthz").status, 200U);  // the server itself is fine
}

TEST(MetricsServer, OversizedRequestsAreRefused) {
  fixture f;
  test_client c(f.port());
  const reply r = c.request(http::verb::get, "/metrics", true, std::string(64 * 1024, 'x'));
  EXPECT_TRUE(r.ec) << "a 64 KiB body must not be read";
  test_client h(f.port());
  ASSERT_FALSE(
      h.send_raw("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'y') + "\r\n\r\n"));
  EXPECT_TRUE(h.closed_within(3s));
  EXPECT_EQ(get(f.port(), "/healthz").status, 200U);
}

// At the limit with every connection mid-request, a new one is refused, not queued.
TEST(MetricsServer, ExtraConnectionsAreRefusedNotQueued) {
  metrics_server_options options;
  options.max_connections = 2;
  fixture f(options);
  auto a = std::make_unique<test_client>(f.port());
  test_client b(f.port());
  ASSERT_FALSE(a->send_raw("GET /metrics HTTP/1.1\r\n"));  // half a request each: busy, not idle
  ASSERT_FALSE(b.send_raw("GET /metrics HTTP/1.1\r\n"));
  std::this_thread::sleep_for(200ms);  // (the server reads those bytes)
  test_client third(f.port());
  EXPECT_TRUE(third.closed_within(3s));
  a.reset();  // frees a slot once the server sees the close
  bool served = false;
  for (int i = 0; i < 100 && !served; ++i) {
    served = get(f.port(), "/healthz").status == 200U;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(served);
}

// Connections that hold a slot without asking anything (a port scanner, a stuck sidecar: sixteen of
// them locked Prometheus and the health probe out for the 60 s idle timeout) make room: at the limit
// a new connection closes the one that waited longest, and a new connection that sends nothing is
// closed after io_timeout, not the idle timeout.
TEST(MetricsServer, IdleConnectionsMakeRoomForANewScraper) {
  metrics_server_options options;
  options.max_connections = 2;
  fixture f(options);
  test_client silent(f.port());  // connected, never asks
  test_client kept(f.port());    // one scrape, then idle on keep-alive
  ASSERT_EQ(kept.request(http::verb::get, "/healthz").status, 200U);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(get(f.port(), "/healthz").status, 200U) << "a new scraper was locked out by idle connections";
  EXPECT_TRUE(silent.closed_within(3s)) << "the oldest waiting connection makes room";
  EXPECT_EQ(get(f.port(), "/metrics").status, 200U);

  metrics_server_options quick;
  quick.io_timeout = 200ms;  // idle_timeout stays 60 s
  fixture g(quick);
  test_client mute(g.port());
  EXPECT_TRUE(mute.closed_within(3s))
      << "a connection that never sends a request waited for the idle timeout";
}

// Several scrapers at once while the values change (run under ThreadSanitizer too).
TEST(MetricsServer, ConcurrentScrapes) {
  fixture f;
  std::vector<std::thread> scrapers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    scrapers.emplace_back([&] {
      test_client c(f.port());
      for (int i = 0; i < 25; ++i) {
        if (c.request(http::verb::get, i % 2 == 0 ? "/metrics" : "/healthz").status == 200U) ++ok;
      }
    });
  }
  std::thread flipper([&] {
    for (int i = 0; i < 50; ++i) f.healthy = true;
  });
  for (auto& s : scrapers) s.join();
  flipper.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(f.renders.load(), 4 * 13);
}
