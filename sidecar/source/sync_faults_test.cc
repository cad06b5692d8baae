// The cache syncs through CRM faults, against the wire-format stand-ins, with the
// shipped resilience defaults: a 5xx burst at start-up is probed again within seconds
// (the breaker's cool-down starts at 1 s and doubles per failed trial), a Retry-After
// holds every caller off until the CRM's time and the sync loop resumes right then, and
// answers from a sync that stopped part-way say so (freshness.partial) until a pass
// completes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/dynamics/dynamics_connector.h"
#include "connectors/dynamics/testing/fake_dynamics.h"
#include "connectors/hubspot/hubspot_connector.h"
#include "connectors/hubspot/testing/fake_hubspot.h"
#include "connectors/salesforce/salesforce_connector.h"
#include "connectors/salesforce/testing/fake_salesforce.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::source {
namespace {

using connectors::dynamics::DynamicsConnector;
using connectors::dynamics::FakeDynamics;
using connectors::hubspot::FakeHubSpot;
using connectors::hubspot::HubSpotConnector;
using connectors::salesforce::FakeSalesforce;
using connectors::salesforce::SalesforceConnector;
using connectors::salesforce::SalesforceOptions;
using connectors::testing::ScriptedResponse;

std::string Modstamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S.000+0000", t, absl::UTCTimeZone());
}

