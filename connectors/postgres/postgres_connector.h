// PostgresConnector: reads opportunities from a team's own PostgreSQL database.
//
// Two modes:
//   - table mode (default): the documented layout in schema.sql (opportunities,
//     accounts, contacts + opportunity_contacts with buying roles, activities,
//     stage_history, custom fields in a jsonb column). One SQL statement per page builds
//     each opportunity's record, child rows included as JSON arrays.
//   - query mode: `query` in config is the team's own SELECT; $1 is the `since`
//     timestamp (timestamptz). Its rows (child rows as json columns, if any) map through
//     the same YAML mapping. `fetch_query` ($1 = id) serves lookups by id; without it the
//     sync query is wrapped and filtered on the mapped id column.
//
// Rows become JSON objects (see pg_session.h) and map onto dealcoach.v1.Opportunity
// through OpportunityMapping: default_mapping.yaml, overlaid with the config's `mapping`.
// Keys of the `custom_fields` jsonb object also land in opp.fields with their JSON type
// unless the mapping already set them (`custom_fields_column: ""` turns this off).
//
// Incremental sync pages by (updated_at, id) in table mode, so a page boundary never
// skips or repeats a row. The connection string comes from the environment or a file
// (never the config) and is never logged. Connection loss is handled in PgSession:
// clean Unavailable errors naming the query, reset with backoff on the next call.
//
// Thread safety: all methods are safe to call concurrently (queries serialise on one
// connection).
#ifndef DEALCOACH_CONNECTORS_POSTGRES_POSTGRES_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_POSTGRES_POSTGRES_CONNECTOR_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "connectors/common/mapping.h"
#include "connectors/connector.h"
#include "connectors/postgres/pg_session.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors::postgres {

// The default mapping (default_mapping.yaml, embedded at build time).
absl::string_view DefaultMappingYaml();

struct PostgresOptions {
  // libpq connection string or postgresql:// URI. A secret: read from
  // `conninfo_env` / `conninfo_file`, never from the config text.
  std::string conninfo;
  // Query mode: the team's SELECT, $1 = since (timestamptz). Empty: table mode.
  std::string query;
  // Query mode: SELECT for one opportunity, $1 = id. Empty: derived from `query`.
  std::string fetch_query;
  // Table mode: opportunities per sync page. Default: 200.
  int page_size = 200;
  // Deadline for each sync query (a page in table mode). Default: 5 min.
  absl::Duration sync_timeout = absl::Minutes(5);
  // JSON object column whose keys become opp.fields entries. Default: custom_fields.
  std::string custom_fields_column = "custom_fields";
  PgSessionOptions session;
};

class PostgresConnector : public Connector {
 public:
  // Builds a connector from its config section (keys in README.md). Does not connect.
  static absl::StatusOr<std::unique_ptr<PostgresConnector>> Create(const YAML::Node& config,
                                                                   const ConnectorContext& context);
  // Builds a connector from parsed options and mapping (tests).
  PostgresConnector(PostgresOptions options, OpportunityMapping mapping);

  static constexpr char kType[] = "postgres";
  absl::string_view type() const override { return kType; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override;
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override;
  ConnectorHealth Health() const override;

  // The session, for tests (connection counts) and schema loading.
  PgSession& session() { return session_; }

 private:
  v1::Opportunity MapRow(const nlohmann::json& row) const;

  const PostgresOptions options_;
  const OpportunityMapping mapping_;
  PgSession session_;
};

}  // namespace dealcoach::connectors::postgres

#endif  // DEALCOACH_CONNECTORS_POSTGRES_POSTGRES_CONNECTOR_H_
