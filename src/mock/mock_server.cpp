// ximup-mock's network side: the Beast HTTP(S) server and the small test client. The only
// translation unit of the mock that includes Beast. Each connection is one C++20 coroutine on its
// own strand; I/O results come back as error_code values (as_tuple), never as exceptions.
#include "ximup/mock/mock_server.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "counters.hpp"
#include "ledger.hpp"
#include "ximup/mock/api_handler.hpp"
#include "ximup/mock/self_signed.hpp"
#include "ximup/tls_bio.hpp"

namespace ximup::mock {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using std::chrono::milliseconds;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

constexpr std::string_view server_name = "ximup-mock";

// Discard mode: bytes read per asynchronous operation (and per inactivity timeout) of a body.
constexpr std::size_t discard_chunk = std::size_t{256} * 1024;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path);
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view path_of(std::string_view target) noexcept {
  return target.substr(0, std::min(target.find('?'), target.find('#')));
}

void log_exception(const char* where, const std::exception_ptr& e) noexcept {
  if (!e) {
    return;
  }
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::fprintf(stderr, "ximup-mock: %s: %s\n", where, x.what());
  } catch (...) {
    std::fprintf(stderr, "ximup-mock: %s: unknown exception\n", where);
  }
}

template <class Stream>
beast::tcp_stream& tcp_layer(Stream& stream) noexcept {
  return beast::get_lowest_layer(stream);
}

// SO_RCVLOWAT of a socket while it lives: the socket is readable (for epoll, so for Asio) only
// once that many bytes have arrived. Back to 1, the default, at the end, for the HTTP reads that
// follow. Failures only cost wake-ups, so they are ignored.
class receive_low_watermark {
 public:
  explicit receive_low_watermark(tcp::socket& socket) : socket_(socket) {}
  ~receive_low_watermark() { set(1); }
  receive_low_watermark(const receive_low_watermark&) = delete;
  receive_low_watermark& operator=(const receive_low_watermark&) = delete;
  void set(std::size_t bytes) noexcept {
    const int value = static_cast<int>(std::clamp<std::size_t>(bytes, 1, 1U << 30U));
    if (value == current_) return;
    error_code ignored;
    socket_.set_option(asio::socket_base::receive_low_watermark(value), ignored);
    current_ = value;
  }

 private:
  tcp::socket& socket_;
  int current_ = 1;
};

// Discard mode over TLS: consumes `remaining` plaintext bytes of a body, giving each to `feed`;
// plaintext past the body (a pipelined next request) is appended to `next`. What the session holds
// already (decrypted, or in the ssl::stream's BIO pair) is read first; then ciphertext is read from
// the socket up to net.size() bytes at a time and decrypted through a memory BIO swapped in as the
// session's read BIO, every byte of it (a partial record stays inside the session), so nothing is
// left behind when the ssl::stream's BIO comes back. Asio's ssl::stream would take it 17 KB per
// recv() and copy it twice more; the client's write_records avoids the same costs when writing.
template <class Feed>
asio::awaitable<error_code> discard_tls_body(tls_stream& stream, std::size_t remaining, Feed&& feed,
                                             beast::flat_buffer& next, std::vector<char>& plain,
                                             std::vector<char>& net, milliseconds timeout) {
  SSL* handle = stream.native_handle();
  const auto take = [&](const char* data, std::size_t n) {
    const std::size_t body = std::min(n, remaining);
    feed(data, body);
    remaining -= body;
    if (n > body) {
      const auto room = next.prepare(n - body);
      std::memcpy(room.data(), data + body, n - body);
      next.commit(n - body);
    }
  };
  // Decrypts until the session needs more input. False with `fail` set on any other outcome.
  const auto drain = [&](error_code& fail) {
    for (;;) {
      std::size_t got = 0;
      ERR_clear_error();
      if (SSL_read_ex(handle, plain.data(), plain.size(), &got) == 1) {
        take(plain.data(), got);
        continue;
      }
      if (SSL_get_error(handle, 0) == SSL_ERROR_WANT_READ) return true;
      fail = tls::last_ssl_error();
      return false;
    }
  };
  error_code fail;
  if (!drain(fail)) co_return fail;
  receive_low_watermark lowat(tcp_layer(stream).socket());
  for (;;) {  // `remaining` shrinks inside drain()
    if (remaining == 0) co_return error_code{};
    // Wake up for a good share of a read, not for each segment: as many bytes as the body surely
    // still has on the wire (the session may hold up to one record of it already).
    constexpr std::size_t one_record = std::size_t{17} * 1024;
    lowat.set(std::min(remaining > one_record ? remaining - one_record : 1, net.size() / 2));
    tcp_layer(stream).expires_after(timeout);
    auto [ec, n] = co_await tcp_layer(stream).async_read_some(asio::buffer(net), use_tuple);
    if (ec) co_return ec;
    BIO* mem = BIO_new_mem_buf(net.data(), static_cast<int>(n));
    if (mem == nullptr) co_return tls::last_ssl_error();
    BIO_set_mem_eof_return(mem, -1);  // empty: "retry", not end of stream
    bool ok = false;
    {
      const tls::scoped_bio lent(handle, tls::scoped_bio::side::read, mem);
      ok = drain(fail);
    }
    if (!ok) co_return fail;
  }
}

