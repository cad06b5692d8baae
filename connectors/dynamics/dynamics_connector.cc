#include "connectors/dynamics/dynamics_connector.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "connectors/common/config.h"
#include "connectors/common/parallel.h"
#include "connectors/common/secrets.h"
#include "connectors/registry.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors::dynamics {
namespace {

using nlohmann::json;

constexpr const char* kCrm = DynamicsConnector::kType;
constexpr char kAnnotation[] = "@OData.Community.Display.V1.FormattedValue";
// Ids per related-record query: keeps the $filter (and URL) short.
constexpr size_t kIdsPerQuery = 25;
// Extra GETs of a response whose body is not a JSON object.
constexpr int kMalformedRetries = 2;

// The top-level attribute a mapping source path reads, for $select ("" for none):
// "formatted.x" reads x, "parentaccountid.name" reads nothing (expanded), "dealcoach.*"
// is built by the connector.
std::string TopLevelAttribute(const std::string& source, const std::set<std::string>& expanded) {
  std::vector<std::string> parts = absl::StrSplit(source, '.');
  if (parts.empty() || parts[0].empty()) return "";
  if (parts[0] == "formatted") return parts.size() == 2 ? parts[1] : "";
  if (parts[0] == "dealcoach" || expanded.count(parts[0])) return "";
  return parts[0];
}

std::string ODataTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string IdFilter(const std::string& lookup, const std::vector<std::string>& ids) {
  std::vector<std::string> terms;
  for (const std::string& id : ids) terms.push_back(absl::StrCat(lookup, " eq ", id));
  return absl::StrCat("(", absl::StrJoin(terms, " or "), ")");
}

// Dataverse ids are GUIDs; refuse anything else before it reaches a URL or $filter.
bool IsGuid(absl::string_view id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

void LiftFormattedValues(json* value) {
  if (value->is_array()) {
    for (json& item : *value) LiftFormattedValues(&item);
    return;
  }
  if (!value->is_object()) return;
  json formatted = json::object();
  for (auto it = value->begin(); it != value->end(); ++it) {
    if (absl::EndsWith(it.key(), kAnnotation)) {
      formatted[it.key().substr(0, it.key().size() - strlen(kAnnotation))] = it.value();
    } else if (it->is_object() || it->is_array()) {
      LiftFormattedValues(&it.value());
    }
  }
  if (!formatted.empty()) (*value)["formatted"] = std::move(formatted);
}

absl::Status DataverseError(const HttpResponse& response, absl::string_view call) {
  std::string detail;
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    detail = absl::StrCat(body["error"].value("message", ""), " [", body["error"].value("code", ""),
                          "]");
  } else if (response.status == 401) {
    detail = "access token rejected";
  } else {
    detail = response.body.substr(0, 200);
  }
  return StatusFromHttp(response.status, kCrm, call, detail);
}

absl::Status EntraError(const HttpResponse& response, absl::string_view call) {
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  std::string error, description;
  if (body.is_object()) {
    error = body.value("error", "");
    description = body.value("error_description", "");
  }
  const std::string detail =
      error.empty() ? response.body.substr(0, 200) : absl::StrCat(error, ": ", description);
  if (error == "invalid_client" || error == "unauthorized_client" || error == "invalid_grant") {
    return absl::UnauthenticatedError(
        absl::StrCat(kCrm, ": ", call, ": ", response.status, " token request refused: ", detail,
                     " (check tenant_id, client_id and the secret named by "
                     "client_secret_env / client_secret_file)"));
  }
  return StatusFromHttp(response.status, kCrm, call, detail);
}

DynamicsConnector::DynamicsConnector(DynamicsOptions options, OpportunityMapping mapping,
                                     std::string select, std::unique_ptr<HttpClient> client)
    : options_(std::move(options)),
      mapping_(std::move(mapping)),
      client_(std::move(client)),
      select_(std::move(select)),
      expand_(options_.expand) {
  http_ = std::make_unique<ResilientHttp>(kCrm, client_.get(), options_.resilience);
}

absl::StatusOr<std::unique_ptr<DynamicsConnector>> DynamicsConnector::Create(
    const YAML::Node& config, const ConnectorContext& context) {
  ConfigReader r(config, context);
  DC_RETURN_IF_ERROR(
      r.CheckHttpConnectorKeys({"org_url", "authority", "tenant_id", "client_id", "client_secret",
                                "client_secret_env", "client_secret_file", "scope", "api_version",
                                "page_size", "expand", "contacts", "activities", "activity_parties",
                                "check_attributes", "audit_history", "sync_timeout", "mapping"}));
  DynamicsOptions o;
  DC_ASSIGN_OR_RETURN(o.org_url, r.String("org_url"));
  while (absl::EndsWith(o.org_url, "/")) o.org_url.pop_back();
  DC_ASSIGN_OR_RETURN(o.authority, r.String("authority", o.authority));
  while (absl::EndsWith(o.authority, "/")) o.authority.pop_back();
  DC_ASSIGN_OR_RETURN(o.tenant_id, r.String("tenant_id"));
  DC_ASSIGN_OR_RETURN(o.client_id, r.String("client_id"));
  DC_ASSIGN_OR_RETURN(o.client_secret, ReadSecret(r.node(), "client_secret", context));
  DC_ASSIGN_OR_RETURN(o.scope, r.String("scope", absl::StrCat(o.org_url, "/.default")));
  DC_ASSIGN_OR_RETURN(o.api_version, r.String("api_version", o.api_version));
  DC_ASSIGN_OR_RETURN(int64_t page_size, r.Int("page_size", o.page_size));
  if (page_size < 1 || page_size > 5000) {
    return ConfigError(r.node()["page_size"], context, "`page_size` must be in 1..5000");
  }
  o.page_size = static_cast<int>(page_size);
  DC_ASSIGN_OR_RETURN(o.expand, r.String("expand", o.expand));
  DC_ASSIGN_OR_RETURN(o.contacts, r.Bool("contacts", true));
  DC_ASSIGN_OR_RETURN(o.activities, r.Bool("activities", true));
  DC_ASSIGN_OR_RETURN(o.activity_parties, r.Bool("activity_parties", true));
  DC_ASSIGN_OR_RETURN(o.check_attributes, r.Bool("check_attributes", true));
  DC_ASSIGN_OR_RETURN(o.audit_history, r.Bool("audit_history", true));
  DC_ASSIGN_OR_RETURN(o.sync_timeout, r.Duration("sync_timeout", o.sync_timeout));
  DC_ASSIGN_OR_RETURN(o.http, ParseHttpClientOptions(r));
  DC_ASSIGN_OR_RETURN(o.resilience, ParseResilience(r));

  const std::string default_file = "connectors/dynamics/default_mapping.yaml";
  DC_ASSIGN_OR_RETURN(OpportunityMapping mapping,
                      OpportunityMapping::Parse(DefaultMappingYaml(), default_file));
  DC_ASSIGN_OR_RETURN(YAML::Node overrides, r.Map("mapping"));
  if (overrides.IsDefined()) DC_RETURN_IF_ERROR(mapping.Merge(overrides, context.config_file));

  // $select: what the mapping reads at the top level, minus expanded navigation properties.
  std::set<std::string> expanded;
  {
    // Top-level navigation names only: commas inside "(...)" belong to nested options.
    int depth = 0;
    std::string name;
    for (char c : o.expand + ",") {
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == ',' && depth == 0) {
        if (!name.empty()) expanded.insert(name);
        name.clear();
      } else if (depth == 0 && c != ')') {
        name.push_back(c);
      }
    }
  }
  std::set<std::string> attributes = {"opportunityid", "modifiedon"};
  for (const std::string& source : mapping.ScalarSources()) {
    std::string attribute = TopLevelAttribute(source, expanded);
    if (!attribute.empty()) attributes.insert(std::move(attribute));
  }
  DC_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(o.http));
  return std::unique_ptr<DynamicsConnector>(new DynamicsConnector(
      std::move(o), std::move(mapping), absl::StrJoin(attributes, ","), std::move(client)));
}

