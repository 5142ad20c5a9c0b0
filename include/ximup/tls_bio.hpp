#pragma once
/// Helpers for driving a TLS session owned by Beast's ssl_stream directly, as the client's
/// write_records (sender_pool.cpp) and the mock's --discard reader (mock_server.cpp) do: for the
/// length of one operation the session reads from or writes to a BIO of ours instead of Asio's
/// BIO pair, which stays idle between the stream's own operations. Header-only, shared by
/// ximup_net and the mock.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/system/error_code.hpp>

namespace ximup::tls {

/// The first error in OpenSSL's queue as Asio's SSL-category error_code (what ssl::stream would
/// report), or stream_truncated when the queue is empty.
inline boost::system::error_code last_ssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return boost::asio::ssl::error::stream_truncated;
  return {static_cast<int>(e), boost::asio::error::get_ssl_category()};
}

/// Lends `ssl` the BIO `lent` (owned from here on) as its read or write BIO until destruction,
/// then gives it its own back and frees `lent`. The session keeps its other BIO untouched.
class scoped_bio {
 public:
  enum class side { read, write };
  scoped_bio(SSL* ssl, side which, BIO* lent) noexcept
      : ssl_(ssl), which_(which), original_(which == side::read ? SSL_get_rbio(ssl) : SSL_get_wbio(ssl)) {
    // set0 releases the session's reference to `original_` for this side (Asio's pair shares one
    // BIO for both sides, so that reference is not the last); it is taken again on the way back.
    set(lent);
  }
  ~scoped_bio() {
    BIO_up_ref(original_);
    set(original_);  // frees `lent`
  }
  scoped_bio(const scoped_bio&) = delete;
  scoped_bio& operator=(const scoped_bio&) = delete;

 private:
  void set(BIO* bio) noexcept {
    if (which_ == side::read) {
      SSL_set0_rbio(ssl_, bio);
    } else {
      SSL_set0_wbio(ssl_, bio);
    }
  }
  SSL* ssl_;
  side which_;
  BIO* original_;
};

}  // namespace ximup::tls
