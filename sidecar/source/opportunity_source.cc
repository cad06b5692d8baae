#include "sidecar/source/opportunity_source.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <iterator>
#include <list>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/arena.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::source {
namespace {

using connectors::Connector;
using connectors::ConnectorHealth;

// Parses `bytes` into a message on its own arena; the arena lives as long as the
// returned pointer. Null when the bytes do not parse.
std::shared_ptr<const v1::Opportunity> ParseOnArena(const std::string& bytes) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4096;  // about one opportunity's messages
  auto arena = std::make_shared<google::protobuf::Arena>(options);
  auto* opp = google::protobuf::Arena::CreateMessage<v1::Opportunity>(arena.get());
  if (!opp->ParseFromString(bytes)) return nullptr;
  // Aliasing constructor: shares ownership of the arena, points at the message.
  return std::shared_ptr<const v1::Opportunity>(std::move(arena), opp);
}

// "2026-12-02T19:05:02Z".
std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// Sync deliveries are applied in batches so request threads wait on the write lock
// rarely and briefly.
constexpr size_t kSyncBatch = 256;

// Everything the cache is: owned jointly by the handle (OpportunitySourceImpl) and its
// background threads, so a thread stuck in a connector call can be detached at shutdown
// and still find the cache and connector alive when the call returns.
class Core {
 public:
  Core(std::unique_ptr<Connector> connector, const SourceOptions& options)
      : connector_(std::move(connector)), options_(options), type_(connector_->type()) {}

  absl::Time Now() const { return options_.clock ? options_.clock() : absl::Now(); }

  void Log(bool warning, const std::string& line) const {
    if (options_.log) options_.log(warning, line);
  }

