// Team limits and tenants for the credentials other than JWT, on a real sidecar on
// loopback: an mTLS manager mapped to team X (auth.mtls.identities[].team) is refused
// team Y's review and agenda with exactly the text a JWT manager of team X gets, and a
// manager certificate without a team is refused while teams are on; a HubSpot-signed
// call from portal P (auth.hubspot.portals: P -> tenant) is served from P's tenant, and
// a portal not in the map is UNAUTHENTICATED. Certificates are made by the openssl CLI.
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/auth/jwt_test_util.h"
#include "sidecar/http/hubspot_signature.h"
#include "tests/integration/test_support.h"

namespace dealcoach::testing {
namespace {

using auth::test_keys::Json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kIssuer[] = "https://login.example.com";
constexpr char kTeamX[] = "005000000000001AAA";  // manager of reps ...011 and ...012
constexpr char kTeamY[] = "005000000000002AAA";  // manager of reps ...013 and ...014
constexpr char kRepX[] = "005000000000011AAA";
constexpr char kRepY[] = "005000000000013AAA";

void Shell(const std::string& command) {
  const std::string quiet = absl::StrCat(command, " >/dev/null 2>&1");
  ASSERT_EQ(std::system(quiet.c_str()), 0) << command;
}

// `name`.pem / `name`-key.pem signed by ca.pem, with CN and SAN `cn` (the subject the
// authorizer maps), for `usage` (serverAuth or clientAuth).
void MakeCert(const std::string& dir, const std::string& name, const std::string& cn,
              const std::string& usage) {
  const std::string ext = absl::StrCat(dir, "/", name, ".ext");
  Shell(absl::StrCat("printf 'subjectAltName=DNS:", cn, "\\nextendedKeyUsage=", usage, "\\n' > ",
                     ext));
  Shell(absl::StrCat("openssl req -newkey rsa:2048 -nodes -subj /CN=", cn, " -keyout ", dir, "/",
                     name, "-key.pem -out ", dir, "/", name, ".csr"));
  Shell(absl::StrCat("openssl x509 -req -days 2 -in ", dir, "/", name, ".csr -CA ", dir,
                     "/ca.pem -CAkey ", dir, "/ca-key.pem -CAcreateserial -extfile ", ext, " -out ",
                     dir, "/", name, ".pem"));
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& address, const std::string& dir,
                                          const std::string& client) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadFileOrDie(dir + "/ca.pem");
  options.pem_cert_chain = ReadFileOrDie(absl::StrCat(dir, "/", client, ".pem"));
  options.pem_private_key = ReadFileOrDie(absl::StrCat(dir, "/", client, "-key.pem"));
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
}

// What a caller gets for one pipeline question: the code and message.
struct Answer {
  grpc::StatusCode code;
  std::string message;
};

Answer Review(const std::shared_ptr<grpc::Channel>& ch, const std::string& bearer,
              const std::string& manager_id) {
  grpc::ClientContext ctx;
  if (!bearer.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetPipelineReviewRequest req;
  req.mutable_scope()->set_manager_id(manager_id);
  v1::GetPipelineReviewResponse resp;
  grpc::Status st = v1::CoachingService::NewStub(ch)->GetPipelineReview(&ctx, req, &resp);
  return {st.error_code(), st.error_message()};
}

Answer Agenda(const std::shared_ptr<grpc::Channel>& ch, const std::string& bearer,
              const std::string& rep_id) {
  grpc::ClientContext ctx;
  if (!bearer.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetCoachingAgendaRequest req;
  req.set_rep_id(rep_id);
  v1::GetCoachingAgendaResponse resp;
  grpc::Status st = v1::CoachingService::NewStub(ch)->GetCoachingAgenda(&ctx, req, &resp);
  return {st.error_code(), st.error_message()};
}

TEST(TeamCredentialsTest, MtlsManagerOfTeamXIsDeniedTeamYLikeAJwtManager) {
  TempDir dir;
  const std::string d = dir.path();
  Shell(absl::StrCat("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ",
                     d, "/ca-key.pem -out ", d, "/ca.pem"));
  MakeCert(d, "server", "localhost", "serverAuth");
  MakeCert(d, "lead-x", "lead-x", "clientAuth");
  MakeCert(d, "lead-none", "lead-none", "clientAuth");
  MakeCert(d, "director", "director", "clientAuth");
  auto key = auth::test_keys::MakeRsa("k1");
  dir.Write("jwks.json", Json{{"keys", {key->jwk}}}.dump());
  const std::string yaml = absl::StrCat(
      "listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
      ShippedPlaybook("customer-journey"), "\"]\nreload: {poll_interval: 1h}\n",
      "connector: {type: file, file: {path: \"", SamplesFile(), "\"}}\n",
      "source: {sync_interval: 1h}\n",
      "tls: {cert_file: server.pem, key_file: server-key.pem, client_ca_file: ca.pem}\n",
      "auth:\n  mode: required\n  tenant: acme\n  jwt:\n    jwks_file: jwks.json\n",
      "    issuers: [\"", kIssuer, "\"]\n    audiences: [dealcoach]\n    team_claim: team\n",
      "  mtls:\n    identities:\n", "      - {subject: lead-x, role: manager, team: ", kTeamX,
      "}\n", "      - {subject: lead-none, role: manager}\n",
      "      - {subject: director, role: manager, all_teams: true}\n");
  auto s = StartSidecar(yaml, d);
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string address = (*s)->address();
  const auto mtls = TlsChannel(address, d, "lead-x");
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  // The JWT manager of the same team, under the same subject, over a TLS channel whose
  // certificate maps to no team (the bearer token is the identity when both are sent).
  const std::string jwt = auth::test_keys::Sign(*key, {{"iss", kIssuer},
                                                       {"aud", "dealcoach"},
                                                       {"sub", "lead-x"},
                                                       {"exp", now + 300},
                                                       {"iat", now - 5},
                                                       {"roles", {"manager"}},
                                                       {"tenant", "acme"},
                                                       {"team", kTeamX}});
  const auto jwt_channel = TlsChannel(address, d, "lead-none");

  // Wait for the first sync (the team's review is served once deals are cached).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline && Review(mtls, "", kTeamX).code != grpc::StatusCode::OK) {
    absl::SleepFor(absl::Milliseconds(50));
  }

  const std::string denial = "caller 'lead-x' (role manager) may see only their own team's deals";
  struct Row {
    const char* what;
    std::function<Answer(const std::shared_ptr<grpc::Channel>&, const std::string&)> call;
    grpc::StatusCode code;
  };
  const Row rows[] = {
      {"review of team X", [](auto& ch, auto& b) { return Review(ch, b, kTeamX); },
       grpc::StatusCode::OK},
      {"review of team Y", [](auto& ch, auto& b) { return Review(ch, b, kTeamY); },
       grpc::StatusCode::PERMISSION_DENIED},
      {"review of a team that does not exist",
       [](auto& ch, auto& b) { return Review(ch, b, "005000000000999AAA"); },
       grpc::StatusCode::PERMISSION_DENIED},
      {"agenda of a rep of team X", [](auto& ch, auto& b) { return Agenda(ch, b, kRepX); },
       grpc::StatusCode::OK},
      {"agenda of a rep of team Y", [](auto& ch, auto& b) { return Agenda(ch, b, kRepY); },
       grpc::StatusCode::PERMISSION_DENIED},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.what);
    const Answer by_cert = row.call(mtls, "");
    const Answer by_token = row.call(jwt_channel, jwt);
    EXPECT_EQ(by_cert.code, row.code) << by_cert.message;
    EXPECT_EQ(by_token.code, row.code) << by_token.message;
    if (row.code == grpc::StatusCode::PERMISSION_DENIED) {
      EXPECT_EQ(by_cert.message, denial);
      EXPECT_EQ(by_token.message, denial);
    }
  }

  // A manager certificate with no team while teams are on: refused, as a JWT manager
  // without the team claim is; `all_teams: true` sees every team.
  const Answer none = Review(TlsChannel(address, d, "lead-none"), "", kTeamX);
  EXPECT_EQ(none.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.message, HasSubstr("no team"));
  const auto director = TlsChannel(address, d, "director");
  EXPECT_EQ(Review(director, "", kTeamY).code, grpc::StatusCode::OK);
  EXPECT_EQ(Agenda(director, "", kRepY).code, grpc::StatusCode::OK);
}

TEST(TeamCredentialsTest, HubSpotPortalRoutesToItsTenant) {
  // Tenant acme: the shipped samples; tenant globex: the same deals renumbered
  // (0069... instead of 0060...). Portal 111 is acme's HubSpot account, 222 globex's.
  TempDir dir;
  const std::string samples = ReadFileOrDie(SamplesFile());
  dir.Write("globex.json", absl::StrReplaceAll(samples, {{"\"006000000", "\"006900000"},
                                                         {"\"005000000", "\"005900000"},
                                                         {"\"001000000", "\"001900000"},
                                                         {"\"003000000", "\"003900000"}}));
  const std::string yaml =
      absl::StrCat("listen: 127.0.0.1:0\nlog_level: error\nplaybooks:\n  files: [\"",
                   ShippedPlaybook("customer-journey"), "\"]\nreload: {poll_interval: 1h}\n",
                   "connector: {type: file, file: {path: \"", SamplesFile(), "\"}}\n",
                   "source: {sync_interval: 1h}\n",
                   "http: {listen: \"127.0.0.1:0\", hubspot_client_secret: s3cret, public_url: "
                   "\"https://dealcoach.example.com\"}\n",
                   "auth:\n  mode: required\n  tenant: acme\n  hubspot:\n    role: manager\n",
                   "    portals: {\"111\": acme, \"222\": globex}\n",
                   "tenants:\n  globex:\n    connector: {type: file, file: {path: globex.json}}\n",
                   "    playbooks: {files: [\"", ShippedPlaybook("meddicc"), "\"]}\n");
  auto s = StartSidecar(yaml, dir.path());
  ASSERT_TRUE(s.ok()) << s.status();
  httplib::Client client("127.0.0.1", (*s)->http_port());
  auto guidance = [&](const std::string& deal, const std::string& portal) {
    const std::string path =
        absl::StrCat("/v1/deals/", deal, "/guidance?portalId=", portal, "&userId=42");
    const std::string ts = std::to_string(absl::ToUnixMillis(absl::Now()));
    const std::string sig = http::HubSpotSignatureV3(
        "s3cret", "GET", absl::StrCat("https://dealcoach.example.com", path), "", ts);
    httplib::Result r = client.Get(
        path.c_str(), {{"X-HubSpot-Request-Timestamp", ts}, {"X-HubSpot-Signature-v3", sig}});
    return r ? std::make_pair(r->status, r->body) : std::make_pair(-1, std::string());
  };
  const std::string acme_deal = "006000000000001AAA";
  const std::string globex_deal = "006900000000001AAA";
  const std::string nowhere_deal = "006999999999999AAA";
  // Both tenants sync at start: wait until each serves its own deal.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline &&
         (guidance(globex_deal, "222").first != 200 || guidance(acme_deal, "111").first != 200)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const auto globex_own = guidance(globex_deal, "222");
  EXPECT_EQ(globex_own.first, 200) << globex_own.second;
  EXPECT_THAT(globex_own.second, HasSubstr(globex_deal));
  EXPECT_THAT(globex_own.second, HasSubstr("meddicc"));  // globex's playbook
  const auto acme_own = guidance(acme_deal, "111");
  EXPECT_EQ(acme_own.first, 200) << acme_own.second;
  EXPECT_THAT(acme_own.second, Not(HasSubstr("meddicc")));

  // Each portal sees only its tenant: the other tenant's deal answers exactly like a
  // deal that exists nowhere (once the ids are named alike).
  auto named_alike = [](std::string body, const std::string& id) {
    return absl::StrReplaceAll(body, {{id, "<id>"}});
  };
  const auto cross = guidance(globex_deal, "111");
  const auto missing = guidance(nowhere_deal, "111");
  EXPECT_NE(cross.first, 200) << cross.second;
  EXPECT_EQ(cross.first, missing.first);
  EXPECT_EQ(named_alike(cross.second, globex_deal), named_alike(missing.second, nowhere_deal));
  const auto cross2 = guidance(acme_deal, "222");
  EXPECT_NE(cross2.first, 200) << cross2.second;
  EXPECT_EQ(cross2.first, guidance(nowhere_deal, "222").first);

  // A portal not in the map: UNAUTHENTICATED (HTTP 401), whatever the deal.
  const auto unknown = guidance(acme_deal, "333");
  EXPECT_EQ(unknown.first, 401) << unknown.second;
  EXPECT_THAT(unknown.second, Not(HasSubstr(acme_deal)));
  EXPECT_EQ(guidance(globex_deal, "333").first, 401);
}

}  // namespace
}  // namespace dealcoach::testing
