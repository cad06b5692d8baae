#include "connectors/salesforce/salesforce_connector.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "connectors/common/config.h"
#include "connectors/common/secrets.h"
#include "connectors/registry.h"
#include "connectors/salesforce/jwt.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors::salesforce {

using nlohmann::json;

namespace {

// Upper bound on one SyncChangedSince pass (all pages). Generous: a first sync of a large
// org pages through everything; a pass that takes longer is stuck, not slow.
constexpr absl::Duration kSyncDeadline = absl::Minutes(10);

constexpr absl::string_view kCrm = "salesforce";
// Extra GETs of a response whose body is not valid JSON.
constexpr int kMalformedRetries = 2;
constexpr absl::string_view kTokenPath = "/services/oauth2/token";

// obj[key] as a string, or "" when absent or not a string (bodies are untrusted).
std::string StringField(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// "INVALID_SESSION_ID: Session expired or invalid" from [{"message","errorCode"}], or ""
// when the body is not in that shape. Also returns the first errorCode.
std::string ErrorDetail(absl::string_view body, std::string* code) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  std::vector<std::string> parts;
  if (doc.is_array()) {
    for (const json& e : doc) {
      if (!e.is_object()) continue;
      std::string error_code = StringField(e, "errorCode");
      std::string message = StringField(e, "message");
      if (code != nullptr && code->empty()) *code = error_code;
      parts.push_back(error_code.empty() ? message : absl::StrCat(error_code, ": ", message));
    }
  } else if (doc.is_object()) {
    // OAuth errors: {"error":"invalid_grant","error_description":"..."}.
    std::string error = StringField(doc, "error");
    std::string description = StringField(doc, "error_description");
    if (code != nullptr) *code = error;
    if (!error.empty()) parts.push_back(absl::StrCat(error, ": ", description));
  }
  if (parts.empty()) {
    std::string text(absl::StripAsciiWhitespace(body.substr(0, 200)));
    return text;
  }
  return absl::StrJoin(parts, "; ");
}

absl::Status Classify(const HttpResponse& response, absl::string_view call) {
  std::string code;
  const std::string detail = ErrorDetail(response.body, &code);
  absl::Status s = StatusFromHttp(response.status, kCrm, call, detail);
  if (code == "REQUEST_LIMIT_EXCEEDED") {
    // The org's rolling 24 h API quota: retrying now cannot help.
    return absl::ResourceExhaustedError(s.message());
  }
  if (response.status == 400 &&
      (code == "INVALID_FIELD" || code == "MALFORMED_QUERY" || code == "INVALID_TYPE" ||
       code == "INVALID_QUERY_FILTER_OPERATOR")) {
    // A mapped field is missing from the org (schema drift): fix the mapping first.
    return absl::FailedPreconditionError(s.message());
  }
  return s;
}

absl::Status ClassifyToken(const HttpResponse& response, absl::string_view call) {
  absl::Status s = Classify(response, call);
  if (response.status == 400 || response.status == 401 || response.status == 403) {
    // invalid_client, invalid_grant, ...: the credentials are wrong.
    return absl::UnauthenticatedError(s.message());
  }
  return s;
}

// Salesforce ids are 15 or 18 alphanumerics; anything else would be SOQL injection.
bool IsSalesforceId(absl::string_view id) {
  if (id.size() != 15 && id.size() != 18) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return absl::ascii_isalnum(c); });
}

// The relationship name of a list source ("OpportunityContactRoles.records" →
// "OpportunityContactRoles").
std::string Relationship(absl::string_view source) {
  return std::string(source.substr(0, source.find('.')));
}

// "Entity.Column" (case-insensitive) names `item` of the main SELECT list (`in_subquery`
// false) or of a relationship subquery. The error names the entity, not the
// relationship, so a dotted or subquery item matches any entity but Opportunity.
bool IsDropped(const std::vector<std::string>& dropped, const std::string& item, bool in_subquery) {
  for (const std::string& d : dropped) {
    const size_t dot = d.find('.');
    const std::string entity = d.substr(0, dot), column = d.substr(dot + 1);
    const size_t last = item.rfind('.');
    const std::string tail = last == std::string::npos ? item : item.substr(last + 1);
    if (!absl::EqualsIgnoreCase(tail, column)) continue;
    const bool direct = !in_subquery && last == std::string::npos;
    if (direct == absl::EqualsIgnoreCase(entity, "Opportunity")) return true;
  }
  return false;
}

// A SOQL string literal's body: quotes and backslashes escaped.
std::string SoqlQuote(absl::string_view v) {
  return absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"'", "\\'"}});
}

}  // namespace

bool SalesforceConnector::Dropped::Has(const std::string& relationship,
                                       const std::string& item) const {
  return paths.count({relationship, item}) > 0 ||
         IsDropped(columns, item, /*in_subquery=*/!relationship.empty());
}

