// PostgreSQL connector tests against a real PostgreSQL 15 server started by
// scripts/start-postgres.sh (or the one named by DEALCOACH_TEST_PG). Each test works in
// its own schema. Never skipped: if the server cannot be started, tests fail with why.
#include "connectors/postgres/postgres_connector.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "connectors/common/mapping.h"
#include "connectors/registry.h"
#include "connectors/testing/time_util.h"
#include "google/protobuf/util/time_util.h"
#include "tests/support/pg_test_server.h"

namespace dealcoach::connectors::postgres {
namespace {

using google::protobuf::util::TimeUtil;

using ::dealcoach::testing::RunPgScript;

// The shared test server's connection string (tests/support/pg_test_server.h).
std::string BaseConninfo() {
  std::string why;
  std::string conninfo = ::dealcoach::testing::PgTestConninfo(&why);
  if (conninfo.empty()) ADD_FAILURE() << "cannot start PostgreSQL for the tests: " << why;
  return conninfo;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using ::dealcoach::connectors::testing::T;

std::string Ts(const google::protobuf::Timestamp& ts) { return TimeUtil::ToString(ts); }

constexpr char kFixture[] = R"sql(
INSERT INTO accounts VALUES ('acc-1', 'Acme Corp', 'Manufacturing', 1200, 'enterprise'),
                            ('acc-2', 'Globex', NULL, NULL, NULL);
INSERT INTO contacts VALUES ('c-1', 'Erin Econ', 'CFO', 'acc-1'),
                            ('c-2', 'Tom Tech', 'IT Director', 'acc-1'),
                            ('c-3', 'Una User', NULL, 'acc-1');
INSERT INTO opportunities (id, name, account_id, owner_id, owner_name, manager_id, team,
    stage, stage_entered_at, amount, currency_code, close_date, forecast_category,
    next_step, is_closed, is_won, custom_fields, created_at, updated_at)
  VALUES ('opp-1', 'Acme - 500 seats', 'acc-1', 'u-7', 'Rita Rep', 'u-1', 'EMEA Enterprise',
    'Proposal', '2026-04-10 09:00:00+00', 125000.50, 'EUR', '2026-11-20', 'best_case',
    'Legal review', false, false,
    '{"decision_to_change": true, "budget_confirmed": "yes", "seats": 500, "score": 0.75}',
    '2026-02-01 10:00:00+00', '2026-05-03 08:15:00.123456+00');
INSERT INTO opportunity_contacts VALUES
  ('opp-1', 'c-1', '{economic_buyer}', true, true, 'positive', '2026-04-20 14:00:00+00'),
  ('opp-1', 'c-2', '{technical_buyer,coach}', false, NULL, 'neutral', NULL),
  ('opp-1', 'c-3', '{}', NULL, false, NULL, NULL);
INSERT INTO activities VALUES
  ('a-1', 'opp-1', 'call', '2026-04-01 15:00:00+00', 'Discovery call', '{c-1}', 'connected'),
  ('a-2', 'opp-1', 'meeting', '2026-04-20 14:00:00+00', 'Business case review', '{c-1,c-2}', NULL);
INSERT INTO stage_history VALUES
  ('opp-1', 'Prospecting', '2026-02-01 10:00:00+00'),
  ('opp-1', 'Qualification', '2026-03-01 10:00:00+00'),
  ('opp-1', 'Proposal', '2026-04-10 09:00:00+00');
-- The child-row triggers bumped updated_at; pin it back for the assertions.
UPDATE opportunities SET updated_at = '2026-05-03 08:15:00.123456+00' WHERE id = 'opp-1';
)sql";

class PostgresConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = BaseConninfo();
    ASSERT_FALSE(base_.empty());
    const std::string test_name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    schema_ = absl::AsciiStrToLower(absl::StrCat("t_", test_name));
    conninfo_ = absl::StrCat(base_, " options='-c search_path=", schema_, "'");
    PgSession admin(base_, {});
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    const absl::Status reset = admin.Exec(
        "reset schema",
        absl::StrCat("DROP SCHEMA IF EXISTS ", schema_, " CASCADE; CREATE SCHEMA ", schema_),
        deadline);
    ASSERT_TRUE(reset.ok()) << reset;
    PgSession session(conninfo_, {});
    const std::string schema_sql =
        ReadFile(std::string(DEALCOACH_SOURCE_DIR) + "/connectors/postgres/schema.sql");
    ASSERT_FALSE(schema_sql.empty());
    absl::Status loaded = session.Exec("schema.sql", schema_sql, deadline);
    ASSERT_TRUE(loaded.ok()) << loaded;
  }

