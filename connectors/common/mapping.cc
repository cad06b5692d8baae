#include "connectors/common/mapping.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/time_util.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using nlohmann::json;

void MappingIssues::Add(std::string message) {
  ++count;
  if (samples.size() < max_samples) samples.push_back(std::move(message));
}

namespace {

enum class ValueType { kString, kInt, kDouble, kBool, kTimestamp };

absl::string_view TypeName(ValueType t) {
  switch (t) {
    case ValueType::kString:
      return "string";
    case ValueType::kInt:
      return "int";
    case ValueType::kDouble:
      return "double";
    case ValueType::kBool:
      return "bool";
    case ValueType::kTimestamp:
      return "timestamp";
  }
  return "?";
}

std::optional<ValueType> ParseTypeName(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "string" || n == "text" || n == "picklist") return ValueType::kString;
  if (n == "int" || n == "integer" || n == "int64") return ValueType::kInt;
  if (n == "double" || n == "number" || n == "float" || n == "currency") {
    return ValueType::kDouble;
  }
  if (n == "bool" || n == "boolean" || n == "checkbox") return ValueType::kBool;
  if (n == "timestamp" || n == "date" || n == "datetime") return ValueType::kTimestamp;
  return std::nullopt;
}

bool IsTimestamp(const FieldDescriptor* f) {
  return f->type() == FieldDescriptor::TYPE_MESSAGE &&
         f->message_type()->full_name() == "google.protobuf.Timestamp";
}

std::optional<ValueType> TypeOfField(const FieldDescriptor* f) {
  if (IsTimestamp(f)) return ValueType::kTimestamp;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return ValueType::kString;
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_INT32:
      return ValueType::kInt;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return ValueType::kDouble;
    case FieldDescriptor::CPPTYPE_BOOL:
      return ValueType::kBool;
    default:
      return std::nullopt;
  }
}

std::string Pos(const YAML::Node& node, absl::string_view file) {
  if (!node.IsDefined() || node.Mark().is_null()) return std::string(file);
  return absl::StrCat(file, ":", node.Mark().line + 1, ":", node.Mark().column + 1);
}

absl::Status Err(const YAML::Node& node, absl::string_view file, absl::string_view msg) {
  return absl::InvalidArgumentError(absl::StrCat(Pos(node, file), ": mapping: ", msg));
}

json ScalarToJson(const YAML::Node& n) { return json(n.Scalar()); }

}  // namespace

// One scalar target.
struct FieldRule {
  std::string target;                        // "account.name" or "fields.x"
  std::vector<const FieldDescriptor*> path;  // empty for custom fields
  std::string custom_name;                   // for fields.<name>
  bool repeated_string = false;
  ValueType type = ValueType::kString;
  std::string source;
  std::optional<json> constant;
  std::optional<json> dflt;
  std::map<std::string, std::string> values;
  // `values` keyed by lower-case source value: CRM picklists differ in case between orgs.
  std::map<std::string, std::string> values_lower;
};

namespace {
// The mapped value for `raw` (exact match first, then case-insensitive), or null.
const std::string* LookupValue(const FieldRule& rule, const std::string& raw) {
  auto it = rule.values.find(raw);
  if (it != rule.values.end()) return &it->second;
  auto lower = rule.values_lower.find(absl::AsciiStrToLower(raw));
  return lower == rule.values_lower.end() ? nullptr : &lower->second;
}
}  // namespace

struct ListRule {
  const FieldDescriptor* target = nullptr;  // repeated message field of Opportunity
  std::string source;                       // "." = the record itself, one row
  std::string when;                         // row kept only when this path is truthy
  // `when: {Field: CloseDate}`: row kept only when every path's text equals its value.
  std::vector<std::pair<std::string, std::string>> when_equals;
  std::string merge_by;
  std::vector<FieldRule> fields;
};

struct OpportunityMapping::Rep {
  std::map<std::string, FieldRule> scalars;  // by target; custom fields as "fields.<name>"
  std::map<std::string, std::vector<ListRule>> lists;  // by target field name
};

