// Compile (parse + check + plan) and the planned evaluator.
//
// The planner turns the checked AST into a tree of Steps. Field names are resolved to
// FieldDescriptors, literal regexes are compiled and constant subtrees are folded at
// plan time, so evaluation does no name lookups except for the (two or three) top-level
// variables of the activation.
#include "sidecar/expr/expr.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/expr/ast.h"
#include "sidecar/expr/checker.h"
#include "sidecar/expr/fast_fields.h"
#include "sidecar/expr/fast_path.h"
#include "sidecar/expr/functions.h"
#include "sidecar/expr/schema.h"
#include "sidecar/expr/schema_internal.h"

namespace dealcoach::expr {

namespace pb = google::protobuf;
using TK = Type::Kind;
using K = ValueKind;

// ---------------------------------------------------------------------------
// Environment and Activation.

Environment::Environment() : impl_(std::make_unique<Impl>()) {}
Environment::~Environment() = default;
Environment::Environment(const Environment& other) : impl_(std::make_unique<Impl>(*other.impl_)) {}
Environment& Environment::operator=(const Environment& other) {
  if (this != &other) *impl_ = *other.impl_;
  return *this;
}

namespace {
void Declare(Environment::Impl* impl, const std::string& name, TypePtr type) {
  for (auto& v : impl->vars) {
    if (v.name == name) {
      v.type = std::move(type);
      return;
    }
  }
  impl->vars.push_back({name, std::move(type)});
}
}  // namespace

absl::StatusOr<Environment> Environment::ForSchema(const MessageSchema& schema) {
  DC_RETURN_IF_ERROR(RegisterSchema(&schema));
  Environment env;
  env.DeclareMessageVariable(schema.root_variable, schema.root_type);
  if (!schema.clock_variable.empty()) env.DeclareTimestampVariable(schema.clock_variable);
  env.impl_->schema = &schema;
  return env;
}

void Environment::DeclareMessageVariable(const std::string& name, const pb::Descriptor* type) {
  Declare(impl_.get(), name, Type::Message(type));
}
void Environment::DeclareTimestampVariable(const std::string& name) {
  Declare(impl_.get(), name, Type::Of(TK::kTimestamp));
}
void Environment::DeclareDynVariable(const std::string& name) {
  Declare(impl_.get(), name, Type::Dyn());
}
void Environment::DeclareCustomField(const std::string& name, FieldType type) {
  for (auto& f : impl_->custom_fields) {
    if (f.first == name) {
      f.second = type;
      return;
    }
  }
  impl_->custom_fields.emplace_back(name, type);
}
absl::Status Environment::DeclareVariable(const std::string& name, absl::string_view cel_type) {
  DC_ASSIGN_OR_RETURN(TypePtr t, ParseType(cel_type));
  Declare(impl_.get(), name, std::move(t));
  return absl::OkStatus();
}

absl::StatusOr<FieldType> ParseFieldType(absl::string_view name) {
  if (name == "bool") return FieldType::kBool;
  if (name == "int") return FieldType::kInt;
  if (name == "double") return FieldType::kDouble;
  if (name == "string") return FieldType::kString;
  if (name == "timestamp") return FieldType::kTimestamp;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown field type '", name, "' (want bool, int, double, string or timestamp)"));
}

namespace {
// Attribute paths are hashed once where they are known (compile time, SetUnknownAttributes).
size_t PathHash(absl::string_view path) { return absl::HashOf(path); }
// One bit per path out of 64, picked by its hash: a program whose selected paths' bits
// miss every bit of the activation's unknown paths selects none of them, which one AND
// decides (most programs of a deal with unrecorded paths read none of them).
uint64_t PathBit(size_t hash) { return uint64_t{1} << (hash % 64); }
}  // namespace

struct Activation::Impl {
  std::vector<std::pair<std::string, Value>> vars;
  // A registered schema's root and clock variables, kept where the typed fast path reads
  // them without a name lookup: the root when it holds the schema's generated class.
  // One schema at a time: the root variable set last.
  const MessageSchema* fast_schema = nullptr;
  const pb::Message* fast_root = nullptr;
  bool has_now = false;
  FastTime now;
  // SetUnknownAttributes; sorted.
  std::vector<std::string> unknown_paths;
  // PathHash of each of unknown_paths, sorted: most lookups miss, and a miss in a few
  // integers is cheaper than a binary search comparing strings.
  std::vector<size_t> unknown_hashes;
  uint64_t unknown_bits = 0;  // PathBit of each of unknown_hashes
  bool IsUnknownPath(const std::string& path, size_t hash) const {
    return (unknown_bits & PathBit(hash)) != 0 &&
           std::binary_search(unknown_hashes.begin(), unknown_hashes.end(), hash) &&
           std::binary_search(unknown_paths.begin(), unknown_paths.end(), path);
  }
  const Value* Find(absl::string_view name) const {
    for (const auto& [n, v] : vars) {
      if (n == name) return &v;
    }
    return nullptr;
  }
  void Set(absl::string_view name, Value v) {
    const MessageSchema* root =
        v.kind() == K::kMessage ? internal::FindRootSchema(name, v.message_reflection()) : nullptr;
    if (root != nullptr) {
      fast_schema = root;
      fast_root = v.message_value();
    } else if (fast_schema != nullptr && name == fast_schema->root_variable) {
      fast_schema = nullptr;  // the root now holds something else
      fast_root = nullptr;
    }
    Store(name, std::move(v));
    // The clock as the fast path reads it changes only with the root's schema or the
    // clock variable itself.
    if (fast_schema == nullptr) {
      has_now = false;
    } else if (root != nullptr || name == fast_schema->clock_variable) {
      const Value* t =
          fast_schema->clock_variable.empty() ? nullptr : Find(fast_schema->clock_variable);
      has_now = t != nullptr && t->kind() == K::kTimestamp;
      if (has_now) now = FastTime::FromDuration(t->timestamp_value() - absl::UnixEpoch());
    }
  }
  void Store(absl::string_view name, Value v) {
    for (auto& [n, old] : vars) {
      if (n == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(std::string(name), std::move(v));
  }
};

Activation::Activation() : impl_(std::make_unique<Impl>()) {
  impl_->vars.reserve(4);  // a playbook's root, clock and phase without a regrowth
}
Activation::~Activation() = default;
void Activation::SetMessage(absl::string_view name, const pb::Message* message) {
  impl_->Set(name, MessageToValue(message));
}
void Activation::SetTimestamp(absl::string_view name, absl::Time time) {
  impl_->Set(name, Value::Timestamp(time));
}
void Activation::SetValue(absl::string_view name, Value value) {
  impl_->Set(name, std::move(value));
}
void Activation::SetUnknownAttributes(std::vector<std::string> paths) {
  std::sort(paths.begin(), paths.end());
  paths.erase(std::unique(paths.begin(), paths.end()), paths.end());
  impl_->unknown_paths = std::move(paths);
  impl_->unknown_hashes.clear();
  impl_->unknown_bits = 0;
  for (const std::string& p : impl_->unknown_paths) {
    impl_->unknown_hashes.push_back(PathHash(p));
    impl_->unknown_bits |= PathBit(impl_->unknown_hashes.back());
  }
  std::sort(impl_->unknown_hashes.begin(), impl_->unknown_hashes.end());
}

// ---------------------------------------------------------------------------
// Steps.

namespace {

struct Frame {
  const Activation::Impl* act = nullptr;
  Value* slots = nullptr;
  int64_t iterations = 0;
  int64_t max_iterations = 0;
  // Bytes of strings, lists and maps built so far in this evaluation (Limits::max_value_bytes).
  int64_t value_bytes = 0;
  int64_t max_value_bytes = 0;
};

// What a value built at run time holds: string/bytes content, one Value per list
// element, two per map entry. Views (a repeated field, a borrowed string) cost nothing.
int64_t BuiltBytes(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kString:
    case ValueKind::kBytes:
      return static_cast<int64_t>(v.string_value().size());
    case ValueKind::kList:
      if (v.repeated_field() != nullptr) return 0;
      return v.size() * static_cast<int64_t>(sizeof(Value));
    case ValueKind::kMap:
      return v.size() * 2 * static_cast<int64_t>(sizeof(Value));
    default:
      return 0;
  }
}

// Charges `v` (just built) against the evaluation's budget: `v` itself, or an Error
// value naming the limit once the total passes it. Strings, lists and maps are shared
// when copied, so this counts each allocation once, where it is made; memory held at
// any moment is bounded by the total.
Value Charge(Frame& f, Value v) {
  f.value_bytes += BuiltBytes(v);
  if (f.value_bytes > f.max_value_bytes) {
    return Value::Error(absl::StrCat("value size limit of ", f.max_value_bytes,
                                     " bytes per evaluation exceeded (strings, lists and maps "
                                     "built by the expression)"));
  }
  return v;
}

class Step {
 public:
  virtual ~Step() = default;
  virtual Value Eval(Frame& f) const = 0;
  virtual const Value* constant() const { return nullptr; }
};
using StepPtr = std::unique_ptr<Step>;

class ConstStep final : public Step {
 public:
  explicit ConstStep(Value v) : v_(std::move(v)) {}
  Value Eval(Frame&) const override { return v_; }
  const Value* constant() const override { return &v_; }

 private:
  Value v_;
};

class VarStep final : public Step {
 public:
  VarStep(std::string name, bool declared) : name_(std::move(name)), declared_(declared) {}
  Value Eval(Frame& f) const override {
    if (f.act != nullptr) {
      if (const Value* v = f.act->Find(name_)) return *v;
    }
    // A declared variable the caller did not supply is data we do not have.
    if (declared_) return Value::Unknown({name_});
    return Value::Error(absl::StrCat("undeclared reference to '", name_, "'"));
  }

 private:
  std::string name_;
  bool declared_;
};

class SlotStep final : public Step {
 public:
  explicit SlotStep(int slot) : slot_(slot) {}
  Value Eval(Frame& f) const override { return f.slots[slot_]; }

 private:
  int slot_;
};

Value MapFieldToValue(const pb::Message& msg, const pb::FieldDescriptor* field) {
  const pb::Reflection* r = msg.GetReflection();
  MapEntries entries;
  int n = r->FieldSize(msg, field);
  const pb::Descriptor* entry = field->message_type();
  for (int i = 0; i < n; ++i) {
    const pb::Message& e = r->GetRepeatedMessage(msg, field, i);
    entries.emplace_back(FieldToValue(e, entry->map_key()), FieldToValue(e, entry->map_value()));
  }
  return Value::Map(std::move(entries));
}

// operand.field, or has(operand.field) when test_only.
class SelectStep final : public Step {
 public:
  // `fast` reads `fd` of the generated class of `expected` (FastAccessors::Field), or null.
  SelectStep(StepPtr operand, std::string field, const pb::Descriptor* expected,
             const pb::FieldDescriptor* fd, std::string path, bool test_only, FastFieldReader fast)
      : operand_(std::move(operand)),
        field_(std::move(field)),
        key_(Value::String(field_)),
        expected_(expected),
        fd_(fd),
        path_(std::move(path)),
        path_hash_(PathHash(path_)),
        test_only_(test_only),
        repeated_(fd != nullptr && fd->is_repeated()),
        map_(fd != nullptr && fd->is_map()),
        presence_(fd != nullptr && fd->has_presence()) {
    // Fields of a schema's generated classes read through generated accessors instead of
    // reflection.
    if (!test_only_ && fd != nullptr && !repeated_ && fast != nullptr) {
      fast_reflection_ = GeneratedReflection(expected);
      if (fast_reflection_ != nullptr) fast_ = fast;
    }
  }

  Value Eval(Frame& f) const override {
    Value v = operand_->Eval(f);
    if (f.act != nullptr && !f.act->unknown_paths.empty() && !path_.empty() &&
        (v.kind() == K::kMessage || v.kind() == K::kMap) &&
        f.act->IsUnknownPath(path_, path_hash_)) {
      return Value::Unknown({path_});
    }
    switch (v.kind()) {
      case K::kMessage:
        if (fast_ != nullptr && v.message_reflection() == fast_reflection_) {
          Value out;
          if (fast_(*v.message_value(), &out)) return out;
          return Value::Unknown({path_.empty() ? field_ : path_});
        }
        return FromMessage(v);
      case K::kMap: {
        const Value* found = v.map_find(key_);
        if (test_only_) return Value::Bool(found != nullptr);
        if (found == nullptr) return Value::Error(absl::StrCat("no such key: '", field_, "'"));
        return *found;
      }
      case K::kUnknown:
      case K::kError:
        return v;
      default:
        return Value::Error(
            absl::StrCat("no such field '", field_, "' on type '", v.TypeName(), "'"));
    }
  }

 private:
  Value FromMessage(const Value& v) const {
    const pb::Message& msg = *v.message_value();
    const pb::FieldDescriptor* fd = fd_;
    if (v.message_descriptor() != expected_ || fd == nullptr) {
      fd = v.message_descriptor()->FindFieldByName(field_);
      if (fd == nullptr) {
        return Value::Error(
            absl::StrCat("no such field '", field_, "' on ", v.message_descriptor()->full_name()));
      }
    }
    const pb::Reflection* r = v.message_reflection();
    // Shape bits of the planned field are precomputed; others are looked up.
    const bool planned = fd == fd_;
    const bool repeated = planned ? repeated_ : fd->is_repeated();
    if (repeated) {
      if (test_only_) return Value::Bool(r->FieldSize(msg, fd) > 0);
      if (planned ? map_ : fd->is_map()) return MapFieldToValue(msg, fd);
      return Value::RepeatedField(&msg, fd);
    }
    if (test_only_) return Value::Bool(r->HasField(msg, fd));
    if ((planned ? presence_ : fd->has_presence()) && !r->HasField(msg, fd)) {
      return Value::Unknown({path_.empty() ? field_ : path_});
    }
    return FieldToValue(msg, r, fd);
  }

  StepPtr operand_;
  std::string field_;
  Value key_;
  const pb::Descriptor* expected_;
  const pb::FieldDescriptor* fd_;
  std::string path_;
  size_t path_hash_;
  bool test_only_;
  bool repeated_, map_, presence_;
  FastFieldReader fast_ = nullptr;
  const pb::Reflection* fast_reflection_ = nullptr;
};

// msg.<map field>.<key> for custom-field maps (map<string, T>, T a schema's dynamic
// value type): a missing key is Unknown (the CRM did not send the field), not an error.
class CustomFieldStep final : public Step {
 public:
  // `lookup` finds a key in `map_field` of the generated class of its containing type
  // (FastAccessors::CustomFieldLookup), or is null.
  CustomFieldStep(StepPtr message, const pb::FieldDescriptor* map_field, std::string key,
                  bool has_type, FieldType type, std::string path, bool test_only,
                  FastCustomFieldLookup lookup)
      : message_(std::move(message)),
        map_field_(map_field),
        key_(std::move(key)),
        has_type_(has_type),
        type_(type),
        path_(std::move(path)),
        test_only_(test_only),
        lookup_(lookup),
        lookup_reflection_(lookup == nullptr ? nullptr
                                             : GeneratedReflection(map_field->containing_type())) {
    if (lookup_reflection_ == nullptr) lookup_ = nullptr;
  }

  Value Eval(Frame& f) const override {
    Value v = message_->Eval(f);
    if (v.is_error_or_unknown()) return v;
    if (v.kind() != K::kMessage) {
      return Value::Error(absl::StrCat("no such field '", map_field_->name(), "'"));
    }
    const pb::Message* fv = Lookup(*v.message_value(), v.message_reflection());
    if (test_only_) {
      return Value::Bool(fv != nullptr && MessageToValue(fv).kind() != K::kNull);
    }
    if (fv == nullptr) return Value::Unknown({path_});
    Value value = MessageToValue(fv);
    if (value.kind() == K::kNull) return Value::Unknown({path_});
    return Coerce(std::move(value));
  }

 private:
  const pb::Message* Lookup(const pb::Message& msg, const pb::Reflection* reflection) const {
    // The generated class (the playbook case): its map, not reflection.
    if (lookup_ != nullptr && reflection == lookup_reflection_) return lookup_(msg, key_);
    if (msg.GetDescriptor() != map_field_->containing_type()) return nullptr;
    const pb::Reflection* r = msg.GetReflection();
    const pb::Descriptor* entry = map_field_->message_type();
    for (int i = 0, n = r->FieldSize(msg, map_field_); i < n; ++i) {
      const pb::Message& e = r->GetRepeatedMessage(msg, map_field_, i);
      if (e.GetReflection()->GetString(e, entry->map_key()) == key_) {
        return &e.GetReflection()->GetMessage(e, entry->map_value());
      }
    }
    return nullptr;
  }

  Value Coerce(Value v) const {
    if (!has_type_) return v;
    K want = K::kNull;
    switch (type_) {
      case FieldType::kBool:
        want = K::kBool;
        break;
      case FieldType::kInt:
        want = K::kInt;
        break;
      case FieldType::kDouble:
        want = K::kDouble;
        break;
      case FieldType::kString:
        want = K::kString;
        break;
      case FieldType::kTimestamp:
        want = K::kTimestamp;
        break;
    }
    if (v.kind() == want) return v;
    // A number field the CRM happened to send as an integer still reads as a double.
    if (want == K::kDouble && v.kind() == K::kInt) {
      return Value::Double(static_cast<double>(v.int_value()));
    }
    return Value::Error(absl::StrCat("custom field '", key_, "' holds a ", v.TypeName(),
                                     " but is declared ", TypeLabel()));
  }

  const char* TypeLabel() const {
    switch (type_) {
      case FieldType::kBool:
        return "bool";
      case FieldType::kInt:
        return "int";
      case FieldType::kDouble:
        return "double";
      case FieldType::kString:
        return "string";
      case FieldType::kTimestamp:
        return "timestamp";
    }
    return "";
  }

  StepPtr message_;
  const pb::FieldDescriptor* map_field_;
  std::string key_;
  bool has_type_;
  FieldType type_;
  std::string path_;
  bool test_only_;
  FastCustomFieldLookup lookup_;
  const pb::Reflection* lookup_reflection_;
};

// Strict argument handling: any Unknown makes the result Unknown (merged), else the
// first Error is returned.
Value StrictResult(const Value* vals, int n) {
  Value unknown;
  for (int i = 0; i < n; ++i) {
    if (vals[i].is_unknown()) unknown = MergeUnknowns(unknown, vals[i]);
  }
  if (unknown.is_unknown()) return unknown;
  for (int i = 0; i < n; ++i) {
    if (vals[i].is_error()) return vals[i];
  }
  return Value::Error("internal: no error or unknown argument");
}

// A call of a built-in with N arguments, evaluated strictly.
template <int N>
class CallStep final : public Step {
 public:
  CallStep(BuiltinFn fn, std::vector<StepPtr> args) : fn_(fn) {
    for (int i = 0; i < N; ++i) args_[i] = std::move(args[static_cast<size_t>(i)]);
  }
  Value Eval(Frame& f) const override {
    Value vals[N];
    bool special = false;
    for (int i = 0; i < N; ++i) {
      vals[i] = args_[i]->Eval(f);
      special = special || vals[i].is_error_or_unknown();
    }
    if (special) return StrictResult(vals, N);
    return Charge(f, fn_(vals));
  }

 private:
  BuiltinFn fn_;
  StepPtr args_[N];
};

StepPtr MakeCallStep(BuiltinFn fn, std::vector<StepPtr> args) {
  switch (args.size()) {
    case 1:
      return std::make_unique<CallStep<1>>(fn, std::move(args));
    case 2:
      return std::make_unique<CallStep<2>>(fn, std::move(args));
    default:
      return std::make_unique<CallStep<3>>(fn, std::move(args));
  }
}

// A comparison with a constant right operand (opp.amount > 50000.0): same-kind numbers,
// timestamps, durations and string equality compare inline; everything else goes to
// the built-in. The constant is never an error or unknown.
class CompareConstStep final : public Step {
 public:
  using Op = fast::CompareOp;
  CompareConstStep(Op op, BuiltinFn fn, StepPtr lhs, Value rhs)
      : op_(op), fn_(fn), lhs_(std::move(lhs)), rhs_(std::move(rhs)) {}
  Value Eval(Frame& f) const override {
    Value vals[2] = {lhs_->Eval(f), rhs_};
    const Value& a = vals[0];
    if (a.is_error_or_unknown()) return a;  // what StrictResult gives for one operand
    if (a.kind() == rhs_.kind()) {
      switch (a.kind()) {
        case K::kDouble:
          return Value::Bool(Apply(a.double_value(), rhs_.double_value()));
        case K::kInt:
          return Value::Bool(Apply(a.int_value(), rhs_.int_value()));
        case K::kTimestamp:
        case K::kDuration:
          return Value::Bool(Apply(a.duration_value(), rhs_.duration_value()));
        case K::kString:
          if (op_ == Op::kEq) return Value::Bool(a.string_value() == rhs_.string_value());
          if (op_ == Op::kNe) return Value::Bool(a.string_value() != rhs_.string_value());
          break;
        default:
          break;
      }
    }
    return fn_(vals);
  }

 private:
  template <typename T>
  bool Apply(const T& x, const T& y) const {
    return fast::CompareWith(op_, x, y);
  }

  Op op_;
  BuiltinFn fn_;
  StepPtr lhs_;
  Value rhs_;
};

class MatchesConstStep final : public Step {
 public:
  MatchesConstStep(StepPtr subject, std::unique_ptr<RE2> re)
      : subject_(std::move(subject)), re_(std::move(re)) {}
  Value Eval(Frame& f) const override {
    Value s = subject_->Eval(f);
    if (s.is_error_or_unknown()) return s;
    if (s.kind() != K::kString) return Value::Error("no such overload: matches");
    absl::string_view sv = s.string_value();
    return Value::Bool(RE2::PartialMatch(re2::StringPiece(sv.data(), sv.size()), *re_));
  }

 private:
  StepPtr subject_;
  std::unique_ptr<RE2> re_;
};

// Logical and/or, commutative over errors and unknowns: a decisive operand (false
// for &&, true for ||) wins; otherwise Unknown beats Error.
class LogicStep final : public Step {
 public:
  LogicStep(bool is_and, StepPtr a, StepPtr b)
      : is_and_(is_and), a_(std::move(a)), b_(std::move(b)) {}
  Value Eval(Frame& f) const override {
    const bool decisive = !is_and_;
    Value a = a_->Eval(f);
    if (a.kind() == K::kBool && a.bool_value() == decisive) return a;
    Value b = b_->Eval(f);
    if (b.kind() == K::kBool && b.bool_value() == decisive) return b;
    if (a.kind() == K::kBool && b.kind() == K::kBool) return a;  // both non-decisive
    if (a.is_unknown() || b.is_unknown()) return MergeUnknowns(a.is_unknown() ? a : b, b);
    if (a.is_error()) return a;
    if (b.is_error()) return b;
    return Value::Error(absl::StrCat("no such overload: ", is_and_ ? "_&&_" : "_||_"));
  }

 private:
  bool is_and_;
  StepPtr a_, b_;
};

class NotStep final : public Step {
 public:
  explicit NotStep(StepPtr a) : a_(std::move(a)) {}
  Value Eval(Frame& f) const override {
    Value a = a_->Eval(f);
    if (a.kind() == K::kBool) return Value::Bool(!a.bool_value());
    if (a.is_error_or_unknown()) return a;
    return Value::Error(absl::StrCat("no such overload: !_(", a.TypeName(), ")"));
  }

 private:
  StepPtr a_;
};

class TernaryStep final : public Step {
 public:
  TernaryStep(StepPtr c, StepPtr y, StepPtr n)
      : c_(std::move(c)), y_(std::move(y)), n_(std::move(n)) {}
  Value Eval(Frame& f) const override {
    Value c = c_->Eval(f);
    if (c.kind() == K::kBool) return c.bool_value() ? y_->Eval(f) : n_->Eval(f);
    if (c.is_error_or_unknown()) return c;
    return Value::Error(absl::StrCat("no such overload: _?_:_(", c.TypeName(), ")"));
  }

 private:
  StepPtr c_, y_, n_;
};

class ListStep final : public Step {
 public:
  explicit ListStep(std::vector<StepPtr> elems) : elems_(std::move(elems)) {}
  Value Eval(Frame& f) const override {
    std::vector<Value> out;
    out.reserve(elems_.size());
    Value unknown;
    for (const auto& e : elems_) {
      Value v = e->Eval(f);
      if (v.is_error()) return v;
      if (v.is_unknown()) unknown = MergeUnknowns(unknown, v);
      out.push_back(std::move(v));
    }
    if (unknown.is_unknown()) return unknown;
    return Charge(f, Value::List(std::move(out)));
  }

 private:
  std::vector<StepPtr> elems_;
};

class MapStep final : public Step {
 public:
  explicit MapStep(std::vector<StepPtr> kv) : kv_(std::move(kv)) {}
  Value Eval(Frame& f) const override {
    MapEntries out;
    Value unknown;
    for (size_t i = 0; i + 1 < kv_.size(); i += 2) {
      Value k = kv_[i]->Eval(f);
      Value v = kv_[i + 1]->Eval(f);
      if (k.is_error()) return k;
      if (v.is_error()) return v;
      if (k.is_unknown() || v.is_unknown()) {
        unknown = MergeUnknowns(MergeUnknowns(unknown, k), v);
        continue;
      }
      if (k.kind() != K::kString && k.kind() != K::kInt && k.kind() != K::kUint &&
          k.kind() != K::kBool) {
        return Value::Error(absl::StrCat("unsupported map key type: ", k.TypeName()));
      }
      for (const auto& e : out) {
        if (ValuesEqual(e.first, k)) {
          return Value::Error(absl::StrCat("Failed with repeated key: ", k.DebugString()));
        }
      }
      out.emplace_back(std::move(k), std::move(v));
    }
    if (unknown.is_unknown()) return unknown;
    return Charge(f, Value::Map(std::move(out)));
  }

 private:
  std::vector<StepPtr> kv_;
};

// all / exists / exists_one / map / filter (and their two-variable forms), plus the
// counting form of size(x.filter(...)) that does not materialise the filtered list.
class ComprehensionStep final : public Step {
 public:
  // kMap covers map, transformList and (with a predicate) their filtering forms;
  // kToMap is transformMap.
  enum class Mode { kAll, kExists, kExistsOne, kMap, kToMap, kFilter, kCountFilter };
  ComprehensionStep(Mode mode, int slot, int slot2, StepPtr range, StepPtr pred, StepPtr transform)
      : mode_(mode),
        slot_(slot),
        slot2_(slot2),
        range_(std::move(range)),
        pred_(std::move(pred)),
        transform_(std::move(transform)) {}

  // The range is `field` of a generated message: iterate with generated accessors.
  struct FastRange {
    const pb::FieldDescriptor* field = nullptr;
    const pb::Reflection* parent_reflection = nullptr;
    FastElementReader reader = nullptr;
    const pb::Descriptor* elem_descriptor = nullptr;
    const pb::Reflection* elem_reflection = nullptr;
  };
  void set_fast_range(const FastRange& fast) { fast_ = fast; }

  Value Eval(Frame& f) const override {
    Value range = range_->Eval(f);
    if (range.is_error_or_unknown()) return range;
    bool is_map = range.kind() == K::kMap;
    if (range.kind() != K::kList && !is_map) {
      return Value::Error(absl::StrCat("cannot iterate over ", range.TypeName()));
    }
    int64_t n = range.size();
    Value unknown;
    Value error;
    bool has_error = false;
    int64_t count = 0;
    std::vector<Value> out;
    MapEntries out_map;
    // A planned repeated message field of a schema's generated message
    // (opp.contacts): elements come from the generated accessor, not reflection.
    const pb::Message* parent = nullptr;
    if (fast_.reader != nullptr && !is_map && slot2_ < 0 && range.repeated_field() == fast_.field &&
        range.repeated_field_parent()->GetReflection() == fast_.parent_reflection) {
      parent = range.repeated_field_parent();
    }
    for (int64_t i = 0; i < n; ++i) {
      if (++f.iterations > f.max_iterations) {
        return Value::Error(
            absl::StrCat("comprehension iteration limit of ", f.max_iterations, " exceeded"));
      }
      // The iteration variable(s): the element for lists, the key for maps, and
      // (index, element) or (key, value) for the two-variable forms.
      Value& var = f.slots[slot_];
      if (is_map) {
        const auto& entry = range.map_entries()[static_cast<size_t>(i)];
        var = entry.first;
        if (slot2_ >= 0) f.slots[slot2_] = entry.second;
      } else if (slot2_ >= 0) {
        var = Value::Int(i);
        f.slots[slot2_] = range.list_element(i);
      } else if (parent != nullptr) {
        var = Value::Message(&fast_.reader(*parent, static_cast<int>(i)), fast_.elem_descriptor,
                             fast_.elem_reflection);
      } else {
        var = range.list_element(i);
      }
      bool selected = true;
      if (pred_) {
        Value p = pred_->Eval(f);
        if (p.kind() != K::kBool) {
          if (p.is_unknown()) {
            unknown = MergeUnknowns(unknown, p);
            continue;
          }
          if (!p.is_error()) {
            p = Value::Error(absl::StrCat("predicate returned ", p.TypeName(), ", not bool"));
          }
          // all/exists absorb errors like && / ||; the others are strict.
          if (mode_ == Mode::kAll || mode_ == Mode::kExists) {
            if (!has_error) {
              error = p;
              has_error = true;
            }
            continue;
          }
          return p;
        }
        selected = p.bool_value();
      }
      switch (mode_) {
        case Mode::kAll:
          if (!selected) return Value::Bool(false);
          break;
        case Mode::kExists:
          if (selected) return Value::Bool(true);
          break;
        case Mode::kExistsOne:
        case Mode::kCountFilter:
          if (selected) ++count;
          break;
        case Mode::kFilter:
          if (selected) out.push_back(slot2_ >= 0 ? f.slots[slot2_] : f.slots[slot_]);
          break;
        case Mode::kMap:
        case Mode::kToMap:
          if (selected) {
            Value t = transform_->Eval(f);
            if (t.is_error()) return t;
            if (t.is_unknown()) {
              unknown = MergeUnknowns(unknown, t);
            } else if (mode_ == Mode::kMap) {
              out.push_back(std::move(t));
            } else {
              out_map.emplace_back(f.slots[slot_], std::move(t));
            }
          }
          break;
      }
    }
    if (unknown.is_unknown()) return unknown;
    if (has_error) return error;
    switch (mode_) {
      case Mode::kAll:
        return Value::Bool(true);
      case Mode::kExists:
        return Value::Bool(false);
      case Mode::kExistsOne:
        return Value::Bool(count == 1);
      case Mode::kCountFilter:
        return Value::Int(count);
      case Mode::kToMap:
        return Charge(f, Value::Map(std::move(out_map)));
      default:
        return Charge(f, Value::List(std::move(out)));
    }
  }

 private:
  Mode mode_;
  int slot_, slot2_;
  StepPtr range_, pred_, transform_;
  FastRange fast_;
};

// ---------------------------------------------------------------------------
// Planner.

class Planner {
 public:
  Planner(const EnvironmentData& env, bool checked, std::vector<Issue>* issues)
      : env_(env), checked_(checked), issues_(issues) {}

  StepPtr Plan(const Node* n) {
    switch (n->kind) {
      case Node::Kind::kConst:
        return std::make_unique<ConstStep>(n->constant);
      case Node::Kind::kIdent:
        return PlanIdent(n);
      case Node::Kind::kSelect:
        return PlanSelect(n);
      case Node::Kind::kCall:
        return PlanCall(n);
      case Node::Kind::kList: {
        std::vector<StepPtr> elems;
        for (const auto& a : n->args) elems.push_back(Plan(a.get()));
        return Fold(std::make_unique<ListStep>(std::move(elems)), n);
      }
      case Node::Kind::kMap: {
        std::vector<StepPtr> kv;
        for (const auto& a : n->args) kv.push_back(Plan(a.get()));
        return Fold(std::make_unique<MapStep>(std::move(kv)), n);
      }
      case Node::Kind::kComprehension:
        return PlanComprehension(n, false);
    }
    return std::make_unique<ConstStep>(Value::Error("unplannable node"));
  }

  int num_slots() const { return max_slots_; }

  // Attribute path of an identifier / selection chain, or "" when the node is not one.
  // *from_var is true when the chain starts at a declared variable (not an iter var).
  std::string PathOf(const Node* n, bool* from_var) const {
    if (n->kind == Node::Kind::kIdent) {
      for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
        if (it->name == n->name) {
          *from_var = false;
          return it->path;
        }
      }
      for (const auto& v : env_.vars) {
        if (v.name == n->name) {
          *from_var = true;
          return n->name;
        }
      }
      return "";
    }
    if (n->kind == Node::Kind::kSelect) {
      std::string base = PathOf(n->args[0].get(), from_var);
      if (base.empty()) return "";
      return absl::StrCat(base, ".", n->name);
    }
    return "";
  }

  // Records, in source order, the maximal attribute paths rooted at declared variables.
  void CollectAttributes(const Node* n, std::vector<std::string>* out) {
    bool from_var = false;
    std::string path = PathOf(n, &from_var);
    if (!path.empty()) {
      if (from_var && std::find(out->begin(), out->end(), path) == out->end()) {
        out->push_back(path);
      }
      return;
    }
    if (n->kind == Node::Kind::kComprehension) {
      CollectAttributes(n->args[0].get(), out);
      bool rv = false;
      std::string rp = PathOf(n->args[0].get(), &rv);
      scopes_.push_back({n->name, 0, rp.empty() ? n->name : rp + "[]"});
      if (!n->name2.empty()) scopes_.push_back({n->name2, 0, rp.empty() ? n->name2 : rp + "[]"});
      for (size_t i = 1; i < n->args.size(); ++i) CollectAttributes(n->args[i].get(), out);
      scopes_.pop_back();
      if (!n->name2.empty()) scopes_.pop_back();
      return;
    }
    for (const auto& a : n->args) CollectAttributes(a.get(), out);
  }

 private:
  struct Scope {
    std::string name;
    int slot;
    std::string path;
  };

  void Report(size_t offset, std::string message) {
    Issue issue;
    issue.offset = offset;
    issue.message = std::move(message);
    issues_->push_back(std::move(issue));
  }

  // Evaluates `step` now when all its inputs are constants.
  StepPtr Fold(StepPtr step, const Node* n) {
    for (const auto& a : n->args) {
      if (a->kind == Node::Kind::kConst) continue;
      if (a->kind == Node::Kind::kIdent && TypeNameType(a->name) && !IsVariable(a->name)) continue;
      if (!folded_.count(a.get())) return step;
    }
    // Compile time: a constant subtree builds no more than its literals hold (bounded
    // by max_nodes), so no value budget applies.
    Frame f;
    f.max_value_bytes = std::numeric_limits<int64_t>::max();
    folded_.insert(n);
    return std::make_unique<ConstStep>(step->Eval(f));
  }

  bool IsVariable(const std::string& name) const {
    for (const auto& s : scopes_) {
      if (s.name == name) return true;
    }
    for (const auto& v : env_.vars) {
      if (v.name == name) return true;
    }
    return false;
  }

  StepPtr PlanIdent(const Node* n) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (it->name == n->name) return std::make_unique<SlotStep>(it->slot);
    }
    for (const auto& v : env_.vars) {
      if (v.name == n->name) return std::make_unique<VarStep>(n->name, true);
    }
    if (TypeNameType(n->name)) {
      folded_.insert(n);
      return std::make_unique<ConstStep>(Value::Type(n->name));
    }
    return std::make_unique<VarStep>(n->name, false);
  }

