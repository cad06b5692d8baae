// The gRPC service implementations: thin handlers in gRPC's examples style. Each one
// validates the request, resolves the playbook snapshot and the opportunity, makes one
// engine call, packs the response and maps the status (status.h). No business logic
// lives here; the engine owns it.
//
// GetDealGuidance and GetReviewChecklist use gRPC's callback API (ServiceDeps::
// callback_handlers): a push call or a cache hit is served on the gRPC thread that read
// it, with no hand-off to a worker (docs/performance.md, "The request path"); a cache
// miss, which blocks on a CRM fetch, is handed to a HandoffPool so that it never blocks a
// gRPC thread. The other methods scan the cache or write the store and keep the sync
// API, whose thread pool is made for blocking.
//
// Thread safety: the services are safe for concurrent calls; they share only the
// snapshot holder (internally synchronized) and the opportunity source (thread-safe).
#ifndef DEALCOACH_SIDECAR_SERVER_SERVICES_H_
#define DEALCOACH_SIDECAR_SERVER_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "google/protobuf/descriptor.h"
#include "sidecar/admin/lifecycle.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/engine/engine.h"
#include "sidecar/metrics/metrics.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/source/opportunity_source.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/store.h"

namespace dealcoach::pipeline {
class AggregateCache;  // sidecar/pipeline/aggregate_cache.h
}  // namespace dealcoach::pipeline

namespace dealcoach::server {

class TenantRegistry;  // tenants.h

// What the handlers share. Pointers are borrowed and must outlive the services.
struct ServiceDeps {
  const runtime::SnapshotHolder* playbooks = nullptr;
  // Opportunity lookups by id; null means push mode only (id requests get
  // FAILED_PRECONDITION).
  source::OpportunitySource* source = nullptr;
  // Behaviors returned when a request sends max_behaviors = 0.
  int default_max_behaviors = 3;
  // The server clock. Default: absl::Now.
  std::function<absl::Time()> now;
  // The durable store (docs/store.md); null when `store.backend: none` or when it failed
  // to open (the sidecar then serves file playbooks and reports the store unhealthy).
  store::Store* store = nullptr;
  // The asynchronous decision log over `store`; null when there is no store.
  store::DecisionLogger* decision_log = nullptr;
  // The tenant of every store call (one per sidecar: auth.tenant).
  std::string tenant = "default";
  // PublishPlaybook refuses a plan whose pipeline snapshot is older (docs/admin.md).
  absl::Duration plan_max_age = absl::Minutes(15);
  // Authentication and authorization of every call (authorizer.h); null = none (unit
  // tests, and tools that embed the services).
  const auth::Authorizer* authorizer = nullptr;
  // GetDealGuidance and GetReviewChecklist on gRPC's callback API (served on the thread
  // that read the call; a cache miss is handed to a small pool) instead of the sync
  // server's worker pool. Same steps and same bytes either way (services.cc,
  // CallbackHandler; tests/integration/request_path_test.cc). Config: grpc_handlers.
  bool callback_handlers = true;
  // The other tenants (`tenants:`, tenants.h); null with one tenant. The handler
  // wrappers route each call to its caller's tenant through it.
  const TenantRegistry* tenants = nullptr;
  // RPC counts and durations (dealcoach_rpc_*), recorded by the handler wrappers through
  // series resolved at registration; null = not recorded (no admin_http listener).
  metrics::ServerMetrics* metrics = nullptr;
  // Team aggregates kept for GetCoachingAgenda / GetPipelineReview (keyed by source and
  // generation, so tenants may share one); null = every call evaluates its scope.
  pipeline::AggregateCache* aggregates = nullptr;
};

// The deps of the call on this thread: its tenant's (tenants.h, ScopedTenant), or `own`
// (the default tenant's) when the call is for the default tenant or there is one tenant.
[[nodiscard]] const ServiceDeps& DepsForCall(const ServiceDeps& own);

// Runs blocking work handed off by the callback handlers (an id the cache does not
// hold, fetched from the CRM) on a fixed set of threads, in FIFO order. The destructor
// runs what is queued, then joins. Thread-safe.
class HandoffPool {
 public:
  explicit HandoffPool(int threads);
  ~HandoffPool();
  HandoffPool(const HandoffPool&) = delete;
  HandoffPool& operator=(const HandoffPool&) = delete;
  void Run(std::function<void()> task);

 private:
  void Loop();
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Threads of the callback handlers' HandoffPool (concurrent CRM fetches on misses).
inline constexpr int kHandoffThreads = 8;

// "/dealcoach.v1.CoachingService/GetDealGuidance": the RPC whose request message is
// `request` (every RPC has its own request type, as buf lint requires).
[[nodiscard]] std::string FullMethodOf(const google::protobuf::Descriptor* request);

// Authenticates the call (bearer token, client certificate, x-dealcoach-tenant) and
// authorizes `full_method`; Unauthenticated / PermissionDenied say why. A denial is
// written to `decisions` (when set) with the rule id "authz.denied". With no authorizer,
// every call is an anonymous admin.
[[nodiscard]] absl::StatusOr<auth::Identity> AuthorizeCall(
    const auth::Authorizer* authorizer, const grpc::ServerContextBase& context,
    absl::string_view full_method, store::DecisionLogger* decisions = nullptr,
    absl::string_view tenant = "default");

// Deepest message nesting a request may have (protobuf's default is 100).
inline constexpr int kMaxRequestNesting = 64;

// Largest max_behaviors a request may ask for.
inline constexpr int kMaxBehaviorsLimit = 50;

class CoachingServiceImpl final : public v1::CoachingService::Service {
 public:
  explicit CoachingServiceImpl(ServiceDeps deps);
  ~CoachingServiceImpl() override;