namespace {

absl::StatusOr<FieldRule> ParseRule(const Descriptor* message, absl::string_view target,
                                    const YAML::Node& key, const YAML::Node& node,
                                    absl::string_view file, bool custom) {
  FieldRule rule;
  rule.target = std::string(target);
  std::optional<ValueType> declared;
  if (custom) {
    rule.custom_name = std::string(target);
    rule.target = absl::StrCat("fields.", target);
  } else {
    const Descriptor* d = message;
    std::vector<std::string> parts = absl::StrSplit(target, '.');
    for (size_t i = 0; i < parts.size(); ++i) {
      const FieldDescriptor* f = d == nullptr ? nullptr : d->FindFieldByName(parts[i]);
      if (f == nullptr) {
        return Err(key, file,
                   absl::StrCat("unknown target field '", target, "' in ", message->name()));
      }
      rule.path.push_back(f);
      const bool last = i + 1 == parts.size();
      if (!last) {
        if (f->is_repeated() || f->type() != FieldDescriptor::TYPE_MESSAGE || IsTimestamp(f)) {
          return Err(key, file,
                     absl::StrCat("target '", target, "': '", parts[i],
                                  "' is not a nested message (lists use their own section)"));
        }
        d = f->message_type();
      } else {
        if (f->is_map() || (f->is_repeated() && f->cpp_type() != FieldDescriptor::CPPTYPE_STRING)) {
          return Err(key, file,
                     absl::StrCat("target '", target,
                                  "' is a list or map; map it in its own section (contacts:, "
                                  "activities:, ...) or under fields:"));
        }
        std::optional<ValueType> t = TypeOfField(f);
        if (!t.has_value()) {
          return Err(key, file, absl::StrCat("target '", target, "' is not a scalar field"));
        }
        rule.type = *t;
        rule.repeated_string = f->is_repeated();
      }
    }
  }

  if (node.IsScalar()) {
    rule.source = node.Scalar();
  } else if (node.IsMap()) {
    for (const auto& kv : node) {
      const std::string k = kv.first.Scalar();
      const YAML::Node& v = kv.second;
      if (k == "source") {
        if (!v.IsScalar()) return Err(v, file, "`source` must be a dotted path");
        rule.source = v.Scalar();
      } else if (k == "type") {
        if (!v.IsScalar()) return Err(v, file, "`type` must be a type name");
        declared = ParseTypeName(v.Scalar());
        if (!declared.has_value()) {
          return Err(v, file,
                     absl::StrCat("unknown type '", v.Scalar(),
                                  "'; use string, int, double, bool or timestamp"));
        }
      } else if (k == "values") {
        if (!v.IsMap()) return Err(v, file, "`values` must be a map of source value: value");
        for (const auto& e : v) {
          if (!e.second.IsScalar()) return Err(e.second, file, "value map entries are scalars");
          rule.values[e.first.Scalar()] = e.second.Scalar();
          rule.values_lower.emplace(absl::AsciiStrToLower(e.first.Scalar()), e.second.Scalar());
        }
      } else if (k == "default") {
        if (!v.IsScalar()) return Err(v, file, "`default` must be a scalar");
        rule.dflt = ScalarToJson(v);
      } else if (k == "value") {
        if (!v.IsScalar()) return Err(v, file, "`value` must be a scalar");
        rule.constant = ScalarToJson(v);
      } else {
        return Err(
            kv.first, file,
            absl::StrCat("unknown rule key '", k, "'; use source, type, values, default or value"));
      }
    }
  } else {
    return Err(node, file, absl::StrCat("rule for '", target, "' must be a source path or a map"));
  }
  if (rule.source.empty() && !rule.constant.has_value() && !rule.dflt.has_value()) {
    return Err(node, file, absl::StrCat("rule for '", target, "' needs `source` or `value`"));
  }
  if (custom) {
    if (!declared.has_value()) {
      return Err(node, file,
                 absl::StrCat("custom field '", target,
                              "' needs a `type` (string, int, double, bool, "
                              "timestamp)"));
    }
    rule.type = *declared;
  } else if (declared.has_value() && *declared != rule.type) {
    return Err(node, file,
               absl::StrCat("type '", TypeName(*declared), "' does not fit target '", target, "' (",
                            TypeName(rule.type), ")"));
  }
  return rule;
}

absl::StatusOr<ListRule> ParseList(const FieldDescriptor* target, const YAML::Node& node,
                                   absl::string_view file) {
  ListRule list;
  list.target = target;
  if (!node.IsMap()) {
    return Err(node, file,
               absl::StrCat("`", target->name(),
                            "` entry must be a map with "
                            "source and fields"));
  }
  for (const auto& kv : node) {
    const std::string k = kv.first.Scalar();
    const YAML::Node& v = kv.second;
    if (k == "source") {
      if (!v.IsScalar()) return Err(v, file, "`source` must be a dotted path");
      list.source = v.Scalar();
    } else if (k == "when") {
      if (v.IsMap() && v.size() > 0) {
        for (const auto& eq : v) {
          if (!eq.second.IsScalar()) return Err(eq.second, file, "`when` values must be scalars");
          list.when_equals.emplace_back(eq.first.Scalar(), eq.second.Scalar());
        }
        continue;
      }
      if (!v.IsScalar()) {
        return Err(v, file, "`when` must be a dotted path or a map of path: value");
      }
      list.when = v.Scalar();
    } else if (k == "merge_by") {
      if (!v.IsScalar()) return Err(v, file, "`merge_by` must be a field name");
      list.merge_by = v.Scalar();
      const FieldDescriptor* f = target->message_type()->FindFieldByName(list.merge_by);
      if (f == nullptr || f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) {
        return Err(v, file,
                   absl::StrCat("`merge_by` must name a string field of ",
                                target->message_type()->name()));
      }
    } else if (k == "fields") {
      if (!v.IsMap()) return Err(v, file, "`fields` must be a map of target: rule");
      for (const auto& f : v) {
        DC_ASSIGN_OR_RETURN(FieldRule rule, ParseRule(target->message_type(), f.first.Scalar(),
                                                      f.first, f.second, file, false));
        list.fields.push_back(std::move(rule));
      }
    } else {
      return Err(kv.first, file,
                 absl::StrCat("unknown key '", k, "' in `", target->name(),
                              "`; use source, when, merge_by or fields"));
    }
  }
  if (list.source.empty()) {
    return Err(node, file, absl::StrCat("`", target->name(), "` needs a `source` array path"));
  }
  return list;
}

absl::Status MergeInto(OpportunityMapping::Rep* rep, const YAML::Node& root,
                       absl::string_view file) {
  if (!root || root.IsNull()) return absl::OkStatus();
  if (!root.IsMap()) return Err(root, file, "a mapping must be a map of sections");
  const Descriptor* opp = v1::Opportunity::descriptor();
  for (const auto& section : root) {
    const std::string name = section.first.Scalar();
    const YAML::Node& body = section.second;
    if (name == "opportunity" || name == "fields") {
      if (body.IsNull()) continue;
      if (!body.IsMap()) return Err(body, file, absl::StrCat("`", name, "` must be a map"));
      for (const auto& kv : body) {
        if (kv.second.IsNull()) {
          // `target: ~` (or `target:`) removes a default: the connector stops asking the
          // CRM for its source, and the field stays unset ("not recorded").
          const std::string key =
              name == "fields" ? absl::StrCat("fields.", kv.first.Scalar()) : kv.first.Scalar();
          if (rep->scalars.erase(key) == 0) {
            return Err(kv.first, file,
                       absl::StrCat("cannot remove '", kv.first.Scalar(), "': no rule maps it (`",
                                    name, "` targets: ~ remove a default)"));
          }
          continue;
        }
        DC_ASSIGN_OR_RETURN(FieldRule rule, ParseRule(opp, kv.first.Scalar(), kv.first, kv.second,
                                                      file, name == "fields"));
        std::string key = rule.target;
        rep->scalars[key] = std::move(rule);
      }
      continue;
    }
    const FieldDescriptor* f = opp->FindFieldByName(name);
    if (f == nullptr || !f->is_repeated() || f->is_map() ||
        f->type() != FieldDescriptor::TYPE_MESSAGE) {
      return Err(section.first, file,
                 absl::StrCat("unknown mapping section '", name,
                              "'; use opportunity, fields, contacts, activities, stage_history, "
                              "close_date_history, artifacts or competitors"));
    }
    std::vector<ListRule> lists;
    if (body.IsSequence()) {
      for (const auto& item : body) {
        DC_ASSIGN_OR_RETURN(ListRule list, ParseList(f, item, file));
        lists.push_back(std::move(list));
      }
    } else if (!body.IsNull()) {
      DC_ASSIGN_OR_RETURN(ListRule list, ParseList(f, body, file));
      lists.push_back(std::move(list));
    }
    rep->lists[name] = std::move(lists);
  }
  return absl::OkStatus();
}

std::string JsonText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  return v.dump();
}