// The Salesforce connector with the shipped resilience defaults (retry, rate limit,
// breaker) unless `tune` changes them.
std::unique_ptr<connectors::Connector> ConnectSalesforce(
    const FakeSalesforce& sf, const std::function<void(SalesforceOptions*)>& tune = nullptr) {
  SalesforceOptions o;
  o.login_url = sf.base_url();
  o.client_id = FakeSalesforce::kClientId;
  o.client_secret = FakeSalesforce::kClientSecret;
  o.mapping = *connectors::OpportunityMapping::Parse(connectors::salesforce::kDefaultMappingYaml,
                                                     "default_mapping.yaml");
  if (tune) tune(&o);
  auto c = SalesforceConnector::Create(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::unique_ptr<connectors::Connector>(*std::move(c)) : nullptr;
}

// Collects the source's log lines.
struct LogLines {
  absl::Mutex mu;
  std::vector<std::string> lines ABSL_GUARDED_BY(mu);
  std::vector<std::string> warnings ABSL_GUARDED_BY(mu);  // the lines logged at warning
  std::function<void(bool, const std::string&)> Sink() {
    return [this](bool warning, const std::string& line) {
      absl::MutexLock lock(&mu);
      if (warning) warnings.push_back(line);
      lines.push_back(line);
    };
  }
  int Count(absl::string_view needle) {
    absl::MutexLock lock(&mu);
    int n = 0;
    for (const std::string& l : lines) n += absl::StrContains(l, needle);
    return n;
  }
};

// Before: the breaker stayed open 30 s per failed trial and the loop waited a whole
// sync_interval, so 8 errors at start-up meant no data for 2-3 minutes.
TEST(SyncFaultsTest, StartupBurstOfEightServerErrorsIsProbedAgainWithinSeconds) {
  FakeSalesforce sf;
  ASSERT_TRUE(sf.Start().ok());
  for (int i = 1; i <= 20; ++i) {
    sf.Upsert(FakeSalesforce::MakeOpportunity(i, "2026-11-18T10:00:00.000+0000"));
  }
  for (int i = 0; i < 8; ++i) {
    sf.server().Enqueue(
        "GET", FakeSalesforce::QueryPath(),
        ScriptedResponse::Json(503, R"([{"message":"down","errorCode":"SERVER_UNAVAILABLE"}])"));
  }
  LogLines log;
  SourceOptions o;  // shipped defaults: sync_interval 30 s, retry_after_failure 1 s
  o.log = log.Sink();
  auto source = OpportunitySource::Create(ConnectSalesforce(sf), o);
  const absl::Time start = absl::Now();
  source->Start();
  // Expected with the defaults: 4 attempts in the first pass (backoff <= 1.4 s), 1 s,
  // then the breaker opens at the 5th error and its trials wait 1, 2, 4 and 8 s.
  const absl::Duration bound = absl::Seconds(22);
  while (source->size() < 20 && absl::Now() - start < bound) absl::SleepFor(absl::Milliseconds(20));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(source->size(), 20u) << "no data after " << took;
  const std::vector<connectors::testing::RecordedRequest> requests = sf.server().requests();
  std::vector<absl::Time> queries;
  for (const auto& r : requests) {
    if (r.path == FakeSalesforce::QueryPath()) queries.push_back(r.at);
  }
  ASSERT_EQ(queries.size(), 9u) << "the open breaker must refuse calls without sending them";
  // The last 503 (the 8th) was probed again after at most the breaker's current
  // cool-down (8 s) plus scheduling slack: seconds, not minutes.
  const absl::Duration after_burst = queries[8] - queries[7];
  EXPECT_LE(after_burst, absl::Seconds(9));
  EXPECT_GE(after_burst, absl::Seconds(7));                      // the breaker did back off
  EXPECT_LE(queries[5] - queries[4], absl::Milliseconds(1500));  // first trial after ~1 s
  EXPECT_GE(log.Count("next sync attempt in"), 4);
  EXPECT_TRUE(source->Status().connector.healthy);
  EXPECT_EQ(source->Status().connector.breaker, "closed");
  std::printf("8 x 503 at start-up: data after %s; probe after the last error %s\n",
              absl::FormatDuration(took).c_str(), absl::FormatDuration(after_burst).c_str());
  source->Stop();
}

TEST(SyncFaultsTest, ThrottledPassMakesAnswersPartialUntilASyncCompletes) {
  FakeSalesforce sf;
  ASSERT_TRUE(sf.Start().ok());
  const absl::Time base = absl::FromUnixSeconds(1795000000);
  for (int i = 1; i <= 500; ++i) {
    sf.Upsert(FakeSalesforce::MakeOpportunity(i, Modstamp(base + absl::Seconds(i))));
  }
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(
      ConnectSalesforce(sf, [](SalesforceOptions* s) { s->page_size = 200; }), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  auto first = source->Get(FakeSalesforce::OpportunityId(450));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->freshness.partial());

  // Every deal changes; the org's API quota runs out after the first page of 200.
  for (int i = 1; i <= 500; ++i) {
    sf.Upsert(
        FakeSalesforce::MakeOpportunity(i, Modstamp(base + absl::Hours(1) + absl::Seconds(i))));
  }
  sf.SetRemainingApiRequests(1);
  absl::Status throttled = source->SyncOnce();
  ASSERT_EQ(throttled.code(), absl::StatusCode::kResourceExhausted) << throttled;

  // Delivered in the failed pass: current, not partial.
  auto delivered = source->Get(FakeSalesforce::OpportunityId(100));
  ASSERT_TRUE(delivered.ok());
  EXPECT_FALSE(delivered->freshness.partial()) << delivered->freshness.partial_reason();
  // Not reached: the answer says what is missing and why.
  auto missed = source->Get(FakeSalesforce::OpportunityId(450));
  ASSERT_TRUE(missed.ok());
  EXPECT_TRUE(missed->freshness.partial());
  const std::string& reason = missed->freshness.partial_reason();
  EXPECT_TRUE(absl::StartsWith(reason, "the last salesforce sync (started ")) << reason;
  EXPECT_TRUE(absl::StrContains(reason, "stopped after 200 deals")) << reason;
  EXPECT_TRUE(absl::StrContains(reason, "REQUEST_LIMIT_EXCEEDED")) << reason;
  EXPECT_TRUE(absl::StrContains(reason, "may be missing")) << reason;
  EXPECT_FALSE(missed->freshness.stale());  // recent data; only incomplete

  // The quota comes back: the next pass completes and nothing is partial any more.
  sf.SetRemainingApiRequests(-1);
  ASSERT_TRUE(source->SyncOnce().ok());
  auto after = source->Get(FakeSalesforce::OpportunityId(450));
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->freshness.partial());
  EXPECT_EQ(source->size(), 500u);
}

// Passes a connector through, calling `on_record` with each record's id before the
// cache sees it (to inject a fault at a known point of a pass).
class Watched : public connectors::Connector {
 public:
  Watched(std::unique_ptr<connectors::Connector> inner, std::function<void(const std::string&)> on)
      : inner_(std::move(inner)), on_(std::move(on)) {}
  absl::string_view type() const override { return inner_->type(); }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override {
    return inner_->FetchOpportunity(id, deadline);
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    return inner_->SyncChangedSince(since, [&](v1::Opportunity opp) {
      on_(opp.id());
      return sink(std::move(opp));
    });
  }
  connectors::ConnectorHealth Health() const override { return inner_->Health(); }

