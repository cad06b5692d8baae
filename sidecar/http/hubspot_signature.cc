#include "sidecar/http/hubspot_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace dealcoach::http {
namespace {

constexpr absl::Duration kMaxSkew = absl::Minutes(5);

char DecodedEscape(char hi, char lo) {
  const std::string hex = absl::AsciiStrToUpper(std::string{hi, lo});
  static constexpr struct {
    const char* escape;
    char ch;
  } kDecoded[] = {{"3A", ':'},  {"2F", '/'}, {"3F", '?'}, {"40", '@'}, {"21", '!'}, {"24", '$'},
                  {"27", '\''}, {"28", '('}, {"29", ')'}, {"2A", '*'}, {"2C", ','}, {"3B", ';'}};
  for (const auto& d : kDecoded) {
    if (hex == d.escape) return d.ch;
  }
  return '\0';
}

}  // namespace

std::string HubSpotCanonicalUri(absl::string_view uri) {
  std::string out;
  out.reserve(uri.size());
  for (size_t i = 0; i < uri.size(); ++i) {
    if (uri[i] == '%' && i + 2 < uri.size()) {
      char c = DecodedEscape(uri[i + 1], uri[i + 2]);
      if (c != '\0') {
        out.push_back(c);
        i += 2;
        continue;
      }
    }
    out.push_back(uri[i]);
  }
  return out;
}

std::string HubSpotSignatureV3(absl::string_view secret, absl::string_view method,
                               absl::string_view uri, absl::string_view body,
                               absl::string_view timestamp) {
  const std::string message = absl::StrCat(method, HubSpotCanonicalUri(uri), body, timestamp);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

absl::Status VerifyHubSpotSignatureV3(absl::string_view secret, absl::string_view method,
                                      absl::string_view uri, absl::string_view body,
                                      absl::string_view timestamp, absl::string_view signature,
                                      absl::Time now) {
  if (signature.empty()) {
    return absl::UnauthenticatedError("X-HubSpot-Signature-v3: missing");
  }
  int64_t millis = 0;
  if (!absl::SimpleAtoi(timestamp, &millis)) {
    return absl::UnauthenticatedError(
        "X-HubSpot-Request-Timestamp: missing or not milliseconds since the epoch");
  }
  const absl::Time at = absl::FromUnixMillis(millis);
  if (now - at > kMaxSkew) {
    return absl::UnauthenticatedError(
        "X-HubSpot-Request-Timestamp: older than 5 minutes (replayed or delayed request)");
  }
  if (at - now > kMaxSkew) {
    return absl::UnauthenticatedError(
        "X-HubSpot-Request-Timestamp: more than 5 minutes in the future");
  }
  const std::string expected = HubSpotSignatureV3(secret, method, uri, body, timestamp);
  if (expected.size() != signature.size() ||
      CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) != 0) {
    return absl::UnauthenticatedError(
        "X-HubSpot-Signature-v3: does not match this request (wrong client secret, or the "
        "URL, body or timestamp changed on the way)");
  }
  return absl::OkStatus();
}

}  // namespace dealcoach::http
