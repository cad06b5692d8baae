// Faults and operations: SQLite in a read-only directory or on a corrupt file (Open
// fails naming the file), backup and restore of a SQLite and of a PostgreSQL database
// (pg_dump / pg_restore), row-level security checked as the app role with raw SQL, and a
// PostgreSQL restart in the middle of use.
#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
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
