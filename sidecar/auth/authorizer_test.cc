#include "sidecar/auth/authorizer.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/auth/jwt_test_util.h"

namespace dealcoach::auth {
namespace {

using test_keys::Json;
using ::testing::HasSubstr;

constexpr char kMethodGuidance[] = "/dealcoach.v1.CoachingService/GetDealGuidance";
constexpr char kMethodPublish[] = "/dealcoach.v1.PlaybookService/PublishPlaybook";

absl::StatusOr<AuthConfig> Parse(const std::string& yaml) {
  return ParseAuthConfig(YAML::Load(yaml), "/etc/dealcoach");
}

TEST(AuthConfigTest, AbsentIsOffWithTheDefaultTenant) {
  absl::StatusOr<AuthConfig> c = ParseAuthConfig(YAML::Node(), "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->required);
  EXPECT_EQ(c->tenant, "default");
}

TEST(AuthConfigTest, ParsesEverySetting) {
  absl::StatusOr<AuthConfig> c = Parse(R"(
mode: required
tenant: acme
jwt:
  jwks_file: keys/jwks.json
  issuers: [https://login.example.com]
  audiences: dealcoach
  max_clock_skew: 30s
  owner_claim: crm_user_id
mtls:
  identities:
    - {subject: crm-backend, role: service}
roles: {"Sales Rep": rep}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->required);
  EXPECT_EQ(c->tenant, "acme");
  ASSERT_TRUE(c->jwt.has_value());
  EXPECT_EQ(c->jwt->jwks_file, "/etc/dealcoach/keys/jwks.json");
  EXPECT_EQ(c->jwt->audiences, std::vector<std::string>{"dealcoach"});
  EXPECT_EQ(c->jwt->max_clock_skew, absl::Seconds(30));
  EXPECT_EQ(c->owner_claim, "crm_user_id");
  ASSERT_EQ(c->mtls_identities.size(), 1u);
  EXPECT_EQ(c->mtls_identities[0].role, Role::kService);
  EXPECT_EQ(c->mtls_identities[0].tenant, "acme");  // the sidecar's, by default
  EXPECT_EQ(c->role_map.at("Sales Rep"), Role::kRep);
}

TEST(AuthConfigTest, ErrorsNameTheKeyAndLine) {
  struct Case {
    const char* yaml;
    const char* message;
  } cases[] = {
      {"mode: sometimes", "auth.mode: must be off or required"},
      {"mode: required", "needs a way to authenticate"},
      {"colour: blue", "auth.colour: unknown setting"},
      {"roles: {x: emperor}", "'emperor' is not a role"},
      {"jwt: {issuers: [a], audiences: [b]}", "auth.jwt.jwks_file: is required"},
      {"jwt: {jwks_file: j, audiences: [b]}", "auth.jwt.issuers"},
      {"tenant: acme\n\njwt: {jwks_file: j, issuers: [a], audiences: [b], max_clock_skew: 2h}",
       "line 3: auth.jwt.max_clock_skew"},
      {"mtls: {identities: [{subject: x}]}", "auth.mtls.identities[].role: is required"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<AuthConfig> parsed = Parse(c.yaml);
    ASSERT_FALSE(parsed.ok()) << c.yaml;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.yaml;
  }
}

class AuthorizerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = test_keys::MakeEc("ec-1");
    char dir[] = "/tmp/dealcoach_authz_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    std::ofstream(dir_ + "/jwks.json") << Json{{"keys", {key_->jwk}}}.dump();
  }
  void TearDown() override {
    std::remove((dir_ + "/jwks.json").c_str());
    rmdir(dir_.c_str());
  }
  std::unique_ptr<Authorizer> Make(bool required) {
    AuthConfig c;
    c.required = required;
    c.tenant = "acme";
    JwtVerifierOptions o;
    o.jwks_file = dir_ + "/jwks.json";
    o.issuers = {"iss"};
    o.audiences = {"aud"};
    c.jwt = o;
    c.role_map["Sales Manager"] = Role::kManager;
    c.mtls_identities.push_back({"crm-backend", Role::kService, "acme", "", false});
    absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(c);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }
  std::string Bearer(const Json& roles, const std::string& tenant = "acme") {
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    return "Bearer " + test_keys::Sign(*key_, {{"iss", "iss"},
                                               {"aud", "aud"},
                                               {"sub", "005A"},
                                               {"exp", now + 60},
                                               {"roles", roles},
                                               {"tenant", tenant}});
  }
  std::unique_ptr<test_keys::TestKey> key_;
  std::string dir_;
};

TEST_F(AuthorizerTest, RolesFromClaimsTakeTheHighestMappedRole) {
  auto a = Make(true);
  CallCredentials creds;
  creds.authorization = Bearer({"rep", "Sales Manager", "unknown"});
  absl::StatusOr<Identity> id = a->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->role, Role::kManager);
  EXPECT_EQ(id->tenant, "acme");
  EXPECT_EQ(id->owner_id, "");  // not a rep: not restricted to own deals
  EXPECT_TRUE(a->Authorize(*id, kMethodGuidance).ok());
  EXPECT_EQ(a->Authorize(*id, kMethodPublish).code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, RepsSeeOnlyTheirOwnDeals) {
  auto a = Make(true);
  CallCredentials creds;
  creds.authorization = Bearer({"rep"});
  absl::StatusOr<Identity> id = a->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->owner_id, "005A");
  EXPECT_TRUE(a->AuthorizeDeal(*id, "005A").ok());
  EXPECT_EQ(a->AuthorizeDeal(*id, "005B").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, MtlsSubjectsMapToConfiguredIdentities) {
  auto a = Make(true);
  CallCredentials creds;
  creds.peer_subjects = {"other.example.com", "crm-backend"};
  absl::StatusOr<Identity> id = a->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->via, "mtls");
  EXPECT_EQ(id->role, Role::kService);
  creds.peer_subjects = {"stranger"};
  EXPECT_EQ(a->Authenticate(creds).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(AuthorizerTest, OptionalModeLetsAnonymousCallersInButStillChecksTokens) {
  auto a = Make(false);
  absl::StatusOr<Identity> anonymous = a->Authenticate({});
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ(anonymous->role, Role::kAdmin);
  CallCredentials bad;
  bad.authorization = "Bearer x.y.z";
  EXPECT_EQ(a->Authenticate(bad).status().code(), absl::StatusCode::kUnauthenticated);
  bad.authorization = "Basic dXNlcjpwYXNz";
  EXPECT_THAT(a->Authenticate(bad).status().message(), HasSubstr("Bearer"));
}

TEST_F(AuthorizerTest, UnknownMethodsAreDenied) {
  auto a = Make(false);
  absl::StatusOr<Identity> admin = a->Authenticate({});
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(a->Authorize(*admin, "/dealcoach.v1.CoachingService/DropAllTables").code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizerTest, OtherTenantsGetTheSameDenialWhateverTheMethod) {
  auto a = Make(true);
  CallCredentials creds;
  creds.authorization = Bearer({"admin"}, "globex");
  absl::StatusOr<Identity> id = a->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  absl::Status guidance = a->Authorize(*id, kMethodGuidance);
  EXPECT_EQ(guidance.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(guidance.message(), ::testing::Not(HasSubstr("acme")));
  // The tenant header: a rep may not use it; a service may.
  creds.authorization = Bearer({"rep"});
  creds.tenant_header = "globex";
  EXPECT_EQ(a->Authenticate(creds).status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(HubSpotIdentityTest, AVerifiedHubSpotCallGetsTheConfiguredRoleAndTenant) {
  absl::StatusOr<AuthConfig> c = Parse(R"(
mode: required
tenant: acme
hubspot: {role: manager, portals: ["111"]}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(*c);
  ASSERT_TRUE(a.ok()) << a.status();
  CallCredentials creds;
  creds.hubspot = HubSpotCaller{"111", "42"};
  absl::StatusOr<Identity> id = (*a)->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->via, "hubspot");
  EXPECT_EQ(id->subject, "portal/111/user/42");
  EXPECT_EQ(id->role, Role::kManager);
  EXPECT_EQ(id->tenant, "acme");
  EXPECT_TRUE((*a)->Authorize(*id, kMethodGuidance).ok());
  EXPECT_EQ((*a)->Authorize(*id, kMethodPublish).code(), absl::StatusCode::kPermissionDenied);

  // Another HubSpot account, or no signature at all: unauthenticated.
  creds.hubspot = HubSpotCaller{"222", "42"};
  EXPECT_EQ((*a)->Authenticate(creds).status().code(), absl::StatusCode::kUnauthenticated);
  creds.hubspot.reset();
  EXPECT_EQ((*a)->Authenticate(creds).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(HubSpotIdentityTest, RepsOwnTheirUserIdsDealsAndOperatorRolesAreRefused) {
  absl::StatusOr<AuthConfig> c = Parse("mode: required\nhubspot: {role: rep}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(*c);
  ASSERT_TRUE(a.ok()) << a.status();
  CallCredentials creds;
  creds.hubspot = HubSpotCaller{"999", "42"};
  absl::StatusOr<Identity> id = (*a)->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_TRUE((*a)->AuthorizeDeal(*id, "42").ok());
  EXPECT_EQ((*a)->AuthorizeDeal(*id, "43").code(), absl::StatusCode::kPermissionDenied);

  absl::StatusOr<AuthConfig> admin = Parse("hubspot: {role: admin}\n");
  ASSERT_FALSE(admin.ok());
  EXPECT_THAT(std::string(admin.status().message()), HasSubstr("auth.hubspot.role"));
}

TEST_F(AuthorizerTest, TeamLimitedManagersSeeOnlyTheirTeamsDeals) {
  AuthConfig c;
  c.required = true;
  c.tenant = "acme";
  c.other_tenants = {"globex"};
  JwtVerifierOptions o;
  o.jwks_file = dir_ + "/jwks.json";
  o.issuers = {"iss"};
  o.audiences = {"aud"};
  c.jwt = o;
  c.team_claim = "team";
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(c);
  ASSERT_TRUE(a.ok()) << a.status();
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  Json claims = {{"iss", "iss"},         {"aud", "aud"},       {"sub", "mgr"},  {"exp", now + 60},
                 {"roles", {"manager"}}, {"tenant", "globex"}, {"team", "005M"}};
  CallCredentials creds;
  creds.authorization = "Bearer " + test_keys::Sign(*key_, claims);
  absl::StatusOr<Identity> id = (*a)->Authenticate(creds);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->team, "005M");
  EXPECT_TRUE(TeamLimited(*id));
  // globex is served here too, so its managers pass the tenant check.
  EXPECT_TRUE((*a)->Authorize(*id, kMethodGuidance).ok());
  EXPECT_TRUE((*a)->AuthorizeDeal(*id, "005R", "005M", "").ok());
  EXPECT_TRUE((*a)->AuthorizeDeal(*id, "005R", "", "005M").ok());
  absl::Status other = (*a)->AuthorizeDeal(*id, "005R", "005N", "West");
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(other.message(), "caller 'mgr' (role manager) may see only their own team's deals");
  // A manager token without the claim is refused; other roles need none.
  claims.erase("team");
  creds.authorization = "Bearer " + test_keys::Sign(*key_, claims);
  EXPECT_EQ((*a)->Authenticate(creds).status().code(), absl::StatusCode::kUnauthenticated);
  claims["roles"] = {"admin"};
  creds.authorization = "Bearer " + test_keys::Sign(*key_, claims);
  absl::StatusOr<Identity> admin = (*a)->Authenticate(creds);
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_FALSE(TeamLimited(*admin));
  EXPECT_TRUE((*a)->AuthorizeDeal(*admin, "005R", "005N", "West").ok());
  // A tenant not served here: the one denial text.
  claims["tenant"] = "initech";
  creds.authorization = "Bearer " + test_keys::Sign(*key_, claims);
  absl::StatusOr<Identity> stranger = (*a)->Authenticate(creds);
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ((*a)->Authorize(*stranger, kMethodGuidance).message(),
            "caller 'mgr' (role admin) may not call GetDealGuidance on this sidecar");
}

TEST(AuthConfigTest, TeamClaimIsAJwtSetting) {
  absl::StatusOr<AuthConfig> c =
      Parse("jwt: {jwks_file: j.json, issuers: [i], audiences: [a], team_claim: team}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->team_claim, "team");
  EXPECT_EQ(Parse("jwt: {jwks_file: j.json, issuers: [i], audiences: [a], team_claim: [x]}\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dealcoach::auth

namespace dealcoach::auth {
namespace {

TEST(TeamCredentialsTest, MtlsManagersCarryATeamOrSayAllTeams) {
  absl::StatusOr<AuthConfig> c = Parse(R"(
mode: required
tenant: acme
mtls:
  identities:
    - {subject: lead-x, role: manager, team: 005X}
    - {subject: director, role: manager, all_teams: true}
    - {subject: lead-none, role: manager}
    - {subject: backend, role: service}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->TeamsOn());
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(*c);
  ASSERT_TRUE(a.ok()) << a.status();
  auto as = [&](const std::string& subject) {
    CallCredentials creds;
    creds.peer_subjects = {subject};
    return (*a)->Authenticate(creds);
  };
  absl::StatusOr<Identity> x = as("lead-x");
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_TRUE(TeamLimited(*x));
  EXPECT_TRUE((*a)->AuthorizeDeal(*x, "005R", "005X", "").ok());
  // The same denial text as a JWT manager of another team gets (TeamDenied).
  EXPECT_EQ((*a)->AuthorizeDeal(*x, "005R", "005Y", "").message(),
            "caller 'lead-x' (role manager) may see only their own team's deals");
  absl::StatusOr<Identity> director = as("director");
  ASSERT_TRUE(director.ok()) << director.status();
  EXPECT_FALSE(TeamLimited(*director));
  // No team and no explicit all_teams while teams are on: refused, like a JWT manager
  // without the team claim.
  absl::StatusOr<Identity> none = as("lead-none");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("no team"));
  EXPECT_TRUE(as("backend").ok());

  // Without any team in the config, a manager sees the whole tenant as before.
  absl::StatusOr<AuthConfig> old =
      Parse("mode: required\nmtls: {identities: [{subject: lead, role: manager}]}\n");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_FALSE(old->TeamsOn());
  absl::StatusOr<std::unique_ptr<Authorizer>> b = Authorizer::Create(*old);
  ASSERT_TRUE(b.ok());
  CallCredentials creds;
  creds.peer_subjects = {"lead"};
  absl::StatusOr<Identity> lead = (*b)->Authenticate(creds);
  ASSERT_TRUE(lead.ok()) << lead.status();
  EXPECT_FALSE(TeamLimited(*lead));

  EXPECT_THAT(
      std::string(
          Parse("mtls: {identities: [{subject: s, role: service, team: x}]}\n").status().message()),
      HasSubstr("manager role only"));
  EXPECT_THAT(std::string(Parse("mtls: {identities: [{subject: s, role: manager, team: x, "
                                "all_teams: true}]}\n")
                              .status()
                              .message()),
              HasSubstr("not both"));
}

TEST(TeamCredentialsTest, HubSpotPortalsMapToTenantsAndTeams) {
  absl::StatusOr<AuthConfig> c = Parse(R"(
mode: required
tenant: acme
hubspot:
  role: manager
  portals:
    "111": acme
    "222": {tenant: globex, team: 005G}
    "333": {tenant: globex}
    "444": {tenant: globex, all_teams: true}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  c->other_tenants = {"globex"};
  absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(*c);
  ASSERT_TRUE(a.ok()) << a.status();
  auto from = [&](const std::string& portal) {
    CallCredentials creds;
    creds.hubspot = HubSpotCaller{portal, "42"};
    return (*a)->Authenticate(creds);
  };
  absl::StatusOr<Identity> g = from("222");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->tenant, "globex");
  EXPECT_EQ(g->team, "005G");
  EXPECT_EQ((*a)->AuthorizeDeal(*g, "42", "005A", "").message(),
            "caller 'portal/222/user/42' (role manager) may see only their own team's deals");
  absl::StatusOr<Identity> all = from("444");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->tenant, "globex");
  EXPECT_FALSE(TeamLimited(*all));
  // Teams are on (portal 222 names one): portals 111 and 333 name neither a team nor
  // all_teams, so their managers are refused.
  EXPECT_EQ(from("111").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(from("333").status().code(), absl::StatusCode::kUnauthenticated);
  absl::StatusOr<Identity> unknown = from("999");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("not in auth.hubspot.portals"));

  // Without teams: the map only routes portals to tenants.
  absl::StatusOr<AuthConfig> plain =
      Parse("mode: required\nhubspot: {portals: {\"111\": acme, \"222\": globex}}\n");
  ASSERT_TRUE(plain.ok()) << plain.status();
  absl::StatusOr<std::unique_ptr<Authorizer>> b = Authorizer::Create(*plain);
  ASSERT_TRUE(b.ok());
  CallCredentials creds;
  creds.hubspot = HubSpotCaller{"222", "7"};
  absl::StatusOr<Identity> p = (*b)->Authenticate(creds);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->tenant, "globex");
  EXPECT_FALSE(TeamLimited(*p));
  EXPECT_EQ(Parse("hubspot: {role: rep, portals: {\"1\": {tenant: a, team: t}}}\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dealcoach::auth
