// File: schema.h
//
// The embedder's hook into the expression library: which protobuf message expressions
// read at their root, and (optionally) generated-accessor tables that let the evaluator
// and the typed fast path read that message's generated C++ classes without reflection.
//
// The expression library itself knows no schema: every type it checks against comes
// from a protobuf Descriptor an embedder declares. The sidecar's opportunity schema
// (the API's Opportunity message as `opp`) lives in sidecar/oppschema.
//
// Example:
//   const expr::MessageSchema& Schema() {
//     static const expr::MessageSchema* schema = [] {
//       auto* s = new expr::MessageSchema();
//       s->root_variable = "deal";
//       s->root_type = acme::Deal::descriptor();
//       s->accessors = new AcmeAccessors();  // optional: the fast path
//       return s;
//     }();
//     return *schema;
//   }
//   absl::StatusOr<expr::Environment> env = expr::Environment::ForSchema(Schema());
//   ...
//   expr::Activation act;
//   act.SetMessage("deal", &deal);  // a generated acme::Deal: the fast path applies
//
// Thread-safety: a MessageSchema and its accessors are immutable once built and must
// outlive every Environment, Program and Activation made with them (a function-local
// static, as a protobuf Descriptor is). RegisterSchema is thread-safe.
#ifndef DEALCOACH_SIDECAR_EXPR_SCHEMA_H_
#define DEALCOACH_SIDECAR_EXPR_SCHEMA_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sidecar/expr/fast_fields.h"

namespace dealcoach::expr {

// Generated-accessor readers for the generated classes of a schema. Every lookup runs at
// plan time (once per selection in an expression, at playbook load), never per
// evaluation. Each returns null when it has no reader for the field; that part of the
// expression then reads through reflection (and may leave the typed fast path), with
// the same result. A reader is only called on messages whose Reflection is
// GeneratedReflection(descriptor), and for fields of `descriptor` itself.
//
// The defaults return null, so an embedder overrides only what it has.
class FastAccessors {
 public:
  virtual ~FastAccessors() = default;

  // Singular `field` of `descriptor` as a Value (general evaluator).
  virtual FastFieldReader Field(const google::protobuf::Descriptor* descriptor,
                                const google::protobuf::FieldDescriptor* field) const;
  // Elements of repeated message `field` (comprehension ranges).
  virtual FastElementReader Element(const google::protobuf::Descriptor* descriptor,
                                    const google::protobuf::FieldDescriptor* field) const;
  // Singular scalar or Timestamp `field` as a FastScalar (typed fast path).
  virtual FastScalarReader Scalar(const google::protobuf::Descriptor* descriptor,
                                  const google::protobuf::FieldDescriptor* field) const;
  // Presence of singular `field` with explicit presence.
  virtual FastHasReader Has(const google::protobuf::Descriptor* descriptor,
                            const google::protobuf::FieldDescriptor* field) const;
  // Singular submessage `field` (not Timestamp).
  virtual FastMessageReader SubMessage(const google::protobuf::Descriptor* descriptor,
                                       const google::protobuf::FieldDescriptor* field) const;
  // Size of repeated `field`.
  virtual FastSizeReader Size(const google::protobuf::Descriptor* descriptor,
                              const google::protobuf::FieldDescriptor* field) const;
  // Repeated string `field`.
  virtual FastStringsReader Strings(const google::protobuf::Descriptor* descriptor,
                                    const google::protobuf::FieldDescriptor* field) const;
  // Fused count of bool `flag` over the elements of repeated message `range`.
  virtual FastFlagCounter FlagCounter(const google::protobuf::Descriptor* descriptor,
                                      const google::protobuf::FieldDescriptor* range,
                                      const google::protobuf::FieldDescriptor* flag) const;
  // Fused `root.<field> <op> k` for a field of the root type.
  virtual FastRootCompareFactory RootCompare(const google::protobuf::Descriptor* descriptor,
                                             const google::protobuf::FieldDescriptor* field) const;
  // Key lookup in custom-field map `map_field` of `descriptor` (general evaluator).
  virtual FastCustomFieldLookup CustomFieldLookup(
      const google::protobuf::Descriptor* descriptor,
      const google::protobuf::FieldDescriptor* map_field) const;
  // Custom field `root.<map_field>.<key>` as a fast-path node; `descriptor` is the root
  // type.
  virtual FastCustomFieldFactory CustomField(
      const google::protobuf::Descriptor* descriptor,
      const google::protobuf::FieldDescriptor* map_field) const;
};

// What an embedder declares: the root variable and its message type, the clock
// variable, the custom-field value type, and optional fast accessors.
struct MessageSchema {
  // Name of the root variable, e.g. "opp". Required; an identifier.
  std::string root_variable;
  // Its message type. Required. Fields, nested messages, enums and well-known types are
  // read from the descriptor; messages of the generated class get the fast paths.
  const google::protobuf::Descriptor* root_type = nullptr;
  // Name of a timestamp variable declared next to the root (the evaluation time).
  // Default: "now". Empty: none.
  std::string clock_variable = "now";
  // Optional: a message type that stands for one dynamically typed value, such as a
  // CRM custom field: all of its fields are members of one oneof, and reading it yields
  // the member that is set (null when none is). A map<string, T> field of this type is
  // a custom-field map: `root.<map>.<name>` is typed by Environment::DeclareCustomField
  // and a missing key is unknown. Default: none.
  const google::protobuf::Descriptor* dynamic_value_type = nullptr;
  // Optional generated-accessor readers (the evaluator's and the typed fast path's
  // speed). Not owned; must outlive the schema's users. Default: none (reflection only).
  const FastAccessors* accessors = nullptr;
};

// Checks `schema` and makes it known process-wide. Needed because values convert without
// an environment: a dynamic_value_type message reads as its set member wherever it
// appears, and Activation::SetMessage(root_variable, m) with a generated root_type
// message enables the typed fast path. Idempotent; Environment::ForSchema calls it.
// InvalidArgument names what is wrong (no root type, a root variable that is not an
// identifier, a dynamic value type that is not a single oneof, ...); ResourceExhausted
// past 16 schemas. Per (root_variable, root_type), the first registered schema is the
// one whose programs take the fast path.
[[nodiscard]] absl::Status RegisterSchema(const MessageSchema* schema);

// The Reflection of the generated class for `descriptor`, or null when the descriptor
// does not come from the generated pool.
[[nodiscard]] const google::protobuf::Reflection* GeneratedReflection(
    const google::protobuf::Descriptor* descriptor);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_SCHEMA_H_
