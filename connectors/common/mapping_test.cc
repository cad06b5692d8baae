#include "connectors/common/mapping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/util/time_util.h"

namespace dealcoach::connectors {
namespace {

using google::protobuf::util::TimeUtil;
using nlohmann::json;

constexpr char kMapping[] = R"(
opportunity:
  id: Id
  name: Name
  stage: StageName
  amount: Amount
  currency_code: {source: CurrencyIsoCode, default: USD}
  close_date: CloseDate
  created_at: CreatedDate
  updated_at: SystemModstamp
  forecast_category:
    source: ForecastCategoryName
    values: {"Best Case": best_case, Commit: commit, Pipeline: pipeline}
  is_closed: IsClosed
  account.id: AccountId
  account.name: Account.Name
  account.employees: Account.NumberOfEmployees
  owner.name: Owner.Name
  source_system: {value: salesforce}
fields:
  decision_to_change: {source: Decision_To_Change__c, type: bool}
  budget: {source: Budget__c, type: double}
  champion_since: {source: Champion_Since__c, type: date}
contacts:
  source: OpportunityContactRoles.records
  merge_by: id
  fields:
    id: ContactId
    name: Contact.Name
    title: Contact.Title
    is_primary: IsPrimary
    roles:
      source: Role
      values: {"Economic Buyer": economic_buyer, "Technical Buyer": technical_buyer}
activities:
  - source: Tasks.records
    fields: {id: Id, at: ActivityDate, subject: Subject, type: {value: task}}
  - source: Events.records
    fields: {id: Id, at: ActivityDateTime, subject: Subject, type: {value: meeting}}
stage_history:
  source: OpportunityHistories.records
  fields: {stage: StageName, entered_at: CreatedDate}
)";

const char kRecord[] = R"({
  "attributes": {"type": "Opportunity"},
  "Id": "006A", "Name": "Acme - 500 seats", "StageName": "Negotiation/Review",
  "Amount": 125000.0, "CloseDate": "2026-11-20", "CreatedDate": "2026-02-01T10:00:00.000+0000",
  "SystemModstamp": "2026-05-03T08:15:00.000+0000", "ForecastCategoryName": "Best Case",
  "IsClosed": false, "AccountId": "001A",
  "Account": {"Name": "Acme", "NumberOfEmployees": "1200"},
  "Owner": {"Name": "Rita Rep"},
  "Decision_To_Change__c": true, "Budget__c": "50000.5", "Champion_Since__c": "2026-03-04",
  "OpportunityContactRoles": {"records": [
    {"ContactId": "003A", "Role": "Economic Buyer", "IsPrimary": true,
     "Contact": {"Name": "Erin Econ", "Title": "CFO"}},
    {"ContactId": "003A", "Role": "Technical Buyer", "IsPrimary": false,
     "Contact": {"Name": "Erin Econ", "Title": "CFO"}},
    {"ContactId": "003B", "Role": "Other", "IsPrimary": false,
     "Contact": {"Name": "Tom Tech", "Title": null}}]},
  "Tasks": {"records": [{"Id": "00TA", "ActivityDate": "2026-04-01", "Subject": "Call"}]},
  "Events": {"records": [{"Id": "00UA", "ActivityDateTime": "2026-04-02T15:30:00Z",
                          "Subject": "Demo"}]},
  "OpportunityHistories": {"records": [
    {"StageName": "Prospecting", "CreatedDate": "2026-02-01T10:00:00.000+0000"},
    {"StageName": "Negotiation/Review", "CreatedDate": "2026-04-10T09:00:00.000+0000"}]}
})";

