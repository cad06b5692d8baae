// The Store contract, one typed suite run against both backends: SQLite in a temporary
// directory and PostgreSQL in a dedicated database on the shared test server, where the
// store connects as a non-owner role so row-level security is in force for every case.
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sidecar/store/test_support.h"

namespace dealcoach::store {
namespace {

using testing::PgTestDatabase;
using testing::TempDir;

class SqliteBackend {
 public:
  absl::Status Init() { return absl::OkStatus(); }
  StoreOptions Options() const { return testing::SqliteOptions(dir_.path()); }
  // Options for a database nothing has migrated yet.
  absl::StatusOr<StoreOptions> EmptyDatabase() {
    fresh_ = std::make_unique<TempDir>();
    return testing::SqliteOptions(fresh_->path());
  }
  // SQL run directly on the database, bypassing the store.
  absl::Status RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    std::string path = absl::StrCat(dir_.path(), "/dealcoach.db");
    int rc = sqlite3_open(path.c_str(), &db);
    char* err = nullptr;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = err != nullptr ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    return rc == SQLITE_OK ? absl::OkStatus() : absl::InternalError(msg);
  }
  std::string FailInsertTrigger() const {
    return "CREATE TRIGGER fail_changes BEFORE INSERT ON store_changes BEGIN SELECT "
           "RAISE(ABORT, 'injected failure'); END; CREATE TRIGGER fail_changes_u BEFORE UPDATE "
           "ON store_changes BEGIN SELECT RAISE(ABORT, 'injected failure'); END;";
  }
  static constexpr const char* kName = "sqlite";

 private:
  TempDir dir_;
  std::unique_ptr<TempDir> fresh_;
};

class PostgresBackend {
 public:
  absl::Status Init() {
    absl::StatusOr<std::unique_ptr<PgTestDatabase>> db = PgTestDatabase::Create();
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    return absl::OkStatus();
  }
  StoreOptions Options() const { return testing::PostgresOptions(db_->app_conninfo()); }
  absl::StatusOr<StoreOptions> EmptyDatabase() {
    // A second database, dropped and recreated without migrations.
    absl::StatusOr<std::unique_ptr<PgTestDatabase>> db = PgTestDatabase::Create();
    if (!db.ok()) return db.status();
    fresh_ = std::move(*db);
    absl::Status s = fresh_->AdminExec(
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public; GRANT ALL ON SCHEMA public TO public");
    if (!s.ok()) return s;
    return testing::PostgresOptions(fresh_->admin_conninfo());
  }
  absl::Status RawExec(const std::string& sql) { return db_->AdminExec(sql); }
  std::string FailInsertTrigger() const {
    return "CREATE FUNCTION fail_changes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
           "EXCEPTION 'injected failure'; END $$; CREATE TRIGGER fail_changes BEFORE INSERT OR "
           "UPDATE ON store_changes FOR EACH ROW EXECUTE FUNCTION fail_changes();";
  }
  static constexpr const char* kName = "postgres";

 private:
  std::unique_ptr<PgTestDatabase> db_;
  std::unique_ptr<PgTestDatabase> fresh_;
};

template <typename B>
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = backend_.Init();
    ASSERT_TRUE(s.ok()) << s;
    store_ = OpenStore();
    ASSERT_NE(store_, nullptr);
  }
  std::unique_ptr<Store> OpenStore() {
    absl::StatusOr<std::unique_ptr<Store>> s = Open(backend_.Options());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  Revision MustCreate(const std::string& tenant, const std::string& name, const std::string& yaml) {
    absl::StatusOr<Revision> r = store_->CreateRevision(tenant, name, yaml, "ann", "msg");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : Revision{};
  }
  absl::StatusOr<Revision> PublishRev(const std::string& tenant, const std::string& name,
                                      int64_t rev, int64_t expected, Store* store = nullptr) {
    PublishRequest req;
    req.tenant = tenant;
    req.name = name;
    req.revision = rev;
    req.expected_current = expected;
    req.actor = "ann";
    return (store != nullptr ? store : store_.get())->Publish(req);
  }

  B backend_;
  std::unique_ptr<Store> store_;
};

using Backends = ::testing::Types<SqliteBackend, PostgresBackend>;
class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};
TYPED_TEST_SUITE(StoreTest, Backends, BackendNames);

