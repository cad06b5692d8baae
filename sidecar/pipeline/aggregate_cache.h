// AggregateCache: the evaluated deals of a scope (a team's PassResults), kept for the
// next GetCoachingAgenda or GetPipelineReview that asks for the same thing
// (docs/manager.md, "The aggregate cache").
//
// An entry is valid exactly for its key: the opportunity source it was read from and
// that source's generation (OpportunitySource::generation() changes with every stored or
// evicted deal), the compiled playbook object (a reload or a publish compiles a new one;
// the entry pins the old one so its address cannot be reused), the scope and the
// caller's team limit, and the evaluation instant. So an answer from the cache is the
// answer a fresh pass would give, byte for byte; a synced change or a publish is a miss.
//
// Bounded: at most Options::max_entries entries and Options::max_bytes of results (their
// SpaceUsedLong), least recently used first out; an aggregate larger than max_bytes / 4
// is not kept. Entries of an older generation of the same source can never match again
// and are dropped when a newer one is inserted.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef DEALCOACH_SIDECAR_PIPELINE_AGGREGATE_CACHE_H_
#define DEALCOACH_SIDECAR_PIPELINE_AGGREGATE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sidecar/engine/engine.h"
#include "sidecar/pipeline/pipeline.h"

namespace dealcoach::pipeline {

// What an aggregate was computed from.
struct AggregateKey {
  const void* source = nullptr;  // the OpportunitySource (identity only)
  uint64_t generation = 0;
  const engine::CompiledPlaybook* playbook = nullptr;
  std::string scope;  // the scope and the caller's team limit, serialized by the caller
  absl::Time now;

  bool operator==(const AggregateKey& o) const {
    return source == o.source && generation == o.generation && playbook == o.playbook &&
           now == o.now && scope == o.scope;
  }
};

class AggregateCache {
 public:
  struct Options {
    size_t max_entries = 64;
    size_t max_bytes = size_t{64} << 20;  // 64 MiB of results
  };
  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    int64_t hits = 0;
    int64_t misses = 0;
  };

  AggregateCache() : AggregateCache(Options()) {}
  explicit AggregateCache(Options options) : options_(options) {}

  // The aggregate for `key`, or null.
  [[nodiscard]] std::shared_ptr<const PassResults> Find(const AggregateKey& key);

  // Keeps `pass` for `key` (pinning `playbook`, which must be the object key.playbook
  // names). False when it is too large to keep.
  bool Insert(const AggregateKey& key, std::shared_ptr<const engine::CompiledPlaybook> playbook,
              std::shared_ptr<const PassResults> pass);

  // The owner of a rep as a scope scan found it (the first deal, in id order, the caller
  // may see), for `key` (the rep and the caller's team limit) at a source generation.
  // At most kMaxOwners are kept (all dropped when full).
  static constexpr size_t kMaxOwners = 4096;
  [[nodiscard]] std::optional<v1::Owner> FindOwner(const void* source, uint64_t generation,
                                                   const std::string& key) const;
  void InsertOwner(const void* source, uint64_t generation, const std::string& key,
                   const v1::Owner& owner);

  [[nodiscard]] Stats stats() const;
  const Options& options() const { return options_; }

  // Bytes an aggregate holds (the results' SpaceUsedLong plus the vectors).
  [[nodiscard]] static size_t BytesOf(const PassResults& pass);

 private:
  struct Entry {
    AggregateKey key;
    std::shared_ptr<const engine::CompiledPlaybook> playbook;
    std::shared_ptr<const PassResults> pass;
    size_t bytes = 0;
  };
  void EvictOverflow() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);  // most recently used first
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t misses_ ABSL_GUARDED_BY(mu_) = 0;
  struct OwnerEntry {
    uint64_t generation = 0;
    v1::Owner owner;
  };
  // By (source, key).
  absl::flat_hash_map<std::pair<const void*, std::string>, OwnerEntry> owners_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dealcoach::pipeline

#endif  // DEALCOACH_SIDECAR_PIPELINE_AGGREGATE_CACHE_H_
