// Test-only helper shared by the connector tests: RFC 3339 literals as absl::Time.
// A malformed literal fails the calling test instead of silently yielding the epoch.
#ifndef DEALCOACH_CONNECTORS_TESTING_TIME_UTIL_H_
#define DEALCOACH_CONNECTORS_TESTING_TIME_UTIL_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace dealcoach::connectors::testing {

// T("2026-11-20T12:00:00Z").
inline absl::Time T(absl::string_view rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err << ": " << rfc3339;
  return t;
}

}  // namespace dealcoach::connectors::testing

#endif  // DEALCOACH_CONNECTORS_TESTING_TIME_UTIL_H_