  absl::Status Sql(const std::string& sql) {
    PgSession session(conninfo_, {});
    return session.Exec("fixture", sql, absl::Now() + absl::Seconds(30));
  }

  std::unique_ptr<PostgresConnector> Make(const std::string& extra_yaml = "") {
    setenv("DEALCOACH_PG_UNDER_TEST", conninfo_.c_str(), 1);
    YAML::Node config =
        YAML::Load(absl::StrCat("conninfo_env: DEALCOACH_PG_UNDER_TEST\n", extra_yaml));
    auto connector = PostgresConnector::Create(config, {"sidecar.yaml", ""});
    EXPECT_TRUE(connector.ok()) << connector.status();
    return connector.ok() ? std::move(*connector) : nullptr;
  }

  // Inserts n bare opportunities with updated_at one minute apart from 2026-06-01.
  void InsertOpps(int n) {
    std::string sql;
    for (int i = 1; i <= n; ++i) {
      absl::StrAppend(&sql, "INSERT INTO opportunities (id, name, stage, updated_at) VALUES ('o-",
                      i, "', 'Deal ", i, "', 'Qualification', '2026-06-01 00:0", i, ":00+00');");
    }
    ASSERT_TRUE(Sql(sql).ok());
  }

  std::string base_;
  std::string schema_;
  std::string conninfo_;
};

TEST_F(PostgresConnectorTest, SchemaLoadsTwiceAndHasTheDocumentedTables) {
  // SetUp loaded it once; loading again must be a no-op, not an error.
  PgSession session(conninfo_, {});
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  ASSERT_TRUE(
      session
          .Exec("schema.sql again",
                ReadFile(std::string(DEALCOACH_SOURCE_DIR) + "/connectors/postgres/schema.sql"),
                deadline)
          .ok());
  auto rows = session.Query("tables",
                            "SELECT string_agg(table_name, ',' ORDER BY table_name) AS t FROM "
                            "information_schema.tables WHERE table_schema = $1",
                            {schema_}, deadline);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0]["t"],
            "accounts,activities,contacts,opportunities,opportunity_contacts,stage_history");
}

