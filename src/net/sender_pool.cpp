// sender_pool: keep-alive HTTP(S) connections as C++20 coroutines, one strand each.
// The only client-side translation unit that includes Beast.

#include "ximup/sender_pool.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "ximup/retry_policy.hpp"
#include "ximup/tls_bio.hpp"

namespace ximup {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto use_ec = asio::as_tuple(asio::use_awaitable);
// Interim (1xx) responses read past before an answer; a server that sends more is answering with them.
constexpr int max_interim_responses = 8;
// How long a request whose body could not be written all waits for the answer the server may have
// sent before closing (connection::exchange_on).
constexpr std::chrono::milliseconds early_answer_timeout{2000};
constexpr bool is_interim(unsigned status) {
  return status >= 100 && status < 200 && status != 101;  // (101 would switch protocols: not asked for)
}
// The result of a request that was never written: the run stopped (or the pool was torn down) first.
send_result not_sent(std::string_view why = "the run was stopped") {
  send_result result;
  result.transport = failure_kind::cancelled;
  result.error = "not sent: ";
  result.error.append(why);
  return result;
}

using request_channel =
    asio::experimental::concurrent_channel<void(error_code, std::shared_ptr<upload_request>)>;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// The one place a transport error_code becomes a failure_kind.
failure_kind classify_transport(const error_code& ec) {
  if (ec == beast::error::timeout) return failure_kind::timeout;
  if (ec == asio::error::operation_aborted) return failure_kind::cancelled;
  if (ec.category() == asio::error::get_ssl_category()) return failure_kind::tls;
  // stream_truncated: the peer closed TCP without a TLS close_notify; like an EOF.
  return failure_kind::network;
}

// A handshake that the server ended at once, or answered with something that is not TLS: the
// usual sign of an https:// endpoint on a port that serves plain HTTP.
bool looks_like_plain_http_port(const error_code& ec) {
  if (ec == asio::error::eof || ec == asio::error::connection_reset || ec == ssl::error::stream_truncated) {
    return true;
  }
  if (ec.category() != asio::error::get_ssl_category()) return false;
  const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  return reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
         reason == SSL_R_HTTP_REQUEST;
}

// The first bytes a plain-HTTP request got back: a TLS record (alert 0x15 or handshake 0x16,
// version 3.x) means the endpoint serves HTTPS.
bool looks_like_tls_answer(const beast::flat_buffer& received) {
  const auto* bytes = static_cast<const unsigned char*>(received.data().data());
  return received.size() >= 2 && (bytes[0] == 0x15 || bytes[0] == 0x16) && bytes[1] == 0x03;
}

// Where a TLS session's records go while connection::write_records writes a request: straight
// into the socket while it takes them; what it does not take, and every record after that (to
// keep their order), into the backlog, which write_records then sends with an asynchronous write.
struct record_sink {
  int fd = -1;
  std::string backlog;
};

// A BIO that writes a record_sink (see connection::write_records); it never refuses a record.
BIO_METHOD* record_sink_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ximup record sink");
    BIO_meth_set_write(m, [](BIO* b, const char* data, int len) -> int {
      auto* sink = static_cast<record_sink*>(BIO_get_data(b));
      const auto size = static_cast<std::size_t>(len);
      std::size_t sent = 0;
      if (sink->backlog.empty()) {
        // A full socket (EAGAIN) or a failed one: the backlog's asynchronous write waits for the
        // first and reports the second, with the connection's write timeout.
        const ssize_t n = ::send(sink->fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) sent = static_cast<std::size_t>(n);
      }
      sink->backlog.append(data + sent, size - sent);
      return len;
    });
    BIO_meth_set_ctrl(m, [](BIO*, int cmd, long, void*) -> long { return cmd == BIO_CTRL_FLUSH ? 1 : 0; });
    BIO_meth_set_create(m, [](BIO* b) -> int {
      BIO_set_init(b, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

// TCP_CORK as an Asio socket option: while set, the kernel sends only full segments.
class tcp_cork {
 public:
  explicit tcp_cork(bool on) : value_(on ? 1 : 0) {}
  template <class Protocol>
  [[nodiscard]] int level(const Protocol&) const {
    return IPPROTO_TCP;
  }
  template <class Protocol>
  [[nodiscard]] int name(const Protocol&) const {
    return TCP_CORK;
  }
  template <class Protocol>
  [[nodiscard]] const int* data(const Protocol&) const {
    return &value_;
  }
  template <class Protocol>
  [[nodiscard]] std::size_t size(const Protocol&) const {
    return sizeof value_;
  }

 private:
  int value_;
};

// Corks a socket for as long as it lives; uncorking sends the last partial segment. A socket that
// cannot be corked only sends smaller segments. It holds the socket object, not its descriptor:
// a socket closed meanwhile fails set_option instead of reaching a descriptor reused by another.
class corked {
 public:
  explicit corked(tcp::socket& socket) : socket_(socket) { set(true); }
  ~corked() { set(false); }
  corked(const corked&) = delete;
  corked& operator=(const corked&) = delete;

 private:
  void set(bool on) noexcept {
    error_code ignored;
    socket_.set_option(tcp_cork(on), ignored);
  }
  tcp::socket& socket_;
};

std::string verify_failure(SSL* ssl_handle) {
  const long verify = SSL_get_verify_result(ssl_handle);
  if (verify == X509_V_OK) return {};
  return X509_verify_cert_error_string(verify);
}

// A handshake that failed because the two sides share no protocol version or cipher suite: no rerun
// fixes that (it is configuration, as an untrusted certificate is), so the run stops with exit 2.
std::string no_common_tls(const error_code& ec) {
  if (ec.category() != asio::error::get_ssl_category()) return {};
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_WRONG_SSL_VERSION:
      return "the server and ximup share no TLS version (ximup speaks TLS 1.2 and 1.3)";
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
      return "the server and ximup share no cipher suite (see --tls13-ciphers)";
    default:
      return {};
  }
}

// Gives `ctx` the TLS 1.3 suites of `list`; empty when OpenSSL took them, otherwise why not.
std::string set_tls13_ciphers(SSL_CTX* ctx, const std::string& list) {
  if (SSL_CTX_set_ciphersuites(ctx, list.c_str()) == 1) return {};
  ERR_clear_error();
  return "no TLS 1.3 cipher suite OpenSSL knows in '" + list + "' (e.g. " + default_tls13_ciphers + ")";
}

}  // namespace

std::string check_tls13_ciphers(const std::string& list) {
  const std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!ctx) return "cannot create a TLS context";
  return set_tls13_ciphers(ctx.get(), list);
}

struct sender_pool::impl {
  impl(sender_options o, completion_handler h)
      : opt(std::move(o)), on_complete(std::move(h)), channel(ioc, opt.queue_capacity), flow(opt.flow) {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    if (auto bad = set_tls13_ciphers(tls.native_handle(), opt.tls13_ciphers); !bad.empty()) {
      setup_error = "--tls13-ciphers: " + bad;
    }
    if (opt.insecure_skip_verify) {
      tls.set_verify_mode(ssl::verify_none);
    } else {
      tls.set_verify_mode(ssl::verify_peer);
      error_code ec;
      if (opt.cacert) {
        tls.load_verify_file(*opt.cacert, ec);
        if (ec) setup_error = "cannot load --cacert '" + *opt.cacert + "': " + ec.message();
      } else {
        tls.set_default_verify_paths(ec);
      }
    }
  }