  grpc::Status GetDealGuidance(grpc::ServerContext* context,
                               const v1::GetDealGuidanceRequest* request,
                               v1::GetDealGuidanceResponse* response) override;
  grpc::Status GetReviewChecklist(grpc::ServerContext* context,
                                  const v1::GetReviewChecklistRequest* request,
                                  v1::GetReviewChecklistResponse* response) override;
  // The manager's coaching loop (pipeline_handlers.cc, docs/manager.md).
  grpc::Status EvaluatePipeline(grpc::ServerContext* context,
                                const v1::EvaluatePipelineRequest* request,
                                grpc::ServerWriter<v1::EvaluatePipelineResponse>* writer) override;
  grpc::Status GetPipelineReview(grpc::ServerContext* context,
                                 const v1::GetPipelineReviewRequest* request,
                                 v1::GetPipelineReviewResponse* response) override;
  grpc::Status GetCoachingAgenda(grpc::ServerContext* context,
                                 const v1::GetCoachingAgendaRequest* request,
                                 v1::GetCoachingAgendaResponse* response) override;
  grpc::Status TakeSnapshot(grpc::ServerContext* context, const v1::TakeSnapshotRequest* request,
                            v1::TakeSnapshotResponse* response) override;

 private:
  const ServiceDeps& Deps() const { return DepsForCall(deps_); }
  ServiceDeps deps_;
  std::unique_ptr<HandoffPool> pool_;  // with callback_handlers
};

// Shared by the handlers in services.cc and pipeline_handlers.cc.
// The playbook a request names ("" = default), or the error that says why not.
absl::StatusOr<std::shared_ptr<const engine::CompiledPlaybook>> ResolveRequestPlaybook(
    const ServiceDeps& deps, absl::string_view name);
// The request's `as_of`, or the server clock.
absl::StatusOr<absl::Time> ResolveRequestNow(const ServiceDeps& deps, bool has_as_of,
                                             const google::protobuf::Timestamp& as_of);
// Cancelled / DeadlineExceeded when the caller gave up, naming `stage`.
absl::Status CheckCallAlive(grpc::ServerContextBase* context, absl::string_view stage);

// Evaluates the pipeline (every cached deal, or `inline_opportunities` when not empty)
// against `playbook` at `now` and writes it to the store as snapshot `snapshot_id`
// ("" = `now` in RFC 3339); prunes by the store's retention. For TakeSnapshot and the
// snapshot schedule. FailedPrecondition without a store or a source.
absl::StatusOr<v1::TakeSnapshotResponse> WritePipelineSnapshot(
    const ServiceDeps& deps, const engine::CompiledPlaybook& playbook, absl::Time now,
    std::string snapshot_id,
    const google::protobuf::RepeatedPtrField<v1::Opportunity>& inline_opportunities);

class PlaybookServiceImpl final : public v1::PlaybookService::Service {
 public:
  explicit PlaybookServiceImpl(ServiceDeps deps);

  grpc::Status ValidatePlaybook(grpc::ServerContext* context,
                                const v1::ValidatePlaybookRequest* request,
                                v1::ValidatePlaybookResponse* response) override;
  grpc::Status GetActivePlaybook(grpc::ServerContext* context,
                                 const v1::GetActivePlaybookRequest* request,
                                 v1::GetActivePlaybookResponse* response) override;
  // The admin's lifecycle (sidecar/admin/lifecycle.h does the work).
  grpc::Status PlanPlaybookChange(grpc::ServerContext* context,
                                  const v1::PlanPlaybookChangeRequest* request,
                                  v1::PlanPlaybookChangeResponse* response) override;
  grpc::Status PublishPlaybook(grpc::ServerContext* context,
                               const v1::PublishPlaybookRequest* request,
                               v1::PublishPlaybookResponse* response) override;
  grpc::Status ListPlaybookRevisions(grpc::ServerContext* context,
                                     const v1::ListPlaybookRevisionsRequest* request,
                                     v1::ListPlaybookRevisionsResponse* response) override;
  grpc::Status GetPlaybookRevision(grpc::ServerContext* context,
                                   const v1::GetPlaybookRevisionRequest* request,
                                   v1::GetPlaybookRevisionResponse* response) override;
  grpc::Status RollbackPlaybook(grpc::ServerContext* context,
                                const v1::RollbackPlaybookRequest* request,
                                v1::RollbackPlaybookResponse* response) override;
  grpc::Status ListAuditEvents(grpc::ServerContext* context,
                               const v1::ListAuditEventsRequest* request,
                               v1::ListAuditEventsResponse* response) override;
  grpc::Status ListDecisions(grpc::ServerContext* context, const v1::ListDecisionsRequest* request,
                             v1::ListDecisionsResponse* response) override;
  grpc::Status BacktestPlaybook(grpc::ServerContext* context,
                                const v1::BacktestPlaybookRequest* request,
                                v1::BacktestPlaybookResponse* response) override;

 private:
  const ServiceDeps& Deps() const { return DepsForCall(deps_); }
  // The caller's tenant's playbook admin (tenants.h), or the default tenant's.
  admin::PlaybookAdmin& Admin() const;
  ServiceDeps deps_;
  std::unique_ptr<admin::PlaybookAdmin> admin_;
};

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_SERVICES_H_
