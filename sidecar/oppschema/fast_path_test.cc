// The typed fast path must never change an answer: every expression here is compiled
// twice (fast path on and off) and evaluated on many opportunities, including ones with
// missing fields, unset flags, custom fields of the wrong type and values at the edges of
// CEL's ranges; the two results must be identical. The fast path must also actually be
// taken for the conditions playbooks use.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dealcoach/v1/opportunity.pb.h"
#include "gtest/gtest.h"
#include "sidecar/common/time_util.h"
#include "sidecar/expr/expr.h"
#include "sidecar/oppschema/oppschema.h"

namespace dealcoach::expr {
namespace {

using v1::Opportunity;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);  // 2026-11-18

void SetTs(google::protobuf::Timestamp* ts, absl::Time t) { SetTimestamp(t, ts); }

Environment Env() {
  Environment env = oppschema::OpportunityEnvironment();
  env.DeclareCustomField("decision_to_change", FieldType::kBool);
  env.DeclareCustomField("budget", FieldType::kDouble);
  env.DeclareCustomField("seats", FieldType::kInt);
  env.DeclareCustomField("paper_process", FieldType::kString);
  env.DeclareCustomField("go_live_date", FieldType::kTimestamp);
  return env;
}

// Conditions in the shapes playbooks use (all from config/playbooks), plus every node
// kind of the fast path and the edge cases of CEL's semantics.
const std::vector<std::string>& Expressions() {
  static const auto* exprs = new std::vector<std::string>{
      // Shipped playbook conditions.
      "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= 2",
      "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() < 2",
      "opp.fields.decision_to_change == true",
      "!has(opp.fields.decision_to_change)",
      "has(opp.fields.decision_to_change) && !opp.fields.decision_to_change",
      "!opp.artifacts.exists(a, a.kind == \"call_plan\")",
      "opp.contacts.exists(c, \"economic_buyer\" in c.roles)",
      "opp.contacts.exists(c, \"economic_buyer\" in c.roles && has(c.last_met_at))",
      "!has(opp.fields.paper_process) || opp.fields.paper_process == \"\"",
      "opp.fields.paper_process != \"\"",
      "has(opp.is_won) && opp.is_won",
      "opp.fields.go_live_date < now",
      "!has(opp.last_meeting_at) || now - opp.last_meeting_at > duration(\"336h\")",
      "!has(opp.next_step) || opp.next_step == \"\"",
      "opp.close_date_history.exists(h, h.to_date > h.from_date)",
      "opp.close_date_history.filter(h, h.to_date > h.from_date).size() >= 2",
      "opp.contacts.size() < 2",
      "has(opp.close_date) && opp.close_date < now",
      "has(opp.last_meeting_at) && now - opp.last_meeting_at <= duration(\"504h\")",
      // Field reads and comparisons of every kind, both operand orders.
      "opp.amount > 50000.0",
      "50000.0 < opp.amount",
      "opp.amount == opp.amount",
      "opp.amount / 0.0 > 1.0",
      "opp.account.employees >= 1000",
      "opp.account.industry == 'Manufacturing'",
      "opp.stage in ['Negotiation', 'Proposal']",
      "opp.name.startsWith('Acme') || opp.name.endsWith('Inc') || opp.name.contains('Corp')",
      "opp.name.matches('^Acme.*(Inc|Corp)$')",
      "opp.name < 'M'",
      "opp.owner.team == 'EMEA'",
      "opp.close_date > timestamp('2026-12-08T00:00:00Z')",
      "opp.close_date <= timestamp('2026-12-08T00:00:00.000000005Z')",
      "opp.currency_code == '' || opp.source_system != 'hubspot'",
      "opp.is_closed != true",
      "has(opp.account) && has(opp.account.segment)",
      "has(opp.contacts) && has(opp.stage_history)",
      // Custom fields: declared types, ints read as doubles, wrong types are errors.
      "opp.fields.budget > 1000.0",
      "opp.fields.seats * 2 > 10",
      "opp.fields.seats + 9223372036854775807 > 0",
      "opp.fields.budget - 1.0 >= 0.0",
      // Timestamp and duration arithmetic and ranges.
      "opp.close_date - now < duration('720h')",
      "now + duration('24h') > opp.close_date",
      "opp.close_date - duration('24h') > now",
      "duration('1h') + duration('2h') > now - opp.created_at",
      "opp.stage_entered_at + duration('87600000h') > now",
      "now - opp.created_at - (now - opp.close_date) > duration('0s')",
      // Macros: absorption of unknowns, strictness, nesting.
      "opp.contacts.all(c, c.confirmed_pain)",
      "opp.contacts.exists(c, c.confirmed_pain)",
      "opp.contacts.exists_one(c, has(c.is_primary) && c.is_primary)",
      "opp.contacts.all(c, !c.confirmed_pain)",
      "opp.contacts.filter(c, c.confirmed_pain).size() == 1",
      "opp.contacts.exists(c, c.sentiment == 'positive')",
      "opp.contacts.all(c, c.roles.size() > 0)",
      "opp.contacts.exists(c, opp.contacts.exists(d, d.name != c.name && d.confirmed_pain))",
      "opp.artifacts.exists(a, has(a.customer_validated) && a.customer_validated)",
      "opp.activities.filter(a, a.type == 'meeting').size() > 1",
      // Logic with errors and unknowns on either side.
      "opp.fields.budget > 0.0 || opp.amount > 0.0",
      "opp.amount > 0.0 && opp.fields.decision_to_change",
      "!(opp.amount > 100.0) || opp.fields.seats > 3",
  };
  return *exprs;
}

// A deal with everything recorded.
Opportunity Full() {
  Opportunity o;
  o.set_id("006A");
  o.set_name("Acme Industrial Inc");
  o.set_amount(125000.5);
  o.set_stage("Negotiation");
  o.set_next_step("Legal review");
  o.set_is_closed(false);
  o.set_is_won(false);
  o.mutable_account()->set_name("Acme");
  o.mutable_account()->set_industry("Manufacturing");
  o.mutable_account()->set_employees(1200);
  o.mutable_account()->set_segment("enterprise");
  o.mutable_owner()->set_team("EMEA");
  SetTs(o.mutable_created_at(), kNow - absl::Hours(24 * 90));
  SetTs(o.mutable_stage_entered_at(), kNow - absl::Hours(24 * 10));
  SetTs(o.mutable_close_date(), kNow + absl::Hours(24 * 20) + absl::Nanoseconds(5));
  SetTs(o.mutable_last_meeting_at(), kNow - absl::Hours(24 * 15) - absl::Nanoseconds(7));
  for (int i = 0; i < 4; ++i) {
    auto* c = o.add_contacts();
    c->set_name("Contact " + std::to_string(i));
    c->set_confirmed_pain(i % 2 == 0);
    c->set_is_primary(i == 1);
    c->set_sentiment(i == 3 ? "positive" : "neutral");
    c->add_roles(i == 0 ? "economic_buyer" : "user_buyer");
    if (i == 0) SetTs(c->mutable_last_met_at(), kNow - absl::Hours(48));
  }
  auto* h = o.add_close_date_history();
  SetTs(h->mutable_from_date(), kNow);
  SetTs(h->mutable_to_date(), kNow + absl::Hours(24 * 30));
  auto* a = o.add_artifacts();
  a->set_kind("call_plan");
  a->set_customer_validated(true);
  for (const char* type : {"meeting", "call", "meeting"}) o.add_activities()->set_type(type);
  o.add_stage_history()->set_stage("Prospecting");
  (*o.mutable_fields())["decision_to_change"].set_bool_value(true);
  (*o.mutable_fields())["budget"].set_double_value(50000);
  (*o.mutable_fields())["seats"].set_int_value(25);
  (*o.mutable_fields())["paper_process"].set_string_value("MSA signed");
  SetTs((*o.mutable_fields())["go_live_date"].mutable_timestamp_value(), kNow - absl::Hours(1));
  return o;
}

// Variants: fields missing, flags unset, wrong custom field types, range edges.
std::vector<Opportunity> Variants() {
  std::vector<Opportunity> out;
  out.push_back(Full());
  Opportunity empty;
  out.push_back(empty);
  {
    Opportunity o = Full();
    o.clear_amount();
    o.clear_stage();
    o.clear_next_step();
    o.clear_is_won();
    o.clear_last_meeting_at();
    o.clear_close_date();
    o.clear_account();
    o.mutable_fields()->clear();
    out.push_back(o);
  }
  {
    Opportunity o = Full();
    o.mutable_contacts(1)->clear_confirmed_pain();  // one flag not recorded
    o.mutable_contacts(2)->clear_is_primary();
    o.mutable_artifacts(0)->clear_customer_validated();
    out.push_back(o);
  }
  {
    Opportunity o = Full();
    // Wrong types: a string where a bool is declared, an int where a double is.
    (*o.mutable_fields())["decision_to_change"].set_string_value("yes");
    (*o.mutable_fields())["budget"].set_int_value(7);
    (*o.mutable_fields())["seats"].set_double_value(2.5);
    (*o.mutable_fields())["paper_process"];  // present, no value
    o.set_amount(std::numeric_limits<double>::quiet_NaN());
    out.push_back(o);
  }
  {
    Opportunity o = Full();
    (*o.mutable_fields())["seats"].set_int_value(std::numeric_limits<int64_t>::max());
    o.mutable_stage_entered_at()->set_seconds(253402300000);  // near the end of year 9999
    o.mutable_created_at()->set_seconds(-62135596000);        // near the start of year 1
    o.mutable_close_date()->set_nanos(-5);                    // denormalised nanos
    for (auto& c : *o.mutable_contacts()) c.set_confirmed_pain(true);
    out.push_back(o);
  }
  // Random presence over the full deal.
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    Opportunity o = Full();
    auto coin = [&] { return rng() % 3 == 0; };
    if (coin()) o.clear_amount();
    if (coin()) o.clear_last_meeting_at();
    if (coin()) o.clear_close_date();
    if (coin()) o.clear_is_won();
    if (coin()) o.mutable_fields()->erase("decision_to_change");
    if (coin()) o.mutable_fields()->erase("paper_process");
    if (coin()) o.mutable_fields()->erase("go_live_date");
    for (auto& c : *o.mutable_contacts()) {
      if (coin()) c.clear_confirmed_pain();
      if (coin()) c.set_confirmed_pain(rng() % 2 == 0);
      if (coin()) c.clear_roles();
      if (coin()) c.clear_is_primary();
    }
    if (coin()) o.clear_contacts();
    out.push_back(o);
  }
  return out;
}