CompactResult Result(const std::string& deal, const std::string& phase, double amount) {
  CompactResult r;
  r.set_deal_id(deal);
  r.set_claimed_phase(phase);
  r.set_evidence_phase(phase);
  CriterionOutcome* c = r.add_criteria();
  c->set_id("budget");
  c->set_state(CRITERION_STATE_UNMET);
  r.add_fired_behaviors("confirm-budget");
  r.set_amount(amount);
  r.set_close_date_unix(1790000000);
  r.set_owner("rita");
  r.set_stage("Proposal");
  return r;
}

TYPED_TEST(StoreTest, MigrationsAreRecordedAndIdempotent) {
  absl::StatusOr<StoreStatus> st = this->store_->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->backend, TypeParam::kName);
  EXPECT_GE(st->latest_version, 2);
  EXPECT_EQ(st->schema_version, st->latest_version);
  ASSERT_FALSE(st->applied.empty());
  EXPECT_EQ(st->applied[0], "0001_playbooks");
  absl::StatusOr<int> again = this->store_->Migrate();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
}

TYPED_TEST(StoreTest, TwoInstancesMigratingAtOnceApplyEachMigrationOnce) {
  absl::StatusOr<StoreOptions> fresh = this->backend_.EmptyDatabase();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  fresh->migrate = false;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 2; ++i) {
    // Opening without migrating an empty database is refused: the schema is behind.
    absl::StatusOr<std::unique_ptr<Store>> s = Open(*fresh);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  }
  fresh->migrate = true;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<Store>> opened(2);
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<std::unique_ptr<Store>> s = Open(*fresh);
      if (!s.ok()) {
        ADD_FAILURE() << s.status();
        ++failures;
        return;
      }
      opened[i] = std::move(*s);
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  absl::StatusOr<StoreStatus> st = opened[0]->Status();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->schema_version, st->latest_version);
  EXPECT_EQ(static_cast<int>(st->applied.size()), st->latest_version);
}

TYPED_TEST(StoreTest, RevisionsAreNumberedAndPublishArchivesThePrevious) {
  Revision r1 = this->MustCreate("acme", "journey", "name: journey\n");
  Revision r2 = this->MustCreate("acme", "journey", "name: journey # v2\n");
  EXPECT_EQ(r1.revision, 1);
  EXPECT_EQ(r2.revision, 2);
  EXPECT_EQ(r1.state, RevisionState::kDraft);
  EXPECT_EQ(r1.content_hash, ContentHash("name: journey\n"));
  EXPECT_NE(r1.content_hash, r2.content_hash);

  EXPECT_EQ(this->store_->GetPublished("acme", "journey").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<Revision> p1 = this->PublishRev("acme", "journey", 1, 0);
  ASSERT_TRUE(p1.ok()) << p1.status();
  EXPECT_EQ(p1->state, RevisionState::kPublished);
  absl::StatusOr<Revision> p2 = this->PublishRev("acme", "journey", 2, 1);
  ASSERT_TRUE(p2.ok()) << p2.status();

  absl::StatusOr<Revision> published = this->store_->GetPublished("acme", "journey");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 2);
  EXPECT_EQ(published->yaml, "name: journey # v2\n");
  absl::StatusOr<std::vector<Revision>> all = this->store_->ListRevisions("acme", "journey");
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, RevisionState::kArchived);
  EXPECT_EQ((*all)[1].state, RevisionState::kPublished);
  EXPECT_EQ((*all)[0].author, "ann");

  // Rollback: publish revision 1 again, as a rollback.
  PublishRequest rb;
  rb.tenant = "acme";
  rb.name = "journey";
  rb.revision = 1;
  rb.expected_current = 2;
  rb.actor = "bob";
  rb.action = "rollback";
  ASSERT_TRUE(this->store_->Publish(rb).ok());
  absl::StatusOr<std::vector<AuditEvent>> audit = this->store_->ListAudit("acme", "journey", 10);
  ASSERT_TRUE(audit.ok()) << audit.status();
  ASSERT_EQ(audit->size(), 3u);
  EXPECT_EQ((*audit)[0].action, "rollback");
  EXPECT_EQ((*audit)[0].actor, "bob");
  EXPECT_EQ((*audit)[0].revision, 1);
  EXPECT_EQ((*audit)[2].action, "publish");
  EXPECT_EQ(this->store_->GetPublished("acme", "journey")->revision, 1);
}

