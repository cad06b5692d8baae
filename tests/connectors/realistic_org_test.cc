// One realistic sales org, 500 deals, loaded into each CRM's wire-format stand-in
// (Salesforce, HubSpot, Dataverse) in that CRM's own shapes: contact roles with each
// CRM's role labels, meetings and calls with attendees (past and booked), stage and
// close-date history, custom methodology fields. Each connector syncs the whole org; the
// canonical opportunity is normalised and evaluated with the shipped customer-journey
// playbook, and, deal by deal, the evidence phase must equal the one computed
// independently from the generated data by the playbook's gate definitions written out
// in C++ below. The distribution must be sane (not all Awareness) and identical on all
// three CRMs, and no won deal may be told to confirm the pain or to multi-thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "connectors/dynamics/dynamics_connector.h"
#include "connectors/dynamics/testing/fake_dynamics.h"
#include "connectors/hubspot/hubspot_connector.h"
#include "connectors/hubspot/testing/fake_hubspot.h"
#include "connectors/salesforce/salesforce_connector.h"
#include "connectors/salesforce/testing/fake_salesforce.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/engine.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach {
namespace {

using nlohmann::json;

constexpr int kDeals = 500;

absl::Time Now() { return absl::FromUnixSeconds(1795176000); }  // 2026-11-20T12:00:00Z

std::string Iso(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}
std::string SfTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%S.000+0000", t, absl::UTCTimeZone());
}
std::string Day(absl::Time t) { return absl::FormatTime("%Y-%m-%d", t, absl::UTCTimeZone()); }

// Deterministic generator (no std:: distributions: their output is implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
  uint32_t Next() {
    s_ = s_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s_ >> 33);
  }
  int Below(int n) { return static_cast<int>(Next() % static_cast<uint32_t>(n)); }
  bool Chance(int percent) { return Below(100) < percent; }

 private:
  uint64_t s_;
};

// ---------------------------------------------------------------------------------
// The org, CRM-neutral.

enum class Role { kEconomicBuyer, kChampion, kCoach, kTechnicalBuyer, kUserBuyer };

struct Person {
  std::string name, title;
  Role role;
  std::optional<bool> pain;  // nullopt: nobody recorded it
  std::optional<std::string> sentiment;
};

struct Meeting {
  int contact;     // index into contacts
  int days_ago;    // negative: booked in the future
  bool call;       // a call rather than a meeting
  bool completed;  // false: no-show (past) or scheduled (future)
};

struct Deal {
  int index = 0;
  int stage = 0;  // index into kSfStages
  double amount = 0;
  absl::Time created, close;
  std::vector<int> close_pushes_days;  // each push moves the close date later
  std::vector<Person> contacts;
  std::vector<Meeting> meetings;
  std::optional<bool> decision_to_change;
  std::string decision_criteria, paper_process;
  bool business_case_validated = false, technical_validation = false, map_validated = false;
  bool won = false, lost = false;
  std::optional<int> go_live_days_ago;
  bool value_realized = false;
};

const char* const kSfStages[] = {
    "Prospecting",         "Qualification",       "Needs Analysis",       "Value Proposition",
    "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review",
    "Closed Won",          "Closed Lost"};
const char* const kHsStages[] = {"appointmentscheduled",
                                 "appointmentscheduled",
                                 "qualifiedtobuy",
                                 "qualifiedtobuy",
                                 "presentationscheduled",
                                 "decisionmakerboughtin",
                                 "contractsent",
                                 "contractsent",
                                 "closedwon",
                                 "closedlost"};
const int kDvSalesStage[] = {0, 0, 1, 1, 1, 2, 2, 3, 3, 3};
constexpr int kWon = 8, kLost = 9;