namespace {

std::string BuildSelect(const OpportunityMapping& mapping, const std::string& modstamp,
                        const SalesforceConnector::Dropped& dropped) {
  std::vector<std::string> fields;
  for (std::string& f : mapping.ScalarSources()) {
    if (!dropped.Has("", f)) fields.push_back(std::move(f));
  }
  if (std::find(fields.begin(), fields.end(), "Id") == fields.end()) fields.push_back("Id");
  if (std::find(fields.begin(), fields.end(), modstamp) == fields.end()) {
    fields.push_back(modstamp);
  }
  std::sort(fields.begin(), fields.end());
  // Subqueries, one per relationship (two list mappings may share one).
  std::map<std::string, std::vector<std::string>> subqueries;
  // The subquery's WHERE: every list on the relationship filters rows on the same path
  // (`when: {Field: CloseDate}`), so only those values are fetched.
  std::map<std::string, std::optional<std::pair<std::string, std::set<std::string>>>> filters;
  for (const auto& list : mapping.ListSources()) {
    const std::string rel = Relationship(list.source);
    if (dropped.relationships.count(rel)) continue;
    std::vector<std::string>& f = subqueries[rel];
    for (const std::string& field : list.fields) {
      if (!dropped.Has(rel, field)) f.push_back(field);
    }
    auto [it, first] = filters.try_emplace(rel);
    if (list.when_equals.size() == 1 &&
        (first || (it->second.has_value() && it->second->first == list.when_equals[0].first))) {
      if (first) it->second.emplace(list.when_equals[0].first, std::set<std::string>());
      it->second->second.insert(list.when_equals[0].second);
    } else {
      it->second.reset();  // a list on it reads every row
    }
  }
  for (auto& [rel, f] : subqueries) {
    std::sort(f.begin(), f.end());
    f.erase(std::unique(f.begin(), f.end()), f.end());
    if (f.empty()) f.push_back("Id");
    // A meeting's attendees beyond its WhoId: EventRelation rows (RelationId = contact,
    // lead or user), nested under Events (REST API v58.0+ allows five levels of
    // parent-to-child subqueries). MapRecord folds them into WhoId.
    if (rel == "Events" && !dropped.Has("EventRelations", "RelationId") &&
        !dropped.relationships.count("EventRelations")) {
      f.push_back("(SELECT RelationId FROM EventRelations)");
    }
    std::string where;
    if (const auto& filter = filters[rel]; filter.has_value() && !dropped.Has(rel, filter->first)) {
      std::vector<std::string> values;
      for (const std::string& v : filter->second)
        values.push_back(absl::StrCat("'", SoqlQuote(v), "'"));
      where = absl::StrCat(" WHERE ", filter->first, " IN (", absl::StrJoin(values, ", "), ")");
    }
    fields.push_back(absl::StrCat("(SELECT ", absl::StrJoin(f, ", "), " FROM ", rel, where, ")"));
  }
  return absl::StrCat("SELECT ", absl::StrJoin(fields, ", "), " FROM Opportunity");
}

absl::Time TimestampToTime(const google::protobuf::Timestamp& ts) { return ToAbslTime(ts); }

// Close-date rows come in two shapes: OpportunityHistory snapshots (to_date only) and
// OpportunityFieldHistory changes (from_date → to_date). An org that has both records
// most changes twice: the snapshots become changes here (as normalisation would), and
// a field-history change that repeats one of them (same dates, saved within a minute)
// is dropped; the rest is kept, oldest first.
void MergeCloseDateHistory(v1::Opportunity* opp) {
  using Change = v1::CloseDateChange;
  auto* history = opp->mutable_close_date_history();
  std::vector<Change> snapshots, changes;
  for (Change& c : *history) (c.has_from_date() ? changes : snapshots).push_back(std::move(c));
  const auto same = [](const google::protobuf::Timestamp& a, const google::protobuf::Timestamp& b) {
    return a.seconds() == b.seconds() && a.nanos() == b.nanos();
  };
  const auto by_time = [](const Change& a, const Change& b) {
    return ToAbslTime(a.changed_at()) < ToAbslTime(b.changed_at());
  };
  std::stable_sort(snapshots.begin(), snapshots.end(), by_time);
  std::vector<Change> merged;
  for (size_t i = 1; i < snapshots.size(); ++i) {
    const Change& before = snapshots[i - 1];
    const Change& after = snapshots[i];
    if (!before.has_to_date() || !after.has_to_date() || same(before.to_date(), after.to_date())) {
      continue;
    }
    Change& c = merged.emplace_back();
    *c.mutable_from_date() = before.to_date();
    *c.mutable_to_date() = after.to_date();
    if (after.has_changed_at()) *c.mutable_changed_at() = after.changed_at();
  }
  const size_t from_snapshots = merged.size();
  for (Change& c : changes) {
    const bool repeated =
        std::any_of(merged.begin(), merged.begin() + from_snapshots, [&](const Change& m) {
          return same(m.from_date(), c.from_date()) && same(m.to_date(), c.to_date()) &&
                 absl::AbsDuration(ToAbslTime(m.changed_at()) - ToAbslTime(c.changed_at())) <=
                     absl::Minutes(1);
        });
    if (!repeated) merged.push_back(std::move(c));
  }
  std::stable_sort(merged.begin(), merged.end(), by_time);
  history->Clear();
  for (Change& c : merged) *history->Add() = std::move(c);
}

// OpportunityHistory has a row per change of any tracked field; keep stage changes only,
// oldest first, and derive stage_entered_at.
void TidyHistory(v1::Opportunity* opp) {
  auto* history = opp->mutable_stage_history();
  std::stable_sort(history->begin(), history->end(),
                   [](const v1::StageChange& a, const v1::StageChange& b) {
                     return TimestampToTime(a.entered_at()) < TimestampToTime(b.entered_at());
                   });
  google::protobuf::RepeatedPtrField<v1::StageChange> collapsed;
  for (const v1::StageChange& change : *history) {
    if (!collapsed.empty() && collapsed.rbegin()->stage() == change.stage()) continue;
    *collapsed.Add() = change;
  }
  history->Swap(&collapsed);
  if (!history->empty() && opp->has_stage() && history->rbegin()->stage() == opp->stage() &&
      !opp->has_stage_entered_at()) {
    *opp->mutable_stage_entered_at() = history->rbegin()->entered_at();
  }
  auto* activities = opp->mutable_activities();
  std::stable_sort(activities->begin(), activities->end(),
                   [](const v1::Activity& a, const v1::Activity& b) {
                     return TimestampToTime(a.at()) < TimestampToTime(b.at());
                   });
}

}  // namespace