TYPED_TEST(StoreTest, ListPublishedHasThePublishedRevisionOfEveryNameInNameOrder) {
  Store* s = this->store_.get();
  absl::StatusOr<std::vector<Revision>> none = s->ListPublished("acme");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
  // "zeta": two revisions, the second published; "Alpha" and "beta": one each; "draft-only"
  // never published. Byte order puts "Alpha" before "beta" on both backends.
  this->MustCreate("acme", "zeta", "z1");
  this->MustCreate("acme", "zeta", "z2");
  this->MustCreate("acme", "beta", "b1");
  this->MustCreate("acme", "Alpha", "a1");
  this->MustCreate("acme", "draft-only", "d1");
  ASSERT_TRUE(this->PublishRev("acme", "zeta", 1, 0).ok());
  ASSERT_TRUE(this->PublishRev("acme", "zeta", 2, 1).ok());
  ASSERT_TRUE(this->PublishRev("acme", "beta", 1, 0).ok());
  ASSERT_TRUE(this->PublishRev("acme", "Alpha", 1, 0).ok());
  absl::StatusOr<std::vector<Revision>> got = s->ListPublished("acme");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].name, "Alpha");
  EXPECT_EQ((*got)[1].name, "beta");
  EXPECT_EQ((*got)[2].name, "zeta");
  EXPECT_EQ((*got)[2].revision, 2);
  EXPECT_EQ((*got)[2].yaml, "z2");
  EXPECT_EQ((*got)[2].content_hash, ContentHash("z2"));
  for (const Revision& r : *got) {
    EXPECT_EQ(r.state, RevisionState::kPublished) << r.name;
    EXPECT_EQ(r.tenant, "acme");
  }
  EXPECT_EQ(s->ListPublished("").status().code(), absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(StoreTest, PublishWithAStaleExpectationIsAbortedWithTheCurrentRevision) {
  this->MustCreate("acme", "journey", "a");
  this->MustCreate("acme", "journey", "b");
  ASSERT_TRUE(this->PublishRev("acme", "journey", 1, 0).ok());
  absl::StatusOr<Revision> lost = this->PublishRev("acme", "journey", 2, 0);
  ASSERT_EQ(lost.status().code(), absl::StatusCode::kAborted) << lost.status();
  EXPECT_EQ(CurrentRevisionOf(lost.status()), 1);
  EXPECT_EQ(this->store_->GetPublished("acme", "journey")->revision, 1);
  EXPECT_EQ(this->PublishRev("acme", "journey", 9, 1).status().code(), absl::StatusCode::kNotFound);
}

TYPED_TEST(StoreTest, ConcurrentPublishersThroughTwoInstancesExactlyOneWins) {
  std::unique_ptr<Store> other = this->OpenStore();
  ASSERT_NE(other, nullptr);
  for (int round = 0; round < 5; ++round) {
    std::string name = absl::StrCat("race-", round);
    this->MustCreate("acme", name, "a");
    this->MustCreate("acme", name, "b");
    absl::Status results[2];
    std::thread t1([&] { results[0] = this->PublishRev("acme", name, 1, 0).status(); });
    std::thread t2(
        [&] { results[1] = this->PublishRev("acme", name, 2, 0, other.get()).status(); });
    t1.join();
    t2.join();
    int ok = results[0].ok() + results[1].ok();
    EXPECT_EQ(ok, 1) << results[0] << " / " << results[1];
    for (const absl::Status& s : results) {
      if (!s.ok()) {
        EXPECT_EQ(s.code(), absl::StatusCode::kAborted) << s;
        EXPECT_TRUE(CurrentRevisionOf(s).has_value()) << s;
      }
    }
    absl::StatusOr<std::vector<Revision>> revs = this->store_->ListRevisions("acme", name);
    ASSERT_TRUE(revs.ok());
    int published = 0;
    for (const Revision& r : *revs) published += r.state == RevisionState::kPublished;
    EXPECT_EQ(published, 1);
  }
}

TYPED_TEST(StoreTest, TheDatabaseRefusesASecondPublishedRevision) {
  this->MustCreate("acme", "journey", "a");
  this->MustCreate("acme", "journey", "b");
  ASSERT_TRUE(this->PublishRev("acme", "journey", 1, 0).ok());
  absl::Status s = this->backend_.RawExec(
      "UPDATE playbook_revisions SET state = 'published' WHERE tenant = 'acme' AND revision = 2");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(this->store_->GetPublished("acme", "journey")->revision, 1);
}

TYPED_TEST(StoreTest, AFailedPublishLeavesNothingHalfWritten) {
  this->MustCreate("acme", "journey", "a");
  this->MustCreate("acme", "journey", "b");
  ASSERT_TRUE(this->PublishRev("acme", "journey", 1, 0).ok());
  absl::StatusOr<int64_t> counter = this->store_->ChangeCounter("acme");
  ASSERT_TRUE(counter.ok());
  // The last step of the transaction (the change counter) fails: the archive of
  // revision 1, the publish of revision 2 and the audit event must all roll back.
  ASSERT_TRUE(this->backend_.RawExec(this->backend_.FailInsertTrigger()).ok());
  absl::StatusOr<Revision> failed = this->PublishRev("acme", "journey", 2, 1);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("injected failure"), std::string::npos)
      << failed.status();
  absl::StatusOr<std::vector<Revision>> revs = this->store_->ListRevisions("acme", "journey");
  ASSERT_TRUE(revs.ok());
  EXPECT_EQ((*revs)[0].state, RevisionState::kPublished);
  EXPECT_EQ((*revs)[1].state, RevisionState::kDraft);
  EXPECT_EQ(this->store_->ListAudit("acme", "", 10)->size(), 1u);
  EXPECT_EQ(*this->store_->ChangeCounter("acme"), *counter);
}