// How far the customer really got: the stage the rep picked, minus some optimism.
Deal MakeDeal(int i) {
  Rng rng(static_cast<uint64_t>(i) + 1);
  Deal d;
  d.index = i;
  const int r = rng.Below(100);
  d.stage = r < 14   ? 0
            : r < 26 ? 1
            : r < 36 ? 2
            : r < 45 ? 3
            : r < 53 ? 4
            : r < 61 ? 5
            : r < 69 ? 6
            : r < 76 ? 7
            : r < 90 ? kWon
                     : kLost;
  d.won = d.stage == kWon;
  d.lost = d.stage == kLost;
  // Evidence level: the phase the customer is really in (0 awareness .. 4 implementation).
  const int claimed = d.won ? 4 : d.lost ? rng.Below(4) : d.stage / 2;
  int level = claimed;
  if (!d.won && level > 0 && rng.Chance(30)) level -= 1 + rng.Below(level);  // optimism
  d.amount = 5000.0 * (1 + rng.Below(120));
  d.created = Now() - absl::Hours(24 * (30 + rng.Below(300)));
  d.close = Now() + absl::Hours(24 * (rng.Below(120) - 20));
  for (int p = rng.Below(4); p > 0; --p) d.close_pushes_days.push_back(7 + rng.Below(40));

  // The buying center.
  const int people = level == 0 ? rng.Below(3) : 2 + rng.Below(3);
  static const char* const kFirst[] = {"Ana", "Ben", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hiro"};
  static const char* const kLast[] = {"Ng", "Okafor", "Silva", "Weber", "Kowalski", "Tanaka"};
  for (int p = 0; p < people; ++p) {
    Person person;
    person.name = absl::StrCat(kFirst[rng.Below(8)], " ", kLast[rng.Below(6)], " ", i, "-", p);
    person.title = p == 0 ? "VP Operations" : p == 1 ? "Director IT" : "Manager";
    person.role = p == 0 ? (level >= 1 || rng.Chance(40) ? Role::kEconomicBuyer : Role::kUserBuyer)
                  : p == 1 ? (rng.Chance(60) ? Role::kChampion : Role::kCoach)
                  : p == 2 ? Role::kTechnicalBuyer
                           : Role::kUserBuyer;
    // Confirmed pain: recorded on every contact of deals past awareness, on some below.
    if (level >= 1 || rng.Chance(50)) person.pain = level >= 1 ? p < 3 : rng.Chance(40);
    if (person.role == Role::kChampion || person.role == Role::kCoach) {
      if (level >= 2 || rng.Chance(60)) {
        person.sentiment = level >= 2 || rng.Chance(50) ? "positive" : "neutral";
      }
    }
    d.contacts.push_back(std::move(person));
  }
  // Meetings and calls: past ones with outcomes, and some booked for next week.
  for (int m = 0; m < static_cast<int>(d.contacts.size()) * 2; ++m) {
    Meeting meeting;
    meeting.contact = rng.Below(static_cast<int>(d.contacts.size()));
    meeting.call = rng.Chance(30);
    meeting.days_ago = 1 + rng.Below(60);
    meeting.completed = rng.Chance(85);
    // The economic buyer is met only once the deal is really in evaluation.
    if (d.contacts[meeting.contact].role == Role::kEconomicBuyer && level < 3) {
      meeting.days_ago = -(1 + rng.Below(10));  // booked, not held
      meeting.completed = false;
    }
    d.meetings.push_back(meeting);
  }
  if (level >= 3 && !d.contacts.empty()) d.meetings.push_back({0, 3 + rng.Below(20), false, true});
  if (!d.contacts.empty() && rng.Chance(50)) {
    d.meetings.push_back({rng.Below(static_cast<int>(d.contacts.size())), -7, false, false});
  }

  if (level >= 1 || rng.Chance(40)) d.decision_to_change = level >= 1 || rng.Chance(30);
  if (level >= 2 || rng.Chance(20)) d.decision_criteria = "TCO, integration with SAP, security";
  d.business_case_validated = level >= 3 || (level == 2 && rng.Chance(30));
  d.technical_validation = level >= 3 || (level == 2 && rng.Chance(30));
  d.map_validated = level >= 4 || (level == 3 && rng.Chance(40));
  if (level >= 4 || (level == 3 && rng.Chance(50))) d.paper_process = "Legal, then procurement";
  if (d.won) {
    if (rng.Chance(70)) d.go_live_days_ago = rng.Chance(70) ? 10 + rng.Below(200) : -30;
    d.value_realized = rng.Chance(50);
    // A won deal passed awareness: the pain is recorded, or the CRM has no record of it.
    if (d.contacts.size() < 2) {
      d.contacts.push_back({absl::StrCat("Extra Person ", i), "CFO", Role::kUserBuyer, true, {}});
    }
  }
  return d;
}

std::vector<Deal> MakeOrg() {
  std::vector<Deal> org;
  for (int i = 0; i < kDeals; ++i) org.push_back(MakeDeal(i));
  return org;
}

// ---------------------------------------------------------------------------------
// The independent expectation: customer-journey's gates over the neutral data.

int ExpectedPhase(const Deal& d) {
  auto has_role = [&](Role r) {
    for (const Person& p : d.contacts) {
      if (p.role == r) return true;
    }
    return false;
  };
  int pains = 0;
  for (const Person& p : d.contacts) pains += p.pain.value_or(false) ? 1 : 0;
  const bool awareness = pains >= 2 && d.decision_to_change.value_or(false);
  bool champion = false;
  for (const Person& p : d.contacts) {
    champion |= (p.role == Role::kChampion || p.role == Role::kCoach) && p.sentiment == "positive";
  }
  const bool consideration =
      has_role(Role::kEconomicBuyer) && champion && !d.decision_criteria.empty();
  bool eb_met = false;
  for (const Meeting& m : d.meetings) {
    eb_met |= d.contacts[m.contact].role == Role::kEconomicBuyer && m.days_ago > 0 && m.completed;
  }
  const bool evaluation = eb_met && d.business_case_validated && d.technical_validation;
  const bool decision = d.map_validated && !d.paper_process.empty() && d.won;
  const bool implementation =
      d.go_live_days_ago.has_value() && *d.go_live_days_ago > 0 && d.value_realized;
  const bool gates[] = {awareness, consideration, evaluation, decision, implementation};
  for (int i = 0; i < 5; ++i) {
    if (!gates[i]) return i;
  }
  return 4;
}

const char* const kPhases[] = {"awareness", "consideration", "evaluation", "decision",
                               "implementation"};

absl::Time MeetingTime(const Meeting& m) { return Now() - absl::Hours(24 * m.days_ago); }

// ---------------------------------------------------------------------------------
// Salesforce's shapes.

const char* SfRole(Role r) {
  switch (r) {
    case Role::kEconomicBuyer:
      return "Economic Buyer";
    case Role::kChampion:
      return "Executive Sponsor";
    case Role::kCoach:
      return "Influencer";
    case Role::kTechnicalBuyer:
      return "Technical Buyer";
    case Role::kUserBuyer:
      return "Business User";
  }
  return "Other";
}

std::string SfContactId(const Deal& d, int p) {
  return absl::StrFormat("003%09d%03dAAA", d.index, p);
}

json SalesforceRecord(const Deal& d) {
  const std::string id = connectors::salesforce::FakeSalesforce::OpportunityId(d.index);
  json ocr = json::array();
  for (size_t p = 0; p < d.contacts.size(); ++p) {
    const Person& person = d.contacts[p];
    ocr.push_back({{"ContactId", SfContactId(d, static_cast<int>(p))},
                   {"Role", SfRole(person.role)},
                   {"IsPrimary", p == 0},
                   // A checkbox: never null in Salesforce.
                   {"Confirmed_Pain__c", person.pain.value_or(false)},
                   {"Sentiment__c", person.sentiment ? json(*person.sentiment) : json(nullptr)},
                   {"Contact", {{"Name", person.name}, {"Title", person.title}}}});
  }
  json tasks = json::array(), events = json::array();
  for (size_t m = 0; m < d.meetings.size(); ++m) {
    const Meeting& meeting = d.meetings[m];
    const std::string who = SfContactId(d, meeting.contact);
    if (meeting.call) {
      tasks.push_back({{"Id", absl::StrFormat("00T%09d%03dAAA", d.index, m)},
                       {"ActivityDate", Day(MeetingTime(meeting))},
                       {"Subject", "Call"},
                       {"TaskSubtype", "Call"},
                       {"CallDisposition", meeting.completed ? "Connected" : "No_Answer"},
                       {"WhoId", who}});
    } else if (meeting.completed || meeting.days_ago < 0) {
      // Salesforce has no no-show outcome on Event: a missed meeting is deleted.
      events.push_back({{"Id", absl::StrFormat("00U%09d%03dAAA", d.index, m)},
                        {"ActivityDateTime", SfTime(MeetingTime(meeting))},
                        {"Subject", "Meeting"},
                        {"WhoId", who}});
    }
  }
  // OpportunityHistory: a row per change of a tracked field, stage and close date as of
  // that moment (consecutive rows often repeat the stage).
  json history = json::array();
  absl::Time close = d.close;
  for (int push : d.close_pushes_days) close -= absl::Hours(24 * push);
  absl::Time at = d.created;
  const int top = d.stage >= kWon ? 7 : d.stage;
  for (int s = 0; s <= top; ++s) {
    history.push_back(
        {{"StageName", kSfStages[s]}, {"CloseDate", Day(close)}, {"CreatedDate", SfTime(at)}});
    at += absl::Hours(24 * 3);
    history.push_back({{"StageName", kSfStages[s]},
                       {"CloseDate", Day(close)},
                       {"CreatedDate", SfTime(at)}});  // an amount change: same stage
    at += absl::Hours(24 * 2);
  }
  // The org also tracks CloseDate in field history (OpportunityFieldHistory): each push
  // is there too, saved in the same transaction, and must count once.
  json field_history = json::array();
  for (int push : d.close_pushes_days) {
    const std::string before = Day(close);
    close += absl::Hours(24 * push);
    history.push_back(
        {{"StageName", kSfStages[top]}, {"CloseDate", Day(close)}, {"CreatedDate", SfTime(at)}});
    field_history.push_back({{"Field", "CloseDate"},
                             {"DataType", "Date"},
                             {"OldValue", before},
                             {"NewValue", Day(close)},
                             {"CreatedDate", SfTime(at)}});
    at += absl::Hours(24);
  }
  if (d.stage >= kWon) {
    history.push_back({{"StageName", kSfStages[d.stage]},
                       {"CloseDate", Day(close)},
                       {"CreatedDate", SfTime(at)}});
  }
  auto sub = [](json records) {
    return json{{"totalSize", records.size()}, {"done", true}, {"records", std::move(records)}};
  };
  return {
      {"attributes", {{"type", "Opportunity"}}},
      {"Id", id},
      {"Name", absl::StrCat("Deal ", d.index)},
      {"StageName", kSfStages[d.stage]},
      {"Amount", d.amount},
      {"CloseDate", Day(d.close)},
      {"CreatedDate", SfTime(d.created)},
      {"SystemModstamp", SfTime(Now() - absl::Minutes(kDeals - d.index))},
      {"ForecastCategoryName", d.won ? "Closed" : "Pipeline"},
      {"NextStep", nullptr},
      {"IsClosed", d.won || d.lost},
      {"IsWon", d.won},
      {"AccountId", absl::StrFormat("001%012dAAA", d.index)},
      {"Account",
       {{"Name", absl::StrCat("Account ", d.index)},
        {"Industry", "Retail"},
        {"NumberOfEmployees", 800}}},
      {"OwnerId", "005000000000001AAA"},
      {"Owner", {{"Name", "Rita Rep"}, {"ManagerId", "005000000000002AAA"}}},
      {"Decision_To_Change__c", d.decision_to_change.value_or(false)},
      {"Decision_Criteria__c",
       d.decision_criteria.empty() ? json(nullptr) : json(d.decision_criteria)},
      {"Technical_Validation__c", d.technical_validation},
      {"Paper_Process__c", d.paper_process.empty() ? json(nullptr) : json(d.paper_process)},
      {"Go_Live_Date__c", d.go_live_days_ago
                              ? json(Day(Now() - absl::Hours(24 * *d.go_live_days_ago)))
                              : json(nullptr)},
      {"Value_Realized__c", d.value_realized},
      {"Mutual_Action_Plan__c", d.map_validated},
      {"Business_Case_Validated__c", d.business_case_validated},
      {"OpportunityContactRoles", sub(ocr)},
      {"Tasks", sub(tasks)},
      {"Events", sub(events)},
      {"OpportunityHistories", sub(history)},
      {"Histories", sub(field_history)},
  };
}

// What an admin adds for this org's custom fields (docs/connectors.md).
constexpr char kSalesforceOrgMapping[] = R"(
fields:
  decision_to_change: {source: Decision_To_Change__c, type: bool}
  decision_criteria: {source: Decision_Criteria__c, type: string}
  technical_validation: {source: Technical_Validation__c, type: bool}
  paper_process: {source: Paper_Process__c, type: string}
  go_live_date: {source: Go_Live_Date__c, type: date}
  value_realized: {source: Value_Realized__c, type: bool}
artifacts:
  - {source: ., when: Mutual_Action_Plan__c,
     fields: {kind: {value: mutual_action_plan}, customer_validated: Mutual_Action_Plan__c}}
  - {source: ., when: Business_Case_Validated__c,
     fields: {kind: {value: business_case}, customer_validated: Business_Case_Validated__c}}
contacts:
  source: OpportunityContactRoles.records
  merge_by: id
  fields:
    id: ContactId
    name: Contact.Name
    title: Contact.Title
    is_primary: IsPrimary
    confirmed_pain: Confirmed_Pain__c
    sentiment: Sentiment__c
    roles:
      source: Role
      values: {Economic Buyer: economic_buyer, Executive Sponsor: champion, Influencer: coach,
               Technical Buyer: technical_buyer, Business User: user_buyer}
)";

