// PlaybookAdmin on both store backends (SQLite in a temp dir, PostgreSQL on the shared
// test server): plan -> publish, stale plans refused with the reason, a lost race
// ABORTED, rollback, diff, audit. No connector here (plans cover no deals); the
// end-to-end test with a real server and the sample pipeline is
// tests/integration/admin_lifecycle_test.cc.
#include "sidecar/admin/lifecycle.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "sidecar/store/test_support.h"

namespace dealcoach::admin {
namespace {

std::string Shipped(int version = 1) {
  std::ifstream in(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/customer-journey.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  return absl::StrReplaceAll(ss.str(),
                             {{"\n  version: 1\n", absl::StrCat("\n  version: ", version, "\n")}});
}

class SqliteBackend {
 public:
  absl::Status Init() { return absl::OkStatus(); }
  store::StoreOptions Options() const { return store::testing::SqliteOptions(dir_.path()); }

 private:
  store::testing::TempDir dir_;
};

class PostgresBackend {
 public:
  absl::Status Init() {
    auto db = store::testing::PgTestDatabase::Create();
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    return absl::OkStatus();
  }
  store::StoreOptions Options() const {
    return store::testing::PostgresOptions(db_->app_conninfo());
  }

 private:
  std::unique_ptr<store::testing::PgTestDatabase> db_;
};

template <typename B>
class LifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(backend_.Init().ok());
    auto opened = store::Open(backend_.Options());
    ASSERT_TRUE(opened.ok()) << opened.status();
    store_ = std::move(*opened);
    // What the reloader would have done: seed revision 1 from the file and serve it.
    auto r1 = store_->CreateRevision("default", "customer-journey", Shipped(1),
                                     "file:customer-journey.yaml", "seeded");
    ASSERT_TRUE(r1.ok());
    store::PublishRequest req;
    req.tenant = "default";
    req.name = "customer-journey";
    req.revision = r1->revision;
    req.actor = "file:customer-journey.yaml";
    ASSERT_TRUE(store_->Publish(req).ok());
    runtime::PlaybookEntry entry;
    entry.path = "customer-journey.yaml";
    entry.playbook = engine::LoadPlaybook(Shipped(1), "customer-journey.yaml").playbook;
    entry.source = "store";
    entry.store_revision = r1->revision;
    std::vector<runtime::PlaybookEntry> entries;
    entries.push_back(std::move(entry));
    holder_.Set(std::make_shared<runtime::Snapshot>(std::move(entries), ""));
    options_.store = store_.get();
    options_.playbooks = &holder_;
    options_.now = [this] { return now_; };
    admin_ = std::make_unique<PlaybookAdmin>(options_);
  }

  v1::PlanPlaybookChangeResponse MustPlan(const std::string& yaml, const std::string& author) {
    v1::PlanPlaybookChangeRequest req;
    req.set_yaml(yaml);
    req.set_author(author);
    req.set_message("tighten");
    auto plan = admin_->Plan(req);
    EXPECT_TRUE(plan.ok()) << plan.status();
    return plan.ok() ? *plan : v1::PlanPlaybookChangeResponse();
  }
  absl::StatusOr<v1::PublishPlaybookResponse> PublishPlan(const std::string& plan_id,
                                                          PlaybookAdmin* admin = nullptr) {
    v1::PublishPlaybookRequest req;
    req.set_plan_id(plan_id);
    req.set_author("ada");
    req.set_message("ship it");
    return (admin != nullptr ? admin : admin_.get())->Publish(req);
  }

