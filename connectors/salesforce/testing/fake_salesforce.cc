#include "connectors/salesforce/testing/fake_salesforce.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "connectors/common/mapping.h"

namespace dealcoach::connectors::salesforce {

using nlohmann::json;
using testing::RecordedRequest;
using testing::ScriptedResponse;

namespace {

absl::Time Modstamp(const json& record) {
  auto t = ParseCrmTime(record.value("SystemModstamp", ""));
  return t.ok() ? *t : absl::InfinitePast();
}

// Salesforce's own content type. It also keeps cpp-httplib from compressing the body
// (it only compresses an exact "application/json"), so benchmarks time the adapter.
ScriptedResponse SfJson(int status, std::string body) {
  ScriptedResponse r = ScriptedResponse::Json(status, std::move(body));
  r.content_type = "application/json;charset=UTF-8";
  return r;
}

json Error(absl::string_view code, absl::string_view message) {
  return json::array({{{"message", message}, {"errorCode", code}}});
}

}  // namespace

FakeSalesforce::FakeSalesforce() {
  server_.Route("POST", "/services/oauth2/token",
                [this](const RecordedRequest& r) { return Token(r); });
  server_.Route("GET", QueryPath(), [this](const RecordedRequest& r) { return Query(r); });
  server_.RoutePrefix("GET", absl::StrCat("/services/data/", kApiVersion, "/sobjects/"),
                      [this](const RecordedRequest& r) { return Describe(r); });
  server_.RoutePrefix("GET", QueryPath() + "/",
                      [this](const RecordedRequest& r) { return Page(r); });
}

absl::Status FakeSalesforce::Start() { return server_.Start(); }

std::string FakeSalesforce::QueryPath() {
  return absl::StrCat("/services/data/", kApiVersion, "/query");
}

std::string FakeSalesforce::OpportunityId(int index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "006%012dAAA", index);
  return buf;
}

json FakeSalesforce::MakeOpportunity(int i, const std::string& modstamp) {
  const std::string id = OpportunityId(i);
  const std::string n = std::to_string(i);
  return json{
      {"attributes",
       {{"type", "Opportunity"}, {"url", "/services/data/v59.0/sobjects/Opportunity/" + id}}},
      {"Id", id},
      {"Name", "Deal " + n},
      {"StageName", "Negotiation/Review"},
      {"Amount", 1000.0 * (i % 500 + 1)},
      {"CloseDate", "2026-12-15"},
      {"CreatedDate", "2026-09-01T10:00:00.000+0000"},
      {"SystemModstamp", modstamp},
      {"ForecastCategoryName", "Commit"},
      {"NextStep", "Legal review"},
      {"IsClosed", false},
      {"IsWon", false},
      {"AccountId", "001000000000" + n},
      {"Account",
       {{"attributes", {{"type", "Account"}}},
        {"Name", "Account " + n},
        {"Industry", "Manufacturing"},
        {"NumberOfEmployees", 1200}}},
      {"OwnerId", "005000000000001AAA"},
      {"Owner",
       {{"attributes", {{"type", "User"}}},
        {"Name", "Rita Rep"},
        {"ManagerId", "005000000000002AAA"}}},
      {"OpportunityContactRoles",
       {{"totalSize", 3},
        {"done", true},
        {"records", json::array({{{"ContactId", "003000000000001AAA"},
                                  {"Role", "Economic Buyer"},
                                  {"IsPrimary", true},
                                  {"Contact", {{"Name", "Erin Econ"}, {"Title", "CFO"}}}},
                                 {{"ContactId", "003000000000001AAA"},
                                  {"Role", "Executive Sponsor"},
                                  {"IsPrimary", true},
                                  {"Contact", {{"Name", "Erin Econ"}, {"Title", "CFO"}}}},
                                 {{"ContactId", "003000000000002AAA"},
                                  {"Role", "Technical Buyer"},
                                  {"IsPrimary", false},
                                  {"Contact", {{"Name", "Tom Tech"}, {"Title", nullptr}}}}})}}},
      {"Tasks",
       {{"totalSize", 1},
        {"done", true},
        {"records", json::array({{{"Id", "00T000000000001AAA"},
                                  {"ActivityDate", "2026-11-12"},
                                  {"Subject", "Pricing call"},
                                  {"TaskSubtype", "Call"},
                                  {"CallDisposition", "connected"},
                                  {"WhoId", "003000000000001AAA"}}})}}},
      {"Events",
       {{"totalSize", 1},
        {"done", true},
        {"records", json::array({{{"Id", "00U000000000001AAA"},
                                  {"ActivityDateTime", "2026-11-10T15:00:00.000+0000"},
                                  {"Subject", "Demo"},
                                  {"WhoId", "003000000000002AAA"}}})}}},
      {"OpportunityHistories",
       {{"totalSize", 3},
        {"done", true},
        {"records", json::array({{{"StageName", "Prospecting"},
                                  {"CloseDate", "2026-11-30"},
                                  {"CreatedDate", "2026-09-01T10:00:00.000+0000"}},
                                 {{"StageName", "Prospecting"},
                                  {"CloseDate", "2026-11-30"},
                                  {"CreatedDate", "2026-09-15T10:00:00.000+0000"}},
                                 {{"StageName", "Negotiation/Review"},
                                  {"CloseDate", "2026-12-15"},
                                  {"CreatedDate", "2026-11-01T09:00:00.000+0000"}}})}}},
  };
}

