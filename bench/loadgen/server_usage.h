// ServerUsage: what a process on this machine spent during a measured window, read from
// /proc (Linux): CPU time (user and system), time its threads spent runnable but waiting
// for a CPU, and context switches. The load generator samples the server it drives at
// the start and end of its measured window, so each run reports the server's CPU per
// call and its utilization next to the latencies: a p99 means little without the load
// the server was under (docs/performance.md, "Where a request's CPU goes by load").
#ifndef DEALCOACH_BENCH_LOADGEN_SERVER_USAGE_H_
#define DEALCOACH_BENCH_LOADGEN_SERVER_USAGE_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace dealcoach::bench {

struct UsageSample {
  double wall_s = 0;             // CLOCK_MONOTONIC
  double user_s = 0;             // /proc/PID/stat utime (clock ticks)
  double system_s = 0;           // /proc/PID/stat stime
  double run_s = 0;              // sum over threads of /proc/PID/task/TID/schedstat: on CPU
  double runqueue_wait_s = 0;    // ... runnable, waiting for a CPU
  int64_t context_switches = 0;  // voluntary + involuntary, over live threads
};

// The sample now; nullopt when the process is gone or /proc cannot be read. Threads that
// exit between two samples take their share with them (the sidecar's are long-lived).
[[nodiscard]] std::optional<UsageSample> SampleUsage(pid_t pid);

// `end` - `begin`, per call of `calls` (clamped to >= 1).
struct UsageDelta {
  double utilization = 0;      // CPU seconds per wall second (1.0 = one core busy)
  double cpu_us_per_call = 0;  // user + system
  double user_us_per_call = 0;
  double system_us_per_call = 0;
  double runqueue_wait_us_per_call = 0;
  double context_switches_per_call = 0;
};
[[nodiscard]] UsageDelta Delta(const UsageSample& begin, const UsageSample& end, int64_t calls);

}  // namespace dealcoach::bench

#endif  // DEALCOACH_BENCH_LOADGEN_SERVER_USAGE_H_
