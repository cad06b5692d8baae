// libFuzzer target: an admin's mapping YAML -> OpportunityMapping::Parse. A mapping that
// parses is queried (SourceFor, ScalarSources, ListSources) and applied to a fixed record
// that has a value of every JSON type. Invariant: a parse error is InvalidArgument.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "connectors/common/mapping.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_support.h"

namespace {

const nlohmann::json& Record() {
  static const nlohmann::json* record = new nlohmann::json(nlohmann::json::parse(R"({
    "Id": "006A", "Name": "Deal", "Amount": "125000", "Probability": 40, "IsWon": false,
    "CloseDate": "2026-11-20", "SystemModstamp": "2026-11-20T10:00:00.000+0000",
    "Epoch": 1795000000000, "Null": null, "Neg": -1.5e300, "Big": 18446744073709551615,
    "Account": {"Name": "Contoso", "Employees": 12000},
    "Roles": "Economic Buyer;Champion",
    "OpportunityContactRoles": {"records": [
      {"ContactId": "003A", "Role": "Economic Buyer", "Contact": {"Name": "Ann"}},
      {"ContactId": "003A", "Role": "Champion"}, {"ContactId": null}, 7, "x"]},
    "Tasks": {"records": [{"Id": "00T1", "ActivityDate": "2026-11-01"}, []]}
  })"));
  return *record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using dealcoach::connectors::OpportunityMapping;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<OpportunityMapping> mapping = OpportunityMapping::Parse(text, "fuzz.yaml");
  if (!mapping.ok()) {
    if (mapping.status().code() != absl::StatusCode::kInvalidArgument) {
      dealcoach::fuzz::Violation("mapping error is not InvalidArgument: " +
                                 mapping.status().ToString());
    }
    return 0;
  }
  (void)mapping->SourceFor("id");
  (void)mapping->ScalarSources();
  (void)mapping->ListSources();
  dealcoach::v1::Opportunity opp;
  dealcoach::connectors::MappingIssues issues;
  mapping->Apply(Record(), &opp, &issues);
  dealcoach::fuzz::NormalizeAndEvaluate(&opp);
  return 0;
}
