#include "sidecar/auth/authorizer.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace dealcoach::auth {
namespace {

struct PolicyEntry {
  const char* method;
  Role min_role;
};

// The whole table, one line per RPC. Reps read guidance for their own deals; managers
// read the team's pipeline; only admins change playbooks or read the sidecar's status.
constexpr PolicyEntry kPolicy[] = {
    {"dealcoach.v1.CoachingService/GetDealGuidance", Role::kRep},
    {"dealcoach.v1.CoachingService/GetReviewChecklist", Role::kRep},
    {"dealcoach.v1.CoachingService/EvaluatePipeline", Role::kManager},
    {"dealcoach.v1.CoachingService/GetPipelineReview", Role::kManager},
    {"dealcoach.v1.CoachingService/GetCoachingAgenda", Role::kManager},
    {"dealcoach.v1.CoachingService/TakeSnapshot", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/GetActivePlaybook", Role::kRep},
    {"dealcoach.v1.PlaybookService/ValidatePlaybook", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/PlanPlaybookChange", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/PublishPlaybook", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/ListPlaybookRevisions", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/GetPlaybookRevision", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/RollbackPlaybook", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/ListAuditEvents", Role::kAdmin},
    {"dealcoach.v1.PlaybookService/ListDecisions", Role::kManager},
    {"dealcoach.v1.PlaybookService/BacktestPlaybook", Role::kAdmin},
    {"dealcoach.v1.AdminService/GetStatus", Role::kAdmin},
};

absl::Status ConfigError(const YAML::Node& n, absl::string_view key, absl::string_view message) {
  std::string where = n && n.Mark().line >= 0 ? absl::StrCat("line ", n.Mark().line + 1, ": ") : "";
  return absl::InvalidArgumentError(absl::StrCat(where, "auth.", key, ": ", message));
}

absl::Status CheckKeys(const YAML::Node& n, absl::string_view key,
                       const std::set<std::string>& allowed) {
  if (!n) return absl::OkStatus();
  if (!n.IsMap()) return ConfigError(n, key, "must be a mapping");
  for (const auto& kv : n) {
    if (allowed.count(kv.first.Scalar()) == 0) {
      return ConfigError(
          kv.first, absl::StrCat(key, key.empty() ? "" : ".", kv.first.Scalar()),
          absl::StrCat("unknown setting; expected one of ", absl::StrJoin(allowed, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadString(const YAML::Node& n, absl::string_view key, std::string* out) {
  if (!n) return absl::OkStatus();
  if (!n.IsScalar()) return ConfigError(n, key, "must be a string");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ReadStrings(const YAML::Node& n, absl::string_view key,
                         std::vector<std::string>* out) {
  if (!n) return absl::OkStatus();
  if (n.IsScalar()) {
    out->push_back(n.Scalar());
    return absl::OkStatus();
  }
  if (!n.IsSequence()) return ConfigError(n, key, "must be a string or a list of strings");
  for (const YAML::Node& item : n) {
    if (!item.IsScalar()) return ConfigError(item, key, "must be a list of strings");
    out->push_back(item.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ReadRole(const YAML::Node& n, absl::string_view key, Role* out) {
  std::string name;
  if (auto s = ReadString(n, key, &name); !s.ok()) return s;
  std::optional<Role> role = ParseRole(name);
  if (!role.has_value()) {
    return ConfigError(n, key,
                       absl::StrCat("'", name, "' is not a role (rep, manager, service, admin)"));
  }
  *out = *role;
  return absl::OkStatus();
}

// `team` / `all_teams` of an mTLS identity or a HubSpot portal: only for managers, and
// not both.
absl::Status ReadTeam(const YAML::Node& n, absl::string_view key, Role role, std::string* team,
                      bool* all_teams) {
  if (auto st = ReadString(n["team"], absl::StrCat(key, ".team"), team); !st.ok()) return st;
  if (const YAML::Node a = n["all_teams"]; a) {
    if (!a.IsScalar() || (a.Scalar() != "true" && a.Scalar() != "false")) {
      return ConfigError(a, absl::StrCat(key, ".all_teams"), "must be true or false");
    }
    *all_teams = a.Scalar() == "true";
  }
  if ((!team->empty() || *all_teams) && role != Role::kManager) {
    return ConfigError(n, absl::StrCat(key, ".team"), "applies to the manager role only");
  }
  if (!team->empty() && *all_teams) {
    return ConfigError(n, absl::StrCat(key, ".team"), "set team or all_teams, not both");
  }
  return absl::OkStatus();
}

absl::Status ParseSection(const YAML::Node& s, const std::string& base_dir, AuthConfig* c) {
  if (auto st = CheckKeys(s, "", {"mode", "tenant", "jwt", "mtls", "roles", "hubspot"}); !st.ok()) {
    return st;
  }
  std::string mode = "off";
  if (auto st = ReadString(s["mode"], "mode", &mode); !st.ok()) return st;
  if (mode == "required") {
    c->required = true;
  } else if (mode != "off") {
    return ConfigError(s["mode"], "mode", "must be off or required");
  }
  if (auto st = ReadString(s["tenant"], "tenant", &c->tenant); !st.ok()) return st;
  if (c->tenant.empty()) return ConfigError(s["tenant"], "tenant", "must not be empty");

  if (const YAML::Node j = s["jwt"]; j) {
    if (auto st = CheckKeys(j, "jwt",
                            {"jwks_file", "issuers", "audiences", "max_clock_skew", "role_claim",
                             "tenant_claim", "owner_claim", "team_claim"});
        !st.ok()) {
      return st;
    }
    JwtVerifierOptions o;
    if (auto st = ReadString(j["jwks_file"], "jwt.jwks_file", &o.jwks_file); !st.ok()) return st;
    if (o.jwks_file.empty()) return ConfigError(j, "jwt.jwks_file", "is required");
    if (o.jwks_file[0] != '/' && !base_dir.empty()) o.jwks_file = base_dir + "/" + o.jwks_file;
    if (auto st = ReadStrings(j["issuers"], "jwt.issuers", &o.issuers); !st.ok()) return st;
    if (auto st = ReadStrings(j["audiences"], "jwt.audiences", &o.audiences); !st.ok()) return st;
    if (o.issuers.empty()) return ConfigError(j, "jwt.issuers", "needs at least one issuer");
    if (o.audiences.empty()) return ConfigError(j, "jwt.audiences", "needs at least one audience");
    if (const YAML::Node skew = j["max_clock_skew"]; skew) {
      absl::Duration d;
      if (!skew.IsScalar() || !absl::ParseDuration(skew.Scalar(), &d) || d < absl::ZeroDuration() ||
          d > absl::Minutes(10)) {
        return ConfigError(skew, "jwt.max_clock_skew", "must be a duration between 0s and 10m");
      }
      o.max_clock_skew = d;
    }
    if (auto st = ReadString(j["role_claim"], "jwt.role_claim", &c->role_claim); !st.ok())
      return st;
    if (auto st = ReadString(j["tenant_claim"], "jwt.tenant_claim", &c->tenant_claim); !st.ok()) {
      return st;
    }
    if (auto st = ReadString(j["owner_claim"], "jwt.owner_claim", &c->owner_claim); !st.ok()) {
      return st;
    }
    if (auto st = ReadString(j["team_claim"], "jwt.team_claim", &c->team_claim); !st.ok()) {
      return st;
    }
    c->jwt = std::move(o);
  }

  if (const YAML::Node m = s["mtls"]; m) {
    if (auto st = CheckKeys(m, "mtls", {"identities"}); !st.ok()) return st;
    const YAML::Node ids = m["identities"];
    if (ids && !ids.IsSequence()) return ConfigError(ids, "mtls.identities", "must be a list");
    for (const YAML::Node& id : ids) {
      if (auto st = CheckKeys(id, "mtls.identities[]",
                              {"subject", "role", "tenant", "team", "all_teams"});
          !st.ok()) {
        return st;
      }
      MtlsIdentity out;
      out.tenant = c->tenant;
      if (auto st = ReadString(id["subject"], "mtls.identities[].subject", &out.subject);
          !st.ok()) {
        return st;
      }
      if (out.subject.empty()) return ConfigError(id, "mtls.identities[].subject", "is required");
      if (!id["role"]) return ConfigError(id, "mtls.identities[].role", "is required");
      if (auto st = ReadRole(id["role"], "mtls.identities[].role", &out.role); !st.ok()) return st;
      if (auto st = ReadString(id["tenant"], "mtls.identities[].tenant", &out.tenant); !st.ok()) {
        return st;
      }
      if (auto st = ReadTeam(id, "mtls.identities[]", out.role, &out.team, &out.all_teams);
          !st.ok()) {
        return st;
      }
      c->mtls_identities.push_back(std::move(out));
    }
  }

  if (const YAML::Node r = s["roles"]; r) {
    if (!r.IsMap()) return ConfigError(r, "roles", "must map claim values to roles");
    for (const auto& kv : r) {
      Role role;
      if (auto st = ReadRole(kv.second, absl::StrCat("roles.", kv.first.Scalar()), &role);
          !st.ok()) {
        return st;
      }
      c->role_map[kv.first.Scalar()] = role;
    }
  }
  if (const YAML::Node h = s["hubspot"]; h) {
    if (auto st = CheckKeys(h, "hubspot", {"role", "tenant", "portals"}); !st.ok()) return st;
    HubSpotAuth out;
    out.tenant = c->tenant;
    if (h["role"]) {
      if (auto st = ReadRole(h["role"], "hubspot.role", &out.role); !st.ok()) return st;
      if (out.role != Role::kRep && out.role != Role::kManager) {
        return ConfigError(h["role"], "hubspot.role",
                           "must be rep or manager (a signature proves the app, not an operator)");
      }
    }
    if (auto st = ReadString(h["tenant"], "hubspot.tenant", &out.tenant); !st.ok()) return st;
    if (const YAML::Node p = h["portals"]; p && p.IsMap()) {
      for (const auto& kv : p) {
        HubSpotPortal portal;
        portal.id = kv.first.Scalar();
        portal.tenant = out.tenant;
        const std::string key = absl::StrCat("hubspot.portals.", portal.id);
        if (kv.second.IsMap()) {
          if (auto st = CheckKeys(kv.second, key, {"tenant", "team", "all_teams"}); !st.ok()) {
            return st;
          }
          if (auto st = ReadString(kv.second["tenant"], key + ".tenant", &portal.tenant);
              !st.ok()) {
            return st;
          }
          if (auto st = ReadTeam(kv.second, key, out.role, &portal.team, &portal.all_teams);
              !st.ok()) {
            return st;
          }
        } else if (auto st = ReadString(kv.second, key, &portal.tenant); !st.ok()) {
          return st;
        }
        if (portal.id.empty() || portal.tenant.empty()) {
          return ConfigError(kv.second, key, "needs a portal id and a tenant");
        }
        out.portals.push_back(std::move(portal));
      }
    } else {
      std::vector<std::string> ids;
      if (auto st = ReadStrings(p, "hubspot.portals", &ids); !st.ok()) return st;
      for (std::string& portal_id : ids)
        out.portals.push_back({std::move(portal_id), out.tenant, "", false});
    }
    c->hubspot = std::move(out);
  }
  if (c->required && !c->jwt.has_value() && c->mtls_identities.empty() && !c->hubspot.has_value()) {
    return ConfigError(
        s["mode"], "mode",
        "required needs a way to authenticate: auth.jwt, auth.mtls.identities or auth.hubspot");
  }
  return absl::OkStatus();
}

thread_local const Identity* current_identity = nullptr;

// One message for every tenant mismatch and every missing role, so a denial says
// nothing about what exists elsewhere.
absl::Status Denied(const Identity& identity, absl::string_view full_method) {
  const size_t slash = full_method.rfind('/');
  absl::string_view method =
      slash == absl::string_view::npos ? full_method : full_method.substr(slash + 1);
  return absl::PermissionDeniedError(absl::StrCat("caller '", identity.subject, "' (role ",
                                                  RoleName(identity.role), ") may not call ",
                                                  method, " on this sidecar"));
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kRep:
      return "rep";
    case Role::kManager:
      return "manager";
    case Role::kService:
      return "service";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

std::optional<Role> ParseRole(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "rep") return Role::kRep;
  if (lower == "manager") return Role::kManager;
  if (lower == "service") return Role::kService;
  if (lower == "admin") return Role::kAdmin;
  return std::nullopt;
}

absl::StatusOr<AuthConfig> ParseAuthConfig(const YAML::Node& section, const std::string& base_dir) {
  AuthConfig c;
  if (!section || section.IsNull()) return c;
  try {
    if (absl::Status s = ParseSection(section, base_dir, &c); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("auth: ", e.what()));
  }
  return c;
}

std::optional<Role> PolicyFor(absl::string_view full_method) {
  if (absl::StartsWith(full_method, "/")) full_method.remove_prefix(1);
  for (const PolicyEntry& e : kPolicy) {
    if (full_method == e.method) return e.min_role;
  }
  return std::nullopt;
}

std::vector<std::string> PolicyMethods() {
  std::vector<std::string> out;
  for (const PolicyEntry& e : kPolicy) out.emplace_back(e.method);
  return out;
}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(AuthConfig config) {
  std::unique_ptr<JwtVerifier> jwt;
  if (config.jwt.has_value()) {
    absl::StatusOr<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Create(*config.jwt);
    if (!v.ok()) {
      return absl::Status(v.status().code(), absl::StrCat("auth.jwt: ", v.status().message()));
    }
    jwt = *std::move(v);
  }
  return std::unique_ptr<Authorizer>(new Authorizer(std::move(config), std::move(jwt)));
}

bool AuthConfig::TeamsOn() const {
  if (!team_claim.empty()) return true;
  for (const MtlsIdentity& m : mtls_identities) {
    if (!m.team.empty()) return true;
  }
  if (hubspot.has_value()) {
    for (const HubSpotPortal& p : hubspot->portals) {
      if (!p.team.empty()) return true;
    }
  }
  return false;
}

Role Authorizer::MapRoles(absl::string_view claim) const {
  Role best = Role::kNone;
  for (absl::string_view part : absl::StrSplit(claim, ',', absl::SkipWhitespace())) {
    part = absl::StripAsciiWhitespace(part);
    std::optional<Role> role;
    if (auto it = config_.role_map.find(std::string(part)); it != config_.role_map.end()) {
      role = it->second;
    } else {
      role = ParseRole(part);
    }
    if (role.has_value() && *role > best) best = *role;
  }
  return best;
}

absl::StatusOr<Identity> Authorizer::Authenticate(const CallCredentials& credentials) const {
  Identity id;
  bool authenticated = false;
  if (credentials.authorization.has_value()) {
    if (jwt_ == nullptr) {
      return absl::UnauthenticatedError(
          "bearer token sent, but this sidecar accepts no bearer tokens (auth.jwt is not set)");
    }
    absl::string_view value = *credentials.authorization;
    if (!absl::StartsWithIgnoreCase(value, "Bearer ")) {
      return absl::UnauthenticatedError("authorization: expected 'Bearer <token>'");
    }
    value.remove_prefix(7);
    absl::StatusOr<VerifiedToken> token = jwt_->Verify(absl::StripAsciiWhitespace(value));
    if (!token.ok()) return token.status();
    id.subject = token->subject;
    id.via = "jwt";
    if (auto it = token->claims.find(config_.role_claim); it != token->claims.end()) {
      id.role = MapRoles(it->second);
    }
    if (auto it = token->claims.find(config_.tenant_claim); it != token->claims.end()) {
      id.tenant = it->second;
    } else {
      id.tenant = config_.tenant;
    }
    if (id.role == Role::kRep) {
      if (config_.owner_claim == "sub") {
        id.owner_id = token->subject;
      } else if (auto it = token->claims.find(config_.owner_claim); it != token->claims.end()) {
        id.owner_id = it->second;
      } else {
        return absl::UnauthenticatedError(
            absl::StrCat("token has role rep but no '", config_.owner_claim, "' claim"));
      }
    }
    if (id.role == Role::kManager && !config_.team_claim.empty()) {
      auto it = token->claims.find(config_.team_claim);
      if (it == token->claims.end() || it->second.empty()) {
        return absl::UnauthenticatedError(
            absl::StrCat("token has role manager but no '", config_.team_claim, "' claim"));
      }
      id.team = it->second;
    }
    authenticated = true;
  } else if (!credentials.peer_subjects.empty() && !config_.mtls_identities.empty()) {
    for (const MtlsIdentity& m : config_.mtls_identities) {
      for (const std::string& subject : credentials.peer_subjects) {
        if (subject == m.subject) {
          id.subject = subject;
          id.role = m.role;
          id.tenant = m.tenant;
          id.via = "mtls";
          if (m.role == Role::kManager && teams_on_ && m.team.empty() && !m.all_teams) {
            return absl::UnauthenticatedError(absl::StrCat(
                "client certificate maps to manager '", subject,
                "' with no team (set auth.mtls.identities[].team, or all_teams: true)"));
          }
          id.team = m.team;
          authenticated = true;
          break;
        }
      }
      if (authenticated) break;
    }
    if (!authenticated && config_.required) {
      return absl::UnauthenticatedError(
          "client certificate is valid but names no configured identity (auth.mtls.identities)");
    }
  }
  if (!authenticated && credentials.hubspot.has_value() && config_.hubspot.has_value()) {
    const HubSpotAuth& h = *config_.hubspot;
    const HubSpotCaller& caller = *credentials.hubspot;
    if (caller.user_id.empty() || caller.portal_id.empty()) {
      return absl::UnauthenticatedError("HubSpot call without portalId or userId");
    }
    HubSpotPortal portal{caller.portal_id, h.tenant, "", false};
    if (!h.portals.empty()) {
      auto it = std::find_if(h.portals.begin(), h.portals.end(),
                             [&](const HubSpotPortal& p) { return p.id == caller.portal_id; });
      if (it == h.portals.end()) {
        return absl::UnauthenticatedError(
            "HubSpot signature is valid but the portal is not in auth.hubspot.portals");
      }
      portal = *it;
    }
    if (h.role == Role::kManager && teams_on_ && portal.team.empty() && !portal.all_teams) {
      return absl::UnauthenticatedError(
          "HubSpot portal maps to managers with no team (set auth.hubspot.portals.<id>.team, "
          "or all_teams: true)");
    }
    id.subject = absl::StrCat("portal/", caller.portal_id, "/user/", caller.user_id);
    id.role = h.role;
    id.tenant = portal.tenant;
    if (h.role == Role::kManager) id.team = portal.team;
    id.via = "hubspot";
    if (h.role == Role::kRep) id.owner_id = caller.user_id;
    authenticated = true;
  }
  if (!authenticated) {
    if (config_.required) {
      return absl::UnauthenticatedError(
          "no credentials: send 'authorization: Bearer <token>' or a client certificate");
    }
    id.subject = "anonymous";
    id.role = Role::kAdmin;
    id.tenant = config_.tenant;
    id.via = "anonymous";
  }
  if (credentials.tenant_header.has_value() && *credentials.tenant_header != id.tenant) {
    // Only a trusted backend may act for a tenant it names; everyone else's tenant comes
    // from their credentials.
    if (id.role != Role::kService && id.role != Role::kAdmin) {
      return absl::PermissionDeniedError(
          "x-dealcoach-tenant: only a service or admin caller may name a tenant");
    }
    id.tenant = *credentials.tenant_header;
  }
  return id;
}

absl::Status Authorizer::Authorize(const Identity& identity, absl::string_view full_method) const {
  std::optional<Role> needed = PolicyFor(full_method);
  if (!needed.has_value()) return Denied(identity, full_method);
  if (!ServesTenant(identity.tenant)) return Denied(identity, full_method);
  if (identity.role < *needed) return Denied(identity, full_method);
  return absl::OkStatus();
}

bool Authorizer::ServesTenant(absl::string_view tenant) const {
  if (tenant == config_.tenant) return true;
  return std::find(config_.other_tenants.begin(), config_.other_tenants.end(), tenant) !=
         config_.other_tenants.end();
}

bool InTeam(const Identity& identity, absl::string_view manager_id, absl::string_view team) {
  return !identity.team.empty() && (manager_id == identity.team || team == identity.team);
}

absl::Status TeamDenied(const Identity& identity) {
  return absl::PermissionDeniedError(absl::StrCat(
      "caller '", identity.subject, "' (role manager) may see only their own team's deals"));
}

absl::Status MethodDenied(const Identity& identity, absl::string_view full_method) {
  return Denied(identity, full_method);
}

absl::Status Authorizer::AuthorizeDeal(const Identity& identity, absl::string_view owner_id,
                                       absl::string_view manager_id, absl::string_view team) const {
  if (TeamLimited(identity)) {
    return InTeam(identity, manager_id, team) ? absl::OkStatus() : TeamDenied(identity);
  }
  if (identity.role != Role::kRep || identity.owner_id.empty()) return absl::OkStatus();
  if (owner_id == identity.owner_id) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("caller '", identity.subject, "' (role rep) may see only their own deals"));
}

int64_t Authorizer::signature_checks() const {
  return jwt_ == nullptr ? 0 : jwt_->signature_checks();
}

const Identity* CurrentIdentity() { return current_identity; }

ScopedIdentity::ScopedIdentity(const Identity* identity) : previous_(current_identity) {
  current_identity = identity;
}

ScopedIdentity::~ScopedIdentity() { current_identity = previous_; }

}  // namespace dealcoach::auth