TEST(MappingTest, MapsEveryKindOfField) {
  absl::StatusOr<OpportunityMapping> m = OpportunityMapping::Parse(kMapping, "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  v1::Opportunity opp;
  MappingIssues issues;
  m->Apply(json::parse(kRecord), &opp, &issues);
  EXPECT_EQ(issues.count, 0) << (issues.samples.empty() ? "" : issues.samples[0]);

  EXPECT_EQ(opp.id(), "006A");
  EXPECT_EQ(opp.name(), "Acme - 500 seats");
  EXPECT_EQ(opp.stage(), "Negotiation/Review");
  ASSERT_TRUE(opp.has_amount());
  EXPECT_DOUBLE_EQ(opp.amount(), 125000.0);
  EXPECT_EQ(opp.currency_code(), "USD");  // default
  EXPECT_EQ(TimeUtil::ToString(opp.close_date()), "2026-11-20T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp.created_at()), "2026-02-01T10:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp.updated_at()), "2026-05-03T08:15:00Z");
  EXPECT_EQ(opp.forecast_category(), "best_case");
  ASSERT_TRUE(opp.has_is_closed());
  EXPECT_FALSE(opp.is_closed());
  EXPECT_FALSE(opp.has_is_won());
  EXPECT_FALSE(opp.has_next_step());
  EXPECT_EQ(opp.account().id(), "001A");
  EXPECT_EQ(opp.account().name(), "Acme");
  EXPECT_EQ(opp.account().employees(), 1200);
  EXPECT_EQ(opp.owner().name(), "Rita Rep");
  EXPECT_EQ(opp.source_system(), "salesforce");

  ASSERT_EQ(opp.fields().count("decision_to_change"), 1u);
  EXPECT_TRUE(opp.fields().at("decision_to_change").bool_value());
  EXPECT_DOUBLE_EQ(opp.fields().at("budget").double_value(), 50000.5);
  EXPECT_EQ(TimeUtil::ToString(opp.fields().at("champion_since").timestamp_value()),
            "2026-03-04T00:00:00Z");

  ASSERT_EQ(opp.contacts_size(), 2);  // the two 003A rows merge
  EXPECT_EQ(opp.contacts(0).id(), "003A");
  EXPECT_EQ(opp.contacts(0).name(), "Erin Econ");
  EXPECT_EQ(opp.contacts(0).title(), "CFO");
  ASSERT_EQ(opp.contacts(0).roles_size(), 2);
  EXPECT_EQ(opp.contacts(0).roles(0), "economic_buyer");
  EXPECT_EQ(opp.contacts(0).roles(1), "technical_buyer");
  EXPECT_FALSE(opp.contacts(0).is_primary());  // later row wins for scalars
  EXPECT_EQ(opp.contacts(1).id(), "003B");
  EXPECT_FALSE(opp.contacts(1).has_title());
  ASSERT_EQ(opp.contacts(1).roles_size(), 1);
  EXPECT_EQ(opp.contacts(1).roles(0), "Other");  // unmapped values pass through

  ASSERT_EQ(opp.activities_size(), 2);
  EXPECT_EQ(opp.activities(0).type(), "task");
  EXPECT_EQ(TimeUtil::ToString(opp.activities(0).at()), "2026-04-01T00:00:00Z");
  EXPECT_EQ(opp.activities(1).type(), "meeting");
  EXPECT_EQ(opp.activities(1).subject(), "Demo");
  EXPECT_EQ(TimeUtil::ToString(opp.activities(1).at()), "2026-04-02T15:30:00Z");

  ASSERT_EQ(opp.stage_history_size(), 2);
  EXPECT_EQ(opp.stage_history(1).stage(), "Negotiation/Review");
  EXPECT_EQ(TimeUtil::ToString(opp.stage_history(1).entered_at()), "2026-04-10T09:00:00Z");
}

TEST(MappingTest, BadValuesAreCountedAndLeftUnset) {
  auto m = OpportunityMapping::Parse(kMapping, "m.yaml");
  ASSERT_TRUE(m.ok());
  v1::Opportunity opp;
  MappingIssues issues;
  m->Apply(json::parse(R"({"Id":"1","Amount":"n/a","CloseDate":"someday",
                           "Decision_To_Change__c":"maybe","Tasks":{"records":5}})"),
           &opp, &issues);
  EXPECT_EQ(opp.id(), "1");
  EXPECT_FALSE(opp.has_amount());
  EXPECT_FALSE(opp.has_close_date());
  EXPECT_EQ(opp.fields().count("decision_to_change"), 0u);
  EXPECT_EQ(issues.count, 4);
  ASSERT_FALSE(issues.samples.empty());
  EXPECT_EQ(issues.samples[0], "amount: Amount: \"n/a\" is not a number");
}