  // One keep-alive connection; lives inside its coroutine, on its strand.
  class connection {
   public:
    connection(impl& pool, asio::any_io_executor ex) : pool_(pool), ex_(std::move(ex)) {}

    [[nodiscard]] bool is_open() const { return tls_ || plain_; }

    // Resolves, connects and (for https) handshakes. Returns none or the failure, with `error` set.
    asio::awaitable<failure_kind> open(std::string& error) {
      tls_refused_ = false;  // (this open's verdict, not an earlier one's)
      close_now();
      const auto& t = pool_.opt.target;
      tcp::resolver resolver(ex_);
      auto [rec, endpoints] = co_await resolver.async_resolve(t.host, t.port, use_ec);
      if (rec) {
        error = "cannot resolve " + t.host + ": " + rec.message();
        co_return failure_kind::network;
      }
      beast::tcp_stream tcp_layer(ex_);
      tcp_layer.expires_after(pool_.opt.connect_timeout);
      auto [cec, ep] = co_await tcp_layer.async_connect(endpoints, use_ec);
      if (cec) {
        error = "cannot connect to " + t.host + ":" + t.port + ": " + cec.message();
        co_return classify_transport(cec);
      }
      tcp_layer.socket().set_option(tcp::no_delay(true));
      pool_.counters.connections_opened.fetch_add(1, std::memory_order_relaxed);
      if (!t.tls) {
        plain_ = std::make_unique<beast::tcp_stream>(std::move(tcp_layer));
        co_return failure_kind::none;
      }
      auto stream = std::make_unique<tls_stream>(std::move(tcp_layer), pool_.tls);
      SSL* handle = stream->native_handle();
      if (is_ip_literal(t.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), t.host.c_str());
      } else {
        // SNI (the SSL_set_tlsext_host_name macro, without its C cast)
        SSL_ctrl(handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(t.host.c_str()));
        SSL_set1_host(handle, t.host.c_str());
      }
      beast::get_lowest_layer(*stream).expires_after(pool_.opt.handshake_timeout);
      auto [hec] = co_await stream->async_handshake(ssl::stream_base::client, use_ec);
      if (hec) {
        const std::string why = verify_failure(handle);
        if (!why.empty()) {
          error =
              "TLS certificate of " + t.host + " not trusted: " + why +
              " (pass --cacert FILE to trust a private CA, or --insecure-skip-tls-verify to turn checks off)";
          tls_refused_ = true;
        } else if (const std::string none = no_common_tls(hec); !none.empty()) {
          error = "TLS handshake with " + t.host + " failed: " + hec.message() + ": " + none;
          tls_refused_ = true;  // (configuration, as an untrusted certificate: the run stops)
        } else {
          error = "TLS handshake with " + t.host + " failed: " + hec.message();
          if (looks_like_plain_http_port(hec)) {
            error += " (if " + t.host + ":" + t.port + " serves plain HTTP, use an http:// endpoint)";
          }
        }
        co_return classify_transport(hec);
      }
      tls_ = std::move(stream);
      co_return failure_kind::none;
    }