 private:
  std::unique_ptr<connectors::Connector> inner_;
  std::function<void(const std::string&)> on_;
};

// Issue 10 round 3: a HubSpot first sync whose listing fails on page 3 of 4 after its
// retries (4 x 503 with the shipped retry policy) keeps the 20 deals it delivered, and
// the next pass resumes at page 3's cursor: the cache ends with all 40, and pages 1 and
// 2 are not listed again.
TEST(SyncFaultsTest, HubSpotPassThatRunsOutOfRetriesIsResumedAndTheCacheEndsWithEveryDeal) {
  FakeHubSpot hs;
  ASSERT_TRUE(hs.Start().ok());
  for (int i = 1; i <= 40; ++i) {
    hs.AddSampleDeal(absl::StrCat(9100 + i),
                     absl::StrCat("2026-06-01T00:", i < 10 ? "0" : "", i, ":00Z"));
  }
  setenv("HUBSPOT_FAULTS_TOKEN", FakeHubSpot::kToken, 1);
  // The shipped resilience defaults; pages of 10.
  auto hubspot = HubSpotConnector::Create(
      YAML::Load(absl::StrCat("base_url: ", hs.base_url(),
                              "\naccess_token_env: HUBSPOT_FAULTS_TOKEN\npage_size: 10\n")),
      {"sidecar.yaml", ""});
  ASSERT_TRUE(hubspot.ok()) << hubspot.status();
  bool fail = true;
  auto watched = std::make_unique<Watched>(*std::move(hubspot), [&](const std::string& id) {
    // Page 1 is delivered while page 2 is enriched: page 3's listing fails.
    if (id == "9110" && std::exchange(fail, false)) {
      for (int i = 0; i < 4; ++i) {
        hs.server().Enqueue("GET", "/crm/v3/objects/deals",
                            ScriptedResponse::Json(503, R"({"status":"error",)"
                                                        R"("message":"Service Unavailable"})"));
      }
    }
  });
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(std::move(watched), o);
  auto afters = [&] {
    std::vector<std::string> out;
    for (const auto& r : hs.server().requests()) {
      if (r.method == "GET" && r.path == "/crm/v3/objects/deals") out.push_back(r.Param("after"));
    }
    return out;
  };
  const absl::Status failed = source->SyncOnce();
  ASSERT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_TRUE(absl::StrContains(failed.message(), "the next pass resumes at listing cursor 20"))
      << failed;
  EXPECT_EQ(source->size(), 20u);
  hs.server().ClearRequests();
  ASSERT_TRUE(source->SyncOnce().ok());
  EXPECT_EQ(afters(), (std::vector<std::string>{"20", "30"}));
  EXPECT_EQ(source->size(), 40u);
  for (int i = 1; i <= 40; ++i) {
    auto got = source->Get(absl::StrCat(9100 + i));
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_FALSE(got->freshness.partial()) << i;
  }
}

