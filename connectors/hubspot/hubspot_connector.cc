#include "connectors/hubspot/hubspot_connector.h"

#include <algorithm>
#include <future>
#include <iostream>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "connectors/common/config.h"
#include "connectors/common/parallel.h"
#include "connectors/common/secrets.h"
#include "connectors/registry.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors::hubspot {
namespace {

using nlohmann::json;

constexpr const char* kCrm = HubSpotConnector::kType;
constexpr char kDeals[] = "/crm/v3/objects/deals";
// HubSpot's batch endpoints take at most 100 inputs.
constexpr size_t kBatchLimit = 100;
// Extra requests for a response whose body is not a JSON object.
constexpr int kMalformedRetries = 2;

std::string JsonId(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  return "";
}

// Collects the HubSpot property names a mapping section reads: every scalar
// "<prefix>properties.<name>" anywhere below `node`.
void CollectProperties(const YAML::Node& node, std::set<std::string>* out,
                       absl::string_view prefix = "properties.") {
  if (node.IsScalar()) {
    absl::string_view s = node.Scalar();
    if (absl::ConsumePrefix(&s, prefix) && !s.empty() && s.find('.') == absl::string_view::npos) {
      out->insert(std::string(s));
    }
  } else if (node.IsMap()) {
    for (const auto& kv : node) CollectProperties(kv.second, out, prefix);
  } else if (node.IsSequence()) {
    for (const auto& item : node) CollectProperties(item, out, prefix);
  }
}

// Property names per object type, from the default mapping overlaid with overrides.
std::map<std::string, std::set<std::string>> PropertiesFromMapping(const YAML::Node& base,
                                                                   const YAML::Node& overrides) {
  std::map<std::string, std::set<std::string>> out;
  for (const YAML::Node& root : {base, overrides}) {
    if (!root.IsDefined() || !root.IsMap()) continue;
    for (const char* section : {"opportunity", "fields", "artifacts", "competitors"}) {
      if (root[section]) CollectProperties(root[section], &out["deals"]);
      // The deal's company (account.*) reads "company.properties.<name>".
      if (root[section]) CollectProperties(root[section], &out["companies"], "company.properties.");
    }
    if (root["contacts"]) CollectProperties(root["contacts"], &out["contacts"]);
    if (const YAML::Node activities = root["activities"]) {
      std::vector<YAML::Node> lists;
      if (activities.IsSequence()) {
        for (const auto& item : activities) lists.push_back(item);
      } else {
        lists.push_back(activities);
      }
      for (const YAML::Node& list : lists) {
        if (!list.IsMap() || !list["source"] || !list["source"].IsScalar()) continue;
        absl::string_view source = list["source"].Scalar();
        if (!absl::ConsumePrefix(&source, "engagements.")) continue;
        CollectProperties(list, &out[std::string(source)]);
      }
    }
  }
  out["contacts"].insert({"firstname", "lastname", "email"});
  return out;
}

absl::StatusOr<std::vector<std::string>> StringListKey(const ConfigReader& r, const char* key,
                                                       std::vector<std::string> dflt) {
  if (!r.Has(key)) return dflt;
  const YAML::Node n = r.node()[key];
  if (!n.IsSequence())
    return ConfigError(n, r.context(), absl::StrCat("`", key, "` must be a list"));
  std::vector<std::string> out;
  for (const auto& item : n) {
    if (!item.IsScalar()) return ConfigError(item, r.context(), "expected a string");
    out.push_back(item.Scalar());
  }
  return out;
}

}  // namespace

absl::Status HubSpotError(const HttpResponse& response, absl::string_view call) {
  std::string detail;
  const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_object()) {
    detail = body.value("message", "");
    const std::string category = body.contains("category") && body["category"].is_string()
                                     ? body["category"].get<std::string>()
                                     : body.value("errorType", "");
    if (!category.empty()) absl::StrAppend(&detail, " [", category, "]");
    if (body.contains("policyName") && body["policyName"].is_string()) {
      absl::StrAppend(&detail, " policy ", body["policyName"].get<std::string>());
    }
  } else {
    detail = response.body.substr(0, 200);
  }
  if (response.status == 429) {
    const std::string remaining = response.Header("X-HubSpot-RateLimit-Remaining");
    const std::string daily = response.Header("X-HubSpot-RateLimit-Daily-Remaining");
    if (!remaining.empty()) absl::StrAppend(&detail, "; interval remaining ", remaining);
    if (!daily.empty()) absl::StrAppend(&detail, "; daily remaining ", daily);
  }
  if (response.status == 401) {
    absl::StrAppend(&detail,
                    " (check the private app access token named by access_token_env / "
                    "access_token_file, and its scopes)");
  }
  return StatusFromHttp(response.status, kCrm, call, detail);
}

HubSpotConnector::HubSpotConnector(HubSpotOptions options, OpportunityMapping mapping,
                                   std::string token, YAML::Node token_config,
                                   ConnectorContext context, std::unique_ptr<HttpClient> client)
    : options_(std::move(options)),
      mapping_(std::move(mapping)),
      token_config_(std::move(token_config)),
      context_(std::move(context)),
      client_(std::move(client)),
      token_(std::move(token)) {
  http_ = std::make_unique<ResilientHttp>(kCrm, client_.get(), options_.resilience);
}

