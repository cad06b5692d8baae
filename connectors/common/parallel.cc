#include "connectors/common/parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>

namespace dealcoach::connectors {

absl::Status RunAll(std::vector<std::function<absl::Status()>> tasks, int max_threads) {
  if (tasks.empty()) return absl::OkStatus();
  if (tasks.size() == 1) return tasks.front()();
  std::vector<absl::Status> results(tasks.size());
  std::atomic<size_t> next{0};
  // Each worker takes the next unstarted task until none is left.
  auto work = [&] {
    for (size_t i = next++; i < tasks.size(); i = next++) results[i] = tasks[i]();
  };
  const size_t workers = std::min(tasks.size(), static_cast<size_t>(std::max(1, max_threads)));
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  for (absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace dealcoach::connectors
