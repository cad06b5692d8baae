// Two replicas for real (issue 15, item 6): two `dealcoach serve` processes on loopback
// share one PostgreSQL store (the test server of scripts/start-postgres.sh) behind one
// gRPC client doing round robin, as the headless Service of deploy/k8s documents:
//
//   - a revision published through the store is served by both;
//   - one replica is killed (SIGKILL, mid-load): the client's calls fail over to the
//     other with no lost answer (the client's retry policy retries UNAVAILABLE on the
//     next pick, as the service config in docs/production.md does);
//   - the replica restarts on the same port: its health (grpc.health.v1, which the
//     client's round robin watches through healthCheckConfig) is SERVING only with its
//     playbook loaded from the store, and it takes traffic again.
//
// The publish-to-both path has its own test (store_replicas_test); this one is about
// failure and recovery.
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "sidecar/store/test_support.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

// A free loopback port (bound and released; the replica binds it right after).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// A `dealcoach serve` child on a fixed port; SIGTERM (or Kill: SIGKILL) and reaped.
class Replica {
 public:
  Replica(std::string config, int port, std::string log)
      : config_(std::move(config)), port_(port), log_(std::move(log)) {}
  ~Replica() { Stop(SIGTERM); }

  void Start() {
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log_.c_str(), "a", stderr);
      (void)out;
      const std::string listen = absl::StrCat("--listen=127.0.0.1:", port_);
      execl(DEALCOACH_BINARY, DEALCOACH_BINARY, "serve", "--config", config_.c_str(),
            listen.c_str(), nullptr);
      _exit(127);
    }
  }
  void Kill() { Stop(SIGKILL); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  void Stop(int signal) {
    if (pid_ <= 0) return;
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  std::string config_;
  int port_;
  std::string log_;
  pid_t pid_ = -1;
};

// The serving status of the coaching service on `address`; UNKNOWN when unreachable.
grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("dealcoach.v1.CoachingService");
  grpc::health::v1::HealthCheckResponse resp;
  if (!stub->Check(&ctx, req, &resp).ok()) return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  return resp.status();
}

absl::StatusOr<v1::GetActivePlaybookResponse> Active(const std::string& address) {
  auto stub = v1::PlaybookService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::GetActivePlaybookRequest req;
  v1::GetActivePlaybookResponse resp;
  grpc::Status st = stub->GetActivePlaybook(&ctx, req, &resp);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return resp;
}

