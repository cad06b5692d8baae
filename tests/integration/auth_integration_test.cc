// Caller identity and authorization on a real sidecar over loopback gRPC: bearer JWTs
// (good, expired, wrongly signed, wrong audience, missing), the role x tenant x RPC
// matrix in full, reps limited to their own deals, the tenant header honoured only for
// a trusted service, denials that say nothing of the other tenant, and denials in the
// decision log.
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/auth/jwt_test_util.h"
#include "sidecar/store/store.h"
#include "sidecar/store/store_config.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using auth::test_keys::Json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://login.example.com";
// Sample deal 006...1 is owned by 005...12; 006...2 by 005...13.
constexpr char kOwnDeal[] = "006000000000001AAA";
constexpr char kOwner[] = "005000000000012AAA";
constexpr char kOthersDeal[] = "006000000000002AAA";

class AuthIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = auth::test_keys::MakeRsa("k1");
    foreign_ = auth::test_keys::MakeRsa("k1");  // same kid, another key: must not verify
    dir_.Write("jwks.json", Json{{"keys", {key_->jwk}}}.dump());
    const std::string yaml = absl::StrCat(
        "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
        ShippedPlaybook("customer-journey"),
        "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"", SamplesFile(),
        "\"}}\nsource: {sync_interval: 1h}\n", "store: {backend: sqlite, data_dir: \"", dir_.path(),
        "/data\"}\n", "auth:\n  mode: required\n  tenant: acme\n  jwt:\n    jwks_file: jwks.json\n",
        "    issuers: [\"", kIssuer, "\"]\n    audiences: [dealcoach]\n",
        "  roles: {\"Sales Rep\": rep}\n");
    auto s = StartSidecar(yaml, dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());
  }

  Json Claims(const std::string& role, const std::string& tenant,
              const std::string& sub = kOwner) const {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return {{"iss", kIssuer}, {"aud", "dealcoach"}, {"sub", sub},      {"exp", now + 300},
            {"iat", now - 5}, {"roles", {role}},    {"tenant", tenant}};
  }
  std::string Token(const std::string& role, const std::string& tenant) const {
    return auth::test_keys::Sign(*key_, Claims(role, tenant));
  }

  // Calls `rpc` with `token` ("" = none) and returns the code and message.
  grpc::Status Call(const std::string& rpc, const std::string& token,
                    const std::string& tenant_header = "") {
    grpc::ClientContext ctx;
    if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
    if (!tenant_header.empty()) ctx.AddMetadata("x-dealcoach-tenant", tenant_header);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (rpc == "GetDealGuidance" || rpc == "GetDealGuidance(other)") {
      v1::GetDealGuidanceRequest req;
      req.set_opportunity_id(rpc == "GetDealGuidance" ? kOwnDeal : kOthersDeal);
      v1::GetDealGuidanceResponse resp;
      return v1::CoachingService::NewStub(channel_)->GetDealGuidance(&ctx, req, &resp);
    }
    if (rpc == "GetReviewChecklist") {
      v1::GetReviewChecklistRequest req;
      req.set_opportunity_id(kOwnDeal);
      v1::GetReviewChecklistResponse resp;
      return v1::CoachingService::NewStub(channel_)->GetReviewChecklist(&ctx, req, &resp);
    }
    if (rpc == "GetActivePlaybook") {
      v1::GetActivePlaybookRequest req;
      v1::GetActivePlaybookResponse resp;
      return v1::PlaybookService::NewStub(channel_)->GetActivePlaybook(&ctx, req, &resp);
    }
    if (rpc == "ValidatePlaybook") {
      v1::ValidatePlaybookRequest req;
      req.set_yaml(ReadFileOrDie(ShippedPlaybook("customer-journey")));
      v1::ValidatePlaybookResponse resp;
      return v1::PlaybookService::NewStub(channel_)->ValidatePlaybook(&ctx, req, &resp);
    }
    if (rpc == "GetStatus") {
      v1::GetStatusRequest req;
      v1::GetStatusResponse resp;
      return v1::AdminService::NewStub(channel_)->GetStatus(&ctx, req, &resp);
    }
    ADD_FAILURE() << "unknown rpc " << rpc;
    return grpc::Status::CANCELLED;
  }

  TempDir dir_;
  std::unique_ptr<auth::test_keys::TestKey> key_;
  std::unique_ptr<auth::test_keys::TestKey> foreign_;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(AuthIntegrationTest, RoleTenantRpcMatrix) {
  using C = grpc::StatusCode;
  const std::vector<std::string> rpcs = {"GetDealGuidance",    "GetDealGuidance(other)",
                                         "GetReviewChecklist", "GetActivePlaybook",
                                         "ValidatePlaybook",   "GetStatus"};
  // Expected code per role in the sidecar's own tenant (acme), in `rpcs` order.
  const std::map<std::string, std::vector<C>> own_tenant = {
      {"rep",
       {C::OK, C::PERMISSION_DENIED, C::OK, C::OK, C::PERMISSION_DENIED, C::PERMISSION_DENIED}},
      {"Sales Rep",
       {C::OK, C::PERMISSION_DENIED, C::OK, C::OK, C::PERMISSION_DENIED, C::PERMISSION_DENIED}},
      {"manager", {C::OK, C::OK, C::OK, C::OK, C::PERMISSION_DENIED, C::PERMISSION_DENIED}},
      {"service", {C::OK, C::OK, C::OK, C::OK, C::PERMISSION_DENIED, C::PERMISSION_DENIED}},
      {"admin", {C::OK, C::OK, C::OK, C::OK, C::OK, C::OK}},
      {"intern",
       {C::PERMISSION_DENIED, C::PERMISSION_DENIED, C::PERMISSION_DENIED, C::PERMISSION_DENIED,
        C::PERMISSION_DENIED, C::PERMISSION_DENIED}},
  };
  int checked = 0;
  for (const auto& [role, expected] : own_tenant) {
    for (size_t i = 0; i < rpcs.size(); ++i) {
      grpc::Status st = Call(rpcs[i], Token(role, "acme"));
      EXPECT_EQ(st.error_code(), expected[i])
          << role << " x acme x " << rpcs[i] << ": " << st.error_message();
      ++checked;
    }
    // Another tenant's caller of the same role: denied everywhere, with a message that
    // is the same whatever the RPC's data and never names this sidecar's tenant.
    for (const std::string& rpc : rpcs) {
      grpc::Status st = Call(rpc, Token(role, "globex"));
      EXPECT_EQ(st.error_code(), C::PERMISSION_DENIED) << role << " x globex x " << rpc;
      EXPECT_THAT(st.error_message(), Not(HasSubstr("acme")));
      EXPECT_THAT(st.error_message(), Not(HasSubstr("006")));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6 * 6 * 2);
}

TEST_F(AuthIntegrationTest, BadCredentialsAreUnauthenticated) {
  using C = grpc::StatusCode;
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  Json expired = Claims("admin", "acme");
  expired["exp"] = now - 120;
  expired["iat"] = now - 600;
  Json wrong_audience = Claims("admin", "acme");
  wrong_audience["aud"] = "someone-else";
  const std::map<std::string, std::string> cases = {
      {"missing", ""},
      {"expired", auth::test_keys::Sign(*key_, expired)},
      {"wrong audience", auth::test_keys::Sign(*key_, wrong_audience)},
      {"wrongly signed", auth::test_keys::Sign(*foreign_, Claims("admin", "acme"))},
      {"garbage", "not.a.token"},
  };
  for (const auto& [what, token] : cases) {
    for (const std::string rpc : {"GetDealGuidance", "GetActivePlaybook", "GetStatus"}) {
      grpc::Status st = Call(rpc, token);
      EXPECT_EQ(st.error_code(), C::UNAUTHENTICATED) << what << " x " << rpc;
      EXPECT_FALSE(st.error_message().empty()) << what;
    }
  }
  EXPECT_THAT(Call("GetStatus", "").error_message(), HasSubstr("no credentials"));
  EXPECT_THAT(Call("GetStatus", cases.at("expired")).error_message(), HasSubstr("expired"));
  // A good token right after: the server is fine.
  EXPECT_TRUE(Call("GetStatus", Token("admin", "acme")).ok());
}

TEST_F(AuthIntegrationTest, TenantHeaderOnlyFromTrustedServices) {
  using C = grpc::StatusCode;
  // A rep may not pick a tenant, not even their own by header.
  EXPECT_EQ(Call("GetDealGuidance", Token("rep", "globex"), "acme").error_code(),
            C::PERMISSION_DENIED);
  // A service may act for the tenant it names: this sidecar's, not another.
  EXPECT_TRUE(Call("GetDealGuidance(other)", Token("service", "globex"), "acme").ok());
  EXPECT_EQ(Call("GetDealGuidance", Token("service", "acme"), "globex").error_code(),
            C::PERMISSION_DENIED);
}

TEST_F(AuthIntegrationTest, DenialsAndCallersAreInTheDecisionLog) {
  ASSERT_EQ(Call("GetStatus", Token("rep", "acme")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(Call("GetDealGuidance", Token("rep", "acme")).ok());
  sidecar_->Shutdown(absl::Seconds(5));  // flushes the decision log
  absl::StatusOr<store::StoreConfig> config = store::ParseStoreConfig(
      YAML::Load(absl::StrCat("{backend: sqlite, data_dir: \"", dir_.path(), "/data\"}")),
      dir_.path());
  ASSERT_TRUE(config.ok()) << config.status();
  auto store = store::Open(config->options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto decisions = (*store)->ListDecisions("acme", "", 100);
  ASSERT_TRUE(decisions.ok()) << decisions.status();
  bool denial = false;
  bool answer = false;
  for (const store::Decision& d : *decisions) {
    if (!d.fired_rule_ids.empty() && d.fired_rule_ids[0] == "authz.denied") {
      denial = true;
      EXPECT_EQ(d.caller, absl::StrCat("jwt:", kOwner));
      EXPECT_THAT(d.fired_rule_ids, ::testing::Contains("/dealcoach.v1.AdminService/GetStatus"));
    }
    if (d.deal_id == kOwnDeal) {
      answer = true;
      EXPECT_EQ(d.caller, absl::StrCat("jwt:", kOwner));
    }
  }
  EXPECT_TRUE(denial);
  EXPECT_TRUE(answer);
}

TEST(AuthPolicyTest, EveryRpcHasAPolicyEntry) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  int methods = 0;
  for (const char* name : {"dealcoach.v1.CoachingService", "dealcoach.v1.PlaybookService",
                           "dealcoach.v1.AdminService"}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string full = absl::StrCat(service->full_name(), "/", service->method(i)->name());
      EXPECT_TRUE(auth::PolicyFor(full).has_value())
          << full << " has no entry in sidecar/auth/authorizer.cc's policy table";
      ++methods;
    }
  }
  EXPECT_GE(methods, 5);
}

}  // namespace
}  // namespace dealcoach::testing
