#include "sidecar/auth/grpc_credentials.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"

namespace dealcoach::auth {
namespace {

std::string Value(const grpc::string_ref& v) { return std::string(v.data(), v.size()); }

bool SameToken(const grpc::string_ref& got) {
  const std::string& want = GatewayToken();
  return got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0;
}

}  // namespace

const std::string& GatewayToken() {
  static const std::string* token = [] {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();  // no entropy: nothing is safe
    return new std::string(
        absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(bytes), sizeof(bytes))));
  }();
  return *token;
}

CallCredentials CredentialsFromGrpc(const grpc::ServerContextBase& context) {
  CallCredentials c;
  const auto& md = context.client_metadata();
  if (auto it = md.find("authorization"); it != md.end()) c.authorization = Value(it->second);
  if (auto it = md.find("x-dealcoach-tenant"); it != md.end()) c.tenant_header = Value(it->second);
  if (std::shared_ptr<const grpc::AuthContext> peer = context.auth_context();
      peer != nullptr && peer->IsPeerAuthenticated()) {
    for (const char* property : {"x509_common_name", "x509_subject_alternative_name"}) {
      for (const grpc::string_ref& v : peer->FindPropertyValues(property)) {
        c.peer_subjects.push_back(Value(v));
      }
    }
  }
  auto token = md.find(kGatewayTokenKey);
  if (token == md.end() || !SameToken(token->second)) return c;
  auto [peer_begin, peer_end] = md.equal_range(kGatewayPeerKey);
  for (auto it = peer_begin; it != peer_end; ++it) c.peer_subjects.push_back(Value(it->second));
  if (auto it = md.find(kGatewayHubSpotKey); it != md.end()) {
    std::pair<std::string, std::string> parts = absl::StrSplit(
        absl::string_view(it->second.data(), it->second.size()), absl::MaxSplits('/', 1));
    HubSpotCaller h;
    h.portal_id = std::move(parts.first);
    h.user_id = std::move(parts.second);
    c.hubspot = std::move(h);
  }
  return c;
}

}  // namespace dealcoach::auth
