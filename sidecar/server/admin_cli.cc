// The admin's lifecycle on the command line (docs/admin.md): `dealcoach plan`, `publish`,
// `revisions`, `diff`, `rollback`, `audit`, `decisions` and `backtest` call a running sidecar's
// PlaybookService over gRPC (--server, env DEALCOACH_SERVER, default 127.0.0.1:50051;
// plaintext, as the sidecar listens on loopback by default). Exit codes: 0 success, 1
// the server refused (the message says why; a plan of a draft that does not compile), 2
// usage or connection errors.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/admin/backtest.h"
#include "sidecar/admin/plan.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/server/cli.h"

namespace dealcoach::server {
namespace {

constexpr char kCommon[] = R"(
  --server ADDR   the sidecar (env DEALCOACH_SERVER; default 127.0.0.1:50051)
  --json          print the response as JSON
)";

constexpr char kPlanHelp[] =
    R"(usage: dealcoach plan DRAFT.yaml [--playbook NAME] [--message M] [--author A]
                      [--max-deals N]

Validates the draft (every error with file:line:col) and, when it compiles, shows
what publishing it would change on the live pipeline: per deal (evidence phase
moved, criteria newly met / unmet / unknown, behaviors and risks appearing or
disappearing, stage ahead of evidence raised or cleared), per rep and per team, and
a summary line. The plan is saved; publish exactly it with `dealcoach publish --plan ID`.
Exits 1 when the draft does not compile.

  --playbook NAME  the published playbook to compare against (default: the draft's name)
  --author A       who plans (default: $USER)
  --message M      why (becomes the saved draft's message)
  --max-deals N    most deals listed (default 1000; the totals count all)
)";

constexpr char kPublishHelp[] = R"(usage: dealcoach publish --plan ID --message M [--author A]
       dealcoach publish DRAFT.yaml --expected-revision N --message M [--author A]

Publishes a planned draft (refused when the draft, the published revision or, past
playbooks.plan_max_age, the pipeline snapshot changed since the plan; ABORTED when
another publish won a race), or a draft over the revision you expect to be published.
Every replica serves the new revision within about a second.
)";

constexpr char kRevisionsHelp[] = R"(usage: dealcoach revisions [PLAYBOOK]

Every stored revision of the playbook (default: the default playbook), newest first:
number, state, author, time, message.
)";

constexpr char kDiffHelp[] = R"(usage: dealcoach diff FROM [TO] [--playbook NAME]

Unified diff between two revisions (TO defaults to the published one).
)";

constexpr char kRollbackHelp[] =
    R"(usage: dealcoach rollback REVISION --message M [--author A] [--playbook NAME]

Publishes the content of REVISION again as a new revision (history is never
rewritten). NOT_FOUND for a revision that does not exist.
)";

constexpr char kAuditHelp[] = R"(usage: dealcoach audit [--playbook NAME] [--limit N]

The audit trail, newest first: who validated, planned, published or rolled back
what, when, and the plan summary.
)";

constexpr char kDecisionsHelp[] = R"(usage: dealcoach decisions --deal ID [--limit N]

What the sidecar told that deal's rep and when, under which playbook revision, and
why (the rule ids that fired).
)";

constexpr char kBacktestHelp[] =
    R"(usage: dealcoach backtest [PLAYBOOK.yaml] [--opportunities DEALS.json] [--server ADDR]

Do the playbook's gates predict wins? Over closed deals: for every criterion, behavior,
risk and indicator, the win rate where it held vs where it did not (and unknown), with
counts, 95% Wilson intervals and the lift over the overall win rate; rules whose
intervals do not overlap (signal, marked *) first. Each deal is evaluated as of just
before it closed where its stage history allows; the output states the bias.

Without --opportunities: the closed deals in a running sidecar's cache (PLAYBOOK.yaml
omitted = the serving playbook). With --opportunities: offline, over a JSON array of
opportunities (the file connector's format, e.g. config/samples/opportunities.json).

  --now T   offline: evaluation time of deals whose history cannot be rewound (RFC 3339;
            default: now)
)";

int Fail(const std::string& command, const std::string& message, int code = 2) {
  std::fprintf(stderr, "dealcoach %s: %s\n", command.c_str(), message.c_str());
  return code;
}

int Help(const char* help) {
  std::printf("%s%s", help, kCommon);
  return 0;
}

std::unique_ptr<v1::PlaybookService::Stub> Connect(const CliArgs& args) {
  std::string server = args.Get("server");
  if (server.empty() && std::getenv("DEALCOACH_SERVER") != nullptr) {
    server = std::getenv("DEALCOACH_SERVER");
  }
  if (server.empty()) server = "127.0.0.1:50051";
  return v1::PlaybookService::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
}

