// DecisionLogger against a real SQLite store: batching, masking, the bounded queue's
// dropped counter, flush on destruction and retention.
#include "sidecar/store/decision_logger.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "sidecar/store/test_support.h"

namespace dealcoach::store {
namespace {

class DecisionLoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Store>> s = Open(testing::SqliteOptions(dir_.path()));
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  static Decision Make(int i, absl::Time at = absl::Now()) {
    Decision d;
    d.tenant = "acme";
    d.decision_id = absl::StrCat("dec-", i);
    d.at = at;
    d.caller = "rep@acme.example";
    d.deal_id = absl::StrCat("opp-", i % 7);
    d.playbook = "journey";
    d.revision = 2;
    d.fired_rule_ids = {"b1"};
    d.input_hash = "sha256:00";
    d.latency = absl::Microseconds(i);
    return d;
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(DecisionLoggerTest, WritesEverythingInBatchesWithMaskedFields) {
  DecisionLoggerOptions o;
  o.batch_size = 64;
  o.masked_fields = {"caller"};
  o.mask_salt = "pepper";
  DecisionLogger logger(store_.get(), o);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(logger.Log(Make(i)));
  ASSERT_TRUE(logger.Flush(absl::Seconds(10)).ok());
  EXPECT_EQ(logger.written(), 1000);
  EXPECT_EQ(logger.dropped(), 0);
  EXPECT_EQ(logger.write_errors(), 0);
  absl::StatusOr<std::vector<Decision>> got = store_->ListDecisions("acme", "", 5000);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1000u);
  for (const Decision& d : *got) {
    EXPECT_EQ(d.caller, DecisionLogger::Mask("pepper", "rep@acme.example"));
    EXPECT_EQ(d.caller.find("rep@"), std::string::npos);
  }
  // Unmasked fields stay as they were, so per-deal queries work.
  EXPECT_EQ(store_->ListDecisions("acme", "opp-3", 5000)->size(), 143u);
}

TEST_F(DecisionLoggerTest, AFullQueueDropsAndCountsInsteadOfBlocking) {
  DecisionLoggerOptions o;
  o.queue_capacity = 5;
  o.batch_size = 1000;                   // Never a full batch...
  o.flush_interval = absl::Seconds(30);  // ...and no timed flush during the test.
  {
    DecisionLogger logger(store_.get(), o);
    absl::Time t0 = absl::Now();
    int accepted = 0;
    for (int i = 0; i < 20; ++i) accepted += logger.Log(Make(i));
    EXPECT_LT(absl::Now() - t0, absl::Milliseconds(100));
    EXPECT_EQ(accepted, 5);
    EXPECT_EQ(logger.dropped(), 15);
  }  // The destructor writes what was queued.
  EXPECT_EQ(store_->ListDecisions("acme", "", 100)->size(), 5u);
}

TEST_F(DecisionLoggerTest, RetentionDeletesOldDecisions) {
  ASSERT_TRUE(store_->WriteDecisions({Make(1, absl::Now() - absl::Hours(100))}).ok());
  DecisionLoggerOptions o;
  o.retention = absl::Hours(24);
  o.flush_interval = absl::Milliseconds(10);
  {
    DecisionLogger logger(store_.get(), o);
    ASSERT_TRUE(logger.Log(Make(2)));
    ASSERT_TRUE(logger.Flush(absl::Seconds(5)).ok());
  }  // The prune runs after the first batch (the tenant is known then) or at the end.
  absl::StatusOr<std::vector<Decision>> got = store_->ListDecisions("acme", "", 10);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].decision_id, "dec-2");
}

