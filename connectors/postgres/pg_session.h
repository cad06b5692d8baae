// PgSession: one libpq connection to the team's database, with deadlines, reconnects and
// rows handed back as JSON objects (so they map through the same YAML OpportunityMapping
// as every CRM's JSON records).
//
//   - Queries run asynchronously (PQsendQueryParams + poll) so every call honours an
//     absolute deadline: past it the query is cancelled server-side, the connection is
//     dropped and the call fails with DeadlineExceeded. Nothing blocks forever.
//   - A lost connection (server restart, network cut) fails the running query with
//     Unavailable naming the query ("postgres: query 'sync page': connection lost: ...").
//     The next call resets the connection (PQreset) with jittered exponential backoff.
//     A query sent on a connection that turns out to have died while idle is retried
//     once on a fresh connection: every query this connector runs is a read-only SELECT.
//   - The connection string is a secret: it is never put in a message. Describe() gives
//     a redacted form (password removed) for logs.
//   - Sessions run with TimeZone=UTC and the configured statement_timeout.
//
// Column values become JSON by type: bool → true/false, int2/4/8 → integer,
// float4/8 and numeric → number, json/jsonb → parsed JSON, timestamptz → RFC 3339 text
// ("2026-11-20T10:00:00.5Z"), NULL → null, everything else → its text form.
//
// Thread safety: all methods are safe to call concurrently; queries are serialised on
// the one connection (an internal mutex).
#ifndef DEALCOACH_CONNECTORS_POSTGRES_PG_SESSION_H_
#define DEALCOACH_CONNECTORS_POSTGRES_PG_SESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "connectors/connector.h"
#include "nlohmann/json.hpp"

typedef struct pg_conn PGconn;

namespace dealcoach::connectors::postgres {

struct PgSessionOptions {
  // Time allowed to establish a connection (libpq connect_timeout; whole seconds, at
  // least 1). Default: 5 s.
  absl::Duration connect_timeout = absl::Seconds(5);
  // Server-side statement_timeout for every query; zero disables it. Default: 60 s.
  absl::Duration statement_timeout = absl::Seconds(60);
  // Connection attempts per call when the connection is down (first included).
  // Default: 3.
  int reconnect_attempts = 3;
  // Backoff before reconnect attempt n is uniform in [0, min(max, initial * 2^(n-1))].
  absl::Duration reconnect_initial_backoff = absl::Milliseconds(100);
  absl::Duration reconnect_max_backoff = absl::Seconds(2);
};

// Result rows as JSON objects, column name → value, in column order.
using PgRows = std::vector<nlohmann::json>;

class PgSession {
 public:
  // Does not connect; the first Query() does. `conninfo` is a libpq keyword/value string
  // or a postgresql:// URI.
  PgSession(std::string conninfo, const PgSessionOptions& options);
  ~PgSession();
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  // Runs `sql` with text parameters ($1, $2, ...; nullopt is SQL NULL) and returns every
  // row. `name` names the query in messages ("sync page"). Errors: Unavailable
  // (cannot connect, connection lost, server shutting down), DeadlineExceeded (deadline
  // or statement_timeout), FailedPrecondition (missing table/column: schema drift, or
  // the query does not return rows), Unauthenticated / PermissionDenied, InvalidArgument
  // (bad SQL or data), ResourceExhausted (server out of resources). Messages start
  // "postgres: query '<name>': ".
  [[nodiscard]] absl::StatusOr<PgRows> Query(absl::string_view name, const std::string& sql,
                                             const std::vector<std::optional<std::string>>& params,
                                             absl::Time deadline);

  // Like Query, but streams: runs `sql` through a server-side cursor inside a read-only
  // transaction and hands `on_batch` at most `batch_rows` rows at a time (FETCH FORWARD),
  // so memory is bounded by one batch however many rows the query returns. The session
  // is held for the whole call (other queries wait). An error from `on_batch` ends the
  // call and is returned as-is.
  absl::Status QueryInBatches(absl::string_view name, const std::string& sql,
                              const std::vector<std::optional<std::string>>& params, int batch_rows,
                              absl::Time deadline,
                              const std::function<absl::Status(PgRows&)>& on_batch);

  // Number of batches QueryInBatches has fetched so far, for tests and metrics.
  int64_t batches_fetched() const;

  // Runs a script of statements (no parameters, no rows expected), e.g. schema.sql.
  [[nodiscard]] absl::Status Exec(absl::string_view name, const std::string& sql,
                                  absl::Time deadline);

  // Healthy after a successful query; detail carries the last error otherwise.
  ConnectorHealth Health() const;

  // The connection string with any password replaced by "<redacted>", for logs.
  std::string Describe() const;

  // Number of (re)connections made so far, for tests and metrics.
  int connects() const;

 private:
  [[nodiscard]] absl::Status EnsureConnected(absl::string_view name, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::StatusOr<PgRows> RunOnce(
      absl::string_view name, const std::string& sql,
      const std::vector<std::optional<std::string>>& params, bool expect_rows, absl::Time deadline,
      bool* connection_lost) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::StatusOr<PgRows> Run(absl::string_view name, const std::string& sql,
                                           const std::vector<std::optional<std::string>>& params,
                                           bool expect_rows, absl::Time deadline);
  void Drop() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Clean(absl::string_view text) const;

  const std::string conninfo_;
  const PgSessionOptions options_;
  std::string password_;  // For scrubbing messages; never logged.
  std::string described_;

  mutable absl::Mutex mu_;
  PGconn* conn_ ABSL_GUARDED_BY(mu_) = nullptr;
  int connects_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t batches_fetched_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_) = "no query yet";
  bool last_ok_ ABSL_GUARDED_BY(mu_) = false;
};

// The libpq connection string with any password replaced by "<redacted>"
// ("host=db user=app password=<redacted> dbname=crm"). Unparseable input yields
// "<unparseable connection string>".
std::string RedactConninfo(absl::string_view conninfo);

}  // namespace dealcoach::connectors::postgres

#endif  // DEALCOACH_CONNECTORS_POSTGRES_PG_SESSION_H_