std::string SoqlDateTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

SalesforceConnector::SalesforceConnector(SalesforceOptions options,
                                         std::unique_ptr<HttpClient> client)
    : options_(std::move(options)), client_(std::move(client)) {
  if (options_.clock == nullptr) options_.clock = Clock::Real();
  http_ = std::make_unique<ResilientHttp>(std::string(kCrm), client_.get(), options_.resilience,
                                          options_.clock);
  absl::MutexLock lock(&select_mu_);
  select_ = BuildSelect(options_.mapping, options_.modstamp_field, Dropped());
}

std::string SalesforceConnector::select_clause() const {
  absl::MutexLock lock(&select_mu_);
  return select_;
}

std::vector<std::string> SalesforceConnector::dropped_columns() const {
  absl::MutexLock lock(&select_mu_);
  return dropped_;
}

namespace {

// Describe result helpers (the DescribeSObjectResult shape: fields[{name,
// relationshipName, referenceTo}], childRelationships[{relationshipName, childSObject}]).
bool DescribedHasField(const json& describe, absl::string_view name) {
  const json* fields = FindPath(describe, "fields");
  if (fields == nullptr || !fields->is_array()) return true;  // unreadable: assume present
  for (const json& f : *fields) {
    if (absl::EqualsIgnoreCase(StringField(f, "name"), name)) return true;
  }
  return false;
}

// What a describe says about a relationship: the object it reaches, that the object has
// no such relationship, or nothing checkable (polymorphic, such as Who: Contact or Lead,
// or an unreadable describe), which is left to the query.
struct Reached {
  enum Kind { kObject, kMissing, kUnchecked } kind = kUnchecked;
  std::string object;
};

// A parent relationship ("Account", "Owner", "Manager") of a described object.
Reached DescribedParent(const json& describe, absl::string_view relationship) {
  const json* fields = FindPath(describe, "fields");
  if (fields == nullptr || !fields->is_array()) return {};
  for (const json& f : *fields) {
    if (!absl::EqualsIgnoreCase(StringField(f, "relationshipName"), relationship)) continue;
    const json* to = FindPath(f, "referenceTo");
    if (to != nullptr && to->is_array() && to->size() == 1 && (*to)[0].is_string()) {
      return {Reached::kObject, (*to)[0].get<std::string>()};
    }
    return {};
  }
  return {Reached::kMissing, ""};
}

// A child relationship ("OpportunityContactRoles", "Histories") of a described object.
Reached DescribedChild(const json& describe, absl::string_view relationship) {
  const json* children = FindPath(describe, "childRelationships");
  if (children == nullptr || !children->is_array()) return {};
  for (const json& c : *children) {
    if (absl::EqualsIgnoreCase(StringField(c, "relationshipName"), relationship)) {
      const std::string child = StringField(c, "childSObject");
      if (child.empty()) return {};
      return {Reached::kObject, child};
    }
  }
  return {Reached::kMissing, ""};
}

}  // namespace

