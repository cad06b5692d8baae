#include "sidecar/expr/expr.h"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "sidecar/oppschema/oppschema.h"

namespace dealcoach::expr {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time T(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

void SetTs(google::protobuf::Timestamp* ts, absl::Time t) {
  ts->set_seconds(absl::ToUnixSeconds(t));
}

class ExprTest : public ::testing::Test {
 protected:
  ExprTest() : env_(oppschema::OpportunityEnvironment()) {
    env_.DeclareCustomField("decision_to_change", FieldType::kBool);
    env_.DeclareCustomField("budget", FieldType::kDouble);
    opp_.set_id("006A");
    opp_.set_name("Acme rollout");
    opp_.set_amount(75000.0);
    opp_.set_stage("Negotiation");
    SetTs(opp_.mutable_last_meeting_at(), T("2026-01-01T00:00:00Z"));
    auto* c1 = opp_.add_contacts();
    c1->set_name("Ann");
    c1->set_confirmed_pain(true);
    c1->add_roles("economic_buyer");
    auto* c2 = opp_.add_contacts();
    c2->set_name("Bob");
    c2->set_confirmed_pain(false);
    auto* c3 = opp_.add_contacts();
    c3->set_name("Cy");  // confirmed_pain not recorded
    (*opp_.mutable_fields())["budget"].set_double_value(50000);
    act_.SetMessage("opp", &opp_);
    act_.SetTimestamp("now", T("2026-02-01T00:00:00Z"));
  }

  Value Eval(const std::string& src) {
    CompileResult r = Compile(src, env_);
    EXPECT_TRUE(r.ok()) << src << ": " << (r.issues.empty() ? "" : r.issues[0].message);
    if (!r.ok()) return Value::Error("compile failed");
    return r.program->Evaluate(act_);
  }
  std::string Str(const std::string& src) { return Eval(src).DebugString(); }

  Issue OnlyIssue(const std::string& src) {
    CompileResult r = Compile(src, env_);
    EXPECT_FALSE(r.ok()) << src;
    EXPECT_EQ(r.issues.size(), 1u) << src;
    return r.issues.empty() ? Issue{} : r.issues[0];
  }

  Environment env_;
  dealcoach::v1::Opportunity opp_;
  Activation act_;
};

TEST_F(ExprTest, PlaybookConditions) {
  EXPECT_EQ(Str("opp.amount > 50000"), "true");
  EXPECT_EQ(Str("opp.amount > 50000.0 && opp.stage == 'Negotiation'"), "true");
  EXPECT_EQ(Str("opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size()"), "1");
  EXPECT_EQ(Str("opp.contacts.exists(c, 'economic_buyer' in c.roles)"), "true");
  EXPECT_EQ(Str("now - opp.last_meeting_at > duration('504h')"), "true");
  EXPECT_EQ(Str("now - opp.last_meeting_at"), "duration(\"2678400s\")");
  EXPECT_EQ(Str("opp.name.matches('^Acme')"), "true");
  EXPECT_EQ(Str("opp.fields.budget >= 50000.0"), "true");
  EXPECT_EQ(Str("size(opp.contacts) == 3 && opp.contacts[0].name == 'Ann'"), "true");
  EXPECT_EQ(Str("opp.contacts.map(c, c.name)"), "[\"Ann\", \"Bob\", \"Cy\"]");
  EXPECT_EQ(Str("opp.contacts.all(c, c.name.size() > 1)"), "true");
  EXPECT_EQ(Str("opp.contacts.exists_one(c, c.name.startsWith('B'))"), "true");
}

// The generated-accessor fast paths (fast_fields.cc, fused comparisons) must give the
// same results as reflection: evaluate the same data as a generated Opportunity and as a
// DynamicMessage of an identical descriptor (which takes the reflection path).
TEST_F(ExprTest, GeneratedAccessorsMatchReflection) {
  google::protobuf::DynamicMessageFactory factory;
  std::unique_ptr<google::protobuf::Message> dyn(
      factory.GetPrototype(dealcoach::v1::Opportunity::descriptor())->New());
  ASSERT_TRUE(dyn->ParseFromString(opp_.SerializeAsString()));
  ASSERT_NE(dyn->GetReflection(), opp_.GetReflection());
  Activation dyn_act;
  dyn_act.SetMessage("opp", dyn.get());
  dyn_act.SetTimestamp("now", T("2026-02-01T00:00:00Z"));
  const char* const kSources[] = {
      "opp.amount > 50000.0",
      "opp.amount == 75000.0",
      "opp.stage == 'Negotiation'",
      "opp.stage != 'Negotiation'",
      "opp.close_date < now",
      "opp.is_won",
      "opp.account.industry",
      "now - opp.last_meeting_at > duration('504h')",
      "opp.contacts.filter(c, c.confirmed_pain).size() >= 1",
      "opp.contacts.map(c, c.name)",
      "opp.contacts.all(c, c.confirmed_pain)",
      "opp.name > 'A'",
      "opp.currency_code == ''",
  };
  for (const char* src : kSources) {
    CompileResult r = Compile(src, env_);
    ASSERT_TRUE(r.ok()) << src;
    EXPECT_EQ(r.program->Evaluate(act_).DebugString(), r.program->Evaluate(dyn_act).DebugString())
        << src;
  }
  EXPECT_EQ(Str("opp.contacts.all(c, c.confirmed_pain)"), "false");
}

TEST_F(ExprTest, UnknownsCarryAttributePaths) {
  Value v = Eval("opp.close_date < now");
  ASSERT_EQ(v.kind(), ValueKind::kUnknown);
  EXPECT_THAT(v.unknown_attributes(), ElementsAre("opp.close_date"));

  v = Eval("opp.fields.decision_to_change == true");
  ASSERT_EQ(v.kind(), ValueKind::kUnknown);
  EXPECT_THAT(v.unknown_attributes(), ElementsAre("opp.fields.decision_to_change"));

  // Unknown sets merge across strict operators.
  v = Eval("opp.is_won == opp.is_closed");
  EXPECT_THAT(v.unknown_attributes(), ElementsAre("opp.is_won", "opp.is_closed"));

  // A filter predicate over an unset element field is unknown, so the count is too.
  v = Eval("opp.contacts.filter(c, c.confirmed_pain).size() >= 2");
  ASSERT_EQ(v.kind(), ValueKind::kUnknown);
  EXPECT_THAT(v.unknown_attributes(), ElementsAre("opp.contacts[].confirmed_pain"));

  // Repeated fields are never unknown.
  EXPECT_EQ(Str("opp.activities.size()"), "0");
  EXPECT_EQ(Str("has(opp.close_date)"), "false");
  EXPECT_EQ(Str("has(opp.fields.decision_to_change)"), "false");
  EXPECT_EQ(Str("has(opp.fields.budget)"), "true");
}

TEST_F(ExprTest, LogicAbsorbsUnknownsAndErrors) {
  EXPECT_EQ(Str("false && opp.fields.decision_to_change"), "false");
  EXPECT_EQ(Str("opp.fields.decision_to_change && false"), "false");
  EXPECT_EQ(Str("opp.fields.decision_to_change || true"), "true");
  EXPECT_EQ(Str("false && (1 / 0 > 0)"), "false");
  EXPECT_EQ(Str("(1 / 0 > 0) && false"), "false");
  EXPECT_EQ(Str("(1 / 0 > 0) || true"), "true");
  // Unknown wins over error.
  Value v = Eval("(1 / 0 > 0) && opp.fields.decision_to_change");
  EXPECT_EQ(v.kind(), ValueKind::kUnknown);
  v = Eval("true && (1 / 0 > 0)");
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(), "division by zero");
}

TEST_F(ExprTest, EvaluateConditionFoldsTruth) {
  CompileResult r = Compile("opp.fields.decision_to_change && opp.amount > 1.0", env_);
  ASSERT_TRUE(r.ok());
  Condition c = EvaluateCondition(*r.program, act_);
  EXPECT_EQ(c.truth, Truth::kUnknown);
  EXPECT_THAT(c.missing, ElementsAre("opp.fields.decision_to_change"));
  EXPECT_THAT(r.program->attributes(), ElementsAre("opp.fields.decision_to_change", "opp.amount"));
  EXPECT_TRUE(r.program->returns_bool());

  r = Compile("opp.amount", env_);
  ASSERT_TRUE(r.ok());
  c = EvaluateCondition(*r.program, act_);
  EXPECT_EQ(c.truth, Truth::kError);
  EXPECT_THAT(c.error, HasSubstr("not bool"));
  EXPECT_EQ(r.program->result_type(), "double");
}

TEST_F(ExprTest, AttributesStopAtComprehensions) {
  CompileResult r = Compile(
      "opp.contacts.filter(c, c.confirmed_pain).size() >= 2 && now > opp.close_date && "
      "opp.contacts.size() > 0",
      env_);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r.program->attributes(), ElementsAre("opp.contacts", "now", "opp.close_date"));
}

