#include "sidecar/admin/lifecycle.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "sidecar/admin/backtest.h"
#include "sidecar/admin/diff.h"
#include "sidecar/admin/plan.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::admin {
namespace {

constexpr int kDefaultLimit = 100;
constexpr int kMaxLimit = 1000;
constexpr int kDefaultMaxDeals = 1000;
constexpr size_t kRememberedPlans = 64;

absl::Status Require(absl::string_view value, absl::string_view field, absl::string_view why) {
  if (!value.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, ": required (", why, ")"));
}

int Limit(int requested) {
  if (requested <= 0) return kDefaultLimit;
  return std::min(requested, kMaxLimit);
}

std::string HexOf(absl::string_view content_hash) {
  absl::string_view hex = content_hash;
  if (absl::ConsumePrefix(&hex, "sha256:")) return std::string(hex);
  return std::string(hex);
}

std::string FirstErrors(const engine::LoadResult& result) {
  std::string out;
  int shown = 0;
  for (const v1::Diagnostic& d : result.diagnostics) {
    if (d.severity() != v1::DIAGNOSTIC_SEVERITY_ERROR) continue;
    if (shown++ == 3) {
      absl::StrAppend(&out, "; ...");
      break;
    }
    absl::StrAppend(&out, shown > 1 ? "; " : "", d.file(), ":", d.line(), ":", d.column(), ": ",
                    d.message());
  }
  return out;
}

// Compiles stored or submitted YAML that is about to be published: it must compile in
// this binary and be named `name` (the reloader would refuse it otherwise).
absl::Status CheckPublishable(const std::string& yaml, const std::string& label,
                              const std::string& name) {
  engine::LoadResult result = engine::LoadPlaybook(yaml, label);
  if (!result.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, " does not compile: ", FirstErrors(result)));
  }
  if (result.playbook->ref().name() != name) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, " is named '", result.playbook->ref().name(), "', not '", name,
                     "': the store serves revisions by playbook name, so a rename cannot be "
                     "published over '",
                     name, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string FormatPlanId(const PlanId& id) {
  return absl::StrCat("plan:", id.playbook, ":", id.draft_revision, ":", id.published_revision, ":",
                      absl::ToUnixMicros(id.snapshot_time), ":", id.hash16);
}

absl::StatusOr<PlanId> ParsePlanId(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  PlanId id;
  int64_t micros = 0;
  if (parts.size() != 6 || parts[0] != "plan" || parts[1].empty() ||
      !absl::SimpleAtoi(parts[2], &id.draft_revision) ||
      !absl::SimpleAtoi(parts[3], &id.published_revision) || !absl::SimpleAtoi(parts[4], &micros) ||
      parts[5].size() != 16 || id.draft_revision <= 0 || id.published_revision < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan_id: '", text.substr(0, 200),
                     "' is not a plan id (plan:<playbook>:<draft>:<published>:<micros>:<hash>; "
                     "PlanPlaybookChange returns one)"));
  }
  id.playbook = std::string(parts[1]);
  id.snapshot_time = absl::FromUnixMicros(micros);
  id.hash16 = std::string(parts[5]);
  return id;
}

v1::PlaybookRevision ToProto(const store::Revision& r) {
  v1::PlaybookRevision out;
  out.set_playbook(r.name);
  out.set_revision(r.revision);
  out.set_content_hash(r.content_hash);
  out.set_author(r.author);
  out.set_message(r.message);
  *out.mutable_created_at() = ToProtoTimestamp(r.created_at);
  switch (r.state) {
    case store::RevisionState::kDraft:
      out.set_state(v1::REVISION_STATE_DRAFT);
      break;
    case store::RevisionState::kPublished:
      out.set_state(v1::REVISION_STATE_PUBLISHED);
      break;
    case store::RevisionState::kArchived:
      out.set_state(v1::REVISION_STATE_ARCHIVED);
      break;
  }
  return out;
}

