#include "connectors/file/file_connector.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "connectors/registry.h"
#include "connectors/testing/time_util.h"
#include "google/protobuf/util/time_util.h"

namespace dealcoach::connectors {
namespace {

using google::protobuf::util::TimeUtil;

const std::string kTestdata = std::string(DEALCOACH_SOURCE_DIR) + "/connectors/file/testdata";

using ::dealcoach::connectors::testing::T;

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

TEST(FileConnectorTest, CreatedFromRegistryRelativeToBaseDir) {
  ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  ctx.base_dir = kTestdata;
  auto c = CreateConnector(YAML::Load("{type: file, file: {path: opportunities.json}}"), ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->type(), "file");
  auto opp = (*c)->FetchOpportunity("opp-1", absl::InfiniteFuture());
  ASSERT_TRUE(opp.ok()) << opp.status();
  EXPECT_EQ(opp->name(), "Acme - 500 seats");
  EXPECT_DOUBLE_EQ(opp->amount(), 125000);
  EXPECT_EQ(opp->source_system(), "file");
  EXPECT_EQ(opp->contacts(0).roles(0), "economic_buyer");
  EXPECT_EQ(TimeUtil::ToString(opp->close_date()), "2026-12-31T00:00:00Z");  // not rebased

  auto missing = (*c)->FetchOpportunity("nope", absl::InfiniteFuture());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "file: no opportunity with id \"nope\" in " + kTestdata + "/opportunities.json");
  EXPECT_TRUE((*c)->Health().healthy);
}

TEST(FileConnectorTest, ConfigErrorsHavePositions) {
  ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  ctx.base_dir = kTestdata;
  auto a = CreateConnector(YAML::Load("type: file\nfile:\n  path: missing.json\n"), ctx);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.status().message().rfind(
                "sidecar.yaml:3:9: file: stat " + kTestdata + "/missing.json: No such file", 0),
            0u)
      << a.status();
  auto b = CreateConnector(
      YAML::Load("type: file\nfile:\n  path: opportunities.json\n  rebase_dates_from: soon\n"),
      ctx);
  EXPECT_EQ(b.status().message(),
            "sidecar.yaml:4:22: `rebase_dates_from` must be an RFC 3339 time like "
            "2026-11-20T12:00:00Z; got 'soon'");
  auto c = CreateConnector(YAML::Load("type: file\nfile: {pth: x}\n"), ctx);
  EXPECT_EQ(c.status().message(),
            "sidecar.yaml:2:8: unknown key 'pth'; known keys: path, "
            "rebase_dates_from");
}

TEST(FileConnectorTest, RebaseShiftsEveryTimestamp) {
  FileConnectorOptions o;
  o.path = kTestdata + "/opportunities.json";
  o.rebase_dates_from = T("2026-11-20T12:00:00Z");
  o.now = [] { return T("2027-01-01T12:00:00Z"); };  // 42 days later
  auto c = FileConnector::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  auto opp = (*c)->FetchOpportunity("opp-1", absl::InfiniteFuture());
  ASSERT_TRUE(opp.ok());
  EXPECT_EQ(TimeUtil::ToString(opp->close_date()), "2027-02-11T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->stage_entered_at()), "2026-12-13T09:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->updated_at()), "2026-12-31T08:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->contacts(0).last_met_at()), "2026-12-22T15:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->activities(0).at()), "2026-12-22T15:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(opp->fields().at("champion_since").timestamp_value()),
            "2026-12-17T00:00:00Z");
  EXPECT_FALSE(opp->has_last_meeting_at());  // unset stays unset
}