    // Sends one request and reads its response. Sets stale when the failure came before any
    // response byte, which on a reused connection means the server had already closed it.
    asio::awaitable<send_result> exchange(upload_request& request, bool& stale) {
      if (tls_) co_return co_await exchange_on(*tls_, request, stale);
      co_return co_await exchange_on(*plain_, request, stale);
    }

    void close_now() {
      if (tls_) beast::get_lowest_layer(*tls_).close();
      if (plain_) plain_->close();
      tls_.reset();
      plain_.reset();
      buffer_.clear();
    }

    // Polite close at the end of the run: TLS close_notify with a short deadline.
    asio::awaitable<void> shutdown() {
      if (tls_) {
        beast::get_lowest_layer(*tls_).expires_after(std::chrono::seconds(2));
        // Errors are expected and benign here: the server may close first (stream_truncated).
        co_await tls_->async_shutdown(use_ec);
      }
      close_now();
    }

    /// The last handshake failed for configuration (an untrusted certificate, no common TLS version or
    /// suite): a rerun cannot fix it.
    [[nodiscard]] bool tls_refused() const { return tls_refused_; }

   private:
    // Plaintext bytes encrypted before the records that the socket did not take are sent.
    static constexpr std::size_t records_piece = std::size_t{256} * 1024;
    // The most plaintext one TLS record carries (2^14 bytes).
    static constexpr std::size_t max_record_plaintext = std::size_t{16} * 1024;

