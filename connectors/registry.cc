#include "connectors/registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace dealcoach::connectors {
namespace {

// Function-local static: safe to use from other translation units' static initializers.
std::map<std::string, std::unique_ptr<ConnectorFactory>, std::less<>>& Factories() {
  static auto* factories =
      new std::map<std::string, std::unique_ptr<ConnectorFactory>, std::less<>>();
  return *factories;
}

}  // namespace

void RegisterConnectorFactory(std::unique_ptr<ConnectorFactory> factory) {
  std::string type(factory->type());
  auto [it, inserted] = Factories().emplace(type, std::move(factory));
  if (!inserted) {
    std::fprintf(stderr, "dealcoach: connector type '%s' registered twice\n", type.c_str());
    std::abort();
  }
}

absl::StatusOr<const ConnectorFactory*> FindConnectorFactory(absl::string_view type) {
  auto it = Factories().find(type);
  if (it == Factories().end()) {
    return absl::NotFoundError(
        absl::StrCat("unknown connector type '", type,
                     "'; registered types: ", absl::StrJoin(RegisteredConnectorTypes(), ", ")));
  }
  return it->second.get();
}

std::vector<std::string> RegisteredConnectorTypes() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : Factories()) names.push_back(name);
  return names;
}

absl::StatusOr<std::unique_ptr<Connector>> CreateConnector(const YAML::Node& section,
                                                           const ConnectorContext& context) {
  auto position = [&](const YAML::Node& node) {
    const YAML::Mark mark = node.Mark();
    return absl::StrCat(context.config_file, ":", mark.line + 1, ":", mark.column + 1);
  };
  if (!section || !section.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(context.config_file, ": `connector` must be a map with a `type` key"));
  }
  const YAML::Node type = section["type"];
  if (!type || !type.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(
        position(section), ": connector section needs `type: <name>`; registered types: ",
        absl::StrJoin(RegisteredConnectorTypes(), ", ")));
  }
  auto factory = FindConnectorFactory(type.Scalar());
  if (!factory.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(position(type), ": ", factory.status().message()));
  }
  // The adapter's own settings live under a key named after its type, e.g.
  // connector: {type: hubspot, hubspot: {...}}. An absent section is an empty map.
  YAML::Node own = section[type.Scalar()];
  return (*factory)->Create(own ? own : YAML::Node(YAML::NodeType::Map), context);
}

}  // namespace dealcoach::connectors