  StepPtr PlanSelect(const Node* n) {
    const Node* operand = n->args[0].get();
    bool from_var = false;
    std::string path = PathOf(n, &from_var);
    if (!path.empty()) selected_paths_.insert(path);
    // opp.fields.<name>: a declared custom field.
    if (operand->kind == Node::Kind::kSelect && !operand->test_only && operand->type &&
        operand->type->kind == TK::kMap && IsCustomFieldValue(operand->type->b)) {
      const Node* msg = operand->args[0].get();
      if (msg->type && msg->type->kind == TK::kMessage) {
        const pb::FieldDescriptor* map_field =
            msg->type->descriptor->FindFieldByName(operand->name);
        if (map_field != nullptr) {
          bool has_type = false;
          FieldType ft = FieldType::kBool;
          for (const auto& [name, type] : env_.custom_fields) {
            if (name == n->name) {
              has_type = true;
              ft = type;
            }
          }
          const FastAccessors* acc = accessors();
          return std::make_unique<CustomFieldStep>(
              Plan(msg), map_field, n->name, has_type, ft, path.empty() ? n->name : path,
              n->test_only,
              acc == nullptr ? nullptr : acc->CustomFieldLookup(msg->type->descriptor, map_field));
        }
      }
    }
    const pb::Descriptor* expected = nullptr;
    const pb::FieldDescriptor* fd = nullptr;
    if (operand->type && operand->type->kind == TK::kMessage) {
      expected = operand->type->descriptor;
      fd = expected->FindFieldByName(n->name);
    }
    const FastAccessors* acc = accessors();
    FastFieldReader fast = acc != nullptr && fd != nullptr && !n->test_only && !fd->is_repeated()
                               ? acc->Field(expected, fd)
                               : nullptr;
    StepPtr step = std::make_unique<SelectStep>(Plan(operand), n->name, expected, fd, path,
                                                n->test_only, fast);
    return Fold(std::move(step), n);
  }

