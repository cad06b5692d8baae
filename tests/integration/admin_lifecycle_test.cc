// The admin's lifecycle end to end (docs/admin.md) on real sidecars over gRPC on
// loopback, with the file connector over the shipped samples as the live pipeline:
//   - SQLite (the embedded default): plan a draft that tightens a gate and check the
//     reported deals against an independent evaluation of both revisions here; publish
//     with the plan id while requests keep coming (each gets one revision or the other,
//     never an error); a stale plan is refused; two racing publishes: one wins; rollback;
//     diff; the audit trail lists every step with its author; the decision log answers
//     "what did the sidecar tell this deal, under which revision, and why"; the CLI.
//   - PostgreSQL: two sidecars on one database; a plan made on one and published on the
//     other is served by both, and the publish-to-served delay is printed.
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/compact.h"
#include "sidecar/store/test_support.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

constexpr char kDeal[] = "006000000000006AAA";

std::string PlaybookVersion(int version) {
  return absl::StrReplaceAll(ReadFileOrDie(ShippedPlaybook("customer-journey")),
                             {{"\n  version: 1\n", absl::StrCat("\n  version: ", version, "\n")}});
}

// The awareness gate tightened: three confirmed-pain contacts instead of two.
std::string Tightened(int version) {
  const std::string gate =
      "        when: opp.contacts.filter(c, has(c.confirmed_pain) && c.confirmed_pain).size() >= "
      "2\n"
      "        hint: Confirm the pain";
  std::string yaml = PlaybookVersion(version);
  EXPECT_NE(yaml.find(gate), std::string::npos);
  return absl::StrReplaceAll(yaml, {{gate, absl::StrReplaceAll(gate, {{">= 2", ">= 3"}})}});
}

// The samples as they are (no date rebasing), so this process can evaluate the very
// deals the sidecar caches.
std::string Config(const std::string& store_section) {
  return absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\n"
      "playbooks: {files: [customer-journey.yaml]}\n"
      "reload: {poll_interval: 100ms}\n"
      "connector: {type: file, file: {path: \"",
      SamplesFile(), "\"}}\n", store_section);
}

