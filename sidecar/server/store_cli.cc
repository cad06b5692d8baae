// `dealcoach store migrate|status|vacuum`: operator commands on the durable store
// (docs/store.md). They read only the `store:` section of the config (plus store.*
// flags and DEALCOACH_STORE_* variables), so they work on a host that has no playbooks
// or CRM configured, e.g. a migration job run before the replicas roll.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "sidecar/server/cli.h"
#include "sidecar/server/config.h"
#include "sidecar/store/store.h"
#include "sidecar/store/store_config.h"
#include "yaml-cpp/yaml.h"

extern char** environ;

namespace dealcoach::server {
namespace {

constexpr char kStoreHelp[] =
    R"(usage: dealcoach store <migrate|status|vacuum> [--config FILE] [--store.<key> VALUE]...

Operates the durable store configured in the config file's `store:` section
(docs/store.md).

  migrate   apply pending schema migrations (safe while replicas run: they are
            serialised by a database lock); prints what was applied
  status    backend, location (passwords redacted), schema version and migrations;
            exits 1 when the schema is behind this binary
  vacuum    reclaim space (SQLite: VACUUM and a WAL checkpoint; PostgreSQL:
            VACUUM ANALYZE)

  --config FILE          config file (env DEALCOACH_CONFIG; default config/sidecar.yaml)
  --store.backend B      sqlite | postgres
  --store.data_dir DIR   sqlite data directory
  --store.postgres.conninfo S   libpq connection string
)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "dealcoach store: %s\n", message.c_str());
  return 2;
}

// Sets the dotted `key` (below store.) in `section`.
void SetKey(YAML::Node section, absl::string_view key, const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(key, '.');
  YAML::Node node = section;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (!child || !child.IsMap()) {
      node[parts[i]] = YAML::Node(YAML::NodeType::Map);
      child = node[parts[i]];
    }
    node.reset(child);
  }
  node[parts.back()] = value;
}

}  // namespace

const char* StoreHelp() { return kStoreHelp; }

int RunStore(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kStoreHelp, stdout);
    return 0;
  }
  if (args.positional.size() != 1) {
    std::fputs(kStoreHelp, stderr);
    return 2;
  }
  const std::string& command = args.positional[0];
  if (command != "migrate" && command != "status" && command != "vacuum") {
    return Fail(absl::StrCat("unknown store command '", command, "' (migrate, status, vacuum)"));
  }

  std::string config_path = args.Get("config");
  if (config_path.empty() && getenv("DEALCOACH_CONFIG") != nullptr) {
    config_path = getenv("DEALCOACH_CONFIG");
  }
  if (config_path.empty() && access("config/sidecar.yaml", R_OK) == 0) {
    config_path = "config/sidecar.yaml";
  }
  YAML::Node section(YAML::NodeType::Map);
  std::string base_dir = ".";
  if (!config_path.empty()) {
    try {
      YAML::Node root = YAML::LoadFile(config_path);
      if (root.IsMap() && root["store"]) section = root["store"];
    } catch (const YAML::Exception& e) {
      return Fail(absl::StrCat(config_path, ": ", e.what()));
    }
    size_t slash = config_path.rfind('/');
    base_dir = slash == std::string::npos ? "." : config_path.substr(0, slash);
  }
  // Environment, then flags (flag > env > file), store.* keys only.
  std::vector<ConfigOverride> overrides;
  for (const ConfigOverride& o : OverridesFromEnvironment(environ)) {
    if (absl::StartsWith(o.key, "store.")) overrides.push_back(o);
  }
  for (const auto& [key, value] : args.flags) {
    if (key == "config") continue;
    if (!absl::StartsWith(key, "store.")) {
      return Fail(absl::StrCat("unknown flag --", key, "; see 'dealcoach store --help'"));
    }
    overrides.push_back({key, value, absl::StrCat("flag --", key)});
  }
  for (const ConfigOverride& o : overrides) {
    SetKey(section, absl::string_view(o.key).substr(strlen("store.")), o.value);
  }
  absl::StatusOr<store::StoreConfig> config = store::ParseStoreConfig(section, base_dir);
  if (!config.ok()) return Fail(std::string(config.status().message()));
  if (!config->enabled) return Fail("store.backend is none: there is no store to operate");

  store::StoreOptions options = config->options;
  options.migrate = false;
  options.require_current_schema = false;
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Open(options);
  if (!opened.ok()) return Fail(std::string(opened.status().message()));
  store::Store& s = **opened;

  if (command == "migrate") {
    absl::StatusOr<int> applied = s.Migrate();
    if (!applied.ok()) return Fail(std::string(applied.status().message()));
    absl::StatusOr<store::StoreStatus> st = s.Status();
    if (!st.ok()) return Fail(std::string(st.status().message()));
    std::printf("%s %s: applied %d migration(s); schema version %d\n", st->backend.c_str(),
                st->location.c_str(), *applied, st->schema_version);
    return 0;
  }
  if (command == "vacuum") {
    absl::Status v = s.Vacuum();
    if (!v.ok()) return Fail(std::string(v.message()));
    std::printf("vacuum: done\n");
    return 0;
  }
  absl::StatusOr<store::StoreStatus> st = s.Status();
  if (!st.ok()) return Fail(std::string(st.status().message()));
  std::printf("backend:        %s\nlocation:       %s\nschema version: %d (this binary: %d)\n",
              st->backend.c_str(), st->location.c_str(), st->schema_version, st->latest_version);
  for (const std::string& m : st->applied) std::printf("  applied %s\n", m.c_str());
  if (st->schema_version < st->latest_version) {
    std::printf("schema is behind: run 'dealcoach store migrate'\n");
    return 1;
  }
  return 0;
}

}  // namespace dealcoach::server