TEST(MappingTest, HubSpotStyleStringsConvert) {
  auto m = OpportunityMapping::Parse(R"(
opportunity:
  amount: properties.amount
  close_date: properties.closedate
  is_won: properties.hs_is_closed_won
  updated_at: updatedAt
)",
                                     "hs.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  v1::Opportunity opp;
  m->Apply(json::parse(R"({"properties":{"amount":"1500.25","closedate":"2026-11-20T00:00:00Z",
                            "hs_is_closed_won":"true"},"updatedAt":"2026-05-04T11:00:00.123Z"})"),
           &opp, nullptr);
  EXPECT_DOUBLE_EQ(opp.amount(), 1500.25);
  EXPECT_TRUE(opp.is_won());
  EXPECT_EQ(TimeUtil::ToString(opp.close_date()), "2026-11-20T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp.updated_at()), "2026-05-04T11:00:00.123Z");
}

TEST(MappingTest, UnknownTargetIsALoadErrorWithPosition) {
  auto m = OpportunityMapping::Parse("opportunity:\n  id: Id\n  amont: Amount\n", "sf.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(m.status().message(),
            "sf.yaml:3:3: mapping: unknown target field 'amont' in Opportunity");
}

TEST(MappingTest, BadTypeNameIsALoadErrorWithPosition) {
  auto m = OpportunityMapping::Parse("fields:\n  x: {source: X__c, type: boolean_ish}\n", "f.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(),
            "f.yaml:2:27: mapping: unknown type 'boolean_ish'; use string, int, double, bool or "
            "timestamp");
}

TEST(MappingTest, CustomFieldNeedsType) {
  auto m = OpportunityMapping::Parse("fields:\n  x: X__c\n", "f.yaml");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(),
            "f.yaml:2:6: mapping: custom field 'x' needs a `type` (string, int, double, bool, "
            "timestamp)");
}

TEST(MappingTest, TypeMismatchAndUnknownSection) {
  auto a = OpportunityMapping::Parse("opportunity:\n  amount: {source: A, type: bool}\n", "a");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            "a:2:11: mapping: type 'bool' does not fit target 'amount' (double)");
  auto b = OpportunityMapping::Parse("contactz: {source: X}\n", "b");
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("b:1:1: mapping: unknown mapping section 'contactz'"),
            absl::string_view::npos);
}

// `when: {path: value}` keeps the rows whose field equals the value (field-history rows
// of one column) and names the filter in ListSources() for the query builders.
TEST(MappingTest, WhenMapKeepsRowsWhoseFieldsEqualTheValues) {
  auto m = OpportunityMapping::Parse(R"(
close_date_history:
  - source: Histories.records
    when: {Field: CloseDate}
    fields: {from_date: OldValue, to_date: NewValue, changed_at: CreatedDate}
)",
                                     "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  const auto lists = m->ListSources();
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].when_equals,
            (std::vector<std::pair<std::string, std::string>>{{"Field", "CloseDate"}}));
  EXPECT_NE(std::find(lists[0].fields.begin(), lists[0].fields.end(), "Field"),
            lists[0].fields.end());
  v1::Opportunity opp;
  m->Apply(json::parse(R"({"Histories":{"records":[
      {"Field":"CloseDate","OldValue":"2026-11-30","NewValue":"2026-12-15","CreatedDate":"2026-10-01T09:00:00Z"},
      {"Field":"Amount","OldValue":1000,"NewValue":2000,"CreatedDate":"2026-10-02T09:00:00Z"},
      {"Field":null,"OldValue":"2026-12-15","NewValue":"2027-01-15"},
      {"OldValue":"2026-12-15","NewValue":"2027-01-15"},
      {"Field":"CloseDate","OldValue":"2026-12-15","NewValue":"2026-12-01","CreatedDate":"2026-10-03T09:00:00Z"}]}})"),
           &opp, nullptr);
  ASSERT_EQ(opp.close_date_history_size(), 2);
  EXPECT_EQ(TimeUtil::ToString(opp.close_date_history(0).to_date()), "2026-12-15T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp.close_date_history(1).to_date()), "2026-12-01T00:00:00Z");
  // A map value that is not a scalar is a load error with its position.
  auto bad = OpportunityMapping::Parse(
      "close_date_history: {source: H.records, when: {Field: [a]}, fields: {to_date: X}}\n",
      "bad.yaml");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "bad.yaml:1:")) << bad.status();
}

