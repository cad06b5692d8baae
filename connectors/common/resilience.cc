#include "connectors/common/resilience.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dealcoach::connectors {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
};

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

// Retries also cover transport failures that are worth another try.
bool IsRetryableTransport(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

Clock* Clock::Real() {
  static Clock* clock = new RealClock();
  return clock;
}

absl::StatusCode StatusCodeFromHttp(int s) {
  if (s >= 200 && s < 300) return absl::StatusCode::kOk;
  switch (s) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return absl::StatusCode::kAborted;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    default:
      break;
  }
  if (s >= 500) return absl::StatusCode::kUnavailable;
  return absl::StatusCode::kFailedPrecondition;
}

absl::Status StatusFromHttp(int http_status, absl::string_view crm, absl::string_view call,
                            absl::string_view detail) {
  const absl::StatusCode code = StatusCodeFromHttp(http_status);
  if (code == absl::StatusCode::kOk) return absl::OkStatus();
  std::string message = absl::StrCat(crm, ": ", call, ": ", http_status);
  absl::string_view reason = ReasonPhrase(http_status);
  if (!reason.empty()) absl::StrAppend(&message, " ", reason);
  if (!detail.empty()) absl::StrAppend(&message, ": ", detail);
  return absl::Status(code, message);
}

bool IsRetryableHttpStatus(int s) {
  return s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) return absl::Seconds(std::max<int64_t>(0, seconds));
  double fractional = 0;
  if (absl::SimpleAtod(value, &fractional) && std::isfinite(fractional)) {
    return absl::Seconds(std::max(0.0, fractional));
  }
  absl::Time when;
  std::string err;
  // IMF-fixdate, the form RFC 9110 requires senders to use.
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", std::string(value), absl::UTCTimeZone(), &when,
                      &err)) {
    return std::max(absl::ZeroDuration(), when - now);
  }
  return std::nullopt;
}

absl::Duration BackoffDelay(const RetryPolicy& policy, int retry, double unit_random) {
  double cap = absl::ToDoubleSeconds(policy.initial_backoff) *
               std::pow(policy.multiplier, std::max(0, retry - 1));
  cap = std::min(cap, absl::ToDoubleSeconds(policy.max_backoff));
  return absl::Seconds(cap * std::clamp(unit_random, 0.0, 1.0));
}

RateLimiter::RateLimiter(const RateLimitOptions& options, Clock* clock)
    : options_(options),
      clock_(clock),
      tokens_(std::max(1.0, options.burst)),
      last_refill_(clock->Now()) {}

absl::Status RateLimiter::Acquire(absl::Time deadline) {
  if (options_.requests_per_second <= 0) return absl::OkStatus();
  const double capacity = std::max(1.0, options_.burst);
  absl::Duration wait;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    tokens_ = std::min(capacity, tokens_ + absl::ToDoubleSeconds(now - last_refill_) *
                                               options_.requests_per_second);
    last_refill_ = now;
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return absl::OkStatus();
    }
    wait = absl::Seconds((1 - tokens_) / options_.requests_per_second);
    if (now + wait > deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "request budget (", options_.requests_per_second,
          "/s) has no capacity before the deadline; next slot in ", absl::FormatDuration(wait)));
    }
    // Reserve the token now (tokens_ goes negative) so concurrent callers queue up
    // behind us instead of all waking at once.
    tokens_ -= 1;
  }
  clock_->SleepFor(wait);
  return absl::OkStatus();
}

CircuitBreaker::CircuitBreaker(const CircuitBreakerOptions& options, Clock* clock)
    : options_(options), clock_(clock) {}

void CircuitBreaker::MaybeHalfOpen() {
  if (state_ == State::kOpen && clock_->Now() >= open_until_) {
    // A hold the CRM asked for (Retry-After) with too few failures to open the breaker
    // ends closed: the CRM is up, it only asked for quiet.
    state_ = held_ ? State::kClosed : State::kHalfOpen;
    held_ = false;
    trial_in_flight_ = false;
  }
}

std::string CircuitBreaker::OpenMessage() const {
  const absl::Duration left = std::max(absl::ZeroDuration(), open_until_ - clock_->Now());
  if (held_) {
    return absl::StrCat("holding off for ", absl::FormatDuration(left),
                        " as the CRM asked (Retry-After): ", last_error_);
  }
  return absl::StrCat("circuit open after ", consecutive_failures_, " failures: ", last_error_,
                      "; next trial in ", absl::FormatDuration(left));
}