std::string Short(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = absl::StrCat(s.substr(0, 57), "...");
  return s;
}

// Converts one JSON value to the rule's type. Error text names the problem only.
struct Converted {
  std::string s;
  int64_t i = 0;
  double d = 0;
  bool b = false;
  absl::Time t;
};

absl::Status Convert(const json& v, ValueType type, Converted* out) {
  switch (type) {
    case ValueType::kString:
      if (v.is_object() || v.is_array()) return absl::InvalidArgumentError("is not a scalar");
      out->s = JsonText(v);
      return absl::OkStatus();
    case ValueType::kDouble:
      if (v.is_number()) {
        out->d = v.get<double>();
        return absl::OkStatus();
      }
      if (v.is_string() &&
          absl::SimpleAtod(absl::StripAsciiWhitespace(v.get<std::string>()), &out->d) &&
          std::isfinite(out->d)) {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError("is not a number");
    case ValueType::kInt: {
      if (v.is_number_integer() || v.is_number_unsigned()) {
        out->i = v.get<int64_t>();
        return absl::OkStatus();
      }
      double d = 0;
      bool ok = false;
      if (v.is_number_float()) {
        d = v.get<double>();
        ok = true;
      } else if (v.is_string()) {
        absl::string_view text = absl::StripAsciiWhitespace(v.get<std::string>());
        if (absl::SimpleAtoi(text, &out->i)) return absl::OkStatus();
        ok = absl::SimpleAtod(text, &d);
      }
      if (ok && std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e18) {
        out->i = static_cast<int64_t>(d);
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError("is not an integer");
    }
    case ValueType::kBool:
      if (v.is_boolean()) {
        out->b = v.get<bool>();
        return absl::OkStatus();
      }
      if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) {
        out->b = v.get<int64_t>() == 1;
        return absl::OkStatus();
      }
      if (v.is_string()) {
        const std::string s =
            absl::AsciiStrToLower(absl::StripAsciiWhitespace(v.get<std::string>()));
        if (s == "true" || s == "yes" || s == "1") {
          out->b = true;
          return absl::OkStatus();
        }
        if (s == "false" || s == "no" || s == "0") {
          out->b = false;
          return absl::OkStatus();
        }
      }
      return absl::InvalidArgumentError("is not a boolean");
    case ValueType::kTimestamp: {
      int64_t millis = 0;
      if (v.is_number()) {
        out->t = absl::FromUnixMillis(static_cast<int64_t>(v.get<double>()));
        return absl::OkStatus();
      }
      if (!v.is_string()) return absl::InvalidArgumentError("is not a date or time");
      const std::string s = v.get<std::string>();
      // Epoch milliseconds as text (HubSpot's older properties).
      if (s.size() >= 10 && absl::SimpleAtoi(s, &millis)) {
        out->t = absl::FromUnixMillis(millis);
        return absl::OkStatus();
      }
      absl::StatusOr<absl::Time> t = ParseCrmTime(s);
      if (!t.ok()) return absl::InvalidArgumentError("is not a date or time");
      out->t = *t;
      return absl::OkStatus();
    }
  }
  return absl::InternalError("bad type");
}

void AddRepeatedString(Message* msg, const FieldDescriptor* f, const std::string& value) {
  if (value.empty()) return;
  const Reflection* r = msg->GetReflection();
  for (int i = 0; i < r->FieldSize(*msg, f); ++i) {
    if (r->GetRepeatedString(*msg, f, i) == value) return;
  }
  r->AddString(msg, f, value);
}

// A CRM value the rule's `values` does not map (an org's own role label) is kept as is
// and logged once per process per (target, value), so an admin sees what to add to the
// mapping instead of the value passing silently. Bounded: an endless stream of distinct
// values (free text under a value map) stops being logged after 1,000.
void ReportUnmapped(const FieldRule& rule, const std::string& raw) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* seen = new std::set<std::pair<std::string, std::string>>();
  {
    absl::MutexLock lock(&mu);
    if (seen->size() >= 1000 || !seen->emplace(rule.target, raw).second) return;
  }
  std::cerr << "mapping: warning: " << rule.source << " value \"" << raw
            << "\" has no entry under `values` for " << rule.target
            << "; kept as is (add it to the connector's mapping to map it)\n";
}

