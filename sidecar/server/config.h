// Sidecar configuration: config/sidecar.yaml, overridden by environment variables and
// then by command-line flags (precedence: flag > env > file > default).
//
// Every setting has one dotted key. The flag is `--<key>` and the environment variable
// is DEALCOACH_ + the key upper-cased with dots as underscores:
//   listen                 --listen                 DEALCOACH_LISTEN
//   reload.poll_interval   --reload.poll_interval   DEALCOACH_RELOAD_POLL_INTERVAL
//   connector.file.path    --connector.file.path    DEALCOACH_CONNECTOR_FILE_PATH
// Overrides are applied to the YAML tree before it is parsed, so one parser validates
// every value whatever its origin, and an error names the origin: "file:line:col: ..."
// for the file, "flag --max_behaviors: ..." or "env DEALCOACH_LISTEN: ..." otherwise.
// Relative paths in the file resolve against the file's directory; relative paths in
// flags and environment variables resolve against the working directory.
//
// Thread safety: pure functions; SidecarConfig is a plain value.
#ifndef DEALCOACH_SIDECAR_SERVER_CONFIG_H_
#define DEALCOACH_SIDECAR_SERVER_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "sidecar/auth/authorizer.h"
#include "sidecar/http/http_gateway.h"
#include "sidecar/runtime/log.h"
#include "sidecar/server/tls.h"
#include "sidecar/source/opportunity_source.h"
#include "sidecar/store/store_config.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::server {

// One more tenant (CRM org) of a multi-tenant sidecar (`tenants:`, docs/production.md):
// its own connector and playbooks; the store is shared, scoped by `name`. The top-level
// `connector:` and `playbooks:` are the tenant `auth.tenant`.
struct TenantConfig {
  std::string name;
  YAML::Node connector;  // the tenant's `connector:` section, for the registry
  std::vector<std::string> playbook_files;
  std::string default_playbook;
};

struct SidecarConfig {
  // gRPC listen address. Default: 127.0.0.1:50051 (loopback: the sidecar runs next to
  // the CRM, not on the open network). Port 0 picks a free port.
  std::string listen = "127.0.0.1:50051";
  // Log level. Default: info.
  runtime::LogLevel log_level = runtime::LogLevel::kInfo;
  // TLS / mTLS for the gRPC listener, and whether plaintext may leave loopback
  // (tls.h). Default: plaintext, loopback only.
  TlsConfig tls;
  // Log line format: text (default) or json.
  runtime::LogFormat log_format = runtime::LogFormat::kText;
  // Largest request the server accepts; larger ones get RESOURCE_EXHAUSTED.
  // Default: 4 MiB.
  int64_t max_message_bytes = 4 * 1024 * 1024;
  // How GetDealGuidance and GetReviewChecklist are served: "callback" (gRPC's callback
  // API, on the thread that read the call) or "sync" (the sync server's worker pool).
  // Same answers either way; callback has no thread hand-off. Default: callback.
  std::string grpc_handlers = "callback";
  // Behaviors returned when a request leaves max_behaviors at 0. Default: 3.
  int max_behaviors = 3;
  // Playbook files (absolute, or relative to the working directory after loading).
  // Required: at least one.
  std::vector<std::string> playbook_files;
  // Default playbook name; "" = the first file's playbook.
  std::string default_playbook;
  // PublishPlaybook refuses a plan whose pipeline snapshot is older (docs/admin.md).
  // Default: 15 min.
  absl::Duration plan_max_age = absl::Minutes(15);
  // How often playbook files are checked for changes. Default: 1 s.
  absl::Duration reload_poll_interval = absl::Seconds(1);
  // How long in-flight calls get to finish on SIGINT/SIGTERM. Default: 5 s.
  absl::Duration shutdown_grace = absl::Seconds(5);
  // `pipeline.snapshot_interval`: take a pipeline snapshot into the store this often
  // (docs/manager.md); zero = off. Default: off.
  absl::Duration snapshot_interval = absl::ZeroDuration();
  // Opportunity source options (sync_interval, stale_after, refresh_after,
  // fetch_timeout, background_sync, reconcile_interval, sync_timeout; stop_timeout is
  // shutdown_grace).
  source::SourceOptions source;
  // The `connector:` section as written (with overrides applied), for the registry.
  YAML::Node connector;
  // The operator's HTTP listener (/metrics, /healthz, /readyz); "" = off. Default: off.
  std::string admin_http_listen;
  // The `store:` section, parsed (docs/store.md); defaults when absent.
  store::StoreConfig store;
  // The `http:` section (docs/http-api.md): the HTTP/JSON listener and the panel.
  // Off unless http.listen is set.
  http::HttpOptions http;
  // The `auth:` section (authorizer.h): caller identity, roles and this sidecar's tenant.
  // Absent: no authentication (every caller is an anonymous admin; loopback only).
  auth::AuthConfig auth;
  bool auth_configured = false;
  // `tenants:`: the other tenants served (tenants.h). Empty = one tenant, auth.tenant.
  std::vector<TenantConfig> tenants;
  // Where the file came from ("" when there was no file) and its directory.
  std::string config_file;
  std::string base_dir;
};

// One override of a dotted key, with where it came from ("flag --listen",
// "env DEALCOACH_LISTEN").
struct ConfigOverride {
  std::string key;
  std::string value;
  std::string origin;
};

// A documented setting, for --help and docs/operations.md.
struct SettingInfo {
  const char* key;
  const char* default_value;
  const char* help;
};
const std::vector<SettingInfo>& KnownSettings();

// "reload.poll_interval" -> "DEALCOACH_RELOAD_POLL_INTERVAL".
std::string EnvVarName(absl::string_view key);

// Overrides from the environment: every known setting's variable, plus
// DEALCOACH_CONNECTOR_<TYPE>_<KEY> for top-level keys of a connector's section
// (DEALCOACH_CONNECTOR_FILE_REBASE_DATES_FROM -> connector.file.rebase_dates_from;
// connector type names contain no underscore). Deeper connector keys need a flag.
// `environ` is a null-terminated array of "NAME=value".
std::vector<ConfigOverride> OverridesFromEnvironment(char** environ);

// True when `key` is a known setting or a connector key (connector.*).
bool IsConfigKey(absl::string_view key);

// Parses config text. `file_name` is used in messages; relative paths resolve against
// `base_dir`. Overrides apply in order (later wins).
absl::StatusOr<SidecarConfig> ParseConfig(absl::string_view yaml_text, const std::string& file_name,
                                          const std::string& base_dir,
                                          const std::vector<ConfigOverride>& overrides);

// Reads and parses `path` ("" = no file: defaults plus overrides).
absl::StatusOr<SidecarConfig> LoadConfig(const std::string& path,
                                         const std::vector<ConfigOverride>& overrides);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_CONFIG_H_
