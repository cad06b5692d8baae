#include "sidecar/store/decision_logger.h"

#if defined(__linux__)
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace dealcoach::store {

absl::Status ValidateMaskedFields(const std::set<std::string>& fields) {
  for (const std::string& f : fields) {
    if (f != "caller" && f != "deal_id" && f != "input_hash") {
      return absl::InvalidArgumentError(absl::StrCat("store: cannot mask decision field '", f,
                                                     "' (maskable: caller, deal_id, input_hash)"));
    }
  }
  return absl::OkStatus();
}

std::string DecisionLogger::Mask(absl::string_view salt, absl::string_view value) {
  std::string hash = ContentHash(absl::StrCat(salt, value));  // "sha256:<64 hex>"
  return absl::StrCat("masked:", hash.substr(7, 16));
}

DecisionLogger::DecisionLogger(Store* store, DecisionLoggerOptions options)
    : store_(store), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

DecisionLogger::~DecisionLogger() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

bool DecisionLogger::Log(Decision decision) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.queue_capacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  queue_.push_back(std::move(decision));
  ++enqueued_;
  return true;
}

absl::Status DecisionLogger::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const int64_t target = enqueued_;
  auto done = [this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return finished_ >= target; };
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return absl::DeadlineExceededError(absl::StrCat("decision log: ", target - finished_,
                                                    " decision(s) still queued after ",
                                                    absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

std::string DecisionLogger::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

void DecisionLogger::Run() {
#if defined(__linux__)
  // Background work: under CPU contention the answers go first (Linux nice applies per
  // thread). Measured: with the writer at the default priority, GetDealGuidance p99 at
  // 50% saturation suffered on a loaded 2-core host; with the queue but no writes, not.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 10);
#endif
  absl::Time next_prune = absl::Now();
  while (true) {
    std::vector<Decision> batch;
    bool stop = false;
    bool new_tenant = false;
    {
      absl::MutexLock lock(&mu_);
      // Wake for a full batch, a stop, or the flush interval (a partial batch).
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || queue_.size() >= options_.batch_size;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), options_.flush_interval);
      size_t n = std::min(queue_.size(), std::max<size_t>(1, options_.batch_size));
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        new_tenant |= tenants_.insert(queue_.front().tenant).second;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stop = stopping_ && queue_.empty();
    }
    if (!batch.empty()) WriteBatch(std::move(batch));
    absl::Time now = absl::Now();
    // A tenant seen for the first time is pruned right away, then every prune_interval.
    if (options_.retention > absl::ZeroDuration() && (now >= next_prune || new_tenant)) {
      Prune(now);
      next_prune = now + options_.prune_interval;
    }
    if (stop) return;
  }
}

void DecisionLogger::WriteBatch(std::vector<Decision> batch) {
  const std::set<std::string>& masked = options_.masked_fields;
  if (!masked.empty()) {
    for (Decision& d : batch) {
      if (masked.count("caller")) d.caller = Mask(options_.mask_salt, d.caller);
      if (masked.count("deal_id")) d.deal_id = Mask(options_.mask_salt, d.deal_id);
      if (masked.count("input_hash")) d.input_hash = Mask(options_.mask_salt, d.input_hash);
    }
  }
  absl::Status s = store_->WriteDecisions(batch);
  if (s.ok()) {
    written_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
  } else {
    write_errors_.fetch_add(static_cast<int64_t>(batch.size()), std::memory_order_relaxed);
  }
  absl::MutexLock lock(&mu_);
  if (!s.ok()) last_error_ = std::string(s.message());
  finished_ += static_cast<int64_t>(batch.size());
}

void DecisionLogger::Prune(absl::Time now) {
  std::set<std::string> tenants;
  {
    absl::MutexLock lock(&mu_);
    tenants = tenants_;
  }
  for (const std::string& t : tenants) {
    absl::StatusOr<int64_t> n = store_->PruneDecisions(t, now - options_.retention);
    if (!n.ok()) {
      absl::MutexLock lock(&mu_);
      last_error_ = std::string(n.status().message());
    }
  }
}

}  // namespace dealcoach::store
