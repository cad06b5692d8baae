#include "connectors/salesforce/salesforce_connector.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "connectors/registry.h"
#include "connectors/salesforce/testing/fake_salesforce.h"
#include "google/protobuf/util/time_util.h"

namespace dealcoach::connectors::salesforce {
namespace {

using google::protobuf::util::TimeUtil;
using nlohmann::json;
using testing::ScriptedResponse;

class SalesforceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sf_.Start().ok());
    sf_.Upsert(FakeSalesforce::MakeOpportunity(1, "2026-11-18T10:00:00.000+0000"));
  }

  SalesforceOptions Options() {
    SalesforceOptions o;
    o.login_url = sf_.base_url();
    o.client_id = FakeSalesforce::kClientId;
    o.client_secret = FakeSalesforce::kClientSecret;
    o.mapping = *OpportunityMapping::Parse(kDefaultMappingYaml, "default_mapping.yaml");
    o.resilience.retry.initial_backoff = absl::Milliseconds(5);
    o.resilience.rate_limit.requests_per_second = 0;
    o.resilience.request_timeout = absl::Seconds(5);
    return o;
  }

  std::unique_ptr<SalesforceConnector> Connect(SalesforceOptions o) {
    auto c = SalesforceConnector::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  int QueryRequests() { return sf_.server().Count("GET", FakeSalesforce::QueryPath()); }

  FakeSalesforce sf_;
};

TEST_F(SalesforceTest, FetchMapsEveryField) {
  auto sfc = Connect(Options());
  const std::string id = FakeSalesforce::OpportunityId(1);
  absl::StatusOr<v1::Opportunity> opp = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(opp.ok()) << opp.status();

  EXPECT_EQ(opp->id(), id);
  EXPECT_EQ(opp->name(), "Deal 1");
  EXPECT_EQ(opp->stage(), "Negotiation/Review");
  EXPECT_DOUBLE_EQ(opp->amount(), 2000.0);
  EXPECT_EQ(TimeUtil::ToString(opp->close_date()), "2026-12-15T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->created_at()), "2026-09-01T10:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->updated_at()), "2026-11-18T10:00:00Z");
  EXPECT_EQ(opp->forecast_category(), "commit");
  EXPECT_EQ(opp->next_step(), "Legal review");
  ASSERT_TRUE(opp->has_is_closed());
  EXPECT_FALSE(opp->is_closed());
  ASSERT_TRUE(opp->has_is_won());
  EXPECT_FALSE(opp->is_won());
  EXPECT_EQ(opp->account().id(), "0010000000001");
  EXPECT_EQ(opp->account().name(), "Account 1");
  EXPECT_EQ(opp->account().industry(), "Manufacturing");
  EXPECT_EQ(opp->account().employees(), 1200);
  EXPECT_EQ(opp->owner().id(), "005000000000001AAA");
  EXPECT_EQ(opp->owner().name(), "Rita Rep");
  EXPECT_EQ(opp->owner().manager_id(), "005000000000002AAA");
  EXPECT_EQ(opp->source_system(), "salesforce");
  EXPECT_EQ(opp->currency_code(), "");  // single-currency org: not mapped by default

  ASSERT_EQ(opp->contacts_size(), 2);
  const v1::Contact& erin = opp->contacts(0);
  EXPECT_EQ(erin.id(), "003000000000001AAA");
  EXPECT_EQ(erin.name(), "Erin Econ");
  EXPECT_EQ(erin.title(), "CFO");
  EXPECT_TRUE(erin.is_primary());
  ASSERT_EQ(erin.roles_size(), 2);
  EXPECT_EQ(erin.roles(0), "economic_buyer");
  EXPECT_EQ(erin.roles(1), "champion");
  const v1::Contact& tom = opp->contacts(1);
  EXPECT_EQ(tom.id(), "003000000000002AAA");
  EXPECT_FALSE(tom.has_title());
  EXPECT_FALSE(tom.is_primary());
  ASSERT_EQ(tom.roles_size(), 1);
  EXPECT_EQ(tom.roles(0), "technical_buyer");

  ASSERT_EQ(opp->activities_size(), 2);  // sorted oldest first
  EXPECT_EQ(opp->activities(0).id(), "00U000000000001AAA");
  EXPECT_EQ(opp->activities(0).type(), "meeting");
  EXPECT_EQ(opp->activities(0).subject(), "Demo");
  EXPECT_EQ(TimeUtil::ToString(opp->activities(0).at()), "2026-11-10T15:00:00Z");
  ASSERT_EQ(opp->activities(0).participant_ids_size(), 1);
  EXPECT_EQ(opp->activities(0).participant_ids(0), "003000000000002AAA");
  EXPECT_EQ(opp->activities(1).id(), "00T000000000001AAA");
  EXPECT_EQ(opp->activities(1).type(), "call");
  EXPECT_EQ(opp->activities(1).outcome(), "connected");
  EXPECT_EQ(TimeUtil::ToString(opp->activities(1).at()), "2026-11-12T00:00:00Z");

  ASSERT_EQ(opp->stage_history_size(), 2);  // the repeated Prospecting row collapses
  EXPECT_EQ(opp->stage_history(0).stage(), "Prospecting");
  EXPECT_EQ(TimeUtil::ToString(opp->stage_history(0).entered_at()), "2026-09-01T10:00:00Z");
  EXPECT_EQ(opp->stage_history(1).stage(), "Negotiation/Review");
  EXPECT_EQ(TimeUtil::ToString(opp->stage_entered_at()), "2026-11-01T09:00:00Z");
  // OpportunityHistory's CloseDate column, one snapshot per row (normalisation turns
  // them into the one push, 2026-11-30 → 2026-12-15).
  ASSERT_EQ(opp->close_date_history_size(), 3);
  EXPECT_EQ(TimeUtil::ToString(opp->close_date_history(2).to_date()), "2026-12-15T00:00:00Z");
  EXPECT_FALSE(opp->close_date_history(2).has_from_date());
  EXPECT_EQ(sfc->mapping_issue_count(), 0);

  // The wire: one token request with client credentials, then a bearer-authenticated query.
  EXPECT_EQ(sf_.token_requests(), 1);
  EXPECT_EQ(sf_.last_token_form()["grant_type"], "client_credentials");
  EXPECT_EQ(sf_.last_token_form()["client_secret"], FakeSalesforce::kClientSecret);
  ASSERT_EQ(sf_.queries().size(), 1u);
  const std::string soql = sf_.queries()[0];
  EXPECT_TRUE(absl::StartsWith(soql, "SELECT Account.Industry, Account.Name, "));
  EXPECT_TRUE(absl::StrContains(soql,
                                "(SELECT Contact.Name, Contact.Title, ContactId, IsPrimary, "
                                "Role FROM OpportunityContactRoles)"));
  EXPECT_TRUE(absl::StrContains(
      soql, "(SELECT CloseDate, CreatedDate, StageName FROM OpportunityHistories)"));
  EXPECT_TRUE(absl::EndsWith(soql, " FROM Opportunity WHERE Id = '" + id + "'")) << soql;
  const auto requests = sf_.server().requests();
  EXPECT_EQ(requests.back().Header("Authorization"), "Bearer 00Dfake!token-1");
  EXPECT_EQ(requests.back().Header("Sforce-Query-Options"), "batchSize=2000");
}

