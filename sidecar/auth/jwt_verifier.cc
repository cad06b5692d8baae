#include "sidecar/auth/jwt_verifier.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace dealcoach::auth {
namespace {

constexpr size_t kMaxTokenBytes = 8 * 1024;
constexpr size_t kMaxJwksBytes = 1024 * 1024;
constexpr size_t kMaxJwksKeys = 100;
constexpr int kMinRsaBits = 2048;

using Json = nlohmann::json;

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct Key {
  std::string kid;
  std::string alg;  // "RS256" | "ES256"
  Pkey pkey;
};

struct KeySet {
  std::vector<Key> keys;
};

absl::StatusOr<std::string> Base64Url(const Json& v, absl::string_view what) {
  std::string out;
  if (!v.is_string() || !absl::WebSafeBase64Unescape(v.get<std::string>(), &out) || out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is not base64url"));
  }
  return out;
}

// Builds an EVP_PKEY of `type` ("RSA" | "EC") from OSSL params.
absl::StatusOr<Pkey> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool ok = params != nullptr && ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (!ok || pkey == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("not a valid ", type, " public key"));
  }
  return Pkey(pkey);
}

absl::StatusOr<Pkey> RsaKey(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  absl::StatusOr<Pkey> key = absl::InvalidArgumentError("not a valid RSA public key");
  if (bn_n != nullptr && bn_e != nullptr && bld != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    key = FromData("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (key.ok() && EVP_PKEY_get_bits(key->get()) < kMinRsaBits) {
    return absl::InvalidArgumentError(absl::StrCat("RSA key of ", EVP_PKEY_get_bits(key->get()),
                                                   " bits (at least ", kMinRsaBits, " required)"));
  }
  return key;
}

absl::StatusOr<Pkey> P256Key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) {
    return absl::InvalidArgumentError("P-256 coordinates must be 32 bytes each");
  }
  std::string point = absl::StrCat(std::string(1, '\x04'), x, y);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  absl::StatusOr<Pkey> key = absl::InvalidArgumentError("not a valid P-256 public key");
  if (bld != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) ==
          1) {
    key = FromData("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  return key;
}

absl::StatusOr<std::shared_ptr<const KeySet>> ParseJwks(absl::string_view text) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    return absl::InvalidArgumentError("not a JWKS document (an object with a \"keys\" array)");
  }
  if (doc["keys"].size() > kMaxJwksKeys) {
    return absl::InvalidArgumentError(absl::StrCat("more than ", kMaxJwksKeys, " keys"));
  }
  auto set = std::make_shared<KeySet>();
  int index = 0;
  for (const Json& k : doc["keys"]) {
    const std::string where = absl::StrCat("keys[", index++, "]");
    if (!k.is_object() || !k.contains("kty") || !k["kty"].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no kty"));
    }
    // Encryption keys are not ours to use for signatures.
    if (k.contains("use") && k["use"] != "sig") continue;
    Key key;
    if (k.contains("kid") && k["kid"].is_string()) key.kid = k["kid"].get<std::string>();
    const std::string kty = k["kty"].get<std::string>();
    if (kty == "RSA") {
      absl::StatusOr<std::string> n = Base64Url(k.value("n", Json()), where + ".n");
      absl::StatusOr<std::string> e = Base64Url(k.value("e", Json()), where + ".e");
      if (!n.ok()) return n.status();
      if (!e.ok()) return e.status();
      absl::StatusOr<Pkey> pkey = RsaKey(*n, *e);
      if (!pkey.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", pkey.status().message()));
      key.alg = "RS256";
      key.pkey = *std::move(pkey);
    } else if (kty == "EC") {
      if (k.value("crv", "") != "P-256") {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": only crv P-256 (ES256) is supported"));
      }
      absl::StatusOr<std::string> x = Base64Url(k.value("x", Json()), where + ".x");
      absl::StatusOr<std::string> y = Base64Url(k.value("y", Json()), where + ".y");
      if (!x.ok()) return x.status();
      if (!y.ok()) return y.status();
      absl::StatusOr<Pkey> pkey = P256Key(*x, *y);
      if (!pkey.ok())
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", pkey.status().message()));
      key.alg = "ES256";
      key.pkey = *std::move(pkey);
    } else {
      continue;  // oct (HMAC secrets) and others: never accepted.
    }
    if (k.contains("alg") && k["alg"] != key.alg) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": alg ", k["alg"].dump(), " does not fit kty ", kty));
    }
    set->keys.push_back(std::move(key));
  }
  if (set->keys.empty()) return absl::InvalidArgumentError("no RS256 or ES256 signing key");
  return std::shared_ptr<const KeySet>(std::move(set));
}

