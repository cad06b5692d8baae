// The store in the running sidecar (docs/store.md, "Playbooks: files seed, the store
// serves"), over a real gRPC server on loopback with a real SQLite store in a temp
// directory: seeding, serving and hot-swapping published revisions (last good kept),
// the decision log written from GetDealGuidance / GetReviewChecklist, the store's health
// in AdminService.GetStatus, a corrupt database file at start, and the database locked by
// another connection while the sidecar serves.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "sidecar/engine/engine.h"
#include "sidecar/store/store.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

constexpr char kDeal[] = "006000000000006AAA";

std::string Config(const std::string& extra = "") {
  return absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\n"
      "playbooks: {files: [customer-journey.yaml]}\n"
      "reload: {poll_interval: 100ms}\n"
      "connector: {type: file, file: {path: \"",
      SamplesFile(),
      "\", rebase_dates_from: \"2026-11-20T12:00:00Z\"}}\n"
      "store:\n  backend: sqlite\n  data_dir: data\n"
      "  decisions: {flush_interval: 20ms}\n",
      extra);
}

// The shipped playbook with metadata.version replaced.
std::string PlaybookVersion(int version) {
  return absl::StrReplaceAll(ReadFileOrDie(ShippedPlaybook("customer-journey")),
                             {{"\n  version: 1\n", absl::StrCat("\n  version: ", version, "\n")}});
}

class StoreWiringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    dir_.Write("customer-journey.yaml", PlaybookVersion(1));
  }

  void Start() {
    auto s = StartSidecar(Config(), dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  }

  v1::GetActivePlaybookResponse Active() {
    auto stub = v1::PlaybookService::NewStub(channel_);
    grpc::ClientContext ctx;
    v1::GetActivePlaybookRequest req;
    v1::GetActivePlaybookResponse resp;
    grpc::Status st = stub->GetActivePlaybook(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  v1::GetStatusResponse Status() {
    auto stub = v1::AdminService::NewStub(channel_);
    grpc::ClientContext ctx;
    v1::GetStatusRequest req;
    v1::GetStatusResponse resp;
    grpc::Status st = stub->GetStatus(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  // Polls GetActivePlaybook until `done` holds (5 s at most); returns the last answer.
  template <typename Pred>
  v1::GetActivePlaybookResponse WaitFor(Pred done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    v1::GetActivePlaybookResponse resp = Active();
    while (!done(resp) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      resp = Active();
    }
    return resp;
  }

  // Records `yaml` as a new revision and publishes it over the current one.
  int64_t Publish(const std::string& yaml) {
    store::Store* st = sidecar_->store();
    auto published = st->GetPublished("default", "customer-journey");
    EXPECT_TRUE(published.ok()) << published.status();
    auto created = st->CreateRevision("default", "customer-journey", yaml, "test", "by the test");
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok() || !published.ok()) return 0;
    store::PublishRequest req;
    req.tenant = "default";
    req.name = "customer-journey";
    req.revision = created->revision;
    req.expected_current = published->revision;
    req.actor = "test";
    auto done = st->Publish(req);
    EXPECT_TRUE(done.ok()) << done.status();
    return created->revision;
  }

  TempDir dir_;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
};

// The shipped playbook under another metadata.name (a playbook no file declares).
std::string PlaybookNamed(const std::string& name, int version) {
  return absl::StrReplaceAll(PlaybookVersion(version), {{"\n  name: customer-journey\n",
                                                         absl::StrCat("\n  name: ", name, "\n")}});
}

// Records `yaml` as the next revision of `name` and publishes it over `expected`.
int64_t PublishNamed(store::Store* st, const std::string& name, const std::string& yaml,
                     int64_t expected) {
  auto created = st->CreateRevision("default", name, yaml, "test", "a store-only playbook");
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return 0;
  store::PublishRequest req;
  req.tenant = "default";
  req.name = name;
  req.revision = created->revision;
  req.expected_current = expected;
  req.actor = "test";
  auto done = st->Publish(req);
  EXPECT_TRUE(done.ok()) << done.status();
  return created->revision;
}

TEST_F(StoreWiringTest, ANameNoFileDeclaresIsServedFromTheStoreWithLastGood) {
  Start();
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  auto active_named = [this](const std::string& name, v1::GetActivePlaybookResponse* resp) {
    auto stub = v1::PlaybookService::NewStub(channel_);
    grpc::ClientContext ctx;
    v1::GetActivePlaybookRequest req;
    req.set_name(name);
    return stub->GetActivePlaybook(&ctx, req, resp);
  };
  auto wait_named = [&](const std::string& name, int64_t revision) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    v1::GetActivePlaybookResponse resp;
    while (absl::Now() < deadline) {
      resp.Clear();
      if (active_named(name, &resp).ok() && resp.store_revision() == revision) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return resp;
  };
  auto status_of = [this](const std::string& file) {
    const v1::GetStatusResponse status = Status();
    for (const v1::PlaybookStatus& p : status.playbooks()) {
      if (p.file() == file) return p;
    }
    return v1::PlaybookStatus();
  };

  // Unknown before the publish.
  v1::GetActivePlaybookResponse resp;
  EXPECT_EQ(active_named("forecast-journey", &resp).error_code(), grpc::NOT_FOUND);
  ASSERT_EQ(
      PublishNamed(sidecar_->store(), "forecast-journey", PlaybookNamed("forecast-journey", 3), 0),
      1);
  resp = wait_named("forecast-journey", 1);
  EXPECT_EQ(resp.store_revision(), 1);
  EXPECT_EQ(resp.source(), "store");
  EXPECT_EQ(resp.playbook().name(), "forecast-journey");
  EXPECT_EQ(resp.playbook().version(), 3);
  // The file's playbook is still the default, and answers name the new one on request.
  EXPECT_EQ(Active().playbook().name(), "customer-journey");
  {
    auto coaching = v1::CoachingService::NewStub(channel_);
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(kDeal);
    req.set_playbook("forecast-journey");
    v1::GetDealGuidanceResponse g;
    grpc::Status st = coaching->GetDealGuidance(&ctx, req, &g);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(g.guidance().playbook().name(), "forecast-journey");
    EXPECT_EQ(g.guidance().playbook().version(), 3);
  }
  v1::PlaybookStatus entry = status_of("store:forecast-journey");
  EXPECT_EQ(entry.source(), "store");
  EXPECT_EQ(entry.store_revision(), 1);
  EXPECT_TRUE(entry.last_reload_ok());
  EXPECT_FALSE(entry.is_default());

  // A restart serves it from the start (no notification needed).
  sidecar_.reset();
  Start();
  resp.Clear();
  ASSERT_TRUE(active_named("forecast-journey", &resp).ok());
  EXPECT_EQ(resp.store_revision(), 1);

  // A broken revision of it is rejected; the last good keeps serving.
  ASSERT_EQ(
      PublishNamed(sidecar_->store(), "forecast-journey", "apiVersion: dealcoach/v1\nkind: [\n", 1),
      2);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (status_of("store:forecast-journey").last_reload_ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  entry = status_of("store:forecast-journey");
  EXPECT_FALSE(entry.last_reload_ok());
  ASSERT_GT(entry.last_reload_diagnostics_size(), 0);
  EXPECT_EQ(entry.last_reload_diagnostics(0).file(), "store:forecast-journey@2");
  EXPECT_EQ(entry.store_revision(), 1);
  resp.Clear();
  ASSERT_TRUE(active_named("forecast-journey", &resp).ok());
  EXPECT_EQ(resp.store_revision(), 1);
  EXPECT_EQ(resp.playbook().version(), 3);

  // A new name whose only revision is broken is known but not valid (not "unknown").
  ASSERT_EQ(PublishNamed(sidecar_->store(), "never-valid", "metadata: {name: never-valid\n", 0), 1);
  const absl::Time deadline2 = absl::Now() + absl::Seconds(5);
  while (status_of("store:never-valid").file().empty() && absl::Now() < deadline2) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  entry = status_of("store:never-valid");
  EXPECT_EQ(entry.file(), "store:never-valid");
  EXPECT_FALSE(entry.last_reload_ok());
  EXPECT_FALSE(entry.has_serving());
  resp.Clear();
  ASSERT_TRUE(active_named("never-valid", &resp).ok());
  EXPECT_FALSE(resp.has_playbook());
  EXPECT_EQ(resp.source_path(), "store:never-valid");
  EXPECT_GT(resp.last_reload_diagnostics_size(), 0);
  auto coaching = v1::CoachingService::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(kDeal);
  req.set_playbook("never-valid");
  v1::GetDealGuidanceResponse g;
  grpc::Status st = coaching->GetDealGuidance(&ctx, req, &g);
  EXPECT_EQ(st.error_code(), grpc::FAILED_PRECONDITION) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "never-valid")) << st.error_message();
}

// playbooks.default may name a playbook only the store publishes (as its name or as its
// entry's path, "store:<name>"); one that neither a file nor the store has refuses the
// start, naming it.
TEST_F(StoreWiringTest, TheDefaultPlaybookCanBeOnePublishedOnlyInTheStore) {
  {
    store::StoreOptions o;
    o.data_dir = dir_.path() + "/data";
    auto st = store::Open(o);
    ASSERT_TRUE(st.ok()) << st.status();
    ASSERT_EQ(PublishNamed(st->get(), "forecast-journey", PlaybookNamed("forecast-journey", 3), 0),
              1);
  }
  auto with_default = [](const std::string& name) {
    return absl::StrReplaceAll(Config(),
                               {{"playbooks: {files: [customer-journey.yaml]}",
                                 absl::StrCat("playbooks: {files: [customer-journey.yaml], "
                                              "default: \"",
                                              name, "\"}")}});
  };
  for (const char* name : {"forecast-journey", "store:forecast-journey"}) {
    SCOPED_TRACE(name);
    auto s = StartSidecar(with_default(name), dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
    v1::GetActivePlaybookResponse active = Active();  // No name: the default.
    EXPECT_EQ(active.playbook().name(), "forecast-journey");
    EXPECT_EQ(active.source(), "store");
    EXPECT_EQ(active.store_revision(), 1);
    auto coaching = v1::CoachingService::NewStub(channel_);
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(kDeal);
    v1::GetDealGuidanceResponse g;
    grpc::Status st = coaching->GetDealGuidance(&ctx, req, &g);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_EQ(g.guidance().playbook().name(), "forecast-journey");
    bool store_entry_is_default = false;
    const v1::GetStatusResponse status = Status();
    for (const v1::PlaybookStatus& p : status.playbooks()) {
      if (p.file() == "store:forecast-journey") store_entry_is_default = p.is_default();
    }
    EXPECT_TRUE(store_entry_is_default);
    sidecar_.reset();
  }
  auto refused = StartSidecar(with_default("nowhere-journey"), dir_.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(absl::StrContains(refused.status().message(),
                                "'nowhere-journey': no configured file declares it and the store "
                                "has no published revision of it"))
      << refused.status();
}

TEST_F(StoreWiringTest, TheFileSeedsRevisionOneAndARestartRecordsNothingNew) {
  Start();
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  v1::GetActivePlaybookResponse active = Active();
  EXPECT_EQ(active.source(), "store");
  EXPECT_EQ(active.store_revision(), 1);
  EXPECT_EQ(active.playbook().name(), "customer-journey");
  auto revisions = sidecar_->store()->ListRevisions("default", "customer-journey");
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  ASSERT_EQ(revisions->size(), 1u);
  EXPECT_EQ((*revisions)[0].author, "file:customer-journey.yaml");
  EXPECT_EQ((*revisions)[0].state, store::RevisionState::kPublished);
  auto audit = sidecar_->store()->ListAudit("default", "customer-journey", 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 1u);
  EXPECT_EQ((*audit)[0].action, "publish");
  EXPECT_EQ((*audit)[0].actor, "file:customer-journey.yaml");

  sidecar_.reset();
  Start();
  EXPECT_EQ(Active().store_revision(), 1);
  revisions = sidecar_->store()->ListRevisions("default", "customer-journey");
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  EXPECT_EQ(revisions->size(), 1u);
}

TEST_F(StoreWiringTest, APublishedRevisionIsHotSwappedAndABrokenOneKeepsTheLastGood) {
  Start();
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  int64_t two = Publish(PlaybookVersion(2));
  v1::GetActivePlaybookResponse active =
      WaitFor([&](const auto& r) { return r.store_revision() == two; });
  EXPECT_EQ(active.store_revision(), two);
  EXPECT_EQ(active.playbook().version(), 2);
  EXPECT_EQ(active.source(), "store");

  // Does not compile in this binary: rejected, revision 2 keeps serving.
  int64_t broken = Publish("apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: [\n");
  active = WaitFor([](const auto& r) { return r.last_reload_diagnostics_size() > 0; });
  ASSERT_GT(active.last_reload_diagnostics_size(), 0);
  EXPECT_EQ(active.last_reload_diagnostics(0).file(),
            absl::StrCat("store:customer-journey@", broken));
  EXPECT_EQ(active.store_revision(), two);
  EXPECT_EQ(active.playbook().version(), 2);

  // Another playbook's name under this one's: rejected too.
  int64_t renamed = Publish(
      absl::StrReplaceAll(PlaybookVersion(4), {{"name: customer-journey", "name: someone-else"}}));
  active = WaitFor([&](const auto& r) {
    return r.last_reload_diagnostics_size() > 0 &&
           r.last_reload_diagnostics(0).file() == absl::StrCat("store:customer-journey@", renamed);
  });
  ASSERT_GT(active.last_reload_diagnostics_size(), 0);
  EXPECT_TRUE(absl::StrContains(active.last_reload_diagnostics(0).message(), "someone-else"))
      << active.last_reload_diagnostics(0).message();
  EXPECT_EQ(active.store_revision(), two);

  int64_t five = Publish(PlaybookVersion(5));
  active = WaitFor([&](const auto& r) { return r.store_revision() == five; });
  EXPECT_EQ(active.playbook().version(), 5);
  EXPECT_EQ(active.last_reload_diagnostics_size(), 0);
}

TEST_F(StoreWiringTest, AChangedFileIsPublishedAsTheNextRevision) {
  Start();
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  dir_.Write("customer-journey.yaml", PlaybookVersion(7));
  v1::GetActivePlaybookResponse active =
      WaitFor([](const auto& r) { return r.playbook().version() == 7; });
  EXPECT_EQ(active.playbook().version(), 7);
  EXPECT_EQ(active.source(), "store");
  EXPECT_EQ(active.store_revision(), 2);
  auto published = sidecar_->store()->GetPublished("default", "customer-journey");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 2);
  EXPECT_EQ(published->author, "file:customer-journey.yaml");
  EXPECT_EQ(published->yaml, PlaybookVersion(7));
}

TEST_F(StoreWiringTest, AnswersAreLoggedAsDecisionsAndCountedInGetStatus) {
  Start();
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  auto coaching = v1::CoachingService::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(kDeal);
    v1::GetDealGuidanceResponse resp;
    grpc::Status st = coaching->GetDealGuidance(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  {
    grpc::ClientContext ctx;
    v1::GetReviewChecklistRequest req;
    req.set_opportunity_id(kDeal);
    v1::GetReviewChecklistResponse resp;
    grpc::Status st = coaching->GetReviewChecklist(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  std::vector<store::Decision> decisions;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (decisions.size() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    auto listed = sidecar_->store()->ListDecisions("default", kDeal, 10);
    ASSERT_TRUE(listed.ok()) << listed.status();
    decisions = *std::move(listed);
  }
  ASSERT_EQ(decisions.size(), 2u);
  for (const store::Decision& d : decisions) {
    EXPECT_EQ(d.deal_id, kDeal);
    EXPECT_EQ(d.playbook, "customer-journey");
    EXPECT_EQ(d.revision, 1);
    EXPECT_EQ(d.decision_id.size(), 32u);
    EXPECT_TRUE(absl::StartsWith(d.input_hash, "sha256:")) << d.input_hash;
    EXPECT_GT(d.latency, absl::ZeroDuration());
    EXPECT_FALSE(d.fired_rule_ids.empty());
  }
  EXPECT_NE(decisions[0].decision_id, decisions[1].decision_id);
  // One deal, the same data: the same input hash.
  EXPECT_EQ(decisions[0].input_hash, decisions[1].input_hash);

  v1::GetStatusResponse status = Status();
  const v1::StoreStatus& st = status.store();
  EXPECT_TRUE(st.enabled());
  EXPECT_TRUE(st.healthy()) << st.error();
  EXPECT_EQ(st.backend(), "sqlite");
  EXPECT_EQ(st.location(), absl::StrCat(dir_.path(), "/data/dealcoach.db"));
  EXPECT_GT(st.schema_version(), 0);
  EXPECT_EQ(st.schema_version(), st.latest_schema_version());
  EXPECT_EQ(st.decisions_written(), 2);
  EXPECT_EQ(st.decisions_dropped(), 0);
  EXPECT_EQ(st.decision_write_errors(), 0);
  ASSERT_EQ(status.playbooks_size(), 1);
  EXPECT_EQ(status.playbooks(0).source(), "store");
  EXPECT_EQ(status.playbooks(0).store_revision(), 1);
}

// Another connection (an operator's sqlite3 shell, a second process) holds the write
// lock on the sidecar's database file: answers keep coming, the decision log drops and
// counts instead of waiting, a publish fails UNAVAILABLE naming the lock and records
// nothing, and once the lock is released publishes and decisions are written again
// without a restart.
TEST_F(StoreWiringTest, ADatabaseLockedByAnotherConnectionKeepsAnswersFlowingAndFailsPublishes) {
  auto s = StartSidecar(
      absl::StrReplaceAll(Config(), {{"  decisions: {flush_interval: 20ms}\n",
                                      "  busy_timeout: 300ms\n"
                                      "  decisions: {flush_interval: 20ms, queue_size: 4, "
                                      "batch_size: 2}\n"}}),
      dir_.path());
  ASSERT_TRUE(s.ok()) << s.status();
  sidecar_ = *std::move(s);
  channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  ASSERT_EQ(Active().store_revision(), 1);
  auto coaching = v1::CoachingService::NewStub(channel_);
  auto playbooks = v1::PlaybookService::NewStub(channel_);
  auto guidance = [&] {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(kDeal);
    v1::GetDealGuidanceResponse resp;
    return coaching->GetDealGuidance(&ctx, req, &resp);
  };
  auto publish = [&](v1::PublishPlaybookResponse* resp) {
    grpc::ClientContext ctx;
    v1::PublishPlaybookRequest req;
    req.set_yaml(PlaybookVersion(2));
    req.set_expected_revision(1);
    req.set_author("ann");
    req.set_message("while the database is locked");
    return playbooks->PublishPlaybook(&ctx, req, resp);
  };
  ASSERT_TRUE(guidance().ok());

  const std::string file = absl::StrCat(dir_.path(), "/data/dealcoach.db");
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &other), SQLITE_OK);
  // The sidecar's decision-log writer may hold a short write transaction right now: wait
  // for it rather than fail to take the lock.
  sqlite3_busy_timeout(other, 10000);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);

  for (int i = 0; i < 100; ++i) {
    grpc::Status st = guidance();
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message();
  }
  v1::PublishPlaybookResponse published;
  grpc::Status st = publish(&published);
  EXPECT_EQ(st.error_code(), grpc::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "database is locked")) << st.error_message();
  // Nothing was recorded: one revision, revision 1 serving.
  auto revisions = sidecar_->store()->ListRevisions("default", "customer-journey");
  ASSERT_TRUE(revisions.ok()) << revisions.status();
  EXPECT_EQ(revisions->size(), 1u);
  EXPECT_EQ(Active().store_revision(), 1);
  // The decision log dropped what did not fit and counts the batches it could not write.
  v1::GetStatusResponse status = Status();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (status.store().decision_write_errors() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
    status = Status();
  }
  EXPECT_GT(status.store().decisions_dropped(), 0);
  EXPECT_GT(status.store().decision_write_errors(), 0);
  EXPECT_TRUE(absl::StrContains(status.store().decision_last_error(), "database is locked"))
      << status.store().decision_last_error();

  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);

  // By themselves: the same publish now succeeds and serves, and answers are logged.
  st = publish(&published);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(published.revision().revision(), 2);
  EXPECT_EQ(WaitFor([](const auto& r) { return r.store_revision() == 2; }).store_revision(), 2);
  const int64_t written = Status().store().decisions_written();
  ASSERT_TRUE(guidance().ok());
  const absl::Time deadline2 = absl::Now() + absl::Seconds(10);
  while (Status().store().decisions_written() == written && absl::Now() < deadline2) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GT(Status().store().decisions_written(), written);
  auto decisions = sidecar_->store()->ListDecisions("default", kDeal, 1);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  ASSERT_EQ(decisions->size(), 1u);
  EXPECT_EQ((*decisions)[0].revision, 2);
}

// Sends `request` (serialized bytes) to GetDealGuidance over a generic stub, so the test
// decides the exact bytes on the wire.
grpc::Status PushRawGuidance(const std::shared_ptr<grpc::Channel>& channel,
                             const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1);
  grpc::ByteBuffer out;
  grpc::Status status;
  bool done = false;
  std::mutex mu;
  std::condition_variable cv;
  stub.UnaryCall(&ctx, "/dealcoach.v1.CoachingService/GetDealGuidance", grpc::StubOptions(), &in,
                 &out, [&](grpc::Status st) {
                   std::lock_guard<std::mutex> lock(mu);
                   status = std::move(st);
                   done = true;
                   cv.notify_one();
                 });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  return status;
}

