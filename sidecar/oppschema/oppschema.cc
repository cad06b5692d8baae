// The opportunity schema (see oppschema.h).
#include "sidecar/oppschema/oppschema.h"

#include <cstdio>
#include <cstdlib>

#include "dealcoach/v1/opportunity.pb.h"

namespace dealcoach::oppschema {

const expr::MessageSchema& OpportunitySchema() {
  static const expr::MessageSchema* schema = [] {
    auto* s = new expr::MessageSchema();
    s->root_variable = "opp";
    s->root_type = v1::Opportunity::descriptor();
    s->clock_variable = "now";
    s->dynamic_value_type = v1::FieldValue::descriptor();
    s->accessors = &OpportunityAccessors();
    if (absl::Status st = expr::RegisterSchema(s); !st.ok()) {
      std::fprintf(stderr, "oppschema: %s\n", st.ToString().c_str());
      std::abort();
    }
    return s;
  }();
  return *schema;
}

expr::Environment OpportunityEnvironment() {
  absl::StatusOr<expr::Environment> env = expr::Environment::ForSchema(OpportunitySchema());
  if (!env.ok()) {  // registered (and so validated) above: unreachable
    std::fprintf(stderr, "oppschema: %s\n", env.status().ToString().c_str());
    std::abort();
  }
  return *std::move(env);
}

absl::StatusOr<std::string> EvaluateForCli(absl::string_view source, absl::string_view vars_json) {
  return expr::EvaluateForCli(source, vars_json, &OpportunitySchema());
}

}  // namespace dealcoach::oppschema
