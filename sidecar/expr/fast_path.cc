// The typed fast path (see fast_path.h): typed nodes over a schema's generated classes,
// read through the embedder's FastAccessors (schema.h). Every node either produces a definite value
// or reports "undecided"; the logic nodes and macros mirror CEL's absorption rules so that a
// definite answer is always the one the general evaluator would give.
#include "sidecar/expr/fast_path.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/strings/match.h"
#include "re2/re2.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::expr::fast {
namespace {

namespace pb = google::protobuf;
using TK = Type::Kind;

// The scalar kinds of the fast path. Timestamps are durations since the epoch.
enum class SK { kBool, kInt, kDouble, kString, kTime, kDuration, kNone };

SK KindOf(const TypePtr& t) {
  if (t == nullptr) return SK::kNone;
  switch (t->kind) {
    case TK::kBool:
      return SK::kBool;
    case TK::kInt:
      return SK::kInt;
    case TK::kDouble:
      return SK::kDouble;
    case TK::kString:
      return SK::kString;
    case TK::kTimestamp:
      return SK::kTime;
    case TK::kDuration:
      return SK::kDuration;
    default:
      return SK::kNone;
  }
}

// CEL's timestamp and duration ranges; results outside them are errors (undecided here).
bool TimeInRange(FastTime t) {
  return t.sec >= kMinTimestampSeconds && t.sec <= kMaxTimestampSeconds;
}
bool DurationInRange(FastTime d) {
  // -315576000000.999999999 s is sec = -315576000001, nsec = 1.
  return d.sec <= 315576000000 && (d.sec > -315576000001 || (d.sec == -315576000001 && d.nsec > 0));
}

// A timestamp difference must fit a duration of int64 nanoseconds (about 292 years), as
// in the general evaluator and the reference implementations.
bool FitsInt64Nanos(FastTime d) {
  return (d.sec < 9223372036 || (d.sec == 9223372036 && d.nsec <= 854775807)) &&
         (d.sec > -9223372037 || (d.sec == -9223372037 && d.nsec >= 145224192));
}

FastTime Sub(FastTime a, FastTime b) {
  return FastTime::Normalized(a.sec - b.sec, int64_t{a.nsec} - b.nsec);
}
FastTime Add(FastTime a, FastTime b) {
  return FastTime::Normalized(a.sec + b.sec, int64_t{a.nsec} + b.nsec);
}

using NodePtr = std::unique_ptr<const FastNode>;

// ---------------------------------------------------------------------------
// Reading the root message.

// Where a message comes from: the root variable (`opp`) or a comprehension element, then
// singular submessage fields (opp.account).
struct MessagePath {
  int depth = -1;  // -1: the root; otherwise the comprehension nesting depth
  std::vector<FastMessageReader> chain;
  const pb::Descriptor* descriptor = nullptr;

  const pb::Message* Resolve(const Context& c) const {
    const pb::Message* m = depth < 0 ? c.root : c.elems[depth];
    if (ABSL_PREDICT_TRUE(chain.empty())) return m;
    return WalkChain(m);
  }

  // Out of line: keeps the common single-message case free of loop registers.
  ABSL_ATTRIBUTE_NOINLINE const pb::Message* WalkChain(const pb::Message* m) const {
    for (FastMessageReader r : chain) {
      m = r(*m);
      if (m == nullptr) return nullptr;  // unset submessage: let the general path decide
    }
    return m;
  }
};

class ConstNode final : public FastNode {
 public:
  explicit ConstNode(FastScalar v) : v_(v) {}
  bool Eval(Context&, FastScalar* out) const override {
    *out = v_;
    return true;
  }

 private:
  FastScalar v_;
};

class NowNode final : public FastNode {
 public:
  bool Eval(Context& c, FastScalar* out) const override {
    out->t = c.now;
    return true;
  }
};

class FieldNode final : public FastNode {
 public:
  FieldNode(MessagePath path, FastScalarReader reader) : path_(std::move(path)), reader_(reader) {}
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* m = path_.Resolve(c);
    return m != nullptr && reader_(*m, out);
  }

 private:
  MessagePath path_;
  FastScalarReader reader_;
};

// has(x.f) for a field with explicit presence.
class HasNode final : public FastNode {
 public:
  HasNode(MessagePath path, FastHasReader has) : path_(std::move(path)), has_(has) {}
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* m = path_.Resolve(c);
    if (m == nullptr) return false;
    out->b = has_(*m);
    return true;
  }

 private:
  MessagePath path_;
  FastHasReader has_;
};

// size(x.list), or has(x.list) when `nonempty`.
class SizeNode final : public FastNode {
 public:
  SizeNode(MessagePath path, FastSizeReader size, bool nonempty)
      : path_(std::move(path)), size_(size), nonempty_(nonempty) {}
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* m = path_.Resolve(c);
    if (m == nullptr) return false;
    const int n = size_(*m);
    if (nonempty_) {
      out->b = n > 0;
    } else {
      out->i = n;
    }
    return true;
  }

 private:
  MessagePath path_;
  FastSizeReader size_;
  bool nonempty_;
};

// ---------------------------------------------------------------------------
// Logic. A decisive operand (false for &&, true for ||) decides even when the other
// is undecided, exactly as CEL's commutative operators absorb errors and unknowns.

