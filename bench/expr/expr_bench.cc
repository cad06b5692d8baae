// Benchmarks for the expression language. For every typical playbook condition:
//   BM_Compile/<name>  parse + type-check + plan
//   BM_Eval/<name>     Program::Evaluate on a prepared Activation
//   BM_EvalGeneral/<name>  the same without the typed fast path (the general evaluator)
//   BM_Lambda/<name>   a hand-written C++ lambda doing the same work on the same proto
// The Eval/Lambda ratio is the interpreter's overhead (goal: within 3x).
//
// Run: build-expr/bench/expr/expr_bench --benchmark_min_time=0.2
#include <functional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "re2/re2.h"
#include "sidecar/expr/expr.h"
#include "sidecar/oppschema/oppschema.h"

namespace dealcoach::expr {
namespace {

using dealcoach::v1::Opportunity;

const absl::Time kNow = absl::FromUnixSeconds(1780000000);  // fixed, never the clock

const Opportunity& Opp() {
  static const Opportunity* opp = [] {
    auto* o = new Opportunity();
    o->set_id("006Ax000001");
    o->set_name("Acme Industrial Inc");
    o->set_amount(125000.0);
    o->set_stage("Negotiation");
    o->mutable_last_meeting_at()->set_seconds(1780000000 - 30 * 86400);
    o->mutable_close_date()->set_seconds(1780000000 + 20 * 86400);
    for (int i = 0; i < 8; ++i) {
      auto* c = o->add_contacts();
      c->set_name("Contact " + std::to_string(i));
      c->set_confirmed_pain(i % 3 == 0);
      c->add_roles(i == 0 ? "economic_buyer" : "user_buyer");
    }
    (*o->mutable_fields())["decision_to_change"].set_bool_value(true);
    return o;
  }();
  return *opp;
}

struct Case {
  const char* name;
  const char* source;
  std::function<bool(const Opportunity&, absl::Time)> baseline;
};

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"field_compare", "opp.amount > 50000.0",
       [](const Opportunity& o, absl::Time) { return o.has_amount() && o.amount() > 50000.0; }},
      // The customer-journey playbook's awareness gate, verbatim.
      {"filter_count",
       "opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= 2",
       [](const Opportunity& o, absl::Time) {
         int n = 0;
         for (const auto& c : o.contacts()) n += c.has_confirmed_pain() && c.confirmed_pain();
         return n >= 2;
       }},
      {"timestamp_arith", "now - opp.last_meeting_at > duration(\"504h\")",
       [](const Opportunity& o, absl::Time now) {
         if (!o.has_last_meeting_at()) return false;
         absl::Time t = absl::FromUnixSeconds(o.last_meeting_at().seconds()) +
                        absl::Nanoseconds(o.last_meeting_at().nanos());
         return now - t > absl::Hours(504);
       }},
      {"matches", "opp.name.matches('^Acme.*(Inc|Corp)$')",
       [](const Opportunity& o, absl::Time) {
         static const RE2* re = new RE2("^Acme.*(Inc|Corp)$");
         return RE2::PartialMatch(o.name(), *re);
       }},
      {"combined",
       "opp.amount > 50000.0 && opp.stage == 'Negotiation' && opp.fields.decision_to_change",
       [](const Opportunity& o, absl::Time) {
         if (!(o.has_amount() && o.amount() > 50000.0)) return false;
         if (!(o.has_stage() && o.stage() == "Negotiation")) return false;
         auto it = o.fields().find("decision_to_change");
         return it != o.fields().end() && it->second.bool_value();
       }},
  };
  return *cases;
}

Environment Env() {
  Environment env = oppschema::OpportunityEnvironment();
  env.DeclareCustomField("decision_to_change", FieldType::kBool);
  return env;
}

void BM_Compile(benchmark::State& state, const Case* c) {
  Environment env = Env();
  for (auto _ : state) {
    CompileResult r = Compile(c->source, env);
    benchmark::DoNotOptimize(r.program);
  }
}

void BM_Eval(benchmark::State& state, const Case* c) {
  Environment env = Env();
  CompileResult r = Compile(c->source, env);
  if (!r.ok()) {
    state.SkipWithError(r.issues[0].message.c_str());
    return;
  }
  Activation act;
  act.SetMessage("opp", &Opp());
  act.SetTimestamp("now", kNow);
  Value v = r.program->Evaluate(act);
  if (v.kind() != ValueKind::kBool || v.bool_value() != c->baseline(Opp(), kNow)) {
    state.SkipWithError(("result differs from the baseline: " + v.DebugString()).c_str());
    return;
  }
  for (auto _ : state) {
    Value out = r.program->Evaluate(act);
    benchmark::DoNotOptimize(out);
  }
  // 1 when the typed fast path answers (see sidecar/expr/fast_path.h).
  state.counters["fast_path"] = HasFastPath(*r.program) ? 1 : 0;
}

// The general evaluator alone (CompileOptions::fast_path = false): what a condition
// costs when the fast path is undecided (an unknown field) or does not apply.
void BM_EvalGeneral(benchmark::State& state, const Case* c) {
  Environment env = Env();
  CompileOptions options;
  options.fast_path = false;
  CompileResult r = Compile(c->source, env, options);
  if (!r.ok()) {
    state.SkipWithError(r.issues[0].message.c_str());
    return;
  }
  Activation act;
  act.SetMessage("opp", &Opp());
  act.SetTimestamp("now", kNow);
  Value v = r.program->Evaluate(act);
  if (v.kind() != ValueKind::kBool || v.bool_value() != c->baseline(Opp(), kNow)) {
    state.SkipWithError(("result differs from the baseline: " + v.DebugString()).c_str());
    return;
  }
  for (auto _ : state) {
    Value out = r.program->Evaluate(act);
    benchmark::DoNotOptimize(out);
  }
}

void BM_Lambda(benchmark::State& state, const Case* c) {
  const Opportunity& opp = Opp();
  for (auto _ : state) {
    bool out = c->baseline(opp, kNow);
    benchmark::DoNotOptimize(out);
  }
}

int RegisterAll() {
  for (const Case& c : Cases()) {
    benchmark::RegisterBenchmark((std::string("BM_Compile/") + c.name).c_str(), BM_Compile, &c);
    benchmark::RegisterBenchmark((std::string("BM_Eval/") + c.name).c_str(), BM_Eval, &c);
    benchmark::RegisterBenchmark((std::string("BM_EvalGeneral/") + c.name).c_str(), BM_EvalGeneral,
                                 &c);
    benchmark::RegisterBenchmark((std::string("BM_Lambda/") + c.name).c_str(), BM_Lambda, &c);
  }
  return 0;
}
const int registered = RegisterAll();

}  // namespace
}  // namespace dealcoach::expr

BENCHMARK_MAIN();