std::string MapValue(const FieldRule& rule, const std::string& raw) {
  const std::string* mapped = LookupValue(rule, raw);
  if (mapped == nullptr && !rule.values.empty()) ReportUnmapped(rule, raw);
  return mapped == nullptr ? raw : *mapped;
}

void ApplyRule(const FieldRule& rule, const json& record, Message* root, MappingIssues* issues) {
  const json* found = nullptr;
  json holder;
  if (rule.constant.has_value()) {
    found = &*rule.constant;
  } else if (!rule.source.empty()) {
    found = FindPath(record, rule.source);
  }
  if (found == nullptr || found->is_null()) {
    if (!rule.dflt.has_value()) return;
    found = &*rule.dflt;
  }
  auto problem = [&](const json& v, absl::string_view what) {
    if (issues != nullptr) {
      issues->Add(absl::StrCat(rule.target, ": ", rule.source, ": ", Short(v), " ", what));
    }
  };

  if (rule.repeated_string) {
    std::vector<std::string> items;
    if (found->is_array()) {
      for (const json& e : *found) {
        if (e.is_null()) continue;
        if (e.is_object() || e.is_array()) {
          problem(e, "is not a scalar");
          continue;
        }
        items.push_back(JsonText(e));
      }
    } else if (found->is_object()) {
      problem(*found, "is not a scalar");
      return;
    } else {
      for (absl::string_view part : absl::StrSplit(JsonText(*found), ';')) {
        part = absl::StripAsciiWhitespace(part);
        if (!part.empty()) items.emplace_back(part);
      }
    }
    Message* msg = root;
    const Reflection* r = msg->GetReflection();
    for (size_t i = 0; i + 1 < rule.path.size(); ++i) msg = r->MutableMessage(msg, rule.path[i]);
    for (const std::string& item : items)
      AddRepeatedString(msg, rule.path.back(), MapValue(rule, item));
    return;
  }

  if (!rule.values.empty() && !found->is_object() && !found->is_array()) {
    if (const std::string* mapped = LookupValue(rule, JsonText(*found))) {
      holder = json(*mapped);
      found = &holder;
    } else if (!found->is_null()) {
      ReportUnmapped(rule, JsonText(*found));
    }
  }
  Converted c;
  if (absl::Status s = Convert(*found, rule.type, &c); !s.ok()) {
    problem(*found, s.message());
    return;
  }

  if (!rule.custom_name.empty()) {
    auto* opp = static_cast<v1::Opportunity*>(root);
    v1::FieldValue& fv = (*opp->mutable_fields())[rule.custom_name];
    switch (rule.type) {
      case ValueType::kString:
        fv.set_string_value(c.s);
        break;
      case ValueType::kInt:
        fv.set_int_value(c.i);
        break;
      case ValueType::kDouble:
        fv.set_double_value(c.d);
        break;
      case ValueType::kBool:
        fv.set_bool_value(c.b);
        break;
      case ValueType::kTimestamp:
        SetTimestamp(c.t, fv.mutable_timestamp_value());
        break;
    }
    return;
  }

  Message* msg = root;
  for (size_t i = 0; i + 1 < rule.path.size(); ++i) {
    msg = msg->GetReflection()->MutableMessage(msg, rule.path[i]);
  }
  const FieldDescriptor* f = rule.path.back();
  const Reflection* r = msg->GetReflection();
  switch (rule.type) {
    case ValueType::kString:
      r->SetString(msg, f, c.s);
      break;
    case ValueType::kInt:
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        r->SetInt32(msg, f, static_cast<int32_t>(c.i));
      } else {
        r->SetInt64(msg, f, c.i);
      }
      break;
    case ValueType::kDouble:
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT) {
        r->SetFloat(msg, f, static_cast<float>(c.d));
      } else {
        r->SetDouble(msg, f, c.d);
      }
      break;
    case ValueType::kBool:
      r->SetBool(msg, f, c.b);
      break;
    case ValueType::kTimestamp:
      SetTimestamp(c.t, static_cast<google::protobuf::Timestamp*>(r->MutableMessage(msg, f)));
      break;
  }
}

