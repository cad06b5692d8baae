// Faults and operations: SQLite in a read-only directory or on a corrupt file (Open
// fails naming the file), backup and restore of a SQLite and of a PostgreSQL database
// (pg_dump / pg_restore), row-level security checked as the app role with raw SQL, and a
// PostgreSQL restart in the middle of use.
#include <fcntl.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/test_support.h"
#include "tests/support/pg_test_server.h"

namespace dealcoach::store {
namespace {

using testing::TempDir;

TEST(SqliteFaults, AReadOnlyDataDirectoryIsAClearErrorNamingTheFile) {
  TempDir dir;
  std::string ro = absl::StrCat(dir.path(), "/ro");
  ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
  // root ignores directory permissions; /proc refuses new files to everyone.
  if (access(ro.c_str(), W_OK) == 0) ro = "/proc";
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(ro));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(absl::StrCat(ro, "/dealcoach.db")), std::string::npos)
      << s.status();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied) << s.status();
}

TEST(SqliteFaults, ACorruptFileIsAClearErrorNamingTheFile) {
  TempDir dir;
  std::string path = absl::StrCat(dir.path(), "/dealcoach.db");
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 512; ++i) out << "this is not a database. ";
  }
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(dir.path()));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_NE(s.status().message().find(path), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("not a database"), std::string::npos) << s.status();
}

