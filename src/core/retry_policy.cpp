#include "ximup/retry_policy.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace ximup {

std::string_view to_string(failure_kind kind) noexcept {
  switch (kind) {
    case failure_kind::none:
      return "none";
    case failure_kind::network:
      return "network";
    case failure_kind::timeout:
      return "timeout";
    case failure_kind::tls:
      return "tls";
    case failure_kind::untrusted:
      return "tls_untrusted";
    case failure_kind::http_retryable:
      return "http_retryable";
    case failure_kind::http_permanent:
      return "http_permanent";
    case failure_kind::auth:
      return "auth";
    case failure_kind::too_large:
      return "too_large";
    case failure_kind::bad_response:
      return "bad_response";
    case failure_kind::endpoint:
      return "endpoint";
    case failure_kind::cancelled:
      return "cancelled";
    case failure_kind::file_changed:
      return "file_changed";
  }
  return "unknown";
}

failure_kind classify_status(int s) noexcept {
  if (s >= 200 && s < 300) return failure_kind::none;
  switch (s) {
    case 401:
    case 403:
      return failure_kind::auth;
    case 404:
    case 405:
    case 409:
    case 501:
    case 505:
      return failure_kind::endpoint;
    case 413:
      return failure_kind::too_large;
    case 408:
    case 425:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504:
      return failure_kind::http_retryable;
    default:
      break;
  }
  // A redirect is the URL's fault, not the images': ximup does not follow one (it would resend
  // the body, and the token, to wherever the server says).
  if (s >= 300 && s < 400) return failure_kind::endpoint;
  if (s >= 500) return failure_kind::http_retryable;
  return failure_kind::http_permanent;
}

failure_kind classify_record_status(int code) noexcept {
  const failure_kind k = classify_status(code);
  // A record is never "auth", "endpoint" or "too large" on its own: a per-record 401/404/413 is final
  // for that record, not a reason to stop the run.
  if (k == failure_kind::auth || k == failure_kind::endpoint || k == failure_kind::too_large)
    return failure_kind::http_permanent;
  return k;
}

decision decide(failure_kind kind, int attempts, std::size_t records, const retry_policy& policy) noexcept {
  switch (kind) {
    case failure_kind::none:
      return decision::accept;
    case failure_kind::auth:
    case failure_kind::endpoint:
    case failure_kind::untrusted:
      return decision::stop_run;
    case failure_kind::too_large:
      return records > 1 ? decision::split : decision::fail;
    case failure_kind::http_permanent:
    case failure_kind::cancelled:
    case failure_kind::file_changed:
      return decision::fail;
    case failure_kind::network:
    case failure_kind::timeout:
    case failure_kind::tls:
    case failure_kind::http_retryable:
    case failure_kind::bad_response:
      return attempts <= policy.max_retries ? decision::retry : decision::fail;
  }
  return decision::fail;
}

std::chrono::milliseconds backoff_delay(int attempt, const retry_policy& policy, double u01,
                                        std::optional<std::chrono::milliseconds> retry_after) noexcept {
  using ms = std::chrono::milliseconds;
  const int shift = std::clamp(attempt - 1, 0, 30);
  const double ceiling = std::min(static_cast<double>(policy.max.count()),
                                  static_cast<double>(policy.base.count()) * std::ldexp(1.0, shift));
  ms delay(static_cast<ms::rep>(std::clamp(u01, 0.0, 1.0) * ceiling));
  if (retry_after) delay = std::max(delay, std::min(*retry_after, policy.max * 10));
  return delay;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  long long seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc{} && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::milliseconds(std::min(seconds, 86'400LL) * 1000);
  }
  // An HTTP-date: IMF-fixdate, or the two obsolete forms RFC 9110 (5.6.7) has recipients accept,
  // RFC 850's ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime's ("Sun Nov  6 08:49:37 1994").
  std::tm tm{};
  const std::string text(value);
  bool parsed = false;
  for (const char* form :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    tm = {};
    const char* rest = ::strptime(text.c_str(), form, &tm);
    if (rest != nullptr && *rest == '\0') {
      parsed = true;
      break;
    }
  }
  if (!parsed) return std::nullopt;
  const auto when = std::chrono::system_clock::from_time_t(::timegm(&tm));
  if (when <= now) return std::chrono::milliseconds(0);
  return std::min(std::chrono::duration_cast<std::chrono::milliseconds>(when - now),
                  std::chrono::milliseconds(86'400'000));
}

}  // namespace ximup
