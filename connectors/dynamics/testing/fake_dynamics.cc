#include "connectors/dynamics/testing/fake_dynamics.h"

#include <algorithm>
#include <regex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "connectors/common/http_client.h"
#include "connectors/common/mapping.h"

namespace dealcoach::connectors::dynamics {
namespace {

using nlohmann::json;
constexpr char kApi[] = "/api/data/v9.2";
constexpr char kAnnotation[] = "@OData.Community.Display.V1.FormattedValue";

std::string Fv(const std::string& key) { return key + kAnnotation; }

int64_t Millis(const json& v) {
  if (!v.is_string()) return -1;
  auto t = ParseCrmTime(v.get<std::string>());
  return t.ok() ? absl::ToUnixMillis(*t) : -1;
}

// Top-level names in "$expand=a($select=x,y),b".
std::vector<std::string> ExpandNames(const std::string& expand) {
  std::vector<std::string> names;
  int depth = 0;
  std::string cur;
  for (char c : expand) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      names.push_back(cur);
      cur.clear();
      continue;
    }
    if (depth == 0 && c != ')') cur.push_back(c);
  }
  if (!cur.empty()) names.push_back(cur);
  return names;
}

// Applies $select / $expand / annotation preferences to one entity.
json Shape(const json& entity, const std::string& key, const std::string& select,
           const std::string& expand, bool annotations) {
  std::vector<std::string> fields = absl::StrSplit(select, ',', absl::SkipEmpty());
  std::vector<std::string> expands = ExpandNames(expand);
  json out = json::object();
  for (auto it = entity.begin(); it != entity.end(); ++it) {
    const std::string& name = it.key();
    const bool is_annotation = absl::EndsWith(name, kAnnotation);
    const std::string base =
        is_annotation ? name.substr(0, name.size() - strlen(kAnnotation)) : name;
    if (is_annotation && !annotations) continue;
    const bool wanted = fields.empty() ||
                        std::find(fields.begin(), fields.end(), base) != fields.end() ||
                        base == key || base == "@odata.etag";
    const bool expanded = std::find(expands.begin(), expands.end(), base) != expands.end();
    if (it->is_object()) {
      if (expanded) out[name] = Shape(*it, "", "", "", annotations);
      continue;
    }
    if (wanted) out[name] = *it;
  }
  return out;
}

std::vector<std::string> EqIds(const std::string& filter, const std::string& lookup) {
  std::vector<std::string> ids;
  std::regex re(lookup + R"( eq ([0-9a-fA-F-]+))");
  for (std::sregex_iterator it(filter.begin(), filter.end(), re), end; it != end; ++it) {
    ids.push_back((*it)[1].str());
  }
  return ids;
}

}  // namespace

FakeDynamics::FakeDynamics() {
  server_.Route("POST", TokenPath(), [this](const Req& r) { return Token(r); });
  server_.RoutePrefix("GET", absl::StrCat(kApi, "/opportunities"),
                      [this](const Req& r) { return Opportunities(r); });
  server_.RoutePrefix("GET", absl::StrCat(kApi, "/EntityDefinitions"),
                      [this](const Req& r) { return Attributes(r); });
  server_.Route("GET", absl::StrCat(kApi, "/connections"), [this](const Req& r) {
    if (auto missing = MissingProperty("connection", "", r.Param("$expand"))) return *missing;
    std::vector<json> rows;
    {
      absl::MutexLock lock(&mu_);
      rows = connections_;
    }
    return Related(r, "_record1id_value", rows, "connections");
  });
  server_.Route("GET", absl::StrCat(kApi, "/activitypointers"), [this](const Req& r) {
    std::vector<json> rows;
    {
      absl::MutexLock lock(&mu_);
      rows = activities_;
    }
    return Related(r, "_regardingobjectid_value", rows, "activitypointers");
  });
  server_.Route("GET", absl::StrCat(kApi, "/organizations"), [this](const Req& r) {
    if (auto denied = Admit(r)) return *denied;
    absl::MutexLock lock(&mu_);
    return OData(
        200, {{"value", json::array({{{"organizationid", "3a1c0e9f-0000-4000-8000-00000000cccc"},
                                      {"isauditenabled", audit_org_}}})}});
  });
  server_.RoutePrefix("GET", absl::StrCat(kApi, "/RetrieveRecordChangeHistory"),
                      [this](const Req& r) { return RecordChangeHistory(r); });
  server_.Route("GET", absl::StrCat(kApi, "/activityparties"), [this](const Req& r) {
    std::vector<json> rows;
    {
      absl::MutexLock lock(&mu_);
      rows = parties_;
    }
    return Related(r, "_activityid_value", rows, "activityparties");
  });
}

