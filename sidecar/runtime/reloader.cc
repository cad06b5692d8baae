#include "sidecar/runtime/reloader.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "sidecar/runtime/log.h"

namespace dealcoach::runtime {

PlaybookReloader::PlaybookReloader(SnapshotHolder* holder, ReloaderOptions options)
    : holder_(holder), options_(std::move(options)) {
  if (!options_.load) {
    options_.load = [](const std::string& path) { return engine::LoadPlaybookFile(path); };
  }
  if (!options_.now) options_.now = [] { return absl::Now(); };
  fingerprints_.resize(options_.files.size());
  held_.resize(options_.files.size());
}

PlaybookReloader::~PlaybookReloader() { Stop(); }

PlaybookReloader::Fingerprint PlaybookReloader::Stat(const std::string& path) {
  Fingerprint fp;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return fp;
  std::ifstream in(path, std::ios::binary);
  if (!in) return fp;
  std::ostringstream content;
  content << in.rdbuf();
  fp.exists = true;
  fp.size = static_cast<int64_t>(st.st_size);
  fp.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  fp.hash = std::hash<std::string>()(content.str());
  return fp;
}

bool PlaybookReloader::LoadInto(PlaybookEntry* entry) {
  engine::LoadResult result = options_.load(entry->path);
  if (result.ok()) {
    Activate(entry, std::move(result));
    return true;
  }
  Reject(entry, result.ref, std::move(result.diagnostics));
  return false;
}

void PlaybookReloader::Activate(PlaybookEntry* entry, engine::LoadResult result) {
  const absl::Time now = options_.now();
  const v1::PlaybookRef& ref = result.playbook->ref();
  LogInfo("playbook ", ref.name(), "@", ref.version(), " (", ref.revision().substr(0, 12),
          ") activated from ", entry->path);
  entry->last_reload_attempt = now;
  entry->last_attempt_ref = result.ref;
  entry->playbook = std::move(result.playbook);
  entry->activated_at = now;
  entry->last_reload_diagnostics.clear();
  entry->warnings = std::move(result.diagnostics);
  for (const v1::Diagnostic& d : entry->warnings) LogWarning(engine::FormatDiagnostic(d));
}

void PlaybookReloader::Reject(PlaybookEntry* entry, const v1::PlaybookRef& attempted,
                              std::vector<v1::Diagnostic> diagnostics) {
  entry->last_reload_attempt = options_.now();
  entry->last_attempt_ref = attempted;
  std::string text;
  for (const v1::Diagnostic& d : diagnostics) {
    absl::StrAppend(&text, "\n", engine::FormatDiagnostic(d));
  }
  if (entry->playbook != nullptr) {
    const v1::PlaybookRef& ref = entry->playbook->ref();
    LogError("playbook ", entry->path, " rejected; still serving ", ref.name(), "@", ref.version(),
             ":", text);
  } else {
    LogError("playbook ", entry->path, " rejected; no valid version to serve:", text);
  }
  entry->last_reload_diagnostics = std::move(diagnostics);
  if (entry->last_reload_diagnostics.empty()) {
    // The loader promised diagnostics for every failure; never leave an admin with a
    // silent rejection.
    entry->last_reload_diagnostics.push_back(
        ConfigDiagnostic(entry->path, "playbook rejected without diagnostics"));
  }
}

v1::Diagnostic PlaybookReloader::ConfigDiagnostic(const std::string& path,
                                                  absl::string_view message) {
  v1::Diagnostic d;
  d.set_severity(v1::DIAGNOSTIC_SEVERITY_ERROR);
  d.set_file(path);
  d.set_line(1);
  d.set_column(1);
  d.set_message(std::string(message));
  return d;
}

void PlaybookReloader::Publish(std::vector<PlaybookEntry> entries) {
  auto snapshot = std::make_shared<const Snapshot>(std::move(entries), options_.default_name);
  holder_->Set(snapshot);
  if (options_.on_publish) options_.on_publish(*snapshot);
}

int PlaybookReloader::LoadAll() {
  std::vector<PlaybookEntry> entries;
  int ok = 0;
  for (size_t i = 0; i < options_.files.size(); ++i) {
    PlaybookEntry entry;
    entry.path = options_.files[i];
    fingerprints_[i] = Stat(entry.path);
    if (LoadInto(&entry)) ++ok;
    entries.push_back(std::move(entry));
  }
  startup_consistency_ = runtime::CheckConsistency(entries, options_.default_name);
  if (!startup_consistency_.ok() && ok > 0) {
    LogError("playbook configuration rejected: ", startup_consistency_.message());
  }
  Publish(std::move(entries));
  return ok;
}

bool PlaybookReloader::PollOnce() {
  std::shared_ptr<const Snapshot> current = holder_->Get();
  std::vector<PlaybookEntry> entries = current->entries();
  bool changed = false;
  for (size_t i = 0; i < options_.files.size() && i < entries.size(); ++i) {
    Fingerprint fp = Stat(options_.files[i]);
    if (fp == fingerprints_[i]) continue;
    fingerprints_[i] = fp;
    if (!fp.exists) {
      LogWarning("playbook ", options_.files[i],
                 " is missing or unreadable; keeping the last good version");
      held_[i] = engine::LoadResult();  // a version held back from a file now gone
      continue;
    }
    changed = true;
    engine::LoadResult result = options_.load(options_.files[i]);
    if (result.ok()) {
      held_[i] = std::move(result);  // activated below if the whole set stays consistent
    } else {
      held_[i] = engine::LoadResult();
      Reject(&entries[i], result.ref, std::move(result.diagnostics));
    }
  }
  if (!changed) return false;
  // Versions that compiled go in one at a time, in config order, each only when the set
  // stays consistent (names distinct, the default still named). A version held back is
  // retried whenever another file changes, since that change may make room for it.
  for (size_t i = 0; i < held_.size() && i < entries.size(); ++i) {
    if (!held_[i].ok()) continue;
    std::vector<PlaybookEntry> trial = entries;
    trial[i].playbook = held_[i].playbook;
    absl::Status consistent = runtime::CheckConsistency(trial, options_.default_name);
    if (consistent.ok()) {
      Activate(&entries[i], std::move(held_[i]));
      held_[i] = engine::LoadResult();
      continue;
    }
    std::vector<v1::Diagnostic> diagnostics = {ConfigDiagnostic(
        options_.files[i], absl::StrCat("configuration error: ", consistent.message(),
                                        "; this version is not activated"))};
    Reject(&entries[i], held_[i].ref, std::move(diagnostics));
  }
  Publish(std::move(entries));
  return true;
}

void PlaybookReloader::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.poll_interval),
                   [this] { return stop_; });
      if (stop_) break;
      lock.unlock();
      PollOnce();
      lock.lock();
    }
  });
}

void PlaybookReloader::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
}

}  // namespace dealcoach::runtime
