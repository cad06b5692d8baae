#include "sidecar/auth/jwt_verifier.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/auth/jwt_test_util.h"

namespace dealcoach::auth {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

using test_keys::B64;
using test_keys::MakeEc;
using test_keys::MakeRsa;
using test_keys::Sign;
using test_keys::TestKey;

Json GoodClaims() {
  return {{"iss", "https://login.example.com"},
          {"aud", "dealcoach"},
          {"sub", "005000000000001"},
          {"exp", absl::ToUnixSeconds(kNow) + 300},
          {"iat", absl::ToUnixSeconds(kNow) - 10},
          {"roles", {"rep", "manager"}},
          {"tenant", "acme"}};
}

class JwtVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rsa_ = MakeRsa("rsa-1");
    ec_ = MakeEc("ec-1");
    char dir[] = "/tmp/dealcoach_jwt_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    jwks_ = dir_ + "/jwks.json";
    WriteJwks({rsa_->jwk, ec_->jwk});
  }
  void TearDown() override {
    std::remove(jwks_.c_str());
    rmdir(dir_.c_str());
  }
  void WriteJwks(const std::vector<Json>& keys, const std::string& raw = "") {
    const std::string tmp = jwks_ + ".tmp";
    std::ofstream(tmp) << (raw.empty() ? Json{{"keys", keys}}.dump() : raw);
    std::rename(tmp.c_str(), jwks_.c_str());
  }
  std::unique_ptr<JwtVerifier> Verifier() {
    JwtVerifierOptions o;
    o.jwks_file = jwks_;
    o.issuers = {"https://login.example.com"};
    o.audiences = {"dealcoach"};
    o.jwks_refresh = absl::ZeroDuration();
    o.now = [this] { return now_; };
    auto v = JwtVerifier::Create(o);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *std::move(v) : nullptr;
  }
  std::string Reason(JwtVerifier& v, const std::string& token) {
    absl::StatusOr<VerifiedToken> r = v.Verify(token);
    EXPECT_FALSE(r.ok());
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    return std::string(r.status().message());
  }

  std::unique_ptr<TestKey> rsa_, ec_;
  std::string dir_, jwks_;
  absl::Time now_ = kNow;
};

TEST_F(JwtVerifierTest, AcceptsRs256AndEs256WithTheirClaims) {
  auto v = Verifier();
  for (const TestKey* key : {rsa_.get(), ec_.get()}) {
    absl::StatusOr<VerifiedToken> t = v->Verify(Sign(*key, GoodClaims()));
    ASSERT_TRUE(t.ok()) << key->alg << ": " << t.status();
    EXPECT_EQ(t->subject, "005000000000001");
    EXPECT_EQ(t->issuer, "https://login.example.com");
    EXPECT_EQ(t->claims.at("roles"), "rep,manager");
    EXPECT_EQ(t->claims.at("tenant"), "acme");
    EXPECT_EQ(t->expires_at, kNow + absl::Seconds(300));
  }
}

TEST_F(JwtVerifierTest, RefusesExpiredFutureWrongAudienceIssuerAndMissingClaims) {
  auto v = Verifier();
  Json c = GoodClaims();
  c["exp"] = absl::ToUnixSeconds(kNow) - 120;
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("expired"));
  // Within the clock skew (60 s): still accepted.
  c["exp"] = absl::ToUnixSeconds(kNow) - 30;
  EXPECT_TRUE(v->Verify(Sign(*rsa_, c)).ok());
  c = GoodClaims();
  c["nbf"] = absl::ToUnixSeconds(kNow) + 600;
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("nbf is in the future"));
  c = GoodClaims();
  c["aud"] = Json::array({"someone-else", "another"});
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("audience"));
  c["aud"] = Json::array({"someone-else", "dealcoach"});
  EXPECT_TRUE(v->Verify(Sign(*rsa_, c)).ok());
  c = GoodClaims();
  c["iss"] = "https://evil.example.com";
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("issuer"));
  c = GoodClaims();
  c.erase("exp");
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("no exp"));
  c = GoodClaims();
  c.erase("sub");
  EXPECT_THAT(Reason(*v, Sign(*rsa_, c)), HasSubstr("no sub"));
}

