#include "sidecar/server/admin_service.h"

#include <memory>
#include <string>

#include "sidecar/common/time_util.h"
#include "sidecar/server/services.h"
#include "sidecar/server/status.h"
#include "sidecar/server/tenants.h"

namespace dealcoach::server {
namespace {

bool Known(absl::Time t) { return t != absl::InfinitePast() && t != absl::InfiniteFuture(); }

}  // namespace

void FillStatus(const source::OpportunitySource* source, const runtime::SnapshotHolder* playbooks,
                v1::GetStatusResponse* response) {
  if (source != nullptr) {
    const source::SourceStatus st = source->Status();
    const connectors::ConnectorHealth health = source->Health();
    v1::SourceStatus* out = response->mutable_source();
    out->set_connector(st.connector_type);
    out->set_healthy(health.healthy);
    out->set_detail(health.detail);
    if (Known(st.last_sync)) SetTimestamp(st.last_sync, out->mutable_last_sync_time());
    out->set_last_sync_count(st.last_sync_count);
    out->set_sync_passes(st.sync_passes);
    out->set_last_error(st.last_error);
    if (Known(st.last_error_at)) SetTimestamp(st.last_error_at, out->mutable_last_error_time());
    out->set_cached_count(st.cached);
    if (Known(st.last_reconcile)) {
      SetTimestamp(st.last_reconcile, out->mutable_last_reconcile_time());
    }
    out->set_last_reconcile_evicted(st.last_reconcile_evicted);
    out->set_reconcile_supported(st.reconcile_supported);
    out->set_circuit_breaker(health.breaker);
  }
  if (playbooks != nullptr) {
    std::shared_ptr<const runtime::Snapshot> snapshot = playbooks->Get();
    const runtime::PlaybookEntry* default_entry = snapshot->Find("");
    int32_t loaded = 0;
    for (const runtime::PlaybookEntry& e : snapshot->entries()) {
      v1::PlaybookStatus* p = response->add_playbooks();
      p->set_file(e.path);
      if (e.playbook != nullptr) {
        *p->mutable_serving() = e.playbook->ref();
        ++loaded;
      }
      p->set_last_reload_ok(e.last_reload_diagnostics.empty() && e.playbook != nullptr);
      if (Known(e.last_reload_attempt)) {
        SetTimestamp(e.last_reload_attempt, p->mutable_last_reload_time());
      }
      for (const v1::Diagnostic& d : e.last_reload_diagnostics) {
        *p->add_last_reload_diagnostics() = d;
      }
      p->set_is_default(&e == default_entry);
      p->set_source(e.source);
      p->set_store_revision(e.store_revision);
    }
    response->set_playbooks_loaded(loaded);
  }
}

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* context,
                                         const v1::GetStatusRequest* /*request*/,
                                         v1::GetStatusResponse* response) {
  static const std::string method = FullMethodOf(v1::GetStatusRequest::descriptor());
  absl::StatusOr<auth::Identity> caller =
      AuthorizeCall(authorizer_, *context, method, denials_, tenant_);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  ScopedTenant tenant_scope(tenants_, caller->tenant);
  const TenantRuntime* tenant = CurrentTenant();
  FillStatus(tenant != nullptr ? tenant->source.get() : source_,
             tenant != nullptr ? &tenant->holder : playbooks_, response);
  FillStoreStatus(store_enabled_, store_, tenants_ != nullptr ? nullptr : decisions_,
                  store_open_error_, store_options_, response->mutable_store());
  return grpc::Status::OK;
}

void FillStoreStatus(bool enabled, store::Store* store, const store::DecisionLogger* decisions,
                     const absl::Status& open_error, const store::StoreOptions& options,
                     v1::StoreStatus* out) {
  out->set_enabled(enabled);
  if (!enabled) return;
  out->set_backend(std::string(store::BackendName(options.backend)));
  out->set_location(store::DescribeLocation(options));
  if (store == nullptr) {
    out->set_healthy(false);
    out->set_error(std::string(open_error.message()));
    return;
  }
  absl::StatusOr<store::StoreStatus> st = store->Status();
  if (st.ok()) {
    out->set_healthy(true);
    out->set_location(st->location);
    out->set_schema_version(st->schema_version);
    out->set_latest_schema_version(st->latest_version);
  } else {
    out->set_healthy(false);
    out->set_error(std::string(st.status().message()));
  }
  if (decisions != nullptr) {
    out->set_decisions_written(decisions->written());
    out->set_decisions_dropped(decisions->dropped());
    out->set_decision_write_errors(decisions->write_errors());
    out->set_decision_last_error(decisions->last_error());
  }
}

}  // namespace dealcoach::server