    // Writes `header` then `body` over the TLS session. While it runs, the session's write BIO is
    // a record_sink: each 16 KiB record goes from OpenSSL's buffer straight into the socket
    // (non-blocking), and the records of a piece that the socket did not take wait in the backlog
    // for an asynchronous write, records_piece plaintext bytes at a time. A request of more than
    // one record is corked, so that the kernel sends full segments, not one per record. Asio's
    // ssl::stream would move each record through a BIO pair (two more copies) and send it with a
    // syscall of its own; on loopback that per-record cost was a large part of the client's CPU
    // (bench/upload.sh, README). Reading, the handshake and shutdown stay with the ssl::stream,
    // whose BIOs are idle between its operations.
    asio::awaitable<std::pair<error_code, std::size_t>> write_records(tls_stream& stream,
                                                                      std::string_view header,
                                                                      std::span<const char> body) {
      SSL* handle = stream.native_handle();
      auto& socket = beast::get_lowest_layer(stream).socket();
      const std::size_t total = header.size() + body.size();
      std::size_t done = 0;
      // A request that fits in one record leaves in one send() and one segment anyway.
      std::optional<corked> cork;
      if (total > max_record_plaintext) cork.emplace(socket);
      while (done < total) {
        const std::size_t piece_end = std::min(total, done + records_piece);
        records_.fd = socket.native_handle();
        records_.backlog.clear();
        BIO* sink = BIO_new(record_sink_method());
        if (sink == nullptr) co_return std::pair{tls::last_ssl_error(), done};
        BIO_set_data(sink, &records_);
        error_code ssl_error;
        {
          const tls::scoped_bio lent(handle, tls::scoped_bio::side::write, sink);
          ERR_clear_error();
          while (done < piece_end) {
            const char* from =
                done < header.size() ? header.data() + done : body.data() + (done - header.size());
            const std::size_t n =
                done < header.size() ? std::min(header.size(), piece_end) - done : piece_end - done;
            std::size_t wrote = 0;
            if (SSL_write_ex(handle, from, n, &wrote) != 1) {
              ssl_error = tls::last_ssl_error();
              break;
            }
            done += wrote;
          }
        }
        if (ssl_error) co_return std::pair{ssl_error, done};
        if (records_.backlog.empty()) continue;
        auto [ec, n] = co_await asio::async_write(beast::get_lowest_layer(stream),
                                                  asio::buffer(records_.backlog), use_ec);
        if (ec) co_return std::pair{ec, done};
      }
      co_return std::pair{error_code{}, done};
    }

