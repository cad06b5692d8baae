#include "connectors/common/secrets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

namespace dealcoach::connectors {
namespace {

ConnectorContext Ctx() {
  ConnectorContext c;
  c.config_file = "sidecar.yaml";
  c.base_dir = ::testing::TempDir();
  return c;
}

TEST(SecretsTest, FromEnvironment) {
  setenv("DC_TEST_SECRET", "s3cr3t", 1);
  auto v = ReadSecret(YAML::Load("client_secret_env: DC_TEST_SECRET"), "client_secret", Ctx());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "s3cr3t");
}

TEST(SecretsTest, FromFileRelativeToBaseDirTrimsNewline) {
  {
    std::ofstream out(::testing::TempDir() + "/sf_secret");
    out << "from-file\n";
  }
  auto v = ReadSecret(YAML::Load("client_secret_file: sf_secret"), "client_secret", Ctx());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "from-file");
}

TEST(SecretsTest, InlineSecretIsRejectedWithoutEchoingIt) {
  auto v = ReadSecret(YAML::Load("client_id: x\nclient_secret: hunter2"), "client_secret", Ctx());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v.status().message(),
            "sidecar.yaml:2:16: inline `client_secret` is not allowed: secrets come from "
            "`client_secret_env: VAR` or `client_secret_file: /path`");
}

TEST(SecretsTest, MissingVariableAndMissingKey) {
  unsetenv("DC_TEST_UNSET");
  auto v = ReadSecret(YAML::Load("token_env: DC_TEST_UNSET"), "token", Ctx());
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().message(),
            "sidecar.yaml:1:12: environment variable DC_TEST_UNSET (token_env) is not set");
  auto w = ReadSecret(YAML::Load("a: b"), "token", Ctx());
  EXPECT_EQ(w.status().message(),
            "sidecar.yaml:1:1: missing secret: set `token_env: VAR` or `token_file: /path`");
  auto optional = ReadSecret(YAML::Load("a: b"), "token", Ctx(), /*required=*/false);
  ASSERT_TRUE(optional.ok());
  EXPECT_EQ(*optional, "");
}

TEST(SecretsTest, Redact) {
  EXPECT_EQ(RedactSecret("token abc in abc", "abc"), "token <redacted> in <redacted>");
  EXPECT_EQ(RedactSecret("x", ""), "x");
}

}  // namespace
}  // namespace dealcoach::connectors
