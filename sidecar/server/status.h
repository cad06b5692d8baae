// The one place absl::Status becomes grpc::Status. Codes map one-to-one (gRPC and
// Abseil share the canonical code space); the message passes through unchanged, so a
// handler's "max_behaviors: must be between 0 and 50" is what the client reads.
// Payloads whose type URL is "type.googleapis.com/google.rpc.*" (see CrmFailure) become
// the google.rpc.Status details (grpc-status-details-bin).
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_SERVER_STATUS_H_
#define DEALCOACH_SIDECAR_SERVER_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dealcoach::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// A connector's failure as the sidecar's caller sees it. What the CRM said about the
// sidecar's own request (401, 403, 400, 429, ...) is never the caller's fault, so codes
// that would blame the caller are replaced:
//
//   connector code                          caller code          ErrorInfo.reason
//   Unauthenticated (CRM 401)               FAILED_PRECONDITION  CRM_AUTH_FAILED
//   PermissionDenied (CRM 403)              FAILED_PRECONDITION  CRM_PERMISSION_DENIED
//   InvalidArgument, OutOfRange, FailedPre- FAILED_PRECONDITION  CRM_REJECTED_REQUEST
//     condition, AlreadyExists, Unimplemented (CRM 400, 422, 501...)
//   ResourceExhausted, body over the cap    FAILED_PRECONDITION  CRM_RESPONSE_TOO_LARGE
//   ResourceExhausted (CRM 429)             UNAVAILABLE          CRM_RATE_LIMITED
//   Unavailable, Aborted, DataLoss,         UNAVAILABLE          CRM_UNAVAILABLE
//     Unknown (5xx, connection failures, bad bodies)
//   DeadlineExceeded (CRM too slow)         DEADLINE_EXCEEDED    CRM_TIMEOUT
//   anything else (Internal, Cancelled)     unchanged            CRM_ERROR
//
// The message is "<what>: <connector message>" (the connector message names the CRM
// call, e.g. "salesforce: GET /services/data/v59.0/query: 401 Unauthorized"). A
// google.rpc.ErrorInfo payload carries the reason and domain = `connector`.
absl::Status CrmFailure(const absl::Status& connector_status, absl::string_view connector,
                        absl::string_view what);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_STATUS_H_
