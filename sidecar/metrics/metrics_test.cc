#include "sidecar/metrics/metrics.h"

#include <httplib.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/metrics/admin_http.h"

namespace dealcoach::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ServerMetricsTest, CountsCallsByMethodAndCode) {
  ServerMetrics m;
  static const char kMethod[] = "/dealcoach.v1.CoachingService/GetDealGuidance";
  m.RecordCall(kMethod, 0, 0.0002);
  m.RecordCall(kMethod, 0, 0.0003);
  m.RecordCall(kMethod, 5, 0.004);
  const std::string text = m.Scrape();
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_requests_total{code=\"OK\",method=\"" +
                              std::string(kMethod) + "\"} 2"));
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_requests_total{code=\"NOT_FOUND\",method=\"" +
                              std::string(kMethod) + "\"} 1"));
  // Codes that never happened are 0, not absent.
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_requests_total{code=\"INTERNAL\",method=\"" +
                              std::string(kMethod) + "\"} 0"));
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_duration_seconds_count{method=\"" +
                              std::string(kMethod) + "\"} 3"));
  // 0.0002 and 0.0003 fall at or under the 0.0005 s bucket; 0.004 does not.
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_duration_seconds_bucket{method=\"" +
                              std::string(kMethod) + "\",le=\"0.0005\"} 2"));
}

// How many lines of `text` start with `prefix`.
int LinesStartingWith(const std::string& text, const std::string& prefix) {
  int n = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (text.compare(at, prefix.size(), prefix) == 0) ++n;
    at = end + 1;
  }
  return n;
}

TEST(ServerMetricsTest, HandlerSeriesAreResolvedOnceAndShared) {
  ServerMetrics m;
  MethodMetrics* series = m.ForMethod("/a.B/C");
  ASSERT_NE(series, nullptr);
  EXPECT_EQ(m.ForMethod("/a.B/C"), series);  // one series per method, a stable pointer
  EXPECT_NE(m.ForMethod("/a.B/D"), series);
  series->Record(0, 0.0002);
  series->Record(0, 0.0002);
  series->Record(14, 0.3);  // UNAVAILABLE
  series->Record(99, 0.1);  // not a gRPC code: UNKNOWN
  // The interceptor's path (a method name at another address) lands in the same series.
  const std::string same_name = "/a.B/C";
  m.RecordCall(same_name.c_str(), 0, 0.001);
  const std::string text = m.Scrape();
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_requests_total{code=\"OK\",method=\"/a.B/C\"} 3"));
  EXPECT_THAT(text,
              HasSubstr("dealcoach_rpc_requests_total{code=\"UNAVAILABLE\",method=\"/a.B/C\"} 1"));
  EXPECT_THAT(text,
              HasSubstr("dealcoach_rpc_requests_total{code=\"UNKNOWN\",method=\"/a.B/C\"} 1"));
  EXPECT_EQ(LinesStartingWith(text, "dealcoach_rpc_requests_total{code=\"OK\",method=\"/a.B/C\"}"),
            1);
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_duration_seconds_count{method=\"/a.B/C\"} 5"));
  // Every code of a method exists (at 0) as soon as its series do.
  EXPECT_THAT(text,
              HasSubstr("dealcoach_rpc_requests_total{code=\"INTERNAL\",method=\"/a.B/D\"} 0"));
}

TEST(ServerMetricsTest, CallTimerRecordsOneCallAndNothingWithoutSeries) {
  ServerMetrics m;
  MethodMetrics* series = m.ForMethod("/a.B/C");
  CallTimer(series).Finish(5);
  CallTimer(nullptr).Finish(5);  // metrics off: no series, nothing recorded, no crash
  const std::string text = m.Scrape();
  EXPECT_THAT(text,
              HasSubstr("dealcoach_rpc_requests_total{code=\"NOT_FOUND\",method=\"/a.B/C\"} 1"));
  EXPECT_THAT(text, HasSubstr("dealcoach_rpc_duration_seconds_count{method=\"/a.B/C\"} 1"));
}

TEST(ServerMetricsTest, GaugeSamplersAreReadAtScrapeTime) {
  ServerMetrics m;
  double value = 1;
  ASSERT_TRUE(m.AddGaugeSampler("dealcoach_test_gauge", "a test gauge", [&value] {
    return std::vector<GaugeSample>{{{{"kind", "a"}}, value}};
  }));
  EXPECT_FALSE(m.AddGaugeSampler("dealcoach_test_gauge", "again",
                                 [] { return std::vector<GaugeSample>{}; }));
  EXPECT_THAT(m.Scrape(), HasSubstr("dealcoach_test_gauge{kind=\"a\"} 1"));
  value = 7;
  EXPECT_THAT(m.Scrape(), HasSubstr("dealcoach_test_gauge{kind=\"a\"} 7"));
  EXPECT_THAT(m.Scrape(), HasSubstr("# TYPE dealcoach_test_gauge gauge"));
}

TEST(AdminHttpServerTest, ServesMetricsHealthAndReadiness) {
  ServerMetrics m;
  m.RecordCall("/x.Y/Z", 0, 0.001);
  bool ready = false;
  AdminHttpOptions options;
  options.listen = "127.0.0.1:0";
  options.ready = [&ready]() -> absl::Status {
    return ready ? absl::OkStatus() : absl::UnavailableError("no playbook is serving yet");
  };
  absl::StatusOr<std::unique_ptr<AdminHttpServer>> server = AdminHttpServer::Start(options, &m);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_THAT(metrics->get_header_value("Content-Type"), HasSubstr("version=0.0.4"));
  EXPECT_THAT(metrics->body,
              HasSubstr("dealcoach_rpc_requests_total{code=\"OK\",method=\"/x.Y/Z\"} 1"));

  httplib::Result healthz = client.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);

  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  EXPECT_THAT(not_ready->body, HasSubstr("no playbook is serving yet"));
  ready = true;
  httplib::Result is_ready = client.Get("/readyz");
  ASSERT_TRUE(is_ready);
  EXPECT_EQ(is_ready->status, 200);

  httplib::Result unknown = client.Get("/etc/passwd");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_THAT(unknown->body, Not(HasSubstr("root")));
  (*server)->Stop();
}

TEST(AdminHttpServerTest, RejectsABadAddress) {
  ServerMetrics m;
  AdminHttpOptions options;
  options.listen = "no-port";
  absl::StatusOr<std::unique_ptr<AdminHttpServer>> server = AdminHttpServer::Start(options, &m);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("admin_http.listen"));
}

}  // namespace
}  // namespace dealcoach::metrics
