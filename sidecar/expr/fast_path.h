// Internal: the typed fast path of the evaluator.
//
// Most playbook conditions are fully typed reads of the opportunity, compared with
// constants and combined with && / || / ! and the collection macros. For a bool-typed,
// checked expression made only of such parts, the planner also builds a FastProgram:
// typed nodes that read the generated dealcoach.v1 classes directly and produce a
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
#include "sidecar/expr/value.h"

namespace dealcoach::expr::fast {

// Nested comprehensions the fast path handles.
constexpr int kMaxDepth = 4;

// Per-evaluation state.
struct Context {
  // The `opp` variable: a message of the generated dealcoach.v1.Opportunity class.
  const google::protobuf::Message* opp = nullptr;
  // The `now` variable, as time since the Unix epoch.
  FastTime now;
  // The current element of each enclosing comprehension, by nesting depth.
  const google::protobuf::Message* elems[kMaxDepth];  // written before read
  int64_t iterations = 0;
  int64_t max_iterations = 0;
};

// The comparison operators of the fast path.
enum class CompareOp { kLt, kLe, kGt, kGe, kEq, kNe };

// `x op y` for an operator chosen at run time. NaN compares false under every relation
// and unequal, as CEL's built-ins do.
template <typename T>
bool CompareWith(CompareOp op, const T& x, const T& y) {
  switch (op) {
    case CompareOp::kLt:
      return x < y;
    case CompareOp::kLe:
      return x <= y;
    case CompareOp::kGt:
      return x > y;
    case CompareOp::kGe:
      return x >= y;
    case CompareOp::kEq:
      return x == y;
    case CompareOp::kNe:
      return x != y;
  }
  return false;
}

class FastNode {
 public:
  virtual ~FastNode() = default;
  // Writes the value to *out and returns true, or returns false when undecided.
  virtual bool Eval(Context& c, FastScalar* out) const = 0;
};

struct FastProgram {
  std::unique_ptr<const FastNode> root;  // bool-valued
  bool uses_now = false;
};

// Folds a variable-free subtree (duration("504h"), ["a", "b"]) to its constant value;
// false when it is not constant.
using ConstantFolder = std::function<bool(const Node* node, Value* out)>;

// Plans the checked, bool-typed expression `root` for the playbook environment (`opp` a
// dealcoach.v1.Opportunity, `now` a timestamp). Null when any part is outside the fast
// path; the general evaluator then handles the expression alone.
std::unique_ptr<const FastProgram> PlanFast(const Node* root, const EnvironmentData& env,
                                            const ConstantFolder& fold);

}  // namespace dealcoach::expr::fast

#endif  // DEALCOACH_SIDECAR_EXPR_FAST_PATH_H_