absl::Status CircuitBreaker::Allow() {
  if (options_.failure_threshold <= 0) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  MaybeHalfOpen();
  switch (state_) {
    case State::kClosed:
      return absl::OkStatus();
    case State::kHalfOpen:
      if (!trial_in_flight_) {
        trial_in_flight_ = true;
        return absl::OkStatus();
      }
      return absl::UnavailableError(
          absl::StrCat("circuit half-open after ", consecutive_failures_,
                       " failures (a trial call is in flight): ", last_error_));
    case State::kOpen:
      break;
  }
  return absl::UnavailableError(OpenMessage());
}

void CircuitBreaker::RecordSuccess() {
  absl::MutexLock lock(&mu_);
  state_ = State::kClosed;
  consecutive_failures_ = 0;
  current_cool_down_ = absl::ZeroDuration();
  open_until_ = absl::InfinitePast();
  held_ = false;
  trial_in_flight_ = false;
}

void CircuitBreaker::RecordFailure(const absl::Status& error) {
  absl::MutexLock lock(&mu_);
  ++consecutive_failures_;
  last_error_ = std::string(error.message());
  trial_in_flight_ = false;
  if (options_.failure_threshold <= 0) return;
  if (state_ == State::kHalfOpen || consecutive_failures_ >= options_.failure_threshold) {
    // The first opening waits first_cool_down; every failed trial doubles the wait.
    const absl::Duration first =
        std::min(std::max(options_.first_cool_down, absl::ZeroDuration()), options_.cool_down);
    current_cool_down_ = current_cool_down_ <= absl::ZeroDuration()
                             ? first
                             : std::min(current_cool_down_ * 2, options_.cool_down);
    state_ = State::kOpen;
    held_ = false;
    open_until_ = std::max(open_until_, clock_->Now() + current_cool_down_);
  }
}

void CircuitBreaker::HoldUntil(absl::Time until, const absl::Status& error) {
  if (options_.failure_threshold <= 0) return;
  absl::MutexLock lock(&mu_);
  last_error_ = std::string(error.message());
  MaybeHalfOpen();
  if (state_ == State::kOpen && open_until_ >= until) return;
  // Opened by failures (or half-open after them): stays a failure opening, so the
  // hold's end lets one trial through; otherwise the hold ends closed.
  held_ = state_ == State::kClosed || (state_ == State::kOpen && held_);
  state_ = State::kOpen;
  open_until_ = until;
  trial_in_flight_ = false;
}

CircuitBreaker::State CircuitBreaker::state() {
  absl::MutexLock lock(&mu_);
  MaybeHalfOpen();
  return state_;
}

absl::Time CircuitBreaker::RetryAt() {
  absl::MutexLock lock(&mu_);
  MaybeHalfOpen();
  return state_ == State::kOpen ? open_until_ : absl::InfinitePast();
}

absl::string_view CircuitBreaker::StateName(State state) {
  switch (state) {
    case State::kClosed:
      return "closed";
    case State::kHalfOpen:
      return "half-open";
    case State::kOpen:
      break;
  }
  return "open";
}

std::string CircuitBreaker::Describe() {
  absl::MutexLock lock(&mu_);
  MaybeHalfOpen();
  if (state_ != State::kOpen) return std::string(StateName(state_));
  if (held_) return absl::StrCat("open (", OpenMessage(), ")");
  return absl::StrCat(
      "open (", consecutive_failures_, " failures; last: ", last_error_, "; next trial in ",
      absl::FormatDuration(std::max(absl::ZeroDuration(), open_until_ - clock_->Now())), ")");
}

ResilientHttp::ResilientHttp(std::string crm, HttpClient* client, const ResilienceOptions& options,
                             Clock* clock)
    : crm_(std::move(crm)),
      client_(client),
      options_(options),
      clock_(clock),
      limiter_(options.rate_limit, clock),
      breaker_(options.circuit_breaker, clock) {}

int ResilientHttp::max_in_flight() const {
  absl::MutexLock lock(&flight_mu_);
  return max_in_flight_;
}