v1::AuditEvent ToProto(const store::AuditEvent& e) {
  v1::AuditEvent out;
  out.set_actor(e.actor);
  out.set_action(e.action);
  out.set_playbook(e.playbook);
  out.set_revision(e.revision);
  *out.mutable_at() = ToProtoTimestamp(e.at);
  out.set_detail(e.detail);
  return out;
}

v1::DecisionLogEntry ToProto(const store::Decision& d) {
  v1::DecisionLogEntry out;
  out.set_decision_id(d.decision_id);
  *out.mutable_at() = ToProtoTimestamp(d.at);
  out.set_caller(d.caller);
  out.set_opportunity_id(d.deal_id);
  out.set_playbook(d.playbook);
  out.set_revision(d.revision);
  for (const std::string& id : d.fired_rule_ids) out.add_fired_rule_ids(id);
  out.set_input_hash(d.input_hash);
  SetDuration(d.latency, out.mutable_latency());
  return out;
}

PlaybookAdmin::PlaybookAdmin(AdminOptions options) : options_(std::move(options)) {}

absl::Time PlaybookAdmin::Now() const { return options_.now ? options_.now() : absl::Now(); }

absl::Status PlaybookAdmin::NeedStore(absl::string_view what) const {
  if (options_.store != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(what,
                   " needs the store, and this sidecar has none (store.backend: none, or "
                   "it failed to open: see AdminService.GetStatus)"));
}

std::string PlaybookAdmin::ResolveName(absl::string_view name) const {
  if (!name.empty()) return std::string(name);
  std::shared_ptr<const runtime::Snapshot> snapshot = options_.playbooks->Get();
  const runtime::PlaybookEntry* entry = snapshot->Find("");
  return entry == nullptr ? std::string() : entry->name();
}

absl::StatusOr<int64_t> PlaybookAdmin::PublishedRevision(const std::string& name) {
  absl::StatusOr<store::Revision> published = options_.store->GetPublished(options_.tenant, name);
  if (absl::IsNotFound(published.status())) return 0;
  if (!published.ok()) return published.status();
  return published->revision;
}

absl::StatusOr<store::Revision> PlaybookAdmin::PublishChecked(const std::string& name,
                                                              int64_t revision, int64_t expected,
                                                              const std::string& actor,
                                                              const std::string& action,
                                                              const std::string& detail) {
  if (options_.before_store_publish) options_.before_store_publish();
  store::PublishRequest req;
  req.tenant = options_.tenant;
  req.name = name;
  req.revision = revision;
  req.expected_current = expected;
  req.actor = actor;
  req.action = action;
  req.detail = detail;
  absl::StatusOr<store::Revision> done = options_.store->Publish(req);
  if (absl::IsAborted(done.status())) {
    std::optional<int64_t> winner = store::CurrentRevisionOf(done.status());
    return absl::AbortedError(
        absl::StrCat("another publish of '", name, "' won the race: revision ",
                     winner.has_value() ? absl::StrCat(*winner) : std::string("?"),
                     " is published now, not ", expected, "; nothing was published (plan again)"));
  }
  return done;
}

void PlaybookAdmin::RememberSummary(const std::string& plan_id, const std::string& summary) {
  std::lock_guard<std::mutex> lock(mu_);
  summaries_.emplace_back(plan_id, summary);
  while (summaries_.size() > kRememberedPlans) summaries_.pop_front();
}

std::string PlaybookAdmin::RecallSummary(const std::string& plan_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, summary] : summaries_) {
    if (id == plan_id) return summary;
  }
  return "";
}

