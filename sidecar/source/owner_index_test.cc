// The cache's owner index and generation (opportunity_source.h): a scoped scan
// (ForEachOwnedBy) visits exactly the deals a full ForEach filtered by owner visits, in the
// same order, on the shipped samples and on a generated set whose owners move, whose deals
// are refetched and evicted; and every store or eviction changes generation().
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "connectors/registry.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::source {
namespace {

using connectors::Connector;
using connectors::ConnectorHealth;
using connectors::SyncResult;

// A real Connector over an in-memory table that can list its ids (so reconcile evicts).
class ListingTable : public Connector {
 public:
  absl::string_view type() const override { return "listing-table"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id, absl::Time) override {
    absl::MutexLock lock(&mu_);
    auto it = rows_.find(std::string(id));
    if (it == rows_.end()) return absl::NotFoundError(absl::StrCat("no deal ", id));
    return it->second;
  }
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    std::vector<v1::Opportunity> out;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [id, opp] : rows_) {
        if (absl::FromUnixSeconds(opp.updated_at().seconds()) >= since) out.push_back(opp);
      }
    }
    SyncResult r;
    r.high_water_mark = since;
    for (v1::Opportunity& opp : out) {
      r.high_water_mark =
          std::max(r.high_water_mark, absl::FromUnixSeconds(opp.updated_at().seconds()));
      if (absl::Status s = sink(std::move(opp)); !s.ok()) return s;
      ++r.count;
    }
    return r;
  }
  absl::StatusOr<std::vector<std::string>> ListIds(absl::Time) override {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    for (const auto& [id, opp] : rows_) ids.push_back(id);
    return ids;
  }
  ConnectorHealth Health() const override {
    ConnectorHealth h;
    h.healthy = true;
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

 private:
  absl::Mutex mu_;
  std::map<std::string, v1::Opportunity> rows_ ABSL_GUARDED_BY(mu_);
};