std::string DynamicsConnector::ApiRoot() const {
  return absl::StrCat(options_.org_url, "/api/data/", options_.api_version);
}

absl::StatusOr<std::string> DynamicsConnector::AccessToken(absl::Time deadline, bool force) {
  absl::MutexLock lock(&token_mu_);
  if (!force && !token_.empty() && absl::Now() < token_expires_) return token_;
  HttpRequest request;
  request.method = "POST";
  request.url =
      absl::StrCat(options_.authority, "/", UrlEncode(options_.tenant_id), "/oauth2/v2.0/token");
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = FormEncode({{"grant_type", "client_credentials"},
                             {"client_id", options_.client_id},
                             {"client_secret", options_.client_secret},
                             {"scope", options_.scope}});
  request.deadline = deadline;
  DC_ASSIGN_OR_RETURN(HttpResponse response, http_->Execute(request, EntraError));
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("access_token") || !body["access_token"].is_string()) {
    return absl::FailedPreconditionError(absl::StrCat(kCrm, ": ", DescribeCall("POST", request.url),
                                                      ": token response has no access_token"));
  }
  token_ = body["access_token"].get<std::string>();
  int64_t expires_in = 3599;
  if (body.contains("expires_in")) {
    if (body["expires_in"].is_number()) {
      expires_in = body["expires_in"].get<int64_t>();
    } else if (body["expires_in"].is_string()) {
      (void)absl::SimpleAtoi(body["expires_in"].get<std::string>(), &expires_in);
    }
  }
  // Renew a minute early (or halfway, for very short lifetimes) so a token never
  // expires in flight.
  const absl::Duration lifetime = absl::Seconds(expires_in);
  token_expires_ = absl::Now() + std::max(lifetime - absl::Minutes(1), lifetime / 2);
  return token_;
}