TEST_F(ExprTest, UnknownAttributesAreUnknownAlsoUnderHas) {
  const std::string gate =
      "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= 2";
  for (bool fast : {true, false}) {
    CompileOptions options;
    options.fast_path = fast;
    CompileResult r = Compile(gate, env_, options);
    ASSERT_TRUE(r.ok());
    EXPECT_THAT(r.program->selected_paths(),
                ElementsAre("opp.contacts", "opp.contacts[].confirmed_pain"));
    // Recorded: one contact confirmed, so the guarded count is 1.
    EXPECT_EQ(EvaluateCondition(*r.program, act_).truth, Truth::kFalse);
    Activation act;
    act.SetMessage("opp", &opp_);
    act.SetUnknownAttributes({"opp.contacts[].confirmed_pain"});
    Condition c = EvaluateCondition(*r.program, act);
    EXPECT_EQ(c.truth, Truth::kUnknown) << "fast=" << fast;
    EXPECT_THAT(c.missing, ElementsAre("opp.contacts[].confirmed_pain"));
    // Absorbed like any unknown when the other side decides.
    CompileResult r2 = Compile(absl::StrCat("opp.contacts.size() > 5 && ", gate), env_, options);
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(EvaluateCondition(*r2.program, act).truth, Truth::kFalse);
    // Other paths are unaffected.
    CompileResult r3 =
        Compile("opp.contacts.exists(c, \"economic_buyer\" in c.roles)", env_, options);
    ASSERT_TRUE(r3.ok());
    EXPECT_EQ(EvaluateCondition(*r3.program, act).truth, Truth::kTrue);
  }
  // A whole list the source cannot tell about.
  Activation act;
  act.SetMessage("opp", &opp_);
  act.SetUnknownAttributes({"opp.close_date_history"});
  CompileResult r =
      Compile("opp.close_date_history.filter(h, h.to_date > h.from_date).size() >= 2", env_);
  ASSERT_TRUE(r.ok());
  Condition c = EvaluateCondition(*r.program, act);
  EXPECT_EQ(c.truth, Truth::kUnknown);
  EXPECT_THAT(c.missing, ElementsAre("opp.close_date_history"));
}

