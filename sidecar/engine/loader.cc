// Playbook loading: YAML -> validated, compiled CompiledPlaybookImpl.
//
// Every check reports through Diagnostics with the file position of the offending node
// and keeps going, so an admin sees all problems of a playbook at once.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/playbook_internal.h"
#include "sidecar/engine/source_map.h"
#include "sidecar/engine/yaml_util.h"
#include "sidecar/oppschema/oppschema.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::engine {
namespace internal {
namespace {

// Every "list.field" path SummarizePresence (normalize.cc) can put in `not_recorded`,
// with the attribute it names, so that evaluation looks the attribute up.
void IndexNotRecordedPaths(CompiledPlaybookImpl* pb) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Descriptor* d = v1::Opportunity::descriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* list = d->field(i);
    if (!list->is_repeated() || list->is_map() ||
        list->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    const google::protobuf::Descriptor* element = list->message_type();
    for (int j = 0; j < element->field_count(); ++j) {
      const FieldDescriptor* f = element->field(j);
      if (f->is_repeated() || !f->has_presence()) continue;
      const std::string path = absl::StrCat(list->name(), ".", f->name());
      pb->not_recorded_attributes_.emplace(path, NotRecordedAttribute(path));
    }
  }
}

const std::vector<std::string> kTopKeys = {"apiVersion", "kind",       "metadata", "fields",
                                           "roles",      "content",    "phases",   "behaviors",
                                           "risks",      "checklists", "tests",    "indicators"};
const std::vector<std::string> kMetadataKeys = {"name", "version", "owner", "description"};
const std::vector<std::string> kFieldKeys = {"type", "description"};
const std::vector<std::string> kRoleKeys = {"id", "name", "description"};
const std::vector<std::string> kContentKeys = {"id", "title", "url", "phases", "roles"};
const std::vector<std::string> kLinkKeys = {"title", "url"};
const std::vector<std::string> kPhaseKeys = {
    "id", "name", "description", "crm_stages", "exit_gate", "behaviors", "coaching_questions"};
const std::vector<std::string> kCriterionKeys = {"id", "text", "when", "hint"};
const std::vector<std::string> kBehaviorKeys = {"id",       "prompt", "why",    "when",
                                                "priority", "role",   "content"};
const std::vector<std::string> kGlobalBehaviorKeys = {"id",       "prompt", "why",     "when",
                                                      "priority", "role",   "content", "phases"};
const std::vector<std::string> kRiskKeys = {"id", "text", "when", "severity"};
const std::vector<std::string> kChecklistItemKeys = {"id", "text", "when", "question"};
const std::vector<std::string> kIndicatorKeys = {"id",   "name",   "description",
                                                 "when", "phases", "target"};
// Criteria and behaviors of a phase both become "<phase>/<id>" rule ids.
constexpr char kSharedIds[] = "; exit-gate criteria and behaviors of a phase share one id space";
const std::vector<std::string> kSeverities = {"low", "medium", "high"};

std::string Hex64(uint64_t v) { return absl::StrFormat("%016x", v); }

uint64_t Fnv1a64(absl::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string NormalizeStage(absl::string_view stage) {
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(stage));
}

// Plural and singular nouns for list-valued facts, by the path's last segment.
std::pair<std::string, std::string> NounsFor(absl::string_view path) {
  absl::string_view last = path.substr(path.rfind('.') + 1);
  if (last == "contacts") return {"contacts", "contact"};
  if (last == "activities") return {"activities", "activity"};
  if (last == "artifacts") return {"artifacts", "artifact"};
  if (last == "competitors") return {"competitors", "competitor"};
  if (last == "stage_history") return {"stage changes", "stage change"};
  if (last == "close_date_history") return {"close date changes", "close date change"};
  if (last == "roles") return {"roles", "role"};
  if (last == "participant_ids") return {"participants", "participant"};
  return {"items", "item"};
}

bool ValidId(absl::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_')) return false;
  }
  return true;
}

struct ContentEntry {
  v1::ContentLink link;
  std::vector<std::string> phases;
  std::vector<std::string> roles;
};

class Loader {
 public:
  Loader(absl::string_view text, absl::string_view file_name, const LoadOptions& options)
      : source_(std::string(text)),
        diag_(&source_, std::string(file_name)),
        options_(options),
        pb_(std::make_unique<CompiledPlaybookImpl>()) {
    pb_->file_name_ = std::string(file_name);
    pb_->source_text_ = std::string(text);
  }

  LoadResult Run() {
    LoadResult result;
    if (std::optional<YamlBoundsError> e = CheckYamlBounds(source_.text())) {
      diag_.ErrorAt(e->position, std::move(e->message));
      result.diagnostics = diag_.Sorted();
      return result;
    }
    YAML::Node root;
    try {
      root = YAML::Load(source_.text());
    } catch (const YAML::ParserException& e) {
      diag_.Error(e.mark, absl::StrCat("malformed YAML: ", e.msg));
      result.diagnostics = diag_.Sorted();
      return result;
    } catch (const YAML::Exception& e) {
      diag_.Error(e.mark, absl::StrCat("malformed YAML: ", e.msg));
      result.diagnostics = diag_.Sorted();
      return result;
    }
    try {
      LoadRoot(root);
    } catch (const YAML::Exception& e) {
      // Defensive: the walkers check node kinds, so this means a bug; still report it.
      diag_.Error(e.mark, absl::StrCat("cannot read playbook: ", e.msg));
    }
    pb_->ref_.set_revision(Hex64(Fnv1a64(source_.text())));
    result.ref = pb_->ref_;
    result.diagnostics = diag_.Sorted();
    if (!diag_.has_errors()) {
      BuildOutline(pb_.get());
      IndexNotRecordedPaths(pb_.get());
      SpecializePhaseConditions();
      result.playbook = std::move(pb_);
    }
    return result;
  }