// Abortive close: RST instead of FIN (SO_LINGER 0), as a crashed or reset peer looks.
template <class Stream>
void reset_connection(Stream& stream) noexcept {
  error_code ignored;
  auto& socket = tcp_layer(stream).socket();
  socket.set_option(asio::socket_base::linger(true, 0), ignored);
  socket.close(ignored);
}

// Wire bytes of a response (status line, headers, body), for partial and slow writes.
std::string serialize(const http::response<http::string_body>& res) {
  std::ostringstream out;
  out << res;
  return std::move(out).str();
}

std::string garbage_body(const std::string& good, const fault_decision& fault) {
  if (fault.garbage_truncated && good.size() > 1) {
    const auto keep = static_cast<std::size_t>(fault.cut * static_cast<double>(good.size()));
    return good.substr(0, std::clamp<std::size_t>(keep, 1, good.size() - 1));
  }
  return "<html><head><title>Oops</title></head><body>upstream sent garbage</body></html>";
}

// Body of an injected 5xx: JSON from the application for 500, an HTML proxy page otherwise.
std::pair<std::string, std::string_view> fail_body(unsigned status) {
  if (status == 500) {
    return {detail_json("A server error occurred."), "application/json"};
  }
  const char* title = status == 502 ? "502 Bad Gateway" : "503 Service Temporarily Unavailable";
  return {std::string("<html><head><title>") + title + "</title></head><body><center><h1>" + title +
              "</h1></center></body></html>",
          "text/html"};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Server

struct mock_server::impl {
  explicit impl(mock_options options);
  ~impl() { stop(); }

  void stop();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> run_tls(tcp::socket socket);
  asio::awaitable<void> run_plain(tcp::socket socket);
  template <class Stream>
  asio::awaitable<void> serve(Stream& stream);
  template <class Stream>
  asio::awaitable<bool> serve_stats(Stream& stream, beast::flat_buffer& buffer,
                                    http::request_parser<http::string_body>& parser);
  template <class Stream>
  asio::awaitable<void> reject_too_large(Stream& stream, unsigned version);
  template <class Stream>
  asio::awaitable<void> hang_until_closed(Stream& stream);
  template <class Stream>
  asio::awaitable<void> graceful_close(Stream& stream);
  template <class Stream>
  asio::awaitable<bool> trickle(Stream& stream, const std::string& wire);

  bool rate_limited();
  void log_request(std::uint64_t number, const http::request<http::string_body>& req, std::size_t body_bytes,
                   unsigned status, const fault_decision& fault) const;

  // Declaration order matters: ioc_ is destroyed (with any coroutine frames still in it) before
  // the state those frames use (ssl context, counters, ledger). stop() destroys it early, which
  // closes every socket still open (hanging requests included).
  mock_options options_;
  handler_config handler_;
  std::string certificate_pem_;
  std::optional<ssl::context> ssl_;
  live_counters counters_;
  std::unique_ptr<ledger> ledger_;
  std::mutex bucket_mutex_;  // guards bucket_ (a few arithmetic operations per request)
  std::optional<token_bucket> bucket_;
  std::atomic<std::uint64_t> request_numbers_{0};
  milliseconds io_timeout_;
  milliseconds idle_timeout_;
  std::optional<asio::io_context> ioc_;
  std::optional<tcp::acceptor> acceptor_;
  std::uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

mock_server::impl::impl(mock_options options)
    : options_(std::move(options)),
      io_timeout_(options_.io_timeout_ms),
      idle_timeout_(options_.idle_close_ms) {
  if (options_.token.empty()) {
    throw std::runtime_error("a token is required");
  }
  if (options_.threads == 0) {
    throw std::runtime_error("threads must be at least 1");
  }
  if (options_.max_records == 0) {
    throw std::runtime_error("max-records must be at least 1");
  }
  if (options_.io_timeout_ms == 0 || options_.idle_close_ms == 0) {
    throw std::runtime_error("io-timeout-ms and idle-close-ms must be positive");
  }
  for (const double rate :
       {options_.faults.fail_rate, options_.faults.reset_rate, options_.faults.hang_rate,
        options_.faults.trickle_rate, options_.faults.garbage_rate, options_.faults.record_fail_rate}) {
    if (!(rate >= 0.0 && rate <= 1.0)) {
      throw std::runtime_error("fault rates must be within [0, 1]");
    }
  }

  handler_.token = options_.token;
  handler_.max_records = options_.max_records;
  handler_.echo_base64 = options_.echo_base64;
  handler_.discard = options_.discard;
  handler_.reject_token_after = options_.reject_token_after;
  handler_.faults = options_.faults;

  if (options_.mode != transport::plain) {
    ssl_.emplace(ssl::context::tls_server);
    ssl_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    if (options_.mode == transport::tls_self_signed) {
      const pem_pair pem = make_self_signed_certificate();
      certificate_pem_ = pem.certificate;
      ssl_->use_certificate_chain(asio::buffer(pem.certificate));
      ssl_->use_private_key(asio::buffer(pem.private_key), ssl::context::pem);
    } else {
      if (options_.cert_file.empty() || options_.key_file.empty()) {
        throw std::runtime_error("TLS needs both a certificate and a key file");
      }
      certificate_pem_ = read_file(options_.cert_file);
      ssl_->use_certificate_chain_file(options_.cert_file);
      ssl_->use_private_key_file(options_.key_file, ssl::context::pem);
    }
  }
  if (!options_.ledger_file.empty()) {
    ledger_ = std::make_unique<ledger>(options_.ledger_file);
  }
  if (options_.rate_limit > 0) {
    bucket_.emplace(options_.rate_limit, options_.rate_limit, token_bucket::clock::now());
  }

  const std::string host = options_.address == "localhost" ? "127.0.0.1" : options_.address;
  const tcp::endpoint endpoint(asio::ip::make_address(host), options_.port);
  ioc_.emplace(static_cast<int>(options_.threads));
  acceptor_.emplace(*ioc_);
  acceptor_->open(endpoint.protocol());
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  acceptor_->bind(endpoint);
  acceptor_->listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_->local_endpoint().port();

  asio::co_spawn(acceptor_->get_executor(), accept_loop(),
                 [](const std::exception_ptr& e) { log_exception("acceptor", e); });
  threads_.reserve(options_.threads);
  for (unsigned i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { ioc_->run(); });
  }
}

void mock_server::impl::stop() {
  const std::lock_guard lock(stop_mutex_);
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (!ioc_) {
    return;  // the constructor failed before creating it
  }
  ioc_->stop();
  for (auto& t : threads_) {
    t.join();
  }
  threads_.clear();
  // Destroying the io_context destroys the suspended coroutines, and with them their streams:
  // every connection is closed now rather than when the server object goes away.
  acceptor_.reset();
  ioc_.reset();
}

asio::awaitable<void> mock_server::impl::accept_loop() {
  for (;;) {
    auto [ec, accepted] = co_await acceptor_->async_accept(asio::make_strand(*ioc_), use_tuple);
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) {
      co_return;
    }
    if (ec) {  // e.g. too many open files: back off instead of spinning
      asio::steady_timer pause(acceptor_->get_executor(), milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    live_counters::bump(counters_.connections);
    tcp::socket socket(std::move(accepted));
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    const auto executor = socket.get_executor();
    if (ssl_) {
      asio::co_spawn(executor, run_tls(std::move(socket)),
                     [](const std::exception_ptr& e) { log_exception("session", e); });
    } else {
      asio::co_spawn(executor, run_plain(std::move(socket)),
                     [](const std::exception_ptr& e) { log_exception("session", e); });
    }
  }
}

asio::awaitable<void> mock_server::impl::run_tls(tcp::socket socket) {
  tls_stream stream(std::move(socket), *ssl_);
  tcp_layer(stream).expires_after(io_timeout_);
  auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
  if (ec) {
    live_counters::bump(counters_.tls_handshake_failures);
    co_return;
  }
  const SSL_CIPHER* suite = SSL_get_current_cipher(stream.native_handle());
  const char* suite_name = suite != nullptr ? SSL_CIPHER_standard_name(suite) : nullptr;
  counters_.count_tls_suite(suite_name != nullptr ? suite_name : "");
  co_await serve(stream);
}

asio::awaitable<void> mock_server::impl::run_plain(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream);
}

bool mock_server::impl::rate_limited() {
  if (!bucket_) {
    return false;
  }
  const std::lock_guard lock(bucket_mutex_);
  return !bucket_->try_acquire(token_bucket::clock::now());
}

void mock_server::impl::log_request(std::uint64_t number, const http::request<http::string_body>& req,
                                    std::size_t body_bytes, unsigned status,
                                    const fault_decision& fault) const {
  if (!options_.log_requests) {
    return;
  }
  const std::string method(req.method_string());
  const std::string target(req.target());
  std::fprintf(stderr, "ximup-mock: #%llu %s %s %zu bytes -> %u%s%s\n",
               static_cast<unsigned long long>(number), method.c_str(), target.c_str(), body_bytes, status,
               fault.kind == fault_kind::none ? "" : " fault=",
               fault.kind == fault_kind::none ? "" : fault_name(fault.kind).data());
}

template <class Stream>
asio::awaitable<void> mock_server::impl::serve(Stream& stream) {
  beast::flat_buffer buffer;
  std::vector<char> sink;  // discard mode: where bodies are read and dropped
  std::vector<char> net;   // discard mode over TLS: ciphertext as read from the socket
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(boost::none);  // Content-Length is checked by hand below, to answer 413

    // An idle keep-alive connection waits idle_timeout_ for the next request, then is closed.
    tcp_layer(stream).expires_after(buffer.size() > 0 ? io_timeout_ : idle_timeout_);
    auto [ec, header_bytes] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    live_counters::bump(counters_.bytes_received, header_bytes);
    if (ec == beast::error::timeout) {
      if (header_bytes == 0 && buffer.size() == 0) {
        live_counters::bump(counters_.idle_close);
      }
      co_return;  // the stream closed the socket on timeout
    }
    if (ec) {
      co_return;
    }

    if (const auto path = path_of(parser.get().target()); path == "/stats" || path == "/stats/") {
      if (!co_await serve_stats(stream, buffer, parser)) {
        co_return;
      }
      continue;
    }

    const std::uint64_t number = request_numbers_.fetch_add(1, std::memory_order_relaxed) + 1;
    live_counters::bump(counters_.requests);
    const fault_decision fault = decide_faults(options_.faults, number);
    const unsigned version = parser.get().version();

    const auto length = parser.content_length();
    if (length && *length > options_.max_body) {
      co_await reject_too_large(stream, version);
      co_return;
    }
    if (fault.kind == fault_kind::reset_mid_request) {
      live_counters::bump(counters_.reset);
      reset_connection(stream);
      co_return;
    }
    if (options_.body_delay_ms > 0) {  // a slow reader: the client's socket fills meanwhile
      asio::steady_timer delay(co_await asio::this_coro::executor, milliseconds(options_.body_delay_ms));
      co_await delay.async_wait(use_tuple);
    }
    // Discard mode reads a body of known length straight into a reused buffer and drops it,
    // counting its records on the way: no per-record work, no body-sized allocation, one
    // coroutine resumption per discard_chunk bytes instead of one per TLS record.
    const bool discard_body = options_.discard && length && *length > 0;
    if (length && !discard_body) {
      parser.get().body().reserve(static_cast<std::size_t>(*length) + body_padding);
    }
    parser.body_limit(options_.max_body);
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> proceed{http::status::continue_, version};
      tcp_layer(stream).expires_after(io_timeout_);
      auto [wec, wn] = co_await http::async_write(stream, proceed, use_tuple);
      if (wec) {
        co_return;
      }
    }
    std::optional<std::size_t> discarded_records;
    std::size_t body_bytes = 0;
    if (discard_body) {
      record_key_counter keys;
      auto remaining = static_cast<std::size_t>(*length);
      if (const std::size_t buffered = std::min(remaining, buffer.size()); buffered > 0) {
        keys.feed({static_cast<const char*>(buffer.data().data()), buffered});
        buffer.consume(buffered);
        remaining -= buffered;
      }
      sink.resize(discard_chunk);
      if constexpr (std::is_same_v<Stream, tls_stream>) {
        net.resize(discard_chunk);
        const auto feed = [&](const char* data, std::size_t n) {
          live_counters::bump(counters_.bytes_received, n);
          keys.feed({data, n});
        };
        if (co_await discard_tls_body(stream, remaining, feed, buffer, sink, net, io_timeout_)) {
          co_return;
        }
      } else {
        while (remaining > 0) {  // the inactivity timeout applies per discard_chunk bytes
          const std::size_t want = std::min(remaining, sink.size());
          tcp_layer(stream).expires_after(io_timeout_);
          auto [rec, n] = co_await asio::async_read(stream, asio::buffer(sink.data(), want), use_tuple);
          live_counters::bump(counters_.bytes_received, n);
          if (rec) {
            co_return;
          }
          keys.feed({sink.data(), n});
          remaining -= n;
        }
      }
      discarded_records = keys.count();
      body_bytes = static_cast<std::size_t>(*length);
    }
    while (!discard_body && !parser.is_done()) {  // an inactivity timeout per read, however large the body
      tcp_layer(stream).expires_after(io_timeout_);
      auto [rec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
      live_counters::bump(counters_.bytes_received, n);
      if (rec == http::error::body_limit) {  // chunked body past the limit
        co_await reject_too_large(stream, version);
        co_return;
      }
      if (rec) {
        co_return;
      }
    }
    http::request<http::string_body> req = parser.release();
    if (!discard_body) {
      body_bytes = req.body().size();
    }

    if (fault.kind == fault_kind::hang) {
      live_counters::bump(counters_.hang);
      log_request(number, req, body_bytes, 0, fault);
      co_await hang_until_closed(stream);
      co_return;
    }

    api_response answer;
    std::string_view content_type = "application/json";
    if (rate_limited()) {
      live_counters::bump(counters_.rate_limited);
      answer.status = 429;
      answer.body = detail_json("Request was throttled. Expected available in 1 second.");
      answer.headers.emplace_back("Retry-After", std::to_string(options_.retry_after_s));
    } else if (fault.kind == fault_kind::fail) {
      live_counters::bump(counters_.fail);
      answer.status = fault.fail_status;
      std::tie(answer.body, content_type) = fail_body(fault.fail_status);
    } else {
      api_request request;
      request.method = req.method_string();
      request.target = req.target();
      request.authorization = req[http::field::authorization];
      if (const auto it = req.find("collection-id"); it != req.end()) {
        request.collection_id = it->value();
      }
      request.body = &req.body();
      request.request_number = number;
      request.discarded_records = discarded_records;
      try {
        answer = handle_api_request(request, handler_);
      } catch (const std::exception& e) {  // bad_alloc on a huge body: answer, do not unwind the session
        std::fprintf(stderr, "ximup-mock: request %llu: %s\n", static_cast<unsigned long long>(number),
                     e.what());
        answer = api_response{};
        answer.status = 500;
        answer.body = detail_json("A server error occurred.");
      }
      if (answer.token_rejected_by_fault) {
        live_counters::bump(counters_.reject_token);
      }
    }

    // A response that will be delivered intact records its accepted records; a faulted one does
    // not (record-level faults leave their records out of `answer.ledger` already).
    if (fault.kind == fault_kind::none && answer.status == 200) {
      live_counters::bump(counters_.records_ok, answer.records_ok);
      live_counters::bump(counters_.records_failed, answer.records_failed);
      live_counters::bump(counters_.record_fail, answer.records_fault_failed);
      if (ledger_ && !answer.ledger.empty() && ledger_->append(answer.ledger)) {
        live_counters::bump(counters_.ledger_lines, static_cast<std::uint64_t>(std::count(
                                                        answer.ledger.begin(), answer.ledger.end(), '\n')));
      }
    }

    if (fault.latency.count() > 0) {
      live_counters::bump(counters_.latency);
      asio::steady_timer delay(co_await asio::this_coro::executor, fault.latency);
      co_await delay.async_wait(use_tuple);
    }

    http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
    res.set(http::field::server, server_name);
    res.set(http::field::content_type, content_type);
    for (const auto& [name, value] : answer.headers) {
      res.set(name, value);
    }
    res.keep_alive(req.keep_alive());
    res.body() = std::move(answer.body);
    if (fault.kind == fault_kind::garbage && answer.status == 200) {
      live_counters::bump(counters_.garbage);
      res.body() = garbage_body(res.body(), fault);
    }
    res.prepare_payload();
    log_request(number, req, body_bytes, answer.status, fault);

    if (fault.kind == fault_kind::reset_mid_response) {
      live_counters::bump(counters_.reset);
      const std::string wire = serialize(res);
      const auto cut = std::clamp<std::size_t>(
          static_cast<std::size_t>(fault.cut * static_cast<double>(wire.size())), 1, wire.size() - 1);
      tcp_layer(stream).expires_after(io_timeout_);
      co_await asio::async_write(stream, asio::buffer(wire.data(), cut), use_tuple);
      reset_connection(stream);
      co_return;
    }
    counters_.count_status(answer.status);
    if (fault.interim) {
      // Interim responses (RFC 9110, 15.2) that a client must read past: the final one follows.
      live_counters::bump(counters_.interim);
      static constexpr std::string_view interim =
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </hints.css>; rel=preload\r\n\r\n";
      tcp_layer(stream).expires_after(io_timeout_);
      if (auto [iec, in] = co_await asio::async_write(stream, asio::buffer(interim), use_tuple); iec) {
        co_return;
      }
    }
    if (fault.kind == fault_kind::trickle) {
      live_counters::bump(counters_.trickle);
      if (!co_await trickle(stream, serialize(res))) {
        co_return;
      }
    } else {
      tcp_layer(stream).expires_after(io_timeout_);
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec) {
        co_return;
      }
    }
    if (!res.keep_alive()) {
      co_await graceful_close(stream);
      co_return;
    }
  }
}

