// The playbook engine: load a YAML playbook into an immutable CompiledPlaybook, then
// evaluate opportunities against it.
//
// Load = parse YAML, validate (unique ids, references resolve, every expression
// type-checks against the Opportunity schema), compile. Every problem is reported as a
// dealcoach.v1.Diagnostic with file:line:col and a message an admin can act on.
//
// Evaluation is a pure function (compiled playbook, opportunity, now) -> guidance:
// no I/O, no locks, no clock reads. A CompiledPlaybook is immutable and is shared by
// all requests through std::shared_ptr<const CompiledPlaybook>; hot reload swaps the
// pointer.
//
// CONTRACT NOTE: the server, CLI and benchmarks are written against this file. It may be
// extended, not changed.
#ifndef DEALCOACH_SIDECAR_ENGINE_ENGINE_H_
#define DEALCOACH_SIDECAR_ENGINE_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/expr/expr.h"

namespace dealcoach::engine {

class CompiledPlaybook;

struct LoadOptions {
  // Limits applied to every expression in the playbook.
  expr::Limits limits;
  // Plan the expression language's typed fast path (expr::CompileOptions::fast_path).
  // Never changes a result; off only to compare the two paths. Default: true.
  bool fast_path = true;
};

struct LoadResult {
  // Null when there is at least one error diagnostic.
  std::shared_ptr<const CompiledPlaybook> playbook;
  // Errors and warnings in file order.
  std::vector<v1::Diagnostic> diagnostics;
  // Name and version, when the playbook parsed far enough to know them.
  v1::PlaybookRef ref;
  bool ok() const { return playbook != nullptr; }
};

// Loads a playbook from YAML text; `file_name` is used in diagnostics only (nothing is
// read). The text is bounded before it is parsed (internal::YamlLimits: 1 MiB, nesting
// 64, 100000 nodes with aliases expanded); beyond a bound is one error diagnostic.
LoadResult LoadPlaybook(absl::string_view yaml_text, absl::string_view file_name,
                        const LoadOptions& options = {});

// Loads a playbook file through ReadBoundedFile (bounded_file.h: regular files only,
// size-capped, never blocks on a FIFO). An unreadable file is an error diagnostic at 1:1.
LoadResult LoadPlaybookFile(const std::string& path, const LoadOptions& options = {});

// Fills derived fields once at ingestion (connectors, push-mode requests), so that
// evaluation stays a pure read. Only activities that took place by `now` count (a
// meeting booked for next week is not a meeting held):
//   - last_meeting_at / last_activity_at from `activities` when unset;
//   - each contact's last_met_at: the latest meeting or call it took part in
//     (`participant_ids`), or the value sent when later;
//   - stage_history sorted, consecutive duplicates collapsed (the first entry of a run
//     is when the stage was entered), stage_entered_at from its last entry when unset;
//   - close_date_history rows sent as snapshots (`to_date` and `changed_at` only, e.g.
//     Salesforce OpportunityHistory) turned into changes: `from_date` is the previous
//     row's date, rows that did not change the date are dropped;
//   - `not_recorded` (sorted, unique) gains "list.field" for every presence-tracked
//     field of a non-empty list that no element carries ("contacts.confirmed_pain");
//     contacts' last_met_at counts as recorded when any activity names participants;
//   - `source_system` "inline" when empty.
// Idempotent for a fixed `now`.
void NormalizeOpportunityAsOf(v1::Opportunity* opportunity, absl::Time now);
// NormalizeOpportunityAsOf with the wall clock (ingestion time).
void NormalizeOpportunity(v1::Opportunity* opportunity);

// The field path `not_recorded` names ("contacts.confirmed_pain") as an expression
// attribute path ("opp.contacts[].confirmed_pain"), and back to the words an admin
// reads ("contacts' confirmed pain").
std::string NotRecordedAttribute(absl::string_view field_path);
std::string DescribeMissingAttribute(absl::string_view attribute);

// "file:line:col: error: message" followed by the source line and a caret.
std::string FormatDiagnostic(const v1::Diagnostic& diagnostic);

struct EvaluateOptions {
  // How many ranked behaviors to return; the rest are counted in more_behaviors.
  int max_behaviors = 3;
};

// An immutable, compiled playbook. Thread-safe: every method is const and lock-free.
class CompiledPlaybook {
 public:
  virtual ~CompiledPlaybook() = default;

  // Name, version and content hash.
  virtual const v1::PlaybookRef& ref() const = 0;
  // Source file name as given to the loader.
  virtual const std::string& file_name() const = 0;
  // Names of the review checklists, in playbook order.
  virtual std::vector<std::string> checklist_names() const = 0;

  // Guidance for one opportunity at time `now`. Never fails: rules that cannot be
  // evaluated are reported in DealGuidance.issues and their items marked unknown.
  // Leaves `freshness` unset (the caller knows where the data came from).
  virtual v1::DealGuidance Evaluate(const v1::Opportunity& opportunity, absl::Time now,
                                    const EvaluateOptions& options = {}) const = 0;

  // The named review checklist ("" = the first). NotFound for an unknown name, naming
  // the checklists that exist.
  [[nodiscard]] virtual absl::StatusOr<v1::ReviewChecklist> EvaluateChecklist(
      const v1::Opportunity& opportunity, absl::Time now,
      absl::string_view checklist_name) const = 0;

  // Evaluate and EvaluateChecklist building the answer in `*out` (cleared first). When
  // `out` lives on a google::protobuf::Arena, every part of the answer is allocated
  // there: bulk and pipeline evaluation reuse one arena per worker and pay no malloc or
  // free per message or string (about half of the engine's time otherwise). An arena
  // answer references this playbook's constant sub-messages (rule, phase and playbook
  // refs) instead of copying them: keep the playbook alive for as long as the answer is
  // read or serialized (the server pins it on the answer's arena).
  // (The defaults copy from Evaluate / EvaluateChecklist; the engine overrides them.)
  virtual void EvaluateInto(const v1::Opportunity& opportunity, absl::Time now,
                            const EvaluateOptions& options, v1::DealGuidance* out) const;
  [[nodiscard]] virtual absl::Status EvaluateChecklistInto(const v1::Opportunity& opportunity,
                                                           absl::Time now,
                                                           absl::string_view checklist_name,
                                                           v1::ReviewChecklist* out) const;

  // A manager's review of one deal: the guidance and the named checklists together, with
  // every condition evaluated and every fact rendered once for all of them (separate
  // calls repeat the shared gate conditions). Answers equal the separate calls'.
  // `checklists[i]` receives `checklist_names[i]`; NotFound for an unknown name.
  [[nodiscard]] virtual absl::Status EvaluateReviewInto(
      const v1::Opportunity& opportunity, absl::Time now, const EvaluateOptions& options,
      absl::Span<const std::string> checklist_names, v1::DealGuidance* guidance,
      absl::Span<v1::ReviewChecklist* const> checklists) const;

  // (Playbook tests are run by sidecar/playbook_tests: RunPlaybookTests. They may read
  // files, which nothing in this interface does.)
};

}  // namespace dealcoach::engine

#endif  // DEALCOACH_SIDECAR_ENGINE_ENGINE_H_
