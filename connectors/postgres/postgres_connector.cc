#include "connectors/postgres/postgres_connector.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "connectors/common/config.h"
#include "connectors/common/secrets.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors::postgres {
namespace {

// Table mode: one record per opportunity, child rows aggregated as JSON arrays (their
// timestamps come out as RFC 3339 text). Column names are the default mapping's sources.
constexpr absl::string_view kTableSelect = R"sql(
SELECT o.id, o.name, o.account_id, a.name AS account_name, a.industry AS account_industry,
       a.employees AS account_employees, a.segment AS account_segment,
       o.owner_id, o.owner_name, o.manager_id, o.team, o.stage, o.stage_entered_at,
       o.amount, o.currency_code, o.close_date, o.forecast_category, o.next_step,
       o.is_closed, o.is_won, o.custom_fields, o.created_at, o.updated_at,
       (SELECT json_agg(json_build_object(
                 'id', c.id, 'name', c.name, 'title', c.title, 'roles', oc.roles,
                 'is_primary', oc.is_primary, 'confirmed_pain', oc.confirmed_pain,
                 'sentiment', oc.sentiment, 'last_met_at', oc.last_met_at) ORDER BY c.id)
          FROM opportunity_contacts oc JOIN contacts c ON c.id = oc.contact_id
         WHERE oc.opportunity_id = o.id) AS contacts,
       (SELECT json_agg(json_build_object(
                 'id', x.id, 'type', x.type, 'at', x.at, 'subject', x.subject,
                 'participant_ids', x.participant_ids, 'outcome', x.outcome)
                 ORDER BY x.at, x.id)
          FROM activities x WHERE x.opportunity_id = o.id) AS activities,
       (SELECT json_agg(json_build_object('stage', h.stage, 'entered_at', h.entered_at)
                 ORDER BY h.entered_at, h.stage)
          FROM stage_history h WHERE h.opportunity_id = o.id) AS stage_history
  FROM opportunities o LEFT JOIN accounts a ON a.id = o.account_id
)sql";

// RFC 3339 with microseconds, or PostgreSQL's infinities.
std::string SqlTime(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  if (t == absl::InfiniteFuture()) return "infinity";
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6S%Ez", t, absl::UTCTimeZone());
}

absl::Time TimeOf(const google::protobuf::Timestamp& ts) { return ToAbslTime(ts); }

// A JSON value's FieldValue by its JSON type; false for objects, arrays and null.
bool JsonToFieldValue(const nlohmann::json& v, v1::FieldValue* out) {
  if (v.is_boolean()) {
    out->set_bool_value(v.get<bool>());
  } else if (v.is_number_integer() || v.is_number_unsigned()) {
    out->set_int_value(v.get<int64_t>());
  } else if (v.is_number_float()) {
    out->set_double_value(v.get<double>());
  } else if (v.is_string()) {
    out->set_string_value(v.get<std::string>());
  } else {
    return false;
  }
  return true;
}

}  // namespace

PostgresConnector::PostgresConnector(PostgresOptions options, OpportunityMapping mapping)
    : options_(std::move(options)),
      mapping_(std::move(mapping)),
      session_(options_.conninfo, options_.session) {}

absl::StatusOr<std::unique_ptr<PostgresConnector>> PostgresConnector::Create(
    const YAML::Node& config, const ConnectorContext& context) {
  ConfigReader r(config, context);
  // `conninfo` is accepted here only so ReadSecret can explain why it is refused.
  DC_RETURN_IF_ERROR(
      r.CheckKeys({"conninfo", "conninfo_env", "conninfo_file", "query", "fetch_query", "page_size",
                   "sync_timeout", "connect_timeout", "statement_timeout", "reconnect",
                   "custom_fields_column", "mapping"}));
  PostgresOptions options;
  DC_ASSIGN_OR_RETURN(options.conninfo, ReadSecret(r.node(), "conninfo", context));
  DC_ASSIGN_OR_RETURN(options.query, r.String("query", ""));
  DC_ASSIGN_OR_RETURN(options.fetch_query, r.String("fetch_query", ""));
  DC_ASSIGN_OR_RETURN(int64_t page_size, r.Int("page_size", options.page_size));
  if (page_size < 1 || page_size > 10000) {
    return ConfigError(r.node()["page_size"], context, "`page_size` must be in 1..10000");
  }
  options.page_size = static_cast<int>(page_size);
  DC_ASSIGN_OR_RETURN(options.sync_timeout, r.Duration("sync_timeout", options.sync_timeout));
  DC_ASSIGN_OR_RETURN(options.session.connect_timeout,
                      r.Duration("connect_timeout", options.session.connect_timeout));
  DC_ASSIGN_OR_RETURN(options.session.statement_timeout,
                      r.Duration("statement_timeout", options.session.statement_timeout));
  DC_ASSIGN_OR_RETURN(options.custom_fields_column,
                      r.String("custom_fields_column", options.custom_fields_column));
  DC_ASSIGN_OR_RETURN(YAML::Node reconnect, r.Map("reconnect"));
  if (reconnect.IsDefined()) {
    ConfigReader rr(reconnect, context);
    DC_RETURN_IF_ERROR(rr.CheckKeys({"attempts", "initial_backoff", "max_backoff"}));
    DC_ASSIGN_OR_RETURN(int64_t attempts, rr.Int("attempts", options.session.reconnect_attempts));
    if (attempts < 1) return ConfigError(reconnect["attempts"], context, "`attempts` must be >= 1");
    options.session.reconnect_attempts = static_cast<int>(attempts);
    DC_ASSIGN_OR_RETURN(options.session.reconnect_initial_backoff,
                        rr.Duration("initial_backoff", options.session.reconnect_initial_backoff));
    DC_ASSIGN_OR_RETURN(options.session.reconnect_max_backoff,
                        rr.Duration("max_backoff", options.session.reconnect_max_backoff));
  }

  DC_ASSIGN_OR_RETURN(
      OpportunityMapping mapping,
      OpportunityMapping::Parse(DefaultMappingYaml(), "connectors/postgres/default_mapping.yaml"));
  DC_ASSIGN_OR_RETURN(YAML::Node overrides, r.Map("mapping"));
  if (overrides.IsDefined()) {
    DC_RETURN_IF_ERROR(mapping.Merge(overrides, context.config_file));
  }
  if (!options.query.empty() && options.fetch_query.empty()) {
    const std::string id_column = mapping.SourceFor("id");
    if (id_column.empty() || id_column.find('.') != std::string::npos) {
      return ConfigError(r.node()["query"], context,
                         "query mode needs `fetch_query` ($1 = id) unless the mapping maps "
                         "`id` to a plain column");
    }
  }
  return std::make_unique<PostgresConnector>(std::move(options), std::move(mapping));
}