class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        playbooks_(v1::PlaybookService::NewStub(channel_)),
        coaching_(v1::CoachingService::NewStub(channel_)) {}

  template <typename Request, typename Response, typename Method>
  grpc::Status Call(Method method, const Request& request, Response* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return (playbooks_.get()->*method)(&ctx, request, response);
  }

  v1::PlanPlaybookChangeResponse Plan(const std::string& yaml, const std::string& author) {
    v1::PlanPlaybookChangeRequest req;
    req.set_yaml(yaml);
    req.set_author(author);
    req.set_message("tighten the awareness gate");
    v1::PlanPlaybookChangeResponse resp;
    grpc::Status st = Call(&v1::PlaybookService::Stub::PlanPlaybookChange, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  grpc::Status Publish(const std::string& plan_id, const std::string& author,
                       v1::PublishPlaybookResponse* resp) {
    v1::PublishPlaybookRequest req;
    req.set_plan_id(plan_id);
    req.set_author(author);
    req.set_message("publish the plan");
    return Call(&v1::PlaybookService::Stub::PublishPlaybook, req, resp);
  }

  // Waits (10 s at most) until the cache holds `count` deals (the first sync is
  // asynchronous).
  void WaitForCache(int64_t count) {
    auto admin = v1::AdminService::NewStub(channel_);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    int64_t cached = 0;
    while (absl::Now() < deadline) {
      grpc::ClientContext ctx;
      v1::GetStatusResponse resp;
      if (admin->GetStatus(&ctx, v1::GetStatusRequest(), &resp).ok()) {
        cached = resp.source().cached_count();
        if (cached >= count) return;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "the cache holds " << cached << " deals, not " << count;
  }

  v1::GetActivePlaybookResponse Active() {
    v1::GetActivePlaybookResponse resp;
    grpc::Status st =
        Call(&v1::PlaybookService::Stub::GetActivePlaybook, v1::GetActivePlaybookRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  // Waits (5 s at most) until the sidecar serves store revision `revision`.
  absl::Duration WaitForRevision(int64_t revision) {
    const absl::Time start = absl::Now();
    while (Active().store_revision() != revision && absl::Now() - start < absl::Seconds(5)) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    EXPECT_EQ(Active().store_revision(), revision);
    return absl::Now() - start;
  }

  grpc::Status Guidance(const std::string& id, v1::GetDealGuidanceResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(id);
    return coaching_->GetDealGuidance(&ctx, req, resp);
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PlaybookService::Stub> playbooks_;
  std::unique_ptr<v1::CoachingService::Stub> coaching_;
};

// What an independent evaluation of both revisions says, per deal.
struct Expected {
  std::map<std::string, std::pair<std::string, std::string>> phase;  // id -> (before, after)
  std::set<std::string> gain_behavior;
};

Expected Evaluate(const std::string& before_yaml, const std::string& after_yaml, absl::Time now) {
  engine::LoadResult before = engine::LoadPlaybook(before_yaml, "before.yaml");
  engine::LoadResult after = engine::LoadPlaybook(after_yaml, "after.yaml");
  EXPECT_TRUE(before.ok() && after.ok());
  engine::EvaluateOptions all;
  all.max_behaviors = pipeline::kAllBehaviors;
  Expected e;
  for (v1::Opportunity o : LoadSamples()) {
    engine::NormalizeOpportunity(&o);
    v1::DealGuidance b = before.playbook->Evaluate(o, now, all);
    v1::DealGuidance a = after.playbook->Evaluate(o, now, all);
    if (b.evidence_phase().id() != a.evidence_phase().id()) {
      e.phase[o.id()] = {b.evidence_phase().id(), a.evidence_phase().id()};
    }
    std::set<std::string> fired;
    for (const auto& x : b.next_best_behaviors()) fired.insert(x.rule().id());
    for (const auto& x : a.next_best_behaviors()) {
      if (!fired.count(x.rule().id())) {
        e.gain_behavior.insert(o.id());
        break;
      }
    }
  }
  return e;
}

// Runs `dealcoach ARGS` and returns (exit code, stdout).
std::pair<int, std::string> RunCli(const std::string& args) {
  const std::string cmd = absl::StrCat(DEALCOACH_BINARY, " ", args, " 2>&1");
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n = 0;
  while (p != nullptr && (n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = p == nullptr ? -1 : pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(AdminLifecycle, PlanPublishRaceRollbackAuditAndDecisionsOnSqlite) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.Write("customer-journey.yaml", PlaybookVersion(1));
  auto started = StartSidecar(
      Config("store:\n  backend: sqlite\n  data_dir: data\n  decisions: {flush_interval: 20ms}\n"),
      dir.path());
  ASSERT_TRUE(started.ok()) << started.status();
  std::unique_ptr<server::Sidecar> sidecar = *std::move(started);
  Client client(sidecar->address());
  ASSERT_EQ(client.Active().store_revision(), 1);
  client.WaitForCache(static_cast<int64_t>(LoadSamples().size()));

  // Plan, and check the plan against an independent evaluation of both revisions at the
  // plan's snapshot time.
  const std::string draft = Tightened(2);
  v1::PlanPlaybookChangeResponse plan = client.Plan(draft, "ada");
  ASSERT_TRUE(plan.valid());
  ASSERT_FALSE(plan.plan_id().empty());
  EXPECT_EQ(plan.published_revision(), 1);
  EXPECT_EQ(plan.totals().deals(), static_cast<int64_t>(LoadSamples().size()));
  Expected expected = Evaluate(PlaybookVersion(1), draft, ToAbslTime(plan.snapshot_time()));
  ASSERT_FALSE(expected.phase.empty());
  std::map<std::string, std::pair<std::string, std::string>> reported;
  std::set<std::string> gained;
  for (const v1::PlanDealChange& d : plan.deals()) {
    if (d.phase_move() != v1::PLAN_PHASE_MOVE_NONE) {
      reported[d.opportunity_id()] = {d.evidence_phase_before(), d.evidence_phase_after()};
      EXPECT_EQ(d.phase_move(), v1::PLAN_PHASE_MOVE_BACK) << d.opportunity_id();
    }
    if (d.behaviors_added_size() > 0) gained.insert(d.opportunity_id());
  }
  EXPECT_EQ(reported, expected.phase);
  EXPECT_EQ(gained, expected.gain_behavior);
  EXPECT_EQ(plan.totals().phase_back(), static_cast<int64_t>(expected.phase.size()));
  EXPECT_TRUE(
      absl::StartsWith(plan.summary(), absl::StrCat("plan: ", expected.phase.size(), " deal")))
      << plan.summary();
  std::printf("%s\n", plan.summary().c_str());

  // A second plan against revision 1, to be stale after the first publish.
  v1::PlanPlaybookChangeResponse stale = client.Plan(PlaybookVersion(3), "bob");
  ASSERT_FALSE(stale.plan_id().empty());

  // Publish with the plan id while requests keep coming: each answer comes from one
  // revision or the other, never an error.
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::set<int> versions;
  std::thread traffic([&] {
    Client c(sidecar->address());
    while (!stop.load()) {
      v1::GetDealGuidanceResponse g;
      grpc::Status st = c.Guidance(kDeal, &g);
      if (!st.ok()) {
        ++errors;
        continue;
      }
      versions.insert(g.guidance().playbook().version());
    }
  });
  absl::SleepFor(absl::Milliseconds(100));
  v1::PublishPlaybookResponse published;
  grpc::Status st = client.Publish(plan.plan_id(), "ada", &published);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(published.revision().revision(), plan.draft_revision());
  EXPECT_EQ(published.previous_revision(), 1);
  const absl::Duration served = client.WaitForRevision(published.revision().revision());
  std::printf("publish -> served: %.1f ms\n", absl::ToDoubleMilliseconds(served));
  absl::SleepFor(absl::Milliseconds(100));
  stop = true;
  traffic.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(versions, (std::set<int>{1, 2}));
  EXPECT_EQ(client.Active().playbook().version(), 2);

  // The stale plan is refused, saying why.
  v1::PublishPlaybookResponse ignored;
  st = client.Publish(stale.plan_id(), "bob", &ignored);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(
      absl::StrContains(st.error_message(), "the published revision changed since the plan"))
      << st.error_message();

  // Two racing publishes of two plans against the same revision: exactly one wins.
  v1::PlanPlaybookChangeResponse c4 = client.Plan(PlaybookVersion(4), "cy");
  v1::PlanPlaybookChangeResponse c5 = client.Plan(PlaybookVersion(5), "dee");
  grpc::Status s4;
  grpc::Status s5;
  v1::PublishPlaybookResponse r4;
  v1::PublishPlaybookResponse r5;
  {
    std::atomic<int> ready{0};
    std::thread t4([&] {
      Client c(sidecar->address());
      ++ready;
      while (ready.load() < 2) {
      }
      s4 = c.Publish(c4.plan_id(), "cy", &r4);
    });
    std::thread t5([&] {
      Client c(sidecar->address());
      ++ready;
      while (ready.load() < 2) {
      }
      s5 = c.Publish(c5.plan_id(), "dee", &r5);
    });
    t4.join();
    t5.join();
  }
  ASSERT_NE(s4.ok(), s5.ok()) << s4.error_message() << " / " << s5.error_message();
  const grpc::Status& loser = s4.ok() ? s5 : s4;
  EXPECT_TRUE(loser.error_code() == grpc::StatusCode::ABORTED ||
              loser.error_code() == grpc::StatusCode::FAILED_PRECONDITION)
      << loser.error_message();
  std::printf("race loser: %s: %s\n",
              loser.error_code() == grpc::StatusCode::ABORTED ? "ABORTED" : "FAILED_PRECONDITION",
              loser.error_message().c_str());
  const int64_t winner = s4.ok() ? r4.revision().revision() : r5.revision().revision();
  client.WaitForRevision(winner);

  // Rollback to revision 1: its content, as a new revision.
  v1::RollbackPlaybookRequest rb;
  rb.set_to_revision(1);
  rb.set_author("eve");
  rb.set_message("too strict");
  v1::RollbackPlaybookResponse rolled;
  st = client.Call(&v1::PlaybookService::Stub::RollbackPlaybook, rb, &rolled);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_GT(rolled.revision().revision(), winner);
  client.WaitForRevision(rolled.revision().revision());
  EXPECT_EQ(client.Active().playbook().version(), 1);
  rb.set_to_revision(999);
  st = client.Call(&v1::PlaybookService::Stub::RollbackPlaybook, rb, &rolled);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);

  // Diff: the published draft against revision 1.
  v1::GetPlaybookRevisionRequest get;
  get.set_revision(published.revision().revision());
  get.set_diff_against(1);
  v1::GetPlaybookRevisionResponse rev;
  st = client.Call(&v1::PlaybookService::Stub::GetPlaybookRevision, get, &rev);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(rev.yaml(), draft);
  EXPECT_TRUE(absl::StrContains(rev.diff(),
                                "+        when: opp.contacts.filter(c, has(c.confirmed_pain) && "
                                "c.confirmed_pain).size() >= 3"))
      << rev.diff();

  // The audit trail: every step, with its author.
  v1::ListAuditEventsRequest areq;
  areq.set_playbook("customer-journey");
  v1::ListAuditEventsResponse audit;
  st = client.Call(&v1::PlaybookService::Stub::ListAuditEvents, areq, &audit);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<std::string> steps;
  for (const v1::AuditEvent& e : audit.events()) {
    steps.push_back(absl::StrCat(e.action(), " by ", e.actor()));
  }
  const std::string winner_author = s4.ok() ? "cy" : "dee";
  std::vector<std::string> want = {"rollback by eve", absl::StrCat("publish by ", winner_author),
                                   "plan by dee",     "plan by cy",
                                   "publish by ada",  "plan by bob",
                                   "plan by ada",     "publish by file:customer-journey.yaml"};
  EXPECT_EQ(steps, want);

  // The decision log: what this deal's rep was told, under which revision, and why.
  absl::SleepFor(absl::Milliseconds(200));  // the logger flushes every 20 ms
  v1::ListDecisionsRequest dreq;
  dreq.set_opportunity_id(kDeal);
  dreq.set_limit(1000);
  v1::ListDecisionsResponse decisions;
  st = client.Call(&v1::PlaybookService::Stub::ListDecisions, dreq, &decisions);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_GT(decisions.decisions_size(), 0);
  std::set<int64_t> revisions;
  for (const v1::DecisionLogEntry& d : decisions.decisions()) {
    EXPECT_EQ(d.opportunity_id(), kDeal);
    EXPECT_FALSE(d.fired_rule_ids().empty());
    revisions.insert(d.revision());
  }
  EXPECT_TRUE(revisions.count(1));
  EXPECT_TRUE(revisions.count(published.revision().revision()));

  // The CLI over the same server.
  dir.Write("draft.yaml", Tightened(6));
  auto [rc, out] = RunCli(absl::StrCat("plan ", dir.path(), "/draft.yaml --server ",
                                       sidecar->address(), " --author cli --max-deals 3"));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(absl::StrContains(out, "saved as plan plan:customer-journey:")) << out;
  EXPECT_TRUE(absl::StrContains(out, "\nplan: ")) << out;
  std::printf("dealcoach plan:\n%s\n", out.c_str());
  auto [drc, dout] =
      RunCli(absl::StrCat("decisions --deal ", kDeal, " --limit 2 --server ", sidecar->address()));
  EXPECT_EQ(drc, 0) << dout;
  EXPECT_TRUE(absl::StrContains(dout, "customer-journey@")) << dout;
  auto [rrc, rout] = RunCli(absl::StrCat("revisions --server ", sidecar->address()));
  EXPECT_EQ(rrc, 0) << rout;
  EXPECT_TRUE(absl::StrContains(rout, "published")) << rout;
  auto [brc, bout] =
      RunCli(absl::StrCat("rollback 999 --author cli --message x --server ", sidecar->address()));
  EXPECT_EQ(brc, 1) << bout;
  EXPECT_TRUE(absl::StrContains(bout, "NOT_FOUND")) << bout;
}

TEST(AdminLifecycle, TwoSidecarsOnOnePostgresServeWhatEitherPublishes) {
  auto db = store::testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.Write("customer-journey.yaml", PlaybookVersion(1));
  const std::string config = Config(absl::StrCat(
      "store:\n  backend: postgres\n  postgres: {conninfo: \"", (*db)->app_conninfo(), "\"}\n"));
  auto a = StartSidecar(config, dir.path());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = StartSidecar(config, dir.path());
  ASSERT_TRUE(b.ok()) << b.status();
  Client ca((*a)->address());
  Client cb((*b)->address());
  ASSERT_EQ(ca.Active().store_revision(), cb.Active().store_revision());
  ca.WaitForCache(static_cast<int64_t>(LoadSamples().size()));
  cb.WaitForCache(static_cast<int64_t>(LoadSamples().size()));

  std::vector<double> delays_ms;
  for (int round = 0; round < 6; ++round) {
    Client& planner = round % 2 == 0 ? ca : cb;
    Client& publisher = round % 2 == 0 ? cb : ca;
    v1::PlanPlaybookChangeResponse plan =
        planner.Plan(round % 2 == 0 ? Tightened(10 + round) : PlaybookVersion(10 + round), "ops");
    ASSERT_FALSE(plan.plan_id().empty());
    v1::PublishPlaybookResponse done;
    const absl::Time start = absl::Now();
    grpc::Status st = publisher.Publish(plan.plan_id(), "ops", &done);
    ASSERT_TRUE(st.ok()) << st.error_message();
    for (Client* c : {&ca, &cb}) {
      c->WaitForRevision(done.revision().revision());
      delays_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - start));
      EXPECT_EQ(c->Active().playbook().version(), 10 + round);
    }
  }
  std::sort(delays_ms.begin(), delays_ms.end());
  std::printf(
      "publish -> served by both replicas (PostgreSQL, %zu samples): min %.1f ms, median "
      "%.1f ms, max %.1f ms\n",
      delays_ms.size(), delays_ms.front(), delays_ms[delays_ms.size() / 2], delays_ms.back());
  EXPECT_LT(delays_ms.back(), 1000.0);
}

}  // namespace
}  // namespace dealcoach::testing
