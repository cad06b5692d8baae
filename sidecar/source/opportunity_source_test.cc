#include "sidecar/source/opportunity_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "connectors/registry.h"

namespace dealcoach::source {
namespace {

using connectors::Connector;
using connectors::ConnectorHealth;
using connectors::SyncResult;

absl::Time At(int64_t unix_seconds) { return absl::FromUnixSeconds(unix_seconds); }

v1::Opportunity Opp(const std::string& id, int64_t updated, const std::string& name = "") {
  v1::Opportunity o;
  o.set_id(id);
  o.set_name(name.empty() ? "Deal " + id : name);
  o.mutable_updated_at()->set_seconds(updated);
  return o;
}

// A real Connector over an in-memory table whose CRM "fails" on demand.
class TableConnector : public Connector {
 public:
  absl::string_view type() const override { return "table"; }

  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override {
    ++fetches;
    absl::MutexLock lock(&mu_);
    if (!fetch_error_.ok()) return fetch_error_;
    auto it = rows_.find(std::string(id));
    if (it == rows_.end()) {
      return absl::NotFoundError(absl::StrCat("table: GET /deals/", id, ": 404 Not Found"));
    }
    return it->second;
  }

  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    std::vector<v1::Opportunity> out;
    {
      absl::MutexLock lock(&mu_);
      sinces_.push_back(since);
      if (!sync_error_.ok()) return sync_error_;
      for (const auto& [id, opp] : rows_) {
        if (At(opp.updated_at().seconds()) >= since) out.push_back(opp);
      }
    }
    SyncResult r;
    r.high_water_mark = since;
    for (v1::Opportunity& opp : out) {
      r.high_water_mark = std::max(r.high_water_mark, At(opp.updated_at().seconds()));
      if (absl::Status s = sink(std::move(opp)); !s.ok()) return s;
      ++r.count;
    }
    ++syncs;
    return r;
  }

  ConnectorHealth Health() const override {
    ConnectorHealth h;
    h.healthy = true;
    h.detail = "ok";
    return h;
  }

  void Put(v1::Opportunity opp) {
    absl::MutexLock lock(&mu_);
    rows_[opp.id()] = std::move(opp);
  }
  void Remove(const std::string& id) {
    absl::MutexLock lock(&mu_);
    rows_.erase(id);
  }
  void FailFetch(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fetch_error_ = std::move(s);
  }
  void FailSync(absl::Status s) {
    absl::MutexLock lock(&mu_);
    sync_error_ = std::move(s);
  }
  std::vector<absl::Time> sinces() {
    absl::MutexLock lock(&mu_);
    return sinces_;
  }

  std::atomic<int> fetches{0};
  std::atomic<int> syncs{0};

 private:
  absl::Mutex mu_;
  std::map<std::string, v1::Opportunity> rows_ ABSL_GUARDED_BY(mu_);
  absl::Status fetch_error_ ABSL_GUARDED_BY(mu_);
  absl::Status sync_error_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> sinces_ ABSL_GUARDED_BY(mu_);
};

class SourceTest : public ::testing::Test {
 protected:
  void Make(SourceOptions options = {}) {
    options.background_sync = false;
    // Freshness follows the source's clock, not the lookup's as_of: tests move time by
    // advancing this offset.
    options.clock = [this] { return absl::Now() + absl::Nanoseconds(offset_ns_.load()); };
    auto c = std::make_unique<TableConnector>();
    table_ = c.get();
    table_->Put(Opp("a", 1000));
    table_->Put(Opp("b", 2000));
    source_ = OpportunitySource::Create(std::move(c), options);
  }
  void Advance(absl::Duration d) { offset_ns_ += absl::ToInt64Nanoseconds(d); }
  std::atomic<int64_t> offset_ns_{0};
  TableConnector* table_ = nullptr;
  std::unique_ptr<OpportunitySource> source_;
};

TEST_F(SourceTest, SyncFillsCacheAndHitsDoNotCallTheCrm) {
  Make();
  ASSERT_TRUE(source_->SyncOnce().ok());
  EXPECT_EQ(source_->size(), 2u);
  EXPECT_EQ(source_->connector_type(), "table");
  const absl::Time now = absl::Now();
  absl::StatusOr<Lookup> got = source_->Get("b", now);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->opportunity->name(), "Deal b");
  EXPECT_EQ(got->freshness.source(), "table");
  EXPECT_FALSE(got->freshness.stale());
  EXPECT_LT(got->freshness.age().seconds(), 5);
  EXPECT_LE(got->freshness.fetched_at().seconds(), absl::ToUnixSeconds(now));
  EXPECT_EQ(table_->fetches.load(), 0);
}