    template <class Stream>
    asio::awaitable<send_result> exchange_on(Stream& stream, upload_request& request, bool& stale) {
      const auto& o = pool_.opt;
      send_result result;
      stale = false;
      http::request<http::span_body<char>> msg{http::verb::post, o.target.target, 11};
      const bool default_port = o.target.port == (o.target.tls ? "443" : "80");
      std::string host_header =
          o.target.host.find(':') != std::string::npos ? "[" + o.target.host + "]" : o.target.host;
      if (!default_port) host_header += ":" + o.target.port;
      msg.set(http::field::host, host_header);
      msg.set(http::field::user_agent, o.user_agent);
      msg.set(http::field::content_type, "application/json");
      msg.set(http::field::accept, "application/json");
      msg.set(http::field::authorization, o.authorization);
      for (const auto& [name, value] : o.target.headers) msg.set(name, value);
      msg.keep_alive(true);
      msg.body() = boost::span<char>(request.body.data(), request.body.size());
      msg.prepare_payload();

      const auto started = std::chrono::steady_clock::now();
      auto& lowest = beast::get_lowest_layer(stream);
      lowest.expires_after(o.write_timeout);
      error_code wec;
      std::size_t written = 0;
      if constexpr (std::is_same_v<Stream, tls_stream>) {
        std::ostringstream header;
        header << msg.base();  // the request line, the fields and the empty line
        std::tie(wec, written) = co_await write_records(stream, header.str(), request.body);
      } else {
        std::tie(wec, written) = co_await http::async_write(stream, msg, use_ec);
      }
      pool_.counters.bytes_sent.fetch_add(written, std::memory_order_relaxed);
      const auto write_failed = [&] {
        result = send_result{};
        result.latency =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
        result.transport = classify_transport(wec);
        result.error = "sending the request: " + wec.message();
        stale = buffer_.size() == 0;
        close_now();
        return result;
      };
      // A server may answer before it has read the body (a 413 for a body over its limit, a 401) and
      // close the connection: the rest of the body then fails with a reset or a broken pipe, while
      // its answer already waits in the socket. Read it, as curl does, within a short deadline: a
      // 413 then splits the batch instead of being retried as a network error until the retries
      // are spent. Without an answer the write's error stands.
      const bool early_answer_possible =
          wec && written > 0 && (wec == asio::error::connection_reset || wec == asio::error::broken_pipe);
      if (wec && !early_answer_possible) co_return write_failed();

      // Deadlines, not idle timeouts: a server that trickles one byte a second is caught too.
      lowest.expires_after(early_answer_possible ? std::min(o.first_byte_timeout, early_answer_timeout)
                                                 : o.first_byte_timeout);
      // Interim responses (100 Continue, 103 Early Hints from a CDN) come before the answer and are
      // read past (RFC 9110, 15.2): taken as the answer, a 103 failed the batch and left the real
      // answer in the buffer for the next request. At most a few, within the first byte's deadline.
      std::optional<http::response_parser<http::string_body>> reading;
      error_code hec;
      int interim = 0;  // interim responses read: the server has answered something
      for (;; ++interim) {
        reading.emplace();
        reading->body_limit(o.max_response_bytes);
        std::tie(hec, std::ignore) = co_await http::async_read_header(stream, buffer_, *reading, use_ec);
        if (hec || !is_interim(reading->get().result_int()) || interim == max_interim_responses) break;
      }
      auto& parser = *reading;
      if (!hec && reading->get().result_int() / 100 == 1) {
        if (early_answer_possible) co_return write_failed();
        // More interim responses than any server sends, or a 101 not asked for: no answer to trust,
        // and the connection's next bytes are not the next request's.
        result.latency =
            std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
        result.transport = failure_kind::bad_response;
        result.error = "the server answered " + std::to_string(reading->get().result_int()) + " after " +
                       std::to_string(interim) + " interim responses, and no final response";
        result.outcome_unknown = true;
        close_now();
        co_return result;
      }
      if (!hec) {
        lowest.expires_after(early_answer_possible ? std::min(o.response_timeout, early_answer_timeout)
                                                   : o.response_timeout);
        auto [bec, bn] = co_await http::async_read(stream, buffer_, parser, use_ec);
        hec = bec;
      }
      if (early_answer_possible && hec) co_return write_failed();
      result.latency =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
      if (hec) {
        // (An interim response is an answer: the server had the request, so this is not a stale
        // keep-alive connection to resend on for free.)
        stale = interim == 0 && !parser.got_some() && buffer_.size() == 0;
        if (hec == http::error::body_limit) {
          result.transport = failure_kind::bad_response;
          result.error =
              "response body larger than --max-response-bytes (" + std::to_string(o.max_response_bytes) + ")";
        } else {
          result.transport = classify_transport(hec);
          result.error =
              (parser.got_some() ? "reading the response: " : "waiting for the response: ") + hec.message();
          if (!o.target.tls && looks_like_tls_answer(buffer_)) {
            result.error += " (the server answered with TLS: use an https:// endpoint)";
          } else if (!o.target.tls && buffer_.size() == 0 &&
                     (hec == http::error::end_of_stream || hec == asio::error::connection_reset)) {
            result.error +=
                " (the server closed the connection without answering; if it serves HTTPS, use an "
                "https:// endpoint)";
          }
        }
        result.outcome_unknown = true;
        close_now();
        co_return result;
      }
      auto& res = parser.get();
      result.http_status = static_cast<int>(res.result_int());
      if (auto it = res.find(http::field::retry_after); it != res.end()) {
        result.retry_after = std::string(it->value());
      }
      if (auto it = res.find(http::field::location); it != res.end() && result.http_status / 100 == 3) {
        result.location = std::string(it->value().substr(0, 500));  // (a server's header: bounded)
      }
      const bool keep = res.keep_alive() && !early_answer_possible;
      result.body = std::move(res.body());
      if (!keep) close_now();
      co_return result;
    }

