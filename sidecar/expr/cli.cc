// EvaluateForCli: the schema-neutral part of `dealcoach expr 'EXPR' --vars FILE.json`
// (the opportunity schema is given by sidecar/oppschema).
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"
#include "sidecar/expr/expr.h"
#include "sidecar/expr/functions.h"
#include "sidecar/expr/schema.h"

namespace dealcoach::expr {

namespace {

Value JsonToValue(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::Null();
    case nlohmann::json::value_t::boolean:
      return Value::Bool(j.get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::Int(j.get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value::Int(static_cast<int64_t>(u));
      return Value::Uint(u);
    }
    case nlohmann::json::value_t::number_float:
      return Value::Double(j.get<double>());
    case nlohmann::json::value_t::string:
      return Value::String(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> out;
      for (const auto& e : j) out.push_back(JsonToValue(e));
      return Value::List(std::move(out));
    }
    case nlohmann::json::value_t::object: {
      MapEntries out;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out.emplace_back(Value::String(it.key()), JsonToValue(it.value()));
      }
      return Value::Map(std::move(out));
    }
    default:
      return Value::Null();
  }
}

// A double as a CEL literal that reads back as the same double: plain notation in the
// usual range ("1000.0", "-3.5", "0.001"), exponent notation beyond it ("1e+300"), and
// always with a '.' or an exponent so that it is not read back as an int.
std::string DoubleLiteral(double d) {
  if (std::isnan(d) || std::isinf(d)) return Value::Double(d).DebugString();
  char buf[400];
  const double a = std::fabs(d);
  const bool plain = a == 0 || (a >= 1e-5 && a < 1e16);
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d,
                                 plain ? std::chars_format::fixed : std::chars_format::scientific);
  if (ec != std::errc()) return Value::Double(d).DebugString();
  std::string out(buf, end);
  if (out.find_first_of(".e") == std::string::npos) out += ".0";
  return out;
}

// Value::DebugString, with doubles (also inside lists and maps) as DoubleLiteral.
std::string CelLiteral(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kDouble:
      return DoubleLiteral(v.double_value());
    case ValueKind::kList: {
      std::string out = "[";
      for (int64_t i = 0, n = v.size(); i < n; ++i) {
        if (i > 0) out += ", ";
        out += CelLiteral(v.list_element(i));
      }
      return out + "]";
    }
    case ValueKind::kMap: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, e] : v.map_entries()) {
        if (!first) out += ", ";
        first = false;
        absl::StrAppend(&out, CelLiteral(k), ": ", CelLiteral(e));
      }
      return out + "}";
    }
    default:
      return v.DebugString();
  }
}

// A map<string, T> field of `d` whose T is the schema's dynamic value type.
bool IsCustomFieldMap(const google::protobuf::FieldDescriptor* f, const MessageSchema& schema) {
  return schema.dynamic_value_type != nullptr && f->is_map() &&
         f->message_type()->map_key()->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
         f->message_type()->map_value()->message_type() == schema.dynamic_value_type;
}

// The first member of the dynamic value type's oneof whose C++ type is one of `types`.
const google::protobuf::FieldDescriptor* MemberOf(
    const google::protobuf::Descriptor* dynamic,
    std::initializer_list<google::protobuf::FieldDescriptor::CppType> types) {
  for (google::protobuf::FieldDescriptor::CppType t : types) {
    for (int i = 0; i < dynamic->field_count(); ++i) {
      if (dynamic->field(i)->cpp_type() == t) return dynamic->field(i);
    }
  }
  return nullptr;
}

// `"fields": {"decision_to_change": true}` -> `{"bool_value": true}` (the proto3 JSON of
// the dynamic value type, here with the member that holds a bool), so the root takes
// plain JSON values for custom fields as well as the proto3 form. Integers go to an
// integer member (as a string, as proto3 JSON writes int64), else a floating one.
void ExpandFieldShorthand(const MessageSchema& schema, nlohmann::json* root) {
  using CT = google::protobuf::FieldDescriptor;
  if (!root->is_object() || schema.dynamic_value_type == nullptr) return;
  const google::protobuf::Descriptor* dynamic = schema.dynamic_value_type;
  for (int f = 0; f < schema.root_type->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = schema.root_type->field(f);
    if (!IsCustomFieldMap(field, schema)) continue;
    for (const std::string& key : {field->name(), field->json_name()}) {
      auto it = root->find(key);
      if (it == root->end() || !it->is_object()) continue;
      for (auto& [name, value] : it->items()) {
        if (value.is_object() || value.is_null()) continue;
        const google::protobuf::FieldDescriptor* member = nullptr;
        nlohmann::json v = value;
        if (value.is_boolean()) {
          member = MemberOf(dynamic, {CT::CPPTYPE_BOOL});
        } else if (value.is_number_integer()) {
          member = MemberOf(dynamic, {CT::CPPTYPE_INT64, CT::CPPTYPE_INT32});
          if (member != nullptr) {
            v = value.dump();
          } else {
            member = MemberOf(dynamic, {CT::CPPTYPE_DOUBLE});
          }
        } else if (value.is_number()) {
          member = MemberOf(dynamic, {CT::CPPTYPE_DOUBLE, CT::CPPTYPE_FLOAT});
        } else if (value.is_string()) {
          member = MemberOf(dynamic, {CT::CPPTYPE_STRING});
        }
        if (member != nullptr) value = nlohmann::json{{member->name(), v}};
      }
    }
  }
}

