// Registers the "postgres" connector type.
#include "connectors/postgres/postgres_connector.h"
#include "connectors/registry.h"

namespace dealcoach::connectors::postgres {
namespace {

using PostgresFactory = ConnectorFactoryFor<PostgresConnector>;

DEALCOACH_REGISTER_CONNECTOR(PostgresFactory);

}  // namespace
}  // namespace dealcoach::connectors::postgres