TEST_F(DecisionLoggerTest, TheWriterHashesADeferredInputAndMasksTheHash) {
  // Any message works as an input; a CompactResult keeps the test inside the store.
  auto input = std::make_shared<CompactResult>();
  input->set_deal_id("opp-1");
  input->set_amount(1234.5);
  const std::string expected = InputHash(*input);
  EXPECT_EQ(expected.rfind("sha256:", 0), 0u);
  EXPECT_EQ(expected, InputHash(*input));  // deterministic
  DecisionLoggerOptions o;
  o.flush_interval = absl::Milliseconds(10);
  {
    DecisionLogger logger(store_.get(), o);
    Decision d = Make(1);
    d.input_hash.clear();
    d.input = input;
    ASSERT_TRUE(logger.Log(std::move(d)));
    Decision given = Make(2);  // an explicit hash is kept as given
    given.input = input;
    ASSERT_TRUE(logger.Log(std::move(given)));
    ASSERT_TRUE(logger.Flush(absl::Seconds(5)).ok());
  }
  absl::StatusOr<std::vector<Decision>> got = store_->ListDecisions("acme", "", 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  for (const Decision& d : *got) {
    EXPECT_EQ(d.input_hash, d.decision_id == "dec-1" ? expected : "sha256:00") << d.decision_id;
    EXPECT_EQ(d.input, nullptr);
  }

  o.masked_fields = {"input_hash"};
  {
    DecisionLogger logger(store_.get(), o);
    Decision d = Make(3);
    d.input_hash.clear();
    d.input = input;
    ASSERT_TRUE(logger.Log(std::move(d)));
  }
  got = store_->ListDecisions("acme", "opp-3", 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].input_hash, DecisionLogger::Mask("", expected));
}

// A pushed opportunity is hashed as the bytes it arrived in (Decision::input_bytes),
// not re-serialized: the hash is ContentHash of exactly those bytes, they win over a
// message input, an empty opportunity (zero bytes) still gets a hash, and input_hash
// masking applies to it as to any other.
TEST_F(DecisionLoggerTest, InputBytesAreHashedAsReceived) {
  auto message = std::make_shared<CompactResult>();
  message->set_deal_id("opp-1");
  // Not the message's serialization: field 1 written twice (a sender may do so).
  const std::string bytes = std::string("\x0a\x01x\x0a\x05opp-1", 10);
  ASSERT_TRUE(CompactResult().ParseFromString(bytes));
  ASSERT_NE(ContentHash(bytes), InputHash(*message));
  DecisionLoggerOptions o;
  o.flush_interval = absl::Milliseconds(10);
  {
    DecisionLogger logger(store_.get(), o);
    Decision d = Make(1);
    d.input_hash.clear();
    d.input_bytes = bytes;
    d.input = message;  // the bytes win
    ASSERT_TRUE(logger.Log(std::move(d)));
    Decision empty = Make(2);
    empty.input_hash.clear();
    empty.input_bytes = std::string();
    ASSERT_TRUE(logger.Log(std::move(empty)));
    ASSERT_TRUE(logger.Flush(absl::Seconds(5)).ok());
  }
  absl::StatusOr<std::vector<Decision>> got = store_->ListDecisions("acme", "", 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  for (const Decision& d : *got) {
    EXPECT_EQ(d.input_hash, d.decision_id == "dec-1" ? ContentHash(bytes) : ContentHash(""))
        << d.decision_id;
    EXPECT_FALSE(d.input_bytes.has_value());
  }

  o.masked_fields = {"input_hash"};
  o.mask_salt = "pepper";
  {
    DecisionLogger logger(store_.get(), o);
    Decision d = Make(3);
    d.input_hash.clear();
    d.input_bytes = bytes;
    ASSERT_TRUE(logger.Log(std::move(d)));
  }
  got = store_->ListDecisions("acme", "opp-3", 10);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].input_hash, DecisionLogger::Mask("pepper", ContentHash(bytes)));
}

