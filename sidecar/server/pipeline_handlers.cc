// CoachingService's pipeline methods: EvaluatePipeline, GetPipelineReview,
// GetCoachingAgenda and TakeSnapshot (docs/manager.md). Thin like the other handlers:
// resolve the playbook, the instant, the scope and the filter once per call, stream the
// cached deals through sidecar/pipeline, pack the answer.
//
// Every call evaluates against one playbook revision (the shared_ptr resolved at the
// start, whatever reloads land meanwhile) as of one instant. The deals come from
// OpportunitySource::ForEach one at a time, so a call never holds the pipeline twice;
// cancellation and the deadline are checked every kCheckEvery deals. A scope of one
// rep, manager or team is read through the cache's owner index (ForEachOwnedBy), so a
// call costs its scope's deals, not the whole cache's.
//
// The agenda and the review work from their scope's evaluated deals (PassResults),
// which the aggregate cache (sidecar/pipeline/aggregate_cache.h, ServiceDeps::aggregates)
// keeps for the next call with the same source generation, playbook object, scope, team
// limit and instant. Without as_of, both evaluate as of the current minute (now
// truncated to kNowGranularity, reported as evaluated_at), so calls within a minute can
// share one aggregate; a synced change or a publish is a new key.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/aggregate_cache.h"
#include "sidecar/pipeline/pipeline.h"
#include "sidecar/server/request_limits.h"
#include "sidecar/server/services.h"
#include "sidecar/server/status.h"
#include "sidecar/server/team_scope.h"
#include "sidecar/server/tenants.h"

