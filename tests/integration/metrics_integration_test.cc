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
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
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

// The unary methods are counted by the service's handler wrappers, the rest (gRPC's
// health service here) by the interceptor, and each call exactly once whichever path
// it takes: gRPC, or an HTTP route (which calls the same handlers in-process), denied
// or answered.
TEST(MetricsIntegrationTest, EveryPathCountsEachCallOnce) {
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"),
      "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"", SamplesFile(),
      "\"}}\nsource: {sync_interval: 1h}\nhttp: {listen: \"127.0.0.1:0\"}\n"
      "admin_http: {listen: 127.0.0.1:0}\n");
  auto s = StartSidecar(yaml, SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_GT((*s)->http_port(), 0);
  const std::vector<v1::Opportunity> samples = LoadSamples();
  ASSERT_GE(samples.size(), 2u);
  auto channel = grpc::CreateChannel((*s)->address(), grpc::InsecureChannelCredentials());

  // Two guidance calls over gRPC, one over HTTP, one checklist over HTTP.
  auto coaching = v1::CoachingService::NewStub(channel);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(samples[i].id());
    v1::GetDealGuidanceResponse resp;
    ASSERT_TRUE(coaching->GetDealGuidance(&ctx, req, &resp).ok());
  }
  httplib::Client api("127.0.0.1", (*s)->http_port());
  httplib::Result guidance = api.Get(absl::StrCat("/v1/deals/", samples[0].id(), "/guidance"));
  ASSERT_TRUE(guidance);
  ASSERT_EQ(guidance->status, 200) << guidance->body;
  httplib::Result checklist = api.Get(absl::StrCat("/v1/deals/", samples[1].id(), "/checklist"));
  ASSERT_TRUE(checklist);
  ASSERT_EQ(checklist->status, 200) << checklist->body;
  // A sync-handler method (PlaybookService) answering an error: counted with its code.
  {
    auto playbooks = v1::PlaybookService::NewStub(channel);
    grpc::ClientContext ctx;
    v1::GetActivePlaybookRequest req;
    req.set_name("no-such-playbook");
    v1::GetActivePlaybookResponse resp;
    EXPECT_EQ(playbooks->GetActivePlaybook(&ctx, req, &resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  // Two health checks: gRPC's own service, which only the interceptor sees.
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  }

  httplib::Client admin("127.0.0.1", (*s)->admin_http_port());
  httplib::Result scrape = admin.Get("/metrics");
  ASSERT_TRUE(scrape);
  ASSERT_EQ(scrape->status, 200);
  const std::string& text = scrape->body;
  auto count = [&text](const std::string& method, const std::string& code) {
    return SeriesValue(text, absl::StrCat("dealcoach_rpc_requests_total{code=\"", code,
                                          "\",method=\"", method, "\"}"));
  };
  auto timed = [&text](const std::string& method) {
    return SeriesValue(
        text, absl::StrCat("dealcoach_rpc_duration_seconds_count{method=\"", method, "\"}"));
  };
  EXPECT_EQ(count("/dealcoach.v1.CoachingService/GetDealGuidance", "OK"), 3);
  EXPECT_EQ(timed("/dealcoach.v1.CoachingService/GetDealGuidance"), 3);
  EXPECT_EQ(count("/dealcoach.v1.CoachingService/GetReviewChecklist", "OK"), 1);
  EXPECT_EQ(count("/dealcoach.v1.PlaybookService/GetActivePlaybook", "NOT_FOUND"), 1);
  EXPECT_EQ(count("/dealcoach.v1.PlaybookService/GetActivePlaybook", "OK"), 0);
  EXPECT_EQ(count("/grpc.health.v1.Health/Check", "OK"), 2);
  EXPECT_EQ(timed("/grpc.health.v1.Health/Check"), 2);
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