// Removes duplicate values from every repeated string field (after a merge).
void DedupRepeatedStrings(Message* msg) {
  const Descriptor* d = msg->GetDescriptor();
  const Reflection* r = msg->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (!f->is_repeated() || f->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    std::vector<std::string> seen;
    for (int j = 0; j < r->FieldSize(*msg, f); ++j) {
      std::string v = r->GetRepeatedString(*msg, f, j);
      if (std::find(seen.begin(), seen.end(), v) == seen.end()) seen.push_back(std::move(v));
    }
    r->ClearField(msg, f);
    for (const std::string& v : seen) r->AddString(msg, f, v);
  }
}

// A `when` value that says "yes": present, not null, not false, not 0, not "".
bool Truthy(const json* v) {
  if (v == nullptr || v->is_null()) return false;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_number()) return v->get<double>() != 0;
  if (v->is_string()) {
    const std::string s = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v->get<std::string>()));
    return !s.empty() && s != "false" && s != "no" && s != "0";
  }
  return true;
}

void ApplyList(const ListRule& list, const json& record, v1::Opportunity* opp,
               MappingIssues* issues) {
  // "." makes one row of the record itself: opportunity-level checkboxes and dates
  // (Mutual_Action_Plan__c) become artifacts.
  json self;
  const json* rows = nullptr;
  if (list.source == ".") {
    self = json::array({record});
    rows = &self;
  } else {
    rows = FindPath(record, list.source);
  }
  if (rows == nullptr || rows->is_null()) return;
  if (!rows->is_array()) {
    if (issues != nullptr) {
      issues->Add(absl::StrCat(list.target->name(), ": ", list.source, ": ", Short(*rows),
                               " is not an array"));
    }
    return;
  }
  const Reflection* r = opp->GetReflection();
  const FieldDescriptor* key =
      list.merge_by.empty() ? nullptr : list.target->message_type()->FindFieldByName(list.merge_by);
  for (const json& row : *rows) {
    if (!list.when.empty() && !Truthy(FindPath(row, list.when))) continue;
    if (!std::all_of(list.when_equals.begin(), list.when_equals.end(), [&](const auto& eq) {
          const json* v = FindPath(row, eq.first);
          return v != nullptr && !v->is_null() && JsonText(*v) == eq.second;
        })) {
      continue;
    }
    std::unique_ptr<Message> element(google::protobuf::MessageFactory::generated_factory()
                                         ->GetPrototype(list.target->message_type())
                                         ->New());
    for (const FieldRule& rule : list.fields) ApplyRule(rule, row, element.get(), issues);
    if (key != nullptr) {
      const std::string id = element->GetReflection()->GetString(*element, key);
      if (!id.empty()) {
        bool merged = false;
        for (int i = 0; i < r->FieldSize(*opp, list.target); ++i) {
          Message* existing = r->MutableRepeatedMessage(opp, list.target, i);
          if (existing->GetReflection()->GetString(*existing, key) == id) {
            existing->MergeFrom(*element);
            DedupRepeatedStrings(existing);
            merged = true;
            break;
          }
        }
        if (merged) continue;
      }
    }
    r->AddMessage(opp, list.target)->CopyFrom(*element);
  }
}

}  // namespace

