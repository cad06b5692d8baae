// TLS and mutual TLS on the gRPC listener of a real sidecar on loopback, with
// certificates made by the openssl CLI for the test: a client with a CA-signed
// certificate is served; one without a certificate, with a certificate from another CA,
// or in plaintext is refused; rotating the server's certificate (to one from a second
// CA) is picked up for new connections without a restart while calls on an established
// connection keep succeeding. Plaintext on a non-loopback address is refused unless
// `insecure: true`. The HTTP listener (cpp-httplib's SSLServer over ReloadingTlsContext)
// gets the same: mTLS required, server certificate and client-CA bundle rotated while
// calls flow on kept-alive and on fresh connections, with no failed call.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/http/hubspot_signature.h"
#include "sidecar/http/tls_listener.h"
#include "sidecar/server/tls.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using ::testing::HasSubstr;

void Shell(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  ASSERT_EQ(std::system(quiet.c_str()), 0) << command;
}

// A CA (ca.pem, ca-key.pem) in `dir` under `prefix`.
void MakeCa(const std::string& dir, const std::string& prefix) {
  Shell(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=", prefix,
                     "-ca -keyout ", dir, "/", prefix, "-ca-key.pem -out ", dir, "/", prefix,
                     "-ca.pem"));
}

// A certificate `name`.pem / `name`-key.pem signed by CA `ca`, for 127.0.0.1 / localhost.
// The host name is in the CN as well as the SAN: the TLS stack of Debian 12's gRPC 1.51
// on OpenSSL 3 did not match these test certificates' SAN ("Peer name localhost is not
// in peer certificate") but does fall back to the CN (docs/operations.md says so too).
void MakeCert(const std::string& dir, const std::string& ca, const std::string& name,
              const std::string& usage) {
  const std::string ext = absl::StrCat(dir, "/", name, ".ext");
  Shell(absl::StrCat("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=", usage,
                     "\\n' > ", ext));
  Shell(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=localhost/O=", name,
                     " -keyout ", dir, "/", name, "-key.pem -out ", dir, "/", name, ".csr"));
  Shell(absl::StrCat("openssl x509 -req -days 2 -in ", dir, "/", name, ".csr -CA ", dir, "/", ca,
                     "-ca.pem -CAkey ", dir, "/", ca, "-ca-key.pem -CAcreateserial -extfile ", ext,
                     " -out ", dir, "/", name, ".pem"));
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& dir,
                                          const std::string& root_ca,
                                          const std::string& client_cert) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(absl::StrCat(dir, "/", root_ca, "-ca.pem"));
  if (!client_cert.empty()) {
    options.pem_cert_chain = ReadFileOrDie(absl::StrCat(dir, "/", client_cert, ".pem"));
    options.pem_private_key = ReadFileOrDie(absl::StrCat(dir, "/", client_cert, "-key.pem"));
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // A fresh connection per channel: rotation is about new handshakes.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

grpc::Status Call(const std::shared_ptr<grpc::Channel>& channel, const std::string& deal) {
  auto stub = v1::CoachingService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(deal);
  v1::GetDealGuidanceResponse resp;
  return stub->GetDealGuidance(&ctx, req, &resp);
}

TEST(TlsIntegrationTest, MutualTlsRequiredAndRotatedWithoutAFailedCall) {
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCa(d, "two");
  MakeCert(d, "one", "server", "serverAuth");
  MakeCert(d, "two", "server2", "serverAuth");
  MakeCert(d, "one", "client", "clientAuth");
  MakeCert(d, "two", "stranger", "clientAuth");
  // The server serves server.pem and trusts clients of CA one.
  Shell(absl::StrCat("cp ", d, "/server.pem ", d, "/live.pem && cp ", d, "/server-key.pem ", d,
                     "/live-key.pem"));

  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"),
      "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"", SamplesFile(),
      "\"}}\nsource: {sync_interval: 1h}\ntls:\n  cert_file: live.pem\n  key_file: "
      "live-key.pem\n  client_ca_file: one-ca.pem\n  refresh_interval: 1s\n");
  auto s = StartSidecar(yaml, d);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string address = (*s)->address();
  const std::string deal = LoadSamples().front().id();

  // A client of CA one, trusting CA one: served.
  std::shared_ptr<grpc::Channel> established = TlsChannel(address, d, "one", "client");
  ASSERT_TRUE(Call(established, deal).ok());
  // No client certificate, a certificate from another CA, plaintext: refused.
  EXPECT_EQ(Call(TlsChannel(address, d, "one", ""), deal).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Call(TlsChannel(address, d, "one", "stranger"), deal).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(
      Call(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()), deal).error_code(),
      grpc::StatusCode::UNAVAILABLE);

  // Calls keep flowing on the established connection while the certificate rotates.
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0}, failed_calls{0};
  std::thread load([&] {
    while (!stop.load()) {
      (Call(established, deal).ok() ? ok_calls : failed_calls).fetch_add(1);
    }
  });
  absl::SleepFor(absl::Milliseconds(200));
  // Key first, then the certificate, each by rename: the watcher never reads half a file.
  Shell(absl::StrCat("cp ", d, "/server2-key.pem ", d, "/tmp-key.pem && mv ", d, "/tmp-key.pem ", d,
                     "/live-key.pem && cp ", d, "/server2.pem ", d, "/tmp.pem && mv ", d,
                     "/tmp.pem ", d, "/live.pem"));
  // New handshakes present the CA-two certificate within the refresh interval (+ slack).
  bool rotated = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!rotated && absl::Now() < deadline) {
    rotated = Call(TlsChannel(address, d, "two", "client"), deal).ok();
    if (!rotated) absl::SleepFor(absl::Milliseconds(200));
  }
  stop = true;
  load.join();
  EXPECT_TRUE(rotated) << "the rotated certificate was not served within 10 s";
  EXPECT_GT(ok_calls.load(), 0);
  EXPECT_EQ(failed_calls.load(), 0);
  // Clients still trusting only CA one now fail the handshake: the old cert is gone.
  EXPECT_FALSE(Call(TlsChannel(address, d, "one", "client"), deal).ok());
}

