// TLS and mutual TLS on the gRPC listener of a real sidecar on loopback, with
// certificates made by the openssl CLI for the test: a client with a CA-signed
// certificate is served; one without a certificate, with a certificate from another CA,
// or in plaintext is refused; rotating the server's certificate (to one from a second
// CA) is picked up for new connections without a restart while calls on an established
// connection keep succeeding. Plaintext on a non-loopback address is refused unless
// `insecure: true`.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
