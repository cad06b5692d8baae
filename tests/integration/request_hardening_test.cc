// Request hardening over real gRPC on loopback: undecodable bytes, very long ids,
// out-of-range timestamps and oversized inline opportunities are each refused with
// INVALID_ARGUMENT / NOT_FOUND and a short message naming the field, the server stays
// SERVING afterwards, and none of them grows the process's peak RSS by more than a
// stated bound.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr int64_t kAsOfSeconds = 1795176000;  // 2026-11-20T12:00:00Z
// Peak-RSS growth any one hostile request may cause (the whole request is < 4 MiB).
constexpr int64_t kMaxRssGrowthKb = 64 * 1024;

// Field of /proc/self/status in kB ("VmHWM" = peak RSS, "VmRSS" = current).
int64_t ProcStatusKb(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, key + ":")) {
      std::string v = line.substr(key.size() + 1);
      v = v.substr(0, v.find("kB"));
      int64_t kb = 0;
      std::string trimmed(absl::StripAsciiWhitespace(v));
      if (absl::SimpleAtoi(trimmed, &kb)) return kb;
    }
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux clear_refs "5"), so a later VmHWM reading is the
// peak reached since now.
void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

class RequestHardeningTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string yaml =
        absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
                     ShippedPlaybook("customer-journey"),
                     "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"",
                     SamplesFile(), "\"}}\nsource: {sync_interval: 1h}\n");
    auto s = StartSidecar(yaml, SourceDir());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = s->release();
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials()));
  }
  static void TearDownTestSuite() {
    delete channel_;
    delete sidecar_;
  }

  void SetUp() override {
    ResetPeakRss();
    rss_before_kb_ = ProcStatusKb("VmRSS");
  }
  // Every test ends with the server healthy and the peak RSS within bound.
  void TearDown() override {
    const int64_t peak = ProcStatusKb("VmHWM");
    ASSERT_GT(peak, 0);
    const int64_t growth = peak - rss_before_kb_;
    std::cout << "peak RSS growth: " << growth << " kB\n";
    EXPECT_LT(growth, kMaxRssGrowthKb);
    auto health = grpc::health::v1::Health::NewStub(*channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    HealthCheckRequest req;
    HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);
  }

  static void Deadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  static grpc::Status Guidance(v1::GetDealGuidanceRequest req) {
    if (!req.has_as_of()) req.mutable_as_of()->set_seconds(kAsOfSeconds);
    auto stub = v1::CoachingService::NewStub(*channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetDealGuidanceResponse resp;
    return stub->GetDealGuidance(&ctx, req, &resp);
  }

  // Sends `bytes` as the request of `method` through grpc::GenericStub.
  static grpc::Status RawCall(const std::string& method, const std::string& bytes,
                              std::string* response = nullptr) {
    grpc::GenericStub stub(*channel_);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer reply;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status result;
    stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &reply, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (response != nullptr && result.ok()) {
      std::vector<grpc::Slice> slices;
      EXPECT_TRUE(reply.Dump(&slices).ok());
      response->clear();
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return result;
  }

  static server::Sidecar* sidecar_;
  static std::shared_ptr<grpc::Channel>* channel_;
  int64_t rss_before_kb_ = 0;
};
server::Sidecar* RequestHardeningTest::sidecar_ = nullptr;
std::shared_ptr<grpc::Channel>* RequestHardeningTest::channel_ = nullptr;

struct RawMethod {
  const char* path;
  const char* type;
};
constexpr RawMethod kMethods[] = {
    {"/dealcoach.v1.CoachingService/GetDealGuidance", "dealcoach.v1.GetDealGuidanceRequest"},
    {"/dealcoach.v1.CoachingService/GetReviewChecklist", "dealcoach.v1.GetReviewChecklistRequest"},
    {"/dealcoach.v1.PlaybookService/ValidatePlaybook", "dealcoach.v1.ValidatePlaybookRequest"},
    {"/dealcoach.v1.PlaybookService/GetActivePlaybook", "dealcoach.v1.GetActivePlaybookRequest"},
    {"/dealcoach.v1.PlaybookService/PlanPlaybookChange", "dealcoach.v1.PlanPlaybookChangeRequest"},
    {"/dealcoach.v1.PlaybookService/PublishPlaybook", "dealcoach.v1.PublishPlaybookRequest"},
    {"/dealcoach.v1.PlaybookService/ListPlaybookRevisions",
     "dealcoach.v1.ListPlaybookRevisionsRequest"},
    {"/dealcoach.v1.PlaybookService/GetPlaybookRevision",
     "dealcoach.v1.GetPlaybookRevisionRequest"},
    {"/dealcoach.v1.PlaybookService/RollbackPlaybook", "dealcoach.v1.RollbackPlaybookRequest"},
    {"/dealcoach.v1.PlaybookService/ListAuditEvents", "dealcoach.v1.ListAuditEventsRequest"},
    {"/dealcoach.v1.PlaybookService/ListDecisions", "dealcoach.v1.ListDecisionsRequest"},
    {"/dealcoach.v1.PlaybookService/BacktestPlaybook", "dealcoach.v1.BacktestPlaybookRequest"},
};

TEST_F(RequestHardeningTest, GarbageBytesAreInvalidArgumentOnEveryMethod) {
  // 0xFF... is a field tag with an over-long varint: undecodable as any message.
  const std::string garbage(37, '\xFF');
  for (const RawMethod& m : kMethods) {
    grpc::Status s = RawCall(m.path, garbage);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << m.path;
    EXPECT_EQ(s.error_message(), absl::StrCat("request: not a valid ", m.type, " (37 bytes)"))
        << m.path;
  }
}

TEST_F(RequestHardeningTest, TruncatedMessageIsInvalidArgument) {
  v1::GetDealGuidanceRequest req;
  req.mutable_opportunity()->set_id("cut");
  req.mutable_opportunity()->set_name(std::string(100, 'n'));
  std::string bytes = req.SerializeAsString();
  bytes.resize(bytes.size() - 10);  // a length-delimited field now runs past the end
  grpc::Status s = RawCall(kMethods[0].path, bytes);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), absl::StrCat("request: not a valid dealcoach.v1."
                                            "GetDealGuidanceRequest (",
                                            bytes.size(), " bytes)"));
}