  StepPtr PlanComprehension(const Node* n, bool count_only) {
    StepPtr range = Plan(n->args[0].get());
    bool rv = false;
    std::string rp = PathOf(n->args[0].get(), &rv);
    std::string elem_path = rp.empty() ? n->name : rp + "[]";
    int slot = static_cast<int>(scopes_.size());
    int slot2 = -1;
    scopes_.push_back({n->name, slot, elem_path});
    if (!n->name2.empty()) {
      slot2 = slot + 1;
      scopes_.push_back({n->name2, slot2, elem_path});
    }
    max_slots_ = std::max(max_slots_, static_cast<int>(scopes_.size()));
    using Mode = ComprehensionStep::Mode;
    Mode mode = Mode::kAll;
    StepPtr pred, transform;
    const Node* last = n->args.back().get();
    switch (n->macro) {
      case MacroKind::kAll:
        mode = Mode::kAll;
        break;
      case MacroKind::kExists:
        mode = Mode::kExists;
        break;
      case MacroKind::kExistsOne:
        mode = Mode::kExistsOne;
        break;
      case MacroKind::kFilter:
        mode = count_only ? Mode::kCountFilter : Mode::kFilter;
        break;
      case MacroKind::kMap:
      case MacroKind::kMapFilter:
      case MacroKind::kTransformList:
      case MacroKind::kTransformListFilter:
        mode = Mode::kMap;
        break;
      case MacroKind::kTransformMap:
      case MacroKind::kTransformMapFilter:
        mode = Mode::kToMap;
        break;
    }
    const bool has_transform = mode == Mode::kMap || mode == Mode::kToMap;
    if (!has_transform || n->args.size() == 3) pred = Plan(n->args[1].get());
    if (has_transform) transform = Plan(last);
    scopes_.pop_back();
    if (slot2 >= 0) scopes_.pop_back();
    auto step = std::make_unique<ComprehensionStep>(mode, slot, slot2, std::move(range),
                                                    std::move(pred), std::move(transform));
    step->set_fast_range(FastRangeOf(n->args[0].get()));
    return step;
  }