TEST_F(SourceTest, MissFetchesOnceThenCaches) {
  Make();
  absl::StatusOr<Lookup> first = source_->Get("a", absl::Now());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->opportunity->id(), "a");
  EXPECT_FALSE(first->freshness.stale());
  absl::StatusOr<Lookup> second = source_->Get("a", absl::Now());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->opportunity.get(), first->opportunity.get());  // same shared copy
  EXPECT_EQ(table_->fetches.load(), 1);
}

TEST_F(SourceTest, UnknownIdIsNotFoundNamingTheCall) {
  Make();
  absl::StatusOr<Lookup> got = source_->Get("zzz", absl::Now());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), "table: GET /deals/zzz: 404 Not Found");
}

TEST_F(SourceTest, SyncUsesTheHighWaterMark) {
  Make();
  ASSERT_TRUE(source_->SyncOnce().ok());
  table_->Put(Opp("c", 3000));
  ASSERT_TRUE(source_->SyncOnce().ok());
  ASSERT_TRUE(source_->SyncOnce().ok());
  std::vector<absl::Time> sinces = table_->sinces();
  ASSERT_EQ(sinces.size(), 3u);
  EXPECT_EQ(sinces[0], absl::InfinitePast());
  EXPECT_EQ(sinces[1], At(2000));
  EXPECT_EQ(sinces[2], At(3000));
  EXPECT_EQ(source_->size(), 3u);
}

TEST_F(SourceTest, CrmDownServesStaleDataWithReason) {
  SourceOptions o;
  o.stale_after = absl::Minutes(5);
  o.refresh_after = absl::Hours(1);
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  const std::string error = "table: GET /deals?since=...: 503 Service Unavailable";
  table_->FailSync(absl::UnavailableError(error));
  absl::Status sync = source_->SyncOnce();
  EXPECT_EQ(sync.code(), absl::StatusCode::kUnavailable);

  absl::StatusOr<Lookup> fresh = source_->Get("a", absl::Now());
  ASSERT_TRUE(fresh.ok());
  EXPECT_FALSE(fresh->freshness.stale());
  Advance(absl::Minutes(10));
  absl::StatusOr<Lookup> later = source_->Get("a", absl::Now());
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(later->freshness.stale());
  EXPECT_EQ(later->freshness.stale_reason(), error);
  EXPECT_GE(later->freshness.age().seconds(), 599);
  EXPECT_EQ(later->opportunity->id(), "a");

  ConnectorHealth h = source_->Health();
  EXPECT_FALSE(h.healthy);
  EXPECT_EQ(h.detail, "last sync failed: " + error);

  // Recovery clears the reason.
  table_->FailSync(absl::OkStatus());
  ASSERT_TRUE(source_->SyncOnce().ok());
  EXPECT_TRUE(source_->Health().healthy);
  EXPECT_FALSE(source_->Get("a", absl::Now())->freshness.stale());
}

TEST_F(SourceTest, NoDataAndCrmDownIsTheCrmError) {
  Make();
  table_->FailFetch(absl::UnavailableError("table: GET /deals/a: connection refused"));
  absl::StatusOr<Lookup> got = source_->Get("a", absl::Now());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got.status().message(), "table: GET /deals/a: connection refused");
  EXPECT_EQ(source_->size(), 0u);
}

TEST_F(SourceTest, OldEntriesRefreshInTheBackground) {
  SourceOptions o;
  o.refresh_after = absl::Seconds(30);
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  table_->Put(Opp("a", 5000, "renamed in CRM"));
  // Answered from the cache immediately; the refresh happens behind it.
  Advance(absl::Minutes(1));
  absl::StatusOr<Lookup> got = source_->Get("a", absl::Now());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->opportunity->name(), "Deal a");
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (source_->Get("a", absl::Now())->opportunity->name() != "renamed in CRM" &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(source_->Get("a", absl::Now())->opportunity->name(), "renamed in CRM");
  EXPECT_EQ(table_->fetches.load(), 1);
}