absl::StatusOr<json> DynamicsConnector::Get(const std::string& url, absl::Time deadline) {
  absl::Status last;
  // A body that does not parse (cut short by a proxy, an HTML error page) is asked for
  // again, up to twice, before the call (and with it the pass) fails.
  int malformed = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    DC_ASSIGN_OR_RETURN(std::string token, AccessToken(deadline, /*force=*/attempt > 0));
    HttpRequest request;
    request.url = url;
    request.headers = {
        {"Authorization", absl::StrCat("Bearer ", token)},
        {"Accept", "application/json"},
        {"OData-MaxVersion", "4.0"},
        {"OData-Version", "4.0"},
        {"Prefer", absl::StrCat("odata.maxpagesize=", options_.page_size,
                                ",odata.include-annotations=\"OData.Community.Display.V1."
                                "FormattedValue\"")}};
    request.deadline = deadline;
    absl::StatusOr<HttpResponse> response = http_->Execute(request, DataverseError);
    if (!response.ok()) {
      // An expired or revoked token: fetch a new one and retry once.
      if (attempt == 0 && response.status().code() == absl::StatusCode::kUnauthenticated) {
        last = response.status();
        continue;
      }
      return response.status();
    }
    json parsed = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if ((parsed.is_discarded() || !parsed.is_object()) && malformed++ < kMalformedRetries) {
      --attempt;  // not a token problem: keep the cached token
      continue;
    }
    if (parsed.is_discarded() || !parsed.is_object()) {
      return absl::FailedPreconditionError(
          absl::StrCat(kCrm, ": ", DescribeCall("GET", url), ": ", response->status,
                       " response is not a JSON object: ", response->body.substr(0, 80)));
    }
    return parsed;
  }
  return last;
}

absl::StatusOr<std::vector<json>> DynamicsConnector::GetAll(const std::string& url,
                                                            absl::Time deadline) {
  std::vector<json> rows;
  std::string next = url;
  while (!next.empty()) {
    DC_ASSIGN_OR_RETURN(json page, Get(next, deadline));
    if (!page.contains("value") || !page["value"].is_array()) {
      return absl::FailedPreconditionError(
          absl::StrCat(kCrm, ": ", DescribeCall("GET", next), ": response has no `value` array"));
    }
    for (json& row : page["value"]) rows.push_back(std::move(row));
    next.clear();
    if (page.contains("@odata.nextLink") && page["@odata.nextLink"].is_string()) {
      next = page["@odata.nextLink"].get<std::string>();
      // The token goes only to the configured environment.
      if (!absl::StartsWith(next, absl::StrCat(ApiRoot(), "/"))) {
        return absl::FailedPreconditionError(absl::StrCat(kCrm, ": ", DescribeCall("GET", url),
                                                          ": @odata.nextLink points outside ",
                                                          options_.org_url));
      }
    }
  }
  return rows;
}

