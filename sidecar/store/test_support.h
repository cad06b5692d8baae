// Test helpers for the store: a throwaway SQLite directory and a dedicated PostgreSQL
// database per test (created on the shared test server of scripts/start-postgres.sh,
// dropped afterwards), so store tests never collide with the connector tests, which
// reset their own schema. The PostgreSQL store under test connects as a non-owner,
// non-superuser role (dealcoach_store_app) so row-level security applies to it.
#ifndef DEALCOACH_SIDECAR_STORE_TEST_SUPPORT_H_
#define DEALCOACH_SIDECAR_STORE_TEST_SUPPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sidecar/store/store.h"

namespace dealcoach::store::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The shared test server itself: tests/support/pg_test_server.h.

class PgTestDatabase {
 public:
  // Creates database dc_store_<pid>_<n>, migrates it as the server's superuser and
  // grants the app role access.
  static absl::StatusOr<std::unique_ptr<PgTestDatabase>> Create();
  ~PgTestDatabase();

  // As the superuser (owner of the tables) / as the RLS-bound app role.
  std::string admin_conninfo() const;
  std::string app_conninfo() const;
  // Runs SQL as the superuser on this database.
  absl::Status AdminExec(const std::string& sql) const;
  const std::string& name() const { return name_; }

 private:
  std::string base_;
  std::string name_;
};

// StoreOptions for each backend.
StoreOptions SqliteOptions(const std::string& dir);
StoreOptions PostgresOptions(const std::string& conninfo);

}  // namespace dealcoach::store::testing

#endif  // DEALCOACH_SIDECAR_STORE_TEST_SUPPORT_H_
