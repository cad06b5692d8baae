// Several tenants in one sidecar, and managers limited to their team, on a real server
// over loopback gRPC (and its HTTP routes, which call the same handler layer).
//
// Tenant acme is the top-level connector and playbook (customer-journey over the shipped
// samples); tenant globex is a `tenants:` entry with its own file connector (the samples
// with every id renumbered: 0069... / 0059... instead of 0060... / 0050...) and its own
// playbook (meddicc). Both share one SQLite store. Managers carry a team claim.
//
// The matrix (RoleTenantRpcMatrixIsolatesTenants) is a table: for every RPC of the three
// services, every role, both tenants as the caller, and three targets: the caller's own
// data (the expected code is the table's), the other tenant's ids, and ids that exist
// nowhere. The other tenant's ids must give exactly what the nonexistent ones give (code
// and message, once the ids are named alike), and no answer may hold an id of the other
// tenant.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "sidecar/auth/jwt_test_util.h"
#include "sidecar/store/test_support.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using auth::test_keys::Json;
using C = grpc::StatusCode;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://login.example.com";

// What a tenant holds that a caller could ask about.
struct Data {
  std::string tenant;
  std::string deal_id;         // owned by rep_id
  std::string rep_id;          // in team `team`
  std::string team;            // the rep's owner.manager_id
  std::string other_team_rep;  // a rep of the other team of the same tenant
  std::string playbook;        // its serving playbook's name
  std::string yaml;            // that playbook's YAML
  std::string plan_id;         // a plan its admin made (setup)
  int64_t revision = 1;
  std::string snapshot_id;
  std::string id_prefix;  // every deal id of the tenant starts so
  std::string owner_prefix;
};

Data WithDeal(const std::string& id) {
  Data d;
  d.deal_id = id;
  return d;
}
Data WithRep(const std::string& id) {
  Data d;
  d.rep_id = id;
  return d;
}

const std::vector<std::string>& AllRpcs() {
  // Every RPC of CoachingService, PlaybookService and AdminService (the test below checks
  // this list against the descriptors). The writes come last, PublishPlaybook before
  // PlanPlaybookChange, so that no earlier cell's write changes a later cell's answer.
  static const std::vector<std::string> rpcs = {
      "GetDealGuidance",     "GetReviewChecklist", "EvaluatePipeline", "GetPipelineReview",
      "GetCoachingAgenda",   "GetActivePlaybook",  "ValidatePlaybook", "ListPlaybookRevisions",
      "GetPlaybookRevision", "ListAuditEvents",    "ListDecisions",    "BacktestPlaybook",
      "GetStatus",           "TakeSnapshot",       "PublishPlaybook",  "PlanPlaybookChange",
      "RollbackPlaybook"};
  return rpcs;
}