absl::StatusOr<v1::PlanPlaybookChangeResponse> PlaybookAdmin::Plan(
    const v1::PlanPlaybookChangeRequest& request) {
  if (request.yaml().empty()) return absl::InvalidArgumentError("yaml: must not be empty");
  DC_RETURN_IF_ERROR(Require(request.author(), "author", "a plan is audited"));
  if (request.max_deals() < 0) {
    return absl::InvalidArgumentError("max_deals: must not be negative");
  }
  const std::string file_name = request.file_name().empty() ? "draft.yaml" : request.file_name();
  v1::PlanPlaybookChangeResponse out;
  engine::LoadResult draft = engine::LoadPlaybook(request.yaml(), file_name);
  out.set_valid(draft.ok());
  for (v1::Diagnostic& d : draft.diagnostics) *out.add_diagnostics() = std::move(d);
  *out.mutable_draft() = draft.ok() ? draft.playbook->ref() : draft.ref;
  out.set_draft_hash(store::ContentHash(request.yaml()));
  const std::string name =
      request.playbook().empty() ? out.draft().name() : std::string(request.playbook());
  store::AuditEvent audit;
  audit.tenant = options_.tenant;
  audit.actor = request.author();
  audit.action = "plan";
  audit.playbook = name;
  audit.at = Now();
  if (!draft.ok()) {
    int errors = 0;
    for (const v1::Diagnostic& d : out.diagnostics()) {
      errors += d.severity() == v1::DIAGNOSTIC_SEVERITY_ERROR ? 1 : 0;
    }
    audit.detail = absl::StrCat("invalid draft ", out.draft_hash().substr(0, 19), ": ", errors,
                                errors == 1 ? " error" : " errors", "; nothing saved");
    if (options_.store != nullptr) DC_RETURN_IF_ERROR(options_.store->AppendAudit(audit));
    return out;
  }
  absl::StatusOr<PlaybookOutline> draft_outline = OutlineOf(request.yaml());
  if (!draft_outline.ok()) return draft_outline.status();  // compiled, so cannot happen

  // The published side: the store's published revision, else the serving file version.
  std::shared_ptr<const engine::CompiledPlaybook> published;
  std::optional<PlaybookOutline> published_outline;
  int64_t published_revision = 0;
  if (options_.store != nullptr) {
    absl::StatusOr<store::Revision> rev = options_.store->GetPublished(options_.tenant, name);
    if (rev.ok()) {
      published_revision = rev->revision;
      engine::LoadResult compiled =
          engine::LoadPlaybook(rev->yaml, absl::StrCat("store:", name, "@", rev->revision));
      if (compiled.ok()) {
        published = compiled.playbook;
      } else {
        out.add_warnings(absl::StrCat("published revision ", rev->revision,
                                      " does not compile in this binary; compared against the "
                                      "version serving now"));
      }
      absl::StatusOr<PlaybookOutline> o = OutlineOf(rev->yaml);
      if (o.ok()) published_outline = *std::move(o);
    } else if (!absl::IsNotFound(rev.status())) {
      return rev.status();
    }
  }
  std::shared_ptr<const runtime::Snapshot> serving = options_.playbooks->Get();
  const runtime::PlaybookEntry* entry = serving->Find(name);
  if (published == nullptr && entry != nullptr && entry->playbook != nullptr) {
    published = entry->playbook;
    if (!published_outline.has_value() && entry->source == "file") {
      absl::StatusOr<std::string> text = engine::ReadBoundedFile(entry->path);
      if (text.ok()) {
        absl::StatusOr<PlaybookOutline> o = OutlineOf(*text);
        if (o.ok()) published_outline = *std::move(o);
      }
    }
  }
  if (published != nullptr) *out.mutable_published() = published->ref();
  out.set_published_revision(published_revision);
  if (entry == nullptr) {
    out.add_warnings(absl::StrCat("no configured playbook file is named '", name,
                                  "': a published revision is served only for the names the "
                                  "playbook files seed"));
  }
  if (published == nullptr) {
    out.add_warnings(absl::StrCat("'", name,
                                  "' has no published version: every deal is "
                                  "compared against no guidance"));
  }

  // One pinned snapshot of the pipeline; both revisions evaluate it at its time.
  source::CacheSnapshot snapshot;
  if (options_.source != nullptr) {
    snapshot = options_.source->SnapshotCache();
  } else {
    snapshot.taken_at = Now();
    out.add_warnings("no connector is configured: the plan covers no deals");
  }
  const absl::Time snapshot_time = absl::FromUnixMicros(absl::ToUnixMicros(snapshot.taken_at));
  *out.mutable_snapshot_time() = ToProtoTimestamp(snapshot_time);
  PlanInput in;
  in.published = published.get();
  in.published_outline = published_outline.has_value() ? &*published_outline : nullptr;
  in.draft = draft.playbook.get();
  in.draft_outline = &*draft_outline;
  in.deals = snapshot.deals;
  in.now = snapshot_time;
  in.max_deals = request.max_deals() == 0 ? kDefaultMaxDeals : request.max_deals();
  ComputePlan(in, &out);

  const bool renamed = out.draft().name() != name;
  if (renamed && !(published_outline.has_value() && published_outline->name != name)) {
    out.add_warnings(
        absl::StrCat("the draft is named '", out.draft().name(), "', not '", name, "'"));
  }
  if (options_.store == nullptr) {
    out.add_warnings("no store: the plan is not saved and cannot be published through the API");
  } else if (renamed) {
    out.add_warnings(
        absl::StrCat("not saved as publishable: the store serves revisions by name, "
                     "so a draft named '",
                     out.draft().name(), "' cannot be published over '", name, "'"));
  } else {
    // Save the draft (reusing a draft revision with the same content).
    int64_t draft_revision = 0;
    DC_ASSIGN_OR_RETURN(std::vector<store::Revision> revisions,
                        options_.store->ListRevisions(options_.tenant, name));
    for (auto it = revisions.rbegin(); it != revisions.rend(); ++it) {
      if (it->state == store::RevisionState::kDraft && it->content_hash == out.draft_hash()) {
        draft_revision = it->revision;
        break;
      }
    }
    if (draft_revision == 0) {
      DC_ASSIGN_OR_RETURN(store::Revision saved,
                          options_.store->CreateRevision(
                              options_.tenant, name, request.yaml(), request.author(),
                              request.message().empty() ? "planned draft" : request.message()));
      draft_revision = saved.revision;
    }
    PlanId id;
    id.playbook = name;
    id.draft_revision = draft_revision;
    id.published_revision = published_revision;
    id.snapshot_time = snapshot_time;
    id.hash16 = HexOf(out.draft_hash()).substr(0, 16);
    out.set_plan_id(FormatPlanId(id));
    out.set_draft_revision(draft_revision);
    RememberSummary(out.plan_id(), out.summary());
    audit.revision = draft_revision;
  }
  audit.detail =
      absl::StrCat(out.plan_id().empty() ? "plan (not saved)" : out.plan_id(), ": ", out.summary());
  for (const std::string& w : out.warnings()) absl::StrAppend(&audit.detail, "; warning: ", w);
  if (options_.store != nullptr) DC_RETURN_IF_ERROR(options_.store->AppendAudit(audit));
  return out;
}