class AndNode final : public FastNode {
 public:
  AndNode(NodePtr a, NodePtr b, bool is_and) : a_(std::move(a)), b_(std::move(b)), and_(is_and) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar a;
    const bool ok_a = a_->Eval(c, &a);
    if (ok_a && a.b != and_) {
      out->b = a.b;
      return true;
    }
    FastScalar b;
    const bool ok_b = b_->Eval(c, &b);
    if (ok_b && b.b != and_) {
      out->b = b.b;
      return true;
    }
    out->b = and_;
    return ok_a && ok_b;
  }

 private:
  NodePtr a_, b_;
  bool and_;
};

class NotNode final : public FastNode {
 public:
  explicit NotNode(NodePtr a) : a_(std::move(a)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    if (!a_->Eval(c, out)) return false;
    out->b = !out->b;
    return true;
  }

 private:
  NodePtr a_;
};

// ---------------------------------------------------------------------------
// Comparison and arithmetic.

using Op = CompareOp;

template <SK kKind>
auto Get(const FastScalar& s) {
  if constexpr (kKind == SK::kBool) {
    return s.b;
  } else if constexpr (kKind == SK::kInt) {
    return s.i;
  } else if constexpr (kKind == SK::kDouble) {
    return s.d;
  } else if constexpr (kKind == SK::kString) {
    return s.s.view();
  } else {
    return s.t;
  }
}

// NaN compares false under every relation and unequal, as CEL's built-ins do.
template <Op kOp, typename T>
bool Apply(const T& x, const T& y) {
  if constexpr (kOp == Op::kLt) return x < y;
  if constexpr (kOp == Op::kLe) return x <= y;
  if constexpr (kOp == Op::kGt) return x > y;
  if constexpr (kOp == Op::kGe) return x >= y;
  if constexpr (kOp == Op::kEq) return x == y;
  if constexpr (kOp == Op::kNe) return x != y;
}

template <SK kKind, Op kOp>
class CompareNode final : public FastNode {
 public:
  CompareNode(NodePtr a, NodePtr b) : a_(std::move(a)), b_(std::move(b)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar a, b;
    if (!a_->Eval(c, &a) || !b_->Eval(c, &b)) return false;
    out->b = Apply<kOp>(Get<kKind>(a), Get<kKind>(b));
    return true;
  }

 private:
  NodePtr a_, b_;
};

// A field compared with a constant (opp.amount > 50000.0): one node, no child calls.
// Strings compare by bytes, which for UTF-8 is CEL's code point order.
template <SK kKind, Op kOp>
class FieldCompareNode final : public FastNode {
 public:
  FieldCompareNode(MessagePath path, FastScalarReader reader, FastScalar k, std::string text)
      : path_(std::move(path)), reader_(reader), k_(k), text_(std::move(text)) {
    if constexpr (kKind == SK::kString) k_.s = FastString::Of(text_);
  }
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* m = path_.Resolve(c);
    FastScalar v;
    if (m == nullptr || !reader_(*m, &v)) return false;
    out->b = Apply<kOp>(Get<kKind>(v), Get<kKind>(k_));
    return true;
  }

 private:
  MessagePath path_;
  FastScalarReader reader_;
  FastScalar k_;
  std::string text_;  // owns a string constant
};

template <SK kKind, Op kOp>
class CompareConstNode final : public FastNode {
 public:
  CompareConstNode(NodePtr a, FastScalar k, std::string text)
      : a_(std::move(a)), k_(k), text_(std::move(text)) {
    if constexpr (kKind == SK::kString) k_.s = FastString::Of(text_);
  }
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar a;
    if (!a_->Eval(c, &a)) return false;
    out->b = Apply<kOp>(Get<kKind>(a), Get<kKind>(k_));
    return true;
  }

 private:
  NodePtr a_;
  FastScalar k_;
  std::string text_;
};

enum class Arith {
  kTimeMinusTime,
  kTimePlusDur,
  kTimeMinusDur,
  kDurPlusDur,
  kDurMinusDur,
  kIntAdd,
  kIntSub,
  kIntMul,
  kDoubleAdd,
  kDoubleSub,
  kDoubleMul,
  kDoubleDiv
};

// Overflow and out-of-range results are errors in CEL: undecided here.
template <Arith kArith>
class ArithNode final : public FastNode {
 public:
  ArithNode(NodePtr a, NodePtr b) : a_(std::move(a)), b_(std::move(b)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar a, b;
    if (!a_->Eval(c, &a) || !b_->Eval(c, &b)) return false;
    // Timestamps read from the CRM are within CEL's range unless the data is broken,
    // and operands are at most ~3.2e11 s apart, so the int64 seconds cannot overflow.
    if constexpr (kArith == Arith::kTimeMinusTime) {
      out->t = Sub(a.t, b.t);
      return FitsInt64Nanos(out->t);
    } else if constexpr (kArith == Arith::kTimePlusDur) {
      out->t = Add(a.t, b.t);
      return TimeInRange(out->t);
    } else if constexpr (kArith == Arith::kTimeMinusDur) {
      out->t = Sub(a.t, b.t);
      return TimeInRange(out->t);
    } else if constexpr (kArith == Arith::kDurPlusDur) {
      out->t = Add(a.t, b.t);
      return DurationInRange(out->t);
    } else if constexpr (kArith == Arith::kDurMinusDur) {
      out->t = Sub(a.t, b.t);
      return DurationInRange(out->t);
    } else if constexpr (kArith == Arith::kIntAdd) {
      return !__builtin_add_overflow(a.i, b.i, &out->i);
    } else if constexpr (kArith == Arith::kIntSub) {
      return !__builtin_sub_overflow(a.i, b.i, &out->i);
    } else if constexpr (kArith == Arith::kIntMul) {
      return !__builtin_mul_overflow(a.i, b.i, &out->i);
    } else if constexpr (kArith == Arith::kDoubleAdd) {
      out->d = a.d + b.d;
    } else if constexpr (kArith == Arith::kDoubleSub) {
      out->d = a.d - b.d;
    } else if constexpr (kArith == Arith::kDoubleMul) {
      out->d = a.d * b.d;
    } else {
      out->d = a.d / b.d;  // IEEE: x/0 is +-inf or NaN, as in CEL
    }
    return true;
  }

