#include "connectors/salesforce/jwt.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace dealcoach::connectors::salesforce {
namespace {

struct KeyPair {
  std::string private_pem;
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
};

KeyPair MakeKey() {
  KeyPair kp;
  kp.key.reset(EVP_RSA_gen(2048));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), kp.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  kp.private_pem.assign(data, static_cast<size_t>(len));
  return kp;
}

TEST(JwtTest, SignsVerifiableRs256Token) {
  KeyPair kp = MakeKey();
  const std::string claims =
      R"({"iss":"client","sub":"user@acme.com","aud":"https://login.salesforce.com","exp":1})";
  absl::StatusOr<std::string> jwt = SignJwtRs256(claims, kp.private_pem);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  std::vector<std::string> parts = absl::StrSplit(*jwt, '.');
  ASSERT_EQ(parts.size(), 3u);
  std::string header, body, signature;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[0], &header));
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[1], &body));
  ASSERT_TRUE(absl::WebSafeBase64Unescape(parts[2], &signature));
  EXPECT_EQ(header, R"({"alg":"RS256","typ":"JWT"})");
  EXPECT_EQ(body, claims);
  EXPECT_EQ(parts[2].find('='), std::string::npos);  // no padding

  const std::string input = parts[0] + "." + parts[1];
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, kp.key.get()), 1);
  EXPECT_EQ(EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
}

TEST(JwtTest, RejectsBadKeyWithoutEchoingIt) {
  absl::StatusOr<std::string> jwt = SignJwtRs256("{}", "-----BEGIN PRIVATE KEY-----\nxyz\n");
  ASSERT_FALSE(jwt.ok());
  EXPECT_EQ(jwt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jwt.status().message(), "jwt: private key is not a readable PEM key");
}

}  // namespace
}  // namespace dealcoach::connectors::salesforce
