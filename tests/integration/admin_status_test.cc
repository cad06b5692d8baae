// AdminService.GetStatus over a real server: connector, last sync, last error and the
// cached count; and a sync stuck in the CRM does not hold shutdown past the grace.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "connectors/registry.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

// Test-only connector types, wrapping the real file connector:
//   flaky_file: syncs fail while g_fail_sync is set.
//   stuck_file: syncs block (a CRM that went silent) until g_release_stuck.
std::atomic<bool> g_fail_sync{false};
absl::Notification* g_stuck_started = new absl::Notification();
absl::Notification* g_release_stuck = new absl::Notification();

class WrappedFile : public connectors::Connector {
 public:
  WrappedFile(std::string type, std::unique_ptr<connectors::Connector> inner)
      : type_(std::move(type)), inner_(std::move(inner)) {}
  absl::string_view type() const override { return type_; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override {
    return inner_->FetchOpportunity(id, deadline);
  }
  absl::StatusOr<connectors::SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override {
    if (type_ == "stuck_file") {
      g_stuck_started->Notify();
      g_release_stuck->WaitForNotificationWithTimeout(absl::Seconds(60));
      return absl::DeadlineExceededError("stuck_file: GET /deals: no response");
    }
    if (g_fail_sync.load()) {
      return absl::UnavailableError("flaky_file: GET /deals?since=...: 503 Service Unavailable");
    }
    return inner_->SyncChangedSince(since, sink);
  }
  connectors::ConnectorHealth Health() const override { return inner_->Health(); }

 private:
  const std::string type_;
  std::unique_ptr<connectors::Connector> inner_;
};

template <const char* kType>
class WrappedFileFactory : public connectors::ConnectorFactory {
 public:
  absl::string_view type() const override { return kType; }
  absl::StatusOr<std::unique_ptr<connectors::Connector>> Create(
      const YAML::Node& config, const connectors::ConnectorContext& context) const override {
    auto file = connectors::FindConnectorFactory("file");
    if (!file.ok()) return file.status();
    auto inner = (*file)->Create(config["file"], context);
    if (!inner.ok()) return inner.status();
    return std::make_unique<WrappedFile>(kType, *std::move(inner));
  }
};
constexpr char kFlaky[] = "flaky_file";
constexpr char kStuck[] = "stuck_file";
using FlakyFactory = WrappedFileFactory<kFlaky>;
using StuckFactory = WrappedFileFactory<kStuck>;
DEALCOACH_REGISTER_CONNECTOR(FlakyFactory);
DEALCOACH_REGISTER_CONNECTOR(StuckFactory);

std::string Yaml(const std::string& type, const std::string& extra = "") {
  return absl::StrCat("listen: 127.0.0.1:0\nlog_level: off\nplaybooks:\n  files: [\"",
                      ShippedPlaybook("customer-journey"), "\"]\n", "connector: {type: ", type,
                      ", ", type, ": {file: {path: \"", SamplesFile(),
                      "\"}}}\nsource: {sync_interval: 50ms}\n", extra);
}

v1::GetStatusResponse GetStatus(const std::string& address) {
  auto stub =
      v1::AdminService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  v1::GetStatusResponse resp;
  grpc::Status s = stub->GetStatus(&ctx, v1::GetStatusRequest(), &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return resp;
}

template <typename F>
bool WaitFor(F done) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!done()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

TEST(AdminStatusTest, ReportsConnectorLastSyncCachedCountAndPlaybooks) {
  g_fail_sync = false;
  auto s = StartSidecar(Yaml("flaky_file"), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  const int64_t samples = static_cast<int64_t>(LoadSamples().size());
  ASSERT_TRUE(WaitFor([&] { return GetStatus((*s)->address()).source().cached_count() > 0; }));
  v1::GetStatusResponse st = GetStatus((*s)->address());
  EXPECT_EQ(st.source().connector(), "flaky_file");
  EXPECT_TRUE(st.source().healthy()) << st.source().detail();
  EXPECT_EQ(st.source().cached_count(), samples);
  EXPECT_TRUE(st.source().has_last_sync_time());
  EXPECT_LE(st.source().last_sync_time().seconds(), absl::ToUnixSeconds(absl::Now()));
  EXPECT_GE(st.source().last_sync_time().seconds(), absl::ToUnixSeconds(absl::Now()) - 60);
  EXPECT_GE(st.source().sync_passes(), 1);
  EXPECT_TRUE(st.source().last_error().empty());
  EXPECT_FALSE(st.source().has_last_error_time());
  ASSERT_EQ(st.playbooks_size(), 1);
  EXPECT_EQ(st.playbooks_loaded(), 1);
  EXPECT_EQ(st.playbooks(0).serving().name(), "customer-journey");
  EXPECT_TRUE(st.playbooks(0).last_reload_ok());
  EXPECT_TRUE(st.playbooks(0).is_default());

  // The CRM goes down: the last error and health show it, the cache keeps its deals.
  g_fail_sync = true;
  ASSERT_TRUE(WaitFor([&] { return !GetStatus((*s)->address()).source().last_error().empty(); }));
  st = GetStatus((*s)->address());
  EXPECT_TRUE(absl::StrContains(st.source().last_error(), "503 Service Unavailable"))
      << st.source().last_error();
  EXPECT_TRUE(st.source().has_last_error_time());
  EXPECT_FALSE(st.source().healthy());
  EXPECT_EQ(st.source().cached_count(), samples);
  g_fail_sync = false;
}

TEST(AdminStatusTest, StuckSyncDoesNotDelayShutdownPastTheGrace) {
  auto s = StartSidecar(Yaml("stuck_file", "shutdown_grace: 500ms\n"), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE(g_stuck_started->WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Duration grace = absl::Milliseconds(500);
  const absl::Time t0 = absl::Now();
  (*s)->Shutdown(grace);
  (*s)->Wait();
  s->reset();
  const absl::Duration took = absl::Now() - t0;
  std::printf("sidecar shutdown with a stuck sync: %s (grace 500ms)\n",
              absl::FormatDuration(took).c_str());
  EXPECT_LE(took, grace + absl::Milliseconds(300));
  g_release_stuck->Notify();
  absl::SleepFor(absl::Milliseconds(50));
}

}  // namespace
}  // namespace dealcoach::testing
