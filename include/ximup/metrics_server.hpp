#pragma once
/// metrics_server: a small plain-HTTP/1.1 server for Prometheus scrapes and health checks
/// (`--metrics-listen HOST:PORT`).
///
///   GET /metrics   200, Content-Type metrics_content_type, the body from the render callback
///   GET /healthz   200 "ok\n" while the health callback says healthy, else 503 "unhealthy\n"
///   HEAD           as GET without the body
///   other paths    404; other methods 405 (with Allow: GET, HEAD)
///
/// Threads: one thread of its own runs the server's io_context; the callbacks are called on that
/// thread, one at a time, and must be thread-safe with respect to the rest of the program (they
/// read the run's live counters). A callback that throws answers 500 (/metrics) or 503 (/healthz).
/// Every read and write has a deadline (a scraper that stalls is disconnected), a new connection
/// must send its request within `io_timeout`, idle keep-alive connections are closed after
/// `idle_timeout`, at most `max_connections` are served at once (at that limit a new connection
/// closes the one that has waited longest for a request; when every one is mid-request, the new
/// one is closed at accept), and requests are limited to 8 KiB of header and 4 KiB of body.
/// stop() and the destructor close every connection and join the thread; they never throw.
/// No Beast or Asio type appears here.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ximup {

struct metrics_server_options {
  std::chrono::milliseconds io_timeout{10'000};    ///< a first request, reading one, writing one
  std::chrono::milliseconds idle_timeout{60'000};  ///< keep-alive connection with no request
  std::size_t max_connections = 16;
};

/// HOST:PORT of --metrics-listen: "127.0.0.1:9090", "[::1]:9090", "localhost:9090",
/// "0.0.0.0:9090", ":9090" (every IPv4 interface). Port 0 picks a free port.
struct listen_address {
  std::string host;  ///< as given without brackets; "" for ":PORT"
  std::uint16_t port = 0;
};

/// Parses HOST:PORT; nullopt and `error` set when malformed (the host itself is checked at bind).
[[nodiscard]] std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error);

class metrics_server {
 public:
  using render_callback = std::function<std::string()>;
  using health_callback = std::function<bool()>;

  /// Either a running server or, when the address cannot be parsed, resolved or bound, a
  /// one-line message naming the address and the cause (e.g. "Address already in use").
  struct start_result {
    std::unique_ptr<metrics_server> server;
    std::string error;  ///< empty on success
  };

  /// Binds `address` (HOST:PORT), starts the thread and returns once the socket listens.
  /// Never throws: every failure is a start_result error.
  [[nodiscard]] static start_result start(std::string_view address, render_callback render,
                                          health_callback healthy, metrics_server_options options = {});

  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// The bound port (the actual one when started with port 0).
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The bound address as "HOST:PORT" ("[::1]:9090" for IPv6), for log lines.
  [[nodiscard]] std::string local_address() const;
  /// Closes the listening socket and every connection, and joins the thread. Idempotent;
  /// thread-safe; must not be called from a callback.
  void stop() noexcept;

 private:
  struct impl;
  explicit metrics_server(std::unique_ptr<impl> i);
  std::unique_ptr<impl> impl_;
};

}  // namespace ximup
