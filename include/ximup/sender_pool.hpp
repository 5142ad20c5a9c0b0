#pragma once
/// sender_pool: a pool of keep-alive HTTP(S) connections that POST request bodies.
///
/// Threads: `io_threads` threads run one io_context; each connection is a C++20 coroutine on its
/// own strand. Requests wait in a bounded channel between the encoder workers and the
/// connections: submit() blocks while it is full (backpressure), resubmit_after() never blocks
/// (the io threads call it). The completion handler runs on a connection's strand, once per
/// send that got a response or failed for good at the transport level; it must be thread-safe and
/// must not block. This header keeps Beast out of every translation unit but sender_pool.cpp.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ximup/buffer_pool.hpp"
#include "ximup/byte_budget.hpp"
#include "ximup/endpoint.hpp"
#include "ximup/flow_control.hpp"
#include "ximup/latency_histogram.hpp"
#include "ximup/request_body.hpp"
#include "ximup/retry_policy.hpp"

namespace ximup {

/// One POST: a body and the inputs it carries. Owned by a shared_ptr while in flight.
struct upload_request {
  upload_request() = default;
  upload_request(const upload_request&) = delete;
  upload_request& operator=(const upload_request&) = delete;
  /// Gives the body's memory back to body_pool, if any.
  ~upload_request() {
    if (body_pool) body_pool->give(std::move(body));
  }

  std::uint64_t sequence = 0;
  std::string body;
  std::vector<record_slot> records;
  std::shared_ptr<budget_lease> lease;     ///< memory held until the last record has its result
  int sends = 0;                           ///< attempts spent on this request
  std::shared_ptr<buffer_pool> body_pool;  ///< where the body came from and goes back to
};

/// What one send produced.
struct send_result {
  failure_kind transport = failure_kind::none;  ///< none when an HTTP response arrived
  int http_status = 0;
  std::string body;
  std::optional<std::string> retry_after;
  std::string location;          ///< a redirect's Location header ("" when none)
  std::string error;             ///< transport error text
  bool outcome_unknown = false;  ///< the request was written but no response came: the server may
                                 ///< have processed it (a possible server-side duplicate on resend)
  /// From the start of writing the request to the full response or the error; 0 if never written.
  std::chrono::microseconds latency{0};
};

/// AES-128-GCM first: TLS 1.3's mandatory suite, as Go, Chrome and Firefox order it, and less CPU
/// than OpenSSL's default first choice, AES-256-GCM, on both ends of a bulk upload (openssl speed,
/// 16 KiB records, median of 8 interleaved runs on the benchmark machine: 2.48 vs 2.16 GB/s).
inline constexpr const char* default_tls13_ciphers =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// Empty when OpenSSL accepts `list` as TLS 1.3 cipher suites; otherwise why not.
[[nodiscard]] std::string check_tls13_ciphers(const std::string& list);

struct sender_options {
  endpoint target;
  std::string authorization;  ///< the Authorization header value; never logged
  std::string user_agent;
  std::size_t connections = 8;
  std::size_t io_threads = 1;
  std::size_t queue_capacity = 16;                      ///< requests waiting for a connection
  std::chrono::milliseconds connect_timeout{10'000};    ///< TCP connect
  std::chrono::milliseconds handshake_timeout{10'000};  ///< TLS handshake
  std::chrono::milliseconds write_timeout{120'000};     ///< writing the whole request
  std::chrono::milliseconds first_byte_timeout{
      120'000};                                         ///< from the request written to the response headers
  std::chrono::milliseconds response_timeout{120'000};  ///< from the headers to the end of the body
  flow_options flow;                                    ///< concurrency and rate
  std::optional<std::string> cacert;                    ///< PEM file of trusted CAs; system CAs otherwise
  bool insecure_skip_verify = false;                    ///< --insecure-skip-tls-verify
  /// TLS 1.3 cipher suites in order of preference (--tls13-ciphers, OpenSSL's syntax).
  std::string tls13_ciphers{default_tls13_ciphers};
  std::size_t max_response_bytes = 64U << 20U;
};

/// Live counters; read them from any thread while the pool runs.
struct sender_counters {
  std::atomic<std::uint64_t> sends{0};
  std::atomic<std::uint64_t> stale_resends{0};  ///< resent on a fresh connection, no attempt spent
  std::atomic<std::uint64_t> connections_opened{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::int64_t> in_flight{0};
  /// Of those, the requests being written or waiting for their response (not the ones still
  /// connecting): what a stop that abandons them leaves with an unknown outcome.
  std::atomic<std::int64_t> exchanging{0};
  /// Requests waiting for a connection: in the channel, or in a submit() or resubmit that waits
  /// for room in it (a resubmit counts once its delay is over).
  std::atomic<std::int64_t> queued{0};
  /// Per send whose request began to be written: from the start of writing the request to the
  /// complete response or the transport error (send_result::latency). Sends that failed before
  /// writing (connect, TLS handshake) are not observed, so its count is at most `sends`. A stale
  /// keep-alive resend observes only the exchange on the fresh connection.
  latency_histogram request_latency;
};

/// Why sender_pool::preflight() could not complete a connection.
struct preflight_failure {
  std::string message;  ///< what went wrong and what to do
  /// Configuration, which a rerun alone will not fix: the server's certificate was not trusted, or
  /// setup_error(). Otherwise the server could not be reached or did not answer the handshake.
  bool configuration = false;
};

class sender_pool {
 public:
  using completion_handler = std::function<void(std::shared_ptr<upload_request>, send_result)>;

  sender_pool(sender_options options, completion_handler on_complete);
  ~sender_pool();
  sender_pool(const sender_pool&) = delete;
  sender_pool& operator=(const sender_pool&) = delete;

  /// Options the pool cannot work with, found by the constructor: a --cacert that cannot be
  /// loaded, TLS 1.3 suites OpenSSL does not know. Empty when there are none; otherwise every
  /// connection would fail, so check it before preflight() and start().
  [[nodiscard]] const std::string& setup_error() const noexcept;

  /// Resolves, connects and completes a TLS handshake once (certificate checked), then closes.
  /// Blocking; call before start(). Returns what went wrong, or nullopt. cancel() from another
  /// thread ends it within about 100 ms (with a failure); do not start() after that.
  [[nodiscard]] std::optional<preflight_failure> preflight();

  void start();
  /// Queues a request; blocks while the queue is full. Not from an io thread.
  void submit(std::shared_ptr<upload_request> request);
  /// Queues a request again after `delay`; never blocks. From any thread.
  void resubmit_after(std::shared_ptr<upload_request> request, std::chrono::milliseconds delay);
  /// From now on queued and new requests complete with transport `cancelled`, unsent.
  void cancel();
  /// Call after the last completion: closes the connections and joins the io threads.
  void shutdown();
  /// Gives up on everything in flight: blocked submit() calls return (their requests complete as
  /// cancelled), the io threads stop and are joined; no completion runs after it returns.
  void abort();
  /// Current concurrency limit and pacing rate.
  [[nodiscard]] flow_snapshot flow() const;

  [[nodiscard]] const sender_counters& counters() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup
