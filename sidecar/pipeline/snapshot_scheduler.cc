#include "sidecar/pipeline/snapshot_scheduler.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace dealcoach::pipeline {

SnapshotScheduler::SnapshotScheduler(absl::Duration interval, std::function<absl::Status()> take,
                                     std::function<void(bool, const std::string&)> log)
    : interval_(interval), take_(std::move(take)), log_(std::move(log)) {
  thread_ = std::thread([this] { Loop(); });
}

SnapshotScheduler::~SnapshotScheduler() { Stop(); }

void SnapshotScheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

int SnapshotScheduler::taken() const {
  absl::MutexLock lock(&mu_);
  return taken_;
}

void SnapshotScheduler::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) return;
    }
    absl::Status s = take_();
    if (s.ok()) {
      absl::MutexLock lock(&mu_);
      ++taken_;
    }
    if (log_) {
      log_(!s.ok(), s.ok() ? std::string("pipeline: scheduled snapshot written")
                           : absl::StrCat("pipeline: scheduled snapshot failed: ", s.message()));
    }
  }
}

}  // namespace dealcoach::pipeline
