#include "sidecar/engine/yaml_util.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sidecar/common/edit_distance.h"

namespace dealcoach::engine::internal {

Position PositionOfMark(const YAML::Mark& mark) {
  if (mark.is_null()) return Position{1, 1};
  return Position{mark.line + 1, mark.column + 1};
}

void Diagnostics::Error(const YAML::Mark& mark, std::string message) {
  ErrorAt(PositionOfMark(mark), std::move(message));
}

void Diagnostics::ErrorAt(Position pos, std::string message) {
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
  d.set_file(file_);
  d.set_line(pos.line);
  d.set_column(pos.column);
  d.set_message(std::move(message));
  d.set_snippet(source_->Snippet(pos));
  diagnostics_.push_back(std::move(d));
  ++errors_;
}

void Diagnostics::WarningAt(Position pos, std::string message) {
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_WARNING);
  d.set_file(file_);
  d.set_line(pos.line);
  d.set_column(pos.column);
  d.set_message(std::move(message));
  d.set_snippet(source_->Snippet(pos));
  diagnostics_.push_back(std::move(d));
}

std::vector<v1::Diagnostic> Diagnostics::Sorted() const {
  std::vector<v1::Diagnostic> out = diagnostics_;
  std::stable_sort(out.begin(), out.end(), [](const v1::Diagnostic& a, const v1::Diagnostic& b) {
    return std::make_pair(a.line(), a.column()) < std::make_pair(b.line(), b.column());
  });
  return out;
}

std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates) {
  const std::string* best = ClosestName(word, candidates, std::max<size_t>(2, word.size() / 3));
  if (best == nullptr) return "";
  return absl::StrCat("; did you mean '", *best, "'?");
}

const char* NodeKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "mapping";
    case YAML::NodeType::Sequence:
      return "sequence";
    case YAML::NodeType::Scalar:
      return "scalar";
    default:
      return "null";
  }
}

bool ExpectMap(const YAML::Node& node, absl::string_view what, Diagnostics* diag) {
  if (node.IsMap()) return true;
  diag->Error(node.Mark(), absl::StrCat(what, ": expected a mapping, got a ", NodeKind(node)));
  return false;
}

bool ExpectSequence(const YAML::Node& node, absl::string_view what, Diagnostics* diag) {
  if (node.IsSequence()) return true;
  diag->Error(node.Mark(),
              absl::StrCat(what, ": expected a sequence (a list), got a ", NodeKind(node)));
  return false;
}

void CheckKeys(const YAML::Node& map, absl::string_view what,
               const std::vector<std::string>& allowed, const std::vector<std::string>& required,
               Diagnostics* diag) {
  absl::flat_hash_set<std::string> seen;
  for (auto it = map.begin(); it != map.end(); ++it) {
    // A copy: `it->` returns a proxy that dies with the full expression, so a reference
    // to its `first` dangles (ASan stack-use-after-scope, found by playbook_fuzzer).
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      diag->Error(key.Mark(), absl::StrCat(what, ": keys must be plain names"));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!seen.insert(name).second) {
      diag->Error(key.Mark(), absl::StrCat(what, ": duplicate key '", name, "'"));
      continue;
    }
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string hint = DidYouMean(name, allowed);
      if (hint.empty()) hint = absl::StrCat("; expected one of: ", absl::StrJoin(allowed, ", "));
      diag->Error(key.Mark(), absl::StrCat(what, ": unknown key '", name, "'", hint));
    }
  }
  for (const std::string& r : required) {
    if (!seen.contains(r)) {
      diag->Error(map.Mark(), absl::StrCat(what, ": missing required key '", r, "'"));
    }
  }
}

std::optional<std::string> GetString(const YAML::Node& map, const char* key, absl::string_view what,
                                     Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (!n.IsScalar()) {
    diag->Error(n.Mark(),
                absl::StrCat(what, ": '", key, "' must be a string, got a ", NodeKind(n)));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<int64_t> GetInt(const YAML::Node& map, const char* key, absl::string_view what,
                              Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  int64_t v = 0;
  if (!n.IsScalar() || n.Tag() == "!" || !absl::SimpleAtoi(n.Scalar(), &v)) {
    diag->Error(n.Mark(), absl::StrCat(what, ": '", key, "' must be an integer, got '",
                                       n.IsScalar() ? n.Scalar() : NodeKind(n), "'"));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> GetBool(const YAML::Node& map, const char* key, absl::string_view what,
                            Diagnostics* diag) {
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (n.IsScalar() && n.Tag() != "!") {
    if (n.Scalar() == "true") return true;
    if (n.Scalar() == "false") return false;
  }
  diag->Error(n.Mark(), absl::StrCat(what, ": '", key, "' must be true or false, got '",
                                     n.IsScalar() ? n.Scalar() : NodeKind(n), "'"));
  return std::nullopt;
}

std::vector<std::string> GetStringList(const YAML::Node& map, const char* key,
                                       absl::string_view what, Diagnostics* diag) {
  std::vector<std::string> out;
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return out;
  if (!ExpectSequence(n, absl::StrCat(what, ": '", key, "'"), diag)) return out;
  for (const YAML::Node& e : n) {
    if (!e.IsScalar()) {
      diag->Error(e.Mark(),
                  absl::StrCat(what, ": '", key, "' entries must be strings, got a ", NodeKind(e)));
      continue;
    }
    out.push_back(e.Scalar());
  }
  return out;
}

nlohmann::json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        obj[it->first.Scalar()] = YamlToJson(it->second);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const YAML::Node& e : node) arr.push_back(YamlToJson(e));
      return arr;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "!") return s;  // quoted: always a string
      if (s == "true") return true;
      if (s == "false") return false;
      if (s == "null" || s == "~") return nullptr;
      int64_t i = 0;
      if (absl::SimpleAtoi(s, &i)) return i;
      double d = 0;
      if (s.find_first_of("0123456789") != std::string::npos &&
          s.find_first_not_of("0123456789+-.eE") == std::string::npos && absl::SimpleAtod(s, &d)) {
        return d;
      }
      return s;
    }
    default:
      return nullptr;
  }
}

}  // namespace dealcoach::engine::internal
