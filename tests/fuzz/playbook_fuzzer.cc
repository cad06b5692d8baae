// libFuzzer target: playbook YAML -> engine::LoadPlaybook. A playbook that loads is
// evaluated (guidance and every checklist) against a small opportunity; its tests are not
// run (the runner reads files beside the playbook). Invariant: a failed load reports at
// least one error diagnostic.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/engine/engine.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dealcoach;  // NOLINT
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  engine::LoadResult r = engine::LoadPlaybook(text, "fuzz.yaml");
  if (!r.ok()) {
    bool has_error = false;
    for (const v1::Diagnostic& d : r.diagnostics) {
      if (d.severity() == v1::DIAGNOSTIC_SEVERITY_ERROR) has_error = true;
      (void)engine::FormatDiagnostic(d);
    }
    if (!has_error) fuzz::Violation("load failed without an error diagnostic");
    return 0;
  }
  v1::Opportunity opp;
  opp.set_id("fuzz");
  opp.set_stage("Prospecting");
  opp.set_amount(1000);
  engine::NormalizeOpportunity(&opp);
  (void)r.playbook->Evaluate(opp, fuzz::FuzzNow());
  for (const std::string& name : r.playbook->checklist_names()) {
    if (!r.playbook->EvaluateChecklist(opp, fuzz::FuzzNow(), name).ok()) {
      fuzz::Violation("a listed checklist is not found: " + name);
    }
  }
  return 0;
}