 private:
  void LoadRoot(const YAML::Node& root) {
    if (!root.IsMap()) {
      diag_.Error(root.Mark(), absl::StrCat("a playbook must be a YAML mapping with apiVersion, "
                                            "kind, metadata and phases; got a ",
                                            NodeKind(root)));
      return;
    }
    CheckKeys(root, "playbook", kTopKeys, {"apiVersion", "kind", "metadata", "phases"}, &diag_);
    if (auto v = GetString(root, "apiVersion", "playbook", &diag_);
        v.has_value() && *v != "dealcoach/v1") {
      diag_.Error(root["apiVersion"].Mark(),
                  absl::StrCat("unsupported apiVersion '", *v, "'; use 'dealcoach/v1'"));
    }
    if (auto v = GetString(root, "kind", "playbook", &diag_); v.has_value() && *v != "Playbook") {
      diag_.Error(root["kind"].Mark(), absl::StrCat("kind must be 'Playbook', got '", *v, "'"));
    }
    LoadMetadata(root["metadata"]);
    LoadFields(root["fields"]);
    env_ = oppschema::OpportunityEnvironment();
    // `phase`: the id of the phase the deal's CRM stage claims (via crm_stages), "" when
    // the stage maps to none, so rules say "in the decision phase" on every CRM.
    if (absl::Status declared = env_.DeclareVariable("phase", "string"); !declared.ok()) {
      diag_.Error(root.Mark(), std::string(declared.message()));
    }
    for (const auto& [name, type] : pb_->fields_) env_.DeclareCustomField(name, type);
    LoadRoles(root["roles"]);
    LoadContent(root["content"]);
    LoadPhases(root["phases"]);
    LoadGlobalBehaviors(root["behaviors"]);
    LoadRisks(root["risks"]);
    LoadChecklists(root["checklists"]);
    LoadIndicators(root["indicators"]);
    YAML::Node tests = root["tests"];
    if (tests.IsDefined() && !tests.IsNull()) ExpectSequence(tests, "tests", &diag_);
  }

  void LoadMetadata(const YAML::Node& md) {
    if (!md.IsDefined()) return;  // reported as a missing key
    if (!ExpectMap(md, "metadata", &diag_)) return;
    CheckKeys(md, "metadata", kMetadataKeys, {"name", "version"}, &diag_);
    if (auto name = GetString(md, "name", "metadata", &diag_)) {
      if (!ValidId(*name)) {
        diag_.Error(md["name"].Mark(),
                    absl::StrCat("metadata: name '", *name,
                                 "' must use lower-case letters, digits, '-' or '_'"));
      }
      pb_->ref_.set_name(*name);
    }
    if (auto version = GetInt(md, "version", "metadata", &diag_)) {
      if (*version < 1) {
        diag_.Error(md["version"].Mark(),
                    absl::StrCat("metadata: version must be a positive integer, got ", *version));
      }
      pb_->ref_.set_version(*version);
    }
  }