std::string Describe(const Value& v) {
  if (v.is_unknown()) {
    std::string s = "unknown(";
    for (const auto& a : v.unknown_attributes()) s += a + ";";
    return s + ")";
  }
  if (v.is_error()) return "error(" + v.error_message() + ")";
  return v.TypeName() + ":" + v.DebugString();
}

TEST(FastPathTest, AgreesWithTheGeneralEvaluatorEverywhere) {
  const Environment env = Env();
  CompileOptions slow_options;
  slow_options.fast_path = false;
  const std::vector<Opportunity> opps = Variants();
  int fast_programs = 0;
  for (const std::string& source : Expressions()) {
    CompileResult fast = Compile(source, env);
    CompileResult slow = Compile(source, env, slow_options);
    ASSERT_TRUE(fast.ok()) << source << ": " << fast.issues[0].message;
    ASSERT_TRUE(slow.ok()) << source;
    EXPECT_FALSE(HasFastPath(*slow.program)) << source;
    fast_programs += HasFastPath(*fast.program) ? 1 : 0;
    EXPECT_TRUE(HasFastPath(*fast.program)) << "not in the fast path: " << source;
    for (size_t i = 0; i < opps.size(); ++i) {
      Activation act;
      act.SetMessage("opp", &opps[i]);
      act.SetTimestamp("now", kNow);
      EXPECT_EQ(Describe(fast.program->Evaluate(act)), Describe(slow.program->Evaluate(act)))
          << source << " on variant " << i;
    }
  }
  // Every expression above is in the fast path's subset.
  EXPECT_EQ(fast_programs, static_cast<int>(Expressions().size()));
}