 private:
  NodePtr a_, b_;
};

// ---------------------------------------------------------------------------
// Strings and membership.

// "x" in e.roles: a constant string in a repeated string field.
class InStringsNode final : public FastNode {
 public:
  InStringsNode(std::string needle, MessagePath path, FastStringsReader strings)
      : needle_(std::move(needle)), path_(std::move(path)), strings_(strings) {}
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* m = path_.Resolve(c);
    if (m == nullptr) return false;
    out->b = false;
    for (const std::string& e : strings_(*m)) {
      if (e == needle_) {
        out->b = true;
        break;
      }
    }
    return true;
  }

 private:
  std::string needle_;
  MessagePath path_;
  FastStringsReader strings_;
};

// x in ["a", "b"] (a constant list of strings).
class InConstNode final : public FastNode {
 public:
  InConstNode(NodePtr needle, std::vector<std::string> list)
      : needle_(std::move(needle)), list_(std::move(list)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar s;
    if (!needle_->Eval(c, &s)) return false;
    out->b = false;
    for (const std::string& e : list_) {
      if (e == s.s.view()) {
        out->b = true;
        break;
      }
    }
    return true;
  }

 private:
  NodePtr needle_;
  std::vector<std::string> list_;
};

enum class StringFn { kContains, kStartsWith, kEndsWith };

template <StringFn kFn>
class StringFnNode final : public FastNode {
 public:
  StringFnNode(NodePtr subject, std::string arg)
      : subject_(std::move(subject)), arg_(std::move(arg)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar s;
    if (!subject_->Eval(c, &s)) return false;
    if constexpr (kFn == StringFn::kContains) {
      out->b = absl::StrContains(s.s.view(), arg_);
    } else if constexpr (kFn == StringFn::kStartsWith) {
      out->b = absl::StartsWith(s.s.view(), arg_);
    } else {
      out->b = absl::EndsWith(s.s.view(), arg_);
    }
    return true;
  }

 private:
  NodePtr subject_;
  std::string arg_;
};

class MatchesNode final : public FastNode {
 public:
  MatchesNode(NodePtr subject, std::unique_ptr<RE2> re)
      : subject_(std::move(subject)), re_(std::move(re)) {}
  bool Eval(Context& c, FastScalar* out) const override {
    FastScalar s;
    if (!subject_->Eval(c, &s)) return false;
    out->b = RE2::PartialMatch(re2::StringPiece(s.s.data, s.s.size), *re_);
    return true;
  }

 private:
  NodePtr subject_;
  std::unique_ptr<RE2> re_;
};

// ---------------------------------------------------------------------------
// Macros over a repeated message field.

enum class Macro { kAll, kExists, kExistsOne, kCount };

class ComprehensionNode final : public FastNode {
 public:
  ComprehensionNode(Macro macro, int depth, MessagePath range, FastSizeReader size,
                    FastElementReader element, NodePtr pred)
      : macro_(macro),
        depth_(depth),
        range_(std::move(range)),
        size_(size),
        element_(element),
        pred_(std::move(pred)) {}

  // Mirrors the general evaluator: all stops at the first false and exists at the first
  // true (absorbing undecided elements seen before); exists_one and the count are strict.
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* parent = range_.Resolve(c);
    if (parent == nullptr) return false;
    const int n = size_(*parent);
    bool undecided = false;
    int64_t count = 0;
    for (int i = 0; i < n; ++i) {
      if (++c.iterations > c.max_iterations) return false;  // the limit error
      c.elems[depth_] = &element_(*parent, i);
      FastScalar p;
      if (!pred_->Eval(c, &p)) {
        if (macro_ == Macro::kExistsOne || macro_ == Macro::kCount) return false;
        undecided = true;
        continue;
      }
      if (macro_ == Macro::kAll && !p.b) {
        out->b = false;
        return true;
      }
      if (macro_ == Macro::kExists && p.b) {
        out->b = true;
        return true;
      }
      count += p.b ? 1 : 0;
    }
    if (undecided) return false;
    switch (macro_) {
      case Macro::kAll:
        out->b = true;
        break;
      case Macro::kExists:
        out->b = false;
        break;
      case Macro::kExistsOne:
        out->b = count == 1;
        break;
      case Macro::kCount:
        out->i = count;
        break;
    }
    return true;
  }

 private:
  Macro macro_;
  int depth_;
  MessagePath range_;
  FastSizeReader size_;
  FastElementReader element_;
  NodePtr pred_;
};

// A macro whose predicate is an element's bool flag (c.confirmed_pain, !c.is_primary,
// has(c.confirmed_pain) && c.confirmed_pain): one fused loop over the generated class.
class FlagNode final : public FastNode {
 public:
  FlagNode(Macro macro, MessagePath parent, FastFlagCounter counter, bool negate, bool skip_unset)
      : macro_(macro),
        parent_(std::move(parent)),
        counter_(counter),
        negate_(negate),
        skip_unset_(skip_unset) {}

