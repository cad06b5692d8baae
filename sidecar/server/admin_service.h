// AdminService (proto/dealcoach/v1/admin_service.proto): the operator's one-call status
// of a running sidecar: the CRM source (connector health, last sync, last error, cached
// count, reconcile), every playbook file's reload outcome and the store's health
// (backend, redacted location, schema version, decision-log counters).
//
// Thread safety: safe for concurrent calls; reads only thread-safe parts (the source's
// Status() and the snapshot holder).
#ifndef DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_
#define DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_

#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/source/opportunity_source.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/store.h"

namespace dealcoach::server {

class TenantRegistry;

// Fills `response` from the source and the current snapshot (either may be null).
void FillStatus(const source::OpportunitySource* source, const runtime::SnapshotHolder* playbooks,
                v1::GetStatusResponse* response);

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  AdminServiceImpl(const source::OpportunitySource* source,
                   const runtime::SnapshotHolder* playbooks)
      : source_(source), playbooks_(playbooks) {}

  // The store to report (call before serving). `enabled` false: `store.backend: none`.
  // `store` null with `enabled`: it failed to open with `open_error`.
  void SetStore(bool enabled, store::Store* store, const store::DecisionLogger* decisions,
                absl::Status open_error, const store::StoreOptions& options) {
    store_enabled_ = enabled;
    store_ = store;
    decisions_ = decisions;
    store_open_error_ = std::move(open_error);
    store_options_ = options;
  }

  // Who may call (null: anyone); denials are logged to `denials` under `tenant`.
  void SetAuthorizer(const auth::Authorizer* authorizer, store::DecisionLogger* denials,
                     std::string tenant) {
    authorizer_ = authorizer;
    denials_ = denials;
    tenant_ = std::move(tenant);
  }

  // The other tenants (tenants.h; null with one): a caller of one gets its source and
  // playbooks. With several tenants the process-wide decision-log counters are left
  // out (they count every tenant's calls; /metrics has them for the operator).
  void SetTenants(const TenantRegistry* tenants) { tenants_ = tenants; }
  grpc::Status GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;

 private:
  const source::OpportunitySource* const source_;
  const runtime::SnapshotHolder* const playbooks_;
  bool store_enabled_ = false;
  store::Store* store_ = nullptr;
  const store::DecisionLogger* decisions_ = nullptr;
  absl::Status store_open_error_;
  store::StoreOptions store_options_;
  const auth::Authorizer* authorizer_ = nullptr;
  store::DecisionLogger* denials_ = nullptr;
  std::string tenant_ = "default";
  const TenantRegistry* tenants_ = nullptr;
};

// Fills `out` from the store (null: it failed to open with `open_error`).
void FillStoreStatus(bool enabled, store::Store* store, const store::DecisionLogger* decisions,
                     const absl::Status& open_error, const store::StoreOptions& options,
                     v1::StoreStatus* out);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_ADMIN_SERVICE_H_
