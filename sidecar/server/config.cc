#include "sidecar/server/config.h"

#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "sidecar/common/status_macros.h"

namespace dealcoach::server {
namespace {

bool IsAbsolute(absl::string_view path) { return !path.empty() && path[0] == '/'; }

std::string JoinPath(absl::string_view dir, absl::string_view path) {
  if (IsAbsolute(path) || dir.empty()) return std::string(path);
  return absl::StrCat(dir, "/", path);
}

std::string WorkingDirectory() {
  char buf[4096];
  if (getcwd(buf, sizeof(buf)) == nullptr) return ".";
  return buf;
}

// Keys whose values are file paths, resolved against the working directory when they
// come from a flag or the environment.
bool IsPathKey(absl::string_view key) {
  absl::string_view last =
      key.substr(key.rfind('.') == absl::string_view::npos ? 0 : key.rfind('.') + 1);
  return key == "playbooks.files" || last == "path" || absl::EndsWith(last, "_path") ||
         absl::EndsWith(last, "_file") || key == "store.data_dir";
}

// Tracks where each value came from, for messages.
class Origins {
 public:
  Origins(std::string file) : file_(std::move(file)) {}
  void Override(const std::string& key, std::string origin) { overrides_[key] = origin; }
  bool IsOverridden(const std::string& key) const { return overrides_.count(key) > 0; }

  // "file:line:col: " for file values, "flag --x: " / "env X: " for overrides.
  std::string Where(const std::string& key, const YAML::Node& node) const {
    auto it = overrides_.find(key);
    if (it != overrides_.end()) return absl::StrCat(it->second, ": ");
    if (node && node.Mark().line >= 0 && !file_.empty()) {
      return absl::StrCat(file_, ":", node.Mark().line + 1, ":", node.Mark().column + 1, ": ");
    }
    return absl::StrCat(file_.empty() ? "config" : file_, ": ");
  }
  absl::Status Error(const std::string& key, const YAML::Node& node,
                     absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(Where(key, node), key, ": ", message));
  }

 private:
  std::string file_;
  std::map<std::string, std::string> overrides_;
};

absl::Status ApplyOverride(YAML::Node root, const ConfigOverride& o) {
  std::vector<std::string> parts = absl::StrSplit(o.key, '.');
  YAML::Node node = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (child && !child.IsMap()) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.origin, ": ", o.key, ": '", parts[i], "' is not a section"));
    }
    node.reset(child);
  }
  std::string value = o.value;
  if (IsPathKey(o.key) && o.key != "playbooks.files" && !IsAbsolute(value) && !value.empty()) {
    value = JoinPath(WorkingDirectory(), value);
  }
  if (o.key == "playbooks.files") {
    YAML::Node seq(YAML::NodeType::Sequence);
    for (absl::string_view f : absl::StrSplit(o.value, ',', absl::SkipWhitespace())) {
      f = absl::StripAsciiWhitespace(f);
      seq.push_back(IsAbsolute(f) ? std::string(f) : JoinPath(WorkingDirectory(), f));
    }
    node[parts.back()] = seq;
  } else {
    node[parts.back()] = value;
  }
  return absl::OkStatus();
}