OpportunityMapping::OpportunityMapping() : rep_(std::make_unique<Rep>()) {}
OpportunityMapping::~OpportunityMapping() = default;
OpportunityMapping::OpportunityMapping(OpportunityMapping&&) noexcept = default;
OpportunityMapping& OpportunityMapping::operator=(OpportunityMapping&&) noexcept = default;
OpportunityMapping::OpportunityMapping(const OpportunityMapping& other)
    : rep_(std::make_unique<Rep>(*other.rep_)) {}
OpportunityMapping& OpportunityMapping::operator=(const OpportunityMapping& other) {
  if (this != &other) rep_ = std::make_unique<Rep>(*other.rep_);
  return *this;
}

absl::StatusOr<OpportunityMapping> OpportunityMapping::Parse(absl::string_view yaml,
                                                             absl::string_view file) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": mapping: ", e.msg));
  }
  return FromNode(node, file);
}

absl::StatusOr<OpportunityMapping> OpportunityMapping::FromNode(const YAML::Node& node,
                                                                absl::string_view file) {
  OpportunityMapping mapping;
  DC_RETURN_IF_ERROR(mapping.Merge(node, file));
  return mapping;
}

absl::Status OpportunityMapping::Merge(const YAML::Node& overrides, absl::string_view file) {
  // Parse into a copy so a failed merge leaves this mapping untouched.
  Rep next = *rep_;
  try {
    DC_RETURN_IF_ERROR(MergeInto(&next, overrides, file));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ":", e.mark.column + 1, ": mapping: ", e.msg));
  }
  *rep_ = std::move(next);
  return absl::OkStatus();
}

