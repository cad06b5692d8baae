// Internal: the abstract syntax tree of an expression, produced by the parser, annotated
// by the checker and consumed by the planner. Not part of the public API.
//
// Thread-compatible: built once during Compile and never shared afterwards.
#ifndef DEALCOACH_SIDECAR_EXPR_AST_H_
#define DEALCOACH_SIDECAR_EXPR_AST_H_

#include <memory>
#include <string>
#include <vector>

#include "sidecar/expr/expr.h"
#include "sidecar/expr/types.h"
#include "sidecar/expr/value.h"

namespace dealcoach::expr {

// Which macro a comprehension node came from.
// Two-variable forms (cel-spec macros2: all(i, v, p), transformList, transformMap) set
// Node::name2.
enum class MacroKind {
  kAll,
  kExists,
  kExistsOne,
  kMap,
  kMapFilter,
  kFilter,
  kTransformList,
  kTransformListFilter,
  kTransformMap,
  kTransformMapFilter
};

struct Node {
  enum class Kind { kConst, kIdent, kSelect, kCall, kList, kMap, kComprehension };

  Kind kind = Kind::kConst;
  size_t offset = 0;  // byte offset of the token that introduced the node

  Value constant;  // kConst
  std::string
      name;  // kIdent: identifier; kSelect: field; kCall: function; kComprehension: iter var
  std::string name2;                  // kComprehension: second iteration variable, if any
  bool test_only = false;             // kSelect produced by has()
  bool receiver_style = false;        // kCall: args[0] is the receiver
  MacroKind macro = MacroKind::kAll;  // kComprehension
  // kSelect: args[0] operand. kCall: arguments (receiver first). kList: elements.
  // kMap: key, value, key, value... kComprehension: range, predicate/transform[, transform].
  std::vector<std::unique_ptr<Node>> args;

  // Set by the checker.
  TypePtr type;
};

// Parses `source`. On failure returns null and appends issues (offset set, line/column
// filled in by the caller).
std::unique_ptr<Node> Parse(absl::string_view source, const Limits& limits,
                            std::vector<Issue>* issues);

// Fills Issue::line/column from Issue::offset.
void PositionIssue(absl::string_view source, Issue* issue);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_AST_H_
