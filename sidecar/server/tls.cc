#include "sidecar/server/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sidecar/runtime/log.h"

namespace dealcoach::server {
namespace {

// A PEM file we can read, or why not (the gRPC provider would only log it later and
// fail every handshake).
absl::Status CheckPemFile(const std::string& path, absl::string_view key) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": '", path, "' is not a readable regular file"));
  }
  std::ifstream in(path);
  std::string head(64, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  if (!absl::StrContains(head, "-----BEGIN ")) {
    return absl::FailedPreconditionError(
        absl::StrCat(key, ": '", path, "' is not a PEM file (no -----BEGIN line)"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackListen(absl::string_view listen) {
  absl::string_view host = listen.substr(0, listen.rfind(':'));
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsConfig& tls, absl::string_view listen, absl::string_view key_prefix) {
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_prefix, ": cert_file and key_file go together (one of them is missing)"));
  }
  if (!tls.enabled()) {
    if (!tls.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key_prefix, ".client_ca_file needs cert_file and key_file"));
    }
    if (!IsLoopbackListen(listen)) {
      if (!tls.insecure) {
        return absl::FailedPreconditionError(absl::StrCat(
            "refusing plaintext on non-loopback address ", listen, ": configure ", key_prefix,
            ".cert_file/key_file, or set insecure: true if a mesh terminates TLS"));
      }
      runtime::LogWarning("serving PLAINTEXT on non-loopback address ", listen,
                          " (insecure: true): callers and deals travel unencrypted");
    }
    return grpc::InsecureServerCredentials();
  }
  if (absl::Status s = CheckPemFile(tls.cert_file, absl::StrCat(key_prefix, ".cert_file"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckPemFile(tls.key_file, absl::StrCat(key_prefix, ".key_file")); !s.ok()) {
    return s;
  }
  if (!tls.client_ca_file.empty()) {
    if (absl::Status s =
            CheckPemFile(tls.client_ca_file, absl::StrCat(key_prefix, ".client_ca_file"));
        !s.ok()) {
      return s;
    }
  }
  const unsigned refresh_seconds =
      static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(tls.refresh_interval)));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file, tls.cert_file, tls.client_ca_file, refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace dealcoach::server
