// Test helpers: signing keys, their JWKs, and signed tokens (OpenSSL), shared by the
// verifier's, the authorizer's and the server's auth tests.
#ifndef DEALCOACH_SIDECAR_AUTH_JWT_TEST_UTIL_H_
#define DEALCOACH_SIDECAR_AUTH_JWT_TEST_UTIL_H_

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace dealcoach::auth::test_keys {

using Json = nlohmann::json;

inline std::string B64(absl::string_view s) { return absl::WebSafeBase64Escape(s); }

inline std::string Bn(EVP_PKEY* k, const char* param, int pad = 0) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(k, param, &bn), 1);
  std::string out(pad > 0 ? pad : BN_num_bytes(bn), '\0');
  if (pad > 0) {
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), pad);
  } else {
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  }
  BN_free(bn);
  return out;
}

// A signing key and its JWK.
struct TestKey {
  EVP_PKEY* pkey = nullptr;
  std::string alg;
  std::string kid;
  Json jwk;
  ~TestKey() { EVP_PKEY_free(pkey); }
};

inline std::unique_ptr<TestKey> MakeRsa(const std::string& kid) {
  auto k = std::make_unique<TestKey>();
  k->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
  k->alg = "RS256";
  k->kid = kid;
  k->jwk = {{"kty", "RSA"},
            {"kid", kid},
            {"use", "sig"},
            {"alg", "RS256"},
            {"n", B64(Bn(k->pkey, OSSL_PKEY_PARAM_RSA_N))},
            {"e", B64(Bn(k->pkey, OSSL_PKEY_PARAM_RSA_E))}};
  return k;
}

inline std::unique_ptr<TestKey> MakeEc(const std::string& kid) {
  auto k = std::make_unique<TestKey>();
  k->pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  k->alg = "ES256";
  k->kid = kid;
  k->jwk = {{"kty", "EC"},
            {"kid", kid},
            {"crv", "P-256"},
            {"x", B64(Bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
            {"y", B64(Bn(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
  return k;
}

inline std::string Sign(const TestKey& key, const Json& claims, std::string alg = "") {
  if (alg.empty()) alg = key.alg;
  const std::string signing_input = absl::StrCat(
      B64(Json{{"alg", alg}, {"typ", "JWT"}, {"kid", key.kid}}.dump()), ".", B64(claims.dump()));
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, key.pkey);
  EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(signing_input.data()),
                 signing_input.size());
  sig.resize(len);
  EVP_MD_CTX_free(md);
  if (key.alg == "ES256") {  // DER -> r || s
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    std::string raw(64, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return absl::StrCat(signing_input, ".", B64(sig));
}

}  // namespace dealcoach::auth::test_keys

#endif  // DEALCOACH_SIDECAR_AUTH_JWT_TEST_UTIL_H_