  absl::Status ForEach(const std::function<absl::Status(const v1::Opportunity&)>& fn) const {
    std::vector<std::string> ids;
    {
      absl::ReaderMutexLock lock(&mu_);
      ids.reserve(cache_.size());
      for (const auto& [id, entry] : cache_) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    return Scan(ids, nullptr, "", fn);
  }

  absl::Status ForEachOwnedBy(OwnerField field, absl::string_view value,
                              const std::function<absl::Status(const v1::Opportunity&)>& fn) const {
    std::vector<std::string> ids;
    {
      absl::ReaderMutexLock lock(&mu_);
      const OwnerIndex& index = IndexOf(field);
      auto it = index.find(value);
      if (it == index.end()) return absl::OkStatus();
      ids.assign(it->second.begin(), it->second.end());  // a btree_set: already in id order
    }
    return Scan(ids, &field, value, fn);
  }

  uint64_t generation() const {
    absl::ReaderMutexLock lock(&mu_);
    return generation_;
  }

  absl::Status SyncOnce() {
    absl::MutexLock sync_lock(&sync_mu_);  // one pass at a time
    absl::Time since;
    {
      absl::ReaderMutexLock lock(&mu_);
      since = high_water_mark_;
    }
    const absl::Time started = Now();
    // (id, serialized bytes), serialized outside the lock.
    struct Delivered {
      std::string id;
      std::string bytes;
      v1::Owner owner;
    };
    std::vector<Delivered> batch;
    batch.reserve(kSyncBatch);
    auto flush = [&] {
      if (batch.empty()) return;
      const absl::Time now = Now();
      absl::MutexLock lock(&mu_);
      for (Delivered& d : batch) Store(d.id, std::move(d.bytes), d.owner, now);
      batch.clear();
    };
    // Every pass has a deadline and stops early on shutdown; the sink is the one place
    // every connector calls back into between records.
    const absl::Time deadline = absl::Now() + options_.sync_timeout;
    int64_t delivered = 0;
    absl::StatusOr<connectors::SyncResult> result =
        connector_->SyncChangedSince(since, [&](v1::Opportunity opp) {
          if (stopping_.load(std::memory_order_relaxed)) {
            return absl::CancelledError("sync: stopped (shutting down)");
          }
          if (absl::Now() > deadline) {
            return absl::DeadlineExceededError(
                absl::StrCat("sync: pass exceeded source.sync_timeout (",
                             absl::FormatDuration(options_.sync_timeout), ")"));
          }
          if (opp.id().empty()) return absl::OkStatus();  // unusable; skip
          std::string bytes = Ingest(&opp);
          ++delivered;
          batch.push_back({opp.id(), std::move(bytes), opp.owner()});
          if (batch.size() >= kSyncBatch) flush();
          return absl::OkStatus();
        });
    flush();  // keep what arrived before a failure
    absl::MutexLock lock(&mu_);
    ++sync_passes_;
    if (!result.ok()) {
      last_error_ = std::string(result.status().message());
      last_error_at_ = Now();
      last_sync_error_ = last_error_;
      if (result.status().code() != absl::StatusCode::kCancelled) {
        // Deals not re-read since this pass started may lack changes it would have
        // brought: their answers say so (freshness.partial).
        failed_pass_started_ = started;
        failed_pass_delivered_ = delivered;
      }
      // One line per pass (issue 10 item 7): connector, records, duration, and the CRM's
      // error, at warning.
      Log(true, absl::StrCat("source: sync pass failed: connector=", type_, " records=", delivered,
                             " duration=", absl::FormatDuration(Now() - started),
                             " error: ", result.status().ToString(), "; ", cache_.size(),
                             " cached deals keep serving"));
      return result.status();
    }
    high_water_mark_ = std::max(high_water_mark_, result->high_water_mark);
    // Everything unchanged since the last pass is confirmed current as of this start.
    last_sync_ok_ = started;
    last_sync_count_ = result->count;
    last_sync_error_.clear();
    failed_pass_started_ = absl::InfinitePast();
    last_error_.clear();
    Log(false, absl::StrCat("source: sync pass ok: connector=", type_, " pages=", result->pages,
                            " records=", result->count,
                            " duration=", absl::FormatDuration(Now() - started),
                            " errors=", result->errors, "; ", cache_.size(), " cached"));
    return absl::OkStatus();
  }

  absl::Status ReconcileOnce() {
    uint64_t listed_after = 0;  // entries stored after the listing began are kept
    {
      absl::ReaderMutexLock lock(&mu_);
      listed_after = last_version_;
    }
    const absl::Time started = absl::Now();
    absl::StatusOr<std::vector<std::string>> ids =
        connector_->ListIds(started + options_.sync_timeout);
    absl::MutexLock lock(&mu_);
    if (!ids.ok()) {
      if (ids.status().code() == absl::StatusCode::kUnimplemented) {
        reconcile_supported_ = false;
        return ids.status();
      }
      last_error_ = std::string(ids.status().message());
      last_error_at_ = Now();
      Log(true, absl::StrCat("source: reconcile failed: ", ids.status().ToString()));
      return ids.status();
    }
    absl::flat_hash_set<absl::string_view> live(ids->begin(), ids->end());
    std::vector<std::string> evict;
    for (const auto& [id, entry] : cache_) {
      if (entry.version <= listed_after && !live.contains(id)) evict.push_back(id);
    }
    for (const std::string& id : evict) {
      Erase(cache_.find(id));
      parsed_.Erase(id);
    }
    last_reconcile_ = Now();
    last_reconcile_evicted_ = static_cast<int64_t>(evict.size());
    Log(false,
        absl::StrCat("source: reconcile ok: ", ids->size(), " ids in the CRM, ", evict.size(),
                     " deleted or filtered out evicted; ", cache_.size(), " cached"));
    return absl::OkStatus();
  }

  absl::StatusOr<Lookup> Get(absl::string_view id) {
    std::optional<Lookup> cached = GetCached(id);
    if (cached.has_value()) return *std::move(cached);
    return Fetch(id);
  }

  // The hit half of Get: never calls the connector.
  std::optional<Lookup> GetCached(absl::string_view id) {
    // Freshness and refresh decisions use the wall clock only (see the header).
    const absl::Time now = Now();
    Lookup out;
    absl::Time fetched_at;
    bool hit = false;
    uint64_t version = 0;
    std::string bytes;  // filled when the parsed LRU does not have this version
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = cache_.find(id);
      if (it != cache_.end()) {
        hit = true;
        version = it->second.version;
        out.opportunity = parsed_.Find(id, version);
        if (out.opportunity == nullptr) bytes = it->second.bytes;
        fetched_at = std::max(it->second.fetched_at, last_sync_ok_);
        FillFreshness(fetched_at, it->second.fetched_at, now, &out.freshness);
      }
    }
    if (hit && out.opportunity == nullptr) {
      // Parse outside the cache lock, onto an arena owned by the returned pointer: a
      // lookup that parses costs about 8 us that way against about 14 us with the
      // message's parts on the heap (bulk_bench), for 16 instead of 9 KiB per LRU entry.
      std::shared_ptr<const v1::Opportunity> parsed = ParseOnArena(bytes);
      if (parsed != nullptr) {
        out.opportunity = parsed;
        parsed_.Insert(id, version, std::move(parsed));
      } else {
        hit = false;  // cannot happen for bytes we serialized; refetch rather than fail
      }
    }
    if (!hit) return std::nullopt;
    if (now - fetched_at > options_.refresh_after) ScheduleRefresh(id);
    return out;
  }

