// The frontline manager's coaching loop (docs/manager.md) over a real gRPC server on
// loopback: the file connector over the shipped samples, a SQLite store in a temp
// directory, and the shipped history (config/samples/history/2026-11-13.json) snapshotted
// through TakeSnapshot. Everything is evaluated as of the samples' instant
// (2026-11-20T12:00:00Z), so the answers are the same on any day.
//
// Checked: every change kind between the two snapshots; each sample rep's recurring gap
// against a computation in this test from the per-deal results EvaluatePipeline streams;
// indicator shares against the raw samples; the attention ranking; cancellation and
// deadlines mid-stream; a bad filter (INVALID_ARGUMENT with line:col), a filter erroring
// on some deals, unknown reps and teams (NOT_FOUND), and no store (no comparison).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/pipeline/aggregate_cache.h"
#include "sidecar/server/sidecar.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kNow[] = "2026-11-20T12:00:00Z";
constexpr char kHistoryId[] = "2026-11-13T12:00:00Z";
constexpr char kManagerEast[] = "005000000000001AAA";
const std::vector<std::string> kReps = {"005000000000011AAA", "005000000000012AAA",
                                        "005000000000013AAA", "005000000000014AAA"};

std::string Deal(int n) { return absl::StrFormat("0060000000000%02dAAA", n); }

google::protobuf::Timestamp Ts(const char* text) {
  google::protobuf::Timestamp ts;
  EXPECT_TRUE(TimeUtil::FromString(text, &ts)) << text;
  return ts;
}

std::vector<v1::Opportunity> ReadOpportunities(const std::string& path) {
  nlohmann::json doc = nlohmann::json::parse(ReadFileOrDie(path));
  std::vector<v1::Opportunity> out;
  for (const auto& item : doc) {
    v1::Opportunity o;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(item.dump(), &o).ok());
    out.push_back(std::move(o));
  }
  return out;
}