TEST_F(PostgresConnectorTest, FetchByIdMapsEveryField) {
  ASSERT_TRUE(Sql(kFixture).ok());
  auto connector = Make();
  ASSERT_NE(connector, nullptr);
  auto got = connector->FetchOpportunity("opp-1", absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  const v1::Opportunity& o = *got;
  EXPECT_EQ(o.id(), "opp-1");
  EXPECT_EQ(o.name(), "Acme - 500 seats");
  EXPECT_EQ(o.account().id(), "acc-1");
  EXPECT_EQ(o.account().name(), "Acme Corp");
  EXPECT_EQ(o.account().industry(), "Manufacturing");
  EXPECT_EQ(o.account().employees(), 1200);
  EXPECT_EQ(o.account().segment(), "enterprise");
  EXPECT_EQ(o.owner().id(), "u-7");
  EXPECT_EQ(o.owner().name(), "Rita Rep");
  EXPECT_EQ(o.owner().manager_id(), "u-1");
  EXPECT_EQ(o.owner().team(), "EMEA Enterprise");
  EXPECT_EQ(o.stage(), "Proposal");
  EXPECT_EQ(Ts(o.stage_entered_at()), "2026-04-10T09:00:00Z");
  ASSERT_TRUE(o.has_amount());
  EXPECT_DOUBLE_EQ(o.amount(), 125000.50);
  EXPECT_EQ(o.currency_code(), "EUR");
  EXPECT_EQ(Ts(o.close_date()), "2026-11-20T00:00:00Z");
  EXPECT_EQ(Ts(o.created_at()), "2026-02-01T10:00:00Z");
  EXPECT_EQ(Ts(o.updated_at()), "2026-05-03T08:15:00.123456Z");
  EXPECT_EQ(o.forecast_category(), "best_case");
  EXPECT_EQ(o.next_step(), "Legal review");
  ASSERT_TRUE(o.has_is_closed());
  EXPECT_FALSE(o.is_closed());
  ASSERT_TRUE(o.has_is_won());
  EXPECT_FALSE(o.is_won());
  EXPECT_EQ(o.source_system(), "postgres");

  ASSERT_EQ(o.contacts_size(), 3);
  const v1::Contact& erin = o.contacts(0);
  EXPECT_EQ(erin.id(), "c-1");
  EXPECT_EQ(erin.name(), "Erin Econ");
  EXPECT_EQ(erin.title(), "CFO");
  ASSERT_EQ(erin.roles_size(), 1);
  EXPECT_EQ(erin.roles(0), "economic_buyer");
  EXPECT_TRUE(erin.is_primary());
  ASSERT_TRUE(erin.has_confirmed_pain());
  EXPECT_TRUE(erin.confirmed_pain());
  EXPECT_EQ(erin.sentiment(), "positive");
  EXPECT_EQ(Ts(erin.last_met_at()), "2026-04-20T14:00:00Z");
  const v1::Contact& tom = o.contacts(1);
  EXPECT_EQ(tom.id(), "c-2");
  ASSERT_EQ(tom.roles_size(), 2);
  EXPECT_EQ(tom.roles(0), "technical_buyer");
  EXPECT_EQ(tom.roles(1), "coach");
  EXPECT_FALSE(tom.has_confirmed_pain());  // NULL stays unknown, not false.
  EXPECT_FALSE(tom.has_last_met_at());
  const v1::Contact& una = o.contacts(2);
  EXPECT_EQ(una.roles_size(), 0);
  EXPECT_FALSE(una.has_title());
  ASSERT_TRUE(una.has_confirmed_pain());
  EXPECT_FALSE(una.confirmed_pain());

  ASSERT_EQ(o.activities_size(), 2);
  EXPECT_EQ(o.activities(0).id(), "a-1");
  EXPECT_EQ(o.activities(0).type(), "call");
  EXPECT_EQ(Ts(o.activities(0).at()), "2026-04-01T15:00:00Z");
  EXPECT_EQ(o.activities(0).subject(), "Discovery call");
  ASSERT_EQ(o.activities(0).participant_ids_size(), 1);
  EXPECT_EQ(o.activities(0).participant_ids(0), "c-1");
  EXPECT_EQ(o.activities(0).outcome(), "connected");
  EXPECT_EQ(o.activities(1).id(), "a-2");
  EXPECT_EQ(o.activities(1).type(), "meeting");
  ASSERT_EQ(o.activities(1).participant_ids_size(), 2);
  EXPECT_EQ(o.activities(1).participant_ids(1), "c-2");
  EXPECT_FALSE(o.activities(1).has_outcome());

  ASSERT_EQ(o.stage_history_size(), 3);
  EXPECT_EQ(o.stage_history(0).stage(), "Prospecting");
  EXPECT_EQ(Ts(o.stage_history(0).entered_at()), "2026-02-01T10:00:00Z");
  EXPECT_EQ(o.stage_history(2).stage(), "Proposal");
  EXPECT_EQ(Ts(o.stage_history(2).entered_at()), "2026-04-10T09:00:00Z");

  ASSERT_EQ(o.fields_size(), 4);
  EXPECT_TRUE(o.fields().at("decision_to_change").bool_value());
  EXPECT_EQ(o.fields().at("budget_confirmed").string_value(), "yes");
  EXPECT_EQ(o.fields().at("seats").int_value(), 500);
  EXPECT_DOUBLE_EQ(o.fields().at("score").double_value(), 0.75);
}

TEST_F(PostgresConnectorTest, UnknownIdIsNotFound) {
  auto connector = Make();
  ASSERT_NE(connector, nullptr);
  auto got = connector->FetchOpportunity("nope", absl::Now() + absl::Seconds(10));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(),
            "postgres: query 'fetch opportunity': no opportunity with id 'nope'");
}