TEST(MappingTest, MergeOverridesAndExtends) {
  auto m = OpportunityMapping::Parse(kMapping, "default.yaml");
  ASSERT_TRUE(m.ok());
  YAML::Node overrides = YAML::Load(R"(
opportunity:
  stage: Custom_Stage__c
fields:
  decision_to_change: {source: DTC__c, type: bool}
)");
  ASSERT_TRUE(m->Merge(overrides, "sidecar.yaml").ok());
  EXPECT_EQ(m->SourceFor("stage"), "Custom_Stage__c");
  EXPECT_EQ(m->SourceFor("name"), "Name");
  v1::Opportunity opp;
  m->Apply(json::parse(R"({"Id":"1","StageName":"old","Custom_Stage__c":"new","DTC__c":"false"})"),
           &opp, nullptr);
  EXPECT_EQ(opp.stage(), "new");
  EXPECT_FALSE(opp.fields().at("decision_to_change").bool_value());

  // A failed merge leaves the mapping unchanged.
  EXPECT_FALSE(m->Merge(YAML::Load("opportunity: {nope: X}"), "s.yaml").ok());
  EXPECT_EQ(m->SourceFor("stage"), "Custom_Stage__c");
}

// Item 4 of issue 10: every default can be removed by configuration, so a field the
// org does not have (or the admin does not want read) leaves the query.
TEST(MappingTest, NullOverrideRemovesADefaultFromTheMappingAndItsSources) {
  auto m = OpportunityMapping::Parse(kMapping, "default.yaml");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->SourceFor("stage"), "StageName");
  const auto sources = m->ScalarSources();
  ASSERT_NE(std::find(sources.begin(), sources.end(), "StageName"), sources.end());
  ASSERT_TRUE(m->Merge(YAML::Load("opportunity: {stage: ~}\ncontacts: ~\n"), "sidecar.yaml").ok());
  EXPECT_EQ(m->SourceFor("stage"), "");
  const auto after = m->ScalarSources();
  EXPECT_EQ(std::find(after.begin(), after.end(), "StageName"), after.end());
  for (const auto& list : m->ListSources()) EXPECT_NE(list.target, "contacts");
  v1::Opportunity opp;
  m->Apply(json::parse(R"({"Id":"1","StageName":"Prospecting"})"), &opp, nullptr);
  EXPECT_FALSE(opp.has_stage());
  EXPECT_EQ(opp.id(), "1");
  // Removing what nothing maps is a typo, reported with its position.
  absl::Status typo = m->Merge(YAML::Load("opportunity:\n  stgae: ~\n"), "sidecar.yaml");
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(typo.message().find("sidecar.yaml:2:3: mapping: cannot remove 'stgae'"),
            std::string::npos)
      << typo;
}

// Item 2 of issue 10: an org-specific value the mapping does not know (a role label
// "Procurement Lead") is kept as is and reported once in the log, not dropped silently.
TEST(MappingTest, UnmappedValueIsKeptAndLoggedOnce) {
  auto m = OpportunityMapping::Parse(R"(
contacts:
  source: rows
  fields:
    id: id
    roles: {source: role, values: {Champion: champion}}
)",
                                     "m");
  ASSERT_TRUE(m.ok()) << m.status();
  const json record = json::parse(
      R"({"rows":[{"id":"c1","role":"Procurement Lead"},{"id":"c2","role":"Champion"},
                 {"id":"c3","role":"Procurement Lead"}]})");
  ::testing::internal::CaptureStderr();
  v1::Opportunity opp;
  m->Apply(record, &opp, nullptr);
  v1::Opportunity again;
  m->Apply(record, &again, nullptr);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(opp.contacts_size(), 3);
  EXPECT_EQ(opp.contacts(0).roles(0), "Procurement Lead");
  EXPECT_EQ(opp.contacts(1).roles(0), "champion");
  size_t count = 0;
  for (size_t p = log.find("\"Procurement Lead\""); p != std::string::npos;
       p = log.find("\"Procurement Lead\"", p + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 1u) << log;
  EXPECT_NE(log.find("role value \"Procurement Lead\" has no entry under `values` for roles"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find("Champion"), std::string::npos) << log;
}

TEST(MappingTest, MultiSelectRolesSplitOnSemicolon) {
  auto m = OpportunityMapping::Parse(R"(
contacts:
  source: rows
  fields:
    id: id
    roles: {source: roles, values: {Coach: coach, Champion: champion}}
)",
                                     "m");
  ASSERT_TRUE(m.ok()) << m.status();
  v1::Opportunity opp;
  m->Apply(json::parse(R"({"rows":[{"id":"c1","roles":"Coach; Champion;Coach"}]})"), &opp, nullptr);
  ASSERT_EQ(opp.contacts_size(), 1);
  ASSERT_EQ(opp.contacts(0).roles_size(), 2);
  EXPECT_EQ(opp.contacts(0).roles(0), "coach");
  EXPECT_EQ(opp.contacts(0).roles(1), "champion");
}

