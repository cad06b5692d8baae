// The two Store implementations and helpers they share. Internal to sidecar/store.
#ifndef DEALCOACH_SIDECAR_STORE_BACKENDS_H_
#define DEALCOACH_SIDECAR_STORE_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "sidecar/store/store.h"

namespace dealcoach::store::internal {

absl::StatusOr<std::unique_ptr<Store>> OpenSqlite(const StoreOptions& options);
absl::StatusOr<std::unique_ptr<Store>> OpenPostgres(const StoreOptions& options);

// Aborted "<tenant>/<name>: published revision is N, not the expected M", carrying N.
absl::Status PublishConflict(absl::string_view tenant, absl::string_view name, int64_t current,
                             int64_t expected);
absl::StatusOr<RevisionState> ParseRevisionState(absl::string_view text);
absl::Status ValidateTenant(absl::string_view tenant);
// The draft revision CreateRevision inserts, before the backend numbers it: tenant and
// name checked, content hashed, created now (to the microsecond both backends keep).
absl::StatusOr<Revision> NewDraftRevision(absl::string_view tenant, absl::string_view name,
                                          absl::string_view yaml, absl::string_view author,
                                          absl::string_view message);
bool IsKnownAction(absl::string_view action);
// The connection string without its password (pg_store.cc).
std::string RedactConninfo(const std::string& conninfo);

// Merges two deal-id-ordered streams. `next_before` / `next_after` fill the next
// (deal id, serialized result) pair and return false at the end (or on error, which the
// caller checks afterwards).
using NextRow = std::function<bool(std::string* deal_id, std::string* bytes)>;
absl::Status MergeSnapshots(const NextRow& next_before, const NextRow& next_after,
                            const std::function<void(const DealDiff&)>& fn);
// Calls `fn` with the diff of one deal from its serialized results: `before` null =
// added, `after` null = removed, both set = changed (nothing when the results describe
// no change). `scratch` is reused between calls. DataLoss for unparsable bytes.
absl::Status EmitDealDiff(const std::string& deal_id, const absl::string_view* before,
                          const absl::string_view* after, DealDiff* scratch,
                          const std::function<void(const DealDiff&)>& fn);

}  // namespace dealcoach::store::internal

#endif  // DEALCOACH_SIDECAR_STORE_BACKENDS_H_