namespace dealcoach::server {
namespace {

// Deals between two cancellation / deadline checks.
constexpr int kCheckEvery = 64;

// The largest EvaluatePipelineRequest.batch_size: about 0.5 MB per message at ~480 bytes
// per serialized DealResult, well under gRPC's 4 MB default receive limit.
constexpr int kMaxBatchSize = 1024;

// What "now" is truncated to for the agenda and the review (without as_of).
constexpr absl::Duration kNowGranularity = absl::Minutes(1);

// The default comparison window: a week before the evaluation time.
constexpr absl::Duration kDefaultSince = absl::Hours(24 * 7);

struct Prepared {
  std::shared_ptr<const engine::CompiledPlaybook> playbook;
  std::unique_ptr<const expr::Program> filter;
  pipeline::PassOptions pass;
};

absl::StatusOr<Prepared> Prepare(const ServiceDeps& deps, const v1::PipelineScope& scope,
                                 absl::string_view playbook_name, absl::string_view filter,
                                 bool has_as_of, const google::protobuf::Timestamp& as_of) {
  DC_RETURN_IF_ERROR(pipeline::ValidateScope(scope));
  DC_RETURN_IF_ERROR(AuthorizeScope(scope));
  Prepared p;
  DC_ASSIGN_OR_RETURN(p.pass.now, ResolveRequestNow(deps, has_as_of, as_of));
  DC_ASSIGN_OR_RETURN(p.playbook, ResolveRequestPlaybook(deps, playbook_name));
  DC_ASSIGN_OR_RETURN(p.filter, pipeline::CompileFilter(filter, *p.playbook));
  if (deps.source == nullptr) {
    return absl::FailedPreconditionError(
        "no connector is configured, so there is no pipeline to evaluate");
  }
  p.pass.playbook = p.playbook.get();
  p.pass.scope = scope;
  p.pass.filter = p.filter.get();
  return p;
}

// `now` truncated to kNowGranularity (toward the past).
absl::Time TruncatedNow(absl::Time now) {
  return absl::UnixEpoch() + absl::Floor(now - absl::UnixEpoch(), kNowGranularity);
}

// Streams the cached deals that may be in `scope` (all of them for `all`; the owner
// index's for a rep, manager or team) through `fn(opportunity)`, in id order, checking
// the call every kCheckEvery deals. Returns the first error.
absl::Status ForEachDeal(const ServiceDeps& deps, grpc::ServerContext* context,
                         const v1::PipelineScope& scope,
                         const std::function<absl::Status(const v1::Opportunity&)>& fn) {
  int n = 0;
  const auth::Identity* team_limit = TeamLimitedCaller();  // team_scope.h
  auto visit = [&](const v1::Opportunity& opp) -> absl::Status {
    if (context != nullptr && ++n % kCheckEvery == 0) {
      DC_RETURN_IF_ERROR(CheckCallAlive(context, absl::StrCat("after ", n, " deals")));
    }
    if (!InCallersTeam(team_limit, opp.owner().manager_id(), opp.owner().team())) {
      return absl::OkStatus();
    }
    return fn(opp);
  };
  switch (scope.scope_case()) {
    case v1::PipelineScope::kRepId:
      return deps.source->ForEachOwnedBy(source::OwnerField::kId, scope.rep_id(), visit);
    case v1::PipelineScope::kManagerId:
      return deps.source->ForEachOwnedBy(source::OwnerField::kManagerId, scope.manager_id(), visit);
    case v1::PipelineScope::kTeam:
      return deps.source->ForEachOwnedBy(source::OwnerField::kTeam, scope.team(), visit);
    default:
      return deps.source->ForEach(visit);
  }
}

absl::Status ScopeNotFound(const v1::PipelineScope& scope) {
  return ScopeMissing(absl::NotFoundError(absl::StrCat(
      "no deals for ", EchoValue(pipeline::DescribeScope(scope)), " in the pipeline")));
}

// Which snapshot to compare with (see GetPipelineReviewRequest.compare_to / since).
absl::StatusOr<v1::Comparison> ResolveComparison(const ServiceDeps& deps,
                                                 const std::string& compare_to, bool has_since,
                                                 const google::protobuf::Timestamp& since_proto,
                                                 absl::Time now) {
  v1::Comparison c;
  if (deps.store == nullptr) {
    c.set_note(
        "no store is configured (store.backend: none), so there are no snapshots: "
        "this is the current state only");
    return c;
  }
  absl::StatusOr<std::vector<store::SnapshotInfo>> snaps = deps.store->ListSnapshots(deps.tenant);
  if (!snaps.ok()) {
    c.set_note(absl::StrCat("the store cannot list snapshots (", snaps.status().message(),
                            "): this is the current state only"));
    return c;
  }
  if (!compare_to.empty()) {
    for (const store::SnapshotInfo& s : *snaps) {
      if (s.snapshot_id != compare_to) continue;
      c.set_available(true);
      c.set_snapshot_id(s.snapshot_id);
      *c.mutable_taken_at() =
          ToProtoTimestamp(pipeline::SnapshotInstant(s.snapshot_id, s.created_at));
      c.set_note(absl::StrCat("compared with snapshot ", s.snapshot_id, " (as requested)"));
      return c;
    }
    return absl::NotFoundError(absl::StrCat("compare_to: no snapshot '", EchoValue(compare_to),
                                            "'; ", snaps->size(), " snapshot(s) in the store",
                                            snaps->empty() ? "" : ", newest ",
                                            snaps->empty() ? "" : snaps->front().snapshot_id));
  }
  absl::Time since = now - kDefaultSince;
  if (has_since) {
    DC_RETURN_IF_ERROR(ValidateTimestamp(since_proto, "since"));
    since = ToAbslTime(since_proto);
  }
  const store::SnapshotInfo* best = nullptr;
  absl::Time best_at = absl::InfinitePast();
  for (const store::SnapshotInfo& s : *snaps) {
    const absl::Time at = pipeline::SnapshotInstant(s.snapshot_id, s.created_at);
    if (at <= since && at > best_at) {
      best = &s;
      best_at = at;
    }
  }
  const std::string since_text = absl::FormatTime("%Y-%m-%d %H:%M UTC", since, absl::UTCTimeZone());
  if (best == nullptr) {
    c.set_note(absl::StrCat("no snapshot taken at or before ", since_text, " (", snaps->size(),
                            " in the store): this is the current state only"));
    return c;
  }
  c.set_available(true);
  c.set_snapshot_id(best->snapshot_id);
  *c.mutable_taken_at() = ToProtoTimestamp(best_at);
  c.set_note(absl::StrCat("compared with snapshot ", best->snapshot_id,
                          ", the latest at or before ", since_text));
  return c;
}

// The compared snapshot's results in `scope`, by deal id.
absl::StatusOr<absl::flat_hash_map<std::string, store::CompactResult>> ReadPrevious(
    const ServiceDeps& deps, const v1::Comparison& comparison, const v1::PipelineScope& scope) {
  absl::flat_hash_map<std::string, store::CompactResult> out;
  const auth::Identity* team_limit = TeamLimitedCaller();
  DC_RETURN_IF_ERROR(deps.store->ReadSnapshot(
      deps.tenant, comparison.snapshot_id(), [&](const store::CompactResult& r) {
        if (pipeline::InScope(scope, r) && InCallersTeam(team_limit, r.manager_id(), r.team())) {
          out.emplace(r.deal_id(), r);
        }
      }));
  return out;
}

// One pass of a review or agenda over its scope (open and closed deals) into `out`.
absl::Status ReviewPass(const ServiceDeps& deps, grpc::ServerContext* context,
                        const pipeline::PassOptions& pass, pipeline::PassResults* out) {
  pipeline::PassOptions options = pass;
  options.include_closed = true;
  v1::DealGuidance scratch;
  v1::DealResult result;
  std::string reason;
  out->seen = false;
  return ForEachDeal(deps, context, pass.scope, [&](const v1::Opportunity& opp) {
    if (!pipeline::InScope(pass.scope, opp.owner())) return absl::OkStatus();
    out->seen = true;
    pipeline::TopRisk risk;
    switch (pipeline::EvaluateDeal(options, opp, &scratch, &result, &reason, &risk)) {
      case pipeline::DealOutcome::kEvaluated:
        out->Add(std::move(result), std::move(risk));
        break;
      case pipeline::DealOutcome::kNotEvaluated: {
        v1::NotEvaluated n;
        n.set_opportunity_id(opp.id());
        n.set_reason(reason);
        out->not_evaluated.push_back(std::move(n));
        break;
      }
      case pipeline::DealOutcome::kSkipped:
        break;
    }
    return absl::OkStatus();
  });
}

// The caller's team limit as part of a cache key.
std::string CallerLimitKey() {
  const auth::Identity* team_limit = TeamLimitedCaller();
  return team_limit == nullptr ? "-" : absl::StrCat("team:", team_limit->team);
}

// A scope's evaluated deals: shared with the aggregate cache (found there, or kept there
// after this pass), or this call's own when they cannot be cached (a filter, a source
// without a generation, a cache changed during the pass, an aggregate too large).
struct ScopeResults {
  std::shared_ptr<const pipeline::PassResults> shared;
  pipeline::PassResults own;

