#include "sidecar/runtime/reloader.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
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
  if (!options_.load_text) {
    options_.load_text = [](const std::string& yaml, const std::string& label) {
      return engine::LoadPlaybook(yaml, label);
    };
  }
  if (!options_.now) options_.now = [] { return absl::Now(); };
  // A store-only playbook's entry is "store:<name>"; the default may be written so.
  if (absl::StartsWith(options_.default_name, "store:")) {
    options_.default_name = options_.default_name.substr(6);
  }
  fingerprints_.resize(options_.files.size());
  held_.resize(options_.files.size());
  rejected_revision_.resize(options_.files.size());
}

PlaybookReloader::~PlaybookReloader() { Stop(); }

PlaybookReloader::Fingerprint PlaybookReloader::Stat(const std::string& path) const {
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
  if (options_.store != nullptr) {
    fp.content = content.str();
    fp.content_hash = store::ContentHash(fp.content);
  }
  return fp;
}

void PlaybookReloader::Activate(PlaybookEntry* entry, engine::LoadResult result, Origin origin) {
  const absl::Time now = options_.now();
  const v1::PlaybookRef& ref = result.playbook->ref();
  if (origin.source == "store") {
    LogInfo("playbook ", ref.name(), "@", ref.version(), " (", ref.revision().substr(0, 12),
            ") activated from store revision ", origin.store_revision);
  } else {
    LogInfo("playbook ", ref.name(), "@", ref.version(), " (", ref.revision().substr(0, 12),
            ") activated from ", entry->path);
  }
  entry->source = std::move(origin.source);
  entry->store_revision = origin.store_revision;
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
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  std::vector<PlaybookEntry> entries;
  std::vector<engine::LoadResult> file_results(options_.files.size());
  int ok = 0;
  for (size_t i = 0; i < options_.files.size(); ++i) {
    PlaybookEntry entry;
    entry.path = options_.files[i];
    fingerprints_[i] = Stat(entry.path);
    engine::LoadResult result = options_.load(entry.path);
    if (result.ok()) {
      file_results[i] = result;
      Activate(&entry, std::move(result), Origin());
      ++ok;
    } else {
      Reject(&entry, result.ref, std::move(result.diagnostics));
    }
    entries.push_back(std::move(entry));
  }
  // With a store, playbooks.default may name a playbook no file declares, one published
  // only through the store: the files are checked without it (distinct names), and
  // the default once the store's names are in (below). Asked first, so a default the
  // store does not publish either refuses the start before anything is seeded.
  const bool default_from_store = options_.store != nullptr && !options_.default_name.empty() &&
                                  !runtime::CheckConsistency(entries, options_.default_name).ok() &&
                                  runtime::CheckConsistency(entries, "").ok();
  startup_consistency_ = runtime::CheckConsistency(entries, options_.default_name);
  if (default_from_store) {
    absl::StatusOr<store::Revision> published =
        options_.store->GetPublished(options_.tenant, options_.default_name);
    if (published.ok()) {
      startup_consistency_ = absl::OkStatus();
    } else {
      startup_consistency_ = absl::FailedPreconditionError(
          absl::StrCat("playbooks.default is '", options_.default_name,
                       "': no configured file declares it and the store ",
                       absl::IsNotFound(published.status())
                           ? "has no published revision of it"
                           : absl::StrCat("cannot say whether it publishes it (",
                                          published.status().message(), ")")));
    }
  }
  if (!startup_consistency_.ok() && ok > 0) {
    LogError("playbook configuration rejected: ", startup_consistency_.message());
  }
  // The store seeds from and then serves a consistent file set only: an inconsistent
  // one refuses to start, and must not have published anything first.
  if (options_.store != nullptr && startup_consistency_.ok()) {
    // Read before any published revision, so a publish racing start-up moves the
    // counter past what the watch thread starts from.
    absl::StatusOr<int64_t> counter = options_.store->ChangeCounter(options_.tenant);
    if (counter.ok()) seen_counter_ = *counter;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (ServeFromStoreAtStart(i, file_results[i], &entries) &&
          file_results[i].playbook == nullptr) {
        ++ok;
      }
    }
    // Then the names no file declares (published through the admin API or the store).
    absl::StatusOr<std::vector<store::Revision>> published =
        options_.store->ListPublished(options_.tenant);
    if (published.ok()) {
      ServeStoreOnlyNames(*published, &entries);
    } else {
      LogWarning("store: cannot list the published playbooks; serving the files only: ",
                 published.status().message());
    }
    if (default_from_store) {
      // The store-only default must serve (its published revision compiles).
      startup_consistency_ = runtime::CheckConsistency(entries, options_.default_name);
      if (!startup_consistency_.ok()) {
        LogError("playbook configuration rejected: ", startup_consistency_.message());
      }
    }
  }
  Publish(std::move(entries));
  return ok;
}