TEST_F(SourceTest, SyncedUpdateIsServedEvenWhenTheOldParseIsCached) {
  Make();
  ASSERT_TRUE(source_->SyncOnce().ok());
  auto before = source_->Get("a", absl::Now());
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->opportunity->name(), "Deal a");  // now parsed and in the LRU
  table_->Put(Opp("a", 9000, "renamed in CRM"));
  ASSERT_TRUE(source_->SyncOnce().ok());
  auto after = source_->Get("a", absl::Now());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->opportunity->name(), "renamed in CRM");
  EXPECT_EQ(after->opportunity->updated_at().seconds(), 9000);
  // The copy handed out before is untouched (callers may still be rendering it).
  EXPECT_EQ(before->opportunity->name(), "Deal a");
}

TEST_F(SourceTest, ParsedCacheIsBoundedAndEvictedEntriesReparseIdentically) {
  SourceOptions o;
  o.parsed_cache_entries = 2;
  Make(o);
  for (int i = 0; i < 50; ++i) {
    v1::Opportunity opp = Opp(absl::StrCat("d", i), 100 + i);
    opp.set_amount(1000.5 * i);
    opp.add_contacts()->set_name(absl::StrCat("Contact ", i));
    table_->Put(opp);
  }
  ASSERT_TRUE(source_->SyncOnce().ok());
  std::map<std::string, std::string> first;
  std::shared_ptr<const v1::Opportunity> d0_first;  // held, so its address is not reused
  for (int i = 0; i < 50; ++i) {
    const std::string id = absl::StrCat("d", i);
    auto got = source_->Get(id, absl::Now());
    ASSERT_TRUE(got.ok()) << id;
    EXPECT_EQ(got->opportunity->id(), id);
    EXPECT_EQ(got->opportunity->amount(), 1000.5 * i);
    first[id] = got->opportunity->SerializeAsString();
    if (i == 0) d0_first = got->opportunity;
  }
  // A hit in the LRU hands out the same parsed message...
  auto x1 = source_->Get("d49", absl::Now());
  auto x2 = source_->Get("d49", absl::Now());
  ASSERT_TRUE(x1.ok() && x2.ok());
  EXPECT_EQ(x1->opportunity.get(), x2->opportunity.get());
  // ...and ids evicted long ago parse again to identical data.
  for (int i = 0; i < 50; i += 7) {
    const std::string id = absl::StrCat("d", i);
    auto again = source_->Get(id, absl::Now());
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->opportunity->SerializeAsString(), first[id]) << id;
  }
  // d0 left the 2-entry LRU long ago: a new parse, equal to the first.
  auto evicted = source_->Get("d0", absl::Now());
  ASSERT_TRUE(evicted.ok());
  EXPECT_NE(evicted->opportunity.get(), d0_first.get());
  EXPECT_EQ(evicted->opportunity->SerializeAsString(), d0_first->SerializeAsString());
  EXPECT_EQ(table_->fetches.load(), 0);  // all from the cache, none from the CRM
}

TEST_F(SourceTest, WithoutParsedCacheEveryLookupParsesTheBytes) {
  SourceOptions o;
  o.parsed_cache_entries = 0;
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  auto a1 = source_->Get("a", absl::Now());
  auto a2 = source_->Get("a", absl::Now());
  ASSERT_TRUE(a1.ok() && a2.ok());
  EXPECT_NE(a1->opportunity.get(), a2->opportunity.get());
  EXPECT_EQ(a1->opportunity->SerializeAsString(), a2->opportunity->SerializeAsString());
  EXPECT_EQ(a2->opportunity->name(), "Deal a");
}

TEST_F(SourceTest, RefreshedUpdateReplacesTheParsedCopy) {
  SourceOptions o;
  o.refresh_after = absl::Seconds(30);
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  auto old = source_->Get("a", absl::Now());  // parsed, now in the LRU
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->opportunity->name(), "Deal a");
  v1::Opportunity renamed = Opp("a", 1000, "renamed, same updated_at");
  renamed.set_amount(42);
  table_->Put(renamed);
  // An old-looking lookup schedules the background refresh; wait until it has stored.
  Advance(absl::Minutes(1));
  ASSERT_TRUE(source_->Get("a", absl::Now()).ok());
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  absl::StatusOr<Lookup> got = source_->Get("a", absl::Now());
  while (got.ok() && got->opportunity->name() == "Deal a" && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(2));
    got = source_->Get("a", absl::Now());
  }
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->opportunity->SerializeAsString(), renamed.SerializeAsString());
  EXPECT_EQ(table_->fetches.load(), 1);
}