absl::Status DynamicsConnector::Enrich(std::vector<json>* opportunities, absl::Time deadline) {
  std::vector<std::string> ids;
  for (const json& o : *opportunities) ids.push_back(o.value("opportunityid", ""));
  // Every chunk of 25 ids has its own reads (stakeholders; activities, then their
  // parties), and the chunks run at once: a slow environment costs the depth of one
  // chunk's reads, not the number of chunks (requests in flight are bounded by
  // max_concurrent_requests). Each chunk fills its own slot; they merge in order.
  struct ChunkRows {
    std::vector<json> connections;
    std::vector<json> activities;
    std::map<std::string, json> parties;  // activity id → party ids
  };
  const size_t chunks = (ids.size() + kIdsPerQuery - 1) / kIdsPerQuery;
  std::vector<ChunkRows> slots(chunks);
  std::vector<std::function<absl::Status()>> tasks;
  for (size_t c = 0; c < chunks; ++c) {
    const std::vector<std::string> chunk(
        ids.begin() + c * kIdsPerQuery, ids.begin() + std::min(ids.size(), (c + 1) * kIdsPerQuery));
    ChunkRows& slot = slots[c];
    if (options_.contacts) {
      tasks.push_back([this, chunk, &slot, deadline]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(
            slot.connections,
            GetAll(absl::StrCat(ApiRoot(), "/connections?$select=",
                                UrlEncode("_record1id_value,_record2id_value,_record2roleid_value,"
                                          "record2objecttypecode"),
                                "&$expand=", UrlEncode(ContactExpand()), "&$filter=",
                                UrlEncode(absl::StrCat(IdFilter("_record1id_value", chunk),
                                                       " and record2objecttypecode eq 2"))),
                   deadline));
        return absl::OkStatus();
      });
    }
    if (options_.activities) {
      tasks.push_back([this, chunk, &slot, deadline]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(
            slot.activities,
            GetAll(absl::StrCat(ApiRoot(), "/activitypointers?$select=",
                                UrlEncode("activityid,activitytypecode,subject,actualstart,"
                                          "actualend,scheduledstart,scheduledend,statecode,"
                                          "createdon,_regardingobjectid_value"),
                                "&$filter=", UrlEncode(IdFilter("_regardingobjectid_value", chunk)),
                                "&$orderby=", UrlEncode("createdon asc")),
                   deadline));
        if (!options_.activity_parties) return absl::OkStatus();
        // Who took part: activity parties (recipients and attendees) per activity.
        std::vector<std::string> activity_ids;
        for (const json& row : slot.activities) activity_ids.push_back(row.value("activityid", ""));
        const size_t parts = (activity_ids.size() + kIdsPerQuery - 1) / kIdsPerQuery;
        std::vector<std::vector<json>> party_rows(parts);
        std::vector<std::function<absl::Status()>> reads;
        for (size_t a = 0; a < parts; ++a) {
          reads.push_back([&, a]() -> absl::Status {
            const std::vector<std::string> part(
                activity_ids.begin() + a * kIdsPerQuery,
                activity_ids.begin() + std::min(activity_ids.size(), (a + 1) * kIdsPerQuery));
            DC_ASSIGN_OR_RETURN(
                party_rows[a],
                GetAll(absl::StrCat(ApiRoot(), "/activityparties?$select=",
                                    UrlEncode("_activityid_value,_partyid_value,"
                                              "participationtypemask"),
                                    "&$filter=", UrlEncode(IdFilter("_activityid_value", part))),
                       deadline));
            return absl::OkStatus();
          });
        }
        DC_RETURN_IF_ERROR(RunAll(std::move(reads)));
        for (const std::vector<json>& rows : party_rows) {
          for (const json& p : rows) {
            // 1 sender, 2 to, 3 cc, 5 required and 6 optional attendee; not 7 organizer,
            // 8 regarding, 9 owner.
            const int mask = p.value("participationtypemask", 0);
            if (mask != 2 && mask != 3 && mask != 5 && mask != 6) continue;
            const std::string party = p.value("_partyid_value", "");
            if (party.empty()) continue;
            json& list = slot.parties[p.value("_activityid_value", "")];
            if (!list.is_array()) list = json::array();
            list.push_back(party);
          }
        }
        return absl::OkStatus();
      });
    }
  }
  // Close-date changes from the audit log, one RetrieveRecordChangeHistory per
  // opportunity (the Web API has no batch form), only where auditing covers the
  // estimated close date (CheckAuditOnce).
  std::vector<std::optional<json>> audit(ids.size());
  if (audit_state() == AuditState::kOn) {
    for (size_t i = 0; i < ids.size(); ++i) {
      tasks.push_back([this, &ids, &audit, i, deadline]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(audit[i], CloseDateChanges(ids[i], deadline));
        return absl::OkStatus();
      });
    }
  }
  DC_RETURN_IF_ERROR(RunAll(std::move(tasks)));
  std::map<std::string, json> contacts, activities;
  for (ChunkRows& slot : slots) {
    for (json& row : slot.connections) {
      const std::string opp = row.value("_record1id_value", "");
      contacts[opp].push_back(std::move(row));
    }
    for (json& row : slot.activities) {
      const std::string opp = row.value("_regardingobjectid_value", "");
      auto p = slot.parties.find(row.value("activityid", ""));
      row["party_ids"] = p == slot.parties.end() ? json::array() : p->second;
      activities[opp].push_back(std::move(row));
    }
  }
  for (json& o : *opportunities) {
    const std::string id = o.value("opportunityid", "");
    json extra = {{"contacts", contacts.count(id) ? contacts[id] : json::array()},
                  {"activities", json::array()}};
    const size_t index = static_cast<size_t>(&o - opportunities->data());
    if (audit[index].has_value()) extra["close_date_history"] = std::move(*audit[index]);
    if (activities.count(id)) {
      // `at`: when it happened, else when it is scheduled, else when it was logged.
      std::vector<std::pair<absl::Time, json>> dated;
      for (json& a : activities[id]) {
        for (const char* key : {"actualstart", "scheduledstart", "scheduledend", "createdon"}) {
          if (a.contains(key) && a[key].is_string()) {
            a["at"] = a[key];
            break;
          }
        }
        absl::StatusOr<absl::Time> at = ParseCrmTime(a.value("at", ""));
        dated.emplace_back(at.ok() ? *at : absl::InfinitePast(), std::move(a));
      }
      std::stable_sort(dated.begin(), dated.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (auto& d : dated) extra["activities"].push_back(std::move(d.second));
    }
    o["dealcoach"] = std::move(extra);
    LiftFormattedValues(&o);
  }
  return absl::OkStatus();
}

