// The Salesforce connector: opportunities over the Salesforce REST API.
//
//   - OAuth 2.0 at {login_url}/services/oauth2/token: client credentials
//     (client_id + client_secret) or the JWT bearer flow (RS256 assertion signed with the
//     connected app's private key). API calls go to the `instance_url` the token
//     response names, with `Authorization: Bearer`. Salesforce sends no expiry, so a 401
//     INVALID_SESSION_ID triggers one token refresh and one retry.
//   - SOQL through /services/data/<api_version>/query: the SELECT list and relationship
//     subqueries (OpportunityContactRoles, Tasks, Events, OpportunityHistories) come from
//     the field mapping; pages follow `nextRecordsUrl` (batchSize via
//     Sforce-Query-Options).
//   - Incremental sync: WHERE SystemModstamp >= <since> ORDER BY SystemModstamp.
//   - Org differences: before the first query the connector describes the objects the
//     mapping reads (GET /services/data/<v>/sobjects/<Object>/describe) and leaves the
//     fields this org lacks out of the SELECT, with a warning each; a column the
//     describe did not cover that still fails with INVALID_FIELD is dropped the same way.
//   - Errors: the [{"message","errorCode"}] body is decoded into the Status message;
//     403 REQUEST_LIMIT_EXCEEDED is ResourceExhausted, 400 INVALID_FIELD /
//     MALFORMED_QUERY / INVALID_TYPE (a mapped field missing from the org) is
//     FailedPrecondition, and 429/5xx/timeouts are retried by ResilientHttp.
//
// Config: see docs/connectors.md (connector: {type: salesforce, salesforce: {...}}).
//
// Thread safety: safe for concurrent use; the token is guarded by a mutex and the HTTP
// stack is thread-safe.
#ifndef DEALCOACH_CONNECTORS_SALESFORCE_SALESFORCE_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_SALESFORCE_SALESFORCE_CONNECTOR_H_

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "connectors/common/http_client.h"
#include "connectors/common/mapping.h"
#include "connectors/common/resilience.h"
#include "connectors/connector.h"

namespace dealcoach::connectors::salesforce {

// The embedded default_mapping.yaml.
extern const char kDefaultMappingYaml[];

struct SalesforceOptions {
  // Token endpoint base: https://<MyDomain>.my.salesforce.com (or login/test.salesforce.com).
  std::string login_url;
  // REST API version in paths. Default: v59.0.
  std::string api_version = "v59.0";
  std::string client_id;
  // Client credentials flow when jwt_username is empty.
  std::string client_secret;
  // JWT bearer flow: the integration user and the connected app's RSA private key (PEM).
  std::string jwt_username;
  std::string jwt_private_key_pem;
  // JWT `aud`. Default: https://login.salesforce.com (https://test.salesforce.com for
  // sandboxes).
  std::string jwt_audience = "https://login.salesforce.com";
  // Records per query page (Sforce-Query-Options batchSize, 200..2000). Default: 2000.
  int page_size = 2000;
  // The modification-time field for incremental sync. Default: SystemModstamp.
  std::string modstamp_field = "SystemModstamp";
  // Optional extra SOQL condition ANDed into every query, e.g. "IsDeleted = false".
  std::string where;
  // Before the first query, read the org's field lists (GET .../sobjects/{Object}/describe
  // for Opportunity, the objects its mapped relationships reach and its child
  // relationships' objects) and leave out of the SELECT, with one warning each, the
  // mapped fields this org lacks. Default: true. Off, such fields are found from the
  // queries' INVALID_FIELD errors instead (one failed query each).
  bool describe_fields = true;
  HttpClientOptions http;
  ResilienceOptions resilience;
  OpportunityMapping mapping;
  // Clock for retries and budgets. Default: Clock::Real().
  Clock* clock = nullptr;
};

class SalesforceConnector : public Connector {
 public:
  static absl::StatusOr<std::unique_ptr<SalesforceConnector>> Create(SalesforceOptions options);

