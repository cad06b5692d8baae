#include "connectors/common/resilience.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "connectors/testing/http_test_server.h"

namespace dealcoach::connectors {
namespace {

using testing::HttpTestServer;
using testing::ScriptedResponse;

// A clock that only moves when slept on, so policies run instantly and exactly.
class FakeClock : public Clock {
 public:
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration d) override {
    absl::MutexLock lock(&mu_);
    now_ += d;
    slept_ += d;
  }
  void Advance(absl::Duration d) { SleepFor(d); }
  absl::Duration slept() {
    absl::MutexLock lock(&mu_);
    return slept_;
  }

 private:
  absl::Mutex mu_;
  // Starts at the real time: requests built from it carry deadlines libcurl honours.
  absl::Time now_ = absl::Now();
  absl::Duration slept_;
};

TEST(StatusFromHttpTest, MapsCodesAndNamesTheCall) {
  EXPECT_EQ(StatusCodeFromHttp(200), absl::StatusCode::kOk);
  EXPECT_EQ(StatusCodeFromHttp(400), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StatusCodeFromHttp(401), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(StatusCodeFromHttp(404), absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusCodeFromHttp(422), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusCodeFromHttp(429), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusCodeFromHttp(502), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(503), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StatusCodeFromHttp(504), absl::StatusCode::kUnavailable);
  absl::Status s = StatusFromHttp(503, "salesforce", "GET /services/data/v59.0/query", "busy");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(s.message(),
            "salesforce: GET /services/data/v59.0/query: 503 Service Unavailable: busy");
}

TEST(RetryAfterTest, SecondsAndHttpDate) {
  const absl::Time now = absl::FromUnixSeconds(1792000000);  // 2026-10-14T...
  EXPECT_EQ(ParseRetryAfter("120", now), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
  const std::string date =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now + absl::Seconds(30), absl::UTCTimeZone());
  EXPECT_EQ(ParseRetryAfter(date, now), absl::Seconds(30));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now), absl::ZeroDuration());
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
}

TEST(BackoffTest, FullJitterWithinCap) {
  RetryPolicy p;  // 200ms initial, x2, 10s max
  EXPECT_EQ(BackoffDelay(p, 1, 1.0), absl::Milliseconds(200));
  EXPECT_EQ(BackoffDelay(p, 3, 1.0), absl::Milliseconds(800));
  EXPECT_EQ(BackoffDelay(p, 3, 0.5), absl::Milliseconds(400));
  EXPECT_EQ(BackoffDelay(p, 20, 1.0), absl::Seconds(10));
  EXPECT_EQ(BackoffDelay(p, 2, 0.0), absl::ZeroDuration());
}

TEST(RateLimiterTest, BurstThenSteadyRate) {
  FakeClock clock;
  RateLimiter limiter({/*requests_per_second=*/10, /*burst=*/3}, &clock);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(limiter.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.slept(), absl::ZeroDuration());
  ASSERT_TRUE(limiter.Acquire(absl::InfiniteFuture()).ok());
  EXPECT_EQ(clock.slept(), absl::Milliseconds(100));
  // A token that would only arrive after the deadline is refused without sleeping.
  absl::Status s = limiter.Acquire(clock.Now() + absl::Milliseconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(clock.slept(), absl::Milliseconds(100));
}

CircuitBreakerOptions Breaker(int threshold, absl::Duration first, absl::Duration longest) {
  CircuitBreakerOptions o;
  o.failure_threshold = threshold;
  o.first_cool_down = first;
  o.cool_down = longest;
  return o;
}

TEST(CircuitBreakerTest, OpensHalfOpensAndCloses) {
  FakeClock clock;
  CircuitBreaker breaker(Breaker(2, absl::Seconds(1), absl::Seconds(30)), &clock);
  EXPECT_TRUE(breaker.Allow().ok());
  breaker.RecordFailure(absl::UnavailableError("503 one"));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kClosed);
  breaker.RecordFailure(absl::UnavailableError("503 two"));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(breaker.RetryAt(), clock.Now() + absl::Seconds(1));
  absl::Status refused = breaker.Allow();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "circuit open after 2 failures: 503 two; next trial in 1s");
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_EQ(breaker.RetryAt(), absl::InfinitePast());
  EXPECT_TRUE(breaker.Allow().ok());
  EXPECT_FALSE(breaker.Allow().ok());  // one trial at a time
  breaker.RecordFailure(absl::UnavailableError("503 three"));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kOpen);
  clock.Advance(absl::Seconds(2));
  EXPECT_TRUE(breaker.Allow().ok());
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ(breaker.Describe(), "closed");
}

