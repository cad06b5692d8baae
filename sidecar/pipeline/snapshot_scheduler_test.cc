// SnapshotScheduler (pipeline.snapshot_interval, docs/manager.md): the first snapshot one
// interval after the start, then one every interval; a failed one is logged as a warning
// and the next is still taken on time; Stop ends the schedule. The sidecar wires it to
// WritePipelineSnapshot (sidecar/server/sidecar.cc) and refuses intervals under a minute
// (config), so the schedule is tested here with a short interval.
#include "sidecar/pipeline/snapshot_scheduler.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace dealcoach::pipeline {
namespace {

struct Recorder {
  absl::Mutex mu;
  std::vector<absl::Time> taken ABSL_GUARDED_BY(mu);
  std::vector<std::pair<bool, std::string>> lines ABSL_GUARDED_BY(mu);
};

TEST(SnapshotScheduler, TakesTheFirstOneIntervalAfterTheStartThenEveryInterval) {
  constexpr absl::Duration kInterval = absl::Milliseconds(200);
  Recorder rec;
  const absl::Time start = absl::Now();
  SnapshotScheduler scheduler(
      kInterval,
      [&] {
        absl::MutexLock lock(&rec.mu);
        rec.taken.push_back(absl::Now());
        return absl::OkStatus();
      },
      [&](bool warning, const std::string& line) {
        absl::MutexLock lock(&rec.mu);
        rec.lines.emplace_back(warning, line);
      });
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_EQ(scheduler.taken(), 0) << "a snapshot before one interval passed";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (scheduler.taken() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(10));
  scheduler.Stop();
  absl::MutexLock lock(&rec.mu);
  ASSERT_GE(rec.taken.size(), 3u);
  EXPECT_EQ(scheduler.taken(), static_cast<int>(rec.taken.size()));
  EXPECT_GE(rec.taken[0] - start, kInterval);
  for (size_t i = 1; i < rec.taken.size(); ++i) {
    EXPECT_GE(rec.taken[i] - rec.taken[i - 1], kInterval) << i;
  }
  ASSERT_EQ(rec.lines.size(), rec.taken.size());
  EXPECT_FALSE(rec.lines[0].first);
  EXPECT_EQ(rec.lines[0].second, "pipeline: scheduled snapshot written");
}

TEST(SnapshotScheduler, AFailedSnapshotIsAWarningAndTheNextIsStillTaken) {
  std::atomic<int> calls{0};
  Recorder rec;
  SnapshotScheduler scheduler(
      absl::Milliseconds(50),
      [&] { return ++calls == 1 ? absl::UnavailableError("store down") : absl::OkStatus(); },
      [&](bool warning, const std::string& line) {
        absl::MutexLock lock(&rec.mu);
        rec.lines.emplace_back(warning, line);
      });
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (scheduler.taken() < 1 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  scheduler.Stop();
  EXPECT_GE(scheduler.taken(), 1);
  EXPECT_EQ(scheduler.taken(), calls.load() - 1);  // all but the failed one
  absl::MutexLock lock(&rec.mu);
  ASSERT_GE(rec.lines.size(), 2u);
  EXPECT_TRUE(rec.lines[0].first);
  EXPECT_EQ(rec.lines[0].second, "pipeline: scheduled snapshot failed: store down");
  EXPECT_FALSE(rec.lines[1].first);
}

TEST(SnapshotScheduler, StopEndsTheScheduleAtOnceAndIsIdempotent) {
  std::atomic<int> calls{0};
  SnapshotScheduler scheduler(
      absl::Hours(24),
      [&] {
        ++calls;
        return absl::OkStatus();
      },
      nullptr);
  const absl::Time start = absl::Now();
  scheduler.Stop();
  scheduler.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "Stop waited for the interval";
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(scheduler.taken(), 0);
}

}  // namespace
}  // namespace dealcoach::pipeline
