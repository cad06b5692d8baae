// CRM failures seen by a gRPC caller: a real sidecar on loopback whose HubSpot connector
// talks to an HTTP server on loopback answering in HubSpot's wire format. The CRM's
// 401/403/400/429 about the sidecar's own request must not reach the caller as the
// caller's UNAUTHENTICATED / PERMISSION_DENIED / INVALID_ARGUMENT, and an oversized
// CRM body is refused with the cap named.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "connectors/testing/http_test_server.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using connectors::testing::HttpTestServer;
using connectors::testing::RecordedRequest;
using connectors::testing::ScriptedResponse;

class CrmErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("DEALCOACH_CRM_ERRORS_TOKEN", "pat-na1-test", 1);
    crm_.RoutePrefix("GET", "/", [this](const RecordedRequest&) { return Next(); });
    crm_.RoutePrefix("POST", "/", [this](const RecordedRequest&) { return Next(); });
    ASSERT_TRUE(crm_.Start().ok());
    const std::string yaml =
        absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
                     ShippedPlaybook("customer-journey"),
                     "\"]\nreload: {poll_interval: 1h}\n"
                     "connector:\n  type: hubspot\n  hubspot:\n    base_url: ",
                     crm_.base_url(),
                     "\n    access_token_env: DEALCOACH_CRM_ERRORS_TOKEN\n"
                     "    retry: {max_attempts: 1}\n    rate_limit: {requests_per_second: 0}\n"
                     "    circuit_breaker: {failure_threshold: 0}\n    timeouts: {request: 3s}\n"
                     "    max_response_bytes: 4096\n"
                     "source: {background_sync: false}\n");
    auto s = StartSidecar(yaml, SourceDir());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  }

  ScriptedResponse Next() {
    const int status = status_.load();
    if (status == 200) {
      // A body over the 4096-byte cap.
      return ScriptedResponse::Json(
          200, absl::StrCat("{\"id\":\"1\",\"properties\":{\"dealname\":\"", std::string(8192, 'x'),
                            "\"}}"));
    }
    return ScriptedResponse::Json(
        status, absl::StrCat("{\"status\":\"error\",\"message\":\"scripted ", status,
                             "\",\"category\":\"TEST\"}"));
  }

  struct Result {
    grpc::Status status;
    google::rpc::ErrorInfo info;
    bool has_info = false;
  };
  Result GuidanceById(const std::string& id) {
    auto stub = v1::CoachingService::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(id);
    v1::GetDealGuidanceResponse resp;
    Result r;
    r.status = stub->GetDealGuidance(&ctx, req, &resp);
    google::rpc::Status details;
    if (!r.status.error_details().empty() && details.ParseFromString(r.status.error_details())) {
      for (const auto& any : details.details()) {
        if (any.type_url() == "type.googleapis.com/google.rpc.ErrorInfo") {
          r.has_info = r.info.ParseFromString(any.value());
        }
      }
    }
    return r;
  }

  void ExpectServing() {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  HttpTestServer crm_;
  std::atomic<int> status_{401};
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CrmErrorsTest, CrmRefusalsNeverBlameTheCaller) {
  struct Case {
    int http;
    grpc::StatusCode code;
    const char* reason;
  };
  const Case cases[] = {
      {401, grpc::StatusCode::FAILED_PRECONDITION, "CRM_AUTH_FAILED"},
      {403, grpc::StatusCode::FAILED_PRECONDITION, "CRM_PERMISSION_DENIED"},
      {400, grpc::StatusCode::FAILED_PRECONDITION, "CRM_REJECTED_REQUEST"},
      {429, grpc::StatusCode::UNAVAILABLE, "CRM_RATE_LIMITED"},
      {503, grpc::StatusCode::UNAVAILABLE, "CRM_UNAVAILABLE"},
  };
  int n = 0;
  for (const Case& c : cases) {
    status_ = c.http;
    Result r = GuidanceById(absl::StrCat("9000", n++));
    EXPECT_EQ(r.status.error_code(), c.code) << c.http << ": " << r.status.error_message();
    // The CRM call is named: connector, method and path.
    EXPECT_TRUE(absl::StrContains(r.status.error_message(), "GET /crm/v3/objects/deals/"))
        << c.http << ": " << r.status.error_message();
    EXPECT_TRUE(absl::StrContains(r.status.error_message(), absl::StrCat(c.http)))
        << r.status.error_message();
    ASSERT_TRUE(r.has_info) << c.http;
    EXPECT_EQ(r.info.reason(), c.reason);
    EXPECT_EQ(r.info.domain(), "hubspot");
    ExpectServing();
  }
}

TEST_F(CrmErrorsTest, OversizedCrmBodyIsRefusedWithTheCapNamed) {
  status_ = 200;
  Result r = GuidanceById("424242");
  EXPECT_EQ(r.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << r.status.error_message();
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "GET /crm/v3/objects/deals/424242"))
      << r.status.error_message();
  EXPECT_TRUE(absl::StrContains(r.status.error_message(), "cap of 4096 bytes"))
      << r.status.error_message();
  ASSERT_TRUE(r.has_info);
  EXPECT_EQ(r.info.reason(), "CRM_RESPONSE_TOO_LARGE");
  ExpectServing();
}

}  // namespace
}  // namespace dealcoach::testing
