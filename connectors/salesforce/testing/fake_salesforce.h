// FakeSalesforce: a loopback server speaking the Salesforce REST wire format (OAuth 2.0
// token endpoint, SOQL query with nextRecordsUrl paging, [{"message","errorCode"}]
// errors, Sforce-Limit-Info headers) over HttpTestServer. For connector tests and the
// sync benchmark; it understands just enough SOQL for what the connector sends:
// `WHERE Id = '...'` and `WHERE SystemModstamp >= <datetime>`, ordered by SystemModstamp.
// GET /services/data/v59.0/sobjects/{Object}/describe answers with the object's fields
// (a standard set, plus every field of that object any upserted record carries, minus
// SetMissingColumns), reference fields' relationshipName/referenceTo and the
// Opportunity's and Event's childRelationships, in Salesforce's describe shape.
//
// Thread safety: all methods are safe to call while the server handles requests.
#ifndef DEALCOACH_CONNECTORS_SALESFORCE_TESTING_FAKE_SALESFORCE_H_
#define DEALCOACH_CONNECTORS_SALESFORCE_TESTING_FAKE_SALESFORCE_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "connectors/testing/http_test_server.h"
#include "nlohmann/json.hpp"

namespace dealcoach::connectors::salesforce {

class FakeSalesforce {
 public:
  static constexpr char kClientId[] = "3MVG9fake.client.id";
  static constexpr char kClientSecret[] = "fake-client-secret-value";
  static constexpr char kApiVersion[] = "v59.0";

  FakeSalesforce();
  absl::Status Start();

  testing::HttpTestServer& server() { return server_; }
  std::string base_url() const { return server_.base_url(); }
  // "/services/data/v59.0/query".
  static std::string QueryPath();

  // Adds or replaces (by Id) an Opportunity record in Salesforce's JSON shape.
  void Upsert(nlohmann::json record);
  // Deletes the record with this Id (queries no longer return it).
  void Delete(const std::string& id);
  // A realistic record: Account/Owner relationships, two contact roles, a task, an event
  // and stage history. `modstamp` is "2026-11-20T10:00:00.000+0000"-style.
  static nlohmann::json MakeOpportunity(int index, const std::string& modstamp);
  // 18-character id for index i ("006" + zero-padded index).
  static std::string OpportunityId(int index);

  // Makes every issued token invalid: the next API call gets 401 INVALID_SESSION_ID.
  void ExpireTokens();
  // Columns this org lacks, as "Entity.Column" ("OpportunityContactRole.Confirmed_Pain__c"):
  // a query naming one gets 400 INVALID_FIELD "No such column 'Column' on entity 'Entity'".
  void SetMissingColumns(std::vector<std::string> columns);
  // Child relationships of Opportunity this org lacks or the integration user cannot
  // read ("Histories" without field history access): left out of describe, and a query
  // naming one gets 400 INVALID_TYPE "Didn't understand relationship ...".
  void SetHiddenRelationships(std::vector<std::string> relationships);
  // Number of describe requests served, and per object.
  int describe_requests() const;
  int describe_requests(const std::string& object) const;
  // After `n` more API (non-token) requests, answer 403 REQUEST_LIMIT_EXCEEDED.
  void SetRemainingApiRequests(int n);

  int token_requests() const;
  // Form fields of the last token request (grant_type, client_id, assertion, ...).
  std::map<std::string, std::string> last_token_form() const;
  // Decoded SOQL of every query request (not nextRecordsUrl pages), in order.
  std::vector<std::string> queries() const;

 private:
  testing::ScriptedResponse Token(const testing::RecordedRequest& r);
  testing::ScriptedResponse Query(const testing::RecordedRequest& r);
  testing::ScriptedResponse Page(const testing::RecordedRequest& r);
  testing::ScriptedResponse Describe(const testing::RecordedRequest& r);
  testing::ScriptedResponse Respond(int status, const nlohmann::json& body);
  // Checks the bearer token and the quota; nullopt when the request may proceed.
  std::optional<testing::ScriptedResponse> Admit(const testing::RecordedRequest& r);
  testing::ScriptedResponse PageFrom(const std::string& cursor, size_t offset, size_t size);

  testing::HttpTestServer server_;
  mutable absl::Mutex mu_;
  struct Stored {
    absl::Time modstamp;
    // The record serialised once; pages are concatenations of these.
    std::shared_ptr<const std::string> text;
  };
  std::map<std::string, Stored> records_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> valid_tokens_ ABSL_GUARDED_BY(mu_);
  int token_counter_ ABSL_GUARDED_BY(mu_) = 0;
  int token_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int remaining_api_ ABSL_GUARDED_BY(mu_) = -1;
  std::vector<std::string> missing_columns_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> hidden_relationships_ ABSL_GUARDED_BY(mu_);
  // Object → field names seen in upserted records (for describe).
  std::map<std::string, std::set<std::string>> seen_fields_ ABSL_GUARDED_BY(mu_);
  int describe_requests_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> describes_by_object_ ABSL_GUARDED_BY(mu_);
  int api_used_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> last_token_form_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> queries_ ABSL_GUARDED_BY(mu_);
  // Query cursors: id → result set (ordered records).
  std::map<std::string, std::vector<std::shared_ptr<const std::string>>> cursors_
      ABSL_GUARDED_BY(mu_);
  int cursor_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dealcoach::connectors::salesforce

#endif  // DEALCOACH_CONNECTORS_SALESFORCE_TESTING_FAKE_SALESFORCE_H_
