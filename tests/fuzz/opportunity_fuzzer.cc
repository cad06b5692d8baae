// libFuzzer target: the inline Opportunity of a push-mode request. Bytes are parsed as
// a v1::Opportunity (proto3 JSON when they start with '{', the binary wire format
// otherwise), normalised with engine::NormalizeOpportunity, and evaluated with the
// shipped playbook. Invariant: normalisation is idempotent.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "sidecar/engine/engine.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dealcoach;  // NOLINT
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  v1::Opportunity opp;
  if (!bytes.empty() && bytes.front() == '{') {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(std::string(bytes), &opp, options).ok()) {
      return 0;
    }
  } else if (!opp.ParseFromArray(data, static_cast<int>(size))) {
    return 0;
  }
  fuzz::NormalizeAndEvaluate(&opp);
  v1::Opportunity again = opp;
  engine::NormalizeOpportunity(&again);
  if (!google::protobuf::util::MessageDifferencer::Equals(opp, again)) {
    fuzz::Violation("NormalizeOpportunity is not idempotent");
  }
  return 0;
}
