// HubSpotConnector: reads deals from HubSpot's CRM v3/v4 REST API.
//
// Authentication is a private-app access token (`Authorization: Bearer ...`) read from
// the environment or a file. Private-app tokens do not expire, but they are rotated: on
// a 401 the connector re-reads a file-based token once and retries if it changed; a 401
// that persists is Unauthenticated with a message saying which setting holds the token.
//
// Calls (all through ResilientHttp: request budget, retries with backoff honouring
// Retry-After on 429/5xx, circuit breaker):
//   FetchOpportunity  GET  /crm/v3/objects/deals/{id}?properties=...
//                          &propertiesWithHistory=dealstage&associations=contacts
//   full sync         GET  /crm/v3/objects/deals?limit=N&properties=...&after=<cursor>
//   incremental sync  POST /crm/v3/objects/deals/search, hs_lastmodifieddate GTE since,
//                          ascending, `after` paging; before HubSpot's 10,000-result
//                          search cap it re-anchors on the last modified time seen
//                          (deals already delivered in this pass are skipped)
//   then per page     POST /crm/v3/objects/deals/batch/read      (dealstage history)
//                     POST /crm/v4/associations/deals/contacts/batch/read  (+ labels)
//                     POST /crm/v3/objects/contacts/batch/read
//                     POST /crm/v4/associations/deals/{meetings,calls,emails}/batch/read
//                     POST /crm/v3/objects/{meetings,calls,emails}/batch/read
//                     POST /crm/v4/associations/deals/companies/batch/read  (account)
//                     POST /crm/v3/objects/companies/batch/read
//   once per pass     GET  /crm/v3/owners?limit=100&after=<cursor>  (owner name, team)
//                     (independent reads at once, and the next page's listing while a
//                     page is enriched; at most max_concurrent_requests in flight)
// When the batch association endpoint is unavailable, associations come from
// GET /crm/v4/objects/{from}/{id}/associations/{to} per record (a warning is logged once).
// Each deal becomes one JSON record (layout in default_mapping.yaml) mapped onto
// dealcoach.v1.Opportunity by the YAML mapping. Properties requested are exactly those
// the mapping reads (plus `extra_properties`).
//
// Thread safety: all methods are safe to call concurrently.
#ifndef DEALCOACH_CONNECTORS_HUBSPOT_HUBSPOT_CONNECTOR_H_
#define DEALCOACH_CONNECTORS_HUBSPOT_HUBSPOT_CONNECTOR_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
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

namespace dealcoach::connectors::hubspot {

// The default mapping (default_mapping.yaml, embedded at build time).
absl::string_view DefaultMappingYaml();

struct HubSpotOptions {
  // API root. Default: https://api.hubapi.com. Tests point it at 127.0.0.1.
  std::string base_url = "https://api.hubapi.com";
  // Deals per list/search page (HubSpot allows up to 100). Default: 100.
  int page_size = 100;
  // Engagement object types read through associations. Default: meetings, calls, emails.
  std::vector<std::string> engagement_types = {"meetings", "calls", "emails"};
  // Read dealstage history (propertiesWithHistory). Default: true.
  bool stage_history = true;
  // Extra deal properties to request beyond those the mapping reads.
  std::vector<std::string> extra_properties;
  // Results a search can page through (HubSpot: 10,000). Tests lower it.
  int search_result_cap = 10000;
  // Upper bound for one whole sync pass. Default: 10 min.
  absl::Duration sync_timeout = absl::Minutes(10);
  HttpClientOptions http;
  ResilienceOptions resilience;
};

class HubSpotConnector : public Connector {
 public:
  // Builds a connector from its config section (keys in README.md).
  static absl::StatusOr<std::unique_ptr<HubSpotConnector>> Create(const YAML::Node& config,
                                                                  const ConnectorContext& context);

  static constexpr char kType[] = "hubspot";
  absl::string_view type() const override { return kType; }
  absl::StatusOr<v1::Opportunity> FetchOpportunity(absl::string_view id,
                                                   absl::Time deadline) override;
  // A pass that fails after delivering some deals (retries exhausted on a throttled or
  // failing portal) is resumed by the next pass from the same `since`: a search resumes
  // at the last delivered hs_lastmodifieddate, a full listing at the cursor of the first
  // page not wholly delivered; deals already delivered unchanged (same id and
  // hs_lastmodifieddate) are skipped, so nothing is lost or delivered twice.
  absl::StatusOr<SyncResult> SyncChangedSince(
      absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) override;
  // Every deal id (the list endpoint / entity set, ids only, paged), so the cache can
  // evict deals deleted in the CRM.
  absl::StatusOr<std::vector<std::string>> ListIds(absl::Time deadline) override;
  ConnectorHealth Health() const override;