  void LoadFields(const YAML::Node& fields) {
    if (!fields.IsDefined() || fields.IsNull()) return;
    if (!ExpectMap(fields, "fields", &diag_)) return;
    absl::flat_hash_set<std::string> seen;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string what = absl::StrCat("field '", name, "'");
      if (!seen.insert(name).second) {
        diag_.Error(it->first.Mark(), absl::StrCat("duplicate field '", name, "'"));
        continue;
      }
      YAML::Node type_node = it->second;
      if (it->second.IsMap()) {
        CheckKeys(it->second, what, kFieldKeys, {"type"}, &diag_);
        const YAML::Node type = it->second["type"];
        if (!type.IsDefined()) continue;
        type_node.reset(type);  // rebind; operator= would write into the tree
      }
      if (!type_node.IsScalar()) {
        diag_.Error(type_node.Mark(),
                    absl::StrCat(what,
                                 ": type must be one of bool, int, double, string, "
                                 "timestamp"));
        continue;
      }
      absl::StatusOr<expr::FieldType> type = expr::ParseFieldType(type_node.Scalar());
      if (!type.ok()) {
        const std::vector<std::string> types = {"bool", "int", "double", "string", "timestamp"};
        std::string hint = DidYouMean(type_node.Scalar(), types);
        if (hint.empty()) hint = "; use one of bool, int, double, string, timestamp";
        diag_.Error(type_node.Mark(),
                    absl::StrCat(what, ": unknown type '", type_node.Scalar(), "'", hint));
        continue;
      }
      pb_->fields_.emplace_back(name, *type);
    }
  }

  void LoadRoles(const YAML::Node& roles) {
    if (!roles.IsDefined() || roles.IsNull()) return;
    if (!ExpectSequence(roles, "roles", &diag_)) return;
    absl::flat_hash_map<std::string, int> seen;
    int n = 0;
    for (const YAML::Node& r : roles) {
      ++n;
      std::string id;
      YAML::Mark mark = r.Mark();
      if (r.IsScalar()) {  // shorthand: `- economic_buyer`
        id = r.Scalar();
      } else {
        const std::string what = absl::StrCat("role #", n);
        if (!ExpectMap(r, what, &diag_)) continue;
        CheckKeys(r, what, kRoleKeys, {"id"}, &diag_);
        id = GetString(r, "id", what, &diag_).value_or("");
        if (r["id"].IsDefined()) mark = r["id"].Mark();
      }
      if (id.empty()) continue;
      if (!CheckId(id, mark, "role")) continue;
      if (auto [it, inserted] = seen.emplace(id, mark.line + 1); !inserted) {
        diag_.Error(mark, absl::StrCat("duplicate role id '", id, "' (first defined at line ",
                                       it->second, ")"));
        continue;
      }
      role_ids_.push_back(id);
    }
  }

  void LoadContent(const YAML::Node& content) {
    if (!content.IsDefined() || content.IsNull()) return;
    if (!ExpectSequence(content, "content", &diag_)) return;
    int n = 0;
    for (const YAML::Node& c : content) {
      ++n;
      std::string what = absl::StrCat("content #", n);
      if (!ExpectMap(c, what, &diag_)) continue;
      CheckKeys(c, what, kContentKeys, {"id", "title", "url"}, &diag_);
      std::string id = GetString(c, "id", what, &diag_).value_or("");
      if (id.empty()) continue;
      if (!CheckId(id, c["id"].Mark(), "content")) continue;
      if (content_.contains(id)) {
        diag_.Error(c["id"].Mark(), absl::StrCat("duplicate content id '", id, "'"));
        continue;
      }
      ContentEntry entry;
      entry.link.set_title(GetString(c, "title", what, &diag_).value_or(""));
      entry.link.set_url(GetString(c, "url", what, &diag_).value_or(""));
      entry.phases = GetStringList(c, "phases", what, &diag_);
      entry.roles = GetStringList(c, "roles", what, &diag_);
      for (const std::string& r : entry.roles) CheckRoleRef(r, c["roles"].Mark(), what);
      content_marks_.emplace_back(id, c["phases"].IsDefined() ? c["phases"].Mark() : c.Mark());
      content_order_.push_back(id);
      content_.emplace(id, std::move(entry));
    }
  }

  void LoadPhases(const YAML::Node& phases) {
    if (!phases.IsDefined()) return;
    if (!ExpectSequence(phases, "phases", &diag_)) return;
    if (phases.size() == 0) {
      diag_.Error(phases.Mark(), "phases: a playbook needs at least one phase");
      return;
    }
    // First pass: ids, so global rules and content can refer to any phase.
    absl::flat_hash_map<std::string, int> seen;
    int n = 0;
    for (const YAML::Node& p : phases) {
      ++n;
      if (!p.IsMap()) continue;
      YAML::Node id = p["id"];
      if (!id.IsScalar()) continue;
      if (auto [it, inserted] = seen.emplace(id.Scalar(), id.Mark().line + 1); !inserted) {
        diag_.Error(id.Mark(), absl::StrCat("duplicate phase id '", id.Scalar(),
                                            "' (first defined at line ", it->second, ")"));
      }
    }
    for (const auto& [id, mark] : content_marks_) {
      for (const std::string& ph : content_.at(id).phases) {
        if (!seen.contains(ph)) {
          diag_.Error(mark, absl::StrCat("content '", id, "': unknown phase '", ph, "'",
                                         DidYouMean(ph, KeysOf(seen))));
        }
      }
    }
    phase_ids_ = KeysOf(seen);
    absl::flat_hash_map<std::string, std::pair<std::string, int>> stage_owner;
    n = 0;
    for (const YAML::Node& p : phases) {
      ++n;
      const std::string what0 = absl::StrCat("phase #", n);
      if (!ExpectMap(p, what0, &diag_)) continue;
      CheckKeys(p, what0, kPhaseKeys, {"id"}, &diag_);
      Phase phase;
      std::string id = GetString(p, "id", what0, &diag_).value_or("");
      if (!id.empty()) CheckId(id, p["id"].Mark(), "phase");
      const std::string what = absl::StrCat("phase '", id, "'");
      phase.ref.set_id(id);
      phase.ref.set_name(GetString(p, "name", what, &diag_).value_or(id));
      phase.ref.set_index(static_cast<int>(pb_->phases_.size()));
      const int index = phase.ref.index();

      YAML::Node stages = p["crm_stages"];
      std::vector<std::string> stage_list = GetStringList(p, "crm_stages", what, &diag_);
      for (size_t i = 0; i < stage_list.size(); ++i) {
        const std::string key = NormalizeStage(stage_list[i]);
        YAML::Mark mark = stages[i].Mark();
        auto [it, inserted] = stage_owner.emplace(key, std::make_pair(id, mark.line + 1));
        if (!inserted) {
          diag_.Error(mark,
                      absl::StrCat("CRM stage '", stage_list[i], "' is already mapped to phase '",
                                   it->second.first, "' (line ", it->second.second,
                                   "); a stage can map to one phase only"));
          continue;
        }
        pb_->stage_to_phase_[key] = index;
      }

      // Ids are unique across the phase's criteria and behaviors: both become
      // "<phase>/<id>" rule ids.
      absl::flat_hash_map<std::string, int> rule_ids;
      YAML::Node gate = p["exit_gate"];
      if (gate.IsDefined() && !gate.IsNull() &&
          ExpectSequence(gate, absl::StrCat(what, ": exit_gate"), &diag_)) {
        int k = 0;
        for (const YAML::Node& c : gate) {
          ++k;
          const std::string cwhat0 = absl::StrCat("exit-gate criterion #", k, " of ", what);
          if (!ExpectMap(c, cwhat0, &diag_)) continue;
          CheckKeys(c, cwhat0, kCriterionKeys, {"id", "text", "when"}, &diag_);
          Criterion crit;
          crit.short_id = GetString(c, "id", cwhat0, &diag_).value_or("");
          if (!CheckRuleId(crit.short_id, c, "criterion", &rule_ids, kSharedIds)) continue;
          const std::string full = absl::StrCat(id, "/", crit.short_id);
          const std::string cwhat = absl::StrCat("criterion '", full, "'");
          crit.text = GetString(c, "text", cwhat, &diag_).value_or("");
          crit.hint = GetString(c, "hint", cwhat, &diag_).value_or("");
          SetRef(&crit, full);
          CompileWhen(c, cwhat, /*required=*/true, &crit);
          phase.gate.push_back(std::move(crit));
        }
      }
      YAML::Node behaviors = p["behaviors"];
      if (behaviors.IsDefined() && !behaviors.IsNull() &&
          ExpectSequence(behaviors, absl::StrCat(what, ": behaviors"), &diag_)) {
        int k = 0;
        for (const YAML::Node& b : behaviors) {
          ++k;
          BehaviorRule rule;
          if (LoadBehavior(b, absl::StrCat("behavior #", k, " of ", what), id, kBehaviorKeys,
                           &rule_ids, &rule)) {
            phase.behaviors.push_back(std::move(rule));
          }
        }
      }
      std::vector<std::string> questions = GetStringList(p, "coaching_questions", what, &diag_);
      for (size_t q = 0; q < questions.size(); ++q) {
        v1::CoachingQuestion cq;
        cq.mutable_rule()->set_id(absl::StrCat(id, "/question-", q + 1));
        cq.mutable_rule()->set_playbook(pb_->ref_.name());
        cq.mutable_rule()->set_version(pb_->ref_.version());
        cq.set_text(questions[q]);
        phase.questions.push_back(std::move(cq));
      }
      pb_->phases_.push_back(std::move(phase));
    }
  }

  bool LoadBehavior(const YAML::Node& b, const std::string& what0, const std::string& phase_id,
                    const std::vector<std::string>& keys,
                    absl::flat_hash_map<std::string, int>* rule_ids, BehaviorRule* rule) {
    if (!ExpectMap(b, what0, &diag_)) return false;
    CheckKeys(b, what0, keys, {"id", "prompt"}, &diag_);
    rule->short_id = GetString(b, "id", what0, &diag_).value_or("");
    if (!CheckRuleId(rule->short_id, b, "behavior", rule_ids, phase_id.empty() ? "" : kSharedIds)) {
      return false;
    }
    const std::string full = phase_id.empty() ? absl::StrCat("behavior/", rule->short_id)
                                              : absl::StrCat(phase_id, "/", rule->short_id);
    const std::string what = absl::StrCat("behavior '", full, "'");
    rule->phase_id = phase_id;
    rule->prompt = GetString(b, "prompt", what, &diag_).value_or("");
    rule->why = GetString(b, "why", what, &diag_).value_or("");
    rule->role = GetString(b, "role", what, &diag_).value_or("");
    if (!rule->role.empty()) CheckRoleRef(rule->role, b["role"].Mark(), what);
    if (auto priority = GetInt(b, "priority", what, &diag_)) {
      if (*priority < 0 || *priority > 100) {
        diag_.Error(b["priority"].Mark(), absl::StrCat(what,
                                                       ": priority must be between 0 and "
                                                       "100, got ",
                                                       *priority));
      } else {
        rule->priority = static_cast<int>(*priority);
      }
    }
    rule->order = behavior_order_++;
    SetRef(rule, full);
    CompileWhen(b, what, /*required=*/false, rule);
    // Content: inline links and references to the content library, then library entries
    // tagged with this phase (and this role, when the entry names roles).
    absl::flat_hash_set<std::string> urls;
    YAML::Node content = b["content"];
    if (content.IsDefined() && !content.IsNull() &&
        ExpectSequence(content, absl::StrCat(what, ": content"), &diag_)) {
      for (const YAML::Node& c : content) {
        if (c.IsScalar()) {
          auto it = content_.find(c.Scalar());
          if (it == content_.end()) {
            diag_.Error(c.Mark(), absl::StrCat(what, ": unknown content id '", c.Scalar(), "'",
                                               DidYouMean(c.Scalar(), content_order_)));
            continue;
          }
          if (urls.insert(it->second.link.url()).second) rule->content.push_back(it->second.link);
          continue;
        }
        if (!ExpectMap(c, absl::StrCat(what, ": content entry"), &diag_)) continue;
        CheckKeys(c, absl::StrCat(what, ": content entry"), kLinkKeys, {"title", "url"}, &diag_);
        v1::ContentLink link;
        link.set_title(GetString(c, "title", what, &diag_).value_or(""));
        link.set_url(GetString(c, "url", what, &diag_).value_or(""));
        if (urls.insert(link.url()).second) rule->content.push_back(std::move(link));
      }
    }
    if (!phase_id.empty()) {
      for (const std::string& cid : content_order_) {
        const ContentEntry& e = content_.at(cid);
        bool phase_match = std::find(e.phases.begin(), e.phases.end(), phase_id) != e.phases.end();
        bool role_match = e.roles.empty() ||
                          std::find(e.roles.begin(), e.roles.end(), rule->role) != e.roles.end();
        if (phase_match && role_match && urls.insert(e.link.url()).second) {
          rule->content.push_back(e.link);
        }
      }
    }
    return true;
  }

  void LoadGlobalBehaviors(const YAML::Node& behaviors) {
    if (!behaviors.IsDefined() || behaviors.IsNull()) return;
    if (!ExpectSequence(behaviors, "behaviors", &diag_)) return;
    absl::flat_hash_map<std::string, int> ids;
    int k = 0;
    for (const YAML::Node& b : behaviors) {
      ++k;
      BehaviorRule rule;
      if (!LoadBehavior(b, absl::StrCat("global behavior #", k), "", kGlobalBehaviorKeys, &ids,
                        &rule)) {
        continue;
      }
      YAML::Node phases = b["phases"];
      for (const std::string& ph : GetStringList(b, "phases", rule.ref.id(), &diag_)) {
        int index = pb_->PhaseIndex(ph);
        if (index < 0) {
          diag_.Error(phases.Mark(), absl::StrCat("behavior '", rule.ref.id(), "': unknown phase '",
                                                  ph, "'", DidYouMean(ph, phase_ids_)));
          continue;
        }
        rule.phases.push_back(index);
      }
      pb_->global_behaviors_.push_back(std::move(rule));
    }
  }

  void LoadRisks(const YAML::Node& risks) {
    if (!risks.IsDefined() || risks.IsNull()) return;
    if (!ExpectSequence(risks, "risks", &diag_)) return;
    absl::flat_hash_map<std::string, int> ids;
    int k = 0;
    for (const YAML::Node& r : risks) {
      ++k;
      const std::string what0 = absl::StrCat("risk #", k);
      if (!ExpectMap(r, what0, &diag_)) continue;
      CheckKeys(r, what0, kRiskKeys, {"id", "text", "when"}, &diag_);
      RiskRule risk;
      risk.short_id = GetString(r, "id", what0, &diag_).value_or("");
      if (!CheckRuleId(risk.short_id, r, "risk", &ids)) continue;
      const std::string full = absl::StrCat("risk/", risk.short_id);
      const std::string what = absl::StrCat("risk '", full, "'");
      risk.text = GetString(r, "text", what, &diag_).value_or("");
      if (auto sev = GetString(r, "severity", what, &diag_)) {
        if (*sev == "low") {
          risk.severity = v1::RISK_SEVERITY_LOW;
        } else if (*sev == "medium") {
          risk.severity = v1::RISK_SEVERITY_MEDIUM;
        } else if (*sev == "high") {
          risk.severity = v1::RISK_SEVERITY_HIGH;
        } else {
          std::string hint = DidYouMean(*sev, kSeverities);
          if (hint.empty()) hint = "; use low, medium or high";
          diag_.Error(r["severity"].Mark(),
                      absl::StrCat(what, ": unknown severity '", *sev, "'", hint));
        }
      }
      SetRef(&risk, full);
      CompileWhen(r, what, /*required=*/true, &risk);
      pb_->risks_.push_back(std::move(risk));
    }
  }

  void LoadChecklists(const YAML::Node& checklists) {
    if (!checklists.IsDefined() || checklists.IsNull()) return;
    if (!ExpectMap(checklists, "checklists", &diag_)) return;
    for (auto it = checklists.begin(); it != checklists.end(); ++it) {
      Checklist list;
      list.name = it->first.Scalar();
      if (!CheckId(list.name, it->first.Mark(), "checklist")) continue;
      const std::string what0 = absl::StrCat("checklist '", list.name, "'");
      if (!ExpectSequence(it->second, what0, &diag_)) continue;
      absl::flat_hash_map<std::string, int> ids;
      int k = 0;
      // A copy: `it->` is a proxy that dies with the full expression, so a range-for over
      // `it->second` iterates a dangling node (ASan, found by playbook_fuzzer).
      const YAML::Node items = it->second;
      for (const YAML::Node& item : items) {
        ++k;
        const std::string iwhat0 = absl::StrCat("item #", k, " of ", what0);
        if (!ExpectMap(item, iwhat0, &diag_)) continue;
        CheckKeys(item, iwhat0, kChecklistItemKeys, {"id", "text", "when"}, &diag_);
        ChecklistItemRule rule;
        rule.short_id = GetString(item, "id", iwhat0, &diag_).value_or("");
        if (!CheckRuleId(rule.short_id, item, "checklist item", &ids)) continue;
        const std::string full = absl::StrCat("checklist/", list.name, "/", rule.short_id);
        const std::string what = absl::StrCat("checklist item '", full, "'");
        rule.text = GetString(item, "text", what, &diag_).value_or("");
        rule.question = GetString(item, "question", what, &diag_).value_or("");
        SetRef(&rule, full);
        CompileWhen(item, what, /*required=*/true, &rule);
        list.items.push_back(std::move(rule));
      }
      pb_->checklists_.push_back(std::move(list));
    }
  }

  void LoadIndicators(const YAML::Node& indicators) {
    if (!indicators.IsDefined() || indicators.IsNull()) return;
    if (!ExpectSequence(indicators, "indicators", &diag_)) return;
    absl::flat_hash_map<std::string, int> ids;
    int k = 0;
    for (const YAML::Node& n : indicators) {
      ++k;
      const std::string what0 = absl::StrCat("indicator #", k);
      if (!ExpectMap(n, what0, &diag_)) continue;
      CheckKeys(n, what0, kIndicatorKeys, {"id", "name", "when"}, &diag_);
      IndicatorRule rule;
      rule.short_id = GetString(n, "id", what0, &diag_).value_or("");
      if (!CheckRuleId(rule.short_id, n, "indicator", &ids)) continue;
      const std::string full = absl::StrCat("indicator/", rule.short_id);
      const std::string what = absl::StrCat("indicator '", full, "'");
      rule.name = GetString(n, "name", what, &diag_).value_or("");
      rule.description = GetString(n, "description", what, &diag_).value_or("");
      YAML::Node phases = n["phases"];
      for (const std::string& ph : GetStringList(n, "phases", what, &diag_)) {
        const int index = pb_->PhaseIndex(ph);
        if (index < 0) {
          diag_.Error(phases.Mark(),
                      absl::StrCat(what, ": unknown phase '", ph, "'", DidYouMean(ph, phase_ids_)));
          continue;
        }
        rule.phases.push_back(index);
      }
      YAML::Node target = n["target"];
      if (target.IsDefined() && !target.IsNull()) {
        double value = -1;
        bool parsed = target.IsScalar() && absl::SimpleAtod(target.Scalar(), &value);
        if (!parsed || value < 0 || value > 1) {
          diag_.Error(target.Mark(),
                      absl::StrCat(what, ": target must be a share between 0 and 1 (0.6 for 60%)",
                                   target.IsScalar() ? absl::StrCat(", got '", target.Scalar(), "'")
                                                     : std::string()));
        } else {
          rule.target = value;
        }
      }
      SetRef(&rule, full);
      CompileWhen(n, what, /*required=*/true, &rule);
      pb_->indicators_.push_back(std::move(rule));
    }
  }

  // --- helpers ---

  bool CheckId(const std::string& id, const YAML::Mark& mark, absl::string_view kind) {
    if (ValidId(id)) return true;
    diag_.Error(
        mark, absl::StrCat(kind, " id '", id, "' must use lower-case letters, digits, '-' or '_'"));
    return false;
  }

  // Validates a rule id and its uniqueness within `ids` (id -> line of first use).
  bool CheckRuleId(const std::string& id, const YAML::Node& map, absl::string_view kind,
                   absl::flat_hash_map<std::string, int>* ids, absl::string_view scope = "") {
    if (id.empty()) return false;  // missing id already reported
    YAML::Mark mark = map["id"].Mark();
    if (!CheckId(id, mark, kind)) return false;
    auto [it, inserted] = ids->emplace(id, mark.line + 1);
    if (!inserted) {
      diag_.Error(mark, absl::StrCat("duplicate ", kind, " id '", id, "' (first defined at line ",
                                     it->second, ")", scope));
      return false;
    }
    return true;
  }

  void CheckRoleRef(const std::string& role, const YAML::Mark& mark, absl::string_view what) {
    if (role_ids_.empty()) return;
    if (std::find(role_ids_.begin(), role_ids_.end(), role) != role_ids_.end()) return;
    std::string hint = DidYouMean(role, role_ids_);
    if (hint.empty()) hint = absl::StrCat("; declared roles: ", absl::StrJoin(role_ids_, ", "));
    diag_.Error(mark, absl::StrCat(what, ": unknown role '", role, "'", hint));
  }

  void SetRef(Rule* rule, const std::string& full_id) {
    rule->ref.set_id(full_id);
    rule->ref.set_playbook(pb_->ref_.name());
    rule->ref.set_version(pb_->ref_.version());
  }

  // Compiles the `when:` of `map` into rule->when, reporting issues at their exact
  // position inside the scalar.
  void CompileWhen(const YAML::Node& map, const std::string& what, bool required, Rule* rule) {
    YAML::Node when = map["when"];
    if (!when.IsDefined() || when.IsNull()) return;  // missing-and-required already reported
    (void)required;
    if (!when.IsScalar()) {
      diag_.Error(when.Mark(), absl::StrCat(what, ": 'when' must be an expression string, got a ",
                                            NodeKind(when)));
      return;
    }
    const std::string& src = when.Scalar();
    const size_t scalar_pos = when.Mark().pos;
    // The same condition often guards a gate criterion, a behavior and a checklist item:
    // compile each distinct source once, so evaluation can run it once per call.
    int id;
    if (auto it = condition_index_.find(src); it != condition_index_.end()) {
      id = it->second;
    } else {
      expr::CompileOptions copts;
      copts.limits = options_.limits;
      copts.fast_path = options_.fast_path;
      expr::CompileResult compiled = expr::Compile(src, env_, copts);
      if (!compiled.ok()) {
        for (const expr::Issue& issue : compiled.issues) {
          diag_.ErrorAt(source_.MapScalarOffset(scalar_pos, src, issue.offset),
                        absl::StrCat(issue.message, " (in 'when' of ", what, ")"));
        }
        return;
      }
      if (!compiled.program->returns_bool()) {
        diag_.ErrorAt(source_.MapScalarOffset(scalar_pos, src, 0),
                      absl::StrCat(what,
                                   ": 'when' must be a condition (bool), but this "
                                   "expression has type ",
                                   compiled.program->result_type()));
        return;
      }
      id = static_cast<int>(pb_->conditions_.size());
      pb_->conditions_.push_back(std::move(compiled.program));
      condition_index_.emplace(src, id);
    }
    const expr::Program* program = pb_->conditions_[id].get();
    CheckRoleLiterals(src, scalar_pos);
    for (const std::string& path : program->attributes()) {
      if (path == "now") continue;
      int index = FactIndex(path);
      if (index >= 0 &&
          std::find(rule->facts.begin(), rule->facts.end(), index) == rule->facts.end()) {
        rule->facts.push_back(index);
      }
    }
    rule->when = program;
    rule->when_id = id;
  }

  // A condition that reads the `phase` variable (the claimed phase's id, "" for none) is
  // compiled once more per value it can take, with the variable replaced by that string:
  // `phase in ["evaluation", "decision"] && X` becomes `true && X` for those phases and
  // `false && X` for the others, which the typed fast path plans (it has no variables
  // besides the opportunity and the clock). The same result for every deal, since the
  // variable is bound to exactly that string. A variant that does not compile (e.g. a
  // comprehension variable named `phase`) leaves the condition as it was.
  void SpecializePhaseConditions() {
    const size_t n = pb_->conditions_.size();
    pb_->phase_variants_.clear();
    pb_->phase_variants_.resize(n);
    std::vector<std::string> values = {""};
    for (const Phase& phase : pb_->phases_) {
      const std::string& id = phase.ref.id();
      const bool plain = std::all_of(id.begin(), id.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '-' || c == ' ';
      });
      if (!plain) return;
      values.push_back(id);
    }
    for (size_t i = 0; i < n; ++i) {
      const expr::Program& program = *pb_->conditions_[i];
      const auto& attributes = program.attributes();
      if (std::find(attributes.begin(), attributes.end(), "phase") == attributes.end()) continue;
      std::vector<std::unique_ptr<const expr::Program>> variants;
      for (const std::string& value : values) {
        std::optional<std::string> src = ReplaceVariable(program.source(), "phase", value);
        if (!src) break;
        expr::CompileOptions copts;
        copts.limits = options_.limits;
        copts.fast_path = options_.fast_path;
        expr::CompileResult compiled = expr::Compile(*src, env_, copts);
        if (!compiled.ok() || !compiled.program->returns_bool()) break;
        const auto& left = compiled.program->attributes();
        if (std::find(left.begin(), left.end(), "phase") != left.end()) break;
        variants.push_back(std::move(compiled.program));
      }
      if (variants.size() == values.size()) pb_->phase_variants_[i] = std::move(variants);
    }
  }

  // `source` with every identifier token `name` outside string literals and not after a
  // `.` replaced by the string literal `value` (plain characters only); nullopt for a
  // source this scan does not understand (raw, bytes or triple-quoted literals).
  static std::optional<std::string> ReplaceVariable(const std::string& source,
                                                    absl::string_view name,
                                                    const std::string& value) {
    if (absl::StrContains(source, "'''") || absl::StrContains(source, "\"\"\"")) {
      return std::nullopt;
    }
    auto ident = [](char c) { return absl::ascii_isalnum(c) || c == '_'; };
    std::string out;
    char last = 0;  // the last character copied that is not a space
    for (size_t i = 0; i < source.size();) {
      const char c = source[i];
      if (c == '"' || c == '\'') {
        if (i > 0 && ident(source[i - 1])) return std::nullopt;  // r"...", b'...'
        size_t j = i + 1;
        while (j < source.size() && source[j] != c) j += source[j] == '\\' ? 2 : 1;
        if (j >= source.size()) return std::nullopt;
        out.append(source, i, j + 1 - i);
        last = c;
        i = j + 1;
        continue;
      }
      if (ident(c)) {
        size_t j = i;
        while (j < source.size() && ident(source[j])) ++j;
        const absl::string_view token(source.data() + i, j - i);
        if (token == name && last != '.') {
          absl::StrAppend(&out, "\"", value, "\"");
        } else {
          out.append(token.data(), token.size());
        }
        last = source[j - 1];
        i = j;
        continue;
      }
      out += c;
      if (!absl::ascii_isspace(c)) last = c;
      ++i;
    }
    return out;
  }

  // `'econmic_buyer' in c.roles` silently never matches; catch misspelt role literals.
  // A lexical scan for `<quote>literal<quote> in <ident>.roles` is enough for the idiom.
  void CheckRoleLiterals(const std::string& src, size_t scalar_pos) {
    if (role_ids_.empty()) return;
    for (size_t at = src.find(".roles"); at != std::string::npos; at = src.find(".roles", at + 1)) {
      const size_t after = at + 6;
      if (after < src.size() && (absl::ascii_isalnum(src[after]) || src[after] == '_')) continue;
      size_t i = at;  // walk back over the identifier, " in ", and the closing quote
      while (i > 0 && (absl::ascii_isalnum(src[i - 1]) || src[i - 1] == '_')) --i;
      if (i == at) continue;
      size_t j = i;
      while (j > 0 && absl::ascii_isspace(src[j - 1])) --j;
      if (j < 2 || src.compare(j - 2, 2, "in") != 0) continue;
      j -= 2;
      if (j > 0 && (absl::ascii_isalnum(src[j - 1]) || src[j - 1] == '_')) continue;
      while (j > 0 && absl::ascii_isspace(src[j - 1])) --j;
      if (j == 0 || (src[j - 1] != '"' && src[j - 1] != '\'')) continue;
      const char quote = src[j - 1];
      const size_t end = j - 1;
      const size_t open = src.rfind(quote, end == 0 ? 0 : end - 1);
      if (open == std::string::npos || open == end) continue;
      const std::string role = src.substr(open + 1, end - open - 1);
      if (std::find(role_ids_.begin(), role_ids_.end(), role) != role_ids_.end()) continue;
      std::string hint = DidYouMean(role, role_ids_);
      if (hint.empty()) hint = absl::StrCat("; declared roles: ", absl::StrJoin(role_ids_, ", "));
      diag_.ErrorAt(source_.MapScalarOffset(scalar_pos, src, open + 1),
                    absl::StrCat("unknown role '", role, "'", hint));
    }
  }

  int FactIndex(const std::string& path) {
    auto it = fact_index_.find(path);
    if (it != fact_index_.end()) return it->second;
    expr::CompileResult compiled = expr::Compile(path, env_);
    int index = -1;
    if (compiled.ok()) {
      index = static_cast<int>(pb_->facts_.size());
      FactProgram fact;
      fact.path = path;
      fact.program = std::move(compiled.program);
      auto nouns = NounsFor(path);
      fact.noun = nouns.first;
      fact.noun_one = nouns.second;
      if (absl::StartsWith(path, "opp.")) {
        const google::protobuf::FieldDescriptor* f =
            v1::Opportunity::descriptor()->FindFieldByName(path.substr(4));
        if (f != nullptr && f->is_repeated() && !f->is_map() &&
            f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
            fact.program->result_type().rfind("list(", 0) == 0) {
          fact.list = f;
        }
      }
      pb_->facts_.push_back(std::move(fact));
    }
    fact_index_.emplace(path, index);
    return index;
  }

  template <typename Map>
  static std::vector<std::string> KeysOf(const Map& m) {
    std::vector<std::string> keys;
    for (const auto& [k, v] : m) keys.push_back(k);
    std::sort(keys.begin(), keys.end());
    return keys;
  }

  SourceText source_;
  Diagnostics diag_;
  LoadOptions options_;
  std::unique_ptr<CompiledPlaybookImpl> pb_;
  expr::Environment env_;
  std::vector<std::string> role_ids_;
  std::vector<std::string> phase_ids_;
  absl::flat_hash_map<std::string, ContentEntry> content_;
  std::vector<std::string> content_order_;
  std::vector<std::pair<std::string, YAML::Mark>> content_marks_;
  absl::flat_hash_map<std::string, int> fact_index_;
  // `when:` source text -> index in CompiledPlaybookImpl::conditions_.
  absl::flat_hash_map<std::string, int> condition_index_;
  int behavior_order_ = 0;
};

}  // namespace

