// Plan-time table of generated-accessor readers for dealcoach.v1 message fields.
//
// Protobuf reflection costs 5-10 ns per HasField/Get* call; the generated accessors
// inline to about 1 ns. The planner asks FindFastField() once per selection and, when
// the field is in the table, the evaluator reads it through the generated class instead
// of reflection. The table is keyed by (message descriptor, field number); any field not
// in it (and any message not built from the generated pool) keeps the reflection path.
//
// Thread-safety: the table is immutable after its first (thread-safe) initialisation.
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

// Reads a singular field of a message of the generated class the reader was registered
// for. Returns false when the field has presence and is unset; otherwise stores the
// value in *out exactly as FieldToValue would (strings borrowed, Timestamp as a
// timestamp, submessages as borrowed messages).
using FastFieldReader = bool (*)(const google::protobuf::Message& message, Value* out);

// The reader for `field` of `descriptor`, or null when there is none. The caller must
// only use it on messages whose Reflection is `descriptor`'s generated one
// (GeneratedReflection(descriptor)).
FastFieldReader FindFastField(const google::protobuf::Descriptor* descriptor,
                              const google::protobuf::FieldDescriptor* field);

// Element `index` (in range) of a repeated message field of a message of the generated
// class the reader was registered for.
using FastElementReader =
    const google::protobuf::Message& (*)(const google::protobuf::Message& message, int index);

// The element reader for repeated message `field` of `descriptor`, or null.
FastElementReader FindFastElement(const google::protobuf::Descriptor* descriptor,
                                  const google::protobuf::FieldDescriptor* field);

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
FastScalarReader FindFastScalar(const google::protobuf::Descriptor* descriptor,
                                const google::protobuf::FieldDescriptor* field);

// Presence of a singular field with explicit presence (optional scalar, submessage).
using FastHasReader = bool (*)(const google::protobuf::Message& message);
FastHasReader FindFastHas(const google::protobuf::Descriptor* descriptor,
                          const google::protobuf::FieldDescriptor* field);

// A singular submessage field (not Timestamp); null when unset.
using FastMessageReader =
    const google::protobuf::Message* (*)(const google::protobuf::Message& message);
FastMessageReader FindFastMessage(const google::protobuf::Descriptor* descriptor,
                                  const google::protobuf::FieldDescriptor* field);

// Number of elements of a repeated field.
using FastSizeReader = int (*)(const google::protobuf::Message& message);
FastSizeReader FindFastSize(const google::protobuf::Descriptor* descriptor,
                            const google::protobuf::FieldDescriptor* field);

// A repeated string field.
using FastStringsReader =
    const google::protobuf::RepeatedPtrField<std::string>& (*)(const google::protobuf::Message&);
FastStringsReader FindFastStrings(const google::protobuf::Descriptor* descriptor,
                                  const google::protobuf::FieldDescriptor* field);

// Counts the elements of repeated message field `range` whose optional bool field is
// true (or false when `negate`), in one loop over the generated class: the fused form of
// `range.filter(e, e.flag).size()` and friends. An element whose flag is unset is skipped
// when `skip_unset` (the `has(e.flag) && ...` guard); otherwise the count is undecided
// and the function returns false. *size receives the number of elements.
using FastFlagCounter = bool (*)(const google::protobuf::Message& parent, bool negate,
                                 bool skip_unset, int64_t* count, int64_t* size);
FastFlagCounter FindFastFlagCounter(const google::protobuf::Descriptor* descriptor,
                                    const google::protobuf::FieldDescriptor* range,
                                    const google::protobuf::FieldDescriptor* flag);

namespace fast {
class FastNode;
enum class CompareOp;
}  // namespace fast

// `opp.<field> <op> k` for a scalar or Timestamp field of dealcoach.v1.Opportunity, as one
// fast-path node with the generated accessor inlined (no reader call). `k` holds the
// constant as the field's FastScalar member would; a string constant is `text`.
using FastRootCompareFactory = std::unique_ptr<const fast::FastNode> (*)(fast::CompareOp op,
                                                                         const FastScalar& k,
                                                                         std::string text);
FastRootCompareFactory FindFastRootCompare(const google::protobuf::Descriptor* descriptor,
                                           const google::protobuf::FieldDescriptor* field);

// The Reflection of the generated class for `descriptor`, or null when the descriptor
// does not come from the generated pool.
const google::protobuf::Reflection* GeneratedReflection(
    const google::protobuf::Descriptor* descriptor);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_
