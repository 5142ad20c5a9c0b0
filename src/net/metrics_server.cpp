// metrics_server: plain HTTP/1.1 for /metrics and /healthz on its own io thread. Each connection
// is one C++20 coroutine; everything runs on the one server thread, so the server's state needs no
// lock. I/O results are error_code values (as_tuple), never exceptions.
#include "ximup/metrics_server.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <list>
#include <mutex>
#include <thread>

#include "ximup/metrics.hpp"

namespace ximup {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t header_limit = std::size_t{8} * 1024;
constexpr std::uint64_t body_limit = std::uint64_t{4} * 1024;
constexpr std::string_view text_plain = "text/plain; charset=utf-8";

void log_exception(const char* where, const std::exception_ptr& e) noexcept {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    spdlog::warn("metrics server: {}: {}", where, x.what());
  } catch (...) {
    spdlog::warn("metrics server: {}: unknown exception", where);
  }
}

std::string format_endpoint(const tcp::endpoint& ep) {
  const auto address = ep.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(ep.port());
}

}  // namespace

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  const std::string quoted = "'" + std::string(text) + "'";
  const std::string example = " (expected HOST:PORT, e.g. 127.0.0.1:9090, [::1]:9090 or :9090)";
  listen_address out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "invalid listen address " + quoted + example;
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    if (out.host.empty()) {
      error = "invalid listen address " + quoted + ": empty IPv6 address" + example;
      return std::nullopt;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      error = "invalid listen address " + quoted + ": no port" + example;
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      error = "invalid listen address " + quoted + ": put an IPv6 address in brackets, e.g. [::1]:9090";
      return std::nullopt;
    }
  }
  unsigned port = 0;
  const bool digits =
      !port_text.empty() && port_text.size() <= 5 &&
      std::all_of(port_text.begin(), port_text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (digits) std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (!digits || port > 65535) {
    error = "invalid listen address " + quoted + ": the port must be a number from 0 to 65535" + example;
    return std::nullopt;
  }
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

struct metrics_server::impl {
  impl(render_callback r, health_callback h, metrics_server_options o)
      : render_(std::move(r)), healthy_(std::move(h)), opt_(o) {}
  ~impl() { stop(); }
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  // Resolves and binds; returns an error message or "".
  std::string listen(const listen_address& where, std::string_view text) {
    const std::string prefix = "cannot listen on '" + std::string(text) + "' for metrics: ";
    error_code ec;
    tcp::endpoint endpoint;
    if (where.host.empty()) {
      endpoint = tcp::endpoint(asio::ip::address_v4::any(), where.port);
    } else if (where.host == "localhost") {
      endpoint = tcp::endpoint(asio::ip::address_v4::loopback(), where.port);
    } else if (const auto literal = asio::ip::make_address(where.host, ec); !ec) {
      endpoint = tcp::endpoint(literal, where.port);
    } else {
      tcp::resolver resolver(*ioc_);
      const auto results =
          resolver.resolve(where.host, std::to_string(where.port), tcp::resolver::numeric_service, ec);
      if (ec || results.empty()) {
        return prefix + "cannot resolve '" + where.host + "': " + (ec ? ec.message() : "no address");
      }
      endpoint = results.begin()->endpoint();
    }
    acceptor_.emplace(*ioc_);
    if (acceptor_->open(endpoint.protocol(), ec); ec) return prefix + ec.message();
    // Lets a restarted run rebind while old connections sit in TIME_WAIT; on Linux it does not
    // let two listeners share a port.
    if (acceptor_->set_option(asio::socket_base::reuse_address(true), ec); ec) return prefix + ec.message();
    if (acceptor_->bind(endpoint, ec); ec) return prefix + ec.message();
    if (acceptor_->listen(asio::socket_base::max_listen_connections, ec); ec) return prefix + ec.message();
    local_ = acceptor_->local_endpoint(ec);
    if (ec) return prefix + ec.message();
    return {};
  }

  void run() {
    asio::co_spawn(*ioc_, accept_loop(), [](const std::exception_ptr& e) { log_exception("acceptor", e); });
    thread_ = std::thread([this] {
      try {
        ioc_->run();
      } catch (const std::exception& e) {
        spdlog::error("metrics server stopped: {}", e.what());
      }
    });
  }

  void stop() noexcept {
    const std::lock_guard lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    try {
      if (ioc_) ioc_->stop();
      if (thread_.joinable()) thread_.join();
      // Destroying the io_context destroys the suspended coroutines and with them their streams:
      // every connection, idle keep-alive ones included, is closed now.
      acceptor_.reset();
      ioc_.reset();
    } catch (const std::exception& e) {
      spdlog::error("metrics server: stopping: {}", e.what());
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(use_tuple);
      if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
      if (ec) {  // e.g. too many open files: back off instead of spinning
        asio::steady_timer pause(*ioc_, std::chrono::milliseconds(50));
        co_await pause.async_wait(use_tuple);
        continue;
      }
      if (sessions_ >= opt_.max_connections && !close_an_idle_connection()) {
        error_code ignored;
        socket.close(ignored);  // every connection is mid-request: refuse rather than queue
        continue;
      }
      ++sessions_;
      asio::co_spawn(*ioc_, session(std::move(socket)),
                     [](const std::exception_ptr& e) { log_exception("connection", e); });
    }
  }

  // Closes the connection that has waited longest for a request (a new one that sent nothing yet,
  // or a keep-alive one between scrapes), so that a new scraper is served; false if none waits.
  // Idle sockets held open (a port scanner, a stuck sidecar) could otherwise lock Prometheus and
  // the health probe out of every slot for the whole idle timeout.
  bool close_an_idle_connection() {
    for (beast::tcp_stream* stream : idle_) {
      if (!stream->socket().is_open()) continue;  // closed already, its session not resumed yet
      error_code ignored;
      stream->socket().close(ignored);  // its pending read completes with an error: the session ends
      return true;
    }
    return false;
  }

  asio::awaitable<void> session(tcp::socket socket) {
    struct count_guard {
      std::size_t& n;
      ~count_guard() { --n; }
    } guard{sessions_};
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    bool served = false;
    for (;;) {
      // Waiting for the first byte of a request: on a new connection at most io_timeout, between
      // keep-alive requests at most idle_timeout, and closed early when a new scraper needs the slot ...
      if (buffer.size() == 0) {
        stream.expires_after(served ? opt_.idle_timeout : opt_.io_timeout);
        const auto waiting = idle_.insert(idle_.end(), &stream);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(1024), use_tuple);
        idle_.erase(waiting);
        if (ec) break;  // closed by the client, idle too long, or closed for a new connection
        buffer.commit(n);
      }
      // ... then the whole request within io_timeout, however slowly it trickles in.
      http::request_parser<http::string_body> parser;
      parser.header_limit(header_limit);
      parser.body_limit(body_limit);
      stream.expires_after(opt_.io_timeout);
      auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (rec) break;  // timeout, EOF, malformed or too large: close
      const auto& req = parser.get();
      auto res = answer(req);
      stream.expires_after(opt_.io_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
      served = true;
    }
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }

  http::response<http::string_body> answer(const http::request<http::string_body>& req) {
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const bool head = req.method() == http::verb::head;
    http::status status = http::status::ok;
    std::string body;
    std::string_view type = text_plain;
    if (req.method() != http::verb::get && !head) {
      status = http::status::method_not_allowed;
      body = "method not allowed: use GET or HEAD\n";
    } else if (path == "/metrics") {
      try {
        body = render_ ? render_() : std::string();
        type = metrics_content_type;
      } catch (const std::exception& e) {
        status = http::status::internal_server_error;
        body = std::string("cannot render the metrics: ") + e.what() + "\n";
      } catch (...) {
        status = http::status::internal_server_error;
        body = "cannot render the metrics\n";
      }
    } else if (path == "/healthz") {
      bool healthy = false;
      try {
        healthy = !healthy_ || healthy_();
      } catch (...) {
        healthy = false;  // a health check that cannot answer is not healthy
      }
      status = healthy ? http::status::ok : http::status::service_unavailable;
      body = healthy ? "ok\n" : "unhealthy\n";
    } else {
      status = http::status::not_found;
      body = "not found: try /metrics or /healthz\n";
    }

    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "ximup");
    res.set(http::field::content_type, type);
    res.set(http::field::cache_control, "no-store");
    if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
    res.keep_alive(req.keep_alive());
    if (head) {
      res.content_length(body.size());  // the length GET would have, and no body
    } else {
      res.body() = std::move(body);
      res.prepare_payload();
    }
    return res;
  }

  render_callback render_;
  health_callback healthy_;
  metrics_server_options opt_;
  // Declaration order: the io_context outlives the acceptor; stop() destroys both early.
  std::optional<asio::io_context> ioc_{std::in_place};
  std::optional<tcp::acceptor> acceptor_;
  tcp::endpoint local_;
  std::thread thread_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
  std::size_t sessions_ = 0;            // connections being served; touched only on the server thread
  std::list<beast::tcp_stream*> idle_;  // connections waiting for a request, oldest first (same thread)
};

metrics_server::metrics_server(std::unique_ptr<impl> i) : impl_(std::move(i)) {}

metrics_server::~metrics_server() {
  stop();
}

metrics_server::start_result metrics_server::start(std::string_view address, render_callback render,
                                                   health_callback healthy, metrics_server_options options) {
  start_result out;
  try {
    std::string error;
    const auto where = parse_listen_address(address, error);
    if (!where) {
      out.error = std::move(error);
      return out;
    }
    auto i = std::make_unique<impl>(std::move(render), std::move(healthy), options);
    if (std::string e = i->listen(*where, address); !e.empty()) {
      out.error = std::move(e);
      return out;
    }
    i->run();
    out.server.reset(new metrics_server(std::move(i)));
  } catch (const std::exception& e) {
    out.error = "cannot start the metrics server on '" + std::string(address) + "': " + e.what();
  }
  return out;
}

std::uint16_t metrics_server::port() const noexcept {
  return impl_->local_.port();
}

std::string metrics_server::local_address() const {
  return format_endpoint(impl_->local_);
}

void metrics_server::stop() noexcept {
  impl_->stop();
}

}  // namespace ximup