// Attendees beyond WhoId come from EventRelation, nested under Events (REST v58.0+):
// contacts and leads count, users (our side) do not, and duplicates of WhoId collapse.
TEST_F(SalesforceTest, MeetingAttendeesComeFromEventRelationsBeyondWhoId) {
  nlohmann::json record = FakeSalesforce::MakeOpportunity(7, "2026-11-18T10:00:00.000+0000");
  record["Events"]["records"][0]["EventRelations"] = {
      {"totalSize", 4},
      {"done", true},
      {"records", nlohmann::json::array({{{"RelationId", "003000000000002AAA"}},
                                         {{"RelationId", "003000000000009AAA"}},
                                         {{"RelationId", "00Q000000000004AAA"}},
                                         {{"RelationId", "005000000000001AAA"}}})}};
  sf_.Upsert(record);
  auto sfc = Connect(Options());
  auto opp =
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(7), absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(opp.ok()) << opp.status();
  const v1::Activity* meeting = nullptr;
  for (const v1::Activity& a : opp->activities()) {
    if (a.id() == "00U000000000001AAA") meeting = &a;
  }
  ASSERT_NE(meeting, nullptr);
  EXPECT_EQ(
      std::vector<std::string>(meeting->participant_ids().begin(),
                               meeting->participant_ids().end()),
      (std::vector<std::string>{"003000000000002AAA", "003000000000009AAA", "00Q000000000004AAA"}));
  EXPECT_TRUE(absl::StrContains(sf_.queries().back(),
                                "(SELECT ActivityDateTime, Id, Subject, WhoId, (SELECT RelationId "
                                "FROM EventRelations) FROM Events)"))
      << sf_.queries().back();
  // An Event without relations keeps its WhoId alone.
  auto plain =
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(plain.ok());
  for (const v1::Activity& a : plain->activities()) {
    if (a.id() == "00U000000000001AAA") {
      EXPECT_EQ(a.participant_ids_size(), 1);
    }
  }
}

TEST_F(SalesforceTest, NotFoundAndInvalidId) {
  auto sfc = Connect(Options());
  auto missing = sfc->FetchOpportunity("006000000009999AAA", absl::Now() + absl::Seconds(5));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "salesforce: GET /services/data/v59.0/query: no Opportunity with Id "
            "006000000009999AAA");
  auto bad = sfc->FetchOpportunity("x' OR Name != '", absl::Now() + absl::Seconds(5));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(QueryRequests(), 1);
}

