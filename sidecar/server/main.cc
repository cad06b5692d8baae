// dealcoach: the sidecar and its command line. See cli.h.
#include "absl/synchronization/mutex.h"
#include "sidecar/server/cli.h"

int main(int argc, char** argv) {
  // Debian's abseil is built without NDEBUG, so every absl::Mutex runs its debug-only
  // deadlock detection: a process-wide lock graph updated on each lock and on each
  // mutex's destruction. gRPC's own mutexes are absl::Mutex and come and go per call,
  // which made it about 4% of a GetDealGuidance call's CPU (perf, issue 15's
  // production_pair.sh). The binary turns it off; the tests, which do not run this main,
  // keep it as a lock-order check.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return dealcoach::server::RunCli(argc, argv);
}
