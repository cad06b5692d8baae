// Internal: static types of the checker (CEL's type system, restricted to what the
// subset needs) and the signatures of the built-in functions.
//
// Types are immutable and shared; thread-safe.
#ifndef DEALCOACH_SIDECAR_EXPR_TYPES_H_
#define DEALCOACH_SIDECAR_EXPR_TYPES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace dealcoach::expr {

struct Type;
using TypePtr = std::shared_ptr<const Type>;

struct Type {
  enum class Kind {
    kDyn,
    kNull,
    kBool,
    kInt,
    kUint,
    kDouble,
    kString,
    kBytes,
    kTimestamp,
    kDuration,
    kList,
    kMap,
    kMessage,
    kType,
    kParam
  };
  Kind kind = Kind::kDyn;
  TypePtr a;  // list element, map key, type(T) parameter
  TypePtr b;  // map value
  const google::protobuf::Descriptor* descriptor = nullptr;  // kMessage
  std::string param;                                         // kParam: "A", "K", "V"

  static TypePtr Dyn();
  static TypePtr Of(Kind kind);  // primitive kinds
  static TypePtr List(TypePtr elem);
  static TypePtr Map(TypePtr key, TypePtr value);
  static TypePtr Message(const google::protobuf::Descriptor* d);
  static TypePtr TypeOf(TypePtr t);
  static TypePtr Param(const std::string& name);

  bool is_dyn() const { return kind == Kind::kDyn; }
  bool is_numeric() const {
    return kind == Kind::kInt || kind == Kind::kUint || kind == Kind::kDouble;
  }
  // CEL notation: "int", "list(string)", "map(string, dyn)", "acme.Contact".
  std::string ToString() const;
};

// Parses CEL type notation ("int", "list(int)", "map(string, dyn)", "A").
absl::StatusOr<TypePtr> ParseType(absl::string_view text);

// Type parameter bindings during overload resolution.
using TypeBindings = std::map<std::string, TypePtr>;

// True when `actual` can be passed where `formal` is expected (dyn matches anything);
// binds parameters of `formal`.
bool Unify(const TypePtr& formal, const TypePtr& actual, TypeBindings* bindings);
// Replaces bound parameters in `t` (unbound ones become dyn).
TypePtr Substitute(const TypePtr& t, const TypeBindings& bindings);
// True when values of the two types may be compared for equality without a type error.
bool Comparable(const TypePtr& a, const TypePtr& b);

// One overload of a built-in function, for the checker.
struct Overload {
  std::string function;
  bool receiver_style = false;  // x.f(args) rather than f(x, args)
  std::vector<TypePtr> params;  // receiver first when receiver_style
  TypePtr result;
};

// All built-in overloads (operators are checked separately in the checker).
const std::vector<Overload>& BuiltinOverloads();

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_TYPES_H_
