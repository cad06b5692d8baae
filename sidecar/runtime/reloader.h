// PlaybookReloader: loads the configured playbook files, then polls them and swaps
// each valid change into the SnapshotHolder (last-good semantics).
//
// Every poll reads each file and compares (exists, size, mtime, content hash) with what
// it last loaded. A changed file is compiled off to the side by the injected loader
// (engine::LoadPlaybookFile in production). If it compiles, a new Snapshot with that
// entry replaced is published; if not, the diagnostics are logged (FormatDiagnostic)
// and recorded on the entry, and the last good version keeps serving. A file that is
// deleted keeps serving its last good version too.
//
// A version that compiles can still be a configuration error together with the other
// files: two playbooks with the same metadata.name (one would shadow the other), or a
// rename that leaves `playbooks.default` naming no loaded playbook. Such a version is
// not activated: the last good one keeps serving, the entry's last_reload_diagnostics
// say why, and it is retried when another file changes. At start-up LoadAll() records
// the same check in startup_consistency() so the caller can refuse to start.
//
// With a store (ReloaderOptions::store; docs/store.md "Playbooks: files seed, the store
// serves"), each file's playbook name is served from the store's published revision:
//   - Seeding. At LoadAll, a file that compiles and whose content the store holds as no
//     revision of that name is recorded (author "file:<path relative to base_dir>") and
//     published. On a later poll, a changed file that compiles and differs from the
//     published revision is published the same way. A publish that loses a race
//     (ABORTED) re-reads the store: a replica that seeded the same file finds the same
//     hash. A store error while seeding is logged and the file version serves.
//   - Serving. The published revision of the name is compiled (diagnostics name
//     "store:<name>@<revision>") and served with source "store"; one that fails to
//     compile in this binary, or whose metadata.name is not the name, is rejected: the
//     last good version keeps serving (at start, the file's) and the entry's
//     last_reload_diagnostics say why. Publishes by any process are picked up by a
//     watch thread (Store::Watch: LISTEN/NOTIFY on PostgreSQL, a counter poll on
//     SQLite), typically within a few hundred milliseconds.
//   - Names no file declares. Every published revision of the tenant is served
//     (Store::ListPublished, at LoadAll and on every change notification): a name no
//     file declares gets an entry after the files' (path "store:<name>", source
//     "store"), compiled and swapped in with the same last-good rule. A published name
//     is never dropped (the store has no unpublish).
//   - A store-only default. ReloaderOptions::default_name may name such a playbook
//     ("<name>" or "store:<name>"): LoadAll checks the files without it, asks the store
//     whether it publishes the name (startup_consistency() fails, naming it, before
//     anything is seeded when it does not, or cannot say), and checks again once the
//     store's names are served (its published revision must compile).
// Without a store, exactly the file behaviour above.
//
// Thread safety: LoadAll(), PollOnce() and PollStore() are serialised internally
// (Start() runs PollOnce and the store watch on their own threads); Start/Stop are
// safe from any thread.
#ifndef DEALCOACH_SIDECAR_RUNTIME_RELOADER_H_
#define DEALCOACH_SIDECAR_RUNTIME_RELOADER_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sidecar/engine/engine.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/store/store.h"

namespace dealcoach::runtime {

struct ReloaderOptions {
  // Playbook files, in order. Required.
  std::vector<std::string> files;
  // Default playbook name ("" means the first file's playbook); with a store, it may
  // be a name only the store publishes, also written "store:<name>".
  std::string default_name;
  // Time between polls. Default: 1 s.
  absl::Duration poll_interval = absl::Seconds(1);
  // Compiles one file. Default: engine::LoadPlaybookFile.
  std::function<engine::LoadResult(const std::string& path)> load;
  // Called after every published snapshot (from the thread that published it), e.g.
  // to flip the health status. Optional.
  std::function<void(const Snapshot&)> on_publish;
  // Clock, for tests. Default: absl::Now.
  std::function<absl::Time()> now;

  // The durable store the playbooks are served from (see the top comment); null means
  // files only. Borrowed: must outlive the reloader.
  store::Store* store = nullptr;
  // The tenant of every store call.
  std::string tenant = "default";
  // Seeded revisions name their file relative to this directory ("" = as configured).
  std::string base_dir;
  // Compiles a published revision's YAML; `label` is the diagnostics' file name.
  // Default: engine::LoadPlaybook.
  std::function<engine::LoadResult(const std::string& yaml, const std::string& label)> load_text;
  // Longest one Store::Watch call waits (Stop() waits at most about this long).
  absl::Duration watch_slice = absl::Milliseconds(250);
};

class PlaybookReloader {
 public:
  PlaybookReloader(SnapshotHolder* holder, ReloaderOptions options);
  ~PlaybookReloader();  // Stops the polling thread.
  PlaybookReloader(const PlaybookReloader&) = delete;
  PlaybookReloader& operator=(const PlaybookReloader&) = delete;

