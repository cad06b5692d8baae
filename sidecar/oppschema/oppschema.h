// File: oppschema.h
//
// The opportunity schema: how playbook expressions see a CRM deal. It binds the
// schema-neutral expression library (sidecar/expr) to the public API's
// dealcoach.v1.Opportunity:
//   - `opp`: a dealcoach.v1.Opportunity, read from its protobuf descriptor;
//   - `now`: a timestamp, the evaluation time;
//   - `opp.fields.<name>`: custom fields, dealcoach.v1.FieldValue (one oneof), typed by
//     Environment::DeclareCustomField;
//   - generated-accessor readers for every field playbooks read (accessors.cc), which
//     the evaluator and the typed fast path use instead of protobuf reflection.
//
// Example:
//   expr::Environment env = oppschema::OpportunityEnvironment();
//   env.DeclareCustomField("decision_to_change", expr::FieldType::kBool);
//   expr::CompileResult r = expr::Compile("opp.amount > 50000.0", env);
//   expr::Activation act;
//   act.SetMessage("opp", &opportunity);
//   act.SetTimestamp("now", now);
//
// Thread-safety: everything here is immutable after first use and safe to share.
#ifndef DEALCOACH_SIDECAR_OPPSCHEMA_OPPSCHEMA_H_
#define DEALCOACH_SIDECAR_OPPSCHEMA_OPPSCHEMA_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sidecar/expr/expr.h"
#include "sidecar/expr/schema.h"

namespace dealcoach::oppschema {

// The schema (static lifetime; registered with expr::RegisterSchema on first use).
const expr::MessageSchema& OpportunitySchema();

// The generated-accessor readers for the dealcoach.v1 messages (static lifetime).
const expr::FastAccessors& OpportunityAccessors();

// expr::Environment::ForSchema(OpportunitySchema()): the environment playbook
// expressions compile against. The schema is fixed and valid (tested), so this cannot
// fail.
expr::Environment OpportunityEnvironment();

// `dealcoach expr 'EXPR' --vars FILE.json`: expr::EvaluateForCli with this schema, so
// `opp` is an Opportunity in proto3 JSON (custom fields also as plain JSON values) and
// `now` an RFC 3339 time. Errors as expr::EvaluateForCli.
[[nodiscard]] absl::StatusOr<std::string> EvaluateForCli(absl::string_view source,
                                                         absl::string_view vars_json);

}  // namespace dealcoach::oppschema

#endif  // DEALCOACH_SIDECAR_OPPSCHEMA_OPPSCHEMA_H_