void FakeDynamics::AddActivityParty(const std::string& activity_id, const std::string& party_id,
                                    int participation_type) {
  absl::MutexLock lock(&mu_);
  parties_.push_back({{"activitypartyid", absl::StrFormat("ac7a9a27-0000-ef11-a72f-%012d",
                                                          static_cast<int>(parties_.size()))},
                      {"_activityid_value", activity_id},
                      {"_partyid_value", party_id},
                      {"_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname", "contact"},
                      {"participationtypemask", participation_type}});
}

absl::Status FakeDynamics::Start() { return server_.Start(); }

void FakeDynamics::SetMissingAttributes(std::vector<std::string> attributes) {
  absl::MutexLock lock(&mu_);
  missing_attributes_ = std::set<std::string>(attributes.begin(), attributes.end());
}

int FakeDynamics::metadata_requests() const {
  absl::MutexLock lock(&mu_);
  return metadata_requests_;
}

namespace {

// "_parentaccountid_value" → "parentaccountid" (a lookup's attribute).
std::string AttributeOf(std::string name) {
  if (absl::StartsWith(name, "_") && absl::EndsWith(name, "_value")) {
    name = name.substr(1, name.size() - 7);
  }
  return name;
}

// The entity a navigation property of the fake's records reaches.
std::string EntityOfNavigation(absl::string_view nav) {
  if (nav == "parentaccountid") return "account";
  if (nav == "transactioncurrencyid") return "transactioncurrency";
  if (nav == "record2id_contact") return "contact";
  if (nav == "owninguser") return "systemuser";
  return "";
}

}  // namespace

std::optional<FakeDynamics::Resp> FakeDynamics::MissingProperty(const std::string& entity,
                                                                const std::string& select,
                                                                const std::string& expand) {
  std::vector<std::pair<std::string, std::string>> wanted;  // (entity, attribute)
  for (absl::string_view a : absl::StrSplit(select, ',', absl::SkipEmpty())) {
    wanted.emplace_back(entity, AttributeOf(std::string(a)));
  }
  // nav($select=a,b),nav2($select=c)
  std::regex item(R"(([A-Za-z_0-9]+)\(\$select=([^)]*)\))");
  for (std::sregex_iterator it(expand.begin(), expand.end(), item), end; it != end; ++it) {
    const std::string target = EntityOfNavigation((*it)[1].str());
    if (target.empty()) continue;
    const std::string columns = (*it)[2].str();
    for (absl::string_view a : absl::StrSplit(columns, ',', absl::SkipEmpty())) {
      wanted.emplace_back(target, AttributeOf(std::string(a)));
    }
  }
  absl::MutexLock lock(&mu_);
  for (const auto& [e, a] : wanted) {
    if (missing_attributes_.count(absl::StrCat(e, ".", a))) {
      return ODataError(400, "0x80060888",
                        absl::StrCat("Could not find a property named '", a,
                                     "' on type 'Microsoft.Dynamics.CRM.", e, "'."));
    }
  }
  return std::nullopt;
}

// GET EntityDefinitions(LogicalName='<entity>')/Attributes?$select=LogicalName: a
// standard set plus every attribute the stored rows of that entity carry, minus the
// missing ones.
void FakeDynamics::SetAudit(bool organization, bool table, bool close_date_column) {
  absl::MutexLock lock(&mu_);
  audit_org_ = organization;
  audit_table_ = table;
  audit_column_ = close_date_column;
}