  // Fuses `<count> <op> k` (filter(...).size() >= 2) into this node: the result is bool.
  void CompareCountWith(Op op, int64_t k) {
    compare_ = true;
    op_ = op;
    k_ = k;
  }
  bool Eval(Context& c, FastScalar* out) const override {
    const pb::Message* parent = parent_.Resolve(c);
    if (parent == nullptr) return false;
    int64_t count = 0, size = 0;
    if (!counter_(*parent, negate_, skip_unset_, &count, &size)) return false;
    // Counted as if every element was visited: never fewer iterations than the general
    // evaluator, so a definite answer here is within its limit too.
    c.iterations += size;
    if (c.iterations > c.max_iterations) return false;
    switch (macro_) {
      case Macro::kAll:
        out->b = count == size;
        break;
      case Macro::kExists:
        out->b = count > 0;
        break;
      case Macro::kExistsOne:
        out->b = count == 1;
        break;
      case Macro::kCount:
        if (compare_) {
          out->b = CompareWith(op_, count, k_);
        } else {
          out->i = count;
        }
        break;
    }
    return true;
  }

 private:
  Macro macro_;
  MessagePath parent_;
  FastFlagCounter counter_;
  bool negate_, skip_unset_;
  bool compare_ = false;
  Op op_ = Op::kEq;
  int64_t k_ = 0;
};

// ---------------------------------------------------------------------------
// The planner.

struct Planned {
  NodePtr node;
  SK kind = SK::kNone;
  explicit operator bool() const { return node != nullptr; }
};

class Planner {
 public:
  // env.schema and its accessors are not null.
  Planner(const EnvironmentData& env, const ConstantFolder& fold)
      : env_(env), schema_(*env.schema), acc_(*env.schema->accessors), fold_(fold) {}

  bool uses_now() const { return uses_now_; }

  Planned Plan(const Node* n) {
    const SK kind = KindOf(n->type);
    if (kind == SK::kNone) return {};
    if (n->kind == Node::Kind::kConst || (n->kind == Node::Kind::kCall && VariableFree(n))) {
      FastScalar k{};
      std::string text;
      if (!Constant(n, kind, &k, &text)) return {};
      if (kind == SK::kString) return {};  // string constants only inside comparisons
      return {std::make_unique<ConstNode>(k), kind};
    }
    switch (n->kind) {
      case Node::Kind::kIdent:
        if (!schema_.clock_variable.empty() && n->name == schema_.clock_variable &&
            !Shadowed(n->name) && now_declared_ok() && kind == SK::kTime) {
          uses_now_ = true;
          return {std::make_unique<NowNode>(), kind};
        }
        return {};
      case Node::Kind::kSelect:
        return PlanSelect(n, kind);
      case Node::Kind::kCall:
        return PlanCall(n, kind);
      case Node::Kind::kComprehension:
        if (kind != SK::kBool) return {};
        return PlanMacro(n);
      default:
        return {};
    }
  }

 private:
  bool now_declared_ok() const {
    for (const auto& v : env_.vars) {
      if (v.name == schema_.clock_variable) {
        return v.type != nullptr && v.type->kind == TK::kTimestamp;
      }
    }
    return false;
  }

  // The schema's readers (schema.h).
  FastScalarReader FindFastScalar(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.Scalar(d, f);
  }
  FastHasReader FindFastHas(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.Has(d, f);
  }
  FastMessageReader FindFastMessage(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.SubMessage(d, f);
  }
  FastSizeReader FindFastSize(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.Size(d, f);
  }
  FastStringsReader FindFastStrings(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.Strings(d, f);
  }
  FastElementReader FindFastElement(const pb::Descriptor* d, const pb::FieldDescriptor* f) const {
    return acc_.Element(d, f);
  }
  FastFlagCounter FindFastFlagCounter(const pb::Descriptor* d, const pb::FieldDescriptor* range,
                                      const pb::FieldDescriptor* flag) const {
    return acc_.FlagCounter(d, range, flag);
  }
  FastRootCompareFactory FindFastRootCompare(const pb::Descriptor* d,
                                             const pb::FieldDescriptor* f) const {
    return acc_.RootCompare(d, f);
  }

  bool Shadowed(const std::string& name) const {
    for (const std::string& s : scopes_) {
      if (s == name) return true;
    }
    return false;
  }

  static bool VariableFree(const Node* n) {
    if (n->kind == Node::Kind::kIdent || n->kind == Node::Kind::kSelect ||
        n->kind == Node::Kind::kComprehension) {
      return false;
    }
    for (const auto& a : n->args) {
      if (!VariableFree(a.get())) return false;
    }
    return true;
  }

  bool Constant(const Node* n, SK kind, FastScalar* out, std::string* text) {
    Value v;
    if (!fold_(n, &v)) return false;
    switch (kind) {
      case SK::kBool:
        if (v.kind() != ValueKind::kBool) return false;
        out->b = v.bool_value();
        return true;
      case SK::kInt:
        if (v.kind() != ValueKind::kInt) return false;
        out->i = v.int_value();
        return true;
      case SK::kDouble:
        if (v.kind() != ValueKind::kDouble) return false;
        out->d = v.double_value();
        return true;
      case SK::kString:
        if (v.kind() != ValueKind::kString) return false;
        *text = std::string(v.string_value());
        return true;
      case SK::kTime:
        if (v.kind() != ValueKind::kTimestamp) return false;
        out->t = FastTime::FromDuration(v.timestamp_value() - absl::UnixEpoch());
        return true;
      case SK::kDuration:
        if (v.kind() != ValueKind::kDuration) return false;
        out->t = FastTime::FromDuration(v.duration_value());
        return true;
      default:
        return false;
    }
  }

