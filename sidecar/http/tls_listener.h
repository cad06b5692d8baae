// TLS and mutual TLS for the HTTP listener, with certificates rotated without a restart.
//
// cpp-httplib's SSLServer takes one OpenSSL SSL_CTX for its lifetime. ReloadingTlsContext
// gives it a base context whose ClientHello callback swaps each new connection onto the
// newest context built from the files (SSL_set_SSL_CTX), so a rotated certificate, key
// or client-CA bundle is used for the next handshake, while connections already open
// keep the context they started with. The files are re-read every refresh_interval
// (like gRPC's FileWatcherCertificateProvider on the gRPC listener); a change that does
// not load (a key that does not match the certificate, because the key was renamed in
// and the certificate not yet) keeps the last good context and is retried on the next
// poll, so the rotation order of cert-manager and Kubernetes Secret volumes never fails
// a handshake.
//
// With client_ca_file, a client certificate signed by one of those CAs is required and
// verified (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT); session resumption is
// off, so every connection is verified against the current CA bundle.
//
// Thread safety: SetUpServerContext once, from the SSLServer constructor; the ClientHello
// callback and ReloadNow from any thread.
#ifndef DEALCOACH_SIDECAR_HTTP_TLS_LISTENER_H_
#define DEALCOACH_SIDECAR_HTTP_TLS_LISTENER_H_

#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace dealcoach::http {

struct TlsListenerOptions {
  // Both set, or both empty (no TLS). PEM: the certificate chain, leaf first; its key.
  std::string cert_file;
  std::string key_file;
  // Non-empty: mutual TLS; a client certificate signed by one of these CAs is required.
  std::string client_ca_file;
  // The files are re-read this often. Default: 10 s.
  absl::Duration refresh_interval = absl::Seconds(10);
  // Where a rotation and a rejected change are reported (warning = true for the latter).
  // Default: nowhere.
  std::function<void(bool warning, const std::string& line)> log;

  bool enabled() const { return !cert_file.empty(); }
};

class ReloadingTlsContext {
 public:
  // Loads the files once (FailedPrecondition naming `key_prefix`.cert_file etc. when one
  // does not load) and starts the watcher thread.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ReloadingTlsContext>> Create(
      const TlsListenerOptions& options, absl::string_view key_prefix);
  ~ReloadingTlsContext();
  ReloadingTlsContext(const ReloadingTlsContext&) = delete;
  ReloadingTlsContext& operator=(const ReloadingTlsContext&) = delete;

  // Configures the SSLServer's own context (the callback of its constructor): the
  // current certificate, protocol floor, verification, and the ClientHello swap. This
  // object must outlive the server.
  bool SetUpServerContext(SSL_CTX& ctx);

  // Re-reads the files: Ok when unchanged or replaced; the load error when they changed
  // but do not load (the last good context stays).
  [[nodiscard]] absl::Status ReloadNow();

  // Contexts built since Create (rotations picked up).
  int64_t reloads() const { return reloads_.load(); }
  bool mutual() const { return !options_.client_ca_file.empty(); }

 private:
  explicit ReloadingTlsContext(TlsListenerOptions options, std::string key_prefix)
      : options_(std::move(options)), key_prefix_(std::move(key_prefix)) {}
  struct Files {
    std::string cert, key, ca;
    bool operator==(const Files& o) const { return cert == o.cert && key == o.key && ca == o.ca; }
  };
  absl::StatusOr<Files> ReadFiles() const;
  // Fills `ctx` from `files`.
  absl::Status Configure(SSL_CTX* ctx, const Files& files) const;
  std::shared_ptr<SSL_CTX> Current() const;
  static int OnClientHello(SSL* ssl, int* alert, void* arg);
  void Watch();

  const TlsListenerOptions options_;
  const std::string key_prefix_;
  mutable std::mutex mu_;
  std::shared_ptr<SSL_CTX> current_;  // guarded by mu_
  Files loaded_;                      // guarded by mu_ (what current_ was built from)
  std::string last_error_;            // guarded by mu_ (logged once per distinct error)
  std::atomic<int64_t> reloads_{0};
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread watcher_;
};

// The verified client certificate's CN and subject alternative names (DNS, URI, email,
// IP), for the identity mapping (auth.mtls.identities); empty without one.
[[nodiscard]] std::vector<std::string> VerifiedPeerSubjects(const SSL* ssl);

}  // namespace dealcoach::http

#endif  // DEALCOACH_SIDECAR_HTTP_TLS_LISTENER_H_