TYPED_TEST(StoreTest, AuditEventsAreAppendOnly) {
  AuditEvent e{"acme", "ann", "validate", "journey", 1, absl::Now(), "ok"};
  ASSERT_TRUE(this->store_->AppendAudit(e).ok());
  e.action = "plan";
  ASSERT_TRUE(this->store_->AppendAudit(e).ok());
  e.action = "delete";
  EXPECT_EQ(this->store_->AppendAudit(e).code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<AuditEvent>> audit = this->store_->ListAudit("acme", "journey", 10);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].action, "plan");
  EXPECT_EQ((*audit)[1].detail, "ok");
  EXPECT_FALSE(this->backend_.RawExec("UPDATE audit_events SET detail = 'x'").ok());
  EXPECT_FALSE(this->backend_.RawExec("DELETE FROM audit_events").ok());
  EXPECT_EQ(this->store_->ListAudit("acme", "", 10)->size(), 2u);
}

TYPED_TEST(StoreTest, SnapshotsAreWrittenInBatchesReadInDealOrderAndCompared) {
  std::vector<CompactResult> before, after;
  for (int i = 0; i < 50; ++i) before.push_back(Result(absl::StrCat("d", 100 + i), "discover", i));
  after = before;
  after.erase(after.begin() + 3);         // d103 removed
  after[10].set_evidence_phase("prove");  // d111 changed
  after[10].mutable_criteria(0)->set_state(CRITERION_STATE_MET);
  after[10].add_fired_risks("single-threaded");
  after.push_back(Result("d099", "discover", 5));  // added, sorts first
  ASSERT_TRUE(this->store_->WriteSnapshot("acme", "s1", before).ok());
  ASSERT_TRUE(this->store_->WriteSnapshot("acme", "s2", after).ok());
  EXPECT_EQ(this->store_->WriteSnapshot("acme", "s1", before).code(),
            absl::StatusCode::kAlreadyExists);

  absl::StatusOr<std::vector<SnapshotInfo>> list = this->store_->ListSnapshots("acme");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].snapshot_id, "s2");
  EXPECT_EQ((*list)[0].deals, 50);

  std::vector<std::string> ids;
  ASSERT_TRUE(
      this->store_
          ->ReadSnapshot("acme", "s2", [&](const CompactResult& r) { ids.push_back(r.deal_id()); })
          .ok());
  ASSERT_EQ(ids.size(), 50u);
  EXPECT_EQ(ids[0], "d099");
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));

  std::vector<DealDiff> diffs;
  absl::Status s = this->store_->CompareSnapshots("acme", "s1", "s2",
                                                  [&](const DealDiff& d) { diffs.push_back(d); });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_EQ(diffs.size(), 3u);
  EXPECT_EQ(diffs[0].deal_id, "d099");
  EXPECT_EQ(diffs[0].kind, DealDiff::Kind::kAdded);
  EXPECT_EQ(diffs[1].deal_id, "d103");
  EXPECT_EQ(diffs[1].kind, DealDiff::Kind::kRemoved);
  EXPECT_EQ(diffs[2].deal_id, "d111");
  EXPECT_EQ(diffs[2].kind, DealDiff::Kind::kChanged);
  EXPECT_EQ(diffs[2].before.evidence_phase(), "discover");
  EXPECT_EQ(diffs[2].after.evidence_phase(), "prove");
  std::vector<std::string> want = {"evidence_phase: discover -> prove",
                                   "criterion budget: UNMET -> MET", "+risk single-threaded"};
  EXPECT_EQ(diffs[2].changes, want);
  EXPECT_EQ(this->store_->CompareSnapshots("acme", "s1", "nope", [](const DealDiff&) {}).code(),
            absl::StatusCode::kNotFound);
}

