// The one conversion between absl time types and google.protobuf.Timestamp / Duration.
// Header-only. Exact for every absl::Time inside Timestamp's range (years 1..9999);
// protobuf's TimeUtil goes through int64 nanoseconds, which stop at the year 2262.
#ifndef DEALCOACH_SIDECAR_COMMON_TIME_UTIL_H_
#define DEALCOACH_SIDECAR_COMMON_TIME_UTIL_H_

#include <cstdint>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace dealcoach {

// The range google.protobuf.Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;

// `ts` as an absl::Time. Denormalised nanos (negative or >= 1e9) are added as they are.
inline absl::Time ToAbslTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// Stores `t` in `*ts` with nanos in [0, 1e9) (floor division, so times before the epoch
// keep a non-negative nanos, as the Timestamp spec requires).
inline void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward -infinity
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

inline google::protobuf::Timestamp ToProtoTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  SetTimestamp(t, &ts);
  return ts;
}

// Stores `d` in `*out`: seconds and nanos share the sign of `d`, as Duration requires.
inline void SetDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);  // truncates toward 0
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

}  // namespace dealcoach

#endif  // DEALCOACH_SIDECAR_COMMON_TIME_UTIL_H_