// JWS ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER.
std::string Es256ToDer(absl::string_view raw) {
  if (raw.size() != 64) return "";
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  std::string der;
  if (sig != nullptr && r != nullptr && s != nullptr && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = nullptr;  // owned by sig now
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(sig, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), static_cast<size_t>(len));
    OPENSSL_free(out);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return der;
}

bool VerifySha256(EVP_PKEY* pkey, absl::string_view data, absl::string_view signature) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  const bool ok =
      md != nullptr && EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey) == 1 &&
      EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

absl::Status Unauthenticated(absl::string_view why) {
  return absl::UnauthenticatedError(absl::StrCat("bearer token: ", why));
}

std::string Sha256(absl::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof(out));
}

class JwtVerifierImpl final : public JwtVerifier {
 public:
  explicit JwtVerifierImpl(JwtVerifierOptions options) : options_(std::move(options)) {
    if (!options_.now) options_.now = [] { return absl::Now(); };
  }

  absl::Status LoadKeys() {
    struct stat st;
    if (stat(options_.jwks_file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("jwks_file '", options_.jwks_file, "' is not a readable regular file"));
    }
    if (static_cast<size_t>(st.st_size) > kMaxJwksBytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "jwks_file '", options_.jwks_file, "' is larger than ", kMaxJwksBytes, " bytes"));
    }
    std::ifstream in(options_.jwks_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<std::shared_ptr<const KeySet>> keys = ParseJwks(text.str());
    if (!keys.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("jwks_file '", options_.jwks_file, "': ", keys.status().message()));
    }
    std::lock_guard<std::mutex> lock(mu_);
    keys_ = *std::move(keys);
    jwks_mtime_ = st.st_mtim;
    jwks_size_ = st.st_size;
    return absl::OkStatus();
  }

  absl::StatusOr<VerifiedToken> Verify(absl::string_view token) override {
    if (token.empty()) return Unauthenticated("missing");
    if (token.size() > kMaxTokenBytes) {
      return Unauthenticated(absl::StrCat("longer than ", kMaxTokenBytes, " bytes"));
    }
    const absl::Time now = options_.now();
    MaybeReloadKeys(now);
    const std::string digest = Sha256(token);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(digest);
      if (it != cache_.end()) {
        if (it->second.expires_at + options_.max_clock_skew > now) return it->second;
        cache_.erase(it);
      }
    }
    absl::StatusOr<VerifiedToken> verified = VerifyUncached(token, now);
    if (verified.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      // Bounded: a full cache is dropped whole (tokens live minutes; refilling is cheap).
      if (cache_.size() >= options_.cache_entries) cache_.clear();
      cache_.emplace(digest, *verified);
    }
    return verified;
  }

  int64_t signature_checks() const override { return signature_checks_.load(); }

 private:
  void MaybeReloadKeys(absl::Time now) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (now - last_jwks_check_ < options_.jwks_refresh) return;
      last_jwks_check_ = now;
    }
    struct stat st;
    if (stat(options_.jwks_file.c_str(), &st) != 0) return;  // keep the last good keys
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.st_mtim.tv_sec == jwks_mtime_.tv_sec && st.st_mtim.tv_nsec == jwks_mtime_.tv_nsec &&
          st.st_size == jwks_size_) {
        return;
      }
    }
    if (LoadKeys().ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      cache_.clear();  // a removed key must not keep its tokens alive
    }
  }

  absl::StatusOr<VerifiedToken> VerifyUncached(absl::string_view token, absl::Time now) {
    std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
    if (parts.size() != 3) return Unauthenticated("not a compact JWS (header.payload.signature)");
    std::string header_text, payload_text, signature;
    if (!absl::WebSafeBase64Unescape(parts[0], &header_text) ||
        !absl::WebSafeBase64Unescape(parts[1], &payload_text) ||
        !absl::WebSafeBase64Unescape(parts[2], &signature)) {
      return Unauthenticated("not base64url");
    }
    Json header = Json::parse(header_text, nullptr, false);
    if (header.is_discarded() || !header.is_object() || !header.contains("alg") ||
        !header["alg"].is_string()) {
      return Unauthenticated("header is not a JSON object with an alg");
    }
    const std::string alg = header["alg"].get<std::string>();
    if (alg != "RS256" && alg != "ES256") {
      return Unauthenticated(absl::StrCat("algorithm ", alg, " is not accepted (RS256, ES256)"));
    }
    const std::string kid =
        header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";

    std::shared_ptr<const KeySet> keys;
    {
      std::lock_guard<std::mutex> lock(mu_);
      keys = keys_;
    }
    const absl::string_view signed_part = token.substr(0, parts[0].size() + 1 + parts[1].size());
    const std::string der = alg == "ES256" ? Es256ToDer(signature) : std::string();
    bool verified = false, candidate = false;
    for (const Key& key : keys->keys) {
      if (key.alg != alg || (!kid.empty() && !key.kid.empty() && key.kid != kid)) continue;
      candidate = true;
      signature_checks_.fetch_add(1);
      if (VerifySha256(key.pkey.get(), signed_part, alg == "ES256" ? der : signature)) {
        verified = true;
        break;
      }
    }
    if (!candidate) {
      return Unauthenticated(absl::StrCat("no ", alg, " key", kid.empty() ? "" : " with kid ",
                                          kid.empty() ? "" : kid, " in the JWKS"));
    }
    if (!verified) return Unauthenticated("signature does not verify");

    Json claims = Json::parse(payload_text, nullptr, false);
    if (claims.is_discarded() || !claims.is_object()) {
      return Unauthenticated("payload is not a JSON object");
    }
    auto time_claim = [&](const char* name) -> std::optional<absl::Time> {
      if (!claims.contains(name) || !claims[name].is_number()) return std::nullopt;
      return absl::FromUnixSeconds(static_cast<int64_t>(claims[name].get<double>()));
    };
    const std::optional<absl::Time> exp = time_claim("exp");
    if (!exp) return Unauthenticated("no exp claim");
    if (*exp + options_.max_clock_skew <= now) {
      return Unauthenticated(absl::StrCat("expired at ", absl::FormatTime(*exp)));
    }
    for (const char* name : {"nbf", "iat"}) {
      const std::optional<absl::Time> t = time_claim(name);
      if (t && *t - options_.max_clock_skew > now) {
        return Unauthenticated(
            absl::StrCat(name, " is in the future (", absl::FormatTime(*t), ")"));
      }
    }
    const std::string iss = claims.value("iss", "");
    if (std::find(options_.issuers.begin(), options_.issuers.end(), iss) ==
        options_.issuers.end()) {
      return Unauthenticated(absl::StrCat("issuer '", iss.substr(0, 200), "' not accepted"));
    }
    std::vector<std::string> auds;
    if (claims.contains("aud") && claims["aud"].is_string()) {
      auds.push_back(claims["aud"].get<std::string>());
    } else if (claims.contains("aud") && claims["aud"].is_array()) {
      for (const Json& a : claims["aud"]) {
        if (a.is_string()) auds.push_back(a.get<std::string>());
      }
    }
    const bool aud_ok = std::any_of(auds.begin(), auds.end(), [&](const std::string& a) {
      return std::find(options_.audiences.begin(), options_.audiences.end(), a) !=
             options_.audiences.end();
    });
    if (!aud_ok) {
      return Unauthenticated(
          absl::StrCat("audience '", absl::StrJoin(auds, ",").substr(0, 200), "' not accepted"));
    }
    VerifiedToken out;
    out.subject = claims.value("sub", "");
    if (out.subject.empty()) return Unauthenticated("no sub claim");
    out.issuer = iss;
    out.expires_at = *exp;
    for (const auto& [name, value] : claims.items()) {
      if (value.is_string()) {
        out.claims[name] = value.get<std::string>();
      } else if (value.is_array()) {
        std::vector<std::string> items;
        for (const Json& v : value) {
          if (v.is_string()) items.push_back(v.get<std::string>());
        }
        out.claims[name] = absl::StrJoin(items, ",");
      }
    }
    return out;
  }

  JwtVerifierOptions options_;
  std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;
  timespec jwks_mtime_{};
  off_t jwks_size_ = 0;
  absl::Time last_jwks_check_ = absl::InfinitePast();
  absl::flat_hash_map<std::string, VerifiedToken> cache_;
  std::atomic<int64_t> signature_checks_{0};
};

}  // namespace

absl::StatusOr<std::unique_ptr<JwtVerifier>> JwtVerifier::Create(JwtVerifierOptions options) {
  if (options.jwks_file.empty()) return absl::InvalidArgumentError("jwt.jwks_file is required");
  if (options.issuers.empty()) return absl::InvalidArgumentError("jwt.issuers: at least one");
  if (options.audiences.empty()) return absl::InvalidArgumentError("jwt.audiences: at least one");
  if (options.cache_entries == 0) options.cache_entries = 1;
  auto verifier = std::make_unique<JwtVerifierImpl>(std::move(options));
  if (absl::Status s = verifier->LoadKeys(); !s.ok()) return s;
  return std::unique_ptr<JwtVerifier>(std::move(verifier));
}

}  // namespace dealcoach::auth
