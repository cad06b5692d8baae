#include "sidecar/server/status.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "connectors/common/http_client.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace dealcoach::server {
namespace {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

}  // namespace

constexpr absl::string_view kGoogleRpcPrefix = "type.googleapis.com/google.rpc.";

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status details;
  status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& value) {
    if (!absl::StartsWith(type_url, kGoogleRpcPrefix)) return;
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(value));
  });
  if (details.details_size() == 0) {
    return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
  }
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()),
                      details.SerializeAsString());
}

absl::Status CrmFailure(const absl::Status& connector_status, absl::string_view connector,
                        absl::string_view what) {
  absl::StatusCode code = connector_status.code();
  absl::string_view reason = "CRM_ERROR";
  switch (connector_status.code()) {
    case absl::StatusCode::kUnauthenticated:
      code = absl::StatusCode::kFailedPrecondition;
      reason = "CRM_AUTH_FAILED";
      break;
    case absl::StatusCode::kPermissionDenied:
      code = absl::StatusCode::kFailedPrecondition;
      reason = "CRM_PERMISSION_DENIED";
      break;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kUnimplemented:
      code = absl::StatusCode::kFailedPrecondition;
      reason = "CRM_REJECTED_REQUEST";
      break;
    case absl::StatusCode::kResourceExhausted: {
      if (connectors::IsResponseTooLarge(connector_status)) {
        code = absl::StatusCode::kFailedPrecondition;
        reason = "CRM_RESPONSE_TOO_LARGE";
      } else {
        code = absl::StatusCode::kUnavailable;
        reason = "CRM_RATE_LIMITED";
      }
      break;
    }
    case absl::StatusCode::kDeadlineExceeded:
      // The caller's deadline (or source.fetch_timeout within it) ran out while the
      // CRM was slow: DEADLINE_EXCEEDED is accurate and blames no one.
      reason = "CRM_TIMEOUT";
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDataLoss:
    case absl::StatusCode::kUnknown:
      code = absl::StatusCode::kUnavailable;
      reason = "CRM_UNAVAILABLE";
      break;
    default:
      break;
  }
  absl::Status out(code, absl::StrCat(what, ": ", connector_status.message()));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(std::string(connector));
  (*info.mutable_metadata())["connector_code"] = absl::StatusCodeToString(connector_status.code());
  out.SetPayload(absl::StrCat(kGoogleRpcPrefix, "ErrorInfo"), absl::Cord(info.SerializeAsString()));
  return out;
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // The numeric values are identical by design of both libraries.
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace dealcoach::server
