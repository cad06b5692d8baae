// Versioned schema migrations, embedded at build time from
// sidecar/store/migrations/{sqlite,postgres}/NNNN_name.sql (ascending version order).
// Each backend applies the ones missing from its schema_migrations table, each in its
// own transaction, under a lock that makes two replicas migrating at once safe
// (pg_advisory_lock on PostgreSQL, BEGIN IMMEDIATE on SQLite).
#ifndef DEALCOACH_SIDECAR_STORE_MIGRATIONS_H_
#define DEALCOACH_SIDECAR_STORE_MIGRATIONS_H_

#include <vector>

namespace dealcoach::store {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

const std::vector<Migration>& SqliteMigrations();
const std::vector<Migration>& PostgresMigrations();

}  // namespace dealcoach::store

#endif  // DEALCOACH_SIDECAR_STORE_MIGRATIONS_H_
