// Several tenants (CRM orgs) in one sidecar. The top-level `connector:` and
// `playbooks:` are the tenant `auth.tenant` (the Sidecar owns its parts, as with one
// tenant); `tenants:` adds others, each with its own connector, opportunity source and
// cache, playbook files, snapshot holder and reloader (store watch scoped to the
// tenant) and playbook admin, all over the one shared store, scoped by tenant (rows are
// keyed and row-level-secured by tenant, docs/store.md).
//
//   tenants:
//     globex:
//       connector: {type: hubspot, hubspot: {...}}
//       playbooks: {files: [playbooks/globex.yaml], default: globex-journey}
//
// Routing: a call's tenant is its identity's (Authorizer::Authenticate: the token's
// tenant claim, the mTLS identity's tenant, auth.hubspot.tenant, or x-dealcoach-tenant
// from a trusted service or admin), never a request field. The service layer's handler
// wrappers (services.cc) set ScopedTenant after authorization; handlers take their
// ServiceDeps from DepsForCall(deps_), which is the caller's tenant's, or the default
// tenant's own when the call is for it (and always without a `tenants:` section, where
// the wrappers skip the lookup).
//
// Thread safety: the registry is built before serving and not changed after; Find and
// the runtimes' parts are safe from any thread. CurrentTenant is per thread.
#ifndef DEALCOACH_SIDECAR_SERVER_TENANTS_H_
#define DEALCOACH_SIDECAR_SERVER_TENANTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "sidecar/admin/lifecycle.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/runtime/reloader.h"
#include "sidecar/runtime/snapshot.h"
#include "sidecar/server/config.h"
#include "sidecar/server/services.h"
#include "sidecar/source/opportunity_source.h"

namespace dealcoach::server {

// One tenant's serving parts. `deps` points into the others (and at the shared store,
// decision log and authorizer).
struct TenantRuntime {
  std::string name;
  runtime::SnapshotHolder holder;
  std::unique_ptr<source::OpportunitySource> source;
  std::unique_ptr<runtime::PlaybookReloader> reloader;
  ServiceDeps deps;
  std::unique_ptr<admin::PlaybookAdmin> admin;
};

class TenantRegistry {
 public:
  // Builds a runtime per `config.tenants` entry from `shared` (store, decision log,
  // authorizer, limits; its playbooks/source/tenant are replaced per tenant) and loads
  // each tenant's playbooks. FailedPrecondition when a tenant's connector is invalid or
  // none of its playbooks compiles (a tenant that cannot serve is a start-up error, as
  // for the default tenant in `dealcoach serve`).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<TenantRegistry>> Create(
      const SidecarConfig& config, const ServiceDeps& shared);
  ~TenantRegistry();

  // The runtime of `tenant`, or null (the default tenant, which the Sidecar serves
  // itself, or a tenant not served here).
  [[nodiscard]] const TenantRuntime* Find(absl::string_view tenant) const;
  [[nodiscard]] std::vector<const TenantRuntime*> runtimes() const;

  // Starts the tenants' background sync and playbook polling.
  void Start(bool background_sync);
  // Stops polling and syncing, by `deadline` at the latest.
  void Stop(absl::Time deadline);

 private:
  TenantRegistry() = default;
  std::vector<std::unique_ptr<TenantRuntime>> order_;
  absl::flat_hash_map<std::string, TenantRuntime*> by_name_;
};

// The tenant runtime of the call on this thread (null: the default tenant, or no call).
[[nodiscard]] const TenantRuntime* CurrentTenant();

// Sets CurrentTenant for a handler's duration to `registry->Find(tenant)`. With a null
// registry (one tenant) it does nothing.
class ScopedTenant {
 public:
  ScopedTenant(const TenantRegistry* registry, absl::string_view tenant);
  ~ScopedTenant();
  ScopedTenant(const ScopedTenant&) = delete;
  ScopedTenant& operator=(const ScopedTenant&) = delete;

 private:
  const TenantRuntime* previous_;
  bool set_ = false;
};

// PERMISSION_DENIED (the authorizer's text for a wrong tenant) when `request` has a
// non-empty `tenant` field naming another tenant than `caller`'s: the field is never a
// way to pick a tenant, and a request naming one it may not see is refused whatever
// exists there. OK for messages without the field.
[[nodiscard]] absl::Status CheckRequestTenant(const google::protobuf::Message& request,
                                              const auth::Identity& caller,
                                              absl::string_view full_method);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_TENANTS_H_
