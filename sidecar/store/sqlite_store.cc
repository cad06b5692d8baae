// SQLite backend: one connection per Store, WAL journal so readers in other processes
// never block the writer, and a bounded wait for another connection's lock so two
// writers wait for each other instead of failing. Writes take the write lock up front
// (BEGIN IMMEDIATE): a read-then-write transaction can then never deadlock with
// another process's, which is what makes Publish's check-then-update and the
// migration runner safe across processes.
//
// Waiting is bounded by store.busy_timeout: a call waits at most that long for its
// turn on the connection (Turn: the calls of this Store take turns on its one
// connection) and, counted from the same moment, for the database lock (OnBusy, the
// busy handler, gives up at the turn's deadline). So a call of one transaction returns
// within busy_timeout of being made plus the time of its own statements, even while
// another process holds the lock and other threads of this process wait for it too;
// without the turn's deadline a call could queue behind any number of calls each
// waiting out the lock. Calls of several transactions (WriteSnapshot, one per batch;
// PruneSnapshots, one per snapshot) take a turn per transaction, each bounded the same
// way, so a long snapshot write does not hold the connection from the decision writer
// or the status RPC for its whole length.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/store/backends.h"
#include "sidecar/store/migrations.h"

namespace dealcoach::store::internal {
namespace {

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt() = default;
  // Borrows a cached statement: reset (and its bindings cleared) on destruction instead
  // of finalized, so it holds no read transaction open between uses.
  explicit Stmt(sqlite3_stmt* cached) : stmt_(cached), owned_(false) {}
  ~Stmt() {
    if (owned_) {
      sqlite3_finalize(stmt_);
    } else if (stmt_ != nullptr) {
      sqlite3_reset(stmt_);
      sqlite3_clear_bindings(stmt_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

  void Bind(int i, absl::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void BindBlob(int i, absl::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(p),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  absl::string_view Blob(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? absl::string_view() : absl::string_view(static_cast<const char*>(p), n);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  bool owned_ = true;
};

class SqliteStore : public Store {
 public:
  SqliteStore(const StoreOptions& options, std::string path)
      : options_(options), path_(std::move(path)) {}

  // A turn on the connection (file comment): waits for the calls ahead until
  // busy_timeout from now, then fails Unavailable. When ok() it holds mu_ for its life
  // and sets the deadline OnBusy honours; when not, it holds nothing (the caller returns
  // status() at once, so the analysis' view that mu_ is held does not matter).
  class ABSL_SCOPED_LOCKABLE Turn {
   public:
    Turn(SqliteStore* s, absl::string_view what)
        ABSL_EXCLUSIVE_LOCK_FUNCTION(s->mu_) ABSL_NO_THREAD_SAFETY_ANALYSIS : s_(s) {
      const absl::Time deadline = absl::Now() + s->options_.busy_timeout;
      {
        absl::MutexLock gate(&s->turn_mu_);
        ok_ = s->turn_mu_.AwaitWithDeadline(absl::Condition(&s->turn_free_), deadline);
        if (ok_) s->turn_free_ = false;
      }
      if (!ok_) {
        status_ = absl::UnavailableError(
            absl::StrCat("store: sqlite ", s->path_, ": ", what,
                         ": timed out waiting for the store's connection, which another call holds "
                         "(waiting for the database lock, or a long write); store.busy_timeout is ",
                         absl::FormatDuration(s->options_.busy_timeout)));
        return;
      }
      s->mu_.Lock();
      s->deadline_ = deadline;
      s->began_tx_ = false;
    }
    ~Turn() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (!ok_) return;
      s_->mu_.Unlock();
      absl::MutexLock gate(&s_->turn_mu_);
      s_->turn_free_ = true;
    }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;
    const absl::Status& status() const { return status_; }

   private:
    SqliteStore* const s_;
    bool ok_ = false;
    absl::Status status_;
  };
  ~SqliteStore() override {
    absl::MutexLock lock(&mu_);
    for (auto& [sql, stmt] : cached_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  // Gives WriteDecisions and PruneDecisions a connection of their own (decision_conn_).
  void SetDecisionConnection(std::unique_ptr<SqliteStore> conn) {
    decision_conn_ = std::move(conn);
  }

  absl::Status Init() {
    absl::MutexLock lock(&mu_);
    int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) return Error("open", rc);
    sqlite3_extended_result_codes(db_, 1);
    deadline_ = absl::Now() + options_.busy_timeout;
    sqlite3_busy_handler(db_, &SqliteStore::OnBusy, this);
    // journal_mode=WAL is the first statement that reads the file: a corrupt file or a
    // read-only directory fails here, with the file named.
    DC_RETURN_IF_ERROR(ExecAtOpen("PRAGMA journal_mode=WAL", "enable WAL"));
    DC_RETURN_IF_ERROR(
        ExecLocked("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", "set pragmas"));
    if (options_.sqlite_cache_mib > 0) {
      // Negative: a size in KiB rather than in pages.
      const std::string cache =
          absl::StrCat("PRAGMA cache_size=-", int64_t{options_.sqlite_cache_mib} * 1024);
      DC_RETURN_IF_ERROR(ExecLocked(cache.c_str(), "set the page cache size"));
    }
    DC_RETURN_IF_ERROR(ExecAtOpen("SELECT count(*) FROM sqlite_master", "read schema"));
    return absl::OkStatus();
  }

  // ExecLocked for the statements that open the file, retried on SQLITE_BUSY until the
  // open's deadline. SQLite does not call the busy handler where waiting could deadlock,
  // and two processes opening a new file at once are such a case: both read the header,
  // both want the exclusive lock that switching to WAL takes, and one gets SQLITE_BUSY
  // at once. Without the retry that process served without its store (seen in
  // StoreReplicas.TwoProcessesOnOneSqliteFile*, about one start in five); the other
  // process's switch takes milliseconds.
  absl::Status ExecAtOpen(const char* sql, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int attempt = 0;; ++attempt) {
      const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) return absl::OkStatus();
      if ((rc & 0xff) != SQLITE_BUSY || OnBusy(this, attempt) == 0) return Error(what, rc);
    }
  }

  // Open (and its migration) succeeded: from now on errors of the disk are faults.
  void MarkOpened() {
    absl::MutexLock lock(&mu_);
    opened_ = true;
  }

  absl::StatusOr<int> Migrate() override {
    Turn turn(this, "migrate");
    DC_RETURN_IF_ERROR(turn.status());
    // One BEGIN IMMEDIATE around the check and every pending migration: a second
    // process waits (busy_timeout) and then finds them applied.
    DC_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE", "migrate: lock"));
    absl::StatusOr<int> applied = MigrateLocked();
    if (!applied.ok()) {
      ExecLocked("ROLLBACK", "migrate: rollback").IgnoreError();
      return applied.status();
    }
    DC_RETURN_IF_ERROR(ExecLocked("COMMIT", "migrate: commit"));
    return applied;
  }

  absl::StatusOr<StoreStatus> Status() override {
    Turn turn(this, "status");
    DC_RETURN_IF_ERROR(turn.status());
    StoreStatus s;
    s.backend = "sqlite";
    s.location = path_;
    s.latest_version = SqliteMigrations().empty() ? 0 : SqliteMigrations().back().version;
    DC_ASSIGN_OR_RETURN(bool exists, TableExists("schema_migrations"));
    if (!exists) return s;
    Stmt st;
    DC_RETURN_IF_ERROR(
        Prepare("SELECT version, name FROM schema_migrations ORDER BY version", &st));
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
      s.schema_version = static_cast<int>(st.Int(0));
      s.applied.push_back(absl::StrCat(absl::Dec(st.Int(0), absl::kZeroPad4), "_", st.Text(1)));
    }
    if (rc != SQLITE_DONE) return Error("status", rc);
    return s;
  }

  absl::Status Vacuum() override {
    Turn turn(this, "vacuum");
    DC_RETURN_IF_ERROR(turn.status());
    DC_RETURN_IF_ERROR(ExecLocked("VACUUM", "vacuum"));
    return ExecLocked("PRAGMA wal_checkpoint(TRUNCATE)", "checkpoint");
  }

  absl::StatusOr<Revision> CreateRevision(absl::string_view tenant, absl::string_view name,
                                          absl::string_view yaml, absl::string_view author,
                                          absl::string_view message) override {
    DC_ASSIGN_OR_RETURN(Revision r, NewDraftRevision(tenant, name, yaml, author, message));
    Turn turn(this, "create revision");
    DC_RETURN_IF_ERROR(turn.status());
    DC_RETURN_IF_ERROR(Transaction("create revision", [&]() -> absl::Status {
      Stmt q;
      DC_RETURN_IF_ERROR(
          Prepare("SELECT coalesce(max(revision), 0) FROM playbook_revisions "
                  "WHERE tenant = ?1 AND name = ?2",
                  &q));
      q.Bind(1, tenant);
      q.Bind(2, name);
      DC_RETURN_IF_ERROR(StepRow(q, "create revision"));
      r.revision = q.Int(0) + 1;
      Stmt ins;
      DC_RETURN_IF_ERROR(Prepare(
          "INSERT INTO playbook_revisions (tenant, name, revision, content_hash, yaml, author, "
          "message, created_at_us, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'draft')",
          &ins));
      ins.Bind(1, tenant);
      ins.Bind(2, name);
      ins.Bind(3, r.revision);
      ins.Bind(4, r.content_hash);
      ins.Bind(5, yaml);
      ins.Bind(6, author);
      ins.Bind(7, message);
      ins.Bind(8, ToMicros(r.created_at));
      return StepDone(ins, "create revision");
    }));
    return r;
  }

  absl::StatusOr<Revision> Publish(const PublishRequest& req) override {
    DC_RETURN_IF_ERROR(ValidateTenant(req.tenant));
    if (req.action != "publish" && req.action != "rollback") {
      return absl::InvalidArgumentError("store: publish action must be publish or rollback");
    }
    Turn turn(this, "publish");
    DC_RETURN_IF_ERROR(turn.status());
    absl::StatusOr<Revision> out;
    DC_RETURN_IF_ERROR(Transaction("publish", [&]() -> absl::Status {
      Stmt cur;
      DC_RETURN_IF_ERROR(
          Prepare("SELECT revision FROM playbook_revisions WHERE tenant = ?1 "
                  "AND name = ?2 AND state = 'published'",
                  &cur));
      cur.Bind(1, req.tenant);
      cur.Bind(2, req.name);
      int rc = sqlite3_step(cur.get());
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("publish", rc);
      int64_t current = rc == SQLITE_ROW ? cur.Int(0) : 0;
      if (current != req.expected_current) {
        return PublishConflict(req.tenant, req.name, current, req.expected_current);
      }
      DC_ASSIGN_OR_RETURN(Revision target, GetRevisionLocked(req.tenant, req.name, req.revision));
      if (current != req.revision) {
        Stmt archive;
        DC_RETURN_IF_ERROR(
            Prepare("UPDATE playbook_revisions SET state = 'archived' WHERE "
                    "tenant = ?1 AND name = ?2 AND state = 'published'",
                    &archive));
        archive.Bind(1, req.tenant);
        archive.Bind(2, req.name);
        DC_RETURN_IF_ERROR(StepDone(archive, "publish: archive"));
        Stmt pub;
        DC_RETURN_IF_ERROR(
            Prepare("UPDATE playbook_revisions SET state = 'published' WHERE "
                    "tenant = ?1 AND name = ?2 AND revision = ?3",
                    &pub));
        pub.Bind(1, req.tenant);
        pub.Bind(2, req.name);
        pub.Bind(3, req.revision);
        DC_RETURN_IF_ERROR(StepDone(pub, "publish"));
      }
      target.state = RevisionState::kPublished;
      DC_RETURN_IF_ERROR(AppendAuditLocked(AuditEvent{req.tenant, req.actor, req.action, req.name,
                                                      req.revision, absl::Now(), req.detail}));
      Stmt bump;
      DC_RETURN_IF_ERROR(
          Prepare("INSERT INTO store_changes (tenant, counter) VALUES (?1, 1) "
                  "ON CONFLICT (tenant) DO UPDATE SET counter = counter + 1",
                  &bump));
      bump.Bind(1, req.tenant);
      DC_RETURN_IF_ERROR(StepDone(bump, "publish: change counter"));
      out = std::move(target);
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<Revision> GetRevision(absl::string_view tenant, absl::string_view name,
                                       int64_t revision) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "get revision");
    DC_RETURN_IF_ERROR(turn.status());
    return GetRevisionLocked(tenant, name, revision);
  }

  absl::StatusOr<Revision> GetPublished(absl::string_view tenant, absl::string_view name) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "get published");
    DC_RETURN_IF_ERROR(turn.status());
    DC_ASSIGN_OR_RETURN(std::vector<Revision> revs,
                        QueryRevisions(tenant, name, "AND state = 'published'"));
    if (revs.empty()) {
      return absl::NotFoundError(
          absl::StrCat("store: playbook ", tenant, "/", name, " has no published revision"));
    }
    return std::move(revs[0]);
  }

  absl::StatusOr<std::vector<Revision>> ListPublished(absl::string_view tenant) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "list published");
    DC_RETURN_IF_ERROR(turn.status());
    return QueryRevisions(tenant, "", "AND state = 'published'", 0, /*any_name=*/true);
  }

  absl::StatusOr<std::vector<Revision>> ListRevisions(absl::string_view tenant,
                                                      absl::string_view name) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "list revisions");
    DC_RETURN_IF_ERROR(turn.status());
    return QueryRevisions(tenant, name, "");
  }

