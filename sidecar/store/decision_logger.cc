#include "sidecar/store/decision_logger.h"

#if defined(__linux__)
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <memory>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace dealcoach::store {
namespace {

// Distinct shared inputs whose hash the writer remembers (cleared when full).
constexpr size_t kInputHashMemoEntries = 4096;

// InputHash(*input), remembered per object when someone else also holds it: a deal
// looked up by id is the opportunity source's parsed message, the same object for every
// lookup while its cached version lasts, so the writer serializes and hashes it once,
// not once per request (it was about a third of a by-id request's CPU). A push-mode
// input is held by its decision alone and is hashed without being remembered. The
// weak_ptr proves a remembered entry is still that object: once it is freed, an
// address reused by another message finds an expired entry. Writer thread only.
std::string HashInput(const std::shared_ptr<const google::protobuf::Message>& input) {
  struct Entry {
    std::weak_ptr<const google::protobuf::Message> object;
    std::string hash;
  };
  thread_local std::unordered_map<const google::protobuf::Message*, Entry> memo;
  if (input.use_count() <= 1) return InputHash(*input);
  auto it = memo.find(input.get());
  if (it != memo.end()) {
    std::shared_ptr<const google::protobuf::Message> live = it->second.object.lock();
    if (live != nullptr && live.get() == input.get()) return it->second.hash;
  }
  std::string hash = InputHash(*input);
  if (memo.size() >= kInputHashMemoEntries) memo.clear();
  memo.insert_or_assign(input.get(), Entry{input, hash});
  return hash;
}

}  // namespace

void LowerWriterThreadPriority() {
#if defined(__linux__)
  // Named for `top -H` and `perf sched`, and for the test that checks the priority.
  (void)pthread_setname_np(pthread_self(), kDecisionLogThreadName);
  // Background work: under CPU contention the answers go first (nice applies per thread
  // on Linux). Measured alternatives (docs/performance.md, "Where a request's CPU
  // goes by load, and the decision log and the tail"): nice 0 made the push p99 about 4x worse;
  // SCHED_IDLE and a 100 us EEVDF slice made no difference beyond the noise, so neither is used.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kDecisionLogThreadNice);
#endif
}

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
  const size_t reserve = std::min(options_.queue_capacity, 2 * options_.batch_size);
  {
    absl::MutexLock lock(&mu_);
    queue_.reserve(reserve);
  }
  taken_.reserve(reserve);
  thread_ = std::thread([this] { Run(); });
}

DecisionLogger::~DecisionLogger() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.Signal();
  thread_.join();
}

bool DecisionLogger::Log(Decision decision) {
  bool full_batch = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() >= options_.queue_capacity) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(decision));
    ++enqueued_;
    full_batch = queue_.size() == options_.batch_size;
  }
  // Once per batch, not per decision: the writer otherwise wakes on its flush interval.
  if (full_batch) wake_.Signal();
  return true;
}

absl::Status DecisionLogger::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const int64_t target = enqueued_;
  wake_.Signal();  // Do not wait out the flush interval.
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
  LowerWriterThreadPriority();
  absl::Time next_prune = absl::Now();
  const size_t batch_size = std::max<size_t>(1, options_.batch_size);
  while (true) {
    bool stop = false;
    {
      absl::MutexLock lock(&mu_);
      // Wake for a full batch, a stop, or the flush interval (a partial batch).
      if (!stopping_ && queue_.size() < batch_size) {
        wake_.WaitWithTimeout(&mu_, options_.flush_interval);
      }
      // O(1) under the lock: the request threads get back an empty vector with the
      // capacity of the last batches, so their push_back does not allocate.
      taken_.swap(queue_);
      stop = stopping_;
    }
    bool new_tenant = false;
    for (const Decision& d : taken_) {
      if (tenants_.count(d.tenant) == 0) {
        tenants_.insert(d.tenant);
        new_tenant = true;
      }
    }
    for (size_t begin = 0; begin < taken_.size(); begin += batch_size) {
      WriteBatch(begin, std::min(taken_.size(), begin + batch_size));
    }
    taken_.clear();  // Frees the decisions' strings here, not on a request thread.
    absl::Time now = absl::Now();
    // A tenant seen for the first time is pruned right away, then every prune_interval.
    if (options_.retention > absl::ZeroDuration() && (now >= next_prune || new_tenant)) {
      Prune(now);
      next_prune = now + options_.prune_interval;
    }
    if (stop) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;  // else: one more round for what raced the stop
    }
  }
}

void DecisionLogger::WriteBatch(size_t begin, size_t end) {
  const std::set<std::string>& masked = options_.masked_fields;
  const bool mask_caller = masked.count("caller") > 0;
  const bool mask_deal = masked.count("deal_id") > 0;
  const bool mask_input = masked.count("input_hash") > 0;
  std::vector<Decision> batch;
  batch.reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    Decision& d = taken_[i];
    if (d.input_hash.empty()) {
      if (d.input_bytes.has_value()) {
        d.input_hash = ContentHash(*d.input_bytes);
      } else if (d.input != nullptr) {
        d.input_hash = HashInput(d.input);
      }
    }
    d.input_bytes.reset();
    d.input.reset();
    if (mask_caller) d.caller = Mask(options_.mask_salt, d.caller);
    if (mask_deal) d.deal_id = Mask(options_.mask_salt, d.deal_id);
    if (mask_input) d.input_hash = Mask(options_.mask_salt, d.input_hash);
    batch.push_back(std::move(d));
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
  for (const std::string& t : tenants_) {
    absl::StatusOr<int64_t> n = store_->PruneDecisions(t, now - options_.retention);
    if (!n.ok()) {
      absl::MutexLock lock(&mu_);
      last_error_ = std::string(n.status().message());
    }
  }
}

}  // namespace dealcoach::store
