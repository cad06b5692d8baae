// The HTTP routes: one entry per RPC (see http_gateway.h). Paths follow AIP-127 style:
// resources by id with GET, push-mode and custom methods with POST and a JSON body.
// Add a route here and its path in docs/openapi.yaml; tests/http checks both.
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "sidecar/http/http_gateway.h"

namespace dealcoach::http {
namespace {

// A server-streaming RPC has no unary transcoding: the route answers UNIMPLEMENTED
// (HTTP 501) naming the gRPC method, so it is documented and tested like every other.
template <typename Req>
RpcBinding StreamingOnly(const char* method) {
  RpcBinding b;
  b.new_request = [] { return std::make_unique<Req>(); };
  b.call = [method](const std::shared_ptr<grpc::ChannelInterface>&, grpc::ClientContext*,
                    const google::protobuf::Message&,
                    std::unique_ptr<google::protobuf::Message>* response) {
    *response = std::make_unique<Req>();
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        std::string(method) +
                            " is server-streaming and is not transcoded to HTTP; call it over "
                            "gRPC, or POST /v1/pipeline:review for the aggregated review");
  };
  return b;
}

}  // namespace

const std::vector<Route>& ApiRoutes() {
  using v1::AdminService;
  using v1::CoachingService;
  using v1::PlaybookService;
  // What changes on every call without changing the guidance a person reads.
  const std::vector<std::string> kVolatileGuidance = {
      "guidance.evaluated_at", "guidance.freshness.age", "guidance.freshness.fetched_at"};
  const std::vector<std::string> kVolatileChecklist = {
      "checklist.evaluated_at", "checklist.freshness.age", "checklist.freshness.fetched_at"};
  static const auto* routes = new std::vector<Route>{
      // CoachingService
      {Verb::kGet, "/v1/deals/{opportunity_id}/guidance", BodyMapping::kNone,
       Bind(&CoachingService::Stub::GetDealGuidance),
       "dealcoach.v1.CoachingService.GetDealGuidance", true, kVolatileGuidance},
      {Verb::kPost, "/v1/guidance", BodyMapping::kWhole,
       Bind(&CoachingService::Stub::GetDealGuidance),
       "dealcoach.v1.CoachingService.GetDealGuidance", true, kVolatileGuidance},
      {Verb::kGet, "/v1/deals/{opportunity_id}/checklist", BodyMapping::kNone,
       Bind(&CoachingService::Stub::GetReviewChecklist),
       "dealcoach.v1.CoachingService.GetReviewChecklist", true, kVolatileChecklist},
      {Verb::kPost, "/v1/checklist", BodyMapping::kWhole,
       Bind(&CoachingService::Stub::GetReviewChecklist),
       "dealcoach.v1.CoachingService.GetReviewChecklist", true, kVolatileChecklist},
      {Verb::kPost,
       "/v1/pipeline:evaluate",
       BodyMapping::kWhole,
       StreamingOnly<v1::EvaluatePipelineRequest>("dealcoach.v1.CoachingService.EvaluatePipeline"),
       "dealcoach.v1.CoachingService.EvaluatePipeline",
       false,
       {}},
      {Verb::kPost,
       "/v1/pipeline:review",
       BodyMapping::kWhole,
       Bind(&CoachingService::Stub::GetPipelineReview),
       "dealcoach.v1.CoachingService.GetPipelineReview",
       false,
       {}},
      {Verb::kGet,
       "/v1/reps/{rep_id}/agenda",
       BodyMapping::kNone,
       Bind(&CoachingService::Stub::GetCoachingAgenda),
       "dealcoach.v1.CoachingService.GetCoachingAgenda",
       false,
       {}},
      {Verb::kPost,
       "/v1/snapshots",
       BodyMapping::kWhole,
       Bind(&CoachingService::Stub::TakeSnapshot),
       "dealcoach.v1.CoachingService.TakeSnapshot",
       false,
       {}},
      // PlaybookService
      {Verb::kPost,
       "/v1/playbooks:validate",
       BodyMapping::kWhole,
       Bind(&PlaybookService::Stub::ValidatePlaybook),
       "dealcoach.v1.PlaybookService.ValidatePlaybook",
       false,
       {}},
      {Verb::kGet,
       "/v1/playbooks:active",
       BodyMapping::kNone,
       Bind(&PlaybookService::Stub::GetActivePlaybook),
       "dealcoach.v1.PlaybookService.GetActivePlaybook",
       false,
       {}},
      // PlaybookService: the admin's lifecycle (docs/admin.md)
      {Verb::kPost,
       "/v1/playbooks:plan",
       BodyMapping::kWhole,
       Bind(&PlaybookService::Stub::PlanPlaybookChange),
       "dealcoach.v1.PlaybookService.PlanPlaybookChange",
       false,
       {}},
      {Verb::kPost,
       "/v1/playbooks:publish",
       BodyMapping::kWhole,
       Bind(&PlaybookService::Stub::PublishPlaybook),
       "dealcoach.v1.PlaybookService.PublishPlaybook",
       false,
       {}},
      {Verb::kGet,
       "/v1/playbooks/{playbook}/revisions",
       BodyMapping::kNone,
       Bind(&PlaybookService::Stub::ListPlaybookRevisions),
       "dealcoach.v1.PlaybookService.ListPlaybookRevisions",
       false,
       {}},
      {Verb::kGet,
       "/v1/playbooks/{playbook}/revisions/{revision}",
       BodyMapping::kNone,
       Bind(&PlaybookService::Stub::GetPlaybookRevision),
       "dealcoach.v1.PlaybookService.GetPlaybookRevision",
       false,
       {}},
      {Verb::kPost,
       "/v1/playbooks:rollback",
       BodyMapping::kWhole,
       Bind(&PlaybookService::Stub::RollbackPlaybook),
       "dealcoach.v1.PlaybookService.RollbackPlaybook",
       false,
       {}},
      {Verb::kGet,
       "/v1/audit-events",
       BodyMapping::kNone,
       Bind(&PlaybookService::Stub::ListAuditEvents),
       "dealcoach.v1.PlaybookService.ListAuditEvents",
       false,
       {}},
      {Verb::kGet,
       "/v1/decisions",
       BodyMapping::kNone,
       Bind(&PlaybookService::Stub::ListDecisions),
       "dealcoach.v1.PlaybookService.ListDecisions",
       false,
       {}},
      {Verb::kPost,
       "/v1/playbooks:backtest",
       BodyMapping::kWhole,
       Bind(&PlaybookService::Stub::BacktestPlaybook),
       "dealcoach.v1.PlaybookService.BacktestPlaybook",
       false,
       {}},
      // AdminService
      {Verb::kGet,
       "/v1/status",
       BodyMapping::kNone,
       Bind(&AdminService::Stub::GetStatus),
       "dealcoach.v1.AdminService.GetStatus",
       false,
       {}},
  };
  return *routes;
}

}  // namespace dealcoach::http