// The writer remembers the hash of an input others also hold (a deal's parsed message
// in the opportunity source), per object: every decision still gets its own input's
// hash, also when a freed input's address is reused by a new message.
TEST_F(DecisionLoggerTest, ASharedInputIsHashedPerObject) {
  DecisionLoggerOptions o;
  o.flush_interval = absl::Milliseconds(10);
  std::map<std::string, std::string> expected;  // decision id -> hash
  DecisionLogger logger(store_.get(), o);
  auto log = [&](int i, const std::shared_ptr<const CompactResult>& input) {
    Decision d = Make(i);
    d.input_hash.clear();
    d.input = input;
    expected[d.decision_id] = InputHash(*input);
    ASSERT_TRUE(logger.Log(std::move(d)));
  };
  auto a = std::make_shared<CompactResult>();
  a->set_deal_id("a");
  auto b = std::make_shared<CompactResult>();
  b->set_deal_id("b");
  for (int i = 0; i < 3; ++i) log(i, a);
  log(3, b);
  ASSERT_TRUE(logger.Flush(absl::Seconds(5)).ok());
  // Free `a` everywhere, then new inputs of other content (the allocator may well
  // hand one `a`'s address).
  a.reset();
  std::vector<std::shared_ptr<CompactResult>> later;
  for (int i = 0; i < 8; ++i) {
    later.push_back(std::make_shared<CompactResult>());
    later.back()->set_deal_id(absl::StrCat("later-", i));
    log(10 + i, later.back());
    log(20 + i, later.back());
  }
  ASSERT_TRUE(logger.Flush(absl::Seconds(5)).ok());
  absl::StatusOr<std::vector<Decision>> got = store_->ListDecisions("acme", "", 100);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), expected.size());
  for (const Decision& d : *got) EXPECT_EQ(d.input_hash, expected[d.decision_id]) << d.decision_id;
  EXPECT_NE(expected["dec-0"], expected["dec-10"]);
  EXPECT_EQ(expected["dec-0"], expected["dec-2"]);
}

TEST_F(DecisionLoggerTest, ManyThreadsLoggingAtOnceLoseNothingBelowCapacity) {
  DecisionLoggerOptions o;
  o.batch_size = 50;
  o.queue_capacity = 100000;
  DecisionLogger logger(store_.get(), o);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&logger, t] {
      for (int i = 0; i < 500; ++i) {
        Decision d = Make(i);
        d.decision_id = absl::StrCat("t", t, "-", i);
        EXPECT_TRUE(logger.Log(std::move(d)));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_TRUE(logger.Flush(absl::Seconds(20)).ok());
  EXPECT_EQ(logger.written(), 4000);
  EXPECT_EQ(logger.dropped(), 0);
  EXPECT_EQ(store_->ListDecisions("acme", "", 10000)->size(), 4000u);
}

#if defined(__linux__)
// The nice level of thread `tid` of this process (field 19 of /proc/self/task/TID/stat;
// the command name before it is in parentheses and may hold spaces).
int NiceOf(pid_t tid) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  EXPECT_NE(close, std::string::npos) << stat;
  std::vector<std::string> fields = absl::StrSplit(stat.substr(close + 2), ' ');
  EXPECT_GT(fields.size(), 16u);
  return fields.size() > 16 ? std::stoi(fields[16]) : -100;  // field 19 overall
}

// The threads of this process whose name (comm) is `name`.
std::vector<pid_t> ThreadsNamed(const std::string& name) {
  std::vector<pid_t> tids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(entry.path() / "comm");
    std::string line;
    std::getline(comm, line);
    if (line == name) tids.push_back(std::stoi(entry.path().filename().string()));
  }
  return tids;
}

// The writer gives request threads the CPU first (nice 10), on its own thread only, and
// is findable by name (top -H, perf sched).
TEST_F(DecisionLoggerTest, TheWriterThreadIsNamedAndNiceAndTheCallerIsUntouched) {
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  const int nice_before = NiceOf(self);
  {
    DecisionLogger logger(store_.get(), {});
    std::vector<pid_t> writers;
    for (int i = 0; i < 200 && (writers.empty() || NiceOf(writers[0]) != kDecisionLogThreadNice);
         ++i) {
      writers = ThreadsNamed(kDecisionLogThreadName);
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(writers.size(), 1u) << "no thread named " << kDecisionLogThreadName;
    EXPECT_NE(writers[0], self);
    EXPECT_EQ(NiceOf(writers[0]), kDecisionLogThreadNice);
  }
  EXPECT_EQ(NiceOf(self), nice_before);
  EXPECT_TRUE(ThreadsNamed(kDecisionLogThreadName).empty());  // joined with the logger
}
#endif

TEST(DecisionLoggerConfig, UnknownMaskedFieldsAreRejected) {
  EXPECT_TRUE(ValidateMaskedFields({"caller", "deal_id", "input_hash"}).ok());
  EXPECT_EQ(ValidateMaskedFields({"latency"}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dealcoach::store