TEST(SqliteFaults, ASchemaNewerThanTheBinaryIsRefused) {
  TempDir dir;
  {
    absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(dir.path()));
    ASSERT_TRUE(s.ok()) << s.status();
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(absl::StrCat(dir.path(), "/dealcoach.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_migrations VALUES (9999, 'future', 0)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(dir.path()));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_NE(s.status().message().find("newer than this binary"), std::string::npos);
}

// Another connection (a second process, an operator's sqlite3 shell) holding the write
// lock on the store's file: BEGIN EXCLUSIVE in a real second sqlite3 connection.
class SqliteLock {
 public:
  // `sql` takes the lock; the destructor (or Release) ends it and closes the connection.
  SqliteLock(const std::string& path, const char* sql) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
  }
  ~SqliteLock() { Release(); }
  void Release() {
    if (db_ == nullptr) return;
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
  }

 private:
  sqlite3* db_ = nullptr;
};

Decision MakeDecision(int i) {
  Decision d;
  d.tenant = "acme";
  d.decision_id = absl::StrCat("dec-", i);
  d.at = absl::Now();
  d.deal_id = absl::StrCat("deal-", i);
  d.playbook = "journey";
  d.revision = 1;
  d.input_hash = "sha256:00";
  return d;
}

TEST(SqliteFaults, AnotherConnectionsWriteLockFailsWritesUnavailableAndTheyResumeAfterIt) {
  TempDir dir;
  StoreOptions o = testing::SqliteOptions(dir.path());
  o.busy_timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  Store& st = **s;
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "name: journey\n", "ann", "first").ok());
  PublishRequest req;
  req.tenant = "acme";
  req.name = "journey";
  req.revision = 1;
  req.actor = "ann";
  ASSERT_TRUE(st.Publish(req).ok());
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "name: journey\n# 2\n", "ann", "second").ok());
  DecisionLoggerOptions lo;
  lo.queue_capacity = 4;
  lo.batch_size = 2;
  lo.flush_interval = absl::Milliseconds(5);
  lo.retention = absl::ZeroDuration();
  DecisionLogger log(&st, lo);

  const std::string file = absl::StrCat(dir.path(), "/dealcoach.db");
  auto lock = std::make_unique<SqliteLock>(file, "BEGIN EXCLUSIVE");

  // A publish fails UNAVAILABLE naming the lock and the file; nothing of it is written.
  req.revision = 2;
  req.expected_current = 1;
  absl::StatusOr<Revision> pub = st.Publish(req);
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(pub.status().code(), absl::StatusCode::kUnavailable) << pub.status();
  EXPECT_TRUE(absl::StrContains(pub.status().message(), "database is locked")) << pub.status();
  EXPECT_TRUE(absl::StrContains(pub.status().message(), file)) << pub.status();
  EXPECT_TRUE(absl::StrContains(pub.status().message(), "store.busy_timeout")) << pub.status();
  absl::StatusOr<Revision> created = st.CreateRevision("acme", "journey", "v3", "ann", "third");
  EXPECT_EQ(created.status().code(), absl::StatusCode::kUnavailable) << created.status();
  // Reads go on (WAL): still revision 1 published, two revisions, one audit event, the
  // change counter unmoved.
  absl::StatusOr<Revision> published = st.GetPublished("acme", "journey");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 1);
  EXPECT_EQ(st.ListRevisions("acme", "journey")->size(), 2u);
  EXPECT_EQ(st.ListAudit("acme", "journey", 10)->size(), 1u);
  EXPECT_EQ(*st.ChangeCounter("acme"), 1);

  // The decision log never waits for the lock: what does not fit the queue is dropped
  // and counted, what the writer took fails and is counted.
  int accepted = 0;
  for (int i = 0; i < 200; ++i) accepted += log.Log(MakeDecision(i)) ? 1 : 0;
  EXPECT_GT(log.dropped(), 0);
  EXPECT_EQ(accepted + log.dropped(), 200);
  EXPECT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written() + log.write_errors(), accepted);
  EXPECT_GT(log.write_errors(), 0);
  EXPECT_TRUE(absl::StrContains(log.last_error(), "database is locked")) << log.last_error();

  // Two calls at once while the lock is held: each gives up within its own
  // busy_timeout, not one after the other (printed; goals are not timed in tests).
  absl::Duration other_took;
  std::thread other([&] {
    const absl::Time t0 = absl::Now();
    EXPECT_FALSE(st.CreateRevision("acme", "journey", "v4", "bob", "m").ok());
    other_took = absl::Now() - t0;
  });
  const absl::Time t0 = absl::Now();
  EXPECT_FALSE(st.AppendAudit(AuditEvent{"acme", "ann", "plan", "journey", 2, {}, ""}).ok());
  const absl::Duration took = absl::Now() - t0;
  other.join();
  std::cout << "[ lock wait ] busy_timeout 300ms: two concurrent writers gave up after "
            << absl::FormatDuration(took) << " and " << absl::FormatDuration(other_took)
            << std::endl;

  // Once the lock is gone, writes succeed again by themselves.
  lock->Release();
  pub = st.Publish(req);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->revision, 2);
  EXPECT_EQ(st.GetPublished("acme", "journey")->revision, 2);
  EXPECT_EQ(*st.ChangeCounter("acme"), 2);
  const int64_t written_before = log.written();
  for (int i = 1000; i < 1003; ++i) EXPECT_TRUE(log.Log(MakeDecision(i)));
  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written(), written_before + 3);
  absl::StatusOr<std::vector<Decision>> listed = st.ListDecisions("acme", "deal-1001", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(listed->size(), 1u);
}