void FakeDynamics::SetAuditHistoryReadable(bool readable) {
  absl::MutexLock lock(&mu_);
  audit_readable_ = readable;
}

void FakeDynamics::AddAuditDetail(const std::string& opportunity_id, json old_value,
                                  json new_value) {
  old_value["@odata.type"] = "#Microsoft.Dynamics.CRM.opportunity";
  new_value["@odata.type"] = "#Microsoft.Dynamics.CRM.opportunity";
  absl::MutexLock lock(&mu_);
  audit_details_[opportunity_id].push_back(
      {{"@odata.type", "#Microsoft.Dynamics.CRM.AttributeAuditDetail"},
       {"InvalidNewValueAttributes", json::array()},
       {"LocLabelLanguageCode", 0},
       {"DeletedAttributes", {{"Count", 0}, {"Keys", json::array()}, {"Values", json::array()}}},
       {"OldValue", std::move(old_value)},
       {"NewValue", std::move(new_value)}});
}

int FakeDynamics::record_change_history_requests() const {
  absl::MutexLock lock(&mu_);
  return record_change_history_requests_;
}

// GET RetrieveRecordChangeHistory(Target=@target,PagingInfo=@paginginfo)?@target=
// {'@odata.id':'opportunities(<id>)'}&@paginginfo={...}: the documented response, whose
// AuditDetails carry no AuditRecord (so no change time), newest first.
FakeDynamics::Resp FakeDynamics::RecordChangeHistory(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  std::smatch m;
  const std::string target = r.Param("@target");
  if (!std::regex_search(target, m, std::regex(R"(opportunities\(([0-9a-f-]{36})\))"))) {
    return ODataError(400, "0x80040203", "Target: expected an opportunity reference");
  }
  absl::MutexLock lock(&mu_);
  ++record_change_history_requests_;
  if (!audit_readable_) {
    return ODataError(403, "0x80040220",
                      "Principal user (Id=0b9f3e11-0000-4000-8000-00000000bbbb, type=8) is "
                      "missing prvReadRecordAuditHistory privilege");
  }
  json details = json::array();
  auto it = audit_details_.find(m[1].str());
  if (it != audit_details_.end()) {
    for (auto d = it->second.rbegin(); d != it->second.rend(); ++d) details.push_back(*d);
  }
  return OData(200, {{"@odata.context", absl::StrCat(kApi,
                                                     "/$metadata#Microsoft.Dynamics.CRM."
                                                     "RetrieveRecordChangeHistoryResponse")},
                     {"AuditDetailCollection",
                      {{"MoreRecords", false},
                       {"PagingCookie", "<cookie page=\"1\" />"},
                       {"TotalRecordCount", -1},
                       {"AuditDetails", details}}}});
}

