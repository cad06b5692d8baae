// store::Store: dealcoach's durable state, behind one contract with two backends.
//
//   - SQLite (the embedded default): one file, <data_dir>/dealcoach.db, in WAL mode with
//     a busy_timeout; created and migrated by Open.
//   - PostgreSQL (libpq): for replicas sharing state. Row-level security isolates
//     tenants inside the database as well (docs/store.md).
//
// What it holds, every row keyed by tenant and every call scoped by one:
//   - playbook revisions: numbered per (tenant, name), drafts until published; exactly
//     one published revision per playbook (a partial unique index enforces it), and
//     Publish is optimistic: it names the revision the caller believes is published and
//     fails ABORTED, carrying the actual one, when another publisher won the race;
//   - audit events: append-only (validate, plan, publish, rollback);
//   - evaluation snapshots: one CompactResult per deal, written in batched
//     transactions, compared deal by deal, pruned by count and age;
//   - the decision log, written in batches (DecisionLogger does it asynchronously).
//   - a per-tenant change counter, bumped by every publish; Watch waits for it to move
//     (LISTEN/NOTIFY on PostgreSQL, a poll on SQLite), across processes.
//
// Errors: InvalidArgument (bad input), NotFound, Aborted (lost a publish race),
// Unavailable (PostgreSQL unreachable or the connection dropped: the next call
// reconnects; SQLite: the database locked by another connection past busy_timeout, or
// the disk full, read-only or failing after the store opened: the next call tries
// again), FailedPrecondition (schema newer than this binary), DataLoss (not a
// database), PermissionDenied (a data directory not writable at open), Internal.
// Messages name the file or the redacted connection. A failed call leaves nothing
// half-written: every write is one transaction.
//
// Thread safety: every method is safe to call from any thread; calls on one Store
// instance are serialised on its connection (SQLite: the decision log's writes and
// prunes have a connection of their own). SQLite bounds every wait: a call of one
// transaction returns within busy_timeout of being made (plus its own statements'
// time), however many other calls are waiting for another process's lock.
#ifndef DEALCOACH_SIDECAR_STORE_STORE_H_
#define DEALCOACH_SIDECAR_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sidecar/store/store.pb.h"

