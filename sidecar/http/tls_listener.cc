#include "sidecar/http/tls_listener.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace dealcoach::http {
namespace {

constexpr unsigned char kSessionIdContext[] = "dealcoach-http";

std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

absl::StatusOr<std::string> ReadWhole(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(key, ": cannot read '", path, "'"));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// Every certificate of a PEM bundle, in order (none: an error naming `what`).
absl::StatusOr<std::vector<X509*>> ReadCertificates(const std::string& pem,
                                                    const std::string& what) {
  BioPtr bio = MemBio(pem);
  std::vector<X509*> out;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.push_back(x);
  ERR_clear_error();  // the end of the bundle reads as an error
  if (out.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": no PEM certificate in the file (no -----BEGIN CERTIFICATE)"));
  }
  return out;
}

void FreeAll(std::vector<X509*>& certs) {
  for (X509* x : certs) X509_free(x);
  certs.clear();
}

void AddName(const GENERAL_NAME* name, std::vector<std::string>* out) {
  int type = 0;
  const ASN1_STRING* value = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(name, &type));
  if (value == nullptr) return;
  const unsigned char* data = ASN1_STRING_get0_data(value);
  const int len = ASN1_STRING_length(value);
  if (type == GEN_DNS || type == GEN_URI || type == GEN_EMAIL) {
    out->emplace_back(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
  } else if (type == GEN_IPADD && len == 4) {
    out->push_back(
        absl::StrCat(int{data[0]}, ".", int{data[1]}, ".", int{data[2]}, ".", int{data[3]}));
  } else if (type == GEN_IPADD && len == 16) {
    std::string v6;
    for (int i = 0; i < 16; i += 2) {
      if (i > 0) v6 += ":";
      absl::StrAppend(&v6, absl::Hex((data[i] << 8) | data[i + 1]));
    }
    out->push_back(std::move(v6));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReloadingTlsContext>> ReloadingTlsContext::Create(
    const TlsListenerOptions& options, absl::string_view key_prefix) {
  if (options.cert_file.empty() || options.key_file.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(key_prefix, ": cert_file and key_file go together (one of them is missing)"));
  }
  std::unique_ptr<ReloadingTlsContext> c(new ReloadingTlsContext(options, std::string(key_prefix)));
  absl::StatusOr<Files> files = c->ReadFiles();
  if (!files.ok()) return files.status();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (ctx == nullptr) return absl::InternalError(absl::StrCat(key_prefix, ": ", OpenSslError()));
  if (absl::Status s = c->Configure(ctx.get(), *files); !s.ok()) return s;
  c->current_ = std::move(ctx);
  c->loaded_ = *std::move(files);
  c->watcher_ = std::thread([p = c.get()] { p->Watch(); });
  return c;
}

ReloadingTlsContext::~ReloadingTlsContext() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

absl::StatusOr<ReloadingTlsContext::Files> ReloadingTlsContext::ReadFiles() const {
  Files f;
  absl::StatusOr<std::string> cert =
      ReadWhole(options_.cert_file, absl::StrCat(key_prefix_, ".cert_file"));
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadWhole(options_.key_file, absl::StrCat(key_prefix_, ".key_file"));
  if (!key.ok()) return key.status();
  f.cert = *std::move(cert);
  f.key = *std::move(key);
  if (!options_.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadWhole(options_.client_ca_file, absl::StrCat(key_prefix_, ".client_ca_file"));
    if (!ca.ok()) return ca.status();
    f.ca = *std::move(ca);
  }
  return f;
}

absl::Status ReloadingTlsContext::Configure(SSL_CTX* ctx, const Files& files) const {
  const std::string cert_key = absl::StrCat(key_prefix_, ".cert_file '", options_.cert_file, "'");
  const std::string key_key = absl::StrCat(key_prefix_, ".key_file '", options_.key_file, "'");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No resumption: every connection's client certificate is verified against the CA
  // bundle of the moment, never carried over from a session made before a rotation.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof(kSessionIdContext) - 1);

  absl::StatusOr<std::vector<X509*>> chain = ReadCertificates(files.cert, cert_key);
  if (!chain.ok()) return chain.status();
  const bool leaf_ok = SSL_CTX_use_certificate(ctx, (*chain)[0]) == 1;
  for (size_t i = 1; leaf_ok && i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, (*chain)[i]) != 1) break;
  }
  FreeAll(*chain);
  if (!leaf_ok) return absl::FailedPreconditionError(absl::StrCat(cert_key, ": ", OpenSslError()));

  BioPtr key_bio = MemBio(files.key);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat(key_key,
                     ": no PEM private key in the file (an encrypted key is not "
                     "supported)"));
  }
  const bool key_ok = SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!key_ok || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat(key_key, ": does not match the certificate in ", options_.cert_file));
  }

  if (!files.ca.empty()) {
    const std::string ca_key =
        absl::StrCat(key_prefix_, ".client_ca_file '", options_.client_ca_file, "'");
    absl::StatusOr<std::vector<X509*>> cas = ReadCertificates(files.ca, ca_key);
    if (!cas.ok()) return cas.status();
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (X509* ca : *cas) {
      if (X509_STORE_add_cert(store, ca) != 1 || SSL_CTX_add_client_CA(ctx, ca) != 1) {
        FreeAll(*cas);
        return absl::FailedPreconditionError(absl::StrCat(ca_key, ": ", OpenSslError()));
      }
    }
    FreeAll(*cas);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return absl::OkStatus();
}

