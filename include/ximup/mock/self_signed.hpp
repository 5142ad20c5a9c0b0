#pragma once
/// An in-memory self-signed server certificate for ximup-mock (OpenSSL 3).

#include <string>

namespace ximup::mock {

struct pem_pair {
  std::string certificate;  ///< PEM "CERTIFICATE"
  std::string private_key;  ///< PEM "PRIVATE KEY" (PKCS#8)
};

/// Generates an EC P-256 key and an X.509 v3 certificate for CN=localhost with subjectAltName
/// DNS:localhost, IP:127.0.0.1, IP:::1, valid from one hour ago for 30 days, signed with SHA-256
/// by its own key (so a client trusts it by using it as its CA file). Throws std::runtime_error
/// with OpenSSL's reason on failure.
[[nodiscard]] pem_pair make_self_signed_certificate();

}  // namespace ximup::mock