  absl::Status AppendAudit(const AuditEvent& event) override {
    DC_RETURN_IF_ERROR(ValidateTenant(event.tenant));
    Turn turn(this, "append audit");
    DC_RETURN_IF_ERROR(turn.status());
    return Transaction("append audit", [&] { return AppendAuditLocked(event); });
  }

  absl::StatusOr<std::vector<AuditEvent>> ListAudit(absl::string_view tenant,
                                                    absl::string_view playbook,
                                                    int limit) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "list audit");
    DC_RETURN_IF_ERROR(turn.status());
    Stmt q;
    DC_RETURN_IF_ERROR(
        Prepare("SELECT tenant, actor, action, playbook, revision, at_us, detail "
                "FROM audit_events WHERE tenant = ?1 AND (?2 = '' OR playbook = ?2) "
                "ORDER BY id DESC LIMIT ?3",
                &q));
    q.Bind(1, tenant);
    q.Bind(2, playbook);
    q.Bind(3, static_cast<int64_t>(limit));
    std::vector<AuditEvent> out;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      out.push_back(AuditEvent{q.Text(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4),
                               FromMicros(q.Int(5)), q.Text(6)});
    }
    if (rc != SQLITE_DONE) return Error("list audit", rc);
    return out;
  }

  // AlreadyExists when rows or the header of `snapshot_id` exist.
  absl::Status CheckNewSnapshot(absl::string_view tenant, absl::string_view snapshot_id) {
    Turn turn(this, "write snapshot");
    DC_RETURN_IF_ERROR(turn.status());
    {
      Stmt q;
      DC_RETURN_IF_ERROR(
          Prepare("SELECT 1 FROM snapshots WHERE tenant = ?1 AND snapshot_id = ?2 UNION ALL "
                  "SELECT 1 FROM snapshot_results WHERE tenant = ?1 AND snapshot_id = ?2 LIMIT 1",
                  &q));
      q.Bind(1, tenant);
      q.Bind(2, snapshot_id);
      int rc = sqlite3_step(q.get());
      if (rc == SQLITE_ROW) {
        return absl::AlreadyExistsError(
            absl::StrCat("store: snapshot ", tenant, "/", snapshot_id, " already exists"));
      }
      if (rc != SQLITE_DONE) return Error("write snapshot", rc);
    }
    return absl::OkStatus();
  }

  absl::Status WriteSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                             const std::vector<CompactResult>& results) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    if (snapshot_id.empty()) return absl::InvalidArgumentError("store: snapshot id is required");
    DC_RETURN_IF_ERROR(CheckNewSnapshot(tenant, snapshot_id));
    // Rows go in batches, one transaction and one turn on the connection each (other
    // calls get their turns in between); the header row, written last, is what makes
    // the snapshot visible. A failure part-way deletes the rows already written.
    const size_t batch = static_cast<size_t>(std::max(1, options_.snapshot_batch_rows));
    absl::Status s;
    for (size_t start = 0; s.ok() && start < results.size(); start += batch) {
      Turn turn(this, "write snapshot");
      s = turn.status();
      if (s.ok()) {
        s = WriteSnapshotRows(tenant, snapshot_id, results, start,
                              std::min(results.size(), start + batch));
      }
    }
    if (s.ok()) {
      Turn turn(this, "write snapshot header");
      s = turn.status();
      if (s.ok()) {
        s = Transaction("write snapshot header", [&]() -> absl::Status {
          Stmt h;
          DC_RETURN_IF_ERROR(
              Prepare("INSERT INTO snapshots (tenant, snapshot_id, created_at_us, "
                      "deals) VALUES (?1, ?2, ?3, ?4)",
                      &h));
          h.Bind(1, tenant);
          h.Bind(2, snapshot_id);
          h.Bind(3, ToMicros(absl::Now()));
          h.Bind(4, static_cast<int64_t>(results.size()));
          return StepDone(h, "write snapshot header");
        });
      }
    }
    if (!s.ok()) {
      Turn turn(this, "write snapshot: clean up");
      if (turn.status().ok()) DeleteSnapshotLocked(tenant, snapshot_id).IgnoreError();
    }
    return s;
  }

  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(absl::string_view tenant) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "list snapshots");
    DC_RETURN_IF_ERROR(turn.status());
    return ListSnapshotsLocked(tenant);
  }

  absl::Status ReadSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                            const std::function<void(const CompactResult&)>& fn) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "read snapshot");
    DC_RETURN_IF_ERROR(turn.status());
    DC_RETURN_IF_ERROR(CheckSnapshot(tenant, snapshot_id));
    Stmt q;
    DC_RETURN_IF_ERROR(PrepareRows(tenant, snapshot_id, &q));
    int rc;
    CompactResult r;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      absl::string_view bytes = q.Blob(1);
      if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError(absl::StrCat("store: ", path_, ": snapshot ", snapshot_id,
                                                " deal ", q.Text(0), ": unreadable result"));
      }
      fn(r);
    }
    if (rc != SQLITE_DONE) return Error("read snapshot", rc);
    return absl::OkStatus();
  }

  absl::Status CompareSnapshots(absl::string_view tenant, absl::string_view before,
                                absl::string_view after,
                                const std::function<void(const DealDiff&)>& fn) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "compare snapshots");
    DC_RETURN_IF_ERROR(turn.status());
    DC_RETURN_IF_ERROR(CheckSnapshot(tenant, before));
    DC_RETURN_IF_ERROR(CheckSnapshot(tenant, after));
    // Both statements read inside one read transaction: a consistent view.
    DC_RETURN_IF_ERROR(ExecLocked("BEGIN", "compare"));
    Stmt a, b;
    absl::Status s = PrepareRows(tenant, before, &a);
    if (s.ok()) s = PrepareRows(tenant, after, &b);
    int rc_a = SQLITE_DONE, rc_b = SQLITE_DONE;
    auto next = [](Stmt& st, int* rc) {
      return [&st, rc](std::string* id, std::string* bytes) {
        *rc = sqlite3_step(st.get());
        if (*rc != SQLITE_ROW) return false;
        *id = st.Text(0);
        absl::string_view blob = st.Blob(1);
        bytes->assign(blob.data(), blob.size());
        return true;
      };
    };
    if (s.ok()) s = MergeSnapshots(next(a, &rc_a), next(b, &rc_b), fn);
    if (s.ok() && rc_a != SQLITE_DONE) s = Error("compare", rc_a);
    if (s.ok() && rc_b != SQLITE_DONE) s = Error("compare", rc_b);
    ExecLocked("COMMIT", "compare").IgnoreError();
    return s;
  }

  absl::Status DeleteSnapshot(absl::string_view tenant, absl::string_view snapshot_id) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "delete snapshot");
    DC_RETURN_IF_ERROR(turn.status());
    return DeleteSnapshotLocked(tenant, snapshot_id);
  }

  absl::StatusOr<int> PruneSnapshots(absl::string_view tenant, absl::Time now) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    std::vector<SnapshotInfo> snaps;
    {
      Turn turn(this, "prune snapshots");
      DC_RETURN_IF_ERROR(turn.status());
      DC_ASSIGN_OR_RETURN(snaps, ListSnapshotsLocked(tenant));
    }
    int deleted = 0;
    for (size_t i = 0; i < snaps.size(); ++i) {
      bool too_many = static_cast<int>(i) >= options_.keep_snapshots;
      bool too_old = options_.snapshot_max_age > absl::ZeroDuration() &&
                     snaps[i].created_at < now - options_.snapshot_max_age;
      if (!too_many && !too_old) continue;
      // A turn per snapshot: deleting one of 100,000 rows takes a while.
      Turn turn(this, "prune snapshots");
      DC_RETURN_IF_ERROR(turn.status());
      DC_RETURN_IF_ERROR(DeleteSnapshotLocked(tenant, snaps[i].snapshot_id));
      ++deleted;
    }
    return deleted;
  }

  absl::Status WriteDecisions(const std::vector<Decision>& decisions) override {
    if (decision_conn_ != nullptr) return decision_conn_->WriteDecisions(decisions);
    for (const Decision& d : decisions) DC_RETURN_IF_ERROR(ValidateTenant(d.tenant));
    Turn turn(this, "write decisions");
    DC_RETURN_IF_ERROR(turn.status());
    return Transaction("write decisions", [&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(
          sqlite3_stmt * cached,
          Cached("INSERT OR REPLACE INTO decisions (tenant, decision_id, at_us, caller, deal_id, "
                 "playbook, revision, fired_rule_ids, input_hash, latency_us) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"));
      Stmt ins(cached);
      for (const Decision& d : decisions) {
        sqlite3_reset(ins.get());
        ins.Bind(1, d.tenant);
        ins.Bind(2, d.decision_id);
        ins.Bind(3, ToMicros(d.at));
        ins.Bind(4, d.caller);
        ins.Bind(5, d.deal_id);
        ins.Bind(6, d.playbook);
        ins.Bind(7, d.revision);
        ins.Bind(8, absl::StrJoin(d.fired_rule_ids, ","));
        ins.Bind(9, d.input_hash);
        ins.Bind(10, absl::ToInt64Microseconds(d.latency));
        DC_RETURN_IF_ERROR(StepDone(ins, "write decisions"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<Decision>> ListDecisions(absl::string_view tenant,
                                                      absl::string_view deal_id,
                                                      int limit) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "list decisions");
    DC_RETURN_IF_ERROR(turn.status());
    Stmt q;
    DC_RETURN_IF_ERROR(Prepare(
        "SELECT tenant, decision_id, at_us, caller, deal_id, playbook, revision, fired_rule_ids, "
        "input_hash, latency_us FROM decisions WHERE tenant = ?1 AND (?2 = '' OR deal_id = ?2) "
        "ORDER BY at_us DESC, decision_id DESC LIMIT ?3",
        &q));
    q.Bind(1, tenant);
    q.Bind(2, deal_id);
    q.Bind(3, static_cast<int64_t>(limit));
    std::vector<Decision> out;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      Decision d;
      d.tenant = q.Text(0);
      d.decision_id = q.Text(1);
      d.at = FromMicros(q.Int(2));
      d.caller = q.Text(3);
      d.deal_id = q.Text(4);
      d.playbook = q.Text(5);
      d.revision = q.Int(6);
      std::string ids = q.Text(7);
      if (!ids.empty()) d.fired_rule_ids = absl::StrSplit(ids, ',');
      d.input_hash = q.Text(8);
      d.latency = absl::Microseconds(q.Int(9));
      out.push_back(std::move(d));
    }
    if (rc != SQLITE_DONE) return Error("list decisions", rc);
    return out;
  }

  absl::StatusOr<int64_t> PruneDecisions(absl::string_view tenant, absl::Time before) override {
    if (decision_conn_ != nullptr) return decision_conn_->PruneDecisions(tenant, before);
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "prune decisions");
    DC_RETURN_IF_ERROR(turn.status());
    int64_t n = 0;
    DC_RETURN_IF_ERROR(Transaction("prune decisions", [&]() -> absl::Status {
      Stmt del;
      DC_RETURN_IF_ERROR(Prepare("DELETE FROM decisions WHERE tenant = ?1 AND at_us < ?2", &del));
      del.Bind(1, tenant);
      del.Bind(2, ToMicros(before));
      DC_RETURN_IF_ERROR(StepDone(del, "prune decisions"));
      n = sqlite3_changes64(db_);
      return absl::OkStatus();
    }));
    return n;
  }

  absl::StatusOr<int64_t> ChangeCounter(absl::string_view tenant) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    Turn turn(this, "change counter");
    DC_RETURN_IF_ERROR(turn.status());
    return ChangeCounterLocked(tenant);
  }

  absl::StatusOr<int64_t> Watch(absl::string_view tenant, int64_t after,
                                absl::Time deadline) override {
    DC_RETURN_IF_ERROR(ValidateTenant(tenant));
    // SQLite has no notifications across processes: poll the counter (a primary-key
    // read on a WAL database, microseconds) every 50 ms.
    while (true) {
      int64_t counter;
      {
        Turn turn(this, "watch");
        DC_RETURN_IF_ERROR(turn.status());
        DC_ASSIGN_OR_RETURN(counter, ChangeCounterLocked(tenant));
      }
      if (counter > after || absl::Now() >= deadline) return counter;
      absl::SleepFor(std::min(absl::Milliseconds(50), deadline - absl::Now()));
    }
  }

 private:
  absl::Status Error(absl::string_view what, int rc) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string msg = absl::StrCat("store: sqlite ", path_, ": ", what, ": ",
                                   db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
        return absl::UnavailableError(absl::StrCat(
            msg, " (another connection holds the database lock; gave up after store.busy_timeout, ",
            absl::FormatDuration(options_.busy_timeout), ")"));
      case SQLITE_CONSTRAINT:
        return absl::FailedPreconditionError(msg);
      case SQLITE_READONLY:
      case SQLITE_PERM:
      case SQLITE_CANTOPEN:
      case SQLITE_AUTH:
        // At open, a configuration error (the directory is not writable); on a store
        // that opened, the disk changed under it: a fault to retry once it is fixed.
        if (opened_) return absl::UnavailableError(msg);
        return absl::PermissionDeniedError(msg);
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB:
        return absl::DataLossError(msg);
      case SQLITE_FULL:
      case SQLITE_IOERR:
        // Disk full, an I/O error: nothing of the transaction stays; retry when fixed.
        if (opened_) return absl::UnavailableError(msg);
        return absl::ResourceExhaustedError(msg);
      default:
        return absl::InternalError(msg);
    }
  }

  absl::Status ExecLocked(const char* sql, absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? absl::OkStatus() : Error(what, rc);
  }

  // A statement prepared once per connection and reused (the decision writer's insert,
  // the watch poll's counter read run several times a second): parsed and planned
  // once. `sql` must be a string literal (the cache is keyed by its address).
  absl::StatusOr<sqlite3_stmt*> Cached(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = cached_.find(sql);
    if (it != cached_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return Error("prepare", rc);
    cached_.emplace(sql, stmt);
    return stmt;
  }

  absl::Status Prepare(const char* sql, Stmt* st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_prepare_v2(db_, sql, -1, st->out(), nullptr);
    return rc == SQLITE_OK ? absl::OkStatus() : Error("prepare", rc);
  }

  absl::Status StepDone(Stmt& st, absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_step(st.get());
    return rc == SQLITE_DONE ? absl::OkStatus() : Error(what, rc);
  }
  absl::Status StepRow(Stmt& st, absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_ROW) return absl::OkStatus();
    if (rc == SQLITE_DONE) return absl::InternalError(absl::StrCat("store: ", what, ": no row"));
    return Error(what, rc);
  }

  // Runs `fn` in BEGIN IMMEDIATE ... COMMIT; rolls back on any error.
  template <typename Fn>
  absl::Status Transaction(absl::string_view what, Fn fn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // The first transaction of a turn waits until the turn's deadline; a later one (a
    // failed write's clean-up) gets busy_timeout of its own.
    if (began_tx_) deadline_ = absl::Now() + options_.busy_timeout;
    began_tx_ = true;
    DC_RETURN_IF_ERROR(ExecLocked("BEGIN IMMEDIATE", what));
    absl::Status s = fn();
    if (s.ok()) s = ExecLocked("COMMIT", what);
    if (!s.ok()) ExecLocked("ROLLBACK", what).IgnoreError();
    return s;
  }

  absl::StatusOr<bool> TableExists(const char* table) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Stmt q;
    DC_RETURN_IF_ERROR(
        Prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &q));
    q.Bind(1, absl::string_view(table));
    int rc = sqlite3_step(q.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error("read schema", rc);
    return rc == SQLITE_ROW;
  }

  absl::StatusOr<int> MigrateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_RETURN_IF_ERROR(
        ExecLocked("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                   "name TEXT NOT NULL, applied_at_us INTEGER NOT NULL)",
                   "migrate: schema_migrations"));
    int current = 0;
    {
      Stmt q;
      DC_RETURN_IF_ERROR(Prepare("SELECT coalesce(max(version), 0) FROM schema_migrations", &q));
      DC_RETURN_IF_ERROR(StepRow(q, "migrate"));
      current = static_cast<int>(q.Int(0));
    }
    const std::vector<Migration>& all = SqliteMigrations();
    if (!all.empty() && current > all.back().version) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: sqlite ", path_, ": schema version ", current,
                       " is newer than this binary's ", all.back().version));
    }
    int applied = 0;
    for (const Migration& m : all) {
      if (m.version <= current) continue;
      char* err = nullptr;
      int rc = sqlite3_exec(db_, m.sql, nullptr, nullptr, &err);
      if (rc != SQLITE_OK) {
        std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        return absl::InternalError(absl::StrCat("store: sqlite ", path_, ": migration ",
                                                absl::Dec(m.version, absl::kZeroPad4), "_", m.name,
                                                ": ", msg));
      }
      Stmt rec;
      DC_RETURN_IF_ERROR(Prepare(
          "INSERT INTO schema_migrations (version, name, applied_at_us) VALUES (?1, ?2, ?3)",
          &rec));
      rec.Bind(1, static_cast<int64_t>(m.version));
      rec.Bind(2, absl::string_view(m.name));
      rec.Bind(3, ToMicros(absl::Now()));
      DC_RETURN_IF_ERROR(StepDone(rec, "migrate: record"));
      ++applied;
    }
    return applied;
  }

  absl::StatusOr<Revision> GetRevisionLocked(absl::string_view tenant, absl::string_view name,
                                             int64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_ASSIGN_OR_RETURN(std::vector<Revision> revs,
                        QueryRevisions(tenant, name, "AND revision = ?3", revision));
    if (revs.empty()) {
      return absl::NotFoundError(
          absl::StrCat("store: playbook ", tenant, "/", name, " has no revision ", revision));
    }
    return std::move(revs[0]);
  }

  absl::StatusOr<std::vector<Revision>> QueryRevisions(absl::string_view tenant,
                                                       absl::string_view name,
                                                       absl::string_view extra,
                                                       int64_t revision = 0, bool any_name = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // any_name: every name of the tenant (?2 is then "" and matches through the OR).
    std::string sql = absl::StrCat(
        "SELECT tenant, name, revision, content_hash, yaml, author, message, created_at_us, "
        "state FROM playbook_revisions WHERE tenant = ?1 AND ",
        any_name ? "(?2 = '' OR name = ?2) " : "name = ?2 ", extra, " ORDER BY name, revision");
    Stmt q;
    DC_RETURN_IF_ERROR(Prepare(sql.c_str(), &q));
    q.Bind(1, tenant);
    q.Bind(2, name);
    if (revision != 0) q.Bind(3, revision);
    std::vector<Revision> out;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      Revision r;
      r.tenant = q.Text(0);
      r.name = q.Text(1);
      r.revision = q.Int(2);
      r.content_hash = q.Text(3);
      r.yaml = q.Text(4);
      r.author = q.Text(5);
      r.message = q.Text(6);
      r.created_at = FromMicros(q.Int(7));
      DC_ASSIGN_OR_RETURN(r.state, ParseRevisionState(q.Text(8)));
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return Error("read revisions", rc);
    return out;
  }

  absl::Status AppendAuditLocked(const AuditEvent& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!IsKnownAction(e.action)) {
      return absl::InvalidArgumentError(absl::StrCat("store: unknown audit action '", e.action,
                                                     "' (validate, plan, publish, rollback)"));
    }
    Stmt ins;
    DC_RETURN_IF_ERROR(
        Prepare("INSERT INTO audit_events (tenant, actor, action, playbook, "
                "revision, at_us, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &ins));
    ins.Bind(1, e.tenant);
    ins.Bind(2, e.actor);
    ins.Bind(3, e.action);
    ins.Bind(4, e.playbook);
    ins.Bind(5, e.revision);
    ins.Bind(6, ToMicros(e.at == absl::Time() ? absl::Now() : e.at));
    ins.Bind(7, e.detail);
    return StepDone(ins, "append audit");
  }

  // Writes results[start, end) in one transaction.
  absl::Status WriteSnapshotRows(absl::string_view tenant, absl::string_view snapshot_id,
                                 const std::vector<CompactResult>& results, size_t start,
                                 size_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string bytes;
    return Transaction("write snapshot", [&]() -> absl::Status {
      Stmt ins;
      DC_RETURN_IF_ERROR(
          Prepare("INSERT INTO snapshot_results (tenant, snapshot_id, deal_id, claimed_phase, "
                  "evidence_phase, amount, close_date_unix, owner, stage, result) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                  &ins));
      ins.Bind(1, tenant);
      ins.Bind(2, snapshot_id);
      for (size_t i = start; i < end; ++i) {
        const CompactResult& r = results[i];
        if (r.deal_id().empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("store: snapshot result ", i, " has no deal id"));
        }
        sqlite3_reset(ins.get());
        ins.Bind(3, r.deal_id());
        ins.Bind(4, r.claimed_phase());
        ins.Bind(5, r.evidence_phase());
        ins.Bind(6, r.amount());
        ins.Bind(7, r.close_date_unix());
        ins.Bind(8, r.owner());
        ins.Bind(9, r.stage());
        bytes.clear();
        r.SerializeToString(&bytes);
        ins.BindBlob(10, bytes);
        DC_RETURN_IF_ERROR(StepDone(ins, "write snapshot"));
      }
      return absl::OkStatus();
    });
  }

  absl::Status DeleteSnapshotLocked(absl::string_view tenant, absl::string_view snapshot_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return Transaction("delete snapshot", [&]() -> absl::Status {
      for (const char* sql :
           {"DELETE FROM snapshots WHERE tenant = ?1 AND snapshot_id = ?2",
            "DELETE FROM snapshot_results WHERE tenant = ?1 AND snapshot_id = ?2"}) {
        Stmt del;
        DC_RETURN_IF_ERROR(Prepare(sql, &del));
        del.Bind(1, tenant);
        del.Bind(2, snapshot_id);
        DC_RETURN_IF_ERROR(StepDone(del, "delete snapshot"));
      }
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshotsLocked(absl::string_view tenant)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Stmt q;
    DC_RETURN_IF_ERROR(
        Prepare("SELECT snapshot_id, created_at_us, deals FROM snapshots WHERE "
                "tenant = ?1 ORDER BY created_at_us DESC, snapshot_id DESC",
                &q));
    q.Bind(1, tenant);
    std::vector<SnapshotInfo> out;
    int rc;
    while ((rc = sqlite3_step(q.get())) == SQLITE_ROW) {
      out.push_back(SnapshotInfo{q.Text(0), FromMicros(q.Int(1)), q.Int(2)});
    }
    if (rc != SQLITE_DONE) return Error("list snapshots", rc);
    return out;
  }

  absl::Status CheckSnapshot(absl::string_view tenant, absl::string_view snapshot_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Stmt q;
    DC_RETURN_IF_ERROR(
        Prepare("SELECT 1 FROM snapshots WHERE tenant = ?1 AND snapshot_id = ?2", &q));
    q.Bind(1, tenant);
    q.Bind(2, snapshot_id);
    int rc = sqlite3_step(q.get());
    if (rc == SQLITE_ROW) return absl::OkStatus();
    if (rc != SQLITE_DONE) return Error("read snapshot", rc);
    return absl::NotFoundError(absl::StrCat("store: no snapshot ", tenant, "/", snapshot_id));
  }

  absl::Status PrepareRows(absl::string_view tenant, absl::string_view snapshot_id, Stmt* q)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_RETURN_IF_ERROR(
        Prepare("SELECT deal_id, result FROM snapshot_results WHERE tenant = ?1 "
                "AND snapshot_id = ?2 ORDER BY deal_id",
                q));
    q->Bind(1, tenant);
    q->Bind(2, snapshot_id);
    return absl::OkStatus();
  }

  absl::StatusOr<int64_t> ChangeCounterLocked(absl::string_view tenant)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    DC_ASSIGN_OR_RETURN(sqlite3_stmt * cached,
                        Cached("SELECT counter FROM store_changes WHERE tenant = ?1"));
    Stmt q(cached);
    q.Bind(1, tenant);
    int rc = sqlite3_step(q.get());
    if (rc == SQLITE_ROW) return q.Int(0);
    if (rc != SQLITE_DONE) return Error("change counter", rc);
    return 0;
  }

  // SQLite's busy handler: called while another connection holds the lock, inside a
  // sqlite3 call made by the turn's holder (so mu_ is held). Sleeps in steps like
  // SQLite's own busy_timeout handler, and gives up (returns 0: SQLITE_BUSY) at the
  // turn's deadline.
  static int OnBusy(void* self, int attempt) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static constexpr int kStepMs[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    constexpr int kSteps = static_cast<int>(sizeof(kStepMs) / sizeof(kStepMs[0]));
    auto* store = static_cast<SqliteStore*>(self);
    const absl::Time now = absl::Now();
    if (now >= store->deadline_) return 0;
    absl::SleepFor(std::min(absl::Milliseconds(kStepMs[std::min(attempt, kSteps - 1)]),
                            store->deadline_ - now));
    return 1;
  }

  // The decision log's own connection (OpenSqlite): the background writer's batches
  // wait for another process's lock there, never holding the turn that reads, publishes
  // and the change watch need on this one. Null on that connection itself.
  std::unique_ptr<SqliteStore> decision_conn_;

  const StoreOptions options_;
  const std::string path_;
  // Turns on the connection (Turn).
  absl::Mutex turn_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool turn_free_ ABSL_GUARDED_BY(turn_mu_) = true;
  absl::Mutex mu_;
  // When the current turn stops waiting for the database lock (OnBusy), and whether it
  // has begun a transaction yet (Transaction).
  absl::Time deadline_ ABSL_GUARDED_BY(mu_);
  bool began_tx_ ABSL_GUARDED_BY(mu_) = false;
  // Init succeeded: errors of the disk are faults (Unavailable), not configuration.
  bool opened_ ABSL_GUARDED_BY(mu_) = false;
  sqlite3* db_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::map<const char*, sqlite3_stmt*> cached_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqlite(const StoreOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("store: sqlite needs a data directory (store.data_dir)");
  }
  if (mkdir(options.data_dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("store: cannot create data directory ",
                                                    options.data_dir, ": ", std::strerror(errno)));
  }
  std::string path = absl::StrCat(options.data_dir, "/", options.sqlite_file);
  auto store = std::make_unique<SqliteStore>(options, path);
  DC_RETURN_IF_ERROR(store->Init());
  if (options.migrate) {
    DC_RETURN_IF_ERROR(store->Migrate().status());
  } else if (options.require_current_schema) {
    DC_ASSIGN_OR_RETURN(StoreStatus st, store->Status());
    if (st.schema_version < st.latest_version) {
      return absl::FailedPreconditionError(
          absl::StrCat("store: sqlite ", path, ": schema version ", st.schema_version,
                       " is behind ", st.latest_version, "; run 'dealcoach store migrate'"));
    }
  }
  auto decisions = std::make_unique<SqliteStore>(options, path);
  DC_RETURN_IF_ERROR(decisions->Init());
  store->MarkOpened();
  decisions->MarkOpened();
  store->SetDecisionConnection(std::move(decisions));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dealcoach::store::internal