int CompiledPlaybookImpl::PhaseForStage(absl::string_view stage) const {
  auto it = stage_to_phase_.find(NormalizeStage(stage));
  return it == stage_to_phase_.end() ? -1 : it->second;
}

int CompiledPlaybookImpl::PhaseIndex(absl::string_view id) const {
  for (size_t i = 0; i < phases_.size(); ++i) {
    if (phases_[i].ref.id() == id) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> CompiledPlaybookImpl::checklist_names() const {
  std::vector<std::string> names;
  for (const Checklist& c : checklists_) names.push_back(c.name);
  return names;
}

}  // namespace internal

LoadResult LoadPlaybook(absl::string_view yaml_text, absl::string_view file_name,
                        const LoadOptions& options) {
  return internal::Loader(yaml_text, file_name, options).Run();
}

LoadResult LoadPlaybookFile(const std::string& path, const LoadOptions& options) {
  // Bounded: a regular file of at most the YAML size limit (plus one byte, so that the
  // loader's own size diagnostic, with the limit in it, is what the admin sees).
  absl::StatusOr<std::string> text = ReadBoundedFile(path, internal::YamlLimits().max_bytes + 1);
  if (!text.ok()) {
    LoadResult result;
    v1::Diagnostic d;
    d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
    d.set_file(path);
    d.set_line(1);
    d.set_column(1);
    d.set_message(absl::StrCat("cannot read playbook file: ", text.status().message()));
    result.diagnostics.push_back(std::move(d));
    return result;
  }
  return LoadPlaybook(*text, path, options);
}

}  // namespace dealcoach::engine
