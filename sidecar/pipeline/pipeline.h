// The frontline manager's coaching loop over a pipeline (docs/manager.md): scopes and
// request-time filters, the per-deal compact result, the changes between a snapshot and
// now, the pipeline review (roll-ups by evidence vs claimed phase, stage-ahead share,
// leading indicators, attention ranking) and the 1:1 agenda's recurring gap.
//
// Pure functions and single-threaded builders over the engine's answers: no I/O, no
// gRPC, no clock reads. The server (sidecar/server/pipeline_handlers.cc) streams deals
// from the opportunity source through them; tests and benchmarks call them directly.
//
// Memory: a pass evaluates one deal at a time into a reused DealGuidance; a review keeps
// one DealResult per deal of its scope (a few hundred bytes: ids, not texts) plus the
// compared snapshot's compact results for the same scope.
//
// Thread safety: the free functions are thread-safe; a ReviewBuilder is used by one
// thread.
#ifndef DEALCOACH_SIDECAR_PIPELINE_PIPELINE_H_
#define DEALCOACH_SIDECAR_PIPELINE_PIPELINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "dealcoach/v1/pipeline.pb.h"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/outline.h"
#include "sidecar/expr/expr.h"
#include "sidecar/store/store.pb.h"

namespace dealcoach::pipeline {

// InvalidArgument unless exactly one of the scope's fields is set (and non-empty).
[[nodiscard]] absl::Status ValidateScope(const v1::PipelineScope& scope);
// "rep 005...", "manager 005...", "team Enterprise East", "all deals".
std::string DescribeScope(const v1::PipelineScope& scope);
bool InScope(const v1::PipelineScope& scope, const v1::Owner& owner);
bool InScope(const v1::PipelineScope& scope, const store::CompactResult& result);

// Compiles a request's filter: a bool CEL condition over `opp` (with the playbook's
// custom fields) and `now`. InvalidArgument "filter:LINE:COL: message" when it does not
// parse or type-check, or is not a condition. An empty source is null (no filter).
[[nodiscard]] absl::StatusOr<std::unique_ptr<const expr::Program>> CompileFilter(
    absl::string_view source, const engine::CompiledPlaybook& playbook);

// One pass over a pipeline: which deals and against what.
struct PassOptions {
  const engine::CompiledPlaybook* playbook = nullptr;
  absl::Time now;
  v1::PipelineScope scope;
  const expr::Program* filter = nullptr;  // null = every deal in scope
  bool include_closed = false;
};

enum class DealOutcome {
  kSkipped,       // out of scope, closed (without include_closed), or the filter is false
  kEvaluated,     // *result is filled
  kNotEvaluated,  // the filter errored; *reason says why
};

// The most severe risk of a deal, for the review.
struct TopRisk {
  std::string id;
  std::string text;
};

// Evaluates one deal for a pass. `scratch` is reused between calls (one per thread).
DealOutcome EvaluateDeal(const PassOptions& options, const v1::Opportunity& opportunity,
                         v1::DealGuidance* scratch, v1::DealResult* result, std::string* reason,
                         TopRisk* top_risk = nullptr);

// The snapshot form of a deal's result (store::CompactResult) and back.
store::CompactResult CompactOf(const v1::DealResult& deal);

// The changes of one deal from `before` (null = not in the compared snapshot) to `after`.
std::vector<v1::DealChange> DiffDeal(const engine::PlaybookOutline& outline,
                                     const store::CompactResult* before,
                                     const store::CompactResult& after);

// Whether phase `phase_id`'s exit gate is met in `result`: every criterion of it is
// present and met.
bool GateMet(const engine::PlaybookOutline& outline, const store::CompactResult& result,
             absl::string_view phase_id);

// The evaluated deals of one pass over a scope (open and closed, in id order), the
// deals the filter could not judge, and whether the scope had any deal at all: what a
// ReviewBuilder works from, and what the aggregate cache keeps (aggregate_cache.h).
// Answers derived from one pass alone (the agenda's per-rep parts), by the caller's key,
// so calls sharing a cached pass share them too. At most kMaxEntries; past that, callers
// compute without keeping. Thread-safe.
class DerivedMemo {
 public:
  static constexpr size_t kMaxEntries = 256;
  [[nodiscard]] std::shared_ptr<const google::protobuf::Message> Find(absl::string_view key) const {
    absl::MutexLock lock(&mu_);
    auto it = values_.find(key);
    return it == values_.end() ? nullptr : it->second;
  }
  void Insert(std::string key, std::shared_ptr<const google::protobuf::Message> value) {
    absl::MutexLock lock(&mu_);
    if (values_.size() < kMaxEntries) values_.emplace(std::move(key), std::move(value));
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const google::protobuf::Message>> values_
      ABSL_GUARDED_BY(mu_);
};

struct PassResults {
  std::vector<v1::DealResult> deals;
  std::vector<TopRisk> risks;  // per deal
  std::vector<v1::NotEvaluated> not_evaluated;
  bool seen = false;
  std::shared_ptr<DerivedMemo> memo = std::make_shared<DerivedMemo>();

  void Add(v1::DealResult deal, TopRisk risk) {
    deals.push_back(std::move(deal));
    risks.push_back(std::move(risk));
  }
};

// Builds a GetPipelineReviewResponse from the deals of one pass (open and closed) and
// the compared snapshot's results of the same scope.
class ReviewBuilder {
 public:
  ReviewBuilder(const engine::CompiledPlaybook& playbook, absl::Time now);