// PostgreSQL writes snapshot rows with COPY's text format: every character it escapes
// (tab, newline, carriage return, backslash, and "\N", its NULL) must round-trip.
TYPED_TEST(StoreTest, SnapshotTextWithCopyMetacharactersRoundTrips) {
  std::vector<CompactResult> rows;
  rows.push_back(Result("d\t1", "dis\ncover", 1.5));
  rows.back().set_owner("a\\b\nc\rd\te");
  rows.back().set_stage("\\N");
  rows.push_back(Result("\\N", "", 0));
  rows.back().set_owner("");
  rows.back().set_stage("");
  ASSERT_TRUE(this->store_->WriteSnapshot("acme", "meta", rows).ok());
  std::vector<CompactResult> back;
  ASSERT_TRUE(
      this->store_->ReadSnapshot("acme", "meta", [&](const CompactResult& r) { back.push_back(r); })
          .ok());
  ASSERT_EQ(back.size(), 2u);
  // Deal id order (byte order): backslash (0x5c) sorts before "d" (0x64).
  EXPECT_EQ(back[0].deal_id(), "\\N");
  EXPECT_EQ(back[0].owner(), "");
  EXPECT_EQ(back[1].deal_id(), "d\t1");
  EXPECT_EQ(back[1].owner(), "a\\b\nc\rd\te");
  EXPECT_EQ(back[1].stage(), "\\N");
  EXPECT_EQ(back[1].claimed_phase(), "dis\ncover");
}