  // The miss half of Get: asks the CRM, bounded by fetch_timeout.
  absl::StatusOr<Lookup> Fetch(absl::string_view id) {
    Lookup out;
    uint64_t before = 0;
    {
      absl::ReaderMutexLock lock(&mu_);
      before = last_version_;
    }
    absl::StatusOr<v1::Opportunity> fetched =
        connector_->FetchOpportunity(id, absl::Now() + options_.fetch_timeout);
    if (!fetched.ok()) {
      if (fetched.status().code() != absl::StatusCode::kNotFound) {
        absl::MutexLock lock(&mu_);
        last_error_ = std::string(fetched.status().message());
        last_error_at_ = Now();
      }
      return fetched.status();
    }
    std::string fetched_bytes = Ingest(&*fetched);
    auto opp = std::make_shared<const v1::Opportunity>(*std::move(fetched));
    {
      absl::MutexLock lock(&mu_);
      auto it = cache_.find(id);
      if (it != cache_.end() && it->second.version > before) {
        // A sync stored this deal while we fetched; its bytes may be newer than ours
        // (the fetch may have read the CRM before the change the sync delivered).
        // Answer with what the cache holds instead of overwriting it.
        std::shared_ptr<const v1::Opportunity> cached = ParseOnArena(it->second.bytes);
        if (cached != nullptr) {
          parsed_.Insert(id, it->second.version, cached);
          out.opportunity = std::move(cached);
          FillFreshness(std::max(it->second.fetched_at, last_sync_ok_), it->second.fetched_at,
                        Now(), &out.freshness);
          return out;
        }
      }
      const absl::Time at = Now();
      const uint64_t stored = Store(std::string(id), std::move(fetched_bytes), opp->owner(), at);
      parsed_.Insert(id, stored, opp);
      out.opportunity = opp;
      FillFreshness(at, at, at, &out.freshness);
    }
    return out;
  }

  size_t size() const {
    absl::ReaderMutexLock lock(&mu_);
    return cache_.size();
  }