// The ids ForEachOwnedBy visits, in order.
std::vector<std::string> Indexed(OpportunitySource& source, OwnerField field,
                                 const std::string& value) {
  std::vector<std::string> ids;
  absl::Status s = source.ForEachOwnedBy(field, value, [&](const v1::Opportunity& o) {
    EXPECT_EQ(OwnerFieldOf(o.owner(), field), value) << o.id();
    ids.push_back(o.id());
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
  return ids;
}

// For every owner value in the cache (and one nobody has), the index's answer equals a
// full scan filtered by that value; returns how many values were checked.
int ExpectIndexMatchesFullScan(OpportunitySource& source) {
  std::map<std::pair<int, std::string>, std::vector<std::string>> scanned;
  std::set<std::pair<int, std::string>> values;
  EXPECT_TRUE(
      source
          .ForEach([&](const v1::Opportunity& o) {
            for (OwnerField f : {OwnerField::kId, OwnerField::kManagerId, OwnerField::kTeam}) {
              const std::string& v = OwnerFieldOf(o.owner(), f);
              if (v.empty()) continue;
              scanned[{static_cast<int>(f), v}].push_back(o.id());
              values.insert({static_cast<int>(f), v});
            }
            return absl::OkStatus();
          })
          .ok());
  int checked = 0;
  for (const auto& [key, ids] : scanned) {
    EXPECT_EQ(Indexed(source, static_cast<OwnerField>(key.first), key.second), ids)
        << "field " << key.first << " value " << key.second;
    ++checked;
  }
  for (OwnerField f : {OwnerField::kId, OwnerField::kManagerId, OwnerField::kTeam}) {
    EXPECT_TRUE(Indexed(source, f, "nobody-has-this").empty());
  }
  return checked;
}

TEST(OwnerIndexTest, ScopedScansOfTheShippedSamplesEqualAFullScan) {
  connectors::ConnectorContext ctx;
  ctx.base_dir = std::string(DEALCOACH_SOURCE_DIR) + "/config/samples";
  auto c = connectors::CreateConnector(YAML::Load("{type: file, file: {path: opportunities.json}}"),
                                       ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(*std::move(c), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  ASSERT_GT(source->size(), 20u);
  // The samples have several reps under two managers: every one of them is checked.
  EXPECT_GE(ExpectIndexMatchesFullScan(*source), 8);
  EXPECT_FALSE(Indexed(*source, OwnerField::kManagerId, "005000000000001AAA").empty());
}

TEST(OwnerIndexTest, GeneratedDealsWhoseOwnersMoveAndLeaveStayIndexedExactly) {
  auto table = std::make_unique<ListingTable>();
  ListingTable* rows = table.get();
  SourceOptions o;
  o.background_sync = false;
  o.parsed_cache_entries = 16;
  auto source = OpportunitySource::Create(std::move(table), o);
  std::mt19937 rng(12);
  // Small pools so that values collide; "" means not set (never indexed).
  const std::vector<std::string> reps = {"r1", "r2", "r3", "r4", "r5", "r6", ""};
  const std::vector<std::string> managers = {"m1", "m2", "m3", ""};
  const std::vector<std::string> teams = {"East", "West", ""};
  int64_t updated = 1000;
  auto put = [&](int n) {
    v1::Opportunity opp;
    opp.set_id(absl::StrCat("deal-", n));
    opp.mutable_owner()->set_id(reps[rng() % reps.size()]);
    opp.mutable_owner()->set_manager_id(managers[rng() % managers.size()]);
    opp.mutable_owner()->set_team(teams[rng() % teams.size()]);
    opp.set_amount(static_cast<double>(rng() % 1000));
    opp.mutable_updated_at()->set_seconds(++updated);
    rows->Put(std::move(opp));
  };
  for (int n = 0; n < 600; ++n) put(n);
  ASSERT_TRUE(source->SyncOnce().ok());
  ASSERT_EQ(source->size(), 600u);
  EXPECT_GE(ExpectIndexMatchesFullScan(*source), 10);
  for (int round = 0; round < 5; ++round) {
    const std::optional<uint64_t> before = source->generation();
    ASSERT_TRUE(before.has_value());
    // Owners move (a sync), deals are refetched on a miss-like path, some leave the CRM
    // and are evicted by a reconcile, and new ones arrive.
    for (int i = 0; i < 120; ++i) put(static_cast<int>(rng() % 600));
    for (int i = 0; i < 40; ++i) rows->Remove(absl::StrCat("deal-", rng() % 600));
    for (int i = 0; i < 20; ++i) put(600 + round * 20 + i);
    ASSERT_TRUE(source->SyncOnce().ok());
    const std::optional<uint64_t> synced = source->generation();
    EXPECT_GT(*synced, *before);
    ASSERT_TRUE(source->ReconcileOnce().ok());
    EXPECT_GT(*source->generation(), *synced);  // something was evicted
    EXPECT_GE(ExpectIndexMatchesFullScan(*source), 10) << "round " << round;
  }
  // A reconcile that evicts nothing leaves the generation alone.
  const uint64_t settled = *source->generation();
  ASSERT_TRUE(source->ReconcileOnce().ok());
  EXPECT_EQ(*source->generation(), settled);
  // So does a sync that re-delivers a deal unchanged (this table, like HubSpot's search,
  // delivers from the high-water mark inclusive: the newest deal comes again every pass).
  ASSERT_TRUE(source->SyncOnce().ok());
  ASSERT_TRUE(source->SyncOnce().ok());
  EXPECT_EQ(*source->generation(), settled);
  // A deal whose bytes change moves it on.
  put(5);
  ASSERT_TRUE(source->SyncOnce().ok());
  EXPECT_GT(*source->generation(), settled);
}

TEST(OwnerIndexTest, AScanStoppedAtItsFirstDealStopsAndErrorsPassThrough) {
  auto table = std::make_unique<ListingTable>();
  ListingTable* rows = table.get();
  for (int n = 0; n < 300; ++n) {
    v1::Opportunity opp;
    opp.set_id(absl::StrFormat("d%03d", n));
    opp.mutable_owner()->set_id("rep");
    rows->Put(std::move(opp));
  }
  SourceOptions o;
  o.background_sync = false;
  auto source = OpportunitySource::Create(std::move(table), o);
  ASSERT_TRUE(source->SyncOnce().ok());
  int visited = 0;
  absl::Status s = source->ForEachOwnedBy(OwnerField::kId, "rep", [&](const v1::Opportunity& d) {
    ++visited;
    EXPECT_EQ(d.id(), "d000");  // id order
    return absl::CancelledError("found");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(visited, 1);
  EXPECT_EQ(Indexed(*source, OwnerField::kId, "rep").size(), 300u);
}

}  // namespace
}  // namespace dealcoach::source