// The data directory's disk fills up under a running store (a small tmpfs, then a file
// that takes the rest): a publish fails UNAVAILABLE naming the cause and writes nothing,
// reads go on, the decision log counts its failed batches, and once there is room
// again everything is written without reopening. Needs CAP_SYS_ADMIN to mount the
// tmpfs (root in the CI container); skipped otherwise.
TEST(SqliteFaults, AFullDiskFailsWritesUnavailableAndTheyResumeOnceThereIsRoom) {
  TempDir dir;
  if (mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=4m") != 0) {
    GTEST_SKIP() << "cannot mount a small tmpfs (needs CAP_SYS_ADMIN): " << std::strerror(errno);
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{dir.path()};
  StoreOptions o = testing::SqliteOptions(dir.path() + "/data");
  o.busy_timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  Store& st = **s;
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "name: journey\n", "ann", "first").ok());
  PublishRequest req;
  req.tenant = "acme";
  req.name = "journey";
  req.revision = 1;
  req.actor = "ann";
  ASSERT_TRUE(st.Publish(req).ok());
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "name: journey\n# 2\n", "ann", "second").ok());
  // An empty WAL (VACUUM + checkpoint TRUNCATE), so the next write needs new space.
  ASSERT_TRUE(st.Vacuum().ok());
  DecisionLoggerOptions lo;
  lo.queue_capacity = 4;
  lo.batch_size = 2;
  lo.flush_interval = absl::Milliseconds(5);
  lo.retention = absl::ZeroDuration();
  DecisionLogger log(&st, lo);

  const std::string filler = dir.path() + "/filler";
  {
    int fd = open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(fd, 0);
    std::string block(4096, 'x');
    while (write(fd, block.data(), block.size()) > 0) {
    }
    while (write(fd, "x", 1) > 0) {
    }
    EXPECT_EQ(errno, ENOSPC);
    close(fd);
  }

  req.revision = 2;
  req.expected_current = 1;
  absl::StatusOr<Revision> pub = st.Publish(req);
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(pub.status().code(), absl::StatusCode::kUnavailable) << pub.status();
  EXPECT_TRUE(absl::StrContains(pub.status().message(), "disk is full")) << pub.status();
  EXPECT_TRUE(absl::StrContains(pub.status().message(), "/data/dealcoach.db")) << pub.status();
  absl::StatusOr<Revision> published = st.GetPublished("acme", "journey");
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 1);
  EXPECT_EQ(st.ListRevisions("acme", "journey")->size(), 2u);
  EXPECT_EQ(st.ListAudit("acme", "journey", 10)->size(), 1u);
  EXPECT_EQ(*st.ChangeCounter("acme"), 1);
  int accepted = 0;
  for (int i = 0; i < 50; ++i) accepted += log.Log(MakeDecision(i)) ? 1 : 0;
  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written() + log.write_errors(), accepted);
  EXPECT_EQ(accepted + log.dropped(), 50);
  EXPECT_GT(log.write_errors(), 0);
  EXPECT_TRUE(absl::StrContains(log.last_error(), "disk is full")) << log.last_error();

  ASSERT_EQ(unlink(filler.c_str()), 0);
  pub = st.Publish(req);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(st.GetPublished("acme", "journey")->revision, 2);
  const int64_t written_before = log.written();
  for (int i = 1000; i < 1003; ++i) EXPECT_TRUE(log.Log(MakeDecision(i)));
  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written(), written_before + 3);
  EXPECT_EQ(st.ListDecisions("acme", "deal-1002", 10)->size(), 1u);
}

// A lock that keeps readers out too (exclusive locking mode in WAL) can only be taken
// while no other connection has the file open: taken before the store opens, Open fails
// UNAVAILABLE naming the file and the lock (the sidecar then starts on its file
// playbooks with the store unhealthy); while the store is open, SQLite refuses it.
TEST(SqliteFaults, AnExclusiveModeLockFailsOpenUnavailableAndCannotBeTakenWhileTheStoreIsOpen) {
  TempDir dir;
  StoreOptions o = testing::SqliteOptions(dir.path());
  o.busy_timeout = absl::Milliseconds(200);
  { ASSERT_TRUE(Open(o).ok()); }
  const std::string file = absl::StrCat(dir.path(), "/dealcoach.db");
  constexpr char kExclusive[] =
      "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; "
      "INSERT INTO store_changes (tenant, counter) VALUES ('zz', 1)";
  {
    SqliteLock lock(file, kExclusive);
    absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), file)) << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), "locked")) << s.status();
  }
  absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "a", "ann", "m").ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &other), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(other, kExclusive, nullptr, nullptr, nullptr), SQLITE_BUSY);
  sqlite3_close(other);
  EXPECT_EQ((*s)->ListRevisions("acme", "journey")->size(), 1u);
  EXPECT_TRUE((*s)->CreateRevision("acme", "journey", "b", "ann", "m").ok());
}