// A burst at start-up is probed again within seconds: the first opening waits
// first_cool_down, each failed trial doubles it up to cool_down, a success resets it.
TEST(CircuitBreakerTest, CoolDownDoublesPerFailedTrialUpToTheCapAndResets) {
  FakeClock clock;
  CircuitBreaker breaker(Breaker(1, absl::Seconds(1), absl::Seconds(5)), &clock);
  std::vector<absl::Duration> waits;
  for (int trial = 0; trial < 5; ++trial) {
    ASSERT_TRUE(breaker.Allow().ok()) << trial;
    breaker.RecordFailure(absl::UnavailableError("503"));
    waits.push_back(breaker.RetryAt() - clock.Now());
    EXPECT_FALSE(breaker.Allow().ok());
    clock.Advance(waits.back());
  }
  EXPECT_EQ(waits,
            (std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2), absl::Seconds(4),
                                         absl::Seconds(5), absl::Seconds(5)}));
  ASSERT_TRUE(breaker.Allow().ok());
  breaker.RecordSuccess();
  breaker.RecordFailure(absl::UnavailableError("503 again"));
  EXPECT_EQ(breaker.RetryAt() - clock.Now(), absl::Seconds(1));
}

// Retry-After holds every caller off until then; a hold without enough failures to open
// the breaker ends closed (the CRM is up), one on top of failures ends half-open.
TEST(CircuitBreakerTest, HoldUntilRefusesEveryCallerUntilTheCrmsTime) {
  FakeClock clock;
  CircuitBreaker breaker(Breaker(3, absl::Seconds(1), absl::Seconds(30)), &clock);
  breaker.HoldUntil(clock.Now() + absl::Seconds(120), absl::ResourceExhaustedError("429 slow"));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(breaker.RetryAt(), clock.Now() + absl::Seconds(120));
  absl::Status refused = breaker.Allow();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(refused.message(), "holding off for 2m as the CRM asked (Retry-After): 429 slow");
  // A shorter hold does not shorten a longer one.
  breaker.HoldUntil(clock.Now() + absl::Seconds(5), absl::ResourceExhaustedError("429"));
  EXPECT_EQ(breaker.RetryAt(), clock.Now() + absl::Seconds(120));
  clock.Advance(absl::Seconds(120));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(breaker.Allow().ok());
  EXPECT_TRUE(breaker.Allow().ok());

  for (int i = 0; i < 3; ++i) breaker.RecordFailure(absl::UnavailableError("503"));
  breaker.HoldUntil(clock.Now() + absl::Seconds(10), absl::UnavailableError("503 wait"));
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(breaker.state(), CircuitBreaker::State::kHalfOpen);
}

class ResilientHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start().ok());
    HttpClientOptions o;
    client_ = *HttpClient::Create(o);
  }
  HttpRequest Get(absl::string_view path) {
    HttpRequest r;
    r.url = absl::StrCat(server_.base_url(), path);
    r.headers.push_back({"Authorization", "Bearer secret-token-123"});
    return r;
  }
  HttpTestServer server_;
  std::unique_ptr<HttpClient> client_;
  FakeClock clock_;
};

TEST_F(ResilientHttpTest, RetriesHonouringRetryAfter) {
  server_.Route("GET", "/x", [](const auto&) { return ScriptedResponse::Json(200, "ok"); });
  ScriptedResponse throttled = ScriptedResponse::Json(429, R"({"message":"slow down"})");
  throttled.headers.push_back({"Retry-After", "7"});
  server_.Enqueue("GET", "/x", throttled);
  server_.Enqueue("GET", "/x", ScriptedResponse::Json(503, "busy"));
  ResilienceOptions o;
  ResilientHttp http("testcrm", client_.get(), o, &clock_);
  ExecuteStats stats;
  absl::StatusOr<HttpResponse> r = http.Execute(Get("/x"), nullptr, &stats);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(stats.attempts, 3);
  EXPECT_EQ(server_.Count("GET", "/x"), 3);
  // 7 s for Retry-After plus at most 400 ms of jittered backoff for the 503.
  EXPECT_GE(stats.slept, absl::Seconds(7));
  EXPECT_LE(stats.slept, absl::Seconds(7) + absl::Milliseconds(400));
  EXPECT_TRUE(http.Health().healthy);
}

