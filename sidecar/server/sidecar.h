// Sidecar: the running server. Wires config -> connector -> opportunity source,
// playbook files (+ the store: files seed, the store serves; docs/store.md) -> reloader
// -> snapshot holder, the decision log, and all into the gRPC services, with
// the standard health service (grpc.health.v1) and server reflection.
//
// Start-up order (as TensorFlow Serving spells it out): load playbooks from disk
// first, then build and start gRPC, then start the background threads (CRM sync,
// playbook polling). Health is NOT_SERVING until a playbook compiles; per-service
// names are reported too ("dealcoach.v1.CoachingService" follows the playbooks;
// "dealcoach.v1.PlaybookService" serves as soon as the server is up, since validating
// a playbook needs none loaded).
//
// Shutdown: health goes NOT_SERVING, gRPC gets Shutdown(now + grace), then the
// background threads stop within what is left of the grace (a sync stuck in a CRM call
// is detached, not waited for).
//
// Thread safety: Shutdown() and Wait() may be called from any thread, once each.
#ifndef DEALCOACH_SIDECAR_SERVER_SIDECAR_H_
#define DEALCOACH_SIDECAR_SERVER_SIDECAR_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sidecar/http/http_gateway.h"
#include "sidecar/metrics/admin_http.h"
#include "sidecar/metrics/metrics.h"
#include "sidecar/pipeline/aggregate_cache.h"
#include "sidecar/pipeline/snapshot_scheduler.h"
#include "sidecar/runtime/reloader.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/server/admin_service.h"
#include "sidecar/server/config.h"
#include "sidecar/server/services.h"
#include "sidecar/server/tenants.h"
#include "sidecar/source/opportunity_source.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/store.h"

namespace dealcoach::server {

class Sidecar {
 public:
  // Starts serving. Fails when the connector config is invalid, the address cannot be
  // bound, or the playbooks that compiled are inconsistent (two share a metadata.name,
  // or playbooks.default names none of them: FailedPrecondition). Starts even when no playbook
  // compiles (health says NOT_SERVING and coaching calls get FAILED_PRECONDITION until a valid one
  // lands); `dealcoach serve` refuses that case itself, before calling Start, via
  // serving_playbooks().
  static absl::StatusOr<std::unique_ptr<Sidecar>> Start(const SidecarConfig& config);
  ~Sidecar();

  // The bound port (useful with port 0) and "127.0.0.1:<port>"-style address.
  int port() const { return port_; }
  const std::string& address() const { return address_; }
  // The HTTP/JSON listener's port and address (0 and "" when http.listen is empty).
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }
  std::string http_address() const { return http_ == nullptr ? "" : http_->address(); }

  // Number of playbooks that compiled at start-up.
  int serving_playbooks() const { return initial_serving_; }
  const runtime::SnapshotHolder& playbooks() const { return holder_; }
  // The team aggregates of GetCoachingAgenda / GetPipelineReview (tests read its stats).
  const pipeline::AggregateCache& aggregates() const { return *aggregates_; }
  runtime::PlaybookReloader& reloader() { return *reloader_; }
  // The durable store, or null (store.backend: none, or it failed to open: see
  // store_status()).
  store::Store* store() const { return store_.get(); }
  // The operator HTTP listener's port (admin_http.listen), 0 when it is off.
  int admin_http_port() const { return admin_http_ != nullptr ? admin_http_->port() : 0; }
  metrics::ServerMetrics& metrics() { return *metrics_; }
  // OK when the store opened (or is configured off); else why it did not.
  const absl::Status& store_status() const { return store_status_; }

  // Graceful shutdown: NOT_SERVING, Shutdown(now + grace), stop threads. Idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until the gRPC server has shut down.
  void Wait();

 private:
  Sidecar() = default;
  void UpdateHealth(const runtime::Snapshot& snapshot);
  // Scrape-time gauges over the source, playbooks, store and decision log.
  void RegisterMetricSamplers();

  SidecarConfig config_;
  runtime::SnapshotHolder holder_;
  std::unique_ptr<source::OpportunitySource> source_;
  // The pipeline handlers' team aggregates (every tenant's), borrowed by the services.
  std::unique_ptr<pipeline::AggregateCache> aggregates_;
  // Declared before the reloader and the services, which borrow them (destroyed after).
  std::unique_ptr<store::Store> store_;
  absl::Status store_status_;
  std::unique_ptr<store::DecisionLogger> decision_log_;
  // Declared before the server: the interceptors refer to it until the server is gone.
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<metrics::ServerMetrics> metrics_;
  std::unique_ptr<metrics::AdminHttpServer> admin_http_;
  std::unique_ptr<runtime::PlaybookReloader> reloader_;
  // The other tenants (`tenants:`; null with one). Before the services, which borrow it.
  std::unique_ptr<TenantRegistry> tenants_;
  std::unique_ptr<CoachingServiceImpl> coaching_;
  std::unique_ptr<PlaybookServiceImpl> playbook_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;

  std::mutex mu_;  // guards server_ for the health callback and shutdown_
  std::unique_ptr<grpc::Server> server_;
  bool shutdown_ = false;
  int port_ = 0;
  std::string address_;
  int initial_serving_ = 0;
  // Declared after server_: it calls the services through server_'s in-process channel,
  // so it is stopped first (Shutdown) and destroyed first.
  std::unique_ptr<http::HttpGateway> http_;
  // Scheduled pipeline snapshots (pipeline.snapshot_interval); null when off. Destroyed
  // first: it calls the store and the source.
  std::unique_ptr<pipeline::SnapshotScheduler> snapshots_;
};

// Health service names.
inline constexpr char kCoachingServiceName[] = "dealcoach.v1.CoachingService";
inline constexpr char kPlaybookServiceName[] = "dealcoach.v1.PlaybookService";
inline constexpr char kAdminServiceName[] = "dealcoach.v1.AdminService";

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_SIDECAR_H_
