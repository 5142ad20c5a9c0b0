#pragma once
/// The API logic of ximup-mock as a pure function of one HTTP request: routing, authentication,
/// body parsing (simdjson), per-record checks, fake results and ledger lines. No sockets, no
/// Beast; the server adds transport faults, rate limiting and latency around it.
/// Thread-safe: no shared state (each call uses its own simdjson parser).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ximup/mock/faults.hpp"

namespace ximup::mock {

enum class endpoint_kind : std::uint8_t {
  tagging_generic,
  tagging_fashion,
  tagging_homedecor,
  colors_generic,
  colors_product,
  classify,
  detect,
  similarity_insert,
  authorize,
};

struct endpoint {
  endpoint_kind kind = endpoint_kind::tagging_generic;
  std::string_view path;  ///< canonical path, no leading or trailing slash, e.g. "recognition/v2/classify"
};

/// The endpoint for a request target (query string ignored, one trailing slash optional, paths
/// relative to the root), or nullopt for an unknown path.
[[nodiscard]] std::optional<endpoint> route(std::string_view target) noexcept;

/// Spare capacity the server reserves after a body so that handle_api_request can parse it in
/// place (simdjson reads up to this many bytes past the end).
inline constexpr std::size_t body_padding = 64;

struct handler_config {
  std::string token;                     ///< accepted as `Token <t>` or `JWT <t>`
  std::size_t max_records = 10;          ///< more records -> 400
  bool echo_base64 = false;              ///< echo `_base64` back in records (clients must strip it)
  bool discard = false;                  ///< do not parse; canned success
  std::uint64_t reject_token_after = 0;  ///< requests numbered above this get 401; 0 = never
  fault_config faults;                   ///< for record_fail_rate and request ids
};

struct api_request {
  std::string_view method;                        ///< e.g. "POST"
  std::string_view target;                        ///< e.g. "/tagging/generic/v2/tags"
  std::string_view authorization;                 ///< the Authorization header value, empty when absent
  std::optional<std::string_view> collection_id;  ///< the collection-id header
  /// The body. Parsed in place when its capacity leaves SIMDJSON_PADDING bytes after size(),
  /// copied into a padded buffer otherwise.
  const std::string* body = nullptr;
  std::uint64_t request_number = 1;  ///< 1-based arrival number (fault draws, request id)
  /// Discard mode only: the body was read and dropped while `record_key_counter` counted its
  /// records; `body` is then ignored. Unset: the discard answer counts the keys in `body`.
  std::optional<std::size_t> discarded_records;
};

/// Counts the record keys `"_base64"` and `"_url"` of a body that arrives in pieces, without
/// keeping it (discard mode): one memchr pass for '"' per piece, keys split across pieces
/// included. Gives the same count as a search of the whole body at once.
class record_key_counter {
 public:
  void feed(std::string_view piece) noexcept;
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

 private:
  static constexpr std::size_t tail_capacity = 8;  ///< longest key ("_base64" quoted, 9) - 1
  char tail_[tail_capacity] = {};                  ///< the last bytes seen, for keys across pieces
  std::size_t tail_size_ = 0;
  std::size_t count_ = 0;
};

struct api_response {
  unsigned status = 200;
  std::string body;                                          ///< JSON
  std::vector<std::pair<std::string, std::string>> headers;  ///< extra headers (e.g. Allow)
  /// JSON lines for the ledger, each ending in '\n': one per record answered 200 or 400 (records
  /// given an injected 500 are left out). Empty unless status is 200.
  std::string ledger;
  std::size_t records_ok = 0;            ///< records answered `_status` 200
  std::size_t records_failed = 0;        ///< records answered 400 or 500
  std::size_t records_fault_failed = 0;  ///< of records_failed, those given an injected 500
  bool token_rejected_by_fault = false;  ///< 401 because of reject_token_after
};

/// Answers one API request (not /stats). Never throws except std::bad_alloc.
[[nodiscard]] api_response handle_api_request(const api_request& request, const handler_config& config);

/// The request id for a request number, 32 hex digits (deterministic from the seed).
[[nodiscard]] std::string make_request_id(std::uint64_t seed, std::uint64_t request_number);

/// `{"detail":"<detail>"}`, the error body shape of the API (Django REST framework).
[[nodiscard]] std::string detail_json(std::string_view detail);

/// Hex SHA-256 of `bytes` (64 lower-case digits).
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

}  // namespace ximup::mock
