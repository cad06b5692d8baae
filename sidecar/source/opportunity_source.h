// OpportunitySource: the sidecar's cache of opportunities in front of a Connector.
//
// A background thread syncs incrementally (SyncChangedSince with the last high-water
// mark); lookups by id are answered from the cache in microseconds, fetching through
// the connector only on a miss. When the CRM is unreachable the cached data keeps
// serving and each answer says how stale it is; with no data at all the error names
// the CRM call that failed.
//
// Memory layout: each cached opportunity is held as its serialized wire bytes (after
// normalisation), about 1.3x its data in RSS, instead of a parsed message (about 5x:
// protobuf allocates every string, repeated field and sub-message separately). A small
// LRU of parsed messages (SourceOptions::parsed_cache_entries) answers repeated lookups
// of the same deals without parsing; each entry carries the version of the bytes it was
// parsed from, so an update is never answered from an older parse.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_
#define DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "connectors/connector.h"
#include "dealcoach/v1/guidance.pb.h"
#include "dealcoach/v1/opportunity.pb.h"

namespace dealcoach::source {

struct SourceOptions {
  // Time between incremental sync passes. Default: 30 s.
  absl::Duration sync_interval = absl::Seconds(30);
  // Data older than this is marked stale in answers. Default: 5 min.
  absl::Duration stale_after = absl::Minutes(5);
  // Cached entries older than this are refreshed through FetchOpportunity on lookup
  // (in the background; the cached copy answers immediately). Default: 60 s.
  absl::Duration refresh_after = absl::Seconds(60);
  // Deadline for a fetch on a cache miss. Default: 2 s.
  absl::Duration fetch_timeout = absl::Seconds(2);
  // Run the background sync thread. Off in unit tests that drive SyncOnce().
  bool background_sync = true;
  // Parsed opportunities kept for repeated lookups (an LRU); 0 parses on every lookup.
  // Each costs about 8x its serialized size (16 KiB for a typical 2 KB deal, so about
  // 16 MiB at the default); a lookup outside it parses, about 8 us. Default: 1024.
  size_t parsed_cache_entries = 1024;
  // Applied to every opportunity before it is cached (e.g. engine::NormalizeOpportunity,
  // passed in by the server so this library does not depend on the engine). Optional.
  std::function<void(v1::Opportunity*)> normalize;
};

// One answer: the opportunity and how fresh it is.
struct Lookup {
  std::shared_ptr<const v1::Opportunity> opportunity;
  v1::DataFreshness freshness;
};

class OpportunitySource {
 public:
  virtual ~OpportunitySource() = default;

  // Builds a source over `connector`; does not start syncing.
  static std::unique_ptr<OpportunitySource> Create(std::unique_ptr<connectors::Connector> connector,
                                                   const SourceOptions& options);

  // Starts the background sync (first pass runs immediately).
  virtual void Start() = 0;
  // Stops the background thread and waits for it. Idempotent.
  virtual void Stop() = 0;
  // Runs one sync pass on the calling thread.
  virtual absl::Status SyncOnce() = 0;

  // The opportunity with this id at time `now`. NotFound for an unknown id;
  // Unavailable / DeadlineExceeded / ... from the connector when it is not cached and
  // the CRM call fails (the message names the call).
  virtual absl::StatusOr<Lookup> Get(absl::string_view id, absl::Time now) = 0;

  // Number of cached opportunities.
  virtual size_t size() const = 0;
  // Connector health plus the last sync outcome.
  virtual connectors::ConnectorHealth Health() const = 0;
  // The connector's type name.
  virtual absl::string_view connector_type() const = 0;
};

}  // namespace dealcoach::source

#endif  // DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_