  CacheSnapshot SnapshotCache() const {
    CacheSnapshot out;
    {
      absl::ReaderMutexLock lock(&mu_);
      out.taken_at = Now();
      out.deals.reserve(cache_.size());
      for (const auto& [id, entry] : cache_) out.deals.emplace_back(id, entry.bytes);
    }
    std::sort(out.deals.begin(), out.deals.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
  }

  SourceStatus Status() const {
    SourceStatus st;
    st.connector_type = type_;
    st.connector = connector_->Health();
    absl::ReaderMutexLock lock(&mu_);
    st.last_sync = last_sync_ok_;
    st.last_sync_count = last_sync_count_;
    st.sync_passes = sync_passes_;
    st.last_error = last_error_;
    st.last_error_at = last_error_at_;
    st.last_reconcile = last_reconcile_;
    st.last_reconcile_evicted = last_reconcile_evicted_;
    st.reconcile_supported = reconcile_supported_;
    st.cached = static_cast<int64_t>(cache_.size());
    return st;
  }

  ConnectorHealth Health() const {
    ConnectorHealth health = connector_->Health();
    absl::ReaderMutexLock lock(&mu_);
    if (!last_sync_error_.empty()) {
      health.healthy = false;
      health.detail = absl::StrCat("last sync failed: ", last_sync_error_);
    } else if (sync_passes_ > 0) {
      absl::StrAppend(&health.detail, "; last sync ",
                      absl::FormatTime(absl::RFC3339_sec, last_sync_ok_, absl::UTCTimeZone()), " (",
                      last_sync_count_, " changed); ", cache_.size(), " cached");
    }
    health.last_success = std::max(health.last_success, last_sync_ok_);
    return health;
  }

  absl::string_view connector_type() const { return type_; }

  // Background threads. Each loop returns when asked to stop; the handle waits for
  // that (bounded) through the *_running_ flags.
  void RefreshLoop();
  void SyncLoop();

  void RequestStopSync() {
    stopping_.store(true, std::memory_order_relaxed);
    absl::MutexLock lock(&work_mu_);
    stop_sync_ = true;
  }
  void RequestShutdown() {
    RequestStopSync();
    absl::MutexLock lock(&work_mu_);
    shutting_down_ = true;
  }
  // Marks a loop as running (before its thread starts) / finished (its last act).
  void SetRunning(bool* flag, bool running) {
    absl::MutexLock lock(&work_mu_);
    *flag = running;
  }
  // True when `*flag` went false within `timeout`.
  bool AwaitStopped(const bool* flag, absl::Duration timeout) {
    absl::MutexLock lock(&work_mu_);
    return work_mu_.AwaitWithTimeout(absl::Condition(
                                         +[](const bool* f) { return !*f; }, flag),
                                     timeout);
  }
  // Re-arms the sync loop after a Stop (Start may be called again).
  bool PrepareSyncStart() {
    absl::MutexLock lock(&work_mu_);
    if (shutting_down_ || sync_running_) return false;
    stop_sync_ = false;
    stopping_.store(false, std::memory_order_relaxed);
    sync_running_ = true;
    return true;
  }

  bool sync_running_ ABSL_GUARDED_BY(work_mu_) = false;
  bool refresher_running_ ABSL_GUARDED_BY(work_mu_) = false;
  absl::Mutex work_mu_;

 private:
  struct Entry {
    std::string bytes;  // the normalised opportunity, serialized
    absl::Time fetched_at = absl::InfinitePast();
    uint64_t version = 0;  // distinct for every store, so parses of older bytes are ignored
    // The owner fields it is indexed under (OwnerField order: id, manager_id, team).
    std::string owner[3];
  };

  // Owner value -> the ids of the cached deals with it, in id order. Empty values are
  // not indexed (no scope names them).
  using OwnerIndex = absl::flat_hash_map<std::string, absl::btree_set<std::string>>;

  const OwnerIndex& IndexOf(OwnerField field) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return index_[static_cast<int>(field)];
  }

