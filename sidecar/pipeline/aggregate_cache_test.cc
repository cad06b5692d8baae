// AggregateCache's contract: an entry answers exactly its key, the cache stays within
// its entry and byte caps (least recently used out first), an aggregate too large to
// keep is refused, a newer generation of a source drops the older ones, and an entry
// pins the compiled playbook it was computed with.
#include "sidecar/pipeline/aggregate_cache.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::pipeline {
namespace {

std::shared_ptr<const engine::CompiledPlaybook> Compile() {
  engine::LoadResult loaded =
      engine::LoadPlaybookFile(DEALCOACH_SOURCE_DIR "/config/playbooks/meddicc.yaml");
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) ADD_FAILURE() << d.DebugString();
  }
  return loaded.playbook;
}

// An aggregate of `deals` deals, each carrying `padding` bytes of text.
std::shared_ptr<const PassResults> Pass(int deals, size_t padding = 16) {
  auto pass = std::make_shared<PassResults>();
  for (int i = 0; i < deals; ++i) {
    v1::DealResult deal;
    deal.set_opportunity_id("opp-" + std::to_string(i));
    deal.set_name(std::string(padding, 'x'));
    pass->Add(std::move(deal), TopRisk{});
  }
  return pass;
}

const int kSource = 0;  // any address identifies a source

AggregateKey Key(const engine::CompiledPlaybook* playbook, uint64_t generation,
                 std::string scope = "team:t1",
                 absl::Time now = absl::FromUnixSeconds(1'700'000'000)) {
  AggregateKey key;
  key.source = &kSource;
  key.generation = generation;
  key.playbook = playbook;
  key.scope = std::move(scope);
  key.now = now;
  return key;
}

TEST(AggregateCacheTest, AnEntryAnswersExactlyItsKey) {
  auto playbook = Compile();
  auto other_playbook = Compile();
  ASSERT_NE(playbook, nullptr);
  AggregateCache cache;
  auto pass = Pass(3);
  ASSERT_TRUE(cache.Insert(Key(playbook.get(), 7), playbook, pass));

  EXPECT_EQ(cache.Find(Key(playbook.get(), 7)), pass);
  // Each part of the key changes the answer: a synced change (generation), a publish
  // (another compiled playbook), another scope or team limit, another instant.
  EXPECT_EQ(cache.Find(Key(playbook.get(), 8)), nullptr);
  EXPECT_EQ(cache.Find(Key(other_playbook.get(), 7)), nullptr);
  EXPECT_EQ(cache.Find(Key(playbook.get(), 7, "team:t2")), nullptr);
  EXPECT_EQ(cache.Find(Key(playbook.get(), 7, "team:t1", absl::FromUnixSeconds(1'700'000'060))),
            nullptr);
  AggregateKey other_source = Key(playbook.get(), 7);
  const int another = 0;
  other_source.source = &another;
  EXPECT_EQ(cache.Find(other_source), nullptr);

  const AggregateCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.misses, 5);
  EXPECT_EQ(stats.entries, 1u);
}

TEST(AggregateCacheTest, EntriesAreCappedLeastRecentlyUsedFirst) {
  auto playbook = Compile();
  AggregateCache::Options options;
  options.max_entries = 3;
  AggregateCache cache(options);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        cache.Insert(Key(playbook.get(), 1, "rep:" + std::to_string(i)), playbook, Pass(1)));
  }
  // rep:0 is used, so rep:1 is now the least recently used.
  ASSERT_NE(cache.Find(Key(playbook.get(), 1, "rep:0")), nullptr);
  ASSERT_TRUE(cache.Insert(Key(playbook.get(), 1, "rep:3"), playbook, Pass(1)));

  EXPECT_EQ(cache.stats().entries, 3u);
  EXPECT_NE(cache.Find(Key(playbook.get(), 1, "rep:0")), nullptr);
  EXPECT_EQ(cache.Find(Key(playbook.get(), 1, "rep:1")), nullptr);
  EXPECT_NE(cache.Find(Key(playbook.get(), 1, "rep:2")), nullptr);
  EXPECT_NE(cache.Find(Key(playbook.get(), 1, "rep:3")), nullptr);
}

TEST(AggregateCacheTest, BytesAreCappedAndAnAggregateTooLargeIsNotKept) {
  auto playbook = Compile();
  AggregateCache::Options options;
  options.max_bytes = 256 << 10;  // 256 KiB; an aggregate over 64 KiB is refused
  AggregateCache cache(options);

  auto small = Pass(20, 1000);  // about 20 KiB
  const size_t small_bytes = AggregateCache::BytesOf(*small);
  ASSERT_GT(small_bytes, 20'000u);
  ASSERT_LT(small_bytes, options.max_bytes / 4);
  auto large = Pass(100, 1000);  // about 100 KiB
  ASSERT_GT(AggregateCache::BytesOf(*large), options.max_bytes / 4);
  EXPECT_FALSE(cache.Insert(Key(playbook.get(), 1, "team:large"), playbook, large));
  EXPECT_EQ(cache.Find(Key(playbook.get(), 1, "team:large")), nullptr);

  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(cache.Insert(Key(playbook.get(), 1, "rep:" + std::to_string(i)), playbook, small));
    const AggregateCache::Stats stats = cache.stats();
    ASSERT_LE(stats.bytes, options.max_bytes) << "after " << i + 1 << " inserts";
  }
  const AggregateCache::Stats stats = cache.stats();
  EXPECT_EQ(stats.entries, options.max_bytes / small_bytes);
  EXPECT_EQ(stats.bytes, stats.entries * small_bytes);
  // The newest are kept.
  EXPECT_NE(cache.Find(Key(playbook.get(), 1, "rep:39")), nullptr);
  EXPECT_EQ(cache.Find(Key(playbook.get(), 1, "rep:0")), nullptr);
}

TEST(AggregateCacheTest, ANewerGenerationDropsTheOlderOnesOfTheSameSource) {
  auto playbook = Compile();
  AggregateCache cache;
  ASSERT_TRUE(cache.Insert(Key(playbook.get(), 1, "rep:a"), playbook, Pass(1)));
  ASSERT_TRUE(cache.Insert(Key(playbook.get(), 1, "rep:b"), playbook, Pass(1)));
  ASSERT_EQ(cache.stats().entries, 2u);
  ASSERT_TRUE(cache.Insert(Key(playbook.get(), 2, "rep:a"), playbook, Pass(1)));
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_NE(cache.Find(Key(playbook.get(), 2, "rep:a")), nullptr);
}

TEST(AggregateCacheTest, AnEntryPinsItsPlaybookUntilEvicted) {
  auto playbook = Compile();
  std::weak_ptr<const engine::CompiledPlaybook> watch = playbook;
  AggregateCache::Options options;
  options.max_entries = 1;
  AggregateCache cache(options);
  const engine::CompiledPlaybook* address = playbook.get();
  ASSERT_TRUE(cache.Insert(Key(address, 1), std::move(playbook), Pass(1)));
  // A publish dropped every other reference: the entry keeps the object alive, so its
  // address cannot be reused by the next compiled playbook while the key names it.
  EXPECT_FALSE(watch.expired());
  auto next = Compile();
  ASSERT_TRUE(cache.Insert(Key(next.get(), 1, "team:t2"), next, Pass(1)));
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace dealcoach::pipeline