absl::StatusOr<HttpResponse> ResilientHttp::Execute(HttpRequest request,
                                                    const ErrorClassifier& classify,
                                                    ExecuteStats* stats) {
  ExecuteStats local;
  if (stats == nullptr) stats = &local;
  *stats = ExecuteStats();
  const std::string call = DescribeCall(request.method, request.url);
  if (request.timeout <= absl::ZeroDuration()) request.timeout = options_.request_timeout;
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  absl::BitGen rng;
  absl::Status last;

  auto record = [&](const absl::Status& s) {
    absl::MutexLock lock(&mu_);
    if (s.ok()) {
      last_success_ = clock_->Now();
      last_error_.clear();
    } else {
      last_error_ = std::string(s.message());
    }
  };

  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (absl::Status allowed = breaker_.Allow(); !allowed.ok()) {
      absl::Status s =
          absl::UnavailableError(absl::StrCat(crm_, ": ", call, ": ", allowed.message()));
      // A refused call is not a new failure of the CRM; report the breaker as-is.
      if (attempt == 1 || last.ok()) return s;
      break;
    }
    if (absl::Status budget = limiter_.Acquire(request.deadline); !budget.ok()) {
      return absl::DeadlineExceededError(absl::StrCat(crm_, ": ", call, ": ", budget.message()));
    }
    ++stats->attempts;
    if (options_.max_concurrent_requests > 0) {
      // A slot among the CRM's concurrent requests, waited for within the deadline (on
      // the real clock: the wait is for another thread's response, not a backoff).
      absl::MutexLock lock(&flight_mu_);
      const auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(flight_mu_) {
        return in_flight_ < options_.max_concurrent_requests;
      };
      if (!flight_mu_.AwaitWithDeadline(absl::Condition(&free), request.deadline)) {
        return absl::DeadlineExceededError(absl::StrCat(
            crm_, ": ", call, ": no free slot among ", options_.max_concurrent_requests,
            " concurrent requests before the deadline"));
      }
      ++in_flight_;
      max_in_flight_ = std::max(max_in_flight_, in_flight_);
    }
    absl::StatusOr<HttpResponse> response = client_->Send(request);
    if (options_.max_concurrent_requests > 0) {
      absl::MutexLock lock(&flight_mu_);
      --in_flight_;
    }
    std::optional<absl::Duration> retry_after;
    if (!response.ok()) {
      last = absl::Status(response.status().code(),
                          absl::StrCat(crm_, ": ", response.status().message()));
      failed_attempts_.fetch_add(1, std::memory_order_relaxed);
      if (!IsRetryableTransport(response.status())) {
        record(last);
        return last;
      }
      breaker_.RecordFailure(last);
    } else if (response->status >= 200 && response->status < 300) {
      breaker_.RecordSuccess();
      record(absl::OkStatus());
      return response;
    } else {
      last = classify ? classify(*response, call)
                      : StatusFromHttp(response->status, crm_, call,
                                       absl::string_view(response->body).substr(0, 200));
      if (last.ok()) {  // The classifier insists this is fine.
        breaker_.RecordSuccess();
        record(last);
        return response;
      }
      failed_attempts_.fetch_add(1, std::memory_order_relaxed);
      if (response->status >= 500) {
        breaker_.RecordFailure(last);
      } else {
        // 4xx: the CRM answered; it is up.
        breaker_.RecordSuccess();
      }
      if (!IsRetryableHttpStatus(response->status)) {
        record(last);
        return last;
      }
      std::string header = response->Header("retry-after");
      if (!header.empty()) retry_after = ParseRetryAfter(header, clock_->Now());
      // Honour the CRM's request for quiet on every caller, not just this one: the
      // breaker refuses calls until then (Dataverse lengthens Retry-After for each
      // request sent during it), and the sync loop waits for RetryAt().
      if (retry_after.has_value() && *retry_after > absl::ZeroDuration()) {
        breaker_.HoldUntil(clock_->Now() + *retry_after, last);
      }
    }
    if (attempt == max_attempts) break;

    absl::Duration wait = BackoffDelay(options_.retry, attempt, absl::Uniform(rng, 0.0, 1.0));
    if (retry_after.has_value()) {
      if (*retry_after > options_.retry.max_retry_after) {
        last = absl::Status(
            last.code(), absl::StrCat(last.message(), " (Retry-After ",
                                      absl::FormatDuration(*retry_after), " exceeds limit ",
                                      absl::FormatDuration(options_.retry.max_retry_after), ")"));
        record(last);
        return last;
      }
      wait = std::max(wait, *retry_after);
    }
    if (clock_->Now() + wait >= request.deadline) {
      last =
          absl::Status(last.code(), absl::StrCat(last.message(), " (after ", attempt,
                                                 " attempts; deadline leaves no time to retry)"));
      record(last);
      return last;
    }
    clock_->SleepFor(wait);
    stats->slept += wait;
  }
  last = absl::Status(last.code(),
                      absl::StrCat(last.message(), " (after ", stats->attempts, " attempts)"));
  record(last);
  return last;
}

ConnectorHealth ResilientHttp::Health() {
  ConnectorHealth health;
  const CircuitBreaker::State state = breaker_.state();
  health.breaker = std::string(CircuitBreaker::StateName(state));
  health.retry_at = breaker_.RetryAt();
  const std::string described = breaker_.Describe();
  absl::MutexLock lock(&mu_);
  health.last_success = last_success_;
  if (state == CircuitBreaker::State::kOpen) {
    health.healthy = false;
    health.detail = absl::StrCat("circuit ", described);
  } else if (!last_error_.empty()) {
    health.healthy = false;
    health.detail = last_error_;
  } else {
    health.healthy = true;
    health.detail = "ok";
  }
  return health;
}

}  // namespace dealcoach::connectors
