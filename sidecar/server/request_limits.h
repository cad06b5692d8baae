// Bounds on what one request may make the server hold or echo.
//
//  * EchoValue(): every caller-supplied value that appears in an error message goes
//    through it, so a 10,000-character id still yields a short NOT_FOUND instead of an
//    error whose message overflows gRPC's metadata limit (RESOURCE_EXHAUSTED).
//  * ValidateInlineOpportunity(): an opportunity sent in a request is checked before
//    any work: repeated-field counts, string lengths, total size and every
//    google.protobuf.Timestamp in it (0001..9999, nanos 0..999999999). Each problem is
//    INVALID_ARGUMENT naming the field path, e.g.
//    "opportunity.activities[3].at: not a valid timestamp (seconds ..., nanos ...)".
//    An opportunity no larger than the string and count limits can only break the
//    timestamp rule, which is then checked through generated code with no reflection
//    (docs/performance.md, "The request path").
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_SERVER_REQUEST_LIMITS_H_
#define DEALCOACH_SIDECAR_SERVER_REQUEST_LIMITS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace dealcoach::server {

// Longest prefix of a caller value quoted in an error message.
inline constexpr size_t kMaxEchoBytes = 128;

// `value` itself when it is at most kMaxEchoBytes long; otherwise its first
// kMaxEchoBytes bytes (cut at a UTF-8 boundary) followed by "…(N bytes)".
std::string EchoValue(absl::string_view value);

struct InlineLimits {
  // Entries in any one repeated (or map) field, e.g. opportunity.activities.
  int max_repeated = 10000;
  // Bytes in any one string field.
  size_t max_string_bytes = 64 * 1024;
  // Serialized size of the whole inline opportunity.
  size_t max_total_bytes = 2 * 1024 * 1024;
  // Message nesting depth.
  int max_depth = 16;
};

// OK, or INVALID_ARGUMENT naming the first offending field under `path` (e.g.
// "opportunity").
[[nodiscard]] absl::Status ValidateInlineOpportunity(const google::protobuf::Message& message,
                                                     absl::string_view path,
                                                     const InlineLimits& limits = {});

// ValidateInlineOpportunity by the reflective walk over every field, always (the
// function above skips the walk when the opportunity's size and schema bound every
// limit and its timestamps are valid: same verdicts, same messages). Kept for tests
// and the sync handlers, which serve as the reference for the callback path.
[[nodiscard]] absl::Status ValidateInlineOpportunityByWalk(const google::protobuf::Message& message,
                                                           absl::string_view path,
                                                           const InlineLimits& limits = {});

// OK, or INVALID_ARGUMENT "<path>: not a valid timestamp (...)".
[[nodiscard]] absl::Status ValidateTimestamp(const google::protobuf::Timestamp& ts,
                                             absl::string_view path);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_REQUEST_LIMITS_H_
