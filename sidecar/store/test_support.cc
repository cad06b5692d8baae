#include "sidecar/store/test_support.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/support/pg_test_server.h"

namespace dealcoach::store::testing {
namespace {

constexpr char kAppRole[] = "dealcoach_store_app";

absl::Status ExecOn(const std::string& conninfo, const std::string& dbname,
                    const std::string& sql) {
  const char* keywords[] = {"dbname", "dbname", nullptr};
  const char* values[] = {conninfo.c_str(), dbname.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keywords, values, 1);
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    return absl::UnavailableError(msg);
  }
  PGresult* r = PQexec(c, sql.c_str());
  absl::Status s = absl::OkStatus();
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
    s = absl::InternalError(absl::StrCat(sql, ": ", PQresultErrorMessage(r)));
  }
  PQclear(r);
  PQfinish(c);
  return s;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp", "/dc_store_XXXXXX");
  char* made = mkdtemp(tmpl.data());
  path_ = made != nullptr ? made : "/tmp";
}

TempDir::~TempDir() {
  std::error_code ec;
  // Restore permissions a test may have removed so the tree can be deleted.
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

absl::StatusOr<std::unique_ptr<PgTestDatabase>> PgTestDatabase::Create() {
  std::string why;
  std::string base = dealcoach::testing::PgTestConninfo(&why);
  if (base.empty()) return absl::UnavailableError(why);
  static std::atomic<int> counter{0};
  auto db = std::unique_ptr<PgTestDatabase>(new PgTestDatabase());
  db->base_ = base;
  db->name_ = absl::StrCat("dc_store_", getpid(), "_", counter++);
  absl::Status s = ExecOn(base, "postgres",
                          absl::StrCat("DROP DATABASE IF EXISTS ", db->name_, " WITH (FORCE)"));
  if (s.ok()) s = ExecOn(base, "postgres", absl::StrCat("CREATE DATABASE ", db->name_));
  // The app role is cluster-wide; parallel test processes may race to create it.
  if (s.ok()) {
    s = ExecOn(base, "postgres",
               absl::StrCat("DO $$ BEGIN CREATE ROLE ", kAppRole,
                            " LOGIN NOSUPERUSER NOBYPASSRLS; EXCEPTION WHEN duplicate_object "
                            "OR unique_violation THEN NULL; END $$"));
  }
  if (!s.ok()) return s;
  StoreOptions admin = PostgresOptions(db->admin_conninfo());
  absl::StatusOr<std::unique_ptr<Store>> migrated = Open(admin);
  if (!migrated.ok()) return migrated.status();
  s = db->AdminExec(
      absl::StrCat("GRANT USAGE ON SCHEMA public TO ", kAppRole,
                   "; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ",
                   kAppRole, "; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ", kAppRole));
  if (!s.ok()) return s;
  return db;
}

PgTestDatabase::~PgTestDatabase() {
  ExecOn(base_, "postgres", absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"))
      .IgnoreError();
}

std::string PgTestDatabase::admin_conninfo() const {
  return absl::StrCat(base_, " dbname=", name_);
}
std::string PgTestDatabase::app_conninfo() const {
  return absl::StrCat(base_, " dbname=", name_, " user=", kAppRole);
}
absl::Status PgTestDatabase::AdminExec(const std::string& sql) const {
  return ExecOn(base_, name_, sql);
}

StoreOptions SqliteOptions(const std::string& dir) {
  StoreOptions o;
  o.backend = Backend::kSqlite;
  o.data_dir = dir;
  o.snapshot_batch_rows = 7;  // Several batches even in small tests.
  return o;
}

StoreOptions PostgresOptions(const std::string& conninfo) {
  StoreOptions o;
  o.backend = Backend::kPostgres;
  o.postgres_conninfo = conninfo;
  o.connect_timeout = absl::Seconds(3);
  o.snapshot_batch_rows = 7;
  return o;
}

}  // namespace dealcoach::store::testing