TYPED_TEST(StoreTest, SnapshotRetentionKeepsTheNewest) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(
        this->store_->WriteSnapshot("acme", absl::StrCat("s", i), {Result("d1", "discover", i)})
            .ok());
    absl::SleepFor(absl::Milliseconds(2));  // Distinct created_at.
  }
  StoreOptions options = this->backend_.Options();
  options.keep_snapshots = 2;
  absl::StatusOr<std::unique_ptr<Store>> keep2 = Open(options);
  ASSERT_TRUE(keep2.ok()) << keep2.status();
  absl::StatusOr<int> pruned = (*keep2)->PruneSnapshots("acme", absl::Now());
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 2);
  absl::StatusOr<std::vector<SnapshotInfo>> left = this->store_->ListSnapshots("acme");
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].snapshot_id, "s3");
  EXPECT_EQ((*left)[1].snapshot_id, "s2");
  // Age: a month later both are past the 30-day default.
  pruned = this->store_->PruneSnapshots("acme", absl::Now() + absl::Hours(24 * 31));
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 2);
  EXPECT_TRUE(this->store_->ListSnapshots("acme")->empty());
  EXPECT_EQ(this->store_->ReadSnapshot("acme", "s3", [](const CompactResult&) {}).code(),
            absl::StatusCode::kNotFound);
}

Decision MakeDecision(const std::string& tenant, const std::string& id, absl::Time at) {
  Decision d;
  d.tenant = tenant;
  d.decision_id = id;
  d.at = absl::FromUnixMicros(absl::ToUnixMicros(at));
  d.caller = "crm-widget";
  d.deal_id = "opp-1";
  d.playbook = "journey";
  d.revision = 3;
  d.fired_rule_ids = {"b1", "r2"};
  d.input_hash = "sha256:abc";
  d.latency = absl::Microseconds(850);
  return d;
}

TYPED_TEST(StoreTest, DecisionsAreWrittenListedAndPruned) {
  absl::Time now = absl::Now();
  std::vector<Decision> batch = {MakeDecision("acme", "x1", now - absl::Hours(48)),
                                 MakeDecision("acme", "x2", now),
                                 MakeDecision("globex", "x3", now)};
  ASSERT_TRUE(this->store_->WriteDecisions(batch).ok());
  absl::StatusOr<std::vector<Decision>> got = this->store_->ListDecisions("acme", "", 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].decision_id, "x2");
  EXPECT_EQ((*got)[0].at, batch[1].at);
  EXPECT_EQ((*got)[0].fired_rule_ids, (std::vector<std::string>{"b1", "r2"}));
  EXPECT_EQ((*got)[0].latency, absl::Microseconds(850));
  EXPECT_EQ((*got)[0].revision, 3);
  EXPECT_EQ(this->store_->ListDecisions("acme", "opp-2", 10)->size(), 0u);
  absl::StatusOr<int64_t> pruned = this->store_->PruneDecisions("acme", now - absl::Hours(24));
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(*pruned, 1);
  EXPECT_EQ(this->store_->ListDecisions("acme", "", 10)->size(), 1u);
  EXPECT_EQ(this->store_->ListDecisions("globex", "", 10)->size(), 1u);
}