// ---------------------------------------------------------------------------------
// HubSpot's shapes.

const char* HsLabel(Role r) {
  switch (r) {
    case Role::kEconomicBuyer:
      return "Decision maker";
    case Role::kChampion:
      return "Champion";
    case Role::kCoach:
      return "Coach";
    case Role::kTechnicalBuyer:
      return "Technical buyer";
    case Role::kUserBuyer:
      return "End user";
  }
  return "";
}

json Str(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json Flag(std::optional<bool> v) { return v ? json(*v ? "true" : "false") : json(nullptr); }

void LoadHubSpot(const Deal& d, connectors::hubspot::FakeHubSpot* hs) {
  connectors::hubspot::FakeHubSpot::Deal deal;
  deal.id = std::to_string(9000000 + d.index);
  absl::Time close = d.close;
  for (int push : d.close_pushes_days) close -= absl::Hours(24 * push);
  absl::Time at = d.created;
  deal.close_date_history.push_back({Iso(close), Iso(at)});
  const int top = d.stage >= kWon ? 7 : d.stage;
  for (int s = 0; s <= top; ++s) {
    // HubSpot's default pipeline has fewer stages: consecutive duplicates appear.
    deal.stage_history.push_back({kHsStages[s], Iso(at)});
    at += absl::Hours(24 * 5);
  }
  for (int push : d.close_pushes_days) {
    close += absl::Hours(24 * push);
    deal.close_date_history.push_back({Iso(close), Iso(at)});
    at += absl::Hours(24);
  }
  if (d.stage >= kWon) deal.stage_history.push_back({kHsStages[d.stage], Iso(at)});
  deal.properties = {
      {"dealname", absl::StrCat("Deal ", d.index)},
      {"amount", absl::StrFormat("%.2f", d.amount)},
      {"deal_currency_code", "USD"},
      {"closedate", Iso(d.close)},
      {"dealstage", kHsStages[d.stage]},
      {"pipeline", "default"},
      {"hubspot_owner_id", "12345"},
      {"createdate", Iso(d.created)},
      {"hs_lastmodifieddate", Iso(Now() - absl::Minutes(kDeals - d.index))},
      {"hs_is_closed", d.won || d.lost ? "true" : "false"},
      {"hs_is_closed_won", d.won ? "true" : "false"},
      {"decision_to_change", Flag(d.decision_to_change)},
      {"decision_criteria",
       d.decision_criteria.empty() ? json(nullptr) : json(d.decision_criteria)},
      {"technical_validation", Flag(d.technical_validation)},
      {"paper_process", d.paper_process.empty() ? json(nullptr) : json(d.paper_process)},
      {"go_live_date", d.go_live_days_ago ? json(Day(Now() - absl::Hours(24 * *d.go_live_days_ago)))
                                          : json(nullptr)},
      {"value_realized", Flag(d.value_realized)},
      {"mutual_action_plan", Flag(d.map_validated)},
      {"business_case_validated", Flag(d.business_case_validated)},
  };
  for (size_t p = 0; p < d.contacts.size(); ++p) {
    const Person& person = d.contacts[p];
    const std::string cid = std::to_string(700000000 + d.index * 10 + static_cast<int>(p));
    deal.contacts.push_back({cid, {HsLabel(person.role)}});
    std::optional<std::string> sentiment;
    if (person.sentiment) sentiment = absl::AsciiStrToUpper(*person.sentiment);
    hs->UpsertObject("contacts", cid,
                     {{"firstname", person.name},
                      {"lastname", ""},
                      {"jobtitle", person.title},
                      {"confirmed_pain", Flag(person.pain)},
                      {"deal_sentiment", Str(sentiment)}});
  }
  for (size_t m = 0; m < d.meetings.size(); ++m) {
    const Meeting& meeting = d.meetings[m];
    const std::string eid = std::to_string(800000000 + d.index * 100 + static_cast<int>(m));
    const std::string type = meeting.call ? "calls" : "meetings";
    deal.engagements[type].push_back(eid);
    const bool future = meeting.days_ago < 0;
    if (meeting.call) {
      hs->UpsertObject(type, eid,
                       {{"hs_timestamp", Iso(MeetingTime(meeting))},
                        {"hs_call_title", "Call"},
                        {"hs_call_status", meeting.completed ? "COMPLETED" : "NO_ANSWER"}});
    } else {
      hs->UpsertObject(type, eid,
                       {{"hs_timestamp", Iso(MeetingTime(meeting))},
                        {"hs_meeting_title", "Meeting"},
                        {"hs_meeting_outcome", future              ? "SCHEDULED"
                                               : meeting.completed ? "COMPLETED"
                                                                   : "NO_SHOW"}});
    }
    hs->SetEngagementContacts(type, eid,
                              {std::to_string(700000000 + d.index * 10 + meeting.contact)});
  }
  hs->UpsertDeal(std::move(deal));
}

// ---------------------------------------------------------------------------------
// Dataverse's shapes.

const char* DvRole(Role r) {
  switch (r) {
    case Role::kEconomicBuyer:
      return "Economic Buyer";
    case Role::kChampion:
      return "Champion";
    case Role::kCoach:
      return "Coach";
    case Role::kTechnicalBuyer:
      return "Technical Buyer";
    case Role::kUserBuyer:
      return "End User";
  }
  return "";
}

constexpr char kFv[] = "@OData.Community.Display.V1.FormattedValue";

void LoadDynamics(const Deal& d, connectors::dynamics::FakeDynamics* dv) {
  const std::string id = connectors::dynamics::FakeDynamics::OpportunityId(d.index);
  const int state = d.won ? 1 : d.lost ? 2 : 0;
  static const char* const kStageLabels[] = {"Qualify", "Develop", "Propose", "Close"};
  auto opt_bool = [](std::optional<bool> v) { return v ? json(*v) : json(nullptr); };
  // The audit log (auditing on for estimatedclosedate): one change per push.
  {
    absl::Time close = d.close;
    for (int push : d.close_pushes_days) close -= absl::Hours(24 * push);
    for (int push : d.close_pushes_days) {
      const std::string before = Day(close);
      close += absl::Hours(24 * push);
      dv->AddAuditDetail(id, {{"estimatedclosedate", before}},
                         {{"estimatedclosedate", Day(close)}});
    }
  }
  dv->UpsertOpportunity({
      {"opportunityid", id},
      {"name", absl::StrCat("Deal ", d.index)},
      {"estimatedvalue", d.amount},
      {"estimatedclosedate", Day(d.close)},
      {"salesstage", kDvSalesStage[d.stage]},
      {absl::StrCat("salesstage", kFv), kStageLabels[kDvSalesStage[d.stage]]},
      {"statecode", state},
      {"createdon", Iso(d.created)},
      {"modifiedon", Iso(Now() - absl::Minutes(kDeals - d.index))},
      {"_ownerid_value", "0a0b0c0d-3333-ef11-a72f-000d3a5a1a01"},
      {"dc_decisiontochange", opt_bool(d.decision_to_change)},
      {"dc_decisioncriteria",
       d.decision_criteria.empty() ? json(nullptr) : json(d.decision_criteria)},
      {"dc_technicalvalidation", d.technical_validation},
      {"dc_paperprocess", d.paper_process.empty() ? json(nullptr) : json(d.paper_process)},
      {"dc_golivedate", d.go_live_days_ago
                            ? json(Day(Now() - absl::Hours(24 * *d.go_live_days_ago)))
                            : json(nullptr)},
      {"dc_valuerealized", d.value_realized},
      {"dc_mutualactionplan", d.map_validated},
      {"dc_businesscasevalidated", d.business_case_validated},
  });
  for (size_t p = 0; p < d.contacts.size(); ++p) {
    const Person& person = d.contacts[p];
    const std::string contact = absl::StrFormat("c0c0c0c0-%04d-ef11-a72f-%012d", d.index, p);
    dv->AddConnection({
        {"connectionid", absl::StrFormat("cccccccc-%04d-ef11-a72f-%012d", d.index, p)},
        {"_record1id_value", id},
        {"_record2id_value", contact},
        {absl::StrCat("_record2id_value", kFv), person.name},
        {"_record2roleid_value", "eeeeeeee-0000-ef11-a72f-000000000001"},
        {absl::StrCat("_record2roleid_value", kFv), DvRole(person.role)},
        {"record2objecttypecode", 2},
        {"record2id_contact",
         {{"contactid", contact},
          {"fullname", person.name},
          {"jobtitle", person.title},
          {"dc_confirmedpain", opt_bool(person.pain)},
          {"dc_sentiment", Str(person.sentiment)}}},
    });
  }
  for (size_t m = 0; m < d.meetings.size(); ++m) {
    const Meeting& meeting = d.meetings[m];
    const std::string aid = absl::StrFormat("acacacac-%04d-ef11-a72f-%012d", d.index, m);
    const bool future = meeting.days_ago < 0;
    // appointment / phonecall statecode: 0 open, 1 completed, 2 canceled, 3 scheduled.
    const int astate = future ? 3 : meeting.completed ? 1 : 2;
    static const char* const kStates[] = {"Open", "Completed", "Canceled", "Scheduled"};
    dv->AddActivity({{"activityid", aid},
                     {"activitytypecode", meeting.call ? "phonecall" : "appointment"},
                     {"subject", meeting.call ? "Call" : "Meeting"},
                     {future ? "scheduledstart" : "actualstart", Iso(MeetingTime(meeting))},
                     {"statecode", astate},
                     {absl::StrCat("statecode", kFv), kStates[astate]},
                     {"_regardingobjectid_value", id},
                     {"createdon", Iso(d.created)}});
    dv->AddActivityParty(aid,
                         absl::StrFormat("c0c0c0c0-%04d-ef11-a72f-%012d", d.index, meeting.contact),
                         meeting.call ? 2 : 5);
  }
}

constexpr char kDynamicsOrgMapping[] = R"(
fields:
  decision_to_change: {source: dc_decisiontochange, type: bool}
  decision_criteria: {source: dc_decisioncriteria, type: string}
  technical_validation: {source: dc_technicalvalidation, type: bool}
  paper_process: {source: dc_paperprocess, type: string}
  go_live_date: {source: dc_golivedate, type: date}
  value_realized: {source: dc_valuerealized, type: bool}
artifacts:
  - {source: ., when: dc_mutualactionplan,
     fields: {kind: {value: mutual_action_plan}, customer_validated: dc_mutualactionplan}}
  - {source: ., when: dc_businesscasevalidated,
     fields: {kind: {value: business_case}, customer_validated: dc_businesscasevalidated}}
contacts:
  source: dealcoach.contacts
  merge_by: id
  fields:
    id: _record2id_value
    name: formatted._record2id_value
    title: record2id_contact.jobtitle
    confirmed_pain: record2id_contact.dc_confirmedpain
    sentiment: record2id_contact.dc_sentiment
    roles:
      source: formatted._record2roleid_value
      values: {"Economic Buyer": economic_buyer, Champion: champion, Coach: coach,
               "Technical Buyer": technical_buyer, "End User": user_buyer}
)";

