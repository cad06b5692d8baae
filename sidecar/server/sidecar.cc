#include "sidecar/server/sidecar.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/registry.h"
#include "sidecar/engine/engine.h"
#include "sidecar/runtime/log.h"
#include "sidecar/server/tenants.h"

namespace dealcoach::server {
namespace {

// Both are process-wide switches in gRPC; flip them once.
// One tenant per sidecar until caller identities exist.

void InitGrpcOnce() {
  static const bool done = [] {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    return true;
  }();
  (void)done;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Sidecar>> Sidecar::Start(const SidecarConfig& config) {
  InitGrpcOnce();
  runtime::SetLogLevel(config.log_level);
  runtime::SetLogFormat(config.log_format);
  std::unique_ptr<Sidecar> s(new Sidecar());
  s->config_ = config;

  connectors::ConnectorContext context;
  context.config_file = config.config_file;
  context.base_dir = config.base_dir;
  absl::StatusOr<std::unique_ptr<connectors::Connector>> connector =
      connectors::CreateConnector(config.connector, context);
  if (!connector.ok()) return connector.status();
  source::SourceOptions source_options = config.source;
  // Derived fields (last_meeting_at, ...) are filled once at ingestion, the same way push
  // mode fills them for inline deals, so both modes see the same opportunity.
  source_options.normalize = engine::NormalizeOpportunity;
  source_options.log = [](bool warning, const std::string& line) {
    if (warning) {
      runtime::LogWarning(line);
    } else {
      runtime::LogInfo(line);
    }
  };
  s->source_ = source::OpportunitySource::Create(*std::move(connector), source_options);

  // The store is not needed to serve file playbooks: a store that fails to open is
  // logged and reported unhealthy (GetStatus), and the sidecar starts without it.
  if (config.store.enabled) {
    absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Open(config.store.options);
    if (opened.ok()) {
      s->store_ = *std::move(opened);
      s->decision_log_ =
          std::make_unique<store::DecisionLogger>(s->store_.get(), config.store.decisions);
    } else {
      s->store_status_ = opened.status();
      runtime::LogError("store unavailable, serving file playbooks without it: ",
                        opened.status().ToString());
    }
  }

  runtime::ReloaderOptions reload;
  reload.files = config.playbook_files;
  reload.default_name = config.default_playbook;
  reload.poll_interval = config.reload_poll_interval;
  reload.store = s->store_.get();
  reload.tenant = config.auth.tenant;
  reload.base_dir = config.base_dir;
  Sidecar* self = s.get();
  reload.on_publish = [self](const runtime::Snapshot& snapshot) { self->UpdateHealth(snapshot); };
  s->reloader_ = std::make_unique<runtime::PlaybookReloader>(&s->holder_, std::move(reload));
  s->initial_serving_ = s->reloader_->LoadAll();
  // Two playbooks with one name, or a default naming none of them, is a configuration
  // error: refuse to start rather than serve one playbook in place of another. (No
  // valid playbook at all is the caller's call; see serving_playbooks().)
  if (s->initial_serving_ > 0 && !s->reloader_->startup_consistency().ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("playbook configuration: ", s->reloader_->startup_consistency().message()));
  }

  s->metrics_ = std::make_unique<metrics::ServerMetrics>();
  s->RegisterMetricSamplers();

  ServiceDeps deps;
  // RPCs are counted only when someone can scrape them (admin_http.listen); without the
  // operator listener nothing on the request path records (the "metrics off" side of
  // bench/loadgen/production_pair.sh).
  if (!config.admin_http_listen.empty()) deps.metrics = s->metrics_.get();
  deps.store = s->store_.get();
  deps.decision_log = s->decision_log_.get();
  deps.tenant = config.auth.tenant;
  if (config.auth_configured) {
    absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer =
        auth::Authorizer::Create(config.auth);
    if (!authorizer.ok()) return authorizer.status();
    s->authorizer_ = *std::move(authorizer);
    deps.authorizer = s->authorizer_.get();
    runtime::LogInfo("auth: mode ", config.auth.required ? "required" : "optional", ", tenant ",
                     config.auth.tenant, config.auth.jwt.has_value() ? ", bearer JWT" : "",
                     config.auth.mtls_identities.empty() ? "" : ", mTLS identities");
  }
  deps.playbooks = &s->holder_;
  deps.source = s->source_.get();
  s->aggregates_ = std::make_unique<pipeline::AggregateCache>();
  deps.aggregates = s->aggregates_.get();
  deps.default_max_behaviors = config.max_behaviors;
  deps.callback_handlers = config.grpc_handlers == "callback";
  deps.plan_max_age = config.plan_max_age;
  if (!config.tenants.empty()) {
    // The other tenants' connectors, caches and playbooks (tenants.h); the handlers
    // route each call to its caller's tenant.
    absl::StatusOr<std::unique_ptr<TenantRegistry>> tenants = TenantRegistry::Create(config, deps);
    if (!tenants.ok()) return tenants.status();
    s->tenants_ = *std::move(tenants);
    deps.tenants = s->tenants_.get();
  }
  s->coaching_ = std::make_unique<CoachingServiceImpl>(deps);
  s->playbook_service_ = std::make_unique<PlaybookServiceImpl>(deps);
  s->admin_service_ = std::make_unique<AdminServiceImpl>(s->source_.get(), &s->holder_);
  s->admin_service_->SetStore(config.store.enabled, s->store_.get(), s->decision_log_.get(),
                              s->store_status_, config.store.options);
  if (config.snapshot_interval > absl::ZeroDuration() && deps.store != nullptr) {
    // Scheduled pipeline snapshots (docs/manager.md), against the default playbook.
    s->snapshots_ = std::make_unique<pipeline::SnapshotScheduler>(
        config.snapshot_interval,
        [deps]() -> absl::Status {
          absl::Status first;
          // Every tenant's pipeline, each against its own default playbook.
          std::vector<const ServiceDeps*> all = {&deps};
          if (deps.tenants != nullptr) {
            for (const TenantRuntime* t : deps.tenants->runtimes()) all.push_back(&t->deps);
          }
          for (const ServiceDeps* d : all) {
            absl::StatusOr<std::shared_ptr<const engine::CompiledPlaybook>> playbook =
                ResolveRequestPlaybook(*d, "");
            absl::Status st =
                playbook.ok() ? WritePipelineSnapshot(*d, **playbook, absl::Now(), "", {}).status()
                              : playbook.status();
            if (!st.ok() && first.ok()) first = st;
          }
          return first;
        },
        [](bool warning, const std::string& line) {
          if (warning) {
            runtime::LogWarning(line);
          } else {
            runtime::LogInfo(line);
          }
        });
  }
  s->admin_service_->SetAuthorizer(s->authorizer_.get(), s->decision_log_.get(), deps.tenant);
  s->admin_service_->SetTenants(s->tenants_.get());

  grpc::ServerBuilder builder;
  // The service handlers record their own methods (ServiceDeps::metrics); the
  // interceptor records the rest (health, reflection, generated handlers) and creates no
  // interceptor for the methods the handlers took, which are all registered by now.
  if (deps.metrics != nullptr) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(s->metrics_->NewInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(config.tls, config.listen);
  if (!credentials.ok()) return credentials.status();
  builder.AddListeningPort(config.listen, *credentials, &s->port_);
  // gRPC sets SO_REUSEPORT by default: a second sidecar started on the same port would
  // bind it too and silently take a share of the connections (answering from its own
  // cache and store). A port in use must be a start-up error, as for the HTTP listeners.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes));
  builder.RegisterService(s->coaching_.get());
  builder.RegisterService(s->playbook_service_.get());
  builder.RegisterService(s->admin_service_.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("listen: cannot listen on ", config.listen,
                                               " (address in use, or not a valid host:port?)"));
  }
  std::string host = config.listen.substr(0, config.listen.rfind(':'));
  s->address_ = absl::StrCat(host, ":", s->port_);
  {
    std::lock_guard<std::mutex> lock(s->mu_);
    s->server_ = std::move(server);
  }
  s->UpdateHealth(*s->holder_.Get());
  if (!config.http.listen.empty()) {
    // Plaintext HTTP only on loopback, as for gRPC (tls.h).
    if (!config.http.tls.enabled() && !IsLoopbackListen(config.http.listen)) {
      if (!config.tls.insecure) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing plaintext on non-loopback address ", config.http.listen,
            " (http.listen): configure tls.cert_file/key_file or http.tls, or set insecure: "
            "true if a mesh terminates TLS"));
      }
      runtime::LogWarning("serving PLAINTEXT HTTP on non-loopback address ", config.http.listen,
                          " (insecure: true)");
    }
    // The HTTP routes call the same services through the in-process channel (one
    // handler layer for both transports; sidecar/http/http_gateway.h).
    http::HttpOptions http_options = config.http;
    http_options.tls.log = [](bool warning, const std::string& line) {
      if (warning) {
        runtime::LogWarning(line);
      } else {
        runtime::LogInfo(line);
      }
    };
    absl::StatusOr<std::unique_ptr<http::HttpGateway>> gateway = http::HttpGateway::Start(
        http_options, s->server_->InProcessChannel(grpc::ChannelArguments()));
    if (!gateway.ok()) return gateway.status();
    s->http_ = *std::move(gateway);
    const char* scheme = config.http.tls.enabled() ? "https" : "http";
    runtime::LogInfo("dealcoach ", scheme, " listening on ", s->http_->address(), " (panel at ",
                     scheme, "://", s->http_->address(), "/ui/)");
  }

  if (!config.admin_http_listen.empty()) {
    metrics::AdminHttpOptions admin;
    admin.listen = config.admin_http_listen;
    admin.ready = [self]() -> absl::Status {
      if (self->holder_.Get()->any_serving()) return absl::OkStatus();
      return absl::UnavailableError("no playbook is serving yet");
    };
    absl::StatusOr<std::unique_ptr<metrics::AdminHttpServer>> admin_http =
        metrics::AdminHttpServer::Start(admin, s->metrics_.get());
    if (!admin_http.ok()) return admin_http.status();
    s->admin_http_ = *std::move(admin_http);
    runtime::LogInfo("operator HTTP (/metrics, /healthz, /readyz) on ",
                     config.admin_http_listen.substr(0, config.admin_http_listen.rfind(':')), ":",
                     s->admin_http_->port());
  }

  if (config.source.background_sync) s->source_->Start();
  s->reloader_->Start();
  if (s->tenants_ != nullptr) s->tenants_->Start(config.source.background_sync);
  runtime::LogInfo("dealcoach serving on ", s->address_, " (connector ",
                   s->source_->connector_type(), ", ", s->initial_serving_, " of ",
                   config.playbook_files.size(), " playbooks valid)");
  return s;
}