TEST_F(ExprTest, CheckerDiagnostics) {
  Issue i = OnlyIssue("opp.amout > 5");
  EXPECT_EQ(i.message,
            "undefined field 'amout' on dealcoach.v1.Opportunity; did you mean 'amount'?");
  EXPECT_EQ(i.line, 1);
  EXPECT_EQ(i.column, 5);
  EXPECT_EQ(i.offset, 4u);

  i = OnlyIssue("opp.amount > \"big\"");
  EXPECT_EQ(i.message, "no matching overload for '>' applied to (double, string)");
  EXPECT_EQ(i.column, 12);

  i = OnlyIssue("opp.stage == 'x' &&\n  opp.contacts.exists(c, c.tittle == 'CFO')");
  EXPECT_EQ(i.message, "undefined field 'tittle' on dealcoach.v1.Contact; did you mean 'title'?");
  EXPECT_EQ(i.line, 2);
  EXPECT_EQ(i.column, 28);

  i = OnlyIssue("opp.fields.decision_to_chnge");
  EXPECT_EQ(i.message,
            "undeclared custom field 'decision_to_chnge' (declare it in the playbook's custom "
            "fields); did you mean 'decision_to_change'?");
  EXPECT_EQ(i.column, 12);

  i = OnlyIssue("size(opp.contacts, 2) > 1");
  EXPECT_EQ(i.message, "wrong number of arguments to 'size': got 2, want 1");
  EXPECT_EQ(i.column, 1);

  i = OnlyIssue("opp.name.startswith('A')");
  EXPECT_EQ(i.message, "undeclared reference to function 'startswith'; did you mean 'startsWith'?");
  EXPECT_EQ(i.column, 10);

  i = OnlyIssue("op.amount > 1");
  EXPECT_EQ(i.message, "undeclared reference to 'op'; did you mean 'opp'?");

  i = OnlyIssue("opp.amount + 1 > 2.0");
  EXPECT_EQ(i.message, "no matching overload for '+' applied to (double, int)");
  EXPECT_EQ(i.column, 12);

  i = OnlyIssue("opp.name.matches('[')");
  EXPECT_EQ(i.message, "invalid regular expression: missing ]: [");
  EXPECT_EQ(i.column, 18);
}

