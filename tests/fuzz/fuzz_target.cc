#include "tests/fuzz/fuzz_target.h"

#include "absl/strings/str_cat.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "sidecar/expr/expr.h"
#include "sidecar/oppschema/oppschema.h"

namespace dealcoach::expr::fuzz {

namespace {

struct Fixture {
  Fixture() : env(oppschema::OpportunityEnvironment()) {
    env.DeclareCustomField("decision_to_change", FieldType::kBool);
    env.DeclareCustomField("tier", FieldType::kString);
    env.DeclareDynVariable("x");
    env.DeclareDynVariable("m");
    opp.set_name("Acme");
    opp.set_amount(1234.5);
    auto* c = opp.add_contacts();
    c->set_name("Ann");
    c->set_confirmed_pain(true);
    c->add_roles("champion");
    opp.add_contacts()->set_name("Bob");
    opp.mutable_close_date()->set_seconds(1790000000);
    (*opp.mutable_fields())["tier"].set_string_value("gold");
    act.SetMessage("opp", &opp);
    act.SetTimestamp("now", absl::FromUnixSeconds(1780000000));
    act.SetValue("x", Value::List({Value::Int(1), Value::String("a"), Value::Double(2.5)}));
    act.SetValue("m", Value::Map({{Value::String("k"), Value::Int(7)}}));
    options.limits.max_iterations = 20000;
  }
  Environment env;
  dealcoach::v1::Opportunity opp;
  Activation act;
  CompileOptions options;
};

const Fixture& GetFixture() {
  static const Fixture* f = new Fixture();
  return *f;
}

}  // namespace

FuzzOutcome FuzzOne(absl::string_view source) {
  const Fixture& f = GetFixture();
  FuzzOutcome out;
  CompileResult r = Compile(source, f.env, f.options);
  if (!r.ok()) {
    if (r.issues.empty()) {
      out.violation = "compile failed without an issue";
      return out;
    }
    for (const Issue& i : r.issues) {
      if (i.message.empty()) out.violation = "issue without a message";
      if (i.offset > source.size())
        out.violation = absl::StrCat("issue offset ", i.offset, " past end");
      if (i.line < 1 || i.column < 1) out.violation = "issue without a position";
    }
    return out;
  }
  if (!r.issues.empty()) {
    out.violation = "compiled program with issues";
    return out;
  }
  out.compiled = true;
  Value v = r.program->Evaluate(f.act);
  std::string rendered = v.DebugString();
  Condition c = EvaluateCondition(*r.program, f.act);
  if (c.truth == Truth::kError && c.error.empty())
    out.violation = "error condition without a message";
  if (c.truth == Truth::kUnknown && c.missing.empty()) out.violation = "unknown without attributes";
  if (r.program->returns_bool() && v.kind() != ValueKind::kBool && !v.is_error_or_unknown()) {
    out.violation = absl::StrCat("checker said bool, got ", rendered);
  }
  return out;
}

}  // namespace dealcoach::expr::fuzz