// Two replicas started at once on a data directory that has no database yet (what the
// two-process replica test does): both open. SQLite answers one of two connections
// switching a new file to WAL at the same moment with SQLITE_BUSY without calling the
// busy handler (waiting could deadlock), so the open retries until busy_timeout; it used
// to fail and leave that replica serving without its store. Thirty rounds, each on a
// new directory, the two opens released together.
TEST(SqliteFaults, TwoStoresOpeningANewFileAtTheSameMomentBothOpen) {
  for (int round = 0; round < 30; ++round) {
    TempDir dir;
    StoreOptions o = testing::SqliteOptions(dir.path());
    o.busy_timeout = absl::Seconds(5);
    std::atomic<int> ready{0};
    absl::Status status[2];
    std::unique_ptr<Store> opened[2];
    std::thread threads[2];
    for (int i = 0; i < 2; ++i) {
      threads[i] = std::thread([&, i] {
        ++ready;
        while (ready.load() < 2) {
        }
        absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
        status[i] = s.status();
        if (s.ok()) opened[i] = *std::move(s);
      });
    }
    for (std::thread& t : threads) t.join();
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(status[i].ok()) << "round " << round << ", store " << i << ": " << status[i];
    }
    // One database, seen by both.
    ASSERT_TRUE(opened[0]->CreateRevision("acme", "journey", "a", "ann", "m").ok());
    EXPECT_EQ(opened[1]->ListRevisions("acme", "journey")->size(), 1u) << "round " << round;
  }
}

// docs/store.md's backup procedure: an online copy (sqlite3_backup, which is what
// `sqlite3 dealcoach.db ".backup file"` runs) restored into a new data directory.
TEST(SqliteBackup, AnOnlineBackupRestoresAndReadsBack) {
  TempDir live, restored;
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(live.path()));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "name: journey\n", "ann", "first").ok());
  PublishRequest req;
  req.tenant = "acme";
  req.name = "journey";
  req.revision = 1;
  req.actor = "ann";
  ASSERT_TRUE((*s)->Publish(req).ok());
  CompactResult r;
  r.set_deal_id("d1");
  r.set_evidence_phase("prove");
  ASSERT_TRUE((*s)->WriteSnapshot("acme", "nightly", {r}).ok());

  // Backup while the store is open (WAL: the writer keeps going).
  std::string backup = absl::StrCat(restored.path(), "/dealcoach.db");
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  ASSERT_EQ(sqlite3_open(absl::StrCat(live.path(), "/dealcoach.db").c_str(), &src), SQLITE_OK);
  ASSERT_EQ(sqlite3_open(backup.c_str(), &dst), SQLITE_OK);
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(sqlite3_backup_step(b, -1), SQLITE_DONE);
  EXPECT_EQ(sqlite3_backup_finish(b), SQLITE_OK);
  sqlite3_close(dst);
  sqlite3_close(src);

  // More writes to the live database do not show in the backup.
  ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "v2", "ann", "second").ok());

  absl::StatusOr<std::unique_ptr<Store>> back = Open(testing::SqliteOptions(restored.path()));
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<Revision> pub = (*back)->GetPublished("acme", "journey");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(pub->yaml, "name: journey\n");
  EXPECT_EQ((*back)->ListRevisions("acme", "journey")->size(), 1u);
  std::vector<std::string> phases;
  ASSERT_TRUE(
      (*back)
          ->ReadSnapshot("acme", "nightly",
                         [&](const CompactResult& c) { phases.push_back(c.evidence_phase()); })
          .ok());
  EXPECT_EQ(phases, std::vector<std::string>{"prove"});
  EXPECT_EQ((*back)->Status()->schema_version, (*s)->Status()->schema_version);
}

// The same with the sqlite3 command-line tool, as an operator would run it.
TEST(SqliteBackup, TheSqlite3CliBackupRestores) {
  if (system("command -v sqlite3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no sqlite3 CLI";
  TempDir live, restored;
  {
    absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(live.path()));
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "cli", "ann", "m").ok());
    std::string cmd = absl::StrCat("sqlite3 '", live.path(), "/dealcoach.db' \".backup '",
                                   restored.path(), "/dealcoach.db'\"");
    ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  }
  absl::StatusOr<std::unique_ptr<Store>> back = Open(testing::SqliteOptions(restored.path()));
  ASSERT_TRUE(back.ok()) << back.status();
  absl::StatusOr<Revision> r = (*back)->GetRevision("acme", "journey", 1);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->yaml, "cli");
}

