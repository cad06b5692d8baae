// RS256-signed JSON Web Tokens for the Salesforce OAuth 2.0 JWT bearer flow
// (RFC 7519 / RFC 7515 compact serialization), using OpenSSL's libcrypto.
//
// Thread safety: free functions, safe to call concurrently.
#ifndef DEALCOACH_CONNECTORS_SALESFORCE_JWT_H_
#define DEALCOACH_CONNECTORS_SALESFORCE_JWT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dealcoach::connectors::salesforce {

// base64url without padding (RFC 7515 §2).
std::string Base64UrlEncode(absl::string_view data);

// "<header>.<claims>.<signature>" with header {"alg":"RS256","typ":"JWT"}, `claims_json`
// as given, and an RS256 signature by the PEM private key `private_key_pem` (PKCS#1 or
// PKCS#8). InvalidArgument when the key cannot be read or is not RSA; the message never
// contains key material.
[[nodiscard]] absl::StatusOr<std::string> SignJwtRs256(absl::string_view claims_json,
                                                       absl::string_view private_key_pem);

}  // namespace dealcoach::connectors::salesforce

#endif  // DEALCOACH_CONNECTORS_SALESFORCE_JWT_H_