FakeDynamics::Resp FakeDynamics::Attributes(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  std::smatch m;
  const std::string path = absl::StrReplaceAll(r.path, {{"%27", "'"}, {"%28", "("}, {"%29", ")"}});
  {
    // The audit settings: EntityDefinitions(LogicalName='opportunity') and its
    // Attributes(LogicalName='estimatedclosedate'), IsAuditEnabled as a managed property.
    auto managed = [](bool v) {
      return json{{"Value", v},
                  {"CanBeChanged", true},
                  {"ManagedPropertyLogicalName", "canmodifyauditsettings"}};
    };
    absl::MutexLock lock(&mu_);
    if (absl::EndsWith(path, "EntityDefinitions(LogicalName='opportunity')")) {
      return OData(200,
                   {{"LogicalName", "opportunity"}, {"IsAuditEnabled", managed(audit_table_)}});
    }
    if (absl::EndsWith(path, "/Attributes(LogicalName='estimatedclosedate')")) {
      return OData(200, {{"@odata.type", "#Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"},
                         {"LogicalName", "estimatedclosedate"},
                         {"IsAuditEnabled", managed(audit_column_)}});
    }
  }
  if (!std::regex_search(
          path, m, std::regex(R"(EntityDefinitions\(LogicalName='([a-z_0-9]+)'\)/Attributes$)"))) {
    return ODataError(404, "0x8006088a",
                      absl::StrCat("Resource not found for the segment '", path, "'."));
  }
  const std::string entity = m[1].str();
  static const std::map<std::string, std::vector<std::string>> kStandard = {
      {"opportunity",
       {"opportunityid", "name", "estimatedvalue", "estimatedclosedate", "closeprobability",
        "stepname", "salesstage", "statecode", "msdyn_forecastcategory", "parentaccountid",
        "ownerid", "transactioncurrencyid", "createdon", "modifiedon", "decisionmaker",
        "owninguser", "owningbusinessunit"}},
      {"systemuser", {"systemuserid", "fullname", "parentsystemuserid", "businessunitid"}},
      {"contact", {"contactid", "fullname", "jobtitle"}},
      {"account", {"accountid", "name", "numberofemployees", "industrycode"}},
      {"transactioncurrency", {"transactioncurrencyid", "isocurrencycode"}}};
  auto standard = kStandard.find(entity);
  if (standard == kStandard.end()) {
    return ODataError(404, "0x80040217",
                      absl::StrCat("Could not find an entity with name ", entity));
  }
  std::set<std::string> names(standard->second.begin(), standard->second.end());
  {
    absl::MutexLock lock(&mu_);
    ++metadata_requests_;
    auto collect = [&](const json& row) {
      if (!row.is_object()) return;
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (it->is_object() || it.key().find('@') != std::string::npos) continue;
        names.insert(AttributeOf(it.key()));
      }
    };
    if (entity == "opportunity") {
      for (const auto& [id, o] : opportunities_) collect(o);
    } else {
      for (const auto& [id, o] : opportunities_) {
        if (entity == "account" && o.contains("parentaccountid")) collect(o["parentaccountid"]);
      }
      for (const json& c : connections_) {
        if (entity == "contact" && c.contains("record2id_contact")) collect(c["record2id_contact"]);
      }
    }
    for (const std::string& missing : missing_attributes_) {
      if (absl::StartsWith(missing, entity + ".")) names.erase(missing.substr(entity.size() + 1));
    }
  }
  json value = json::array();
  for (const std::string& n : names) value.push_back({{"LogicalName", n}, {"MetadataId", n}});
  return OData(200,
               {{"@odata.context", absl::StrCat(base_url(), kApi, "/$metadata#EntityDefinitions('",
                                                entity, "')/Attributes(LogicalName)")},
                {"value", value}});
}

std::string FakeDynamics::TokenPath() { return absl::StrCat("/", kTenant, "/oauth2/v2.0/token"); }

std::string FakeDynamics::OpportunityId(int index) {
  return absl::StrFormat("6f1b0c2a-%04d-ef11-a72f-000d3a5a1a01", index);
}

void FakeDynamics::UpsertOpportunity(json entity) {
  absl::MutexLock lock(&mu_);
  const std::string id = entity["opportunityid"].get<std::string>();
  opportunities_[id] = std::move(entity);
}

void FakeDynamics::AddConnection(json connection) {
  absl::MutexLock lock(&mu_);
  connections_.push_back(std::move(connection));
}

void FakeDynamics::AddActivity(json activity) {
  absl::MutexLock lock(&mu_);
  activities_.push_back(std::move(activity));
}