std::string Config(const std::string& samples, bool store) {
  return absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\n", "playbooks: {files: [\"",
                      ShippedPlaybook("customer-journey"), "\"]}\n",
                      "connector: {type: file, file: {path: \"", samples, "\"}}\n",
                      store ? "store:\n  backend: sqlite\n  data_dir: data\n" : "");
}

class ManagerLoopTest : public ::testing::Test {
 protected:
  void Start(const std::string& samples, bool store, size_t expect_deals) {
    auto s = StartSidecar(Config(samples, store), dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::CoachingService::NewStub(channel_);
    // Wait for the first sync pass to cache every deal.
    auto admin = v1::AdminService::NewStub(channel_);
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      grpc::ClientContext ctx;
      v1::GetStatusResponse status;
      if (admin->GetStatus(&ctx, v1::GetStatusRequest(), &status).ok() &&
          static_cast<size_t>(status.source().cached_count()) == expect_deals) {
        return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    FAIL() << "the source did not cache " << expect_deals << " deals";
  }

  void StartOnSamples(bool store = true) {
    samples_ = LoadSamples();
    Start(SamplesFile(), store, samples_.size());
    if (store) SnapshotHistory();
  }

  void SnapshotHistory() {
    v1::TakeSnapshotRequest req;
    req.set_snapshot_id(kHistoryId);
    *req.mutable_as_of() = Ts(kHistoryId);
    for (v1::Opportunity& o :
         ReadOpportunities(SourceDir() + "/config/samples/history/2026-11-13.json")) {
      *req.add_opportunities() = std::move(o);
    }
    grpc::ClientContext ctx;
    v1::TakeSnapshotResponse resp;
    grpc::Status s = stub_->TakeSnapshot(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.snapshot_id(), kHistoryId);
    EXPECT_EQ(resp.deals(), req.opportunities_size());
  }

  // Every DealResult EvaluatePipeline streams for `scope` as of kNow.
  std::vector<v1::DealResult> Stream(const v1::PipelineScope& scope, bool include_closed = false) {
    v1::EvaluatePipelineRequest req;
    *req.mutable_scope() = scope;
    *req.mutable_as_of() = Ts(kNow);
    req.set_include_closed(include_closed);
    grpc::ClientContext ctx;
    auto reader = stub_->EvaluatePipeline(&ctx, req);
    std::vector<v1::DealResult> out;
    v1::EvaluatePipelineResponse msg;
    while (reader->Read(&msg)) {
      EXPECT_TRUE(msg.has_deal());
      out.push_back(msg.deal());
    }
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  v1::GetPipelineReviewResponse Review(const v1::PipelineScope& scope,
                                       const std::string& compare_to = "") {
    v1::GetPipelineReviewRequest req;
    *req.mutable_scope() = scope;
    *req.mutable_as_of() = Ts(kNow);
    req.set_compare_to(compare_to);
    grpc::ClientContext ctx;
    v1::GetPipelineReviewResponse resp;
    grpc::Status s = stub_->GetPipelineReview(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  TempDir dir_;
  std::vector<v1::Opportunity> samples_;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CoachingService::Stub> stub_;
};

v1::PipelineScope All() {
  v1::PipelineScope s;
  s.set_all(true);
  return s;
}

// Deal id -> the change kinds reported for it (open deals and closed/removed ones).
std::map<std::string, std::set<int>> KindsByDeal(const v1::GetPipelineReviewResponse& r) {
  std::map<std::string, std::set<int>> out;
  for (const auto* list : {&r.deals(), &r.closed()}) {
    for (const v1::DealReview& d : *list) {
      for (const v1::DealChange& c : d.changes()) {
        out[d.deal().opportunity_id()].insert(c.kind());
      }
    }
  }
  return out;
}

TEST_F(ManagerLoopTest, EveryChangeKindBetweenTheTwoSnapshots) {
  StartOnSamples();
  v1::GetPipelineReviewResponse r = Review(All());
  ASSERT_TRUE(r.comparison().available()) << r.comparison().note();
  EXPECT_EQ(r.comparison().snapshot_id(), kHistoryId);
  std::map<std::string, std::set<int>> kinds = KindsByDeal(r);
  // The story of the week (config/samples/history/make_history.py).
  const std::vector<std::pair<int, std::vector<v1::ChangeKind>>> expected = {
      {8, {v1::CHANGE_KIND_NEW}},
      {50, {v1::CHANGE_KIND_NEW}},
      {41, {v1::CHANGE_KIND_WON, v1::CHANGE_KIND_STAGE_MOVED}},
      {42, {v1::CHANGE_KIND_WON}},
      {49, {v1::CHANGE_KIND_LOST}},
      {47, {v1::CHANGE_KIND_LOST}},
      {20, {v1::CHANGE_KIND_PUSHED_OUT}},
      {39, {v1::CHANGE_KIND_PUSHED_OUT}},
      {33, {v1::CHANGE_KIND_PULLED_IN}},
      {52, {v1::CHANGE_KIND_AMOUNT_UP}},
      {22, {v1::CHANGE_KIND_AMOUNT_DOWN}},
      {17, {v1::CHANGE_KIND_STAGE_MOVED}},
      {36, {v1::CHANGE_KIND_STAGE_MOVED}},
      {13, {v1::CHANGE_KIND_EVIDENCE_ADVANCED, v1::CHANGE_KIND_GATE_NEWLY_MET}},
      {31, {v1::CHANGE_KIND_EVIDENCE_ADVANCED, v1::CHANGE_KIND_GATE_NEWLY_MET}},
      {9, {v1::CHANGE_KIND_EVIDENCE_REGRESSED, v1::CHANGE_KIND_GATE_NEWLY_OPEN}},
      {2, {v1::CHANGE_KIND_EVIDENCE_REGRESSED, v1::CHANGE_KIND_GATE_NEWLY_OPEN}},
  };
  for (const auto& [n, want] : expected) {
    for (v1::ChangeKind k : want) {
      EXPECT_EQ(kinds[Deal(n)].count(k), 1u) << Deal(n) << " lacks " << v1::ChangeKind_Name(k);
    }
  }
  // A deal that did not change reports nothing.
  EXPECT_EQ(kinds.count(Deal(53)), 0u);
  // The closed list holds exactly the deals won or lost this week.
  std::set<std::string> closed;
  for (const v1::DealReview& d : r.closed()) closed.insert(d.deal().opportunity_id());
  EXPECT_EQ(closed, (std::set<std::string>{Deal(41), Deal(42), Deal(47), Deal(49)}));

  // Removed: compare with a snapshot holding one more deal than the pipeline has now.
  v1::TakeSnapshotRequest req;
  req.set_snapshot_id("with-a-deal-since-deleted");
  *req.mutable_as_of() = Ts(kHistoryId);
  v1::Opportunity gone = samples_[0];
  gone.set_id("006999999999999AAA");
  *req.add_opportunities() = gone;
  grpc::ClientContext ctx;
  v1::TakeSnapshotResponse resp;
  ASSERT_TRUE(stub_->TakeSnapshot(&ctx, req, &resp).ok());
  kinds = KindsByDeal(Review(All(), "with-a-deal-since-deleted"));
  EXPECT_EQ(kinds["006999999999999AAA"], std::set<int>{v1::CHANGE_KIND_REMOVED});
}

// The recurring gap of every sample rep, computed here from the per-deal results.
TEST_F(ManagerLoopTest, RecurringGapOfEachRepMatchesAnIndependentComputation) {
  StartOnSamples();
  for (const std::string& rep : kReps) {
    SCOPED_TRACE(rep);
    // The rep's team: everyone with the same manager.
    std::string manager;
    for (const v1::Opportunity& o : samples_) {
      if (o.owner().id() == rep) manager = o.owner().manager_id();
    }
    v1::PipelineScope team;
    team.set_manager_id(manager);
    std::vector<v1::DealResult> deals = Stream(team);
    ASSERT_FALSE(deals.empty());
    // Amount-weighted share of the rep's (and the team's) open deals each item is open on.
    std::map<std::string, double> rep_w, team_w;
    std::map<std::string, int> rep_n;
    double rep_total = 0, team_total = 0;
    for (const v1::DealResult& d : deals) {
      ASSERT_FALSE(d.is_closed());
      const bool mine = d.owner().id() == rep;
      team_total += d.amount();
      if (mine) rep_total += d.amount();
      std::set<std::string> open;
      for (const v1::CriterionOutcome& c : d.criteria()) {
        if (c.status() != v1::CRITERION_STATUS_MET) open.insert(c.id());
      }
      for (const std::string& b : d.fired_behaviors()) open.insert(b);
      // decision/signed reads only opp.is_won: an outcome, not a behavior to coach.
      open.erase("decision/signed");
      for (const std::string& id : open) {
        team_w[id] += d.amount();
        if (mine) {
          rep_w[id] += d.amount();
          ++rep_n[id];
        }
      }
    }
    std::string best;
    for (const auto& [id, w] : rep_w) {
      if (best.empty() || w > rep_w[best] + 1e-9 ||
          (std::fabs(w - rep_w[best]) <= 1e-9 && rep_n[id] > rep_n[best])) {
        best = id;  // ids iterate in order, so ties keep the smaller id
      }
    }
    grpc::ClientContext ctx;
    v1::GetCoachingAgendaRequest req;
    req.set_rep_id(rep);
    *req.mutable_as_of() = Ts(kNow);
    v1::GetCoachingAgendaResponse agenda;
    grpc::Status s = stub_->GetCoachingAgenda(&ctx, req, &agenda);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(agenda.focus().rule_id(), best);
    EXPECT_NEAR(agenda.focus().rep_share(), rep_w[best] / rep_total, 1e-9);
    EXPECT_NEAR(agenda.focus().team_share(), team_w[best] / team_total, 1e-9);
    EXPECT_EQ(agenda.focus().rep_deals(), rep_n[best]);
    EXPECT_FALSE(agenda.focus().questions().empty() && !agenda.focus().phase_id().empty());
    EXPECT_TRUE(absl::StrContains(agenda.focus().why(), best));
    // Practice cases are the rep's deals where the gap is open, with their open items.
    ASSERT_FALSE(agenda.practice_cases().empty());
    for (const v1::PracticeCase& pc : agenda.practice_cases()) {
      EXPECT_EQ(pc.deal().owner().id(), rep);
      EXPECT_TRUE(std::find(agenda.focus().deal_ids().begin(), agenda.focus().deal_ids().end(),
                            pc.deal().opportunity_id()) != agenda.focus().deal_ids().end());
    }
    // The rep's indicators and the team's, in the same order.
    ASSERT_EQ(agenda.rep_indicators_size(), agenda.team_indicators_size());
    EXPECT_EQ(agenda.rep_indicators_size(), 4);
    EXPECT_TRUE(agenda.comparison().available());
  }
}

TEST_F(ManagerLoopTest, AgendaShowsTheRepsChangesSinceTheSnapshot) {
  StartOnSamples();
  grpc::ClientContext ctx;
  v1::GetCoachingAgendaRequest req;
  req.set_rep_id("005000000000012AAA");  // Jonas Weber: won 41, lost 49, pulled in 33, ...
  *req.mutable_as_of() = Ts(kNow);
  v1::GetCoachingAgendaResponse agenda;
  ASSERT_TRUE(stub_->GetCoachingAgenda(&ctx, req, &agenda).ok());
  EXPECT_EQ(agenda.rep().name(), "Jonas Weber");
  std::set<std::string> changed;
  for (const v1::DealReview& d : agenda.changes()) {
    EXPECT_EQ(d.deal().owner().id(), "005000000000012AAA");
    changed.insert(d.deal().opportunity_id());
  }
  for (int n : {41, 49, 33, 17, 13, 9}) EXPECT_EQ(changed.count(Deal(n)), 1u) << Deal(n);
}

// Indicator shares against the raw samples: "three or more contacts" needs no engine.
TEST_F(ManagerLoopTest, IndicatorSharesMatchTheSamples) {
  StartOnSamples();
  v1::GetPipelineReviewResponse r = Review(All());
  int open = 0, multi = 0;
  std::map<std::string, std::pair<int, int>> per_rep;  // rep -> (open, multi-threaded)
  for (const v1::Opportunity& o : samples_) {
    if (o.is_closed()) continue;
    ++open;
    const bool m = o.contacts_size() >= 3;
    multi += m;
    per_rep[o.owner().id()].first++;
    per_rep[o.owner().id()].second += m;
  }
  auto find = [](const v1::PipelineRollup& rollup, const std::string& id) {
    for (const v1::IndicatorShare& s : rollup.indicators()) {
      if (s.indicator_id() == id) return s;
    }
    ADD_FAILURE() << "no indicator " << id;
    return v1::IndicatorShare();
  };
  v1::IndicatorShare team = find(r.team(), "indicator/multi-threaded");
  EXPECT_EQ(team.applicable(), open);
  EXPECT_EQ(team.met(), multi);
  EXPECT_NEAR(team.share(), static_cast<double>(multi) / open, 1e-12);
  EXPECT_DOUBLE_EQ(team.target(), 0.6);
  EXPECT_EQ(team.below_target(), team.share() < 0.6);
  EXPECT_EQ(team.missing_deal_ids_size(), open - multi);
  EXPECT_TRUE(team.has_previous());  // the trend: the history snapshot's share
  ASSERT_EQ(r.reps_size(), 4);
  for (const v1::PipelineRollup& rep : r.reps()) {
    v1::IndicatorShare s = find(rep, "indicator/multi-threaded");
    EXPECT_EQ(s.applicable(), per_rep[rep.id()].first) << rep.name();
    EXPECT_EQ(s.met(), per_rep[rep.id()].second) << rep.name();
  }
  // Phase-restricted: the mutual-action-plan indicator applies to decision-phase deals.
  int decision = 0;
  for (const v1::PhaseBucket& b : r.team().by_evidence_phase()) {
    if (b.phase().id() == "decision") decision = b.deals();
  }
  EXPECT_EQ(find(r.team(), "indicator/mutual-action-plan").applicable(), decision);
  // Evidence and claimed buckets count the same open deals (every sample stage maps).
  int by_evidence = 0, by_claimed = 0;
  for (const v1::PhaseBucket& b : r.team().by_evidence_phase()) by_evidence += b.deals();
  for (const v1::PhaseBucket& b : r.team().by_claimed_phase()) by_claimed += b.deals();
  EXPECT_EQ(by_evidence, open);
  EXPECT_EQ(by_claimed, open);
}

TEST_F(ManagerLoopTest, DealsAreRankedForAttention) {
  StartOnSamples();
  v1::GetPipelineReviewResponse r = Review(All());
  ASSERT_GT(r.deals_size(), 3);
  double max_amount = 0;
  for (const v1::DealReview& d : r.deals()) max_amount = std::max(max_amount, d.deal().amount());
  const absl::Time now = absl::FromUnixSeconds(Ts(kNow).seconds());
  std::string best;
  double best_score = -1;
  for (int i = 0; i < r.deals_size(); ++i) {
    const v1::DealReview& d = r.deals(i);
    EXPECT_EQ(d.rank(), i + 1);
    if (i > 0) {
      EXPECT_GE(r.deals(i - 1).attention(), d.attention());
    }
    // Recomputed here: phases ahead x amount share x close-date urgency.
    const int ahead = d.deal().stage_ahead_of_evidence()
                          ? d.deal().claimed_phase().index() - d.deal().evidence_phase().index()
                          : 0;
    EXPECT_EQ(d.phases_ahead(), ahead);
    const double days =
        absl::ToDoubleHours(absl::FromUnixSeconds(d.deal().close_date().seconds()) - now) / 24;
    const double score = ahead * (d.deal().amount() / max_amount) * (days > 30 ? 30 / days : 1);
    EXPECT_NEAR(d.attention(), score, 1e-9) << d.deal().opportunity_id();
    if (score > best_score) {
      best_score = score;
      best = d.deal().opportunity_id();
    }
  }
  EXPECT_EQ(r.deals(0).deal().opportunity_id(), best);
  EXPECT_GT(r.deals(0).phases_ahead(), 0);
  EXPECT_EQ(r.deals(r.deals_size() - 1).attention(), 0);
}

TEST_F(ManagerLoopTest, BadInputs) {
  StartOnSamples(/*store=*/false);
  // A filter that does not type-check: INVALID_ARGUMENT with line:col.
  {
    v1::EvaluatePipelineRequest req;
    req.mutable_scope()->set_all(true);
    req.set_filter("opp.amount > 1000 &&\n  opp.stagee == \"Prospecting\"");
    grpc::ClientContext ctx;
    auto reader = stub_->EvaluatePipeline(&ctx, req);
    v1::EvaluatePipelineResponse msg;
    EXPECT_FALSE(reader->Read(&msg));
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "filter:2:")) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "stagee")) << s.error_message();
  }
  {
    v1::GetPipelineReviewRequest req;
    req.mutable_scope()->set_all(true);
    req.set_filter("opp.amount");
    grpc::ClientContext ctx;
    v1::GetPipelineReviewResponse resp;
    grpc::Status s = stub_->GetPipelineReview(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "filter:1:1")) << s.error_message();
  }
  // A filter that errors on some deals: those are not evaluated, the rest are answered.
  {
    v1::GetPipelineReviewRequest req;
    req.mutable_scope()->set_all(true);
    *req.mutable_as_of() = Ts(kNow);
    req.set_filter("100 / (opp.contacts.size() - 1) >= 0");
    grpc::ClientContext ctx;
    v1::GetPipelineReviewResponse resp;
    ASSERT_TRUE(stub_->GetPipelineReview(&ctx, req, &resp).ok());
    int single = 0, others = 0;
    for (const v1::Opportunity& o : samples_) {
      if (o.is_closed()) continue;
      (o.contacts_size() == 1 ? single : others)++;
    }
    ASSERT_GT(single, 0);
    EXPECT_EQ(resp.not_evaluated_size(), single);
    EXPECT_TRUE(absl::StrContains(resp.not_evaluated(0).reason(), "filter: "))
        << resp.not_evaluated(0).reason();
    EXPECT_EQ(resp.deals_size(), others);
    // Without a store the answer says there is no comparison.
    EXPECT_FALSE(resp.comparison().available());
    EXPECT_TRUE(absl::StrContains(resp.comparison().note(), "no store"))
        << resp.comparison().note();
  }
  // Unknown rep and team: NOT_FOUND naming them.
  {
    grpc::ClientContext ctx;
    v1::GetCoachingAgendaRequest req;
    req.set_rep_id("005NOBODY");
    v1::GetCoachingAgendaResponse resp;
    grpc::Status s = stub_->GetCoachingAgenda(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "005NOBODY")) << s.error_message();
  }
  {
    v1::GetPipelineReviewRequest req;
    req.mutable_scope()->set_team("Nowhere West");
    grpc::ClientContext ctx;
    v1::GetPipelineReviewResponse resp;
    grpc::Status s = stub_->GetPipelineReview(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_TRUE(absl::StrContains(s.error_message(), "Nowhere West")) << s.error_message();
  }
  // No scope at all.
  {
    v1::GetPipelineReviewRequest req;
    grpc::ClientContext ctx;
    v1::GetPipelineReviewResponse resp;
    EXPECT_EQ(stub_->GetPipelineReview(&ctx, req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // TakeSnapshot without a store.
  {
    grpc::ClientContext ctx;
    v1::TakeSnapshotResponse resp;
    EXPECT_EQ(stub_->TakeSnapshot(&ctx, v1::TakeSnapshotRequest(), &resp).error_code(),
              grpc::StatusCode::FAILED_PRECONDITION);
  }
}

TEST_F(ManagerLoopTest, ScopesNarrowThePipeline) {
  StartOnSamples(/*store=*/false);
  v1::PipelineScope east;
  east.set_manager_id(kManagerEast);
  std::vector<v1::DealResult> deals = Stream(east);
  int want = 0;
  for (const v1::Opportunity& o : samples_) {
    want += !o.is_closed() && o.owner().manager_id() == kManagerEast;
  }
  EXPECT_EQ(static_cast<int>(deals.size()), want);
  for (const v1::DealResult& d : deals) EXPECT_EQ(d.owner().manager_id(), kManagerEast);
  v1::PipelineScope team;
  team.set_team("Mid-Market West");
  for (const v1::DealResult& d : Stream(team, /*include_closed=*/true)) {
    EXPECT_EQ(d.owner().team(), "Mid-Market West");
  }
}

// A pipeline large enough that the stream is still running when the client gives up.

// batch_size packs several deals per message: the same results in the same order as one
// deal per message, at most batch_size per message, the revision on the first message
// only, deals the filter errors on in not_evaluated_deals; out of range is rejected.
TEST_F(ManagerLoopTest, BatchedStreamEqualsOneDealPerMessage) {
  StartOnSamples(/*store=*/false);
  struct Read {
    std::vector<v1::DealResult> deals;
    std::vector<std::string> not_evaluated;
    std::vector<v1::EvaluatePipelineResponse> messages;
    grpc::Status status;
  };
  auto stream = [&](int batch, const std::string& filter) {
    v1::EvaluatePipelineRequest req;
    req.mutable_scope()->set_all(true);
    *req.mutable_as_of() = Ts(kNow);
    req.set_include_closed(true);
    req.set_batch_size(batch);
    req.set_filter(filter);
    grpc::ClientContext ctx;
    auto reader = stub_->EvaluatePipeline(&ctx, req);
    Read out;
    v1::EvaluatePipelineResponse msg;
    while (reader->Read(&msg)) {
      if (msg.has_deal()) out.deals.push_back(msg.deal());
      if (msg.has_not_evaluated())
        out.not_evaluated.push_back(msg.not_evaluated().opportunity_id());
      for (const v1::DealResult& d : msg.deals()) out.deals.push_back(d);
      for (const v1::NotEvaluated& n : msg.not_evaluated_deals()) {
        EXPECT_TRUE(absl::StrContains(n.reason(), "filter: ")) << n.reason();
        out.not_evaluated.push_back(n.opportunity_id());
      }
      out.messages.push_back(msg);
    }
    out.status = reader->Finish();
    return out;
  };
  constexpr int kBatch = 7;  // does not divide the sample count: the last batch is short
  const Read one = stream(0, "");
  const Read batched = stream(kBatch, "");
  ASSERT_TRUE(one.status.ok()) << one.status.error_message();
  ASSERT_TRUE(batched.status.ok()) << batched.status.error_message();
  ASSERT_EQ(one.deals.size(), samples_.size());
  ASSERT_EQ(batched.deals.size(), one.deals.size());
  for (size_t i = 0; i < one.deals.size(); ++i) {
    EXPECT_EQ(batched.deals[i].SerializeAsString(), one.deals[i].SerializeAsString())
        << one.deals[i].opportunity_id();
  }
  ASSERT_EQ(batched.messages.size(), (samples_.size() + kBatch - 1) / kBatch);
  for (size_t i = 0; i < batched.messages.size(); ++i) {
    const v1::EvaluatePipelineResponse& m = batched.messages[i];
    EXPECT_FALSE(m.has_deal());
    EXPECT_LE(m.deals_size(), kBatch);
    EXPECT_EQ(m.playbook().name().empty(), i > 0);
    EXPECT_EQ(m.has_evaluated_at(), i == 0);
  }
  for (const v1::EvaluatePipelineResponse& m : one.messages) EXPECT_EQ(m.deals_size(), 0);
  // A filter that errors on the deals with one contact, batched like the others.
  const std::string filter = "100 / (opp.contacts.size() - 1) >= 0";
  const Read one_f = stream(1, filter);
  const Read batched_f = stream(kBatch, filter);
  ASSERT_TRUE(batched_f.status.ok()) << batched_f.status.error_message();
  int single = 0;
  for (const v1::Opportunity& o : samples_) single += o.contacts_size() == 1;
  ASSERT_GT(single, 0);
  EXPECT_EQ(static_cast<int>(batched_f.not_evaluated.size()), single);
  EXPECT_EQ(batched_f.not_evaluated, one_f.not_evaluated);
  ASSERT_EQ(batched_f.deals.size(), one_f.deals.size());
  EXPECT_EQ(batched_f.deals.size(), samples_.size() - single);
  for (int bad : {-1, 1025}) {
    const Read r = stream(bad, "");
    EXPECT_EQ(r.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_TRUE(absl::StrContains(r.status.error_message(), "batch_size")) << bad;
    EXPECT_TRUE(r.messages.empty());
  }
}

class ManagerLoopLargeTest : public ManagerLoopTest {
 protected:
  static constexpr int kCopies = 80;  // x 55 samples = 4,400 deals

  void SetUp() override {
    std::vector<v1::Opportunity> samples = LoadSamples();
    nlohmann::json doc = nlohmann::json::array();
    for (int k = 0; k < kCopies; ++k) {
      for (v1::Opportunity o : samples) {
        o.set_id(absl::StrCat(o.id(), "-", k));
        std::string json;
        ASSERT_TRUE(google::protobuf::util::MessageToJsonString(o, &json).ok());
        doc.push_back(nlohmann::json::parse(json));
      }
    }
    const std::string path = dir_.Write("large.json", doc.dump());
    Start(path, /*store=*/false, samples.size() * kCopies);
  }
};

TEST_F(ManagerLoopLargeTest, CancellationMidStream) {
  v1::EvaluatePipelineRequest req;
  req.mutable_scope()->set_all(true);
  grpc::ClientContext ctx;
  auto reader = stub_->EvaluatePipeline(&ctx, req);
  v1::EvaluatePipelineResponse msg;
  int read = 0;
  while (read < 10 && reader->Read(&msg)) ++read;
  ASSERT_EQ(read, 10);
  EXPECT_TRUE(msg.playbook().name().empty());  // only the first message names it
  ctx.TryCancel();
  while (reader->Read(&msg)) ++read;
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(read, 55 * kCopies);
  // The server is not stuck: the next call is answered.
  v1::PipelineScope rep;
  rep.set_rep_id("005000000000011AAA");
  grpc::ClientContext ctx2;
  v1::GetPipelineReviewRequest review;
  *review.mutable_scope() = rep;
  review.set_max_deals(3);
  v1::GetPipelineReviewResponse resp;
  grpc::Status s2 = stub_->GetPipelineReview(&ctx2, review, &resp);
  EXPECT_TRUE(s2.ok()) << s2.error_message();
  EXPECT_EQ(resp.deals_size(), 3);
}

TEST_F(ManagerLoopLargeTest, DeadlineMidStreamAndMidReview) {
  {
    v1::EvaluatePipelineRequest req;
    req.mutable_scope()->set_all(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(150));
    auto reader = stub_->EvaluatePipeline(&ctx, req);
    v1::EvaluatePipelineResponse msg;
    int read = 0;
    while (reader->Read(&msg)) {
      ++read;
      absl::SleepFor(absl::Microseconds(200));  // a slow client
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_LT(read, 55 * kCopies);
  }
  {
    v1::GetPipelineReviewRequest req;
    req.mutable_scope()->set_all(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(50));
    v1::GetPipelineReviewResponse resp;
    EXPECT_EQ(stub_->GetPipelineReview(&ctx, req, &resp).error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

// The aggregate cache (docs/manager.md, "The aggregate cache") behind the agenda and the
// review: a repeated question is answered from it byte for byte as the first (fresh)
// answer; a synced change and a reloaded playbook show in the very next answer; and the
// cache stays within its entry cap however many instants are asked about.
class ManagerLoopCacheTest : public ManagerLoopTest {
 protected:
  static constexpr char kRep[] = "005000000000011AAA";  // Amelia Brooks, team East
  static constexpr char kDealOfRep[] = "006000000000004AAA";

  void SetUp() override {
    samples_json_ = nlohmann::json::parse(ReadFileOrDie(SamplesFile()));
    samples_path_ = dir_.Write("opportunities.json", samples_json_.dump());
    playbook_text_ = ReadFileOrDie(ShippedPlaybook("customer-journey"));
    playbook_path_ = dir_.Write("customer-journey.yaml", playbook_text_);
    const std::string config = absl::StrCat(
        "listen: 127.0.0.1:0\nlog_level: error\n", "playbooks: {files: [\"", playbook_path_,
        "\"]}\nreload: {poll_interval: 20ms}\n", "connector: {type: file, file: {path: \"",
        samples_path_, "\"}}\nsource: {sync_interval: 50ms}\n");
    auto s = StartSidecar(config, dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
    stub_ = v1::CoachingService::NewStub(channel_);
    ASSERT_TRUE(WaitUntil([&] { return Agenda().rollup().open_deals() > 0; }));
  }

  v1::GetCoachingAgendaResponse Agenda(const char* as_of = kNow) {
    grpc::ClientContext ctx;
    v1::GetCoachingAgendaRequest req;
    req.set_rep_id(kRep);
    *req.mutable_as_of() = Ts(as_of);
    v1::GetCoachingAgendaResponse agenda;
    grpc::Status s = stub_->GetCoachingAgenda(&ctx, req, &agenda);
    return s.ok() ? agenda : v1::GetCoachingAgendaResponse();
  }

  v1::GetPipelineReviewResponse TeamReview() {
    v1::PipelineScope scope;
    scope.set_manager_id(kManagerEast);
    return Review(scope);
  }

  static bool WaitUntil(const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (absl::Now() < deadline) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  }

  static double IndicatorTarget(const v1::GetCoachingAgendaResponse& agenda,
                                const std::string& id) {
    for (const v1::IndicatorShare& share : agenda.rep_indicators()) {
      if (share.indicator_id() == id) return share.target();
    }
    return -1;
  }

  nlohmann::json samples_json_;
  std::string samples_path_;
  std::string playbook_text_;
  std::string playbook_path_;
};

TEST_F(ManagerLoopCacheTest, ARepeatedQuestionIsAnsweredFromTheCacheAsTheFreshAnswer) {
  // An instant nobody asked about yet: the first agenda is a fresh pass over the rep's
  // team (a miss), the second is found (a hit), and both are the same bytes.
  constexpr char kLater[] = "2026-11-20T12:07:00Z";
  const pipeline::AggregateCache::Stats before = sidecar_->aggregates().stats();
  const std::string fresh = Agenda(kLater).SerializeAsString();
  const pipeline::AggregateCache::Stats after_fresh = sidecar_->aggregates().stats();
  const std::string cached = Agenda(kLater).SerializeAsString();
  const pipeline::AggregateCache::Stats after_cached = sidecar_->aggregates().stats();
  ASSERT_FALSE(fresh.empty());
  EXPECT_EQ(cached, fresh);
  EXPECT_EQ(after_fresh.misses - before.misses, 1);
  EXPECT_EQ(after_fresh.hits, before.hits);
  EXPECT_EQ(after_cached.hits - after_fresh.hits, 1);
  EXPECT_EQ(after_cached.misses, after_fresh.misses);
  EXPECT_EQ(after_cached.entries, after_fresh.entries);

  // The review of the rep's manager is the agenda's team scope: the same aggregate, found,
  // and again the same bytes on a repeat.
  const std::string review = TeamReview().SerializeAsString();
  const pipeline::AggregateCache::Stats after_review = sidecar_->aggregates().stats();
  EXPECT_EQ(TeamReview().SerializeAsString(), review);
  EXPECT_EQ(after_review.misses, after_cached.misses + 0) << "the review at kNow: "
                                                          << "computed by SetUp's agenda";
}

TEST_F(ManagerLoopCacheTest, ASyncedChangeShowsInTheNextAnswer) {
  const v1::GetCoachingAgendaResponse before = Agenda();
  const double old_amount = before.rollup().open_amount();
  ASSERT_GT(old_amount, 0);
  ASSERT_EQ(Agenda().SerializeAsString(), before.SerializeAsString());  // now cached

  // The CRM raises one open deal of the rep by 1,000,000.
  bool found = false;
  for (auto& o : samples_json_) {
    if (o["id"] != kDealOfRep) continue;
    o["amount"] = o["amount"].get<double>() + 1'000'000;
    o["updated_at"] = "2026-11-19T16:00:00Z";
    found = true;
  }
  ASSERT_TRUE(found);
  dir_.Write("opportunities.json", samples_json_.dump());

  // As soon as the review (another scope, so another aggregate) shows the new amount,
  // the source holds it, and the agenda asked next must show it too: its cached
  // aggregate was of an older source generation.
  ASSERT_TRUE(WaitUntil([&] {
    const v1::GetPipelineReviewResponse review = TeamReview();
    for (const v1::DealReview& d : review.deals()) {
      if (d.deal().opportunity_id() == kDealOfRep) return d.deal().amount() > 1'000'000;
    }
    return false;
  })) << "the synced change never reached the review";
  const v1::GetCoachingAgendaResponse after = Agenda();
  EXPECT_DOUBLE_EQ(after.rollup().open_amount(), old_amount + 1'000'000);
  EXPECT_EQ(after.rollup().open_deals(), before.rollup().open_deals());
}

TEST_F(ManagerLoopCacheTest, AReloadedPlaybookShowsInTheNextAnswer) {
  const v1::GetCoachingAgendaResponse before = Agenda();
  ASSERT_DOUBLE_EQ(IndicatorTarget(before, "indicator/multi-threaded"), 0.6);
  ASSERT_EQ(Agenda().SerializeAsString(), before.SerializeAsString());  // now cached

  // The admin lowers the multi-threading target.
  const std::string old_block = "when: opp.contacts.size() >= 3\n    target: 0.6";
  const size_t at = playbook_text_.find(old_block);
  ASSERT_NE(at, std::string::npos);
  std::string edited = playbook_text_;
  edited.replace(at, old_block.size(), "when: opp.contacts.size() >= 3\n    target: 0.45");
  dir_.Write("customer-journey.yaml", edited);

  ASSERT_TRUE(WaitUntil([&] {
    return IndicatorTarget(Agenda(), "indicator/multi-threaded") == 0.45;
  })) << "the reloaded playbook never reached the agenda";
  // Nothing else about the deals changed: the same shares, now against the new target.
  const v1::GetCoachingAgendaResponse after = Agenda();
  EXPECT_EQ(after.rollup().open_amount(), before.rollup().open_amount());
  ASSERT_EQ(after.rep_indicators_size(), before.rep_indicators_size());
  for (int i = 0; i < after.rep_indicators_size(); ++i) {
    EXPECT_EQ(after.rep_indicators(i).share(), before.rep_indicators(i).share())
        << after.rep_indicators(i).indicator_id();
  }
}

TEST_F(ManagerLoopCacheTest, TheCacheStaysWithinItsEntryCap) {
  const size_t cap = sidecar_->aggregates().options().max_entries;
  // More distinct questions (one per minute of a day, two scopes each) than the cap.
  for (size_t i = 0; i < cap + 20; ++i) {
    const std::string as_of = absl::FormatTime(
        "%Y-%m-%dT%H:%M:00Z",
        absl::FromUnixSeconds(1'795'176'000) + absl::Minutes(static_cast<int64_t>(i)),
        absl::UTCTimeZone());
    ASSERT_GT(Agenda(as_of.c_str()).rollup().open_deals(), 0) << as_of;
    ASSERT_LE(sidecar_->aggregates().stats().entries, cap) << "after " << i + 1 << " agendas";
  }
  const pipeline::AggregateCache::Stats stats = sidecar_->aggregates().stats();
  EXPECT_EQ(stats.entries, cap);
  EXPECT_LE(stats.bytes, sidecar_->aggregates().options().max_bytes);
}

}  // namespace
}  // namespace dealcoach::testing