  B backend_;
  std::unique_ptr<store::Store> store_;
  runtime::SnapshotHolder holder_;
  AdminOptions options_;
  absl::Time now_ = absl::FromUnixSeconds(1795176000);
  std::unique_ptr<PlaybookAdmin> admin_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
class BackendName {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, SqliteBackend> ? "sqlite" : "postgres";
  }
};
TYPED_TEST_SUITE(LifecycleTest, Backends, BackendName);

TYPED_TEST(LifecycleTest, PlanThenPublishThePlannedDraft) {
  v1::PlanPlaybookChangeResponse plan = this->MustPlan(Shipped(2), "ada");
  ASSERT_TRUE(plan.valid());
  EXPECT_EQ(plan.published_revision(), 1);
  EXPECT_EQ(plan.draft_revision(), 2);
  EXPECT_TRUE(absl::StartsWith(plan.plan_id(), "plan:customer-journey:2:1:")) << plan.plan_id();
  // Planning the same draft again reuses its revision.
  EXPECT_EQ(this->MustPlan(Shipped(2), "ada").draft_revision(), 2);
  auto done = this->PublishPlan(plan.plan_id());
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->revision().revision(), 2);
  EXPECT_EQ(done->previous_revision(), 1);
  EXPECT_EQ(done->revision().state(), v1::REVISION_STATE_PUBLISHED);
  auto published = this->store_->GetPublished("default", "customer-journey");
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->yaml, Shipped(2));
}

TYPED_TEST(LifecycleTest, AnInvalidDraftIsOnlyItsDiagnostics) {
  v1::PlanPlaybookChangeRequest req;
  req.set_yaml(
      "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: x, version: 1}\n"
      "phases:\n  - id: a\n    name: A\n    exit_gate:\n      - id: c\n        text: t\n"
      "        when: opp.amount >\n");
  req.set_author("ada");
  auto plan = this->admin_->Plan(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(plan->valid());
  ASSERT_GT(plan->diagnostics_size(), 0);
  EXPECT_GT(plan->diagnostics(0).line(), 0);
  EXPECT_GT(plan->diagnostics(0).column(), 0);
  EXPECT_TRUE(plan->plan_id().empty());
  auto revisions = this->store_->ListRevisions("default", "x");
  ASSERT_TRUE(revisions.ok());
  EXPECT_TRUE(revisions->empty()) << "nothing is saved for a draft that does not compile";
  auto audit = this->store_->ListAudit("default", "", 1);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "plan");
  EXPECT_TRUE(absl::StrContains((*audit)[0].detail, "invalid draft")) << (*audit)[0].detail;
}

TYPED_TEST(LifecycleTest, APlanIsRefusedWhenThePublishedRevisionMoved) {
  v1::PlanPlaybookChangeResponse a = this->MustPlan(Shipped(2), "ada");
  v1::PlanPlaybookChangeResponse b = this->MustPlan(Shipped(3), "bob");
  ASSERT_TRUE(this->PublishPlan(a.plan_id()).ok());
  auto stale = this->PublishPlan(b.plan_id());
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(stale.status().message(),
                                "the published revision changed since the plan: the plan compared "
                                "against revision 1, revision 2 is published now"))
      << stale.status();
  // Publishing the same plan twice: the second lost to the first.
  EXPECT_EQ(this->PublishPlan(a.plan_id()).status().code(), absl::StatusCode::kAborted);
}

TYPED_TEST(LifecycleTest, APlanIsRefusedWhenItsSnapshotIsTooOld) {
  v1::PlanPlaybookChangeResponse plan = this->MustPlan(Shipped(2), "ada");
  this->now_ += absl::Minutes(16);
  auto old = this->PublishPlan(plan.plan_id());
  EXPECT_EQ(old.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(old.status().message(), "pipeline snapshot is 16m old"))
      << old.status();
}

TYPED_TEST(LifecycleTest, APlanIsRefusedWhenTheDraftSentIsNotThePlannedOne) {
  v1::PlanPlaybookChangeResponse plan = this->MustPlan(Shipped(2), "ada");
  v1::PublishPlaybookRequest req;
  req.set_plan_id(plan.plan_id());
  req.set_yaml(Shipped(5));
  req.set_author("ada");
  req.set_message("m");
  auto st = this->admin_->Publish(req);
  EXPECT_EQ(st.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(st.status().message(), "the draft changed since the plan"));
  // A forged hash in the id is caught against the stored draft.
  std::string forged = plan.plan_id();
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(this->PublishPlan(forged).status().code(), absl::StatusCode::kFailedPrecondition);
}

