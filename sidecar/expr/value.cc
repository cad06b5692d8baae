#include "sidecar/expr/value.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "sidecar/expr/schema_internal.h"

namespace dealcoach::expr {

namespace pb = google::protobuf;

namespace {

const std::vector<std::string>& EmptyStrings() {
  static const auto* empty = new std::vector<std::string>();
  return *empty;
}

const MapEntries& EmptyMap() {
  static const auto* empty = new MapEntries();
  return *empty;
}

int64_t Utf8Length(absl::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string QuoteString(absl::string_view s, bool bytes) {
  std::string out = bytes ? "b\"" : "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
          absl::StrAppendFormat(&out, "\\x%02x", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace

Value Value::Int(int64_t i) {
  Value v;
  v.kind_ = ValueKind::kInt;
  v.scalar_.i = i;
  return v;
}
Value Value::Uint(uint64_t u) {
  Value v;
  v.kind_ = ValueKind::kUint;
  v.scalar_.u = u;
  return v;
}
Value Value::Double(double d) {
  Value v;
  v.kind_ = ValueKind::kDouble;
  v.scalar_.d = d;
  return v;
}
Value Value::String(std::string s) {
  Value v;
  v.kind_ = ValueKind::kString;
  auto owned = std::make_shared<const std::string>(std::move(s));
  v.scalar_.str = *owned;
  v.owner_ = std::move(owned);
  return v;
}
Value Value::StringView(absl::string_view s) {
  Value v;
  v.kind_ = ValueKind::kString;
  v.scalar_.str = s;
  return v;
}
Value Value::Bytes(std::string s) {
  Value v = String(std::move(s));
  v.kind_ = ValueKind::kBytes;
  return v;
}
Value Value::BytesView(absl::string_view s) {
  Value v = StringView(s);
  v.kind_ = ValueKind::kBytes;
  return v;
}
Value Value::Timestamp(absl::Time t) {
  Value v;
  v.kind_ = ValueKind::kTimestamp;
  v.scalar_.dur = t - absl::UnixEpoch();
  return v;
}
Value Value::Duration(absl::Duration d) {
  Value v;
  v.kind_ = ValueKind::kDuration;
  v.scalar_.dur = d;
  return v;
}
Value Value::List(std::vector<Value> elements) {
  Value v;
  v.kind_ = ValueKind::kList;
  auto owned = std::make_shared<const std::vector<Value>>(std::move(elements));
  v.rep_ = owned.get();
  v.owner_ = std::move(owned);
  return v;
}
Value Value::RepeatedField(const pb::Message* message, const pb::FieldDescriptor* field) {
  Value v;
  v.kind_ = ValueKind::kList;
  v.message_ = message;
  v.field_ = field;
  const pb::Reflection* r = message->GetReflection();
  v.aux_ = r;
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    if (r->FieldSize(*message, field) > 0) {
      v.rep_ = r->GetRepeatedMessage(*message, field, 0).GetReflection();
    }
  }
  return v;
}
Value Value::Map(MapEntries entries) {
  Value v;
  v.kind_ = ValueKind::kMap;
  auto owned = std::make_shared<const MapEntries>(std::move(entries));
  v.rep_ = owned.get();
  v.owner_ = std::move(owned);
  return v;
}
Value Value::Message(const pb::Message* message) {
  return Message(message, message->GetDescriptor(), message->GetReflection());
}
Value Value::Message(const pb::Message* message, const pb::Descriptor* descriptor,
                     const pb::Reflection* reflection) {
  Value v;
  v.kind_ = ValueKind::kMessage;
  v.message_ = message;
  v.aux_ = descriptor;
  v.rep_ = reflection;
  return v;
}
Value Value::Type(std::string name) {
  Value v = String(std::move(name));
  v.kind_ = ValueKind::kType;
  return v;
}
Value Value::Unknown(std::vector<std::string> attributes) {
  Value v;
  v.kind_ = ValueKind::kUnknown;
  auto owned = std::make_shared<const std::vector<std::string>>(std::move(attributes));
  v.rep_ = owned.get();
  v.owner_ = std::move(owned);
  return v;
}
Value Value::Error(std::string message) {
  Value v;
  v.kind_ = ValueKind::kError;
  auto owned = std::make_shared<const std::string>(std::move(message));
  v.rep_ = owned.get();
  v.owner_ = std::move(owned);
  return v;
}

int64_t Value::size() const {
  switch (kind_) {
    case ValueKind::kList:
      if (field_ != nullptr) {
        return static_cast<const pb::Reflection*>(aux_)->FieldSize(*message_, field_);
      }
      return static_cast<int64_t>(static_cast<const std::vector<Value>*>(rep_)->size());
    case ValueKind::kMap:
      return static_cast<int64_t>(map_entries().size());
    case ValueKind::kString:
      return Utf8Length(scalar_.str);
    case ValueKind::kBytes:
      return static_cast<int64_t>(scalar_.str.size());
    default:
      return 0;
  }
}

Value Value::list_element(int64_t i) const {
  if (field_ != nullptr) {
    return RepeatedElementToValue(*message_, field_, static_cast<int>(i),
                                  static_cast<const pb::Reflection*>(rep_),
                                  static_cast<const pb::Reflection*>(aux_));
  }
  return (*static_cast<const std::vector<Value>*>(rep_))[static_cast<size_t>(i)];
}

const MapEntries& Value::map_entries() const {
  if (kind_ != ValueKind::kMap || rep_ == nullptr) return EmptyMap();
  return *static_cast<const MapEntries*>(rep_);
}

namespace {
// Key equality for map lookups: numeric keys compare across int/uint/double.
bool KeyEquals(const Value& a, const Value& b) {
  if (a.kind() == b.kind() && a.kind() == ValueKind::kString) {
    return a.string_value() == b.string_value();
  }
  return ValuesEqual(a, b);
}
}  // namespace

const Value* Value::map_find(const Value& key) const {
  for (const auto& [k, v] : map_entries()) {
    if (KeyEquals(k, key)) return &v;
  }
  return nullptr;
}

const std::vector<std::string>& Value::unknown_attributes() const {
  if (kind_ != ValueKind::kUnknown) return EmptyStrings();
  return *static_cast<const std::vector<std::string>*>(rep_);
}

const std::string& Value::error_message() const {
  static const auto* empty = new std::string();
  if (kind_ != ValueKind::kError) return *empty;
  return *static_cast<const std::string*>(rep_);
}

std::string Value::TypeName() const {
  switch (kind_) {
    case ValueKind::kNull:
      return "null_type";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kUint:
      return "uint";
    case ValueKind::kDouble:
      return "double";
    case ValueKind::kString:
      return "string";
    case ValueKind::kBytes:
      return "bytes";
    case ValueKind::kTimestamp:
      return "google.protobuf.Timestamp";
    case ValueKind::kDuration:
      return "google.protobuf.Duration";
    case ValueKind::kList:
      return "list";
    case ValueKind::kMap:
      return "map";
    case ValueKind::kMessage:
      return message_descriptor()->full_name();
    case ValueKind::kType:
      return "type";
    case ValueKind::kUnknown:
      return "unknown";
    case ValueKind::kError:
      return "error";
  }
  return "error";
}

std::string FormatDouble(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

std::string FormatCelTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string FormatCelDuration(absl::Duration d) {
  // CEL renders durations as seconds with up to 9 fractional digits: "3600s", "1.5s".
  std::string out;
  if (d < absl::ZeroDuration()) {
    out = "-";
    d = -d;
  }
  int64_t secs = absl::IDivDuration(d, absl::Seconds(1), &d);
  int64_t nanos = absl::ToInt64Nanoseconds(d);
  absl::StrAppend(&out, secs);
  if (nanos != 0) {
    std::string frac = absl::StrFormat("%09d", nanos);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    absl::StrAppend(&out, ".", frac);
  }
  out += "s";
  return out;
}

std::string Value::DebugString() const {
  switch (kind_) {
    case ValueKind::kNull:
      return "null";
    case ValueKind::kBool:
      return scalar_.b ? "true" : "false";
    case ValueKind::kInt:
      return absl::StrCat(scalar_.i);
    case ValueKind::kUint:
      return absl::StrCat(scalar_.u, "u");
    case ValueKind::kDouble: {
      if (std::isnan(scalar_.d)) return "double(\"NaN\")";
      if (std::isinf(scalar_.d))
        return scalar_.d > 0 ? "double(\"Infinity\")" : "double(\"-Infinity\")";
      std::string s = FormatDouble(scalar_.d);
      if (s.find_first_of(".eE") == std::string::npos) s += ".0";
      return s;
    }
    case ValueKind::kString:
      return QuoteString(scalar_.str, false);
    case ValueKind::kBytes:
      return QuoteString(scalar_.str, true);
    case ValueKind::kTimestamp:
      return absl::StrCat("timestamp(\"", FormatCelTimestamp(timestamp_value()), "\")");
    case ValueKind::kDuration:
      return absl::StrCat("duration(\"", FormatCelDuration(scalar_.dur), "\")");
    case ValueKind::kList: {
      std::string out = "[";
      for (int64_t i = 0, n = size(); i < n; ++i) {
        if (i > 0) out += ", ";
        out += list_element(i).DebugString();
      }
      return out + "]";
    }
    case ValueKind::kMap: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : map_entries()) {
        if (!first) out += ", ";
        first = false;
        absl::StrAppend(&out, k.DebugString(), ": ", v.DebugString());
      }
      return out + "}";
    }
    case ValueKind::kMessage:
      return absl::StrCat(message_->GetDescriptor()->full_name(), "{", message_->ShortDebugString(),
                          "}");
    case ValueKind::kType:
      return std::string(scalar_.str);
    case ValueKind::kUnknown:
      return absl::StrCat("unknown(", absl::StrJoin(unknown_attributes(), ", "), ")");
    case ValueKind::kError:
      return absl::StrCat("error(", QuoteString(error_message(), false), ")");
  }
  return "";
}

Value MergeUnknowns(const Value& a, const Value& b) {
  if (!a.is_unknown()) return b;
  if (!b.is_unknown()) return a;
  std::vector<std::string> merged = a.unknown_attributes();
  for (const std::string& s : b.unknown_attributes()) {
    bool seen = false;
    for (const std::string& m : merged) seen = seen || m == s;
    if (!seen) merged.push_back(s);
  }
  if (merged.size() == a.unknown_attributes().size()) return a;
  return Value::Unknown(std::move(merged));
}

namespace {

struct WellKnown {
  const pb::Descriptor* timestamp = pb::Timestamp::descriptor();
  const pb::Descriptor* duration = pb::Duration::descriptor();
  const pb::Reflection* timestamp_reflection = pb::Timestamp::default_instance().GetReflection();
  const pb::Reflection* duration_reflection = pb::Duration::default_instance().GetReflection();
  // Both accessors run a once-initialisation check on every call; cache them.
  const pb::DescriptorPool* generated_pool = pb::DescriptorPool::generated_pool();
  const pb::MessageFactory* generated_factory = pb::MessageFactory::generated_factory();
};

const WellKnown& Known() {
  static const WellKnown* known = new WellKnown();
  return *known;
}

// `message` has descriptor `d` and reflection `r`.
Value MessageToValueWith(const pb::Message* message, const pb::Descriptor* d,
                         const pb::Reflection* r) {
  const WellKnown& k = Known();
  if (d == k.timestamp || d == k.duration) {
    int64_t seconds;
    int32_t nanos;
    if (r == k.timestamp_reflection) {
      const auto* ts = static_cast<const pb::Timestamp*>(message);
      seconds = ts->seconds();
      nanos = ts->nanos();
    } else if (r == k.duration_reflection) {
      const auto* du = static_cast<const pb::Duration*>(message);
      seconds = du->seconds();
      nanos = du->nanos();
    } else {
      seconds = r->GetInt64(*message, d->field(0));
      nanos = r->GetInt32(*message, d->field(1));
    }
    absl::Duration dur = absl::Seconds(seconds) + absl::Nanoseconds(nanos);
    if (d == k.duration) return Value::Duration(dur);
    return Value::Timestamp(absl::UnixEpoch() + dur);
  }
  // A schema's dynamic value type (a CRM custom field): the member that is set.
  if (internal::IsDynamicValueType(d)) {
    const pb::FieldDescriptor* set = r->GetOneofFieldDescriptor(*message, d->oneof_decl(0));
    if (set == nullptr) return Value::Null();
    return FieldToValue(*message, r, set);
  }
  if (d->file()->pool() == k.generated_pool) {
    return Value::Message(message, d, r);
  }
  // A dynamic descriptor pool: recognise the well-known types by name.
  const std::string& name = d->full_name();
  if (name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration") {
    int64_t seconds = r->GetInt64(*message, d->field(0));
    int32_t nanos = r->GetInt32(*message, d->field(1));
    absl::Duration dur = absl::Seconds(seconds) + absl::Nanoseconds(nanos);
    if (name == "google.protobuf.Duration") return Value::Duration(dur);
    return Value::Timestamp(absl::UnixEpoch() + dur);
  }
  return Value::Message(message, d, r);
}

}  // namespace

Value MessageToValue(const pb::Message* message) {
  return MessageToValueWith(message, message->GetDescriptor(), message->GetReflection());
}

Value FieldToValue(const pb::Message& message, const pb::FieldDescriptor* field) {
  return FieldToValue(message, message.GetReflection(), field);
}

Value FieldToValue(const pb::Message& message, const pb::Reflection* r,
                   const pb::FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return Value::Bool(r->GetBool(message, field));
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return Value::Int(r->GetInt32(message, field));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return Value::Int(r->GetInt64(message, field));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return Value::Uint(r->GetUInt32(message, field));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return Value::Uint(r->GetUInt64(message, field));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return Value::Double(r->GetFloat(message, field));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return Value::Double(r->GetDouble(message, field));
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return Value::Int(r->GetEnumValue(message, field));
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = r->GetStringReference(message, field, &scratch);
      if (&s == &scratch) {
        return field->type() == pb::FieldDescriptor::TYPE_BYTES ? Value::Bytes(scratch)
                                                                : Value::String(scratch);
      }
      return field->type() == pb::FieldDescriptor::TYPE_BYTES ? Value::BytesView(s)
                                                              : Value::StringView(s);
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub = r->GetMessage(message, field);
      // Submessages of a generated message are generated: skip the virtual calls for
      // the well-known types the schema uses.
      const pb::Descriptor* d = field->message_type();
      const WellKnown& k = Known();
      if (d == k.timestamp && r->GetMessageFactory() == k.generated_factory) {
        return MessageToValueWith(&sub, d, k.timestamp_reflection);
      }
      return MessageToValueWith(&sub, d, sub.GetReflection());
    }
  }
  return Value::Error("unsupported field type");
}

Value RepeatedElementToValue(const pb::Message& message, const pb::FieldDescriptor* field, int i,
                             const pb::Reflection* element_reflection, const pb::Reflection* r) {
  if (r == nullptr) r = message.GetReflection();
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      return Value::Bool(r->GetRepeatedBool(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_INT32:
      return Value::Int(r->GetRepeatedInt32(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_INT64:
      return Value::Int(r->GetRepeatedInt64(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      return Value::Uint(r->GetRepeatedUInt32(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return Value::Uint(r->GetRepeatedUInt64(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return Value::Double(r->GetRepeatedFloat(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      return Value::Double(r->GetRepeatedDouble(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return Value::Int(r->GetRepeatedEnumValue(message, field, i));
    case pb::FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = r->GetRepeatedStringReference(message, field, i, &scratch);
      if (&s == &scratch) return Value::String(scratch);
      return field->type() == pb::FieldDescriptor::TYPE_BYTES ? Value::BytesView(s)
                                                              : Value::StringView(s);
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      const pb::Message& sub = r->GetRepeatedMessage(message, field, i);
      return MessageToValueWith(
          &sub, field->message_type(),
          element_reflection != nullptr ? element_reflection : sub.GetReflection());
    }
  }
  return Value::Error("unsupported field type");
}

namespace {

bool NumericEqual(const Value& a, const Value& b, bool* comparable) {
  *comparable = true;
  auto ka = a.kind(), kb = b.kind();
  if (ka == ValueKind::kInt && kb == ValueKind::kInt) return a.int_value() == b.int_value();
  if (ka == ValueKind::kUint && kb == ValueKind::kUint) return a.uint_value() == b.uint_value();
  if (ka == ValueKind::kDouble && kb == ValueKind::kDouble)
    return a.double_value() == b.double_value();
  if (ka == ValueKind::kInt && kb == ValueKind::kUint)
    return a.int_value() >= 0 && static_cast<uint64_t>(a.int_value()) == b.uint_value();
  if (ka == ValueKind::kUint && kb == ValueKind::kInt) return NumericEqual(b, a, comparable);
  if (ka == ValueKind::kDouble && (kb == ValueKind::kInt || kb == ValueKind::kUint)) {
    double d = a.double_value();
    if (kb == ValueKind::kInt) {
      if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return false;
      return d == std::trunc(d) && static_cast<int64_t>(d) == b.int_value();
    }
    if (!(d >= 0 && d < 18446744073709551616.0)) return false;
    return d == std::trunc(d) && static_cast<uint64_t>(d) == b.uint_value();
  }
  if (kb == ValueKind::kDouble && (ka == ValueKind::kInt || ka == ValueKind::kUint))
    return NumericEqual(b, a, comparable);
  *comparable = false;
  return false;
}

}  // namespace

bool ValuesEqual(const Value& a, const Value& b) {
  bool numeric;
  bool eq = NumericEqual(a, b, &numeric);
  if (numeric) return eq;
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kNull:
      return true;
    case ValueKind::kBool:
      return a.bool_value() == b.bool_value();
    case ValueKind::kString:
    case ValueKind::kBytes:
    case ValueKind::kType:
      return a.string_value() == b.string_value();
    case ValueKind::kTimestamp:
    case ValueKind::kDuration:
      return a.duration_value() == b.duration_value();
    case ValueKind::kList: {
      int64_t n = a.size();
      if (n != b.size()) return false;
      for (int64_t i = 0; i < n; ++i) {
        if (!ValuesEqual(a.list_element(i), b.list_element(i))) return false;
      }
      return true;
    }
    case ValueKind::kMap: {
      if (a.size() != b.size()) return false;
      for (const auto& [k, v] : a.map_entries()) {
        const Value* other = b.map_find(k);
        if (other == nullptr || !ValuesEqual(v, *other)) return false;
      }
      return true;
    }
    case ValueKind::kMessage:
      if (a.message_descriptor() != b.message_descriptor()) return false;
      return pb::util::MessageDifferencer::Equals(*a.message_value(), *b.message_value());
    default:
      return false;
  }
}

}  // namespace dealcoach::expr
