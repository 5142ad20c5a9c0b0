// ximup-mock over real sockets on loopback: an in-process server on port 0, driven by the
// verifying TLS test_client (or plain HTTP where TLS adds nothing to the point of a test).
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ximup/mock/json_text.hpp"
#include "ximup/mock/mock_server.hpp"
#include "ximup/mock/test_support.hpp"

namespace {

using namespace ximup::mock;
using namespace ximup::mock::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

const test_client::header_list auth = {{"Authorization", "Token secret"}};
constexpr std::string_view tags = "/tagging/generic/v2/tags";

mock_options base_options() {
  mock_options o;
  o.token = "secret";
  o.threads = 2;
  return o;
}

// Counters the server bumps after the client already saw the outcome (a failed handshake, an idle
// close) need a moment.
template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds limit = 3s) {
  const auto deadline = clock_type::now() + limit;
  while (!predicate()) {
    if (clock_type::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

std::string png_body() {
  return records_body({base64_record("\"img-1\"", make_png(800, 533))});
}

// SHA-256 computed here with OpenSSL, independently of the mock's own helper.
std::string openssl_sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::string temp_path(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string path = ::testing::TempDir() + "/" + info->name() + "-" + name;
  std::filesystem::remove(path);
  return path;
}

TEST(MockServer, ListensOnAnEphemeralPortWithAVerifiableCertificate) {
  mock_server server(base_options());
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.url(), "https://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_NE(server.certificate_pem().find("BEGIN CERTIFICATE"), std::string::npos);
  test_client client(server.port(), server.certificate_pem());
  EXPECT_EQ(client.post(tags, png_body(), auth).status, 200U);

  // A client that trusts another certificate fails the handshake.
  mock_server other(base_options());
  test_client wrong_ca(server.port(), other.certificate_pem());
  const auto r = wrong_ca.post(tags, png_body(), auth);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(eventually([&server] { return server.counters().tls_handshake_failures == 1; }));
}

TEST(MockServer, Answers401WithoutOrWithAWrongToken) {
  mock_server server(base_options());
  test_client client(server.port(), server.certificate_pem());
  const auto none = client.post(tags, png_body());
  EXPECT_EQ(none.status, 401U);
  EXPECT_EQ(none.body, R"({"detail":"Invalid token."})");
  const auto wrong = client.post(tags, png_body(), {{"Authorization", "Token nope"}});
  EXPECT_EQ(wrong.status, 401U);
  const auto jwt = client.post(tags, png_body(), {{"Authorization", "JWT secret"}});
  EXPECT_EQ(jwt.status, 200U);
  EXPECT_EQ(client.connects(), 1U) << "401 keeps the connection alive";
  EXPECT_EQ(server.counters().status(401), 2U);
}

TEST(MockServer, MixedRecordStatusesAndTheLedger) {
  mock_options o = base_options();
  o.ledger_file = temp_path("ledger.jsonl");
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  const std::string png = make_png(64, 48);
  const std::string text = "just some text";
  const auto r = client.post(
      tags, records_body({base64_record("\"a.png\"", png), base64_record("\"b.txt\"", text)}), auth);
  ASSERT_EQ(r.status, 200U) << r.error;
  EXPECT_NE(r.body.find(R"("_width":64,"_height":48)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("not a decodable image"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.at("content-type"), "application/json");

  const auto lines = read_lines(o.ledger_file);
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_NE(lines[0].find("\"sha256\":\"" + openssl_sha256_hex(png) + "\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("_id":"a.png")"), std::string::npos);
  EXPECT_NE(lines[0].find(R"("status":200)"), std::string::npos);
  EXPECT_NE(lines[0].find("\"bytes\":" + std::to_string(png.size())), std::string::npos);
  EXPECT_NE(lines[1].find("\"sha256\":\"" + openssl_sha256_hex(text) + "\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find(R"("status":400)"), std::string::npos);
  for (const auto& line : lines) {
    EXPECT_TRUE(is_valid_json_value(line)) << line;
  }

  const auto c = server.counters();
  EXPECT_EQ(c.records_ok, 1U);
  EXPECT_EQ(c.records_failed, 1U);
  EXPECT_EQ(c.ledger_lines, 2U);
  EXPECT_EQ(c.requests, 1U);
  EXPECT_GT(c.bytes_received, png.size());
}

TEST(MockServer, MoreThanMaxRecordsIs400) {
  mock_server server(base_options());
  test_client client(server.port(), server.certificate_pem());
  const std::string record = base64_record("1", make_gif(2, 2));
  EXPECT_EQ(client.post(tags, records_body(std::vector<std::string>(11, record)), auth).status, 400U);
  EXPECT_EQ(client.post(tags, records_body(std::vector<std::string>(10, record)), auth).status, 200U);
}

TEST(MockServer, BodyOverMaxBodyIs413) {
  mock_options o = base_options();
  o.max_body = 1000;
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  const auto r = client.post(tags, records_body({base64_record("1", std::string(3000, 'x'))}), auth);
  EXPECT_EQ(r.status, 413U) << r.error;
  EXPECT_FALSE(client.connected()) << "413 closes the connection";
  const auto small = client.post(tags, records_body({base64_record("1", make_png(1, 1))}), auth);
  EXPECT_EQ(small.status, 200U);
  EXPECT_EQ(server.counters().status(413), 1U);
}

TEST(MockServer, UnknownPathAndWrongMethod) {
  mock_server server(base_options());
  test_client client(server.port(), server.certificate_pem());
  EXPECT_EQ(client.post("/v2/nothing", "{}", auth).status, 404U);
  const auto get = client.request("GET", "/recognition/v2/classify/", "", auth);
  EXPECT_EQ(get.status, 405U);
  const auto stats = client.request("GET", "/stats", "", {});
  ASSERT_EQ(stats.status, 200U);
  EXPECT_TRUE(is_valid_json_value(stats.body)) << stats.body;
  EXPECT_NE(stats.body.find("\"requests\":2"), std::string::npos) << stats.body;
  EXPECT_NE(stats.body.find("\"404\":1"), std::string::npos) << stats.body;
}

// The statuses a run of `n` sequential requests gets, each with two records.
std::vector<std::string> run_faulty_sequence(const fault_config& faults, int n) {
  mock_options o = base_options();
  o.mode = transport::plain;
  o.faults = faults;
  mock_server server(o);
  test_client client(server.port(), "", 5s);
  const std::string body =
      records_body({base64_record("\"a\"", make_png(1, 1)), base64_record("\"b\"", make_png(2, 2))});
  std::vector<std::string> outcome;
  for (int i = 0; i < n; ++i) {
    const auto r = client.post(tags, body, auth);
    std::string summary = r.ok() ? std::to_string(r.status) : "error";
    if (r.status == 200) {
      for (std::size_t pos = r.body.find("\"code\":"); pos != std::string::npos;
           pos = r.body.find("\"code\":", pos + 1)) {
        summary += "/" + r.body.substr(pos + 7, 3);
      }
    }
    outcome.push_back(summary);
  }
  return outcome;
}

TEST(MockServer, SeedMakesFaultChoicesReproducible) {
  fault_config faults;
  faults.seed = 1234;
  faults.fail_rate = 0.3;
  faults.record_fail_rate = 0.3;
  faults.reset_rate = 0.1;
  faults.garbage_rate = 0.1;
  const auto first = run_faulty_sequence(faults, 40);
  const auto second = run_faulty_sequence(faults, 40);
  EXPECT_EQ(first, second);
  faults.seed = 4321;
  const auto other = run_faulty_sequence(faults, 40);
  EXPECT_NE(first, other);
  // Every kind of outcome shows up in 40 requests with these rates.
  const auto has = [&first](std::string_view prefix) {
    return std::any_of(first.begin(), first.end(),
                       [&](const std::string& s) { return s.rfind(prefix, 0) == 0; });
  };
  EXPECT_TRUE(has("5"));
  EXPECT_TRUE(has("error"));
  EXPECT_TRUE(has("200/200/200/200"));
}

TEST(MockServer, RejectTokenAfterN) {
  mock_options o = base_options();
  o.reject_token_after = 3;
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(client.post(tags, png_body(), auth).status, i <= 3 ? 200U : 401U) << i;
  }
  EXPECT_EQ(server.counters().faults.reject_token, 2U);
}

TEST(MockServer, IdleCloseClosesIdleKeepAliveConnections) {
  mock_options o = base_options();
  o.idle_close_ms = 200;
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  ASSERT_EQ(client.post(tags, png_body(), auth).status, 200U);
  const auto start = clock_type::now();
  EXPECT_TRUE(client.wait_closed(5s));
  const auto waited = clock_type::now() - start;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 3s);
  EXPECT_TRUE(eventually([&server] { return server.counters().faults.idle_close == 1; }));
  // The next request opens a new connection.
  EXPECT_EQ(client.post(tags, png_body(), auth).status, 200U);
  EXPECT_EQ(client.connects(), 2U);
}

TEST(MockServer, KeepAliveConnectionsStayOpenWhileNotIdleTooLong) {
  mock_options o = base_options();
  o.idle_close_ms = 5000;
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  ASSERT_EQ(client.post(tags, png_body(), auth).status, 200U);
  EXPECT_FALSE(client.wait_closed(300ms));
  EXPECT_EQ(server.counters().faults.idle_close, 0U);
}

TEST(MockServer, ResetHangTrickleGarbageAndLatency) {
  {
    mock_options o = base_options();
    o.faults.reset_rate = 1.0;
    mock_server server(o);
    test_client client(server.port(), server.certificate_pem());
    for (int i = 0; i < 4; ++i) {
      EXPECT_FALSE(client.post(tags, png_body(), auth).ok());
    }
    EXPECT_EQ(server.counters().faults.reset, 4U);
  }
  {
    mock_options o = base_options();
    o.faults.hang_rate = 1.0;
    o.ledger_file = temp_path("hang-ledger.jsonl");
    mock_server server(o);
    test_client client(server.port(), server.certificate_pem(), 300ms);
    const auto r = client.post(tags, png_body(), auth);
    EXPECT_EQ(r.error, "timeout");
    EXPECT_EQ(server.counters().faults.hang, 1U);
    EXPECT_TRUE(read_lines(o.ledger_file).empty()) << "a faulted request is not accepted";
    test_client hanging(server.port(), server.certificate_pem(), 60s);
    std::thread waiter([&hanging] { EXPECT_FALSE(hanging.post(tags, png_body(), auth).ok()); });
    std::this_thread::sleep_for(200ms);
    const auto start = clock_type::now();
    server.stop();  // releases the hanging request
    waiter.join();
    EXPECT_LT(clock_type::now() - start, 5s);
  }
  {
    mock_options o = base_options();
    o.faults.trickle_rate = 1.0;
    mock_server server(o);
    test_client client(server.port(), server.certificate_pem(), 1500ms);
    const auto start = clock_type::now();
    EXPECT_EQ(client.post(tags, png_body(), auth).error, "timeout");
    EXPECT_GE(clock_type::now() - start, 1400ms);
    EXPECT_EQ(server.counters().faults.trickle, 1U);
  }
  {
    mock_options o = base_options();
    o.faults.garbage_rate = 1.0;
    mock_server server(o);
    test_client client(server.port(), server.certificate_pem());
    for (int i = 0; i < 4; ++i) {
      const auto r = client.post(tags, png_body(), auth);
      EXPECT_EQ(r.status, 200U);
      EXPECT_FALSE(is_valid_json_value(r.body)) << r.body;
    }
    EXPECT_EQ(server.counters().faults.garbage, 4U);
    EXPECT_EQ(server.counters().records_ok, 0U);
  }
  {
    mock_options o = base_options();
    o.faults.latency_ms = 300;
    mock_server server(o);
    test_client client(server.port(), server.certificate_pem());
    const auto start = clock_type::now();
    EXPECT_EQ(client.post(tags, png_body(), auth).status, 200U);
    EXPECT_GE(clock_type::now() - start, 290ms);
    EXPECT_EQ(server.counters().faults.latency, 1U);
  }
}

TEST(MockServer, FailRateAnswers5xx) {
  mock_options o = base_options();
  o.mode = transport::plain;
  o.faults.fail_rate = 1.0;
  mock_server server(o);
  test_client client(server.port(), "");
  for (int i = 0; i < 6; ++i) {
    const auto r = client.post(tags, png_body(), auth);
    EXPECT_TRUE(r.status == 500 || r.status == 502 || r.status == 503) << r.status;
  }
  EXPECT_EQ(server.counters().faults.fail, 6U);
  EXPECT_EQ(client.connects(), 1U);
}

TEST(MockServer, RateLimitAnswers429WithRetryAfter) {
  mock_options o = base_options();
  o.mode = transport::plain;
  o.rate_limit = 3;
  mock_server server(o);
  test_client client(server.port(), "");
  int ok = 0;
  int limited = 0;
  for (int i = 0; i < 8; ++i) {
    const auto r = client.post(tags, png_body(), auth);
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.headers.at("retry-after"), "1");
    } else {
      EXPECT_EQ(r.status, 200U);
      ++ok;
    }
  }
  EXPECT_GE(ok, 3);
  EXPECT_LE(ok, 5);  // 3 at once, plus a refill if the loop took long
  EXPECT_EQ(server.counters().faults.rate_limited, static_cast<std::uint64_t>(limited));
}

TEST(MockServer, DiscardModeCountsTheRecordsOfALargeBody) {
  mock_options o = base_options();
  o.mode = transport::plain;
  o.discard = true;
  mock_server server(o);
  test_client client(server.port(), "");
  std::vector<std::string> records;
  records.reserve(10);
  for (int i = 0; i < 10; ++i) {
    records.push_back(base64_record(std::to_string(i), std::string(500000, 'x')));
  }
  const auto r = client.post(tags, records_body(records), auth);
  ASSERT_EQ(r.status, 200U);
  EXPECT_EQ(server.counters().records_ok, 10U);
}

TEST(MockServer, DiscardOverTlsCountsRecordsOfBodiesOfAnySizeOnOneConnection) {
  mock_options o = base_options();
  o.discard = true;
  mock_server server(o);
  test_client client(server.port(), server.certificate_pem());
  std::uint64_t expected = 0;
  // Bodies smaller than the first read, around the 256 KiB piece size, and much larger.
  for (const std::size_t image_bytes :
       {std::size_t{10}, std::size_t{26000}, std::size_t{190000}, std::size_t{700000}}) {
    for (const std::size_t records : {std::size_t{1}, std::size_t{7}, std::size_t{10}}) {
      std::vector<std::string> body_records;
      for (std::size_t i = 0; i < records; ++i) {
        body_records.push_back(
            base64_record("\"r" + std::to_string(i) + "\"", std::string(image_bytes, 'x')));
      }
      const auto r = client.post(tags, records_body(body_records), auth);
      ASSERT_EQ(r.status, 200U) << image_bytes << " x " << records;
      EXPECT_EQ(r.body.find("\"_id\""), std::string::npos) << "discard answers do not echo";
      std::size_t answered = 0;
      for (std::size_t pos = r.body.find("\"_status\""); pos != std::string::npos;
           pos = r.body.find("\"_status\"", pos + 1)) {
        ++answered;
      }
      EXPECT_EQ(answered, records) << image_bytes << " x " << records;
      expected += records;
    }
  }
  EXPECT_EQ(client.connects(), 1U) << "every body was read exactly to its end: keep-alive survived";
  EXPECT_EQ(server.counters().records_ok, expected);
}

TEST(MockServer, PlainHttpAndManyRequestsOnOneConnection) {
  mock_options o = base_options();
  o.mode = transport::plain;
  mock_server server(o);
  EXPECT_EQ(server.url().rfind("http://", 0), 0U);
  test_client client(server.port(), "");
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(client.post(tags, png_body(), auth).status, 200U);
  }
  EXPECT_EQ(client.connects(), 1U);
  EXPECT_EQ(server.counters().connections, 1U);
  EXPECT_EQ(server.counters().status(200), 50U);
}

TEST(MockServer, ConcurrentClientsAreAllCountedAndLedgered) {
  mock_options o = base_options();
  o.ledger_file = temp_path("ledger.jsonl");
  mock_server server(o);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  clients.reserve(4);
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&server, &ok, t] {
      test_client client(server.port(), server.certificate_pem());
      for (int i = 0; i < 20; ++i) {
        const std::string id = "\"c" + std::to_string(t) + "-" + std::to_string(i) + "\"";
        const auto r = client.post(
            tags, records_body({base64_record(id, make_png(1, 1)), base64_record(id, "x")}), auth);
        ok += r.status == 200;
      }
    });
  }
  for (auto& c : clients) {
    c.join();
  }
  EXPECT_EQ(ok.load(), 80);
  const auto c = server.counters();
  EXPECT_EQ(c.status(200), 80U);
  EXPECT_EQ(c.connections, 4U);
  EXPECT_EQ(c.records_ok, 80U);
  EXPECT_EQ(c.records_failed, 80U);
  const auto lines = read_lines(o.ledger_file);
  EXPECT_EQ(lines.size(), 160U);
  for (const auto& line : lines) {
    EXPECT_TRUE(is_valid_json_value(line)) << line;
  }
}

TEST(MockServer, StopIsIdempotentAndCountersSurvive) {
  mock_server server(base_options());
  test_client client(server.port(), server.certificate_pem());
  EXPECT_EQ(client.post(tags, png_body(), auth).status, 200U);
  server.stop();
  server.stop();
  EXPECT_EQ(server.counters().status(200), 1U);
  EXPECT_NE(server.counters().to_json().find("\"200\":1"), std::string::npos);
}

TEST(MockServer, InvalidOptionsThrow) {
  mock_options o = base_options();
  o.token.clear();
  EXPECT_THROW(mock_server{o}, std::runtime_error);
  o = base_options();
  o.faults.fail_rate = 2;
  EXPECT_THROW(mock_server{o}, std::runtime_error);
  o = base_options();
  o.mode = transport::tls_files;
  o.cert_file = "/nonexistent/cert.pem";
  o.key_file = "/nonexistent/key.pem";
  EXPECT_ANY_THROW(mock_server{o});
}

}  // namespace
