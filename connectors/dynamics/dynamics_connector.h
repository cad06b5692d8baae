// DynamicsConnector: reads opportunities from Dynamics 365 Sales through the Dataverse
// Web API (OData v4).
//
// Authentication is Microsoft Entra ID client credentials: POST
// {authority}/{tenant_id}/oauth2/v2.0/token with scope {org_url}/.default. The token is
// cached until a minute before `expires_in`; a 401 from the API refreshes it once and
// retries the call.
//
// Calls (all through ResilientHttp: request budget, retries honouring Retry-After on
// 429 service-protection limits and 5xx, circuit breaker):
//   FetchOpportunity  GET {org}/api/data/v9.2/opportunities(<id>)?$select=...&$expand=...
//   sync              GET {org}/api/data/v9.2/opportunities?$select=...&$expand=...
//                         &$filter=modifiedon ge <since>&$orderby=modifiedon asc,...
//                         with `Prefer: odata.maxpagesize=N`, following @odata.nextLink
//   first, once        GET .../EntityDefinitions(LogicalName='<entity>')/Attributes
//                         ?$select=LogicalName (opportunity, contact, account,
//                         transactioncurrency): mapped attributes the environment
//                         lacks are left out of every $select, with a warning each
//   then per 25 ids   GET .../connections?$filter=(_record1id_value eq ... or ...) and
//                         record2objecttypecode eq 2      (stakeholders + roles)
//                     GET .../activitypointers?$filter=(_regardingobjectid_value eq ...)
//                     GET .../activityparties?$filter=(_activityid_value eq ...)
//                     (every chunk at once; at most max_concurrent_requests in flight)
// Every call sends `Prefer: odata.include-annotations="OData.Community.Display.V1.
// FormattedValue"` so option-set labels (salesstage, statecode) and lookup names come
// back; they are copied into `formatted.<attribute>` of each record for the YAML mapping.
//   once, at start-up  GET .../organizations?$select=isauditenabled and IsAuditEnabled of
//                         EntityDefinitions(LogicalName='opportunity') and its
//                         estimatedclosedate attribute (audit_history)
//   then per opportunity GET .../RetrieveRecordChangeHistory(Target=@target,...)
//                         where auditing covers estimatedclosedate: close-date changes
// Dataverse has no stage-history entity and the audit log gives no change times through
// the Web API, so stage_history is "not recorded"; close_date_history is too where
// auditing is off or its history is not readable.
//
// Thread safety: all methods are safe to call concurrently.
#ifndef DEALCOACH_CONNECTORS_DYNAMICS_DYNAMICS_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_DYNAMICS_DYNAMICS_CONNECTOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "connectors/common/http_client.h"
#include "connectors/common/mapping.h"
#include "connectors/common/resilience.h"
#include "connectors/connector.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors::dynamics {

// The default mapping (default_mapping.yaml, embedded at build time).
absl::string_view DefaultMappingYaml();

struct DynamicsOptions {
  // Environment URL, e.g. https://acme.crm.dynamics.com (required).
  std::string org_url;
  // Entra authority. Default: https://login.microsoftonline.com.
  std::string authority = "https://login.microsoftonline.com";
  // Directory (tenant) id and application (client) id (required).
  std::string tenant_id;
  std::string client_id;
  // A secret: from client_secret_env / client_secret_file.
  std::string client_secret;
  // OAuth scope. Default: "{org_url}/.default".
  std::string scope;
  // Web API version in the path. Default: v9.2.
  std::string api_version = "v9.2";
  // Prefer: odata.maxpagesize. Default: 500 (Dataverse allows up to 5,000).
  int page_size = 500;
  // $expand for opportunities.
  std::string expand =
      "parentaccountid($select=accountid,name,numberofemployees,industrycode),"
      "transactioncurrencyid($select=isocurrencycode),"
      // The owning user's manager (null when a team owns the opportunity).
      "owninguser($select=fullname,_parentsystemuserid_value)";
  // Read stakeholders (connections to contacts) and activities. Default: true.
  bool contacts = true;
  bool activities = true;
  // Read activity parties (who took part in each activity; contacts' last_met_at is
  // derived from them). Default: true.
  bool activity_parties = true;
  // Check the mapped attributes against the environment's metadata before the first
  // query (see CheckAttributesOnce). Default: true.
  bool check_attributes = true;
  // Read close-date changes from the audit log (RetrieveRecordChangeHistory, one call
  // per opportunity) where auditing covers opportunity.estimatedclosedate. Off, or
  // where auditing is off or the history is not readable (403), close_date_history is
  // "not recorded". Default: true.
  bool audit_history = true;
  // Upper bound for one whole sync pass. Default: 10 min.
  absl::Duration sync_timeout = absl::Minutes(10);
  HttpClientOptions http;
  ResilienceOptions resilience;
};

class DynamicsConnector : public Connector {
 public:
  // Builds a connector from its config section (keys in README.md). Does not call out.
  static absl::StatusOr<std::unique_ptr<DynamicsConnector>> Create(const YAML::Node& config,
                                                                   const ConnectorContext& context);