namespace {

// The sObject behind a relationship name in the records the fake stores.
std::string ObjectOfRelationship(const std::string& relationship) {
  static const std::map<std::string, std::string> kObjects = {
      {"Account", "Account"},
      {"Owner", "User"},
      {"Contact", "Contact"},
      {"OpportunityContactRoles", "OpportunityContactRole"},
      {"Tasks", "Task"},
      {"Events", "Event"},
      {"OpportunityHistories", "OpportunityHistory"},
      {"Histories", "OpportunityFieldHistory"},
      {"Manager", "User"},
      {"EventRelations", "EventRelation"}};
  auto it = kObjects.find(relationship);
  return it == kObjects.end() ? relationship : it->second;
}

// Records the field names of `record` (an `object` row) and of its relationships.
void CollectFields(const std::string& object, const json& record,
                   std::map<std::string, std::set<std::string>>* out) {
  if (!record.is_object()) return;
  for (auto it = record.begin(); it != record.end(); ++it) {
    if (it.key() == "attributes") continue;
    if (it->is_object() && it->contains("records")) {
      for (const json& child : (*it)["records"]) {
        CollectFields(ObjectOfRelationship(it.key()), child, out);
      }
    } else if (it->is_object()) {
      CollectFields(ObjectOfRelationship(it.key()), *it, out);
    } else {
      (*out)[object].insert(it.key());
    }
  }
}

}  // namespace

void FakeSalesforce::Upsert(json record) {
  const std::string id = record.value("Id", "");
  Stored stored{Modstamp(record), std::make_shared<const std::string>(record.dump())};
  absl::MutexLock lock(&mu_);
  CollectFields("Opportunity", record, &seen_fields_);
  records_[id] = std::move(stored);
}

int FakeSalesforce::describe_requests() const {
  absl::MutexLock lock(&mu_);
  return describe_requests_;
}

int FakeSalesforce::describe_requests(const std::string& object) const {
  absl::MutexLock lock(&mu_);
  auto it = describes_by_object_.find(object);
  return it == describes_by_object_.end() ? 0 : it->second;
}

