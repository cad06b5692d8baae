// The vocabulary of generated-accessor readers and typed fast-path nodes.
//
// Protobuf reflection costs 5-10 ns per HasField/Get* call; the generated accessors
// inline to about 1 ns. An embedder that knows its generated message classes supplies
// readers of the shapes below through expr::FastAccessors (schema.h); the planner asks
// for them once per selection, and the evaluator then reads the field through the
// generated class instead of reflection. Any field without a reader (and any message not
// built from the generated pool) keeps the reflection path. Nothing here names a schema.
//
// Thread-safety: readers are plain functions; nodes are immutable after planning and
// may be evaluated from any number of threads at once.
#ifndef DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_
#define DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "sidecar/expr/value.h"

namespace dealcoach::expr {

enum class FieldType;  // expr.h

// Reads a singular field of a message of the generated class the reader was made for.
// Returns false when the field has presence and is unset; otherwise stores the value in
// *out exactly as FieldToValue would (strings borrowed, Timestamp as a timestamp,
// submessages as borrowed messages).
using FastFieldReader = bool (*)(const google::protobuf::Message& message, Value* out);

// Element `index` (in range) of a repeated message field of a message of the generated
// class the reader was made for.
using FastElementReader =
    const google::protobuf::Message& (*)(const google::protobuf::Message& message, int index);

// A timestamp (since the Unix epoch) or a duration as seconds plus nanoseconds in
// [0, 1e9): cheaper to read, subtract and compare than absl::Duration, whose
// constructors divide.
struct FastTime {
  int64_t sec;
  int32_t nsec;

  static FastTime Normalized(int64_t sec, int64_t nsec) {
    if (nsec < 0 || nsec >= 1000000000) {
      sec += nsec / 1000000000;
      nsec %= 1000000000;
      if (nsec < 0) {
        nsec += 1000000000;
        sec -= 1;
      }
    }
    return FastTime{sec, static_cast<int32_t>(nsec)};
  }
  static FastTime FromDuration(absl::Duration d);  // d finite
  friend bool operator<(FastTime a, FastTime b) {
    return a.sec < b.sec || (a.sec == b.sec && a.nsec < b.nsec);
  }
  friend bool operator>(FastTime a, FastTime b) { return b < a; }
  friend bool operator<=(FastTime a, FastTime b) { return !(b < a); }
  friend bool operator>=(FastTime a, FastTime b) { return !(a < b); }
  friend bool operator==(FastTime a, FastTime b) { return a.sec == b.sec && a.nsec == b.nsec; }
  friend bool operator!=(FastTime a, FastTime b) { return !(a == b); }
};

// A typed scalar read without building a Value (the typed fast path, fast_path.h).
// Which member is set follows the field's type: `b` for bool, `i` for int64/int32/enum,
// `d` for double, `t` for google.protobuf.Timestamp, `s` for string (borrowed from the
// message).
//
// Trivially constructible (no stores on construction): the fast path creates several
// per node. A string is stored as data + size and read through view().
struct FastString {
  const char* data;
  size_t size;
  static FastString Of(absl::string_view s) { return FastString{s.data(), s.size()}; }
  absl::string_view view() const { return absl::string_view(data, size); }
};

union FastScalar {
  bool b;
  int64_t i;
  double d;
  FastTime t;
  FastString s;
};

// Reads a singular scalar or Timestamp field; false when it has presence and is unset.
using FastScalarReader = bool (*)(const google::protobuf::Message& message, FastScalar* out);

// Presence of a singular field with explicit presence (optional scalar, submessage).
using FastHasReader = bool (*)(const google::protobuf::Message& message);

// A singular submessage field (not Timestamp); null when unset.
using FastMessageReader =
    const google::protobuf::Message* (*)(const google::protobuf::Message& message);

// Number of elements of a repeated field.
using FastSizeReader = int (*)(const google::protobuf::Message& message);

// A repeated string field.
using FastStringsReader =
    const google::protobuf::RepeatedPtrField<std::string>& (*)(const google::protobuf::Message&);

// Counts the elements of repeated message field `range` whose optional bool field is
// true (or false when `negate`), in one loop over the generated class: the fused form of
// `range.filter(e, e.flag).size()` and friends. An element whose flag is unset is skipped
// when `skip_unset` (the `has(e.flag) && ...` guard); otherwise the count is undecided
// and the function returns false. *size receives the number of elements.
using FastFlagCounter = bool (*)(const google::protobuf::Message& parent, bool negate,
                                 bool skip_unset, int64_t* count, int64_t* size);

// The value message stored under `key` in a map<string, dynamic value> custom-field map
// of `message` (see MessageSchema::dynamic_value_type), or null when the key is absent.
using FastCustomFieldLookup =
    const google::protobuf::Message* (*)(const google::protobuf::Message& message,
                                         const std::string& key);

namespace fast {

// Nested comprehensions the fast path handles.
constexpr int kMaxDepth = 4;

// Per-evaluation state of the typed fast path.
struct Context {
  // The schema's root variable: a message of the generated class of
  // MessageSchema::root_type.
  const google::protobuf::Message* root = nullptr;
  // The schema's clock variable, as time since the Unix epoch.
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

// A node of the typed fast path.
class FastNode {
 public:
  virtual ~FastNode() = default;
  // Writes the value to *out and returns true, or returns false when undecided (the
  // general evaluator then answers: an unknown, an error, or anything outside the subset).
  virtual bool Eval(Context& c, FastScalar* out) const = 0;
};

}  // namespace fast

// `root.<field> <op> k` for a scalar or Timestamp field of the schema's root type, as one
// fast-path node with the generated accessor inlined (no reader call). `k` holds the
// constant as the field's FastScalar member would; a string constant is `text`. The node
// reads Context::root.
using FastRootCompareFactory = std::unique_ptr<const fast::FastNode> (*)(fast::CompareOp op,
                                                                         const FastScalar& k,
                                                                         std::string text);

// `root.<map>.<key>` (or has(...) when `test_only`) for a declared custom field of type
// `want`, as one fast-path node reading Context::root. When not `test_only` the node
// decides only when the value is recorded and holds `want` (an int read as a double
// widens); otherwise it is undecided. has(...) decides always: true when the key is
// present and its value set.
using FastCustomFieldFactory = std::unique_ptr<const fast::FastNode> (*)(std::string key,
                                                                         FieldType want,
                                                                         bool test_only);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_
