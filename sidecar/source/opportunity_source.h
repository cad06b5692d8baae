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
// Partial answers: when the latest sync pass failed part-way (throttled, a 5xx burst, a
// malformed page), every cached deal not re-read since that pass started is answered
// with freshness.partial and a reason naming the failure and since when changes may be
// missing, until a pass succeeds or the deal is fetched again.
//
// Freshness is measured against the wall clock (SourceOptions::clock), never against a
// request's `as_of`: a past as_of must not hide staleness, a future one must not make
// every lookup refetch.
//
// Deletions: every `reconcile_interval` the sync thread lists the CRM's ids
// (Connector::ListIds) and evicts cached deals it did not return, so a deal deleted or
// filtered out in the CRM leaves the cache within sync_interval + reconcile_interval.
// Connectors without ListIds fall back to NotFound from background refreshes.
//
// Races: every store carries a version; a cache-miss fetch or refresh that started
// before a sync stored newer bytes for the same id never overwrites them, and a
// reconcile never evicts an entry stored after its listing began.
//
// Shutdown: background threads share ownership of the cache's state, so Stop() and the
// destructor wait at most `stop_timeout` for a connector call that is stuck; such a
// thread is then detached and finishes (and frees the state) when the call returns.
//
// Owner index and generation: every cached deal is also filed under its owner's id,
// manager_id and team (the normalised values), so a scan of one rep's, manager's or
// team's deals (ForEachOwnedBy) visits only those, in id order, without parsing the rest
// of the cache (about 250 bytes per deal for 18-character ids). generation() changes whenever a
// cached deal is stored, replaced by different bytes or evicted (sync, miss, refresh,
// reconcile; a deal re-delivered unchanged leaves it alone), so a
// result computed from the cache at one generation is still current while it holds
// (the pipeline's aggregate cache, sidecar/pipeline/aggregate_cache.h).
//
// Thread safety: all methods are safe to call concurrently.
#ifndef DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_
#define DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  // Time between reconcile passes (list the CRM's ids, evict the rest); 0 disables.
  // Default: 5 min.
  absl::Duration reconcile_interval = absl::Minutes(5);
  // Wait before retrying after a failed sync pass; it doubles per consecutive failure up
  // to sync_interval, and the loop never retries before the connector's circuit breaker
  // lets a call through (ConnectorHealth::retry_at: cool-down or the CRM's
  // Retry-After). Default: 1 s.
  absl::Duration retry_after_failure = absl::Seconds(1);
  // Deadline for one sync pass (the sink refuses records after it) and for ListIds.
  // Default: 10 min.
  absl::Duration sync_timeout = absl::Minutes(10);
  // How long Stop() / the destructor wait for a background thread stuck in a connector
  // call before detaching it. Default: 5 s.
  absl::Duration stop_timeout = absl::Seconds(5);
  // Wall clock used for freshness, for tests. Default: absl::Now.
  std::function<absl::Time()> clock;
  // Run the background sync thread. Off in unit tests that drive SyncOnce().
  bool background_sync = true;
  // Parsed opportunities kept for repeated lookups (an LRU); 0 parses on every lookup.
  // Each costs about 8x its serialized size (16 KiB for a typical 2 KB deal, so about
  // 16 MiB at the default); a lookup outside it parses, about 8 us. Default: 1024.
  size_t parsed_cache_entries = 1024;
  // Applied to every opportunity before it is cached (e.g. engine::NormalizeOpportunity,
  // passed in by the server so this library does not depend on the engine). Optional.
  std::function<void(v1::Opportunity*)> normalize;
  // Receives one line per sync / reconcile pass (warning = false) and per failure
  // (warning = true), e.g. runtime::LogInfo / LogWarning, passed in by the server.
  // Optional.
  std::function<void(bool warning, const std::string& line)> log;
};

// Which owner field a scoped scan matches (ForEachOwnedBy).
enum class OwnerField { kId, kManagerId, kTeam };

// `owner`'s value of `field`.
[[nodiscard]] const std::string& OwnerFieldOf(const v1::Owner& owner, OwnerField field);

// One answer: the opportunity and how fresh it is.
struct Lookup {
  std::shared_ptr<const v1::Opportunity> opportunity;
  v1::DataFreshness freshness;
};

// A pinned copy of the cache: every cached opportunity as its serialized (normalised)
// bytes, in id order, copied under one read lock at `taken_at` (the admin's plan
// evaluates two playbook revisions over exactly the same deals).
struct CacheSnapshot {
  absl::Time taken_at;
  std::vector<std::pair<std::string, std::string>> deals;  // (id, bytes)
};

