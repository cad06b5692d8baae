// PostgreSQL backend: one libpq connection per Store (serialised by a mutex) plus, for
// Watch, a second connection that LISTENs.
//
//   - Every call is one transaction that first sets the tenant
//     (set_config('dealcoach.tenant', $1, true), i.e. SET LOCAL): the row-level
//     security policies of migration 0003 then hide and reject every other tenant's
//     rows, so a bug in a WHERE clause cannot leak across tenants.
//   - A dropped connection (server restart) fails the running call Unavailable and is
//     discarded; the next call connects afresh. Nothing is retried blindly: a write
//     whose COMMIT was lost is the caller's to retry.
//   - Publish serialises on a transaction-scoped advisory lock per playbook; the
//     partial unique index is the backstop. pg_notify is delivered on COMMIT only.
//   - Migrations run under a session advisory lock, each in its own transaction.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cstring>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/store/backends.h"
#include "sidecar/store/migrations.h"

namespace dealcoach::store::internal {
namespace {

constexpr char kNotifyChannel[] = "dealcoach_store_changes";
// pg_advisory_lock key for the migration runner ("dcmigrat" as an int64).
constexpr int64_t kMigrationLockKey = 0x64636d6967726174;

using Params = std::vector<std::optional<std::string>>;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// The connection string without its password, for messages.
std::string Redact(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    PQfreemem(err);
    return "<unparseable connection string>";
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || o->val[0] == '\0') continue;
    bool secret = std::strcmp(o->keyword, "password") == 0;
    parts.push_back(absl::StrCat(o->keyword, "=", secret ? "<redacted>" : o->val));
  }
  PQconninfoFree(opts);
  return absl::StrJoin(parts, " ");
}

std::string Micros(absl::Time t) { return absl::StrCat(absl::ToUnixMicros(t)); }
constexpr char kTimeFromMicros[] = "(timestamptz 'epoch' + $%d::bigint * interval '1 microsecond')";
constexpr char kMicrosOf[] = "(extract(epoch from %s) * 1000000)::bigint";

std::string TimeParam(int n) { return absl::StrFormat(kTimeFromMicros, n); }
std::string MicrosOf(const char* col) { return absl::StrFormat(kMicrosOf, col); }

int64_t ToInt(const char* s) {
  int64_t v = 0;
  (void)absl::SimpleAtoi(s, &v);
  return v;
}

// Parses a one-dimensional text[] in text form ({a,"b c"}): rule ids never contain
// quotes or commas, but quoting is handled anyway.
std::vector<std::string> ParseTextArray(absl::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2) return out;
  absl::string_view body = text.substr(1, text.size() - 2);
  size_t i = 0;
  while (i < body.size()) {
    std::string item;
    if (body[i] == '"') {
      ++i;
      while (i < body.size() && body[i] != '"') {
        if (body[i] == '\\' && i + 1 < body.size()) ++i;
        item.push_back(body[i++]);
      }
      ++i;
    } else {
      while (i < body.size() && body[i] != ',') item.push_back(body[i++]);
    }
    out.push_back(std::move(item));
    if (i < body.size() && body[i] == ',') ++i;
  }
  return out;
}

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

class PgStore : public Store {
 public:
  explicit PgStore(const StoreOptions& options)
      : options_(options), described_(Redact(options.postgres_conninfo)) {}
  ~PgStore() override {
    if (conn_ != nullptr) PQfinish(conn_);
    if (listen_conn_ != nullptr) PQfinish(listen_conn_);
  }

  absl::StatusOr<int> Migrate() override {
    absl::MutexLock lock(&mu_);
    DC_RETURN_IF_ERROR(EnsureConnected());
    DC_RETURN_IF_ERROR(
        Exec("migrate: lock", absl::StrCat("SELECT pg_advisory_lock(", kMigrationLockKey, ")")));
    absl::StatusOr<int> applied = MigrateLocked();
    absl::Status unlock =
        Exec("migrate: unlock", absl::StrCat("SELECT pg_advisory_unlock(", kMigrationLockKey, ")"));
    if (!applied.ok()) {
      Exec("migrate: rollback", "ROLLBACK").IgnoreError();
      return applied.status();
    }
    DC_RETURN_IF_ERROR(unlock);
    return applied;
  }

