// Configuration errors that only show across files (two playbooks with one
// metadata.name, a rename that leaves playbooks.default naming nothing) never take the
// sidecar down: a hot reload is rejected with diagnostics (GetActivePlaybook and
// AdminService.GetStatus) while the last good set keeps serving and health stays
// SERVING; at start-up the sidecar refuses to start.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

std::string Yaml(const std::string& files, const std::string& default_name) {
  return absl::StrCat("listen: 127.0.0.1:0\nlog_level: off\nplaybooks:\n  files: [", files, "]\n",
                      default_name.empty() ? "" : absl::StrCat("  default: ", default_name, "\n"),
                      "reload: {poll_interval: 20ms}\n"
                      "connector: {type: file, file: {path: \"",
                      SamplesFile(), "\"}}\nsource: {sync_interval: 1h}\n");
}

std::string Renamed(const std::string& yaml, const std::string& from, const std::string& to) {
  return absl::StrReplaceAll(
      yaml, {{absl::StrCat("metadata:\n  name: ", from), absl::StrCat("metadata:\n  name: ", to)}});
}

class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        playbooks_(v1::PlaybookService::NewStub(channel_)),
        admin_(v1::AdminService::NewStub(channel_)),
        health_(grpc::health::v1::Health::NewStub(channel_)) {}

  v1::GetActivePlaybookResponse Active(const std::string& name = "") {
    grpc::ClientContext ctx;
    v1::GetActivePlaybookRequest req;
    req.set_name(name);
    v1::GetActivePlaybookResponse resp;
    grpc::Status s = playbooks_->GetActivePlaybook(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  v1::GetStatusResponse Status() {
    grpc::ClientContext ctx;
    v1::GetStatusResponse resp;
    grpc::Status s = admin_->GetStatus(&ctx, v1::GetStatusRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  HealthCheckResponse::ServingStatus Health(const std::string& service = "") {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = health_->Check(&ctx, req, &resp);
    return s.ok() ? resp.status() : HealthCheckResponse::UNKNOWN;
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::PlaybookService::Stub> playbooks_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

template <typename F>
bool WaitFor(F done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class ConfigReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cj_ = ReadFileOrDie(ShippedPlaybook("customer-journey"));
    meddicc_ = ReadFileOrDie(ShippedPlaybook("meddicc"));
    ASSERT_TRUE(absl::StrContains(cj_, "metadata:\n  name: customer-journey"));
    ASSERT_TRUE(absl::StrContains(meddicc_, "metadata:\n  name: meddicc"));
    cj_path_ = dir_.Write("cj.yaml", cj_);
    meddicc_path_ = dir_.Write("meddicc.yaml", meddicc_);
  }
  std::string Files() const { return absl::StrCat("\"", cj_path_, "\", \"", meddicc_path_, "\""); }

  TempDir dir_;
  std::string cj_, meddicc_, cj_path_, meddicc_path_;
};

TEST_F(ConfigReloadTest, RenamingTheDefaultPlaybookIsRejectedAndKeepsServing) {
  auto s = StartSidecar(Yaml(Files(), "customer-journey"), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());
  ASSERT_EQ(client.Active().playbook().name(), "customer-journey");

  dir_.Write("cj.yaml", Renamed(cj_, "customer-journey", "journey-v2"));
  ASSERT_TRUE(WaitFor([&] { return client.Active().last_reload_diagnostics_size() > 0; }));
  v1::GetActivePlaybookResponse active = client.Active();
  EXPECT_EQ(active.playbook().name(), "customer-journey");  // last good keeps serving
  EXPECT_TRUE(absl::StrContains(active.last_reload_diagnostics(0).message(),
                                "playbooks.default is 'customer-journey'"))
      << active.last_reload_diagnostics(0).message();
  EXPECT_EQ(active.last_reload_diagnostics(0).file(), cj_path_);
  EXPECT_EQ(client.Health(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(client.Health("dealcoach.v1.CoachingService"), HealthCheckResponse::SERVING);

  v1::GetStatusResponse status = client.Status();
  ASSERT_EQ(status.playbooks_size(), 2);
  EXPECT_FALSE(status.playbooks(0).last_reload_ok());
  EXPECT_TRUE(status.playbooks(0).is_default());
  EXPECT_EQ(status.playbooks(0).serving().name(), "customer-journey");
  EXPECT_EQ(status.playbooks_loaded(), 2);

  // Putting the name back is accepted and clears the diagnostics.
  dir_.Write("cj.yaml", cj_ + "\n# touched\n");
  ASSERT_TRUE(WaitFor([&] { return client.Active().last_reload_diagnostics_size() == 0; }));
  EXPECT_EQ(client.Health(""), HealthCheckResponse::SERVING);
}

TEST_F(ConfigReloadTest, DuplicateNameIsRejectedNeverShadowingTheOther) {
  auto s = StartSidecar(Yaml(Files(), ""), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());

  dir_.Write("meddicc.yaml", Renamed(meddicc_, "meddicc", "customer-journey"));
  ASSERT_TRUE(WaitFor([&] {
    v1::GetStatusResponse st = client.Status();
    return st.playbooks_size() == 2 && st.playbooks(1).last_reload_diagnostics_size() > 0;
  }));
  v1::GetStatusResponse status = client.Status();
  EXPECT_TRUE(
      absl::StrContains(status.playbooks(1).last_reload_diagnostics(0).message(), "used by both"));
  // customer-journey is still cj.yaml's, meddicc still serves its last good version.
  EXPECT_EQ(client.Active("customer-journey").playbook().name(), "customer-journey");
  EXPECT_EQ(status.playbooks(0).serving().name(), "customer-journey");
  EXPECT_EQ(status.playbooks(1).serving().name(), "meddicc");
  EXPECT_EQ(client.Active("meddicc").playbook().name(), "meddicc");
  EXPECT_EQ(client.Health(""), HealthCheckResponse::SERVING);
}

TEST_F(ConfigReloadTest, StartupRefusesDuplicateNames) {
  dir_.Write("meddicc.yaml", Renamed(meddicc_, "meddicc", "customer-journey"));
  auto s = StartSidecar(Yaml(Files(), ""), SourceDir());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "used by both")) << s.status();
}

TEST_F(ConfigReloadTest, StartupRefusesADefaultNamingNothing) {
  auto s = StartSidecar(Yaml(Files(), "no-such-playbook"), SourceDir());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.status().message(), "playbooks.default is 'no-such-playbook'"))
      << s.status();
}

// Answers are built on a per-call arena that references the playbook's rule, phase and
// playbook refs instead of copying them, and are serialized after the handler has let
// go of its playbook. Reloads swapping the playbook under calls in flight must never
// free those refs under the serializer (the sanitizer stage found exactly that once:
// a use-after-free when a publish landed mid-answer); every answer stays whole.
TEST_F(ConfigReloadTest, AnswersInFlightDuringReloadsStayWhole) {
  auto s = StartSidecar(Yaml(Files(), "customer-journey"), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());
  auto channel = grpc::CreateChannel((*s)->address(), grpc::InsecureChannelCredentials());
  std::atomic<bool> stop{false};
  std::atomic<int> answers{0}, broken{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t) {
    callers.emplace_back([&] {
      auto stub = v1::CoachingService::NewStub(channel);
      while (!stop.load()) {
        grpc::ClientContext ctx;
        v1::GetDealGuidanceRequest req;
        req.set_opportunity_id("006000000000006AAA");
        v1::GetDealGuidanceResponse resp;
        grpc::Status status = stub->GetDealGuidance(&ctx, req, &resp);
        const v1::DealGuidance& g = resp.guidance();
        bool whole = status.ok() && g.playbook().name() == "customer-journey" &&
                     !g.playbook().revision().empty() && !g.evidence_phase().id().empty() &&
                     g.next_best_behaviors_size() > 0 &&
                     !g.next_best_behaviors(0).rule().id().empty();
        if (!whole) broken.fetch_add(1);
        answers.fetch_add(1);
      }
    });
  }
  std::string revision = client.Active().playbook().revision();
  for (int i = 0; i < 40; ++i) {
    dir_.Write("cj.yaml", absl::StrCat(cj_, "\n# edit ", i, std::string(i % 7, '#'), "\n"));
    ASSERT_TRUE(WaitFor([&] { return client.Active().playbook().revision() != revision; }))
        << "reload " << i << " was not picked up";
    revision = client.Active().playbook().revision();
  }
  stop.store(true);
  for (std::thread& t : callers) t.join();
  EXPECT_GT(answers.load(), 40);
  EXPECT_EQ(broken.load(), 0) << "of " << answers.load() << " answers";
}

}  // namespace
}  // namespace dealcoach::testing