TEST_F(SalesforceTest, SyncFollowsNextRecordsUrlAndIsIncremental) {
  for (int i = 2; i <= 5; ++i) {
    sf_.Upsert(
        FakeSalesforce::MakeOpportunity(i, absl::StrCat("2026-11-19T0", i, ":00:00.000+0000")));
  }
  SalesforceOptions o = Options();
  o.page_size = 2;
  auto sfc = Connect(std::move(o));
  std::vector<std::string> names;
  auto sink = [&](v1::Opportunity opp) {
    names.push_back(opp.name());
    return absl::OkStatus();
  };
  absl::StatusOr<SyncResult> first = sfc->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->count, 5);
  EXPECT_EQ(names, std::vector<std::string>({"Deal 1", "Deal 2", "Deal 3", "Deal 4", "Deal 5"}));
  EXPECT_EQ(absl::FormatTime(absl::RFC3339_full, first->high_water_mark, absl::UTCTimeZone()),
            "2026-11-19T05:00:00+00:00");
  EXPECT_EQ(QueryRequests(), 1);
  EXPECT_EQ(sf_.server().Count("GET", "/services/data/v59.0/query/01gFAKE1-2"), 1);
  EXPECT_EQ(sf_.server().Count("GET", "/services/data/v59.0/query/01gFAKE1-4"), 1);
  EXPECT_TRUE(absl::EndsWith(sf_.queries()[0], " FROM Opportunity ORDER BY SystemModstamp ASC"));

  // Next pass: only records modified at or after the high-water mark.
  sf_.Upsert(FakeSalesforce::MakeOpportunity(6, "2026-11-19T07:00:00.000+0000"));
  names.clear();
  absl::StatusOr<SyncResult> second = sfc->SyncChangedSince(first->high_water_mark, sink);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(names, std::vector<std::string>({"Deal 5", "Deal 6"}));
  EXPECT_TRUE(absl::EndsWith(sf_.queries()[1],
                             " FROM Opportunity WHERE SystemModstamp >= 2026-11-19T05:00:00Z "
                             "ORDER BY SystemModstamp ASC"));
  EXPECT_EQ(sf_.token_requests(), 1);  // the token is reused
}

TEST_F(SalesforceTest, ExpiredTokenRefreshesOnceAndRetries) {
  auto sfc = Connect(Options());
  const std::string id = FakeSalesforce::OpportunityId(1);
  ASSERT_TRUE(sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5)).ok());
  sf_.ExpireTokens();
  absl::StatusOr<v1::Opportunity> opp = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(opp.ok()) << opp.status();
  EXPECT_EQ(sf_.token_requests(), 2);
  EXPECT_EQ(QueryRequests(), 3);  // ok, 401, retried ok
  EXPECT_EQ(sf_.server().requests().back().Header("Authorization"), "Bearer 00Dfake!token-2");

  // A session that stays invalid is reported after exactly one refresh.
  const std::string body =
      R"([{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}])";
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), ScriptedResponse::Json(401, body));
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), ScriptedResponse::Json(401, body));
  absl::StatusOr<v1::Opportunity> denied =
      sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(denied.status().message(),
            "salesforce: GET /services/data/v59.0/query: 401 Unauthorized: INVALID_SESSION_ID: "
            "Session expired or invalid");
  EXPECT_EQ(sf_.token_requests(), 3);
  EXPECT_EQ(QueryRequests(), 5);
}

TEST_F(SalesforceTest, BadClientSecretIsUnauthenticatedWithoutLeakingIt) {
  SalesforceOptions o = Options();
  o.client_secret = "wrong-secret-value";
  auto sfc = Connect(std::move(o));
  auto r = sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(),
            "salesforce: POST /services/oauth2/token: 400 Bad Request: invalid_client: invalid "
            "client credentials");
  EXPECT_EQ(QueryRequests(), 0);
}

TEST_F(SalesforceTest, ThrottlingHonoursRetryAfter) {
  auto sfc = Connect(Options());
  const std::string id = FakeSalesforce::OpportunityId(1);
  ASSERT_TRUE(sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5)).ok());  // token
  ScriptedResponse throttled =
      ScriptedResponse::Json(429, R"([{"message":"slow","errorCode":"X"}])");
  throttled.headers.push_back({"Retry-After", "1"});
  ScriptedResponse unavailable = ScriptedResponse::Json(503, "Service Unavailable");
  unavailable.headers.push_back({"Retry-After", "1"});
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), throttled);
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), unavailable);
  const absl::Time start = absl::Now();
  absl::StatusOr<v1::Opportunity> opp = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(20));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(opp.ok()) << opp.status();
  EXPECT_EQ(QueryRequests(), 4);  // first fetch + 429 + 503 + success
  EXPECT_GE(took, absl::Seconds(2));
  EXPECT_LT(took, absl::Seconds(10));
  // The two retried requests arrived at least Retry-After apart.
  const auto requests = sf_.server().requests();
  ASSERT_GE(requests.size(), 3u);
  const size_t n = requests.size();
  EXPECT_GE(requests[n - 1].at - requests[n - 2].at, absl::Milliseconds(950));
  EXPECT_GE(requests[n - 2].at - requests[n - 3].at, absl::Milliseconds(950));
}