std::string Deterministic(const google::protobuf::Message& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return bytes;
}

// A pushed opportunity's input hash is sha256 of the opportunity's bytes as the caller
// sent them (docs/store.md, "What the input hash identifies"), with either handler:
//  - a canonically serialized opportunity: ContentHash of those bytes, from the callback
//    handlers (the bytes copied off the wire) and the sync ones (the parsed opportunity
//    re-serialized deterministically) alike; the same bytes at another as_of, the same
//    hash; not the hash of the normalized opportunity the engine evaluated;
//  - the callback handlers hash the bytes exactly as received, but for the order of the
//    `fields` map's entries: an opportunity sent in two parts (protobuf merges them) is
//    the concatenation of the parts; the map's entries in reverse key order hash as in
//    key order.
TEST_F(StoreWiringTest, APushedOpportunityIsHashedAsTheBytesItWasSentIn) {
  const std::vector<v1::Opportunity> samples = LoadSamples();
  ASSERT_GE(samples.size(), 2u);
  // As a CRM might push it: without the fields normalization derives.
  v1::Opportunity opp = samples[0];
  opp.clear_source_system();
  opp.clear_last_activity_at();
  const std::string opp_bytes = Deterministic(opp);
  v1::Opportunity normalized = opp;
  engine::NormalizeOpportunityAsOf(&normalized, absl::FromUnixSeconds(1795176000));
  ASSERT_NE(store::ContentHash(opp_bytes), store::InputHash(normalized));
  // Field 3 (opportunity) twice: the id alone, then the rest.
  v1::Opportunity head;
  head.set_id(opp.id());
  v1::Opportunity tail = opp;
  tail.clear_id();
  const std::string head_bytes = Deterministic(head), tail_bytes = Deterministic(tail);
  // The `fields` map's entries after the other fields, in key order and reversed.
  ASSERT_GE(opp.fields_size(), 2);
  v1::Opportunity no_fields = opp;
  no_fields.clear_fields();
  std::vector<std::string> entries;  // each as a whole field 24 (tag, length, entry)
  for (const auto& [key, value] : opp.fields()) {
    v1::Opportunity one;
    (*one.mutable_fields())[key] = value;
    entries.push_back(Deterministic(one));
  }
  std::sort(entries.begin(), entries.end());  // one key each: sorted by key
  const std::string sorted_map = absl::StrCat(Deterministic(no_fields), absl::StrJoin(entries, ""));
  std::reverse(entries.begin(), entries.end());
  const std::string reversed_map =
      absl::StrCat(Deterministic(no_fields), absl::StrJoin(entries, ""));
  for (const char* handlers : {"callback", "sync"}) {
    SCOPED_TRACE(handlers);
    TempDir dir;
    dir.Write("customer-journey.yaml", PlaybookVersion(1));
    auto s = StartSidecar(Config(absl::StrCat("grpc_handlers: ", handlers, "\n")), dir.path());
    ASSERT_TRUE(s.ok()) << s.status();
    std::shared_ptr<grpc::Channel> channel =
        grpc::CreateChannel((*s)->address(), grpc::InsecureChannelCredentials());
    ASSERT_NE((*s)->store(), nullptr) << (*s)->store_status();
    for (int64_t as_of : {1795176000, 1795262400}) {
      v1::GetDealGuidanceRequest req;
      *req.mutable_opportunity() = opp;
      req.mutable_as_of()->set_seconds(as_of);
      grpc::Status st = PushRawGuidance(channel, Deterministic(req));
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    {
      v1::GetDealGuidanceRequest other;
      *other.mutable_opportunity() = samples[1];
      grpc::Status st = PushRawGuidance(channel, Deterministic(other));
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    v1::GetDealGuidanceRequest rest;
    rest.mutable_as_of()->set_seconds(1795176000);
    std::string split_request;
    {
      google::protobuf::io::StringOutputStream out(&split_request);
      google::protobuf::io::CodedOutputStream coded(&out);
      auto part = [&coded](const std::string& bytes) {
        coded.WriteTag(26);  // field 3, length-delimited
        coded.WriteVarint32(static_cast<uint32_t>(bytes.size()));
        coded.WriteRaw(bytes.data(), static_cast<int>(bytes.size()));
      };
      part(head_bytes);
      const std::string rest_bytes = Deterministic(rest);
      coded.WriteRaw(rest_bytes.data(), static_cast<int>(rest_bytes.size()));
      part(tail_bytes);
    }
    grpc::Status st = PushRawGuidance(channel, split_request);
    ASSERT_TRUE(st.ok()) << st.error_message();
    for (const std::string* bytes : {&reversed_map, &sorted_map}) {
      std::string request;
      {
        google::protobuf::io::StringOutputStream out(&request);
        google::protobuf::io::CodedOutputStream coded(&out);
        coded.WriteTag(26);
        coded.WriteVarint32(static_cast<uint32_t>(bytes->size()));
        coded.WriteRaw(bytes->data(), static_cast<int>(bytes->size()));
      }
      st = PushRawGuidance(channel, request);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }

    std::vector<store::Decision> decisions;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (decisions.size() < 6 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(20));
      auto listed = (*s)->store()->ListDecisions("default", "", 10);
      ASSERT_TRUE(listed.ok()) << listed.status();
      decisions = *std::move(listed);
    }
    ASSERT_EQ(decisions.size(), 6u);
    // Newest first: the map in key order, reversed, the split push, the other deal, then
    // the two pushes of `opp`.
    EXPECT_EQ(decisions[5].input_hash, store::ContentHash(opp_bytes));
    EXPECT_EQ(decisions[4].input_hash, store::ContentHash(opp_bytes));
    EXPECT_EQ(decisions[3].input_hash, store::ContentHash(Deterministic(samples[1])));
    EXPECT_EQ(decisions[2].deal_id, opp.id());
    // The map's order does not change the hash.
    EXPECT_EQ(decisions[1].input_hash, decisions[0].input_hash);
    if (std::string(handlers) == "callback") {
      EXPECT_EQ(decisions[2].input_hash, store::ContentHash(absl::StrCat(head_bytes, tail_bytes)));
      EXPECT_EQ(decisions[0].input_hash, store::ContentHash(sorted_map));
    } else {
      EXPECT_EQ(decisions[2].input_hash, store::ContentHash(opp_bytes));
      EXPECT_EQ(decisions[0].input_hash, store::ContentHash(opp_bytes));
    }
  }
}

// store.decisions.masked_fields in the running sidecar: the deal id is stored only as
// its salted hash (equal deals stay groupable), the other fields as they are.
TEST_F(StoreWiringTest, MaskedDecisionFieldsAreStoredAsSaltedHashes) {
  auto s = StartSidecar(
      absl::StrReplaceAll(Config(), {{"  decisions: {flush_interval: 20ms}\n",
                                      "  decisions: {flush_interval: 20ms, masked_fields: "
                                      "[deal_id], mask_salt: s3cret}\n"}}),
      dir_.path());
  ASSERT_TRUE(s.ok()) << s.status();
  sidecar_ = *std::move(s);
  channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  ASSERT_NE(sidecar_->store(), nullptr) << sidecar_->store_status();
  auto coaching = v1::CoachingService::NewStub(channel_);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(kDeal);
    v1::GetDealGuidanceResponse resp;
    grpc::Status st = coaching->GetDealGuidance(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const std::string masked = store::DecisionLogger::Mask("s3cret", kDeal);
  std::vector<store::Decision> decisions;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (decisions.size() < 2 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
    auto listed = sidecar_->store()->ListDecisions("default", "", 10);
    ASSERT_TRUE(listed.ok()) << listed.status();
    decisions = *std::move(listed);
  }
  ASSERT_EQ(decisions.size(), 2u);
  for (const store::Decision& d : decisions) {
    EXPECT_EQ(d.deal_id, masked);
    EXPECT_TRUE(absl::StartsWith(d.deal_id, "masked:")) << d.deal_id;
    EXPECT_TRUE(absl::StartsWith(d.input_hash, "sha256:")) << d.input_hash;
    EXPECT_EQ(d.playbook, "customer-journey");
  }
  EXPECT_TRUE(sidecar_->store()->ListDecisions("default", kDeal, 10)->empty());
}

TEST_F(StoreWiringTest, ACorruptDatabaseFileStartsOnFilePlaybooksWithTheStoreUnhealthy) {
  ASSERT_EQ(system(absl::StrCat("mkdir -p '", dir_.path(), "/data'").c_str()), 0);
  const std::string db = dir_.Write("data/dealcoach.db", std::string(8192, 'x'));
  Start();
  EXPECT_EQ(sidecar_->store(), nullptr);
  EXPECT_TRUE(absl::StrContains(sidecar_->store_status().message(), db))
      << sidecar_->store_status();

  v1::GetActivePlaybookResponse active = Active();
  EXPECT_EQ(active.source(), "file");
  EXPECT_EQ(active.store_revision(), 0);
  EXPECT_EQ(active.playbook().name(), "customer-journey");

  v1::GetStatusResponse status = Status();
  EXPECT_TRUE(status.store().enabled());
  EXPECT_FALSE(status.store().healthy());
  EXPECT_EQ(status.store().backend(), "sqlite");
  EXPECT_EQ(status.store().location(), db);
  EXPECT_TRUE(absl::StrContains(status.store().error(), db)) << status.store().error();

  auto coaching = v1::CoachingService::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(kDeal);
  v1::GetDealGuidanceResponse resp;
  grpc::Status st = coaching->GetDealGuidance(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

// A data directory the sidecar cannot write: it starts on its file playbooks with the
// store unhealthy, naming the file.
TEST_F(StoreWiringTest, AReadOnlyDataDirectoryStartsOnFilePlaybooksWithTheStoreUnhealthy) {
  std::string ro = dir_.path() + "/ro";
  ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
  if (access(ro.c_str(), W_OK) == 0) ro = "/proc";  // root ignores the mode bits
  auto s = StartSidecar(
      absl::StrReplaceAll(Config(), {{"data_dir: data", absl::StrCat("data_dir: ", ro)}}),
      dir_.path());
  ASSERT_TRUE(s.ok()) << s.status();
  sidecar_ = *std::move(s);
  channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(sidecar_->store(), nullptr);
  const std::string db = ro + "/dealcoach.db";
  EXPECT_TRUE(absl::StrContains(sidecar_->store_status().message(), db))
      << sidecar_->store_status();
  EXPECT_EQ(Active().source(), "file");
  v1::GetStatusResponse status = Status();
  EXPECT_TRUE(status.store().enabled());
  EXPECT_FALSE(status.store().healthy());
  EXPECT_TRUE(absl::StrContains(status.store().error(), db)) << status.store().error();
  auto coaching = v1::CoachingService::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(kDeal);
  v1::GetDealGuidanceResponse resp;
  grpc::Status st = coaching->GetDealGuidance(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(StoreWiringTest, WithTheStoreOffGetStatusSaysSoAndFilesServe) {
  auto s = StartSidecar(absl::StrReplaceAll(Config(), {{"backend: sqlite", "backend: none"}}),
                        dir_.path());
  ASSERT_TRUE(s.ok()) << s.status();
  sidecar_ = *std::move(s);
  channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(sidecar_->store(), nullptr);
  EXPECT_TRUE(sidecar_->store_status().ok());
  EXPECT_EQ(Active().source(), "file");
  v1::GetStatusResponse status = Status();
  EXPECT_FALSE(status.store().enabled());
  EXPECT_FALSE(status.store().healthy());
  std::ifstream db(absl::StrCat(dir_.path(), "/data/dealcoach.db"));
  EXPECT_FALSE(db.good());
}

}  // namespace
}  // namespace dealcoach::testing