  // The schema's generated-accessor readers, or null.
  const FastAccessors* accessors() const {
    return env_.schema == nullptr ? nullptr : env_.schema->accessors;
  }

  // Generated accessors for a range that is a repeated message field of a message of the
  // schema (the elements are plain messages, never well-known types).
  ComprehensionStep::FastRange FastRangeOf(const Node* range) const {
    ComprehensionStep::FastRange fast;
    const FastAccessors* acc = accessors();
    if (acc == nullptr) return fast;
    if (range->kind != Node::Kind::kSelect || range->test_only) return fast;
    const Node* operand = range->args[0].get();
    if (!operand->type || operand->type->kind != TK::kMessage) return fast;
    const pb::Descriptor* d = operand->type->descriptor;
    const pb::FieldDescriptor* fd = d->FindFieldByName(range->name);
    if (fd == nullptr || !fd->is_repeated() || fd->is_map() ||
        fd->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      return fast;
    }
    FastElementReader reader = acc->Element(d, fd);
    const pb::Reflection* parent = GeneratedReflection(d);
    const pb::Reflection* elem = GeneratedReflection(fd->message_type());
    if (reader == nullptr || parent == nullptr || elem == nullptr) return fast;
    fast.field = fd;
    fast.parent_reflection = parent;
    fast.reader = reader;
    fast.elem_descriptor = fd->message_type();
    fast.elem_reflection = elem;
    return fast;
  }