    impl& pool_;
    asio::any_io_executor ex_;
    std::unique_ptr<tls_stream> tls_;
    std::unique_ptr<beast::tcp_stream> plain_;
    beast::flat_buffer buffer_;
    record_sink records_;  // where write_records sends the TLS records of a request
    bool tls_refused_ = false;
  };

  // Waits while the adaptive concurrency limit keeps connection `index` idle.
  asio::awaitable<void> wait_for_turn(std::size_t index) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    // Also ends when the pool closes: a gated connection must reach async_receive to see the
    // closed channel, or shutdown() would wait for it forever.
    while (!flow.may_send(index) && !cancelled.load() && !closing.load()) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(use_ec);
    }
  }

  // Waits for the request's start slot under --rate or adaptive pacing.
  asio::awaitable<void> wait_for_pace() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto delay = flow.reserve(flow_control::clock::now());
    if (delay > flow_control::clock::duration::zero()) {
      timer.expires_after(delay);
      co_await timer.async_wait(use_ec);
    }
  }

  void observe(const send_result& result) {
    const auto now = flow_control::clock::now();
    if (result.http_status == 429 || result.http_status == 503) {
      flow.on_throttle(now, result.http_status == 429 || result.retry_after.has_value());
      // A Retry-After asks the client for quiet: every new request waits, not only the one resent
      // (that one waits at least as long, retry_policy's backoff_delay).
      if (result.retry_after) {
        if (const auto after = parse_retry_after(*result.retry_after, std::chrono::system_clock::now())) {
          // (A server that asks for an hour of quiet gets flow_options::longest_hold, then the
          // requests' own backoffs.)
          flow.hold_until(now + std::min<std::chrono::milliseconds>(*after, opt.flow.longest_hold));
        }
      }
      const auto snap = flow.snapshot();
      spdlog::info("server throttling (HTTP {}): requests in flight limited to {}{}", result.http_status,
                   snap.concurrency_limit,
                   snap.rate > 0 ? fmt::format(", pacing at {:.1f} requests/s", snap.rate) : std::string());
    } else if (result.http_status >= 200 && result.http_status < 300) {
      flow.on_success(now);
    }
  }

  asio::awaitable<void> connection_loop(std::size_t index) {
    connection conn(*this, co_await asio::this_coro::executor);
    for (;;) {
      co_await wait_for_turn(index);
      auto [ec, request] = co_await channel.async_receive(use_ec);
      if (ec || !request) break;  // the channel is closed: the run is over
      counters.queued.fetch_sub(1, std::memory_order_relaxed);
      if (cancelled.load()) {
        on_complete(std::move(request), not_sent());
        continue;
      }
      co_await wait_for_pace();
      if (cancelled.load()) {  // stopped while paced (a throttled server's wait can be long)
        on_complete(std::move(request), not_sent());
        continue;
      }
      send_result result;
      ++request->sends;
      for (auto& r : request->records) ++r.attempts;
      counters.sends.fetch_add(1, std::memory_order_relaxed);
      counters.in_flight.fetch_add(1, std::memory_order_relaxed);
      bool resent_stale = false;
      bool written = false;  // the request reached the write stage (its latency is measured)
      for (;;) {
        const bool reused = conn.is_open();
        if (!reused) {
          std::string error;
          const failure_kind k = co_await conn.open(error);
          if (k != failure_kind::none) {
            written = false;  // nothing written on this connection (after a stale resend, say)
            result = send_result{};
            result.transport = conn.tls_refused() ? failure_kind::untrusted : k;
            result.error = std::move(error);
            break;
          }
        }
        bool stale = false;
        written = true;
        counters.exchanging.fetch_add(1, std::memory_order_relaxed);
        result = co_await conn.exchange(*request, stale);
        counters.exchanging.fetch_sub(1, std::memory_order_relaxed);
        // A reused connection the server had already closed: resend once on a fresh one,
        // without spending an attempt (api.md: the server drops idle keep-alive connections).
        if (result.transport == failure_kind::network && reused && stale && !resent_stale) {
          resent_stale = true;
          counters.stale_resends.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        break;
      }
      counters.in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (written) counters.request_latency.observe(result.latency);
      observe(result);
      on_complete(std::move(request), std::move(result));
    }
    co_await conn.shutdown();
  }

  // After cancel(): requests still queued, never written, end at once as not sent. Otherwise, with
  // every connection held by a request that gets no answer, they waited for --drain-timeout and were
  // then reported as abandoned in flight, "possibly processed" by a server that never saw them.
  void drain_queued() {
    for (;;) {
      std::shared_ptr<upload_request> request;
      if (!channel.try_receive([&request](error_code ec, std::shared_ptr<upload_request> r) {
            if (!ec) request = std::move(r);
          })) {
        return;
      }
      if (!request) continue;
      counters.queued.fetch_sub(1, std::memory_order_relaxed);
      on_complete(std::move(request), not_sent());
    }
  }

  asio::awaitable<std::optional<preflight_failure>> preflight_once() {
    connection conn(*this, co_await asio::this_coro::executor);
    std::string error;
    const failure_kind k = co_await conn.open(error);
    const bool untrusted = conn.tls_refused();
    co_await conn.shutdown();
    if (k == failure_kind::none) co_return std::nullopt;
    co_return preflight_failure{std::move(error), untrusted};
  }

  sender_options opt;
  completion_handler on_complete;
  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  ssl::context tls{ssl::context::tls_client};
  request_channel channel;
  std::vector<std::thread> threads;
  std::atomic<bool> cancelled{false};
  std::atomic<bool> closing{false};  // shutdown() or abort() began
  sender_counters counters;
  flow_control flow;
  std::string setup_error;  ///< a bad --cacert or --tls13-ciphers (sender_pool::setup_error)
  std::mutex abort_mutex;   // orders submit() against abort()
  bool aborted = false;
  std::atomic<bool> aborted_flag{false};
  // Requests waiting out a backoff (resubmit_after), each timer on its own strand: cancel() ends
  // their waits at once, so a stopped run does not sit out a retry delay (up to 10 x --retry-max)
  // with nothing in flight. Under `backoff_mutex` with `backoff_cancelled`, so a wait that begins
  // after cancel() never starts.
  std::mutex backoff_mutex;
  bool backoff_cancelled = false;
  std::set<std::shared_ptr<asio::steady_timer>> backoff_timers;
};

