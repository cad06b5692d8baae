// RunPlaybookTests: a playbook's unit tests, run through the real Evaluate. Reads no
// file itself: `opportunity_file:` goes through the caller's resolver.

#include "sidecar/playbook_tests/playbook_tests.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/engine/playbook_internal.h"
#include "sidecar/engine/source_map.h"
#include "sidecar/engine/yaml_util.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::playbook_tests {
namespace {

using engine::EvaluateOptions;
using engine::NormalizeOpportunityAsOf;
using engine::internal::CheckKeys;
using engine::internal::CompiledPlaybookImpl;
using engine::internal::Diagnostics;
using engine::internal::DidYouMean;
using engine::internal::EvalState;
using engine::internal::ExpectMap;
using engine::internal::ExpectSequence;
using engine::internal::GetString;
using engine::internal::Phase;
using engine::internal::Position;
using engine::internal::PositionOfMark;
using engine::internal::SourceText;
using engine::internal::YamlToJson;

const std::vector<std::string> kTestKeys = {
    "name", "description", "now", "opportunity", "opportunity_file", "opportunity_id", "expect"};
const std::vector<std::string> kExpectKeys = {
    "phase",         "claimed_phase",     "stage_ahead",       "gate_status",
    "top_behaviors", "behaviors_include", "behaviors_exclude", "risks_include",
    "risks_exclude", "checklist"};
const std::vector<std::string> kStatuses = {"met", "unmet", "unknown"};

const char* StatusName(v1::CriterionStatus s) {
  switch (s) {
    case v1::CRITERION_STATUS_MET:
      return "met";
    case v1::CRITERION_STATUS_UNMET:
      return "unmet";
    case v1::CRITERION_STATUS_UNKNOWN:
      return "unknown";
    default:
      return "unspecified";
  }
}

// Runs the tests of one file. Structural problems of a test become its failures, with
// file:line:col.
class FileRunner {
 public:
  FileRunner(const CompiledPlaybookImpl* pb, const SourceText* source, std::string file,
             const FileResolver* resolver)
      : pb_(pb), source_(source), file_(std::move(file)), resolver_(resolver) {}

  void Run(const YAML::Node& tests, const std::optional<absl::Time>& default_now,
           std::vector<v1::PlaybookTestResult>* results) {
    int k = 0;
    for (const YAML::Node& t : tests) {
      ++k;
      results->push_back(RunOne(t, k, default_now));
    }
  }

 private:
  std::string Where(const YAML::Mark& mark) const {
    Position p = PositionOfMark(mark);
    return absl::StrCat(file_, ":", p.line, ":", p.column, ": ");
  }

  v1::PlaybookTestResult RunOne(const YAML::Node& t, int k,
                                const std::optional<absl::Time>& default_now) {
    v1::PlaybookTestResult result;
    std::vector<std::string> failures;
    auto fail = [&](const YAML::Mark& mark, std::string msg) {
      failures.push_back(absl::StrCat(Where(mark), msg));
    };
    if (!t.IsMap()) {
      result.set_name(absl::StrCat("test #", k));
      fail(t.Mark(), "a test must be a mapping with name, now, opportunity and expect");
      result.add_failures(failures.back());
      return result;
    }
    // Structural problems, reported through a private collector.
    Diagnostics diag(source_, file_);
    CheckKeys(t, absl::StrCat("test #", k), kTestKeys, {"name", "expect"}, &diag);
    result.set_name(GetString(t, "name", "test", &diag).value_or(absl::StrCat("test #", k)));

    std::optional<absl::Time> now = default_now;
    if (auto s = GetString(t, "now", "test", &diag)) {
      absl::Time parsed;
      std::string err;
      if (absl::ParseTime(absl::RFC3339_full, *s, &parsed, &err)) {
        now = parsed;
      } else {
        diag.Error(t["now"].Mark(), absl::StrCat("now: '", *s, "' is not an RFC 3339 time (", err,
                                                 "), e.g. 2026-11-20T12:00:00Z"));
      }
    } else if (!now.has_value()) {
      diag.Error(t.Mark(), "missing required key 'now' (no file-level 'now' either)");
    }

    v1::Opportunity opp;
    bool have_opp = LoadOpportunity(t, &diag, &opp);
    YAML::Node expect = t["expect"];
    if (expect.IsDefined()) {
      if (ExpectMap(expect, "expect", &diag)) CheckKeys(expect, "expect", kExpectKeys, {}, &diag);
    }
    for (const v1::Diagnostic& d : diag.Sorted()) {
      failures.push_back(absl::StrCat(d.file(), ":", d.line(), ":", d.column(), ": ", d.message()));
    }
    if (failures.empty() && have_opp && now.has_value() && expect.IsMap()) {
      NormalizeOpportunityAsOf(&opp, *now);
      Check(opp, *now, expect, fail);
    }
    result.set_passed(failures.empty());
    for (std::string& f : failures) result.add_failures(std::move(f));
    return result;
  }