TEST_F(PostgresConnectorTest, IncrementalSyncPagesByUpdatedAt) {
  InsertOpps(5);
  auto connector = Make("page_size: 2\n");
  ASSERT_NE(connector, nullptr);
  std::vector<std::string> ids;
  auto sink = [&](v1::Opportunity o) {
    ids.push_back(o.id());
    return absl::OkStatus();
  };
  auto all = connector->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->count, 5);
  EXPECT_EQ(ids, (std::vector<std::string>{"o-1", "o-2", "o-3", "o-4", "o-5"}));
  EXPECT_EQ(all->high_water_mark, T("2026-06-01T00:05:00Z"));

  // `since` is inclusive: o-3 was modified exactly at 00:03.
  ids.clear();
  auto tail = connector->SyncChangedSince(T("2026-06-01T00:03:00Z"), sink);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(ids, (std::vector<std::string>{"o-3", "o-4", "o-5"}));

  // A new activity bumps its opportunity's updated_at (trigger), so the next pass
  // from the high-water mark picks it up.
  ASSERT_TRUE(Sql("INSERT INTO activities VALUES ('a-9', 'o-2', 'email', now(), 'Proposal sent',"
                  " '{}', NULL)")
                  .ok());
  ids.clear();
  std::vector<int> activity_counts;
  auto next = connector->SyncChangedSince(all->high_water_mark + absl::Microseconds(1),
                                          [&](v1::Opportunity o) {
                                            ids.push_back(o.id());
                                            activity_counts.push_back(o.activities_size());
                                            return absl::OkStatus();
                                          });
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(ids, (std::vector<std::string>{"o-2"}));
  EXPECT_EQ(activity_counts, (std::vector<int>{1}));
  EXPECT_GT(next->high_water_mark, all->high_water_mark);

  // A sink error stops the sync and is returned as-is.
  auto stopped = connector->SyncChangedSince(absl::InfinitePast(), [](v1::Opportunity o) {
    return o.id() == "o-2" ? absl::CancelledError("sink full") : absl::OkStatus();
  });
  EXPECT_EQ(stopped.status(), absl::CancelledError("sink full"));
}

// Item 6 of issue 10: an UPDATE of the opportunity row itself that does not set
// updated_at (an admin's fix in psql, a bulk stage change) is still seen by the next
// incremental pass; an UPDATE that sets updated_at keeps its value, and one that
// changes nothing does not move the row.
TEST_F(PostgresConnectorTest, UpdateThatDoesNotTouchUpdatedAtIsStillSynced) {
  InsertOpps(3);
  auto connector = Make();
  ASSERT_NE(connector, nullptr);
  auto all = connector->SyncChangedSince(absl::InfinitePast(),
                                         [](v1::Opportunity) { return absl::OkStatus(); });
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->high_water_mark, T("2026-06-01T00:03:00Z"));

  ASSERT_TRUE(Sql("UPDATE opportunities SET stage = 'Negotiation/Review', amount = 42000 "
                  "WHERE id = 'o-1';"
                  // Sets the same values: no change, no new stamp.
                  "UPDATE opportunities SET stage = 'Qualification' WHERE id = 'o-2';"
                  // Carries its own modification time: kept as given.
                  "UPDATE opportunities SET name = 'Deal 3 (renamed)', "
                  "updated_at = '2026-05-01 00:00:00+00' WHERE id = 'o-3';")
                  .ok());
  std::map<std::string, v1::Opportunity> seen;
  auto next = connector->SyncChangedSince(all->high_water_mark + absl::Microseconds(1),
                                          [&](v1::Opportunity o) {
                                            seen[o.id()] = o;
                                            return absl::OkStatus();
                                          });
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_EQ(seen.count("o-1"), 1u);
  EXPECT_EQ(seen["o-1"].stage(), "Negotiation/Review");
  EXPECT_EQ(seen["o-1"].amount(), 42000);
  EXPECT_GT(next->high_water_mark, all->high_water_mark);
  auto renamed = connector->FetchOpportunity("o-3", absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->name(), "Deal 3 (renamed)");
  EXPECT_EQ(Ts(renamed->updated_at()), "2026-05-01T00:00:00Z");
}

