#include "bench/common/opportunity_generator.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"

namespace dealcoach::bench {
namespace {

// splitmix64: tiny, fast, and identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  int64_t Range(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // True with probability p.
  bool Chance(double p) { return static_cast<double>(Next() >> 11) * 0x1.0p-53 < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Next() % v.size()];
  }

 private:
  uint64_t state_;
};

void SetTime(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t ns = absl::ToUnixNanos(t);
  int64_t secs = ns / 1000000000;
  int64_t nanos = ns % 1000000000;
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  ts->set_seconds(secs);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

absl::Time Midnight(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t) / 86400 * 86400);
}

// CRM stages in journey order, Salesforce's defaults; `phase` indexes into kPhaseStages.
const std::vector<std::vector<std::string>>& PhaseStages() {
  static const auto* stages = new std::vector<std::vector<std::string>>{
      {"Prospecting", "Qualification"},
      {"Needs Analysis", "Value Proposition"},
      {"Id. Decision Makers", "Perception Analysis"},
      {"Proposal/Price Quote", "Negotiation/Review"},
      {"Closed Won", "Closed Lost"},
  };
  return *stages;
}

const std::vector<std::string>& Roles() {
  static const auto* roles = new std::vector<std::string>{"economic_buyer", "user_buyer",
                                                          "technical_buyer", "coach", "champion"};
  return *roles;
}

const std::vector<std::string>& Industries() {
  static const auto* v = new std::vector<std::string>{
      "Manufacturing", "Financial Services", "Healthcare", "Retail", "Software", "Energy"};
  return *v;
}

const std::vector<std::string>& Titles() {
  static const auto* v = new std::vector<std::string>{
      "CFO",           "VP Operations", "IT Director", "Procurement Lead", "Head of Sales",
      "Plant Manager", "CIO",           "Analyst",     "Team Lead",        "COO"};
  return *v;
}

const std::vector<std::string>& Subjects() {
  static const auto* v = new std::vector<std::string>{
      "Discovery call",       "Pain confirmation",  "Demo",      "Technical deep dive",
      "Business case review", "Pricing discussion", "Follow-up", "Mutual action plan"};
  return *v;
}

}  // namespace

absl::Time BenchNow() { return absl::FromUnixSeconds(1748822400); }  // 2025-06-02T00:00Z

OpportunityGenerator::OpportunityGenerator(uint64_t seed, absl::Time now)
    : seed_(seed), now_(now) {}

std::vector<v1::Opportunity> OpportunityGenerator::MakeMany(int64_t first, int64_t count) const {
  std::vector<v1::Opportunity> out;
  out.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) out.push_back(Make(first + i));
  return out;
}