bool PlaybookReloader::ServeStoreOnlyNames(const std::vector<store::Revision>& published,
                                           std::vector<PlaybookEntry>* entries) {
  bool changed = false;
  for (const store::Revision& revision : published) {
    bool served = false;
    for (size_t i = 0; i < entries->size() && !served; ++i) {
      served = EntryName(i, *entries) == revision.name;
    }
    if (served) continue;
    PlaybookEntry entry;
    entry.path = absl::StrCat("store:", revision.name);
    entry.source = "store";
    entry.last_attempt_ref.set_name(revision.name);
    entries->push_back(std::move(entry));
    store_only_names_.push_back(revision.name);
    rejected_revision_.push_back(0);
    LogInfo("store: serving playbook ", revision.name, ", which no configured file declares");
    PollStoreEntry(entries->size() - 1, revision, entries);
    changed = true;
  }
  return changed;
}

const std::string& PlaybookReloader::EntryName(size_t i,
                                               const std::vector<PlaybookEntry>& entries) const {
  // A store-only entry answers to its store name even when no revision of it compiled.
  if (i >= options_.files.size() && i - options_.files.size() < store_only_names_.size()) {
    return store_only_names_[i - options_.files.size()];
  }
  return entries[i].name();
}

bool PlaybookReloader::ServeFromStoreAtStart(size_t i, const engine::LoadResult& file_result,
                                             std::vector<PlaybookEntry>* entries) {
  PlaybookEntry& entry = (*entries)[i];
  absl::StatusOr<store::Revision> published;
  if (file_result.ok()) {
    published = Seed(i, file_result, /*at_start=*/true);
  } else {
    // A broken file whose name the store still serves (a bad deploy).
    if (entry.last_attempt_ref.name().empty()) return false;
    published = options_.store->GetPublished(options_.tenant, entry.last_attempt_ref.name());
  }
  if (!published.ok()) {
    if (!absl::IsNotFound(published.status())) {
      LogWarning("store: cannot seed or read ", entry.path,
                 "'s playbook; serving the file: ", published.status().message());
    }
    return false;
  }
  if (file_result.ok() && published->content_hash == fingerprints_[i].content_hash) {
    // The same bytes: the file's compile is the revision's.
    entry.source = "store";
    entry.store_revision = published->revision;
    return true;
  }
  std::vector<v1::Diagnostic> file_diagnostics = entry.last_reload_diagnostics;
  const bool was_serving = entry.playbook != nullptr;
  PollStoreEntry(i, *published, entries);
  if (!file_result.ok()) {
    // Keep saying why the file itself was rejected.
    for (v1::Diagnostic& d : file_diagnostics) entry.last_reload_diagnostics.push_back(d);
  }
  return entry.source == "store" || was_serving;
}

bool PlaybookReloader::PollOnce() {
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  return PollOnceLocked();
}