// What the source reports about itself (AdminService.GetStatus, logs).
struct SourceStatus {
  std::string connector_type;
  // The connector's own health (circuit breaker, last CRM success).
  connectors::ConnectorHealth connector;
  // Start of the last sync pass that succeeded; InfinitePast before the first.
  absl::Time last_sync = absl::InfinitePast();
  int64_t last_sync_count = 0;
  int64_t sync_passes = 0;
  // The most recent failed CRM call (sync, miss, refresh or reconcile); "" after a good
  // sync.
  std::string last_error;
  absl::Time last_error_at = absl::InfinitePast();
  // Last reconcile that succeeded, and what it evicted; reconcile_supported is false
  // when the connector has no ListIds.
  absl::Time last_reconcile = absl::InfinitePast();
  int64_t last_reconcile_evicted = 0;
  bool reconcile_supported = true;
  int64_t cached = 0;
};

class OpportunitySource {
 public:
  virtual ~OpportunitySource() = default;

  // Builds a source over `connector`; does not start syncing.
  static std::unique_ptr<OpportunitySource> Create(std::unique_ptr<connectors::Connector> connector,
                                                   const SourceOptions& options);

  // Starts the background sync (first pass runs immediately).
  virtual void Start() = 0;
  // Stops the background threads, waiting at most `timeout` (default: stop_timeout) for
  // one stuck in a connector call. Idempotent.
  virtual void Stop() = 0;
  virtual void Stop(absl::Duration timeout) = 0;
  // Runs one sync pass on the calling thread.
  virtual absl::Status SyncOnce() = 0;

  // The opportunity with this id, its freshness measured against the wall clock.
  // NotFound for an unknown id; Unavailable / DeadlineExceeded / ... from the connector
  // when it is not cached and the CRM call fails (the message names the call).
  virtual absl::StatusOr<Lookup> Get(absl::string_view id) = 0;
  // The cached opportunity with this id, as Get answers it, or nullopt when it is not
  // cached; never calls the connector, so it does not block on the CRM (the gRPC
  // callback handlers answer hits on gRPC's own threads and hand only misses to a pool).
  // The default says "not cached", which only costs a hand-off.
  virtual std::optional<Lookup> GetCached(absl::string_view id) {
    (void)id;
    return std::nullopt;
  }
  // The same as Get; `as_of` (the request's evaluation time) does not affect freshness or
  // refreshes, so callers may pass it without thinking.
  absl::StatusOr<Lookup> Get(absl::string_view id, absl::Time as_of) {
    (void)as_of;
    return Get(id);
  }

  // Calls `fn` for every cached opportunity, in id order (byte order), one at a time: the
  // ids are copied once, then the bytes of 256 deals at a time under the shared lock,
  // each parsed outside it into one reused message. So a scan holds the ids, one batch
  // of bytes and one parsed deal (never the pipeline twice), and blocks a sync only for
  // the copy of one batch. A deal stored during the scan is seen in its old or its new
  // version; one evicted before its batch is skipped. Returns the first error of `fn`,
  // which stops the scan. Never calls the connector.
  virtual absl::Status ForEach(
      const std::function<absl::Status(const v1::Opportunity& opportunity)>& fn) = 0;

  // ForEach restricted to the cached deals whose owner's `field` equals `value`
  // (non-empty), in id order, with ForEach's guarantees. The cache answers from its owner
  // index: the scan parses only those deals. The default filters a full ForEach.
  virtual absl::Status ForEachOwnedBy(
      OwnerField field, absl::string_view value,
      const std::function<absl::Status(const v1::Opportunity& opportunity)>& fn) {
    return ForEach([&](const v1::Opportunity& opp) {
      return OwnerFieldOf(opp.owner(), field) == value ? fn(opp) : absl::OkStatus();
    });
  }

  // The cache's generation: it changes whenever a cached deal is stored, replaced by
  // different bytes (or a different owner) or evicted, and never goes back. nullopt when the source
  // cannot tell (then nothing derived from it may be cached). Read it before and after a scan:
  // equal values mean the scan saw one unchanged cache.
  [[nodiscard]] virtual std::optional<uint64_t> generation() const { return std::nullopt; }

  // Runs one reconcile pass on the calling thread: lists the CRM's ids and evicts the
  // cached deals it did not return. Unimplemented when the connector cannot list.
  virtual absl::Status ReconcileOnce() = 0;

  // Number of cached opportunities.
  virtual size_t size() const = 0;
  // Every cached opportunity, copied at one instant (see CacheSnapshot). Costs one copy
  // of the cache's bytes; lookups and syncs wait only for the copy.
  virtual CacheSnapshot SnapshotCache() const = 0;
  // Connector health plus the last sync outcome.
  virtual connectors::ConnectorHealth Health() const = 0;
  // Everything above in one consistent read.
  virtual SourceStatus Status() const = 0;
  // The connector's type name.
  virtual absl::string_view connector_type() const = 0;
};

}  // namespace dealcoach::source

#endif  // DEALCOACH_SIDECAR_SOURCE_OPPORTUNITY_SOURCE_H_
