// ServerUsage against this very process: a thread that burns a known amount of CPU must
// show up as that CPU (within the kernel's accounting), and a sleeping one must not.
#include "bench/loadgen/server_usage.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace dealcoach::bench {
namespace {

void Burn(std::chrono::milliseconds cpu) {
  const std::clock_t end =
      std::clock() + static_cast<std::clock_t>(cpu.count() * CLOCKS_PER_SEC / 1000);
  volatile uint64_t x = 0;
  while (std::clock() < end) x = x + 1;
}

TEST(ServerUsage, ABusyThreadIsCountedAndASleepingOneIsNot) {
  std::optional<UsageSample> a = SampleUsage(getpid());
  ASSERT_TRUE(a.has_value());
  std::thread busy([] { Burn(std::chrono::milliseconds(300)); });
  busy.join();
  std::optional<UsageSample> b = SampleUsage(getpid());
  ASSERT_TRUE(b.has_value());
  UsageDelta burned = Delta(*a, *b, 100);
  // The busy thread has exited: schedstat's share goes with it, so the figure rests on
  // /proc/PID/stat, which keeps exited threads' time. 300 ms of CPU over 100 calls.
  EXPECT_GT(burned.user_us_per_call + burned.system_us_per_call, 2000.0);
  EXPECT_LT(burned.user_us_per_call + burned.system_us_per_call, 6000.0);

  std::optional<UsageSample> c = SampleUsage(getpid());
  ASSERT_TRUE(c.has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::optional<UsageSample> d = SampleUsage(getpid());
  ASSERT_TRUE(d.has_value());
  UsageDelta idle = Delta(*c, *d, 1);
  EXPECT_LT(idle.utilization, 0.5);
  EXPECT_GE(d->context_switches, c->context_switches);
}

TEST(ServerUsage, ALiveThreadsRunTimeIsMeasuredToTheMicrosecond) {
  std::optional<UsageSample> a = SampleUsage(getpid());
  ASSERT_TRUE(a.has_value());
  Burn(std::chrono::milliseconds(50));  // on this (live) thread: schedstat counts it
  std::optional<UsageSample> b = SampleUsage(getpid());
  ASSERT_TRUE(b.has_value());
  EXPECT_GT(b->run_s - a->run_s, 0.040);
  EXPECT_LT(b->run_s - a->run_s, 0.5);
  UsageDelta d = Delta(*a, *b, 1);
  EXPECT_GT(d.utilization, 0.5);  // one thread busy for the whole window
}

TEST(ServerUsage, AMissingProcessIsNullopt) { EXPECT_FALSE(SampleUsage(0x3fffffff).has_value()); }

}  // namespace
}  // namespace dealcoach::bench