TEST_F(PostgresConnectorTest, UserSuppliedQueryMapsThroughTheMapping) {
  ASSERT_TRUE(Sql(R"sql(
    CREATE TABLE deals (deal_no integer PRIMARY KEY, title text, phase text, value numeric,
                        buyer_roles text[], champion_ok boolean, changed timestamptz);
    INSERT INTO deals VALUES
      (10, 'Initech renewal', 'Discovery', 5000, '{economic_buyer}', true,
       '2026-07-01 12:00:00+00'),
      (11, 'Hooli expansion', 'Negotiation', NULL, '{}', NULL, '2026-07-02 12:00:00+00');
  )sql")
                  .ok());
  auto connector = Make(R"yaml(
query: |
  SELECT deal_no AS id, title, phase, value, changed,
         json_build_array(json_build_object('id', 'p-' || deal_no, 'roles', buyer_roles))
           AS people,
         champion_ok
    FROM deals WHERE changed >= $1 ORDER BY changed
mapping:
  opportunity:
    name: title
    stage: phase
    amount: value
    updated_at: changed
  fields:
    champion_ok: {source: champion_ok, type: bool}
  contacts: {source: people, fields: {id: id, roles: roles}}
)yaml");
  ASSERT_NE(connector, nullptr);
  std::vector<v1::Opportunity> got;
  auto synced = connector->SyncChangedSince(T("2026-07-02T00:00:00Z"), [&](v1::Opportunity o) {
    got.push_back(std::move(o));
    return absl::OkStatus();
  });
  ASSERT_TRUE(synced.ok()) << synced.status();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id(), "11");
  EXPECT_EQ(got[0].name(), "Hooli expansion");
  EXPECT_EQ(got[0].stage(), "Negotiation");
  EXPECT_FALSE(got[0].has_amount());
  EXPECT_EQ(got[0].fields_size(), 0);
  EXPECT_EQ(synced->high_water_mark, T("2026-07-02T12:00:00Z"));

  // Lookup by id wraps the query and filters on the mapped id column.
  auto one = connector->FetchOpportunity("10", absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->name(), "Initech renewal");
  EXPECT_DOUBLE_EQ(one->amount(), 5000);
  EXPECT_EQ(Ts(one->updated_at()), "2026-07-01T12:00:00Z");
  ASSERT_EQ(one->contacts_size(), 1);
  EXPECT_EQ(one->contacts(0).id(), "p-10");
  ASSERT_EQ(one->contacts(0).roles_size(), 1);
  EXPECT_EQ(one->contacts(0).roles(0), "economic_buyer");
  EXPECT_TRUE(one->fields().at("champion_ok").bool_value());

  // Schema drift (a column the query needs is gone) is FailedPrecondition naming the query.
  ASSERT_TRUE(Sql("ALTER TABLE deals DROP COLUMN phase").ok());
  auto drift = connector->SyncChangedSince(absl::InfinitePast(),
                                           [](v1::Opportunity) { return absl::OkStatus(); });
  EXPECT_EQ(drift.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(drift.status().message(), "postgres: query 'sync query': "))
      << drift.status();
  EXPECT_TRUE(absl::StrContains(drift.status().message(), "42703")) << drift.status();
}