// docs/store.md "Backup and restore" for PostgreSQL, as an operator runs it: pg_dump
// (custom format, as the owner) of a live database the app role wrote, pg_restore into
// an empty database, then the store as the app role reads everything back, with the
// row-level security (and the app role's grants) restored too.
TEST(PostgresBackup, APgDumpRestoresIntoAnEmptyDatabaseAndReadsBack) {
  if (system("command -v pg_dump >/dev/null 2>&1 && command -v pg_restore >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "no pg_dump / pg_restore";
  }
  absl::StatusOr<std::unique_ptr<testing::PgTestDatabase>> db = testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  {
    absl::StatusOr<std::unique_ptr<Store>> s =
        Open(testing::PostgresOptions((*db)->app_conninfo()));
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "name: journey\n", "ann", "m").ok());
    PublishRequest req;
    req.tenant = "acme";
    req.name = "journey";
    req.revision = 1;
    req.actor = "ann";
    ASSERT_TRUE((*s)->Publish(req).ok());
    CompactResult r;
    r.set_deal_id("d1");
    r.set_evidence_phase("prove");
    ASSERT_TRUE((*s)->WriteSnapshot("acme", "nightly", {r}).ok());
    Decision d;
    d.tenant = "acme";
    d.decision_id = "dec-1";
    d.at = absl::Now();
    d.deal_id = "d1";
    d.playbook = "journey";
    d.revision = 1;
    d.input_hash = "sha256:00";
    ASSERT_TRUE((*s)->WriteDecisions({d}).ok());
  }
  TempDir dir;
  const std::string dump = dir.path() + "/dealcoach.dump";
  // The dbname keyword comes last in the admin string: a suffix names the new database.
  const std::string restored_db = (*db)->name() + "_restored";
  const std::string restored_admin = (*db)->admin_conninfo() + "_restored";
  ASSERT_TRUE((*db)->AdminExec("DROP DATABASE IF EXISTS " + restored_db + " WITH (FORCE)").ok());
  ASSERT_TRUE((*db)->AdminExec("CREATE DATABASE " + restored_db).ok());
  std::string cmd = absl::StrCat("pg_dump --format=custom --dbname='", (*db)->admin_conninfo(),
                                 "' -f '", dump, "'");
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  cmd = absl::StrCat("pg_restore --exit-on-error --dbname='", restored_admin, "' '", dump, "'");
  ASSERT_EQ(system(cmd.c_str()), 0) << cmd;
  {
    // The later user= wins in a libpq keyword string.
    absl::StatusOr<std::unique_ptr<Store>> back =
        Open(testing::PostgresOptions(restored_admin + " user=dealcoach_store_app"));
    ASSERT_TRUE(back.ok()) << back.status();
    absl::StatusOr<Revision> pub = (*back)->GetPublished("acme", "journey");
    ASSERT_TRUE(pub.ok()) << pub.status();
    EXPECT_EQ(pub->yaml, "name: journey\n");
    EXPECT_EQ(pub->content_hash, ContentHash("name: journey\n"));
    EXPECT_EQ((*back)->ListAudit("acme", "journey", 10)->size(), 1u);
    std::vector<std::string> phases;
    ASSERT_TRUE(
        (*back)
            ->ReadSnapshot("acme", "nightly",
                           [&](const CompactResult& c) { phases.push_back(c.evidence_phase()); })
            .ok());
    EXPECT_EQ(phases, std::vector<std::string>{"prove"});
    ASSERT_EQ((*back)->ListDecisions("acme", "", 10)->size(), 1u);
    EXPECT_EQ(*(*back)->ChangeCounter("acme"), 1);
    absl::StatusOr<StoreStatus> st = (*back)->Status();
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->schema_version, st->latest_version);
    // Row-level security came back with the tables: another tenant sees nothing.
    EXPECT_TRUE((*back)->ListPublished("other")->empty());
    // And the restored store takes writes (sequences restored past the old ids).
    ASSERT_TRUE((*back)->CreateRevision("acme", "journey", "v2", "ann", "after restore").ok());
    EXPECT_EQ((*back)->ListRevisions("acme", "journey")->size(), 2u);
  }
  EXPECT_TRUE((*db)->AdminExec("DROP DATABASE IF EXISTS " + restored_db + " WITH (FORCE)").ok());
}

