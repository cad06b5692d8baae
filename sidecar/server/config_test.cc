#include "sidecar/server/config.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace dealcoach::server {
namespace {

constexpr char kConfig[] = R"(listen: 127.0.0.1:6000
log_level: warning
max_message_bytes: 65536
max_behaviors: 5
playbooks:
  files: [playbooks/a.yaml, /abs/b.yaml]
  default: a
reload:
  poll_interval: 250ms
source:
  sync_interval: 10s
  stale_after: 2m
  fetch_timeout: 500ms
connector:
  type: file
  file:
    path: samples/opps.json
)";

TEST(ConfigTest, ParsesEverySettingAndResolvesPathsAgainstTheFile) {
  auto c = ParseConfig(kConfig, "/etc/dc/sidecar.yaml", "/etc/dc", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:6000");
  EXPECT_EQ(c->log_level, runtime::LogLevel::kWarning);
  EXPECT_EQ(c->max_message_bytes, 65536);
  EXPECT_EQ(c->max_behaviors, 5);
  EXPECT_EQ(c->playbook_files,
            (std::vector<std::string>{"/etc/dc/playbooks/a.yaml", "/abs/b.yaml"}));
  EXPECT_EQ(c->default_playbook, "a");
  EXPECT_EQ(c->reload_poll_interval, absl::Milliseconds(250));
  EXPECT_EQ(c->source.sync_interval, absl::Seconds(10));
  EXPECT_EQ(c->source.stale_after, absl::Minutes(2));
  EXPECT_EQ(c->source.fetch_timeout, absl::Milliseconds(500));
  EXPECT_EQ(c->connector["type"].as<std::string>(), "file");
  EXPECT_EQ(c->connector["file"]["path"].as<std::string>(), "samples/opps.json");
  EXPECT_EQ(c->base_dir, "/etc/dc");
}

TEST(ConfigTest, DefaultsApplyWhenUnset) {
  auto c =
      ParseConfig("playbooks: {files: [p.yaml]}\nconnector: {type: file}\n", "c.yaml", "/d", {});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:50051");
  EXPECT_EQ(c->max_message_bytes, 4 * 1024 * 1024);
  EXPECT_EQ(c->max_behaviors, 3);
  EXPECT_EQ(c->reload_poll_interval, absl::Seconds(1));
  EXPECT_EQ(c->shutdown_grace, absl::Seconds(5));
}

TEST(ConfigTest, FlagBeatsEnvBeatsFile) {
  std::vector<ConfigOverride> o = {
      {"listen", "127.0.0.1:7000", "env DEALCOACH_LISTEN"},
      {"listen", "127.0.0.1:8000", "flag --listen"},
      {"connector.file.path", "/tmp/x.json", "flag --connector.file.path"},
      {"reload.poll_interval", "2s", "env DEALCOACH_RELOAD_POLL_INTERVAL"},
  };
  auto c = ParseConfig(kConfig, "c.yaml", "/d", o);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:8000");
  EXPECT_EQ(c->connector["file"]["path"].as<std::string>(), "/tmp/x.json");
  EXPECT_EQ(c->reload_poll_interval, absl::Seconds(2));
}

TEST(ConfigTest, ErrorsNameFileLineColumnOrTheOverride) {
  auto c =
      ParseConfig("playbooks: {files: [p.yaml]}\nconnector: {type: file}\nmax_behaviors: lots\n",
                  "conf/sidecar.yaml", "/d", {});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "conf/sidecar.yaml:3:16: max_behaviors: must be an integer, got 'lots'");

  c = ParseConfig(kConfig, "c.yaml", "/d", {{"max_behaviors", "99", "flag --max_behaviors"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "flag --max_behaviors: max_behaviors: must be between 1 and 50");

  c = ParseConfig("lisen: x\n", "c.yaml", "/d", {});
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StartsWith(c.status().message(), "c.yaml:1:1: lisen: unknown setting"))
      << c.status();

  c = ParseConfig("listen: [\n", "c.yaml", "/d", {});
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::StartsWith(c.status().message(), "c.yaml:")) << c.status();

  c = ParseConfig(kConfig, "c.yaml", "/d", {{"reload.poll_interval", "soon", "env X"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "env X: reload.poll_interval: must be a duration like 500ms, 1s, 5m, got 'soon'");
}

TEST(ConfigTest, EnvironmentVariablesMapToKeys) {
  EXPECT_EQ(EnvVarName("reload.poll_interval"), "DEALCOACH_RELOAD_POLL_INTERVAL");
  std::string a = "DEALCOACH_LISTEN=127.0.0.1:1";
  std::string b = "DEALCOACH_CONNECTOR_FILE_REBASE_DATES_FROM=2026-11-20T12:00:00Z";
  std::string d = "DEALCOACH_SOURCE_STALE_AFTER=1m";
  std::string e = "HOME=/root";
  char* env[] = {a.data(), b.data(), d.data(), e.data(), nullptr};
  std::vector<ConfigOverride> o = OverridesFromEnvironment(env);
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].key, "listen");
  EXPECT_EQ(o[0].origin, "env DEALCOACH_LISTEN");
  EXPECT_EQ(o[1].key, "source.stale_after");
  EXPECT_EQ(o[2].key, "connector.file.rebase_dates_from");
  EXPECT_EQ(o[2].value, "2026-11-20T12:00:00Z");
}

