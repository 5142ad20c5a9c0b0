#include "ximup/retry_policy.hpp"

#include <gtest/gtest.h>

using namespace ximup;
using namespace std::chrono_literals;

TEST(RetryPolicy, ClassifiesStatusesAsTheIssueSays) {
  for (int s : {408, 425, 429, 500, 502, 503, 504})
    EXPECT_EQ(classify_status(s), failure_kind::http_retryable) << s;
  for (int s : {400, 410, 422}) EXPECT_EQ(classify_status(s), failure_kind::http_permanent) << s;
  for (int s : {401, 403}) EXPECT_EQ(classify_status(s), failure_kind::auth) << s;
  // api.md: Ximilar's own code stops on 404 and 409 (a wrong URL, task or collection id).
  // So do a redirect (not followed: it would send the images and the token elsewhere) and a method or
  // protocol the URL does not take: the URL is wrong, not the images, which stay to be sent.
  for (int s : {404, 409, 405, 501, 505, 301, 302, 307, 308, 399})
    EXPECT_EQ(classify_status(s), failure_kind::endpoint) << s;
  EXPECT_EQ(classify_status(413), failure_kind::too_large);
  EXPECT_EQ(classify_status(200), failure_kind::none);
  EXPECT_EQ(classify_status(204), failure_kind::none);
  for (int s : {505 + 1, 599}) EXPECT_EQ(classify_status(s), failure_kind::http_retryable) << s;
}

TEST(RetryPolicy, RecordStatusesNeverStopTheRun) {
  EXPECT_EQ(classify_record_status(401), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(404), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(409), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(307), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(413), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(500), failure_kind::http_retryable);
  EXPECT_EQ(classify_record_status(400), failure_kind::http_permanent);
  EXPECT_EQ(classify_record_status(200), failure_kind::none);
}

TEST(RetryPolicy, DecisionsFollowKindAndBudget) {
  retry_policy p;
  p.max_retries = 2;
  EXPECT_EQ(decide(failure_kind::network, 1, 5, p), decision::retry);
  EXPECT_EQ(decide(failure_kind::network, 3, 5, p), decision::fail);  // 1 send + 2 retries spent
  EXPECT_EQ(decide(failure_kind::auth, 1, 5, p), decision::stop_run);
  EXPECT_EQ(decide(failure_kind::endpoint, 1, 5, p), decision::stop_run);
  EXPECT_EQ(decide(failure_kind::untrusted, 1, 5, p), decision::stop_run);  // configuration, as --cacert
  EXPECT_EQ(decide(failure_kind::tls, 1, 5, p), decision::retry);           // a handshake that broke off
  EXPECT_EQ(decide(failure_kind::too_large, 1, 5, p), decision::split);
  EXPECT_EQ(decide(failure_kind::too_large, 1, 1, p), decision::fail);
  EXPECT_EQ(decide(failure_kind::http_permanent, 1, 5, p), decision::fail);
  EXPECT_EQ(decide(failure_kind::bad_response, 2, 5, p), decision::retry);
  EXPECT_EQ(decide(failure_kind::none, 1, 5, p), decision::accept);
}

TEST(RetryPolicy, BackoffIsFullJitterUnderAnExponentialCeiling) {
  retry_policy p;
  p.base = 100ms;
  p.max = 1000ms;
  EXPECT_EQ(backoff_delay(1, p, 0.0, std::nullopt), 0ms);
  EXPECT_EQ(backoff_delay(1, p, 0.5, std::nullopt), 50ms);
  EXPECT_EQ(backoff_delay(3, p, 0.5, std::nullopt), 200ms);   // ceiling 400
  EXPECT_EQ(backoff_delay(10, p, 0.5, std::nullopt), 500ms);  // capped at max
  EXPECT_EQ(backoff_delay(1, p, 0.1, 3000ms), 3000ms);        // Retry-After honoured
  EXPECT_EQ(backoff_delay(1, p, 0.1, 1000000ms), 10000ms);    // but bounded
}

TEST(RetryPolicy, ParsesRetryAfterSecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now), 120000ms);
  EXPECT_EQ(parse_retry_after(" 0 ", now), 0ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10000ms);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), 0ms);  // in the past
  // The obsolete forms recipients must accept (RFC 9110, 5.6.7): RFC 850's and asctime's.
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), 10000ms);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:47 1994", now), 10000ms);
  EXPECT_EQ(parse_retry_after("Sun Nov 6 08:49:47 1994 trailing", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
}