TEST(FileConnectorTest, SyncIsIncrementalAndNoticesEdits) {
  const std::string path = ::testing::TempDir() + "/file_connector_sync.json";
  Write(path, R"([{"id":"a","updatedAt":"2026-11-01T00:00:00Z"},
                  {"id":"b","updatedAt":"2026-11-05T00:00:00Z"}])");
  FileConnectorOptions o;
  o.path = path;
  auto c = FileConnector::Create(o);
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<std::string> got;
  auto sink = [&](v1::Opportunity opp) {
    got.push_back(opp.id());
    return absl::OkStatus();
  };
  auto first = (*c)->SyncChangedSince(absl::InfinitePast(), sink);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->count, 2);
  EXPECT_EQ(first->high_water_mark, T("2026-11-05T00:00:00Z"));
  got.clear();
  auto second = (*c)->SyncChangedSince(first->high_water_mark, sink);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(got, std::vector<std::string>({"b"}));  // >= since

  // An edit (new mtime) is picked up and delivered in full.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Write(path, R"([{"id":"a","name":"renamed","updatedAt":"2026-11-01T00:00:00Z"}])");
  got.clear();
  auto third = (*c)->SyncChangedSince(second->high_water_mark, sink);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(got, std::vector<std::string>({"a"}));
  EXPECT_EQ((*c)->FetchOpportunity("a", absl::InfiniteFuture())->name(), "renamed");

  // A broken edit keeps the last good data and reports the problem.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Write(path, R"([{"id":"a","amount":"lots"}])");
  auto broken = (*c)->SyncChangedSince(third->high_water_mark, sink);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(broken.status().message().rfind("file: " + path + ": opportunity [0] (id \"a\"): ", 0),
            0u)
      << broken.status();
  EXPECT_FALSE((*c)->Health().healthy);
  EXPECT_EQ((*c)->FetchOpportunity("a", absl::InfiniteFuture())->name(), "renamed");
}

TEST(FileConnectorTest, SinkErrorStopsSync) {
  FileConnectorOptions o;
  o.path = kTestdata + "/opportunities.json";
  auto c = FileConnector::Create(o);
  ASSERT_TRUE(c.ok());
  int calls = 0;
  auto r = (*c)->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity) {
    ++calls;
    return absl::CancelledError("stop");
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST(FileConnectorTest, ParseErrors) {
  auto a = FileConnector::ParseOpportunities("{", "x.json", std::nullopt, absl::Now());
  EXPECT_EQ(a.status().message().rfind("x.json: invalid JSON: ", 0), 0u);
  auto b = FileConnector::ParseOpportunities("[{\"name\":\"no id\"}]", "x.json", std::nullopt,
                                             absl::Now());
  EXPECT_EQ(b.status().message(), "x.json: opportunity [0] has no \"id\"");
  auto c = FileConnector::ParseOpportunities(R"({"opportunities":[{"id":"w"}]})", "x.json",
                                             std::nullopt, absl::Now());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)[0].id(), "w");
}

// The shipped samples (config/samples/opportunities.json, owned by the engine) load
// through the file connector exactly as config/sidecar.yaml configures it.
TEST(FileConnectorTest, ShippedSamplesLoadAndRebase) {
  const std::string config_dir = std::string(DEALCOACH_SOURCE_DIR) + "/config";
  std::ifstream probe(config_dir + "/samples/opportunities.json");
  if (!probe) GTEST_SKIP() << "config/samples/opportunities.json not present";
  ConnectorContext ctx;
  ctx.config_file = config_dir + "/sidecar.yaml";
  ctx.base_dir = config_dir;
  auto c = CreateConnector(YAML::Load(R"(
type: file
file: {path: samples/opportunities.json, rebase_dates_from: "2026-11-20T12:00:00Z"})"),
                           ctx);
  ASSERT_TRUE(c.ok()) << c.status();
  std::set<std::string> ids;
  absl::Time newest = absl::InfinitePast();
  auto r = (*c)->SyncChangedSince(absl::InfinitePast(), [&](v1::Opportunity opp) {
    EXPECT_TRUE(ids.insert(opp.id()).second) << "duplicate id " << opp.id();
    if (opp.has_updated_at()) {
      newest = std::max(newest, absl::FromUnixSeconds(opp.updated_at().seconds()));
    }
    return absl::OkStatus();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->count, 0);
  EXPECT_EQ(static_cast<size_t>(r->count), ids.size());
  // Rebased: the samples are written as of the anchor, so nothing is far in the future
  // or years in the past relative to today.
  if (newest != absl::InfinitePast()) {
    EXPECT_LT(newest, absl::Now() + absl::Hours(24 * 30));
    EXPECT_GT(newest, absl::Now() - absl::Hours(24 * 365));
  }
}

}  // namespace
}  // namespace dealcoach::connectors
