// What a gRPC call presents as credentials (authorizer.h's CallCredentials), read from
// its metadata and its transport, including what the sidecar's own HTTP gateway vouches
// for on the in-process calls it makes.
//
// The HTTP listener terminates TLS and checks HubSpot signatures itself, then calls the
// gRPC services through the in-process channel, where neither the client certificate
// nor the signature is visible. So the gateway adds what it verified as metadata
// (kGatewayPeerKey, kGatewayHubSpotKey) together with GatewayToken(), a random value
// made once per process that never leaves it. CredentialsFromGrpc honours those keys
// only next to the right token: a remote caller setting them is ignored, and the
// gateway forwards no client header of these names (it forwards only Authorization,
// X-Request-Id and X-Dealcoach-*).
//
// Thread safety: pure functions; GatewayToken is made once, thread-safely.
#ifndef DEALCOACH_SIDECAR_AUTH_GRPC_CREDENTIALS_H_
#define DEALCOACH_SIDECAR_AUTH_GRPC_CREDENTIALS_H_

#include <grpcpp/server_context.h>

#include <string>

#include "sidecar/auth/authorizer.h"

namespace dealcoach::auth {

inline constexpr char kGatewayTokenKey[] = "dealcoach-gateway-token";
// One value per CN / SAN of the HTTP connection's verified client certificate.
inline constexpr char kGatewayPeerKey[] = "dealcoach-gateway-peer";
// "<portalId>/<userId>" of an HTTP request whose X-HubSpot-Signature-v3 verified.
inline constexpr char kGatewayHubSpotKey[] = "dealcoach-gateway-hubspot";

// 32 random bytes, hex; the same for the life of the process.
[[nodiscard]] const std::string& GatewayToken();

// The call's Authorization and x-dealcoach-tenant metadata, the CN and SANs of a
// verified TLS client certificate, and the gateway's vouched identities.
[[nodiscard]] CallCredentials CredentialsFromGrpc(const grpc::ServerContextBase& context);

}  // namespace dealcoach::auth

#endif  // DEALCOACH_SIDECAR_AUTH_GRPC_CREDENTIALS_H_
