// Transport security for the sidecar's listeners.
//
//   tls:
//     cert_file: certs/server.pem        # server certificate chain (PEM)
//     key_file: certs/server-key.pem     # its private key (PEM)
//     client_ca_file: certs/clients.pem  # set: mutual TLS, a client certificate signed by
//                                        # one of these CAs is required and verified
//     refresh_interval: 10s              # files re-read this often: rotate without restart
//   insecure: false                      # plaintext on a non-loopback address needs true
//
// Certificates are watched by gRPC's FileWatcherCertificateProvider: a rotated
// certificate or CA bundle is used for new handshakes within refresh_interval, while
// established connections keep working. Plaintext is the default only on loopback:
// binding any other address without TLS is refused unless `insecure: true`, which logs a
// warning at start.
//
// Thread safety: pure functions (the provider is gRPC's, and thread-safe).
#ifndef DEALCOACH_SIDECAR_SERVER_TLS_H_
#define DEALCOACH_SIDECAR_SERVER_TLS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::server {

struct TlsConfig {
  // Both set, or both empty (no TLS). Resolved against the config file's directory.
  std::string cert_file;
  std::string key_file;
  // Non-empty: mutual TLS (require and verify the client's certificate).
  std::string client_ca_file;
  absl::Duration refresh_interval = absl::Seconds(10);
  // Allows plaintext on a non-loopback address.
  bool insecure = false;

  bool enabled() const { return !cert_file.empty(); }
};

// True for 127.0.0.0/8, ::1 and "localhost" (host part of `listen`, "host:port").
[[nodiscard]] bool IsLoopbackListen(absl::string_view listen);

// The credentials for a listener on `listen`: TLS (or mTLS) from `tls`, else plaintext
// when `listen` is loopback or `tls.insecure`. FailedPrecondition naming the key when a
// certificate file is missing or unreadable, or when plaintext would be exposed;
// InvalidArgument when only one of cert_file / key_file is set.
[[nodiscard]] absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const TlsConfig& tls, absl::string_view listen, absl::string_view key_prefix = "tls");

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_TLS_H_
