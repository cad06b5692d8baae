#include "sidecar/server/team_scope.h"

#include <string>
#include <utility>

#include "absl/time/clock.h"

namespace dealcoach::server {

const auth::Identity* TeamLimitedCaller() {
  const auth::Identity* caller = auth::CurrentIdentity();
  return caller != nullptr && auth::TeamLimited(*caller) ? caller : nullptr;
}

absl::Status AuthorizeScope(const v1::PipelineScope& scope) {
  const auth::Identity* limit = TeamLimitedCaller();
  if (limit == nullptr) return absl::OkStatus();
  switch (scope.scope_case()) {
    case v1::PipelineScope::kRepId:
      return absl::OkStatus();
    case v1::PipelineScope::kManagerId:
      return scope.manager_id() == limit->team ? absl::OkStatus() : auth::TeamDenied(*limit);
    case v1::PipelineScope::kTeam:
      return scope.team() == limit->team ? absl::OkStatus() : auth::TeamDenied(*limit);
    case v1::PipelineScope::kAll:
    case v1::PipelineScope::SCOPE_NOT_SET:
      break;
  }
  return auth::TeamDenied(*limit);
}

absl::Status ScopeMissing(absl::Status not_found) {
  const auth::Identity* limit = TeamLimitedCaller();
  return limit == nullptr ? std::move(not_found) : auth::TeamDenied(*limit);
}

absl::Status AuthorizeDecisionQuery(const ServiceDeps& deps, absl::string_view opportunity_id) {
  const auth::Identity* limit = TeamLimitedCaller();
  if (limit == nullptr) return absl::OkStatus();
  if (opportunity_id.empty() || deps.source == nullptr) return auth::TeamDenied(*limit);
  absl::StatusOr<source::Lookup> lookup =
      deps.source->Get(std::string(opportunity_id), deps.now ? deps.now() : absl::Now());
  if (!lookup.ok()) return auth::TeamDenied(*limit);
  const v1::Owner& owner = lookup->opportunity->owner();
  return InCallersTeam(limit, owner.manager_id(), owner.team()) ? absl::OkStatus()
                                                                : auth::TeamDenied(*limit);
}

}  // namespace dealcoach::server