  // Loads every file and publishes the first snapshot. Returns the number of files
  // that compiled (0 means nothing can serve; the caller decides whether to refuse
  // to start).
  int LoadAll();

  // OK when the set LoadAll() loaded is consistent (see CheckConsistency); the caller
  // refuses to start otherwise.
  const absl::Status& startup_consistency() const { return startup_consistency_; }

  // Checks every file once; reloads those that changed. Returns true when a new
  // snapshot was published.
  bool PollOnce();

  // With a store: re-reads the published revision of every name and swaps in those
  // that changed (last-good). Returns true when a new snapshot was published. The
  // watch thread calls it whenever the tenant's change counter moves.
  bool PollStore();

  // Polls every `poll_interval` on a background thread (and, with a store, watches it
  // on a second one) until Stop().
  void Start();
  // Stops and joins the polling thread. Idempotent.
  void Stop();

 private:
  struct Fingerprint {
    bool exists = false;
    int64_t size = -1;
    int64_t mtime_ns = -1;
    size_t hash = 0;
    // With a store: the content and its store::ContentHash.
    std::string content;
    std::string content_hash;
    bool operator==(const Fingerprint& o) const {
      return exists == o.exists && size == o.size && mtime_ns == o.mtime_ns && hash == o.hash;
    }
  };
  Fingerprint Stat(const std::string& path) const;

  // Where a version that compiled comes from.
  struct Origin {
    std::string source = "file";
    int64_t store_revision = 0;
  };

  // Makes `result` (which compiled) the serving version of `entry`.
  void Activate(PlaybookEntry* entry, engine::LoadResult result, Origin origin);
  // Store seeding (see the top comment) of file `index`, whose version `file_result`
  // compiled. `at_start`: publish only content new to the store; otherwise content that
  // differs from the published revision. Returns the published revision after seeding,
  // if the store has one (NotFound: none; other errors: the store is unusable now).
  absl::StatusOr<store::Revision> Seed(size_t index, const engine::LoadResult& file_result,
                                       bool at_start);
  // Compiles a published revision; the result is not ok (with diagnostics) when it does
  // not compile or names another playbook.
  engine::LoadResult CompileRevision(const store::Revision& revision);
  std::string RelativePath(const std::string& path) const;
  // LoadAll's store step for file `i` (`file_result` is its load; may have failed):
  // seed, then serve the published revision. True when the entry serves a version.
  bool ServeFromStoreAtStart(size_t i, const engine::LoadResult& file_result,
                             std::vector<PlaybookEntry>* entries);
  // Serves `published` for file `i` in `entries` unless it is already serving or was
  // rejected before; returns true when the entry changed (activated or rejected).
  bool PollStoreEntry(size_t i, const store::Revision& published,
                      std::vector<PlaybookEntry>* entries);
  // Appends an entry (path "store:<name>") for every name in `published` that no entry
  // answers to, and serves its revision (last-good: one that does not compile is
  // rejected with diagnostics and nothing serves that name until a good one is
  // published). True when an entry was added.
  bool ServeStoreOnlyNames(const std::vector<store::Revision>& published,
                           std::vector<PlaybookEntry>* entries);
  // The name entry `i` answers to (a store-only entry: its store name).
  const std::string& EntryName(size_t i, const std::vector<PlaybookEntry>& entries) const;
  bool PollOnceLocked();
  void WatchLoop();
  // Records a rejected attempt on `entry`, which keeps its serving version.
  void Reject(PlaybookEntry* entry, const v1::PlaybookRef& attempted,
              std::vector<v1::Diagnostic> diagnostics);
  static v1::Diagnostic ConfigDiagnostic(const std::string& path, absl::string_view message);
  void Publish(std::vector<PlaybookEntry> entries);

  SnapshotHolder* const holder_;
  ReloaderOptions options_;
  std::vector<Fingerprint> fingerprints_;  // parallel to options_.files
  // Versions that compiled but were held back as configuration errors; parallel to
  // options_.files (playbook null = none held).
  std::vector<engine::LoadResult> held_;
  absl::Status startup_consistency_;
  // Per entry: the store revision last rejected (not retried until another is published).
  std::vector<int64_t> rejected_revision_;
  // The names of the entries after the files' (published only through the store), in
  // entry order.
  std::vector<std::string> store_only_names_;
  // The store's change counter as of the last PollStore.
  int64_t seen_counter_ = 0;

  // Serialises LoadAll, PollOnce and PollStore (the two threads share the entries).
  std::mutex poll_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  std::thread watch_thread_;
};

}  // namespace dealcoach::runtime

#endif  // DEALCOACH_SIDECAR_RUNTIME_RELOADER_H_