std::string Author(const CliArgs& args) {
  std::string author = args.Get("author");
  if (author.empty() && std::getenv("USER") != nullptr) author = std::getenv("USER");
  return author;
}

// Calls `method` with a 60 s deadline; prints a refusal and returns its exit code.
template <typename Request, typename Response, typename Method>
int Call(const std::string& command, v1::PlaybookService::Stub* stub, Method method,
         const Request& request, Response* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  grpc::Status st = (stub->*method)(&ctx, request, response);
  if (st.ok()) return 0;
  const bool transport = st.error_code() == grpc::StatusCode::UNAVAILABLE ||
                         st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return Fail(command,
              absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(st.error_code())),
                           ": ", st.error_message()),
              transport ? 2 : 1);
}

std::string When(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", ToAbslTime(ts), absl::UTCTimeZone());
}

const char* StateName(v1::RevisionState state) {
  switch (state) {
    case v1::REVISION_STATE_DRAFT:
      return "draft";
    case v1::REVISION_STATE_PUBLISHED:
      return "published";
    case v1::REVISION_STATE_ARCHIVED:
      return "archived";
    default:
      return "?";
  }
}

bool ParseRevision(const std::string& text, int64_t* out) {
  return absl::SimpleAtoi(text, out) && *out > 0;
}

