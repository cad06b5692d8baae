#include "connectors/salesforce/jwt.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace dealcoach::connectors::salesforce {

std::string Base64UrlEncode(absl::string_view data) {
  return absl::WebSafeBase64Escape(data);  // web-safe alphabet, no padding
}

absl::StatusOr<std::string> SignJwtRs256(absl::string_view claims_json,
                                         absl::string_view private_key_pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())), &BIO_free);
  if (!bio) return absl::InternalError("jwt: BIO_new_mem_buf failed");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
  if (!key) return absl::InvalidArgumentError("jwt: private key is not a readable PEM key");
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return absl::InvalidArgumentError("jwt: private key must be RSA for RS256");
  }
  const std::string signing_input = absl::StrCat(Base64UrlEncode(R"({"alg":"RS256","typ":"JWT"})"),
                                                 ".", Base64UrlEncode(claims_json));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("jwt: RS256 signing failed");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return absl::InternalError("jwt: RS256 signing failed");
  }
  signature.resize(length);
  return absl::StrCat(signing_input, ".", Base64UrlEncode(signature));
}

}  // namespace dealcoach::connectors::salesforce