// Raw SQL as the app role: the policies, not the store's WHERE clauses, isolate tenants.
TEST(PostgresRowLevelSecurity, TheAppRoleSeesOnlyTheTenantItSet) {
  absl::StatusOr<std::unique_ptr<testing::PgTestDatabase>> db = testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::PostgresOptions((*db)->app_conninfo()));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->CreateRevision("tenant-a", "journey", "a", "ann", "m").ok());
  ASSERT_TRUE((*s)->CreateRevision("tenant-b", "journey", "b", "bob", "m").ok());

  PGconn* c = PQconnectdb((*db)->app_conninfo().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  auto count = [c](const char* sql) {
    PGresult* r = PQexec(c, sql);
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK
                        ? PQgetvalue(r, 0, 0)
                        : absl::StrCat("error: ", PQresultErrorMessage(r));
    PQclear(r);
    return v;
  };
  auto exec = [c](const char* sql) {
    PGresult* r = PQexec(c, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string err = PQresultErrorMessage(r);
    PQclear(r);
    return ok ? std::string() : err;
  };
  // The role is neither owner nor superuser, and the tables force RLS.
  EXPECT_EQ(count("SELECT count(*) FROM pg_roles WHERE rolname = current_user AND "
                  "(rolsuper OR rolbypassrls)"),
            "0");
  EXPECT_EQ(count("SELECT count(*) FROM pg_class WHERE relname = 'playbook_revisions' AND "
                  "relrowsecurity AND relforcerowsecurity"),
            "1");
  // No tenant set: nothing visible.
  EXPECT_EQ(count("SELECT count(*) FROM playbook_revisions"), "0");
  ASSERT_EQ(exec("BEGIN"), "");
  ASSERT_EQ(exec("SET LOCAL dealcoach.tenant = 'tenant-a'"), "");
  EXPECT_EQ(count("SELECT count(*) FROM playbook_revisions"), "1");
  EXPECT_EQ(count("SELECT string_agg(yaml, ',') FROM playbook_revisions"), "a");
  // Writing another tenant's row is refused by the policy's WITH CHECK.
  std::string err = exec(
      "INSERT INTO playbook_revisions VALUES ('tenant-b', 'x', 1, 'h', 'y', 'a', 'm', now(), "
      "'draft')");
  EXPECT_NE(err.find("row-level security"), std::string::npos) << err;
  exec("ROLLBACK");
  // SET LOCAL ends with the transaction.
  EXPECT_EQ(count("SELECT count(*) FROM playbook_revisions"), "0");
  PQfinish(c);
}

// WARNING: restarts the shared test server (the connector tests do the same); the
// RESOURCE_LOCK on dealcoach_postgres keeps other PostgreSQL cases off it meanwhile.
TEST(PostgresFaults, ARestartFailsTheNextCallUnavailableThenReconnects) {
  absl::StatusOr<std::unique_ptr<testing::PgTestDatabase>> db = testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::PostgresOptions((*db)->app_conninfo()));
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->CreateRevision("acme", "journey", "a", "ann", "m").ok());

  std::string error = dealcoach::testing::RunPgScript("restart");
  ASSERT_EQ(error, "") << error;

  absl::StatusOr<std::vector<Revision>> first = (*s)->ListRevisions("acme", "journey");
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), absl::StatusCode::kUnavailable) << first.status();
  EXPECT_EQ(first.status().message().find("password"), std::string::npos);
  // Later calls reconnect by themselves.
  absl::StatusOr<std::vector<Revision>> later;
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    later = (*s)->ListRevisions("acme", "journey");
    if (!later.ok()) absl::SleepFor(absl::Milliseconds(200));
  } while (!later.ok() && absl::Now() < deadline);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(later->size(), 1u);
  EXPECT_TRUE((*s)->CreateRevision("acme", "journey", "b", "ann", "m").ok());
}