void SalesforceConnector::CheckFieldsOnce(absl::Time deadline) {
  if (!options_.describe_fields) return;
  // Callers wait for the one check (it runs before the first query, at start-up).
  absl::MutexLock lock(&schema_mu_);
  if (schema_checked_) return;
  std::map<std::string, json> described;
  auto describe = [&](const std::string& object) -> absl::StatusOr<const json*> {
    auto it = described.find(object);
    if (it != described.end()) return &it->second;
    DC_ASSIGN_OR_RETURN(json d, GetJson(absl::StrCat("/services/data/", options_.api_version,
                                                     "/sobjects/", UrlEncode(object), "/describe"),
                                        deadline));
    return &(described[object] = std::move(d));
  };
  // Select items the org lacks: (relationship or "", item, display name, why).
  struct Missing {
    std::string relationship, item, name, why;
  };
  std::vector<Missing> missing;
  std::vector<std::pair<std::string, std::string>> missing_children;  // (relationship, why)
  // `path` read on an `object` row (`relationship` "" for the main SELECT): a field, or
  // parent relationships ending in a field ("Account.Owner.Name", "Owner.Manager.Name"),
  // every hop checked against the describe of the object it reaches.
  auto check = [&](const std::string& object, const std::string& relationship,
                   const std::string& path) -> absl::Status {
    const std::vector<std::string> hops = absl::StrSplit(path, '.');
    std::string on = object;
    for (size_t i = 0; i + 1 < hops.size(); ++i) {
      DC_ASSIGN_OR_RETURN(const json* d, describe(on));
      const Reached parent = DescribedParent(*d, hops[i]);
      if (parent.kind == Reached::kUnchecked) return absl::OkStatus();
      if (parent.kind == Reached::kMissing) {
        missing.push_back({relationship, path, absl::StrCat(object, ".", path),
                           absl::StrCat(on, " has no relationship ", hops[i])});
        return absl::OkStatus();
      }
      on = parent.object;
    }
    DC_ASSIGN_OR_RETURN(const json* d, describe(on));
    if (!DescribedHasField(*d, hops.back())) {
      // One hop or none: named "Entity.Column" as the org's own errors name it.
      missing.push_back(
          {relationship, path,
           hops.size() <= 2 ? absl::StrCat(on, ".", hops.back()) : absl::StrCat(object, ".", path),
           absl::StrCat(on, " has no field ", hops.back())});
    }
    return absl::OkStatus();
  };
  const absl::Status s = [&]() -> absl::Status {
    for (const std::string& f : options_.mapping.ScalarSources()) {
      DC_RETURN_IF_ERROR(check("Opportunity", "", f));
    }
    // Pointers into `described` stay valid (std::map nodes do not move).
    DC_ASSIGN_OR_RETURN(const json* opportunity, describe("Opportunity"));
    std::set<std::string> children_checked;
    for (const auto& list : options_.mapping.ListSources()) {
      const std::string rel = Relationship(list.source);
      const Reached child = DescribedChild(*opportunity, rel);
      if (child.kind == Reached::kMissing) {
        if (children_checked.insert(rel).second) {
          missing_children.emplace_back(rel, absl::StrCat("Opportunity has no child relationship ",
                                                          rel, " (or this user cannot read it)"));
        }
        continue;
      }
      if (child.kind != Reached::kObject) continue;
      for (const std::string& f : list.fields) DC_RETURN_IF_ERROR(check(child.object, rel, f));
    }
    return absl::OkStatus();
  }();
  if (!s.ok()) {
    // Worth another try before the next query: the org was briefly unreachable. Not
    // when its API quota is spent (describes would eat what the sync needs).
    const bool transient = s.code() == absl::StatusCode::kUnavailable ||
                           s.code() == absl::StatusCode::kDeadlineExceeded;
    std::cerr << "salesforce: warning: could not describe the org's objects (" << s.message()
              << "); "
              << (transient ? "trying again before the next query"
                            : "fields the org lacks are found from INVALID_FIELD errors instead")
              << "\n";
    if (!transient) schema_checked_ = true;
    return;
  }
  schema_checked_ = true;
  std::vector<std::string> warnings;
  {
    absl::MutexLock select_lock(&select_mu_);
    for (const Missing& m : missing) {
      if (!drops_.paths.insert({m.relationship, m.item}).second) continue;
      if (std::find(dropped_.begin(), dropped_.end(), m.name) == dropped_.end()) {
        dropped_.push_back(m.name);
      }
      warnings.push_back(absl::StrCat(
          "this org has no ", m.name, " (describe: ", m.why,
          "); left it out of the query, its canonical field stays unset (\"not recorded\")"));
    }
    for (const auto& [rel, why] : missing_children) {
      if (!drops_.relationships.insert(rel).second) continue;
      dropped_.push_back(absl::StrCat("Opportunity.", rel));
      std::vector<std::string> targets;
      for (const auto& list : options_.mapping.ListSources()) {
        if (Relationship(list.source) == rel) targets.push_back(list.target);
      }
      warnings.push_back(absl::StrCat("this org has no Opportunity.", rel, " (describe: ", why,
                                      "); left the subquery out, ", absl::StrJoin(targets, ", "),
                                      " from it stays unknown (\"not recorded\")"));
    }
    // A list whose every source relationship is gone is unknown, not empty.
    std::map<std::string, bool> any_source;
    for (const auto& list : options_.mapping.ListSources()) {
      any_source[list.target] |= drops_.relationships.count(Relationship(list.source)) == 0;
    }
    unrecorded_lists_.clear();
    for (const auto& [target, any] : any_source) {
      if (!any) unrecorded_lists_.push_back(target);
    }
    select_ = BuildSelect(options_.mapping, options_.modstamp_field, drops_);
  }
  for (const std::string& w : warnings) std::cerr << "salesforce: warning: " << w << "\n";
}