// The contact columns the mapping reads through the connection's record2id_contact
// (custom columns such as a confirmed-pain checkbox included).
std::string DynamicsConnector::ContactExpand() const {
  std::set<std::string> columns = {"fullname", "jobtitle"};
  for (const OpportunityMapping::ListSource& list : mapping_.ListSources()) {
    if (list.target != "contacts") continue;
    for (const std::string& field : list.fields) {
      absl::string_view f = field;
      if (absl::ConsumePrefix(&f, "record2id_contact.") && !f.empty() &&
          f.find('.') == absl::string_view::npos) {
        columns.emplace(f);
      }
    }
  }
  {
    absl::MutexLock lock(&schema_mu_);
    for (const std::string& d : dropped_) {
      if (absl::StartsWith(d, "contact.")) columns.erase(d.substr(8));
    }
  }
  return absl::StrCat("record2id_contact($select=", absl::StrJoin(columns, ","), ")");
}

v1::Opportunity DynamicsConnector::Map(const json& record) const {
  v1::Opportunity opp;
  mapping_.Apply(record, &opp, /*issues=*/nullptr);
  if (opp.source_system().empty()) opp.set_source_system(kCrm);
  // Dataverse keeps no stage or close-date history on the opportunity (only the audit
  // log, where enabled): unless the mapping names a source, both are unknown, not empty.
  // The default close-date source, dealcoach.close_date_history, is there only when the
  // audit log was read for this opportunity.
  const auto lists = mapping_.ListSources();
  for (const char* list : {"stage_history", "close_date_history"}) {
    bool recorded = false;
    for (const OpportunityMapping::ListSource& l : lists) {
      if (l.target != list) continue;
      recorded = recorded || !absl::StartsWith(l.source, "dealcoach.close_date_history") ||
                 FindPath(record, "dealcoach.close_date_history") != nullptr;
    }
    if (!recorded) opp.add_not_recorded(list);
  }
  return opp;
}

absl::StatusOr<v1::Opportunity> DynamicsConnector::FetchOpportunity(absl::string_view id,
                                                                    absl::Time deadline) {
  if (!IsGuid(id)) {
    return absl::NotFoundError(
        absl::StrCat(kCrm, ": '", id, "' is not a Dataverse opportunity id (a GUID)"));
  }
  DC_RETURN_IF_ERROR(CheckAttributesOnce(deadline));
  CheckAuditOnce(deadline);
  DC_ASSIGN_OR_RETURN(json entity, Get(absl::StrCat(ApiRoot(), "/opportunities(", id,
                                                    ")?$select=", UrlEncode(Select()),
                                                    "&$expand=", UrlEncode(Expand())),
                                       deadline));
  std::vector<json> page = {std::move(entity)};
  DC_RETURN_IF_ERROR(Enrich(&page, deadline));
  return Map(page.front());
}

absl::StatusOr<std::vector<std::string>> DynamicsConnector::ListIds(absl::Time deadline) {
  DC_ASSIGN_OR_RETURN(
      std::vector<json> rows,
      GetAll(absl::StrCat(ApiRoot(), "/opportunities?$select=opportunityid"), deadline));
  std::vector<std::string> ids;
  for (const json& row : rows) {
    std::string id = row.value("opportunityid", "");
    if (!id.empty()) ids.push_back(std::move(id));
  }
  return ids;
}

absl::StatusOr<SyncResult> DynamicsConnector::SyncChangedSince(
    absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) {
  const absl::Time deadline = absl::Now() + options_.sync_timeout;
  DC_RETURN_IF_ERROR(CheckAttributesOnce(deadline));
  CheckAuditOnce(deadline);
  // Rows come ordered by modifiedon, so a pass that failed after delivering some (a 429
  // whose Retry-After is longer than max_retry_after, a 5xx burst) is resumed at the
  // last delivered modifiedon by the next pass from the same `since`, not from page 1.
  absl::Time lower = since;
  {
    absl::MutexLock lock(&resume_mu_);
    if (resume_.has_value() && resume_->since <= since && resume_->mark > since) {
      lower = resume_->mark;
    }
  }
  std::string next = absl::StrCat(ApiRoot(), "/opportunities?$select=", UrlEncode(Select()),
                                  "&$expand=", UrlEncode(Expand()),
                                  "&$orderby=", UrlEncode("modifiedon asc,opportunityid asc"));
  if (lower != absl::InfinitePast()) {
    absl::StrAppend(&next,
                    "&$filter=", UrlEncode(absl::StrCat("modifiedon ge ", ODataTime(lower))));
  }
  SyncResult result;
  result.high_water_mark = lower;
  const int64_t failed_before = http_->failed_attempts();
  const absl::Status s = [&]() -> absl::Status {
    while (!next.empty()) {
      DC_ASSIGN_OR_RETURN(json page, Get(next, deadline));
      ++result.pages;
      if (!page.contains("value") || !page["value"].is_array()) {
        return absl::FailedPreconditionError(
            absl::StrCat(kCrm, ": ", DescribeCall("GET", next), ": response has no `value` array"));
      }
      std::vector<json> rows(page["value"].begin(), page["value"].end());
      DC_RETURN_IF_ERROR(Enrich(&rows, deadline));
      for (const json& row : rows) {
        v1::Opportunity opp = Map(row);
        if (opp.has_updated_at()) {
          result.high_water_mark = std::max(result.high_water_mark, ToAbslTime(opp.updated_at()));
        }
        ++result.count;
        DC_RETURN_IF_ERROR(sink(std::move(opp)));
      }
      next.clear();
      if (page.contains("@odata.nextLink") && page["@odata.nextLink"].is_string()) {
        next = page["@odata.nextLink"].get<std::string>();
        if (!absl::StartsWith(next, absl::StrCat(ApiRoot(), "/"))) {
          return absl::FailedPreconditionError(
              absl::StrCat(kCrm, ": GET /api/data/", options_.api_version,
                           "/opportunities: @odata.nextLink points outside ", options_.org_url));
        }
      }
    }
    return absl::OkStatus();
  }();
  absl::MutexLock lock(&resume_mu_);
  if (!s.ok()) {
    // modifiedon has whole seconds: resume at the mark (ge), delivering that second's
    // rows again rather than losing any.
    if (result.count > 0 && result.high_water_mark > since) {
      resume_ = Resume{since, result.high_water_mark};
      return absl::Status(s.code(), absl::StrCat(s.message(), " (after ", result.count,
                                                 " opportunities; the next pass resumes at ",
                                                 ODataTime(result.high_water_mark), ")"));
    }
    return s;
  }
  resume_.reset();
  result.errors = http_->failed_attempts() - failed_before;
  return result;
}

