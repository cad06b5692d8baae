// One fuzz iteration for the expression language: compile `source` against the playbook
// environment (plus two dynamic variables), evaluate it when it compiles, and check the
// invariants every input must satisfy. Shared by the GoogleTest fuzz test and the
// libFuzzer entry point. Thread-compatible.
#ifndef DEALCOACH_TESTS_FUZZ_FUZZ_TARGET_H_
#define DEALCOACH_TESTS_FUZZ_FUZZ_TARGET_H_

#include <string>

#include "absl/strings/string_view.h"

namespace dealcoach::expr::fuzz {

struct FuzzOutcome {
  bool compiled = false;
  // Empty when every invariant held; otherwise what broke.
  std::string violation;
};

FuzzOutcome FuzzOne(absl::string_view source);

}  // namespace dealcoach::expr::fuzz

#endif  // DEALCOACH_TESTS_FUZZ_FUZZ_TARGET_H_
