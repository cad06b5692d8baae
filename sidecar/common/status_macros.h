// Early-return helpers for absl::Status / absl::StatusOr, in the style of cel-cpp's
// internal/status_macros.h. Kept to the two macros everyone knows.
#ifndef DEALCOACH_SIDECAR_COMMON_STATUS_MACROS_H_
#define DEALCOACH_SIDECAR_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DC_STATUS_CONCAT_INNER_(a, b) a##b
#define DC_STATUS_CONCAT_(a, b) DC_STATUS_CONCAT_INNER_(a, b)

// Returns `expr`'s status from the enclosing function if it is not OK.
#define DC_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status dc_status_ = (expr);      \
    if (!dc_status_.ok()) return dc_status_; \
  } while (0)

// `DC_ASSIGN_OR_RETURN(auto x, Foo());` assigns the value or returns the error.
#define DC_ASSIGN_OR_RETURN(lhs, rexpr) \
  DC_ASSIGN_OR_RETURN_IMPL_(DC_STATUS_CONCAT_(dc_statusor_, __LINE__), lhs, rexpr)
#define DC_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)    \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // DEALCOACH_SIDECAR_COMMON_STATUS_MACROS_H_