// ---------------------------------------------------------------------------------

struct Outcome {
  std::map<std::string, int> by_phase;
  std::map<std::string, std::string> phase_by_deal;  // deal index → phase
};

class RealisticOrgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    org_ = new std::vector<Deal>(MakeOrg());
    engine::LoadResult r = engine::LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) +
                                                    "/config/playbooks/customer-journey.yaml");
    ASSERT_TRUE(r.ok());
    playbook_ = new std::shared_ptr<const engine::CompiledPlaybook>(r.playbook);
  }
  static void TearDownTestSuite() {
    delete org_;
    delete playbook_;
  }

  // Evaluates every synced deal; `index_of` maps a CRM id back to the deal index.
  Outcome Check(const std::vector<v1::Opportunity>& synced,
                const std::function<int(const std::string&)>& index_of, const char* crm) {
    Outcome out;
    EXPECT_EQ(synced.size(), static_cast<size_t>(kDeals)) << crm;
    int mismatches = 0;
    for (v1::Opportunity opp : synced) {
      engine::NormalizeOpportunityAsOf(&opp, Now());
      const int index = index_of(opp.id());
      if (index < 0 || index >= kDeals) {
        ADD_FAILURE() << crm << ": unexpected id " << opp.id();
        continue;
      }
      const Deal& deal = (*org_)[index];
      v1::DealGuidance g = (*playbook_)->Evaluate(opp, Now());
      const std::string phase = g.evidence_phase().id();
      out.by_phase[phase]++;
      out.phase_by_deal[std::to_string(index)] = phase;
      const std::string expected = kPhases[ExpectedPhase(deal)];
      if (phase != expected && ++mismatches <= 5) {
        ADD_FAILURE() << crm << " deal " << index << " (" << kSfStages[deal.stage] << "): evidence "
                      << phase << ", expected " << expected << "\n"
                      << opp.DebugString();
      }
      if (deal.won) {
        for (const auto& b : g.next_best_behaviors()) {
          EXPECT_NE(b.rule().id(), "multi-thread") << crm << " won deal " << index;
          EXPECT_NE(b.rule().id(), "capture-pain") << crm << " won deal " << index;
        }
      }
      // Pushes are read from history on Salesforce (OpportunityHistory and field history,
      // each push once) and HubSpot, and from the audit log on Dataverse.
      {
        int pushes = 0;
        for (const auto& h : opp.close_date_history()) pushes += h.to_date() > h.from_date();
        EXPECT_EQ(pushes, static_cast<int>(deal.close_pushes_days.size())) << crm << " " << index;
      }
    }
    EXPECT_EQ(mismatches, 0) << crm;
    std::string line;
    for (const char* p : kPhases) absl::StrAppend(&line, " ", p, "=", out.by_phase[p]);
    std::cout << crm << " evidence phases:" << line << "\n";
    // Sane: every phase occurs and Awareness is not the whole org.
    for (const char* p : kPhases) EXPECT_GE(out.by_phase[p], 15) << crm << " " << p;
    EXPECT_LE(out.by_phase["awareness"], kDeals / 2) << crm;
    return out;
  }

  static std::vector<Deal>* org_;
  static std::shared_ptr<const engine::CompiledPlaybook>* playbook_;
  static std::map<std::string, Outcome>* outcomes_;
};