namespace dealcoach::store {

enum class Backend { kSqlite, kPostgres };

struct StoreOptions {
  Backend backend = Backend::kSqlite;
  // SQLite: the directory holding the database file (created if missing) and the
  // file's name in it.
  std::string data_dir = "data";
  std::string sqlite_file = "dealcoach.db";
  // SQLite: the longest a call waits for another connection's lock, counted from the
  // call, the wait for its turn on this store's connection included (Unavailable past it).
  absl::Duration busy_timeout = absl::Seconds(5);
  // SQLite: the page cache of each of the store's two connections (the decision log
  // writer has its own), in MiB; 0 keeps SQLite's default (2 MiB). The decision log's
  // index by deal takes inserts all over its pages: once it outgrows the cache every
  // insert re-reads pages from the OS (docs/performance.md, "The decision writer's page
  // cache and batch size"). The cache fills only as pages are read.
  int sqlite_cache_mib = 16;
  // PostgreSQL: libpq keyword/value string or postgresql:// URI. A secret: never put in
  // messages (a redacted form is).
  std::string postgres_conninfo;
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration statement_timeout = absl::Seconds(60);
  // Apply pending migrations in Open. Off: Open fails FailedPrecondition when the schema
  // is behind (an operator runs `dealcoach store migrate`).
  bool migrate = true;
  // With migrate off: refuse a database whose schema is behind (false lets
  // `dealcoach store status|migrate` open it to report or migrate).
  bool require_current_schema = true;
  // Snapshot rows per write transaction.
  int snapshot_batch_rows = 5000;
  // Snapshot retention applied by PruneSnapshots: keep the newest `keep_snapshots`
  // per tenant and none older than `snapshot_max_age` (zero = no age limit).
  int keep_snapshots = 10;
  absl::Duration snapshot_max_age = absl::Hours(24 * 30);
};

enum class RevisionState { kDraft, kPublished, kArchived };
absl::string_view RevisionStateName(RevisionState state);

struct Revision {
  std::string tenant;
  std::string name;
  int64_t revision = 0;
  std::string content_hash;  // "sha256:<hex>" of yaml.
  std::string yaml;
  std::string author;
  std::string message;
  absl::Time created_at;
  RevisionState state = RevisionState::kDraft;
};

struct AuditEvent {
  std::string tenant;
  std::string actor;
  std::string action;  // validate | plan | publish | rollback
  std::string playbook;
  int64_t revision = 0;
  absl::Time at;
  std::string detail;
};

struct PublishRequest {
  std::string tenant;
  std::string name;
  int64_t revision = 0;
  // The revision the caller believes is published now; 0 = none yet.
  int64_t expected_current = 0;
  std::string actor;
  std::string action = "publish";  // or "rollback"
  std::string detail;
};

struct SnapshotInfo {
  std::string snapshot_id;
  absl::Time created_at;
  int64_t deals = 0;
};

// One deal that differs between two snapshots.
struct DealDiff {
  enum class Kind { kAdded, kRemoved, kChanged };
  std::string deal_id;
  Kind kind = Kind::kChanged;
  CompactResult before;  // Empty for kAdded.
  CompactResult after;   // Empty for kRemoved.
  // What changed, one line each: "evidence_phase: discover -> prove",
  // "criterion budget: UNMET -> MET", "+behavior b1", "-risk r2", "amount: 1 -> 2".
  std::vector<std::string> changes;
};

struct Decision {
  std::string tenant;
  std::string decision_id;
  absl::Time at;
  std::string caller;
  std::string deal_id;
  std::string playbook;
  int64_t revision = 0;
  std::vector<std::string> fired_rule_ids;
  std::string input_hash;
  absl::Duration latency;
  // Not stored. When input_hash is empty, DecisionLogger fills it on its writer thread
  // (so the request thread neither serializes nor hashes): with ContentHash of
  // `input_bytes` when set (an input's bytes as received: a pushed opportunity as the
  // caller serialized it, docs/store.md "What the input hash identifies"), else with
  // InputHash(*input) (a message, e.g. a cached deal, serialized deterministically).
  std::optional<std::string> input_bytes;
  std::shared_ptr<const google::protobuf::Message> input;
};

struct StoreStatus {
  std::string backend;   // "sqlite" | "postgres"
  std::string location;  // The file, or the redacted connection string.
  int schema_version = 0;
  int latest_version = 0;            // Newest migration this binary carries.
  std::vector<std::string> applied;  // "0001_playbooks", ...
};

class Store {
 public:
  virtual ~Store() = default;

  // Schema.
  // Applies pending migrations; returns how many were applied. Safe from two
  // processes at once.
  virtual absl::StatusOr<int> Migrate() = 0;
  virtual absl::StatusOr<StoreStatus> Status() = 0;
  // Reclaims space (SQLite VACUUM + WAL checkpoint; PostgreSQL VACUUM ANALYZE).
  virtual absl::Status Vacuum() = 0;

  // Playbook revisions.
  // Adds a draft with the next revision number of (tenant, name).
  virtual absl::StatusOr<Revision> CreateRevision(absl::string_view tenant, absl::string_view name,
                                                  absl::string_view yaml, absl::string_view author,
                                                  absl::string_view message) = 0;
  // Publishes `revision` (archiving the one published before) if the published
  // revision is still `expected_current`, records the audit event and bumps the
  // tenant's change counter, all in one transaction. Aborted (with the current revision,
  // see CurrentRevisionOf) when it is not; NotFound for an unknown revision.
  virtual absl::StatusOr<Revision> Publish(const PublishRequest& request) = 0;
  virtual absl::StatusOr<Revision> GetRevision(absl::string_view tenant, absl::string_view name,
                                               int64_t revision) = 0;
  // The published revision, or NotFound.
  virtual absl::StatusOr<Revision> GetPublished(absl::string_view tenant,
                                                absl::string_view name) = 0;
  // The published revision of every playbook name of `tenant` (names published only
  // through the store included), in name order (byte order); empty when none is.
  virtual absl::StatusOr<std::vector<Revision>> ListPublished(absl::string_view tenant) = 0;
  // Every revision of (tenant, name), oldest first.
  virtual absl::StatusOr<std::vector<Revision>> ListRevisions(absl::string_view tenant,
                                                              absl::string_view name) = 0;

