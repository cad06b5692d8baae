// FakeDynamics: a loopback server speaking the Microsoft Entra token endpoint and the
// Dataverse Web API (OData v4) wire format over HttpTestServer, for the Dynamics 365
// connector's tests.
//
//   POST /{tenant}/oauth2/v2.0/token      client_credentials; {token_type, expires_in,
//                                         ext_expires_in, access_token}; bad secret →
//                                         401 {"error":"invalid_client",...}
//   GET  /api/data/v9.2/opportunities     $select, $filter "modifiedon ge <datetime>",
//                                         `Prefer: odata.maxpagesize=N` → absolute
//                                         @odata.nextLink with $skiptoken; `Prefer:
//                                         odata.include-annotations=...` → FormattedValue
//                                         annotations ("x@OData.Community.Display.V1...")
//   GET  /api/data/v9.2/opportunities(<id>)   one entity or 404 OData error
//   GET  /api/data/v9.2/connections       $filter "(_record1id_value eq <id> or ...)"
//   GET  /api/data/v9.2/activitypointers  $filter "(_regardingobjectid_value eq <id> or ...)"
//   GET  /api/data/v9.2/organizations     isauditenabled (SetAudit)
//   GET  /api/data/v9.2/RetrieveRecordChangeHistory(Target=@target,PagingInfo=@paginginfo)
//                                         AuditDetailCollection of AttributeAuditDetail
//                                         (AddAuditDetail), 403 without the privilege
// API calls need `Authorization: Bearer <issued token>`; otherwise 401 with an empty body
// and a WWW-Authenticate header, as Dataverse answers.
//
// Thread safety: all methods are safe to call while the server handles requests.
#ifndef DEALCOACH_CONNECTORS_DYNAMICS_TESTING_FAKE_DYNAMICS_H_
#define DEALCOACH_CONNECTORS_DYNAMICS_TESTING_FAKE_DYNAMICS_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "connectors/testing/http_test_server.h"
#include "nlohmann/json.hpp"

namespace dealcoach::connectors::dynamics {

class FakeDynamics {
 public:
  static constexpr char kTenant[] = "7d3c1a52-0000-4000-8000-00000000aaaa";
  static constexpr char kClientId[] = "0b9f3e11-0000-4000-8000-00000000bbbb";
  static constexpr char kClientSecret[] = "fake~dynamics~secret";

  FakeDynamics();
  absl::Status Start();

  testing::HttpTestServer& server() { return server_; }
  std::string base_url() const { return server_.base_url(); }
  static std::string TokenPath();

  // Adds or replaces an opportunity (by opportunityid). Values as Dataverse sends them;
  // keys "x@OData.Community.Display.V1.FormattedValue" are sent only when requested.
  void UpsertOpportunity(nlohmann::json entity);
  void AddConnection(nlohmann::json connection);
  void AddActivity(nlohmann::json activity);
  // An activityparty row: `party_id` (a contact) took part in `activity_id` as
  // `participation_type` (participationtypemask: 5 required attendee, 6 optional
  // attendee, 2 to-recipient, 1 sender, 7 organizer, ...). GET /activityparties
  // filtered on _activityid_value.
  void AddActivityParty(const std::string& activity_id, const std::string& party_id,
                        int participation_type);
  // A realistic opportunity (GUID from `index`) with two contact connections (roles),
  // a phone call, an appointment and a task.
  nlohmann::json AddSample(int index, const std::string& modifiedon);
  static std::string OpportunityId(int index);

  // Attributes this environment lacks, as "entity.attribute" ("opportunity.msdyn_x",
  // "contact.dc_confirmedpain", "account.industrycode"): a $select (or an expanded
  // $select) naming one gets 400 "Could not find a property named ...", and
  // EntityDefinitions(LogicalName='<entity>')/Attributes leaves it out.
  void SetMissingAttributes(std::vector<std::string> attributes);
  // Number of EntityDefinitions requests served.
  int metadata_requests() const;

  // Audit settings (GET organizations?$select=isauditenabled, IsAuditEnabled of
  // EntityDefinitions(LogicalName='opportunity') and of its estimatedclosedate
  // attribute). Default: all off, as in a new environment.
  void SetAudit(bool organization, bool table, bool close_date_column);
  // false: RetrieveRecordChangeHistory answers 403 (no prvReadRecordAuditHistory).
  void SetAuditHistoryReadable(bool readable);
  // One AttributeAuditDetail of the opportunity (oldest first; served newest first):
  // OldValue / NewValue as Dataverse sends them ({"estimatedclosedate": "2026-11-30"}).
  void AddAuditDetail(const std::string& opportunity_id, nlohmann::json old_value,
                      nlohmann::json new_value);
  int record_change_history_requests() const;

  // Makes every issued token invalid (the next API call gets 401).
  void ExpireTokens();
  // expires_in for newly issued tokens. Default 3599.
  void SetTokenLifetime(int seconds);
  int token_requests() const;
  std::map<std::string, std::string> last_token_form() const;

 private:
  using Req = testing::RecordedRequest;
  using Resp = testing::ScriptedResponse;
  Resp Token(const Req& r);
  Resp Opportunities(const Req& r);
  Resp Collection(const Req& r, const std::vector<nlohmann::json>& rows,
                  const std::string& entity_set);
  Resp Related(const Req& r, const std::string& lookup, const std::vector<nlohmann::json>& rows,
               const std::string& entity_set);
  std::optional<Resp> Admit(const Req& r);
  Resp Attributes(const Req& r);
  Resp RecordChangeHistory(const Req& r);
  // A 400 naming the first attribute of `select` (or of `expand`'s nested $select)
  // that `entity` lacks; nullopt when all exist.
  std::optional<Resp> MissingProperty(const std::string& entity, const std::string& select,
                                      const std::string& expand);
  static Resp OData(int status, const nlohmann::json& body);
  static Resp ODataError(int status, const std::string& code, const std::string& message);

  testing::HttpTestServer server_;
  mutable absl::Mutex mu_;
  std::map<std::string, nlohmann::json> opportunities_ ABSL_GUARDED_BY(mu_);
  std::vector<nlohmann::json> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<nlohmann::json> activities_ ABSL_GUARDED_BY(mu_);
  std::vector<nlohmann::json> parties_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> missing_attributes_ ABSL_GUARDED_BY(mu_);
  int metadata_requests_ ABSL_GUARDED_BY(mu_) = 0;
  bool audit_org_ ABSL_GUARDED_BY(mu_) = false;
  bool audit_table_ ABSL_GUARDED_BY(mu_) = false;
  bool audit_column_ ABSL_GUARDED_BY(mu_) = false;
  bool audit_readable_ ABSL_GUARDED_BY(mu_) = true;
  std::map<std::string, std::vector<nlohmann::json>> audit_details_ ABSL_GUARDED_BY(mu_);
  int record_change_history_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> tokens_ ABSL_GUARDED_BY(mu_);
  int token_counter_ ABSL_GUARDED_BY(mu_) = 0;
  int token_lifetime_ ABSL_GUARDED_BY(mu_) = 3599;
  std::map<std::string, std::string> last_token_form_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dealcoach::connectors::dynamics

#endif  // DEALCOACH_CONNECTORS_DYNAMICS_TESTING_FAKE_DYNAMICS_H_
