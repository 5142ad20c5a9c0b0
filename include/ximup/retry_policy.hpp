#pragma once
/// The one failure classifier and the retry decisions built on it. Pure functions; thread-safe.
///
/// Every failure is classified once into a failure_kind; the retry policy reads only that kind.
///   network (refused, reset, EOF before a response), timeout, tls  -> retry
///   untrusted (certificate verification failed)                    -> stop the whole run
///   HTTP 408, 425, 429, 500, 502, 503, 504                         -> retry
///   HTTP 401, 403                                                  -> stop the whole run
///   HTTP 3xx, 404, 405, 409, 501, 505 (the URL is wrong)           -> stop the whole run
///   HTTP 413                                                       -> split the batch in halves
///   other 4xx (400, 422, ...)                                      -> permanent for that batch
///   bad_response (invalid JSON, wrong record count, missing _status) -> retry, a bounded number

#include <chrono>
#include <cstddef>
#include <optional>
#include <string_view>

namespace ximup {

enum class failure_kind {
  none,            ///< success
  network,         ///< connection refused/reset, EOF before a complete response, DNS
  timeout,         ///< connect, handshake, write or response deadline passed
  tls,             ///< TLS handshake failure
  untrusted,       ///< the server's certificate failed verification: configuration, the run stops
  http_retryable,  ///< 408, 425, 429, 5xx but 501/505
  http_permanent,  ///< other non-2xx
  auth,            ///< 401, 403
  endpoint,        ///< 3xx, 404, 405, 409, 501, 505: the endpoint (URL, task or collection id) is wrong:
                   ///< the run stops
  too_large,       ///< 413
  bad_response,    ///< a 2xx whose body cannot be trusted
  cancelled,       ///< the run stopped before the request was sent
  file_changed,    ///< local: the input file changed while it was read (still being written?)
};

[[nodiscard]] std::string_view to_string(failure_kind kind) noexcept;

/// Kind of a whole response by its HTTP status.
[[nodiscard]] failure_kind classify_status(int http_status) noexcept;
/// Kind of one record by its own `_status.code` inside a 2xx response.
[[nodiscard]] failure_kind classify_record_status(int code) noexcept;

enum class decision { accept, retry, split, fail, stop_run };

struct retry_policy {
  int max_retries = 5;                    ///< --retries: resends after the first attempt
  std::chrono::milliseconds base{500};    ///< --retry-base
  std::chrono::milliseconds max{30'000};  ///< --retry-max
};

/// What to do with a request (of `records` records) that failed with `kind` after `attempts` sends.
[[nodiscard]] decision decide(failure_kind kind, int attempts, std::size_t records,
                              const retry_policy& policy) noexcept;

/// Backoff before resend number `attempt` (1 for the first resend): full jitter,
/// u01 * min(max, base * 2^(attempt-1)), where u01 is uniform in [0,1). A Retry-After from the
/// server is honoured: the delay is at least that (capped at 10 times --retry-max).
[[nodiscard]] std::chrono::milliseconds backoff_delay(
    int attempt, const retry_policy& policy, double u01,
    std::optional<std::chrono::milliseconds> retry_after) noexcept;

/// Parses a Retry-After value: delta-seconds or an HTTP date (IMF-fixdate) relative to `now`.
[[nodiscard]] std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace ximup
