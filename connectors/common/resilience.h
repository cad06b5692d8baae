// Resilience for CRM calls: retries with backoff, a request budget, a circuit breaker,
// and the single mapping from HTTP status codes to absl::Status.
//
// Adapters wrap their HttpClient in a ResilientHttp (one per CRM connection):
//
//   ResilientHttp http("salesforce", client.get(), options.resilience);
//   absl::StatusOr<HttpResponse> r = http.Execute(request, classify);
//
// Execute() waits for the request budget (token bucket), refuses fast while the breaker
// is open, retries 429 / 500 / 502 / 503 / 504 and transport timeouts / connection
// failures with exponential backoff and full jitter, honours Retry-After (seconds or
// HTTP-date) capped by `max_retry_after` and by the request deadline, and returns the
// response only when it is 2xx. Every other outcome is an absl::Status whose message
// names the CRM and the call ("salesforce: GET /services/data/v59.0/query: 503 Service
// Unavailable: ...") and never contains secrets: only the method and URL path are
// named, never the query string, headers or request body.
//
// Clock and sleep are injectable (Clock) so tests can run the policy without waiting.
//
// Thread safety: RateLimiter, CircuitBreaker and ResilientHttp are safe to use from many
// threads at once. Clock implementations must be thread-safe.
#ifndef DEALCOACH_CONNECTORS_COMMON_RESILIENCE_H_
#define DEALCOACH_CONNECTORS_COMMON_RESILIENCE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "connectors/common/http_client.h"
#include "connectors/connector.h"

namespace dealcoach::connectors {

// Time source and sleeper. Clock::Real() is the process clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void SleepFor(absl::Duration d) = 0;
  // The real clock (absl::Now / absl::SleepFor). Never deleted.
  static Clock* Real();
};

struct RetryPolicy {
  // Total attempts including the first. 1 disables retries. Default: 4.
  int max_attempts = 4;
  // Backoff before the first retry is drawn uniformly from [0, initial_backoff]
  // ("full jitter"), doubling (x multiplier) each retry up to max_backoff.
  absl::Duration initial_backoff = absl::Milliseconds(200);
  absl::Duration max_backoff = absl::Seconds(10);
  double multiplier = 2.0;
  // A server's Retry-After longer than this is not waited for: the call fails with the
  // server's error instead. Default: 60 s.
  absl::Duration max_retry_after = absl::Seconds(60);
};

struct RateLimitOptions {
  // Sustained requests per second to this CRM; <= 0 disables the limit. Default: 10.
  double requests_per_second = 10;
  // Bucket size: requests allowed back-to-back after an idle period. Default: 20.
  double burst = 20;
};

struct CircuitBreakerOptions {
  // Consecutive failed attempts (transport failures and 5xx) that open the breaker;
  // <= 0 disables it. Default: 5.
  int failure_threshold = 5;
  // Time the breaker first stays open before letting one trial request through; each
  // failed trial doubles it, up to `cool_down`; a success resets it. Default: 1 s.
  absl::Duration first_cool_down = absl::Seconds(1);
  // The longest the breaker stays open between trials. Default: 30 s.
  absl::Duration cool_down = absl::Seconds(30);
};

struct ResilienceOptions {
  RetryPolicy retry;
  RateLimitOptions rate_limit;
  CircuitBreakerOptions circuit_breaker;
  // Per-attempt total timeout when the request sets none. Default: 30 s.
  absl::Duration request_timeout = absl::Seconds(30);
  // Requests in flight to this CRM at once, across every thread of the connector (its
  // parallel enrichment calls, the sync thread and request-path cache misses); a
  // request beyond it waits (within its deadline) for one to finish. <= 0: unbounded.
  // Default: 8 (Dataverse allows 52 concurrent requests per user; HubSpot's burst limit
  // is per 10 s, which the rate limit covers).
  int max_concurrent_requests = 8;
};

// Maps an HTTP status to a canonical code (STYLE.md):
//   2xx → OK               400 → InvalidArgument    401 → Unauthenticated
//   403 → PermissionDenied 404 → NotFound           408 → DeadlineExceeded
//   409 → Aborted          412, 422 → FailedPrecondition (schema drift, bad state)
//   429 → ResourceExhausted                         501 → Unimplemented
//   500, 502, 503, 504 and other 5xx → Unavailable (CRMs use 500 for transient faults)
//   other 4xx → FailedPrecondition
// Transport timeouts are DeadlineExceeded and connection failures Unavailable (HttpClient).
absl::StatusCode StatusCodeFromHttp(int http_status);

// "<crm>: <call>: <status> <reason>[: detail]" with the code from StatusCodeFromHttp.
// `call` is DescribeCall() output; `detail` is CRM-provided error text (no secrets).
[[nodiscard]] absl::Status StatusFromHttp(int http_status, absl::string_view crm,
                                          absl::string_view call, absl::string_view detail);

// True for HTTP statuses worth retrying: 429, 500, 502, 503, 504.
bool IsRetryableHttpStatus(int http_status);

// Parses a Retry-After value: delta-seconds ("120") or an HTTP-date
// ("Wed, 21 Oct 2026 07:28:00 GMT", relative to `now`). nullopt when unparseable.
// Negative results are clamped to zero.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// Full-jitter backoff before retry number `retry` (1 = first retry): uniform in
// [0, min(max_backoff, initial_backoff * multiplier^(retry-1))]. `unit_random` in [0,1).
absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random);