// By name: cpp-httplib 0.11's client did not match these certificates' IP SAN for
// "127.0.0.1" (its DNS SAN "localhost" matches).
constexpr char kHost[] = "localhost";

// An HTTPS client of the HTTP listener trusting `root_pem` (a file in `dir`), presenting
// `client_cert` when set; a fresh connection unless kept alive by the caller.
std::unique_ptr<httplib::SSLClient> HttpsClient(int port, const std::string& dir,
                                                const std::string& root_pem,
                                                const std::string& client_cert) {
  std::unique_ptr<httplib::SSLClient> c;
  if (client_cert.empty()) {
    c = std::make_unique<httplib::SSLClient>(kHost, port);
  } else {
    c = std::make_unique<httplib::SSLClient>(kHost, port,
                                             absl::StrCat(dir, "/", client_cert, ".pem"),
                                             absl::StrCat(dir, "/", client_cert, "-key.pem"));
  }
  c->set_ca_cert_path(absl::StrCat(dir, "/", root_pem).c_str());
  c->enable_server_certificate_verification(true);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(5, 0);
  return c;
}

// 200 with guidance JSON, else false (a refused handshake has no response at all).
bool HttpGuidance(httplib::SSLClient& client, const std::string& deal) {
  httplib::Result r = client.Get(absl::StrCat("/v1/deals/", deal, "/guidance").c_str());
  return r && r->status == 200 && r->body.find("\"guidance\"") != std::string::npos;
}