TEST_F(SalesforceTest, ServerErrorBurstOpensCircuitBreaker) {
  SalesforceOptions o = Options();
  o.resilience.retry.max_attempts = 3;
  o.resilience.circuit_breaker.failure_threshold = 3;
  o.resilience.circuit_breaker.cool_down = absl::Minutes(5);
  o.resilience.circuit_breaker.first_cool_down = absl::Minutes(5);
  auto sfc = Connect(std::move(o));
  const std::string id = FakeSalesforce::OpportunityId(1);
  ASSERT_TRUE(sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5)).ok());
  for (int i = 0; i < 3; ++i) {
    sf_.server().Enqueue(
        "GET", FakeSalesforce::QueryPath(),
        ScriptedResponse::Json(503, R"([{"message":"down","errorCode":"SERVER_UNAVAILABLE"}])"));
  }
  auto failed = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(),
            "salesforce: GET /services/data/v59.0/query: 503 Service Unavailable: "
            "SERVER_UNAVAILABLE: down (after 3 attempts)");
  EXPECT_EQ(QueryRequests(), 4);
  // Open: the next call is refused without reaching Salesforce.
  auto refused = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(refused.status().message(),
                               "salesforce: GET /services/data/v59.0/query: circuit open after 3 "
                               "failures"))
      << refused.status();
  EXPECT_EQ(QueryRequests(), 4);
  ConnectorHealth health = sfc->Health();
  EXPECT_FALSE(health.healthy);
  EXPECT_TRUE(absl::StartsWith(health.detail, "circuit open (3 failures")) << health.detail;
}

// Item 5 of issue 10: a malformed page in the middle of a sync is asked for again and
// the pass completes with every deal (nothing lost, no restart from page 1).
TEST_F(SalesforceTest, MalformedPageMidSyncIsRetriedAndThePassCompletes) {
  for (int i = 2; i <= 450; ++i) {
    sf_.Upsert(FakeSalesforce::MakeOpportunity(
        i, absl::FormatTime("%Y-%m-%dT%H:%M:%S.000+0000",
                            absl::FromUnixSeconds(1795000000) + absl::Seconds(i),
                            absl::UTCTimeZone())));
  }
  SalesforceOptions o = Options();
  o.page_size = 200;
  auto sfc = Connect(std::move(o));
  ASSERT_NE(sfc, nullptr);
  // The first query's cursor is 01gFAKE1; its second page (records 200..399) comes back
  // cut short once.
  const std::string page2 = FakeSalesforce::QueryPath() + "/01gFAKE1-200";
  sf_.server().Enqueue("GET", page2,
                       ScriptedResponse::Json(200, R"({"totalSize":450,"done":false,"recor)"));
  std::set<std::string> ids;
  int delivered = 0;
  auto result = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    ids.insert(opp.id());
    ++delivered;
    return absl::OkStatus();
  });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(ids.size(), 450u);
  EXPECT_EQ(delivered, 450);  // nothing delivered twice: the pass never restarted
  EXPECT_EQ(sf_.server().Count("GET", page2), 2);
  EXPECT_EQ(sf_.queries().size(), 1u);
}

TEST_F(SalesforceTest, MalformedJsonIsACleanError) {
  auto sfc = Connect(Options());
  // Item 5 of issue 10: a malformed page is asked for again before the call fails.
  for (int i = 0; i < 3; ++i) {
    sf_.server().Enqueue(
        "GET", FakeSalesforce::QueryPath(),
        ScriptedResponse::Json(200, R"({"totalSize":1,"done":true,"records":[{"Id":)"));
  }
  auto r = sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(),
            "salesforce: GET /services/data/v59.0/query: response is not valid JSON (44 bytes, "
            "3 times)");
  EXPECT_EQ(QueryRequests(), 3);
  // A well-formed body of the wrong shape is schema drift.
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(),
                       ScriptedResponse::Json(200, R"({"rows":[]})"));
  auto shape =
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(shape.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(SalesforceTest, SlowResponsePastTimeoutIsDeadlineExceeded) {
  SalesforceOptions o = Options();
  o.resilience.request_timeout = absl::Milliseconds(300);
  o.resilience.retry.max_attempts = 2;
  auto sfc = Connect(std::move(o));
  const std::string id = FakeSalesforce::OpportunityId(1);
  ASSERT_TRUE(sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5)).ok());
  for (int i = 0; i < 2; ++i) {
    ScriptedResponse slow = ScriptedResponse::Json(200, "{}");
    slow.delay = absl::Seconds(3);
    sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), slow);
  }
  const absl::Time start = absl::Now();
  auto r = sfc->FetchOpportunity(id, absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StartsWith(r.status().message(),
                               "salesforce: GET /services/data/v59.0/query: timed out after"))
      << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // The caller's deadline bounds the whole call, retries included.
  ScriptedResponse slow = ScriptedResponse::Json(200, "{}");
  slow.delay = absl::Seconds(3);
  sf_.server().Enqueue("GET", FakeSalesforce::QueryPath(), slow);
  const absl::Time start2 = absl::Now();
  auto r2 = sfc->FetchOpportunity(id, absl::Now() + absl::Milliseconds(150));
  EXPECT_EQ(r2.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start2, absl::Seconds(1));
}

TEST_F(SalesforceTest, RequestLimitExceededIsResourceExhaustedAndNotRetried) {
  auto sfc = Connect(Options());
  sf_.SetRemainingApiRequests(0);
  auto r = sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(),
            "salesforce: GET /services/data/v59.0/query: 403 Forbidden: REQUEST_LIMIT_EXCEEDED: "
            "TotalRequests Limit exceeded.");
  EXPECT_EQ(QueryRequests(), 1);
}