v1::Opportunity PostgresConnector::MapRow(const nlohmann::json& row) const {
  v1::Opportunity opp;
  mapping_.Apply(row, &opp, /*issues=*/nullptr);
  if (!options_.custom_fields_column.empty()) {
    auto it = row.find(options_.custom_fields_column);
    if (it != row.end() && it->is_object()) {
      auto* fields = opp.mutable_fields();
      for (const auto& [name, value] : it->items()) {
        if (fields->contains(name)) continue;  // The mapping's typed rule wins.
        v1::FieldValue fv;
        if (JsonToFieldValue(value, &fv)) (*fields)[name] = std::move(fv);
      }
    }
  }
  if (opp.source_system().empty()) opp.set_source_system("postgres");
  return opp;
}

absl::StatusOr<v1::Opportunity> PostgresConnector::FetchOpportunity(absl::string_view id,
                                                                    absl::Time deadline) {
  std::string sql;
  std::vector<std::optional<std::string>> params;
  if (options_.query.empty()) {
    sql = absl::StrCat(kTableSelect, " WHERE o.id = $1");
    params = {std::string(id)};
  } else if (!options_.fetch_query.empty()) {
    sql = options_.fetch_query;
    params = {std::string(id)};
  } else {
    const std::string column = absl::StrReplaceAll(mapping_.SourceFor("id"), {{"\"", "\"\""}});
    sql = absl::StrCat("SELECT * FROM (", options_.query, ") AS dealcoach_q WHERE dealcoach_q.\"",
                       column, "\"::text = $2");
    params = {std::string("-infinity"), std::string(id)};
  }
  DC_ASSIGN_OR_RETURN(PgRows rows, session_.Query("fetch opportunity", sql, params, deadline));
  if (rows.empty()) {
    return absl::NotFoundError(
        absl::StrCat("postgres: query 'fetch opportunity': no opportunity with id '", id, "'"));
  }
  return MapRow(rows.front());
}

absl::StatusOr<SyncResult> PostgresConnector::SyncChangedSince(
    absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) {
  SyncResult result;
  auto deliver = [&](const nlohmann::json& row) -> absl::Status {
    v1::Opportunity opp = MapRow(row);
    if (opp.has_updated_at()) {
      result.high_water_mark = std::max(result.high_water_mark, TimeOf(opp.updated_at()));
    }
    ++result.count;
    return sink(std::move(opp));
  };

  if (!options_.query.empty()) {
    // A query of the operator's own may return any number of rows: stream it through a
    // cursor, page_size rows at a time, rather than hold the whole result.
    DC_RETURN_IF_ERROR(session_.QueryInBatches(
        "sync query", options_.query, {SqlTime(since)}, options_.page_size,
        absl::Now() + options_.sync_timeout, [&](PgRows& rows) -> absl::Status {
          ++result.pages;
          for (const nlohmann::json& row : rows) DC_RETURN_IF_ERROR(deliver(row));
          return absl::OkStatus();
        }));
    return result;
  }

  // Keyset paging on (updated_at, id): the first page starts at `since` (the empty id
  // sorts first), later pages strictly after the last row seen.
  const std::string first =
      absl::StrCat(kTableSelect,
                   " WHERE (o.updated_at, o.id) >= ($1::timestamptz, $2::text)"
                   " ORDER BY o.updated_at, o.id LIMIT $3");
  const std::string next = absl::StrCat(kTableSelect,
                                        " WHERE (o.updated_at, o.id) > ($1::timestamptz, $2::text)"
                                        " ORDER BY o.updated_at, o.id LIMIT $3");
  std::string after_time = SqlTime(since);
  std::string after_id;
  bool first_page = true;
  while (true) {
    DC_ASSIGN_OR_RETURN(PgRows rows,
                        session_.Query("sync page", first_page ? first : next,
                                       {after_time, after_id, absl::StrCat(options_.page_size)},
                                       absl::Now() + options_.sync_timeout));
    first_page = false;
    ++result.pages;
    for (const nlohmann::json& row : rows) DC_RETURN_IF_ERROR(deliver(row));
    if (static_cast<int>(rows.size()) < options_.page_size) break;
    const nlohmann::json& last = rows.back();
    if (!last.contains("updated_at") || !last["updated_at"].is_string() || !last.contains("id") ||
        !last["id"].is_string()) {
      return absl::FailedPreconditionError(
          "postgres: query 'sync page': rows lack text `id` / `updated_at` columns");
    }
    after_time = last["updated_at"].get<std::string>();
    after_id = last["id"].get<std::string>();
  }
  return result;
}

ConnectorHealth PostgresConnector::Health() const { return session_.Health(); }

}  // namespace dealcoach::connectors::postgres
