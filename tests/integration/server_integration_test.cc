// End-to-end tests of the sidecar over real gRPC on loopback: the shipped playbooks,
// the real file connector over the shipped samples, a fixed as_of
// (2026-11-20T12:00:00Z, the instant the samples are anchored at).
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

constexpr int64_t kAsOfSeconds = 1795176000;  // 2026-11-20T12:00:00Z

std::string ServerYaml(const std::string& playbooks, const std::string& extra = "") {
  return absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [", playbooks,
                      "]\nreload: {poll_interval: 50ms}\n"
                      "connector: {type: file, file: {path: \"",
                      SamplesFile(), "\"}}\nsource: {sync_interval: 1h}\n", extra);
}

class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        coaching_(v1::CoachingService::NewStub(channel_)),
        playbooks_(v1::PlaybookService::NewStub(channel_)),
        health_(grpc::health::v1::Health::NewStub(channel_)) {}

  static void Deadline(grpc::ClientContext* ctx, int ms = 10000) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
  }

  grpc::Status Guidance(v1::GetDealGuidanceRequest req, v1::DealGuidance* out,
                        bool fixed_time = true) {
    if (fixed_time && !req.has_as_of()) req.mutable_as_of()->set_seconds(kAsOfSeconds);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetDealGuidanceResponse resp;
    grpc::Status s = coaching_->GetDealGuidance(&ctx, req, &resp);
    if (out != nullptr) *out = resp.guidance();
    return s;
  }
  grpc::Status GuidanceById(const std::string& id, v1::DealGuidance* out,
                            const std::string& playbook = "") {
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(id);
    req.set_playbook(playbook);
    return Guidance(req, out);
  }
  grpc::Status Checklist(v1::GetReviewChecklistRequest req, v1::ReviewChecklist* out) {
    req.mutable_as_of()->set_seconds(kAsOfSeconds);
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetReviewChecklistResponse resp;
    grpc::Status s = coaching_->GetReviewChecklist(&ctx, req, &resp);
    if (out != nullptr) *out = resp.checklist();
    return s;
  }
  v1::GetActivePlaybookResponse Active(const std::string& name = "") {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    v1::GetActivePlaybookRequest req;
    req.set_name(name);
    v1::GetActivePlaybookResponse resp;
    grpc::Status s = playbooks_->GetActivePlaybook(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }
  HealthCheckResponse::ServingStatus Health(const std::string& service = "") {
    grpc::ClientContext ctx;
    Deadline(&ctx);
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = health_->Check(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp.status();
  }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  v1::PlaybookService::Stub& playbooks() { return *playbooks_; }
  v1::CoachingService::Stub& coaching() { return *coaching_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CoachingService::Stub> coaching_;
  std::unique_ptr<v1::PlaybookService::Stub> playbooks_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// One sidecar over the shipped playbooks for the read-only tests.
class ShippedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto s = StartSidecar(ServerYaml(absl::StrCat("\"", ShippedPlaybook("customer-journey"),
                                                  "\", \"", ShippedPlaybook("meddicc"), "\""),
                                     "max_message_bytes: 65536\n"),
                          SourceDir());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = s->release();
    client_ = new Client(sidecar_->address());
  }
  static void TearDownTestSuite() {
    delete client_;
    delete sidecar_;
  }
  static v1::Opportunity Sample(const std::string& id) {
    for (v1::Opportunity& o : LoadSamples()) {
      if (o.id() == id) return o;
    }
    ADD_FAILURE() << "no sample " << id;
    return {};
  }
  static server::Sidecar* sidecar_;
  static Client* client_;
};
server::Sidecar* ShippedServerTest::sidecar_ = nullptr;
Client* ShippedServerTest::client_ = nullptr;

TEST_F(ShippedServerTest, HealthIsServingForTheServerAndEachService) {
  EXPECT_EQ(client_->Health(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(client_->Health("dealcoach.v1.CoachingService"), HealthCheckResponse::SERVING);
  EXPECT_EQ(client_->Health("dealcoach.v1.PlaybookService"), HealthCheckResponse::SERVING);
}

// Reflection over the generic byte-stream API: the request and response messages come
// from the descriptors libgrpc++_reflection registers, so no generated stub is needed.
TEST_F(ShippedServerTest, ReflectionListsTheServices) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  const auto* req_desc =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionRequest");
  const auto* resp_desc =
      pool->FindMessageTypeByName("grpc.reflection.v1alpha.ServerReflectionResponse");
  ASSERT_NE(req_desc, nullptr);
  ASSERT_NE(resp_desc, nullptr);
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<google::protobuf::Message> req(factory->GetPrototype(req_desc)->New());
  req->GetReflection()->SetString(req.get(), req_desc->FindFieldByName("list_services"), "*");
  std::string bytes = req->SerializeAsString();

  grpc::ClientContext ctx;
  Client::Deadline(&ctx);
  grpc::internal::RpcMethod method("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                   grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          client_->channel().get(), method, &ctx));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer out(&slice, 1);
  ASSERT_TRUE(stream->Write(out));
  stream->WritesDone();
  grpc::ByteBuffer in;
  ASSERT_TRUE(stream->Read(&in));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string response_bytes;
  for (const grpc::Slice& s : slices) {
    response_bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  std::unique_ptr<google::protobuf::Message> resp(factory->GetPrototype(resp_desc)->New());
  ASSERT_TRUE(resp->ParseFromString(response_bytes));
  std::string text = resp->DebugString();
  EXPECT_TRUE(absl::StrContains(text, "\"dealcoach.v1.CoachingService\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "\"dealcoach.v1.PlaybookService\"")) << text;
  EXPECT_TRUE(absl::StrContains(text, "\"grpc.reflection.v1alpha.ServerReflection\"")) << text;
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ShippedServerTest, ActivePlaybookListsBoth) {
  v1::GetActivePlaybookResponse active = client_->Active();
  EXPECT_EQ(active.playbook().name(), "customer-journey");
  EXPECT_GT(active.playbook().version(), 0);
  EXPECT_EQ(active.source_path(), ShippedPlaybook("customer-journey"));
  EXPECT_TRUE(active.last_reload_diagnostics().empty());
  EXPECT_EQ(std::vector<std::string>(active.available_playbooks().begin(),
                                     active.available_playbooks().end()),
            (std::vector<std::string>{"customer-journey", "meddicc"}));
  EXPECT_EQ(client_->Active("meddicc").playbook().name(), "meddicc");
}

TEST_F(ShippedServerTest, UnknownIdIsNotFound) {
  grpc::Status s = client_->GuidanceById("006NOPE", nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(s.error_message(), "opportunity '006NOPE' not found in file");
}

TEST_F(ShippedServerTest, BadArgumentsNameTheField) {
  v1::GetDealGuidanceRequest req;
  grpc::Status s = client_->Guidance(req, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "target: set opportunity_id or opportunity");

  req.set_opportunity_id("006000000000006AAA");
  req.set_max_behaviors(51);
  s = client_->Guidance(req, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "max_behaviors: must be between 0 and 50, got 51");

  req.set_max_behaviors(0);
  req.set_playbook("x");
  s = client_->Guidance(req, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "playbook: unknown playbook 'x'; loaded: customer-journey, meddicc");

  req.set_playbook("");
  req.mutable_as_of()->set_nanos(-5);
  s = client_->Guidance(req, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "as_of: not a valid timestamp"))
      << s.error_message();

  v1::GetReviewChecklistRequest creq;
  creq.set_opportunity_id("006000000000006AAA");
  creq.set_checklist("nope");
  s = client_->Checklist(creq, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(s.error_message(), "checklist: ")) << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "nope")) << s.error_message();

  grpc::ClientContext ctx;
  v1::ValidatePlaybookRequest vreq;
  v1::ValidatePlaybookResponse vresp;
  s = client_->playbooks().ValidatePlaybook(&ctx, vreq, &vresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "yaml: must not be empty");
}

TEST_F(ShippedServerTest, OversizedInlineOpportunityIsResourceExhausted) {
  v1::GetDealGuidanceRequest req;
  req.mutable_opportunity()->set_id("big");
  req.mutable_opportunity()->set_next_step(std::string(100 * 1024, 'x'));  // > 64 KiB limit
  grpc::Status s = client_->Guidance(req, nullptr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
}

TEST_F(ShippedServerTest, ExpiredDeadlineIsDeadlineExceeded) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() - std::chrono::seconds(1));
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id("006000000000006AAA");
  v1::GetDealGuidanceResponse resp;
  grpc::Status s = client_->coaching().GetDealGuidance(&ctx, req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ShippedServerTest, ValidatePlaybookReportsDiagnosticsWithLineAndColumn) {
  grpc::ClientContext ctx;
  v1::ValidatePlaybookRequest req;
  req.set_yaml(ReadFileOrDie(SourceDir() + "/tests/integration/testdata/broken_playbook.yaml"));
  req.set_file_name("draft.yaml");
  v1::ValidatePlaybookResponse resp;
  ASSERT_TRUE(client_->playbooks().ValidatePlaybook(&ctx, req, &resp).ok());
  EXPECT_FALSE(resp.valid());
  ASSERT_GT(resp.diagnostics_size(), 0);
  EXPECT_EQ(resp.diagnostics(0).file(), "draft.yaml");
  EXPECT_GT(resp.diagnostics(0).line(), 0);
  EXPECT_GT(resp.diagnostics(0).column(), 0);

  grpc::ClientContext ctx2;
  req.set_yaml(ReadFileOrDie(ShippedPlaybook("customer-journey")));
  req.set_run_tests(true);
  ASSERT_TRUE(client_->playbooks().ValidatePlaybook(&ctx2, req, &resp).ok());
  EXPECT_TRUE(resp.valid());
  EXPECT_EQ(resp.playbook().name(), "customer-journey");
}

const v1::CriterionResult* Criterion(const v1::DealGuidance& g, const std::string& rule_id) {
  for (const v1::GateResult& gate : g.gates()) {
    for (const v1::CriterionResult& c : gate.criteria()) {
      if (c.rule().id() == rule_id) return &c;
    }
  }
  return nullptr;
}

// What the shipped samples encode (config/samples, customer-journey playbook).
TEST_F(ShippedServerTest, StageAheadOfEvidenceForAProposalStillInAwareness) {
  v1::DealGuidance g;
  ASSERT_TRUE(client_->GuidanceById("006000000000006AAA", &g).ok());
  EXPECT_EQ(g.opportunity_name(), "Woodgrove Bank - Fraud Analytics");
  EXPECT_EQ(g.playbook().name(), "customer-journey");
  EXPECT_EQ(g.crm_stage(), "Proposal/Price Quote");
  EXPECT_EQ(g.claimed_phase().id(), "decision");
  EXPECT_EQ(g.evidence_phase().id(), "awareness");
  ASSERT_TRUE(g.has_stage_ahead_of_evidence());
  EXPECT_GT(g.stage_ahead_of_evidence().blocking_criteria_size(), 0);
  const v1::CriterionResult* pain = Criterion(g, "awareness/community-pain");
  ASSERT_NE(pain, nullptr);
  EXPECT_EQ(pain->status(), v1::CRITERION_STATUS_UNMET);
  ASSERT_GT(g.next_best_behaviors_size(), 0);
  EXPECT_EQ(g.next_best_behaviors(0).rule().id(), "awareness/multi-thread");
  EXPECT_LE(g.next_best_behaviors_size(), 3);
  EXPECT_GT(g.risks_size(), 0);
  EXPECT_EQ(g.freshness().source(), "file");
}

TEST_F(ShippedServerTest, NotRecordedIsUnknownNotUnmet) {
  v1::DealGuidance g;
  ASSERT_TRUE(client_->GuidanceById("006000000000013AAA", &g).ok());
  EXPECT_EQ(g.claimed_phase().id(), "consideration");
  EXPECT_EQ(g.evidence_phase().id(), "consideration");
  EXPECT_FALSE(g.has_stage_ahead_of_evidence());
  const v1::CriterionResult* c = Criterion(g, "consideration/decision-criteria");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status(), v1::CRITERION_STATUS_UNKNOWN);
  EXPECT_GT(c->missing_fields_size(), 0);
}

TEST_F(ShippedServerTest, EvidenceAheadOfStageIsNoWarning) {
  v1::DealGuidance g;
  ASSERT_TRUE(client_->GuidanceById("006000000000037AAA", &g).ok());
  EXPECT_EQ(g.claimed_phase().id(), "evaluation");
  EXPECT_EQ(g.evidence_phase().id(), "decision");
  EXPECT_FALSE(g.has_stage_ahead_of_evidence());
}

TEST_F(ShippedServerTest, MaxBehaviorsAndChecklist) {
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id("006000000000006AAA");
  req.set_max_behaviors(1);
  v1::DealGuidance g;
  ASSERT_TRUE(client_->Guidance(req, &g).ok());
  EXPECT_EQ(g.next_best_behaviors_size(), 1);
  EXPECT_GT(g.more_behaviors(), 0);

  v1::GetReviewChecklistRequest creq;
  creq.set_opportunity_id("006000000000006AAA");
  v1::ReviewChecklist c;
  ASSERT_TRUE(client_->Checklist(creq, &c).ok());
  EXPECT_EQ(c.checklist(), "opportunity_review");
  EXPECT_EQ(c.evidence_phase().id(), "awareness");
  EXPECT_GT(c.open_items(), 0);
  int open = 0;
  for (const v1::ChecklistItem& item : c.items()) {
    if (item.status() != v1::CRITERION_STATUS_MET) {
      ++open;
      EXPECT_FALSE(item.coaching_question().empty()) << item.text();
    }
  }
  EXPECT_EQ(open, c.open_items());
  EXPECT_EQ(c.freshness().source(), "file");
}

// Push mode and id mode give the same guidance for the same deal, apart from freshness.
TEST_F(ShippedServerTest, PushModeAndIdModeAgree) {
  for (const v1::Opportunity& opp : LoadSamples()) {
    v1::DealGuidance by_id, inline_g;
    ASSERT_TRUE(client_->GuidanceById(opp.id(), &by_id).ok()) << opp.id();
    v1::GetDealGuidanceRequest req;
    *req.mutable_opportunity() = opp;
    ASSERT_TRUE(client_->Guidance(req, &inline_g).ok()) << opp.id();
    EXPECT_EQ(inline_g.freshness().source(), "inline");
    EXPECT_EQ(inline_g.freshness().age().seconds(), 0);
    EXPECT_EQ(by_id.freshness().source(), "file");
    by_id.clear_freshness();
    inline_g.clear_freshness();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(by_id, inline_g))
        << opp.id() << "\nby id:\n"
        << by_id.DebugString() << "\ninline:\n"
        << inline_g.DebugString();
  }
}