v1::Opportunity OpportunityGenerator::Make(int64_t index, const Shape& shape) const {
  Rng rng(seed_ * 0x2545f4914f6cdd1dULL + static_cast<uint64_t>(index) * 0x9e3779b97f4a7c15ULL + 1);
  // Skew towards early phases, as real pipelines are.
  static const std::vector<int> kPhaseWeights = {0, 0, 0, 1, 1, 1, 2, 2, 3, 4};
  const int phase = rng.Pick(kPhaseWeights);
  const auto& stages = PhaseStages()[phase];
  const std::string& stage = stages[rng.Next() % stages.size()];
  const bool closed = phase == 4;
  const bool won = closed && stage == "Closed Won";
  // "Maturity" in [0, 1]: how much evidence the deal has gathered; phase-driven, noisy.
  const double maturity = std::min(1.0, phase * 0.22 + rng.Range(0, 30) / 100.0);

  v1::Opportunity opp;
  opp.set_id(absl::StrCat("opp-", seed_, "-", index));
  opp.set_name(absl::StrCat(rng.Pick(Industries()), " expansion #", index));
  opp.set_source_system("bench");
  v1::Account* account = opp.mutable_account();
  account->set_id(absl::StrCat("acc-", rng.Range(1, 5000)));
  account->set_name(absl::StrCat("Account ", account->id()));
  if (rng.Chance(0.85)) account->set_industry(rng.Pick(Industries()));
  if (rng.Chance(0.8)) account->set_employees(rng.Range(20, 200000));
  account->set_segment(account->employees() > 5000 ? "enterprise" : "mid-market");
  v1::Owner* owner = opp.mutable_owner();
  const int64_t rep = rng.Range(1, 200);
  owner->set_id(absl::StrCat("rep-", rep));
  owner->set_name(absl::StrCat("Rep ", rep));
  owner->set_manager_id(absl::StrCat("mgr-", rep / 8));
  owner->set_team(absl::StrCat("team-", rep / 8));

  const absl::Time created = now_ - absl::Hours(24 * rng.Range(10 + phase * 20, 60 + phase * 60));
  SetTime(created, opp.mutable_created_at());
  SetTime(now_ - absl::Hours(rng.Range(1, 24 * 20)), opp.mutable_updated_at());
  opp.set_stage(stage);

  // Stage history: every stage up to the current one, spread between creation and now.
  std::vector<std::string> path;
  for (int p = 0; p <= phase; ++p) {
    for (const std::string& s : PhaseStages()[p]) {
      if (p == 4 && s != stage) continue;
      path.push_back(s);
      if (s == stage) break;
    }
  }
  const absl::Duration span = now_ - created;
  absl::Time entered = created;
  for (size_t i = 0; i < path.size(); ++i) {
    v1::StageChange* change = opp.add_stage_history();
    change->set_stage(path[i]);
    SetTime(entered, change->mutable_entered_at());
    if (i + 1 < path.size()) {
      entered += span / static_cast<double>(path.size() + 1) *
                 (0.5 + static_cast<double>(rng.Range(0, 100)) / 100.0);
    }
  }
  SetTime(entered, opp.mutable_stage_entered_at());

  if (rng.Chance(0.9)) opp.set_amount(static_cast<double>(rng.Range(5, 900)) * 1000.0);
  opp.set_currency_code(rng.Chance(0.7) ? "USD" : "EUR");

  // Close date, pushed 0-3 times (stalled deals more often).
  absl::Time close = Midnight(now_ + absl::Hours(24 * rng.Range(-10, 150)));
  const int pushes = static_cast<int>(rng.Range(0, 3));
  absl::Time original = close - absl::Hours(24 * 30 * pushes);
  for (int i = 0; i < pushes; ++i) {
    v1::CloseDateChange* change = opp.add_close_date_history();
    SetTime(original + absl::Hours(24 * 30 * i), change->mutable_from_date());
    SetTime(original + absl::Hours(24 * 30 * (i + 1)), change->mutable_to_date());
    SetTime(created + span * (static_cast<double>(i + 1) / (pushes + 1)),
            change->mutable_changed_at());
  }
  SetTime(close, opp.mutable_close_date());
  static const std::vector<std::string> kForecast = {"pipeline", "best_case", "commit", "omitted"};
  if (rng.Chance(0.8)) opp.set_forecast_category(kForecast[std::min(3, phase)]);
  if (rng.Chance(0.6)) opp.set_next_step(rng.Pick(Subjects()));
  opp.set_is_closed(closed);
  if (closed) opp.set_is_won(won);

  // Contacts: more people (and more roles covered) as the deal matures.
  const int contacts = shape.contacts >= 0
                           ? shape.contacts
                           : static_cast<int>(rng.Range(1, 2 + static_cast<int64_t>(maturity * 8)));
  for (int i = 0; i < contacts; ++i) {
    v1::Contact* c = opp.add_contacts();
    c->set_id(absl::StrCat(opp.id(), "-c", i));
    c->set_name(absl::StrCat("Contact ", i, " of ", index));
    if (rng.Chance(0.9)) c->set_title(rng.Pick(Titles()));
    if (rng.Chance(0.3 + maturity * 0.6)) {
      c->add_roles(Roles()[(i + rng.Range(0, 1)) % Roles().size()]);
      if (rng.Chance(0.15)) c->add_roles(rng.Pick(Roles()));
    }
    if (rng.Chance(0.8)) c->set_confirmed_pain(rng.Chance(0.25 + maturity * 0.6));
    static const std::vector<std::string> kSentiment = {"positive", "neutral", "negative"};
    if (rng.Chance(0.7)) c->set_sentiment(rng.Pick(kSentiment));
    if (rng.Chance(0.85)) {
      SetTime(now_ - absl::Hours(rng.Range(2, 24 * 45)), c->mutable_last_met_at());
    }
    if (i == 0) c->set_is_primary(true);
  }

  // Activities, oldest first; the last meeting is sometimes weeks ago (stalled deals).
  const int activities =
      shape.activities >= 0 ? shape.activities : static_cast<int>(rng.Range(2, 8 + phase * 8));
  static const std::vector<std::string> kTypes = {"call", "meeting", "email",
                                                  "task", "email",   "call"};
  static const std::vector<std::string> kOutcomes = {"connected", "no_show", "completed",
                                                     "left_voicemail"};
  const int64_t quiet_hours = rng.Chance(0.3) ? rng.Range(24 * 14, 24 * 40) : 0;
  const int64_t window_hours = std::max<int64_t>(48, absl::ToInt64Hours(span) - quiet_hours);
  for (int i = 0; i < activities; ++i) {
    v1::Activity* a = opp.add_activities();
    a->set_id(absl::StrCat(opp.id(), "-a", i));
    a->set_type(rng.Pick(kTypes));
    const int64_t ago =
        quiet_hours + window_hours * (activities - i) / std::max(1, activities) - rng.Range(0, 6);
    SetTime(now_ - absl::Hours(std::max<int64_t>(1, ago)), a->mutable_at());
    a->set_subject(rng.Pick(Subjects()));
    if (contacts > 0) {
      a->add_participant_ids(absl::StrCat(opp.id(), "-c", rng.Range(0, contacts - 1)));
      if (rng.Chance(0.3)) {
        a->add_participant_ids(absl::StrCat(opp.id(), "-c", rng.Range(0, contacts - 1)));
      }
    }
    if (rng.Chance(0.7)) a->set_outcome(rng.Pick(kOutcomes));
  }

  // The derived recency fields, as a connector that sends them would (the engine's
  // NormalizeOpportunity computes the same from `activities` when they are unset).
  const v1::Activity* last_meeting = nullptr;
  const v1::Activity* last_activity = nullptr;
  auto later = [](const v1::Activity* a, const v1::Activity& b) {
    return a == nullptr || b.at().seconds() > a->at().seconds();
  };
  for (const v1::Activity& a : opp.activities()) {
    if (later(last_activity, a)) last_activity = &a;
    if (a.type() == "meeting" && later(last_meeting, a)) last_meeting = &a;
  }
  if (last_meeting != nullptr) *opp.mutable_last_meeting_at() = last_meeting->at();
  if (last_activity != nullptr) *opp.mutable_last_activity_at() = last_activity->at();

  // Artifacts appear as the deal matures.
  static const std::vector<std::string> kKinds = {"call_plan", "business_case",
                                                  "mutual_action_plan", "proposal", "success_plan"};
  for (size_t k = 0; k < kKinds.size(); ++k) {
    if (!rng.Chance(maturity - 0.15 * static_cast<double>(k) + 0.1)) continue;
    v1::Artifact* art = opp.add_artifacts();
    art->set_kind(kKinds[k]);
    art->set_title(absl::StrCat(kKinds[k], " for ", opp.name()));
    art->set_url(absl::StrCat("https://docs.example.com/", opp.id(), "/", kKinds[k]));
    SetTime(now_ - absl::Hours(rng.Range(24, 24 * 60)), art->mutable_updated_at());
    if (rng.Chance(0.8)) art->set_customer_validated(rng.Chance(maturity));
  }
  static const std::vector<std::string> kCompetitors = {"status quo", "Acme CRM Suite",
                                                        "Globex Analytics", "in-house build"};
  const int competitors = static_cast<int>(rng.Range(0, 2));
  for (int i = 0; i < competitors; ++i) {
    v1::Competitor* comp = opp.add_competitors();
    comp->set_name(kCompetitors[(index + i) % kCompetitors.size()]);
    if (rng.Chance(0.7)) comp->set_status(rng.Chance(0.7) ? "active" : "eliminated");
  }

  // Custom fields of the shipped playbooks (`fields:`), the names the samples use: set
  // more often and more often true as the deal matures; about one in six is unrecorded.
  auto& fields = *opp.mutable_fields();
  auto maybe_bool = [&](const char* name, double p_true) {
    if (rng.Chance(0.83)) fields[name].set_bool_value(rng.Chance(p_true));
  };
  auto maybe_text = [&](const char* name, double p_set, const std::vector<std::string>& v) {
    if (rng.Chance(p_set)) fields[name].set_string_value(rng.Pick(v));
  };
  maybe_bool("decision_to_change", 0.2 + maturity * 0.75);
  maybe_bool("technical_validation", std::max(0.0, maturity - 0.2));
  if (won || rng.Chance(0.1)) maybe_bool("value_realized", won ? 0.6 : 0.1);
  static const std::vector<std::string> kEvents = {"regulatory deadline", "fiscal year end",
                                                   "system end of life", ""};
  maybe_text("compelling_event", 0.75, kEvents);
  static const std::vector<std::string> kPainStatement = {
      "Double bookings cost us 200 patient slots a month", "We cannot forecast within 20%", ""};
  maybe_text("pain_statement", 0.3 + maturity * 0.6, kPainStatement);
  static const std::vector<std::string> kMetrics = {"cut scheduling time 30%",
                                                    "reduce churn 5 points", ""};
  maybe_text("metrics", 0.3 + maturity * 0.6, kMetrics);
  static const std::vector<std::string> kCriteria = {"SSO, audit log, EU hosting",
                                                     "TCO over 3 years", ""};
  maybe_text("decision_criteria", 0.2 + maturity * 0.7, kCriteria);
  static const std::vector<std::string> kPain = {"manual scheduling errors",
                                                 "no pipeline visibility", ""};
  maybe_text("identified_pain", 0.4 + maturity * 0.5, kPain);
  static const std::vector<std::string> kProcess = {"CFO signs above 100k",
                                                    "steering committee, then procurement", ""};
  maybe_text("decision_process", maturity * 0.8, kProcess);
  static const std::vector<std::string> kPaper = {"legal review 2 weeks, PO", "MSA exists", ""};
  maybe_text("paper_process", std::max(0.0, maturity - 0.3), kPaper);
  if (rng.Chance(0.5)) {
    SetTime(Midnight(now_ + absl::Hours(24 * rng.Range(-30, 200))),
            fields["go_live_date"].mutable_timestamp_value());
  }
  return opp;
}

std::string OpportunitiesToJson(const std::vector<v1::Opportunity>& opportunities, absl::Time now,
                                uint64_t seed) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out =
      absl::StrCat("{\"now\": \"", absl::FormatTime(absl::RFC3339_full, now, absl::UTCTimeZone()),
                   "\", \"seed\": ", seed, ", \"opportunities\": [\n");
  std::string json;
  for (size_t i = 0; i < opportunities.size(); ++i) {
    json.clear();
    // Printing a well-formed message cannot fail.
    (void)google::protobuf::util::MessageToJsonString(opportunities[i], &json, options);
    absl::StrAppend(&out, json, i + 1 < opportunities.size() ? ",\n" : "\n");
  }
  absl::StrAppend(&out, "]}\n");
  return out;
}

}  // namespace dealcoach::bench