  void Into(pipeline::ReviewBuilder* builder) {
    if (shared != nullptr) {
      builder->UseShared(shared);
    } else {
      builder->UsePass(std::move(own));
    }
  }
  bool seen() const { return shared != nullptr ? shared->seen : own.seen; }
};

absl::StatusOr<ScopeResults> EvaluateScope(const ServiceDeps& deps, grpc::ServerContext* context,
                                           const Prepared& p) {
  ScopeResults out;
  const std::optional<uint64_t> generation = deps.source->generation();
  const bool cacheable = deps.aggregates != nullptr && p.filter == nullptr && generation;
  pipeline::AggregateKey key;
  if (cacheable) {
    key.source = deps.source;
    key.generation = *generation;
    key.playbook = p.playbook.get();
    key.scope = absl::StrCat(p.pass.scope.SerializeAsString(), "\n", CallerLimitKey());
    key.now = p.pass.now;
    out.shared = deps.aggregates->Find(key);
    if (out.shared != nullptr) return out;
  }
  DC_RETURN_IF_ERROR(ReviewPass(deps, context, p.pass, &out.own));
  // Kept only when no deal was stored or evicted during the pass: then it is exactly the
  // aggregate of that generation.
  if (cacheable && deps.source->generation() == generation) {
    auto shared = std::make_shared<pipeline::PassResults>(std::move(out.own));
    if (deps.aggregates->Insert(key, p.playbook, shared)) {
      out.shared = std::move(shared);
    } else {
      out.own = std::move(*shared);  // too large to keep: this call's own
    }
  }
  return out;
}

absl::Status DoEvaluatePipeline(const ServiceDeps& deps, grpc::ServerContext* context,
                                const v1::EvaluatePipelineRequest& request,
                                grpc::ServerWriter<v1::EvaluatePipelineResponse>* writer) {
  DC_RETURN_IF_ERROR(CheckCallAlive(context, "before evaluation"));
  if (request.batch_size() < 0 || request.batch_size() > kMaxBatchSize) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size: must be between 0 and ",
                                                   kMaxBatchSize, ", got ", request.batch_size()));
  }
  DC_ASSIGN_OR_RETURN(Prepared p, Prepare(deps, request.scope(), request.playbook(),
                                          request.filter(), request.has_as_of(), request.as_of()));
  p.pass.include_closed = request.include_closed();
  // One deal per message (the oneof) unless the client asked for batches: per message,
  // gRPC costs a batch of call ops, a completion and a send on each side, several times
  // one deal's evaluation, so batching is what makes the stream keep up with the engine.
  const int batch = std::max(1, request.batch_size());
  bool first = true;
  bool seen = false;
  int pending = 0;  // deals in `out` not yet written
  v1::DealGuidance scratch;
  v1::EvaluatePipelineResponse out;
  std::string reason;
  auto flush = [&]() -> absl::Status {
    if (pending == 0) return absl::OkStatus();
    if (first) {
      *out.mutable_playbook() = p.playbook->ref();
      *out.mutable_evaluated_at() = ToProtoTimestamp(p.pass.now);
      first = false;
    }
    if (!writer->Write(out)) return absl::CancelledError("the client ended the stream");
    pending = 0;
    out.clear_playbook();
    out.clear_evaluated_at();
    // Cleared, not freed: the next batch reuses the DealResult messages and strings.
    out.mutable_deals()->Clear();
    out.mutable_not_evaluated_deals()->Clear();
    return absl::OkStatus();
  };
  DC_RETURN_IF_ERROR(
      ForEachDeal(deps, context, p.pass.scope, [&](const v1::Opportunity& opp) -> absl::Status {
        if (!pipeline::InScope(p.pass.scope, opp.owner())) return absl::OkStatus();
        seen = true;
        if (batch == 1) {
          out.Clear();
          switch (pipeline::EvaluateDeal(p.pass, opp, &scratch, out.mutable_deal(), &reason)) {
            case pipeline::DealOutcome::kSkipped:
              return absl::OkStatus();
            case pipeline::DealOutcome::kNotEvaluated:
              out.mutable_not_evaluated()->set_opportunity_id(opp.id());
              out.mutable_not_evaluated()->set_reason(reason);
              break;
            case pipeline::DealOutcome::kEvaluated:
              break;
          }
          pending = 1;
          return flush();
        }
        v1::DealResult* result = out.mutable_deals()->Add();
        switch (pipeline::EvaluateDeal(p.pass, opp, &scratch, result, &reason)) {
          case pipeline::DealOutcome::kSkipped:
            out.mutable_deals()->RemoveLast();
            return absl::OkStatus();
          case pipeline::DealOutcome::kNotEvaluated: {
            out.mutable_deals()->RemoveLast();
            v1::NotEvaluated* n = out.add_not_evaluated_deals();
            n->set_opportunity_id(opp.id());
            n->set_reason(reason);
            break;
          }
          case pipeline::DealOutcome::kEvaluated:
            break;
        }
        if (++pending >= batch) return flush();
        return absl::OkStatus();
      }));
  DC_RETURN_IF_ERROR(flush());
  if (!seen && !request.scope().all()) return ScopeNotFound(request.scope());
  return absl::OkStatus();
}

