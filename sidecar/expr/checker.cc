// Type checker: annotates every AST node with its static type and reports misspelt
// fields, unknown functions, wrong arity and operand type mismatches as Issues.
#include "sidecar/expr/checker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sidecar/common/edit_distance.h"
#include "sidecar/expr/functions.h"
#include "sidecar/expr/schema_internal.h"

namespace dealcoach::expr {

namespace pb = google::protobuf;
using TK = Type::Kind;

namespace {

std::string OpDisplay(const std::string& fn) {
  if (fn == "@in") return "in";
  if (fn == "_[_]") return "[]";
  if (fn == "_?_:_") return "?:";
  std::string out;
  for (char c : fn) {
    if (c != '_') out.push_back(c);
  }
  return out.empty() ? fn : out;
}

}  // namespace

std::string SuggestName(absl::string_view name, const std::vector<std::string>& candidates) {
  const std::string* best =
      ClosestName(name, candidates, std::max<size_t>(1, std::min<size_t>(2, name.size() / 3)));
  return best == nullptr ? "" : *best;
}

TypePtr ScalarFieldType(const pb::FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return Type::Of(TK::kBool);
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return Type::Of(TK::kInt);
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return Type::Of(TK::kUint);
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return Type::Of(TK::kDouble);
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return Type::Of(f->type() == pb::FieldDescriptor::TYPE_BYTES ? TK::kBytes : TK::kString);
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      return Type::Message(f->message_type());
  }
  return Type::Dyn();
}

TypePtr FieldTypeOf(const pb::FieldDescriptor* f) {
  if (f->is_map()) {
    return Type::Map(ScalarFieldType(f->message_type()->map_key()),
                     ScalarFieldType(f->message_type()->map_value()));
  }
  TypePtr t = ScalarFieldType(f);
  return f->is_repeated() ? Type::List(t) : t;
}

bool IsCustomFieldValue(const TypePtr& t) {
  return t->kind == TK::kMessage && internal::IsDynamicValueType(t->descriptor);
}

TypePtr CustomFieldType(FieldType t) {
  switch (t) {
    case FieldType::kBool:
      return Type::Of(TK::kBool);
    case FieldType::kInt:
      return Type::Of(TK::kInt);
    case FieldType::kDouble:
      return Type::Of(TK::kDouble);
    case FieldType::kString:
      return Type::Of(TK::kString);
    case FieldType::kTimestamp:
      return Type::Of(TK::kTimestamp);
  }
  return Type::Dyn();
}

TypePtr TypeNameType(absl::string_view name) {
  static const char* const kNames[] = {"int",
                                       "uint",
                                       "double",
                                       "bool",
                                       "string",
                                       "bytes",
                                       "list",
                                       "map",
                                       "null_type",
                                       "type",
                                       "google.protobuf.Timestamp",
                                       "google.protobuf.Duration"};
  for (const char* n : kNames) {
    if (name == n) return Type::TypeOf(Type::Dyn());
  }
  return nullptr;
}

namespace {

// The common type of `types`: the type itself when all agree, else dyn.
TypePtr Join(const std::vector<TypePtr>& types) {
  if (types.empty()) return Type::Dyn();
  std::string first = types[0]->ToString();
  for (const TypePtr& t : types) {
    if (t->ToString() != first) return Type::Dyn();
  }
  return types[0];
}

// Collapses FieldValue (only meaningful through a declared custom field) to dyn.
TypePtr Surface(const TypePtr& t) { return IsCustomFieldValue(t) ? Type::Dyn() : t; }

}  // namespace

Checker::Checker(const EnvironmentData& env, bool strict, std::vector<Issue>* issues)
    : env_(env), strict_(strict), issues_(issues) {}

void Checker::Report(size_t offset, std::string message) {
  if (!strict_) return;
  Issue issue;
  issue.offset = offset;
  issue.message = std::move(message);
  issues_->push_back(std::move(issue));
}