  // Inline `opportunity:` (YAML in proto3 JSON shape, with scalar shorthand for declared
  // custom fields) or `opportunity_file:` (+ `opportunity_id:` for a JSON array).
  bool LoadOpportunity(const YAML::Node& t, Diagnostics* diag, v1::Opportunity* opp) {
    YAML::Node inline_opp = t["opportunity"];
    YAML::Node file = t["opportunity_file"];
    nlohmann::json json;
    YAML::Mark mark;
    if (inline_opp.IsDefined() == file.IsDefined()) {
      diag->Error(t.Mark(), "a test needs exactly one of 'opportunity' or 'opportunity_file'");
      return false;
    }
    if (inline_opp.IsDefined()) {
      if (!ExpectMap(inline_opp, "opportunity", diag)) return false;
      json = YamlToJson(inline_opp);
      mark = inline_opp.Mark();
      ExpandFieldShorthand(&json);
    } else {
      mark = file.Mark();
      auto path = GetString(t, "opportunity_file", "test", diag);
      if (!path.has_value()) return false;
      if (resolver_ == nullptr || !*resolver_) {
        diag->Error(mark,
                    "opportunity_file: tests here cannot read files; write the opportunity "
                    "inline under 'opportunity:' (files are for `dealcoach test`)");
        return false;
      }
      std::string error;
      const nlohmann::json* doc = LoadJson(*path, &error);
      if (doc == nullptr) {
        diag->Error(mark, absl::StrCat("opportunity_file: ", error));
        return false;
      }
      auto id = GetString(t, "opportunity_id", "test", diag);
      if (doc->is_array()) {
        if (!id.has_value()) {
          diag->Error(mark, absl::StrCat("opportunity_file: '", *path,
                                         "' holds a list; add 'opportunity_id' to pick one"));
          return false;
        }
        for (const nlohmann::json& e : *doc) {
          if (e.is_object() && e.value("id", "") == *id) json = e;
        }
        if (json.is_null()) {
          diag->Error(t["opportunity_id"].Mark(),
                      absl::StrCat("opportunity_id: no opportunity '", *id, "' in ", *path));
          return false;
        }
      } else {
        json = *doc;
      }
    }
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(json.dump(), opp, options);
    if (!status.ok()) {
      diag->Error(mark, absl::StrCat("opportunity is not a valid dealcoach.v1.Opportunity: ",
                                     std::string(status.message())));
      return false;
    }
    return true;
  }

  // `fields: {decision_to_change: true}` -> `{bool_value: true}` per the declared type.
  void ExpandFieldShorthand(nlohmann::json* opp) {
    auto it = opp->find("fields");
    if (it == opp->end() || !it->is_object()) return;
    for (auto& [name, value] : it->items()) {
      if (value.is_object() || value.is_null()) continue;
      std::string kind;
      for (const auto& [field, type] : pb_->fields_) {
        if (field != name) continue;
        switch (type) {
          case expr::FieldType::kBool:
            kind = "bool_value";
            break;
          case expr::FieldType::kInt:
            kind = "int_value";
            break;
          case expr::FieldType::kDouble:
            kind = "double_value";
            break;
          case expr::FieldType::kString:
            kind = "string_value";
            break;
          case expr::FieldType::kTimestamp:
            kind = "timestamp_value";
            break;
        }
      }
      if (kind.empty()) {
        kind = value.is_boolean()          ? "bool_value"
               : value.is_number_integer() ? "int_value"
               : value.is_number()         ? "double_value"
                                           : "string_value";
      }
      if (kind == "int_value" && value.is_number_integer())
        value = std::to_string(value.get<int64_t>());
      value = nlohmann::json{{kind, value}};
    }
  }