TEST_F(JwtVerifierTest, RefusesBadSignaturesAlgorithmsAndGarbage) {
  auto v = Verifier();
  auto stranger = MakeRsa("rsa-1");  // same kid, different key
  EXPECT_THAT(Reason(*v, Sign(*stranger, GoodClaims())), HasSubstr("signature does not verify"));
  // A tampered payload with the original signature.
  std::string token = Sign(*rsa_, GoodClaims());
  Json evil = GoodClaims();
  evil["roles"] = "admin";
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  std::string tampered =
      absl::StrCat(token.substr(0, dot1 + 1), B64(evil.dump()), token.substr(dot2));
  EXPECT_THAT(Reason(*v, tampered), HasSubstr("signature does not verify"));
  // alg none and HS256 (the key-confusion attack) are refused before any key is used.
  const std::string none =
      absl::StrCat(B64(R"({"alg":"none"})"), ".", B64(GoodClaims().dump()), ".");
  EXPECT_THAT(Reason(*v, none), HasSubstr("algorithm none is not accepted"));
  const std::string hs =
      absl::StrCat(B64(R"({"alg":"HS256"})"), ".", B64(GoodClaims().dump()), ".", B64("x"));
  EXPECT_THAT(Reason(*v, hs), HasSubstr("HS256"));
  EXPECT_THAT(Reason(*v, "not-a-token"), HasSubstr("compact JWS"));
  EXPECT_THAT(Reason(*v, ""), HasSubstr("missing"));
  EXPECT_THAT(Reason(*v, std::string(9000, 'a')), HasSubstr("longer than"));
  EXPECT_THAT(Reason(*v, "e30.e30.!!!"), HasSubstr("base64url"));
}

TEST_F(JwtVerifierTest, CachesVerifiedTokensUntilTheyExpire) {
  auto v = Verifier();
  const std::string token = Sign(*ec_, GoodClaims());
  ASSERT_TRUE(v->Verify(token).ok());
  const int64_t checks = v->signature_checks();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(v->Verify(token).ok());
  EXPECT_EQ(v->signature_checks(), checks);  // all hits
  now_ = kNow + absl::Seconds(300 + 61);
  EXPECT_THAT(Reason(*v, token), HasSubstr("expired"));
}

TEST_F(JwtVerifierTest, RotatesKeysFromTheFileAndKeepsTheLastGoodOnABrokenOne) {
  auto v = Verifier();
  const std::string old_token = Sign(*rsa_, GoodClaims());
  ASSERT_TRUE(v->Verify(old_token).ok());
  auto next = MakeRsa("rsa-2");
  // Make the mtime differ even on coarse file systems.
  absl::SleepFor(absl::Milliseconds(20));
  WriteJwks({next->jwk});
  EXPECT_TRUE(v->Verify(Sign(*next, GoodClaims())).ok());
  // The removed key's tokens stop working, cached or not.
  EXPECT_FALSE(v->Verify(old_token).ok());
  absl::SleepFor(absl::Milliseconds(20));
  WriteJwks({}, "{not json");
  EXPECT_TRUE(v->Verify(Sign(*next, GoodClaims())).ok());  // last good keys
}

TEST(JwtVerifierCreateTest, RefusesBadJwksAndOptions) {
  JwtVerifierOptions o;
  EXPECT_EQ(JwtVerifier::Create(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.jwks_file = "/nonexistent/jwks.json";
  o.issuers = {"i"};
  o.audiences = {"a"};
  auto missing = JwtVerifier::Create(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("/nonexistent/jwks.json"));
  char path[] = "/tmp/dealcoach_jwks_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  o.jwks_file = path;
  for (const std::string& body : {std::string(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})"),
                                  std::string(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})"),
                                  std::string(R"({"nokeys":1})")}) {
    std::ofstream(path) << body;
    auto v = JwtVerifier::Create(o);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition) << body;
  }
  std::remove(path);
}

}  // namespace
}  // namespace dealcoach::auth