  // The message a select's operand denotes: opp, a comprehension element, or a chain of
  // singular submessages of them.
  bool PlanMessage(const Node* n, MessagePath* path) {
    if (n->type == nullptr || n->type->kind != TK::kMessage) return false;
    if (n->kind == Node::Kind::kIdent) {
      for (int i = static_cast<int>(scopes_.size()) - 1; i >= 0; --i) {
        if (scopes_[static_cast<size_t>(i)] == n->name) {
          path->depth = i;
          path->descriptor = n->type->descriptor;
          return true;
        }
      }
      if (n->name != schema_.root_variable || n->type->descriptor != schema_.root_type) {
        return false;
      }
      path->depth = -1;
      path->descriptor = n->type->descriptor;
      return true;
    }
    if (n->kind != Node::Kind::kSelect || n->test_only) return false;
    const Node* operand = n->args[0].get();
    if (!PlanMessage(operand, path)) return false;
    const pb::FieldDescriptor* fd = path->descriptor->FindFieldByName(n->name);
    FastMessageReader reader = FindFastMessage(path->descriptor, fd);
    if (reader == nullptr) return false;
    path->chain.push_back(reader);
    path->descriptor = fd->message_type();
    return true;
  }

  // root.<map>.<key>: the operand is a custom-field map (map<string, dynamic value>) of
  // the root variable itself.
  bool IsCustomField(const Node* n) const {
    if (n->kind != Node::Kind::kSelect) return false;
    const Node* map = n->args[0].get();
    if (map->kind != Node::Kind::kSelect || map->test_only || map->type == nullptr ||
        map->type->kind != TK::kMap || !IsCustomFieldValue(map->type->b)) {
      return false;
    }
    const Node* root = map->args[0].get();
    return root->kind == Node::Kind::kIdent && root->name == schema_.root_variable &&
           !Shadowed(root->name) && root->type != nullptr && root->type->kind == TK::kMessage &&
           root->type->descriptor == schema_.root_type;
  }

  Planned PlanSelect(const Node* n, SK kind) {
    if (IsCustomField(n)) {
      SK want = SK::kNone;
      FieldType type = FieldType::kBool;
      for (const auto& [name, declared] : env_.custom_fields) {
        if (name != n->name) continue;
        type = declared;
        switch (declared) {
          case FieldType::kBool:
            want = SK::kBool;
            break;
          case FieldType::kInt:
            want = SK::kInt;
            break;
          case FieldType::kDouble:
            want = SK::kDouble;
            break;
          case FieldType::kString:
            want = SK::kString;
            break;
          case FieldType::kTimestamp:
            want = SK::kTime;
            break;
        }
      }
      if (want == SK::kNone || (!n->test_only && want != kind)) return {};
      const pb::FieldDescriptor* map_field = schema_.root_type->FindFieldByName(n->args[0]->name);
      FastCustomFieldFactory factory = acc_.CustomField(schema_.root_type, map_field);
      if (factory == nullptr) return {};
      return {factory(n->name, type, n->test_only), kind};
    }
    MessagePath path;
    if (!PlanMessage(n->args[0].get(), &path)) return {};
    const pb::FieldDescriptor* fd = path.descriptor->FindFieldByName(n->name);
    if (fd == nullptr) return {};
    if (n->test_only) {
      if (fd->is_repeated()) {
        FastSizeReader size = FindFastSize(path.descriptor, fd);
        if (size == nullptr || fd->is_map()) return {};
        return {std::make_unique<SizeNode>(std::move(path), size, true), SK::kBool};
      }
      FastHasReader has = FindFastHas(path.descriptor, fd);
      if (has == nullptr) return {};
      return {std::make_unique<HasNode>(std::move(path), has), SK::kBool};
    }
    FastScalarReader reader = FindFastScalar(path.descriptor, fd);
    if (reader == nullptr || fd->is_repeated()) return {};
    // The reader's member must be the one the checked type names.
    switch (fd->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_BOOL:
        if (kind != SK::kBool) return {};
        break;
      case pb::FieldDescriptor::CPPTYPE_INT64:
        if (kind != SK::kInt) return {};
        break;
      case pb::FieldDescriptor::CPPTYPE_DOUBLE:
        if (kind != SK::kDouble) return {};
        break;
      case pb::FieldDescriptor::CPPTYPE_STRING:
        if (kind != SK::kString) return {};
        break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE:
        if (kind != SK::kTime) return {};
        break;
      default:
        return {};
    }
    return {std::make_unique<FieldNode>(std::move(path), reader), kind};
  }

  template <SK kKind, template <SK, Op> class NodeT, typename... Args>
  NodePtr MakeByOp(Op op, Args&&... args) {
    switch (op) {
      case Op::kLt:
        return std::make_unique<NodeT<kKind, Op::kLt>>(std::forward<Args>(args)...);
      case Op::kLe:
        return std::make_unique<NodeT<kKind, Op::kLe>>(std::forward<Args>(args)...);
      case Op::kGt:
        return std::make_unique<NodeT<kKind, Op::kGt>>(std::forward<Args>(args)...);
      case Op::kGe:
        return std::make_unique<NodeT<kKind, Op::kGe>>(std::forward<Args>(args)...);
      case Op::kEq:
        return std::make_unique<NodeT<kKind, Op::kEq>>(std::forward<Args>(args)...);
      case Op::kNe:
        return std::make_unique<NodeT<kKind, Op::kNe>>(std::forward<Args>(args)...);
    }
    return nullptr;
  }