absl::Status DoGetPipelineReview(const ServiceDeps& deps, grpc::ServerContext* context,
                                 const v1::GetPipelineReviewRequest& request,
                                 v1::GetPipelineReviewResponse* response) {
  DC_RETURN_IF_ERROR(CheckCallAlive(context, "before evaluation"));
  if (request.max_deals() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_deals: must be 0 (all) or more, got ", request.max_deals()));
  }
  DC_ASSIGN_OR_RETURN(Prepared p, Prepare(deps, request.scope(), request.playbook(),
                                          request.filter(), request.has_as_of(), request.as_of()));
  // The default comparison (a week before now) is found from the exact clock: the
  // evaluation instant's truncation is for the aggregate cache only, and a snapshot
  // taken seconds past the minute a week ago is still "a week ago".
  const absl::Time clock = p.pass.now;
  if (!request.has_as_of()) p.pass.now = TruncatedNow(p.pass.now);
  DC_ASSIGN_OR_RETURN(
      v1::Comparison comparison,
      ResolveComparison(deps, request.compare_to(), request.has_since(), request.since(), clock));
  pipeline::ReviewBuilder builder(*p.playbook, p.pass.now);
  if (comparison.available()) {
    DC_ASSIGN_OR_RETURN(auto previous, ReadPrevious(deps, comparison, request.scope()));
    builder.SetPrevious(std::move(previous));
  }
  DC_ASSIGN_OR_RETURN(ScopeResults results, EvaluateScope(deps, context, p));
  if (!results.seen() && !request.scope().all()) return ScopeNotFound(request.scope());
  results.Into(&builder);
  DC_RETURN_IF_ERROR(CheckCallAlive(context, "after evaluation"));
  *response = builder.Finish(request.max_deals(), pipeline::DescribeScope(request.scope()),
                             request.filter().empty());
  *response->mutable_comparison() = std::move(comparison);
  return absl::OkStatus();
}