// Token bucket: `requests_per_second` sustained, `burst` at most back-to-back.
class RateLimiter {
 public:
  RateLimiter(const RateLimitOptions& options, Clock* clock);
  // Takes one token, sleeping (on the injected clock) until one is available. Returns
  // DeadlineExceeded without sleeping when the token would only be available after
  // `deadline`.
  [[nodiscard]] absl::Status Acquire(absl::Time deadline);

 private:
  const RateLimitOptions options_;
  Clock* const clock_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_refill_ ABSL_GUARDED_BY(mu_);
};

// Closed → (failure_threshold consecutive failures) → open → (first_cool_down) →
// half-open: one trial request; success closes, failure re-opens for twice as long (up
// to cool_down). A CRM that asks to be left alone (Retry-After) holds the breaker open
// until then (HoldUntil), whatever the failure count, so no caller adds to the throttle.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(const CircuitBreakerOptions& options, Clock* clock);
  // OK to send, or Unavailable "circuit open after N failures: <last error>; next trial
  // in 2s" while open. In half-open state only one caller at a time gets OK.
  [[nodiscard]] absl::Status Allow();
  void RecordSuccess();
  // `error` is remembered (its message) for Allow()'s refusal and for health.
  void RecordFailure(const absl::Status& error);
  // The CRM asked for no requests before `until` (Retry-After): open until then (or
  // longer, if already open longer), then half-open. No-op when the breaker is disabled.
  void HoldUntil(absl::Time until, const absl::Status& error);
  State state();
  // When the next trial may go out while open; InfinitePast when closed or half-open.
  absl::Time RetryAt();
  // "closed", "half-open", "open (circuit open after 5 failures: ...; next trial in
  // 2s)" or "open (holding off for 30s as the CRM asked (Retry-After): ...)".
  std::string Describe();
  // "closed", "open" or "half-open".
  static absl::string_view StateName(State state);

 private:
  void MaybeHalfOpen() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string OpenMessage() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  const CircuitBreakerOptions options_;
  Clock* const clock_;
  absl::Mutex mu_;
  State state_ ABSL_GUARDED_BY(mu_) = State::kClosed;
  int consecutive_failures_ ABSL_GUARDED_BY(mu_) = 0;
  // Open until this time; the next failed trial waits twice `current_cool_down_`.
  absl::Time open_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration current_cool_down_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // Open only because the CRM asked for quiet (HoldUntil), not by failures.
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool trial_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

// Turns a non-2xx response into a Status. Adapters supply one that parses their CRM's
// error body (e.g. Salesforce's [{"message","errorCode"}]) and special cases
// (403 REQUEST_LIMIT_EXCEEDED → ResourceExhausted). `call` is DescribeCall() output.
// The default (nullptr) is StatusFromHttp with the first 200 bytes of the body.
using ErrorClassifier =
    std::function<absl::Status(const HttpResponse& response, absl::string_view call)>;

// Everything Execute() observed, for tests and metrics.
struct ExecuteStats {
  int attempts = 0;
  // Total time slept between attempts (backoff and Retry-After).
  absl::Duration slept = absl::ZeroDuration();
};

// HttpClient + RateLimiter + CircuitBreaker + RetryPolicy for one CRM.
class ResilientHttp {
 public:
  // `crm` names the CRM in messages ("salesforce"). `client` must outlive this object.
  ResilientHttp(std::string crm, HttpClient* client, const ResilienceOptions& options,
                Clock* clock = Clock::Real());

  // Sends `request` (whose deadline bounds everything, including waits) and returns the
  // 2xx response. Non-2xx responses become the classifier's Status (retried first when
  // IsRetryableHttpStatus); transport failures become Unavailable / DeadlineExceeded
  // prefixed "<crm>: <call>: ". When retries run out the last error is returned with
  // " (after N attempts)" appended. `stats` may be null.
  [[nodiscard]] absl::StatusOr<HttpResponse> Execute(HttpRequest request,
                                                     const ErrorClassifier& classify = nullptr,
                                                     ExecuteStats* stats = nullptr);

  // Healthy unless the breaker is open or the last call failed; detail says why;
  // `breaker` and `retry_at` are the breaker's state and next trial.
  ConnectorHealth Health();
  // The most requests that were ever in flight at once (for tests and metrics).
  int max_in_flight() const;
  // Attempts that failed (transport error or a non-2xx the classifier did not accept),
  // retried or not, since construction: a sync pass reports its delta.
  int64_t failed_attempts() const { return failed_attempts_.load(std::memory_order_relaxed); }
  CircuitBreaker& breaker() { return breaker_; }
  const std::string& crm() const { return crm_; }
  Clock* clock() const { return clock_; }

 private:
  const std::string crm_;
  HttpClient* const client_;
  const ResilienceOptions options_;
  Clock* const clock_;
  RateLimiter limiter_;
  CircuitBreaker breaker_;
  absl::Mutex mu_;
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  // The max_concurrent_requests bound: requests currently in flight.
  mutable absl::Mutex flight_mu_;
  int in_flight_ ABSL_GUARDED_BY(flight_mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(flight_mu_) = 0;
  std::atomic<int64_t> failed_attempts_{0};
};

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_RESILIENCE_H_