absl::StatusOr<std::unique_ptr<HubSpotConnector>> HubSpotConnector::Create(
    const YAML::Node& config, const ConnectorContext& context) {
  ConfigReader r(config, context);
  DC_RETURN_IF_ERROR(r.CheckHttpConnectorKeys({"base_url", "access_token", "access_token_env",
                                               "access_token_file", "page_size", "engagement_types",
                                               "stage_history", "extra_properties",
                                               "search_result_cap", "sync_timeout", "mapping"}));
  HubSpotOptions options;
  DC_ASSIGN_OR_RETURN(std::string token, ReadSecret(r.node(), "access_token", context));
  DC_ASSIGN_OR_RETURN(options.base_url, r.String("base_url", options.base_url));
  while (absl::EndsWith(options.base_url, "/")) options.base_url.pop_back();
  DC_ASSIGN_OR_RETURN(int64_t page_size, r.Int("page_size", options.page_size));
  if (page_size < 1 || page_size > 100) {
    return ConfigError(r.node()["page_size"], context, "`page_size` must be in 1..100");
  }
  options.page_size = static_cast<int>(page_size);
  DC_ASSIGN_OR_RETURN(options.engagement_types,
                      StringListKey(r, "engagement_types", options.engagement_types));
  for (const std::string& t : options.engagement_types) {
    if (t != "meetings" && t != "calls" && t != "emails" && t != "tasks" && t != "notes") {
      return ConfigError(r.node()["engagement_types"], context,
                         absl::StrCat("unknown engagement type '", t,
                                      "'; use meetings, calls, emails, tasks or notes"));
    }
  }
  DC_ASSIGN_OR_RETURN(options.stage_history, r.Bool("stage_history", true));
  DC_ASSIGN_OR_RETURN(options.extra_properties, StringListKey(r, "extra_properties", {}));
  DC_ASSIGN_OR_RETURN(int64_t cap, r.Int("search_result_cap", options.search_result_cap));
  if (cap < 2 * options.page_size) {
    return ConfigError(r.node()["search_result_cap"], context,
                       "`search_result_cap` must be at least twice `page_size`");
  }
  options.search_result_cap = static_cast<int>(cap);
  DC_ASSIGN_OR_RETURN(options.sync_timeout, r.Duration("sync_timeout", options.sync_timeout));
  DC_ASSIGN_OR_RETURN(options.http, ParseHttpClientOptions(r));
  DC_ASSIGN_OR_RETURN(options.resilience, ParseResilience(r));

  const std::string default_file = "connectors/hubspot/default_mapping.yaml";
  DC_ASSIGN_OR_RETURN(OpportunityMapping mapping,
                      OpportunityMapping::Parse(DefaultMappingYaml(), default_file));
  DC_ASSIGN_OR_RETURN(YAML::Node overrides, r.Map("mapping"));
  if (overrides.IsDefined()) DC_RETURN_IF_ERROR(mapping.Merge(overrides, context.config_file));

  DC_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(options.http));
  YAML::Node token_config(YAML::NodeType::Map);
  for (const char* key : {"access_token_env", "access_token_file"}) {
    if (r.Has(key)) token_config[key] = r.node()[key];
  }
  auto connector = std::unique_ptr<HubSpotConnector>(
      new HubSpotConnector(std::move(options), std::move(mapping), std::move(token), token_config,
                           context, std::move(client)));
  YAML::Node base;
  try {
    base = YAML::Load(std::string(DefaultMappingYaml()));
  } catch (const YAML::Exception& e) {
    return absl::InternalError(absl::StrCat(default_file, ": ", e.what()));
  }
  for (auto& [type, names] : PropertiesFromMapping(base, overrides)) {
    connector->properties_[type] = std::vector<std::string>(names.begin(), names.end());
  }
  auto& deal_props = connector->properties_["deals"];
  for (const std::string& p : connector->options_.extra_properties) deal_props.push_back(p);
  for (const char* p : {"hs_lastmodifieddate", "createdate"}) {
    if (std::find(deal_props.begin(), deal_props.end(), p) == deal_props.end()) {
      deal_props.push_back(p);
    }
  }
  return connector;
}

const std::vector<std::string>& HubSpotConnector::PropertiesFor(const std::string& type) const {
  static const auto* const kNone = new std::vector<std::string>();
  auto it = properties_.find(type);
  return it == properties_.end() ? *kNone : it->second;
}

std::string HubSpotConnector::CurrentToken() const {
  absl::MutexLock lock(&mu_);
  return token_;
}