  StepPtr PlanCall(const Node* n) {
    const std::string& fn = n->name;
    if (fn == "_&&_" || fn == "_||_") {
      return Fold(
          std::make_unique<LogicStep>(fn == "_&&_", Plan(n->args[0].get()), Plan(n->args[1].get())),
          n);
    }
    if (fn == "!_") return Fold(std::make_unique<NotStep>(Plan(n->args[0].get())), n);
    if (fn == "_?_:_") {
      return Fold(std::make_unique<TernaryStep>(Plan(n->args[0].get()), Plan(n->args[1].get()),
                                                Plan(n->args[2].get())),
                  n);
    }
    // size(x.filter(v, p)) and x.filter(v, p).size() count without building the list.
    if (fn == "size" && n->args.size() == 1 && n->args[0]->kind == Node::Kind::kComprehension &&
        n->args[0]->macro == MacroKind::kFilter) {
      return PlanComprehension(n->args[0].get(), true);
    }
    if (fn == "matches" && n->args.size() == 2 && n->args[1]->kind == Node::Kind::kConst &&
        n->args[1]->constant.kind() == K::kString) {
      RE2::Options options;
      options.set_log_errors(false);
      absl::string_view pattern = n->args[1]->constant.string_value();
      auto re = std::make_unique<RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
      if (!re->ok()) {
        if (checked_) {
          Report(n->args[1]->offset, absl::StrCat("invalid regular expression: ", re->error()));
        }
        return std::make_unique<ConstStep>(
            Value::Error(absl::StrCat("invalid regular expression: ", re->error())));
      }
      return std::make_unique<MatchesConstStep>(Plan(n->args[0].get()), std::move(re));
    }
    std::vector<StepPtr> args;
    for (const auto& a : n->args) args.push_back(Plan(a.get()));
    BuiltinFn f = !args.empty() && args.size() <= 3
                      ? LookupBuiltin(fn, static_cast<int>(args.size()))
                      : nullptr;
    if (f == nullptr) {
      std::string msg = BuiltinExists(fn) ? absl::StrCat("no such overload: ", fn)
                                          : absl::StrCat("unbound function: ", fn);
      return std::make_unique<ConstStep>(Value::Error(msg));
    }
    if (args.size() == 2 && args[0]->constant() == nullptr && args[1]->constant() != nullptr &&
        !args[1]->constant()->is_error_or_unknown()) {
      using Op = CompareConstStep::Op;
      static const std::pair<const char*, Op> kOps[] = {{"_<_", Op::kLt},  {"_<=_", Op::kLe},
                                                        {"_>_", Op::kGt},  {"_>=_", Op::kGe},
                                                        {"_==_", Op::kEq}, {"_!=_", Op::kNe}};
      for (const auto& [name, op] : kOps) {
        if (fn == name) {
          Value rhs = *args[1]->constant();
          return std::make_unique<CompareConstStep>(op, f, std::move(args[0]), std::move(rhs));
        }
      }
    }
    return Fold(MakeCallStep(f, std::move(args)), n);
  }