  void Unindex(const std::string& id, const Entry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int f = 0; f < 3; ++f) {
      if (e.owner[f].empty()) continue;
      auto it = index_[f].find(e.owner[f]);
      if (it == index_[f].end()) continue;
      it->second.erase(id);
      if (it->second.empty()) index_[f].erase(it);
    }
  }

  // Evicts one cached deal (`it` may be end()).
  void Erase(absl::flat_hash_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (it == cache_.end()) return;
    Unindex(it->first, it->second);
    cache_.erase(it);
    ++generation_;
  }

  // Calls `fn` for the deals `ids` (in that order), copying the bytes of kSyncBatch at a
  // time under the shared lock (the first batch small, so a scan stopped at its first
  // deal copies little) and parsing each outside it. With `field`, a deal whose owner no
  // longer has `value` when its batch is copied is skipped.
  absl::Status Scan(const std::vector<std::string>& ids, const OwnerField* field,
                    absl::string_view value,
                    const std::function<absl::Status(const v1::Opportunity&)>& fn) const {
    std::vector<std::string> batch;
    batch.reserve(kSyncBatch);
    v1::Opportunity opp;
    size_t start = 0;
    while (start < ids.size()) {
      const size_t end = std::min(ids.size(), start + (start == 0 ? 8 : kSyncBatch));
      batch.clear();
      {
        absl::ReaderMutexLock lock(&mu_);
        for (size_t i = start; i < end; ++i) {
          auto it = cache_.find(ids[i]);
          const bool keep =
              it != cache_.end() &&
              (field == nullptr || it->second.owner[static_cast<int>(*field)] == value);
          batch.push_back(keep ? it->second.bytes : std::string());
        }
      }
      start = end;
      for (const std::string& bytes : batch) {
        if (bytes.empty() || !opp.ParseFromString(bytes)) continue;  // evicted meanwhile
        if (absl::Status s = fn(opp); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  // A bounded cache of parsed opportunities keyed by id and tagged with the version of
  // the bytes they were parsed from, evicting approximately least-recently-used entries
  // (CLOCK: a hit sets a flag under a shared lock; eviction gives flagged entries a
  // second chance). Its own lock, never held while parsing; taken after mu_ when both
  // are held.
  class ParsedCache {
   public:
    explicit ParsedCache(size_t capacity) : capacity_(capacity) {}

    // Hits take the lock shared and only mark the entry as used, so concurrent request
    // threads looking up cached deals do not queue behind each other.
    std::shared_ptr<const v1::Opportunity> Find(absl::string_view id, uint64_t version) {
      absl::ReaderMutexLock lock(&mu_);
      auto it = index_.find(id);
      if (it == index_.end() || it->second->version != version) return nullptr;
      it->second->referenced.store(true, std::memory_order_relaxed);
      return it->second->opportunity;
    }

    void Insert(absl::string_view id, uint64_t version,
                std::shared_ptr<const v1::Opportunity> opportunity) {
      if (capacity_ == 0) return;
      absl::MutexLock lock(&mu_);
      auto it = index_.find(id);
      if (it != index_.end()) {
        if (it->second->version > version) return;  // a newer parse is already here
        it->second->version = version;
        it->second->opportunity = std::move(opportunity);
        it->second->referenced.store(true, std::memory_order_relaxed);
        return;
      }
      Item& item = order_.emplace_front();
      item.id = std::string(id);
      item.version = version;
      item.opportunity = std::move(opportunity);
      item.referenced.store(true, std::memory_order_relaxed);
      index_[item.id] = order_.begin();
      // Second-chance eviction (CLOCK): an entry used since it last reached the back
      // goes round again; the first one that was not is dropped.
      while (order_.size() > capacity_) {
        Item& last = order_.back();
        if (last.referenced.exchange(false, std::memory_order_relaxed)) {
          order_.splice(order_.begin(), order_, std::prev(order_.end()));
          continue;
        }
        index_.erase(last.id);
        order_.pop_back();
      }
    }

    void Erase(absl::string_view id) {
      absl::MutexLock lock(&mu_);
      auto it = index_.find(id);
      if (it == index_.end()) return;
      order_.erase(it->second);
      index_.erase(it);
    }

   private:
    struct Item {
      std::string id;
      uint64_t version = 0;
      std::shared_ptr<const v1::Opportunity> opportunity;
      std::atomic<bool> referenced{false};  // looked up since it last reached the back
    };
    const size_t capacity_;
    absl::Mutex mu_;
    std::list<Item> order_ ABSL_GUARDED_BY(mu_);
    absl::flat_hash_map<std::string, std::list<Item>::iterator> index_ ABSL_GUARDED_BY(mu_);
  };

  // What every path into the cache does first: normalise once, then serialize.
  std::string Ingest(v1::Opportunity* opportunity) const {
    if (options_.normalize) options_.normalize(opportunity);
    std::string bytes;
    opportunity->SerializeToString(&bytes);
    return bytes;
  }

  // Stores the bytes of `id`; returns the new version. A stale parse of the old bytes
  // stays in the LRU but no longer matches.
  // `owner` is the stored (normalised) deal's owner, for the owner index.
  uint64_t Store(const std::string& id, std::string bytes, const v1::Owner& owner,
                 absl::Time fetched_at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Entry& e = cache_[id];
    const std::string* values[3] = {&owner.id(), &owner.manager_id(), &owner.team()};
    const bool owner_changed =
        e.owner[0] != *values[0] || e.owner[1] != *values[1] || e.owner[2] != *values[2];
    // A CRM re-delivering a deal it did not change (an incremental search includes its
    // boundary record, a reconcile lists everything) leaves every derived result current:
    // the generation stays, so the aggregates computed from it stay valid.
    const bool unchanged = e.version != 0 && !owner_changed && e.bytes == bytes;
    if (owner_changed || e.version == 0) {
      Unindex(id, e);
      for (int f = 0; f < 3; ++f) {
        e.owner[f] = *values[f];
        if (!e.owner[f].empty()) index_[f][e.owner[f]].insert(id);
      }
    }
    e.bytes = std::move(bytes);
    e.bytes.shrink_to_fit();
    e.fetched_at = fetched_at;
    e.version = ++last_version_;
    if (!unchanged) ++generation_;
    return e.version;
  }

  // `fetched_at`: when the CRM last confirmed the deal (its own fetch or a later good
  // sync); `entry_fetched_at`: when this deal's bytes were last read from the CRM.
  void FillFreshness(absl::Time fetched_at, absl::Time entry_fetched_at, absl::Time now,
                     v1::DataFreshness* f) const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    if (failed_pass_started_ != absl::InfinitePast() && entry_fetched_at < failed_pass_started_) {
      f->set_partial(true);
      f->set_partial_reason(
          absl::StrCat("the last ", type_, " sync (started ", FormatUtc(failed_pass_started_),
                       ") stopped after ", failed_pass_delivered_,
                       failed_pass_delivered_ == 1 ? " deal" : " deals", ": ", last_sync_error_,
                       "; changes to this deal since ",
                       last_sync_ok_ == absl::InfinitePast()
                           ? absl::StrCat("it was read (", FormatUtc(entry_fetched_at), ")")
                           : FormatUtc(std::max(last_sync_ok_, entry_fetched_at)),
                       " may be missing"));
    }
    f->set_source(type_);
    SetTimestamp(fetched_at, f->mutable_fetched_at());
    const absl::Duration age = std::max(absl::ZeroDuration(), now - fetched_at);
    SetDuration(age, f->mutable_age());
    if (age > options_.stale_after) {
      f->set_stale(true);
      f->set_stale_reason(last_error_.empty()
                              ? absl::StrCat("data is ", absl::FormatDuration(age),
                                             " old (stale after ",
                                             absl::FormatDuration(options_.stale_after), ")")
                              : last_error_);
    }
  }

  void ScheduleRefresh(absl::string_view id) {
    absl::MutexLock lock(&work_mu_);
    if (shutting_down_ || !refreshing_.insert(std::string(id)).second) return;
    refresh_queue_.emplace_back(id);
  }

  void RefreshLoopImpl() {
    for (;;) {
      std::string id;
      {
        absl::MutexLock lock(&work_mu_);
        work_mu_.Await(absl::Condition(
            +[](Core* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->work_mu_) {
              return self->shutting_down_ || !self->refresh_queue_.empty();
            },
            this));
        if (shutting_down_) return;
        id = std::move(refresh_queue_.front());
        refresh_queue_.pop_front();
      }
      uint64_t before = 0;
      {
        absl::ReaderMutexLock lock(&mu_);
        before = last_version_;
      }
      absl::StatusOr<v1::Opportunity> fetched =
          connector_->FetchOpportunity(id, absl::Now() + options_.fetch_timeout);
      std::string fetched_bytes;
      if (fetched.ok()) fetched_bytes = Ingest(&*fetched);
      {
        absl::MutexLock lock(&mu_);
        auto it = cache_.find(id);
        // A sync (or miss) that stored this id during the fetch wins: it is at least as new.
        const bool superseded = it != cache_.end() && it->second.version > before;
        if (superseded) {
          // keep the newer bytes
        } else if (fetched.ok()) {
          Store(id, std::move(fetched_bytes), fetched->owner(), Now());
        } else if (fetched.status().code() == absl::StatusCode::kNotFound) {
          if (it != cache_.end()) Erase(it);  // deleted in the CRM
          parsed_.Erase(id);
        } else {
          last_error_ = std::string(fetched.status().message());
          last_error_at_ = Now();
        }
      }
      absl::MutexLock lock(&work_mu_);
      refreshing_.erase(id);
    }
  }

  // How long the sync loop waits after a pass: sync_interval after a good one. After a
  // failed one, while the connector's circuit breaker is open, exactly until it lets the
  // next call through (its cool-down, or the CRM's Retry-After): the breaker already
  // backs off, so the loop probes as soon as it may. Otherwise (no breaker, or a failure
  // that does not open it, such as an exhausted API quota) retry_after_failure, doubling
  // per consecutive failure up to sync_interval.
  absl::Duration NextSyncWait(const absl::Status& synced, absl::Duration* failure_wait) const {
    if (synced.ok() || synced.code() == absl::StatusCode::kCancelled) {
      *failure_wait = absl::ZeroDuration();
      return options_.sync_interval;
    }
    const ConnectorHealth health = connector_->Health();
    const absl::Duration until_trial = health.retry_at - absl::Now();
    absl::Duration wait;
    std::string why;
    if (health.retry_at != absl::InfinitePast() && until_trial > absl::ZeroDuration()) {
      wait = until_trial + absl::Milliseconds(5);  // land just after the breaker opens up
      why = absl::StrCat(" (", health.detail, ")");
    } else {
      const absl::Duration first = std::min(options_.retry_after_failure, options_.sync_interval);
      *failure_wait = *failure_wait <= absl::ZeroDuration()
                          ? first
                          : std::min(*failure_wait * 2, options_.sync_interval);
      wait = *failure_wait;
    }
    Log(false, absl::StrCat("source: next sync attempt in ", absl::FormatDuration(wait), why));
    return wait;
  }

  void SyncLoopImpl() {
    absl::Time last_reconcile = absl::InfinitePast();
    absl::Duration failure_wait = absl::ZeroDuration();
    for (;;) {
      // The outcome is recorded in last_sync_error_ (Health) and decides the next wait.
      const absl::Status synced = SyncOnce();
      const absl::Duration wait = NextSyncWait(synced, &failure_wait);
      if (options_.reconcile_interval > absl::ZeroDuration() &&
          absl::Now() - last_reconcile >= options_.reconcile_interval &&
          !stopping_.load(std::memory_order_relaxed)) {
        last_reconcile = absl::Now();
        absl::Status reconciled = ReconcileOnce();  // recorded in last_error_
        if (reconciled.code() == absl::StatusCode::kUnimplemented) {
          Log(false, absl::StrCat("source: ", reconciled.message(),
                                  "; deleted deals leave the cache only through refreshes"));
          last_reconcile = absl::InfiniteFuture();  // never again
        }
      }
      absl::MutexLock lock(&work_mu_);
      if (work_mu_.AwaitWithTimeout(absl::Condition(&stop_sync_), wait)) {
        return;
      }
    }
  }

  const std::unique_ptr<Connector> connector_;
  const SourceOptions options_;
  const std::string type_;

  // The cache and sync outcome. Readers (Get) take it shared.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  uint64_t last_version_ ABSL_GUARDED_BY(mu_) = 0;
  // Bumped by every store and eviction (generation()).
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // By OwnerField: id, manager_id, team.
  OwnerIndex index_[3] ABSL_GUARDED_BY(mu_);
  ParsedCache parsed_{options_.parsed_cache_entries};
  absl::Time high_water_mark_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time last_sync_ok_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t last_sync_count_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t sync_passes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_sync_error_ ABSL_GUARDED_BY(mu_);
  // The most recent failed CRM call (sync, miss, refresh or reconcile); cleared by a
  // good sync.
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_error_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Start of the latest sync pass when it failed (InfinitePast after a good one), and
  // the deals it delivered before failing: what makes answers partial.
  absl::Time failed_pass_started_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t failed_pass_delivered_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_reconcile_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t last_reconcile_evicted_ ABSL_GUARDED_BY(mu_) = 0;
  bool reconcile_supported_ ABSL_GUARDED_BY(mu_) = true;

  // Serializes sync passes (background thread vs. SyncOnce callers).
  absl::Mutex sync_mu_;

  // Background work; work_mu_ (public above) guards it.
  std::atomic<bool> stopping_{false};  // read by the sync sink without the lock
  bool stop_sync_ ABSL_GUARDED_BY(work_mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(work_mu_) = false;
  std::deque<std::string> refresh_queue_ ABSL_GUARDED_BY(work_mu_);
  absl::flat_hash_set<std::string> refreshing_ ABSL_GUARDED_BY(work_mu_);
};

void Core::RefreshLoop() {
  RefreshLoopImpl();
  SetRunning(&refresher_running_, false);
}

void Core::SyncLoop() {
  SyncLoopImpl();
  SetRunning(&sync_running_, false);
}

// The handle: owns the threads, shares the Core with them.
class OpportunitySourceImpl : public OpportunitySource {
 public:
  OpportunitySourceImpl(std::unique_ptr<Connector> connector, const SourceOptions& options)
      : core_(std::make_shared<Core>(std::move(connector), options)),
        stop_timeout_(options.stop_timeout) {
    core_->SetRunning(&core_->refresher_running_, true);
    refresher_ = std::thread([core = core_] { core->RefreshLoop(); });
  }

  ~OpportunitySourceImpl() override {
    Stop(stop_timeout_);
    core_->RequestShutdown();
    Finish(&refresher_, &core_->refresher_running_, stop_timeout_, "refresh");
  }

  void Start() override {
    absl::MutexLock lock(&thread_mu_);
    if (!core_->PrepareSyncStart()) return;
    if (sync_thread_.joinable()) sync_thread_.join();  // a previous loop that finished
    sync_thread_ = std::thread([core = core_] { core->SyncLoop(); });
  }

  void Stop() override { Stop(stop_timeout_); }

  void Stop(absl::Duration timeout) override {
    core_->RequestStopSync();
    absl::MutexLock lock(&thread_mu_);
    Finish(&sync_thread_, &core_->sync_running_, timeout, "sync");
  }

  absl::Status SyncOnce() override { return core_->SyncOnce(); }
  absl::Status ReconcileOnce() override { return core_->ReconcileOnce(); }
  absl::Status ForEach(const std::function<absl::Status(const v1::Opportunity&)>& fn) override {
    return core_->ForEach(fn);
  }
  absl::Status ForEachOwnedBy(
      OwnerField field, absl::string_view value,
      const std::function<absl::Status(const v1::Opportunity&)>& fn) override {
    return core_->ForEachOwnedBy(field, value, fn);
  }
  std::optional<uint64_t> generation() const override { return core_->generation(); }
  absl::StatusOr<Lookup> Get(absl::string_view id) override { return core_->Get(id); }
  std::optional<Lookup> GetCached(absl::string_view id) override { return core_->GetCached(id); }
  size_t size() const override { return core_->size(); }
  CacheSnapshot SnapshotCache() const override { return core_->SnapshotCache(); }
  ConnectorHealth Health() const override { return core_->Health(); }
  SourceStatus Status() const override { return core_->Status(); }
  absl::string_view connector_type() const override { return core_->connector_type(); }

 private:
  // Joins `thread` when its loop finishes within `timeout`; otherwise detaches it (it
  // holds its own reference to the Core and exits when the stuck call returns).
  void Finish(std::thread* thread, const bool* running, absl::Duration timeout,
              absl::string_view what) {
    if (!thread->joinable()) return;
    if (core_->AwaitStopped(running, timeout)) {
      thread->join();
      return;
    }
    core_->Log(true, absl::StrCat("source: ", what, " thread still in a connector call after ",
                                  absl::FormatDuration(timeout), "; detaching it"));
    thread->detach();
  }

  const std::shared_ptr<Core> core_;
  const absl::Duration stop_timeout_;
  absl::Mutex thread_mu_;  // Start vs Stop
  std::thread sync_thread_ ABSL_GUARDED_BY(thread_mu_);
  std::thread refresher_;
};

}  // namespace

const std::string& OwnerFieldOf(const v1::Owner& owner, OwnerField field) {
  switch (field) {
    case OwnerField::kManagerId:
      return owner.manager_id();
    case OwnerField::kTeam:
      return owner.team();
    case OwnerField::kId:
      break;
  }
  return owner.id();
}

std::unique_ptr<OpportunitySource> OpportunitySource::Create(
    std::unique_ptr<connectors::Connector> connector, const SourceOptions& options) {
  return std::make_unique<OpportunitySourceImpl>(std::move(connector), options);
}

}  // namespace dealcoach::source