TEST_F(SourceTest, DeletedInCrmIsNotServedFromTheParsedCopy) {
  SourceOptions o;
  o.refresh_after = absl::Seconds(30);
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  ASSERT_EQ(source_->Get("a", absl::Now())->opportunity->name(), "Deal a");  // in the LRU
  table_->Remove("a");
  Advance(absl::Minutes(1));
  ASSERT_TRUE(source_->Get("a", absl::Now()).ok());  // schedules refresh
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (source_->size() != 1 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(2));
  ASSERT_EQ(source_->size(), 1u);  // the refresh's NOT_FOUND dropped it
  EXPECT_EQ(source_->Get("a", absl::Now()).status().code(), absl::StatusCode::kNotFound);
  // Created again in the CRM: the miss fetches the new record, not the old parse.
  table_->Put(Opp("a", 7000, "re-created"));
  absl::StatusOr<Lookup> again = source_->Get("a", absl::Now());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->opportunity->name(), "re-created");
  EXPECT_EQ(source_->Get("a", absl::Now())->opportunity->name(), "re-created");
}

TEST_F(SourceTest, CachedBytesThatDoNotParseAreRefetched) {
  // Invalid UTF-8 in a proto3 string serializes (with a logged error) but does not parse
  // back: the one way to get cached bytes that fail to parse.
  auto corrupt = std::make_shared<std::atomic<bool>>(true);
  SourceOptions o;
  o.normalize = [corrupt](v1::Opportunity* opp) {
    if (corrupt->load()) opp->set_name("bad \xff");
  };
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  ASSERT_EQ(source_->size(), 2u);
  corrupt->store(false);
  absl::StatusOr<Lookup> got = source_->Get("a", absl::Now());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->opportunity->name(), "Deal a");
  EXPECT_EQ(table_->fetches.load(), 1);  // refetched through the connector
  // The refetched copy replaced the bad bytes: no second fetch.
  EXPECT_EQ(source_->Get("a", absl::Now())->opportunity->name(), "Deal a");
  EXPECT_EQ(table_->fetches.load(), 1);
  // With the CRM down, an entry that does not parse is answered with the CRM's error.
  table_->FailFetch(absl::UnavailableError("table: GET /deals/b: connection refused"));
  EXPECT_EQ(source_->Get("b", absl::Now()).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(SourceTest, ConcurrentLookupsNeverSeeAnOlderParseThanTheLastSync) {
  SourceOptions o;
  o.parsed_cache_entries = 4;  // far fewer than the ids: constant eviction and re-parsing
  Make(o);
  constexpr int kIds = 16;
  for (int i = 0; i < kIds; ++i) table_->Put(Opp(absl::StrCat("p", i), 10000));
  ASSERT_TRUE(source_->SyncOnce().ok());
  std::atomic<int> synced_pass{0};  // every id has updated_at >= 10000 + this
  std::atomic<bool> done{false};
  std::atomic<int> stale{0};
  std::atomic<int64_t> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      for (int i = t; !done.load(); i += 3) {
        const int min_pass = synced_pass.load();
        absl::StatusOr<Lookup> got = source_->Get(absl::StrCat("p", i % kIds), absl::Now());
        if (!got.ok() || got->opportunity->updated_at().seconds() < 10000 + min_pass) ++stale;
        ++lookups;
      }
    });
  }
  for (int pass = 1; pass <= 30; ++pass) {
    for (int i = 0; i < kIds; ++i) table_->Put(Opp(absl::StrCat("p", i), 10000 + pass));
    ASSERT_TRUE(source_->SyncOnce().ok());
    synced_pass.store(pass);
    absl::SleepFor(absl::Milliseconds(1));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(stale.load(), 0);
  EXPECT_GT(lookups.load(), 30);
  EXPECT_EQ(source_->Get("p3", absl::Now())->opportunity->updated_at().seconds(), 10030);
  EXPECT_EQ(table_->fetches.load(), 0);
}

TEST_F(SourceTest, NormalizerRunsBeforeCaching) {
  SourceOptions o;
  o.normalize = [](v1::Opportunity* opp) { opp->set_source_system("normalized"); };
  Make(o);
  ASSERT_TRUE(source_->SyncOnce().ok());
  EXPECT_EQ(source_->Get("a", absl::Now())->opportunity->source_system(), "normalized");
  table_->Put(Opp("m", 10));
  EXPECT_EQ(source_->Get("m", absl::Now())->opportunity->source_system(), "normalized");
}