json FakeDynamics::AddSample(int index, const std::string& modifiedon) {
  const std::string id = OpportunityId(index);
  const std::string account = absl::StrFormat("a1b2c3d4-%04d-ef11-a72f-000d3a5a1a01", index);
  json opp = {
      {"@odata.etag", "W/\"1234567\""},
      {"opportunityid", id},
      {"name", absl::StrCat("Contoso - 200 seats #", index)},
      {"estimatedvalue", 250000.25},
      {"estimatedclosedate", "2026-12-15"},
      {"stepname", "3-Propose"},
      {"salesstage", 2},
      {Fv("salesstage"), "Propose"},
      {"statecode", 0},
      {Fv("statecode"), "Open"},
      {"msdyn_forecastcategory", 100000003},
      {Fv("msdyn_forecastcategory"), "Committed"},
      {"closeprobability", 70},
      {"decisionmaker", true},
      {"_parentaccountid_value", account},
      {Fv("_parentaccountid_value"), "Contoso Ltd"},
      {"_ownerid_value", "0a0b0c0d-3333-ef11-a72f-000d3a5a1a01"},
      {Fv("_ownerid_value"), "Rita Rep"},
      {"_owningbusinessunit_value", "b0b0b0b0-0000-ef11-a72f-000d3a5a1a01"},
      {Fv("_owningbusinessunit_value"), "EMEA Sales"},
      {"owninguser",
       {{"systemuserid", "0a0b0c0d-3333-ef11-a72f-000d3a5a1a01"},
        {"fullname", "Rita Rep"},
        {"_parentsystemuserid_value", "0a0b0c0d-4444-ef11-a72f-000d3a5a1a01"},
        {Fv("_parentsystemuserid_value"), "Manny Manager"}}},
      {"createdon", "2026-02-01T10:00:00Z"},
      {"modifiedon", modifiedon},
      {"parentaccountid",
       {{"accountid", account},
        {"name", "Contoso Ltd"},
        {"numberofemployees", 5400},
        {"industrycode", 7},
        {Fv("industrycode"), "Manufacturing"}}},
      {"transactioncurrencyid",
       {{"transactioncurrencyid", "c0ffee00-0000-ef11-a72f-000d3a5a1a01"},
        {"isocurrencycode", "USD"}}},
  };
  UpsertOpportunity(opp);
  const std::string c1 = absl::StrFormat("c0c0c0c0-%04d-ef11-a72f-000000000001", index);
  const std::string c2 = absl::StrFormat("c0c0c0c0-%04d-ef11-a72f-000000000002", index);
  auto connection = [&](int n, const std::string& contact, const std::string& name,
                        const json& title, const std::string& role) {
    return json{
        {"connectionid", absl::StrFormat("cccccccc-%04d-ef11-a72f-00000000000%d", index, n)},
        {"_record1id_value", id},
        {"_record2id_value", contact},
        {Fv("_record2id_value"), name},
        {"_record2roleid_value", absl::StrFormat("eeeeeeee-0000-ef11-a72f-00000000000%d", n)},
        {Fv("_record2roleid_value"), role},
        {"record2objecttypecode", 2},
        {"record2id_contact", {{"contactid", contact}, {"fullname", name}, {"jobtitle", title}}}};
  };
  AddConnection(connection(1, c1, "Dana Decider", "VP Operations", "Decision Maker"));
  AddConnection(connection(2, c2, "Charlie Champion", nullptr, "Champion"));
  AddConnection(connection(3, c2, "Charlie Champion", nullptr, "Technical Buyer"));
  auto activity = [&](int n, const std::string& type, const std::string& subject,
                      const json& actual, const json& scheduled, int state,
                      const std::string& state_label) {
    return json{{"activityid", absl::StrFormat("acacacac-%04d-ef11-a72f-00000000000%d", index, n)},
                {"activitytypecode", type},
                {"subject", subject},
                {"actualstart", actual},
                {"scheduledstart", scheduled},
                {"statecode", state},
                {Fv("statecode"), state_label},
                {"_regardingobjectid_value", id},
                {"createdon", "2026-03-01T00:00:00Z"}};
  };
  AddActivity(
      activity(1, "phonecall", "Discovery call", "2026-04-01T15:00:00Z", nullptr, 1, "Completed"));
  AddActivity(activity(2, "appointment", "Solution workshop", nullptr, "2026-04-20T14:00:00Z", 3,
                       "Scheduled"));
  AddActivity(activity(3, "task", "Send mutual action plan", nullptr, nullptr, 0, "Open"));
  const auto activity_id = [&](int n) {
    return absl::StrFormat("acacacac-%04d-ef11-a72f-00000000000%d", index, n);
  };
  AddActivityParty(activity_id(1), c1, 2);
  AddActivityParty(activity_id(2), c1, 5);
  AddActivityParty(activity_id(2), c2, 6);
  return opp;
}

void FakeDynamics::ExpireTokens() {
  absl::MutexLock lock(&mu_);
  tokens_.clear();
}