sender_pool::sender_pool(sender_options options, completion_handler on_complete)
    : impl_(std::make_unique<impl>(std::move(options), std::move(on_complete))) {}

sender_pool::~sender_pool() {
  shutdown();
}

const std::string& sender_pool::setup_error() const noexcept {
  return impl_->setup_error;
}

std::optional<preflight_failure> sender_pool::preflight() {
  if (!impl_->setup_error.empty()) return preflight_failure{impl_->setup_error, true};
  auto result = asio::co_spawn(impl_->ioc, impl_->preflight_once(), asio::use_future);
  // In slices, so that cancel() (a signal) ends the wait instead of the handshake timeout. The
  // abandoned check is destroyed with the io_context; the pool is not started after it.
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (impl_->cancelled.load()) {
      impl_->ioc.stop();
      impl_->ioc.restart();
      return preflight_failure{"the run was stopped during the connection check", false};
    }
    impl_->ioc.run_for(std::chrono::milliseconds(100));
  }
  impl_->ioc.restart();
  return result.get();
}

void sender_pool::start() {
  auto& i = *impl_;
  i.work.emplace(i.ioc.get_executor());
  for (std::size_t c = 0; c < std::max<std::size_t>(1, i.opt.connections); ++c) {
    asio::co_spawn(asio::make_strand(i.ioc), i.connection_loop(c), asio::detached);
  }
  for (std::size_t t = 0; t < std::max<std::size_t>(1, i.opt.io_threads); ++t) {
    i.threads.emplace_back([&i] { i.ioc.run(); });
  }
}

