// The one place absl::Status becomes grpc::Status. Codes map one-to-one (gRPC and
// Abseil share the canonical code space); the message passes through unchanged, so a
// handler's "max_behaviors: must be between 0 and 50" is what the client reads.
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_SERVER_STATUS_H_
#define DEALCOACH_SIDECAR_SERVER_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace dealcoach::server {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_STATUS_H_