namespace {

// A BooleanManagedProperty ({"Value": true, "CanBeChanged": ...}) or a plain bool.
std::optional<bool> ManagedBool(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_object() && v.contains("Value") && v["Value"].is_boolean())
    return v["Value"].get<bool>();
  return std::nullopt;
}

}  // namespace

DynamicsConnector::AuditState DynamicsConnector::audit_state() const {
  absl::MutexLock lock(&audit_mu_);
  return audit_;
}

void DynamicsConnector::SetAuditState(AuditState state, const std::string& why) {
  bool warn = false;
  {
    absl::MutexLock lock(&audit_mu_);
    warn = audit_ != state && state != AuditState::kOn;
    audit_ = state;
    audit_detail_ = why;
  }
  if (warn) {
    std::cerr << "dynamics: warning: " << why
              << "; close_date_history stays unknown (\"not recorded\"), not empty\n";
  }
}

void DynamicsConnector::CheckAuditOnce(absl::Time deadline) {
  if (!options_.audit_history) return;
  absl::MutexLock check(&audit_check_mu_);
  if (audit_state() != AuditState::kUnknown) return;
  // Auditing must be on for the organization, the opportunity table and its
  // estimatedclosedate column, or the audit log has no close-date changes to give.
  std::optional<bool> org, table, column;
  std::vector<std::function<absl::Status()>> reads = {
      [&]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(
            json page,
            Get(absl::StrCat(ApiRoot(), "/organizations?$select=isauditenabled"), deadline));
        for (const json& row : page.value("value", json::array())) {
          if (row.contains("isauditenabled")) org = ManagedBool(row["isauditenabled"]);
        }
        return absl::OkStatus();
      },
      [&]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(json d, Get(absl::StrCat(ApiRoot(), "/EntityDefinitions(LogicalName='",
                                                     "opportunity')?$select=IsAuditEnabled"),
                                        deadline));
        if (d.contains("IsAuditEnabled")) table = ManagedBool(d["IsAuditEnabled"]);
        return absl::OkStatus();
      },
      [&]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(json d,
                            Get(absl::StrCat(ApiRoot(),
                                             "/EntityDefinitions(LogicalName='opportunity')/"
                                             "Attributes(LogicalName='estimatedclosedate')?$select="
                                             "IsAuditEnabled"),
                                deadline));
        if (d.contains("IsAuditEnabled")) column = ManagedBool(d["IsAuditEnabled"]);
        return absl::OkStatus();
      }};
  const absl::Status s = RunAll(std::move(reads));
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kUnavailable ||
        s.code() == absl::StatusCode::kDeadlineExceeded ||
        s.code() == absl::StatusCode::kResourceExhausted) {
      return;  // asked again before the next query
    }
    SetAuditState(AuditState::kOff,
                  absl::StrCat("the audit settings are not readable (", s.message(), ")"));
    return;
  }
  std::vector<std::string> off;
  if (!org.value_or(false)) off.push_back("the organization");
  if (!table.value_or(false)) off.push_back("the opportunity table");
  if (!column.value_or(false)) off.push_back("opportunity.estimatedclosedate");
  if (!off.empty()) {
    SetAuditState(AuditState::kOff, absl::StrCat("auditing is off for ", absl::StrJoin(off, ", ")));
    return;
  }
  SetAuditState(AuditState::kOn, "");
}