bool WaitServing(const std::string& address, absl::Duration within) {
  const absl::Time deadline = absl::Now() + within;
  while (absl::Now() < deadline) {
    if (Health(address) == grpc::health::v1::HealthCheckResponse::SERVING) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// The client of deploy/k8s/service.yaml: per-call round robin over both replicas, only
// to replicas whose health is SERVING, and a retry of UNAVAILABLE on the next pick.
std::shared_ptr<grpc::Channel> RoundRobinChannel(const std::string& a, const std::string& b) {
  grpc::ChannelArguments args;
  // A restarted replica is retried within half a second, not gRPC's default backoff
  // (which grows towards two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetServiceConfigJSON(R"({
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": "dealcoach.v1.CoachingService"},
    "methodConfig": [{
      "name": [{"service": "dealcoach.v1.CoachingService"}],
      "retryPolicy": {"maxAttempts": 5, "initialBackoff": "0.02s", "maxBackoff": "0.2s",
                      "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
    }]})");
  return grpc::CreateCustomChannel(absl::StrCat("ipv4:", a, ",", b),
                                   grpc::InsecureChannelCredentials(), args);
}

TEST(ReplicaFailover, KilledReplicaFailsOverWithNoLostAnswerAndRejoinsOnlyWhenReady) {
  auto db = store::testing::PgTestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  dir.Write("customer-journey.yaml", ReadFileOrDie(ShippedPlaybook("customer-journey")));
  const std::string config = dir.Write(
      "sidecar.yaml", absl::StrCat("log_level: info\nplaybooks: {files: [customer-journey.yaml]}\n"
                                   "reload: {poll_interval: 200ms}\n"
                                   "connector: {type: file, file: {path: \"",
                                   SamplesFile(),
                                   "\", rebase_dates_from: \"2026-11-20T12:00:00Z\"}}\n"
                                   "store:\n  backend: postgres\n  postgres: {conninfo: \"",
                                   (*db)->app_conninfo(), "\"}\n"));
  Replica a(config, FreePort(), dir.path() + "/a.log");
  Replica b(config, FreePort(), dir.path() + "/b.log");
  a.Start();
  b.Start();
  ASSERT_TRUE(WaitServing(a.address(), absl::Seconds(20))) << a.Log();
  ASSERT_TRUE(WaitServing(b.address(), absl::Seconds(20))) << b.Log();

  // A revision published elsewhere (through the store, as the admin API does), served by
  // both before the load starts.
  auto opened = store::Open(store::testing::PostgresOptions((*db)->app_conninfo()));
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto seeded = (*opened)->GetPublished("default", "customer-journey");
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  auto created = (*opened)->CreateRevision(
      "default", "customer-journey",
      absl::StrReplaceAll(ReadFileOrDie(ShippedPlaybook("customer-journey")),
                          {{"\n  version: 1\n", "\n  version: 7\n"}}),
      "admin", "before the failover");
  ASSERT_TRUE(created.ok()) << created.status();
  store::PublishRequest publish;
  publish.tenant = "default";
  publish.name = "customer-journey";
  publish.revision = created->revision;
  publish.expected_current = seeded->revision;
  publish.actor = "admin";
  ASSERT_TRUE((*opened)->Publish(publish).ok());
  for (const Replica* r : {&a, &b}) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    int64_t served = 0;
    while (served != created->revision && absl::Now() < deadline) {
      absl::StatusOr<v1::GetActivePlaybookResponse> active = Active(r->address());
      served = active.ok() ? active->store_revision() : 0;
      if (served != created->revision) absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_EQ(served, created->revision) << r->address() << "\n" << r->Log();
  }

  // Load through the round-robin client, four callers.
  std::shared_ptr<grpc::Channel> channel = RoundRobinChannel(a.address(), b.address());
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, lost{0}, wrong_version{0};
  std::string first_error;
  std::mutex error_mu;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      auto stub = v1::CoachingService::NewStub(channel);
      while (!stop.load()) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        v1::GetDealGuidanceRequest req;
        req.set_opportunity_id("006000000000006AAA");
        v1::GetDealGuidanceResponse resp;
        grpc::Status st = stub->GetDealGuidance(&ctx, req, &resp);
        if (!st.ok()) {
          lost.fetch_add(1);
          std::lock_guard<std::mutex> lock(error_mu);
          if (first_error.empty()) first_error = st.error_message();
          continue;
        }
        answered.fetch_add(1);
        if (resp.guidance().playbook().version() != 7) wrong_version.fetch_add(1);
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  const int before_kill = answered.load();
  a.Kill();
  const absl::Time killed_at = absl::Now();
  absl::SleepFor(absl::Seconds(1));
  const int during_outage = answered.load() - before_kill;

  // Restart on the same port: not SERVING before its playbook is loaded, and when it is,
  // it serves the published revision from the store.
  a.Start();
  bool saw_ready = false;
  int64_t revision_when_ready = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!saw_ready && absl::Now() < deadline) {
    if (Health(a.address()) == grpc::health::v1::HealthCheckResponse::SERVING) {
      saw_ready = true;
      absl::StatusOr<v1::GetActivePlaybookResponse> active = Active(a.address());
      revision_when_ready = active.ok() ? active->store_revision() : -1;
    } else {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  ASSERT_TRUE(saw_ready) << a.Log();
  EXPECT_EQ(revision_when_ready, created->revision) << a.Log();
  absl::SleepFor(absl::Seconds(1));  // the client's health watch picks it up again
  stop = true;
  for (std::thread& t : callers) t.join();

  std::printf("answered %d calls (%d while one replica was down for %.1f s), lost %d\n",
              answered.load(), during_outage, absl::ToDoubleSeconds(absl::Now() - killed_at),
              lost.load());
  EXPECT_EQ(lost.load(), 0) << first_error;
  EXPECT_EQ(wrong_version.load(), 0);
  EXPECT_GT(before_kill, 0);
  EXPECT_GT(during_outage, 0) << "no answers while one replica was down";

  // The restarted replica is back in the client's rotation: with the other one gone,
  // the same balanced channel is answered by it.
  b.Kill();
  auto stub = v1::CoachingService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ctx.set_wait_for_ready(true);  // until the channel has a SERVING replica again
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id("006000000000006AAA");
  v1::GetDealGuidanceResponse resp;
  grpc::Status st = stub->GetDealGuidance(&ctx, req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message() << "\n" << a.Log();
  EXPECT_EQ(resp.guidance().playbook().version(), 7);
}

}  // namespace
}  // namespace dealcoach::testing
