// Registry of connector factories by type name (Envoy-style). Adapters register from a
// static initializer with DEALCOACH_REGISTER_CONNECTOR; they are linked as OBJECT
// libraries (cmake/Connectors.cmake) so the initializer is never dropped.
#ifndef DEALCOACH_CONNECTORS_REGISTRY_H_
#define DEALCOACH_CONNECTORS_REGISTRY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "connectors/connector.h"

namespace dealcoach::connectors {

// Registers a factory. Registering the same type twice aborts at start-up: it is a
// build mistake, not a runtime condition.
void RegisterConnectorFactory(std::unique_ptr<ConnectorFactory> factory);

// The factory for `type`, or NotFound listing the registered types.
absl::StatusOr<const ConnectorFactory*> FindConnectorFactory(absl::string_view type);

// Registered type names, sorted.
std::vector<std::string> RegisteredConnectorTypes();

// Builds the connector described by a `connector:` config section ({type: ..., ...}).
absl::StatusOr<std::unique_ptr<Connector>> CreateConnector(const YAML::Node& section,
                                                           const ConnectorContext& context);

// The factory for a connector class that reads its own config section. ConnectorT
// provides `static constexpr char kType[]` (its type name) and
//   static absl::StatusOr<std::unique_ptr<ConnectorT>> Create(const YAML::Node& config,
//                                                             const ConnectorContext& context);
// Register it with `using FooFactory = ConnectorFactoryFor<FooConnector>;
// DEALCOACH_REGISTER_CONNECTOR(FooFactory);`.
template <typename ConnectorT>
class ConnectorFactoryFor : public ConnectorFactory {
 public:
  absl::string_view type() const override { return ConnectorT::kType; }
  absl::StatusOr<std::unique_ptr<Connector>> Create(
      const YAML::Node& config, const ConnectorContext& context) const override {
    absl::StatusOr<std::unique_ptr<ConnectorT>> connector = ConnectorT::Create(config, context);
    if (!connector.ok()) return connector.status();
    return std::unique_ptr<Connector>(std::move(*connector));
  }
};

namespace internal {
template <typename Factory>
struct Registrar {
  Registrar() { RegisterConnectorFactory(std::make_unique<Factory>()); }
};
}  // namespace internal

}  // namespace dealcoach::connectors

// Use once at namespace scope in the adapter's factory.cc.
#define DEALCOACH_REGISTER_CONNECTOR(FactoryClass) \
  static ::dealcoach::connectors::internal::Registrar<FactoryClass> dc_registrar_##FactoryClass

#endif  // DEALCOACH_CONNECTORS_REGISTRY_H_