Sidecar::~Sidecar() {
  Shutdown(absl::ZeroDuration());
  Wait();
}

void Sidecar::UpdateHealth(const runtime::Snapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (server_ == nullptr || shutdown_) return;
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  if (health == nullptr) return;
  bool serving = snapshot.Serving("") != nullptr;
  health->SetServingStatus("", serving);
  health->SetServingStatus(kCoachingServiceName, serving);
  health->SetServingStatus(kPlaybookServiceName, true);
  health->SetServingStatus(kAdminServiceName, true);
}

void Sidecar::RegisterMetricSamplers() {
  using metrics::GaugeSample;
  source::OpportunitySource* src = source_.get();
  metrics_->AddGaugeSampler("dealcoach_cache_opportunities", "opportunities in the cache", [src] {
    return std::vector<GaugeSample>{{{}, static_cast<double>(src->size())}};
  });
  metrics_->AddGaugeSampler(
      "dealcoach_sync_lag_seconds",
      "seconds since the start of the last successful CRM sync pass (-1 before the first)", [src] {
        const source::SourceStatus st = src->Status();
        const double lag = st.last_sync == absl::InfinitePast()
                               ? -1.0
                               : absl::ToDoubleSeconds(absl::Now() - st.last_sync);
        return std::vector<GaugeSample>{{{}, lag}};
      });
  metrics_->AddGaugeSampler("dealcoach_sync_passes", "CRM sync passes that succeeded", [src] {
    return std::vector<GaugeSample>{{{}, static_cast<double>(src->Status().sync_passes)}};
  });
  metrics_->AddGaugeSampler(
      "dealcoach_connector_healthy",
      "1 when the connector's last calls succeed and its circuit breaker is closed", [src] {
        const source::SourceStatus st = src->Status();
        return std::vector<GaugeSample>{
            {{{"connector", st.connector_type}}, st.connector.healthy ? 1.0 : 0.0}};
      });
  metrics_->AddGaugeSampler(
      "dealcoach_connector_circuit_breaker",
      "1 for the circuit breaker's current state (labels: connector, state: closed, open, "
      "half-open); nothing for connectors without one",
      [src] {
        const source::SourceStatus st = src->Status();
        std::vector<GaugeSample> out;
        if (st.connector.breaker.empty()) return out;
        for (const char* state : {"closed", "open", "half-open"}) {
          out.push_back({{{"connector", st.connector_type}, {"state", state}},
                         st.connector.breaker == state ? 1.0 : 0.0});
        }
        return out;
      });
  const runtime::SnapshotHolder* holder = &holder_;
  metrics_->AddGaugeSampler(
      "dealcoach_playbook_serving",
      "1 per playbook with a serving version (labels: name, version); 0 when none compiled",
      [holder] {
        std::vector<GaugeSample> out;
        std::shared_ptr<const runtime::Snapshot> snapshot = holder->Get();
        for (const runtime::PlaybookEntry& e : snapshot->entries()) {
          GaugeSample g;
          g.labels["name"] = e.name();
          g.labels["version"] =
              e.playbook != nullptr ? std::to_string(e.playbook->ref().version()) : "";
          g.value = e.playbook != nullptr ? 1.0 : 0.0;
          out.push_back(std::move(g));
        }
        return out;
      });
  metrics_->AddGaugeSampler(
      "dealcoach_playbook_reload_rejected",
      "1 per playbook whose latest change was rejected (the last good version serves)", [holder] {
        std::vector<GaugeSample> out;
        std::shared_ptr<const runtime::Snapshot> snapshot = holder->Get();
        for (const runtime::PlaybookEntry& e : snapshot->entries()) {
          out.push_back({{{"name", e.name()}}, e.last_reload_diagnostics.empty() ? 0.0 : 1.0});
        }
        return out;
      });
  const bool store_configured = config_.store.enabled;
  store::Store* st = store_.get();
  metrics_->AddGaugeSampler("dealcoach_store_up",
                            "1 when the durable store is open (absent when store.backend is none)",
                            [store_configured, st] {
                              if (!store_configured) return std::vector<GaugeSample>{};
                              return std::vector<GaugeSample>{{{}, st != nullptr ? 1.0 : 0.0}};
                            });
  store::DecisionLogger* log = decision_log_.get();
  metrics_->AddGaugeSampler(
      "dealcoach_decision_log", "decision log counters (kind: written, dropped, write_errors)",
      [log] {
        if (log == nullptr) return std::vector<GaugeSample>{};
        return std::vector<GaugeSample>{
            {{{"kind", "written"}}, static_cast<double>(log->written())},
            {{{"kind", "dropped"}}, static_cast<double>(log->dropped())},
            {{{"kind", "write_errors"}}, static_cast<double>(log->write_errors())}};
      });
}