// The static type of a custom field as its recorded value has it; false when unset or
// not one of the five field types.
bool RecordedType(const google::protobuf::Message& value, FieldType* out) {
  using CT = google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = value.GetReflection();
  const google::protobuf::Descriptor* d = value.GetDescriptor();
  const google::protobuf::FieldDescriptor* set =
      r->GetOneofFieldDescriptor(value, d->oneof_decl(0));
  if (set == nullptr) return false;
  switch (set->cpp_type()) {
    case CT::CPPTYPE_BOOL:
      *out = FieldType::kBool;
      return true;
    case CT::CPPTYPE_INT64:
    case CT::CPPTYPE_INT32:
      *out = FieldType::kInt;
      return true;
    case CT::CPPTYPE_DOUBLE:
    case CT::CPPTYPE_FLOAT:
      *out = FieldType::kDouble;
      return true;
    case CT::CPPTYPE_STRING:
      *out = FieldType::kString;
      return true;
    case CT::CPPTYPE_MESSAGE:
      if (set->message_type()->full_name() != "google.protobuf.Timestamp") return false;
      *out = FieldType::kTimestamp;
      return true;
    default:
      return false;
  }
}

// Declares every custom field recorded in `root` with the type its value has.
void DeclareRecordedCustomFields(const google::protobuf::Message& root, const MessageSchema& schema,
                                 Environment* env) {
  const google::protobuf::Reflection* r = root.GetReflection();
  for (int f = 0; f < schema.root_type->field_count(); ++f) {
    const google::protobuf::FieldDescriptor* field = schema.root_type->field(f);
    if (!IsCustomFieldMap(field, schema)) continue;
    const google::protobuf::Descriptor* entry = field->message_type();
    for (int i = 0, n = r->FieldSize(root, field); i < n; ++i) {
      const google::protobuf::Message& e = r->GetRepeatedMessage(root, field, i);
      const google::protobuf::Reflection* er = e.GetReflection();
      FieldType type;
      if (RecordedType(er->GetMessage(e, entry->map_value()), &type)) {
        env->DeclareCustomField(er->GetString(e, entry->map_key()), type);
      }
    }
  }
}

}  // namespace

absl::StatusOr<std::string> EvaluateForCli(absl::string_view source, absl::string_view vars_json,
                                           const MessageSchema* schema) {
  nlohmann::json vars;
  if (!vars_json.empty()) {
    try {
      vars = nlohmann::json::parse(vars_json.begin(), vars_json.end());
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("vars: invalid JSON: ", e.what()));
    }
    if (!vars.is_object()) return absl::InvalidArgumentError("vars: expected a JSON object");
  } else {
    vars = nlohmann::json::object();
  }
  if (schema != nullptr) DC_RETURN_IF_ERROR(RegisterSchema(schema));
  Environment env;
  Activation act;
  google::protobuf::DynamicMessageFactory dynamic_factory;
  std::unique_ptr<google::protobuf::Message> root;
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    const std::string& key = it.key();
    if (schema != nullptr && key == schema->root_variable) {
      const google::protobuf::Message* prototype =
          schema->root_type->file()->pool() == google::protobuf::DescriptorPool::generated_pool()
              ? google::protobuf::MessageFactory::generated_factory()->GetPrototype(
                    schema->root_type)
              : dynamic_factory.GetPrototype(schema->root_type);
      root.reset(prototype->New());
      nlohmann::json root_json = it.value();
      ExpandFieldShorthand(*schema, &root_json);
      auto status = google::protobuf::util::JsonStringToMessage(root_json.dump(), root.get());
      if (!status.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("vars: '", key, "' is not a valid ",
                                                       schema->root_type->full_name(), ": ",
                                                       status.ToString()));
      }
      env.DeclareMessageVariable(key, schema->root_type);
      // Custom fields are declared with the type the JSON gives them.
      DeclareRecordedCustomFields(*root, *schema, &env);
      act.SetMessage(key, root.get());
    } else if (schema != nullptr && key == schema->clock_variable) {
      absl::Time t;
      if (!it.value().is_string() || !ParseCelTimestamp(it.value().get<std::string>(), &t)) {
        return absl::InvalidArgumentError(
            absl::StrCat("vars: '", key, "' must be an RFC 3339 timestamp string"));
      }
      env.DeclareTimestampVariable(key);
      act.SetTimestamp(key, t);
    } else {
      env.DeclareDynVariable(key);
      act.SetValue(key, JsonToValue(it.value()));
    }
  }
  CompileResult r = Compile(source, env);
  if (!r.ok()) {
    std::string msg;
    for (const Issue& i : r.issues) {
      if (!msg.empty()) msg += "\n";
      absl::StrAppend(&msg, i.line, ":", i.column, ": ", i.message);
    }
    return absl::InvalidArgumentError(msg);
  }
  Value v = r.program->Evaluate(act);
  if (v.is_error()) {
    return absl::InvalidArgumentError(absl::StrCat("evaluation error: ", v.error_message()));
  }
  return CelLiteral(v);
}

}  // namespace dealcoach::expr