TEST(ParseCrmTimeTest, Formats) {
  auto expect = [](const char* text, const char* rfc3339) {
    absl::StatusOr<absl::Time> t = ParseCrmTime(text);
    ASSERT_TRUE(t.ok()) << text;
    EXPECT_EQ(absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", *t, absl::UTCTimeZone()), rfc3339) << text;
  };
  expect("2026-11-20", "2026-11-20T00:00:00Z");
  expect("2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
  expect("2026-11-20T10:00:00.000+0000", "2026-11-20T10:00:00Z");
  expect("2026-11-20T10:00:00.5+01:00", "2026-11-20T09:00:00.5Z");
  expect("2026-11-20 10:00:00", "2026-11-20T10:00:00Z");
  EXPECT_FALSE(ParseCrmTime("20/11/2026").ok());
}

TEST(FindPathTest, ObjectsArraysAndMissing) {
  json j = json::parse(R"({"a":{"b":[{"c":1}]},"n":null})");
  ASSERT_NE(FindPath(j, "a.b.0.c"), nullptr);
  EXPECT_EQ(*FindPath(j, "a.b.0.c"), 1);
  EXPECT_EQ(FindPath(j, "a.b.1.c"), nullptr);
  EXPECT_EQ(FindPath(j, "a.x"), nullptr);
  ASSERT_NE(FindPath(j, "n"), nullptr);
  EXPECT_TRUE(FindPath(j, "n")->is_null());
}

TEST(MappingTest, RecordLevelListsAndCaseInsensitiveValues) {
  auto m = OpportunityMapping::Parse(R"(
artifacts:
  - source: .
    when: Mutual_Action_Plan__c
    fields: {kind: {value: mutual_action_plan}, customer_validated: Mutual_Action_Plan__c}
  - source: .
    when: Business_Case__c
    fields: {kind: {value: business_case}, url: Business_Case__c}
contacts:
  source: Roles
  fields:
    id: Id
    roles: {source: Role, values: {"Economic Buyer": economic_buyer}}
)",
                                     "m.yaml");
  ASSERT_TRUE(m.ok()) << m.status();
  // Record-level lists read top-level fields: adapters put them in the SELECT list.
  const std::vector<std::string> scalars = m->ScalarSources();
  EXPECT_NE(std::find(scalars.begin(), scalars.end(), "Mutual_Action_Plan__c"), scalars.end());
  EXPECT_NE(std::find(scalars.begin(), scalars.end(), "Business_Case__c"), scalars.end());
  for (const auto& list : m->ListSources()) EXPECT_NE(list.source, ".");

  v1::Opportunity opp;
  m->Apply(json::parse(R"({"Mutual_Action_Plan__c": true, "Business_Case__c": "",
                          "Roles": [{"Id": "c1", "Role": "ECONOMIC BUYER"},
                                    {"Id": "c2", "Role": "Chief Sponsor"}]})"),
           &opp, nullptr);
  ASSERT_EQ(opp.artifacts_size(), 1);  // an empty business case URL is no artifact
  EXPECT_EQ(opp.artifacts(0).kind(), "mutual_action_plan");
  EXPECT_TRUE(opp.artifacts(0).customer_validated());
  ASSERT_EQ(opp.contacts_size(), 2);
  EXPECT_EQ(opp.contacts(0).roles(0), "economic_buyer");  // case-insensitive
  EXPECT_EQ(opp.contacts(1).roles(0), "Chief Sponsor");   // unmapped: kept as is

  v1::Opportunity none;
  m->Apply(json::parse(R"({"Mutual_Action_Plan__c": false})"), &none, nullptr);
  EXPECT_EQ(none.artifacts_size(), 0);
}

}  // namespace
}  // namespace dealcoach::connectors