ScriptedResponse FakeSalesforce::Describe(const RecordedRequest& r) {
  if (auto denied = Admit(r)) return *denied;
  // /services/data/v59.0/sobjects/{Object}/describe
  std::vector<std::string> parts = absl::StrSplit(r.path, '/', absl::SkipEmpty());
  if (parts.size() != 6 || parts[5] != "describe") {
    return SfJson(404, Error("NOT_FOUND", "The requested resource does not exist").dump());
  }
  const std::string object = parts[4];
  // Standard fields (a subset), reference fields and child relationships of the objects
  // the default mapping reads.
  struct Reference {
    const char* field;
    const char* relationship;
    std::vector<std::string> to;
  };
  static const std::map<std::string, std::vector<std::string>> kStandard = {
      {"Opportunity",
       {"Id", "Name", "StageName", "Amount", "CloseDate", "CreatedDate", "SystemModstamp",
        "LastModifiedDate", "ForecastCategoryName", "NextStep", "IsClosed", "IsWon", "AccountId",
        "OwnerId", "Probability", "CurrencyIsoCode"}},
      {"Account", {"Id", "Name", "Industry", "NumberOfEmployees", "OwnerId"}},
      {"User", {"Id", "Name", "ManagerId"}},
      {"Contact", {"Id", "Name", "Title", "AccountId"}},
      {"OpportunityContactRole", {"Id", "OpportunityId", "ContactId", "Role", "IsPrimary"}},
      {"Task",
       {"Id", "WhoId", "WhatId", "Subject", "ActivityDate", "TaskSubtype", "CallDisposition"}},
      {"Event", {"Id", "WhoId", "WhatId", "Subject", "ActivityDateTime"}},
      {"OpportunityHistory",
       {"Id", "OpportunityId", "StageName", "CloseDate", "Amount", "CreatedDate"}},
      {"OpportunityFieldHistory",
       {"Id", "OpportunityId", "Field", "OldValue", "NewValue", "DataType", "CreatedDate"}},
      {"EventRelation", {"Id", "EventId", "RelationId"}}};
  static const std::map<std::string, std::vector<Reference>> kReferences = {
      {"Opportunity", {{"AccountId", "Account", {"Account"}}, {"OwnerId", "Owner", {"User"}}}},
      {"Account", {{"OwnerId", "Owner", {"User"}}}},
      {"User", {{"ManagerId", "Manager", {"User"}}}},
      {"Contact", {{"AccountId", "Account", {"Account"}}}},
      {"OpportunityContactRole", {{"ContactId", "Contact", {"Contact"}}}},
      {"Task", {{"WhoId", "Who", {"Contact", "Lead"}}}},
      {"Event", {{"WhoId", "Who", {"Contact", "Lead"}}}}};
  static const std::map<std::string, std::vector<std::pair<std::string, std::string>>> kChildren = {
      {"Opportunity",
       {{"OpportunityContactRoles", "OpportunityContactRole"},
        {"Tasks", "Task"},
        {"Events", "Event"},
        {"OpportunityHistories", "OpportunityHistory"},
        {"Histories", "OpportunityFieldHistory"}}},
      {"Event", {{"EventRelations", "EventRelation"}}}};
  auto standard = kStandard.find(object);
  json fields = json::array();
  {
    absl::MutexLock lock(&mu_);
    ++describe_requests_;
    ++describes_by_object_[object];
    if (standard == kStandard.end() && seen_fields_.count(object) == 0) {
      return SfJson(404, Error("NOT_FOUND", "The requested resource does not exist").dump());
    }
    std::set<std::string> names;
    if (standard != kStandard.end()) names.insert(standard->second.begin(), standard->second.end());
    if (auto seen = seen_fields_.find(object); seen != seen_fields_.end()) {
      names.insert(seen->second.begin(), seen->second.end());
    }
    for (const std::string& missing : missing_columns_) {
      if (absl::StartsWith(missing, object + ".")) names.erase(missing.substr(object.size() + 1));
    }
    for (const std::string& name : names) {
      json field = {{"name", name},
                    {"type", "string"},
                    {"relationshipName", nullptr},
                    {"referenceTo", json::array()}};
      if (auto refs = kReferences.find(object); refs != kReferences.end()) {
        for (const Reference& ref : refs->second) {
          if (name == ref.field) {
            field["type"] = "reference";
            field["relationshipName"] = ref.relationship;
            field["referenceTo"] = ref.to;
          }
        }
      }
      fields.push_back(std::move(field));
    }
  }
  json children = json::array();
  if (auto c = kChildren.find(object); c != kChildren.end()) {
    absl::MutexLock lock(&mu_);
    for (const auto& [relationship, child] : c->second) {
      if (std::count(hidden_relationships_.begin(), hidden_relationships_.end(), relationship)) {
        continue;
      }
      children.push_back({{"relationshipName", relationship},
                          {"childSObject", child},
                          {"field", child == "EventRelation" ? "EventId" : "WhatId"},
                          {"deprecatedAndHidden", false}});
    }
  }
  return Respond(200, {{"name", object},
                       {"fields", fields},
                       {"childRelationships", children},
                       {"queryable", true}});
}

void FakeSalesforce::Delete(const std::string& id) {
  absl::MutexLock lock(&mu_);
  records_.erase(id);
}

void FakeSalesforce::ExpireTokens() {
  absl::MutexLock lock(&mu_);
  valid_tokens_.clear();
}

void FakeSalesforce::SetMissingColumns(std::vector<std::string> columns) {
  absl::MutexLock lock(&mu_);
  missing_columns_ = std::move(columns);
}

void FakeSalesforce::SetHiddenRelationships(std::vector<std::string> relationships) {
  absl::MutexLock lock(&mu_);
  hidden_relationships_ = std::move(relationships);
}

void FakeSalesforce::SetRemainingApiRequests(int n) {
  absl::MutexLock lock(&mu_);
  remaining_api_ = n;
}