bool ReloadingTlsContext::SetUpServerContext(SSL_CTX& ctx) {
  Files files;
  {
    std::lock_guard<std::mutex> lock(mu_);
    files = loaded_;
  }
  if (!Configure(&ctx, files).ok()) return false;
  // The base context's settings (verify mode above) are what each connection starts
  // with; the callback then moves it onto the newest certificate and CA bundle.
  SSL_CTX_set_client_hello_cb(&ctx, &ReloadingTlsContext::OnClientHello, this);
  return true;
}

std::shared_ptr<SSL_CTX> ReloadingTlsContext::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

int ReloadingTlsContext::OnClientHello(SSL* ssl, int* alert, void* arg) {
  auto* self = static_cast<ReloadingTlsContext*>(arg);
  std::shared_ptr<SSL_CTX> ctx = self->Current();
  // SSL_set_SSL_CTX takes its own reference, so a later rotation may drop ours.
  if (ctx != nullptr && SSL_get_SSL_CTX(ssl) != ctx.get() &&
      SSL_set_SSL_CTX(ssl, ctx.get()) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

absl::Status ReloadingTlsContext::ReloadNow() {
  absl::StatusOr<Files> files = ReadFiles();
  absl::Status status = files.status();
  if (files.ok()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (*files == loaded_) {
        last_error_.clear();
        return absl::OkStatus();
      }
    }
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    status = ctx == nullptr ? absl::InternalError(OpenSslError()) : Configure(ctx.get(), *files);
    if (status.ok()) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        current_ = std::move(ctx);
        loaded_ = *std::move(files);
        last_error_.clear();
      }
      reloads_.fetch_add(1);
      if (options_.log) {
        options_.log(false, absl::StrCat(key_prefix_, ": new certificate from ", options_.cert_file,
                                         " serves new connections"));
      }
      return absl::OkStatus();
    }
  }
  bool report = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    report = last_error_ != status.message();
    last_error_ = std::string(status.message());
  }
  if (report && options_.log) {
    options_.log(true, absl::StrCat(status.message(), " (keeping the last good certificate)"));
  }
  return status;
}

void ReloadingTlsContext::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, absl::ToChronoMilliseconds(
                           std::max(absl::Milliseconds(100), options_.refresh_interval)));
    if (stop_) break;
    lock.unlock();
    (void)ReloadNow();  // a failure keeps the last good context and is logged
    lock.lock();
  }
}

std::vector<std::string> VerifiedPeerSubjects(const SSL* ssl) {
  std::vector<std::string> out;
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return out;
  X509* peer = SSL_get1_peer_certificate(ssl);
  if (peer == nullptr) return out;
  X509_NAME* name = X509_get_subject_name(peer);
  for (int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) {
    const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, cn);
    if (len >= 0) out.emplace_back(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i)
      AddName(sk_GENERAL_NAME_value(sans, i), &out);
    GENERAL_NAMES_free(sans);
  }
  X509_free(peer);
  return out;
}

}  // namespace dealcoach::http