  // The parsed file, or null with `error` set. Each name is resolved once per file.
  const nlohmann::json* LoadJson(const std::string& name, std::string* error) {
    auto it = json_cache_.find(name);
    if (it == json_cache_.end()) {
      Loaded loaded;
      absl::StatusOr<std::string> text = (*resolver_)(name);
      if (!text.ok()) {
        loaded.error = absl::StrCat("cannot read '", name, "': ", text.status().message());
      } else {
        loaded.doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
        if (loaded.doc.is_discarded()) {
          loaded.error = absl::StrCat("'", name, "' is not valid JSON");
        }
      }
      it = json_cache_.emplace(name, std::move(loaded)).first;
    }
    if (!it->second.error.empty()) {
      *error = it->second.error;
      return nullptr;
    }
    return &it->second.doc;
  }

  // Resolves a criterion reference ("community-pain" or "awareness/community-pain").
  // Returns {phase index, criterion index} or {-1, -1} with `error` set.
  std::pair<int, int> FindCriterion(const std::string& ref, std::string* error) const {
    std::vector<std::pair<int, int>> matches;
    std::vector<std::string> all;
    for (size_t p = 0; p < pb_->phases_.size(); ++p) {
      const auto& gate = pb_->phases_[p].gate;
      for (size_t c = 0; c < gate.size(); ++c) {
        all.push_back(gate[c].ref.id());
        all.push_back(gate[c].short_id);
        if (gate[c].ref.id() == ref || gate[c].short_id == ref) {
          matches.emplace_back(static_cast<int>(p), static_cast<int>(c));
        }
      }
    }
    if (matches.size() == 1) return matches[0];
    if (matches.empty()) {
      *error = absl::StrCat("no exit-gate criterion '", ref, "'", DidYouMean(ref, all));
    } else {
      *error =
          absl::StrCat("criterion id '", ref, "' is ambiguous; write it as '<phase>/<criterion>'");
    }
    return {-1, -1};
  }

  template <typename Rules>
  static void CollectIds(const Rules& rules, std::vector<std::string>* ids) {
    for (const auto& r : rules) {
      ids->push_back(r.ref.id());
      ids->push_back(r.short_id);
    }
  }

  std::vector<std::string> BehaviorIds() const {
    std::vector<std::string> ids;
    for (const Phase& p : pb_->phases_) CollectIds(p.behaviors, &ids);
    CollectIds(pb_->global_behaviors_, &ids);
    return ids;
  }

  std::vector<std::string> RiskIds() const {
    std::vector<std::string> ids;
    CollectIds(pb_->risks_, &ids);
    return ids;
  }

  // True when `ref` (short or full id) names the rule `id` (full id).
  static bool Names(const std::string& ref, const std::string& id) {
    return ref == id || (absl::EndsWith(id, ref) && id.size() > ref.size() &&
                         id[id.size() - ref.size() - 1] == '/');
  }

