// The `store:` config section.
#include "sidecar/store/store_config.h"

#include "gtest/gtest.h"

namespace dealcoach::store {
namespace {

TEST(StoreConfig, DefaultsAreSqliteUnderTheConfigDirectory) {
  absl::StatusOr<StoreConfig> c = ParseStoreConfig(YAML::Node(), "/etc/dealcoach");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->enabled);
  EXPECT_EQ(c->options.backend, Backend::kSqlite);
  EXPECT_EQ(c->options.data_dir, "/etc/dealcoach/data");
  EXPECT_TRUE(c->options.migrate);
}

TEST(StoreConfig, EveryKeyIsRead) {
  YAML::Node n = YAML::Load(R"(
backend: postgres
sqlite_cache_mib: 64
postgres: {conninfo: "host=db", connect_timeout: 2s, statement_timeout: 10s}
migrate: false
snapshots: {keep: 3, max_age: 48h, batch_rows: 100}
decisions: {queue_size: 7, batch_size: 2, flush_interval: 1s, retention: 24h,
            masked_fields: [caller, deal_id], mask_salt: s}
)");
  absl::StatusOr<StoreConfig> c = ParseStoreConfig(n, "/x");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->options.backend, Backend::kPostgres);
  EXPECT_EQ(c->options.postgres_conninfo, "host=db");
  EXPECT_EQ(c->options.connect_timeout, absl::Seconds(2));
  EXPECT_EQ(c->options.statement_timeout, absl::Seconds(10));
  EXPECT_FALSE(c->options.migrate);
  EXPECT_EQ(c->options.sqlite_cache_mib, 64);
  EXPECT_EQ(c->options.keep_snapshots, 3);
  EXPECT_EQ(c->options.snapshot_max_age, absl::Hours(48));
  EXPECT_EQ(c->options.snapshot_batch_rows, 100);
  EXPECT_EQ(c->decisions.queue_capacity, 7u);
  EXPECT_EQ(c->decisions.batch_size, 2u);
  EXPECT_EQ(c->decisions.retention, absl::Hours(24));
  EXPECT_EQ(c->decisions.masked_fields, (std::set<std::string>{"caller", "deal_id"}));
  EXPECT_EQ(c->decisions.mask_salt, "s");
}

TEST(StoreConfig, MistakesAreErrorsNamingTheKey) {
  struct Case {
    const char* yaml;
    const char* want;
  } cases[] = {
      {"backend: mysql", "store.backend"},
      {"backend: postgres", "store.postgres.conninfo"},
      {"data_dri: x", "store.data_dri"},
      {"snapshots: {keep: 0}", "store.snapshots.keep"},
      {"decisions: {masked_fields: [latency]}", "store.decisions.masked_fields"},
      {"busy_timeout: soon", "store.busy_timeout"},
      {"sqlite_cache_mib: 100000", "store.sqlite_cache_mib"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<StoreConfig> got = ParseStoreConfig(YAML::Load(c.yaml), "/x");
    ASSERT_FALSE(got.ok()) << c.yaml;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(got.status().message().find(c.want), std::string::npos) << got.status();
  }
  absl::StatusOr<StoreConfig> none = ParseStoreConfig(YAML::Load("backend: none"), "/x");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->enabled);
}

}  // namespace
}  // namespace dealcoach::store
