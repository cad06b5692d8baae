// Internal: the environment's data and the type checker. Not part of the public API.
//
// Thread-compatible: a Checker is used by one Compile call.
#ifndef DEALCOACH_SIDECAR_EXPR_CHECKER_H_
#define DEALCOACH_SIDECAR_EXPR_CHECKER_H_

#include <string>
#include <utility>
#include <vector>

#include "sidecar/expr/ast.h"
#include "sidecar/expr/expr.h"
#include "sidecar/expr/schema.h"
#include "sidecar/expr/types.h"

namespace dealcoach::expr {

struct Environment::Impl {
  struct Var {
    std::string name;
    TypePtr type;
  };
  std::vector<Var> vars;
  std::vector<std::pair<std::string, FieldType>> custom_fields;
  // The schema the environment was made for (ForSchema); null otherwise. Its root and
  // clock variables are in `vars`.
  const MessageSchema* schema = nullptr;
};
using EnvironmentData = Environment::Impl;

// Closest candidate within a small edit distance of `name`, or "".
std::string SuggestName(absl::string_view name, const std::vector<std::string>& candidates);
// Static type of a message field (repeated -> list, map -> map).
TypePtr FieldTypeOf(const google::protobuf::FieldDescriptor* f);
// True for a registered schema's dynamic value type (MessageSchema::dynamic_value_type),
// the value type of custom-field maps.
bool IsCustomFieldValue(const TypePtr& t);
TypePtr CustomFieldType(FieldType t);
// type(dyn) when `name` denotes a type ("int", "list", ...); null otherwise.
TypePtr TypeNameType(absl::string_view name);

// Rewrites select chains that spell a declared dotted variable name ("a.b.c") or a
// qualified type name ("google.protobuf.Timestamp") into identifiers, preferring the
// longest prefix (CEL name resolution). `scopes` holds comprehension variables.
void ResolveQualifiedNames(Node* n, const EnvironmentData& env, std::vector<std::string>* scopes);

class Checker {
 public:
  // With strict == false nothing is reported (types still computed, dyn where unknown).
  Checker(const EnvironmentData& env, bool strict, std::vector<Issue>* issues);
  void Check(Node* n);

 private:
  void Report(size_t offset, std::string message);
  TypePtr ConstType(const Value& v);
  void CheckIdent(Node* n);
  void CheckSelect(Node* n);
  void CheckCall(Node* n);
  void CheckComprehension(Node* n);

  const EnvironmentData& env_;
  bool strict_;
  std::vector<Issue>* issues_;
  std::vector<std::pair<std::string, TypePtr>> scopes_;
};

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_CHECKER_H_