  template <typename Fail>
  void Check(const v1::Opportunity& opp, absl::Time now, const YAML::Node& expect, Fail fail) {
    EvaluateOptions all;
    all.max_behaviors = std::numeric_limits<int>::max();
    const v1::DealGuidance g = pb_->Evaluate(opp, now, all);

    if (YAML::Node n = expect["phase"]; n.IsDefined()) {
      if (g.evidence_phase().id() != n.Scalar()) {
        fail(n.Mark(), absl::StrCat("phase: expected '", n.Scalar(), "', got '",
                                    g.evidence_phase().id(), "'"));
      }
    }
    if (YAML::Node n = expect["claimed_phase"]; n.IsDefined()) {
      const std::string want = n.IsNull() ? "" : n.Scalar();
      const std::string got = g.has_claimed_phase() ? g.claimed_phase().id() : "";
      if (want != got) {
        fail(n.Mark(), absl::StrCat("claimed_phase: expected '", want, "', got '", got,
                                    "' (CRM stage '", opp.stage(), "')"));
      }
    }
    if (YAML::Node n = expect["stage_ahead"]; n.IsDefined()) {
      const bool want = n.Scalar() == "true";
      const bool got = g.has_stage_ahead_of_evidence();
      if (want != got) {
        fail(n.Mark(), want ? "stage_ahead: expected a stage-ahead-of-evidence warning, got none"
                            : absl::StrCat("stage_ahead: expected no warning, got: ",
                                           g.stage_ahead_of_evidence().message()));
      }
    }
    if (YAML::Node n = expect["gate_status"]; n.IsDefined() && n.IsMap()) {
      EvalState state(*pb_, opp, now);
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string ref = it->first.Scalar();
        std::string error;
        auto [p, c] = FindCriterion(ref, &error);
        if (p < 0) {
          fail(it->first.Mark(), absl::StrCat("gate_status: ", error));
          continue;
        }
        const std::string want = it->second.Scalar();
        if (std::find(kStatuses.begin(), kStatuses.end(), want) == kStatuses.end()) {
          fail(it->second.Mark(), absl::StrCat("gate_status: status must be met, unmet or "
                                               "unknown, got '",
                                               want, "'"));
          continue;
        }
        v1::GateResult gate;
        pb_->EvaluateGate(p, &state, &gate, nullptr);
        const v1::CriterionResult& r = gate.criteria(c);
        if (want != StatusName(r.status())) {
          std::string detail;
          if (r.missing_fields_size() > 0) {
            detail = absl::StrCat(" (not recorded: ", absl::StrJoin(r.missing_fields(), ", "), ")");
          }
          if (!r.error().empty()) detail = absl::StrCat(" (error: ", r.error(), ")");
          fail(it->second.Mark(), absl::StrCat("gate_status: ", r.rule().id(), ": expected ", want,
                                               ", got ", StatusName(r.status()), detail));
        }
      }
    }
    std::vector<std::string> fired;
    for (const v1::Behavior& b : g.next_best_behaviors()) fired.push_back(b.rule().id());
    CheckIds(expect, "behaviors_include", "behaviors_exclude", "behavior", BehaviorIds(), fired,
             fail);
    std::vector<std::string> risks;
    for (const v1::Risk& r : g.risks()) risks.push_back(r.rule().id());
    CheckIds(expect, "risks_include", "risks_exclude", "risk", RiskIds(), risks, fail);

    if (YAML::Node n = expect["top_behaviors"]; n.IsDefined() && n.IsSequence()) {
      std::vector<std::string> want;
      for (const YAML::Node& e : n) want.push_back(e.Scalar());
      bool ok = fired.size() >= want.size();
      for (size_t i = 0; ok && i < want.size(); ++i) ok = Names(want[i], fired[i]);
      if (!ok) {
        std::vector<std::string> got(fired.begin(),
                                     fired.begin() + std::min(fired.size(), want.size()));
        fail(n.Mark(), absl::StrCat("top_behaviors: expected [", absl::StrJoin(want, ", "),
                                    "], got [", absl::StrJoin(got, ", "), "]"));
      }
    }