TEST_F(ExprTest, ParseErrorsCarryPositions) {
  Issue i = OnlyIssue("opp.amount >");
  EXPECT_EQ(i.message, "syntax error: expected an expression, found end of expression");
  EXPECT_EQ(i.column, 13);

  i = OnlyIssue("opp.amount > 1 &&\n (opp.stage == 'x'");
  EXPECT_EQ(i.message, "syntax error: expected ')', found end of expression");
  EXPECT_EQ(i.line, 2);
  EXPECT_EQ(i.column, 19);

  i = OnlyIssue("'unterminated");
  EXPECT_EQ(i.message, "syntax error: unterminated string literal");
  EXPECT_EQ(i.column, 1);

  i = OnlyIssue("1 + 9223372036854775808");
  EXPECT_EQ(i.message, "integer literal 9223372036854775808 is out of range");
  EXPECT_EQ(i.column, 5);

  i = OnlyIssue("while > 1");
  EXPECT_EQ(i.message, "reserved identifier 'while'");
}

TEST_F(ExprTest, TimestampsAcrossDstInNewYork) {
  // Spring forward: 2026-03-08 02:00 EST -> 03:00 EDT.
  EXPECT_EQ(Str("timestamp('2026-03-08T06:59:59Z').getHours('America/New_York')"), "1");
  EXPECT_EQ(Str("timestamp('2026-03-08T07:00:00Z').getHours('America/New_York')"), "3");
  // Durations are absolute: 24h after noon EST on the 7th is 13:00 EDT on the 8th.
  EXPECT_EQ(Str("(timestamp('2026-03-07T12:00:00-05:00') + duration('24h'))"
                ".getHours('America/New_York')"),
            "13");
  EXPECT_EQ(Str("timestamp('2026-03-08T12:00:00Z').getDayOfWeek('America/New_York')"), "0");
  EXPECT_EQ(Str("timestamp('2026-03-08T12:00:00Z').getDayOfYear('America/New_York')"), "66");
  EXPECT_EQ(Str("timestamp('2026-03-08T03:00:00Z').getDate('America/New_York')"), "7");
  EXPECT_EQ(Str("timestamp('2026-03-08T03:00:00Z').getDate()"), "8");
  // Fall back: 01:30 happens twice on 2026-11-01, an hour apart.
  EXPECT_EQ(Str("timestamp('2026-11-01T05:30:00Z').getHours('America/New_York')"), "1");
  EXPECT_EQ(Str("timestamp('2026-11-01T06:30:00Z').getHours('America/New_York')"), "1");
  EXPECT_EQ(Str("timestamp('2026-11-01T06:30:00Z') - timestamp('2026-11-01T05:30:00Z')"),
            "duration(\"3600s\")");
  EXPECT_EQ(Str("timestamp('2026-11-01T06:30:00Z').getMonth('America/New_York')"), "10");
  // Fixed offsets and other zones.
  EXPECT_EQ(Str("timestamp('2026-01-01T00:30:00Z').getFullYear('-05:00')"), "2025");
  EXPECT_EQ(Str("timestamp('2026-01-01T00:30:00Z').getHours('Asia/Kolkata')"), "6");
  EXPECT_EQ(Str("timestamp('2026-01-01T00:30:00Z').getMinutes('Asia/Kolkata')"), "0");
  Value v = Eval("now.getHours('Mars/Olympus_Mons')");
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(), "unknown time zone \"Mars/Olympus_Mons\"");
}