void FakeDynamics::SetTokenLifetime(int seconds) {
  absl::MutexLock lock(&mu_);
  token_lifetime_ = seconds;
}

int FakeDynamics::token_requests() const {
  absl::MutexLock lock(&mu_);
  return token_counter_;
}

std::map<std::string, std::string> FakeDynamics::last_token_form() const {
  absl::MutexLock lock(&mu_);
  return last_token_form_;
}

FakeDynamics::Resp FakeDynamics::OData(int status, const json& body) {
  Resp resp = Resp::Json(status, body.dump());
  resp.content_type = "application/json; odata.metadata=minimal";
  resp.headers = {{"OData-Version", "4.0"},
                  {"x-ms-ratelimit-burst-remaining-xrm-requests", "5999"},
                  {"x-ms-ratelimit-time-remaining-xrm-requests", "1200000.00"}};
  return resp;
}

FakeDynamics::Resp FakeDynamics::ODataError(int status, const std::string& code,
                                            const std::string& message) {
  return OData(status, {{"error", {{"code", code}, {"message", message}}}});
}

FakeDynamics::Resp FakeDynamics::Token(const Req& r) {
  absl::MutexLock lock(&mu_);
  ++token_counter_;
  last_token_form_.clear();
  for (const char* f : {"grant_type", "client_id", "client_secret", "scope"}) {
    last_token_form_[f] = r.FormField(f);
  }
  if (r.FormField("grant_type") != "client_credentials" || r.FormField("client_id") != kClientId ||
      r.FormField("client_secret") != kClientSecret) {
    return Resp::Json(401, json{{"error", "invalid_client"},
                                {"error_description",
                                 "AADSTS7000215: Invalid client secret provided. Ensure the "
                                 "secret being sent in the request is the client secret value."},
                                {"error_codes", {7000215}},
                                {"trace_id", "0000"},
                                {"correlation_id", "1111"}}
                               .dump());
  }
  if (!absl::EndsWith(r.FormField("scope"), "/.default")) {
    return Resp::Json(400, json{{"error", "invalid_scope"},
                                {"error_description",
                                 "AADSTS1002012: The provided value for "
                                 "scope is not valid."}}
                               .dump());
  }
  const std::string token = absl::StrCat("eyJ0eXAiOiJKV1Qi.fake.", token_counter_);
  tokens_.insert(token);
  return Resp::Json(200, json{{"token_type", "Bearer"},
                              {"expires_in", token_lifetime_},
                              {"ext_expires_in", token_lifetime_},
                              {"access_token", token}}
                             .dump());
}

std::optional<FakeDynamics::Resp> FakeDynamics::Admit(const Req& r) {
  const std::string header = r.Header("Authorization");
  absl::string_view token = header;
  absl::MutexLock lock(&mu_);
  if (!absl::ConsumePrefix(&token, "Bearer ") || tokens_.count(std::string(token)) == 0) {
    Resp resp = Resp::Json(401, "");
    resp.headers = {{"WWW-Authenticate",
                     "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/"
                     "authorize, resource_id=https://org.crm.dynamics.com/"}};
    return resp;
  }
  return std::nullopt;
}

