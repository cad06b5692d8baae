// The set of playbooks the sidecar serves, as one immutable Snapshot, and the holder
// that swaps snapshots atomically (hot reload with last-good semantics).
//
// A request takes the current snapshot once (SnapshotHolder::Get) and keeps the
// shared_ptr for its whole life, so a reload that lands mid-request never changes the
// playbook under it; the old snapshot is freed when its last request finishes.
//
// Thread safety: Snapshot is immutable after construction and safe to share.
// SnapshotHolder is safe for concurrent Get/Set from any number of threads.
#ifndef DEALCOACH_SIDECAR_RUNTIME_SNAPSHOT_H_
#define DEALCOACH_SIDECAR_RUNTIME_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::runtime {

// One configured playbook file: the version serving requests and the outcome of the
// latest load attempt.
struct PlaybookEntry {
  // The file as configured.
  std::string path;
  // The last version that compiled; null when no version of this file ever did.
  std::shared_ptr<const engine::CompiledPlaybook> playbook;
  // When `playbook` was activated.
  absl::Time activated_at = absl::InfinitePast();
  // Diagnostics of the latest load attempt when it was rejected; empty when it was
  // accepted. Warnings of an accepted version are kept in `warnings`.
  std::vector<v1::Diagnostic> last_reload_diagnostics;
  // Warnings of the serving version.
  std::vector<v1::Diagnostic> warnings;
  // When the file was last (re)loaded, successfully or not.
  absl::Time last_reload_attempt = absl::InfinitePast();
  // Name and version of the latest attempt, as far as it parsed (names an entry that
  // never compiled).
  v1::PlaybookRef last_attempt_ref;
  // Where the serving version came from: "file" (read from `path`; no store, or the
  // store could not be used) or "store" (the store's published revision of the name).
  std::string source = "file";
  // The serving version's store revision number; 0 when it is not from the store.
  int64_t store_revision = 0;

  // The playbook name this entry answers to: the serving version's, else the name the
  // latest attempt parsed to.
  const std::string& name() const;
};

// An immutable view of every configured playbook.
class Snapshot {
 public:
  Snapshot(std::vector<PlaybookEntry> entries, std::string default_name);

  const std::vector<PlaybookEntry>& entries() const { return entries_; }
  // The configured default playbook name ("" = the first file's playbook).
  const std::string& default_name() const { return default_name_; }

  // The entry named `name` ("" = the default), or null. Matches entries that never
  // compiled too, so callers can tell "unknown" from "not valid".
  const PlaybookEntry* Find(absl::string_view name) const;
  // The serving playbook named `name` ("" = the default), or null.
  std::shared_ptr<const engine::CompiledPlaybook> Serving(absl::string_view name) const;
  // Names of the playbooks that have a serving version, in config order.
  std::vector<std::string> ServingNames() const;
  // True when at least one playbook is serving.
  bool any_serving() const;

 private:
  std::vector<PlaybookEntry> entries_;
  std::string default_name_;
};

// Checks what no single file can: the serving playbooks have distinct names (else one
// would silently shadow another in Find), and a non-empty `default_name` names one of
// them. FailedPrecondition naming the files involved otherwise. `default_name` ""
// follows the first file and always passes.
[[nodiscard]] absl::Status CheckConsistency(const std::vector<PlaybookEntry>& entries,
                                            const std::string& default_name);

// Holds the current snapshot. Get() returns a reference-counted copy of the pointer;
// Set() publishes a new one. A mutex guards the shared_ptr (C++17's
// std::atomic<std::shared_ptr> does not exist and atomic_load on shared_ptr is not
// lock-free anyway); the critical section is one pointer copy.
class SnapshotHolder {
 public:
  // Starts with an empty snapshot (no playbooks).
  SnapshotHolder();

  std::shared_ptr<const Snapshot> Get() const;
  void Set(std::shared_ptr<const Snapshot> snapshot);

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
};

}  // namespace dealcoach::runtime

#endif  // DEALCOACH_SIDECAR_RUNTIME_SNAPSHOT_H_