TYPED_TEST(StoreTest, ATenantCannotReachAnotherTenantsRowsThroughAnyCall) {
  Store* s = this->store_.get();
  this->MustCreate("tenant-a", "journey", "secret: a");
  ASSERT_TRUE(this->PublishRev("tenant-a", "journey", 1, 0).ok());
  ASSERT_TRUE(s->WriteSnapshot("tenant-a", "snap", {Result("d1", "discover", 1)}).ok());
  ASSERT_TRUE(s->WriteDecisions({MakeDecision("tenant-a", "x1", absl::Now())}).ok());

  const std::string b = "tenant-b";
  EXPECT_EQ(s->GetRevision(b, "journey", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s->GetPublished(b, "journey").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(s->ListRevisions(b, "journey")->empty());
  EXPECT_TRUE(s->ListPublished(b)->empty());
  EXPECT_TRUE(s->ListAudit(b, "", 100)->empty());
  EXPECT_TRUE(s->ListSnapshots(b)->empty());
  EXPECT_EQ(s->ReadSnapshot(b, "snap", [](const CompactResult&) {}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(s->CompareSnapshots(b, "snap", "snap", [](const DealDiff&) {}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(s->ListDecisions(b, "", 100)->empty());
  EXPECT_TRUE(s->ListDecisions(b, "opp-1", 100)->empty());
  EXPECT_EQ(*s->ChangeCounter(b), 0);
  // Writes scoped to B do not touch A's rows either.
  EXPECT_EQ(*s->PruneDecisions(b, absl::Now() + absl::Hours(1)), 0);
  EXPECT_TRUE(s->DeleteSnapshot(b, "snap").ok());
  EXPECT_EQ(*s->PruneSnapshots(b, absl::Now() + absl::Hours(24 * 365)), 0);
  // B publishing its own revision 1 of the same name does not disturb A's.
  this->MustCreate(b, "journey", "secret: b");
  ASSERT_TRUE(this->PublishRev(b, "journey", 1, 0).ok());
  EXPECT_EQ(s->GetPublished("tenant-a", "journey")->yaml, "secret: a");
  EXPECT_EQ(s->GetPublished(b, "journey")->yaml, "secret: b");
  ASSERT_EQ(s->ListPublished(b)->size(), 1u);
  EXPECT_EQ(s->ListPublished(b)->front().yaml, "secret: b");
  EXPECT_EQ(s->ListSnapshots("tenant-a")->size(), 1u);
  EXPECT_EQ(s->ListDecisions("tenant-a", "", 10)->size(), 1u);
  EXPECT_EQ(s->ListAudit("tenant-a", "", 10)->size(), 1u);
  EXPECT_EQ(s->CreateRevision("", "journey", "x", "a", "m").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TYPED_TEST(StoreTest, APublishThroughOneInstanceIsSeenByAnotherWithinASecond) {
  std::unique_ptr<Store> watcher = this->OpenStore();
  ASSERT_NE(watcher, nullptr);
  absl::StatusOr<int64_t> start = watcher->ChangeCounter("acme");
  ASSERT_TRUE(start.ok()) << start.status();
  this->MustCreate("acme", "journey", "a");
  absl::StatusOr<int64_t> seen;
  absl::Time published_at;
  std::thread t([&] { seen = watcher->Watch("acme", *start, absl::Now() + absl::Seconds(5)); });
  absl::SleepFor(absl::Milliseconds(300));  // The watcher is waiting.
  published_at = absl::Now();
  ASSERT_TRUE(this->PublishRev("acme", "journey", 1, 0).ok());
  t.join();
  absl::Duration latency = absl::Now() - published_at;
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, *start + 1);
  EXPECT_LT(latency, absl::Seconds(1));
  // Nothing new: Watch returns the current value at the deadline.
  absl::Time t0 = absl::Now();
  absl::StatusOr<int64_t> idle =
      watcher->Watch("acme", *seen, absl::Now() + absl::Milliseconds(300));
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(*idle, *seen);
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(250));
  // Another tenant's publish does not move acme's counter.
  this->MustCreate("globex", "journey", "g");
  ASSERT_TRUE(this->PublishRev("globex", "journey", 1, 0).ok());
  EXPECT_EQ(*watcher->ChangeCounter("acme"), *seen);
}

}  // namespace
}  // namespace dealcoach::store
