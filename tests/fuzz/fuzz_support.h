// Helpers shared by the libFuzzer targets (tests/fuzz/*_fuzzer.cc): the shipped playbook
// and a fixed evaluation time, loaded once per process. A target aborts (a libFuzzer
// finding) only when an invariant breaks; sanitizers report memory errors and undefined
// behaviour on their own.
#ifndef DEALCOACH_TESTS_FUZZ_FUZZ_SUPPORT_H_
#define DEALCOACH_TESTS_FUZZ_FUZZ_SUPPORT_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::fuzz {

// Aborts with `what` on stderr: libFuzzer records the input as a crash.
[[noreturn]] inline void Violation(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what.c_str());
  std::abort();
}

// The shipped MEDDICC playbook (config/playbooks/meddicc.yaml), compiled once.
inline const engine::CompiledPlaybook& ShippedPlaybook() {
  static const std::shared_ptr<const engine::CompiledPlaybook> playbook = [] {
    engine::LoadResult r =
        engine::LoadPlaybookFile(DEALCOACH_SOURCE_DIR "/config/playbooks/meddicc.yaml");
    if (!r.ok()) Violation("the shipped playbook does not load");
    return r.playbook;
  }();
  return *playbook;
}

// A fixed `now`, so that a finding replays.
inline absl::Time FuzzNow() { return absl::FromUnixSeconds(1795000000); }  // 2026-11

// Normalises `opp` and evaluates it with the shipped playbook: guidance and every
// checklist. Evaluation never fails, so only sanitizers and crashes can report here.
inline void NormalizeAndEvaluate(v1::Opportunity* opp) {
  engine::NormalizeOpportunity(opp);
  const engine::CompiledPlaybook& playbook = ShippedPlaybook();
  v1::DealGuidance guidance = playbook.Evaluate(*opp, FuzzNow());
  for (const std::string& name : playbook.checklist_names()) {
    if (!playbook.EvaluateChecklist(*opp, FuzzNow(), name).ok()) {
      Violation("a listed checklist is not found: " + name);
    }
  }
}

}  // namespace dealcoach::fuzz

#endif  // DEALCOACH_TESTS_FUZZ_FUZZ_SUPPORT_H_