void Checker::Check(Node* n) {
  n->type = Type::Dyn();
  switch (n->kind) {
    case Node::Kind::kConst:
      n->type = ConstType(n->constant);
      return;
    case Node::Kind::kIdent:
      CheckIdent(n);
      return;
    case Node::Kind::kSelect:
      CheckSelect(n);
      return;
    case Node::Kind::kCall:
      CheckCall(n);
      return;
    case Node::Kind::kList: {
      std::vector<TypePtr> elems;
      for (auto& a : n->args) {
        Check(a.get());
        elems.push_back(a->type);
      }
      n->type = Type::List(Join(elems));
      return;
    }
    case Node::Kind::kMap: {
      std::vector<TypePtr> keys, values;
      for (size_t i = 0; i + 1 < n->args.size(); i += 2) {
        Check(n->args[i].get());
        Check(n->args[i + 1].get());
        TK kk = n->args[i]->type->kind;
        if (kk != TK::kDyn && kk != TK::kString && kk != TK::kInt && kk != TK::kUint &&
            kk != TK::kBool) {
          Report(n->args[i]->offset,
                 absl::StrCat("unsupported map key type '", n->args[i]->type->ToString(), "'"));
        }
        keys.push_back(n->args[i]->type);
        values.push_back(n->args[i + 1]->type);
      }
      n->type = Type::Map(Join(keys), Join(values));
      return;
    }
    case Node::Kind::kComprehension:
      CheckComprehension(n);
      return;
  }
}

TypePtr Checker::ConstType(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kNull:
      return Type::Of(TK::kNull);
    case ValueKind::kBool:
      return Type::Of(TK::kBool);
    case ValueKind::kInt:
      return Type::Of(TK::kInt);
    case ValueKind::kUint:
      return Type::Of(TK::kUint);
    case ValueKind::kDouble:
      return Type::Of(TK::kDouble);
    case ValueKind::kString:
      return Type::Of(TK::kString);
    case ValueKind::kBytes:
      return Type::Of(TK::kBytes);
    default:
      return Type::Dyn();
  }
}

void Checker::CheckIdent(Node* n) {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (it->first == n->name) {
      n->type = it->second;
      return;
    }
  }
  for (const auto& v : env_.vars) {
    if (v.name == n->name) {
      n->type = v.type;
      return;
    }
  }
  if (TypePtr t = TypeNameType(n->name)) {
    n->type = t;
    return;
  }
  std::vector<std::string> names;
  for (const auto& v : env_.vars) names.push_back(v.name);
  for (const auto& s : scopes_) names.push_back(s.first);
  std::string msg = absl::StrCat("undeclared reference to '", n->name, "'");
  std::string s = SuggestName(n->name, names);
  if (!s.empty()) absl::StrAppend(&msg, "; did you mean '", s, "'?");
  Report(n->offset, msg);
}

void Checker::CheckSelect(Node* n) {
  Node* operand = n->args[0].get();
  Check(operand);
  const TypePtr& t = operand->type;
  TypePtr result = Type::Dyn();
  // Offset of the field name: just after the dot.
  size_t name_offset = n->offset + 1;
  if (t->kind == TK::kMessage) {
    const pb::FieldDescriptor* f = t->descriptor->FindFieldByName(n->name);
    if (f == nullptr) {
      std::vector<std::string> names;
      for (int i = 0; i < t->descriptor->field_count(); ++i) {
        names.push_back(t->descriptor->field(i)->name());
      }
      std::string msg =
          absl::StrCat("undefined field '", n->name, "' on ", t->descriptor->full_name());
      std::string s = SuggestName(n->name, names);
      if (!s.empty()) absl::StrAppend(&msg, "; did you mean '", s, "'?");
      Report(name_offset, msg);
    } else {
      result = FieldTypeOf(f);
    }
  } else if (t->kind == TK::kMap) {
    if (IsCustomFieldValue(t->b)) {
      bool found = false;
      std::vector<std::string> names;
      for (const auto& [name, type] : env_.custom_fields) {
        names.push_back(name);
        if (name == n->name) {
          result = CustomFieldType(type);
          found = true;
        }
      }
      if (!found) {
        std::string msg = absl::StrCat("undeclared custom field '", n->name,
                                       "' (declare it in the playbook's custom fields)");
        std::string s = SuggestName(n->name, names);
        if (!s.empty()) absl::StrAppend(&msg, "; did you mean '", s, "'?");
        Report(name_offset, msg);
      }
    } else {
      if (!t->a->is_dyn() && t->a->kind != TK::kString) {
        Report(name_offset,
               absl::StrCat("cannot select field '", n->name, "' from ", t->ToString()));
      }
      result = t->b;
    }
  } else if (!t->is_dyn()) {
    Report(name_offset, absl::StrCat("type '", t->ToString(), "' has no field '", n->name, "'"));
  }
  n->type = n->test_only ? Type::Of(TK::kBool) : Surface(result);
}