TEST(FastPathTest, ShippedConditionsTakeTheFastPath) {
  const Environment env = Env();
  for (const char* source : {
           "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= 2",
           "opp.contacts.exists(c, \"economic_buyer\" in c.roles && has(c.last_met_at))",
           "!has(opp.last_meeting_at) || now - opp.last_meeting_at > duration(\"336h\")",
           "!has(opp.fields.paper_process) || opp.fields.paper_process == \"\"",
       }) {
    CompileResult r = Compile(source, env);
    ASSERT_TRUE(r.ok()) << source;
    EXPECT_TRUE(HasFastPath(*r.program)) << source;
  }
}

TEST(FastPathTest, OutsideTheSubsetFallsBackToTheGeneralEvaluator) {
  const Environment env = Env();
  // Heterogeneous numbers, list building, ternaries: general path only.
  for (const char* source : {"opp.amount > 5", "[1, 2].map(x, x * 2).size() == 2",
                             "(opp.amount > 1.0 ? 'a' : 'b') == 'a'"}) {
    CompileResult r = Compile(source, env);
    ASSERT_TRUE(r.ok()) << source;
    EXPECT_FALSE(HasFastPath(*r.program)) << source;
  }
  // A non-generated message (or none) for `opp` also takes the general path, correctly.
  CompileResult r = Compile("opp.amount > 1.0", env);
  ASSERT_TRUE(r.ok());
  Activation act;
  act.SetTimestamp("now", kNow);
  EXPECT_TRUE(r.program->Evaluate(act).is_unknown());
}

TEST(FastPathTest, IterationLimitStillApplies) {
  Environment env = Env();
  CompileOptions options;
  options.limits.max_iterations = 3;
  Opportunity o = Full();  // 4 contacts
  Activation act;
  act.SetMessage("opp", &o);
  act.SetTimestamp("now", kNow);
  for (const char* source : {"opp.contacts.all(c, c.name != '')",
                             "opp.contacts.filter(c, c.confirmed_pain).size() >= 0"}) {
    CompileResult r = Compile(source, env, options);
    ASSERT_TRUE(r.ok()) << source;
    Value v = r.program->Evaluate(act);
    ASSERT_TRUE(v.is_error()) << source << " gave " << v.DebugString();
    EXPECT_NE(v.error_message().find("iteration limit"), std::string::npos) << v.error_message();
  }
}

}  // namespace
}  // namespace dealcoach::expr
