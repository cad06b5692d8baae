// SnapshotScheduler: takes a pipeline snapshot every `interval` on its own thread
// (`pipeline.snapshot_interval`, docs/manager.md). The first one is taken one interval
// after the start; a failed one is logged and the next one is still taken on time.
//
// Thread safety: Stop() may be called from any thread, more than once; the destructor
// stops.
#ifndef DEALCOACH_SIDECAR_PIPELINE_SNAPSHOT_SCHEDULER_H_
#define DEALCOACH_SIDECAR_PIPELINE_SNAPSHOT_SCHEDULER_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace dealcoach::pipeline {

class SnapshotScheduler {
 public:
  // `take` writes one snapshot; `log(warning, line)` receives one line per snapshot.
  SnapshotScheduler(absl::Duration interval, std::function<absl::Status()> take,
                    std::function<void(bool warning, const std::string& line)> log);
  ~SnapshotScheduler();
  SnapshotScheduler(const SnapshotScheduler&) = delete;
  SnapshotScheduler& operator=(const SnapshotScheduler&) = delete;

  // Stops the thread (waits for a snapshot in progress). Idempotent.
  void Stop();
  // Snapshots taken (successfully) so far.
  int taken() const;

 private:
  void Loop();

  const absl::Duration interval_;
  const std::function<absl::Status()> take_;
  const std::function<void(bool, const std::string&)> log_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int taken_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace dealcoach::pipeline

#endif  // DEALCOACH_SIDECAR_PIPELINE_SNAPSHOT_SCHEDULER_H_