  template <template <SK, Op> class NodeT, typename... Args>
  NodePtr MakeByKindOp(SK kind, Op op, Args&&... args) {
    switch (kind) {
      case SK::kBool:
        if (op != Op::kEq && op != Op::kNe) return nullptr;
        return MakeByOp<SK::kBool, NodeT>(op, std::forward<Args>(args)...);
      case SK::kInt:
        return MakeByOp<SK::kInt, NodeT>(op, std::forward<Args>(args)...);
      case SK::kDouble:
        return MakeByOp<SK::kDouble, NodeT>(op, std::forward<Args>(args)...);
      case SK::kString:
        return MakeByOp<SK::kString, NodeT>(op, std::forward<Args>(args)...);
      case SK::kTime:
        return MakeByOp<SK::kTime, NodeT>(op, std::forward<Args>(args)...);
      case SK::kDuration:
        return MakeByOp<SK::kDuration, NodeT>(op, std::forward<Args>(args)...);
      default:
        return nullptr;
    }
  }

  Planned PlanCompare(const Node* n, Op op) {
    const Node* lhs = n->args[0].get();
    const Node* rhs = n->args[1].get();
    const SK kl = KindOf(lhs->type);
    const SK kr = KindOf(rhs->type);
    if (kl == SK::kNone || kl != kr) return {};  // heterogeneous: the general path
    // Constant on the right (the common form); a constant on the left is flipped.
    const bool rhs_const = VariableFree(rhs);
    const bool lhs_const = !rhs_const && VariableFree(lhs);
    if (rhs_const || lhs_const) {
      const Node* var_side = rhs_const ? lhs : rhs;
      const Node* const_side = rhs_const ? rhs : lhs;
      Op o = op;
      if (lhs_const) {
        o = op == Op::kLt   ? Op::kGt
            : op == Op::kLe ? Op::kGe
            : op == Op::kGt ? Op::kLt
            : op == Op::kGe ? Op::kLe
                            : op;
      }
      FastScalar k{};
      std::string text;
      if (!Constant(const_side, kl, &k, &text)) return {};
      // A direct field read fuses into the comparison.
      if (var_side->kind == Node::Kind::kSelect && !var_side->test_only &&
          !IsCustomField(var_side)) {
        MessagePath path;
        if (PlanMessage(var_side->args[0].get(), &path)) {
          const pb::FieldDescriptor* fd = path.descriptor->FindFieldByName(var_side->name);
          Planned field = PlanSelect(var_side, kl);
          if (field && fd != nullptr) {
            // A field of `opp` itself: one node with the generated accessor inlined.
            FastRootCompareFactory root = path.depth < 0 && path.chain.empty()
                                              ? FindFastRootCompare(path.descriptor, fd)
                                              : nullptr;
            if (root != nullptr && (kl != SK::kBool || o == Op::kEq || o == Op::kNe)) {
              return {root(o, k, std::move(text)), SK::kBool};
            }
            FastScalarReader reader = FindFastScalar(path.descriptor, fd);
            NodePtr node =
                MakeByKindOp<FieldCompareNode>(kl, o, std::move(path), reader, k, std::move(text));
            if (node == nullptr) return {};
            return {std::move(node), SK::kBool};
          }
        }
      }
      Planned a = Plan(var_side);
      if (!a) return {};
      if (kl == SK::kInt) {
        if (auto* flags = dynamic_cast<FlagNode*>(const_cast<FastNode*>(a.node.get()))) {
          flags->CompareCountWith(o, k.i);  // only count-mode FlagNodes are int-valued
          return {std::move(a.node), SK::kBool};
        }
      }
      NodePtr node = MakeByKindOp<CompareConstNode>(kl, o, std::move(a.node), k, std::move(text));
      if (node == nullptr) return {};
      return {std::move(node), SK::kBool};
    }
    Planned a = Plan(lhs);
    Planned b = Plan(rhs);
    if (!a || !b) return {};
    // Bool operands only compare for (in)equality: null for the others.
    NodePtr node = MakeByKindOp<CompareNode>(kl, op, std::move(a.node), std::move(b.node));
    if (node == nullptr) return {};
    return {std::move(node), SK::kBool};
  }

  template <Arith kArith>
  Planned MakeArith(Planned a, Planned b, SK kind) {
    return {std::make_unique<ArithNode<kArith>>(std::move(a.node), std::move(b.node)), kind};
  }

  Planned PlanArith(const Node* n, SK kind) {
    const std::string& fn = n->name;
    Planned a = Plan(n->args[0].get());
    Planned b = Plan(n->args[1].get());
    if (!a || !b) return {};
    const SK ka = a.kind, kb = b.kind;
    if (fn == "_-_") {
      if (ka == SK::kTime && kb == SK::kTime && kind == SK::kDuration) {
        return MakeArith<Arith::kTimeMinusTime>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kTime && kb == SK::kDuration && kind == SK::kTime) {
        return MakeArith<Arith::kTimeMinusDur>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kDuration && kb == SK::kDuration) {
        return MakeArith<Arith::kDurMinusDur>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kInt && kb == SK::kInt) {
        return MakeArith<Arith::kIntSub>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kDouble && kb == SK::kDouble) {
        return MakeArith<Arith::kDoubleSub>(std::move(a), std::move(b), kind);
      }
      return {};
    }
    if (fn == "_+_") {
      if (ka == SK::kTime && kb == SK::kDuration) {
        return MakeArith<Arith::kTimePlusDur>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kDuration && kb == SK::kTime) {
        return MakeArith<Arith::kTimePlusDur>(std::move(b), std::move(a), kind);
      }
      if (ka == SK::kDuration && kb == SK::kDuration) {
        return MakeArith<Arith::kDurPlusDur>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kInt && kb == SK::kInt) {
        return MakeArith<Arith::kIntAdd>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kDouble && kb == SK::kDouble) {
        return MakeArith<Arith::kDoubleAdd>(std::move(a), std::move(b), kind);
      }
      return {};
    }
    if (fn == "_*_") {
      if (ka == SK::kInt && kb == SK::kInt) {
        return MakeArith<Arith::kIntMul>(std::move(a), std::move(b), kind);
      }
      if (ka == SK::kDouble && kb == SK::kDouble) {
        return MakeArith<Arith::kDoubleMul>(std::move(a), std::move(b), kind);
      }
      return {};
    }
    if (fn == "_/_" && ka == SK::kDouble && kb == SK::kDouble) {
      return MakeArith<Arith::kDoubleDiv>(std::move(a), std::move(b), kind);
    }
    return {};
  }

