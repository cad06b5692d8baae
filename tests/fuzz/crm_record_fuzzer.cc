// libFuzzer target: one CRM's JSON record -> that connector's default mapping -> Opportunity
// -> NormalizeOpportunity -> evaluation with the shipped playbook. Built once per
// connector with DEALCOACH_FUZZ_CRM set to 1 (Salesforce), 2 (HubSpot) or 3 (Dataverse);
// Dataverse records first go through LiftFormattedValues, as the connector does. The
// mapping never fails a record: conversion problems only leave fields unset.
#include <cstddef>
#include <cstdint>

#include "connectors/common/mapping.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_support.h"

#if DEALCOACH_FUZZ_CRM == 1
#include "connectors/salesforce/salesforce_connector.h"
#elif DEALCOACH_FUZZ_CRM == 2
#include "connectors/hubspot/hubspot_connector.h"
#elif DEALCOACH_FUZZ_CRM == 3
#include "connectors/dynamics/dynamics_connector.h"
#else
#error "DEALCOACH_FUZZ_CRM must be 1, 2 or 3"
#endif

namespace {

using dealcoach::connectors::OpportunityMapping;

absl::string_view DefaultMapping() {
#if DEALCOACH_FUZZ_CRM == 1
  return dealcoach::connectors::salesforce::kDefaultMappingYaml;
#elif DEALCOACH_FUZZ_CRM == 2
  return dealcoach::connectors::hubspot::DefaultMappingYaml();
#else
  return dealcoach::connectors::dynamics::DefaultMappingYaml();
#endif
}

const OpportunityMapping& Mapping() {
  static const OpportunityMapping* mapping = [] {
    absl::StatusOr<OpportunityMapping> m = OpportunityMapping::Parse(DefaultMapping(), "default");
    if (!m.ok()) dealcoach::fuzz::Violation("default mapping: " + m.status().ToString());
    return new OpportunityMapping(*std::move(m));
  }();
  return *mapping;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json record =
      nlohmann::json::parse(data, data + size, /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) return 0;
#if DEALCOACH_FUZZ_CRM == 3
  dealcoach::connectors::dynamics::LiftFormattedValues(&record);
#endif
  dealcoach::v1::Opportunity opp;
  dealcoach::connectors::MappingIssues issues;
  Mapping().Apply(record, &opp, &issues);
  if (issues.samples.size() > issues.max_samples) {
    dealcoach::fuzz::Violation("MappingIssues kept more samples than max_samples");
  }
  dealcoach::fuzz::NormalizeAndEvaluate(&opp);
  return 0;
}