void Sidecar::Shutdown(absl::Duration grace) {
  grpc::Server* server = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_) return;
    shutdown_ = true;
    server = server_.get();
    if (server != nullptr && server->GetHealthCheckService() != nullptr) {
      // NOT_SERVING for every name first, so load balancers drain us while in-flight
      // calls finish.
      server->GetHealthCheckService()->Shutdown();
    }
  }
  runtime::LogInfo("shutting down (grace ", absl::FormatDuration(grace), ")");
  const absl::Time deadline = absl::Now() + grace;
  if (snapshots_ != nullptr) snapshots_->Stop();
  if (reloader_ != nullptr) reloader_->Stop();
  if (admin_http_ != nullptr) admin_http_->Stop();
  if (http_ != nullptr) http_->Shutdown();  // before gRPC: its requests are gRPC calls
  if (server != nullptr) server->Shutdown(absl::ToChronoTime(deadline));
  // The source gets what is left of the grace: a sync stuck in a CRM call is detached
  // rather than allowed to hold shutdown past it.
  if (source_ != nullptr) source_->Stop(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  if (tenants_ != nullptr) tenants_->Stop(deadline);
  // What is queued gets what is left of the grace; the rest is dropped (best-effort log).
  if (decision_log_ != nullptr) {
    (void)decision_log_->Flush(std::max(absl::Milliseconds(100), deadline - absl::Now()));
  }
}

void Sidecar::Wait() {
  grpc::Server* server = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    server = server_.get();
  }
  if (server != nullptr) server->Wait();
}

}  // namespace dealcoach::server