  // Audit trail (append-only).
  virtual absl::Status AppendAudit(const AuditEvent& event) = 0;
  // Newest first; `playbook` "" = all.
  virtual absl::StatusOr<std::vector<AuditEvent>> ListAudit(absl::string_view tenant,
                                                            absl::string_view playbook,
                                                            int limit) = 0;

  // Evaluation snapshots. Writes `results` (deal ids unique) as snapshot `snapshot_id`,
  // in transactions of snapshot_batch_rows rows; the snapshot becomes visible (listed,
  // comparable) only once every row is in. AlreadyExists if the id is taken.
  virtual absl::Status WriteSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                                     const std::vector<CompactResult>& results) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(absl::string_view tenant) = 0;
  // Every result of a snapshot in deal id order (byte order).
  virtual absl::Status ReadSnapshot(absl::string_view tenant, absl::string_view snapshot_id,
                                    const std::function<void(const CompactResult&)>& fn) = 0;
  // Walks both snapshots in deal id order and calls `fn` for each deal that was added,
  // removed or changed from `before` to `after`. NotFound for an unknown snapshot.
  virtual absl::Status CompareSnapshots(absl::string_view tenant, absl::string_view before,
                                        absl::string_view after,
                                        const std::function<void(const DealDiff&)>& fn) = 0;
  virtual absl::Status DeleteSnapshot(absl::string_view tenant, absl::string_view snapshot_id) = 0;
  // Applies the retention in StoreOptions; returns the number of snapshots deleted.
  virtual absl::StatusOr<int> PruneSnapshots(absl::string_view tenant, absl::Time now) = 0;

  // Decision log. Writes a batch (any tenants) in one transaction per tenant.
  virtual absl::Status WriteDecisions(const std::vector<Decision>& decisions) = 0;
  // Newest first; `deal_id` "" = all.
  virtual absl::StatusOr<std::vector<Decision>> ListDecisions(absl::string_view tenant,
                                                              absl::string_view deal_id,
                                                              int limit) = 0;
  // Deletes decisions older than `before`; returns how many.
  virtual absl::StatusOr<int64_t> PruneDecisions(absl::string_view tenant, absl::Time before) = 0;

  // Change notification. The tenant's change counter (0 before the first publish).
  virtual absl::StatusOr<int64_t> ChangeCounter(absl::string_view tenant) = 0;
  // Returns the counter once it exceeds `after`, or the current value at `deadline`.
  // Sees changes made through any Store on the same database.
  virtual absl::StatusOr<int64_t> Watch(absl::string_view tenant, int64_t after,
                                        absl::Time deadline) = 0;
};

// Opens (creating and migrating per options) the configured backend.
absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);

// Where `options` points, safe to show: the SQLite file, or the PostgreSQL connection
// string with its password replaced by <redacted>.
std::string DescribeLocation(const StoreOptions& options);
// "sqlite" | "postgres".
absl::string_view BackendName(Backend backend);

// The published revision an Aborted Publish error carries, if any.
std::optional<int64_t> CurrentRevisionOf(const absl::Status& status);

// "sha256:<hex>".
std::string ContentHash(absl::string_view content);
// ContentHash of `message`'s deterministic serialization (a decision's input hash).
std::string InputHash(const google::protobuf::Message& message);

// The `changes` lines of a DealDiff between two results of the same deal.
std::vector<std::string> DescribeChanges(const CompactResult& before, const CompactResult& after);

}  // namespace dealcoach::store

#endif  // DEALCOACH_SIDECAR_STORE_STORE_H_