absl::StatusOr<v1::PublishPlaybookResponse> PlaybookAdmin::Publish(
    const v1::PublishPlaybookRequest& request) {
  DC_RETURN_IF_ERROR(Require(request.author(), "author", "every publish is audited"));
  DC_RETURN_IF_ERROR(Require(request.message(), "message", "every publish is audited"));
  DC_RETURN_IF_ERROR(NeedStore("PublishPlaybook"));
  v1::PublishPlaybookResponse out;
  if (!request.plan_id().empty()) {
    DC_ASSIGN_OR_RETURN(PlanId plan, ParsePlanId(request.plan_id()));
    if (!request.playbook().empty() && request.playbook() != plan.playbook) {
      return absl::InvalidArgumentError(absl::StrCat(
          "playbook: '", request.playbook(), "', but the plan is for '", plan.playbook, "'"));
    }
    absl::StatusOr<store::Revision> draft =
        options_.store->GetRevision(options_.tenant, plan.playbook, plan.draft_revision);
    if (absl::IsNotFound(draft.status())) {
      return absl::NotFoundError(absl::StrCat("plan ", request.plan_id(), ": '", plan.playbook,
                                              "' has no revision ", plan.draft_revision));
    }
    if (!draft.ok()) return draft.status();
    if (HexOf(draft->content_hash).substr(0, 16) != plan.hash16) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the draft changed since the plan: revision ", plan.draft_revision, " is ",
          draft->content_hash.substr(0, 23), ", the plan was for ", plan.hash16, "; plan again"));
    }
    if (!request.yaml().empty() && store::ContentHash(request.yaml()) != draft->content_hash) {
      return absl::FailedPreconditionError(
          absl::StrCat("the draft changed since the plan: the YAML sent is ",
                       store::ContentHash(request.yaml()).substr(0, 23), ", the plan was for ",
                       draft->content_hash.substr(0, 23), "; plan the new draft"));
    }
    DC_ASSIGN_OR_RETURN(int64_t current, PublishedRevision(plan.playbook));
    if (current == plan.draft_revision) {
      return absl::AbortedError(absl::StrCat("plan ", request.plan_id(),
                                             " was already published by another publish (revision ",
                                             current, ")"));
    }
    if (current != plan.published_revision) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the published revision changed since the plan: the plan compared against revision ",
          plan.published_revision, ", revision ", current,
          " is published now; plan again to see what the draft changes against it"));
    }
    const absl::Duration age = Now() - plan.snapshot_time;
    if (age > options_.plan_max_age) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the plan's pipeline snapshot is ",
          absl::FormatDuration(absl::Trunc(age, absl::Seconds(1))),
          " old, past playbooks.plan_max_age (", absl::FormatDuration(options_.plan_max_age),
          "): the deals may have changed since; plan again"));
    }
    DC_RETURN_IF_ERROR(CheckPublishable(draft->yaml, absl::StrCat("revision ", plan.draft_revision),
                                        plan.playbook));
    std::string detail = absl::StrCat(request.message(), " [", request.plan_id(), "]");
    const std::string summary = RecallSummary(request.plan_id());
    if (!summary.empty()) absl::StrAppend(&detail, " ", summary);
    DC_ASSIGN_OR_RETURN(store::Revision done,
                        PublishChecked(plan.playbook, plan.draft_revision, current,
                                       request.author(), "publish", detail));
    *out.mutable_revision() = ToProto(done);
    out.set_previous_revision(current);
    return out;
  }
  // Without a plan.
  if (request.yaml().empty()) {
    return absl::InvalidArgumentError(
        "plan_id or yaml: set one (plan first: PlanPlaybookChange returns a plan id)");
  }
  engine::LoadResult compiled = engine::LoadPlaybook(request.yaml(), "draft.yaml");
  if (!compiled.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("yaml: the draft does not compile: ", FirstErrors(compiled)));
  }
  const std::string name =
      request.playbook().empty() ? compiled.playbook->ref().name() : request.playbook();
  DC_RETURN_IF_ERROR(CheckPublishable(request.yaml(), "the draft", name));
  DC_ASSIGN_OR_RETURN(int64_t current, PublishedRevision(name));
  if (current != request.expected_revision()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the published revision of '", name, "' is ", current,
                     ", not expected_revision ", request.expected_revision(),
                     "; look at what changed (ListPlaybookRevisions) and plan "
                     "again"));
  }
  DC_ASSIGN_OR_RETURN(store::Revision saved,
                      options_.store->CreateRevision(options_.tenant, name, request.yaml(),
                                                     request.author(), request.message()));
  DC_ASSIGN_OR_RETURN(store::Revision done,
                      PublishChecked(name, saved.revision, current, request.author(), "publish",
                                     request.message()));
  *out.mutable_revision() = ToProto(done);
  out.set_previous_revision(current);
  return out;
}