// --- Playbook lifecycle: each test runs its own sidecar over a temp copy. ---

class LifecycleTest : public ::testing::Test {
 protected:
  // Polls `done` every 20 ms for up to 10 s.
  template <typename F>
  static bool WaitFor(F done) {
    absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (absl::Now() < give_up) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return done();
  }
  TempDir dir_;
};

TEST_F(LifecycleTest, NoValidPlaybookIsNotServingAndFailedPreconditionUntilFixed) {
  std::string path = dir_.Write("cj.yaml", "apiVersion: dealcoach/v1\nkind: [\n");
  auto s = StartSidecar(ServerYaml(absl::StrCat("\"", path, "\"")), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->serving_playbooks(), 0);
  Client client((*s)->address());
  EXPECT_EQ(client.Health(""), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(client.Health("dealcoach.v1.CoachingService"), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(client.Health("dealcoach.v1.PlaybookService"), HealthCheckResponse::SERVING);

  grpc::Status st = client.GuidanceById("006000000000006AAA", nullptr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "has no valid version loaded: "))
      << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "cj.yaml:3:1: error: malformed YAML"))
      << st.error_message();

  dir_.Write("cj.yaml", ReadFileOrDie(ShippedPlaybook("customer-journey")));
  EXPECT_TRUE(WaitFor([&] { return client.Health("") == HealthCheckResponse::SERVING; }));
  EXPECT_TRUE(client.GuidanceById("006000000000006AAA", nullptr).ok());
}