  const EnvironmentData& env_;
  bool checked_;
  std::vector<Issue>* issues_;
  std::vector<Scope> scopes_;
  int max_slots_ = 0;
  std::set<const Node*> folded_;
  std::set<std::string> selected_paths_;

 public:
  std::vector<std::string> selected_paths() const {
    return {selected_paths_.begin(), selected_paths_.end()};
  }
};

class ProgramImpl final : public Program {
 public:
  ProgramImpl(StepPtr root, std::unique_ptr<const fast::FastProgram> fast,
              const MessageSchema* schema, int num_slots, Limits limits, TypePtr type,
              std::vector<std::string> attributes, std::vector<std::string> selected_paths,
              std::string source)
      : root_(std::move(root)),
        fast_(std::move(fast)),
        fast_root_(fast_ == nullptr ? nullptr : fast_->root.get()),
        fast_schema_(fast_ != nullptr && schema != nullptr ? schema : NoFastPath()),
        fast_uses_now_(fast_ != nullptr && fast_->uses_now),
        num_slots_(num_slots),
        limits_(limits),
        type_(std::move(type)),
        attributes_(std::move(attributes)),
        selected_paths_(std::move(selected_paths)),
        source_(std::move(source)) {
    for (const std::string& p : selected_paths_) {
      selected_hashes_.push_back(PathHash(p));
      selected_bits_ |= PathBit(selected_hashes_.back());
    }
  }