  absl::string_view type() const override { return "salesforce"; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override;
  // Records come ordered by the modstamp field; a pass that fails after delivering some
  // (a throttled org, a 5xx burst) remembers the last delivered modstamp, and the next
  // pass from the same (or an earlier) `since` resumes there (records at exactly that
  // modstamp are delivered again), so progress is never lost.
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override;
  // SELECT Id FROM Opportunity with the configured `where`, paged like a sync.
  absl::StatusOr<std::vector<std::string>> ListIds(absl::Time deadline) override;
  ConnectorHealth Health() const override;

  // The SOQL SELECT ... FROM Opportunity built from the mapping (no WHERE), minus the
  // columns this org turned out not to have, for tests and docs.
  std::string select_clause() const;
  // Columns dropped from the SELECT because the org lacks them ("Opportunity.Foo__c",
  // "OpportunityContactRole.Confirmed_Pain__c"), in the order they were found.
  std::vector<std::string> dropped_columns() const;
  // Total record-level mapping problems seen (fields left unset).
  int64_t mapping_issue_count() const { return mapping_issues_.load(); }

  // What the SELECT leaves out because the org lacks it.
  struct Dropped {
    // Named by an INVALID_FIELD error: "Entity.Column", matched by entity and column.
    std::vector<std::string> columns;
    // Found by the describe check: exact select items, as (child relationship, or ""
    // for the main SELECT; item such as "Account.Owner.Name").
    std::set<std::pair<std::string, std::string>> paths;
    // Child relationships (subqueries) the org lacks or this user cannot read; the
    // lists mapped only from them are "not recorded".
    std::set<std::string> relationships;
    bool Has(const std::string& relationship, const std::string& item) const;
  };

 private:
  struct Token {
    std::string access_token;
    std::string instance_url;
  };
  explicit SalesforceConnector(SalesforceOptions options, std::unique_ptr<HttpClient> client);

  // The current token, fetching one if there is none.
  absl::StatusOr<Token> GetToken(absl::Time deadline);
  absl::StatusOr<Token> RequestToken(absl::Time deadline);
  // Forgets `stale` (only if it is still the current token).
  void InvalidateToken(const std::string& stale);
  // GET {instance_url}{path_and_query} with auth; one token refresh on 401.
  absl::StatusOr<nlohmann::json> GetJson(const std::string& path_and_query, absl::Time deadline);
  // Runs a query and feeds every record (all pages) to `on_record`.
  // `pages` (may be null) counts the result pages read.
  absl::Status Query(const std::string& soql, absl::Time deadline,
                     const std::function<absl::Status(const nlohmann::json&)>& on_record,
                     int64_t* pages = nullptr);
  // Query(make_soql(current SELECT)); when the org lacks a mapped column (400
  // INVALID_FIELD "No such column 'X' on entity 'E'" naming a column of the SELECT, as
  // when a profile hides a standard field or a single-currency org has no
  // CurrencyIsoCode), drops it with a warning on stderr and in Health(), and retries.
  absl::Status QueryWithSelect(
      const std::function<std::string(const std::string& select)>& make_soql, absl::Time deadline,
      const std::function<absl::Status(const nlohmann::json&)>& on_record,
      int64_t* pages = nullptr);
  // describe_fields: once (until it succeeds or fails for good), describes the objects
  // the mapping reads and drops the fields this org lacks from the SELECT. Never fails
  // the caller: an org whose describe calls fail falls back to INVALID_FIELD handling.
  void CheckFieldsOnce(absl::Time deadline);
  v1::Opportunity MapRecord(const nlohmann::json& record);
  std::string QueryPath(absl::string_view soql) const;

  SalesforceOptions options_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<ResilientHttp> http_;
  mutable absl::Mutex select_mu_;
  std::string select_ ABSL_GUARDED_BY(select_mu_);
  // dropped_columns(), in the order found.
  std::vector<std::string> dropped_ ABSL_GUARDED_BY(select_mu_);
  Dropped drops_ ABSL_GUARDED_BY(select_mu_);
  // List targets every source of which is a dropped relationship ("close_date_history").
  std::vector<std::string> unrecorded_lists_ ABSL_GUARDED_BY(select_mu_);
  absl::Mutex schema_mu_;
  bool schema_checked_ ABSL_GUARDED_BY(schema_mu_) = false;
  // A pass that failed after delivering records (REQUEST_LIMIT_EXCEEDED on page 7 of
  // 10): records come ordered by the modstamp, so the next pass from the same `since`
  // resumes at the last delivered modstamp instead of page 1.
  struct Resume {
    absl::Time since;
    absl::Time mark;
  };
  absl::Mutex resume_mu_;
  std::optional<Resume> resume_ ABSL_GUARDED_BY(resume_mu_);
  mutable absl::Mutex token_mu_;
  std::optional<Token> token_ ABSL_GUARDED_BY(token_mu_);
  std::atomic<int64_t> mapping_issues_{0};
  mutable absl::Mutex issue_mu_;
  std::string last_mapping_issue_ ABSL_GUARDED_BY(issue_mu_);
};

// "2026-11-20T10:00:00Z" as a SOQL datetime literal (UTC, unquoted).
std::string SoqlDateTime(absl::Time t);

}  // namespace dealcoach::connectors::salesforce

#endif  // DEALCOACH_CONNECTORS_SALESFORCE_SALESFORCE_CONNECTOR_H_
