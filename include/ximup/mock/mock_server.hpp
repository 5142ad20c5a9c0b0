#pragma once
/// ximup-mock in-process: an HTTPS (or plain HTTP) fake of the Ximilar API on a local port, with
/// fault injection, a ledger of accepted records and counters. Used by `ximup-mock` (main.cpp)
/// and by tests, which start it on port 0 and read its port and counters.
///
/// Threads: the server runs its own io threads (options.threads); the constructor returns once the
/// socket listens; stop() (or the destructor) stops them and joins. Every public member function
/// is thread-safe. No Beast or Asio type appears here (one translation unit holds them).

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ximup/mock/faults.hpp"

namespace ximup::mock {

enum class transport : std::uint8_t {
  tls_self_signed,  ///< generate a certificate in memory (see self_signed.hpp)
  tls_files,        ///< cert_file + key_file (PEM)
  plain,            ///< HTTP without TLS
};

struct mock_options {
  std::string address = "127.0.0.1";  ///< IPv4/IPv6 literal or "localhost"
  std::uint16_t port = 0;             ///< 0: any free port (read it with port())
  transport mode = transport::tls_self_signed;
  std::string cert_file;  ///< tls_files: certificate chain, PEM
  std::string key_file;   ///< tls_files: private key, PEM
  unsigned threads = 2;   ///< io threads

  std::string token;                     ///< required (non-empty)
  std::size_t max_records = 10;          ///< more records per request -> 400
  std::uint64_t max_body = 64ULL << 20;  ///< larger bodies -> 413 (checked on Content-Length first)
  std::string ledger_file;               ///< empty: no ledger
  bool discard = false;                  ///< read bodies, do not parse, canned success
  bool echo_base64 = false;              ///< echo `_base64` back in records
  bool log_requests = false;             ///< one line per request on stderr
  /// After a 413, close at once instead of reading the rest of the body for a moment first: the
  /// client's write then fails with a reset while the 413 waits in its socket (as from servers that
  /// do not linger).
  bool abrupt_413 = false;

  std::uint64_t reject_token_after = 0;  ///< requests numbered above N get 401; 0 = never
  std::uint32_t rate_limit = 0;          ///< requests per second before 429; 0 = unlimited
  std::uint32_t retry_after_s = 1;       ///< the Retry-After (seconds) of those 429s
  std::uint32_t idle_close_ms = 60000;   ///< close keep-alive connections idle this long
  std::uint32_t io_timeout_ms = 30000;   ///< per read/write inside a request, and TLS handshake
  std::uint32_t body_delay_ms = 0;       ///< wait after a request's header before reading its body
  fault_config faults;
};

/// A copy of the server's counters at one moment.
struct counters_snapshot {
  std::uint64_t connections = 0;  ///< TCP connections accepted
  std::uint64_t tls_handshake_failures = 0;
  std::uint64_t requests = 0;        ///< API requests whose header was read
  std::uint64_t stats_requests = 0;  ///< GET /stats
  std::uint64_t bytes_received = 0;  ///< request bytes (headers and bodies, after TLS)
  std::uint64_t records_ok = 0;      ///< records answered 200 in delivered responses
  std::uint64_t records_failed = 0;  ///< records answered 400/500 in delivered responses
  std::uint64_t ledger_lines = 0;
  std::map<unsigned, std::uint64_t> responses_by_status;  ///< responses sent (faulted ones too)
  /// TLS handshakes completed, by the cipher suite negotiated (e.g. "TLS_AES_128_GCM_SHA256";
  /// suites other than TLS 1.3's three are counted as "other").
  std::map<std::string, std::uint64_t> handshakes_by_cipher;

  struct fault_counts {
    std::uint64_t latency = 0;       ///< requests delayed
    std::uint64_t fail = 0;          ///< injected 500/502/503
    std::uint64_t rate_limited = 0;  ///< 429
    std::uint64_t reset = 0;
    std::uint64_t hang = 0;
    std::uint64_t trickle = 0;
    std::uint64_t interim = 0;  ///< responses preceded by 100 Continue and 103 Early Hints
    std::uint64_t garbage = 0;
    std::uint64_t record_fail = 0;   ///< records given an injected 500
    std::uint64_t reject_token = 0;  ///< 401 from reject_token_after
    std::uint64_t idle_close = 0;    ///< keep-alive connections closed for idleness
  } faults;

  /// Count of responses with `status` (0 if none).
  [[nodiscard]] std::uint64_t status(unsigned code) const;
  /// All counters as one JSON object (the body of GET /stats).
  [[nodiscard]] std::string to_json() const;
};

class mock_server {
 public:
  /// Binds, listens and starts the io threads. Throws std::runtime_error (or std::system_error)
  /// when the options are invalid, the certificate cannot be loaded or the address cannot be bound.
  explicit mock_server(mock_options options);
  ~mock_server();
  mock_server(const mock_server&) = delete;
  mock_server& operator=(const mock_server&) = delete;

  /// The bound port (the real one when options.port was 0).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// "https://127.0.0.1:PORT" (or http://, or https://[::1]:PORT).
  [[nodiscard]] std::string url() const;
  /// PEM of the server certificate: the generated one (tls_self_signed), the file's (tls_files),
  /// empty for plain. A client trusts the self-signed one by using it as its CA.
  [[nodiscard]] const std::string& certificate_pem() const noexcept;
  [[nodiscard]] counters_snapshot counters() const;

  /// Stops accepting, abandons open connections (sockets closed, hanging requests released) and
  /// joins the io threads. Idempotent; blocks until the threads are gone.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A small blocking HTTP/1.1 client with keep-alive, for tests and tools that drive the mock.
/// Connects to 127.0.0.1:port; with a CA PEM it speaks TLS and verifies the certificate for the
/// IP address 127.0.0.1. Every operation has `timeout`. Not thread-safe: one thread uses it.
class test_client {
 public:
  struct reply {
    unsigned status = 0;                         ///< 0 when `error` is set
    std::map<std::string, std::string> headers;  ///< lower-case names
    std::string body;
    std::string error;  ///< empty on success; e.g. "end of stream", "timeout", "connection reset"
    [[nodiscard]] bool ok() const noexcept { return error.empty(); }
  };
  using header_list = std::vector<std::pair<std::string, std::string>>;

  /// Does not connect yet (the first request does). `ca_pem` empty: plain HTTP.
  test_client(std::uint16_t port, std::string ca_pem,
              std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~test_client();
  test_client(const test_client&) = delete;
  test_client& operator=(const test_client&) = delete;

  /// Sends one request on the open connection (connecting first if there is none) and reads the
  /// reply. On any error the connection is dropped and the next call reconnects.
  reply request(std::string_view method, std::string_view target, std::string_view body,
                const header_list& headers = {});
  /// POST with `Content-Type: application/json`.
  reply post(std::string_view target, std::string_view body, const header_list& headers = {});

  /// True when a connection is open (as far as this side knows).
  [[nodiscard]] bool connected() const noexcept;
  /// Waits up to `wait` for the server to close the idle connection: true when it did (EOF,
  /// close_notify or reset), false when the connection is still open after `wait`.
  bool wait_closed(std::chrono::milliseconds wait);
  /// Closes the connection (no-op when none).
  void close();
  /// Number of TCP connections this client opened so far.
  [[nodiscard]] std::size_t connects() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup::mock
