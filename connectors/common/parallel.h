// RunAll: runs independent CRM calls at once, so a slow CRM (seconds per call) costs
// the depth of a sync's call graph rather than the number of its calls. How many
// requests actually reach the CRM at once is bounded by the connector's ResilientHttp
// (`max_concurrent_requests`), not here: tasks may nest (a page's enrichment runs its
// batches in parallel, and each batch its chunks), and only the HTTP layer sees them all.
//
//   std::vector<std::function<absl::Status()>> tasks = {...};
//   DC_RETURN_IF_ERROR(RunAll(std::move(tasks)));
//
// CMake target: dealcoach_connector_common.
//
// Thread safety: tasks run on their own threads; they must not share unguarded state
// (give each task its own output slot).
#ifndef DEALCOACH_CONNECTORS_COMMON_PARALLEL_H_
#define DEALCOACH_CONNECTORS_COMMON_PARALLEL_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"

namespace dealcoach::connectors {

// Runs every task, at most `max_threads` at a time (one thread per running task; the
// calling thread runs one of them), and waits for all. Returns the first error in task
// order, or OK. A single task runs inline.
[[nodiscard]] absl::Status RunAll(std::vector<std::function<absl::Status()>> tasks,
                                  int max_threads = 16);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_PARALLEL_H_
