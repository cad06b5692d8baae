// HubSpot's v3 request signature (X-HubSpot-Signature-v3), checked by the HTTP listener
// when a HubSpot app card calls the sidecar through hubspot.fetch.
//
// As HubSpot documents it (docs/kits.md cites the page): reject a request whose
// X-HubSpot-Request-Timestamp (milliseconds since the epoch) is older than 5 minutes;
// otherwise the signature is base64(HMAC-SHA256(client secret, UTF-8 of
// method + URI + body + timestamp)), where URI is the full URL HubSpot called with
// these percent-escapes decoded: %3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 )
// %2A * %2C , %3B ;. We also reject timestamps more than 5 minutes in the future (a
// clock that far ahead is a replay window too).
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_HTTP_HUBSPOT_SIGNATURE_H_
#define DEALCOACH_SIDECAR_HTTP_HUBSPOT_SIGNATURE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::http {

// The URI as HubSpot signs it: the listed escapes decoded, everything else unchanged.
std::string HubSpotCanonicalUri(absl::string_view uri);

// base64(HMAC-SHA256(secret, method + HubSpotCanonicalUri(uri) + body + timestamp)).
std::string HubSpotSignatureV3(absl::string_view secret, absl::string_view method,
                               absl::string_view uri, absl::string_view body,
                               absl::string_view timestamp);

// OK when `signature` is right for the request and `timestamp` is within 5 minutes of
// `now`. Unauthenticated otherwise, saying which check failed (never the expected value).
[[nodiscard]] absl::Status VerifyHubSpotSignatureV3(absl::string_view secret,
                                                    absl::string_view method, absl::string_view uri,
                                                    absl::string_view body,
                                                    absl::string_view timestamp,
                                                    absl::string_view signature, absl::Time now);

}  // namespace dealcoach::http

#endif  // DEALCOACH_SIDECAR_HTTP_HUBSPOT_SIGNATURE_H_