  Value Evaluate(const Activation& activation) const override {
    bool b;
    if (EvaluateFast(activation, &b)) return Value::Bool(b);
    return EvaluateGeneral(activation);
  }

  // Kept out of line so the fast path's frame stays small.
  ABSL_ATTRIBUTE_NOINLINE Value EvaluateGeneral(const Activation& activation) const {
    absl::InlinedVector<Value, 4> slots(static_cast<size_t>(num_slots_));
    Frame f;
    f.act = &activation.impl();
    f.slots = slots.data();
    f.max_iterations = limits_.max_iterations;
    f.max_value_bytes = limits_.max_value_bytes;
    return root_->Eval(f);
  }
  // The typed fast path; false when it does not apply or cannot decide.
  bool EvaluateFast(const Activation& activation, bool* out) const {
    const Activation::Impl& act = activation.impl();
    // One compare decides both "this program has a fast path" and "the activation holds
    // its schema's root": without a fast program fast_schema_ is a sentinel that no
    // activation holds.
    if (act.fast_schema != fast_schema_ || (fast_uses_now_ && !act.has_now)) return false;
    // The fast path reads fields as they are; a path the source does not record is the
    // general evaluator's (it yields unknown).
    if ((act.unknown_bits & selected_bits_) != 0) {
      for (size_t i = 0; i < selected_paths_.size(); ++i) {
        if (act.IsUnknownPath(selected_paths_[i], selected_hashes_[i])) return false;
      }
    }
    fast::Context c;
    c.root = act.fast_root;
    c.now = act.now;
    c.max_iterations = limits_.max_iterations;
    FastScalar result;
    if (!fast_root_->Eval(c, &result)) return false;
    *out = result.b;
    return true;
  }
  bool has_fast_path() const { return fast_ != nullptr; }