absl::StatusOr<v1::RollbackPlaybookResponse> PlaybookAdmin::Rollback(
    const v1::RollbackPlaybookRequest& request) {
  DC_RETURN_IF_ERROR(Require(request.author(), "author", "every rollback is audited"));
  DC_RETURN_IF_ERROR(Require(request.message(), "message", "every rollback is audited"));
  if (request.to_revision() <= 0) {
    return absl::InvalidArgumentError("to_revision: must be a revision number (1 or more)");
  }
  DC_RETURN_IF_ERROR(NeedStore("RollbackPlaybook"));
  const std::string name = ResolveName(request.playbook());
  absl::StatusOr<store::Revision> target =
      options_.store->GetRevision(options_.tenant, name, request.to_revision());
  if (absl::IsNotFound(target.status())) {
    return absl::NotFoundError(absl::StrCat("playbook '", name, "' has no revision ",
                                            request.to_revision(),
                                            " (ListPlaybookRevisions lists them)"));
  }
  if (!target.ok()) return target.status();
  DC_ASSIGN_OR_RETURN(int64_t current, PublishedRevision(name));
  if (request.expected_revision() > 0 && current != request.expected_revision()) {
    return absl::FailedPreconditionError(absl::StrCat("the published revision of '", name, "' is ",
                                                      current, ", not expected_revision ",
                                                      request.expected_revision()));
  }
  if (current == target->revision) {
    return absl::FailedPreconditionError(
        absl::StrCat("revision ", target->revision, " of '", name, "' is already published"));
  }
  DC_RETURN_IF_ERROR(
      CheckPublishable(target->yaml, absl::StrCat("revision ", target->revision), name));
  const std::string message =
      absl::StrCat("rollback to revision ", target->revision, ": ", request.message());
  DC_ASSIGN_OR_RETURN(store::Revision saved,
                      options_.store->CreateRevision(options_.tenant, name, target->yaml,
                                                     request.author(), message));
  DC_ASSIGN_OR_RETURN(store::Revision done,
                      PublishChecked(name, saved.revision, current, request.author(), "rollback",
                                     absl::StrCat(message, " (replaces revision ", current, ")")));
  v1::RollbackPlaybookResponse out;
  *out.mutable_revision() = ToProto(done);
  out.set_previous_revision(current);
  return out;
}

