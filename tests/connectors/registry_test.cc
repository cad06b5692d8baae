// Every connector folder in the tree must be linked into dealcoach_connectors and
// registered under its folder name; forgetting DEALCOACH_REGISTER_CONNECTOR or linking an
// adapter as a plain static library (whose registrar the linker drops) fails here.
#include "connectors/registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace dealcoach::connectors {
namespace {

TEST(ConnectorRegistryTest, EveryConnectorFolderIsRegistered) {
  const std::vector<std::string> expected =
      absl::StrSplit(DEALCOACH_EXPECTED_CONNECTORS, ',', absl::SkipEmpty());
  ASSERT_GE(expected.size(), 2u);  // file and salesforce at least
  const std::vector<std::string> registered = RegisteredConnectorTypes();
  for (const std::string& name : expected) {
    EXPECT_NE(std::find(registered.begin(), registered.end(), name), registered.end())
        << "connector '" << name << "' has a folder but is not registered";
    absl::StatusOr<const ConnectorFactory*> factory = FindConnectorFactory(name);
    ASSERT_TRUE(factory.ok()) << factory.status();
    EXPECT_EQ((*factory)->type(), name);
  }
  EXPECT_TRUE(std::is_sorted(registered.begin(), registered.end()));
}

TEST(ConnectorRegistryTest, UnknownTypeListsTheRegisteredOnes) {
  ConnectorContext ctx;
  ctx.config_file = "sidecar.yaml";
  auto c = CreateConnector(YAML::Load("connector_type_typo: 1\ntype: salesfrce\n"), ctx);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(c.status().message());
  EXPECT_EQ(message.rfind("sidecar.yaml:2:7: unknown connector type 'salesfrce'; registered "
                          "types: ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("file"), std::string::npos);
  EXPECT_NE(message.find("salesforce"), std::string::npos);
}

}  // namespace
}  // namespace dealcoach::connectors