TEST_F(SalesforceTest, InvalidFieldIsSchemaDrift) {
  auto sfc = Connect(Options());
  sf_.server().Enqueue(
      "GET", FakeSalesforce::QueryPath(),
      ScriptedResponse::Json(
          400,
          R"([{"message":"No such column 'Decision__c' on entity 'Opportunity'.","errorCode":"INVALID_FIELD"}])"));
  auto r = sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "INVALID_FIELD: No such column"));
}

TEST_F(SalesforceTest, ColumnsTheOrgLacksAreDroppedAndTheSyncCompletes) {
  // A multi-currency field in a single-currency org, a custom field on a child object
  // the org never created.
  SalesforceOptions o = Options();
  ASSERT_TRUE(o.mapping
                  .Merge(YAML::Load("opportunity: {currency_code: CurrencyIsoCode}\n"
                                    "fields: {decision_to_change: {source: Decision_To_Change__c, "
                                    "type: bool}}\n"),
                         "org.yaml")
                  .ok());
  sf_.SetMissingColumns({"Opportunity.CurrencyIsoCode", "Opportunity.Decision_To_Change__c"});
  // The fallback for what describe does not cover: the query's INVALID_FIELD.
  o.describe_fields = false;
  auto sfc = Connect(std::move(o));
  ASSERT_NE(sfc, nullptr);
  EXPECT_TRUE(absl::StrContains(sfc->select_clause(), "CurrencyIsoCode"));
  std::vector<v1::Opportunity> got;
  auto r = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    got.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].name(), "Deal 1");  // the rest of the record still maps
  EXPECT_EQ(sfc->dropped_columns(),
            (std::vector<std::string>{"Opportunity.CurrencyIsoCode",
                                      "Opportunity.Decision_To_Change__c"}));
  EXPECT_FALSE(absl::StrContains(sfc->select_clause(), "CurrencyIsoCode"));
  EXPECT_FALSE(absl::StrContains(sfc->select_clause(), "Decision_To_Change__c"));
  EXPECT_TRUE(absl::StrContains(sfc->Health().detail, "Opportunity.CurrencyIsoCode"));
  // Found once: the next call sends the reduced query straight away.
  const int before = QueryRequests();
  ASSERT_TRUE(
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(QueryRequests(), before + 1);
}

// Item 4 of issue 10: fields the default mapping (or the admin's) asks for but this org
// lacks -- a multi-currency field in a single-currency org, a standard field hidden from
// the integration user's profile, a custom field on a child object or a parent object
// the org never created -- are found from describe before the first query and left out
// of it, with a warning each; the sync completes on its first query.
TEST_F(SalesforceTest, DescribeFindsFieldsTheOrgLacksBeforeTheFirstQuery) {
  SalesforceOptions o = Options();
  ASSERT_TRUE(o.mapping
                  .Merge(YAML::Load("opportunity: {currency_code: CurrencyIsoCode}\n"
                                    "fields: {decision_to_change: {source: Decision_To_Change__c, "
                                    "type: bool}}\n"),
                         "org.yaml")
                  .ok());
  sf_.SetMissingColumns({"Opportunity.CurrencyIsoCode", "Opportunity.Decision_To_Change__c",
                         "Opportunity.NextStep", "Account.Industry", "Contact.Title"});
  // The org's records do not carry them either.
  nlohmann::json record = FakeSalesforce::MakeOpportunity(1, "2026-11-18T10:00:00.000+0000");
  record.erase("NextStep");
  record["Account"].erase("Industry");
  for (auto& role : record["OpportunityContactRoles"]["records"]) role["Contact"].erase("Title");
  sf_.Upsert(record);
  auto sfc = Connect(std::move(o));
  ASSERT_NE(sfc, nullptr);
  std::vector<v1::Opportunity> got;
  auto r = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    got.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_GE(sf_.describe_requests(), 4);  // Opportunity, Account, User, the child objects
  // One query, already without them: nothing failed on the way.
  ASSERT_EQ(sf_.queries().size(), 1u);
  const std::string soql = sf_.queries()[0];
  for (const char* absent : {"CurrencyIsoCode", "Decision_To_Change__c", "NextStep",
                             "Account.Industry", "Contact.Title"}) {
    EXPECT_FALSE(absl::StrContains(soql, absent)) << absent << " in " << soql;
  }
  EXPECT_TRUE(absl::StrContains(soql, "Account.Name")) << soql;
  EXPECT_TRUE(absl::StrContains(soql, "Contact.Name")) << soql;
  const std::vector<std::string> dropped = sfc->dropped_columns();
  EXPECT_EQ(
      std::set<std::string>(dropped.begin(), dropped.end()),
      (std::set<std::string>{"Opportunity.CurrencyIsoCode", "Opportunity.Decision_To_Change__c",
                             "Opportunity.NextStep", "Account.Industry", "Contact.Title"}));
  // The rest of the record maps; the dropped fields are unset, not defaulted.
  EXPECT_EQ(got[0].name(), "Deal 1");
  EXPECT_FALSE(got[0].has_next_step());
  EXPECT_FALSE(got[0].account().has_industry());
  EXPECT_FALSE(got[0].account().name().empty());
  ASSERT_GT(got[0].contacts_size(), 0);
  EXPECT_FALSE(got[0].contacts(0).has_title());
  EXPECT_TRUE(absl::StrContains(sfc->Health().detail, "Opportunity.NextStep"));
  // Described once: the next query goes straight out.
  const int describes = sf_.describe_requests();
  ASSERT_TRUE(
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5)).ok());
  EXPECT_EQ(sf_.describe_requests(), describes);
}