FakeDynamics::Resp FakeDynamics::Collection(const Req& r, const std::vector<json>& rows,
                                            const std::string& entity_set) {
  const std::string prefer = r.Header("Prefer");
  const bool annotations = absl::StrContains(prefer, "odata.include-annotations");
  size_t page_size = 5000;
  std::smatch m;
  if (std::regex_search(prefer, m, std::regex(R"(odata\.maxpagesize=(\d+))"))) {
    page_size = std::stoul(m[1].str());
  }
  size_t offset = 0;
  const std::string skiptoken = r.Param("$skiptoken");
  if (std::regex_search(skiptoken, m, std::regex(R"rx(offset="(\d+)")rx"))) {
    offset = std::stoul(m[1].str());
  }
  const std::string key = entity_set == "opportunities"     ? "opportunityid"
                          : entity_set == "connections"     ? "connectionid"
                          : entity_set == "activityparties" ? "activitypartyid"
                                                            : "activityid";
  json value = json::array();
  for (size_t i = offset; i < rows.size() && i < offset + page_size; ++i) {
    value.push_back(Shape(rows[i], key, r.Param("$select"), r.Param("$expand"), annotations));
  }
  json body = {{"@odata.context", absl::StrCat(base_url(), kApi, "/$metadata#", entity_set)},
               {"value", value}};
  if (offset + page_size < rows.size()) {
    std::vector<std::string> kept;
    for (absl::string_view part : absl::StrSplit(r.query, '&', absl::SkipEmpty())) {
      if (!absl::StartsWith(part, "$skiptoken=") && !absl::StartsWith(part, "%24skiptoken=")) {
        kept.emplace_back(part);
      }
    }
    const std::string cookie = absl::StrFormat("<cookie pagenumber=\"%d\" offset=\"%d\" />",
                                               offset / page_size + 2, offset + page_size);
    kept.push_back(absl::StrCat("$skiptoken=", UrlEncode(cookie)));
    body["@odata.nextLink"] = absl::StrCat(base_url(), r.path, "?", absl::StrJoin(kept, "&"));
  }
  Resp resp = OData(200, body);
  if (page_size != 5000) {
    resp.headers.emplace_back("Preference-Applied", absl::StrCat("odata.maxpagesize=", page_size));
  }
  return resp;
}

FakeDynamics::Resp FakeDynamics::Opportunities(const Req& r) {
  if (auto denied = Admit(r)) return *denied;
  if (auto missing = MissingProperty("opportunity", r.Param("$select"), r.Param("$expand"))) {
    return *missing;
  }
  absl::string_view rest = r.path;
  absl::ConsumePrefix(&rest, absl::StrCat(kApi, "/opportunities"));
  if (absl::ConsumePrefix(&rest, "(") && absl::ConsumeSuffix(&rest, ")")) {
    absl::MutexLock lock(&mu_);
    auto it = opportunities_.find(std::string(rest));
    if (it == opportunities_.end()) {
      return ODataError(404, "0x80040217",
                        absl::StrCat("opportunity With Id = ", rest, " Does Not Exist"));
    }
    json entity = Shape(it->second, "opportunityid", r.Param("$select"), r.Param("$expand"),
                        absl::StrContains(r.Header("Prefer"), "odata.include-annotations"));
    entity["@odata.context"] = absl::StrCat(base_url(), kApi, "/$metadata#opportunities/$entity");
    return OData(200, entity);
  }
  if (!rest.empty()) {
    return ODataError(404, "0x8006088a",
                      absl::StrCat("Resource not found for the segment '", rest, "'."));
  }
  int64_t since = -1;
  std::smatch m;
  const std::string filter = r.Param("$filter");
  if (std::regex_search(filter, m, std::regex(R"(modifiedon ge (\S+))"))) {
    since = Millis(json(m[1].str()));
    if (since < 0) {
      return ODataError(400, "0x80060888", "Syntax error: the datetime literal is not valid.");
    }
  }
  std::vector<json> rows;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, opp] : opportunities_) {
      if (Millis(opp["modifiedon"]) >= since) rows.push_back(opp);
    }
  }
  std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
    return Millis(a["modifiedon"]) < Millis(b["modifiedon"]);
  });
  return Collection(r, rows, "opportunities");
}

FakeDynamics::Resp FakeDynamics::Related(const Req& r, const std::string& lookup,
                                         const std::vector<json>& rows,
                                         const std::string& entity_set) {
  if (auto denied = Admit(r)) return *denied;
  const std::vector<std::string> ids = EqIds(r.Param("$filter"), lookup);
  if (ids.empty()) {
    return ODataError(400, "0x80060888", absl::StrCat("expected a filter on ", lookup));
  }
  std::vector<json> matched;
  for (const json& row : rows) {
    if (std::find(ids.begin(), ids.end(), row.value(lookup, "")) != ids.end()) {
      matched.push_back(row);
    }
  }
  return Collection(r, matched, entity_set);
}

}  // namespace dealcoach::connectors::dynamics