  absl::StatusOr<StoreStatus> Status() override {
    absl::MutexLock lock(&mu_);
    DC_RETURN_IF_ERROR(EnsureConnected());
    StoreStatus s;
    s.backend = "postgres";
    s.location = described_;
    s.latest_version = PostgresMigrations().empty() ? 0 : PostgresMigrations().back().version;
    DC_ASSIGN_OR_RETURN(Result exists,
                        Query("status", "SELECT to_regclass('schema_migrations') IS NOT NULL", {}));
    if (std::strcmp(PQgetvalue(exists.get(), 0, 0), "t") != 0) return s;
    DC_ASSIGN_OR_RETURN(
        Result r,
        Query("status", "SELECT version, name FROM schema_migrations ORDER BY version", {}));
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      s.schema_version = static_cast<int>(ToInt(PQgetvalue(r.get(), i, 0)));
      s.applied.push_back(absl::StrCat(absl::Dec(s.schema_version, absl::kZeroPad4), "_",
                                       PQgetvalue(r.get(), i, 1)));
    }
    return s;
  }

  absl::Status Vacuum() override {
    absl::MutexLock lock(&mu_);
    DC_RETURN_IF_ERROR(EnsureConnected());
    return Exec("vacuum", "VACUUM ANALYZE");
  }

  absl::StatusOr<Revision> CreateRevision(absl::string_view tenant, absl::string_view name,
                                          absl::string_view yaml, absl::string_view author,
                                          absl::string_view message) override {
    DC_ASSIGN_OR_RETURN(Revision r, NewDraftRevision(tenant, name, yaml, author, message));
    DC_RETURN_IF_ERROR(Tx(tenant, "create revision", [&]() -> absl::Status {
      DC_RETURN_IF_ERROR(LockPlaybook(tenant, name));
      DC_ASSIGN_OR_RETURN(Result q,
                          Query("create revision",
                                "SELECT coalesce(max(revision), 0) + 1 FROM playbook_revisions "
                                "WHERE tenant = $1 AND name = $2",
                                {std::string(tenant), std::string(name)}));
      r.revision = ToInt(PQgetvalue(q.get(), 0, 0));
      return Query("create revision",
                   absl::StrCat("INSERT INTO playbook_revisions (tenant, name, revision, "
                                "content_hash, yaml, author, message, created_at, state) VALUES "
                                "($1, $2, $3, $4, $5, $6, $7, ",
                                TimeParam(8), ", 'draft')"),
                   {r.tenant, r.name, absl::StrCat(r.revision), r.content_hash, r.yaml, r.author,
                    r.message, Micros(r.created_at)})
          .status();
    }));
    return r;
  }

  absl::StatusOr<Revision> Publish(const PublishRequest& req) override {
    if (req.action != "publish" && req.action != "rollback") {
      return absl::InvalidArgumentError("store: publish action must be publish or rollback");
    }
    absl::StatusOr<Revision> out;
    DC_RETURN_IF_ERROR(Tx(req.tenant, "publish", [&]() -> absl::Status {
      DC_RETURN_IF_ERROR(LockPlaybook(req.tenant, req.name));
      DC_ASSIGN_OR_RETURN(Result cur,
                          Query("publish",
                                "SELECT revision FROM playbook_revisions WHERE tenant = $1 AND "
                                "name = $2 AND state = 'published'",
                                {req.tenant, req.name}));
      int64_t current = PQntuples(cur.get()) > 0 ? ToInt(PQgetvalue(cur.get(), 0, 0)) : 0;
      if (current != req.expected_current) {
        return PublishConflict(req.tenant, req.name, current, req.expected_current);
      }
      DC_ASSIGN_OR_RETURN(std::vector<Revision> revs,
                          QueryRevisions(req.tenant, req.name, req.revision));
      if (revs.empty()) {
        return absl::NotFoundError(absl::StrCat("store: playbook ", req.tenant, "/", req.name,
                                                " has no revision ", req.revision));
      }
      if (current != req.revision) {
        DC_RETURN_IF_ERROR(Query("publish: archive",
                                 "UPDATE playbook_revisions SET state = 'archived' WHERE tenant = "
                                 "$1 AND name = $2 AND state = 'published'",
                                 {req.tenant, req.name})
                               .status());
        DC_RETURN_IF_ERROR(Query("publish",
                                 "UPDATE playbook_revisions SET state = 'published' WHERE tenant "
                                 "= $1 AND name = $2 AND revision = $3",
                                 {req.tenant, req.name, absl::StrCat(req.revision)})
                               .status());
      }
      DC_RETURN_IF_ERROR(AppendAuditLocked(AuditEvent{req.tenant, req.actor, req.action, req.name,
                                                      req.revision, absl::Now(), req.detail}));
      DC_RETURN_IF_ERROR(Query("publish: change counter",
                               "INSERT INTO store_changes (tenant, counter) VALUES ($1, 1) ON "
                               "CONFLICT (tenant) DO UPDATE SET counter = store_changes.counter "
                               "+ 1",
                               {req.tenant})
                             .status());
      DC_RETURN_IF_ERROR(Query("publish: notify", "SELECT pg_notify($1, $2)",
                               {std::string(kNotifyChannel), req.tenant})
                             .status());
      revs[0].state = RevisionState::kPublished;
      out = std::move(revs[0]);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Revision> GetRevision(absl::string_view tenant, absl::string_view name,
                                       int64_t revision) override {
    std::vector<Revision> revs;
    DC_RETURN_IF_ERROR(Tx(tenant, "get revision", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(revs, QueryRevisions(tenant, name, revision));
      return absl::OkStatus();
    }));
    if (revs.empty()) {
      return absl::NotFoundError(
          absl::StrCat("store: playbook ", tenant, "/", name, " has no revision ", revision));
    }
    return std::move(revs[0]);
  }

  absl::StatusOr<Revision> GetPublished(absl::string_view tenant, absl::string_view name) override {
    std::vector<Revision> revs;
    DC_RETURN_IF_ERROR(Tx(tenant, "get published", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(revs, QueryRevisions(tenant, name, 0, /*published_only=*/true));
      return absl::OkStatus();
    }));
    if (revs.empty()) {
      return absl::NotFoundError(
          absl::StrCat("store: playbook ", tenant, "/", name, " has no published revision"));
    }
    return std::move(revs[0]);
  }

  absl::StatusOr<std::vector<Revision>> ListPublished(absl::string_view tenant) override {
    std::vector<Revision> revs;
    DC_RETURN_IF_ERROR(Tx(tenant, "list published", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(revs, QueryRevisions(tenant, "", 0, /*published_only=*/true,
                                               /*any_name=*/true));
      return absl::OkStatus();
    }));
    return revs;
  }

  absl::StatusOr<std::vector<Revision>> ListRevisions(absl::string_view tenant,
                                                      absl::string_view name) override {
    std::vector<Revision> revs;
    DC_RETURN_IF_ERROR(Tx(tenant, "list revisions", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(revs, QueryRevisions(tenant, name, 0));
      return absl::OkStatus();
    }));
    return revs;
  }

  absl::Status AppendAudit(const AuditEvent& event) override {
    return Tx(event.tenant, "append audit", [&] { return AppendAuditLocked(event); });
  }

  absl::StatusOr<std::vector<AuditEvent>> ListAudit(absl::string_view tenant,
                                                    absl::string_view playbook,
                                                    int limit) override {
    std::vector<AuditEvent> out;
    DC_RETURN_IF_ERROR(Tx(tenant, "list audit", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(
          Result r,
          Query("list audit",
                absl::StrCat("SELECT tenant, actor, action, playbook, revision, ", MicrosOf("at"),
                             ", detail FROM audit_events WHERE tenant = $1 AND ($2 = '' "
                             "OR playbook = $2) ORDER BY id DESC LIMIT $3"),
                {std::string(tenant), std::string(playbook), absl::StrCat(limit)}));
      for (int i = 0; i < PQntuples(r.get()); ++i) {
        out.push_back(AuditEvent{
            PQgetvalue(r.get(), i, 0), PQgetvalue(r.get(), i, 1), PQgetvalue(r.get(), i, 2),
            PQgetvalue(r.get(), i, 3), ToInt(PQgetvalue(r.get(), i, 4)),
            absl::FromUnixMicros(ToInt(PQgetvalue(r.get(), i, 5))), PQgetvalue(r.get(), i, 6)});
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status WriteSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                             const std::vector<CompactResult>& results) override {
    if (snapshot_id.empty()) return absl::InvalidArgumentError("store: snapshot id is required");
    const std::string t(tenant), id(snapshot_id);
    DC_RETURN_IF_ERROR(Tx(tenant, "write snapshot", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(Result r, Query("write snapshot",
                                          "SELECT 1 FROM snapshots WHERE tenant = $1 AND "
                                          "snapshot_id = $2 UNION ALL SELECT 1 FROM "
                                          "snapshot_results WHERE tenant = $1 AND snapshot_id = "
                                          "$2 LIMIT 1",
                                          {t, id}));
      if (PQntuples(r.get()) > 0) {
        return absl::AlreadyExistsError(
            absl::StrCat("store: snapshot ", tenant, "/", snapshot_id, " already exists"));
      }
      return absl::OkStatus();
    }));
    absl::Status s = WriteSnapshotRows(t, id, results);
    if (!s.ok()) {
      // Best effort: on a lost connection the rows stay invisible (no header) until the
      // id is deleted or reused after DeleteSnapshot.
      DeleteSnapshot(tenant, snapshot_id).IgnoreError();
      return s;
    }
    return Tx(tenant, "write snapshot header", [&]() -> absl::Status {
      return Query("write snapshot header",
                   absl::StrCat("INSERT INTO snapshots (tenant, snapshot_id, created_at, deals) "
                                "VALUES ($1, $2, ",
                                TimeParam(3), ", $4)"),
                   {t, id, Micros(absl::Now()), absl::StrCat(results.size())})
          .status();
    });
  }

  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(absl::string_view tenant) override {
    std::vector<SnapshotInfo> out;
    DC_RETURN_IF_ERROR(Tx(tenant, "list snapshots", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(out, ListSnapshotsLocked(tenant));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::Status ReadSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                            const std::function<void(const CompactResult&)>& fn) override {
    return Tx(tenant, "read snapshot", [&]() -> absl::Status {
      DC_RETURN_IF_ERROR(CheckSnapshot(tenant, snapshot_id));
      DC_RETURN_IF_ERROR(DeclareCursor("dc_read", tenant, snapshot_id));
      CompactResult r;
      while (true) {
        DC_ASSIGN_OR_RETURN(Result batch, Fetch("dc_read"));
        int n = PQntuples(batch.get());
        if (n == 0) break;
        for (int i = 0; i < n; ++i) {
          if (!r.ParseFromArray(PQgetvalue(batch.get(), i, 1), PQgetlength(batch.get(), i, 1))) {
            return absl::DataLossError(absl::StrCat("store: snapshot ", snapshot_id, " deal ",
                                                    PQgetvalue(batch.get(), i, 0),
                                                    ": unreadable result"));
          }
          fn(r);
        }
      }
      return absl::OkStatus();
    });
  }

  absl::Status CompareSnapshots(absl::string_view tenant, absl::string_view before,
                                absl::string_view after,
                                const std::function<void(const DealDiff&)>& fn) override {
    return Tx(tenant, "compare snapshots", [&]() -> absl::Status {
      DC_RETURN_IF_ERROR(CheckSnapshot(tenant, before));
      DC_RETURN_IF_ERROR(CheckSnapshot(tenant, after));
      // One query: the server joins the two snapshots on the deal id and returns only
      // the deals whose results differ (added, removed or changed bytes), so 5,000
      // changed deals of 100,000 ship 5,000 rows, not 200,000. Both sides are range
      // scans of the primary key (tenant, snapshot_id, deal_id), already in deal-id
      // order, which a merge join consumes without sorting. The planner does not
      // always see that: right after a snapshot is written its statistics are stale
      // (it estimates a handful of rows) and it picks a hash join or a sort that
      // spills 100,000 rows to disk. So, for this transaction only (SET LOCAL), the
      // alternatives are priced out, and JIT (tens of milliseconds of compiling for a
      // plan this simple) is off.
      DC_RETURN_IF_ERROR(
          Query("compare snapshots",
                "SELECT set_config('enable_hashjoin', 'off', true), "
                "set_config('enable_seqscan', 'off', true), "
                "set_config('enable_bitmapscan', 'off', true), "
                "set_config('enable_sort', 'off', true), set_config('jit', 'off', true)",
                {})
              .status());
      DC_RETURN_IF_ERROR(
          Query("compare snapshots",
                "DECLARE dc_compare NO SCROLL CURSOR FOR "
                "SELECT coalesce(a.deal_id, b.deal_id), a.result, b.result FROM "
                "(SELECT deal_id, result FROM snapshot_results WHERE tenant = $1 AND "
                "snapshot_id = $2 ORDER BY deal_id) a FULL JOIN "
                "(SELECT deal_id, result FROM snapshot_results WHERE tenant = $1 AND "
                "snapshot_id = $3 ORDER BY deal_id) b ON a.deal_id = b.deal_id "
                "WHERE a.result IS DISTINCT FROM b.result ORDER BY 1",
                {std::string(tenant), std::string(before), std::string(after)})
              .status());
      // Fetched in binary, batch by batch: memory stays bounded however many differ.
      DealDiff scratch;
      std::string id;
      while (true) {
        DC_ASSIGN_OR_RETURN(Result batch, Fetch("dc_compare"));
        const int n = PQntuples(batch.get());
        if (n == 0) break;
        for (int i = 0; i < n; ++i) {
          id.assign(PQgetvalue(batch.get(), i, 0), PQgetlength(batch.get(), i, 0));
          auto column = [&](int col) {
            return absl::string_view(PQgetvalue(batch.get(), i, col),
                                     PQgetlength(batch.get(), i, col));
          };
          const absl::string_view a = column(1), b = column(2);
          DC_RETURN_IF_ERROR(EmitDealDiff(id, PQgetisnull(batch.get(), i, 1) ? nullptr : &a,
                                          PQgetisnull(batch.get(), i, 2) ? nullptr : &b, &scratch,
                                          fn));
        }
      }
      return absl::OkStatus();
    });
  }

  absl::Status DeleteSnapshot(absl::string_view tenant, absl::string_view snapshot_id) override {
    return Tx(tenant, "delete snapshot",
              [&]() -> absl::Status { return DeleteSnapshotLocked(tenant, snapshot_id); });
  }

  absl::StatusOr<int> PruneSnapshots(absl::string_view tenant, absl::Time now) override {
    int deleted = 0;
    DC_RETURN_IF_ERROR(Tx(tenant, "prune snapshots", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(std::vector<SnapshotInfo> snaps, ListSnapshotsLocked(tenant));
      for (size_t i = 0; i < snaps.size(); ++i) {
        bool too_many = static_cast<int>(i) >= options_.keep_snapshots;
        bool too_old = options_.snapshot_max_age > absl::ZeroDuration() &&
                       snaps[i].created_at < now - options_.snapshot_max_age;
        if (!too_many && !too_old) continue;
        DC_RETURN_IF_ERROR(DeleteSnapshotLocked(tenant, snaps[i].snapshot_id));
        ++deleted;
      }
      return absl::OkStatus();
    }));
    return deleted;
  }

  absl::Status WriteDecisions(const std::vector<Decision>& decisions) override {
    // One transaction per tenant (the tenant is fixed per transaction).
    std::vector<std::string> tenants;
    for (const Decision& d : decisions) {
      DC_RETURN_IF_ERROR(ValidateTenant(d.tenant));
      if (std::find(tenants.begin(), tenants.end(), d.tenant) == tenants.end()) {
        tenants.push_back(d.tenant);
      }
    }
    for (const std::string& tenant : tenants) {
      DC_RETURN_IF_ERROR(Tx(tenant, "write decisions", [&]() -> absl::Status {
        for (const Decision& d : decisions) {
          if (d.tenant != tenant) continue;
          DC_RETURN_IF_ERROR(
              Query("write decisions",
                    absl::StrCat("INSERT INTO decisions (tenant, decision_id, at, caller, "
                                 "deal_id, playbook, revision, fired_rule_ids, input_hash, "
                                 "latency_us) VALUES ($1, $2, ",
                                 TimeParam(3),
                                 ", $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant, "
                                 "decision_id) DO NOTHING"),
                    {d.tenant, d.decision_id, Micros(d.at), d.caller, d.deal_id, d.playbook,
                     absl::StrCat(d.revision), TextArrayLiteral(d.fired_rule_ids), d.input_hash,
                     absl::StrCat(absl::ToInt64Microseconds(d.latency))})
                  .status());
        }
        return absl::OkStatus();
      }));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Decision>> ListDecisions(absl::string_view tenant,
                                                      absl::string_view deal_id,
                                                      int limit) override {
    std::vector<Decision> out;
    DC_RETURN_IF_ERROR(Tx(tenant, "list decisions", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(
          Result r,
          Query("list decisions",
                absl::StrCat("SELECT tenant, decision_id, ", MicrosOf("at"),
                             ", caller, deal_id, playbook, revision, fired_rule_ids, input_hash, "
                             "latency_us FROM decisions WHERE tenant = $1 AND ($2 = '' OR "
                             "deal_id = $2) ORDER BY at DESC, decision_id DESC LIMIT $3"),
                {std::string(tenant), std::string(deal_id), absl::StrCat(limit)}));
      for (int i = 0; i < PQntuples(r.get()); ++i) {
        Decision d;
        d.tenant = PQgetvalue(r.get(), i, 0);
        d.decision_id = PQgetvalue(r.get(), i, 1);
        d.at = absl::FromUnixMicros(ToInt(PQgetvalue(r.get(), i, 2)));
        d.caller = PQgetvalue(r.get(), i, 3);
        d.deal_id = PQgetvalue(r.get(), i, 4);
        d.playbook = PQgetvalue(r.get(), i, 5);
        d.revision = ToInt(PQgetvalue(r.get(), i, 6));
        d.fired_rule_ids = ParseTextArray(PQgetvalue(r.get(), i, 7));
        d.input_hash = PQgetvalue(r.get(), i, 8);
        d.latency = absl::Microseconds(ToInt(PQgetvalue(r.get(), i, 9)));
        out.push_back(std::move(d));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<int64_t> PruneDecisions(absl::string_view tenant, absl::Time before) override {
    int64_t n = 0;
    DC_RETURN_IF_ERROR(Tx(tenant, "prune decisions", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(
          Result r,
          Query("prune decisions",
                absl::StrCat("DELETE FROM decisions WHERE tenant = $1 AND at < ", TimeParam(2)),
                {std::string(tenant), Micros(before)}));
      n = ToInt(PQcmdTuples(r.get()));
      return absl::OkStatus();
    }));
    return n;
  }

  absl::StatusOr<int64_t> ChangeCounter(absl::string_view tenant) override {
    int64_t counter = 0;
    DC_RETURN_IF_ERROR(Tx(tenant, "change counter", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(
          Result r, Query("change counter", "SELECT counter FROM store_changes WHERE tenant = $1",
                          {std::string(tenant)}));
      if (PQntuples(r.get()) > 0) counter = ToInt(PQgetvalue(r.get(), 0, 0));
      return absl::OkStatus();
    }));
    return counter;
  }

  absl::StatusOr<int64_t> Watch(absl::string_view tenant, int64_t after,
                                absl::Time deadline) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    absl::MutexLock watch_lock(&watch_mu_);
    while (true) {
      // LISTEN before reading the counter, so a publish between the read and the wait
      // still wakes us.
      absl::Status listening = EnsureListening();
      DC_ASSIGN_OR_RETURN(int64_t counter, ChangeCounter(tenant));
      if (counter > after || absl::Now() >= deadline) return counter;
      // Wait for a notification; without a listener (it failed to connect) or when a
      // notification is missed, the bounded wait makes this a 250 ms poll.
      absl::Duration wait = std::min(absl::Milliseconds(250), deadline - absl::Now());
      if (!listening.ok() || listen_conn_ == nullptr) {
        absl::SleepFor(wait);
        continue;
      }
      pollfd pfd{PQsocket(listen_conn_), POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait))));
      if (PQconsumeInput(listen_conn_) == 0) {
        PQfinish(listen_conn_);
        listen_conn_ = nullptr;
        continue;
      }
      while (PGnotify* n = PQnotifies(listen_conn_)) PQfreemem(n);
    }
  }

  absl::Status Connect() {
    absl::MutexLock lock(&mu_);
    return EnsureConnected();
  }

 private:
  absl::StatusOr<PGconn*> NewConnection() {
    std::string timeout =
        absl::StrCat(std::max<int64_t>(1, absl::ToInt64Seconds(options_.connect_timeout)));
    // client_min_messages: no NOTICE on stderr for each snapshot batch's
    // "CREATE TEMP TABLE IF NOT EXISTS" (libpq prints notices by default).
    std::string pg_options =
        absl::StrCat("-c TimeZone=UTC -c client_min_messages=warning -c statement_timeout=",
                     absl::ToInt64Milliseconds(options_.statement_timeout));
    const char* keywords[] = {"dbname", "connect_timeout", "options", "application_name", nullptr};
    const char* values[] = {options_.postgres_conninfo.c_str(), timeout.c_str(), pg_options.c_str(),
                            "dealcoach-store", nullptr};
    PGconn* c = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
    if (c == nullptr || PQstatus(c) != CONNECTION_OK) {
      std::string msg = c != nullptr ? PQerrorMessage(c) : "out of memory";
      if (c != nullptr) PQfinish(c);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      return absl::UnavailableError(
          absl::StrCat("store: postgres ", described_, ": cannot connect: ", msg));
    }
    return c;
  }

  absl::Status EnsureConnected() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return absl::OkStatus();
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    DC_ASSIGN_OR_RETURN(conn_, NewConnection());
    return absl::OkStatus();
  }

  absl::Status EnsureListening() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_mu_) {
    if (listen_conn_ != nullptr && PQstatus(listen_conn_) == CONNECTION_OK) {
      return absl::OkStatus();
    }
    if (listen_conn_ != nullptr) PQfinish(listen_conn_);
    listen_conn_ = nullptr;
    DC_ASSIGN_OR_RETURN(PGconn * c, NewConnection());
    Result r(PQexec(c, absl::StrCat("LISTEN ", kNotifyChannel).c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      PQfinish(c);
      return absl::UnavailableError("store: postgres: LISTEN failed");
    }
    listen_conn_ = c;
    return absl::OkStatus();
  }

  // Maps a failed result to a status; drops the connection when it is gone.
  absl::Status ResultError(absl::string_view what, PGresult* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    std::string sqlstate = state != nullptr ? state : "";
    std::string msg = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    std::string text = absl::StrCat("store: postgres ", described_, ": ", what, ": ", msg);
    bool lost = PQstatus(conn_) != CONNECTION_OK || absl::StartsWith(sqlstate, "08") ||
                sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
    if (lost) {
      PQfinish(conn_);
      conn_ = nullptr;
      in_tx_ = false;
      return absl::UnavailableError(text);
    }
    if (sqlstate == "23505" || sqlstate == "40001" || sqlstate == "40P01") {
      return absl::AbortedError(text);
    }
    if (absl::StartsWith(sqlstate, "23")) return absl::FailedPreconditionError(text);
    if (sqlstate == "42501") return absl::PermissionDeniedError(text);
    if (sqlstate == "57014") return absl::DeadlineExceededError(text);
    if (absl::StartsWith(sqlstate, "53")) return absl::ResourceExhaustedError(text);
    if (absl::StartsWith(sqlstate, "28")) return absl::UnauthenticatedError(text);
    if (sqlstate == "42P01" || sqlstate == "42703") return absl::FailedPreconditionError(text);
    if (absl::StartsWith(sqlstate, "22")) return absl::InvalidArgumentError(text);
    return absl::InternalError(text);
  }

  absl::StatusOr<Result> Query(absl::string_view what, const std::string& sql, const Params& params,
                               int result_format = 0) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (conn_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("store: postgres ", described_, ": ", what, ": connection lost"));
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    Result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                          values.data(), nullptr, nullptr, result_format));
    ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ResultError(what, r.get());
    return r;
  }

  absl::Status Exec(absl::string_view what, const std::string& sql)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (conn_ == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("store: postgres ", described_, ": ", what, ": connection lost"));
    }
    Result r(PQexec(conn_, sql.c_str()));
    ExecStatusType st = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return ResultError(what, r.get());
    return absl::OkStatus();
  }

  // Runs `fn` in a transaction scoped to `tenant`; rolls back on any error.
  template <typename Fn>
  absl::Status Tx(absl::string_view tenant, absl::string_view what, Fn fn) {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    absl::MutexLock lock(&mu_);
    DC_RETURN_IF_ERROR(EnsureConnected());
    DC_RETURN_IF_ERROR(Exec(what, "BEGIN"));
    in_tx_ = true;
    absl::Status s =
        Query(what, "SELECT set_config('dealcoach.tenant', $1, true)", {std::string(tenant)})
            .status();
    if (s.ok()) s = fn();
    if (s.ok()) s = Exec(what, "COMMIT");
    if (!s.ok() && conn_ != nullptr) Exec(what, "ROLLBACK").IgnoreError();
    in_tx_ = false;
    return s;
  }

  absl::Status LockPlaybook(absl::string_view tenant, absl::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return Query("lock playbook",
                 "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || $2, 0))",
                 {std::string(tenant), std::string(name)})
        .status();
  }

  absl::StatusOr<int> MigrateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_ASSIGN_OR_RETURN(
        Result exists, Query("migrate", "SELECT to_regclass('schema_migrations') IS NOT NULL", {}));
    if (std::strcmp(PQgetvalue(exists.get(), 0, 0), "t") != 0) {
      DC_RETURN_IF_ERROR(Exec("migrate: schema_migrations",
                              "CREATE TABLE IF NOT EXISTS schema_migrations (version integer "
                              "PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL "
                              "DEFAULT now())"));
    }
    DC_ASSIGN_OR_RETURN(
        Result cur,
        Query("migrate", "SELECT coalesce(max(version), 0) FROM schema_migrations", {}));
    int current = static_cast<int>(ToInt(PQgetvalue(cur.get(), 0, 0)));
    const std::vector<Migration>& all = PostgresMigrations();
    if (!all.empty() && current > all.back().version) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: postgres ", described_, ": schema version ", current,
                       " is newer than this binary's ", all.back().version));
    }
    int applied = 0;
    for (const Migration& m : all) {
      if (m.version <= current) continue;
      std::string label =
          absl::StrCat("migration ", absl::Dec(m.version, absl::kZeroPad4), "_", m.name);
      DC_RETURN_IF_ERROR(Exec(label, "BEGIN"));
      DC_RETURN_IF_ERROR(Exec(label, m.sql));
      DC_RETURN_IF_ERROR(Query(label,
                               "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               {absl::StrCat(m.version), std::string(m.name)})
                             .status());
      DC_RETURN_IF_ERROR(Exec(label, "COMMIT"));
      ++applied;
    }
    return applied;
  }

  absl::StatusOr<std::vector<Revision>> QueryRevisions(absl::string_view tenant,
                                                       absl::string_view name, int64_t revision,
                                                       bool published_only = false,
                                                       bool any_name = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // any_name: every name of the tenant ($2 is then ''). COLLATE "C": byte order, as
    // on SQLite.
    std::string sql = absl::StrCat(
        "SELECT tenant, name, revision, content_hash, yaml, author, message, ",
        MicrosOf("created_at"), ", state FROM playbook_revisions WHERE tenant = $1 AND ",
        any_name ? "($2 = '' OR name = $2) " : "name = $2 ", "AND ($3 = 0 OR revision = $3) ",
        published_only ? "AND state = 'published' " : "", "ORDER BY name COLLATE \"C\", revision");
    DC_ASSIGN_OR_RETURN(Result r,
                        Query("read revisions", sql,
                              {std::string(tenant), std::string(name), absl::StrCat(revision)}));
    std::vector<Revision> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      Revision rev;
      rev.tenant = PQgetvalue(r.get(), i, 0);
      rev.name = PQgetvalue(r.get(), i, 1);
      rev.revision = ToInt(PQgetvalue(r.get(), i, 2));
      rev.content_hash = PQgetvalue(r.get(), i, 3);
      rev.yaml = PQgetvalue(r.get(), i, 4);
      rev.author = PQgetvalue(r.get(), i, 5);
      rev.message = PQgetvalue(r.get(), i, 6);
      rev.created_at = absl::FromUnixMicros(ToInt(PQgetvalue(r.get(), i, 7)));
      DC_ASSIGN_OR_RETURN(rev.state, ParseRevisionState(PQgetvalue(r.get(), i, 8)));
      out.push_back(std::move(rev));
    }
    return out;
  }

  absl::Status AppendAuditLocked(const AuditEvent& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!IsKnownAction(e.action)) {
      return absl::InvalidArgumentError(absl::StrCat("store: unknown audit action '", e.action,
                                                     "' (validate, plan, publish, rollback)"));
    }
    return Query("append audit",
                 absl::StrCat("INSERT INTO audit_events (tenant, actor, action, playbook, "
                              "revision, at, detail) VALUES ($1, $2, $3, $4, $5, ",
                              TimeParam(6), ", $7)"),
                 {e.tenant, e.actor, e.action, e.playbook, absl::StrCat(e.revision),
                  Micros(e.at == absl::Time() ? absl::Now() : e.at), e.detail})
        .status();
  }

  // COPY FROM is refused on tables with row-level security, so each batch is COPied into
  // a session-local temporary table (no RLS, no WAL; ON COMMIT DELETE ROWS empties it)
  // and moved with one INSERT ... SELECT, in one transaction per snapshot_batch_rows.
  // The INSERT goes through the policies like any other (tenant = the transaction's).
  absl::Status WriteSnapshotRows(const std::string& tenant, const std::string& id,
                                 const std::vector<CompactResult>& results) {
    size_t batch = static_cast<size_t>(std::max(1, options_.snapshot_batch_rows));
    for (size_t start = 0; start < results.size(); start += batch) {
      size_t end = std::min(results.size(), start + batch);
      DC_RETURN_IF_ERROR(Tx(tenant, "write snapshot", [&]() -> absl::Status {
        DC_RETURN_IF_ERROR(Exec("write snapshot: staging table",
                                "CREATE TEMP TABLE IF NOT EXISTS dc_snapshot_stage ("
                                "deal_id text, claimed_phase text, evidence_phase text, "
                                "amount float8, close_date_unix int8, owner text, stage text, "
                                "result bytea) ON COMMIT DELETE ROWS"));
        DC_RETURN_IF_ERROR(CopyRows(results, start, end));
        return Query("write snapshot",
                     "INSERT INTO snapshot_results (tenant, snapshot_id, deal_id, "
                     "claimed_phase, evidence_phase, amount, close_date_unix, owner, stage, "
                     "result) SELECT $1, $2, deal_id, claimed_phase, evidence_phase, amount, "
                     "close_date_unix, owner, stage, result FROM dc_snapshot_stage",
                     {tenant, id})
            .status();
      }));
    }
    return absl::OkStatus();
  }

  // COPY text format: backslash, newline, carriage return and tab escaped.
  static void AppendCopyText(absl::string_view v, std::string* out) {
    for (char c : v) {
      switch (c) {
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        default:
          out->push_back(c);
      }
    }
  }

  absl::Status CopyRows(const std::vector<CompactResult>& results, size_t first, size_t last)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Result begin(PQexec(conn_, "COPY dc_snapshot_stage FROM STDIN"));
    if (begin == nullptr || PQresultStatus(begin.get()) != PGRES_COPY_IN) {
      return ResultError("write snapshot: copy", begin.get());
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string buf;
    absl::Status failed;
    auto flush = [&]() {
      if (!buf.empty() && PQputCopyData(conn_, buf.data(), static_cast<int>(buf.size())) != 1) {
        failed = absl::UnavailableError(absl::StrCat(
            "store: postgres ", described_, ": write snapshot: copy: ", PQerrorMessage(conn_)));
      }
      buf.clear();
    };
    std::string bytes;
    for (size_t i = first; i < last && failed.ok(); ++i) {
      const CompactResult& r = results[i];
      if (r.deal_id().empty()) {
        failed = absl::InvalidArgumentError(
            absl::StrCat("store: snapshot result ", i, " has no deal id"));
        break;
      }
      AppendCopyText(r.deal_id(), &buf);
      buf.push_back('\t');
      AppendCopyText(r.claimed_phase(), &buf);
      buf.push_back('\t');
      AppendCopyText(r.evidence_phase(), &buf);
      absl::StrAppend(&buf, "\t", r.amount(), "\t", r.close_date_unix(), "\t");
      AppendCopyText(r.owner(), &buf);
      buf.push_back('\t');
      AppendCopyText(r.stage(), &buf);
      // bytea in hex form; its leading backslash escaped for COPY.
      buf.append("\t\\\\x");
      bytes.clear();
      r.SerializeToString(&bytes);
      for (unsigned char c : bytes) {
        buf.push_back(kHex[c >> 4]);
        buf.push_back(kHex[c & 15]);
      }
      buf.push_back('\n');
      if (buf.size() >= (1 << 20)) flush();
    }
    if (failed.ok()) flush();
    const char* abort_reason = failed.ok() ? nullptr : "snapshot write failed";
    if (PQputCopyEnd(conn_, abort_reason) != 1 && failed.ok()) {
      failed = absl::UnavailableError(absl::StrCat(
          "store: postgres ", described_, ": write snapshot: copy: ", PQerrorMessage(conn_)));
    }
    // Drain every result of the COPY (one, then null).
    absl::Status copy_status;
    while (PGresult* raw = PQgetResult(conn_)) {
      Result res(raw);
      if (copy_status.ok() && PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
        copy_status = ResultError("write snapshot: copy", res.get());
        if (conn_ == nullptr) break;
      }
    }
    if (!failed.ok()) return failed;
    return copy_status;
  }

  absl::Status DeleteSnapshotLocked(absl::string_view tenant, absl::string_view snapshot_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const char* sql :
         {"DELETE FROM snapshots WHERE tenant = $1 AND snapshot_id = $2",
          "DELETE FROM snapshot_results WHERE tenant = $1 AND snapshot_id = $2"}) {
      DC_RETURN_IF_ERROR(
          Query("delete snapshot", sql, {std::string(tenant), std::string(snapshot_id)}).status());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshotsLocked(absl::string_view tenant)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_ASSIGN_OR_RETURN(Result r,
                        Query("list snapshots",
                              absl::StrCat("SELECT snapshot_id, ", MicrosOf("created_at"),
                                           ", deals FROM snapshots WHERE tenant = $1 ORDER BY "
                                           "created_at DESC, snapshot_id DESC"),
                              {std::string(tenant)}));
    std::vector<SnapshotInfo> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      out.push_back(SnapshotInfo{PQgetvalue(r.get(), i, 0),
                                 absl::FromUnixMicros(ToInt(PQgetvalue(r.get(), i, 1))),
                                 ToInt(PQgetvalue(r.get(), i, 2))});
    }
    return out;
  }

  absl::Status CheckSnapshot(absl::string_view tenant, absl::string_view snapshot_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_ASSIGN_OR_RETURN(
        Result r,
        Query("read snapshot", "SELECT 1 FROM snapshots WHERE tenant = $1 AND snapshot_id = $2",
              {std::string(tenant), std::string(snapshot_id)}));
    if (PQntuples(r.get()) == 0) {
      return absl::NotFoundError(absl::StrCat("store: no snapshot ", tenant, "/", snapshot_id));
    }
    return absl::OkStatus();
  }

  absl::Status DeclareCursor(const char* cursor, absl::string_view tenant,
                             absl::string_view snapshot_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return Query("declare cursor",
                 absl::StrCat("DECLARE ", cursor,
                              " NO SCROLL CURSOR FOR SELECT deal_id, result FROM "
                              "snapshot_results WHERE tenant = $1 AND snapshot_id = $2 ORDER BY "
                              "deal_id"),
                 {std::string(tenant), std::string(snapshot_id)})
        .status();
  }

  absl::StatusOr<Result> Fetch(const char* cursor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return Query("fetch", absl::StrCat("FETCH 10000 FROM ", cursor), {}, /*result_format=*/1);
  }

  const StoreOptions options_;
  const std::string described_;
  absl::Mutex mu_;
  PGconn* conn_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool in_tx_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex watch_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  PGconn* listen_conn_ ABSL_GUARDED_BY(watch_mu_) = nullptr;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgres(const StoreOptions& options) {
  if (options.postgres_conninfo.empty()) {
    return absl::InvalidArgumentError(
        "store: postgres needs a connection string (store.postgres.conninfo)");
  }
  auto store = std::make_unique<PgStore>(options);
  DC_RETURN_IF_ERROR(store->Connect());
  if (options.migrate) {
    DC_RETURN_IF_ERROR(store->Migrate().status());
  } else if (options.require_current_schema) {
    DC_ASSIGN_OR_RETURN(StoreStatus st, store->Status());
    if (st.schema_version < st.latest_version) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: postgres ", st.location, ": schema version ", st.schema_version,
                       " is behind ", st.latest_version, "; run 'dealcoach store migrate'"));
    }
  }
  return std::unique_ptr<Store>(std::move(store));
}

std::string RedactConninfo(const std::string& conninfo) { return Redact(conninfo); }

}  // namespace dealcoach::store::internal
