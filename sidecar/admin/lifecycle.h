// PlaybookAdmin: the admin's lifecycle on the store, behind PlaybookService's admin
// RPCs (the handlers unpack, call one method, pack). docs/admin.md describes it end to
// end.
//
//   Plan      validate the draft (every diagnostic); when it compiles, pin the cache
//             (OpportunitySource::SnapshotCache), evaluate draft and published revision
//             at the snapshot's time (plan.h), save the draft as a store revision (a
//             draft with the same content is reused) and audit "plan". The plan id binds
//             (playbook, draft revision, published revision, snapshot time, draft hash):
//               plan:<name>:<draft revision>:<published revision>:<unix micros>:<hash16>
//             so any replica sharing the store can publish it.
//   Publish   by plan id: FAILED_PRECONDITION when the draft is not the planned one, the
//             published revision moved since the plan, or the snapshot is older than
//             plan_max_age; then Store::Publish with the plan's published revision as the
//             expected one, so of two racing publishes one wins and the other is ABORTED.
//             Without a plan: the YAML and expected_revision (the same checks, minus the
//             snapshot). The store records the audit event in the publish transaction.
//   Rollback  the old revision's content as a new revision, published the same way
//             (NOT_FOUND for a revision that does not exist). History is never rewritten.
//   Backtest  do the gates predict wins? (backtest.h) over the cache's closed deals.
//   Lists     revisions (newest first), one revision with a unified diff (diff.h), the
//             audit trail, the decision log.
// Replicas pick a publish up through the store's change notification
// (PlaybookReloader's watch), with its last-good rule.
//
// Every state change needs an author and a message (InvalidArgument otherwise); Plan
// needs an author. Errors name what to do next ("plan again").
//
// Thread safety: every method is safe to call concurrently (the store serialises its
// own calls; the plan cache has a mutex).
#ifndef DEALCOACH_SIDECAR_ADMIN_LIFECYCLE_H_
#define DEALCOACH_SIDECAR_ADMIN_LIFECYCLE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/source/opportunity_source.h"
#include "sidecar/store/store.h"

namespace dealcoach::admin {

struct AdminOptions {
  // The store; null = no store (Plan still reports, without a plan id; everything that
  // needs revisions is FAILED_PRECONDITION). Borrowed.
  store::Store* store = nullptr;
  std::string tenant = "default";
  // The pipeline a plan evaluates; null = no connector (plans cover no deals). Borrowed.
  source::OpportunitySource* source = nullptr;
  // The serving playbooks (default name; the file version when there is no store).
  // Required. Borrowed.
  const runtime::SnapshotHolder* playbooks = nullptr;
  // A plan whose pipeline snapshot is older than this is refused at publish.
  // Default: 15 min.
  absl::Duration plan_max_age = absl::Minutes(15);
  // Clock. Default: absl::Now.
  std::function<absl::Time()> now;
  // Test seam: called between Publish's precondition checks and Store::Publish.
  std::function<void()> before_store_publish;
};

// A parsed plan id.
struct PlanId {
  std::string playbook;
  int64_t draft_revision = 0;
  int64_t published_revision = 0;
  absl::Time snapshot_time;
  std::string hash16;  // first 16 hex digits of the draft's sha256
};
[[nodiscard]] std::string FormatPlanId(const PlanId& id);
[[nodiscard]] absl::StatusOr<PlanId> ParsePlanId(absl::string_view text);

class PlaybookAdmin {
 public:
  explicit PlaybookAdmin(AdminOptions options);

  [[nodiscard]] absl::StatusOr<v1::PlanPlaybookChangeResponse> Plan(
      const v1::PlanPlaybookChangeRequest& request);
  [[nodiscard]] absl::StatusOr<v1::PublishPlaybookResponse> Publish(
      const v1::PublishPlaybookRequest& request);
  [[nodiscard]] absl::StatusOr<v1::RollbackPlaybookResponse> Rollback(
      const v1::RollbackPlaybookRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ListPlaybookRevisionsResponse> ListRevisions(
      const v1::ListPlaybookRevisionsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::GetPlaybookRevisionResponse> GetRevision(
      const v1::GetPlaybookRevisionRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ListAuditEventsResponse> ListAudit(
      const v1::ListAuditEventsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ListDecisionsResponse> ListDecisions(
      const v1::ListDecisionsRequest& request);
  // The backtest (backtest.h) of the YAML sent, or of the serving playbook, over the
  // closed deals in the cache.
  [[nodiscard]] absl::StatusOr<v1::BacktestPlaybookResponse> Backtest(
      const v1::BacktestPlaybookRequest& request);
  // Records a ValidatePlaybook call in the audit trail (no-op without a store; a store
  // error is returned for the caller to log, never to fail the validation).
  absl::Status AuditValidate(absl::string_view author, const v1::ValidatePlaybookResponse& result);

 private:
  absl::Time Now() const;
  absl::Status NeedStore(absl::string_view what) const;
  // `name`, or the default playbook's name when empty.
  std::string ResolveName(absl::string_view name) const;
  // The published revision of `name`, 0 when there is none.
  absl::StatusOr<int64_t> PublishedRevision(const std::string& name);
  // Store::Publish, mapping a lost race to ABORTED naming the winner.
  absl::StatusOr<store::Revision> PublishChecked(const std::string& name, int64_t revision,
                                                 int64_t expected, const std::string& actor,
                                                 const std::string& action,
                                                 const std::string& detail);
  // Summaries of recent plans by id (for the publish audit detail).
  void RememberSummary(const std::string& plan_id, const std::string& summary);
  std::string RecallSummary(const std::string& plan_id);

  AdminOptions options_;
  std::mutex mu_;
  std::deque<std::pair<std::string, std::string>> summaries_;  // newest last, bounded
};

// Converters between the store's rows and the API's messages.
v1::PlaybookRevision ToProto(const store::Revision& revision);
v1::AuditEvent ToProto(const store::AuditEvent& event);
v1::DecisionLogEntry ToProto(const store::Decision& decision);

}  // namespace dealcoach::admin

#endif  // DEALCOACH_SIDECAR_ADMIN_LIFECYCLE_H_