template <class Stream>
asio::awaitable<bool> mock_server::impl::serve_stats(Stream& stream, beast::flat_buffer& buffer,
                                                     http::request_parser<http::string_body>& parser) {
  parser.body_limit(1 << 20);
  tcp_layer(stream).expires_after(io_timeout_);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  live_counters::bump(counters_.bytes_received, n);
  if (ec) {
    co_return false;
  }
  live_counters::bump(counters_.stats_requests);
  const auto& req = parser.get();
  http::response<http::string_body> res{http::status::ok, req.version()};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, "application/json");
  if (req.method() == http::verb::get) {
    res.body() = counters_.snapshot().to_json();
  } else {
    res.result(http::status::method_not_allowed);
    res.set(http::field::allow, "GET");
    res.body() = detail_json("Method not allowed.");
  }
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  tcp_layer(stream).expires_after(io_timeout_);
  auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
  if (wec) {
    co_return false;
  }
  if (!res.keep_alive()) {
    co_await graceful_close(stream);
    co_return false;
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> mock_server::impl::reject_too_large(Stream& stream, unsigned version) {
  http::response<http::string_body> res{http::status::payload_too_large, version};
  res.set(http::field::server, server_name);
  res.set(http::field::content_type, "application/json");
  res.body() =
      detail_json("Request body too large: the limit is " + std::to_string(options_.max_body) + " bytes.");
  res.keep_alive(false);
  res.prepare_payload();
  counters_.count_status(413);
  tcp_layer(stream).expires_after(io_timeout_);
  auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
  if (ec || options_.abrupt_413) {
    co_return;  // (the stream's socket closes with the body unread: a reset)
  }
  // Lingering close: discard what the client is still sending for a moment, so that it gets to
  // read the 413 instead of a reset caused by closing with unread data.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  std::vector<char> sink(std::size_t{64} * 1024);
  while (std::chrono::steady_clock::now() < deadline) {
    tcp_layer(stream).expires_at(deadline);
    auto [rec, rn] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (rec) {
      break;
    }
  }
  error_code ignored;
  tcp_layer(stream).socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> mock_server::impl::hang_until_closed(Stream& stream) {
  // No timeout on purpose: the request hangs until the client leaves or the server stops.
  tcp_layer(stream).expires_never();
  std::array<char, 4096> sink{};
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (ec) {
      co_return;
    }
  }
}

template <class Stream>
asio::awaitable<bool> mock_server::impl::trickle(Stream& stream, const std::string& wire) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (std::size_t i = 0; i < wire.size(); ++i) {
    if (i > 0) {
      pause.expires_after(std::chrono::seconds(1));
      co_await pause.async_wait(use_tuple);
    }
    tcp_layer(stream).expires_after(io_timeout_);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(wire.data() + i, 1), use_tuple);
    if (ec) {
      co_return false;
    }
  }
  co_return true;
}