std::vector<Deal>* RealisticOrgTest::org_ = nullptr;
std::shared_ptr<const engine::CompiledPlaybook>* RealisticOrgTest::playbook_ = nullptr;
std::map<std::string, Outcome>* RealisticOrgTest::outcomes_ = new std::map<std::string, Outcome>;

TEST_F(RealisticOrgTest, Salesforce) {
  using connectors::salesforce::FakeSalesforce;
  FakeSalesforce sf;
  ASSERT_TRUE(sf.Start().ok());
  for (const Deal& d : *org_) sf.Upsert(SalesforceRecord(d));
  connectors::salesforce::SalesforceOptions o;
  o.login_url = sf.base_url();
  o.client_id = FakeSalesforce::kClientId;
  o.client_secret = FakeSalesforce::kClientSecret;
  o.page_size = 200;
  o.mapping = *connectors::OpportunityMapping::Parse(connectors::salesforce::kDefaultMappingYaml,
                                                     "default_mapping.yaml");
  ASSERT_TRUE(o.mapping.Merge(YAML::Load(kSalesforceOrgMapping), "org.yaml").ok());
  o.resilience.rate_limit.requests_per_second = 0;
  auto c = connectors::salesforce::SalesforceConnector::Create(std::move(o));
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<v1::Opportunity> synced;
  auto r = (*c)->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    synced.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // Every deal id, for evicting deals deleted in the CRM.
  auto ids = (*c)->ListIds(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), static_cast<size_t>(kDeals));
  (*outcomes_)["salesforce"] = Check(
      synced, [](const std::string& id) { return std::stoi(id.substr(3, 12)); }, "salesforce");
}