TEST_F(RequestHardeningTest, ValidBytesStillWorkOnEveryMethod) {
  v1::GetDealGuidanceRequest g;
  g.set_opportunity_id("006000000000006AAA");
  g.mutable_as_of()->set_seconds(kAsOfSeconds);
  std::string out;
  grpc::Status s = RawCall(kMethods[0].path, g.SerializeAsString(), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetDealGuidanceResponse gr;
  ASSERT_TRUE(gr.ParseFromString(out));
  EXPECT_EQ(gr.guidance().freshness().source(), "file");

  v1::GetReviewChecklistRequest c;
  c.set_opportunity_id("006000000000006AAA");
  c.mutable_as_of()->set_seconds(kAsOfSeconds);
  s = RawCall(kMethods[1].path, c.SerializeAsString(), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetReviewChecklistResponse cr;
  ASSERT_TRUE(cr.ParseFromString(out));
  EXPECT_GT(cr.checklist().items_size(), 0);

  v1::ValidatePlaybookRequest v;
  v.set_yaml(ReadFileOrDie(ShippedPlaybook("customer-journey")));
  s = RawCall(kMethods[2].path, v.SerializeAsString(), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ValidatePlaybookResponse vr;
  ASSERT_TRUE(vr.ParseFromString(out));
  EXPECT_TRUE(vr.valid());

  s = RawCall(kMethods[3].path, v1::GetActivePlaybookRequest().SerializeAsString(), &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::GetActivePlaybookResponse ar;
  ASSERT_TRUE(ar.ParseFromString(out));
  EXPECT_EQ(ar.playbook().name(), "customer-journey");
}

TEST_F(RequestHardeningTest, LongIdIsNotFoundWithTruncatedMessage) {
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(std::string(10000, 'z'));
  grpc::Status s = Guidance(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_LT(s.error_message().size(), 300u) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "(10000 bytes)")) << s.error_message();

  // The other echoed request values: playbook and checklist names.
  req.set_opportunity_id("006000000000006AAA");
  req.set_playbook(std::string(10000, 'p'));
  s = Guidance(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_LT(s.error_message().size(), 400u);
  EXPECT_TRUE(absl::StrContains(s.error_message(), "(10000 bytes)")) << s.error_message();

  auto stub = v1::CoachingService::NewStub(*channel_);
  grpc::ClientContext ctx;
  Deadline(&ctx);
  v1::GetReviewChecklistRequest creq;
  creq.set_opportunity_id("006000000000006AAA");
  creq.set_checklist(std::string(10000, 'c'));
  v1::GetReviewChecklistResponse cresp;
  s = stub->GetReviewChecklist(&ctx, creq, &cresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  EXPECT_LT(s.error_message().size(), 300u);

  auto pstub = v1::PlaybookService::NewStub(*channel_);
  grpc::ClientContext pctx;
  Deadline(&pctx);
  v1::GetActivePlaybookRequest preq;
  preq.set_name(std::string(10000, 'n'));
  v1::GetActivePlaybookResponse presp;
  s = pstub->GetActivePlaybook(&pctx, preq, &presp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  EXPECT_LT(s.error_message().size(), 300u);
}

TEST_F(RequestHardeningTest, OutOfRangeTimestampsNameTheField) {
  struct Case {
    std::function<void(v1::Opportunity*)> set;
    std::string path;
  };
  const Case cases[] = {
      {[](v1::Opportunity* o) { o->mutable_close_date()->set_seconds(253402300800); },
       "opportunity.close_date"},
      {[](v1::Opportunity* o) {
         for (int i = 0; i < 4; ++i) o->add_activities()->mutable_at()->set_seconds(kAsOfSeconds);
         o->mutable_activities(3)->mutable_at()->set_nanos(1000000000);
       },
       "opportunity.activities[3].at"},
      {[](v1::Opportunity* o) {
         o->add_stage_history()->mutable_entered_at()->set_seconds(-62135596801);
       },
       "opportunity.stage_history[0].entered_at"},
      {[](v1::Opportunity* o) { o->mutable_updated_at()->set_nanos(-1); },
       "opportunity.updated_at"},
  };
  for (const Case& c : cases) {
    v1::GetDealGuidanceRequest req;
    req.mutable_opportunity()->set_id("ts");
    c.set(req.mutable_opportunity());
    grpc::Status s = Guidance(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.path;
    EXPECT_TRUE(absl::StartsWith(s.error_message(), c.path + ": not a valid timestamp"))
        << s.error_message();
  }
}

TEST_F(RequestHardeningTest, OversizedInlineOpportunityIsInvalidArgumentNamingTheField) {
  {
    v1::GetDealGuidanceRequest req;
    req.mutable_opportunity()->set_id("many");
    for (int i = 0; i < 10001; ++i) req.mutable_opportunity()->add_contacts()->set_id("c");
    grpc::Status s = Guidance(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "opportunity.contacts: 10001 entries"))
        << s.error_message();
  }
  {
    v1::GetDealGuidanceRequest req;
    req.mutable_opportunity()->set_id("long");
    req.mutable_opportunity()->add_activities()->set_subject(std::string(100 * 1024, 's'));
    grpc::Status s = Guidance(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "opportunity.activities[0].subject: 102400"))
        << s.error_message();
  }
  {
    // 3 MiB total in 60 KiB strings: each string is fine, the total is not.
    v1::GetDealGuidanceRequest req;
    req.mutable_opportunity()->set_id("total");
    for (int i = 0; i < 50; ++i) {
      req.mutable_opportunity()->add_artifacts()->set_title(std::string(60 * 1024, 't'));
    }
    grpc::Status s = Guidance(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "opportunity: ")) << s.error_message();
    EXPECT_TRUE(absl::StrContains(s.error_message(), "at most 2097152")) << s.error_message();
  }
}

}  // namespace
}  // namespace dealcoach::testing