// The agenda's roll-ups: the rep's, and the rep's and team's indicators.
void AgendaRollups(const v1::Owner& rep, const v1::PipelineScope& team,
                   const pipeline::ReviewBuilder& builder, v1::GetCoachingAgendaResponse* out) {
  const std::string rep_id = rep.id();
  *out->mutable_rollup() = builder.RollupFor(
      rep_id, rep.name(), [&rep_id](const v1::Owner& o) { return o.id() == rep_id; });
  v1::PipelineRollup team_rollup =
      builder.RollupFor(pipeline::DescribeScope(team), pipeline::DescribeScope(team),
                        [](const v1::Owner&) { return true; });
  for (const v1::IndicatorShare& s : out->rollup().indicators()) *out->add_rep_indicators() = s;
  for (const v1::IndicatorShare& s : team_rollup.indicators()) *out->add_team_indicators() = s;
}

// The parts of an agenda derived from the team's pass alone: the gaps and the practice
// cases, and without a comparison the roll-ups and indicators too (with one they depend
// on the snapshot). Fills those fields of `out`.
absl::Status AgendaParts(const ServiceDeps& deps, const Prepared& p, const v1::Owner& rep,
                         const v1::PipelineScope& team, pipeline::ReviewBuilder& builder,
                         bool with_rollups, v1::GetCoachingAgendaResponse* out) {
  std::vector<v1::BehaviorGap> gaps =
      pipeline::RecurringGaps(builder.outline(), rep.id(), builder.deals(), 3);
  if (!gaps.empty()) *out->mutable_focus() = gaps.front();
  for (size_t i = 1; i < gaps.size() && i < 3; ++i) *out->add_other_gaps() = gaps[i];
  if (with_rollups) AgendaRollups(rep, team, builder, out);
  // Practice cases: the focus gap's two largest deals, with their open checklist items.
  for (int i = 0; i < out->focus().deal_ids_size() && out->practice_cases_size() < 2; ++i) {
    const std::string& id = out->focus().deal_ids(i);
    absl::StatusOr<source::Lookup> lookup = deps.source->Get(id, p.pass.now);
    if (!lookup.ok()) continue;  // left the cache since the pass: pick the next one
    absl::StatusOr<v1::ReviewChecklist> checklist =
        p.playbook->EvaluateChecklist(*lookup->opportunity, p.pass.now, "");
    v1::PracticeCase* pc = out->add_practice_cases();
    for (const v1::DealResult& d : builder.deals()) {
      if (d.opportunity_id() == id) *pc->mutable_deal() = d;
    }
    if (checklist.ok()) {
      for (const v1::ChecklistItem& item : checklist->items()) {
        if (item.status() != v1::CRITERION_STATUS_MET) *pc->add_open_items() = item;
      }
    }
    pc->set_why(absl::StrFormat("%s is open on this deal, one of the rep's largest (%s %.0f)",
                                out->focus().rule_id(), pc->deal().currency_code(),
                                pc->deal().amount()));
  }
  return absl::OkStatus();
}