void OpportunityMapping::Apply(const json& record, v1::Opportunity* opp,
                               MappingIssues* issues) const {
  for (const auto& [target, rule] : rep_->scalars) ApplyRule(rule, record, opp, issues);
  for (const auto& [name, lists] : rep_->lists) {
    for (const ListRule& list : lists) ApplyList(list, record, opp, issues);
  }
}

std::string OpportunityMapping::SourceFor(absl::string_view target) const {
  auto it = rep_->scalars.find(std::string(target));
  return it == rep_->scalars.end() ? std::string() : it->second.source;
}

std::vector<std::string> OpportunityMapping::ScalarSources() const {
  std::vector<std::string> out;
  for (const auto& [target, rule] : rep_->scalars) {
    if (!rule.source.empty() && !rule.constant.has_value()) out.push_back(rule.source);
  }
  // Lists made from the record itself read top-level fields.
  for (const auto& [name, lists] : rep_->lists) {
    for (const ListRule& list : lists) {
      if (list.source != ".") continue;
      if (!list.when.empty()) out.push_back(list.when);
      for (const auto& eq : list.when_equals) out.push_back(eq.first);
      for (const FieldRule& rule : list.fields) {
        if (!rule.source.empty() && !rule.constant.has_value()) out.push_back(rule.source);
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<OpportunityMapping::ListSource> OpportunityMapping::ListSources() const {
  std::vector<ListSource> out;
  for (const auto& [name, lists] : rep_->lists) {
    for (const ListRule& list : lists) {
      if (list.source == ".") continue;  // in ScalarSources()
      ListSource ls;
      ls.target = name;
      ls.source = list.source;
      for (const FieldRule& rule : list.fields) {
        if (!rule.source.empty() && !rule.constant.has_value()) ls.fields.push_back(rule.source);
      }
      if (!list.when.empty()) ls.fields.push_back(list.when);
      for (const auto& eq : list.when_equals) ls.fields.push_back(eq.first);
      ls.when_equals = list.when_equals;
      std::sort(ls.fields.begin(), ls.fields.end());
      ls.fields.erase(std::unique(ls.fields.begin(), ls.fields.end()), ls.fields.end());
      out.push_back(std::move(ls));
    }
  }
  return out;
}

const json* FindPath(const json& record, absl::string_view path) {
  const json* cur = &record;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (cur->is_object()) {
      // std::string_view keys avoid a string allocation per step (object_t uses
      // std::less<>).
      auto it = cur->find(std::string_view(part.data(), part.size()));
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array()) {
      size_t index = 0;
      if (!absl::SimpleAtoi(part, &index) || index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
    } else {
      return nullptr;
    }
  }
  return cur;
}

absl::StatusOr<absl::Time> ParseCrmTime(absl::string_view text) {
  const std::string s(absl::StripAsciiWhitespace(text));
  absl::Time t;
  std::string err;
  static const char* const kFormats[] = {
      "%Y-%m-%d",
      "%Y-%m-%d%ET%H:%M:%E*S%Ez",  // RFC 3339: Z or +hh:mm
      "%Y-%m-%d%ET%H:%M:%E*S%z",   // Salesforce: +0000
      "%Y-%m-%d%ET%H:%M:%E*S",     // no offset: UTC
      "%Y-%m-%d %H:%M:%E*S%Ez",    // SQL-ish
      "%Y-%m-%d %H:%M:%E*S%z",
      "%Y-%m-%d %H:%M:%E*S",
  };
  for (const char* format : kFormats) {
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", s, "' is not a date or time"));
}

}  // namespace dealcoach::connectors
