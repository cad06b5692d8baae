// Internal: runtime implementations of the built-in functions and operators. Every
// function is pure and thread-safe; arguments are never Unknown or Error (the caller
// handles those strictly before dispatch).
#ifndef DEALCOACH_SIDECAR_EXPR_FUNCTIONS_H_
#define DEALCOACH_SIDECAR_EXPR_FUNCTIONS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "sidecar/expr/value.h"

namespace dealcoach::expr {

// A built-in: `args` holds `arity` values (receiver first for method calls).
using BuiltinFn = Value (*)(const Value* args);

// Finds the runtime implementation of `name` with `arity` arguments; null if none.
BuiltinFn LookupBuiltin(absl::string_view name, int arity);

// True when any function named `name` exists (any arity).
bool BuiltinExists(absl::string_view name);

// The standard "no such overload" error for `name` applied to `args`.
Value NoSuchOverload(absl::string_view name, const Value* args, int arity);

// Ordering of two values: -1, 0, 1, or 2 when unordered (NaN) / not comparable (set
// *comparable = false for the latter).
int CompareValues(const Value& a, const Value& b, bool* comparable);

// Parses an RFC 3339 timestamp / a CEL duration string; false when invalid.
bool ParseCelTimestamp(absl::string_view text, absl::Time* out);
bool ParseCelDuration(absl::string_view text, absl::Duration* out);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_FUNCTIONS_H_
