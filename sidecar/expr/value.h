// Runtime values of the expression language (CEL values, plus Unknown and Error).
//
// A Value is a small handle: scalars are stored inline, strings, lists, maps, unknown
// sets and errors are shared immutable representations (copying a Value never copies
// them). Values read from a protobuf message BORROW from it: a string field is a view
// into the message and a repeated field is a view of the message's repeated field, so
// a Value must not outlive the messages of the Activation it was evaluated against.
//
// Thread-safety: a Value is immutable; const methods may be called from any thread.
//
// CONTRACT NOTE: the engine uses kind(), the accessors below and DebugString(); the expr
// library owns everything else here and may add to it freely.
#ifndef DEALCOACH_SIDECAR_EXPR_VALUE_H_
#define DEALCOACH_SIDECAR_EXPR_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace dealcoach::expr {

enum class ValueKind {
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
  kUnknown,
  kError
};

class Value;
// Entries of a map value, in insertion order. Lookups are linear: playbook maps are tiny.
using MapEntries = std::vector<std::pair<Value, Value>>;

class Value {
 public:
  // Null.
  Value() = default;

  static Value Null() { return Value(); }
  static Value Bool(bool b) {  // inline: every condition returns one
    Value v;
    v.kind_ = ValueKind::kBool;
    v.scalar_.b = b;
    return v;
  }
  static Value Int(int64_t i);
  static Value Uint(uint64_t u);
  static Value Double(double d);
  static Value String(std::string s);
  // A string that borrows `s`; the caller guarantees it outlives the value.
  static Value StringView(absl::string_view s);
  static Value Bytes(std::string s);
  static Value BytesView(absl::string_view s);
  static Value Timestamp(absl::Time t);
  static Value Duration(absl::Duration d);
  static Value List(std::vector<Value> elements);
  // A list view of `message`'s repeated field `field` (borrowed).
  static Value RepeatedField(const google::protobuf::Message* message,
                             const google::protobuf::FieldDescriptor* field);
  static Value Map(MapEntries entries);
  // A borrowed message.
  static Value Message(const google::protobuf::Message* message);
  // A borrowed message whose descriptor and reflection the caller already knows (saves
  // two virtual calls on the evaluation hot path).
  static Value Message(const google::protobuf::Message* message,
                       const google::protobuf::Descriptor* descriptor,
                       const google::protobuf::Reflection* reflection);
  // A type value, by CEL name ("int", "list", "google.protobuf.Timestamp").
  static Value Type(std::string name);
  static Value Unknown(std::vector<std::string> attributes);
  static Value Error(std::string message);

  ValueKind kind() const { return kind_; }
  bool is_error() const { return kind_ == ValueKind::kError; }
  bool is_unknown() const { return kind_ == ValueKind::kUnknown; }
  bool is_error_or_unknown() const {
    return kind_ == ValueKind::kError || kind_ == ValueKind::kUnknown;
  }

  bool bool_value() const { return scalar_.b; }      // kBool
  int64_t int_value() const { return scalar_.i; }    // kInt
  uint64_t uint_value() const { return scalar_.u; }  // kUint
  double double_value() const { return scalar_.d; }  // kDouble
  // kString, kBytes, kType (the type name).
  absl::string_view string_value() const { return scalar_.str; }
  absl::Time timestamp_value() const { return absl::UnixEpoch() + scalar_.dur; }  // kTimestamp
  absl::Duration duration_value() const { return scalar_.dur; }                   // kDuration
  const google::protobuf::Message* message_value() const { return message_; }     // kMessage
  const google::protobuf::Descriptor* message_descriptor() const {                // kMessage
    return static_cast<const google::protobuf::Descriptor*>(aux_);
  }
  const google::protobuf::Reflection* message_reflection() const {  // kMessage
    return static_cast<const google::protobuf::Reflection*>(rep_);
  }

  // kList: number of elements and element access (0 <= i < size()).
  // kMap: number of entries. kString: number of code points. kBytes: bytes.
  int64_t size() const;
  Value list_element(int64_t i) const;
  // kList backed by a repeated field (a view, see RepeatedField()): the field and the
  // message holding it; null otherwise. Lets comprehensions use generated accessors.
  const google::protobuf::FieldDescriptor* repeated_field() const { return field_; }
  const google::protobuf::Message* repeated_field_parent() const { return message_; }
  // kMap.
  const MapEntries& map_entries() const;
  // kMap: finds `key` using CEL key equality (1 == 1u == 1.0); null when absent.
  const Value* map_find(const Value& key) const;

  // kUnknown: the attribute paths that were not recorded.
  const std::vector<std::string>& unknown_attributes() const;
  // kError: the message.
  const std::string& error_message() const;

  // The CEL type name of the value ("int", "list", "acme.Contact", ...).
  std::string TypeName() const;

  // CEL literal rendering: true, 3, 2.5, "text", timestamp("2026-01-01T00:00:00Z"),
  // duration("3600s"), [1, 2], {"a": 1}.
  std::string DebugString() const;

 private:
  ValueKind kind_ = ValueKind::kNull;
  // Every member is trivially copyable, so Value copies are cheap.
  union Scalar {
    Scalar() : i(0) {}
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    absl::Duration dur;     // kTimestamp (since the Unix epoch) and kDuration
    absl::string_view str;  // kString, kBytes, kType
  } scalar_;
  // Keeps owned strings, lists, maps, unknown sets and errors alive.
  std::shared_ptr<const void> owner_;
  // std::vector<Value>*, MapEntries*, ... (owned by owner_); for kMessage the message's
  // Reflection; for a repeated-message-field list the elements' Reflection.
  const void* rep_ = nullptr;
  const google::protobuf::Message* message_ = nullptr;        // kMessage, repeated-field list
  const google::protobuf::FieldDescriptor* field_ = nullptr;  // repeated-field list
  // kMessage: the Descriptor; repeated-field list: the parent message's Reflection.
  const void* aux_ = nullptr;
};

// Merges the unknown sets of `a` and `b` (both kUnknown), keeping order, no duplicates.
Value MergeUnknowns(const Value& a, const Value& b);

// Converts a scalar protobuf field value (non-repeated) to a Value, borrowing strings and
// submessages. google.protobuf.Timestamp/Duration become timestamps and durations.
// `reflection` is message.GetReflection().
Value FieldToValue(const google::protobuf::Message& message,
                   const google::protobuf::Reflection* reflection,
                   const google::protobuf::FieldDescriptor* field);
Value FieldToValue(const google::protobuf::Message& message,
                   const google::protobuf::FieldDescriptor* field);
// Converts element `index` of repeated field `field`. `element_reflection` (may be null)
// is the Reflection of the field's message elements.
Value RepeatedElementToValue(const google::protobuf::Message& message,
                             const google::protobuf::FieldDescriptor* field, int index,
                             const google::protobuf::Reflection* element_reflection = nullptr,
                             const google::protobuf::Reflection* reflection = nullptr);
// Converts a message to a Value: well-known Timestamp/Duration become scalars, a
// registered schema's dynamic value type (schema.h) becomes the value of its set member
// (null when none).
Value MessageToValue(const google::protobuf::Message* message);

// CEL equality (heterogeneous numeric equality, NaN != NaN, deep list/map/message
// equality). Values of different types are unequal.
bool ValuesEqual(const Value& a, const Value& b);

// Formats a timestamp / duration the way CEL's string() does.
std::string FormatCelTimestamp(absl::Time t);
std::string FormatCelDuration(absl::Duration d);
// Formats a double the way CEL's string() does (shortest round-trip form).
std::string FormatDouble(double d);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_VALUE_H_
