// Internal: the typed fast path of the evaluator.
//
// Most playbook conditions are fully typed reads of the root message, compared with
// constants and combined with && / || / ! and the collection macros. For a bool-typed,
// checked expression made only of such parts, the planner also builds a FastProgram:
// typed nodes that read the schema's generated classes directly (through the
// embedder's FastAccessors, schema.h) and produce a
// definite true or false without building Values. Whenever the answer would involve an
// unknown (a field the CRM did not send), an error, or anything outside this subset,
// a node reports "undecided" and Program::Evaluate runs the general evaluator, which has
// the complete CEL semantics. Evaluation is pure, so running the fast path first never
// changes an answer; tests check both paths agree on every shipped condition.
//
// Thread-safety: a FastProgram is immutable; Eval may be called from any thread.
#ifndef DEALCOACH_SIDECAR_EXPR_FAST_PATH_H_
#define DEALCOACH_SIDECAR_EXPR_FAST_PATH_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "sidecar/expr/ast.h"
#include "sidecar/expr/checker.h"
#include "sidecar/expr/fast_fields.h"
#include "sidecar/expr/schema.h"
#include "sidecar/expr/value.h"

namespace dealcoach::expr::fast {

struct FastProgram {
  std::unique_ptr<const FastNode> root;  // bool-valued
  bool uses_now = false;
};

// Folds a variable-free subtree (duration("504h"), ["a", "b"]) to its constant value;
// false when it is not constant.
using ConstantFolder = std::function<bool(const Node* node, Value* out)>;

// Plans the checked, bool-typed expression `root` for a schema environment
// (Environment::ForSchema: the root variable a message of the schema's generated root
// class, the clock variable a timestamp). Null when the environment has no schema or no
// fast accessors, or any part is outside the fast path; the general evaluator then
// handles the expression alone.
std::unique_ptr<const FastProgram> PlanFast(const Node* root, const EnvironmentData& env,
                                            const ConstantFolder& fold);

}  // namespace dealcoach::expr::fast

#endif  // DEALCOACH_SIDECAR_EXPR_FAST_PATH_H_
