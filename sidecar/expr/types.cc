#include "sidecar/expr/types.h"

#include <cctype>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace dealcoach::expr {

namespace {

TypePtr Make(Type::Kind kind) {
  auto t = std::make_shared<Type>();
  t->kind = kind;
  return t;
}

}  // namespace

TypePtr Type::Dyn() {
  static const TypePtr* dyn = new TypePtr(Make(Kind::kDyn));
  return *dyn;
}

TypePtr Type::Of(Kind kind) {
  static const auto* cache = [] {
    auto* v = new std::vector<TypePtr>();
    for (int k = 0; k <= static_cast<int>(Kind::kDuration); ++k) {
      v->push_back(Make(static_cast<Kind>(k)));
    }
    return v;
  }();
  if (static_cast<size_t>(kind) < cache->size()) return (*cache)[static_cast<size_t>(kind)];
  return Make(kind);
}

TypePtr Type::List(TypePtr elem) {
  auto t = std::make_shared<Type>();
  t->kind = Kind::kList;
  t->a = std::move(elem);
  return t;
}

TypePtr Type::Map(TypePtr key, TypePtr value) {
  auto t = std::make_shared<Type>();
  t->kind = Kind::kMap;
  t->a = std::move(key);
  t->b = std::move(value);
  return t;
}

TypePtr Type::Message(const google::protobuf::Descriptor* d) {
  const std::string& name = d->full_name();
  if (name == "google.protobuf.Timestamp") return Of(Kind::kTimestamp);
  if (name == "google.protobuf.Duration") return Of(Kind::kDuration);
  auto t = std::make_shared<Type>();
  t->kind = Kind::kMessage;
  t->descriptor = d;
  return t;
}

TypePtr Type::TypeOf(TypePtr param) {
  auto t = std::make_shared<Type>();
  t->kind = Kind::kType;
  t->a = std::move(param);
  return t;
}

TypePtr Type::Param(const std::string& name) {
  auto t = std::make_shared<Type>();
  t->kind = Kind::kParam;
  t->param = name;
  return t;
}

std::string Type::ToString() const {
  switch (kind) {
    case Kind::kDyn:
      return "dyn";
    case Kind::kNull:
      return "null_type";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kUint:
      return "uint";
    case Kind::kDouble:
      return "double";
    case Kind::kString:
      return "string";
    case Kind::kBytes:
      return "bytes";
    case Kind::kTimestamp:
      return "google.protobuf.Timestamp";
    case Kind::kDuration:
      return "google.protobuf.Duration";
    case Kind::kList:
      return absl::StrCat("list(", a->ToString(), ")");
    case Kind::kMap:
      return absl::StrCat("map(", a->ToString(), ", ", b->ToString(), ")");
    case Kind::kMessage:
      return descriptor->full_name();
    case Kind::kType:
      return a ? absl::StrCat("type(", a->ToString(), ")") : "type";
    case Kind::kParam:
      return param;
  }
  return "dyn";
}

namespace {

class TypeParser {
 public:
  explicit TypeParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<TypePtr> ParseAll() {
    auto t = ParseOne();
    if (!t.ok()) return t;
    Skip();
    if (pos_ != text_.size()) return Fail();
    return t;
  }