  // A string-valued operand: a field read (strings are borrowed from the message).
  Planned PlanStringOperand(const Node* n) {
    if (KindOf(n->type) != SK::kString || n->kind != Node::Kind::kSelect) return {};
    return Plan(n);
  }

  Planned PlanCall(const Node* n, SK kind) {
    const std::string& fn = n->name;
    const size_t argc = n->args.size();
    if ((fn == "_&&_" || fn == "_||_") && argc == 2) {
      Planned a = Plan(n->args[0].get());
      Planned b = Plan(n->args[1].get());
      if (!a || !b || a.kind != SK::kBool || b.kind != SK::kBool) return {};
      return {std::make_unique<AndNode>(std::move(a.node), std::move(b.node), fn == "_&&_"),
              SK::kBool};
    }
    if (fn == "!_" && argc == 1) {
      Planned a = Plan(n->args[0].get());
      if (!a || a.kind != SK::kBool) return {};
      return {std::make_unique<NotNode>(std::move(a.node)), SK::kBool};
    }
    static const std::pair<const char*, Op> kOps[] = {{"_<_", Op::kLt},  {"_<=_", Op::kLe},
                                                      {"_>_", Op::kGt},  {"_>=_", Op::kGe},
                                                      {"_==_", Op::kEq}, {"_!=_", Op::kNe}};
    for (const auto& [name, op] : kOps) {
      if (fn == name && argc == 2) return PlanCompare(n, op);
    }
    if ((fn == "_-_" || fn == "_+_" || fn == "_*_" || fn == "_/_") && argc == 2) {
      return PlanArith(n, kind);
    }
    if (fn == "size" && argc == 1 && kind == SK::kInt) return PlanSize(n->args[0].get());
    if (fn == "@in" && argc == 2) return PlanIn(n);
    if ((fn == "matches" || fn == "contains" || fn == "startsWith" || fn == "endsWith") &&
        argc == 2) {
      Planned subject = PlanStringOperand(n->args[0].get());
      if (!subject || !VariableFree(n->args[1].get())) return {};
      FastScalar unused{};
      std::string arg;
      if (!Constant(n->args[1].get(), SK::kString, &unused, &arg)) return {};
      if (fn == "matches") {
        RE2::Options options;
        options.set_log_errors(false);
        auto re = std::make_unique<RE2>(arg, options);
        if (!re->ok()) return {};
        return {std::make_unique<MatchesNode>(std::move(subject.node), std::move(re)), SK::kBool};
      }
      if (fn == "contains") {
        return {std::make_unique<StringFnNode<StringFn::kContains>>(std::move(subject.node),
                                                                    std::move(arg)),
                SK::kBool};
      }
      if (fn == "startsWith") {
        return {std::make_unique<StringFnNode<StringFn::kStartsWith>>(std::move(subject.node),
                                                                      std::move(arg)),
                SK::kBool};
      }
      return {std::make_unique<StringFnNode<StringFn::kEndsWith>>(std::move(subject.node),
                                                                  std::move(arg)),
              SK::kBool};
    }
    return {};
  }

  // size(x.list) and size(x.list.filter(e, p)).
  Planned PlanSize(const Node* arg) {
    if (arg->kind == Node::Kind::kComprehension && arg->macro == MacroKind::kFilter &&
        arg->name2.empty()) {
      return PlanMacroWith(arg, Macro::kCount);
    }
    if (arg->kind != Node::Kind::kSelect || arg->test_only) return {};
    MessagePath path;
    if (!PlanMessage(arg->args[0].get(), &path)) return {};
    const pb::FieldDescriptor* fd = path.descriptor->FindFieldByName(arg->name);
    if (fd == nullptr || !fd->is_repeated() || fd->is_map()) return {};
    FastSizeReader size = FindFastSize(path.descriptor, fd);
    if (size == nullptr) return {};
    return {std::make_unique<SizeNode>(std::move(path), size, false), SK::kInt};
  }

