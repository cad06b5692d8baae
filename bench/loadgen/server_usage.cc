#include "bench/loadgen/server_usage.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace dealcoach::bench {
namespace {

std::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::optional<UsageSample> SampleUsage(pid_t pid) {
  UsageSample s;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  s.wall_s = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::optional<std::string> stat = ReadAll(proc + "/stat");
  if (!stat.has_value()) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces: fields 3.. follow
  // the last ')'. utime and stime are fields 14 and 15.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(close + 1));
  std::vector<std::string> f((std::istream_iterator<std::string>(fields)),
                             std::istream_iterator<std::string>());
  if (f.size() < 13) return std::nullopt;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  s.user_s = std::stod(f[11]) / tick;
  s.system_s = std::stod(f[12]) / tick;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(proc + "/task", ec)) {
    if (std::optional<std::string> sched = ReadAll(task.path().string() + "/schedstat")) {
      std::istringstream in(*sched);
      double run_ns = 0, wait_ns = 0;
      if (in >> run_ns >> wait_ns) {
        s.run_s += run_ns * 1e-9;
        s.runqueue_wait_s += wait_ns * 1e-9;
      }
    }
    if (std::optional<std::string> status = ReadAll(task.path().string() + "/status")) {
      std::istringstream in(*status);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
            line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
          s.context_switches += std::stoll(line.substr(line.find(':') + 1));
        }
      }
    }
  }
  if (ec) return std::nullopt;
  return s;
}

UsageDelta Delta(const UsageSample& begin, const UsageSample& end, int64_t calls) {
  const double n = static_cast<double>(std::max<int64_t>(1, calls));
  const double wall = std::max(1e-9, end.wall_s - begin.wall_s);
  UsageDelta d;
  const double user = end.user_s - begin.user_s;
  const double system = end.system_s - begin.system_s;
  // schedstat's run time has nanosecond resolution but counts live threads only; stat's
  // ticks (10 ms) also keep exited threads' time. The larger is the better estimate; stat
  // gives the user/system split of it.
  const double cpu = std::max(end.run_s - begin.run_s, user + system);
  d.utilization = cpu / wall;
  d.cpu_us_per_call = cpu * 1e6 / n;
  const double ticks = user + system;
  d.user_us_per_call = ticks > 0 ? d.cpu_us_per_call * user / ticks : 0;
  d.system_us_per_call = ticks > 0 ? d.cpu_us_per_call * system / ticks : 0;
  d.runqueue_wait_us_per_call = (end.runqueue_wait_s - begin.runqueue_wait_s) * 1e6 / n;
  d.context_switches_per_call =
      static_cast<double>(end.context_switches - begin.context_switches) / n;
  return d;
}

}  // namespace dealcoach::bench