int RunPlan(const CliArgs& args) {
  if (args.Has("help")) return Help(kPlanHelp);
  if (args.positional.size() != 1) return Fail("plan", "give one DRAFT.yaml");
  absl::StatusOr<std::string> yaml = engine::ReadBoundedFile(args.positional[0]);
  if (!yaml.ok()) return Fail("plan", std::string(yaml.status().message()));
  v1::PlanPlaybookChangeRequest req;
  req.set_yaml(*yaml);
  req.set_file_name(args.positional[0]);
  req.set_playbook(args.Get("playbook"));
  req.set_author(Author(args));
  req.set_message(args.Get("message"));
  if (args.Has("max_deals")) {
    int n = 0;
    if (!absl::SimpleAtoi(args.Get("max_deals"), &n) || n < 0) {
      return Fail("plan", "--max-deals: must be a number >= 0");
    }
    req.set_max_deals(n);
  }
  auto stub = Connect(args);
  v1::PlanPlaybookChangeResponse resp;
  if (int rc =
          Call("plan", stub.get(), &v1::PlaybookService::Stub::PlanPlaybookChange, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    std::fputs(admin::FormatPlan(resp).c_str(), stdout);
  }
  return resp.valid() ? 0 : 1;
}

int RunPublish(const CliArgs& args) {
  if (args.Has("help")) return Help(kPublishHelp);
  v1::PublishPlaybookRequest req;
  req.set_plan_id(args.Get("plan"));
  req.set_author(Author(args));
  req.set_message(args.Get("message"));
  req.set_playbook(args.Get("playbook"));
  if (args.positional.size() > 1) return Fail("publish", "give at most one DRAFT.yaml");
  if (args.positional.size() == 1) {
    absl::StatusOr<std::string> yaml = engine::ReadBoundedFile(args.positional[0]);
    if (!yaml.ok()) return Fail("publish", std::string(yaml.status().message()));
    req.set_yaml(*yaml);
  }
  if (req.plan_id().empty()) {
    if (req.yaml().empty())
      return Fail("publish", "give --plan ID, or DRAFT.yaml with --expected-revision");
    int64_t expected = 0;
    if (!args.Has("expected_revision") ||
        !absl::SimpleAtoi(args.Get("expected_revision"), &expected) || expected < 0) {
      return Fail("publish",
                  "without --plan, --expected-revision N is required (0 = none published)");
    }
    req.set_expected_revision(expected);
  }
  auto stub = Connect(args);
  v1::PublishPlaybookResponse resp;
  if (int rc =
          Call("publish", stub.get(), &v1::PlaybookService::Stub::PublishPlaybook, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    std::printf("published %s revision %lld (was %lld)\n", resp.revision().playbook().c_str(),
                static_cast<long long>(resp.revision().revision()),
                static_cast<long long>(resp.previous_revision()));
  }
  return 0;
}

int RunRevisions(const CliArgs& args) {
  if (args.Has("help")) return Help(kRevisionsHelp);
  if (args.positional.size() > 1) return Fail("revisions", "give at most one PLAYBOOK");
  v1::ListPlaybookRevisionsRequest req;
  if (!args.positional.empty()) req.set_playbook(args.positional[0]);
  auto stub = Connect(args);
  v1::ListPlaybookRevisionsResponse resp;
  if (int rc = Call("revisions", stub.get(), &v1::PlaybookService::Stub::ListPlaybookRevisions, req,
                    &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
    return 0;
  }
  for (const v1::PlaybookRevision& r : resp.revisions()) {
    std::printf("%c %4lld  %-9s  %s  %-20s  %s\n",
                r.state() == v1::REVISION_STATE_PUBLISHED ? '*' : ' ',
                static_cast<long long>(r.revision()), StateName(r.state()),
                When(r.created_at()).c_str(), r.author().c_str(), r.message().c_str());
  }
  return 0;
}

int RunDiff(const CliArgs& args) {
  if (args.Has("help")) return Help(kDiffHelp);
  if (args.positional.empty() || args.positional.size() > 2) {
    return Fail("diff", "give FROM [TO] revision numbers");
  }
  v1::GetPlaybookRevisionRequest req;
  int64_t from = 0;
  int64_t to = 0;
  if (!ParseRevision(args.positional[0], &from)) return Fail("diff", "FROM: not a revision number");
  if (args.positional.size() == 2 && !ParseRevision(args.positional[1], &to)) {
    return Fail("diff", "TO: not a revision number");
  }
  req.set_playbook(args.Get("playbook"));
  req.set_revision(to);
  req.set_diff_against(from);
  auto stub = Connect(args);
  v1::GetPlaybookRevisionResponse resp;
  if (int rc =
          Call("diff", stub.get(), &v1::PlaybookService::Stub::GetPlaybookRevision, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    std::fputs(resp.diff().c_str(), stdout);
  }
  return 0;
}

int RunRollback(const CliArgs& args) {
  if (args.Has("help")) return Help(kRollbackHelp);
  int64_t to = 0;
  if (args.positional.size() != 1 || !ParseRevision(args.positional[0], &to)) {
    return Fail("rollback", "give one REVISION number");
  }
  v1::RollbackPlaybookRequest req;
  req.set_playbook(args.Get("playbook"));
  req.set_to_revision(to);
  req.set_author(Author(args));
  req.set_message(args.Get("message"));
  auto stub = Connect(args);
  v1::RollbackPlaybookResponse resp;
  if (int rc =
          Call("rollback", stub.get(), &v1::PlaybookService::Stub::RollbackPlaybook, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    std::printf("rolled %s back to the content of revision %lld: now revision %lld (was %lld)\n",
                resp.revision().playbook().c_str(), static_cast<long long>(to),
                static_cast<long long>(resp.revision().revision()),
                static_cast<long long>(resp.previous_revision()));
  }
  return 0;
}

int ParseLimit(const CliArgs& args, const std::string& command, int* limit) {
  if (!args.Has("limit")) return 0;
  if (!absl::SimpleAtoi(args.Get("limit"), limit) || *limit < 0) {
    return Fail(command, "--limit: must be a number >= 0");
  }
  return 0;
}

int RunAudit(const CliArgs& args) {
  if (args.Has("help")) return Help(kAuditHelp);
  v1::ListAuditEventsRequest req;
  req.set_playbook(args.Get("playbook"));
  int limit = 0;
  if (int rc = ParseLimit(args, "audit", &limit)) return rc;
  req.set_limit(limit);
  auto stub = Connect(args);
  v1::ListAuditEventsResponse resp;
  if (int rc = Call("audit", stub.get(), &v1::PlaybookService::Stub::ListAuditEvents, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
    return 0;
  }
  for (const v1::AuditEvent& e : resp.events()) {
    std::printf("%s  %-8s  %-20s  %s@%lld  %s\n", When(e.at()).c_str(), e.action().c_str(),
                e.actor().c_str(), e.playbook().c_str(), static_cast<long long>(e.revision()),
                e.detail().c_str());
  }
  return 0;
}

int RunDecisions(const CliArgs& args) {
  if (args.Has("help")) return Help(kDecisionsHelp);
  v1::ListDecisionsRequest req;
  req.set_opportunity_id(args.Get("deal"));
  if (req.opportunity_id().empty()) return Fail("decisions", "--deal ID is required");
  int limit = 0;
  if (int rc = ParseLimit(args, "decisions", &limit)) return rc;
  req.set_limit(limit);
  auto stub = Connect(args);
  v1::ListDecisionsResponse resp;
  if (int rc =
          Call("decisions", stub.get(), &v1::PlaybookService::Stub::ListDecisions, req, &resp)) {
    return rc;
  }
  if (args.Has("json")) {
    PrintJson(resp);
    return 0;
  }
  if (resp.decisions().empty())
    std::printf("no decisions logged for %s\n", req.opportunity_id().c_str());
  for (const v1::DecisionLogEntry& d : resp.decisions()) {
    std::printf(
        "%s  %s@%s  fired: %s\n", When(d.at()).c_str(), d.playbook().c_str(),
        d.revision() > 0 ? absl::StrCat(d.revision()).c_str() : "file",
        d.fired_rule_ids().empty() ? "(nothing)" : absl::StrJoin(d.fired_rule_ids(), ", ").c_str());
  }
  return 0;
}

int RunBacktest(const CliArgs& args) {
  if (args.Has("help")) return Help(kBacktestHelp);
  if (args.positional.size() > 1) return Fail("backtest", "give at most one PLAYBOOK.yaml");
  std::string yaml;
  if (!args.positional.empty()) {
    absl::StatusOr<std::string> text = engine::ReadBoundedFile(args.positional[0]);
    if (!text.ok()) return Fail("backtest", std::string(text.status().message()));
    yaml = *text;
  }
  v1::BacktestPlaybookResponse resp;
  if (args.Has("opportunities")) {
    if (yaml.empty()) return Fail("backtest", "offline (--opportunities), give PLAYBOOK.yaml");
    engine::LoadResult loaded = engine::LoadPlaybook(yaml, args.positional[0]);
    resp.set_valid(loaded.ok());
    for (v1::Diagnostic& d : loaded.diagnostics) *resp.add_diagnostics() = std::move(d);
    if (loaded.ok()) {
      absl::Time now = absl::Now();
      if (args.Has("now") && !absl::ParseTime(absl::RFC3339_full, args.Get("now"), &now, nullptr)) {
        return Fail("backtest", "--now: not an RFC 3339 time");
      }
      absl::StatusOr<std::string> json =
          engine::ReadBoundedFile(args.Get("opportunities"), 256u << 20);
      if (!json.ok()) return Fail("backtest", std::string(json.status().message()));
      nlohmann::json doc = nlohmann::json::parse(*json, nullptr, false);
      if (!doc.is_array()) return Fail("backtest", "--opportunities: not a JSON array");
      std::vector<std::pair<std::string, std::string>> deals;
      for (const auto& item : doc) {
        v1::Opportunity o;
        auto st = google::protobuf::util::JsonStringToMessage(item.dump(), &o);
        if (!st.ok()) {
          return Fail("backtest", absl::StrCat("--opportunities: ", std::string(st.message())));
        }
        engine::NormalizeOpportunity(&o);
        deals.emplace_back(o.id(), o.SerializeAsString());
      }
      admin::Backtest(*loaded.playbook, deals, now, &resp);
    }
  } else {
    v1::BacktestPlaybookRequest req;
    req.set_yaml(yaml);
    if (!args.positional.empty()) req.set_file_name(args.positional[0]);
    auto stub = Connect(args);
    if (int rc = Call("backtest", stub.get(), &v1::PlaybookService::Stub::BacktestPlaybook, req,
                      &resp)) {
      return rc;
    }
  }
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    std::fputs(admin::FormatBacktest(resp).c_str(), stdout);
  }
  return resp.valid() ? 0 : 1;
}

}  // namespace

const std::vector<AdminCommand>& AdminCommands() {
  using F = FlagSpec;
  const FlagSpec server{"server", F::kValue};
  const FlagSpec json{"json", F::kBool};
  static const auto* commands = new std::vector<AdminCommand>{
      {"plan",
       RunPlan,
       kPlanHelp,
       {server,
        json,
        {"playbook", F::kValue},
        {"author", F::kValue},
        {"message", F::kValue},
        {"max_deals", F::kValue}}},
      {"publish",
       RunPublish,
       kPublishHelp,
       {server,
        json,
        {"plan", F::kValue},
        {"expected_revision", F::kValue},
        {"playbook", F::kValue},
        {"author", F::kValue},
        {"message", F::kValue}}},
      {"revisions", RunRevisions, kRevisionsHelp, {server, json}},
      {"diff", RunDiff, kDiffHelp, {server, json, {"playbook", F::kValue}}},
      {"rollback",
       RunRollback,
       kRollbackHelp,
       {server, json, {"playbook", F::kValue}, {"author", F::kValue}, {"message", F::kValue}}},
      {"audit",
       RunAudit,
       kAuditHelp,
       {server, json, {"playbook", F::kValue}, {"limit", F::kValue}}},
      {"decisions",
       RunDecisions,
       kDecisionsHelp,
       {server, json, {"deal", F::kValue}, {"limit", F::kValue}}},
      {"backtest",
       RunBacktest,
       kBacktestHelp,
       {server, json, {"opportunities", F::kValue}, {"now", F::kValue}}},
  };
  return *commands;
}

}  // namespace dealcoach::server