TEST_F(ResilientHttpTest, RetryAfterBeyondTheLimitHoldsOffEveryCaller) {
  server_.Route("GET", "/x", [](const auto&) { return ScriptedResponse::Json(200, "ok"); });
  ScriptedResponse throttled = ScriptedResponse::Json(429, R"({"message":"slow down"})");
  throttled.headers.push_back({"Retry-After", "300"});
  server_.Enqueue("GET", "/x", throttled);
  ResilientHttp http("testcrm", client_.get(), ResilienceOptions(), &clock_);
  absl::StatusOr<HttpResponse> r = http.Execute(Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  // Other callers are refused without touching the CRM until the time it named.
  absl::StatusOr<HttpResponse> other = http.Execute(Get("/x"));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("holding off for 5m as the CRM asked"),
            absl::string_view::npos)
      << other.status();
  EXPECT_EQ(server_.Count("GET", "/x"), 1);
  ConnectorHealth h = http.Health();
  EXPECT_EQ(h.breaker, "open");
  EXPECT_EQ(h.retry_at, clock_.Now() + absl::Seconds(300));
  clock_.Advance(absl::Seconds(300));
  EXPECT_TRUE(http.Execute(Get("/x")).ok());
  EXPECT_EQ(http.Health().breaker, "closed");
}

TEST_F(ResilientHttpTest, GivesUpAfterMaxAttemptsWithoutLeakingSecrets) {
  server_.Route("GET", "/x",
                [](const auto&) { return ScriptedResponse::Json(503, "down for maintenance"); });
  ResilienceOptions o;
  o.retry.max_attempts = 3;
  o.circuit_breaker.failure_threshold = 0;
  ResilientHttp http("testcrm", client_.get(), o, &clock_);
  HttpRequest req = Get("/x");
  req.url += "?token=secret-token-123";
  absl::StatusOr<HttpResponse> r = http.Execute(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "testcrm: GET /x: 503 Service Unavailable: down for maintenance (after 3 attempts)");
  EXPECT_EQ(server_.Count("GET", "/x"), 3);
  EXPECT_FALSE(http.Health().healthy);
}

TEST_F(ResilientHttpTest, RetryAfterBeyondDeadlineFailsFast) {
  ScriptedResponse throttled = ScriptedResponse::Json(429, "{}");
  throttled.headers.push_back({"Retry-After", "30"});
  server_.Enqueue("GET", "/x", throttled);
  ResilientHttp http("testcrm", client_.get(), ResilienceOptions(), &clock_);
  HttpRequest req = Get("/x");
  req.deadline = clock_.Now() + absl::Seconds(5);  // 30 s Retry-After does not fit
  req.timeout = absl::Seconds(5);
  absl::StatusOr<HttpResponse> r = http.Execute(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server_.Count("GET", "/x"), 1);
  EXPECT_EQ(clock_.slept(), absl::ZeroDuration());
}

TEST_F(ResilientHttpTest, ServerErrorBurstOpensBreaker) {
  server_.Route("GET", "/x", [](const auto&) { return ScriptedResponse::Json(502, "bad gw"); });
  ResilienceOptions o;
  o.retry.max_attempts = 2;
  o.circuit_breaker.failure_threshold = 4;
  ResilientHttp http("testcrm", client_.get(), o, &clock_);
  EXPECT_FALSE(http.Execute(Get("/x")).ok());
  EXPECT_FALSE(http.Execute(Get("/x")).ok());
  EXPECT_EQ(server_.Count("GET", "/x"), 4);
  absl::StatusOr<HttpResponse> r = http.Execute(Get("/x"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "testcrm: GET /x: circuit open after 4 failures: testcrm: GET /x: 502 Bad Gateway: "
            "bad gw; next trial in 1s");
  EXPECT_EQ(server_.Count("GET", "/x"), 4);  // refused without calling the CRM
  ConnectorHealth h = http.Health();
  EXPECT_FALSE(h.healthy);
  EXPECT_EQ(h.detail.rfind("circuit open (4 failures", 0), 0u) << h.detail;
  EXPECT_EQ(h.breaker, "open");
}

TEST_F(ResilientHttpTest, ClientErrorsAreNotRetried) {
  server_.Enqueue("GET", "/x", ScriptedResponse::Json(404, "nope"));
  ResilientHttp http("testcrm", client_.get(), ResilienceOptions(), &clock_);
  absl::StatusOr<HttpResponse> r =
      http.Execute(Get("/x"), [](const HttpResponse& resp, absl::string_view call) {
        return StatusFromHttp(resp.status, "testcrm", call, "custom detail");
      });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), "testcrm: GET /x: 404 Not Found: custom detail");
  EXPECT_EQ(server_.Count("GET", "/x"), 1);
}

}  // namespace
}  // namespace dealcoach::connectors