absl::StatusOr<json> HubSpotConnector::Call(const std::string& method, const std::string& path,
                                            const json* body, absl::Time deadline) {
  // A body that does not parse (cut short by a proxy, garbled) is asked for again, up
  // to twice, before the call (and with it the pass) fails: every call the connector
  // makes is a read, safe to repeat.
  int malformed = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const std::string token = CurrentToken();
    HttpRequest request;
    request.method = method;
    request.url = absl::StrCat(options_.base_url, path);
    request.headers = {{"Authorization", absl::StrCat("Bearer ", token)},
                       {"Accept", "application/json"}};
    if (body != nullptr) {
      request.headers.emplace_back("Content-Type", "application/json");
      request.body = body->dump();
    }
    request.deadline = deadline;
    absl::StatusOr<HttpResponse> response = http_->Execute(request, HubSpotError);
    if (!response.ok()) {
      // A rotated private-app token: re-read a file-based token once and retry.
      if (attempt == 0 && response.status().code() == absl::StatusCode::kUnauthenticated &&
          token_config_["access_token_file"]) {
        absl::StatusOr<std::string> fresh = ReadSecret(token_config_, "access_token", context_);
        if (fresh.ok() && *fresh != token) {
          absl::MutexLock lock(&mu_);
          token_ = *fresh;
          continue;
        }
      }
      return response.status();
    }
    json parsed = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if ((parsed.is_discarded() || !parsed.is_object()) && malformed++ < kMalformedRetries) {
      --attempt;  // not a token problem: the token retry stays available
      continue;
    }
    if (parsed.is_discarded() || !parsed.is_object()) {
      return absl::FailedPreconditionError(absl::StrCat(
          kCrm, ": ", DescribeCall(method, request.url), ": ", response->status,
          " response is not a JSON object: ", RedactSecret(response->body.substr(0, 80), token)));
    }
    return parsed;
  }
  return absl::InternalError("hubspot: unreachable");
}

absl::StatusOr<std::map<std::string, json>> HubSpotConnector::BatchRead(
    const std::string& type, const std::vector<std::string>& ids,
    const std::vector<std::string>& properties, absl::Time deadline) {
  // Batches of 100 inputs, sent at once (the HTTP layer bounds how many are in flight).
  const size_t chunks = (ids.size() + kBatchLimit - 1) / kBatchLimit;
  std::vector<json> pages(chunks);
  std::vector<std::function<absl::Status()>> tasks;
  for (size_t c = 0; c < chunks; ++c) {
    tasks.push_back([&, c]() -> absl::Status {
      json inputs = json::array();
      for (size_t i = c * kBatchLimit; i < std::min(ids.size(), (c + 1) * kBatchLimit); ++i) {
        inputs.push_back({{"id", ids[i]}});
      }
      const json body = {{"properties", properties}, {"inputs", inputs}};
      DC_ASSIGN_OR_RETURN(
          pages[c],
          Call("POST", absl::StrCat("/crm/v3/objects/", type, "/batch/read"), &body, deadline));
      if (!pages[c].contains("results") || !pages[c]["results"].is_array()) {
        return absl::FailedPreconditionError(absl::StrCat(
            kCrm, ": POST /crm/v3/objects/", type, "/batch/read: response has no `results` array"));
      }
      return absl::OkStatus();
    });
  }
  DC_RETURN_IF_ERROR(RunAll(std::move(tasks)));
  std::map<std::string, json> out;
  for (json& page : pages) {
    for (json& record : page["results"]) {
      const std::string id = JsonId(record.value("id", json()));
      if (!id.empty()) out[id] = std::move(record);
    }
  }
  return out;
}