  Planned PlanIn(const Node* n) {
    const Node* needle = n->args[0].get();
    const Node* haystack = n->args[1].get();
    if (KindOf(needle->type) != SK::kString) return {};
    Planned s;
    if (VariableFree(needle)) {
      FastScalar unused{};
      std::string text;
      if (!Constant(needle, SK::kString, &unused, &text)) return {};
      // A constant needle in a repeated string field: the common "role in c.roles".
      if (haystack->kind != Node::Kind::kSelect || haystack->test_only) return {};
      MessagePath path;
      if (!PlanMessage(haystack->args[0].get(), &path)) return {};
      const pb::FieldDescriptor* fd = path.descriptor->FindFieldByName(haystack->name);
      FastStringsReader strings = FindFastStrings(path.descriptor, fd);
      if (strings == nullptr) return {};
      return {std::make_unique<InStringsNode>(std::move(text), std::move(path), strings),
              SK::kBool};
    }
    s = PlanStringOperand(needle);
    if (!s || !VariableFree(haystack)) return {};
    Value list;
    if (!fold_(haystack, &list) || list.kind() != ValueKind::kList) return {};
    std::vector<std::string> items;
    for (int64_t i = 0; i < list.size(); ++i) {
      Value e = list.list_element(i);
      if (e.kind() != ValueKind::kString) return {};  // mixed lists: the general path
      items.emplace_back(e.string_value());
    }
    return {std::make_unique<InConstNode>(std::move(s.node), std::move(items)), SK::kBool};
  }

  Planned PlanMacro(const Node* n) {
    if (!n->name2.empty()) return {};
    switch (n->macro) {
      case MacroKind::kAll:
        return PlanMacroWith(n, Macro::kAll);
      case MacroKind::kExists:
        return PlanMacroWith(n, Macro::kExists);
      case MacroKind::kExistsOne:
        return PlanMacroWith(n, Macro::kExistsOne);
      default:
        return {};
    }
  }

  // `pred` is e.flag, !e.flag, or has(e.flag) && [!]e.flag for a bool field with
  // presence of the element type.
  static bool FlagPredicate(const Node* pred, const std::string& var, std::string* flag,
                            bool* negate, bool* skip_unset) {
    auto is_flag = [&](const Node* x, bool test_only) {
      return x->kind == Node::Kind::kSelect && x->test_only == test_only &&
             x->args[0]->kind == Node::Kind::kIdent && x->args[0]->name == var;
    };
    auto plain = [&](const Node* x, bool* neg) -> const Node* {
      *neg = false;
      if (x->kind == Node::Kind::kCall && x->name == "!_" && x->args.size() == 1) {
        *neg = true;
        x = x->args[0].get();
      }
      return is_flag(x, false) ? x : nullptr;
    };
    *skip_unset = false;
    if (const Node* x = plain(pred, negate)) {
      *flag = x->name;
      return true;
    }
    if (pred->kind == Node::Kind::kCall && pred->name == "_&&_" && pred->args.size() == 2 &&
        is_flag(pred->args[0].get(), true)) {
      const Node* x = plain(pred->args[1].get(), negate);
      if (x != nullptr && x->name == pred->args[0]->name) {
        *flag = x->name;
        *skip_unset = true;
        return true;
      }
    }
    return false;
  }

  Planned PlanMacroWith(const Node* n, Macro macro) {
    const Node* range = n->args[0].get();
    if (n->args.size() != 2 || range->kind != Node::Kind::kSelect || range->test_only) return {};
    if (static_cast<int>(scopes_.size()) >= kMaxDepth) return {};
    MessagePath parent;
    if (!PlanMessage(range->args[0].get(), &parent)) return {};
    const pb::FieldDescriptor* fd = parent.descriptor->FindFieldByName(range->name);
    if (fd == nullptr || !fd->is_repeated() || fd->is_map() ||
        fd->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return {};
    }
    FastSizeReader size = FindFastSize(parent.descriptor, fd);
    FastElementReader element = FindFastElement(parent.descriptor, fd);
    if (size == nullptr || element == nullptr) return {};
    const SK result = macro == Macro::kCount ? SK::kInt : SK::kBool;
    std::string flag;
    bool negate = false, skip_unset = false;
    if (FlagPredicate(n->args[1].get(), n->name, &flag, &negate, &skip_unset)) {
      const pb::FieldDescriptor* flag_fd = fd->message_type()->FindFieldByName(flag);
      FastFlagCounter counter = FindFastFlagCounter(parent.descriptor, fd, flag_fd);
      if (counter != nullptr) {
        return {std::make_unique<FlagNode>(macro, std::move(parent), counter, negate, skip_unset),
                result};
      }
    }
    const int depth = static_cast<int>(scopes_.size());
    scopes_.push_back(n->name);
    Planned pred = Plan(n->args[1].get());
    scopes_.pop_back();
    if (!pred || pred.kind != SK::kBool) return {};
    return {std::make_unique<ComprehensionNode>(macro, depth, std::move(parent), size, element,
                                                std::move(pred.node)),
            result};
  }

  const EnvironmentData& env_;
  const MessageSchema& schema_;
  const FastAccessors& acc_;
  const ConstantFolder& fold_;
  std::vector<std::string> scopes_;  // comprehension variables, outermost first
  bool uses_now_ = false;
};

}  // namespace

std::unique_ptr<const FastProgram> PlanFast(const Node* root, const EnvironmentData& env,
                                            const ConstantFolder& fold) {
  if (root == nullptr || KindOf(root->type) != SK::kBool) return nullptr;
  if (env.schema == nullptr || env.schema->accessors == nullptr) return nullptr;
  bool root_ok = false;
  for (const auto& v : env.vars) {
    if (v.name == env.schema->root_variable) {
      root_ok = v.type != nullptr && v.type->kind == TK::kMessage &&
                v.type->descriptor == env.schema->root_type;
    }
  }
  if (!root_ok) return nullptr;
  Planner planner(env, fold);
  Planned planned = planner.Plan(root);
  if (!planned || planned.kind != SK::kBool) return nullptr;
  auto program = std::make_unique<FastProgram>();
  program->root = std::move(planned.node);
  program->uses_now = planner.uses_now();
  return program;
}

}  // namespace dealcoach::expr::fast