// Rewrites "version: N" in the metadata block to `version`.
std::string WithVersion(const std::string& yaml, int64_t version) {
  std::vector<std::string> lines = absl::StrSplit(yaml, '\n');
  for (std::string& line : lines) {
    size_t at = line.find("version:");
    if (at != std::string::npos) {
      line = absl::StrCat(line.substr(0, at), "version: ", version);
      break;
    }
  }
  return absl::StrJoin(lines, "\n");
}

TEST_F(LifecycleTest, HotReloadKeepsLastGoodThenPicksUpTheFix) {
  const std::string good = ReadFileOrDie(ShippedPlaybook("customer-journey"));
  std::string path = dir_.Write("customer-journey.yaml", good);
  auto s = StartSidecar(ServerYaml(absl::StrCat("\"", path, "\"")), SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());
  const v1::GetActivePlaybookResponse before = client.Active();
  const int64_t v0 = before.playbook().version();
  ASSERT_GT(v0, 0);

  // Break an expression: an undefined field, at a line and column we know.
  size_t when = good.find("when: ");
  ASSERT_NE(when, std::string::npos);
  size_t eol = good.find('\n', when);
  std::string broken =
      absl::StrCat(good.substr(0, when), "when: opp.amout > 1.0", good.substr(eol));
  broken = WithVersion(broken, v0 + 1);
  const int broken_line = 1 + static_cast<int>(std::count(good.begin(), good.begin() + when, '\n'));
  dir_.Write("customer-journey.yaml", broken);

  ASSERT_TRUE(WaitFor([&] { return client.Active().last_reload_diagnostics_size() > 0; }));
  v1::GetActivePlaybookResponse after_broken = client.Active();
  EXPECT_EQ(after_broken.playbook().version(), v0) << "the last good version keeps serving";
  const v1::Diagnostic& d = after_broken.last_reload_diagnostics(0);
  EXPECT_EQ(d.severity(), v1::DIAGNOSTIC_SEVERITY_ERROR);
  EXPECT_EQ(d.line(), broken_line) << d.DebugString();
  EXPECT_GT(d.column(), 0);
  EXPECT_TRUE(absl::StrContains(d.message(), "amout")) << d.message();
  EXPECT_TRUE(after_broken.has_last_reload_attempt());
  v1::DealGuidance g;
  ASSERT_TRUE(client.GuidanceById("006000000000006AAA", &g).ok());
  EXPECT_EQ(g.playbook().version(), v0);

  dir_.Write("customer-journey.yaml", WithVersion(good, v0 + 2));
  ASSERT_TRUE(WaitFor([&] { return client.Active().playbook().version() == v0 + 2; }));
  EXPECT_TRUE(client.Active().last_reload_diagnostics().empty());
  ASSERT_TRUE(client.GuidanceById("006000000000006AAA", &g).ok());
  EXPECT_EQ(g.playbook().version(), v0 + 2);
}

