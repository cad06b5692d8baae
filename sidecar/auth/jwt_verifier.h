// JwtVerifier: checks bearer JSON Web Tokens (RFC 7519) the way a Salesforce Named
// Credential with a per-user JWT, or any OIDC issuer, sends them.
//
//   - Signatures: RS256 and ES256 only (RFC 7518 §3.3, §3.4), verified with OpenSSL
//     against the keys of a JWKS file (RFC 7517: kty RSA with n/e, kty EC P-256 with
//     x/y). "none", HS* and every other algorithm are refused: an HMAC "signed" with a
//     public key is the classic confusion attack.
//   - Claims: `exp` required and in the future, `nbf` / `iat` not in the future, both
//     within `max_clock_skew`; `iss` one of `issuers`; `aud` (string or list) containing
//     one of `audiences`; `sub` required.
//   - Bounded: tokens over 8 KiB, JWKS files over 1 MiB or 100 keys are refused.
//   - The JWKS file is re-read when it changes (checked at most every `jwks_refresh`), so
//     keys rotate without a restart; a broken new file is rejected and the last good
//     keys stay (last-good, as everywhere).
//   - Verified tokens are cached by SHA-256 of the token until their `exp` (at most
//     `cache_entries`), so a client that reuses its token pays for one signature check.
//
// Errors: Unauthenticated with the reason ("token expired at ...", "signature does not
// verify", "audience ... not accepted"), never the token itself.
//
// Thread safety: Verify is safe from any thread.
#ifndef DEALCOACH_SIDECAR_AUTH_JWT_VERIFIER_H_
#define DEALCOACH_SIDECAR_AUTH_JWT_VERIFIER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::auth {

struct JwtVerifierOptions {
  // JWKS document (a file the operator controls: never a URL a caller names).
  std::string jwks_file;
  // Accepted `iss` values; at least one.
  std::vector<std::string> issuers;
  // Accepted `aud` values; at least one.
  std::vector<std::string> audiences;
  absl::Duration max_clock_skew = absl::Seconds(60);
  absl::Duration jwks_refresh = absl::Seconds(30);
  size_t cache_entries = 10000;
  // The clock. Default: absl::Now.
  std::function<absl::Time()> now;
};

// What a verified token says about its caller.
struct VerifiedToken {
  std::string subject;
  std::string issuer;
  absl::Time expires_at;
  // Every top-level string claim, and string-list claims joined with ',' (for role and
  // tenant mapping: "roles", "groups", "tenant", ...).
  std::map<std::string, std::string> claims;
};

class JwtVerifier {
 public:
  // Reads the JWKS file. InvalidArgument for bad options, FailedPrecondition naming the
  // file for an unreadable or invalid JWKS.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<JwtVerifier>> Create(
      JwtVerifierOptions options);
  virtual ~JwtVerifier() = default;

  // Verifies a compact JWS ("header.payload.signature"), without the "Bearer " prefix.
  [[nodiscard]] virtual absl::StatusOr<VerifiedToken> Verify(absl::string_view token) = 0;

  // Signature checks performed (cache misses), for tests and metrics.
  virtual int64_t signature_checks() const = 0;
};

}  // namespace dealcoach::auth

#endif  // DEALCOACH_SIDECAR_AUTH_JWT_VERIFIER_H_