int FakeSalesforce::token_requests() const {
  absl::MutexLock lock(&mu_);
  return token_requests_;
}

std::map<std::string, std::string> FakeSalesforce::last_token_form() const {
  absl::MutexLock lock(&mu_);
  return last_token_form_;
}

std::vector<std::string> FakeSalesforce::queries() const {
  absl::MutexLock lock(&mu_);
  return queries_;
}

ScriptedResponse FakeSalesforce::Respond(int status, const json& body) {
  ScriptedResponse r = SfJson(status, body.dump());
  absl::MutexLock lock(&mu_);
  r.headers.push_back({"Sforce-Limit-Info", absl::StrCat("api-usage=", api_used_, "/100000")});
  return r;
}

ScriptedResponse FakeSalesforce::Token(const RecordedRequest& r) {
  std::map<std::string, std::string> form;
  for (const char* k : {"grant_type", "client_id", "client_secret", "assertion"}) {
    form[k] = r.FormField(k);
  }
  bool ok = false;
  if (form["grant_type"] == "client_credentials") {
    ok = form["client_id"] == kClientId && form["client_secret"] == kClientSecret;
  } else if (form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    // Structure only; the test verifies the signature with the public key.
    ok = std::count(form["assertion"].begin(), form["assertion"].end(), '.') == 2;
  }
  std::string token;
  {
    absl::MutexLock lock(&mu_);
    ++token_requests_;
    last_token_form_ = form;
    if (ok) {
      token = absl::StrCat("00Dfake!token-", ++token_counter_);
      valid_tokens_.push_back(token);
    }
  }
  if (!ok) {
    return Respond(
        400, {{"error", "invalid_client"}, {"error_description", "invalid client credentials"}});
  }
  return Respond(200, {{"access_token", token},
                       {"instance_url", server_.base_url()},
                       {"id", "https://login.salesforce.com/id/00Dfake/005fake"},
                       {"token_type", "Bearer"},
                       {"issued_at", "1799999999999"},
                       {"signature", "c2lnbmF0dXJl"}});
}

std::optional<ScriptedResponse> FakeSalesforce::Admit(const RecordedRequest& r) {
  const std::string auth = r.Header("Authorization");
  absl::MutexLock lock(&mu_);
  const bool valid =
      absl::StartsWith(auth, "Bearer ") &&
      std::find(valid_tokens_.begin(), valid_tokens_.end(), auth.substr(7)) != valid_tokens_.end();
  if (!valid) {
    ScriptedResponse out =
        SfJson(401, Error("INVALID_SESSION_ID", "Session expired or invalid").dump());
    return out;
  }
  if (remaining_api_ == 0) {
    return SfJson(403, Error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").dump());
  }
  if (remaining_api_ > 0) --remaining_api_;
  ++api_used_;
  return std::nullopt;
}

ScriptedResponse FakeSalesforce::PageFrom(const std::string& cursor, size_t offset, size_t size) {
  std::string body;
  {
    absl::MutexLock lock(&mu_);
    const auto& all = cursors_[cursor];
    const size_t end = std::min(all.size(), offset + size);
    const bool done = end >= all.size();
    size_t bytes = 128;
    for (size_t i = offset; i < end; ++i) bytes += all[i]->size() + 1;
    body.reserve(bytes);
    absl::StrAppend(&body, R"({"totalSize":)", all.size(), R"(,"done":)", done ? "true" : "false");
    if (!done) {
      absl::StrAppend(&body, R"(,"nextRecordsUrl":")", QueryPath(), "/", cursor, "-", end, "\"");
    }
    body += R"(,"records":[)";
    for (size_t i = offset; i < end; ++i) {
      if (i > offset) body += ',';
      body += *all[i];
    }
    body += "]}";
    if (done) cursors_.erase(cursor);
  }
  ScriptedResponse r = SfJson(200, std::move(body));
  absl::MutexLock lock(&mu_);
  r.headers.push_back({"Sforce-Limit-Info", absl::StrCat("api-usage=", api_used_, "/100000")});
  return r;
}

