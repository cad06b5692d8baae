// The operator's HTTP listener on a real sidecar: after a known workload over gRPC, a
// scrape of /metrics over HTTP shows the expected series with the expected counts, and
// the probes answer.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using ::testing::HasSubstr;

// The value of the series whose line starts with `series` ("name{labels}"), or -1.
double SeriesValue(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double v = -1;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
    }
  }
  return -1;
}

TEST(MetricsIntegrationTest, ScrapeAfterAKnownWorkload) {
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"),
      "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"", SamplesFile(),
      "\"}}\nsource: {sync_interval: 1h}\nadmin_http: {listen: 127.0.0.1:0}\n");
  auto s = StartSidecar(yaml, SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_GT((*s)->admin_http_port(), 0);
  const std::vector<v1::Opportunity> samples = LoadSamples();
  ASSERT_GE(samples.size(), 3u);

  auto stub = v1::CoachingService::NewStub(
      grpc::CreateChannel((*s)->address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(samples[i].id());
    v1::GetDealGuidanceResponse resp;
    ASSERT_TRUE(stub->GetDealGuidance(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id("no-such-deal");
    v1::GetDealGuidanceResponse resp;
    EXPECT_EQ(stub->GetDealGuidance(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }

  httplib::Client http("127.0.0.1", (*s)->admin_http_port());
  httplib::Result scrape = http.Get("/metrics");
  ASSERT_TRUE(scrape);
  ASSERT_EQ(scrape->status, 200);
  const std::string& text = scrape->body;
  const std::string method = "/dealcoach.v1.CoachingService/GetDealGuidance";
  EXPECT_EQ(SeriesValue(text, absl::StrCat("dealcoach_rpc_requests_total{code=\"OK\",method=\"",
                                           method, "\"}")),
            3);
  EXPECT_EQ(
      SeriesValue(text, absl::StrCat("dealcoach_rpc_requests_total{code=\"NOT_FOUND\",method=\"",
                                     method, "\"}")),
      1);
  EXPECT_EQ(SeriesValue(text, absl::StrCat("dealcoach_rpc_duration_seconds_count{method=\"", method,
                                           "\"}")),
            4);
  EXPECT_EQ(SeriesValue(text, "dealcoach_cache_opportunities"),
            static_cast<double>(samples.size()));
  EXPECT_EQ(SeriesValue(text, "dealcoach_connector_healthy{connector=\"file\"}"), 1);
  EXPECT_THAT(text, HasSubstr("dealcoach_playbook_serving{name=\"customer-journey\""));
  EXPECT_GE(SeriesValue(text, "dealcoach_sync_lag_seconds"), 0);

  httplib::Result ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  httplib::Result healthz = http.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
}

TEST(MetricsIntegrationTest, ABadAdminAddressIsAConfigError) {
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(), "\"}}\nadmin_http: {listen: nowhere}\n");
  auto s = StartSidecar(yaml, SourceDir());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("admin_http.listen"));
}

}  // namespace
}  // namespace dealcoach::testing