absl::Status DoGetCoachingAgenda(const ServiceDeps& deps, grpc::ServerContext* context,
                                 const v1::GetCoachingAgendaRequest& request,
                                 v1::GetCoachingAgendaResponse* response) {
  DC_RETURN_IF_ERROR(CheckCallAlive(context, "before evaluation"));
  if (request.rep_id().empty()) return absl::InvalidArgumentError("rep_id: must not be empty");
  v1::PipelineScope rep_scope;
  rep_scope.set_rep_id(request.rep_id());
  DC_ASSIGN_OR_RETURN(Prepared p, Prepare(deps, rep_scope, request.playbook(), "",
                                          request.has_as_of(), request.as_of()));
  const absl::Time clock = p.pass.now;  // for the default comparison, as in the review
  if (!request.has_as_of()) p.pass.now = TruncatedNow(p.pass.now);
  // The rep's team: by manager, else by team name, else the rep alone. The rep is the
  // owner of their first deal (in id order) the caller may see; remembered per source
  // generation.
  v1::Owner rep;
  bool found = false;
  const std::optional<uint64_t> generation = deps.source->generation();
  const std::string owner_key = absl::StrCat(request.rep_id(), "\n", CallerLimitKey());
  if (deps.aggregates != nullptr && generation) {
    if (std::optional<v1::Owner> owner =
            deps.aggregates->FindOwner(deps.source, *generation, owner_key)) {
      rep = *std::move(owner);
      found = true;
    }
  }
  if (!found) {
    absl::Status scan = ForEachDeal(deps, context, rep_scope, [&](const v1::Opportunity& opp) {
      if (opp.owner().id() != request.rep_id()) return absl::OkStatus();
      rep = opp.owner();
      found = true;
      return absl::CancelledError("found");  // stops the scan
    });
    if (!found) {
      DC_RETURN_IF_ERROR(scan);
      return ScopeMissing(absl::NotFoundError(
          absl::StrCat("rep '", EchoValue(request.rep_id()), "' owns no deal in the pipeline")));
    }
    if (deps.aggregates != nullptr && generation && deps.source->generation() == generation) {
      deps.aggregates->InsertOwner(deps.source, *generation, owner_key, rep);
    }
  }
  v1::PipelineScope team;
  if (!rep.manager_id().empty()) {
    team.set_manager_id(rep.manager_id());
  } else if (!rep.team().empty()) {
    team.set_team(rep.team());
  } else {
    team.set_rep_id(rep.id());
  }
  p.pass.scope = team;
  DC_ASSIGN_OR_RETURN(
      v1::Comparison comparison,
      ResolveComparison(deps, request.compare_to(), request.has_since(), request.since(), clock));
  const bool compared = comparison.available();
  pipeline::ReviewBuilder builder(*p.playbook, p.pass.now);
  if (compared) {
    DC_ASSIGN_OR_RETURN(auto previous, ReadPrevious(deps, comparison, team));
    builder.SetPrevious(std::move(previous));
  }
  DC_ASSIGN_OR_RETURN(ScopeResults results, EvaluateScope(deps, context, p));
  DC_RETURN_IF_ERROR(CheckCallAlive(context, "after evaluation"));

  // The parts that follow from the pass alone, shared by the calls that share the pass.
  const std::string memo_key = absl::StrCat(rep.id(), compared ? "\ncompared" : "\nalone");
  std::shared_ptr<const google::protobuf::Message> memo;
  if (results.shared != nullptr) memo = results.shared->memo->Find(memo_key);
  const bool need_builder = memo == nullptr || compared;
  if (need_builder) results.Into(&builder);
  if (memo == nullptr) {
    auto parts = std::make_shared<v1::GetCoachingAgendaResponse>();
    DC_RETURN_IF_ERROR(AgendaParts(deps, p, rep, team, builder, !compared, parts.get()));
    if (results.shared != nullptr) results.shared->memo->Insert(memo_key, parts);
    memo = std::move(parts);
  }
  response->MergeFrom(static_cast<const v1::GetCoachingAgendaResponse&>(*memo));

  *response->mutable_playbook() = p.playbook->ref();
  *response->mutable_rep() = rep;
  *response->mutable_evaluated_at() = ToProtoTimestamp(p.pass.now);
  *response->mutable_comparison() = std::move(comparison);
  if (compared) {
    for (v1::DealReview& r : builder.ChangedDealsOf(rep.id())) {
      *response->add_changes() = std::move(r);
    }
    AgendaRollups(rep, team, builder, response);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::TakeSnapshotResponse> WritePipelineSnapshot(
    const ServiceDeps& deps, const engine::CompiledPlaybook& playbook, absl::Time now,
    std::string snapshot_id,
    const google::protobuf::RepeatedPtrField<v1::Opportunity>& inline_opportunities) {
  if (deps.store == nullptr) {
    return absl::FailedPreconditionError(
        "no store is configured (store.backend: none); snapshots need one (docs/store.md)");
  }
  if (inline_opportunities.empty() && deps.source == nullptr) {
    return absl::FailedPreconditionError(
        "no connector is configured; send the opportunities inline");
  }
  if (snapshot_id.empty())
    snapshot_id = absl::FormatTime(absl::RFC3339_sec, now, absl::UTCTimeZone());
  pipeline::PassOptions pass;
  pass.playbook = &playbook;
  pass.now = now;
  pass.scope.set_all(true);
  pass.include_closed = true;
  std::vector<store::CompactResult> results;
  absl::flat_hash_set<std::string> ids;
  v1::DealGuidance scratch;
  v1::DealResult result;
  std::string reason;
  auto add = [&](const v1::Opportunity& opp) -> absl::Status {
    if (!ids.insert(opp.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("opportunities: id '", EchoValue(opp.id()), "' appears twice"));
    }
    if (pipeline::EvaluateDeal(pass, opp, &scratch, &result, &reason) ==
        pipeline::DealOutcome::kEvaluated) {
      results.push_back(pipeline::CompactOf(result));
    }
    return absl::OkStatus();
  };
  if (!inline_opportunities.empty()) {
    for (int i = 0; i < inline_opportunities.size(); ++i) {
      DC_RETURN_IF_ERROR(ValidateInlineOpportunity(inline_opportunities[i],
                                                   absl::StrCat("opportunities[", i, "]")));
      v1::Opportunity opp = inline_opportunities[i];
      engine::NormalizeOpportunity(&opp);
      DC_RETURN_IF_ERROR(add(opp));
    }
  } else {
    DC_RETURN_IF_ERROR(deps.source->ForEach(add));
  }
  DC_RETURN_IF_ERROR(deps.store->WriteSnapshot(deps.tenant, snapshot_id, results));
  (void)deps.store->PruneSnapshots(deps.tenant, absl::Now());  // retention; best effort
  v1::TakeSnapshotResponse out;
  out.set_snapshot_id(snapshot_id);
  out.set_deals(static_cast<int64_t>(results.size()));
  *out.mutable_playbook() = playbook.ref();
  *out.mutable_evaluated_at() = ToProtoTimestamp(now);
  return out;
}

grpc::Status CoachingServiceImpl::EvaluatePipeline(
    grpc::ServerContext* context, const v1::EvaluatePipelineRequest* request,
    grpc::ServerWriter<v1::EvaluatePipelineResponse>* writer) {
  static const std::string method = FullMethodOf(v1::EvaluatePipelineRequest::descriptor());
  absl::StatusOr<auth::Identity> caller =
      AuthorizeCall(deps_.authorizer, *context, method, deps_.decision_log, deps_.tenant);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  auth::ScopedIdentity scope(deps_.authorizer != nullptr ? &*caller : nullptr);
  ScopedTenant tenant_scope(deps_.tenants, caller->tenant);
  if (deps_.authorizer != nullptr) {
    if (absl::Status named = CheckRequestTenant(*request, *caller, method); !named.ok()) {
      return ToGrpcStatus(named);
    }
  }
  return ToGrpcStatus(DoEvaluatePipeline(Deps(), context, *request, writer));
}

grpc::Status CoachingServiceImpl::GetPipelineReview(grpc::ServerContext* context,
                                                    const v1::GetPipelineReviewRequest* request,
                                                    v1::GetPipelineReviewResponse* response) {
  return ToGrpcStatus(DoGetPipelineReview(Deps(), context, *request, response));
}

grpc::Status CoachingServiceImpl::GetCoachingAgenda(grpc::ServerContext* context,
                                                    const v1::GetCoachingAgendaRequest* request,
                                                    v1::GetCoachingAgendaResponse* response) {
  return ToGrpcStatus(DoGetCoachingAgenda(Deps(), context, *request, response));
}

grpc::Status CoachingServiceImpl::TakeSnapshot(grpc::ServerContext* context,
                                               const v1::TakeSnapshotRequest* request,
                                               v1::TakeSnapshotResponse* response) {
  const ServiceDeps& deps = Deps();
  absl::Status status = [&]() -> absl::Status {
    DC_RETURN_IF_ERROR(CheckCallAlive(context, "before evaluation"));
    DC_ASSIGN_OR_RETURN(absl::Time now,
                        ResolveRequestNow(deps, request->has_as_of(), request->as_of()));
    DC_ASSIGN_OR_RETURN(auto playbook, ResolveRequestPlaybook(deps, request->playbook()));
    DC_ASSIGN_OR_RETURN(*response,
                        WritePipelineSnapshot(deps, *playbook, now, request->snapshot_id(),
                                              request->opportunities()));
    return absl::OkStatus();
  }();
  return ToGrpcStatus(status);
}

}  // namespace dealcoach::server
