// The cache tells the truth: deleted deals leave it within the documented time (against
// the wire-format fake Salesforce), freshness follows the wall clock whatever the
// request's as_of, a cache-miss fetch never overwrites newer bytes from a sync, and a
// sync stuck in the CRM does not hold shutdown.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "connectors/salesforce/salesforce_connector.h"
#include "connectors/salesforce/testing/fake_salesforce.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::source {
namespace {

using connectors::salesforce::FakeSalesforce;
using connectors::salesforce::SalesforceConnector;
using connectors::salesforce::SalesforceOptions;

SourceOptions NoBackgroundSync() {
  SourceOptions o;
  o.background_sync = false;
  return o;
}

class SalesforceCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(sf_.Start().ok());
    for (int i = 1; i <= 3; ++i) {
      sf_.Upsert(FakeSalesforce::MakeOpportunity(i, "2026-11-18T10:00:00.000+0000"));
    }
  }
  std::unique_ptr<connectors::Connector> Connect() {
    SalesforceOptions o;
    o.login_url = sf_.base_url();
    o.client_id = FakeSalesforce::kClientId;
    o.client_secret = FakeSalesforce::kClientSecret;
    o.mapping = *connectors::OpportunityMapping::Parse(connectors::salesforce::kDefaultMappingYaml,
                                                       "default_mapping.yaml");
    o.resilience.retry.initial_backoff = absl::Milliseconds(5);
    o.resilience.rate_limit.requests_per_second = 0;
    o.resilience.request_timeout = absl::Seconds(5);
    auto c = SalesforceConnector::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::unique_ptr<connectors::Connector>(*std::move(c)) : nullptr;
  }
  int QueryRequests() { return sf_.server().Count("GET", FakeSalesforce::QueryPath()); }

  FakeSalesforce sf_;
};

TEST_F(SalesforceCacheTest, DeletedDealLeavesTheCacheWithinSyncPlusReconcileInterval) {
  SourceOptions o;
  o.sync_interval = absl::Milliseconds(100);
  o.reconcile_interval = absl::Milliseconds(300);
  auto source = OpportunitySource::Create(Connect(), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  ASSERT_EQ(source->size(), 3u);
  source->Start();

  const std::string gone = FakeSalesforce::OpportunityId(2);
  sf_.Delete(gone);
  const absl::Time deleted_at = absl::Now();
  // Documented bound (docs/connectors.md): sync_interval + reconcile_interval, plus the
  // time one pass takes.
  const absl::Duration bound = o.sync_interval + o.reconcile_interval + absl::Seconds(2);
  while (source->size() != 2 && absl::Now() - deleted_at < bound) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration took = absl::Now() - deleted_at;
  ASSERT_EQ(source->size(), 2u) << "still cached after " << took;
  EXPECT_LE(took, bound);
  std::printf("deleted deal evicted after %s\n", absl::FormatDuration(took).c_str());

  SourceStatus st = source->Status();
  EXPECT_TRUE(st.reconcile_supported);
  EXPECT_NE(st.last_reconcile, absl::InfinitePast());
  // Not served from the cache any more: the miss asks the CRM, which says NotFound.
  EXPECT_EQ(source->Get(gone).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(source->Get(FakeSalesforce::OpportunityId(1)).ok());
  source->Stop();
}

TEST_F(SalesforceCacheTest, ReconcileEvictsOnlyWhatTheCrmNoLongerHas) {
  auto source = OpportunitySource::Create(Connect(), NoBackgroundSync());
  ASSERT_TRUE(source->SyncOnce().ok());
  sf_.Delete(FakeSalesforce::OpportunityId(3));
  ASSERT_TRUE(source->ReconcileOnce().ok());
  EXPECT_EQ(source->size(), 2u);
  EXPECT_EQ(source->Status().last_reconcile_evicted, 1);
  ASSERT_TRUE(source->ReconcileOnce().ok());
  EXPECT_EQ(source->Status().last_reconcile_evicted, 0);
  EXPECT_EQ(source->size(), 2u);
}

TEST_F(SalesforceCacheTest, AsOfInThePastOrFutureLeavesFreshnessAlone) {
  std::atomic<int64_t> offset_ns{0};
  SourceOptions o;
  o.background_sync = false;
  o.stale_after = absl::Minutes(5);
  o.refresh_after = absl::Minutes(1);
  o.clock = [&] { return absl::Now() + absl::Nanoseconds(offset_ns.load()); };
  auto source = OpportunitySource::Create(Connect(), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  const std::string id = FakeSalesforce::OpportunityId(1);
  const int queries = QueryRequests();

  // A far-future as_of: no refresh storm, not stale.
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Lookup> got = source->Get(id, absl::Now() + absl::Hours(24 * 365));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->freshness.stale());
  }
  absl::SleepFor(absl::Milliseconds(200));  // a scheduled refresh would have run by now
  EXPECT_EQ(QueryRequests(), queries);

  // Ten minutes later by the wall clock: a past as_of does not hide staleness.
  offset_ns = absl::ToInt64Nanoseconds(absl::Minutes(10));
  absl::StatusOr<Lookup> old = source->Get(id, absl::FromUnixSeconds(1577836800));  // 2020
  ASSERT_TRUE(old.ok());
  EXPECT_TRUE(old->freshness.stale());
  EXPECT_GE(old->freshness.age().seconds(), 599);
}

// A connector whose FetchOpportunity blocks until released and then answers with the
// version it read when the call started (as a CRM read that raced a write would).
class RacingConnector : public connectors::Connector {
 public:
  absl::string_view type() const override { return "racing"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id, absl::Time) override {
    v1::Opportunity old;
    old.set_id(std::string(id));
    old.set_name("old, read before the change");
    fetch_started.Notify();
    release_fetch.WaitForNotification();
    return old;
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    if (!deliver_new.load()) return connectors::SyncResult{};
    v1::Opportunity fresh;
    fresh.set_id("x");
    fresh.set_name("new, from the sync");
    if (absl::Status s = sink(fresh); !s.ok()) return s;
    return connectors::SyncResult{1, absl::Now()};
  }
  connectors::ConnectorHealth Health() const override {
    connectors::ConnectorHealth h;
    h.healthy = true;
    h.detail = "ok";
    h.last_success = absl::Now();
    return h;
  }

  absl::Notification fetch_started;
  absl::Notification release_fetch;
  std::atomic<bool> deliver_new{false};
};

TEST(TruthfulCacheTest, CacheMissFetchRacingASyncDoesNotOverwriteNewerBytes) {
  auto c = std::make_unique<RacingConnector>();
  RacingConnector* racing = c.get();
  auto source = OpportunitySource::Create(std::move(c), NoBackgroundSync());
  absl::StatusOr<Lookup> missed;
  std::thread lookup([&] { missed = source->Get("x"); });
  racing->fetch_started.WaitForNotification();
  racing->deliver_new = true;
  ASSERT_TRUE(source->SyncOnce().ok());  // stores the newer bytes while the fetch is out
  racing->release_fetch.Notify();
  lookup.join();
  ASSERT_TRUE(missed.ok()) << missed.status();
  EXPECT_EQ(missed->opportunity->name(), "new, from the sync");
  absl::StatusOr<Lookup> again = source->Get("x");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->opportunity->name(), "new, from the sync");
}

