// DecisionLogger: writes the decision log off the request path. Log() masks nothing,
// hashes nothing and never blocks: it appends to a bounded queue (or counts the decision
// as dropped when the queue is full, so a slow or unreachable database can never slow an
// answer). The queue is double-buffered: the background thread takes everything queued
// by swapping two vectors under the lock (O(1), no element is copied or freed while the
// lock is held, so a request thread never waits behind a preempted low-priority writer)
// and hands back an emptied vector whose capacity the next Log() calls reuse (no
// allocation on the request path once warm). Outside the lock the writer computes
// deferred input hashes (Decision::input_bytes or ::input), masks the configured sensitive fields
// and writes batches of batch_size in one transaction per tenant; every prune_interval it deletes
// decisions older than `retention` for the tenants it has seen. A batch the store rejects is
// counted in write_errors() and not retried (the log is best-effort by design; the counters say how
// much is missing).
//
// Masking replaces a field's value with "masked:<16 hex digits of sha256(salt+value)>":
// equal values stay equal (decisions of one deal can still be grouped) but the value is
// not stored. Maskable fields: caller, deal_id, input_hash.
//
// The writer thread is named "dc-decision-log" and runs at a lower scheduling priority
// (nice 10 on Linux; LowerWriterThreadPriority).
//
// Thread safety: Log, Flush and the counters may be called from any thread.
#ifndef DEALCOACH_SIDECAR_STORE_DECISION_LOGGER_H_
#define DEALCOACH_SIDECAR_STORE_DECISION_LOGGER_H_

#include <atomic>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "sidecar/store/store.h"

namespace dealcoach::store {

struct DecisionLoggerOptions {
  size_t queue_capacity = 10000;
  // Decisions per write transaction, at most: a full batch wakes the writer, otherwise
  // flush_interval does. 2,000 rather than 500 cut the writer's CPU per decision by 29% on a
  // grown log (BM_DecisionWriteGrownLog): the index by deal is touched all over, and
  // each transaction writes every page it touched once.
  size_t batch_size = 2000;
  // Longest a decision waits in the queue before its (partial) batch is written.
  absl::Duration flush_interval = absl::Milliseconds(200);
  // Decisions older than this are deleted; zero keeps them forever.
  absl::Duration retention = absl::Hours(24 * 30);
  absl::Duration prune_interval = absl::Hours(1);
  std::set<std::string> masked_fields;
  std::string mask_salt;
};

// The writer thread's name and scheduling (Linux), see LowerWriterThreadPriority.
inline constexpr char kDecisionLogThreadName[] = "dc-decision-log";
inline constexpr int kDecisionLogThreadNice = 10;

// Names the calling thread kDecisionLogThreadName and sets its nice level to
// kDecisionLogThreadNice. Best effort (a refused call leaves the thread as it was);
// no-op off Linux.
void LowerWriterThreadPriority();

// Validates masked field names (caller, deal_id, input_hash).
absl::Status ValidateMaskedFields(const std::set<std::string>& fields);

class DecisionLogger {
 public:
  // `store` must outlive the logger.
  DecisionLogger(Store* store, DecisionLoggerOptions options);
  // Writes what is queued, then stops the thread.
  ~DecisionLogger();
  DecisionLogger(const DecisionLogger&) = delete;
  DecisionLogger& operator=(const DecisionLogger&) = delete;

  // Queues `decision`; false (and dropped() + 1) when the queue is full.
  bool Log(Decision decision);

  // Waits until every decision queued before the call has been written (or failed), up
  // to `timeout`. DeadlineExceeded past it.
  absl::Status Flush(absl::Duration timeout);

  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  int64_t written() const { return written_.load(std::memory_order_relaxed); }
  int64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  // The last write or prune error ("" when none).
  std::string last_error() const;

  // The masked form of `value` (exposed for tests and docs).
  static std::string Mask(absl::string_view salt, absl::string_view value);

 private:
  void Run();
  // Writes taken_[begin, end) (hashing and masking in place).
  void WriteBatch(size_t begin, size_t end);
  void Prune(absl::Time now);

  Store* const store_;
  const DecisionLoggerOptions options_;

  mutable absl::Mutex mu_;
  absl::CondVar wake_;  // Log() -> writer: a full batch is queued.
  std::vector<Decision> queue_ ABSL_GUARDED_BY(mu_);
  // The writer's buffer (swapped with queue_), and the tenants it has seen (for Prune);
  // touched only by the writer thread.
  std::vector<Decision> taken_;
  std::set<std::string> tenants_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Decisions accepted / finished (written or failed), for Flush.
  int64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);

  std::atomic<int64_t> dropped_{0};
  std::atomic<int64_t> written_{0};
  std::atomic<int64_t> write_errors_{0};
  std::thread thread_;
};

}  // namespace dealcoach::store

#endif  // DEALCOACH_SIDECAR_STORE_DECISION_LOGGER_H_