  // From id → [(to id, labels)] of one association type.
  using Links = std::map<std::string, std::vector<std::pair<std::string, nlohmann::json>>>;
  // Per-record association calls made since the batch endpoint turned out unavailable.
  int64_t per_record_association_calls() const { return per_record_association_calls_.load(); }
  // The most requests that were in flight to HubSpot at once (max_concurrent_requests).
  int max_in_flight() const { return http_->max_in_flight(); }

 private:
  HubSpotConnector(HubSpotOptions options, OpportunityMapping mapping, std::string token,
                   YAML::Node token_config, ConnectorContext context,
                   std::unique_ptr<HttpClient> client);

  // Sends one call and parses its JSON body. `body` null means no request body.
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      const nlohmann::json* body, absl::Time deadline);
  // Adds stage history, contacts and engagements to a page of deal records.
  absl::Status Enrich(std::vector<nlohmann::json>* deals, bool need_history, absl::Time deadline);
  // Object id → record for `ids` of `type`, read in batches of 100.
  absl::StatusOr<std::map<std::string, nlohmann::json>> BatchRead(
      const std::string& type, const std::vector<std::string>& ids,
      const std::vector<std::string>& properties, absl::Time deadline);
  // From id → [(to id, labels)] for associations `from_type` → `to_type` (deals →
  // contacts for buying roles, meetings → contacts for attendees): the v4 batch endpoint
  // in batches of 100; when it is unavailable (404/405/501/403 on it), one
  // GET /crm/v4/objects/{from}/{id}/associations/{to} per record from then on.
  absl::StatusOr<Links> BatchAssociations(const std::string& to_type,
                                          const std::vector<std::string>& from_ids,
                                          absl::Time deadline,
                                          const std::string& from_type = "deals");
  v1::Opportunity Map(const nlohmann::json& record) const;
  // Reads every owner (GET /crm/v3/owners, paged) into owners_.
  absl::Status ReadOwners(absl::Time deadline);
  // ReadOwners unless already loaded (force: every sync pass); a failure keeps the
  // previous owners and is logged once.
  void RefreshOwners(bool force, absl::Time deadline);
  std::string CurrentToken() const;
  // The properties to request for an object type (empty when the mapping reads none).
  const std::vector<std::string>& PropertiesFor(const std::string& type) const;

  const HubSpotOptions options_;
  const OpportunityMapping mapping_;
  // Properties the mapping reads, per object type ("deals", "contacts", "meetings", ...).
  std::map<std::string, std::vector<std::string>> properties_;
  const YAML::Node token_config_;
  const ConnectorContext context_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<ResilientHttp> http_;
  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  // Owner id → {id, name, email, team}, read once per sync pass.
  std::map<std::string, nlohmann::json> owners_ ABSL_GUARDED_BY(mu_);
  bool owners_loaded_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> owners_warned_{false};
  // False once the batch association endpoint answered that it is not there.
  std::atomic<bool> batch_associations_{true};
  std::atomic<int64_t> per_record_association_calls_{0};
  // Where a failed pass stopped (see SyncChangedSince).
  struct Resume {
    absl::Time since;
    // The newest hs_lastmodifieddate delivered so far: the resumed pass's high-water
    // mark starts there.
    absl::Time mark;
    // Full listing: the `after` cursor of the first page not wholly delivered ("" =
    // the first page). Search: the hs_lastmodifieddate (epoch ms) to search from.
    bool listing = false;
    std::string after;
    int64_t anchor_ms = 0;
    // "id@hs_lastmodifieddate" of the deals already delivered that the resumed pass
    // will list again (those on the page at `after`, or at `anchor_ms`).
    std::set<std::string> delivered;
  };
  absl::Mutex resume_mu_;
  std::optional<Resume> resume_ ABSL_GUARDED_BY(resume_mu_);
};

// HubSpot's error body ({"status":"error","message":...,"category":...}) as a Status,
// with the code from the HTTP status; 401 says which setting holds the token.
absl::Status HubSpotError(const HttpResponse& response, absl::string_view call);

}  // namespace dealcoach::connectors::hubspot

#endif  // DEALCOACH_CONNECTORS_HUBSPOT_HUBSPOT_CONNECTOR_H_