// A connector whose sync never returns by itself (a CRM that accepted the connection
// and went silent), until the test releases it.
class StuckConnector : public connectors::Connector {
 public:
  explicit StuckConnector(std::shared_ptr<absl::Notification> release)
      : release_(std::move(release)) {}
  absl::string_view type() const override { return "stuck"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view, absl::Time) override {
    return absl::NotFoundError("stuck: no such deal");
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time, const std::function<absl::Status(v1::Opportunity)>&) override {
    started->Notify();
    release_->WaitForNotificationWithTimeout(absl::Seconds(60));
    return absl::DeadlineExceededError("stuck: GET /deals: no response");
  }
  connectors::ConnectorHealth Health() const override {
    connectors::ConnectorHealth h;
    h.healthy = true;
    h.detail = "ok";
    h.last_success = absl::Now();
    return h;
  }

  std::shared_ptr<absl::Notification> started = std::make_shared<absl::Notification>();

 private:
  std::shared_ptr<absl::Notification> release_;
};

TEST(TruthfulCacheTest, StuckSyncDoesNotDelayShutdownPastTheTimeout) {
  auto release = std::make_shared<absl::Notification>();
  auto c = std::make_unique<StuckConnector>(release);
  std::shared_ptr<absl::Notification> started = c->started;
  SourceOptions o;
  o.stop_timeout = absl::Milliseconds(300);
  auto source = OpportunitySource::Create(std::move(c), o);
  source->Start();
  ASSERT_TRUE(started->WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time t0 = absl::Now();
  source.reset();  // Stop + destructor
  const absl::Duration took = absl::Now() - t0;
  std::printf("shutdown with a stuck sync took %s (stop_timeout 300ms)\n",
              absl::FormatDuration(took).c_str());
  EXPECT_LE(took, o.stop_timeout + absl::Milliseconds(200));
  release->Notify();  // let the detached thread finish and free the cache
  absl::SleepFor(absl::Milliseconds(50));
}

}  // namespace
}  // namespace dealcoach::source