TEST_F(SourceTest, ConcurrentGetsDuringSync) {
  Make();
  for (int i = 0; i < 3000; ++i) table_->Put(Opp(absl::StrCat("x", i), 100 + i));
  ASSERT_TRUE(source_->SyncOnce().ok());
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::atomic<int64_t> lookups{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      int i = t;
      while (!done.load()) {
        absl::StatusOr<Lookup> got = source_->Get(absl::StrCat("x", i % 3000), absl::Now());
        if (!got.ok() || got->opportunity->id() != absl::StrCat("x", i % 3000)) ++failures;
        ++lookups;
        i += 7;
      }
    });
  }
  // The readers must really run while syncs replace entries: on a loaded machine a thread
  // may not be scheduled for a while, so wait for them to start, then keep syncing (at
  // least five passes) until they have done lookups during the passes.
  while (lookups.load() == 0) std::this_thread::yield();
  const int64_t before_passes = lookups.load();
  for (int pass = 0; pass < 5 || (lookups.load() - before_passes < 300 && pass < 500); ++pass) {
    for (int i = 0; i < 3000; i += 3) table_->Put(Opp(absl::StrCat("x", i), 10000 + pass));
    ASSERT_TRUE(source_->SyncOnce().ok());
  }
  const int64_t during_passes = lookups.load() - before_passes;
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GE(during_passes, 300);
  EXPECT_EQ(source_->size(), 3002u);
  EXPECT_EQ(table_->fetches.load(), 0);
}

TEST(SourceBackgroundTest, StartSyncsRepeatedlyAndStopIsIdempotent) {
  auto c = std::make_unique<TableConnector>();
  TableConnector* table = c.get();
  table->Put(Opp("a", 1));
  SourceOptions o;
  o.sync_interval = absl::Milliseconds(10);
  auto source = OpportunitySource::Create(std::move(c), o);
  source->Start();
  source->Start();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (table->syncs.load() < 3 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(2));
  source->Stop();
  source->Stop();
  const int syncs = table->syncs.load();
  EXPECT_GE(syncs, 3);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(table->syncs.load(), syncs);  // really stopped
  EXPECT_EQ(source->size(), 1u);
}

TEST(SourceWithFileConnectorTest, ServesTheFile) {
  connectors::ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  ctx.base_dir = std::string(DEALCOACH_SOURCE_DIR) + "/connectors/file/testdata";
  auto c = connectors::CreateConnector(YAML::Load("{type: file, file: {path: opportunities.json}}"),
                                       ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(*std::move(c), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  EXPECT_EQ(source->size(), 2u);
  absl::StatusOr<Lookup> got = source->Get("opp-1", absl::Now());
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->opportunity->account().name(), "Acme");
  EXPECT_EQ(got->freshness.source(), "file");
  EXPECT_EQ(source->Get("missing", absl::Now()).status().code(), absl::StatusCode::kNotFound);
}

TEST(SourceWithFileConnectorTest, ReconcileEvictsDealsRemovedFromTheFile) {
  char tmpl[] = "/tmp/dealcoach_reconcile_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/deals.json";
  auto write = [&](const std::string& json) {
    const std::string tmp = path + ".tmp";
    std::ofstream(tmp, std::ios::trunc) << json;
    std::rename(tmp.c_str(), path.c_str());
  };
  write(R"([{"id": "keep", "name": "Keep"}, {"id": "gone", "name": "Gone"}])");
  connectors::ConnectorContext ctx;
  ctx.base_dir = tmpl;
  auto c = connectors::CreateConnector(YAML::Load("{type: file, file: {path: deals.json}}"), ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(*std::move(c), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  ASSERT_EQ(source->size(), 2u);
  absl::SleepFor(absl::Milliseconds(20));  // a distinct mtime
  write(R"([{"id": "keep", "name": "Keep"}])");
  ASSERT_TRUE(source->ReconcileOnce().ok());
  EXPECT_EQ(source->size(), 1u);
  EXPECT_EQ(source->Status().last_reconcile_evicted, 1);
  EXPECT_EQ(source->Get("gone").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(source->Get("keep").ok());
  std::remove(path.c_str());
  rmdir(tmpl);
}

TEST(SourceWithoutListIdsTest, ReconcileIsUnimplementedAndStatusSaysSo) {
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(std::make_unique<TableConnector>(), o);
  EXPECT_EQ(source->ReconcileOnce().code(), absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(source->Status().reconcile_supported);
}

}  // namespace
}  // namespace dealcoach::source
