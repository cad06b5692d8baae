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
// Thread safety: LoadAll() and PollOnce() must not run concurrently with each other
// (Start() runs PollOnce on its own thread); Start/Stop are safe from any thread.
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

namespace dealcoach::runtime {

struct ReloaderOptions {
  // Playbook files, in order. Required.
  std::vector<std::string> files;
  // Default playbook name; "" means the first file's playbook.
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

  // Polls every `poll_interval` on a background thread until Stop().
  void Start();
  // Stops and joins the polling thread. Idempotent.
  void Stop();

 private:
  struct Fingerprint {
    bool exists = false;
    int64_t size = -1;
    int64_t mtime_ns = -1;
    size_t hash = 0;
    bool operator==(const Fingerprint& o) const {
      return exists == o.exists && size == o.size && mtime_ns == o.mtime_ns && hash == o.hash;
    }
  };
  static Fingerprint Stat(const std::string& path);

  // Loads one file into `entry` (last-good: a failed load keeps entry->playbook).
  // Returns true when it compiled.
  bool LoadInto(PlaybookEntry* entry);
  // Makes `result` (which compiled) the serving version of `entry`.
  void Activate(PlaybookEntry* entry, engine::LoadResult result);
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

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dealcoach::runtime

#endif  // DEALCOACH_SIDECAR_RUNTIME_RELOADER_H_