TEST_F(ExprTest, TimestampDurationArithmetic) {
  EXPECT_EQ(Str("now + duration('1h30m')"), "timestamp(\"2026-02-01T01:30:00Z\")");
  EXPECT_EQ(Str("now - duration('36h') < now"), "true");
  EXPECT_EQ(Str("duration('1h') + duration('30m') == duration('90m')"), "true");
  EXPECT_EQ(Str("string(duration('1.5s'))"), "\"1.5s\"");
  EXPECT_EQ(Str("int(timestamp('1970-01-02T00:00:00Z'))"), "86400");
  EXPECT_EQ(Str("duration('2h').getMinutes()"), "120");
  Value v = Eval("timestamp('9999-12-31T23:59:59Z') + duration('1s')");
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(), "timestamp out of range");
  v = Eval("timestamp('not a time')");
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(), "invalid timestamp \"not a time\"");
}

TEST_F(ExprTest, ArithmeticErrors) {
  EXPECT_EQ(Eval("9223372036854775807 + 1").error_message(), "integer overflow");
  EXPECT_EQ(Eval("-9223372036854775808 - 1").error_message(), "integer overflow");
  EXPECT_EQ(Eval("0u - 1u").error_message(), "integer overflow");
  EXPECT_EQ(Eval("5 % 0").error_message(), "modulus by zero");
  EXPECT_EQ(Eval("opp.contacts.size() / 0").error_message(), "division by zero");
  EXPECT_EQ(Str("1 == 1.0 && 2u == 2 && 1 < 1.5"), "true");
  EXPECT_EQ(Str("dyn(1) + dyn(1.0)"), "error(\"no such overload: _+_(int, double)\")");
}

TEST(ExprLimits, NodeAndDepthLimitsAreCompileIssues) {
  Environment env = oppschema::OpportunityEnvironment();
  CompileOptions options;
  options.limits.max_nodes = 10;
  CompileResult r = Compile("1 + 1 + 1 + 1 + 1 + 1", env, options);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].message, "expression exceeds the limit of 10 nodes");

  // A huge flat expression stops at the limit instead of building a deep tree.
  std::string huge = "1";
  for (int i = 0; i < 200000; ++i) huge += " + 1";
  r = Compile(huge, env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.issues[0].message, "expression exceeds the limit of 4096 nodes");

  options = CompileOptions();
  options.limits.max_depth = 4;
  r = Compile("[[[[[1]]]]]", env, options);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].message, "expression nesting exceeds the limit of 4");
  EXPECT_EQ(r.issues[0].column, 5);

  r = Compile("1 + 1 + 1 + 1 + 1", env, options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.issues[0].message, "expression nesting depth 5 exceeds the limit of 4");

  // A pathological input is rejected, not a stack overflow.
  r = Compile(std::string(100000, '('), env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.issues[0].message, "expression nesting exceeds the limit of 128");
}

TEST(ExprLimits, IterationLimitIsARuntimeError) {
  Environment env = oppschema::OpportunityEnvironment();
  CompileOptions options;
  options.limits.max_iterations = 5;
  CompileResult r = Compile("[1, 2, 3].map(x, [1, 2, 3].map(y, x * y))", env, options);
  ASSERT_TRUE(r.ok());
  Activation act;
  Value v = r.program->Evaluate(act);
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(), "comprehension iteration limit of 5 exceeded");
  r = Compile("[1, 2].map(x, x * 2)", env, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.program->Evaluate(act).DebugString(), "[2, 4]");
}