  bool returns_bool() const override { return type_->kind == TK::kBool; }
  std::string result_type() const override { return type_->ToString(); }
  const std::vector<std::string>& attributes() const override { return attributes_; }
  const std::vector<std::string>& selected_paths() const override { return selected_paths_; }
  const std::string& source() const override { return source_; }

 private:
  StepPtr root_;
  std::unique_ptr<const fast::FastProgram> fast_;
  const fast::FastNode* fast_root_;  // fast_->root, one load closer
  // A schema never registered, so never an activation's fast_schema.
  static const MessageSchema* NoFastPath() {
    static const MessageSchema* const sentinel = new MessageSchema();
    return sentinel;
  }

  const MessageSchema* fast_schema_;  // the schema fast_ was planned for, or NoFastPath()
  bool fast_uses_now_;
  int num_slots_;
  Limits limits_;
  TypePtr type_;
  std::vector<std::string> attributes_;
  std::vector<std::string> selected_paths_;
  std::vector<size_t> selected_hashes_;  // PathHash of each of selected_paths_
  uint64_t selected_bits_ = 0;           // PathBit of each of selected_hashes_
  std::string source_;
};

void Measure(const Node* n, int depth, int* count, int* max_depth) {
  ++*count;
  *max_depth = std::max(*max_depth, depth);
  for (const auto& a : n->args) Measure(a.get(), depth + 1, count, max_depth);
}

}  // namespace

CompileResult Compile(absl::string_view source, const Environment& env,
                      const CompileOptions& options) {
  CompileResult result;
  std::vector<Issue>& issues = result.issues;
  auto finish = [&]() {
    for (Issue& i : issues) PositionIssue(source, &i);
    std::stable_sort(issues.begin(), issues.end(),
                     [](const Issue& a, const Issue& b) { return a.offset < b.offset; });
    return std::move(result);
  };
  std::unique_ptr<Node> ast = Parse(source, options.limits, &issues);
  if (!ast) {
    if (issues.empty()) issues.push_back(Issue{0, 1, 1, "syntax error"});
    return finish();
  }
  int count = 0, depth = 0;
  Measure(ast.get(), 1, &count, &depth);
  if (count > options.limits.max_nodes) {
    issues.push_back(Issue{0, 1, 1,
                           absl::StrCat("expression has ", count, " nodes, more than the limit of ",
                                        options.limits.max_nodes)});
    return finish();
  }
  if (depth > options.limits.max_depth) {
    issues.push_back(Issue{0, 1, 1,
                           absl::StrCat("expression nesting depth ", depth,
                                        " exceeds the limit of ", options.limits.max_depth)});
    return finish();
  }
  std::vector<std::string> scopes;
  ResolveQualifiedNames(ast.get(), env.impl(), &scopes);
  Checker checker(env.impl(), options.check_types, &issues);
  checker.Check(ast.get());
  if (!issues.empty()) return finish();
  Planner planner(env.impl(), options.check_types, &issues);
  std::vector<std::string> attributes;
  planner.CollectAttributes(ast.get(), &attributes);
  StepPtr root = planner.Plan(ast.get());
  if (!issues.empty()) return finish();
  std::unique_ptr<const fast::FastProgram> fast;
  if (options.check_types && options.fast_path) {
    // Variable-free subtrees are folded by the general planner, so both paths agree on
    // every constant.
    const fast::ConstantFolder fold = [&env](const Node* n, Value* out) {
      std::vector<Issue> ignored;
      Planner constant_planner(env.impl(), true, &ignored);
      StepPtr step = constant_planner.Plan(n);
      if (!ignored.empty() || step->constant() == nullptr ||
          step->constant()->is_error_or_unknown()) {
        return false;
      }
      *out = *step->constant();
      return true;
    };
    fast = fast::PlanFast(ast.get(), env.impl(), fold);
  }
  result.program = std::make_unique<ProgramImpl>(
      std::move(root), std::move(fast), env.impl().schema, planner.num_slots(), options.limits,
      ast->type, std::move(attributes), planner.selected_paths(), std::string(source));
  return finish();
}

bool HasFastPath(const Program& program) {
  const auto* impl = dynamic_cast<const ProgramImpl*>(&program);
  return impl != nullptr && impl->has_fast_path();
}

Condition EvaluateCondition(const Program& program, const Activation& activation) {
  Condition c;
  Value v = program.Evaluate(activation);
  switch (v.kind()) {
    case K::kBool:
      c.truth = v.bool_value() ? Truth::kTrue : Truth::kFalse;
      break;
    case K::kUnknown:
      c.truth = Truth::kUnknown;
      c.missing = v.unknown_attributes();
      break;
    case K::kError:
      c.truth = Truth::kError;
      c.error = v.error_message();
      break;
    default:
      c.truth = Truth::kError;
      c.error = absl::StrCat("condition evaluated to ", v.TypeName(), " (", v.DebugString(),
                             "), not bool");
  }
  return c;
}

}  // namespace dealcoach::expr