TYPED_TEST(LifecycleTest, ARacingPublishIsAborted) {
  v1::PlanPlaybookChangeResponse a = this->MustPlan(Shipped(2), "ada");
  v1::PlanPlaybookChangeResponse b = this->MustPlan(Shipped(3), "bob");
  // B passes its checks, then A publishes through another store handle before B's
  // Store::Publish: B loses the race.
  auto other = store::Open(this->backend_.Options());
  ASSERT_TRUE(other.ok());
  AdminOptions racing = this->options_;
  racing.store = other->get();
  PlaybookAdmin admin_a(racing);
  AdminOptions hooked = this->options_;
  bool fired = false;
  hooked.before_store_publish = [&] {
    if (fired) return;
    fired = true;
    auto won = this->PublishPlan(a.plan_id(), &admin_a);
    EXPECT_TRUE(won.ok()) << won.status();
  };
  PlaybookAdmin admin_b(hooked);
  auto lost = this->PublishPlan(b.plan_id(), &admin_b);
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kAborted) << lost.status();
  EXPECT_TRUE(absl::StrContains(lost.status().message(), "won the race: revision 2 is published"))
      << lost.status();
  auto published = this->store_->GetPublished("default", "customer-journey");
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->revision, 2);
}

TYPED_TEST(LifecycleTest, PublishWithoutAPlanNeedsTheExpectedRevision) {
  v1::PublishPlaybookRequest req;
  req.set_yaml(Shipped(4));
  req.set_expected_revision(7);
  req.set_author("ada");
  req.set_message("direct");
  EXPECT_EQ(this->admin_->Publish(req).status().code(), absl::StatusCode::kFailedPrecondition);
  req.set_expected_revision(1);
  auto done = this->admin_->Publish(req);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->revision().revision(), 2);
  req.clear_message();
  EXPECT_EQ(this->admin_->Publish(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(LifecycleTest, RollbackBringsOldContentForwardAndDiffShowsIt) {
  ASSERT_TRUE(this->PublishPlan(this->MustPlan(Shipped(2), "ada").plan_id()).ok());
  v1::RollbackPlaybookRequest rb;
  rb.set_to_revision(99);
  rb.set_author("ada");
  rb.set_message("back");
  EXPECT_EQ(this->admin_->Rollback(rb).status().code(), absl::StatusCode::kNotFound);
  rb.set_to_revision(1);
  rb.clear_author();
  EXPECT_EQ(this->admin_->Rollback(rb).status().code(), absl::StatusCode::kInvalidArgument);
  rb.set_author("ada");
  auto done = this->admin_->Rollback(rb);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->revision().revision(), 3);
  EXPECT_EQ(done->previous_revision(), 2);
  auto published = this->store_->GetPublished("default", "customer-journey");
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->yaml, Shipped(1));
  EXPECT_TRUE(absl::StrContains(published->message, "rollback to revision 1: back"));

  auto list = this->admin_->ListRevisions(v1::ListPlaybookRevisionsRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->revisions_size(), 3);
  EXPECT_EQ(list->revisions(0).revision(), 3);  // newest first
  EXPECT_EQ(list->published_revision(), 3);
  EXPECT_EQ(list->revisions(1).state(), v1::REVISION_STATE_ARCHIVED);

  v1::GetPlaybookRevisionRequest get;
  get.set_revision(2);
  get.set_diff_against(3);
  auto diff = this->admin_->GetRevision(get);
  ASSERT_TRUE(diff.ok()) << diff.status();
  EXPECT_EQ(diff->yaml(), Shipped(2));
  EXPECT_TRUE(absl::StrContains(diff->diff(), "--- customer-journey@3\n+++ customer-journey@2\n"))
      << diff->diff();
  EXPECT_TRUE(absl::StrContains(diff->diff(), "\n-  version: 1\n+  version: 2\n")) << diff->diff();
}