void sender_pool::submit(std::shared_ptr<upload_request> request) {
  auto& i = *impl_;
  auto keep = request;
  std::future<void> sent;
  {
    std::lock_guard lock(i.abort_mutex);
    if (i.aborted) {
      i.on_complete(std::move(keep), not_sent());
      return;
    }
    i.counters.queued.fetch_add(1, std::memory_order_relaxed);
    sent = i.channel.async_send(error_code{}, std::move(request), asio::use_future);
  }
  // Wait for room in the channel; after abort() nothing will ever take the request.
  while (sent.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
    if (i.aborted_flag.load()) {
      i.counters.queued.fetch_sub(1, std::memory_order_relaxed);
      i.on_complete(std::move(keep), not_sent());
      return;
    }
  }
  try {
    sent.get();
  } catch (const std::exception& e) {
    i.counters.queued.fetch_sub(1, std::memory_order_relaxed);
    i.on_complete(std::move(keep), not_sent(e.what()));
  }
}

void sender_pool::resubmit_after(std::shared_ptr<upload_request> request, std::chrono::milliseconds delay) {
  auto& i = *impl_;
  asio::co_spawn(
      asio::make_strand(i.ioc),
      [&i, request = std::move(request), delay]() mutable -> asio::awaitable<void> {
        if (delay.count() > 0) {
          auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, delay);
          bool wait = false;
          {
            std::lock_guard lock(i.backoff_mutex);
            wait = !i.backoff_cancelled;
            if (wait) i.backoff_timers.insert(timer);
          }
          if (wait) {
            co_await timer->async_wait(use_ec);
            std::lock_guard lock(i.backoff_mutex);
            i.backoff_timers.erase(timer);
          }
        }
        auto keep = request;
        if (i.cancelled.load()) {  // stopped during the wait: not sent, and said so at once
          i.on_complete(std::move(keep), not_sent());
          co_return;
        }
        i.counters.queued.fetch_add(1, std::memory_order_relaxed);
        auto [ec] = co_await i.channel.async_send(error_code{}, std::move(request), use_ec);
        if (ec) {
          i.counters.queued.fetch_sub(1, std::memory_order_relaxed);
          i.on_complete(std::move(keep), not_sent());
        }
      },
      asio::detached);
}

void sender_pool::cancel() {
  auto& i = *impl_;
  i.cancelled.store(true);
  // On an io thread: the caller may hold its own locks, which the completion handler takes.
  asio::post(i.ioc, [&i] { i.drain_queued(); });
  std::lock_guard lock(i.backoff_mutex);
  i.backoff_cancelled = true;
  for (const auto& timer : i.backoff_timers) {
    asio::post(timer->get_executor(), [timer] { timer->cancel(); });  // on the timer's strand
  }
}

void sender_pool::abort() {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.abort_mutex);
    i.aborted = true;
    i.aborted_flag.store(true);
  }
  i.cancelled.store(true);
  i.closing.store(true);
  i.channel.cancel();  // pending sends (blocked submit calls) and receives complete with an error
  i.channel.close();
  i.work.reset();
  i.ioc.stop();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
}

void sender_pool::shutdown() {
  auto& i = *impl_;
  if (i.threads.empty()) return;
  i.closing.store(true);
  i.channel.close();
  i.work.reset();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
}

const sender_counters& sender_pool::counters() const noexcept {
  return impl_->counters;
}

flow_snapshot sender_pool::flow() const {
  return impl_->flow.snapshot();
}

}  // namespace ximup