// Typed readers: each returns an error naming the key and its origin.
absl::Status ReadString(const YAML::Node& n, const std::string& key, const Origins& origins,
                        std::string* out) {
  if (!n) return absl::OkStatus();
  if (!n.IsScalar()) return origins.Error(key, n, "must be a string");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ReadInt(const YAML::Node& n, const std::string& key, const Origins& origins,
                     int64_t min, int64_t max, int64_t* out) {
  if (!n) return absl::OkStatus();
  int64_t v = 0;
  if (!n.IsScalar() || !absl::SimpleAtoi(n.Scalar(), &v)) {
    return origins.Error(key, n,
                         absl::StrCat("must be an integer, got '",
                                      n.IsScalar() ? n.Scalar() : "(not a scalar)", "'"));
  }
  if (v < min || v > max) {
    return origins.Error(key, n, absl::StrCat("must be between ", min, " and ", max));
  }
  *out = v;
  return absl::OkStatus();
}

absl::Status ReadDuration(const YAML::Node& n, const std::string& key, const Origins& origins,
                          absl::Duration* out) {
  if (!n) return absl::OkStatus();
  absl::Duration d;
  if (!n.IsScalar() || !absl::ParseDuration(n.Scalar(), &d) || d < absl::ZeroDuration()) {
    return origins.Error(key, n,
                         absl::StrCat("must be a duration like 500ms, 1s, 5m, got '",
                                      n.IsScalar() ? n.Scalar() : "(not a scalar)", "'"));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ReadBool(const YAML::Node& n, const std::string& key, const Origins& origins,
                      bool* out) {
  if (!n) return absl::OkStatus();
  std::string v = n.IsScalar() ? absl::AsciiStrToLower(n.Scalar()) : "";
  if (v == "true" || v == "1" || v == "yes") {
    *out = true;
  } else if (v == "false" || v == "0" || v == "no") {
    *out = false;
  } else {
    return origins.Error(key, n, "must be true or false");
  }
  return absl::OkStatus();
}

// Rejects keys a section does not know, so a typo is an error rather than a silently
// ignored setting.
absl::Status CheckKeys(const YAML::Node& section, const std::string& prefix,
                       const std::set<std::string>& allowed, const Origins& origins) {
  if (!section) return absl::OkStatus();
  if (!section.IsMap()) {
    return origins.Error(prefix.empty() ? "config" : prefix, section, "must be a mapping");
  }
  for (const auto& kv : section) {
    std::string k = kv.first.Scalar();
    if (allowed.count(k) == 0) {
      std::string full = prefix.empty() ? k : absl::StrCat(prefix, ".", k);
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return origins.Error(
          full, kv.first,
          absl::StrCat("unknown setting; expected one of ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

// The `http:` section. cors_allowed_origins is a list in the file and comma-separated
// in a flag or environment variable.
absl::Status ParseHttpSection(const YAML::Node& h, const Origins& origins, http::HttpOptions* out) {
  if (!h) return absl::OkStatus();
  DC_RETURN_IF_ERROR(
      CheckKeys(h, "http",
                {"listen", "cors_allowed_origins", "max_body_bytes", "request_timeout", "threads",
                 "hubspot_client_secret", "public_url", "tls"},
                origins));
  DC_RETURN_IF_ERROR(ReadString(h["listen"], "http.listen", origins, &out->listen));
  if (!out->listen.empty() && out->listen.find(':') == std::string::npos) {
    return origins.Error("http.listen", h["listen"], "must be host:port (or empty for off)");
  }
  YAML::Node cors = h["cors_allowed_origins"];
  std::vector<std::string> list;
  if (cors && cors.IsScalar()) {
    list = absl::StrSplit(cors.Scalar(), ',', absl::SkipWhitespace());
  } else if (cors && cors.IsSequence()) {
    for (const YAML::Node& o : cors) {
      if (!o.IsScalar()) return origins.Error("http.cors_allowed_origins", o, "must be origins");
      list.push_back(o.Scalar());
    }
  } else if (cors && !cors.IsNull()) {
    return origins.Error("http.cors_allowed_origins", cors, "must be a list of origins");
  }
  for (std::string& o : list) {
    o = std::string(absl::StripAsciiWhitespace(o));
    if (o != "*" && !absl::StartsWith(o, "https://") && !absl::StartsWith(o, "http://")) {
      return origins.Error("http.cors_allowed_origins", cors,
                           absl::StrCat("'", o, "' is not an origin like https://crm.example.com"));
    }
    while (!o.empty() && o.back() == '/') o.pop_back();
  }
  out->cors_allowed_origins = list;
  DC_RETURN_IF_ERROR(ReadInt(h["max_body_bytes"], "http.max_body_bytes", origins, 1024,
                             int64_t{1} << 30, &out->max_body_bytes));
  DC_RETURN_IF_ERROR(
      ReadDuration(h["request_timeout"], "http.request_timeout", origins, &out->request_timeout));
  int64_t threads = out->threads;
  DC_RETURN_IF_ERROR(ReadInt(h["threads"], "http.threads", origins, 1, 256, &threads));
  out->threads = static_cast<int>(threads);
  DC_RETURN_IF_ERROR(ReadString(h["hubspot_client_secret"], "http.hubspot_client_secret", origins,
                                &out->hubspot_client_secret));
  DC_RETURN_IF_ERROR(ReadString(h["public_url"], "http.public_url", origins, &out->public_url));
  while (!out->public_url.empty() && out->public_url.back() == '/') out->public_url.pop_back();
  if (!out->hubspot_client_secret.empty() && out->public_url.empty()) {
    return origins.Error(
        "http.public_url", h["public_url"],
        "required with http.hubspot_client_secret (HubSpot signs the URL it calls)");
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<SettingInfo>& KnownSettings() {
  static const auto* settings = new std::vector<SettingInfo>{
      {"listen", "127.0.0.1:50051", "gRPC listen address (host:port; port 0 = any free port)"},
      {"log_level", "info", "debug | info | warning | error | off"},
      {"log_format", "text", "text | json (one JSON object per line, for log shippers)"},
      {"max_message_bytes", "4194304", "largest accepted request; larger -> RESOURCE_EXHAUSTED"},
      {"grpc_handlers", "callback",
       "callback | sync: how GetDealGuidance/GetReviewChecklist are served (same answers)"},
      {"max_behaviors", "3", "behaviors returned when a request sends max_behaviors = 0"},
      {"playbooks.files", "(none)", "playbook files (comma-separated in flags/env)"},
      {"playbooks.default", "(first file)", "default playbook name"},
      {"playbooks.plan_max_age", "15m",
       "PublishPlaybook refuses a plan whose pipeline snapshot is older (docs/admin.md)"},
      {"reload.poll_interval", "1s", "how often playbook files are checked for changes"},
      {"shutdown_grace", "5s", "time in-flight calls get on SIGINT/SIGTERM"},
      {"pipeline.snapshot_interval", "0s",
       "take a pipeline snapshot into the store this often (0 = off; docs/manager.md)"},
      {"source.sync_interval", "30s", "time between incremental CRM sync passes"},
      {"source.stale_after", "5m", "data older than this is flagged stale"},
      {"source.refresh_after", "60s", "cached entries older than this refresh in background"},
      {"source.fetch_timeout", "2s", "deadline for a CRM fetch on a cache miss"},
      {"source.background_sync", "true", "run the background sync thread"},
      {"source.reconcile_interval", "5m",
       "how often the CRM's ids are listed to evict deleted deals (0 = never)"},
      {"source.sync_timeout", "10m", "deadline for one sync or reconcile pass"},
      {"source.parsed_cache_entries", "1024", "parsed opportunities kept for repeated lookups"},
      {"connector.type", "file", "connector type (file, salesforce, hubspot, ...)"},
      {"connector.<type>.<key>", "", "any key of the connector's own section"},
      {"tls.cert_file", "", "gRPC server certificate chain (PEM); with key_file turns TLS on"},
      {"tls.key_file", "", "private key of tls.cert_file (PEM)"},
      {"tls.client_ca_file", "", "CA bundle (PEM): set, clients must present a certificate"},
      {"tls.refresh_interval", "10s", "certificate files are re-read this often (rotation)"},
      {"insecure", "false", "allow plaintext on a non-loopback listen address"},
      {"admin_http.listen", "(off)",
       "operator HTTP listener: /metrics, /healthz, /readyz (host:port)"},
      {"store.backend", "sqlite", "durable store: sqlite | postgres | none (docs/store.md)"},
      {"store.data_dir", "data", "sqlite: directory of dealcoach.db"},
      {"store.busy_timeout", "5s", "sqlite: wait for another writer's lock"},
      {"store.sqlite_cache_mib", "16", "sqlite: page cache per connection, MiB (0: sqlite's 2)"},
      {"store.postgres.conninfo", "", "postgres: libpq connection string (a secret)"},
      {"store.migrate", "true", "apply pending schema migrations on open"},
      {"store.snapshots.keep", "10", "evaluation snapshots kept per tenant"},
      {"store.snapshots.max_age", "720h", "evaluation snapshots older than this are pruned"},
      {"store.decisions.queue_size", "10000", "decision log queue; full -> dropped"},
      {"store.decisions.batch_size", "2000", "decisions per write transaction"},
      {"store.decisions.retention", "720h", "decisions older than this are deleted"},
      {"store.decisions.masked_fields", "", "decision fields stored masked (caller,deal_id,...)"},
      {"http.listen", "(off)", "HTTP/JSON listener and panel, host:port (docs/http-api.md)"},
      {"http.cors_allowed_origins", "", "origins that may call the API and frame the panel"},
      {"http.max_body_bytes", "1048576", "largest HTTP request body; larger -> 413"},
      {"http.request_timeout", "10s", "deadline of the gRPC call behind an HTTP request"},
      {"http.threads", "32", "HTTP server threads (one per open connection)"},
      {"http.hubspot_client_secret", "", "require X-HubSpot-Signature-v3 on /v1/ (a secret)"},
      {"http.public_url", "", "the public URL HubSpot calls (signed), e.g. https://host"},
      {"http.tls.cert_file", "(tls.cert_file)", "HTTP listener certificate chain (PEM)"},
      {"http.tls.key_file", "(tls.key_file)", "private key of http.tls.cert_file (PEM)"},
      {"http.tls.client_ca_file", "(tls.client_ca_file)",
       "CA bundle (PEM): set, HTTP clients must present a certificate"},
      {"http.tls.refresh_interval", "(tls.refresh_interval)",
       "HTTP certificates re-read this often"},
  };
  return *settings;
}

std::string EnvVarName(absl::string_view key) {
  return absl::StrCat("DEALCOACH_", absl::AsciiStrToUpper(absl::StrReplaceAll(key, {{".", "_"}})));
}

bool IsConfigKey(absl::string_view key) {
  if (absl::StartsWith(key, "connector.")) return key.size() > strlen("connector.");
  if (absl::StartsWith(key, "store.")) return key.size() > strlen("store.");
  for (const SettingInfo& s : KnownSettings()) {
    if (key == s.key) return true;
  }
  return false;
}

std::vector<ConfigOverride> OverridesFromEnvironment(char** environ) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    absl::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == absl::string_view::npos) continue;
    env[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  std::vector<ConfigOverride> out;
  for (const SettingInfo& s : KnownSettings()) {
    if (absl::StrContains(s.key, '<')) continue;
    std::string name = EnvVarName(s.key);
    auto it = env.find(name);
    if (it != env.end()) out.push_back({s.key, it->second, absl::StrCat("env ", name)});
  }
  // DEALCOACH_CONNECTOR_<TYPE>_<KEY>: the type is the first word after CONNECTOR_.
  for (const auto& [name, value] : env) {
    absl::string_view rest(name);
    if (!absl::ConsumePrefix(&rest, "DEALCOACH_CONNECTOR_") || rest == "TYPE") continue;
    size_t us = rest.find('_');
    if (us == absl::string_view::npos || us + 1 >= rest.size()) continue;
    std::string key = absl::StrCat("connector.", absl::AsciiStrToLower(rest.substr(0, us)), ".",
                                   absl::AsciiStrToLower(rest.substr(us + 1)));
    out.push_back({key, value, absl::StrCat("env ", name)});
  }
  return out;
}

namespace {

// `tenants:` (docs/production.md): name -> {connector, playbooks: {files, default}}.
// Each tenant's caller identities come from `auth:` (tenant claim, mTLS identity), so a
// multi-tenant sidecar needs it.
absl::Status ParseTenants(const YAML::Node& section, const Origins& origins,
                          const std::string& base_dir, SidecarConfig* c) {
  if (!section || section.IsNull()) return absl::OkStatus();
  if (!section.IsMap()) {
    return origins.Error("tenants", section, "must map tenant names to their settings");
  }
  if (!c->auth_configured) {
    return origins.Error("tenants", section,
                         "needs an auth section: a call's tenant comes from its identity");
  }
  for (const auto& kv : section) {
    const std::string name = kv.first.Scalar();
    const std::string key = absl::StrCat("tenants.", name);
    if (name.empty()) return origins.Error("tenants", kv.first, "a tenant name is empty");
    if (name == c->auth.tenant) {
      return origins.Error(key, kv.first,
                           "is auth.tenant, which the top-level connector and playbooks serve");
    }
    for (const TenantConfig& t : c->tenants) {
      if (t.name == name) return origins.Error(key, kv.first, "appears twice");
    }
    const YAML::Node t = kv.second;
    DC_RETURN_IF_ERROR(CheckKeys(t, key, {"connector", "playbooks"}, origins));
    TenantConfig out;
    out.name = name;
    // (Assigning a missing node throws: test it first.)
    const YAML::Node connector = t["connector"];
    if (!connector || !connector.IsMap() || !connector["type"]) {
      return origins.Error(absl::StrCat(key, ".connector"), t,
                           "must be a mapping with a 'type' (as the top-level connector)");
    }
    out.connector = connector;
    const YAML::Node playbooks = t["playbooks"];
    DC_RETURN_IF_ERROR(
        CheckKeys(playbooks, absl::StrCat(key, ".playbooks"), {"files", "default"}, origins));
    const YAML::Node files = playbooks ? playbooks["files"] : YAML::Node();
    if (!files || !files.IsSequence() || files.size() == 0) {
      return origins.Error(absl::StrCat(key, ".playbooks.files"), playbooks ? files : t,
                           "list at least one playbook file");
    }
    for (const YAML::Node& f : files) {
      if (!f.IsScalar() || f.Scalar().empty()) {
        return origins.Error(absl::StrCat(key, ".playbooks.files"), f,
                             "each entry must be a file path");
      }
      out.playbook_files.push_back(JoinPath(base_dir, f.Scalar()));
    }
    DC_RETURN_IF_ERROR(ReadString(playbooks["default"], absl::StrCat(key, ".playbooks.default"),
                                  origins, &out.default_playbook));
    c->auth.other_tenants.push_back(name);
    c->tenants.push_back(std::move(out));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SidecarConfig> ParseConfig(absl::string_view yaml_text, const std::string& file_name,
                                          const std::string& base_dir,
                                          const std::vector<ConfigOverride>& overrides) {
  Origins origins(file_name);
  YAML::Node root;
  try {
    root = yaml_text.empty() ? YAML::Node(YAML::NodeType::Map) : YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origins.Where("config", root), "the config must be a mapping"));
  }

  SidecarConfig c;
  c.config_file = file_name;
  c.base_dir = base_dir;
  try {
    for (const ConfigOverride& o : overrides) {
      if (!IsConfigKey(o.key)) {
        return absl::InvalidArgumentError(
            absl::StrCat(o.origin, ": unknown setting '", o.key, "'"));
      }
      DC_RETURN_IF_ERROR(ApplyOverride(root, o));
      origins.Override(o.key, o.origin);
    }

    DC_RETURN_IF_ERROR(
        CheckKeys(root, "",
                  {"listen", "log_level", "log_format", "max_message_bytes", "grpc_handlers",
                   "max_behaviors", "playbooks", "reload", "shutdown_grace", "source", "connector",
                   "store", "admin_http", "tls", "insecure", "http", "pipeline", "auth", "tenants"},
                  origins));
    DC_RETURN_IF_ERROR(CheckKeys(root["pipeline"], "pipeline", {"snapshot_interval"}, origins));
    DC_RETURN_IF_ERROR(
        CheckKeys(root["playbooks"], "playbooks", {"files", "default", "plan_max_age"}, origins));
    DC_RETURN_IF_ERROR(CheckKeys(root["reload"], "reload", {"poll_interval"}, origins));
    DC_RETURN_IF_ERROR(CheckKeys(root["admin_http"], "admin_http", {"listen"}, origins));
    DC_RETURN_IF_ERROR(CheckKeys(root["tls"], "tls",
                                 {"cert_file", "key_file", "client_ca_file", "refresh_interval"},
                                 origins));
    if (root["tls"]) {
      const YAML::Node tls = root["tls"];
      for (auto [key, out] : {std::pair<const char*, std::string*>{"cert_file", &c.tls.cert_file},
                              {"key_file", &c.tls.key_file},
                              {"client_ca_file", &c.tls.client_ca_file}}) {
        const std::string dotted = absl::StrCat("tls.", key);
        DC_RETURN_IF_ERROR(ReadString(tls[key], dotted, origins, out));
        if (!out->empty() && !origins.IsOverridden(dotted)) *out = JoinPath(base_dir, *out);
      }
      DC_RETURN_IF_ERROR(ReadDuration(tls["refresh_interval"], "tls.refresh_interval", origins,
                                      &c.tls.refresh_interval));
    }
    DC_RETURN_IF_ERROR(ReadBool(root["insecure"], "insecure", origins, &c.tls.insecure));
    if (root["admin_http"]) {
      DC_RETURN_IF_ERROR(ReadString(root["admin_http"]["listen"], "admin_http.listen", origins,
                                    &c.admin_http_listen));
      if (!c.admin_http_listen.empty() && c.admin_http_listen.find(':') == std::string::npos) {
        return origins.Error("admin_http.listen", root["admin_http"]["listen"],
                             "must be host:port (or empty: off)");
      }
    }
    DC_RETURN_IF_ERROR(
        CheckKeys(root["source"], "source",
                  {"sync_interval", "stale_after", "refresh_after", "fetch_timeout",
                   "background_sync", "parsed_cache_entries", "reconcile_interval", "sync_timeout"},
                  origins));

    DC_RETURN_IF_ERROR(ReadString(root["listen"], "listen", origins, &c.listen));
    if (c.listen.find(':') == std::string::npos) {
      return origins.Error("listen", root["listen"], "must be host:port");
    }
    std::string level = "info";
    DC_RETURN_IF_ERROR(ReadString(root["log_level"], "log_level", origins, &level));
    absl::StatusOr<runtime::LogLevel> parsed_level = runtime::ParseLogLevel(level);
    if (!parsed_level.ok()) {
      return origins.Error("log_level", root["log_level"], parsed_level.status().message());
    }
    c.log_level = *parsed_level;
    std::string format = "text";
    DC_RETURN_IF_ERROR(ReadString(root["log_format"], "log_format", origins, &format));
    absl::StatusOr<runtime::LogFormat> parsed_format = runtime::ParseLogFormat(format);
    if (!parsed_format.ok()) {
      return origins.Error("log_format", root["log_format"], parsed_format.status().message());
    }
    c.log_format = *parsed_format;
    DC_RETURN_IF_ERROR(ReadInt(root["max_message_bytes"], "max_message_bytes", origins, 1024,
                               int64_t{1} << 30, &c.max_message_bytes));
    DC_RETURN_IF_ERROR(
        ReadString(root["grpc_handlers"], "grpc_handlers", origins, &c.grpc_handlers));
    if (c.grpc_handlers != "callback" && c.grpc_handlers != "sync") {
      return origins.Error("grpc_handlers", root["grpc_handlers"], "must be callback or sync");
    }
    int64_t max_behaviors = c.max_behaviors;
    DC_RETURN_IF_ERROR(
        ReadInt(root["max_behaviors"], "max_behaviors", origins, 1, 50, &max_behaviors));
    c.max_behaviors = static_cast<int>(max_behaviors);

    YAML::Node playbooks = root["playbooks"];
    if (playbooks) {
      YAML::Node files = playbooks["files"];
      // Overrides were already resolved against the working directory.
      bool from_override = origins.IsOverridden("playbooks.files");
      if (files) {
        if (!files.IsSequence()) {
          return origins.Error("playbooks.files", files, "must be a list of files");
        }
        for (const YAML::Node& f : files) {
          if (!f.IsScalar() || f.Scalar().empty()) {
            return origins.Error("playbooks.files", f, "each entry must be a file path");
          }
          c.playbook_files.push_back(from_override ? f.Scalar() : JoinPath(base_dir, f.Scalar()));
        }
      }
      DC_RETURN_IF_ERROR(
          ReadString(playbooks["default"], "playbooks.default", origins, &c.default_playbook));
      DC_RETURN_IF_ERROR(ReadDuration(playbooks["plan_max_age"], "playbooks.plan_max_age", origins,
                                      &c.plan_max_age));
    }
    if (c.playbook_files.empty()) {
      return origins.Error("playbooks.files", playbooks ? playbooks["files"] : YAML::Node(),
                           "no playbook configured; list at least one playbook file");
    }
    if (root["reload"]) {
      DC_RETURN_IF_ERROR(ReadDuration(root["reload"]["poll_interval"], "reload.poll_interval",
                                      origins, &c.reload_poll_interval));
      if (c.reload_poll_interval < absl::Milliseconds(10)) {
        return origins.Error("reload.poll_interval", root["reload"]["poll_interval"],
                             "must be at least 10ms");
      }
    }
    DC_RETURN_IF_ERROR(
        ReadDuration(root["shutdown_grace"], "shutdown_grace", origins, &c.shutdown_grace));
    if (root["pipeline"]) {
      DC_RETURN_IF_ERROR(ReadDuration(root["pipeline"]["snapshot_interval"],
                                      "pipeline.snapshot_interval", origins, &c.snapshot_interval));
      if (c.snapshot_interval < absl::ZeroDuration() ||
          (c.snapshot_interval > absl::ZeroDuration() && c.snapshot_interval < absl::Minutes(1))) {
        return origins.Error("pipeline.snapshot_interval", root["pipeline"]["snapshot_interval"],
                             "must be 0 (off) or at least 1m");
      }
    }
    YAML::Node src = root["source"];
    if (src) {
      DC_RETURN_IF_ERROR(ReadDuration(src["sync_interval"], "source.sync_interval", origins,
                                      &c.source.sync_interval));
      DC_RETURN_IF_ERROR(
          ReadDuration(src["stale_after"], "source.stale_after", origins, &c.source.stale_after));
      DC_RETURN_IF_ERROR(ReadDuration(src["refresh_after"], "source.refresh_after", origins,
                                      &c.source.refresh_after));
      DC_RETURN_IF_ERROR(ReadDuration(src["fetch_timeout"], "source.fetch_timeout", origins,
                                      &c.source.fetch_timeout));
      DC_RETURN_IF_ERROR(ReadDuration(src["reconcile_interval"], "source.reconcile_interval",
                                      origins, &c.source.reconcile_interval));
      DC_RETURN_IF_ERROR(ReadDuration(src["sync_timeout"], "source.sync_timeout", origins,
                                      &c.source.sync_timeout));
      if (c.source.sync_timeout < absl::Seconds(1)) {
        return origins.Error("source.sync_timeout", src["sync_timeout"], "must be at least 1s");
      }
      DC_RETURN_IF_ERROR(ReadBool(src["background_sync"], "source.background_sync", origins,
                                  &c.source.background_sync));
      int64_t parsed_entries = static_cast<int64_t>(c.source.parsed_cache_entries);
      DC_RETURN_IF_ERROR(ReadInt(src["parsed_cache_entries"], "source.parsed_cache_entries",
                                 origins, 0, 1 << 20, &parsed_entries));
      c.source.parsed_cache_entries = static_cast<size_t>(parsed_entries);
    }
    DC_RETURN_IF_ERROR(ParseHttpSection(root["http"], origins, &c.http));
    // The HTTP listener's TLS: its own `http.tls` section, else the gRPC listener's.
    c.http.tls.cert_file = c.tls.cert_file;
    c.http.tls.key_file = c.tls.key_file;
    c.http.tls.client_ca_file = c.tls.client_ca_file;
    c.http.tls.refresh_interval = c.tls.refresh_interval;
    if (root["http"] && root["http"]["tls"]) {
      const YAML::Node tls = root["http"]["tls"];
      DC_RETURN_IF_ERROR(CheckKeys(tls, "http.tls",
                                   {"cert_file", "key_file", "client_ca_file", "refresh_interval"},
                                   origins));
      c.http.tls = http::TlsListenerOptions();
      for (auto [key, out] :
           {std::pair<const char*, std::string*>{"cert_file", &c.http.tls.cert_file},
            {"key_file", &c.http.tls.key_file},
            {"client_ca_file", &c.http.tls.client_ca_file}}) {
        const std::string dotted = absl::StrCat("http.tls.", key);
        DC_RETURN_IF_ERROR(ReadString(tls[key], dotted, origins, out));
        if (!out->empty() && !origins.IsOverridden(dotted)) *out = JoinPath(base_dir, *out);
      }
      DC_RETURN_IF_ERROR(ReadDuration(tls["refresh_interval"], "http.tls.refresh_interval", origins,
                                      &c.http.tls.refresh_interval));
      if (c.http.tls.cert_file.empty() != c.http.tls.key_file.empty() ||
          (!c.http.tls.client_ca_file.empty() && c.http.tls.cert_file.empty())) {
        return origins.Error("http.tls", tls,
                             "cert_file and key_file go together; client_ca_file needs both");
      }
    }
    absl::StatusOr<store::StoreConfig> store_config =
        store::ParseStoreConfig(root["store"], base_dir);
    if (!store_config.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file_name.empty() ? "config" : file_name, ": ",
                                                     store_config.status().message()));
    }
    c.store = *std::move(store_config);
    absl::StatusOr<auth::AuthConfig> auth_config = auth::ParseAuthConfig(root["auth"], base_dir);
    if (!auth_config.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(file_name.empty() ? "config" : file_name, ": ",
                                                     auth_config.status().message()));
    }
    c.auth = *std::move(auth_config);
    c.auth_configured = root["auth"] && !root["auth"].IsNull();
    c.connector = root["connector"];
    if (!c.connector) {
      return origins.Error("connector", YAML::Node(),
                           "missing; add a section like {type: file, file: {path: ...}}");
    }
    if (!c.connector.IsMap() || !c.connector["type"]) {
      return origins.Error("connector", c.connector, "must be a mapping with a 'type'");
    }
    DC_RETURN_IF_ERROR(ParseTenants(root["tenants"], origins, base_dir, &c));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file_name, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  // A connector call stuck at shutdown gets the same grace as in-flight requests.
  c.source.stop_timeout = c.shutdown_grace;
  return c;
}

absl::StatusOr<SidecarConfig> LoadConfig(const std::string& path,
                                         const std::vector<ConfigOverride>& overrides) {
  if (path.empty()) return ParseConfig("", "", WorkingDirectory(), overrides);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read config file"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  return ParseConfig(ss.str(), path, dir, overrides);
}

}  // namespace dealcoach::server