// Parameter: the shared store's backend, "sqlite" or "postgres" (row-level security on,
// the app role; the test server of scripts/start-postgres.sh).
class TenantIsolationTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    key_ = auth::test_keys::MakeRsa("k1");
    dir_.Write("jwks.json", Json{{"keys", {key_->jwk}}}.dump());
    const std::string samples = ReadFileOrDie(SamplesFile());
    dir_.Write("globex.json", absl::StrReplaceAll(samples, {{"\"006000000", "\"006900000"},
                                                            {"\"005000000", "\"005900000"},
                                                            {"\"001000000", "\"001900000"},
                                                            {"\"003000000", "\"003900000"}}));
    std::string store =
        absl::StrCat("store: {backend: sqlite, data_dir: \"", dir_.path(), "/data\"}\n");
    if (GetParam() == "postgres") {
      auto db = store::testing::PgTestDatabase::Create();
      ASSERT_TRUE(db.ok()) << db.status();
      db_ = *std::move(db);
      store = absl::StrCat("store:\n  backend: postgres\n  postgres: {conninfo: \"",
                           db_->app_conninfo(), "\"}\n");
    }
    const std::string yaml = absl::StrCat(
        "listen: 127.0.0.1:0\nlog_level: error\n", "playbooks:\n  files: [\"",
        ShippedPlaybook("customer-journey"), "\"]\n", "reload: {poll_interval: 1h}\n",
        "connector: {type: file, file: {path: \"", SamplesFile(), "\"}}\n",
        "source: {sync_interval: 1h}\n", store, "http: {listen: 127.0.0.1:0}\n",
        "auth:\n  mode: required\n  tenant: acme\n  jwt:\n    jwks_file: jwks.json\n",
        "    issuers: [\"", kIssuer, "\"]\n    audiences: [dealcoach]\n    team_claim: team\n",
        "tenants:\n  globex:\n    connector: {type: file, file: {path: globex.json}}\n",
        "    playbooks: {files: [\"", ShippedPlaybook("meddicc"), "\"]}\n");
    auto s = StartSidecar(yaml, dir_.path());
    ASSERT_TRUE(s.ok()) << s.status();
    sidecar_ = *std::move(s);
    channel_ = grpc::CreateChannel(sidecar_->address(), grpc::InsecureChannelCredentials());

    acme_ = {"acme",
             "006000000000001AAA",
             "005000000000012AAA",
             "005000000000001AAA",
             "",
             "customer-journey",
             ReadFileOrDie(ShippedPlaybook("customer-journey")),
             "",
             1,
             "snap-acme",
             "006000000",
             "005000000"};
    globex_ = acme_;
    globex_.tenant = "globex";
    globex_.deal_id = "006900000000001AAA";
    globex_.rep_id = "005900000000012AAA";
    globex_.team = "005900000000001AAA";
    globex_.playbook = "meddicc";
    globex_.yaml = ReadFileOrDie(ShippedPlaybook("meddicc"));
    globex_.snapshot_id = "snap-globex";
    globex_.id_prefix = "006900000";
    globex_.owner_prefix = "005900000";
    for (Data* d : {&acme_, &globex_}) Prepare(d);
  }

  // Waits for the tenant's first sync, then gives it a plan, a snapshot and a decision.
  void Prepare(Data* d) {
    const std::string admin = Token("admin", d->tenant, "ops");
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    int64_t cached = 0;
    while (absl::Now() < deadline && cached < 55) {
      grpc::ClientContext ctx;
      Auth(&ctx, admin);
      v1::GetStatusResponse status;
      if (v1::AdminService::NewStub(channel_)->GetStatus(&ctx, {}, &status).ok()) {
        cached = status.source().cached_count();
      }
      if (cached < 55) absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_EQ(cached, 55) << d->tenant;
    // The other team's rep: any deal's owner whose manager is not `team`.
    {
      grpc::ClientContext ctx;
      Auth(&ctx, admin);
      v1::EvaluatePipelineRequest req;
      req.mutable_scope()->set_all(true);
      auto reader = v1::CoachingService::NewStub(channel_)->EvaluatePipeline(&ctx, req);
      v1::EvaluatePipelineResponse r;
      while (reader->Read(&r)) {
        if (r.has_deal() && r.deal().owner().manager_id() != d->team) {
          d->other_team_rep = r.deal().owner().id();
        }
      }
      ASSERT_TRUE(reader->Finish().ok());
      ASSERT_FALSE(d->other_team_rep.empty());
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, admin);
      v1::PlanPlaybookChangeRequest req;
      req.set_yaml(d->yaml + "\n# a change for the plan\n");
      req.set_author("ops");
      v1::PlanPlaybookChangeResponse resp;
      grpc::Status st =
          v1::PlaybookService::NewStub(channel_)->PlanPlaybookChange(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
      d->plan_id = resp.plan_id();
      ASSERT_FALSE(d->plan_id.empty());
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, admin);
      v1::TakeSnapshotRequest req;
      req.set_snapshot_id(d->snapshot_id);
      v1::TakeSnapshotResponse resp;
      grpc::Status st = v1::CoachingService::NewStub(channel_)->TakeSnapshot(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
    {
      grpc::ClientContext ctx;
      Auth(&ctx, admin);
      v1::GetDealGuidanceRequest req;
      req.set_opportunity_id(d->deal_id);
      v1::GetDealGuidanceResponse resp;
      grpc::Status st = v1::CoachingService::NewStub(channel_)->GetDealGuidance(&ctx, req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
    }
  }

  // What exists nowhere, shaped like `like` (the same playbook YAML under another name,
  // the same plan id for another playbook).
  static Data Nowhere(const Data& like) {
    Data n = like;
    n.tenant = "nowhere";
    n.deal_id = "006999999999999AAA";
    n.rep_id = "005999999999999AAA";
    n.team = "005999999999998AAA";
    n.playbook = "no-such-playbook";
    n.yaml = absl::StrReplaceAll(like.yaml, {{"name: " + like.playbook, "name: no-such-playbook"}});
    n.plan_id =
        absl::StrReplaceAll(like.plan_id, {{":" + like.playbook + ":", ":no-such-playbook:"}});
    n.snapshot_id = "snap-nowhere";
    return n;
  }

  std::string Token(const std::string& role, const std::string& tenant, const std::string& sub,
                    const std::string& team = "") const {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    Json claims = {{"iss", kIssuer}, {"aud", "dealcoach"}, {"sub", sub},      {"exp", now + 300},
                   {"iat", now - 5}, {"roles", {role}},    {"tenant", tenant}};
    if (!team.empty()) claims["team"] = team;
    return auth::test_keys::Sign(*key_, claims);
  }
  static void Auth(grpc::ClientContext* ctx, const std::string& token) {
    ctx->AddMetadata("authorization", "Bearer " + token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  struct Answer {
    grpc::Status status;
    std::string response;  // text format
  };

  // Calls `rpc` about `d` with `token` (plus `header` as x-dealcoach-tenant when set).
  Answer Call(const std::string& rpc, const std::string& token, const Data& d,
              const std::string& header = "") {
    grpc::ClientContext ctx;
    Auth(&ctx, token);
    if (!header.empty()) ctx.AddMetadata("x-dealcoach-tenant", header);
    auto coaching = v1::CoachingService::NewStub(channel_);
    auto playbooks = v1::PlaybookService::NewStub(channel_);
    Answer a;
    auto done = [&a](const grpc::Status& st, const google::protobuf::Message& m) {
      a.status = st;
      if (st.ok()) google::protobuf::TextFormat::PrintToString(m, &a.response);
    };
    if (rpc == "GetDealGuidance") {
      v1::GetDealGuidanceRequest q;
      q.set_opportunity_id(d.deal_id);
      v1::GetDealGuidanceResponse r;
      done(coaching->GetDealGuidance(&ctx, q, &r), r);
    } else if (rpc == "GetReviewChecklist") {
      v1::GetReviewChecklistRequest q;
      q.set_opportunity_id(d.deal_id);
      v1::GetReviewChecklistResponse r;
      done(coaching->GetReviewChecklist(&ctx, q, &r), r);
    } else if (rpc == "EvaluatePipeline") {
      v1::EvaluatePipelineRequest q;
      q.mutable_scope()->set_rep_id(d.rep_id);
      auto reader = coaching->EvaluatePipeline(&ctx, q);
      v1::EvaluatePipelineResponse r;
      std::string all;
      while (reader->Read(&r)) {
        std::string one;
        google::protobuf::TextFormat::PrintToString(r, &one);
        all += one;
      }
      a.status = reader->Finish();
      a.response = all;
    } else if (rpc == "GetPipelineReview") {
      v1::GetPipelineReviewRequest q;
      q.mutable_scope()->set_rep_id(d.rep_id);
      v1::GetPipelineReviewResponse r;
      done(coaching->GetPipelineReview(&ctx, q, &r), r);
    } else if (rpc == "GetCoachingAgenda") {
      v1::GetCoachingAgendaRequest q;
      q.set_rep_id(d.rep_id);
      v1::GetCoachingAgendaResponse r;
      done(coaching->GetCoachingAgenda(&ctx, q, &r), r);
    } else if (rpc == "TakeSnapshot") {
      v1::TakeSnapshotRequest q;
      q.set_snapshot_id(d.snapshot_id);
      v1::TakeSnapshotResponse r;
      done(coaching->TakeSnapshot(&ctx, q, &r), r);
      // Which snapshot was written is the caller's own business; its deal count is what
      // could leak, and it is compared.
      if (a.status.ok()) a.response = absl::StrCat("deals: ", r.deals());
    } else if (rpc == "GetActivePlaybook") {
      v1::GetActivePlaybookRequest q;
      q.set_name(d.playbook);
      v1::GetActivePlaybookResponse r;
      done(playbooks->GetActivePlaybook(&ctx, q, &r), r);
    } else if (rpc == "ValidatePlaybook") {
      v1::ValidatePlaybookRequest q;
      q.set_yaml(d.yaml);
      v1::ValidatePlaybookResponse r;
      done(playbooks->ValidatePlaybook(&ctx, q, &r), r);
      if (a.status.ok()) a.response = absl::StrCat("valid: ", r.valid());
    } else if (rpc == "PlanPlaybookChange") {
      v1::PlanPlaybookChangeRequest q;
      q.set_yaml(d.yaml);
      q.set_author("cell");
      v1::PlanPlaybookChangeResponse r;
      done(playbooks->PlanPlaybookChange(&ctx, q, &r), r);
      // What the caller's own pipeline does under the YAML sent (the plan id and hashes
      // name the YAML, which differs by its playbook name).
      if (a.status.ok()) {
        a.response = absl::StrCat(r.summary(), " ", r.totals().ShortDebugString(), " ",
                                  r.deals_size(), " ", r.draft_revision());
      }
    } else if (rpc == "PublishPlaybook") {
      v1::PublishPlaybookRequest q;
      q.set_plan_id(d.plan_id);
      q.set_author("cell");
      q.set_message("matrix cell");
      v1::PublishPlaybookResponse r;
      done(playbooks->PublishPlaybook(&ctx, q, &r), r);
    } else if (rpc == "ListPlaybookRevisions") {
      v1::ListPlaybookRevisionsRequest q;
      q.set_playbook(d.playbook);
      v1::ListPlaybookRevisionsResponse r;
      done(playbooks->ListPlaybookRevisions(&ctx, q, &r), r);
    } else if (rpc == "GetPlaybookRevision") {
      v1::GetPlaybookRevisionRequest q;
      q.set_playbook(d.playbook);
      q.set_revision(d.revision);
      v1::GetPlaybookRevisionResponse r;
      done(playbooks->GetPlaybookRevision(&ctx, q, &r), r);
    } else if (rpc == "RollbackPlaybook") {
      v1::RollbackPlaybookRequest q;
      q.set_playbook(d.playbook);
      q.set_to_revision(d.revision);
      q.set_author("cell");
      q.set_message("matrix cell");
      v1::RollbackPlaybookResponse r;
      done(playbooks->RollbackPlaybook(&ctx, q, &r), r);
      // The content hash and time name what this caller wrote earlier in the matrix.
      if (a.status.ok()) {
        a.response = absl::StrCat(r.revision().playbook(), " ", r.revision().revision(), " ",
                                  r.revision().state());
      }
    } else if (rpc == "ListAuditEvents") {
      v1::ListAuditEventsRequest q;
      q.set_playbook(d.playbook);
      v1::ListAuditEventsResponse r;
      done(playbooks->ListAuditEvents(&ctx, q, &r), r);
      if (a.status.ok()) a.response = absl::StrCat("events: ", r.events_size());
    } else if (rpc == "ListDecisions") {
      v1::ListDecisionsRequest q;
      q.set_opportunity_id(d.deal_id);
      v1::ListDecisionsResponse r;
      done(playbooks->ListDecisions(&ctx, q, &r), r);
    } else if (rpc == "BacktestPlaybook") {
      v1::BacktestPlaybookRequest q;
      q.set_yaml(d.yaml);
      v1::BacktestPlaybookResponse r;
      done(playbooks->BacktestPlaybook(&ctx, q, &r), r);
      if (a.status.ok()) a.response = "";  // the caller's own pipeline under the YAML sent
    } else if (rpc == "GetStatus") {
      v1::GetStatusRequest q;
      v1::GetStatusResponse r;
      done(v1::AdminService::NewStub(channel_)->GetStatus(&ctx, q, &r), r);
    } else {
      ADD_FAILURE() << "unknown rpc " << rpc;
    }
    return a;
  }

  // `text` with `d`'s names replaced by placeholders, so that answers about two targets
  // can be compared.
  static std::string Neutral(const std::string& text, const Data& d) {
    return absl::StrReplaceAll(text, {{d.plan_id, "<plan>"},
                                      {d.deal_id, "<deal>"},
                                      {d.rep_id, "<rep>"},
                                      {d.snapshot_id, "<snapshot>"},
                                      {d.playbook, "<playbook>"}});
  }

  std::unique_ptr<store::testing::PgTestDatabase> db_;  // outlives the sidecar
  TempDir dir_;
  std::unique_ptr<auth::test_keys::TestKey> key_;
  std::unique_ptr<server::Sidecar> sidecar_;
  std::shared_ptr<grpc::Channel> channel_;
  Data acme_;
  Data globex_;
};

TEST(TenantIsolationRpcs, TheMatrixCoversEveryRpc) {
  const google::protobuf::DescriptorPool* pool = google::protobuf::DescriptorPool::generated_pool();
  std::vector<std::string> methods;
  for (const char* name : {"dealcoach.v1.CoachingService", "dealcoach.v1.PlaybookService",
                           "dealcoach.v1.AdminService"}) {
    const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i)->name());
  }
  EXPECT_THAT(AllRpcs(), ::testing::UnorderedElementsAreArray(methods));
}

TEST_P(TenantIsolationTest, RoleTenantRpcMatrixIsolatesTenants) {
  // Role rows: the role claim, the subject, and the team claim (for each tenant's data).
  struct Role {
    std::string name;
    std::string role;
    std::function<std::string(const Data&)> sub;
    std::function<std::string(const Data&)> team;
  };
  const std::vector<Role> roles = {
      {"rep", "rep", [](const Data& d) { return d.rep_id; }, nullptr},
      {"manager", "manager", [](const Data&) { return std::string("mgr"); },
       [](const Data& d) { return d.team; }},
      {"manager of another team", "manager", [](const Data&) { return std::string("mgr2"); },
       [](const Data&) { return std::string("some-other-team"); }},
      {"service", "service", [](const Data&) { return std::string("crm-backend"); }, nullptr},
      {"admin", "admin", [](const Data&) { return std::string("ops"); }, nullptr},
  };
  // Role x RPC -> the code for the caller's own data (the same in both tenants). P is
  // PERMISSION_DENIED; every other code means the call was let through.
  const C P = C::PERMISSION_DENIED;
  const C K = C::OK;
  const std::map<std::string, std::map<std::string, C>> own = {
      // clang-format off
      {"GetDealGuidance",       {{"rep", K}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"GetReviewChecklist",    {{"rep", K}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"EvaluatePipeline",      {{"rep", P}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"GetPipelineReview",     {{"rep", P}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"GetCoachingAgenda",     {{"rep", P}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"GetActivePlaybook",     {{"rep", K}, {"manager", K}, {"manager of another team", K}, {"service", K}, {"admin", K}}},
      {"ValidatePlaybook",      {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"ListPlaybookRevisions", {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"GetPlaybookRevision",   {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"ListAuditEvents",       {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"ListDecisions",         {{"rep", P}, {"manager", K}, {"manager of another team", P}, {"service", K}, {"admin", K}}},
      {"BacktestPlaybook",      {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"GetStatus",             {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"TakeSnapshot",          {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"PublishPlaybook",       {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"PlanPlaybookChange",    {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      {"RollbackPlaybook",      {{"rep", P}, {"manager", P}, {"manager of another team", P}, {"service", P}, {"admin", K}}},
      // clang-format on
  };
  ASSERT_EQ(own.size(), AllRpcs().size());
  int cells = 0;
  for (const auto& [self, other] :
       std::vector<std::pair<Data*, Data*>>{{&acme_, &globex_}, {&globex_, &acme_}}) {
    const Data nowhere = Nowhere(*other);
    for (const Role& role : roles) {
      const std::string token =
          Token(role.role, self->tenant, role.sub(*self), role.team ? role.team(*self) : "");
      for (const std::string& rpc : AllRpcs()) {
        const std::string cell = absl::StrCat(self->tenant, " x ", role.name, " x ", rpc);
        // 1. The caller's own data: the table.
        Data fresh = *self;
        fresh.snapshot_id += "-matrix";  // TakeSnapshot: not the one Prepare wrote
        Answer mine = Call(rpc, token, fresh);
        EXPECT_EQ(mine.status.error_code(), own.at(rpc).at(role.name))
            << cell << ": " << mine.status.error_message();
        // 2. The other tenant's ids, then 3. ids that exist nowhere: the same answer.
        Answer theirs = Call(rpc, token, *other);
        Answer none = Call(rpc, token, nowhere);
        EXPECT_EQ(theirs.status.error_code(), none.status.error_code())
            << cell << " (other tenant's ids): " << theirs.status.error_message() << " vs "
            << none.status.error_message();
        EXPECT_EQ(Neutral(theirs.status.error_message(), *other),
                  Neutral(none.status.error_message(), nowhere))
            << cell;
        EXPECT_EQ(Neutral(theirs.response, *other), Neutral(none.response, nowhere)) << cell;
        // No answer holds an id of the other tenant, nor its playbook's name unless the
        // request sent it.
        for (const Answer* a : {&mine, &theirs, &none}) {
          EXPECT_THAT(a->response, Not(HasSubstr(other->id_prefix))) << cell;
          EXPECT_THAT(a->response, Not(HasSubstr(other->owner_prefix))) << cell;
          EXPECT_THAT(a->status.error_message(), Not(HasSubstr(other->tenant))) << cell;
        }
        if (rpc == "GetStatus" || rpc == "GetActivePlaybook" || rpc == "ListPlaybookRevisions") {
          EXPECT_THAT(mine.response, Not(HasSubstr(other->playbook))) << cell;
        }
        ++cells;
      }
    }
  }
  EXPECT_EQ(cells, 2 * 5 * 17);
}

TEST_P(TenantIsolationTest, StatusAndPlaybooksAreTheCallersTenantOnly) {
  // Denials are decisions too: each tenant's go to its own log.
  for (const Data* d : {&acme_, &globex_}) {
    ASSERT_EQ(Call("GetStatus", Token("rep", d->tenant, d->rep_id), *d).status.error_code(),
              C::PERMISSION_DENIED);
  }
  for (const auto& [self, other] :
       std::vector<std::pair<Data*, Data*>>{{&acme_, &globex_}, {&globex_, &acme_}}) {
    const std::string admin = Token("admin", self->tenant, "ops");
    grpc::ClientContext ctx;
    Auth(&ctx, admin);
    v1::GetStatusResponse status;
    ASSERT_TRUE(v1::AdminService::NewStub(channel_)->GetStatus(&ctx, {}, &status).ok());
    ASSERT_EQ(status.playbooks_size(), 1) << self->tenant;
    EXPECT_EQ(status.playbooks(0).serving().name(), self->playbook);
    EXPECT_EQ(status.source().cached_count(), 55);
    // The decision log's counters count every tenant's calls: not in a tenant's status.
    EXPECT_EQ(status.store().decisions_written(), 0);
    Answer active = Call("GetActivePlaybook", Token("rep", self->tenant, self->rep_id), *self);
    ASSERT_TRUE(active.status.ok());
    EXPECT_THAT(active.response, Not(HasSubstr(other->playbook)));
    // Decisions: the tenant's own deal is there, never the other's.
    // The decision log is written asynchronously: wait for Prepare's answer to land.
    Answer decisions;
    for (int i = 0; i < 500; ++i) {
      decisions = Call("ListDecisions", Token("service", self->tenant, "crm"), WithDeal(""));
      ASSERT_TRUE(decisions.status.ok()) << decisions.status.error_message();
      if (absl::StrContains(decisions.response, self->deal_id) &&
          absl::StrContains(decisions.response, "authz.denied")) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    EXPECT_THAT(decisions.response, HasSubstr(self->deal_id));
    EXPECT_THAT(decisions.response, Not(HasSubstr(other->id_prefix)));
    EXPECT_THAT(decisions.response, HasSubstr(absl::StrCat("jwt:", self->rep_id)));
    EXPECT_THAT(decisions.response, Not(HasSubstr(other->owner_prefix)));
  }
}

TEST_P(TenantIsolationTest, TenantComesFromIdentityNotFromTheRequest) {
  // A request field naming another tenant is refused like any other tenant's call; the
  // caller's own name passes.
  const std::string admin = Token("admin", "acme", "ops");
  for (const std::string tenant : {"globex", "nowhere"}) {
    grpc::ClientContext ctx;
    Auth(&ctx, admin);
    v1::GetDealGuidanceRequest q;
    q.set_tenant(tenant);
    q.set_opportunity_id(acme_.deal_id);
    v1::GetDealGuidanceResponse r;
    grpc::Status st = v1::CoachingService::NewStub(channel_)->GetDealGuidance(&ctx, q, &r);
    EXPECT_EQ(st.error_code(), C::PERMISSION_DENIED) << tenant;
    EXPECT_EQ(st.error_message(),
              "caller 'ops' (role admin) may not call GetDealGuidance on "
              "this sidecar");
  }
  {
    grpc::ClientContext ctx;
    Auth(&ctx, admin);
    v1::GetPipelineReviewRequest q;
    q.set_tenant("acme");
    q.mutable_scope()->set_rep_id(acme_.rep_id);
    v1::GetPipelineReviewResponse r;
    EXPECT_TRUE(v1::CoachingService::NewStub(channel_)->GetPipelineReview(&ctx, q, &r).ok());
  }
  // A trusted service may act for the tenant it names (and then sees that tenant's
  // deals); a rep or a manager may not, and an unknown tenant is refused with the text
  // of every other tenant refusal.
  const std::string service = Token("service", "acme", "crm-backend");
  EXPECT_TRUE(Call("GetDealGuidance", service, globex_, "globex").status.ok());
  EXPECT_EQ(Call("GetDealGuidance", service, acme_, "globex").status.error_code(), C::NOT_FOUND);
  Answer unknown = Call("GetDealGuidance", service, acme_, "initech");
  EXPECT_EQ(unknown.status.error_code(), C::PERMISSION_DENIED);
  EXPECT_EQ(unknown.status.error_message(),
            "caller 'crm-backend' (role service) may not call GetDealGuidance on this sidecar");
  EXPECT_EQ(Call("GetDealGuidance", Token("rep", "acme", acme_.rep_id), globex_, "globex")
                .status.error_code(),
            C::PERMISSION_DENIED);
  // A token of a tenant this sidecar does not serve: refused for every RPC alike.
  for (const std::string& rpc : AllRpcs()) {
    Answer a = Call(rpc, Token("admin", "initech", "ops"), acme_);
    EXPECT_EQ(a.status.error_code(), C::PERMISSION_DENIED) << rpc;
    EXPECT_EQ(a.status.error_message(),
              absl::StrCat("caller 'ops' (role admin) may not call ", rpc, " on this sidecar"));
  }
}

TEST_P(TenantIsolationTest, ManagersSeeOnlyTheirTeam) {
  const std::string manager = Token("manager", "acme", "mgr", acme_.team);
  auto review = [&](const std::function<void(v1::PipelineScope*)>& scope) {
    grpc::ClientContext ctx;
    Auth(&ctx, manager);
    v1::GetPipelineReviewRequest q;
    scope(q.mutable_scope());
    v1::GetPipelineReviewResponse r;
    grpc::Status st = v1::CoachingService::NewStub(channel_)->GetPipelineReview(&ctx, q, &r);
    return std::make_pair(st, r);
  };
  const std::string denied = "caller 'mgr' (role manager) may see only their own team's deals";
  // Their team, by manager id and by the team's name, and one of its reps: allowed, and
  // every deal in the answer is the team's.
  for (const auto& scope : std::vector<std::function<void(v1::PipelineScope*)>>{
           [&](v1::PipelineScope* s) { s->set_manager_id(acme_.team); },
           [&](v1::PipelineScope* s) { s->set_rep_id(acme_.rep_id); }}) {
    auto [st, r] = review(scope);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_GT(r.deals_size(), 0);
    for (const v1::DealReview& d : r.deals()) EXPECT_EQ(d.deal().owner().manager_id(), acme_.team);
  }
  // Everything else, existing or not: one denial text.
  for (const auto& [what, scope] :
       std::vector<std::pair<std::string, std::function<void(v1::PipelineScope*)>>>{
           {"all", [](v1::PipelineScope* s) { s->set_all(true); }},
           {"other manager", [](v1::PipelineScope* s) { s->set_manager_id("005000000000002AAA"); }},
           {"no such manager",
            [](v1::PipelineScope* s) { s->set_manager_id("005000000000009AAA"); }},
           {"other team name", [](v1::PipelineScope* s) { s->set_team("Mid-Market West"); }},
           {"no such team", [](v1::PipelineScope* s) { s->set_team("Nowhere North"); }},
           {"other team's rep", [&](v1::PipelineScope* s) { s->set_rep_id(acme_.other_team_rep); }},
           {"no such rep", [](v1::PipelineScope* s) { s->set_rep_id("005000000000099AAA"); }}}) {
    auto [st, r] = review(scope);
    EXPECT_EQ(st.error_code(), C::PERMISSION_DENIED) << what;
    EXPECT_EQ(st.error_message(), denied) << what;
  }
  // The agenda of another team's rep, and a deal of another team: the same.
  Answer agenda = Call("GetCoachingAgenda", manager, WithRep(acme_.other_team_rep));
  EXPECT_EQ(agenda.status.error_message(), denied);
  Answer nobody = Call("GetCoachingAgenda", manager, WithRep("005000000000099AAA"));
  EXPECT_EQ(nobody.status.error_message(), denied);
  EXPECT_TRUE(Call("GetCoachingAgenda", manager, acme_).status.ok());
  // A manager token without the team claim is refused when managers are team-limited.
  Answer no_team = Call("GetPipelineReview", Token("manager", "acme", "mgr"), acme_);
  EXPECT_EQ(no_team.status.error_code(), C::UNAUTHENTICATED);
  EXPECT_THAT(no_team.status.error_message(), HasSubstr("no 'team' claim"));
}

TEST_P(TenantIsolationTest, HttpRoutesRouteByIdentityToo) {
  httplib::Client http("127.0.0.1", sidecar_->http_port());
  auto get = [&](const std::string& path, const std::string& token) {
    httplib::Headers headers = {{"Authorization", "Bearer " + token}};
    return http.Get(path, headers);
  };
  const std::string globex_rep = Token("rep", "globex", globex_.rep_id);
  auto own = get(absl::StrCat("/v1/deals/", globex_.deal_id, "/guidance"), globex_rep);
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << own->body;
  EXPECT_THAT(own->body, HasSubstr("meddicc"));
  auto theirs = get(absl::StrCat("/v1/deals/", acme_.deal_id, "/guidance"), globex_rep);
  auto none = get("/v1/deals/006999999999999AAA/guidance", globex_rep);
  ASSERT_TRUE(theirs);
  ASSERT_TRUE(none);
  EXPECT_EQ(theirs->status, none->status);
  EXPECT_EQ(absl::StrReplaceAll(theirs->body, {{acme_.deal_id, "<deal>"}}),
            absl::StrReplaceAll(none->body, {{"006999999999999AAA", "<deal>"}}));
  auto status = get("/v1/status", Token("admin", "globex", "ops"));
  ASSERT_TRUE(status);
  EXPECT_EQ(status->status, 200);
  EXPECT_THAT(status->body, HasSubstr("meddicc"));
  EXPECT_THAT(status->body, Not(HasSubstr("customer-journey")));
}

INSTANTIATE_TEST_SUITE_P(Stores, TenantIsolationTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace dealcoach::testing