absl::StatusOr<std::optional<json>> DynamicsConnector::CloseDateChanges(const std::string& id,
                                                                        absl::Time deadline) {
  json changes = json::array();
  // A deal with more audited changes than this is read to its newest 5,000 x 4.
  constexpr int kMaxPages = 4;
  std::string cookie;
  for (int page = 1; page <= kMaxPages; ++page) {
    json paging = {{"PageNumber", page}, {"Count", 5000}, {"ReturnTotalRecordCount", false}};
    if (!cookie.empty()) paging["PagingCookie"] = cookie;
    const std::string url = absl::StrCat(
        ApiRoot(), "/RetrieveRecordChangeHistory(Target=@target,PagingInfo=@paginginfo)?@target=",
        UrlEncode(absl::StrCat("{'@odata.id':'opportunities(", id, ")'}")),
        "&@paginginfo=", UrlEncode(paging.dump()));
    absl::StatusOr<json> got = Get(url, deadline);
    if (got.status().code() == absl::StatusCode::kPermissionDenied) {
      // Without prvReadRecordAuditHistory no deal's history can be read: stop asking.
      SetAuditState(AuditState::kOff, absl::StrCat("the audit history is not readable (",
                                                   got.status().message(), ")"));
      return std::optional<json>();
    }
    DC_RETURN_IF_ERROR(got.status());
    const json* collection = FindPath(*got, "AuditDetailCollection");
    const json* details = collection != nullptr ? FindPath(*collection, "AuditDetails") : nullptr;
    if (details == nullptr || !details->is_array()) {
      return absl::FailedPreconditionError(absl::StrCat(kCrm, ": GET ", DescribeCall("GET", url),
                                                        ": response has no AuditDetailCollection"));
    }
    for (const json& d : *details) {
      if (d.value("@odata.type", "") != "#Microsoft.Dynamics.CRM.AttributeAuditDetail") continue;
      const json old_value = d.value("OldValue", json::object());
      const json new_value = d.value("NewValue", json::object());
      if (!old_value.contains("estimatedclosedate") && !new_value.contains("estimatedclosedate")) {
        continue;
      }
      json change = {{"from", old_value.value("estimatedclosedate", json())},
                     {"to", new_value.value("estimatedclosedate", json())}};
      // The Web API's AuditDetail has no AuditRecord today (so no change time); use it
      // where a version sends it.
      if (const json* at = FindPath(d, "AuditRecord.createdon"); at != nullptr) {
        change["changed_at"] = *at;
      }
      changes.push_back(std::move(change));
    }
    if (!collection->value("MoreRecords", false)) break;
    cookie = collection->value("PagingCookie", "");
  }
  return std::optional<json>(std::move(changes));
}

ConnectorHealth DynamicsConnector::Health() const {
  ConnectorHealth health = http_->Health();
  {
    absl::MutexLock lock(&audit_mu_);
    if (audit_ == AuditState::kOff && !audit_detail_.empty()) {
      absl::StrAppend(&health.detail, " (close-date history not recorded: ", audit_detail_, ")");
    }
  }
  if (const std::vector<std::string> dropped = dropped_attributes(); !dropped.empty()) {
    absl::StrAppend(&health.detail, " (attributes this environment lacks, left out of the query: ",
                    absl::StrJoin(dropped, ", "), ")");
  }
  return health;
}

std::vector<std::string> DynamicsConnector::dropped_attributes() const {
  absl::MutexLock lock(&schema_mu_);
  return dropped_;
}

std::string DynamicsConnector::Select() const {
  absl::MutexLock lock(&schema_mu_);
  return select_;
}

std::string DynamicsConnector::Expand() const {
  absl::MutexLock lock(&schema_mu_);
  return expand_;
}

namespace {

// "_parentaccountid_value" → "parentaccountid": the attribute behind a lookup's value.
std::string AttributeOf(absl::string_view name) {
  if (absl::StartsWith(name, "_") && absl::EndsWith(name, "_value")) {
    name = name.substr(1, name.size() - 7);
  }
  return std::string(name);
}

// Top-level items of an $expand ("a($select=x,y),b" → {"a($select=x,y)", "b"}).
std::vector<std::string> ExpandItems(const std::string& expand) {
  std::vector<std::string> items;
  int depth = 0;
  std::string cur;
  for (char c : expand) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      if (!cur.empty()) items.push_back(cur);
      cur.clear();
      continue;
    }
    cur.push_back(c);
  }
  if (!cur.empty()) items.push_back(cur);
  return items;
}

// The entity behind the default expands' navigation properties (others are not checked).
std::string EntityOfNavigation(absl::string_view nav) {
  if (nav == "parentaccountid") return "account";
  if (nav == "transactioncurrencyid") return "transactioncurrency";
  if (nav == "owninguser") return "systemuser";
  return "";
}

// "nav($select=a,b)" → (nav, [a, b]); false for any other shape.
bool ParseSelectItem(const std::string& item, std::string* nav, std::vector<std::string>* cols) {
  const size_t open = item.find("($select=");
  if (open == std::string::npos || item.back() != ')') return false;
  const std::string inner = item.substr(open + 9, item.size() - open - 10);
  if (inner.find_first_of("();$") != std::string::npos) return false;
  *nav = item.substr(0, open);
  *cols = absl::StrSplit(inner, ',', absl::SkipEmpty());
  return true;
}

}  // namespace