TEST_F(RealisticOrgTest, HubSpot) {
  connectors::hubspot::FakeHubSpot hs;
  ASSERT_TRUE(hs.Start().ok());
  for (const Deal& d : *org_) LoadHubSpot(d, &hs);
  setenv("HUBSPOT_ORG_TOKEN", connectors::hubspot::FakeHubSpot::kToken, 1);
  YAML::Node config = YAML::Load(absl::StrCat("base_url: ", hs.base_url(),
                                              "\naccess_token_env: HUBSPOT_ORG_TOKEN\n"
                                              "rate_limit: {requests_per_second: 0}\n"));
  auto c = connectors::hubspot::HubSpotConnector::Create(config, {"sidecar.yaml", ""});
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<v1::Opportunity> synced;
  auto r = (*c)->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    synced.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // Every deal id, for evicting deals deleted in the CRM.
  auto ids = (*c)->ListIds(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), static_cast<size_t>(kDeals));
  (*outcomes_)["hubspot"] = Check(
      synced, [](const std::string& id) { return std::stoi(id) - 9000000; }, "hubspot");
}

TEST_F(RealisticOrgTest, Dynamics) {
  connectors::dynamics::FakeDynamics dv;
  ASSERT_TRUE(dv.Start().ok());
  dv.SetAudit(true, true, true);
  for (const Deal& d : *org_) LoadDynamics(d, &dv);
  setenv("DYNAMICS_ORG_SECRET", connectors::dynamics::FakeDynamics::kClientSecret, 1);
  YAML::Node config = YAML::Load(absl::StrCat(
      "org_url: ", dv.base_url(), "\nauthority: ", dv.base_url(),
      "\ntenant_id: ", connectors::dynamics::FakeDynamics::kTenant,
      "\nclient_id: ", connectors::dynamics::FakeDynamics::kClientId,
      "\nclient_secret_env: DYNAMICS_ORG_SECRET\nrate_limit: {requests_per_second: 0}\n"));
  config["mapping"] = YAML::Load(kDynamicsOrgMapping);
  auto c = connectors::dynamics::DynamicsConnector::Create(config, {"sidecar.yaml", ""});
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<v1::Opportunity> synced;
  auto r = (*c)->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    synced.push_back(std::move(opp));
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // Every deal id, for evicting deals deleted in the CRM.
  auto ids = (*c)->ListIds(absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), static_cast<size_t>(kDeals));
  for (const auto& opp : synced) {
    std::vector<std::string> missing(opp.not_recorded().begin(), opp.not_recorded().end());
    std::sort(missing.begin(), missing.end());
    // Close-date changes come from the audit log; stage history stays unknown.
    EXPECT_EQ(missing, (std::vector<std::string>{"stage_history"})) << opp.id();
  }
  (*outcomes_)["dynamics"] = Check(
      synced, [](const std::string& id) { return std::stoi(id.substr(9, 4)); }, "dynamics");
}

// Runs last (gtest runs tests in declaration order): the same org gives the same
// evidence, deal by deal, on every CRM.
TEST_F(RealisticOrgTest, SamePhasesOnEveryCrm) {
  // ctest runs each test in its own process: then each CRM was checked against the same
  // per-deal expectation, which already makes them equal.
  if (outcomes_->size() < 3) GTEST_SKIP() << "needs the three CRM tests in this process";
  const Outcome& sf = (*outcomes_)["salesforce"];
  for (const char* crm : {"hubspot", "dynamics"}) {
    EXPECT_EQ((*outcomes_)[crm].by_phase, sf.by_phase) << crm;
    EXPECT_EQ((*outcomes_)[crm].phase_by_deal, sf.phase_by_deal) << crm;
  }
}

}  // namespace
}  // namespace dealcoach