namespace {

// Appends the v4 association rows `to` ([{toObjectId, associationTypes[{label}]}]) of
// object `from` to `out` as (to id, labels).
void AddLinks(const std::string& from, const json& to, HubSpotConnector::Links* out) {
  if (from.empty() || !to.is_array()) return;
  for (const json& row : to) {
    const std::string to_id = JsonId(row.value("toObjectId", json()));
    if (to_id.empty()) continue;
    json labels = json::array();
    for (const json& t : row.value("associationTypes", json::array())) {
      if (t.contains("label") && t["label"].is_string() && !t["label"].get<std::string>().empty()) {
        labels.push_back(t["label"]);
      }
    }
    (*out)[from].emplace_back(to_id, std::move(labels));
  }
}

// The batch association endpoint is not there for this app or portal (404, 405, 501, or
// 403 on it alone): the per-record endpoint may still be.
bool BatchEndpointUnavailable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kPermissionDenied:
      return true;
    case absl::StatusCode::kFailedPrecondition:
      return absl::StrContains(s.message(), ": 405 ");
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<HubSpotConnector::Links> HubSpotConnector::BatchAssociations(
    const std::string& to_type, const std::vector<std::string>& from_ids, absl::Time deadline,
    const std::string& from_type) {
  Links out;
  if (from_ids.empty()) return out;
  if (batch_associations_.load()) {
    const std::string path =
        absl::StrCat("/crm/v4/associations/", from_type, "/", to_type, "/batch/read");
    const size_t chunks = (from_ids.size() + kBatchLimit - 1) / kBatchLimit;
    std::vector<json> pages(chunks);
    std::vector<std::function<absl::Status()>> tasks;
    for (size_t c = 0; c < chunks; ++c) {
      tasks.push_back([&, c]() -> absl::Status {
        json inputs = json::array();
        for (size_t i = c * kBatchLimit; i < std::min(from_ids.size(), (c + 1) * kBatchLimit);
             ++i) {
          inputs.push_back({{"id", from_ids[i]}});
        }
        const json body = {{"inputs", inputs}};
        // 207 Multi-Status is normal here: inputs without associations come back as errors.
        DC_ASSIGN_OR_RETURN(pages[c], Call("POST", path, &body, deadline));
        if (!pages[c].contains("results") || !pages[c]["results"].is_array()) {
          return absl::FailedPreconditionError(
              absl::StrCat(kCrm, ": POST ", path, ": response has no `results` array"));
        }
        return absl::OkStatus();
      });
    }
    absl::Status s = RunAll(std::move(tasks));
    if (s.ok()) {
      for (const json& page : pages) {
        for (const json& result : page["results"]) {
          AddLinks(JsonId(result.contains("from") ? result["from"].value("id", json()) : json()),
                   result.value("to", json()), &out);
        }
      }
      return out;
    }
    if (!BatchEndpointUnavailable(s)) return s;
    if (batch_associations_.exchange(false)) {
      std::cerr << "hubspot: warning: the batch association endpoint is unavailable ("
                << s.message()
                << "); reading associations one record at a time (GET /crm/v4/objects/" << from_type
                << "/{id}/associations/" << to_type << ")\n";
    }
  }
  // One call (and its pages) per record, sent at once.
  std::vector<json> rows(from_ids.size(), json::array());
  std::vector<std::function<absl::Status()>> tasks;
  for (size_t i = 0; i < from_ids.size(); ++i) {
    tasks.push_back([&, i]() -> absl::Status {
      std::string after;
      do {
        std::string path = absl::StrCat("/crm/v4/objects/", from_type, "/", UrlEncode(from_ids[i]),
                                        "/associations/", to_type, "?limit=500");
        if (!after.empty()) absl::StrAppend(&path, "&after=", UrlEncode(after));
        absl::StatusOr<json> page = Call("GET", path, nullptr, deadline);
        // A record deleted since it was listed has no associations to read.
        if (page.status().code() == absl::StatusCode::kNotFound) return absl::OkStatus();
        DC_RETURN_IF_ERROR(page.status());
        for (const json& row : page->value("results", json::array())) rows[i].push_back(row);
        after = page->contains("paging") && (*page)["paging"].contains("next")
                    ? JsonId((*page)["paging"]["next"].value("after", json()))
                    : "";
      } while (!after.empty());
      per_record_association_calls_.fetch_add(1);
      return absl::OkStatus();
    });
  }
  DC_RETURN_IF_ERROR(RunAll(std::move(tasks)));
  for (size_t i = 0; i < from_ids.size(); ++i) AddLinks(from_ids[i], rows[i], &out);
  return out;
}

absl::Status HubSpotConnector::Enrich(std::vector<json>* deals, bool need_history,
                                      absl::Time deadline) {
  if (deals->empty()) return absl::OkStatus();
  std::vector<std::string> ids;
  for (const json& d : *deals) ids.push_back(JsonId(d.value("id", json())));

  // The reads below depend on each other only within a branch (associations, then the
  // records they name), so the branches run at once: a slow CRM costs the depth of this
  // graph (two or three calls), not its width.
  std::map<std::string, json> history;
  Links contact_links;
  std::map<std::string, json> contacts;
  struct EngagementReads {
    Links links;
    std::map<std::string, json> records;
  };
  std::vector<EngagementReads> reads(options_.engagement_types.size());
  std::vector<std::function<absl::Status()>> branches;
  if (options_.stage_history && need_history) {
    branches.push_back([&]() -> absl::Status {
      json inputs = json::array();
      for (const std::string& id : ids) inputs.push_back({{"id", id}});
      const json body = {{"properties", json::array({"dealstage", "closedate"})},
                         {"propertiesWithHistory", json::array({"dealstage", "closedate"})},
                         {"inputs", inputs}};
      DC_ASSIGN_OR_RETURN(json page,
                          Call("POST", absl::StrCat(kDeals, "/batch/read"), &body, deadline));
      for (json& r : page.value("results", json::array())) {
        if (r.contains("propertiesWithHistory")) {
          history[JsonId(r.value("id", json()))] = std::move(r["propertiesWithHistory"]);
        }
      }
      return absl::OkStatus();
    });
  }
  // Contacts with their association labels (buying roles).
  branches.push_back([&]() -> absl::Status {
    DC_ASSIGN_OR_RETURN(contact_links, BatchAssociations("contacts", ids, deadline));
    std::set<std::string> contact_ids;
    for (const auto& [deal, links] : contact_links) {
      for (const auto& link : links) contact_ids.insert(link.first);
    }
    DC_ASSIGN_OR_RETURN(
        contacts,
        BatchRead("contacts", std::vector<std::string>(contact_ids.begin(), contact_ids.end()),
                  PropertiesFor("contacts"), deadline));
    return absl::OkStatus();
  });
  // The deal's company (the account): deal → company associations, then the companies.
  Links company_links;
  std::map<std::string, json> companies;
  if (!PropertiesFor("companies").empty()) {
    branches.push_back([&]() -> absl::Status {
      DC_ASSIGN_OR_RETURN(company_links, BatchAssociations("companies", ids, deadline));
      std::set<std::string> company_ids;
      for (const auto& [deal, links] : company_links) {
        for (const auto& link : links) company_ids.insert(link.first);
      }
      DC_ASSIGN_OR_RETURN(
          companies,
          BatchRead("companies", std::vector<std::string>(company_ids.begin(), company_ids.end()),
                    PropertiesFor("companies"), deadline));
      return absl::OkStatus();
    });
  }
  for (size_t t = 0; t < options_.engagement_types.size(); ++t) {
    branches.push_back([&, t]() -> absl::Status {
      const std::string& type = options_.engagement_types[t];
      EngagementReads& r = reads[t];
      DC_ASSIGN_OR_RETURN(r.links, BatchAssociations(type, ids, deadline));
      std::set<std::string> wanted;
      for (const auto& [deal, to] : r.links) {
        for (const auto& link : to) wanted.insert(link.first);
      }
      const std::vector<std::string> wanted_ids(wanted.begin(), wanted.end());
      // Who took part: meeting and call → contact associations (a contact's
      // last_met_at is derived from them at normalisation), read beside the records.
      const bool attendees = (type == "meetings" || type == "calls") && !wanted_ids.empty();
      Links attended;
      std::vector<std::function<absl::Status()>> reads_of_type;
      reads_of_type.push_back([&]() -> absl::Status {
        DC_ASSIGN_OR_RETURN(r.records, BatchRead(type, wanted_ids, PropertiesFor(type), deadline));
        return absl::OkStatus();
      });
      if (attendees) {
        reads_of_type.push_back([&]() -> absl::Status {
          DC_ASSIGN_OR_RETURN(attended, BatchAssociations("contacts", wanted_ids, deadline, type));
          return absl::OkStatus();
        });
      }
      DC_RETURN_IF_ERROR(RunAll(std::move(reads_of_type)));
      if (attendees) {
        for (auto& [eid, record] : r.records) {
          json contact_ids = json::array();
          for (const auto& link : attended[eid]) contact_ids.push_back(link.first);
          record["contact_ids"] = std::move(contact_ids);
        }
      }
      return absl::OkStatus();
    });
  }
  DC_RETURN_IF_ERROR(RunAll(std::move(branches)));
  for (json& d : *deals) {
    auto it = history.find(JsonId(d.value("id", json())));
    if (it != history.end()) d["propertiesWithHistory"] = it->second;
  }
  std::map<std::string, std::map<std::string, std::vector<std::string>>> engagement_links;
  std::map<std::string, std::map<std::string, json>> engagements;
  for (size_t t = 0; t < options_.engagement_types.size(); ++t) {
    const std::string& type = options_.engagement_types[t];
    for (const auto& [deal, to] : reads[t].links) {
      for (const auto& link : to) engagement_links[deal][type].push_back(link.first);
    }
    engagements[type] = std::move(reads[t].records);
  }

  for (json& d : *deals) {
    const std::string id = JsonId(d.value("id", json()));
    json extra = json::object();
    // HubSpot lists property history newest first; the opportunity wants oldest first
    // (normalisation collapses repeated stages and derives stage_entered_at).
    for (const auto& [property, key] :
         {std::pair<const char*, const char*>{"dealstage", "stage_history"},
          {"closedate", "close_date_history"}}) {
      if (!d.contains("propertiesWithHistory") || !d["propertiesWithHistory"].contains(property)) {
        continue;
      }
      std::vector<std::pair<absl::Time, json>> entries;
      for (const json& e : d["propertiesWithHistory"][property]) {
        absl::StatusOr<absl::Time> at = ParseCrmTime(e.value("timestamp", ""));
        if (at.ok()) entries.emplace_back(*at, e);
      }
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      json history = json::array();
      for (auto& e : entries) history.push_back(std::move(e.second));
      extra[key] = std::move(history);
    }
    d["dealcoach"] = std::move(extra);

    // The account: the company labelled "Primary" (HubSpot's primary company
    // association), else the first associated one.
    const std::vector<std::pair<std::string, json>>& deal_companies = company_links[id];
    const std::pair<std::string, json>* account = nullptr;
    for (const auto& link : deal_companies) {
      for (const json& label : link.second) {
        if (label.is_string() && absl::EqualsIgnoreCase(label.get<std::string>(), "Primary")) {
          account = &link;
        }
      }
      if (account != nullptr) break;
    }
    if (account == nullptr && !deal_companies.empty()) account = &deal_companies.front();
    if (account != nullptr) {
      json company = {{"id", account->first}};
      auto c = companies.find(account->first);
      if (c != companies.end()) company["properties"] = c->second.value("properties", json());
      d["company"] = std::move(company);
    }
    // The owner's name and primary team, from the owners read once per pass.
    const json props = d.value("properties", json::object());
    if (props.contains("hubspot_owner_id") && props["hubspot_owner_id"].is_string()) {
      absl::MutexLock lock(&mu_);
      auto o = owners_.find(props["hubspot_owner_id"].get<std::string>());
      if (o != owners_.end()) d["owner"] = o->second;
    }

    json people = json::array();
    for (const auto& [contact_id, labels] : contact_links[id]) {
      json person = {{"id", contact_id}, {"labels", labels}};
      auto c = contacts.find(contact_id);
      if (c != contacts.end()) {
        const json props = c->second.value("properties", json::object());
        person["properties"] = props;
        std::vector<std::string> parts;
        for (const char* p : {"firstname", "lastname"}) {
          if (props.contains(p) && props[p].is_string() && !props[p].get<std::string>().empty()) {
            parts.push_back(props[p].get<std::string>());
          }
        }
        if (parts.empty() && props.contains("email") && props["email"].is_string()) {
          parts.push_back(props["email"].get<std::string>());
        }
        if (!parts.empty()) person["name"] = absl::StrJoin(parts, " ");
      }
      people.push_back(std::move(person));
    }
    d["contacts"] = std::move(people);

    json by_type = json::object();
    for (const std::string& type : options_.engagement_types) {
      json list = json::array();
      for (const std::string& eid : engagement_links[id][type]) {
        auto e = engagements[type].find(eid);
        if (e != engagements[type].end()) list.push_back(e->second);
      }
      by_type[type] = std::move(list);
    }
    d["engagements"] = std::move(by_type);
  }
  return absl::OkStatus();
}

absl::Status HubSpotConnector::ReadOwners(absl::Time deadline) {
  std::map<std::string, json> owners;
  std::string after;
  do {
    std::string path = "/crm/v3/owners?limit=100";
    if (!after.empty()) absl::StrAppend(&path, "&after=", UrlEncode(after));
    DC_ASSIGN_OR_RETURN(json page, Call("GET", path, nullptr, deadline));
    for (const json& o : page.value("results", json::array())) {
      const std::string id = JsonId(o.value("id", json()));
      if (id.empty()) continue;
      std::vector<std::string> parts;
      for (const char* p : {"firstName", "lastName"}) {
        if (o.contains(p) && o[p].is_string() && !o[p].get<std::string>().empty()) {
          parts.push_back(o[p].get<std::string>());
        }
      }
      const std::string email = o.contains("email") && o["email"].is_string()
                                    ? o["email"].get<std::string>()
                                    : std::string();
      json owner = {{"id", id}, {"name", parts.empty() ? email : absl::StrJoin(parts, " ")}};
      if (!email.empty()) owner["email"] = email;
      for (const json& team : o.value("teams", json::array())) {
        if (team.value("primary", false) && team.contains("name") && team["name"].is_string()) {
          owner["team"] = team["name"];
        }
      }
      owners[id] = std::move(owner);
    }
    after = page.contains("paging") && page["paging"].contains("next")
                ? JsonId(page["paging"]["next"].value("after", json()))
                : "";
  } while (!after.empty());
  absl::MutexLock lock(&mu_);
  owners_ = std::move(owners);
  owners_loaded_ = true;
  return absl::OkStatus();
}

void HubSpotConnector::RefreshOwners(bool force, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (owners_loaded_ && !force) return;
  }
  // Names are a nicety: without the crm.objects.owners.read scope (403) the deals still
  // sync, with owner ids only; said once per failure streak, not per pass.
  absl::Status s = ReadOwners(deadline);
  if (!s.ok() && !owners_warned_.exchange(true)) {
    std::cerr << "hubspot: warning: owner names unavailable (" << s.message()
              << "); owner.name stays empty (needs scope crm.objects.owners.read)\n";
  }
  if (s.ok()) owners_warned_.store(false);
}