  static constexpr char kType[] = "dynamics";
  absl::string_view type() const override { return kType; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override;
  // Rows come ordered by modifiedon; a pass that fails after delivering some is resumed
  // by the next pass from the same (or an earlier) `since` at the last delivered
  // modifiedon, so a throttled sync makes progress instead of restarting at page 1.
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override;
  // Every deal id (the list endpoint / entity set, ids only, paged), so the cache can
  // evict deals deleted in the CRM.
  absl::StatusOr<std::vector<std::string>> ListIds(absl::Time deadline) override;
  ConnectorHealth Health() const override;
  // Attributes left out of the queries because this environment lacks them
  // ("opportunity.msdyn_forecastcategory", "contact.dc_confirmedpain").
  std::vector<std::string> dropped_attributes() const;
  // The most requests that were in flight to Dataverse at once (max_concurrent_requests).
  int max_in_flight() const { return http_->max_in_flight(); }

 private:
  DynamicsConnector(DynamicsOptions options, OpportunityMapping mapping, std::string select,
                    std::unique_ptr<HttpClient> client);

  // A valid access token; `force` fetches a new one even if the cached one looks valid.
  absl::StatusOr<std::string> AccessToken(absl::Time deadline, bool force);
  // GETs an absolute Web API URL and parses the JSON object it returns.
  absl::StatusOr<nlohmann::json> Get(const std::string& url, absl::Time deadline);
  // GETs a collection, following @odata.nextLink, and returns every row.
  absl::StatusOr<std::vector<nlohmann::json>> GetAll(const std::string& url, absl::Time deadline);
  // Adds dealcoach.contacts / dealcoach.activities to a page of opportunities.
  absl::Status Enrich(std::vector<nlohmann::json>* opportunities, absl::Time deadline);
  v1::Opportunity Map(const nlohmann::json& record) const;
  std::string ApiRoot() const;

  const DynamicsOptions options_;
  const OpportunityMapping mapping_;
  std::string ContactExpand() const;
  // The $select and $expand of opportunity queries, minus attributes this environment
  // lacks (CheckAttributesOnce).
  std::string Select() const;
  std::string Expand() const;
  // Once (until it succeeds or fails for good): reads the attribute lists of the
  // entities the mapping selects from (EntityDefinitions(LogicalName='opportunity')/
  // Attributes, and contact, account, transactioncurrency for the expanded columns) and
  // leaves out of every $select, with a warning each, the attributes this environment
  // lacks. Fails only when no access token can be had (the query would fail the same
  // way); a failed metadata read leaves the queries as they are.
  [[nodiscard]] absl::Status CheckAttributesOnce(absl::Time deadline);
  // Whether the audit log can give close-date changes: unknown until CheckAuditOnce
  // has read the audit settings; off when auditing is off or not readable.
  enum class AuditState { kUnknown, kOn, kOff };
  AuditState audit_state() const;
  // Sets the state; a change to off is logged once with `why`.
  void SetAuditState(AuditState state, const std::string& why);
  // Once (again after a transient failure): reads organizations.isauditenabled and
  // IsAuditEnabled of the opportunity table and its estimatedclosedate column.
  void CheckAuditOnce(absl::Time deadline);
  // The estimatedclosedate changes ({from, to[, changed_at]}) in the audit log of one
  // opportunity, or nullopt when the history turned out not readable (403).
  absl::StatusOr<std::optional<nlohmann::json>> CloseDateChanges(const std::string& id,
                                                                 absl::Time deadline);
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<ResilientHttp> http_;
  absl::Mutex audit_check_mu_;
  mutable absl::Mutex audit_mu_;
  AuditState audit_ ABSL_GUARDED_BY(audit_mu_) = AuditState::kUnknown;
  std::string audit_detail_ ABSL_GUARDED_BY(audit_mu_);
  struct Resume {
    absl::Time since;
    absl::Time mark;
  };
  absl::Mutex resume_mu_;
  std::optional<Resume> resume_ ABSL_GUARDED_BY(resume_mu_);
  absl::Mutex check_mu_;
  bool checked_ ABSL_GUARDED_BY(check_mu_) = false;
  mutable absl::Mutex schema_mu_;
  std::string select_ ABSL_GUARDED_BY(schema_mu_);
  std::string expand_ ABSL_GUARDED_BY(schema_mu_);
  // "entity.attribute" left out because this environment lacks it.
  std::vector<std::string> dropped_ ABSL_GUARDED_BY(schema_mu_);
  absl::Mutex token_mu_;
  std::string token_ ABSL_GUARDED_BY(token_mu_);
  absl::Time token_expires_ ABSL_GUARDED_BY(token_mu_) = absl::InfinitePast();
};

// Dataverse's OData error body ({"error":{"code","message"}}) as a Status.
absl::Status DataverseError(const HttpResponse& response, absl::string_view call);
// Entra's token error body ({"error","error_description"}) as a Status; a rejected
// client (invalid_client, unauthorized_client, invalid_grant) is Unauthenticated.
absl::Status EntraError(const HttpResponse& response, absl::string_view call);
// Copies "x@OData.Community.Display.V1.FormattedValue" annotations into
// `formatted.x`, recursively through nested objects and arrays.
void LiftFormattedValues(nlohmann::json* value);

}  // namespace dealcoach::connectors::dynamics

#endif  // DEALCOACH_CONNECTORS_DYNAMICS_DYNAMICS_CONNECTOR_H_