// Query mode streams the operator's query through a cursor: 25,000 rows arrive in
// page_size batches, not as one result held in memory.
TEST_F(PostgresConnectorTest, UserSuppliedQueryStreamsManyRowsInBatches) {
  auto connector = Make(R"yaml(
page_size: 1000
query: |
  SELECT 'g-' || n AS id, 'Deal ' || n AS name,
         timestamptz '2026-06-01 00:00:00+00' + n * interval '1 second' AS changed
    FROM generate_series(1, 25000) AS n WHERE $1::timestamptz IS NOT NULL ORDER BY n
mapping:
  opportunity:
    name: name
    updated_at: changed
)yaml");
  ASSERT_NE(connector, nullptr);
  int64_t seen = 0;
  std::string last_id;
  auto synced = connector->SyncChangedSince(T("2026-01-01T00:00:00Z"), [&](v1::Opportunity o) {
    ++seen;
    last_id = o.id();
    return absl::OkStatus();
  });
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(seen, 25000);
  EXPECT_EQ(last_id, "g-25000");
  // 25 full batches and the empty one that says the cursor is done.
  EXPECT_EQ(connector->session().batches_fetched(), 26);

  // The sink's error ends the stream (and the transaction) and comes back as-is; the
  // session stays usable.
  seen = 0;
  auto stopped = connector->SyncChangedSince(T("2026-01-01T00:00:00Z"), [&](v1::Opportunity) {
    return ++seen == 1500 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(stopped.status(), absl::CancelledError("enough"));
  EXPECT_EQ(seen, 1500);
  auto again = connector->SyncChangedSince(T("2026-01-01T00:00:00Z"),
                                           [](v1::Opportunity) { return absl::OkStatus(); });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->count, 25000);
}

TEST_F(PostgresConnectorTest, ServerRestartDuringSyncErrorsCleanlyOrRetriesThenRecovers) {
  InsertOpps(5);
  auto connector = Make("page_size: 2\n");
  ASSERT_NE(connector, nullptr);
  int delivered = 0;
  std::string restart_error;
  auto synced = connector->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity) {
    if (++delivered == 1) restart_error = RunPgScript("restart");
    return absl::OkStatus();
  });
  ASSERT_EQ(restart_error, "");
  if (synced.ok()) {
    // The dead idle connection was detected and the page retried on a fresh one.
    EXPECT_EQ(synced->count, 5);
  } else {
    EXPECT_EQ(synced.status().code(), absl::StatusCode::kUnavailable) << synced.status();
    EXPECT_TRUE(absl::StartsWith(synced.status().message(), "postgres: query 'sync page': "))
        << synced.status();
  }
  EXPECT_EQ(connector->session().connects(), 2);
  // Whatever happened mid-sync, the next pass is complete.
  auto again = connector->SyncChangedSince(absl::InfinitePast(),
                                           [](v1::Opportunity) { return absl::OkStatus(); });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->count, 5);
  EXPECT_TRUE(connector->Health().healthy);
}

TEST_F(PostgresConnectorTest, ServerDownDuringSyncIsUnavailableNamingTheQuery) {
  InsertOpps(5);
  auto connector = Make(
      "page_size: 2\nconnect_timeout: 2s\n"
      "reconnect: {attempts: 2, initial_backoff: 50ms, max_backoff: 100ms}\n");
  ASSERT_NE(connector, nullptr);
  int delivered = 0;
  std::string stop_error;
  const absl::Time start = absl::Now();
  auto synced = connector->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity) {
    if (++delivered == 1) stop_error = RunPgScript("stop");
    return absl::OkStatus();
  });
  const absl::Duration took = absl::Now() - start;
  const std::string start_error = RunPgScript("start");  // Before any assertion can bail out.
  ASSERT_EQ(stop_error, "");
  ASSERT_EQ(start_error, "");
  EXPECT_EQ(delivered, 2);  // The first page, then the second page's query failed.
  EXPECT_EQ(synced.status().code(), absl::StatusCode::kUnavailable) << synced.status();
  EXPECT_TRUE(absl::StartsWith(synced.status().message(), "postgres: query 'sync page': "))
      << synced.status();
  EXPECT_LT(took, absl::Seconds(20));
  EXPECT_FALSE(connector->Health().healthy);
  EXPECT_TRUE(absl::StrContains(connector->Health().detail, "sync page"));

  auto again = connector->SyncChangedSince(absl::InfinitePast(),
                                           [](v1::Opportunity) { return absl::OkStatus(); });
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->count, 5);
  EXPECT_TRUE(connector->Health().healthy);
}