    if (YAML::Node n = expect["checklist"]; n.IsDefined() && n.IsMap()) {
      absl::flat_hash_map<std::string, v1::ReviewChecklist> lists;
      for (const std::string& name : pb_->checklist_names()) {
        auto list = pb_->EvaluateChecklist(opp, now, name);
        if (list.ok()) lists.emplace(name, *std::move(list));
      }
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string ref = it->first.Scalar();
        const v1::ChecklistItem* found = nullptr;
        std::vector<std::string> all;
        for (const auto& [name, list] : lists) {
          for (const v1::ChecklistItem& item : list.items()) {
            all.push_back(item.rule().id());
            if (Names(ref, item.rule().id())) found = &item;
          }
        }
        if (found == nullptr) {
          std::sort(all.begin(), all.end());
          fail(it->first.Mark(),
               absl::StrCat("checklist: no checklist item '", ref, "'", DidYouMean(ref, all)));
          continue;
        }
        const std::string want = it->second.Scalar();
        if (want != StatusName(found->status())) {
          fail(it->second.Mark(), absl::StrCat("checklist: ", found->rule().id(), ": expected ",
                                               want, ", got ", StatusName(found->status())));
        }
      }
    }
  }

  template <typename Fail>
  void CheckIds(const YAML::Node& expect, const char* include_key, const char* exclude_key,
                const char* kind, const std::vector<std::string>& known,
                const std::vector<std::string>& fired, Fail fail) {
    for (const char* key : {include_key, exclude_key}) {
      YAML::Node n = expect[key];
      if (!n.IsDefined()) continue;
      if (!n.IsSequence()) {
        fail(n.Mark(), absl::StrCat(key, ": expected a list of ", kind, " ids"));
        continue;
      }
      const bool include = key == include_key;
      for (const YAML::Node& e : n) {
        const std::string ref = e.Scalar();
        if (std::find(known.begin(), known.end(), ref) == known.end()) {
          fail(e.Mark(), absl::StrCat(key, ": no ", kind, " '", ref, "' in playbook '",
                                      pb_->ref_.name(), "'", DidYouMean(ref, known)));
          continue;
        }
        bool present = false;
        for (const std::string& id : fired) present |= Names(ref, id);
        if (include && !present) {
          fail(e.Mark(), absl::StrCat(key, ": expected ", kind, " '", ref, "' to fire; fired: [",
                                      absl::StrJoin(fired, ", "), "]"));
        } else if (!include && present) {
          fail(e.Mark(), absl::StrCat(key, ": expected ", kind, " '", ref, "' not to fire"));
        }
      }
    }
  }

  struct Loaded {
    nlohmann::json doc;
    std::string error;
  };

  const CompiledPlaybookImpl* pb_;
  const SourceText* source_;
  std::string file_;
  const FileResolver* resolver_;
  absl::flat_hash_map<std::string, Loaded> json_cache_;
};

// Parses a tests document, bounded like a playbook.
absl::StatusOr<YAML::Node> ParseBounded(const std::string& text, const std::string& file) {
  if (std::optional<engine::internal::YamlBoundsError> e =
          engine::internal::CheckYamlBounds(text)) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e->position.line, ":", e->position.column, ": ", e->message));
  }
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Position p = PositionOfMark(e.mark);
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", p.line, ":", p.column, ": malformed YAML: ", e.msg));
  }
}

}  // namespace

std::string SiblingTestFile(const std::string& file) {
  for (const char* ext : {".yaml", ".yml"}) {
    if (absl::EndsWith(file, ext)) {
      return absl::StrCat(file.substr(0, file.size() - strlen(ext)), "_test", ext);
    }
  }
  return absl::StrCat(file, "_test.yaml");
}

bool IsTestFileName(absl::string_view path) {
  return absl::EndsWith(path, "_test.yaml") || absl::EndsWith(path, "_test.yml");
}