v1::Opportunity HubSpotConnector::Map(const json& record) const {
  v1::Opportunity opp;
  mapping_.Apply(record, &opp, /*issues=*/nullptr);
  if (opp.source_system().empty()) opp.set_source_system(kCrm);
  if (!options_.stage_history) {
    // Not asked for: pushes and stage dates are unknown, not "none".
    opp.add_not_recorded("close_date_history");
    opp.add_not_recorded("stage_history");
  }
  return opp;
}

absl::StatusOr<v1::Opportunity> HubSpotConnector::FetchOpportunity(absl::string_view id,
                                                                   absl::Time deadline) {
  std::string path =
      absl::StrCat(kDeals, "/", UrlEncode(id),
                   "?properties=", UrlEncode(absl::StrJoin(properties_.at("deals"), ",")),
                   "&associations=contacts");
  if (options_.stage_history) absl::StrAppend(&path, "&propertiesWithHistory=dealstage,closedate");
  DC_ASSIGN_OR_RETURN(json deal, Call("GET", path, nullptr, deadline));
  RefreshOwners(/*force=*/false, deadline);
  std::vector<json> deals = {std::move(deal)};
  DC_RETURN_IF_ERROR(Enrich(&deals, /*need_history=*/false, deadline));
  return Map(deals.front());
}