// Issue 10 round 3: every hop of a relationship path is checked (Account → its Owner →
// a field of User; Owner → Manager → Name), each object described once; a path with a
// hop or field the org lacks is left out of the query with one warning naming it.
TEST_F(SalesforceTest, DescribeChecksEveryHopOfARelationshipPath) {
  SalesforceOptions o = Options();
  ASSERT_TRUE(o.mapping
                  .Merge(YAML::Load("fields:\n"
                                    "  account_owner: {source: Account.Owner.Name, type: string}\n"
                                    "  manager_name: {source: Owner.Manager.Name, type: string}\n"
                                    "  owner_department: {source: Account.Owner.Department, "
                                    "type: string}\n"
                                    "  mentor: {source: Owner.Mentor.Name, type: string}\n"),
                         "org.yaml")
                  .ok());
  sf_.SetMissingColumns({"User.Department"});
  nlohmann::json record = FakeSalesforce::MakeOpportunity(1, "2026-11-18T10:00:00.000+0000");
  record["Account"]["Owner"] = {{"attributes", {{"type", "User"}}}, {"Name", "Alice Owner"}};
  record["Owner"]["Manager"] = {{"attributes", {{"type", "User"}}}, {"Name", "Mona Manager"}};
  sf_.Upsert(record);
  auto sfc = Connect(std::move(o));
  ASSERT_NE(sfc, nullptr);
  std::vector<v1::Opportunity> got;
  ::testing::internal::CaptureStderr();
  auto r = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    got.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5)).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(got.size(), 1u);
  // One query, without the two paths the org cannot answer.
  ASSERT_EQ(sf_.queries().size(), 2u);
  const std::string soql = sf_.queries()[0];
  EXPECT_TRUE(absl::StrContains(soql, "Account.Owner.Name")) << soql;
  EXPECT_TRUE(absl::StrContains(soql, "Owner.Manager.Name")) << soql;
  EXPECT_FALSE(absl::StrContains(soql, "Department")) << soql;
  EXPECT_FALSE(absl::StrContains(soql, "Mentor")) << soql;
  EXPECT_EQ(got[0].fields().at("account_owner").string_value(), "Alice Owner");
  EXPECT_EQ(got[0].fields().at("manager_name").string_value(), "Mona Manager");
  EXPECT_EQ(got[0].fields().count("owner_department"), 0u);
  const std::vector<std::string> dropped = sfc->dropped_columns();
  EXPECT_EQ(std::set<std::string>(dropped.begin(), dropped.end()),
            (std::set<std::string>{"Opportunity.Account.Owner.Department",
                                   "Opportunity.Owner.Mentor.Name"}));
  // One warning per path, naming it and the hop that is missing.
  for (const char* w : {"this org has no Opportunity.Account.Owner.Department (describe: User has "
                        "no field Department)",
                        "this org has no Opportunity.Owner.Mentor.Name (describe: User has no "
                        "relationship Mentor)"}) {
    size_t n = 0;
    for (size_t p = log.find(w); p != std::string::npos; p = log.find(w, p + 1)) ++n;
    EXPECT_EQ(n, 1u) << w << " in:\n" << log;
  }
  // Each object described once for the whole start-up, however many paths reach it.
  for (const char* object : {"Opportunity", "Account", "User"}) {
    EXPECT_EQ(sf_.describe_requests(object), 1) << object;
  }
}

namespace {

// "2026-11-30" plus `days`.
std::string Day(int days) {
  return absl::FormatTime(
      "%Y-%m-%d",
      absl::FromCivil(absl::CivilDay(2026, 11, 30), absl::UTCTimeZone()) + absl::Hours(24 * days),
      absl::UTCTimeZone());
}

}  // namespace