ScriptedResponse FakeSalesforce::Query(const RecordedRequest& r) {
  if (auto denied = Admit(r)) return *denied;
  const std::string soql = r.Param("q");
  size_t batch = 2000;
  const std::string options = r.Header("Sforce-Query-Options");
  if (absl::StartsWith(options, "batchSize=")) {
    if (!absl::SimpleAtoi(absl::string_view(options).substr(10), &batch)) batch = 2000;
  }
  if (!absl::StartsWith(soql, "SELECT ") || !absl::StrContains(soql, " FROM Opportunity")) {
    return SfJson(400, Error("MALFORMED_QUERY", "unexpected token").dump());
  }
  {
    absl::MutexLock lock(&mu_);
    for (const std::string& rel : hidden_relationships_) {
      if (absl::StrContains(soql, absl::StrCat(" FROM ", rel, " ")) ||
          absl::StrContains(soql, absl::StrCat(" FROM ", rel, ")"))) {
        queries_.push_back(soql);
        return SfJson(400, Error("INVALID_TYPE",
                                 absl::StrCat("\n", soql.substr(0, 60), "\n^\nERROR at Row:1\n",
                                              "Didn't understand relationship '", rel,
                                              "' in FROM part of query call. If you are "
                                              "attempting to use a custom relationship, be sure "
                                              "to append the '__r' after the custom relationship "
                                              "name."))
                               .dump());
      }
    }
    for (const std::string& missing : missing_columns_) {
      const size_t dot = missing.find('.');
      const std::string column = missing.substr(dot + 1);
      // As a whole SELECT item: ", Column," / " Column " / ".Column".
      for (size_t p = soql.find(column); p != std::string::npos; p = soql.find(column, p + 1)) {
        const char before = p == 0 ? ' ' : soql[p - 1];
        const char after = p + column.size() < soql.size() ? soql[p + column.size()] : ' ';
        const auto boundary = [](char ch) { return !absl::ascii_isalnum(ch) && ch != '_'; };
        if (boundary(before) && boundary(after)) {
          queries_.push_back(soql);
          return SfJson(
              400, Error("INVALID_FIELD",
                         absl::StrCat("\n", soql.substr(0, 60),
                                      "\n^\nERROR at Row:1:Column:", p + 1, "\nNo such column '",
                                      column, "' on entity '", missing.substr(0, dot),
                                      "'. If you are attempting to use a custom field, "
                                      "be sure to append the '__c' after the custom "
                                      "field name."))
                       .dump());
        }
      }
    }
  }
  std::optional<std::string> only_id;
  if (size_t p = soql.find("WHERE Id = '"); p != std::string::npos) {
    const size_t start = p + 12;
    only_id = soql.substr(start, soql.find('\'', start) - start);
  }
  absl::Time since = absl::InfinitePast();
  if (size_t p = soql.find("SystemModstamp >= "); p != std::string::npos) {
    const size_t start = p + 18;
    auto t = ParseCrmTime(soql.substr(start, soql.find(' ', start) - start));
    if (!t.ok()) {
      return SfJson(400, Error("MALFORMED_QUERY", "bad datetime").dump());
    }
    since = *t;
  }
  std::string cursor;
  {
    absl::MutexLock lock(&mu_);
    queries_.push_back(soql);
    std::vector<const Stored*> result;
    for (const auto& [id, stored] : records_) {
      if (only_id.has_value() && id != *only_id) continue;
      if (stored.modstamp < since) continue;
      result.push_back(&stored);
    }
    std::stable_sort(result.begin(), result.end(),
                     [](const Stored* a, const Stored* b) { return a->modstamp < b->modstamp; });
    cursor = absl::StrCat("01gFAKE", ++cursor_counter_);
    auto& texts = cursors_[cursor];
    for (const Stored* stored : result) texts.push_back(stored->text);
  }
  return PageFrom(cursor, 0, batch);
}

ScriptedResponse FakeSalesforce::Page(const RecordedRequest& r) {
  if (auto denied = Admit(r)) return *denied;
  // /services/data/v59.0/query/<cursor>-<offset>
  absl::string_view tail = absl::string_view(r.path).substr(QueryPath().size() + 1);
  const size_t dash = tail.rfind('-');
  size_t offset = 0;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(tail.substr(dash + 1), &offset)) {
    return SfJson(404, Error("NOT_FOUND", "bad cursor").dump());
  }
  size_t batch = 2000;
  const std::string options = r.Header("Sforce-Query-Options");
  if (absl::StartsWith(options, "batchSize=")) {
    if (!absl::SimpleAtoi(absl::string_view(options).substr(10), &batch)) batch = 2000;
  }
  {
    absl::MutexLock lock(&mu_);
    if (cursors_.count(std::string(tail.substr(0, dash))) == 0) {
      return SfJson(400, Error("INVALID_QUERY_LOCATOR", "invalid query locator").dump());
    }
  }
  return PageFrom(std::string(tail.substr(0, dash)), offset, batch);
}

}  // namespace dealcoach::connectors::salesforce
