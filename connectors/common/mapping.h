// OpportunityMapping: how a CRM's JSON record maps onto dealcoach.v1.Opportunity,
// written in YAML rather than code.
//
// Each adapter ships a default mapping (e.g. connectors/salesforce/default_mapping.yaml,
// embedded at build time) and admins extend or override it from the sidecar config
// (`connector: {type: salesforce, salesforce: {mapping: {fields: {...}}}}`).
//
// Format (every section optional):
//
//   opportunity:                      # scalar targets: any Opportunity field path
//     id: Id                          # short form: target: <dotted source path>
//     amount: Amount                  # numbers, "125000" strings → double
//     close_date: CloseDate           # "2026-11-20" → midnight UTC Timestamp
//     updated_at: SystemModstamp      # "2026-11-20T10:00:00.000+0000", RFC 3339, epoch ms
//     account.name: Account.Name      # nested targets and sources use dots
//     forecast_category:              # long form
//       source: ForecastCategoryName
//       values: {"Best Case": best_case, Commit: commit}   # value map (strings)
//       default: pipeline             # used when the source is absent/null
//   fields:                           # custom fields → opp.fields.<name>, type required
//     decision_to_change: {source: Decision_To_Change__c, type: bool}
//   contacts:                         # repeated-message targets: a list mapping
//     source: OpportunityContactRoles.records   # a JSON array in the record
//     merge_by: id                    # rows with the same id merge (roles accumulate)
//     fields:
//       id: ContactId
//       name: Contact.Name
//       roles: {source: Role, values: {"Economic Buyer": economic_buyer}}
//   activities:                       # a list of list mappings concatenates sources
//     - {source: Tasks.records, fields: {id: Id, at: ActivityDate, type: {value: task}}}
//     - {source: Events.records, fields: {id: Id, at: ActivityDateTime, type: {value: meeting}}}
//   stage_history: {source: OpportunityHistories.records,
//                   fields: {stage: StageName, entered_at: CreatedDate}}
//   artifacts:                        # source "." = the record itself, as one row;
//     - source: .                     # `when` keeps a row only when that path is
//       when: Mutual_Action_Plan__c   # truthy (not null/false/0/"")
//       fields: {kind: {value: mutual_action_plan}, customer_validated: {value: true}}
//   close_date_history:               # `when` as a map keeps the rows whose paths'
//     - source: Histories.records     # text equals the value (field history rows)
//       when: {Field: CloseDate}
//       fields: {from_date: OldValue, to_date: NewValue, changed_at: CreatedDate}
//
// Rule keys: `source` (dotted JSON path; array elements by index "a.0.b"), `type`
// (string | int | double | bool | timestamp; inferred from the target field when
// omitted, required under `fields`), `values` (map of source value → target value),
// `default` (value when the source is missing or null), `value` (a constant). A string
// source feeding a repeated string (contact roles) is split on ';' (Salesforce
// multi-select picklists) and each part mapped through `values`.
//
// Errors in the mapping itself (unknown target field, bad type name, a `type` that does
// not fit the target) are load-time InvalidArgument errors "file:line:col: message".
// Record-level conversion problems (a non-numeric amount) leave the field unset and are
// reported through MappingIssues; they never fail the record.
//
// CMake target: dealcoach_connector_common.
//
// Thread safety: a built OpportunityMapping is immutable; Apply() is const and safe to
// call from many threads at once.
#ifndef DEALCOACH_CONNECTORS_COMMON_MAPPING_H_
#define DEALCOACH_CONNECTORS_COMMON_MAPPING_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors {

// Record-level conversion problems seen while applying a mapping.
struct MappingIssues {
  // Number of fields left unset because their value did not convert.
  int64_t count = 0;
  // The first few problems, e.g. "amount: Amount: \"n/a\" is not a number".
  std::vector<std::string> samples;
  // Keep at most this many samples.
  size_t max_samples = 10;

  void Add(std::string message);
};

class OpportunityMapping {
 public:
  // Parses a mapping from YAML text. `file` names the text in messages.
  [[nodiscard]] static absl::StatusOr<OpportunityMapping> Parse(absl::string_view yaml,
                                                                absl::string_view file);
  // Parses a mapping from an already-loaded node (e.g. a sidecar config section).
  [[nodiscard]] static absl::StatusOr<OpportunityMapping> FromNode(const YAML::Node& node,
                                                                   absl::string_view file);

  // Overlays `overrides` (same format): every target it names replaces this mapping's
  // rule for that target; new targets are added; a target set to null (`next_step: ~`)
  // is removed (an error when nothing maps it). A list section (contacts: ...) replaces
  // the whole list mapping, and `contacts: ~` removes it. Returns the same load-time
  // errors as FromNode.
  [[nodiscard]] absl::Status Merge(const YAML::Node& overrides, absl::string_view file);

  // Maps `record` onto `opp`, setting only fields whose source is present and converts.
  // Conversion problems are added to `issues` (may be null).
  void Apply(const nlohmann::json& record, v1::Opportunity* opp, MappingIssues* issues) const;

  // The dotted source path mapped to `target` in the opportunity section ("updated_at"
  // → "SystemModstamp"), or "" when unmapped. Adapters use it to build queries.
  std::string SourceFor(absl::string_view target) const;

  // Every source path read by the opportunity and fields sections (constants excluded),
  // sorted and unique. Adapters that must name the fields they fetch (SOQL SELECT,
  // HubSpot `properties=`) build their field lists from it.
  std::vector<std::string> ScalarSources() const;

  struct ListSource {
    std::string target;               // "contacts"
    std::string source;               // "OpportunityContactRoles.records"
    std::vector<std::string> fields;  // element source paths, sorted and unique
    // The `when: {path: value}` row filter (Salesforce turns it into the subquery's
    // WHERE); empty when the list has none.
    std::vector<std::pair<std::string, std::string>> when_equals;
  };
  // One entry per list mapping, ordered by target name.
  std::vector<ListSource> ListSources() const;

  OpportunityMapping();
  ~OpportunityMapping();
  OpportunityMapping(OpportunityMapping&&) noexcept;
  OpportunityMapping& operator=(OpportunityMapping&&) noexcept;
  OpportunityMapping(const OpportunityMapping&);
  OpportunityMapping& operator=(const OpportunityMapping&);

  struct Rep;

 private:
  std::unique_ptr<Rep> rep_;
};

// Value lookup by dotted path ("Account.Name", "properties.amount", "items.0.id").
// Returns nullptr when any step is missing; JSON null is returned as a null value.
const nlohmann::json* FindPath(const nlohmann::json& record, absl::string_view path);

// Parses CRM date and time text: "2026-11-20" (midnight UTC), RFC 3339
// ("2026-11-20T10:00:00Z", "...10:00:00.123+01:00"), Salesforce
// ("2026-11-20T10:00:00.000+0000"). InvalidArgument otherwise.
[[nodiscard]] absl::StatusOr<absl::Time> ParseCrmTime(absl::string_view text);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_MAPPING_H_