absl::Status DynamicsConnector::CheckAttributesOnce(absl::Time deadline) {
  if (!options_.check_attributes) return absl::OkStatus();
  absl::MutexLock check(&check_mu_);
  if (checked_) return absl::OkStatus();
  // One token for the parallel reads below (and the caller's query after them).
  DC_RETURN_IF_ERROR(AccessToken(deadline, /*force=*/false).status());
  // entity → the attributes our queries name on it.
  std::map<std::string, std::set<std::string>> wanted;
  for (absl::string_view a : absl::StrSplit(Select(), ',', absl::SkipEmpty())) {
    wanted["opportunity"].insert(AttributeOf(a));
  }
  for (const std::string& item : ExpandItems(Expand())) {
    std::string nav;
    std::vector<std::string> cols;
    if (!ParseSelectItem(item, &nav, &cols)) continue;
    const std::string entity = EntityOfNavigation(nav);
    if (entity.empty()) continue;
    // Lookups are selected as _x_value; metadata names the attribute x.
    for (const std::string& c : cols) wanted[entity].insert(AttributeOf(c));
  }
  if (options_.contacts) {
    std::string nav;
    std::vector<std::string> cols;
    if (ParseSelectItem(ContactExpand(), &nav, &cols)) {
      for (const std::string& c : cols) wanted["contact"].insert(c);
    }
  }
  std::vector<std::string> entities;
  for (const auto& [entity, attributes] : wanted) entities.push_back(entity);
  std::vector<std::set<std::string>> present(entities.size());
  std::vector<std::function<absl::Status()>> reads;
  for (size_t i = 0; i < entities.size(); ++i) {
    reads.push_back([&, i]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(std::vector<json> rows,
                          GetAll(absl::StrCat(ApiRoot(), "/EntityDefinitions(LogicalName='",
                                              entities[i], "')/Attributes?$select=LogicalName"),
                                 deadline));
      for (const json& row : rows) present[i].insert(row.value("LogicalName", ""));
      return absl::OkStatus();
    });
  }
  const absl::Status s = RunAll(std::move(reads));
  if (!s.ok()) {
    const bool transient = s.code() == absl::StatusCode::kUnavailable ||
                           s.code() == absl::StatusCode::kDeadlineExceeded;
    std::cerr << "dynamics: warning: could not read the environment's attribute lists ("
              << s.message() << "); "
              << (transient ? "trying again before the next query"
                            : "the queries name every mapped attribute")
              << "\n";
    if (!transient) checked_ = true;
    return absl::OkStatus();
  }
  checked_ = true;
  std::vector<std::string> missing;
  for (size_t i = 0; i < entities.size(); ++i) {
    if (present[i].empty()) continue;  // unreadable: assume everything is there
    for (const std::string& a : wanted[entities[i]]) {
      if (!present[i].count(a)) missing.push_back(absl::StrCat(entities[i], ".", a));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  {
    absl::MutexLock lock(&schema_mu_);
    dropped_.insert(dropped_.end(), missing.begin(), missing.end());
    std::vector<std::string> kept;
    for (absl::string_view a : absl::StrSplit(select_, ',', absl::SkipEmpty())) {
      if (std::find(missing.begin(), missing.end(), absl::StrCat("opportunity.", AttributeOf(a))) ==
          missing.end()) {
        kept.emplace_back(a);
      }
    }
    select_ = absl::StrJoin(kept, ",");
    std::vector<std::string> items;
    for (const std::string& item : ExpandItems(expand_)) {
      std::string nav;
      std::vector<std::string> cols;
      const std::string entity =
          ParseSelectItem(item, &nav, &cols) ? EntityOfNavigation(nav) : std::string();
      if (entity.empty()) {
        items.push_back(item);
        continue;
      }
      std::vector<std::string> left;
      for (const std::string& c : cols) {
        if (std::find(missing.begin(), missing.end(), absl::StrCat(entity, ".", AttributeOf(c))) ==
            missing.end()) {
          left.push_back(c);
        }
      }
      if (!left.empty())
        items.push_back(absl::StrCat(nav, "($select=", absl::StrJoin(left, ","), ")"));
    }
    expand_ = absl::StrJoin(items, ",");
  }
  for (const std::string& m : missing) {
    std::cerr << "dynamics: warning: this environment has no " << m
              << " (metadata); left it out of the query, its canonical field stays unset "
                 "(\"not recorded\")\n";
  }
  return absl::OkStatus();
}

namespace {

using DynamicsFactory = ConnectorFactoryFor<DynamicsConnector>;

DEALCOACH_REGISTER_CONNECTOR(DynamicsFactory);

}  // namespace
}  // namespace dealcoach::connectors::dynamics
