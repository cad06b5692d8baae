// The file connector: opportunities from a JSON file (an array of dealcoach.v1.Opportunity
// in proto3 JSON). It is the embedded default, so the sidecar, the playbook tests and the
// demos work with no CRM at all.
//
//   connector:
//     type: file
//     file:
//       path: samples/opportunities.json        # relative to the config file's directory
//       rebase_dates_from: "2026-11-20T12:00:00Z"
//
// `rebase_dates_from`, when set, shifts every Timestamp in every opportunity by
// (now - anchor) each time the file is loaded, so shipped samples written "as of" the
// anchor look current on any day. The file is re-read when its modification time
// changes (checked on every sync and fetch); a broken edit keeps the last good data
// serving and is reported by the failed call and by Health().
//
// Thread safety: safe for concurrent use (one mutex around the loaded snapshot).
#ifndef DEALCOACH_CONNECTORS_FILE_FILE_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_FILE_FILE_CONNECTOR_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "connectors/connector.h"

namespace dealcoach::connectors {

struct FileConnectorOptions {
  // Path of the JSON file (already resolved against the config directory).
  std::string path;
  // Anchor instant for date rebasing; unset: dates are used as written.
  std::optional<absl::Time> rebase_dates_from;
  // Clock for rebasing. Default: absl::Now.
  std::function<absl::Time()> now;
};

class FileConnector : public Connector {
 public:
  // Loads the file once; errors are InvalidArgument naming the file (and the element).
  static absl::StatusOr<std::unique_ptr<FileConnector>> Create(FileConnectorOptions options);

  absl::string_view type() const override { return "file"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override;
  // Delivers opportunities with updated_at >= since, and every opportunity after the
  // file changed (an edit need not bump updated_at). The high-water mark is the newest
  // updated_at seen (the load time for records without one).
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override;
  // Every id in the file (re-read when it changed), so deals removed from it leave the
  // cache at the next reconcile.
  absl::StatusOr<std::vector<std::string>> ListIds(absl::Time deadline) override;
  ConnectorHealth Health() const override;

  // Parses file content; exposed for tests. `now` drives rebasing.
  static absl::StatusOr<std::vector<v1::Opportunity>> ParseOpportunities(
      absl::string_view json, absl::string_view file, std::optional<absl::Time> rebase_from,
      absl::Time now);

 private:
  explicit FileConnector(FileConnectorOptions options);
  // Reloads when the mtime changed. Sets *reloaded. Keeps old data on error.
  absl::Status MaybeReload(bool* reloaded) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FileConnectorOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const std::vector<v1::Opportunity>> data_ ABSL_GUARDED_BY(mu_);
  int64_t loaded_mtime_ns_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Time loaded_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // True until a sync has delivered the current file version.
  bool undelivered_change_ ABSL_GUARDED_BY(mu_) = true;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_success_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// Shifts every google.protobuf.Timestamp inside `message` (recursively, including map
// values and repeated fields) by `delta`. Unset timestamps stay unset.
void ShiftTimestamps(google::protobuf::Message* message, absl::Duration delta);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_FILE_FILE_CONNECTOR_H_
