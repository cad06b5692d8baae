// EvaluateForCli: the `dealcoach expr 'EXPR' --vars FILE.json` entry point.
#include <charconv>
#include <cmath>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/expr/expr.h"
#include "sidecar/expr/functions.h"

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

// `"fields": {"decision_to_change": true}` -> `{"bool_value": true}` (the proto3 JSON of
// dealcoach.v1.FieldValue), so --vars takes plain JSON values for custom fields as
// well as the FieldValue form. Integers become int_value (a string in proto3 JSON).
void ExpandFieldShorthand(nlohmann::json* opp) {
  if (!opp->is_object()) return;
  auto it = opp->find("fields");
  if (it == opp->end() || !it->is_object()) return;
  for (auto& [name, value] : it->items()) {
    if (value.is_object() || value.is_null()) continue;
    if (value.is_boolean()) {
      value = nlohmann::json{{"bool_value", value}};
    } else if (value.is_number_integer()) {
      value = nlohmann::json{{"int_value", value.dump()}};
    } else if (value.is_number()) {
      value = nlohmann::json{{"double_value", value}};
    } else if (value.is_string()) {
      value = nlohmann::json{{"string_value", value}};
    }
  }
}

}  // namespace

absl::StatusOr<std::string> EvaluateForCli(absl::string_view source, absl::string_view vars_json) {
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
  Environment env;
  Activation act;
  dealcoach::v1::Opportunity opp;
  for (auto it = vars.begin(); it != vars.end(); ++it) {
    const std::string& key = it.key();
    if (key == "opp") {
      nlohmann::json opp_json = it.value();
      ExpandFieldShorthand(&opp_json);
      auto status = google::protobuf::util::JsonStringToMessage(opp_json.dump(), &opp);
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("vars: 'opp' is not a valid Opportunity: ", status.ToString()));
      }
      env.DeclareMessageVariable("opp", dealcoach::v1::Opportunity::descriptor());
      // Custom fields are declared with the type the JSON gives them.
      for (const auto& [name, fv] : opp.fields()) {
        switch (fv.kind_case()) {
          case dealcoach::v1::FieldValue::kBoolValue:
            env.DeclareCustomField(name, FieldType::kBool);
            break;
          case dealcoach::v1::FieldValue::kIntValue:
            env.DeclareCustomField(name, FieldType::kInt);
            break;
          case dealcoach::v1::FieldValue::kDoubleValue:
            env.DeclareCustomField(name, FieldType::kDouble);
            break;
          case dealcoach::v1::FieldValue::kStringValue:
            env.DeclareCustomField(name, FieldType::kString);
            break;
          case dealcoach::v1::FieldValue::kTimestampValue:
            env.DeclareCustomField(name, FieldType::kTimestamp);
            break;
          default:
            break;
        }
      }
      act.SetMessage("opp", &opp);
    } else if (key == "now") {
      absl::Time t;
      if (!it.value().is_string() || !ParseCelTimestamp(it.value().get<std::string>(), &t)) {
        return absl::InvalidArgumentError("vars: 'now' must be an RFC 3339 timestamp string");
      }
      env.DeclareTimestampVariable("now");
      act.SetTimestamp("now", t);
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