TEST_F(LifecycleTest, SlowSourceAndShortDeadlineIsDeadlineExceeded) {
  std::string yaml =
      absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks: {files: [\"",
                   ShippedPlaybook("customer-journey"),
                   "\"]}\nconnector: {type: slow_file, slow_file: {delay: 1500ms, file: {path: \"",
                   SamplesFile(), "\"}}}\nsource: {background_sync: false}\n");
  auto s = StartSidecar(yaml, SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id("006000000000006AAA");
  v1::GetDealGuidanceResponse resp;
  absl::Time start = absl::Now();
  grpc::Status st = client.coaching().GetDealGuidance(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << st.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.4)) << "the client is not kept waiting";
}

// CRM connectors deliver activities, not the derived last_meeting_at/last_activity_at:
// id mode must derive them at ingestion exactly as push mode does for inline deals.
TEST_F(LifecycleTest, IdModeDerivesFieldsLikePushMode) {
  std::vector<std::string> json;
  int with_meetings = 0;
  for (v1::Opportunity opp : LoadSamples()) {
    opp.clear_last_meeting_at();
    opp.clear_last_activity_at();
    for (const v1::Activity& a : opp.activities()) with_meetings += a.type() == "meeting";
    std::string one;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(opp, &one).ok());
    json.push_back(std::move(one));
  }
  ASSERT_GT(with_meetings, 0) << "the samples must exercise the derivation";
  std::string samples = dir_.Write("raw.json", absl::StrCat("[", absl::StrJoin(json, ",\n"), "]"));
  std::string yaml =
      absl::StrReplaceAll(ServerYaml(absl::StrCat("\"", ShippedPlaybook("customer-journey"), "\"")),
                          {{SamplesFile(), samples}});
  auto s = StartSidecar(yaml, SourceDir());
  ASSERT_TRUE(s.ok()) << s.status();
  Client client((*s)->address());
  for (const v1::Opportunity& opp : LoadSamples()) {
    v1::GetDealGuidanceRequest inline_req;
    *inline_req.mutable_opportunity() = opp;
    inline_req.mutable_opportunity()->clear_last_meeting_at();
    inline_req.mutable_opportunity()->clear_last_activity_at();
    v1::DealGuidance by_id, inline_g;
    ASSERT_TRUE(client.GuidanceById(opp.id(), &by_id).ok()) << opp.id();
    ASSERT_TRUE(client.Guidance(inline_req, &inline_g).ok()) << opp.id();
    by_id.clear_freshness();
    inline_g.clear_freshness();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(by_id, inline_g))
        << opp.id() << "\nby id:\n"
        << by_id.DebugString() << "\ninline:\n"
        << inline_g.DebugString();
  }
}

}  // namespace
}  // namespace dealcoach::testing