template <class Stream>
asio::awaitable<void> mock_server::impl::graceful_close(Stream& stream) {
  if constexpr (is_tls<Stream>) {
    tcp_layer(stream).expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(use_tuple);
    // ssl::error::stream_truncated here only means the client closed without its close_notify.
  } else {
    error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  error_code ignored;
  tcp_layer(stream).socket().close(ignored);
}

mock_server::mock_server(mock_options options) : impl_(std::make_unique<impl>(std::move(options))) {}

mock_server::~mock_server() = default;

std::uint16_t mock_server::port() const noexcept {
  return impl_->port_;
}

std::string mock_server::url() const {
  std::string host = impl_->options_.address == "localhost" ? "127.0.0.1" : impl_->options_.address;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return (impl_->ssl_ ? "https://" : "http://") + host + ":" + std::to_string(impl_->port_);
}

const std::string& mock_server::certificate_pem() const noexcept {
  return impl_->certificate_pem_;
}

counters_snapshot mock_server::counters() const {
  return impl_->counters_.snapshot();
}

void mock_server::stop() {
  impl_->stop();
}

// ---------------------------------------------------------------------------------------------
// Test client

struct test_client::impl {
  impl(std::uint16_t port, std::string ca_pem, milliseconds timeout)
      : port_(port), timeout_(timeout), ctx_(ssl::context::tls_client) {
    if (!ca_pem.empty()) {
      tls_enabled_ = true;
      ctx_.set_verify_mode(ssl::verify_peer);
      ctx_.add_certificate_authority(asio::buffer(ca_pem));
    }
  }

  // Runs `op` (a coroutine) to completion on the private io_context.
  template <class Awaitable>
  void run(Awaitable op) {
    std::exception_ptr failure;
    asio::co_spawn(ioc_, std::move(op), [&failure](std::exception_ptr e) { failure = std::move(e); });
    ioc_.restart();
    ioc_.run();
    if (failure) {
      std::rethrow_exception(failure);
    }
  }

  beast::tcp_stream& lowest() { return tls_enabled_ ? beast::get_lowest_layer(*tls_) : *plain_; }

  void drop() noexcept {
    if (!open_) {
      return;
    }
    error_code ignored;
    lowest().socket().close(ignored);
    open_ = false;
    buffer_.clear();
  }

  asio::awaitable<error_code> connect() {
    const auto executor = co_await asio::this_coro::executor;
    if (tls_enabled_) {
      tls_.emplace(executor, ctx_);
      tls_->set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    } else {
      plain_.emplace(executor);
    }
    lowest().expires_after(timeout_);
    auto [ec] =
        co_await lowest().async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), use_tuple);
    if (ec) {
      co_return ec;
    }
    ++connects_;
    if (tls_enabled_) {
      lowest().expires_after(timeout_);
      auto [hec] = co_await tls_->async_handshake(ssl::stream_base::client, use_tuple);
      if (hec) {
        error_code ignored;
        lowest().socket().close(ignored);
        co_return hec;
      }
    }
    open_ = true;
    co_return error_code{};
  }

  template <class Stream>
  asio::awaitable<error_code> exchange(Stream& stream, http::request<http::string_body>& req, reply& out) {
    lowest().expires_after(timeout_);
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
      co_return wec;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    lowest().expires_after(timeout_);
    auto [rec, rn] = co_await http::async_read(stream, buffer_, parser, use_tuple);
    if (rec) {
      co_return rec;
    }
    const auto& res = parser.get();
    out.status = res.result_int();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      out.headers[name] = std::string(field.value());
    }
    out.body = res.body();
    if (!res.keep_alive()) {
      drop();
    }
    co_return error_code{};
  }

  asio::awaitable<void> do_request(http::request<http::string_body>& req, reply& out) {
    if (!open_) {
      if (const error_code ec = co_await connect()) {
        out.error = ec.message();
        co_return;
      }
    }
    const error_code ec =
        tls_enabled_ ? co_await exchange(*tls_, req, out) : co_await exchange(*plain_, req, out);
    if (ec) {
      out = reply{};
      out.error = ec == beast::error::timeout ? "timeout" : ec.message();
      drop();
    }
  }

  template <class Stream>
  asio::awaitable<error_code> read_some(Stream& stream) {
    auto [ec, n] = co_await stream.async_read_some(buffer_.prepare(1024), use_tuple);
    buffer_.commit(n);
    co_return ec;
  }

  asio::awaitable<void> do_wait_closed(milliseconds wait, bool& closed) {
    lowest().expires_after(wait);
    const error_code ec = tls_enabled_ ? co_await read_some(*tls_) : co_await read_some(*plain_);
    closed = ec && ec != beast::error::timeout;
  }

  std::uint16_t port_;
  milliseconds timeout_;
  asio::io_context ioc_;
  ssl::context ctx_;
  bool tls_enabled_ = false;
  std::optional<beast::tcp_stream> plain_;
  std::optional<tls_stream> tls_;
  beast::flat_buffer buffer_;
  bool open_ = false;
  std::size_t connects_ = 0;
};