absl::StatusOr<std::vector<std::string>> HubSpotConnector::ListIds(absl::Time deadline) {
  std::vector<std::string> ids;
  std::string after;
  do {
    std::string path =
        absl::StrCat(kDeals, "?limit=", options_.page_size, "&properties=hs_object_id");
    if (!after.empty()) absl::StrAppend(&path, "&after=", UrlEncode(after));
    DC_ASSIGN_OR_RETURN(json page, Call("GET", path, nullptr, deadline));
    if (!page.contains("results") || !page["results"].is_array()) {
      return absl::FailedPreconditionError(
          absl::StrCat(kCrm, ": GET ", kDeals, ": response has no `results` array"));
    }
    for (const json& d : page["results"]) {
      std::string id = JsonId(d.value("id", json()));
      if (!id.empty()) ids.push_back(std::move(id));
    }
    after = page.contains("paging") && page["paging"].contains("next")
                ? JsonId(page["paging"]["next"].value("after", json()))
                : "";
  } while (!after.empty());
  return ids;
}

namespace {

// A listed deal's hs_lastmodifieddate, or InfinitePast when it has none.
absl::Time ModifiedAt(const json& deal) {
  const json props = deal.value("properties", json::object());
  if (props.contains("hs_lastmodifieddate") && props["hs_lastmodifieddate"].is_string()) {
    absl::StatusOr<absl::Time> t = ParseCrmTime(props["hs_lastmodifieddate"].get<std::string>());
    if (t.ok()) return *t;
  }
  return absl::InfinitePast();
}

// "id@<hs_lastmodifieddate>": one version of a deal. A deal changed since it was
// delivered has a new key, so it is delivered again (an update, not a duplicate).
std::string VersionKey(const json& deal) {
  const json props = deal.value("properties", json::object());
  const json modified = props.value("hs_lastmodifieddate", json());
  return absl::StrCat(JsonId(deal.value("id", json())), "@",
                      modified.is_string() ? modified.get<std::string>() : std::string());
}

}  // namespace

