// In-memory self-signed certificate (OpenSSL 3): EC P-256, CN=localhost, SAN localhost/127.0.0.1/::1.
#include "ximup/mock/self_signed.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

namespace ximup::mock {
namespace {

template <auto Free>
struct deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free_all>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION_free>>;

[[noreturn]] void fail(const char* what) {
  std::string message = std::string("self-signed certificate: ") + what;
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    message += ": ";
    message += buf;
  }
  ERR_clear_error();
  throw std::runtime_error(message);
}

void check(int ok, const char* what) {
  if (ok != 1) {
    fail(what);
  }
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) {
    fail(value);
  }
  check(X509_add_ext(cert, ext.get(), -1), "X509_add_ext");
}

std::string bio_text(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  if (mem == nullptr) {
    fail("BIO_get_mem_ptr");
  }
  return std::string(mem->data, mem->length);
}

}  // namespace

pem_pair make_self_signed_certificate() {
  const pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) {
    fail("EVP_EC_gen(P-256)");
  }

  const x509_ptr cert(X509_new());
  if (!cert) {
    fail("X509_new");
  }
  check(X509_set_version(cert.get(), X509_VERSION_3), "X509_set_version");

  const bn_ptr serial(BN_new());
  if (!serial) {
    fail("BN_new");
  }
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "BN_rand");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    fail("serial number");
  }

  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr) {
    fail("notBefore");
  }
  if (X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) == nullptr) {
    fail("notAfter");
  }
  check(X509_set_pubkey(cert.get(), key.get()), "X509_set_pubkey");

  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>("localhost");
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0), "subject CN");
  check(X509_set_issuer_name(cert.get(), name), "X509_set_issuer_name");

  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  add_extension(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");

  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    fail("X509_sign");
  }

  pem_pair out;
  {
    const bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio) {
      fail("BIO_new");
    }
    check(PEM_write_bio_X509(bio.get(), cert.get()), "PEM_write_bio_X509");
    out.certificate = bio_text(bio.get());
  }
  {
    const bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio) {
      fail("BIO_new");
    }
    check(PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
          "PEM_write_bio_PrivateKey");
    out.private_key = bio_text(bio.get());
  }
  return out;
}

}  // namespace ximup::mock
