#include "sidecar/runtime/snapshot.h"

#include <utility>

#include "absl/strings/str_cat.h"

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

absl::Status CheckConsistency(const std::vector<PlaybookEntry>& entries,
                              const std::string& default_name) {
  bool default_found = default_name.empty();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].playbook == nullptr) continue;
    const std::string& name = entries[i].playbook->ref().name();
    if (name == default_name) default_found = true;
    for (size_t j = 0; j < i; ++j) {
      if (entries[j].playbook != nullptr && entries[j].playbook->ref().name() == name) {
        return absl::FailedPreconditionError(absl::StrCat(
            "playbook name '", name, "' (metadata.name) is used by both ", entries[j].path, " and ",
            entries[i].path, "; every playbook needs its own name"));
      }
    }
  }
  if (!default_found) {
    std::string names;
    for (const PlaybookEntry& e : entries) {
      if (e.playbook == nullptr) continue;
      absl::StrAppend(&names, names.empty() ? "" : ", ", e.playbook->ref().name());
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "playbooks.default is '", default_name,
        "' but no loaded playbook has that metadata.name (loaded: ", names.empty() ? "none" : names,
        ")"));
  }
  return absl::OkStatus();
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