TYPED_TEST(LifecycleTest, TheAuditTrailListsEveryStepWithItsAuthor) {
  v1::ValidatePlaybookResponse validated;
  validated.set_valid(true);
  validated.mutable_playbook()->set_name("customer-journey");
  ASSERT_TRUE(this->admin_->AuditValidate("val", validated).ok());
  v1::PlanPlaybookChangeResponse plan = this->MustPlan(Shipped(2), "pat");
  ASSERT_TRUE(this->PublishPlan(plan.plan_id()).ok());
  v1::RollbackPlaybookRequest rb;
  rb.set_to_revision(1);
  rb.set_author("rob");
  rb.set_message("undo");
  ASSERT_TRUE(this->admin_->Rollback(rb).ok());
  v1::ListAuditEventsRequest req;
  req.set_playbook("customer-journey");
  auto audit = this->admin_->ListAudit(req);
  ASSERT_TRUE(audit.ok()) << audit.status();
  std::vector<std::string> steps;
  for (const v1::AuditEvent& e : audit->events()) {
    if (e.actor() == "file:customer-journey.yaml") continue;  // the seeding
    steps.push_back(absl::StrCat(e.action(), " by ", e.actor()));
  }
  EXPECT_EQ(steps, (std::vector<std::string>{"rollback by rob", "publish by ada", "plan by pat",
                                             "validate by val"}));
  const v1::AuditEvent& publish = audit->events(1);
  EXPECT_TRUE(absl::StrContains(publish.detail(), plan.plan_id())) << publish.detail();
  EXPECT_TRUE(absl::StrContains(publish.detail(), "plan: 0 deals change phase"))
      << publish.detail();
}

TYPED_TEST(LifecycleTest, DecisionsAreListedByDeal) {
  store::Decision d;
  d.tenant = "default";
  d.decision_id = "00000000000000010000000000000001";
  d.at = absl::FromUnixSeconds(1795176000);
  d.deal_id = "deal-1";
  d.playbook = "customer-journey";
  d.revision = 1;
  d.fired_rule_ids = {"awareness/multi-thread", "risk/stalled"};
  d.input_hash = "sha256:00";
  store::Decision other = d;
  other.decision_id = "00000000000000010000000000000002";
  other.deal_id = "deal-2";
  ASSERT_TRUE(this->store_->WriteDecisions({d, other}).ok());
  v1::ListDecisionsRequest req;
  req.set_opportunity_id("deal-1");
  auto list = this->admin_->ListDecisions(req);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->decisions_size(), 1);
  EXPECT_EQ(list->decisions(0).revision(), 1);
  EXPECT_EQ(list->decisions(0).fired_rule_ids_size(), 2);
  EXPECT_EQ(list->decisions(0).fired_rule_ids(1), "risk/stalled");
}

TEST(PlanId, RoundTripsAndRejectsGarbage) {
  PlanId id;
  id.playbook = "customer-journey";
  id.draft_revision = 12;
  id.published_revision = 11;
  id.snapshot_time = absl::FromUnixMicros(1795176000123456);
  id.hash16 = "0123456789abcdef";
  auto back = ParsePlanId(FormatPlanId(id));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->playbook, id.playbook);
  EXPECT_EQ(back->draft_revision, 12);
  EXPECT_EQ(back->published_revision, 11);
  EXPECT_EQ(back->snapshot_time, id.snapshot_time);
  EXPECT_EQ(ParsePlanId("plan:x:1:0:5:short").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePlanId("nonsense").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(NoStore, PlansWithoutAnIdAndRefusesPublish) {
  runtime::SnapshotHolder holder;
  AdminOptions options;
  options.playbooks = &holder;
  PlaybookAdmin admin(options);
  v1::PlanPlaybookChangeRequest req;
  req.set_yaml(Shipped(2));
  req.set_author("ada");
  auto plan = admin.Plan(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->valid());
  EXPECT_TRUE(plan->plan_id().empty());
  v1::PublishPlaybookRequest pub;
  pub.set_yaml(Shipped(2));
  pub.set_author("ada");
  pub.set_message("m");
  EXPECT_EQ(admin.Publish(pub).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dealcoach::admin