absl::Status SalesforceConnector::QueryWithSelect(
    const std::function<std::string(const std::string& select)>& make_soql, absl::Time deadline,
    const std::function<absl::Status(const json&)>& on_record, int64_t* pages) {
  CheckFieldsOnce(deadline);
  for (int attempt = 0;; ++attempt) {
    const std::string select = select_clause();
    bool delivered = false;
    absl::Status s = Query(
        make_soql(select), deadline,
        [&](const json& record) {
          delivered = true;
          return on_record(record);
        },
        pages);
    if (s.ok() || delivered || attempt >= 50 || s.code() != absl::StatusCode::kFailedPrecondition ||
        !absl::StrContains(s.message(), "INVALID_FIELD")) {
      return s;
    }
    // "No such column 'Foo__c' on entity 'Opportunity'."
    const absl::string_view m = s.message();
    const size_t c = m.find("No such column '");
    const size_t e = m.find("' on entity '");
    if (c == absl::string_view::npos || e == absl::string_view::npos || e < c) return s;
    const std::string column(m.substr(c + 16, e - c - 16));
    const size_t e_end = m.find('\'', e + 13);
    if (e_end == absl::string_view::npos) return s;
    const std::string dropped = absl::StrCat(m.substr(e + 13, e_end - e - 13), ".", column);
    {
      absl::MutexLock lock(&select_mu_);
      if (select_ != select) continue;  // another thread dropped one meanwhile
      Dropped next = drops_;
      next.columns.push_back(dropped);
      std::string rebuilt = BuildSelect(options_.mapping, options_.modstamp_field, next);
      if (rebuilt == select_) return s;  // not a column of ours: a real error
      drops_ = std::move(next);
      dropped_.push_back(dropped);
      select_ = std::move(rebuilt);
    }
    std::cerr << "salesforce: warning: this org has no " << dropped
              << " (INVALID_FIELD); dropped it from the query, its canonical field stays "
                 "unset (\"not recorded\")\n";
  }
}

absl::StatusOr<std::unique_ptr<SalesforceConnector>> SalesforceConnector::Create(
    SalesforceOptions options) {
  if (options.login_url.empty())
    return absl::InvalidArgumentError("salesforce: login_url is empty");
  if (options.client_id.empty())
    return absl::InvalidArgumentError("salesforce: client_id is empty");
  if (options.jwt_username.empty() && options.client_secret.empty()) {
    return absl::InvalidArgumentError(
        "salesforce: set client_secret_env/_file (client credentials) or jwt (JWT bearer)");
  }
  while (absl::EndsWith(options.login_url, "/")) options.login_url.pop_back();
  DC_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(options.http));
  return std::unique_ptr<SalesforceConnector>(
      new SalesforceConnector(std::move(options), std::move(client)));
}

absl::StatusOr<SalesforceConnector::Token> SalesforceConnector::RequestToken(absl::Time deadline) {
  std::vector<std::pair<std::string, std::string>> form;
  if (!options_.jwt_username.empty()) {
    const int64_t exp = absl::ToUnixSeconds(options_.clock->Now() + absl::Minutes(3));
    json claims = {{"iss", options_.client_id},
                   {"sub", options_.jwt_username},
                   {"aud", options_.jwt_audience},
                   {"exp", exp}};
    absl::StatusOr<std::string> assertion =
        SignJwtRs256(claims.dump(), options_.jwt_private_key_pem);
    if (!assertion.ok()) {
      return absl::Status(assertion.status().code(),
                          absl::StrCat("salesforce: ", assertion.status().message()));
    }
    form = {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
            {"assertion", *assertion}};
  } else {
    form = {{"grant_type", "client_credentials"},
            {"client_id", options_.client_id},
            {"client_secret", options_.client_secret}};
  }
  HttpRequest request;
  request.method = "POST";
  request.url = absl::StrCat(options_.login_url, kTokenPath);
  request.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                     {"Accept", "application/json"}};
  request.body = FormEncode(form);
  request.deadline = deadline;
  DC_ASSIGN_OR_RETURN(HttpResponse response, http_->Execute(request, &ClassifyToken));
  json doc = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  const std::string call = DescribeCall("POST", request.url);
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string() ||
      !doc.contains("instance_url") || !doc["instance_url"].is_string()) {
    return absl::UnavailableError(
        absl::StrCat("salesforce: ", call, ": token response lacks access_token/instance_url"));
  }
  Token token{StringField(doc, "access_token"), StringField(doc, "instance_url")};
  while (absl::EndsWith(token.instance_url, "/")) token.instance_url.pop_back();
  return token;
}