TEST(ConfigTest, UnknownOverrideIsRejected) {
  auto c = ParseConfig(kConfig, "c.yaml", "/d", {{"nope", "1", "flag --nope"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "flag --nope: unknown setting 'nope'");
}

constexpr char kTenants[] = R"(playbooks: {files: [a.yaml]}
connector: {type: file, file: {path: acme.json}}
auth:
  tenant: acme
  jwt: {jwks_file: jwks.json, issuers: [i], audiences: [a]}
tenants:
  globex:
    connector: {type: file, file: {path: globex.json}}
    playbooks: {files: [g.yaml, /abs/h.yaml], default: h}
)";

TEST(ConfigTest, TenantsSectionAddsTenantsWithTheirConnectorAndPlaybooks) {
  auto c = ParseConfig(kTenants, "/etc/dc/sidecar.yaml", "/etc/dc", {});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->tenants.size(), 1u);
  EXPECT_EQ(c->tenants[0].name, "globex");
  EXPECT_EQ(c->tenants[0].connector["file"]["path"].Scalar(), "globex.json");
  EXPECT_EQ(c->tenants[0].playbook_files,
            (std::vector<std::string>{"/etc/dc/g.yaml", "/abs/h.yaml"}));
  EXPECT_EQ(c->tenants[0].default_playbook, "h");
  EXPECT_EQ(c->auth.other_tenants, std::vector<std::string>{"globex"});
  // The single-tenant file is unchanged: one tenant, no others.
  auto single = ParseConfig(kConfig, "c.yaml", "/d", {});
  ASSERT_TRUE(single.ok());
  EXPECT_TRUE(single->tenants.empty());
  EXPECT_TRUE(single->auth.other_tenants.empty());
}

TEST(ConfigTest, TenantsErrorsNameTheTenant) {
  const std::string base = "playbooks: {files: [a.yaml]}\nconnector: {type: file}\n";
  const std::string auth =
      "auth: {tenant: acme, jwt: {jwks_file: j, issuers: [i], audiences: [a]}}\n";
  struct Case {
    std::string yaml;
    std::string error;
  };
  for (const Case& k : std::vector<Case>{
           {base + "tenants: {globex: {connector: {type: file}, playbooks: {files: [g]}}}\n",
            "tenants: needs an auth section"},
           {base + auth + "tenants: {acme: {connector: {type: file}, playbooks: {files: [g]}}}\n",
            "tenants.acme: is auth.tenant"},
           {base + auth + "tenants: {globex: {playbooks: {files: [g]}}}\n",
            "tenants.globex.connector: must be a mapping with a 'type'"},
           {base + auth + "tenants: {globex: {connector: {type: file}}}\n",
            "tenants.globex.playbooks.files: list at least one playbook file"},
           {base + auth +
                "tenants: {globex: {connector: {type: file}, playbooks: {files: [g]}, "
                "store: {}}}\n",
            "tenants.globex.store: unknown setting"},
           {base + auth + "tenants: [globex]\n", "tenants: must map tenant names"}}) {
    auto c = ParseConfig(k.yaml, "c.yaml", "/d", {});
    ASSERT_FALSE(c.ok()) << k.yaml;
    EXPECT_TRUE(absl::StrContains(c.status().message(), k.error)) << c.status() << "\n" << k.yaml;
  }
}

}  // namespace
}  // namespace dealcoach::server