void Checker::CheckComprehension(Node* n) {
  Node* range = n->args[0].get();
  Check(range);
  TypePtr var = Type::Dyn(), var2 = Type::Dyn();
  const TypePtr& rt = range->type;
  const bool two = !n->name2.empty();
  if (rt->kind == TK::kList) {
    var = two ? Type::Of(TK::kInt) : Surface(rt->a);
    var2 = Surface(rt->a);
  } else if (rt->kind == TK::kMap) {
    var = rt->a;
    var2 = Surface(rt->b);
  } else if (!rt->is_dyn()) {
    Report(range->offset, absl::StrCat("cannot iterate over '", rt->ToString(), "'"));
  }
  scopes_.emplace_back(n->name, var);
  if (two) scopes_.emplace_back(n->name2, var2);
  for (size_t i = 1; i < n->args.size(); ++i) Check(n->args[i].get());
  scopes_.pop_back();
  if (two) scopes_.pop_back();
  auto want_bool = [&](Node* p) {
    if (!p->type->is_dyn() && p->type->kind != TK::kBool) {
      Report(p->offset, absl::StrCat("predicate must be bool, got '", p->type->ToString(), "'"));
    }
  };
  const TypePtr& last = n->args.back()->type;
  switch (n->macro) {
    case MacroKind::kAll:
    case MacroKind::kExists:
    case MacroKind::kExistsOne:
      want_bool(n->args[1].get());
      n->type = Type::Of(TK::kBool);
      break;
    case MacroKind::kMap:
    case MacroKind::kTransformList:
      n->type = Type::List(last);
      break;
    case MacroKind::kMapFilter:
    case MacroKind::kTransformListFilter:
      want_bool(n->args[1].get());
      n->type = Type::List(last);
      break;
    case MacroKind::kTransformMap:
      n->type = Type::Map(rt->kind == TK::kMap ? rt->a : Type::Dyn(), last);
      break;
    case MacroKind::kTransformMapFilter:
      want_bool(n->args[1].get());
      n->type = Type::Map(rt->kind == TK::kMap ? rt->a : Type::Dyn(), last);
      break;
    case MacroKind::kFilter:
      want_bool(n->args[1].get());
      n->type = Type::List(var);
      break;
  }
}

namespace {

bool IsDeclared(const EnvironmentData& env, const std::string& name) {
  for (const auto& v : env.vars) {
    if (v.name == name) return true;
  }
  return false;
}

}  // namespace

void ResolveQualifiedNames(Node* n, const EnvironmentData& env, std::vector<std::string>* scopes) {
  if (n->kind == Node::Kind::kSelect) {
    // Chain from the root identifier up to n.
    std::vector<Node*> chain;
    Node* cur = n;
    while (cur->kind == Node::Kind::kSelect) {
      chain.push_back(cur);
      cur = cur->args[0].get();
    }
    if (cur->kind == Node::Kind::kIdent &&
        std::find(scopes->begin(), scopes->end(), cur->name) == scopes->end()) {
      chain.push_back(cur);
      std::reverse(chain.begin(), chain.end());
      // Longest dotted prefix that names a declared variable or a qualified type wins.
      std::string dotted = cur->name;
      std::vector<std::string> prefixes = {dotted};
      for (size_t i = 1; i < chain.size(); ++i) {
        dotted += "." + chain[i]->name;
        prefixes.push_back(dotted);
      }
      for (size_t k = chain.size(); k-- > 1;) {
        Node* target = chain[k];
        if (target->test_only) continue;
        if (IsDeclared(env, prefixes[k]) ||
            (TypeNameType(prefixes[k]) && !IsDeclared(env, cur->name))) {
          size_t offset = cur->offset;
          target->kind = Node::Kind::kIdent;
          target->name = prefixes[k];
          target->args.clear();
          target->offset = offset;
          break;
        }
      }
      if (n->kind == Node::Kind::kIdent) return;
    }
  }
  if (n->kind == Node::Kind::kComprehension) {
    ResolveQualifiedNames(n->args[0].get(), env, scopes);
    scopes->push_back(n->name);
    if (!n->name2.empty()) scopes->push_back(n->name2);
    for (size_t i = 1; i < n->args.size(); ++i)
      ResolveQualifiedNames(n->args[i].get(), env, scopes);
    scopes->pop_back();
    if (!n->name2.empty()) scopes->pop_back();
    return;
  }
  for (auto& a : n->args) ResolveQualifiedNames(a.get(), env, scopes);
}