absl::StatusOr<v1::ListPlaybookRevisionsResponse> PlaybookAdmin::ListRevisions(
    const v1::ListPlaybookRevisionsRequest& request) {
  DC_RETURN_IF_ERROR(NeedStore("ListPlaybookRevisions"));
  const std::string name = ResolveName(request.playbook());
  DC_ASSIGN_OR_RETURN(std::vector<store::Revision> revisions,
                      options_.store->ListRevisions(options_.tenant, name));
  v1::ListPlaybookRevisionsResponse out;
  for (auto it = revisions.rbegin(); it != revisions.rend(); ++it) {
    *out.add_revisions() = ToProto(*it);
    if (it->state == store::RevisionState::kPublished) out.set_published_revision(it->revision);
  }
  return out;
}

absl::StatusOr<v1::GetPlaybookRevisionResponse> PlaybookAdmin::GetRevision(
    const v1::GetPlaybookRevisionRequest& request) {
  DC_RETURN_IF_ERROR(NeedStore("GetPlaybookRevision"));
  if (request.revision() < 0 || request.diff_against() < 0) {
    return absl::InvalidArgumentError("revision, diff_against: must not be negative");
  }
  const std::string name = ResolveName(request.playbook());
  auto get = [&](int64_t revision) -> absl::StatusOr<store::Revision> {
    absl::StatusOr<store::Revision> r =
        revision == 0 ? options_.store->GetPublished(options_.tenant, name)
                      : options_.store->GetRevision(options_.tenant, name, revision);
    if (absl::IsNotFound(r.status())) {
      return absl::NotFoundError(
          revision == 0 ? absl::StrCat("playbook '", name, "' has no published revision")
                        : absl::StrCat("playbook '", name, "' has no revision ", revision));
    }
    return r;
  };
  DC_ASSIGN_OR_RETURN(store::Revision rev, get(request.revision()));
  v1::GetPlaybookRevisionResponse out;
  if (request.diff_against() > 0) {
    DC_ASSIGN_OR_RETURN(store::Revision other, get(request.diff_against()));
    out.set_diff(UnifiedDiff(other.yaml, rev.yaml, absl::StrCat(name, "@", other.revision),
                             absl::StrCat(name, "@", rev.revision)));
  }
  *out.mutable_revision() = ToProto(rev);
  out.set_yaml(std::move(rev.yaml));
  return out;
}

