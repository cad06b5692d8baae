#include "sidecar/server/tenants.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "connectors/registry.h"
#include "google/protobuf/descriptor.h"
#include "sidecar/engine/engine.h"
#include "sidecar/runtime/log.h"

namespace dealcoach::server {
namespace {

thread_local const TenantRuntime* current_tenant = nullptr;

void LogLine(bool warning, const std::string& line) {
  if (warning) {
    runtime::LogWarning(line);
  } else {
    runtime::LogInfo(line);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<TenantRegistry>> TenantRegistry::Create(const SidecarConfig& config,
                                                                       const ServiceDeps& shared) {
  std::unique_ptr<TenantRegistry> registry(new TenantRegistry());
  for (const TenantConfig& tc : config.tenants) {
    auto t = std::make_unique<TenantRuntime>();
    t->name = tc.name;
    connectors::ConnectorContext context;
    context.config_file = config.config_file;
    context.base_dir = config.base_dir;
    absl::StatusOr<std::unique_ptr<connectors::Connector>> connector =
        connectors::CreateConnector(tc.connector, context);
    if (!connector.ok()) {
      return absl::Status(connector.status().code(),
                          absl::StrCat("tenants.", tc.name, ": ", connector.status().message()));
    }
    source::SourceOptions source_options = config.source;
    source_options.normalize = engine::NormalizeOpportunity;
    source_options.log = LogLine;
    t->source = source::OpportunitySource::Create(*std::move(connector), source_options);

    runtime::ReloaderOptions reload;
    reload.files = tc.playbook_files;
    reload.default_name = tc.default_playbook;
    reload.poll_interval = config.reload_poll_interval;
    reload.store = shared.store;
    reload.tenant = tc.name;
    reload.base_dir = config.base_dir;
    t->reloader = std::make_unique<runtime::PlaybookReloader>(&t->holder, std::move(reload));
    const int serving = t->reloader->LoadAll();
    if (serving == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("tenants.", tc.name, ": no playbook compiled"));
    }
    if (!t->reloader->startup_consistency().ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("tenants.", tc.name,
                       ": playbook configuration: ", t->reloader->startup_consistency().message()));
    }

    t->deps = shared;
    t->deps.tenant = tc.name;
    t->deps.playbooks = &t->holder;
    t->deps.source = t->source.get();
    admin::AdminOptions options;
    options.store = shared.store;
    options.tenant = tc.name;
    options.source = t->source.get();
    options.playbooks = &t->holder;
    options.plan_max_age = shared.plan_max_age;
    options.now = shared.now;
    t->admin = std::make_unique<admin::PlaybookAdmin>(std::move(options));
    registry->by_name_[t->name] = t.get();
    runtime::LogInfo("tenant ", tc.name, ": connector ", t->source->connector_type(), ", ", serving,
                     " of ", tc.playbook_files.size(), " playbooks valid");
    registry->order_.push_back(std::move(t));
  }
  return registry;
}

TenantRegistry::~TenantRegistry() { Stop(absl::Now()); }

const TenantRuntime* TenantRegistry::Find(absl::string_view tenant) const {
  auto it = by_name_.find(tenant);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const TenantRuntime*> TenantRegistry::runtimes() const {
  std::vector<const TenantRuntime*> out;
  for (const auto& t : order_) out.push_back(t.get());
  return out;
}

void TenantRegistry::Start(bool background_sync) {
  for (const auto& t : order_) {
    if (background_sync) t->source->Start();
    t->reloader->Start();
  }
}

void TenantRegistry::Stop(absl::Time deadline) {
  for (const auto& t : order_) t->reloader->Stop();
  for (const auto& t : order_) {
    t->source->Stop(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  }
}

const TenantRuntime* CurrentTenant() { return current_tenant; }

const ServiceDeps& DepsForCall(const ServiceDeps& own) {
  const TenantRuntime* t = current_tenant;
  return t == nullptr ? own : t->deps;
}

ScopedTenant::ScopedTenant(const TenantRegistry* registry, absl::string_view tenant)
    : previous_(current_tenant) {
  if (registry == nullptr) return;
  current_tenant = registry->Find(tenant);
  set_ = true;
}

ScopedTenant::~ScopedTenant() {
  if (set_) current_tenant = previous_;
}

absl::Status CheckRequestTenant(const google::protobuf::Message& request,
                                const auth::Identity& caller, absl::string_view full_method) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("tenant");
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING ||
      field->is_repeated()) {
    return absl::OkStatus();
  }
  const std::string value = request.GetReflection()->GetString(request, field);
  if (value.empty() || value == caller.tenant) return absl::OkStatus();
  return auth::MethodDenied(caller, full_method);
}

}  // namespace dealcoach::server