void Checker::CheckCall(Node* n) {
  for (auto& a : n->args) Check(a.get());
  const std::string& fn = n->name;
  std::vector<TypePtr> ts;
  for (auto& a : n->args) ts.push_back(a->type);
  auto mismatch = [&]() {
    std::vector<std::string> names;
    for (const TypePtr& t : ts) names.push_back(t->ToString());
    Report(n->offset, absl::StrCat("no matching overload for '", OpDisplay(fn), "' applied to (",
                                   absl::StrJoin(names, ", "), ")"));
  };
  auto is = [](const TypePtr& t, TK k) { return t->is_dyn() || t->kind == k; };
  const TypePtr kBool = Type::Of(TK::kBool);
  n->type = Type::Dyn();

  if (fn == "_&&_" || fn == "_||_") {
    if (!is(ts[0], TK::kBool) || !is(ts[1], TK::kBool)) mismatch();
    n->type = kBool;
    return;
  }
  if (fn == "!_") {
    if (!is(ts[0], TK::kBool)) mismatch();
    n->type = kBool;
    return;
  }
  if (fn == "-_") {
    if (!ts[0]->is_dyn() && ts[0]->kind != TK::kInt && ts[0]->kind != TK::kDouble) mismatch();
    n->type = ts[0];
    return;
  }
  if (fn == "_?_:_") {
    if (!is(ts[0], TK::kBool)) mismatch();
    n->type = Join({ts[1], ts[2]});
    return;
  }
  if (fn == "_==_" || fn == "_!=_") {
    if (!Comparable(ts[0], ts[1])) mismatch();
    n->type = kBool;
    return;
  }
  if (fn == "_<_" || fn == "_<=_" || fn == "_>_" || fn == "_>=_") {
    auto orderable = [](const TypePtr& t) {
      switch (t->kind) {
        case TK::kDyn:
        case TK::kBool:
        case TK::kInt:
        case TK::kUint:
        case TK::kDouble:
        case TK::kString:
        case TK::kBytes:
        case TK::kTimestamp:
        case TK::kDuration:
          return true;
        default:
          return false;
      }
    };
    bool ok = orderable(ts[0]) && orderable(ts[1]) &&
              (ts[0]->is_dyn() || ts[1]->is_dyn() || ts[0]->kind == ts[1]->kind ||
               (ts[0]->is_numeric() && ts[1]->is_numeric()));
    if (!ok) mismatch();
    n->type = kBool;
    return;
  }
  if (fn == "_+_" || fn == "_-_" || fn == "_*_" || fn == "_/_" || fn == "_%_") {
    const TypePtr &a = ts[0], &b = ts[1];
    if (a->is_dyn() && b->is_dyn()) return;
    if (a->is_dyn() || b->is_dyn()) {
      const TypePtr& known = a->is_dyn() ? b : a;
      if (known->kind == TK::kInt || known->kind == TK::kUint || known->kind == TK::kDouble ||
          known->kind == TK::kString || known->kind == TK::kBytes || known->kind == TK::kList) {
        n->type = known;
      }
      return;
    }
    TK ka = a->kind, kb = b->kind;
    if (fn == "_+_") {
      if (ka == TK::kTimestamp && kb == TK::kDuration) {
        n->type = a;
        return;
      }
      if (ka == TK::kDuration && kb == TK::kTimestamp) {
        n->type = b;
        return;
      }
      if (ka == kb && (ka == TK::kInt || ka == TK::kUint || ka == TK::kDouble ||
                       ka == TK::kString || ka == TK::kBytes || ka == TK::kDuration)) {
        n->type = a;
        return;
      }
      if (ka == TK::kList && kb == TK::kList) {
        TypeBindings bind;
        TypePtr p = Type::Param("A");
        Unify(p, a->a, &bind);
        Unify(p, b->a, &bind);
        n->type = Type::List(Substitute(p, bind));
        return;
      }
    } else if (fn == "_-_") {
      if (ka == TK::kTimestamp && kb == TK::kDuration) {
        n->type = a;
        return;
      }
      if (ka == TK::kTimestamp && kb == TK::kTimestamp) {
        n->type = Type::Of(TK::kDuration);
        return;
      }
      if (ka == kb &&
          (ka == TK::kInt || ka == TK::kUint || ka == TK::kDouble || ka == TK::kDuration)) {
        n->type = a;
        return;
      }
    } else if (fn == "_%_") {
      if (ka == kb && (ka == TK::kInt || ka == TK::kUint)) {
        n->type = a;
        return;
      }
    } else {
      if (ka == kb && a->is_numeric()) {
        n->type = a;
        return;
      }
    }
    mismatch();
    return;
  }
  if (fn == "_[_]") {
    const TypePtr &c = ts[0], &k = ts[1];
    if (c->kind == TK::kList) {
      if (!k->is_dyn() && !k->is_numeric()) mismatch();
      n->type = Surface(c->a);
    } else if (c->kind == TK::kMap) {
      if (!Comparable(c->a, k)) mismatch();
      n->type = Surface(c->b);
    } else if (!c->is_dyn()) {
      mismatch();
    }
    return;
  }
  if (fn == "@in") {
    const TypePtr &e = ts[0], &c = ts[1];
    if (c->kind == TK::kList) {
      if (!Comparable(e, Surface(c->a))) mismatch();
    } else if (c->kind == TK::kMap) {
      if (!Comparable(e, c->a)) mismatch();
    } else if (!c->is_dyn()) {
      mismatch();
    }
    n->type = kBool;
    return;
  }

  // Named functions: resolve against the overload table.
  std::vector<const Overload*> same_name;
  std::vector<std::string> all_names;
  for (const Overload& o : BuiltinOverloads()) {
    all_names.push_back(o.function);
    if (o.function == fn) same_name.push_back(&o);
  }
  if (same_name.empty()) {
    std::string msg = absl::StrCat("undeclared reference to function '", fn, "'");
    std::string s = SuggestName(fn, all_names);
    if (!s.empty()) absl::StrAppend(&msg, "; did you mean '", s, "'?");
    Report(n->offset, msg);
    return;
  }
  std::vector<const Overload*> styled;
  for (const Overload* o : same_name) {
    if (o->receiver_style == n->receiver_style) styled.push_back(o);
  }
  if (styled.empty()) {
    Report(n->offset, n->receiver_style
                          ? absl::StrCat("'", fn, "' is a global function: write ", fn, "(x)")
                          : absl::StrCat("'", fn, "' is a method: write x.", fn, "(...)"));
    return;
  }
  std::vector<const Overload*> arity;
  for (const Overload* o : styled) {
    if (o->params.size() == ts.size()) arity.push_back(o);
  }
  if (arity.empty()) {
    size_t want = styled[0]->params.size() - (n->receiver_style ? 1 : 0);
    size_t got = ts.size() - (n->receiver_style ? 1 : 0);
    Report(n->offset,
           absl::StrCat("wrong number of arguments to '", fn, "': got ", got, ", want ", want));
    return;
  }
  TypePtr result;
  bool ambiguous = false;
  for (const Overload* o : arity) {
    TypeBindings b;
    bool ok = true;
    for (size_t i = 0; i < ts.size() && ok; ++i) ok = Unify(o->params[i], Surface(ts[i]), &b);
    if (!ok) continue;
    TypePtr r = Substitute(o->result, b);
    if (result && result->ToString() != r->ToString()) ambiguous = true;
    if (!result) result = r;
  }
  if (!result) {
    mismatch();
    return;
  }
  n->type = ambiguous ? Type::Dyn() : result;
}

}  // namespace dealcoach::expr
