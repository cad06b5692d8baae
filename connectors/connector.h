// The connector interface: how the sidecar reads opportunities from a CRM.
//
// One adapter per CRM lives in its own folder under connectors/ and registers a
// ConnectorFactory by name (see registry.h). Core code only ever names the interface:
// the sidecar's config says `connector: {type: hubspot, ...}` and the registry finds it.
//
// Thread safety: a Connector is used by one sync thread and by request threads that
// miss the cache, so every method must be safe to call concurrently.
#ifndef DEALCOACH_CONNECTORS_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_CONNECTOR_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors {

// Outcome of one incremental sync pass.
struct SyncResult {
  // Opportunities delivered to the sink.
  int64_t count = 0;
  // The newest modification time seen; pass it as `since` next time.
  absl::Time high_water_mark = absl::InfinitePast();
  // Listing / query pages read (the sync pass's log line; 0 when not counted).
  int64_t pages = 0;
  // Failed CRM responses during the pass, retried or not (ResilientHttp's count; calls
  // made concurrently outside the pass, such as a FetchOpportunity, are included).
  int64_t errors = 0;
};

// What a connector reports about its CRM.
struct ConnectorHealth {
  bool healthy = false;
  // Human-readable detail: "ok", "circuit open after 5 failures: 503 ...".
  std::string detail;
  absl::Time last_success = absl::InfinitePast();
  // The circuit breaker in front of the CRM: "closed", "open" or "half-open"; "" for
  // connectors without one (file, postgres).
  std::string breaker;
  // While the breaker is open: when it lets the next trial call through (the CRM's
  // Retry-After, or the cool-down). InfinitePast otherwise. The cache's sync loop waits
  // for it before retrying a failed pass.
  absl::Time retry_at = absl::InfinitePast();
};

class Connector {
 public:
  virtual ~Connector() = default;

  // The registered type name ("salesforce").
  virtual absl::string_view type() const = 0;

  // Fetches one opportunity with its contacts and buying roles, recent activities and
  // stage history. NotFound when the CRM has no such id; Unavailable,
  // ResourceExhausted (rate limit), Unauthenticated, DeadlineExceeded or
  // FailedPrecondition (schema drift) with a message naming the CRM call that failed.
  virtual absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                           absl::Time deadline) = 0;

  // Delivers every opportunity modified at or after `since` to `sink`, page by page.
  // A sink error stops the sync and is returned.
  virtual absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) = 0;

  // The ids of every opportunity the CRM currently has that SyncChangedSince would
  // deliver (same filter), so the cache can evict deals deleted or filtered out in the
  // CRM (see docs/connectors.md, "Deletions"). Optional: the default is Unimplemented,
  // and the cache then relies on NotFound from background refreshes alone.
  virtual absl::StatusOr<std::vector<std::string>> ListIds(absl::Time deadline) {
    (void)deadline;
    return absl::UnimplementedError(absl::StrCat(type(), ": listing ids is not supported"));
  }

  // Current health, without calling the CRM.
  virtual ConnectorHealth Health() const = 0;
};

// Everything a factory may need besides its own config section.
struct ConnectorContext {
  // Path of the config file the section came from, for line:col diagnostics.
  std::string config_file;
  // Directory relative paths in the config are resolved against.
  std::string base_dir;
};

class ConnectorFactory {
 public:
  virtual ~ConnectorFactory() = default;
  // Type name used in config ("salesforce", "hubspot", "dynamics", "postgres", "file").
  virtual absl::string_view type() const = 0;
  // Builds a connector from its config section. Invalid config is InvalidArgument with
  // "file:line:col: message". Secrets are read from the environment or files named in
  // the config, never from the config itself.
  virtual absl::StatusOr<std::unique_ptr<Connector>> Create(
      const YAML::Node& config, const ConnectorContext& context) const = 0;
};

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_CONNECTOR_H_