// Issue 10 round 3: close-date pushes from OpportunityFieldHistory (Field = 'CloseDate',
// OldValue → NewValue) as well as OpportunityHistory; an org that records a change in
// both counts it once. Deal i has i % 4 pushes and one pull-in; odd deals have field
// history only, even ones both.
TEST_F(SalesforceTest, CloseDatePushesFromFieldHistoryAndOpportunityHistory) {
  std::map<std::string, int> expected;
  for (int i = 1; i <= 24; ++i) {
    nlohmann::json record = FakeSalesforce::MakeOpportunity(
        i, absl::StrCat("2026-11-18T10:00:", i < 10 ? "0" : "", i, ".000+0000"));
    const int pushes = i % 4;
    // Dates: start, then `pushes` moves later by 10 days each, then one pull-in by 3.
    std::vector<std::string> dates = {Day(0)};
    for (int p = 1; p <= pushes; ++p) dates.push_back(Day(10 * p));
    dates.push_back(Day(10 * pushes - 3));
    nlohmann::json field_rows = nlohmann::json::array(), snapshots = nlohmann::json::array();
    auto at = [](size_t k) { return absl::StrCat("2026-10-0", k + 1, "T09:00:00.000+0000"); };
    snapshots.push_back(
        {{"StageName", "Prospecting"}, {"CloseDate", dates[0]}, {"CreatedDate", at(0)}});
    for (size_t k = 1; k < dates.size(); ++k) {
      field_rows.push_back({{"Field", "CloseDate"},
                            {"DataType", "Date"},
                            {"OldValue", dates[k - 1]},
                            {"NewValue", dates[k]},
                            {"CreatedDate", at(k)}});
      field_rows.push_back({{"Field", "Amount"},  // another tracked field: not a push
                            {"DataType", "Currency"},
                            {"OldValue", 1000},
                            {"NewValue", 2000},
                            {"CreatedDate", at(k)}});
      snapshots.push_back(
          {{"StageName", "Prospecting"}, {"CloseDate", dates[k]}, {"CreatedDate", at(k)}});
    }
    record["Histories"] = {
        {"totalSize", field_rows.size()}, {"done", true}, {"records", field_rows}};
    if (i % 2 == 1) {
      record["OpportunityHistories"] = {
          {"totalSize", 0}, {"done", true}, {"records", nlohmann::json::array()}};
    } else {
      record["OpportunityHistories"] = {
          {"totalSize", snapshots.size()}, {"done", true}, {"records", snapshots}};
    }
    sf_.Upsert(record);
    expected[FakeSalesforce::OpportunityId(i)] = pushes;
  }
  auto sfc = Connect(Options());
  ASSERT_NE(sfc, nullptr);
  std::map<std::string, v1::Opportunity> got;
  auto r = sfc->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    got[opp.id()] = std::move(opp);
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // Only the CloseDate rows are fetched.
  EXPECT_TRUE(absl::StrContains(sf_.queries()[0], "FROM Histories WHERE Field IN ('CloseDate'))"))
      << sf_.queries()[0];
  for (const auto& [id, pushes] : expected) {
    if (id == FakeSalesforce::OpportunityId(1)) continue;  // the fixture's own deal 1
    const v1::Opportunity& o = got[id];
    int counted = 0;
    for (const auto& h : o.close_date_history()) {
      counted +=
          TimeUtil::TimestampToSeconds(h.to_date()) > TimeUtil::TimestampToSeconds(h.from_date());
    }
    EXPECT_EQ(counted, pushes) << id;
    EXPECT_EQ(o.close_date_history_size(), pushes + 1) << id;  // the pushes and the pull-in
    for (int k = 1; k < o.close_date_history_size(); ++k) {
      EXPECT_LE(TimeUtil::TimestampToSeconds(o.close_date_history(k - 1).changed_at()),
                TimeUtil::TimestampToSeconds(o.close_date_history(k).changed_at()));
    }
    EXPECT_TRUE(o.not_recorded().empty()) << id;
  }
}

// Where history is not readable (a profile without access to the history objects, or
// an org without them), the subqueries are left out and the pushes are unknown, never
// zero; with only field history unreadable, OpportunityHistory still counts them.
TEST_F(SalesforceTest, UnreadableHistoryLeavesPushesUnknownNotZero) {
  {
    sf_.SetHiddenRelationships({"Histories"});
    auto sfc = Connect(Options());
    ASSERT_NE(sfc, nullptr);
    auto got =
        sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(absl::StrContains(sf_.queries().back(), "FROM Histories"));
    // The three OpportunityHistory snapshots (11-30, 11-30, 12-15); normalisation makes
    // them one change.
    EXPECT_EQ(got->close_date_history_size(), 3);
    EXPECT_TRUE(got->not_recorded().empty());
  }
  sf_.SetHiddenRelationships({"Histories", "OpportunityHistories"});
  // Nor do its records carry them.
  nlohmann::json record = FakeSalesforce::MakeOpportunity(1, "2026-11-18T10:00:00.000+0000");
  record.erase("OpportunityHistories");
  sf_.Upsert(record);
  auto sfc = Connect(Options());
  ASSERT_NE(sfc, nullptr);
  auto got =
      sfc->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  const std::string soql = sf_.queries().back();
  EXPECT_FALSE(absl::StrContains(soql, "Histories")) << soql;
  EXPECT_EQ(got->close_date_history_size(), 0);
  EXPECT_EQ(std::vector<std::string>(got->not_recorded().begin(), got->not_recorded().end()),
            (std::vector<std::string>{"close_date_history", "stage_history"}));
  EXPECT_TRUE(absl::StrContains(sfc->Health().detail, "Opportunity.OpportunityHistories"))
      << sfc->Health().detail;
}