// A restart of the real server between a publisher's calls and under the decision log:
// the publish that meets the dropped connection fails UNAVAILABLE and leaves nothing
// (the published revision, the audit trail and the change counter are as before), the
// decision log counts the batch it lost and never blocks, and both resume by
// themselves once the server is back.
TEST(PostgresFaults, APublishCutByARestartLeavesNothingAndTheDecisionLogResumes) {
  absl::StatusOr<std::unique_ptr<testing::PgTestDatabase>> db = testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::PostgresOptions((*db)->app_conninfo()));
  ASSERT_TRUE(s.ok()) << s.status();
  Store& st = **s;
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "a", "ann", "m").ok());
  PublishRequest req;
  req.tenant = "acme";
  req.name = "journey";
  req.revision = 1;
  req.actor = "ann";
  ASSERT_TRUE(st.Publish(req).ok());
  ASSERT_TRUE(st.CreateRevision("acme", "journey", "b", "ann", "m").ok());
  DecisionLoggerOptions lo;
  lo.queue_capacity = 4;
  lo.batch_size = 2;
  lo.flush_interval = absl::Milliseconds(5);
  lo.retention = absl::ZeroDuration();
  DecisionLogger log(&st, lo);
  ASSERT_TRUE(log.Log(MakeDecision(0)));
  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  ASSERT_EQ(log.written(), 1);

  std::string error = dealcoach::testing::RunPgScript("restart");
  ASSERT_EQ(error, "") << error;

  req.revision = 2;
  req.expected_current = 1;
  absl::StatusOr<Revision> pub = st.Publish(req);
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(pub.status().code(), absl::StatusCode::kUnavailable) << pub.status();
  // The decision writer's connection is the same one: its first batch after the
  // restart may fail (counted) or, reconnected, succeed; either way Log never waits.
  int accepted = 0;
  for (int i = 1; i <= 50; ++i) accepted += log.Log(MakeDecision(i)) ? 1 : 0;
  EXPECT_EQ(accepted + log.dropped(), 50);

  // Reconnects by itself; nothing of the failed publish is there.
  absl::StatusOr<Revision> published;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  do {
    published = st.GetPublished("acme", "journey");
    if (!published.ok()) absl::SleepFor(absl::Milliseconds(200));
  } while (!published.ok() && absl::Now() < deadline);
  ASSERT_TRUE(published.ok()) << published.status();
  EXPECT_EQ(published->revision, 1);
  EXPECT_EQ(st.ListAudit("acme", "journey", 10)->size(), 1u);
  EXPECT_EQ(*st.ChangeCounter("acme"), 1);
  pub = st.Publish(req);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(st.GetPublished("acme", "journey")->revision, 2);

  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written() + log.write_errors(), 1 + accepted);
  const int64_t written_before = log.written();
  for (int i = 1000; i < 1003; ++i) EXPECT_TRUE(log.Log(MakeDecision(i)));
  ASSERT_TRUE(log.Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(log.written(), written_before + 3);
  EXPECT_EQ(st.ListDecisions("acme", "deal-1001", 10)->size(), 1u);
}

TEST(PostgresFaults, AnUnreachableServerIsUnavailableWithARedactedMessage) {
  StoreOptions o = testing::PostgresOptions(
      "host=127.0.0.1 port=1 user=x password=hunter2 dbname=y connect_timeout=1");
  absl::StatusOr<std::unique_ptr<Store>> s = Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable) << s.status();
  EXPECT_EQ(s.status().message().find("hunter2"), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find("<redacted>"), std::string::npos) << s.status();
}

}  // namespace
}  // namespace dealcoach::store