TEST(TlsIntegrationTest, HttpMutualTlsRequiredAndRotatedWithoutAFailedCall) {
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCa(d, "two");
  MakeCert(d, "one", "server", "serverAuth");
  MakeCert(d, "two", "server2", "serverAuth");
  MakeCert(d, "one", "client", "clientAuth");
  MakeCert(d, "two", "stranger", "clientAuth");
  Shell(absl::StrCat("cp ", d, "/server.pem ", d, "/live.pem && cp ", d, "/server-key.pem ", d,
                     "/live-key.pem && cp ", d, "/one-ca.pem ", d, "/clients.pem && { cat ", d,
                     "/one-ca.pem ", d, "/two-ca.pem > ", d, "/both-ca.pem; }"));
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"),
      "\"]\nreload: {poll_interval: 1h}\nconnector: {type: file, file: {path: \"", SamplesFile(),
      "\"}}\nsource: {sync_interval: 1h}\nhttp: {listen: \"127.0.0.1:0\"}\ntls:\n  cert_file: "
      "live.pem\n  key_file: live-key.pem\n  client_ca_file: clients.pem\n  refresh_interval: "
      "1s\n");
  auto s = StartSidecar(yaml, d);
  ASSERT_TRUE(s.ok()) << s.status();
  const int port = (*s)->http_port();
  ASSERT_GT(port, 0);
  const std::string deal = LoadSamples().front().id();

  // A client of CA one: served. Without a certificate, with one of CA two, or in
  // plaintext: refused before any request.
  ASSERT_TRUE(HttpGuidance(*HttpsClient(port, d, "both-ca.pem", "client"), deal));
  EXPECT_FALSE(HttpGuidance(*HttpsClient(port, d, "both-ca.pem", ""), deal));
  EXPECT_FALSE(HttpGuidance(*HttpsClient(port, d, "both-ca.pem", "stranger"), deal));
  {
    httplib::Client plain("127.0.0.1", port);
    plain.set_connection_timeout(2, 0);
    plain.set_read_timeout(2, 0);
    httplib::Result r = plain.Get(absl::StrCat("/v1/deals/", deal, "/guidance").c_str());
    EXPECT_FALSE(r && r->status == 200);
  }

  // Calls flow on a kept-alive connection and on a fresh connection per call (a new
  // handshake each) while the certificate, its key and the client CA bundle rotate.
  std::atomic<bool> stop{false};
  std::atomic<int> ok_calls{0}, failed_calls{0}, fresh_ok{0};
  std::thread kept([&] {
    std::unique_ptr<httplib::SSLClient> c = HttpsClient(port, d, "both-ca.pem", "client");
    c->set_keep_alive(true);
    while (!stop.load()) (HttpGuidance(*c, deal) ? ok_calls : failed_calls).fetch_add(1);
  });
  std::thread fresh([&] {
    while (!stop.load()) {
      if (HttpGuidance(*HttpsClient(port, d, "both-ca.pem", "client"), deal)) {
        fresh_ok.fetch_add(1);
      } else {
        failed_calls.fetch_add(1);
      }
    }
  });
  absl::SleepFor(absl::Milliseconds(300));
  // Key first, then the certificate, then the CA bundle, each by rename.
  Shell(absl::StrCat("cp ", d, "/server2-key.pem ", d, "/tmp-key.pem && mv ", d, "/tmp-key.pem ", d,
                     "/live-key.pem && sleep 0.5 && cp ", d, "/server2.pem ", d, "/tmp.pem && mv ",
                     d, "/tmp.pem ", d, "/live.pem && cp ", d, "/both-ca.pem ", d,
                     "/tmp-ca.pem && mv ", d, "/tmp-ca.pem ", d, "/clients.pem"));
  bool rotated = false, ca_rotated = false;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!(rotated && ca_rotated) && absl::Now() < deadline) {
    // Only CA two's server certificate satisfies a client trusting only CA two; only the
    // new client-CA bundle admits the stranger's certificate.
    rotated = rotated || HttpGuidance(*HttpsClient(port, d, "two-ca.pem", "client"), deal);
    ca_rotated = ca_rotated || HttpGuidance(*HttpsClient(port, d, "both-ca.pem", "stranger"), deal);
    if (!(rotated && ca_rotated)) absl::SleepFor(absl::Milliseconds(200));
  }
  absl::SleepFor(absl::Milliseconds(300));  // calls keep flowing after the rotation
  stop = true;
  kept.join();
  fresh.join();
  EXPECT_TRUE(rotated) << "the rotated server certificate was not served within 10 s";
  EXPECT_TRUE(ca_rotated) << "the rotated client CA bundle was not used within 10 s";
  EXPECT_GT(ok_calls.load(), 0);
  EXPECT_GT(fresh_ok.load(), 0);
  EXPECT_EQ(failed_calls.load(), 0);
  // A client trusting only CA one now fails the handshake: the old certificate is gone.
  EXPECT_FALSE(HttpGuidance(*HttpsClient(port, d, "one-ca.pem", "client"), deal));
}

TEST(TlsIntegrationTest, HttpPlaintextLeavesLoopbackOnlyWhenInsecure) {
  TempDir dir;
  const std::string base = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(), "\"}}\nhttp: {listen: \"0.0.0.0:0\"}\n");
  auto refused = StartSidecar(base, dir.path());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("http.listen"));
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("insecure: true"));
  auto allowed = StartSidecar(absl::StrCat(base, "insecure: true\n"), dir.path());
  EXPECT_TRUE(allowed.ok()) << allowed.status();
}