TEST_F(SalesforceTest, ThrottledSyncResumesFromWhereItStopped) {
  // 1000 deals, 5 pages of 200; the org's API quota runs out after 3 requests per pass.
  const absl::Time base = absl::FromUnixSeconds(1795000000);
  for (int i = 1; i <= 1000; ++i) {
    sf_.Upsert(FakeSalesforce::MakeOpportunity(
        i, absl::FormatTime("%Y-%m-%dT%H:%M:%S.000+0000", base + absl::Seconds(i),
                            absl::UTCTimeZone())));
  }
  SalesforceOptions o = Options();
  o.page_size = 200;
  // Describe calls would count against the 3-request quota this test measures.
  o.describe_fields = false;
  auto sfc = Connect(std::move(o));
  std::set<std::string> seen;
  int delivered = 0;
  auto sink = [&](v1::Opportunity opp) {
    seen.insert(opp.id());
    ++delivered;
    return absl::OkStatus();
  };
  sf_.SetRemainingApiRequests(3);
  absl::StatusOr<SyncResult> first = sfc->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_EQ(first.status().code(), absl::StatusCode::kResourceExhausted) << first.status();
  EXPECT_TRUE(absl::StrContains(first.status().message(), "after 600 records")) << first.status();
  EXPECT_EQ(seen.size(), 600u);
  // The quota comes back; the same `since` resumes at the 600th deal's modstamp, so
  // three requests finish the remaining pages instead of restarting at page 1.
  sf_.SetRemainingApiRequests(3);
  absl::StatusOr<SyncResult> second = sfc->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(delivered, 1001);  // the deal at the resume mark, twice
  EXPECT_TRUE(absl::StrContains(sf_.queries().back(), "WHERE SystemModstamp >= "));
  EXPECT_EQ(absl::ToUnixSeconds(second->high_water_mark), 1795000000 + 1000);
  // Done: a later pass from the same `since` starts from the beginning again.
  sf_.SetRemainingApiRequests(-1);
  absl::StatusOr<SyncResult> third = sfc->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->count, 1000);
}

std::string WriteRsaKey(EVP_PKEY** key_out) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  const std::string path = ::testing::TempDir() + "/sf_jwt_key.pem";
  FILE* f = std::fopen(path.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  *key_out = key;
  return path;
}

TEST_F(SalesforceTest, FactoryWithJwtBearerFlowAndMappingOverride) {
  EVP_PKEY* key = nullptr;
  const std::string key_path = WriteRsaKey(&key);
  ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  const std::string yaml = absl::StrCat(R"(
type: salesforce
salesforce:
  login_url: )",
                                        sf_.base_url(), R"(
  client_id: )",
                                        FakeSalesforce::kClientId, R"(
  jwt: {username: integration@acme.com, private_key_file: )",
                                        key_path, R"(}
  retry: {max_attempts: 2, initial_backoff: 10ms}
  mapping:
    fields:
      next_step_length: {source: NextStep, type: string}
)");
  auto c = CreateConnector(YAML::Load(yaml), ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->type(), "salesforce");
  auto opp =
      (*c)->FetchOpportunity(FakeSalesforce::OpportunityId(1), absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(opp.ok()) << opp.status();
  EXPECT_EQ(opp->fields().at("next_step_length").string_value(), "Legal review");
  auto form = sf_.last_token_form();
  EXPECT_EQ(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
  std::vector<std::string> parts = absl::StrSplit(form["assertion"], '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string claims_text;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &claims_text));
  json claims = json::parse(claims_text);
  EXPECT_EQ(claims["iss"], FakeSalesforce::kClientId);
  EXPECT_EQ(claims["sub"], "integration@acme.com");
  EXPECT_EQ(claims["aud"], "https://login.salesforce.com");
  EXPECT_GT(claims["exp"].get<int64_t>(), absl::ToUnixSeconds(absl::Now()));
  // The signature verifies with the public half of the key.
  std::string signature;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &signature));
  const std::string input = parts[0] + "." + parts[1];
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
}

TEST_F(SalesforceTest, FactoryConfigErrors) {
  ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  auto inline_secret = CreateConnector(YAML::Load(R"(type: salesforce
salesforce:
  login_url: https://acme.my.salesforce.com
  client_id: x
  client_secret: hunter2
)"),
                                       ctx);
  ASSERT_FALSE(inline_secret.ok());
  EXPECT_EQ(inline_secret.status().message(),
            "sidecar.yaml:5:18: inline `client_secret` is not allowed: secrets come from "
            "`client_secret_env: VAR` or `client_secret_file: /path`")
      << inline_secret.status();
  setenv("DC_SF_TEST_SECRET", "abc", 1);
  auto bad_mapping = CreateConnector(YAML::Load(R"(type: salesforce
salesforce:
  login_url: https://acme.my.salesforce.com
  client_id: x
  client_secret_env: DC_SF_TEST_SECRET
  mapping:
    opportunity: {amout: Amount}
)"),
                                     ctx);
  ASSERT_FALSE(bad_mapping.ok());
  EXPECT_EQ(bad_mapping.status().message(),
            "sidecar.yaml:7:19: mapping: unknown target field 'amout' in Opportunity")
      << bad_mapping.status();
  auto typo = CreateConnector(YAML::Load(R"(type: salesforce
salesforce: {login_url: https://x, client_id: x, client_secret_env: DC_SF_TEST_SECRET, tls_verfy: false}
)"),
                              ctx);
  EXPECT_TRUE(absl::StartsWith(typo.status().message(),
                               "sidecar.yaml:2:88: unknown key 'tls_verfy'; known keys: "))
      << typo.status();
}

}  // namespace
}  // namespace dealcoach::connectors::salesforce