TEST_F(ExprTest, ConcurrentEvaluationIsSafe) {
  CompileResult r = Compile(
      "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() == 1 && "
      "opp.name.matches('^Acme') && now - opp.last_meeting_at > duration('504h')",
      env_);
  ASSERT_TRUE(r.ok());
  std::vector<std::thread> threads;
  std::vector<int> trues(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        if (EvaluateCondition(*r.program, act_).truth == Truth::kTrue) ++trues[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_THAT(trues, ElementsAre(500, 500, 500, 500));
}

TEST_F(ExprTest, CustomFieldTypeMismatchIsAnError) {
  (*opp_.mutable_fields())["decision_to_change"].set_string_value("yes");
  Value v = Eval("opp.fields.decision_to_change");
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(),
            "custom field 'decision_to_change' holds a string but is declared bool");
  (*opp_.mutable_fields())["decision_to_change"].set_bool_value(true);
  EXPECT_EQ(Str("opp.fields.decision_to_change"), "true");
}

TEST(ExprCli, EvaluatesWithVars) {
  auto r = oppschema::EvaluateForCli("opp.amount * 2.0", R"({"opp": {"amount": 21.5}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "43.0");
  r = oppschema::EvaluateForCli("x + 1", R"({"x": 41})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "42");
  r = oppschema::EvaluateForCli("now.getFullYear() == 2026 && tags.exists(t, t == 'vip')",
                                R"({"now": "2026-05-01T00:00:00Z", "tags": ["new", "vip"]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "true");
  r = oppschema::EvaluateForCli("opp.fields.tier == 'gold'",
                                R"({"opp": {"fields": {"tier": {"stringValue": "gold"}}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "true");
  r = oppschema::EvaluateForCli("opp.close_date", R"({"opp": {}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "unknown(opp.close_date)");
}

TEST(ExprCli, ErrorsNameLineAndColumn) {
  auto r = oppschema::EvaluateForCli("opp.amout > 1", R"({"opp": {}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "1:5: undefined field 'amout' on dealcoach.v1.Opportunity; did you mean 'amount'?");
  r = oppschema::EvaluateForCli("1 / 0", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "evaluation error: division by zero");
  r = oppschema::EvaluateForCli("1", "[1]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "vars: expected a JSON object");
}

namespace {
// Peak resident set size of this process in kB (/proc/self/status VmHWM).
int64_t PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}
int64_t RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}
}  // namespace

// A string doubled in a comprehension would reach 2^40 bytes; the value budget stops it
// with an Error value naming the limit, and the peak RSS moves by a few MiB at most.
TEST(ExprLimits, StringGrowthIsBoundedByTheValueBudget) {
  Environment env = oppschema::OpportunityEnvironment();
  {
    std::ofstream clear("/proc/self/clear_refs");  // reset VmHWM to the current RSS
    clear << "5";
  }
  const int64_t before = RssKb();
  Activation act;
  CompileResult r = Compile("true", env);
  Value v;
  std::string e;
  // Repeated doubling through nested comprehensions (the result of each level feeds
  // the next): 2^k growth.
  e = "\"ab\"";
  for (int i = 0; i < 40; ++i) e = absl::StrCat("[", e, "].map(s, s + s)[0]");
  r = Compile(e, env);
  ASSERT_TRUE(r.ok()) << r.issues[0].message;
  v = r.program->Evaluate(act);
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(),
            "value size limit of 8388608 bytes per evaluation exceeded (strings, lists and maps "
            "built by the expression)");

  // List growth: `+` on lists.
  e = "[1, 2, 3, 4]";
  for (int i = 0; i < 30; ++i) e = absl::StrCat("[", e, "].map(l, l + l)[0]");
  r = Compile(e, env);
  ASSERT_TRUE(r.ok()) << r.issues[0].message;
  v = r.program->Evaluate(act);
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_TRUE(absl::StartsWith(v.error_message(), "value size limit")) << v.error_message();

  const int64_t growth = PeakRssKb() - before;
  std::cout << "peak RSS growth: " << growth << " kB\n";
  EXPECT_LT(growth, 64 * 1024);  // 8 MiB budget; 2x for the last concatenation + slack

  // Within the budget everything still works, and the limit is configurable.
  CompileOptions options;
  options.limits.max_value_bytes = 64;
  r = Compile("\"abcdefgh\" + string(1) + \"ijklmnop\"", env, options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.program->Evaluate(act).DebugString(), "\"abcdefgh1ijklmnop\"");
  r = Compile("[1, 2].map(x, string(x) + string(x) + string(x) + string(x) + \"0123456789\")", env,
              options);
  ASSERT_TRUE(r.ok());
  v = r.program->Evaluate(act);
  ASSERT_EQ(v.kind(), ValueKind::kError);
  EXPECT_EQ(v.error_message(),
            "value size limit of 64 bytes per evaluation exceeded (strings, lists and maps "
            "built by the expression)");
}

}  // namespace
}  // namespace dealcoach::expr