absl::StatusOr<SalesforceConnector::Token> SalesforceConnector::GetToken(absl::Time deadline) {
  {
    absl::MutexLock lock(&token_mu_);
    if (token_.has_value()) return *token_;
  }
  // Two threads may both fetch on a cold start; the last one wins, both tokens are valid.
  DC_ASSIGN_OR_RETURN(Token token, RequestToken(deadline));
  absl::MutexLock lock(&token_mu_);
  token_ = token;
  return token;
}

void SalesforceConnector::InvalidateToken(const std::string& stale) {
  absl::MutexLock lock(&token_mu_);
  if (token_.has_value() && token_->access_token == stale) token_.reset();
}

absl::StatusOr<json> SalesforceConnector::GetJson(const std::string& path_and_query,
                                                  absl::Time deadline) {
  // A body that does not parse (cut short by a proxy, garbled) is asked for again, up
  // to twice, before the call (and with it the pass) fails: GETs are safe to repeat.
  int malformed = 0;
  for (int attempt = 0;; ++attempt) {
    DC_ASSIGN_OR_RETURN(Token token, GetToken(deadline));
    HttpRequest request;
    request.url = absl::StrCat(token.instance_url, path_and_query);
    request.headers = {{"Authorization", absl::StrCat("Bearer ", token.access_token)},
                       {"Accept", "application/json"},
                       {"Sforce-Query-Options", absl::StrCat("batchSize=", options_.page_size)}};
    request.deadline = deadline;
    absl::StatusOr<HttpResponse> response = http_->Execute(request, &Classify);
    if (!response.ok()) {
      // Salesforce sends no token lifetime: a 401 means "get a new one", once.
      if (response.status().code() == absl::StatusCode::kUnauthenticated && attempt == 0) {
        InvalidateToken(token.access_token);
        continue;
      }
      return response.status();
    }
    json doc = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() && malformed++ < kMalformedRetries) continue;
    if (doc.is_discarded()) {
      return absl::UnavailableError(absl::StrCat(
          "salesforce: ", DescribeCall("GET", request.url), ": response is not valid JSON (",
          response->body.size(), " bytes, ", kMalformedRetries + 1, " times)"));
    }
    return doc;
  }
}

std::string SalesforceConnector::QueryPath(absl::string_view soql) const {
  return absl::StrCat("/services/data/", options_.api_version, "/query?q=", UrlEncode(soql));
}

absl::Status SalesforceConnector::Query(const std::string& soql, absl::Time deadline,
                                        const std::function<absl::Status(const json&)>& on_record,
                                        int64_t* pages) {
  std::string path = QueryPath(soql);
  for (;;) {
    DC_ASSIGN_OR_RETURN(json page, GetJson(path, deadline));
    if (pages != nullptr) ++*pages;
    const json* records = page.is_object() ? FindPath(page, "records") : nullptr;
    if (records == nullptr || !records->is_array()) {
      return absl::FailedPreconditionError(absl::StrCat("salesforce: ", DescribeCall("GET", path),
                                                        ": query response has no records array"));
    }
    for (const json& record : *records) DC_RETURN_IF_ERROR(on_record(record));
    const json* done_field = FindPath(page, "done");
    const bool done = done_field == nullptr || !done_field->is_boolean() || done_field->get<bool>();
    if (done) return absl::OkStatus();
    const json* next = FindPath(page, "nextRecordsUrl");
    if (next == nullptr || !next->is_string() || !absl::StartsWith(next->get<std::string>(), "/")) {
      return absl::FailedPreconditionError(absl::StrCat("salesforce: ", DescribeCall("GET", path),
                                                        ": done=false without nextRecordsUrl"));
    }
    path = next->get<std::string>();
  }
}

