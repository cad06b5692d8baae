// End-to-end: `dealcoach` sidecar in-process (real gRPC on 127.0.0.1, port 0) with the
// HubSpot connector talking to FakeHubSpot, a loopback server speaking HubSpot's wire
// format. A CRM client asks for guidance by deal id; then HubSpot goes away and the
// guidance keeps coming from the cache, marked stale with the failed HubSpot call.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/hubspot/testing/fake_hubspot.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "sidecar/server/config.h"
#include "sidecar/server/sidecar.h"

namespace dealcoach {
namespace {

using connectors::hubspot::FakeHubSpot;

class E2eHubSpotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(hubspot_.Start().ok());
    hubspot_.AddSampleDeal("9001", "2026-11-19T08:15:00Z");
    setenv("E2E_HUBSPOT_TOKEN", FakeHubSpot::kToken, 1);
    // Short sync/staleness settings so the outage shows within a second or two. The
    // mapping override maps HubSpot's internal stage id onto the playbook's CRM stage.
    const std::string yaml =
        absl::StrCat(R"(
listen: 127.0.0.1:0
log_level: off
playbooks:
  files: [)",
                     DEALCOACH_SOURCE_DIR, R"(/config/playbooks/customer-journey.yaml]
  default: customer-journey
reload: {poll_interval: 60s}
connector:
  type: hubspot
  hubspot:
    base_url: )",
                     hubspot_.base_url(), R"(
    access_token_env: E2E_HUBSPOT_TOKEN
    retry: {max_attempts: 1}
    circuit_breaker: {failure_threshold: 0}
    rate_limit: {requests_per_second: 0}
    timeouts: {connect: 1s, request: 1s}
    mapping:
      opportunity:
        stage:
          source: properties.dealstage
          values: {contractsent: Negotiation/Review, appointmentscheduled: Prospecting}
source:
  sync_interval: 200ms
  stale_after: 1s
  refresh_after: 300ms
  fetch_timeout: 2s
)");
    auto config = server::ParseConfig(yaml, "e2e-sidecar.yaml", "/tmp", {});
    ASSERT_TRUE(config.ok()) << config.status();
    config->store.enabled = false;  // no database left in /tmp/data
    auto sidecar = server::Sidecar::Start(*config);
    ASSERT_TRUE(sidecar.ok()) << sidecar.status();
    sidecar_ = std::move(*sidecar);
    ASSERT_EQ(sidecar_->serving_playbooks(), 1);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", sidecar_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::CoachingService::NewStub(channel_);
  }

  void TearDown() override {
    if (sidecar_ != nullptr) {
      sidecar_->Shutdown(absl::Seconds(2));
      sidecar_->Wait();
    }
  }

  grpc::Status Guidance(v1::GetDealGuidanceResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetDealGuidanceRequest request;
    request.set_opportunity_id("9001");
    return stub_->GetDealGuidance(&context, request, response);
  }

  FakeHubSpot hubspot_;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CoachingService::Stub> stub_;
};

TEST_F(E2eHubSpotTest, GuidanceByDealIdThenStaleButServedWhenHubSpotIsDown) {
  v1::GetDealGuidanceResponse fresh;
  grpc::Status status = Guidance(&fresh);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  const v1::DealGuidance& g = fresh.guidance();
  EXPECT_EQ(g.opportunity_id(), "9001");
  EXPECT_EQ(g.opportunity_name(), "Acme - deal 9001");
  EXPECT_EQ(g.crm_stage(), "Negotiation/Review");
  EXPECT_EQ(g.claimed_phase().id(), "decision");
  EXPECT_EQ(g.playbook().name(), "customer-journey");
  EXPECT_EQ(g.freshness().source(), "hubspot");
  EXPECT_FALSE(g.freshness().stale()) << g.freshness().stale_reason();
  EXPECT_GT(hubspot_.server().Count("GET", "/crm/v3/objects/deals") +
                hubspot_.server().Count("GET", "/crm/v3/objects/deals/9001"),
            0);

  // HubSpot goes away. Answers keep coming from the cache; once the data is older than
  // stale_after they say so, naming the HubSpot call that failed.
  hubspot_.Stop();
  const absl::Time stop = absl::Now();
  v1::GetDealGuidanceResponse stale;
  while (absl::Now() - stop < absl::Seconds(15)) {
    status = Guidance(&stale);
    ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    if (stale.guidance().freshness().stale()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  const v1::DealGuidance& s = stale.guidance();
  ASSERT_TRUE(s.freshness().stale()) << "never marked stale within 15 s";
  EXPECT_LT(absl::Now() - stop, absl::Seconds(10));
  EXPECT_EQ(s.opportunity_id(), "9001");
  EXPECT_EQ(s.crm_stage(), "Negotiation/Review");
  EXPECT_EQ(s.claimed_phase().id(), "decision");
  EXPECT_TRUE(absl::StartsWith(s.freshness().stale_reason(), "hubspot: "))
      << s.freshness().stale_reason();
  EXPECT_TRUE(absl::StrContains(s.freshness().stale_reason(), "/crm/v3/objects/deals"))
      << s.freshness().stale_reason();
  EXPECT_GE(s.freshness().age().seconds(), 1);
}

}  // namespace
}  // namespace dealcoach
