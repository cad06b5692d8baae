// Authorizer: who is calling (authentication), and may they call this method
// (authorization). One instance per sidecar, built from the `auth:` section:
//
//   auth:
//     mode: required            # off (default: every caller is an anonymous admin, as on
//                               # a loopback-only sidecar) | required
//     tenant: acme              # this sidecar's tenant (default "default")
//     jwt:                      # bearer tokens (Authorization: Bearer ...), e.g. a
//       jwks_file: jwks.json    # Salesforce Named Credential's per-user JWT
//       issuers: [https://login.example.com]
//       audiences: [dealcoach]
//       max_clock_skew: 60s
//       role_claim: roles       # claim naming the caller's roles (list or comma-joined)
//       tenant_claim: tenant    # claim naming the caller's tenant
//       owner_claim: sub        # claim holding the CRM user id a rep owns deals as
//       team_claim: team        # optional: managers see only their team (see Identity)
//     mtls:                     # client certificates (needs tls.client_ca_file)
//       identities:
//         - subject: crm-backend    # the certificate's CN or a SAN
//           role: service
//           tenant: acme
//         - subject: emea-lead      # a manager: `team: X` limits them to team X;
//           role: manager           # `all_teams: true` says they see the whole tenant
//           team: 005000000000001AAA
//     roles:                    # claim value -> role; rep/manager/admin/service map to
//       "Sales Rep": rep        # themselves without an entry
//
// Roles, from least to most: rep (guidance and checklists for the deals they own),
// manager (any deal of the tenant, the pipeline review and agendas), service (a trusted
// backend, e.g. the CRM's server calling for its users: everything a manager may, and it
// may name the tenant in the x-dealcoach-tenant header), admin (everything, including
// playbook writes and status). Every RPC has an entry in the policy table (PolicyFor);
// a method without one is denied, so a new RPC cannot ship open by accident.
//
// Errors reveal nothing about other tenants: a caller of another tenant gets the same
// PERMISSION_DENIED text whatever exists there.
//
// Thread safety: Authenticate and Authorize are safe from any thread.
#ifndef DEALCOACH_SIDECAR_AUTH_AUTHORIZER_H_
#define DEALCOACH_SIDECAR_AUTH_AUTHORIZER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "sidecar/auth/jwt_verifier.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::auth {

enum class Role { kNone = 0, kRep = 1, kManager = 2, kService = 3, kAdmin = 4 };

[[nodiscard]] absl::string_view RoleName(Role role);
[[nodiscard]] std::optional<Role> ParseRole(absl::string_view name);

struct Identity {
  std::string subject;  // JWT sub, certificate subject, or "anonymous"
  Role role = Role::kNone;
  std::string tenant;
  // The CRM user id whose deals a rep may see ("" = not restricted: not a rep, or no
  // owner claim configured).
  std::string owner_id;
  // The team a manager is limited to ("" = not limited: not a manager, or no team claim
  // configured): a deal is the team's when its owner.manager_id or owner.team equals it.
  std::string team;
  std::string via;  // "jwt", "mtls", "hubspot", "anonymous"
};

// With teams on (AuthConfig::TeamsOn) a manager identity needs `team` or `all_teams`,
// else its calls are refused (UNAUTHENTICATED), like a JWT manager without the team claim.
struct MtlsIdentity {
  std::string subject;
  Role role = Role::kNone;
  std::string tenant;
  std::string team;        // a manager's team ("" = none configured)
  bool all_teams = false;  // explicit: this manager sees the whole tenant
};

// One HubSpot account (portalId) a signed call may come from, and whom it speaks for.
struct HubSpotPortal {
  std::string id;
  std::string tenant;
  std::string team;  // with role manager: the team every user of the portal is limited to
  bool all_teams = false;
};

// HTTP calls from a HubSpot app card whose X-HubSpot-Signature-v3 verified
// (http.hubspot_client_secret): who they are.
//
//   auth:
//     hubspot:
//       role: manager          # rep or manager (default manager): HubSpot has already
//                              # checked the user may open the record
//       tenant: acme           # default auth.tenant
//       portals: ["12345678"]  # optional: only these HubSpot accounts (portalId), all
//                              # of tenant `tenant`; or a map portal -> tenant:
//       portals:
//         "111": acme
//         "222": {tenant: globex, team: 005900000000001AAA}   # or all_teams: true
//
// With `portals` set, a signed call from any other portal is UNAUTHENTICATED. The
// identity is "hubspot:portal/<portalId>/user/<userId>"; a rep's owner id is the
// userId (use rep only when the connector's owner ids are HubSpot user ids).
struct HubSpotAuth {
  Role role = Role::kManager;
  std::string tenant;
  std::vector<HubSpotPortal> portals;  // empty: any portal, as tenant `tenant`
};

struct AuthConfig {
  bool required = false;
  std::string tenant = "default";
  std::optional<JwtVerifierOptions> jwt;
  std::string role_claim = "roles";
  std::string tenant_claim = "tenant";
  std::string owner_claim = "sub";
  // jwt.team_claim: the claim naming a manager's team ("" = managers see the whole
  // tenant). When set, a manager token without it is refused (UNAUTHENTICATED).
  std::string team_claim;
  // The other tenants this sidecar serves (the `tenants:` section, docs/production.md);
  // a caller of any of them, or of `tenant`, passes the tenant check.
  std::vector<std::string> other_tenants;
  std::vector<MtlsIdentity> mtls_identities;
  std::map<std::string, Role> role_map;
  std::optional<HubSpotAuth> hubspot;