absl::StatusOr<std::vector<v1::PlaybookTestResult>> RunPlaybookTests(
    const engine::CompiledPlaybook& playbook, const TestsInput& input) {
  const auto* pb = dynamic_cast<const CompiledPlaybookImpl*>(&playbook);
  if (pb == nullptr) {
    return absl::InvalidArgumentError("playbook tests need a playbook loaded by the engine");
  }
  std::vector<v1::PlaybookTestResult> results;
  // Inline tests: the playbook parsed (within bounds) when it loaded.
  {
    SourceText source(pb->source_text_);
    absl::StatusOr<YAML::Node> root = ParseBounded(pb->source_text_, pb->file_name_);
    if (!root.ok()) return root.status();
    YAML::Node tests = (*root)["tests"];
    if (tests.IsDefined() && tests.IsSequence()) {
      FileRunner(pb, &source, pb->file_name_, &input.resolver).Run(tests, std::nullopt, &results);
    }
  }
  if (input.yaml.empty()) return results;
  const std::string& test_file = input.file_name;
  const std::string& text = input.yaml;
  SourceText source(text);
  absl::StatusOr<YAML::Node> parsed = ParseBounded(text, test_file);
  if (!parsed.ok()) return parsed.status();
  YAML::Node root = *parsed;
  std::optional<absl::Time> default_now;
  YAML::Node tests = root;
  if (root.IsMap()) {
    Diagnostics diag(&source, test_file);
    CheckKeys(root, "test file", {"now", "tests"}, {"tests"}, &diag);
    if (auto s = GetString(root, "now", "test file", &diag)) {
      absl::Time t;
      std::string err;
      if (absl::ParseTime(absl::RFC3339_full, *s, &t, &err)) {
        default_now = t;
      } else {
        diag.Error(root["now"].Mark(), absl::StrCat("now: '", *s, "' is not an RFC 3339 time"));
      }
    }
    const YAML::Node listed = root["tests"];
    if (listed.IsDefined()) {
      tests.reset(listed);  // rebind; operator= would write into the tree
      ExpectSequence(tests, "tests", &diag);
    }
    if (diag.has_errors()) {
      std::vector<std::string> messages;
      for (const v1::Diagnostic& d : diag.Sorted()) {
        messages.push_back(
            absl::StrCat(d.file(), ":", d.line(), ":", d.column(), ": ", d.message()));
      }
      return absl::InvalidArgumentError(absl::StrJoin(messages, "\n"));
    }
  } else if (!root.IsSequence()) {
    Position p = PositionOfMark(root.Mark());
    return absl::InvalidArgumentError(absl::StrCat(
        test_file, ":", p.line, ":", p.column,
        ": a test file is a mapping with 'tests:' (and optionally 'now:') or a list of tests"));
  }
  FileRunner(pb, &source, test_file, &input.resolver).Run(tests, default_now, &results);
  return results;
}

namespace {

// "a/b/c.yaml" -> "a/b", "c.yaml" -> ".".
std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", path, "': ", strerror(errno)));
  }
  std::string out(real);
  free(real);
  return out;
}

}  // namespace

absl::StatusOr<std::vector<v1::PlaybookTestResult>> RunPlaybookFileTests(
    const engine::CompiledPlaybook& playbook, const std::string& playbook_path,
    const std::string& root) {
  // The playbook's directory relative to the root, so that names in a tests file are
  // resolved against that directory but confined to the root.
  absl::StatusOr<std::string> real_root = RealPath(root.empty() ? "." : root);
  if (!real_root.ok()) return real_root.status();
  absl::StatusOr<std::string> real_dir = RealPath(DirOf(playbook_path));
  if (!real_dir.ok()) return real_dir.status();
  std::string rel;
  if (*real_dir != *real_root) {
    const std::string prefix = *real_root == "/" ? "/" : *real_root + "/";
    if (!absl::StartsWith(*real_dir, prefix)) {
      return absl::InvalidArgumentError(absl::StrCat("playbook '", playbook_path,
                                                     "' is not inside the root directory '", root,
                                                     "' (see --root)"));
    }
    rel = real_dir->substr(prefix.size()) + "/";
  }
  auto reader = std::make_shared<engine::RootedFileReader>(*real_root);
  TestsInput input;
  input.resolver = [reader, rel](absl::string_view name) -> absl::StatusOr<std::string> {
    if (!name.empty() && name[0] == '/') {
      return absl::InvalidArgumentError(
          "absolute paths are not allowed; name the file relative to the tests file");
    }
    return reader->Read(absl::StrCat(rel, name));
  };
  const std::string sibling = SiblingTestFile(playbook_path);
  const std::string sibling_name = sibling.substr(sibling.rfind('/') + 1);
  absl::StatusOr<std::string> text = reader->Read(rel + sibling_name);
  if (text.ok()) {
    input.yaml = *std::move(text);
    input.file_name = sibling;
  } else if (!absl::IsNotFound(text.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat(sibling, ":1:1: cannot read tests file: ", text.status().message()));
  }
  return RunPlaybookTests(playbook, input);
}

}  // namespace dealcoach::playbook_tests