// Dataverse's service protection: a 429 with a Retry-After longer than the connector
// waits inside a call fails the pass; the breaker then refuses every call (a cache miss
// too) without sending it until the CRM's time, and the sync loop resumes right then.
// Item 7 of issue 10: every pass logs one line with the connector, pages, records,
// duration and the CRM errors it met; a failed pass logs at warning with the CRM's error.
TEST(SyncFaultsTest, EveryPassLogsOneLineWithPagesRecordsAndErrors) {
  FakeSalesforce sf;
  ASSERT_TRUE(sf.Start().ok());
  const absl::Time base = absl::FromUnixSeconds(1795000000);
  for (int i = 1; i <= 500; ++i) {
    sf.Upsert(FakeSalesforce::MakeOpportunity(i, Modstamp(base + absl::Seconds(i))));
  }
  // One 503 on the query, retried within the pass.
  sf.server().Enqueue(
      "GET", FakeSalesforce::QueryPath(),
      ScriptedResponse::Json(503, R"([{"message":"down","errorCode":"SERVER_UNAVAILABLE"}])"));
  LogLines log;
  SourceOptions o;
  o.background_sync = false;
  o.log = log.Sink();
  auto source = OpportunitySource::Create(
      ConnectSalesforce(sf, [](SalesforceOptions* s) { s->page_size = 200; }), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  std::vector<std::string> ok_lines;
  {
    absl::MutexLock lock(&log.mu);
    for (const std::string& l : log.lines) {
      if (absl::StrContains(l, "sync pass ok")) ok_lines.push_back(l);
    }
    EXPECT_TRUE(log.warnings.empty()) << log.warnings.front();
  }
  ASSERT_EQ(ok_lines.size(), 1u);
  EXPECT_TRUE(absl::StrContains(ok_lines[0], "connector=salesforce pages=3 records=500 duration="))
      << ok_lines[0];
  EXPECT_TRUE(absl::StrContains(ok_lines[0], " errors=1;")) << ok_lines[0];

  // Every deal changes; the org's API quota runs out after the first page.
  for (int i = 1; i <= 500; ++i) {
    sf.Upsert(
        FakeSalesforce::MakeOpportunity(i, Modstamp(base + absl::Hours(1) + absl::Seconds(i))));
  }
  sf.SetRemainingApiRequests(1);
  ASSERT_FALSE(source->SyncOnce().ok());
  absl::MutexLock lock(&log.mu);
  ASSERT_EQ(log.warnings.size(), 1u);
  const std::string& failed = log.warnings[0];
  EXPECT_TRUE(absl::StrContains(failed, "sync pass failed: connector=salesforce records=200"))
      << failed;
  EXPECT_TRUE(absl::StrContains(failed, "REQUEST_LIMIT_EXCEEDED")) << failed;
}

TEST(SyncFaultsTest, RetryAfterHoldsEveryCallerOffAndTheSyncResumesOnTime) {
  FakeDynamics dv;
  ASSERT_TRUE(dv.Start().ok());
  setenv("DYNAMICS_FAULTS_SECRET", FakeDynamics::kClientSecret, 1);
  for (int i = 1; i <= 5; ++i) dv.AddSample(i, "2026-05-03T08:15:00Z");
  ScriptedResponse limited = ScriptedResponse::Json(
      429, R"({"error":{"code":"0x80072322","message":"Number of requests exceeded the )"
           R"(limit of 6000 over time window of 300 seconds."}})");
  limited.headers = {{"Retry-After", "3"}};
  dv.server().Enqueue("GET", "/api/data/v9.2/opportunities", limited);
  auto connector = DynamicsConnector::Create(
      YAML::Load(absl::StrCat("org_url: ", dv.base_url(), "\nauthority: ", dv.base_url(),
                              "\ntenant_id: ", FakeDynamics::kTenant,
                              "\nclient_id: ", FakeDynamics::kClientId,
                              "\nclient_secret_env: DYNAMICS_FAULTS_SECRET\n"
                              "retry: {max_retry_after: 1s}\n")),
      {"sidecar.yaml", ""});
  ASSERT_TRUE(connector.ok()) << connector.status();
  SourceOptions o;
  auto source = OpportunitySource::Create(*std::move(connector), o);
  const absl::Time start = absl::Now();
  source->Start();
  // The first pass fails at once; the breaker holds off for the 3 s Dataverse asked for.
  while (source->Status().sync_passes < 1) absl::SleepFor(absl::Milliseconds(10));
  SourceStatus held = source->Status();
  EXPECT_EQ(held.connector.breaker, "open");
  EXPECT_TRUE(absl::StrContains(held.connector.detail, "as the CRM asked (Retry-After)"))
      << held.connector.detail;
  const int sent = dv.server().Count("GET", "/api/data/v9.2/opportunities");
  auto miss = source->Get(FakeDynamics::OpportunityId(2));
  EXPECT_EQ(miss.status().code(), absl::StatusCode::kUnavailable) << miss.status();
  EXPECT_EQ(dv.server().Count("GET", "/api/data/v9.2/opportunities"), sent);
  EXPECT_EQ(dv.server().Count(
                "GET", "/api/data/v9.2/opportunities(" + FakeDynamics::OpportunityId(2) + ")"),
            0);
  while (source->size() < 5 && absl::Now() - start < absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(source->size(), 5u) << "no data after " << took;
  EXPECT_GE(took, absl::Seconds(3));  // not before the CRM's time
  EXPECT_LE(took, absl::Seconds(5));  // and right after it, not a sync_interval later
  std::printf("429 Retry-After 3s: data after %s\n", absl::FormatDuration(took).c_str());
  source->Stop();
}

}  // namespace
}  // namespace dealcoach::source
