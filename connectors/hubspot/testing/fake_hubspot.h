// FakeHubSpot: a loopback server speaking HubSpot's CRM v3/v4 wire format over
// HttpTestServer, for the HubSpot connector's tests and the end-to-end test.
//
// Endpoints (all require `Authorization: Bearer <token>`; a wrong token gets 401 with
// HubSpot's error body, category INVALID_AUTHENTICATION or EXPIRED_AUTHENTICATION):
//   GET  /crm/v3/objects/deals                 list, `limit`/`after` paging, `properties`
//   GET  /crm/v3/objects/deals/{id}            `properties`, `propertiesWithHistory`,
//                                              `associations` (v3 shape)
//   POST /crm/v3/objects/deals/search          filterGroups[].filters[] with
//                                              hs_lastmodifieddate GTE (epoch ms), sorts
//                                              ascending, `after` offsets, the 10,000-result
//                                              cap (configurable: a request past it is 400)
//   POST /crm/v3/objects/deals/batch/read      `propertiesWithHistory`
//   POST /crm/v3/objects/{contacts|meetings|calls|emails}/batch/read
//   POST /crm/v4/associations/deals/{contacts|meetings|calls|emails}/batch/read
//                                              toObjectId + associationTypes with labels
//   GET  /crm/v4/objects/{deals|meetings|calls}/{id}/associations/{type}
//                                              one record's associations (same rows,
//                                              {"results":[...]}; limit/after accepted)
// Every response carries X-HubSpot-RateLimit-* headers. Property values are strings,
// as HubSpot sends them; missing properties are null.
//
// Thread safety: all methods are safe to call while the server handles requests.
#ifndef DEALCOACH_CONNECTORS_HUBSPOT_TESTING_FAKE_HUBSPOT_H_
#define DEALCOACH_CONNECTORS_HUBSPOT_TESTING_FAKE_HUBSPOT_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "connectors/testing/http_test_server.h"
#include "nlohmann/json.hpp"

namespace dealcoach::connectors::hubspot {

class FakeHubSpot {
 public:
  static constexpr char kToken[] = "pat-na1-11111111-2222-3333-4444-555555555555";

  struct Association {
    std::string to_id;
    // Association labels (buying roles), e.g. "Decision maker". Empty: unlabeled.
    std::vector<std::string> labels;
  };
  struct StageEntry {
    std::string value;
    std::string timestamp;  // RFC 3339
  };
  struct Deal {
    std::string id;
    // HubSpot internal property name → string value (json null when unset).
    nlohmann::json properties = nlohmann::json::object();
    // dealstage history, any order (the fake returns it newest first, like HubSpot).
    std::vector<StageEntry> stage_history;
    // closedate history (propertiesWithHistory=closedate), same shape.
    std::vector<StageEntry> close_date_history;
    std::vector<Association> contacts;
    // "meetings" / "calls" / "emails" / "companies" → associated object ids.
    std::map<std::string, std::vector<std::string>> engagements;
  };

  FakeHubSpot();
  absl::Status Start();
  void Stop() { server_.Stop(); }

  testing::HttpTestServer& server() { return server_; }
  std::string base_url() const { return server_.base_url(); }

  // Adds or replaces a deal (by id).
  void UpsertDeal(Deal deal);
  // Adds or replaces an object of type "contacts", "meetings", "calls" or "emails".
  void UpsertObject(const std::string& type, const std::string& id, nlohmann::json properties);
  // Associates an engagement ("meetings" / "calls" / "emails") with the contacts that
  // took part (POST /crm/v4/associations/{type}/contacts/batch/read).
  void SetEngagementContacts(const std::string& type, const std::string& id,
                             std::vector<std::string> contact_ids);

  // A realistic deal `id` modified at `modified` (RFC 3339): two labelled contacts, one
  // meeting, one call, one email, three stage changes, custom property
  // decision_to_change. Also upserts the contacts and engagements it references.
  Deal AddSampleDeal(const std::string& id, const std::string& modified);

  // Accepted bearer token (default kToken). Requests with another get 401.
  void SetToken(const std::string& token);
  // Adds an owner as GET /crm/v3/owners returns it ({id, email, firstName, lastName,
  // teams[{id, name, primary}]}).
  void SetOwner(nlohmann::json owner);
  // GET /crm/v3/owners calls answered (pages, not passes).
  int owner_list_calls() const;
  // 401 category EXPIRED_AUTHENTICATION for the current token until SetToken.
  void ExpireToken();
  // Results a search may page through before HubSpot's cap (default 10,000).
  void SetSearchCap(int cap);

  // false: the batch association endpoints answer 404 (an app or portal without them);
  // the per-record GET still works. Default: true.
  void SetBatchAssociationsAvailable(bool available);

  // Parsed JSON bodies of every search request, in order.
  std::vector<nlohmann::json> search_bodies() const;

 private:
  using Req = testing::RecordedRequest;
  using Resp = testing::ScriptedResponse;
  std::optional<Resp> Admit(const Req& r);
  Resp Respond(int status, const nlohmann::json& body) const;
  Resp Error(int status, const std::string& category, const std::string& message) const;
  // `history`: the propertiesWithHistory asked for (dealstage, closedate).
  nlohmann::json DealJson(const Deal& deal, const std::vector<std::string>& properties,
                          const std::vector<std::string>& history) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  Resp ListDeals(const Req& r);
  Resp GetDeal(const Req& r);
  Resp SearchDeals(const Req& r);
  Resp BatchReadDeals(const Req& r);
  Resp BatchReadObjects(const std::string& type, const Req& r);
  Resp BatchAssociations(const std::string& to_type, const Req& r);
  Resp ListOwners(const Req& r);
  Resp EngagementContacts(const std::string& type, const Req& r);
  Resp RecordAssociations(const Req& r);

  testing::HttpTestServer server_;
  mutable absl::Mutex mu_;
  std::map<std::string, Deal> deals_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_ ABSL_GUARDED_BY(mu_);
  // type → engagement id → contact ids.
  std::map<std::string, std::map<std::string, std::vector<std::string>>> engagement_contacts_
      ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_) = kToken;
  std::vector<nlohmann::json> owners_ ABSL_GUARDED_BY(mu_);
  int owner_list_calls_ ABSL_GUARDED_BY(mu_) = 0;
  bool expired_ ABSL_GUARDED_BY(mu_) = false;
  int search_cap_ ABSL_GUARDED_BY(mu_) = 10000;
  bool batch_associations_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<nlohmann::json> search_bodies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dealcoach::connectors::hubspot

#endif  // DEALCOACH_CONNECTORS_HUBSPOT_TESTING_FAKE_HUBSPOT_H_
