// EvaluateForCli: the `dealcoach expr 'EXPR' --vars FILE.json` entry point.
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
      auto status = google::protobuf::util::JsonStringToMessage(it.value().dump(), &opp);
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
  return v.DebugString();
}

}  // namespace dealcoach::expr