absl::StatusOr<v1::ListAuditEventsResponse> PlaybookAdmin::ListAudit(
    const v1::ListAuditEventsRequest& request) {
  DC_RETURN_IF_ERROR(NeedStore("ListAuditEvents"));
  if (request.limit() < 0) return absl::InvalidArgumentError("limit: must not be negative");
  DC_ASSIGN_OR_RETURN(
      std::vector<store::AuditEvent> events,
      options_.store->ListAudit(options_.tenant, request.playbook(), Limit(request.limit())));
  v1::ListAuditEventsResponse out;
  for (const store::AuditEvent& e : events) *out.add_events() = ToProto(e);
  return out;
}

absl::StatusOr<v1::ListDecisionsResponse> PlaybookAdmin::ListDecisions(
    const v1::ListDecisionsRequest& request) {
  DC_RETURN_IF_ERROR(NeedStore("ListDecisions"));
  if (request.limit() < 0) return absl::InvalidArgumentError("limit: must not be negative");
  DC_ASSIGN_OR_RETURN(std::vector<store::Decision> decisions,
                      options_.store->ListDecisions(options_.tenant, request.opportunity_id(),
                                                    Limit(request.limit())));
  v1::ListDecisionsResponse out;
  for (const store::Decision& d : decisions) *out.add_decisions() = ToProto(d);
  return out;
}

absl::StatusOr<v1::BacktestPlaybookResponse> PlaybookAdmin::Backtest(
    const v1::BacktestPlaybookRequest& request) {
  v1::BacktestPlaybookResponse out;
  std::shared_ptr<const engine::CompiledPlaybook> playbook;
  if (!request.yaml().empty()) {
    engine::LoadResult result = engine::LoadPlaybook(
        request.yaml(), request.file_name().empty() ? "backtest.yaml" : request.file_name());
    out.set_valid(result.ok());
    for (v1::Diagnostic& d : result.diagnostics) *out.add_diagnostics() = std::move(d);
    if (!result.ok()) {
      *out.mutable_playbook() = result.ref;
      return out;
    }
    playbook = result.playbook;
  } else {
    std::shared_ptr<const runtime::Snapshot> serving = options_.playbooks->Get();
    playbook = serving->Serving(request.playbook());
    if (playbook == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("playbook: no serving playbook named '",
                                                     request.playbook().substr(0, 128),
                                                     "'; send the YAML to test a draft"));
    }
    out.set_valid(true);
  }
  if (options_.source == nullptr) {
    return absl::FailedPreconditionError(
        "BacktestPlaybook needs the closed deals of a connector, and none is configured");
  }
  source::CacheSnapshot snapshot = options_.source->SnapshotCache();
  admin::Backtest(*playbook, snapshot.deals, snapshot.taken_at, &out);
  return out;
}

absl::Status PlaybookAdmin::AuditValidate(absl::string_view author,
                                          const v1::ValidatePlaybookResponse& result) {
  if (options_.store == nullptr) return absl::OkStatus();
  int errors = 0;
  int warnings = 0;
  for (const v1::Diagnostic& d : result.diagnostics()) {
    if (d.severity() == v1::DIAGNOSTIC_SEVERITY_ERROR) ++errors;
    if (d.severity() == v1::DIAGNOSTIC_SEVERITY_WARNING) ++warnings;
  }
  store::AuditEvent e;
  e.tenant = options_.tenant;
  e.actor = author.empty() ? "anonymous" : std::string(author);
  e.action = "validate";
  e.playbook = result.playbook().name();
  e.at = Now();
  e.detail = absl::StrCat(result.valid() ? "valid" : "invalid", ": ", errors,
                          errors == 1 ? " error, " : " errors, ", warnings,
                          warnings == 1 ? " warning" : " warnings");
  return options_.store->AppendAudit(e);
}

}  // namespace dealcoach::admin
