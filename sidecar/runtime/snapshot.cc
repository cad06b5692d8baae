#include "sidecar/runtime/snapshot.h"

#include <utility>

namespace dealcoach::runtime {

const std::string& PlaybookEntry::name() const {
  if (playbook != nullptr) return playbook->ref().name();
  return last_attempt_ref.name();
}

Snapshot::Snapshot(std::vector<PlaybookEntry> entries, std::string default_name)
    : entries_(std::move(entries)), default_name_(std::move(default_name)) {}

const PlaybookEntry* Snapshot::Find(absl::string_view name) const {
  if (name.empty()) name = default_name_;
  if (name.empty()) return entries_.empty() ? nullptr : &entries_.front();
  // A serving version wins over a never-valid file that happens to parse to the
  // same name.
  for (const PlaybookEntry& e : entries_) {
    if (e.playbook != nullptr && e.playbook->ref().name() == name) return &e;
  }
  for (const PlaybookEntry& e : entries_) {
    if (e.name() == name) return &e;
  }
  return nullptr;
}

std::shared_ptr<const engine::CompiledPlaybook> Snapshot::Serving(absl::string_view name) const {
  const PlaybookEntry* e = Find(name);
  return e == nullptr ? nullptr : e->playbook;
}

std::vector<std::string> Snapshot::ServingNames() const {
  std::vector<std::string> names;
  for (const PlaybookEntry& e : entries_) {
    if (e.playbook != nullptr) names.push_back(e.playbook->ref().name());
  }
  return names;
}

bool Snapshot::any_serving() const {
  for (const PlaybookEntry& e : entries_) {
    if (e.playbook != nullptr) return true;
  }
  return false;
}

SnapshotHolder::SnapshotHolder()
    : snapshot_(std::make_shared<const Snapshot>(std::vector<PlaybookEntry>{}, "")) {}

std::shared_ptr<const Snapshot> SnapshotHolder::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void SnapshotHolder::Set(std::shared_ptr<const Snapshot> snapshot) {
  // Swap under the lock, release the old snapshot outside it: its destructor may free
  // a whole compiled playbook.
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(snapshot_);
    snapshot_ = std::move(snapshot);
  }
}

}  // namespace dealcoach::runtime
