#include "connectors/hubspot/testing/fake_hubspot.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "connectors/common/mapping.h"

namespace dealcoach::connectors::hubspot {
namespace {

using nlohmann::json;
constexpr char kDealsPath[] = "/crm/v3/objects/deals";

int64_t EpochMs(const json& v) {
  if (!v.is_string()) return -1;
  auto t = ParseCrmTime(v.get<std::string>());
  return t.ok() ? absl::ToUnixMillis(*t) : -1;
}

json ParseBody(const testing::RecordedRequest& r) {
  return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
}

std::vector<std::string> StringList(const json& body, const char* key) {
  std::vector<std::string> out;
  if (body.contains(key) && body[key].is_array()) {
    for (const json& v : body[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::vector<std::string> InputIds(const json& body) {
  std::vector<std::string> ids;
  if (body.contains("inputs") && body["inputs"].is_array()) {
    for (const json& in : body["inputs"]) {
      if (in.contains("id") && in["id"].is_string()) ids.push_back(in["id"].get<std::string>());
    }
  }
  return ids;
}

}  // namespace

FakeHubSpot::FakeHubSpot() {
  server_.Route("GET", kDealsPath, [this](const Req& r) { return ListDeals(r); });
  server_.RoutePrefix("GET", absl::StrCat(kDealsPath, "/"),
                      [this](const Req& r) { return GetDeal(r); });
  server_.Route("POST", absl::StrCat(kDealsPath, "/search"),
                [this](const Req& r) { return SearchDeals(r); });
  server_.Route("POST", absl::StrCat(kDealsPath, "/batch/read"),
                [this](const Req& r) { return BatchReadDeals(r); });
  for (const char* type : {"contacts", "meetings", "calls", "emails", "companies"}) {
    const std::string t = type;
    server_.Route("POST", absl::StrCat("/crm/v3/objects/", t, "/batch/read"),
                  [this, t](const Req& r) { return BatchReadObjects(t, r); });
    server_.Route("POST", absl::StrCat("/crm/v4/associations/deals/", t, "/batch/read"),
                  [this, t](const Req& r) { return BatchAssociations(t, r); });
    if (t != "contacts" && t != "companies") {
      server_.Route("POST", absl::StrCat("/crm/v4/associations/", t, "/contacts/batch/read"),
                    [this, t](const Req& r) { return EngagementContacts(t, r); });
    }
  }
  server_.Route("GET", "/crm/v3/owners", [this](const Req& r) { return ListOwners(r); });
  server_.RoutePrefix("GET", "/crm/v4/objects/",
                      [this](const Req& r) { return RecordAssociations(r); });
}

absl::Status FakeHubSpot::Start() { return server_.Start(); }

void FakeHubSpot::SetOwner(json owner) {
  absl::MutexLock lock(&mu_);
  owners_.push_back(std::move(owner));
}

int FakeHubSpot::owner_list_calls() const {
  absl::MutexLock lock(&mu_);
  return owner_list_calls_;
}

// GET /crm/v3/owners?limit=&after=: {results: [owner], paging.next.after} (offset cursor).
FakeHubSpot::Resp FakeHubSpot::ListOwners(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  absl::MutexLock lock(&mu_);
  ++owner_list_calls_;
  int limit = 100;
  int after = 0;
  if (!r.Param("limit").empty() && !absl::SimpleAtoi(r.Param("limit"), &limit)) limit = 100;
  if (!r.Param("after").empty() && !absl::SimpleAtoi(r.Param("after"), &after)) after = 0;
  json results = json::array();
  for (int i = after; i < static_cast<int>(owners_.size()) && i < after + limit; ++i) {
    results.push_back(owners_[i]);
  }
  json out = {{"results", results}};
  if (after + limit < static_cast<int>(owners_.size())) {
    out["paging"] = {{"next", {{"after", std::to_string(after + limit)}}}};
  }
  return Respond(200, out);
}

void FakeHubSpot::SetBatchAssociationsAvailable(bool available) {
  absl::MutexLock lock(&mu_);
  batch_associations_ = available;
}

// GET /crm/v4/objects/{from}/{id}/associations/{to}: the batch answer for one input,
// reshaped as HubSpot's per-record collection ({"results":[{toObjectId,
// associationTypes}]}; no associations is an empty list, not an error).
FakeHubSpot::Resp FakeHubSpot::RecordAssociations(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  std::vector<std::string> parts = absl::StrSplit(r.path, '/', absl::SkipEmpty());
  // crm v4 objects {from} {id} associations {to}
  if (parts.size() != 7 || parts[5] != "associations") {
    return Error(404, "OBJECT_NOT_FOUND", absl::StrCat("no such path ", r.path));
  }
  Req batch = r;
  batch.method = "GET";  // not the (possibly disabled) batch endpoint itself
  batch.body = json({{"inputs", {{{"id", parts[4]}}}}}).dump();
  Resp answer;
  if (parts[3] == "deals") {
    answer = BatchAssociations(parts[6], batch);
  } else if (parts[6] == "contacts") {
    answer = EngagementContacts(parts[3], batch);
  } else {
    return Error(404, "OBJECT_NOT_FOUND", absl::StrCat("no such path ", r.path));
  }
  if (answer.status != 200 && answer.status != 207) return answer;
  const json body = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  json rows = json::array();
  for (const json& result : body.value("results", json::array())) {
    for (const json& to : result.value("to", json::array())) rows.push_back(to);
  }
  return Respond(200, {{"results", rows}});
}

void FakeHubSpot::UpsertDeal(Deal deal) {
  absl::MutexLock lock(&mu_);
  deal.properties["hs_object_id"] = deal.id;
  deals_[deal.id] = std::move(deal);
}

void FakeHubSpot::UpsertObject(const std::string& type, const std::string& id, json properties) {
  absl::MutexLock lock(&mu_);
  properties["hs_object_id"] = id;
  objects_[type][id] = std::move(properties);
}

FakeHubSpot::Deal FakeHubSpot::AddSampleDeal(const std::string& id, const std::string& modified) {
  Deal d;
  d.id = id;
  d.properties = {
      {"dealname", absl::StrCat("Acme - deal ", id)},
      {"amount", "125000.5"},
      {"deal_currency_code", "EUR"},
      {"closedate", "2026-11-20T00:00:00Z"},
      {"dealstage", "contractsent"},
      {"pipeline", "default"},
      {"hubspot_owner_id", "12345"},
      {"hs_next_step", "Legal review"},
      {"hs_forecast_category", "BEST_CASE"},
      {"createdate", "2026-02-01T10:00:00Z"},
      {"hs_lastmodifieddate", modified},
      {"hs_is_closed", "false"},
      {"hs_is_closed_won", "false"},
      {"decision_to_change", "true"},
      {"budget_confirmed_amount", "50000"},
  };
  d.stage_history = {{"contractsent", "2026-04-10T09:00:00Z"},
                     {"appointmentscheduled", "2026-02-01T10:00:00Z"},
                     {"qualifiedtobuy", "2026-03-01T10:00:00.250Z"}};
  const std::string c1 = absl::StrCat(id, "01"), c2 = absl::StrCat(id, "02");
  d.contacts = {{c1, {"Decision maker"}}, {c2, {"Champion", "Technical evaluator"}}};
  const std::string m = absl::StrCat(id, "11"), c = absl::StrCat(id, "12"),
                    e = absl::StrCat(id, "13");
  d.engagements = {{"meetings", {m}}, {"calls", {c}}, {"emails", {e}}};
  d.close_date_history = {{"2026-10-31T00:00:00Z", "2026-02-01T10:00:00Z"},
                          {"2026-11-20T00:00:00Z", "2026-04-10T09:00:00Z"}};
  UpsertObject("contacts", c1,
               {{"firstname", "Erin"},
                {"lastname", "Econ"},
                {"jobtitle", "CFO"},
                {"email", "erin@acme.example"}});
  UpsertObject("contacts", c2,
               {{"firstname", "Tom"},
                {"lastname", "Tech"},
                {"jobtitle", nullptr},
                {"email", "tom@acme.example"}});
  UpsertObject("meetings", m,
               {{"hs_timestamp", "2026-04-20T14:00:00Z"},
                {"hs_meeting_title", "Business case review"},
                {"hs_meeting_outcome", "COMPLETED"}});
  UpsertObject("calls", c,
               {{"hs_timestamp", "2026-04-01T15:00:00Z"},
                {"hs_call_title", "Discovery call"},
                {"hs_call_status", "COMPLETED"}});
  UpsertObject("emails", e,
               {{"hs_timestamp", "2026-04-21T08:30:00Z"},
                {"hs_email_subject", "Proposal v2"},
                {"hs_email_status", "SENT"}});
  // Who took part (meeting → contact and call → contact associations).
  SetEngagementContacts("meetings", m, {c1, c2});
  SetEngagementContacts("calls", c, {c1});
  UpsertDeal(d);
  return d;
}

void FakeHubSpot::SetToken(const std::string& token) {
  absl::MutexLock lock(&mu_);
  token_ = token;
  expired_ = false;
}

void FakeHubSpot::ExpireToken() {
  absl::MutexLock lock(&mu_);
  expired_ = true;
}

void FakeHubSpot::SetSearchCap(int cap) {
  absl::MutexLock lock(&mu_);
  search_cap_ = cap;
}

std::vector<json> FakeHubSpot::search_bodies() const {
  absl::MutexLock lock(&mu_);
  return search_bodies_;
}

FakeHubSpot::Resp FakeHubSpot::Respond(int status, const json& body) const {
  Resp resp = Resp::Json(status, body.dump());
  resp.headers = {{"X-HubSpot-RateLimit-Daily", "250000"},
                  {"X-HubSpot-RateLimit-Daily-Remaining", "249000"},
                  {"X-HubSpot-RateLimit-Interval-Milliseconds", "10000"},
                  {"X-HubSpot-RateLimit-Max", "100"},
                  {"X-HubSpot-RateLimit-Remaining", "99"}};
  return resp;
}

FakeHubSpot::Resp FakeHubSpot::Error(int status, const std::string& category,
                                     const std::string& message) const {
  return Respond(status, {{"status", "error"},
                          {"message", message},
                          {"correlationId", "4f1f2c2e-0000-4000-8000-000000000001"},
                          {"category", category}});
}

std::optional<FakeHubSpot::Resp> FakeHubSpot::Admit(const Req& r) {
  const std::string header = r.Header("Authorization");
  absl::string_view auth = header;
  absl::MutexLock lock(&mu_);
  if (!absl::ConsumePrefix(&auth, "Bearer ") || auth != token_) {
    return Error(401, "INVALID_AUTHENTICATION",
                 "Authentication credentials not found. This API supports OAuth 2.0 "
                 "authentication and you can find more details at "
                 "https://developers.hubspot.com/docs/methods/auth/oauth-overview");
  }
  if (expired_) {
    return Error(401, "EXPIRED_AUTHENTICATION",
                 "The OAuth token used to make this call expired 0 second(s) ago.");
  }
  return std::nullopt;
}

void FakeHubSpot::SetEngagementContacts(const std::string& type, const std::string& id,
                                        std::vector<std::string> contact_ids) {
  absl::MutexLock lock(&mu_);
  engagement_contacts_[type][id] = std::move(contact_ids);
}

FakeHubSpot::Resp FakeHubSpot::EngagementContacts(const std::string& type, const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  {
    absl::MutexLock lock(&mu_);
    if (!batch_associations_ && r.method == "POST") {
      return Error(404, "OBJECT_NOT_FOUND", "Unable to infer object type from: batch");
    }
  }
  const json body = ParseBody(r);
  if (body.is_discarded()) return Error(400, "VALIDATION_ERROR", "Invalid JSON input");
  absl::MutexLock lock(&mu_);
  json results = json::array();
  json errors = json::array();
  for (const std::string& id : InputIds(body)) {
    json to = json::array();
    auto t = engagement_contacts_.find(type);
    if (t != engagement_contacts_.end()) {
      auto e = t->second.find(id);
      if (e != t->second.end()) {
        for (const std::string& c : e->second) {
          int64_t numeric = 0;
          json to_id = absl::SimpleAtoi(c, &numeric) ? json(numeric) : json(c);
          to.push_back(
              {{"toObjectId", to_id},
               {"associationTypes",
                {{{"category", "HUBSPOT_DEFINED"}, {"typeId", 200}, {"label", nullptr}}}}});
        }
      }
    }
    if (to.empty()) {
      errors.push_back(
          {{"status", "error"},
           {"category", "OBJECT_NOT_FOUND"},
           {"subCategory", "crm.associations.NO_ASSOCIATIONS_FOUND"},
           {"message", absl::StrCat("No contacts are associated with ", type, " ", id, ".")},
           {"context", {{"fromObjectId", {id}}}}});
      continue;
    }
    results.push_back({{"from", {{"id", id}}}, {"to", to}});
  }
  json out = {{"status", "COMPLETE"}, {"results", results}};
  if (!errors.empty()) {
    out["errors"] = errors;
    out["numErrors"] = errors.size();
  }
  return Respond(errors.empty() ? 200 : 207, out);
}

json FakeHubSpot::DealJson(const Deal& deal, const std::vector<std::string>& properties,
                           const std::vector<std::string>& with_history) const {
  json props = json::object();
  for (const std::string& p : properties) {
    auto it = deal.properties.find(p);
    props[p] = it == deal.properties.end() ? json(nullptr) : *it;
  }
  for (const char* always : {"hs_object_id", "createdate", "hs_lastmodifieddate"}) {
    auto it = deal.properties.find(always);
    props[always] = it == deal.properties.end() ? json(nullptr) : *it;
  }
  json out = {{"id", deal.id},
              {"properties", props},
              {"createdAt", props["createdate"]},
              {"updatedAt", props["hs_lastmodifieddate"]},
              {"archived", false}};
  json all_history = json::object();
  for (const std::string& property : with_history) {
    std::vector<StageEntry> history;
    if (property == "dealstage") {
      history = deal.stage_history;
    } else if (property == "closedate") {
      history = deal.close_date_history;
    } else {
      continue;
    }
    std::sort(history.begin(), history.end(), [](const StageEntry& a, const StageEntry& b) {
      return EpochMs(a.timestamp) > EpochMs(b.timestamp);  // Newest first, as HubSpot.
    });
    json entries = json::array();
    for (const StageEntry& e : history) {
      entries.push_back({{"value", e.value},
                         {"timestamp", e.timestamp},
                         {"sourceType", "CRM_UI"},
                         {"sourceId", "userId:12345"},
                         {"updatedByUserId", 12345}});
    }
    all_history[property] = std::move(entries);
  }
  if (!with_history.empty()) out["propertiesWithHistory"] = std::move(all_history);
  return out;
}

FakeHubSpot::Resp FakeHubSpot::ListDeals(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  int limit = 10, after = 0;
  if (!r.Param("limit").empty()) (void)absl::SimpleAtoi(r.Param("limit"), &limit);
  if (!r.Param("after").empty() && !absl::SimpleAtoi(r.Param("after"), &after)) {
    return Error(400, "VALIDATION_ERROR", "Invalid input: after");
  }
  std::vector<std::string> properties =
      absl::StrSplit(r.Param("properties"), ',', absl::SkipEmpty());
  absl::MutexLock lock(&mu_);
  json results = json::array();
  int index = 0;
  for (const auto& [id, deal] : deals_) {
    if (index++ < after) continue;
    if (static_cast<int>(results.size()) == limit) break;
    results.push_back(DealJson(deal, properties, {}));
  }
  json body = {{"results", results}};
  if (after + limit < static_cast<int>(deals_.size())) {
    const std::string next = std::to_string(after + limit);
    body["paging"] = {
        {"next", {{"after", next}, {"link", absl::StrCat(kDealsPath, "?after=", next)}}}};
  }
  return Respond(200, body);
}

FakeHubSpot::Resp FakeHubSpot::GetDeal(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  absl::string_view id = r.path;
  absl::ConsumePrefix(&id, absl::StrCat(kDealsPath, "/"));
  std::vector<std::string> properties =
      absl::StrSplit(r.Param("properties"), ',', absl::SkipEmpty());
  std::vector<std::string> associations =
      absl::StrSplit(r.Param("associations"), ',', absl::SkipEmpty());
  absl::MutexLock lock(&mu_);
  auto it = deals_.find(std::string(id));
  if (it == deals_.end()) {
    json body = {{"status", "error"},
                 {"message", "Object not found.  objectId are usually numeric."},
                 {"correlationId", "4f1f2c2e-0000-4000-8000-000000000002"},
                 {"context", {{"id", {std::string(id)}}}},
                 {"category", "OBJECT_NOT_FOUND"}};
    return Respond(404, body);
  }
  const std::vector<std::string> history =
      absl::StrSplit(r.Param("propertiesWithHistory"), ',', absl::SkipEmpty());
  json out = DealJson(it->second, properties, history);
  json assoc = json::object();
  for (const std::string& type : associations) {
    json results = json::array();
    if (type == "contacts") {
      for (const Association& a : it->second.contacts) {
        results.push_back({{"id", a.to_id}, {"type", "deal_to_contact"}});
      }
    } else {
      auto e = it->second.engagements.find(type);
      if (e != it->second.engagements.end()) {
        for (const std::string& eid : e->second) {
          results.push_back({{"id", eid}, {"type", absl::StrCat("deal_to_", type)}});
        }
      }
    }
    if (!results.empty()) assoc[type] = {{"results", results}};
  }
  if (!assoc.empty()) out["associations"] = assoc;
  return Respond(200, out);
}

FakeHubSpot::Resp FakeHubSpot::SearchDeals(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  const json body = ParseBody(r);
  if (body.is_discarded()) return Error(400, "VALIDATION_ERROR", "Invalid JSON input");
  int64_t gte = -1;
  if (body.contains("filterGroups")) {
    for (const json& group : body["filterGroups"]) {
      for (const json& f : group.value("filters", json::array())) {
        if (f.value("propertyName", "") == "hs_lastmodifieddate" &&
            f.value("operator", "") == "GTE") {
          int64_t v = 0;
          if (!absl::SimpleAtoi(f.value("value", ""), &v)) {
            return Error(400, "VALIDATION_ERROR", "hs_lastmodifieddate: expected epoch millis");
          }
          gte = v;
        }
      }
    }
  }
  const int limit = body.value("limit", 10);
  int after = 0;
  if (body.contains("after") && !absl::SimpleAtoi(body["after"].get<std::string>(), &after)) {
    return Error(400, "VALIDATION_ERROR", "Invalid after");
  }
  const std::vector<std::string> properties = StringList(body, "properties");
  absl::MutexLock lock(&mu_);
  search_bodies_.push_back(body);
  if (after >= search_cap_) {
    return Error(400, "VALIDATION_ERROR",
                 absl::StrCat("There was a problem with the request. Paging beyond ", search_cap_,
                              " results is not supported."));
  }
  std::vector<const Deal*> matches;
  for (const auto& [id, deal] : deals_) {
    if (EpochMs(deal.properties.value("hs_lastmodifieddate", json())) >= gte) {
      matches.push_back(&deal);
    }
  }
  std::stable_sort(matches.begin(), matches.end(), [](const Deal* a, const Deal* b) {
    return EpochMs(a->properties["hs_lastmodifieddate"]) <
           EpochMs(b->properties["hs_lastmodifieddate"]);
  });
  json results = json::array();
  for (int i = after; i < static_cast<int>(matches.size()) && i < after + limit; ++i) {
    results.push_back(DealJson(*matches[i], properties, {}));
  }
  json out = {{"total", matches.size()}, {"results", results}};
  if (after + limit < static_cast<int>(matches.size())) {
    const std::string next = std::to_string(after + limit);
    out["paging"] = {{"next", {{"after", next}, {"link", absl::StrCat("?after=", next)}}}};
  }
  return Respond(200, out);
}

FakeHubSpot::Resp FakeHubSpot::BatchReadDeals(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  const json body = ParseBody(r);
  if (body.is_discarded()) return Error(400, "VALIDATION_ERROR", "Invalid JSON input");
  const std::vector<std::string> properties = StringList(body, "properties");
  const std::vector<std::string> history = StringList(body, "propertiesWithHistory");
  absl::MutexLock lock(&mu_);
  json results = json::array();
  for (const std::string& id : InputIds(body)) {
    auto it = deals_.find(id);
    if (it != deals_.end()) results.push_back(DealJson(it->second, properties, history));
  }
  return Respond(200, {{"status", "COMPLETE"},
                       {"results", results},
                       {"startedAt", "2026-11-20T10:00:00Z"},
                       {"completedAt", "2026-11-20T10:00:00.050Z"}});
}

FakeHubSpot::Resp FakeHubSpot::BatchReadObjects(const std::string& type, const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  const json body = ParseBody(r);
  if (body.is_discarded()) return Error(400, "VALIDATION_ERROR", "Invalid JSON input");
  const std::vector<std::string> properties = StringList(body, "properties");
  absl::MutexLock lock(&mu_);
  json results = json::array();
  const auto& objects = objects_[type];
  for (const std::string& id : InputIds(body)) {
    auto it = objects.find(id);
    if (it == objects.end()) continue;
    json props = json::object();
    for (const std::string& p : properties) {
      props[p] = it->second.contains(p) ? it->second[p] : json(nullptr);
    }
    props["hs_object_id"] = id;
    results.push_back({{"id", id},
                       {"properties", props},
                       {"createdAt", "2026-01-01T00:00:00Z"},
                       {"updatedAt", "2026-01-01T00:00:00Z"},
                       {"archived", false}});
  }
  return Respond(200, {{"status", "COMPLETE"}, {"results", results}});
}

FakeHubSpot::Resp FakeHubSpot::BatchAssociations(const std::string& to_type, const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  {
    absl::MutexLock lock(&mu_);
    if (!batch_associations_ && r.method == "POST") {
      return Error(404, "OBJECT_NOT_FOUND", "Unable to infer object type from: batch");
    }
  }
  const json body = ParseBody(r);
  if (body.is_discarded()) return Error(400, "VALIDATION_ERROR", "Invalid JSON input");
  absl::MutexLock lock(&mu_);
  json results = json::array();
  json errors = json::array();
  for (const std::string& id : InputIds(body)) {
    auto it = deals_.find(id);
    json to = json::array();
    if (it != deals_.end()) {
      if (to_type == "contacts") {
        for (const Association& a : it->second.contacts) {
          json types = json::array();
          types.push_back({{"category", "HUBSPOT_DEFINED"}, {"typeId", 3}, {"label", nullptr}});
          int type_id = 100;
          for (const std::string& label : a.labels) {
            types.push_back(
                {{"category", "USER_DEFINED"}, {"typeId", type_id++}, {"label", label}});
          }
          int64_t numeric = 0;
          json to_id = absl::SimpleAtoi(a.to_id, &numeric) ? json(numeric) : json(a.to_id);
          to.push_back({{"toObjectId", to_id}, {"associationTypes", types}});
        }
      } else {
        auto e = it->second.engagements.find(to_type);
        if (e != it->second.engagements.end()) {
          for (const std::string& eid : e->second) {
            to.push_back(
                {{"toObjectId", eid},
                 {"associationTypes",
                  {{{"category", "HUBSPOT_DEFINED"}, {"typeId", 206}, {"label", nullptr}}}}});
          }
        }
      }
    }
    if (to.empty()) {
      // HubSpot reports inputs without associations as per-input errors (207).
      errors.push_back(
          {{"status", "error"},
           {"category", "OBJECT_NOT_FOUND"},
           {"subCategory", "crm.associations.NO_ASSOCIATIONS_FOUND"},
           {"message", absl::StrCat("No ", to_type, " is associated with deal ", id, ".")},
           {"context", {{"fromObjectId", {id}}}}});
      continue;
    }
    results.push_back({{"from", {{"id", id}}}, {"to", to}});
  }
  json out = {{"status", "COMPLETE"}, {"results", results}};
  if (!errors.empty()) {
    out["errors"] = errors;
    out["numErrors"] = errors.size();
  }
  return Respond(errors.empty() ? 200 : 207, out);
}

}  // namespace dealcoach::connectors::hubspot