bool PlaybookReloader::PollOnceLocked() {
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
      Origin origin;
      if (options_.store != nullptr) {
        // Published only now that it can serve (a held-back rename must not publish
        // under another file's name).
        absl::StatusOr<store::Revision> published = Seed(i, held_[i], /*at_start=*/false);
        if (published.ok() && published->content_hash == fingerprints_[i].content_hash) {
          origin = {"store", published->revision};
        } else if (published.ok()) {
          // Another process published other content meanwhile: the store serves that.
          held_[i] = engine::LoadResult();
          PollStoreEntry(i, *published, &entries);
          continue;
        } else {
          LogWarning("store: cannot publish ", options_.files[i],
                     "; serving the file: ", published.status().message());
        }
      }
      Activate(&entries[i], std::move(held_[i]), origin);
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

std::string PlaybookReloader::RelativePath(const std::string& path) const {
  const std::string& base = options_.base_dir;
  if (!base.empty() && path.size() > base.size() + 1 && path.compare(0, base.size(), base) == 0 &&
      path[base.size()] == '/') {
    return path.substr(base.size() + 1);
  }
  return path;
}

absl::StatusOr<store::Revision> PlaybookReloader::Seed(size_t index,
                                                       const engine::LoadResult& file_result,
                                                       bool at_start) {
  store::Store* st = options_.store;
  const std::string& name = file_result.playbook->ref().name();
  const Fingerprint& fp = fingerprints_[index];
  absl::StatusOr<store::Revision> published = st->GetPublished(options_.tenant, name);
  if (!published.ok() && !absl::IsNotFound(published.status())) return published.status();
  if (published.ok() && published->content_hash == fp.content_hash) return published;
  if (at_start && published.ok()) {
    // A restart is no edit: content the store already holds (an older revision this
    // file seeded) does not undo a later publish.
    absl::StatusOr<std::vector<store::Revision>> all = st->ListRevisions(options_.tenant, name);
    if (!all.ok()) return all.status();
    for (const store::Revision& r : *all) {
      if (r.content_hash == fp.content_hash) return published;
    }
  }
  const std::string author = absl::StrCat("file:", RelativePath(options_.files[index]));
  absl::StatusOr<store::Revision> created =
      st->CreateRevision(options_.tenant, name, fp.content, author,
                         at_start ? "seeded from the file at start" : "file changed");
  if (!created.ok()) return created.status();
  store::PublishRequest request;
  request.tenant = options_.tenant;
  request.name = name;
  request.revision = created->revision;
  request.expected_current = published.ok() ? published->revision : 0;
  request.actor = author;
  request.detail = absl::StrCat("content ", fp.content_hash.substr(0, 19));
  absl::StatusOr<store::Revision> done = st->Publish(request);
  if (done.ok()) {
    LogInfo("store: published ", name, " revision ", done->revision, " from ",
            options_.files[index]);
    return done;
  }
  if (absl::IsAborted(done.status())) {
    // Another replica published first (likely the same file): serve what won.
    return st->GetPublished(options_.tenant, name);
  }
  return done.status();
}

engine::LoadResult PlaybookReloader::CompileRevision(const store::Revision& revision) {
  const std::string label = absl::StrCat("store:", revision.name, "@", revision.revision);
  engine::LoadResult result = options_.load_text(revision.yaml, label);
  if (result.ok() && result.playbook->ref().name() != revision.name) {
    engine::LoadResult wrong;
    wrong.ref = result.ref;
    wrong.diagnostics.push_back(ConfigDiagnostic(
        label, absl::StrCat("metadata.name is '", result.playbook->ref().name(),
                            "', not the revision's playbook '", revision.name, "'")));
    return wrong;
  }
  return result;
}

bool PlaybookReloader::PollStoreEntry(size_t i, const store::Revision& published,
                                      std::vector<PlaybookEntry>* entries) {
  PlaybookEntry& entry = (*entries)[i];
  if (entry.source == "store" && entry.store_revision == published.revision) return false;
  if (rejected_revision_[i] == published.revision) return false;
  engine::LoadResult result = CompileRevision(published);
  if (result.ok()) {
    std::vector<PlaybookEntry> trial = *entries;
    trial[i].playbook = result.playbook;
    absl::Status consistent = runtime::CheckConsistency(trial, options_.default_name);
    if (consistent.ok()) {
      rejected_revision_[i] = 0;
      Activate(&entry, std::move(result), {"store", published.revision});
      return true;
    }
    result.diagnostics = {
        ConfigDiagnostic(absl::StrCat("store:", published.name, "@", published.revision),
                         absl::StrCat("configuration error: ", consistent.message(),
                                      "; this revision is not activated"))};
  }
  rejected_revision_[i] = published.revision;
  Reject(&entry, result.ref, std::move(result.diagnostics));
  if (i >= options_.files.size() && entry.playbook == nullptr) {
    // A store-only name that never compiled still answers to its name (Find tells
    // "not valid" from "unknown"), whatever the rejected YAML called itself.
    entry.last_attempt_ref.set_name(published.name);
  }
  return true;
}

bool PlaybookReloader::PollStore() {
  if (options_.store == nullptr) return false;
  std::lock_guard<std::mutex> poll_lock(poll_mu_);
  // One read for every name: the files' and those published only through the store.
  absl::StatusOr<std::vector<store::Revision>> published =
      options_.store->ListPublished(options_.tenant);
  if (!published.ok()) {
    LogWarning("store: cannot read the published revisions: ", published.status().message());
    return false;
  }
  std::shared_ptr<const Snapshot> current = holder_->Get();
  std::vector<PlaybookEntry> entries = current->entries();
  bool changed = false;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string name = EntryName(i, entries);
    if (name.empty()) continue;
    for (const store::Revision& revision : *published) {
      if (revision.name != name) continue;
      changed = PollStoreEntry(i, revision, &entries) || changed;
      break;
    }
  }
  changed = ServeStoreOnlyNames(*published, &entries) || changed;
  if (changed) Publish(std::move(entries));
  return changed;
}

void PlaybookReloader::WatchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  absl::Duration backoff = absl::ZeroDuration();
  while (!stop_) {
    if (backoff > absl::ZeroDuration()) {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(backoff), [this] { return stop_; });
      if (stop_) break;
    }
    lock.unlock();
    absl::StatusOr<int64_t> counter =
        options_.store->Watch(options_.tenant, seen_counter_, absl::Now() + options_.watch_slice);
    bool moved = counter.ok() && *counter != seen_counter_;
    if (moved) {
      seen_counter_ = *counter;
      PollStore();
    }
    if (!counter.ok()) {
      // The store is down: keep serving, retry at a gentle pace.
      if (backoff == absl::ZeroDuration()) {
        LogWarning("store: watch failed (retrying): ", counter.status().message());
      }
      backoff = absl::Seconds(1);
    } else {
      backoff = absl::ZeroDuration();
    }
    lock.lock();
  }
}

void PlaybookReloader::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  if (options_.store != nullptr) watch_thread_ = std::thread([this] { WatchLoop(); });
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
  std::thread watch_thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
    watch_thread = std::move(watch_thread_);
  }
  cv_.notify_all();
  if (thread.joinable()) thread.join();
  if (watch_thread.joinable()) watch_thread.join();
}

}  // namespace dealcoach::runtime