// Folds each Event's EventRelations (attendees other than the WhoId) into its WhoId as
// "003A;003B" (the mapping splits ';' into participant_ids). Only contact (003) and
// lead (00Q) ids: users (005) are our side, and the WhatId relation is the deal itself.
// Returns null when no Event has relations (the record maps as it is).
namespace {
std::unique_ptr<json> WithEventAttendees(const json& record) {
  const json* events = FindPath(record, "Events.records");
  if (events == nullptr || !events->is_array()) return nullptr;
  bool any = false;
  for (const json& e : *events) any = any || FindPath(e, "EventRelations.records") != nullptr;
  if (!any) return nullptr;
  auto out = std::make_unique<json>(record);
  for (json& e : (*out)["Events"]["records"]) {
    const json* rel = FindPath(e, "EventRelations.records");
    if (rel == nullptr || !rel->is_array()) continue;
    std::vector<std::string> ids;
    const std::string who = StringField(e, "WhoId");
    if (!who.empty()) ids.push_back(who);
    for (const json& r : *rel) {
      const std::string id = StringField(r, "RelationId");
      if (!(absl::StartsWith(id, "003") || absl::StartsWith(id, "00Q"))) continue;
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    if (!ids.empty()) e["WhoId"] = absl::StrJoin(ids, ";");
  }
  return out;
}
}  // namespace

v1::Opportunity SalesforceConnector::MapRecord(const json& record) {
  v1::Opportunity opp;
  MappingIssues issues;
  const std::unique_ptr<json> folded = WithEventAttendees(record);
  options_.mapping.Apply(folded != nullptr ? *folded : record, &opp, &issues);
  TidyHistory(&opp);
  if (std::any_of(opp.close_date_history().begin(), opp.close_date_history().end(),
                  [](const v1::CloseDateChange& c) { return c.has_from_date(); })) {
    MergeCloseDateHistory(&opp);
  }
  {
    // Lists read only from relationships this org lacks: unknown, not empty.
    absl::MutexLock lock(&select_mu_);
    for (const std::string& list : unrecorded_lists_) opp.add_not_recorded(list);
  }
  if (issues.count > 0) {
    mapping_issues_ += issues.count;
    absl::MutexLock lock(&issue_mu_);
    last_mapping_issue_ = absl::StrCat(opp.id(), ": ", issues.samples.front());
  }
  return opp;
}

absl::StatusOr<v1::Opportunity> SalesforceConnector::FetchOpportunity(absl::string_view id,
                                                                      absl::Time deadline) {
  if (!IsSalesforceId(id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("salesforce: \"", id, "\" is not a Salesforce id (15 or 18 letters/digits)"));
  }
  auto make_soql = [&](const std::string& select) {
    std::string soql = absl::StrCat(select, " WHERE Id = '", id, "'");
    if (!options_.where.empty()) absl::StrAppend(&soql, " AND (", options_.where, ")");
    return soql;
  };
  std::optional<v1::Opportunity> found;
  DC_RETURN_IF_ERROR(QueryWithSelect(make_soql, deadline, [&](const json& record) {
    found = MapRecord(record);
    return absl::OkStatus();
  }));
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrCat("salesforce: GET /services/data/", options_.api_version,
                                            "/query: no Opportunity with Id ", id));
  }
  return *std::move(found);
}

absl::StatusOr<SyncResult> SalesforceConnector::SyncChangedSince(
    absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) {
  absl::Time lower = since;
  {
    absl::MutexLock lock(&resume_mu_);
    if (resume_.has_value() && resume_->since <= since && resume_->mark > since) {
      lower = resume_->mark;
    }
  }
  std::vector<std::string> where;
  if (lower != absl::InfinitePast()) {
    where.push_back(absl::StrCat(options_.modstamp_field, " >= ", SoqlDateTime(lower)));
  }
  if (!options_.where.empty()) where.push_back(absl::StrCat("(", options_.where, ")"));
  auto make_soql = [&](const std::string& select) {
    std::string soql = select;
    if (!where.empty()) absl::StrAppend(&soql, " WHERE ", absl::StrJoin(where, " AND "));
    absl::StrAppend(&soql, " ORDER BY ", options_.modstamp_field, " ASC");
    return soql;
  };

  SyncResult result;
  result.high_water_mark = lower;
  // Every sync has a deadline: a stalled pass fails and the next one resumes from the
  // high-water mark instead of hanging the sync thread.
  const absl::Time deadline = absl::Now() + kSyncDeadline;
  const int64_t failed_before = http_->failed_attempts();
  absl::Status s = QueryWithSelect(
      make_soql, deadline,
      [&](const json& record) {
        if (const json* stamp = FindPath(record, options_.modstamp_field);
            stamp != nullptr && stamp->is_string()) {
          absl::StatusOr<absl::Time> t = ParseCrmTime(stamp->get<std::string>());
          if (t.ok()) result.high_water_mark = std::max(result.high_water_mark, *t);
        }
        DC_RETURN_IF_ERROR(sink(MapRecord(record)));
        ++result.count;
        return absl::OkStatus();
      },
      &result.pages);
  absl::MutexLock lock(&resume_mu_);
  if (!s.ok()) {
    if (result.count > 0 && result.high_water_mark > since) {
      resume_ = Resume{since, result.high_water_mark};
      return absl::Status(s.code(), absl::StrCat(s.message(), " (after ", result.count,
                                                 " records; the next pass resumes at ",
                                                 SoqlDateTime(result.high_water_mark), ")"));
    }
    return s;
  }
  resume_.reset();
  result.errors = http_->failed_attempts() - failed_before;
  return result;
}