TEST(TlsIntegrationTest, HttpTlsWithItsOwnCertificateAndNoClientCertificates) {
  // http.tls overrides the gRPC listener's tls: here the gRPC side needs client
  // certificates and the browser-facing HTTP side does not.
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCert(d, "one", "server", "serverAuth");
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(),
      "\"}}\ntls: {cert_file: server.pem, key_file: server-key.pem, client_ca_file: one-ca.pem}\n"
      "http:\n  listen: \"127.0.0.1:0\"\n  tls: {cert_file: server.pem, key_file: "
      "server-key.pem}\n");
  auto s = StartSidecar(yaml, d);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(HttpGuidance(*HttpsClient((*s)->http_port(), d, "one-ca.pem", ""),
                           LoadSamples().front().id()));
  EXPECT_FALSE(Call(TlsChannel((*s)->address(), d, "one", ""), LoadSamples().front().id()).ok());
}

TEST(TlsIntegrationTest, HttpClientCertificateIsTheCallersIdentity) {
  // auth.mtls.identities apply to the HTTP listener's client certificates too: the
  // gateway vouches for the verified certificate to the authorizer on its in-process
  // call. The client certificate's CN is "localhost"; a manager here.
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCert(d, "one", "server", "serverAuth");
  MakeCert(d, "one", "client", "clientAuth");
  const std::string common = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(),
      "\"}}\nauth:\n  mode: required\n  mtls:\n    identities: [{subject: localhost, role: "
      "manager}]\n");
  auto s = StartSidecar(
      absl::StrCat(common,
                   "http:\n  listen: \"127.0.0.1:0\"\n  tls: {cert_file: server.pem, key_file: "
                   "server-key.pem, client_ca_file: one-ca.pem}\n"),
      d);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string deal = LoadSamples().front().id();
  std::unique_ptr<httplib::SSLClient> client =
      HttpsClient((*s)->http_port(), d, "one-ca.pem", "client");
  EXPECT_TRUE(HttpGuidance(*client, deal));
  // A manager may not publish playbooks: denied by role, so the identity was applied.
  httplib::Result publish = client->Post("/v1/playbooks:publish", "{}", "application/json");
  ASSERT_TRUE(publish);
  EXPECT_EQ(publish->status, 403) << publish->body;

  // Over plaintext gRPC, the gateway's metadata without the process's token is ignored:
  // no credentials.
  auto plain = StartSidecar(common, d);
  ASSERT_TRUE(plain.ok()) << plain.status();
  auto stub = v1::CoachingService::NewStub(
      grpc::CreateChannel((*plain)->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.AddMetadata("dealcoach-gateway-token", std::string(64, 'a'));
  ctx.AddMetadata("dealcoach-gateway-peer", "localhost");
  v1::GetDealGuidanceRequest req;
  req.set_opportunity_id(deal);
  v1::GetDealGuidanceResponse resp;
  EXPECT_EQ(stub->GetDealGuidance(&ctx, req, &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TlsIntegrationTest, HttpHubSpotSignatureIsTheCallersIdentity) {
  // auth.hubspot: a request signed with the app's client secret is a manager of the
  // configured portal; another portal, or an unsigned request, is refused.
  TempDir dir;
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(),
      "\"}}\nhttp: {listen: \"127.0.0.1:0\", hubspot_client_secret: s3cret, public_url: "
      "\"https://dealcoach.example.com\"}\nauth:\n  mode: required\n  hubspot: {role: "
      "manager, portals: [\"111\"]}\n");
  auto s = StartSidecar(yaml, dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  httplib::Client client("127.0.0.1", (*s)->http_port());
  const std::string deal = LoadSamples().front().id();
  auto signed_get = [&](const std::string& path) {
    const std::string ts = std::to_string(absl::ToUnixMillis(absl::Now()));
    const std::string sig = http::HubSpotSignatureV3(
        "s3cret", "GET", absl::StrCat("https://dealcoach.example.com", path), "", ts);
    return client.Get(path.c_str(),
                      {{"X-HubSpot-Request-Timestamp", ts}, {"X-HubSpot-Signature-v3", sig}});
  };
  httplib::Result ok =
      signed_get(absl::StrCat("/v1/deals/", deal, "/guidance?portalId=111&userId=42"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  // Another HubSpot account with the same secret: not this tenant's caller.
  httplib::Result other =
      signed_get(absl::StrCat("/v1/deals/", deal, "/guidance?portalId=222&userId=42"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 401) << other->body;
  httplib::Result unsigned_get =
      client.Get(absl::StrCat("/v1/deals/", deal, "/guidance?portalId=111&userId=42").c_str());
  ASSERT_TRUE(unsigned_get);
  EXPECT_EQ(unsigned_get->status, 401) << unsigned_get->body;
}

TEST(TlsTest, HttpTlsContextKeepsTheLastGoodCertificateOnAMismatchedKey) {
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCert(d, "one", "a", "serverAuth");
  MakeCert(d, "one", "b", "serverAuth");
  Shell(absl::StrCat("cp ", d, "/a.pem ", d, "/live.pem && cp ", d, "/a-key.pem ", d,
                     "/live-key.pem"));
  http::TlsListenerOptions o;
  o.cert_file = d + "/live.pem";
  o.key_file = d + "/live-key.pem";
  o.refresh_interval = absl::Hours(1);  // ReloadNow only
  auto ctx = http::ReloadingTlsContext::Create(o, "http.tls");
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  EXPECT_TRUE((*ctx)->ReloadNow().ok());
  EXPECT_EQ((*ctx)->reloads(), 0);  // unchanged files: nothing rebuilt
  Shell(absl::StrCat("cp ", d, "/b-key.pem ", d, "/live-key.pem"));
  absl::Status half = (*ctx)->ReloadNow();
  EXPECT_EQ(half.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(half.message()), HasSubstr("does not match the certificate"));
  EXPECT_EQ((*ctx)->reloads(), 0);
  Shell(absl::StrCat("cp ", d, "/b.pem ", d, "/live.pem"));
  EXPECT_TRUE((*ctx)->ReloadNow().ok());
  EXPECT_EQ((*ctx)->reloads(), 1);

  http::TlsListenerOptions missing = o;
  missing.key_file = d + "/nope.pem";
  absl::StatusOr<std::unique_ptr<http::ReloadingTlsContext>> bad =
      http::ReloadingTlsContext::Create(missing, "http.tls");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("http.tls.key_file"));
}

TEST(TlsIntegrationTest, ServerTlsWithoutClientCertificates) {
  TempDir dir;
  const std::string d = dir.path();
  MakeCa(d, "one");
  MakeCert(d, "one", "server", "serverAuth");
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(), "\"}}\ntls: {cert_file: server.pem, key_file: server-key.pem}\n");
  auto s = StartSidecar(yaml, d);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(Call(TlsChannel((*s)->address(), d, "one", ""), LoadSamples().front().id()).ok());
}

TEST(TlsIntegrationTest, MissingCertificateFileNamesTheKey) {
  TempDir dir;
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nconnector: {type: file, file: {path: \"",
      SamplesFile(), "\"}}\ntls: {cert_file: nope.pem, key_file: nope-key.pem}\n");
  auto s = StartSidecar(yaml, dir.path());
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("tls.cert_file"));
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("nope.pem"));
}

TEST(TlsTest, PlaintextLeavesLoopbackOnlyWhenInsecure) {
  server::TlsConfig plain;
  EXPECT_TRUE(server::ServerCredentialsFor(plain, "127.0.0.1:50051").ok());
  EXPECT_TRUE(server::ServerCredentialsFor(plain, "[::1]:50051").ok());
  EXPECT_TRUE(server::ServerCredentialsFor(plain, "localhost:0").ok());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> exposed =
      server::ServerCredentialsFor(plain, "0.0.0.0:50051");
  ASSERT_FALSE(exposed.ok());
  EXPECT_EQ(exposed.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(exposed.status().message()), HasSubstr("insecure: true"));
  plain.insecure = true;
  EXPECT_TRUE(server::ServerCredentialsFor(plain, "0.0.0.0:50051").ok());

  server::TlsConfig half;
  half.cert_file = "/x.pem";
  EXPECT_EQ(server::ServerCredentialsFor(half, "127.0.0.1:1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dealcoach::testing