  // The compared snapshot's results, by deal id (in scope only). Call before Finish.
  void SetPrevious(absl::flat_hash_map<std::string, store::CompactResult> previous);
  void Add(v1::DealResult deal, TopRisk top_risk);
  void AddNotEvaluated(v1::NotEvaluated item);
  // Works from a finished pass shared with others (a cached aggregate) instead of Add:
  // the builder reads it and never changes it; Finish copies the deals it answers with.
  // Call at most once, before any Add.
  void UseShared(std::shared_ptr<const PassResults> pass);
  // The same for a pass this builder owns (its deals move into the answer).
  void UsePass(PassResults pass);

  // The review: open deals ranked for attention (at most `max_deals`, 0 = all), deals
  // closed or removed since the snapshot, per-rep roll-ups (by rep id) and the scope's
  // roll-up labelled `scope_label`. `removed_allowed`: report snapshot deals missing now
  // as removed (false when a filter narrowed the pass: they may just not match it).
  // Finish moves the deals into the answer: call it once, as the builder's last use.
  v1::GetPipelineReviewResponse Finish(int max_deals, const std::string& scope_label,
                                       bool removed_allowed);

  // Roll-up of the open deals (and their compared results) whose owner `include`s.
  v1::PipelineRollup RollupFor(const std::string& id, const std::string& name,
                               const std::function<bool(const v1::Owner&)>& include) const;
  // The reviews of the deals (open and closed) of owner `rep_id` that changed.
  std::vector<v1::DealReview> ChangedDealsOf(absl::string_view rep_id) const;

  const std::vector<v1::DealResult>& deals() const {
    return shared_ != nullptr ? shared_->deals : deals_;
  }
  const engine::PlaybookOutline& outline() const { return outline_; }

 private:
  // Indicators are tallied as bits (per deal: applicable, met); past the 64th they are
  // looked up by id.
  static constexpr size_t kMaxIndicatorBits = 64;
  struct Bits {
    uint64_t applicable = 0;
    uint64_t met = 0;
  };
  // A compared result with its indicator bits (applicable by its evidence phase, met).
  struct PreviousRow {
    const store::CompactResult* result = nullptr;
    uint64_t applicable = 0;
    uint64_t met = 0;
  };

  uint64_t IndicatorBits(const google::protobuf::RepeatedPtrField<std::string>& ids) const;
  // Rows index deals_, previous indexes previous_rows_.
  v1::PipelineRollup RollupOf(const std::string& id, const std::string& name,
                              const std::vector<int>& rows, const std::vector<int>& previous) const;
  // The review of deals_[row] without the deal itself (the caller copies or moves it in).
  v1::DealReview ReviewOf(int row) const;

  const std::vector<TopRisk>& risks() const { return shared_ != nullptr ? shared_->risks : risks_; }

  const engine::CompiledPlaybook& playbook_;
  const engine::PlaybookOutline& outline_;
  absl::Time now_;
  std::vector<v1::DealResult> deals_;
  std::vector<TopRisk> risks_;
  std::vector<v1::NotEvaluated> not_evaluated_;
  std::shared_ptr<const PassResults> shared_;  // when set, deals_ and risks_ are unused
  std::vector<Bits> bits_;                     // per deal
  absl::flat_hash_map<std::string, store::CompactResult> previous_;
  std::vector<PreviousRow> previous_rows_;  // into previous_
  bool has_previous_ = false;
  std::vector<int> gate_totals_;  // per phase index: criteria in its exit gate
};

// Attention score of an open deal: phases ahead x (amount / largest amount in scope) x
// close-date urgency (1 when the close date is past or within 30 days, then 30 / days).
double AttentionScore(int phases_ahead, double amount, double max_amount, absl::Time close_date,
                      absl::Time now);

// The recurring gaps of rep `rep_id` among `team` (the rep's team's open deals,
// including the rep's): every criterion open (unmet or unknown) or behavior fired on at
// least one of the rep's open deals (except criteria that read only the outcome, like
// "the customer has signed": OutlineRule::outcome_only), ranked by the amount-weighted share of the
// rep's open deals it is open on (count-weighted when they carry no amount), then by deal count,
// then by rule id. Each carries the team's share, the playbook's questions and content for it, the
// deals behind it and a "why". Only the first `max_gaps` are built (the agenda shows
// three); they are the same as the first of a longer list.
std::vector<v1::BehaviorGap> RecurringGaps(const engine::PlaybookOutline& outline,
                                           absl::string_view rep_id,
                                           const std::vector<v1::DealResult>& team,
                                           size_t max_gaps = SIZE_MAX);

// The open items of a deal for rule `rule_id` (criterion open / behavior fired).
bool ItemOpen(const v1::DealResult& deal, absl::string_view rule_id);

// "2026-11-16T18:00:00Z" -> that time; the time a snapshot's evaluation stands for when
// its id is an RFC 3339 time (TakeSnapshot's default ids, the sample history), else
// `created_at`.
absl::Time SnapshotInstant(absl::string_view snapshot_id, absl::Time created_at);

}  // namespace dealcoach::pipeline

#endif  // DEALCOACH_SIDECAR_PIPELINE_PIPELINE_H_