test_client::test_client(std::uint16_t port, std::string ca_pem, milliseconds timeout)
    : impl_(std::make_unique<impl>(port, std::move(ca_pem), timeout)) {}

test_client::~test_client() {
  impl_->drop();
}

test_client::reply test_client::request(std::string_view method, std::string_view target,
                                        std::string_view body, const header_list& headers) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port_));
  req.set(http::field::user_agent, "ximup-mock-test-client");
  for (const auto& [name, value] : headers) {
    req.set(name, value);
  }
  req.body() = std::string(body);
  req.prepare_payload();
  reply out;
  try {
    impl_->run(impl_->do_request(req, out));
  } catch (const std::exception& e) {
    out = reply{};
    out.error = e.what();
    impl_->drop();
  }
  return out;
}

test_client::reply test_client::post(std::string_view target, std::string_view body,
                                     const header_list& headers) {
  header_list all = headers;
  all.emplace_back("Content-Type", "application/json");
  return request("POST", target, body, all);
}

bool test_client::connected() const noexcept {
  return impl_->open_;
}

bool test_client::wait_closed(milliseconds wait) {
  if (!impl_->open_) {
    return true;
  }
  bool closed = false;
  try {
    impl_->run(impl_->do_wait_closed(wait, closed));
  } catch (const std::exception&) {
    closed = true;
  }
  impl_->drop();  // a timeout closed the socket too (beast::tcp_stream does that)
  return closed;
}

void test_client::close() {
  impl_->drop();
}

std::size_t test_client::connects() const noexcept {
  return impl_->connects_;
}

}  // namespace ximup::mock
