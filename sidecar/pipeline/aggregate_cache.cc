#include "sidecar/pipeline/aggregate_cache.h"

#include <cstdint>
#include <utility>

namespace dealcoach::pipeline {

namespace {

// The bytes `pass` holds, counted until they pass `limit` (a scope too large to keep
// costs the count of `limit` bytes, not of all its deals).
size_t BytesUpTo(const PassResults& pass, size_t limit) {
  size_t bytes = sizeof(PassResults) + pass.deals.capacity() * sizeof(v1::DealResult) +
                 pass.risks.capacity() * sizeof(TopRisk);
  for (const v1::DealResult& d : pass.deals) {
    if (bytes > limit) return bytes;
    bytes += d.SpaceUsedLong() - sizeof(v1::DealResult);
  }
  for (const TopRisk& r : pass.risks) bytes += r.id.capacity() + r.text.capacity();
  for (const v1::NotEvaluated& n : pass.not_evaluated) bytes += n.SpaceUsedLong();
  return bytes;
}

}  // namespace

size_t AggregateCache::BytesOf(const PassResults& pass) { return BytesUpTo(pass, SIZE_MAX); }

std::shared_ptr<const PassResults> AggregateCache::Find(const AggregateKey& key) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (!(it->key == key)) continue;
    entries_.splice(entries_.begin(), entries_, it);  // most recently used
    ++hits_;
    return entries_.front().pass;
  }
  ++misses_;
  return nullptr;
}

bool AggregateCache::Insert(const AggregateKey& key,
                            std::shared_ptr<const engine::CompiledPlaybook> playbook,
                            std::shared_ptr<const PassResults> pass) {
  const size_t bytes = BytesUpTo(*pass, options_.max_bytes / 4);
  if (options_.max_entries == 0 || bytes > options_.max_bytes / 4) return false;
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    // The same key (a concurrent miss computed it too), or an older generation of the
    // same source, which can never match again.
    if (it->key == key || (it->key.source == key.source && it->key.generation < key.generation)) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  entries_.push_front(Entry{key, std::move(playbook), std::move(pass), bytes});
  bytes_ += bytes;
  EvictOverflow();
  return true;
}

void AggregateCache::EvictOverflow() {
  while (!entries_.empty() &&
         (entries_.size() > options_.max_entries || bytes_ > options_.max_bytes)) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

std::optional<v1::Owner> AggregateCache::FindOwner(const void* source, uint64_t generation,
                                                   const std::string& key) const {
  absl::MutexLock lock(&mu_);
  auto it = owners_.find(std::make_pair(source, key));
  if (it == owners_.end() || it->second.generation != generation) return std::nullopt;
  return it->second.owner;
}

void AggregateCache::InsertOwner(const void* source, uint64_t generation, const std::string& key,
                                 const v1::Owner& owner) {
  absl::MutexLock lock(&mu_);
  if (owners_.size() >= kMaxOwners) owners_.clear();
  owners_[std::make_pair(source, key)] = OwnerEntry{generation, owner};
}

AggregateCache::Stats AggregateCache::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s;
  s.entries = entries_.size();
  s.bytes = bytes_;
  s.hits = hits_;
  s.misses = misses_;
  return s;
}

}  // namespace dealcoach::pipeline
