// X-HubSpot-Signature-v3 against vectors computed independently (Node's crypto:
// createHmac("sha256", secret).update(method + uri + body + ts).digest("base64")).
#include "sidecar/http/hubspot_signature.h"

#include "gtest/gtest.h"

namespace dealcoach::http {
namespace {

constexpr char kSecret[] = "dealcoach-test-client-secret";
constexpr char kTs[] = "1795176000000";  // 2026-11-20T12:00:00Z in milliseconds
const absl::Time kNow = absl::FromUnixMillis(1795176000000);

// The URL as sent: '@' percent-encoded, which HubSpot decodes before signing.
constexpr char kGetUri[] =
    "https://dealcoach.example.com/v1/deals/006000000000006AAA/guidance?userId=123&portalId=456"
    "&userEmail=rep%40example.com&appId=789";
constexpr char kGetSig[] = "eHafAV8YvPnfGAA9UOCc8d8Wv8J48VNkDrdDfQG7A5o=";
constexpr char kPostUri[] = "https://dealcoach.example.com/v1/guidance";
constexpr char kPostBody[] = R"({"opportunityId":"006000000000006AAA"})";
constexpr char kPostSig[] = "xIsbOHYWwx4PA6L19SiK/6zUrXd+F0APpdHa8njGqXo=";

TEST(HubSpotSignature, MatchesIndependentVectors) {
  EXPECT_EQ(HubSpotSignatureV3(kSecret, "GET", kGetUri, "", kTs), kGetSig);
  EXPECT_EQ(HubSpotSignatureV3(kSecret, "POST", kPostUri, kPostBody, kTs), kPostSig);
  EXPECT_TRUE(VerifyHubSpotSignatureV3(kSecret, "GET", kGetUri, "", kTs, kGetSig, kNow).ok());
  EXPECT_TRUE(
      VerifyHubSpotSignatureV3(kSecret, "POST", kPostUri, kPostBody, kTs, kPostSig, kNow).ok());
}

TEST(HubSpotSignature, CanonicalUriDecodesOnlyTheListedEscapes) {
  EXPECT_EQ(HubSpotCanonicalUri("https://x/a%3Ab%2fc?d=%40%20%25"), "https://x/a:b/c?d=@%20%25");
  EXPECT_EQ(HubSpotCanonicalUri("%"), "%");
  EXPECT_EQ(HubSpotCanonicalUri("a%4"), "a%4");
}

TEST(HubSpotSignature, RejectsTamperingAndOldOrFutureTimestamps) {
  auto verify = [](absl::string_view method, absl::string_view body, absl::string_view ts,
                   absl::string_view sig, absl::Time now) {
    return VerifyHubSpotSignatureV3(kSecret, method, kPostUri, body, ts, sig, now);
  };
  EXPECT_EQ(verify("POST", R"({"opportunityId":"x"})", kTs, kPostSig, kNow).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verify("PUT", kPostBody, kTs, kPostSig, kNow).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(
      VerifyHubSpotSignatureV3("other-secret", "POST", kPostUri, kPostBody, kTs, kPostSig, kNow)
          .code(),
      absl::StatusCode::kUnauthenticated);
  // Exactly 5 minutes old passes; a millisecond more is a replay.
  EXPECT_TRUE(verify("POST", kPostBody, kTs, kPostSig, kNow + absl::Minutes(5)).ok());
  absl::Status old =
      verify("POST", kPostBody, kTs, kPostSig, kNow + absl::Minutes(5) + absl::Milliseconds(1));
  EXPECT_EQ(old.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(old.message().find("older than 5 minutes"), absl::string_view::npos);
  EXPECT_EQ(verify("POST", kPostBody, kTs, kPostSig, kNow - absl::Minutes(6)).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verify("POST", kPostBody, "", kPostSig, kNow).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verify("POST", kPostBody, kTs, "", kNow).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace dealcoach::http