absl::StatusOr<SyncResult> HubSpotConnector::SyncChangedSince(
    absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) {
  const absl::Time deadline = absl::Now() + options_.sync_timeout;
  SyncResult result;
  const int64_t failed_before = http_->failed_attempts();
  const bool listing = since == absl::InfinitePast();
  // Where the last failed pass from this `since` stopped: a listing resumes at its
  // cursor, a search at its last delivered modification time.
  std::optional<Resume> resumed;
  {
    absl::MutexLock lock(&resume_mu_);
    if (resume_.has_value() && resume_->listing == listing &&
        (listing ? resume_->since == since
                 : resume_->since <= since && resume_->anchor_ms > absl::ToUnixMillis(since))) {
      resumed = resume_;
    }
  }
  RefreshOwners(/*force=*/true, deadline);  // once per pass: owners change rarely
  // Versions of deals handed to enrichment in this pass (or delivered by the failed pass
  // this one resumes): re-anchored and resumed searches list them again, and they are
  // skipped.
  std::set<std::string> seen;
  // The resume point as deliveries progress (copied into resume_ if the pass fails).
  Resume progress;
  progress.since = since;
  progress.listing = listing;
  progress.anchor_ms = absl::ToUnixMillis(since);
  if (resumed.has_value()) {
    seen = resumed->delivered;
    progress = *resumed;
    result.high_water_mark = resumed->mark;
  }
  // A listing is ordered by id, not by modification time: a resumed listing keeps the
  // failed pass's high-water mark, so the next search also covers deals on pages
  // delivered then that changed while the listing waited.
  const bool cap_mark = listing && resumed.has_value();
  // One page is enriched in the background while the next is listed, so a slow CRM
  // costs about one call per page plus one enrichment, not their sum for every page.
  struct Page {
    std::vector<json> deals;
    std::string after;              // the cursor that listed it
    std::string next;               // the cursor of the page after it
    std::set<std::string> already;  // versions on it delivered by an earlier pass
  };
  Page pending_page;
  std::future<absl::Status> pending;
  auto finish_pending = [&]() -> absl::Status {
    if (!pending.valid()) return absl::OkStatus();
    DC_RETURN_IF_ERROR(pending.get());
    if (listing) {
      progress.after = pending_page.after;
      progress.delivered = pending_page.already;
    }
    for (const json& d : pending_page.deals) {
      v1::Opportunity opp = Map(d);
      const absl::Time modified = ModifiedAt(d);
      if (!cap_mark && opp.has_updated_at()) {
        result.high_water_mark = std::max(result.high_water_mark, ToAbslTime(opp.updated_at()));
      }
      DC_RETURN_IF_ERROR(sink(std::move(opp)));
      ++result.count;
      if (listing) {
        progress.delivered.insert(VersionKey(d));
      } else if (modified != absl::InfinitePast()) {
        const int64_t ms = absl::ToUnixMillis(modified);
        if (ms > progress.anchor_ms) {
          progress.anchor_ms = ms;
          progress.delivered.clear();
        }
        if (ms == progress.anchor_ms) progress.delivered.insert(VersionKey(d));
      }
    }
    if (listing) {
      progress.after = pending_page.next;
      progress.delivered.clear();
    }
    pending_page = Page();
    return absl::OkStatus();
  };
  auto deliver_page = [&](std::vector<json> deals, std::string after,
                          std::string next) -> absl::Status {
    Page page{{}, std::move(after), std::move(next), {}};
    for (json& d : deals) {
      const std::string key = VersionKey(d);
      if (!seen.insert(key).second) {
        page.already.insert(key);
        continue;
      }
      page.deals.push_back(std::move(d));
    }
    ++result.pages;
    DC_RETURN_IF_ERROR(finish_pending());
    pending_page = std::move(page);
    pending = std::async(std::launch::async, [this, &pending_page, deadline] {
      return Enrich(&pending_page.deals, /*need_history=*/true, deadline);
    });
    return absl::OkStatus();
  };
  auto results_of = [](json& page, absl::string_view call) -> absl::StatusOr<std::vector<json>> {
    if (!page.contains("results") || !page["results"].is_array()) {
      return absl::FailedPreconditionError(
          absl::StrCat(kCrm, ": ", call, ": response has no `results` array"));
    }
    return std::vector<json>(page["results"].begin(), page["results"].end());
  };
  auto next_after = [](const json& page) -> std::string {
    if (!page.contains("paging") || !page["paging"].contains("next")) return "";
    return JsonId(page["paging"]["next"].value("after", json()));
  };

  // Pages are listed and handed to enrichment here; finish_pending() delivers the last
  // one (also after an error, so a page already read is not lost).
  auto list_pages = [&]() -> absl::Status {
    if (listing) {
      // Full sync: the list endpoint has no result cap.
      std::string after = resumed.has_value() ? resumed->after : "";
      do {
        std::string path =
            absl::StrCat(kDeals, "?limit=", options_.page_size,
                         "&properties=", UrlEncode(absl::StrJoin(properties_.at("deals"), ",")));
        if (!after.empty()) absl::StrAppend(&path, "&after=", UrlEncode(after));
        DC_ASSIGN_OR_RETURN(json page, Call("GET", path, nullptr, deadline));
        DC_ASSIGN_OR_RETURN(std::vector<json> deals, results_of(page, "GET /crm/v3/objects/deals"));
        std::string next = next_after(page);
        DC_RETURN_IF_ERROR(deliver_page(std::move(deals), after, next));
        after = std::move(next);
      } while (!after.empty());
      return absl::OkStatus();
    }

    int64_t anchor_ms = resumed.has_value() ? resumed->anchor_ms : absl::ToUnixMillis(since);
    int after = 0;
    while (true) {
      json body = {
          {"filterGroups",
           {{{"filters",
              {{{"propertyName", "hs_lastmodifieddate"},
                {"operator", "GTE"},
                {"value", std::to_string(anchor_ms)}}}}}}},
          {"sorts", {{{"propertyName", "hs_lastmodifieddate"}, {"direction", "ASCENDING"}}}},
          {"properties", properties_.at("deals")},
          {"limit", options_.page_size}};
      if (after > 0) body["after"] = std::to_string(after);
      DC_ASSIGN_OR_RETURN(json page,
                          Call("POST", absl::StrCat(kDeals, "/search"), &body, deadline));
      DC_ASSIGN_OR_RETURN(std::vector<json> deals,
                          results_of(page, "POST /crm/v3/objects/deals/search"));
      int64_t last_ms = anchor_ms;
      if (!deals.empty()) {
        const absl::Time t = ModifiedAt(deals.back());
        if (t != absl::InfinitePast()) last_ms = absl::ToUnixMillis(t);
      }
      const std::string next = next_after(page);
      DC_RETURN_IF_ERROR(deliver_page(std::move(deals), "", next));
      if (next.empty()) break;
      int next_offset = 0;
      if (!absl::SimpleAtoi(next, &next_offset)) {
        return absl::FailedPreconditionError(absl::StrCat(
            kCrm, ": POST /crm/v3/objects/deals/search: non-numeric paging cursor '", next, "'"));
      }
      if (next_offset + options_.page_size > options_.search_result_cap) {
        // HubSpot refuses to page past its search cap: restart the search from the last
        // modification time seen (GTE, so deals sharing that millisecond come back and
        // are skipped as already delivered).
        if (last_ms <= anchor_ms) {
          return absl::FailedPreconditionError(
              absl::StrCat(kCrm, ": POST /crm/v3/objects/deals/search: more than ",
                           options_.search_result_cap, " deals share hs_lastmodifieddate ",
                           anchor_ms, " ms; cannot page past the search cap"));
        }
        anchor_ms = last_ms;
        after = 0;
        continue;
      }
      after = next_offset;
    }
    return absl::OkStatus();
  };
  const absl::Status listed = list_pages();
  const absl::Status delivered = finish_pending();
  const absl::Status s = !listed.ok() ? listed : delivered;
  absl::MutexLock lock(&resume_mu_);
  if (!s.ok()) {
    if (result.count > 0 || resumed.has_value()) {
      progress.mark = cap_mark ? resumed->mark : result.high_water_mark;
      const std::string where =
          listing ? (progress.after.empty() ? std::string("the first page")
                                            : absl::StrCat("listing cursor ", progress.after))
                  : absl::StrCat("hs_lastmodifieddate ",
                                 absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ",
                                                  absl::FromUnixMillis(progress.anchor_ms),
                                                  absl::UTCTimeZone()));
      resume_ = std::move(progress);
      return absl::Status(s.code(), absl::StrCat(s.message(), " (after ", result.count,
                                                 " deals; the next pass resumes at ", where, ")"));
    }
    return s;
  }
  resume_.reset();
  result.errors = http_->failed_attempts() - failed_before;
  return result;
}

ConnectorHealth HubSpotConnector::Health() const {
  ConnectorHealth health = http_->Health();
  if (!batch_associations_.load()) {
    absl::StrAppend(&health.detail,
                    " (the batch association endpoint is unavailable: associations are read "
                    "one record at a time)");
  }
  return health;
}

namespace {

using HubSpotFactory = ConnectorFactoryFor<HubSpotConnector>;

DEALCOACH_REGISTER_CONNECTOR(HubSpotFactory);

}  // namespace
}  // namespace dealcoach::connectors::hubspot