  // Teams are on when jwt.team_claim is set or any mTLS identity or HubSpot portal names
  // a team: then every manager, however authenticated, is limited to a team unless its
  // mapping says all_teams. (JWT managers are limited by jwt.team_claim alone: when it
  // is set, a manager token without the claim is refused.)
  [[nodiscard]] bool TeamsOn() const;
};

// Parses the `auth:` section (absent: mode off). Relative jwks_file paths resolve against
// base_dir. InvalidArgument with "line N: auth.KEY: ..." for a bad value.
[[nodiscard]] absl::StatusOr<AuthConfig> ParseAuthConfig(const YAML::Node& section,
                                                         const std::string& base_dir);

// A call from a HubSpot app card whose X-HubSpot-Signature-v3 the HTTP listener verified
// (the signed query parameters portalId and userId).
struct HubSpotCaller {
  std::string portal_id;
  std::string user_id;
};

// What a call presents, taken from the transport (grpc_credentials.h does it for gRPC).
struct CallCredentials {
  // The Authorization header's value ("Bearer ..."), if any.
  std::optional<std::string> authorization;
  // The verified client certificate's CN and SANs (empty without mTLS).
  std::vector<std::string> peer_subjects;
  // x-dealcoach-tenant, honoured only for the service and admin roles.
  std::optional<std::string> tenant_header;
  // Set when the HTTP listener verified a HubSpot signature on the request.
  std::optional<HubSpotCaller> hubspot;
};

// The minimum role of a method ("dealcoach.v1.CoachingService/GetDealGuidance"), or
// nullopt when the method has no policy entry (then it is denied).
[[nodiscard]] std::optional<Role> PolicyFor(absl::string_view full_method);
// Every method in the policy table, for the test that checks it covers every RPC.
[[nodiscard]] std::vector<std::string> PolicyMethods();

class Authorizer {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Authorizer>> Create(AuthConfig config);

  // Unauthenticated with the reason when credentials are required and missing or bad.
  // With mode off and no credentials: an anonymous admin of the sidecar's tenant.
  [[nodiscard]] absl::StatusOr<Identity> Authenticate(const CallCredentials& credentials) const;

  // PermissionDenied when `identity` may not call `full_method` in this sidecar's tenant.
  [[nodiscard]] absl::Status Authorize(const Identity& identity,
                                       absl::string_view full_method) const;

  // PermissionDenied unless `identity` may see a deal owned by `owner_id` (reps see only
  // their own deals when an owner claim is configured; a team-limited manager only deals
  // whose owner's `manager_id` or `team` is their team).
  [[nodiscard]] absl::Status AuthorizeDeal(const Identity& identity, absl::string_view owner_id,
                                           absl::string_view manager_id = {},
                                           absl::string_view team = {}) const;

  // True when `tenant` is this sidecar's or one of `other_tenants`.
  [[nodiscard]] bool ServesTenant(absl::string_view tenant) const;

  const AuthConfig& config() const { return config_; }
  int64_t signature_checks() const;

 private:
  Authorizer(AuthConfig config, std::unique_ptr<JwtVerifier> jwt)
      : config_(std::move(config)), jwt_(std::move(jwt)), teams_on_(config_.TeamsOn()) {}
  Role MapRoles(absl::string_view claim) const;

  AuthConfig config_;
  std::unique_ptr<JwtVerifier> jwt_;
  bool teams_on_;  // config_.TeamsOn(), computed once
};

// True for a manager limited to a team (Identity::team set).
[[nodiscard]] inline bool TeamLimited(const Identity& identity) {
  return identity.role == Role::kManager && !identity.team.empty();
}
// Whether a deal whose owner has `manager_id` and `team` is in `identity`'s team.
[[nodiscard]] bool InTeam(const Identity& identity, absl::string_view manager_id,
                          absl::string_view team);
// The one PERMISSION_DENIED text for a team-limited manager asking outside the team,
// whatever exists there.
[[nodiscard]] absl::Status TeamDenied(const Identity& identity);
// The one PERMISSION_DENIED text of Authorize (wrong role, wrong tenant, no policy),
// for checks outside the authorizer that must not be told apart from it.
[[nodiscard]] absl::Status MethodDenied(const Identity& identity, absl::string_view full_method);

// The identity of the call running on this thread (set by the service layer for the
// duration of a handler, so handlers deeper down can apply per-deal rules without every
// signature carrying it); null outside a call or when auth is not configured.
const Identity* CurrentIdentity();

class ScopedIdentity {
 public:
  explicit ScopedIdentity(const Identity* identity);
  ~ScopedIdentity();
  ScopedIdentity(const ScopedIdentity&) = delete;
  ScopedIdentity& operator=(const ScopedIdentity&) = delete;

 private:
  const Identity* previous_;
};

}  // namespace dealcoach::auth

#endif  // DEALCOACH_SIDECAR_AUTH_AUTHORIZER_H_