TEST_F(PostgresConnectorTest, SlowQueryHitsTheDeadlineAndTheConnectionRecovers) {
  auto connector = Make(
      "query: SELECT 'x' AS id, pg_sleep(10) AS nap WHERE $1::timestamptz IS NOT NULL\n"
      "sync_timeout: 300ms\n");
  ASSERT_NE(connector, nullptr);
  const absl::Time start = absl::Now();
  auto synced = connector->SyncChangedSince(absl::InfinitePast(),
                                            [](v1::Opportunity) { return absl::OkStatus(); });
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(synced.status().code(), absl::StatusCode::kDeadlineExceeded) << synced.status();
  EXPECT_EQ(synced.status().message(),
            "postgres: query 'sync query': deadline exceeded; query cancelled");
  EXPECT_LT(took, absl::Seconds(5));
  // A fresh connection serves the next call.
  auto fetched = connector->FetchOpportunity("absent", absl::Now() + absl::Seconds(10));
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kNotFound);
}

TEST(PostgresRedactionTest, PasswordsNeverAppear) {
  EXPECT_EQ(RedactConninfo("host=db.internal port=5432 user=app password=s3cret dbname=crm"),
            "user=app password=<redacted> dbname=crm host=db.internal port=5432");
  const std::string uri = RedactConninfo("postgresql://app:s3cret@db.internal:5432/crm");
  EXPECT_FALSE(absl::StrContains(uri, "s3cret")) << uri;
  EXPECT_TRUE(absl::StrContains(uri, "password=<redacted>")) << uri;
  EXPECT_EQ(RedactConninfo("host='unterminated"), "<unparseable connection string>");

  // A connection failure names the (redacted) target, never the password.
  PgSessionOptions options;
  options.reconnect_attempts = 1;
  PgSession session("host=127.0.0.1 port=1 user=app password=s3cret dbname=crm", options);
  auto rows = session.Query("probe", "SELECT 1", {}, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(rows.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StartsWith(rows.status().message(), "postgres: query 'probe': cannot connect"))
      << rows.status();
  EXPECT_FALSE(absl::StrContains(rows.status().message(), "s3cret")) << rows.status();
  EXPECT_FALSE(absl::StrContains(session.Health().detail, "s3cret"));
}

TEST(PostgresConfigTest, RejectsInlineSecretsAndUnknownKeys) {
  auto inline_secret =
      PostgresConnector::Create(YAML::Load("conninfo: host=x password=y"), {"sidecar.yaml", ""});
  EXPECT_EQ(inline_secret.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(inline_secret.status().message(), "sidecar.yaml:1:11: inline"))
      << inline_secret.status();

  setenv("DEALCOACH_PG_CONFIG_TEST", "host=127.0.0.1", 1);
  auto typo = PostgresConnector::Create(
      YAML::Load("conninfo_env: DEALCOACH_PG_CONFIG_TEST\npage_sise: 5"), {"sidecar.yaml", ""});
  EXPECT_EQ(typo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StartsWith(typo.status().message(), "sidecar.yaml:2:1: unknown key 'page_sise'"))
      << typo.status();

  auto no_id = PostgresConnector::Create(
      YAML::Load("conninfo_env: DEALCOACH_PG_CONFIG_TEST\nquery: SELECT 1\n"
                 "mapping: {opportunity: {id: row.key}}"),
      {"sidecar.yaml", ""});
  EXPECT_EQ(no_id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(no_id.status().message(), "needs `fetch_query`")) << no_id.status();
}

TEST(PostgresRegistryTest, RegisteredAsPostgres) {
  auto factory = FindConnectorFactory("postgres");
  ASSERT_TRUE(factory.ok()) << factory.status();
  EXPECT_EQ((*factory)->type(), "postgres");
}

}  // namespace
}  // namespace dealcoach::connectors::postgres
