// Managers limited to their team (auth.jwt.team_claim, authorizer.h): what the pipeline
// handlers (pipeline_handlers.cc) check so that a team-limited manager's review, agenda
// and pipeline cover only deals whose owner's manager_id or team is the manager's team.
//
// A scope outside the team (all, another manager_id or team name, a rep with no deal in
// the team) is PERMISSION_DENIED with one text whatever exists there (TeamDenied), so a
// manager cannot tell another team or rep from one that does not exist. Every other
// caller is unaffected (the functions return OK / true).
//
// Thread safety: read the calling thread's identity (auth::CurrentIdentity) only.
#ifndef DEALCOACH_SIDECAR_SERVER_TEAM_SCOPE_H_
#define DEALCOACH_SIDECAR_SERVER_TEAM_SCOPE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dealcoach/v1/pipeline.pb.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/server/services.h"

namespace dealcoach::server {

// The calling manager's identity when they are team-limited, else null (compute once
// per call, then test deals with InCallersTeam).
[[nodiscard]] const auth::Identity* TeamLimitedCaller();

// PERMISSION_DENIED when the caller is team-limited and `scope` is `all` or names
// another manager_id or team; a rep_id scope passes (its deals are filtered, and an
// empty result is denied by ScopeMissing).
[[nodiscard]] absl::Status AuthorizeScope(const v1::PipelineScope& scope);

// Whether a deal with this owner's manager and team is visible to `limit` (null: yes).
[[nodiscard]] inline bool InCallersTeam(const auth::Identity* limit, absl::string_view manager_id,
                                        absl::string_view team) {
  return limit == nullptr || auth::InTeam(*limit, manager_id, team);
}

// `not_found` for most callers; the team denial for a team-limited one (a scope with no
// deal in the team may be another team's or nobody's: the manager learns neither).
[[nodiscard]] absl::Status ScopeMissing(absl::Status not_found);

// ListDecisions for a team-limited manager: only with an opportunity_id of a deal of
// the team (the log's rows name deals, not owners, so a listing of everything would show
// other teams' deals); TeamDenied otherwise, for a deal of another team or none at all.
[[nodiscard]] absl::Status AuthorizeDecisionQuery(const ServiceDeps& deps,
                                                  absl::string_view opportunity_id);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_TEAM_SCOPE_H_
