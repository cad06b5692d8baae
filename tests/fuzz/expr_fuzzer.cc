// libFuzzer entry point (clang only): build expr_fuzzer and run it with a corpus dir.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tests/fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dealcoach::expr::fuzz::FuzzOutcome out =
      dealcoach::expr::fuzz::FuzzOne(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!out.violation.empty()) std::abort();
  return 0;
}