absl::StatusOr<std::vector<std::string>> SalesforceConnector::ListIds(absl::Time deadline) {
  std::string soql = "SELECT Id FROM Opportunity";
  if (!options_.where.empty()) absl::StrAppend(&soql, " WHERE (", options_.where, ")");
  std::vector<std::string> ids;
  DC_RETURN_IF_ERROR(Query(soql, deadline, [&](const json& record) {
    if (const json* id = FindPath(record, "Id"); id != nullptr && id->is_string()) {
      ids.push_back(id->get<std::string>());
    }
    return absl::OkStatus();
  }));
  return ids;
}

ConnectorHealth SalesforceConnector::Health() const {
  ConnectorHealth health = http_->Health();
  if (const std::vector<std::string> dropped = dropped_columns(); !dropped.empty()) {
    absl::StrAppend(&health.detail, " (columns this org lacks, left out of the query: ",
                    absl::StrJoin(dropped, ", "), ")");
  }
  const int64_t issues = mapping_issues_.load();
  if (issues > 0) {
    absl::MutexLock lock(&issue_mu_);
    absl::StrAppend(&health.detail, " (", issues,
                    " field values did not convert; last: ", last_mapping_issue_, ")");
  }
  return health;
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class SalesforceConnectorFactory : public ConnectorFactory {
 public:
  absl::string_view type() const override { return "salesforce"; }
  absl::StatusOr<std::unique_ptr<Connector>> Create(
      const YAML::Node& config, const ConnectorContext& context) const override {
    ConfigReader r(config, context);
    DC_RETURN_IF_ERROR(
        r.CheckHttpConnectorKeys({"login_url", "api_version", "client_id", "client_secret_env",
                                  "client_secret_file", "client_secret", "jwt", "page_size",
                                  "modstamp_field", "where", "describe_fields", "mapping"}));
    SalesforceOptions o;
    DC_ASSIGN_OR_RETURN(o.login_url, r.String("login_url"));
    DC_ASSIGN_OR_RETURN(o.api_version, r.String("api_version", o.api_version));
    if (!absl::StartsWith(o.api_version, "v")) o.api_version = absl::StrCat("v", o.api_version);
    DC_ASSIGN_OR_RETURN(o.client_id, r.String("client_id"));
    DC_ASSIGN_OR_RETURN(int64_t page_size, r.Int("page_size", o.page_size));
    if (page_size < 200 || page_size > 2000) {
      return ConfigError(config["page_size"], context, "`page_size` must be 200..2000");
    }
    o.page_size = static_cast<int>(page_size);
    DC_ASSIGN_OR_RETURN(o.modstamp_field, r.String("modstamp_field", o.modstamp_field));
    DC_ASSIGN_OR_RETURN(o.where, r.String("where", ""));
    DC_ASSIGN_OR_RETURN(o.describe_fields, r.Bool("describe_fields", o.describe_fields));
    DC_ASSIGN_OR_RETURN(YAML::Node jwt, r.Map("jwt"));
    if (jwt.IsMap()) {
      ConfigReader j(jwt, context);
      DC_RETURN_IF_ERROR(j.CheckKeys({"username", "private_key_file", "audience"}));
      DC_ASSIGN_OR_RETURN(o.jwt_username, j.String("username"));
      DC_ASSIGN_OR_RETURN(o.jwt_audience, j.String("audience", o.jwt_audience));
      DC_ASSIGN_OR_RETURN(std::string key_file, j.String("private_key_file"));
      absl::StatusOr<std::string> pem = ReadFile(ResolvePath(key_file, context));
      if (!pem.ok()) return ConfigError(jwt["private_key_file"], context, pem.status().message());
      o.jwt_private_key_pem = *std::move(pem);
      if (r.Has("client_secret_env") || r.Has("client_secret_file")) {
        return ConfigError(jwt, context, "use either jwt or client_secret_env/_file, not both");
      }
    } else {
      DC_ASSIGN_OR_RETURN(o.client_secret, ReadSecret(config, "client_secret", context));
    }
    DC_ASSIGN_OR_RETURN(o.http, ParseHttpClientOptions(r));
    ResilienceOptions defaults;
    // Salesforce allows 25 concurrent long requests and a daily quota; stay gentle.
    defaults.rate_limit = {/*requests_per_second=*/5, /*burst=*/10};
    DC_ASSIGN_OR_RETURN(o.resilience, ParseResilience(r, defaults));
    auto mapping = OpportunityMapping::Parse(kDefaultMappingYaml,
                                             "connectors/salesforce/default_mapping.yaml");
    if (!mapping.ok()) return mapping.status();
    o.mapping = *std::move(mapping);
    if (r.Has("mapping")) {
      DC_RETURN_IF_ERROR(o.mapping.Merge(config["mapping"], context.config_file));
    }
    auto connector = SalesforceConnector::Create(std::move(o));
    if (!connector.ok()) return ConfigError(config, context, connector.status().message());
    return std::unique_ptr<Connector>(std::move(*connector));
  }
};

}  // namespace

DEALCOACH_REGISTER_CONNECTOR(SalesforceConnectorFactory);

}  // namespace dealcoach::connectors::salesforce