 private:
  void Skip() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  absl::Status Fail() {
    return absl::InvalidArgumentError(absl::StrCat("invalid type '", text_, "'"));
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  absl::StatusOr<TypePtr> ParseOne() {
    Skip();
    size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '.')) {
      ++pos_;
    }
    std::string word(text_.substr(start, pos_ - start));
    using K = Type::Kind;
    if (word == "list") {
      if (!Eat('(')) return Fail();
      auto e = ParseOne();
      if (!e.ok() || !Eat(')')) return Fail();
      return Type::List(*e);
    }
    if (word == "map") {
      if (!Eat('(')) return Fail();
      auto k = ParseOne();
      if (!k.ok() || !Eat(',')) return Fail();
      auto v = ParseOne();
      if (!v.ok() || !Eat(')')) return Fail();
      return Type::Map(*k, *v);
    }
    if (word == "type") {
      if (Eat('(')) {
        auto p = ParseOne();
        if (!p.ok() || !Eat(')')) return Fail();
        return Type::TypeOf(*p);
      }
      return Type::TypeOf(Type::Dyn());
    }
    if (word == "dyn") return Type::Dyn();
    if (word == "null_type") return Type::Of(K::kNull);
    if (word == "bool") return Type::Of(K::kBool);
    if (word == "int") return Type::Of(K::kInt);
    if (word == "uint") return Type::Of(K::kUint);
    if (word == "double") return Type::Of(K::kDouble);
    if (word == "string") return Type::Of(K::kString);
    if (word == "bytes") return Type::Of(K::kBytes);
    if (word == "timestamp" || word == "google.protobuf.Timestamp") {
      return Type::Of(K::kTimestamp);
    }
    if (word == "duration" || word == "google.protobuf.Duration") {
      return Type::Of(K::kDuration);
    }
    if (word == "A" || word == "B" || word == "K" || word == "V") return Type::Param(word);
    return Fail();
  }

  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<TypePtr> ParseType(absl::string_view text) { return TypeParser(text).ParseAll(); }

bool Unify(const TypePtr& formal, const TypePtr& actual, TypeBindings* bindings) {
  using K = Type::Kind;
  if (formal->kind == K::kParam) {
    auto it = bindings->find(formal->param);
    if (it == bindings->end()) {
      (*bindings)[formal->param] = actual;
      return true;
    }
    if (it->second->is_dyn()) {
      it->second = actual;
      return true;
    }
    if (actual->is_dyn()) return true;
    // Lists may mix element types (e.g. [1, 'a']); widen the binding to dyn.
    TypeBindings scratch;
    if (Unify(it->second, actual, &scratch)) return true;
    it->second = Type::Dyn();
    return true;
  }
  if (formal->is_dyn() || actual->is_dyn()) return true;
  if (formal->kind != actual->kind) return false;
  switch (formal->kind) {
    case K::kList:
      return Unify(formal->a, actual->a, bindings);
    case K::kMap:
      return Unify(formal->a, actual->a, bindings) && Unify(formal->b, actual->b, bindings);
    case K::kMessage:
      return formal->descriptor == actual->descriptor;
    case K::kType:
      return true;
    default:
      return true;
  }
}

TypePtr Substitute(const TypePtr& t, const TypeBindings& bindings) {
  using K = Type::Kind;
  switch (t->kind) {
    case K::kParam: {
      auto it = bindings.find(t->param);
      return it == bindings.end() ? Type::Dyn() : it->second;
    }
    case K::kList:
      return Type::List(Substitute(t->a, bindings));
    case K::kMap:
      return Type::Map(Substitute(t->a, bindings), Substitute(t->b, bindings));
    case K::kType:
      return t->a ? Type::TypeOf(Substitute(t->a, bindings)) : t;
    default:
      return t;
  }
}

bool Comparable(const TypePtr& a, const TypePtr& b) {
  using K = Type::Kind;
  if (a->is_dyn() || b->is_dyn()) return true;
  if (a->is_numeric() && b->is_numeric()) return true;
  if (a->kind == K::kNull || b->kind == K::kNull) {
    K other = a->kind == K::kNull ? b->kind : a->kind;
    return other == K::kNull || other == K::kMessage || other == K::kTimestamp ||
           other == K::kDuration || other == K::kDyn;
  }
  if (a->kind != b->kind) return false;
  if (a->kind == K::kList) return Comparable(a->a, b->a);
  if (a->kind == K::kMap) return Comparable(a->a, b->a) && Comparable(a->b, b->b);
  if (a->kind == K::kMessage) return a->descriptor == b->descriptor;
  return true;
}

namespace {

struct Sig {
  const char* function;
  bool receiver;
  std::vector<const char*> params;
  const char* result;
};

}  // namespace

const std::vector<Overload>& BuiltinOverloads() {
  static const auto* overloads = [] {
    // Signatures of every non-operator built-in, in CEL notation.
    const std::vector<Sig> sigs = {
        {"size", false, {"string"}, "int"},
        {"size", false, {"bytes"}, "int"},
        {"size", false, {"list(A)"}, "int"},
        {"size", false, {"map(K, V)"}, "int"},
        {"size", true, {"string"}, "int"},
        {"size", true, {"bytes"}, "int"},
        {"size", true, {"list(A)"}, "int"},
        {"size", true, {"map(K, V)"}, "int"},
        {"contains", true, {"string", "string"}, "bool"},
        {"startsWith", true, {"string", "string"}, "bool"},
        {"endsWith", true, {"string", "string"}, "bool"},
        {"matches", true, {"string", "string"}, "bool"},
        {"matches", false, {"string", "string"}, "bool"},
        {"lowerAscii", true, {"string"}, "string"},
        {"upperAscii", true, {"string"}, "string"},
        {"trim", true, {"string"}, "string"},
        {"int", false, {"int"}, "int"},
        {"int", false, {"uint"}, "int"},
        {"int", false, {"double"}, "int"},
        {"int", false, {"string"}, "int"},
        {"int", false, {"timestamp"}, "int"},
        {"int", false, {"duration"}, "int"},
        {"uint", false, {"int"}, "uint"},
        {"uint", false, {"uint"}, "uint"},
        {"uint", false, {"double"}, "uint"},
        {"uint", false, {"string"}, "uint"},
        {"double", false, {"int"}, "double"},
        {"double", false, {"uint"}, "double"},
        {"double", false, {"double"}, "double"},
        {"double", false, {"string"}, "double"},
        {"string", false, {"int"}, "string"},
        {"string", false, {"uint"}, "string"},
        {"string", false, {"double"}, "string"},
        {"string", false, {"bool"}, "string"},
        {"string", false, {"string"}, "string"},
        {"string", false, {"bytes"}, "string"},
        {"string", false, {"timestamp"}, "string"},
        {"string", false, {"duration"}, "string"},
        {"bytes", false, {"string"}, "bytes"},
        {"bytes", false, {"bytes"}, "bytes"},
        {"bool", false, {"bool"}, "bool"},
        {"bool", false, {"string"}, "bool"},
        {"dyn", false, {"A"}, "dyn"},
        {"type", false, {"A"}, "type(A)"},
        {"timestamp", false, {"string"}, "timestamp"},
        {"timestamp", false, {"timestamp"}, "timestamp"},
        {"timestamp", false, {"int"}, "timestamp"},
        {"duration", false, {"string"}, "duration"},
        {"duration", false, {"duration"}, "duration"},
    };
    auto* out = new std::vector<Overload>();
    for (const Sig& s : sigs) {
      Overload o;
      o.function = s.function;
      o.receiver_style = s.receiver;
      for (const char* p : s.params) o.params.push_back(*ParseType(p));
      o.result = *ParseType(s.result);
      out->push_back(std::move(o));
    }
    // Timestamp accessors, with and without a time zone; the time-of-day ones also
    // apply to durations.
    for (const char* f :
         {"getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear",
          "getHours", "getMinutes", "getSeconds", "getMilliseconds"}) {
      for (int with_tz = 0; with_tz < 2; ++with_tz) {
        Overload o;
        o.function = f;
        o.receiver_style = true;
        o.params.push_back(Type::Of(Type::Kind::kTimestamp));
        if (with_tz) o.params.push_back(Type::Of(Type::Kind::kString));
        o.result = Type::Of(Type::Kind::kInt);
        out->push_back(o);
      }
      std::string name = f;
      if (name == "getHours" || name == "getMinutes" || name == "getSeconds" ||
          name == "getMilliseconds") {
        Overload o;
        o.function = f;
        o.receiver_style = true;
        o.params.push_back(Type::Of(Type::Kind::kDuration));
        o.result = Type::Of(Type::Kind::kInt);
        out->push_back(o);
      }
    }
    return out;
  }();
  return *overloads;
}

}  // namespace dealcoach::expr
