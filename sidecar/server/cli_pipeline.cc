// `dealcoach review` and `dealcoach agenda`: the manager's tools from the command line,
// as gRPC clients of a running sidecar (--address) or of an in-process demo sidecar on
// the shipped samples with their history (--demo). Also the agenda `dealcoach demo`
// ends with.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "connectors/file/file_connector.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/server/cli.h"
#include "sidecar/server/config.h"
#include "sidecar/server/embedded.h"
#include "sidecar/server/render_pipeline.h"
#include "sidecar/server/sidecar.h"

namespace dealcoach::server {
namespace {

constexpr char kReviewHelp[] =
    R"(usage: dealcoach review (--manager ID | --team NAME | --rep ID | --all) [options]

The pipeline review (CoachingService.GetPipelineReview): deals ranked for attention
(claimed phase ahead of the evidence, weighted by amount and close date), what changed
since the compared snapshot, per-rep roll-ups, where the pipeline really is (evidence vs
claimed phase) and the playbook's leading indicators.

  --address HOST:PORT  the sidecar (default 127.0.0.1:50051)
  --demo               start a sidecar in-process on the shipped samples and their
                       history (config/samples/history) and ask it
  --filter CEL         only deals for which this condition over `opp` holds
  --since RFC3339      compare with the latest snapshot at or before (default: a week ago)
  --compare-to ID      compare with this snapshot
  --as-of RFC3339      evaluate as of this time
  --playbook NAME      playbook (default: the sidecar's default)
  --max-deals N        ranked deals to print (default 10)
  --json               print GetPipelineReviewResponse as proto3 JSON
  --no-color           no ANSI colors
)";

constexpr char kAgendaHelp[] =
    R"(usage: dealcoach agenda --rep ID [options]

The 1:1 coaching agenda for a rep (CoachingService.GetCoachingAgenda): what changed on
the rep's deals since the last snapshot, the recurring gap to focus on (against the
team's rate) with its coaching questions and content, deals to practice it on, and the
rep's leading indicators against the team and the targets.

  --address HOST:PORT  the sidecar (default 127.0.0.1:50051)
  --demo               start a sidecar in-process on the shipped samples and their history
  --since RFC3339      changes since (default: a week ago)
  --compare-to ID      compare with this snapshot
  --as-of RFC3339      evaluate as of this time
  --playbook NAME      playbook (default: the sidecar's default)
  --json               print GetCoachingAgendaResponse as proto3 JSON
  --no-color           no ANSI colors
)";

// The instant the shipped samples are written as of (config/sidecar.yaml,
// connector.file.rebase_dates_from): history files are rebased from it like the samples.
constexpr char kSamplesAnchor[] = "2026-11-20T12:00:00Z";
// The shipped history (config/samples/history/make_history.py): the pipeline a week
// before the samples, at 12:00 UTC of the file's day.
constexpr char kHistoryFile[] = "samples/history/2026-11-13.json";
constexpr char kHistoryInstant[] = "2026-11-13T12:00:00Z";

int Fail(const char* what, const grpc::Status& s) {
  std::fprintf(stderr, "dealcoach: %s: %s (%d)\n", what, s.error_message().c_str(),
               static_cast<int>(s.error_code()));
  return s.error_code() == grpc::StatusCode::NOT_FOUND ||
                 s.error_code() == grpc::StatusCode::INVALID_ARGUMENT
             ? 2
             : 1;
}

bool Color(const CliArgs& args) {
  if (args.Has("no_color") || getenv("NO_COLOR") != nullptr) return false;
  return isatty(STDOUT_FILENO) != 0;
}

template <typename Request>
absl::Status SetTime(const CliArgs& args, const char* flag, Request* req) {
  if (!args.Has(flag)) return absl::OkStatus();
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, args.Get(flag), &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": not an RFC 3339 time like 2026-11-20T12:00:00Z: ", err));
  }
  *(std::string(flag) == "since" ? req->mutable_since() : req->mutable_as_of()) =
      ToProtoTimestamp(t);
  return absl::OkStatus();
}

// A sidecar to talk to: the one at --address, or an in-process demo one.
struct Target {
  std::string dir;  // the demo's materialized config ("" otherwise)
  std::unique_ptr<Sidecar> sidecar;
  std::shared_ptr<grpc::Channel> channel;
  ~Target() {
    if (sidecar != nullptr) {
      sidecar->Shutdown(absl::Seconds(2));
      sidecar->Wait();
    }
    if (!dir.empty()) RemoveTree(dir);
  }
};

absl::Status ConnectTarget(const CliArgs& args, Target* t) {
  if (!args.Has("demo")) {
    t->channel = grpc::CreateChannel(args.Get("address", "127.0.0.1:50051"),
                                     grpc::InsecureChannelCredentials());
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> dir = MaterializeEmbeddedConfig();
  if (!dir.ok()) return dir.status();
  t->dir = *dir;
  std::vector<ConfigOverride> overrides = {{"listen", "127.0.0.1:0", "demo"},
                                           {"log_level", "warning", "demo"}};
  absl::StatusOr<SidecarConfig> config = LoadConfig(t->dir + "/sidecar.yaml", overrides);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<Sidecar>> sidecar = Sidecar::Start(*config);
  if (!sidecar.ok()) return sidecar.status();
  t->sidecar = *std::move(sidecar);
  t->channel = grpc::CreateChannel(t->sidecar->address(), grpc::InsecureChannelCredentials());
  return SeedSampleHistory(t->channel, t->dir);
}

}  // namespace

absl::Status SeedSampleHistory(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& config_dir) {
  const std::string path = absl::StrCat(config_dir, "/", kHistoryFile);
  absl::StatusOr<std::string> text = engine::ReadBoundedFile(path);
  if (!text.ok()) return text.status();
  absl::Time anchor, instant;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, kSamplesAnchor, &anchor, &err) ||
      !absl::ParseTime(absl::RFC3339_full, kHistoryInstant, &instant, &err)) {
    return absl::InternalError(err);
  }
  // Rebased like the samples the connector serves, so a week ago stays a week ago.
  const absl::Time now = absl::Now();
  absl::StatusOr<std::vector<v1::Opportunity>> opps =
      connectors::FileConnector::ParseOpportunities(*text, path, anchor, now);
  if (!opps.ok()) return opps.status();
  const absl::Time at = instant + (now - anchor);
  v1::TakeSnapshotRequest req;
  req.set_snapshot_id(absl::FormatTime(absl::RFC3339_sec, at, absl::UTCTimeZone()));
  *req.mutable_as_of() = ToProtoTimestamp(at);
  for (v1::Opportunity& o : *opps) *req.add_opportunities() = std::move(o);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::TakeSnapshotResponse resp;
  auto stub = v1::CoachingService::NewStub(channel);
  grpc::Status s = stub->TakeSnapshot(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        absl::StrCat("TakeSnapshot of ", path, ": ", s.error_message()));
  }
  return absl::OkStatus();
}

int RunReview(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kReviewHelp, stdout);
    return 0;
  }
  v1::GetPipelineReviewRequest req;
  int scopes = 0;
  if (args.Has("manager")) req.mutable_scope()->set_manager_id(args.Get("manager")), ++scopes;
  if (args.Has("team")) req.mutable_scope()->set_team(args.Get("team")), ++scopes;
  if (args.Has("rep")) req.mutable_scope()->set_rep_id(args.Get("rep")), ++scopes;
  if (args.Has("all")) req.mutable_scope()->set_all(true), ++scopes;
  if (scopes != 1) {
    std::fprintf(stderr, "dealcoach: give exactly one of --manager, --team, --rep, --all\n\n%s",
                 kReviewHelp);
    return 2;
  }
  req.set_filter(args.Get("filter"));
  req.set_compare_to(args.Get("compare_to"));
  req.set_playbook(args.Get("playbook"));
  for (const char* flag : {"since", "as_of"}) {
    if (absl::Status s = SetTime(args, flag, &req); !s.ok()) {
      std::fprintf(stderr, "dealcoach: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  int max_rows = 10;
  if (args.Has("max_deals") &&
      (!absl::SimpleAtoi(args.Get("max_deals"), &max_rows) || max_rows < 0)) {
    std::fprintf(stderr, "dealcoach: --max-deals: a number, 0 or more\n");
    return 2;
  }
  Target target;
  if (absl::Status s = ConnectTarget(args, &target); !s.ok()) {
    std::fprintf(stderr, "dealcoach: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto stub = v1::CoachingService::NewStub(target.channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetPipelineReviewResponse resp;
  grpc::Status s = stub->GetPipelineReview(&ctx, req, &resp);
  if (!s.ok()) return Fail("GetPipelineReview", s);
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    RenderOptions render;
    render.color = Color(args);
    std::fputs(RenderPipelineReview(resp, render, max_rows).c_str(), stdout);
  }
  return 0;
}

int RunAgenda(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kAgendaHelp, stdout);
    return 0;
  }
  v1::GetCoachingAgendaRequest req;
  req.set_rep_id(args.Get("rep"));
  if (req.rep_id().empty()) {
    std::fprintf(stderr, "dealcoach: --rep ID is required\n\n%s", kAgendaHelp);
    return 2;
  }
  req.set_compare_to(args.Get("compare_to"));
  req.set_playbook(args.Get("playbook"));
  for (const char* flag : {"since", "as_of"}) {
    if (absl::Status s = SetTime(args, flag, &req); !s.ok()) {
      std::fprintf(stderr, "dealcoach: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  Target target;
  if (absl::Status s = ConnectTarget(args, &target); !s.ok()) {
    std::fprintf(stderr, "dealcoach: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto stub = v1::CoachingService::NewStub(target.channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::GetCoachingAgendaResponse resp;
  grpc::Status s = stub->GetCoachingAgenda(&ctx, req, &resp);
  if (!s.ok()) return Fail("GetCoachingAgenda", s);
  if (args.Has("json")) {
    PrintJson(resp);
  } else {
    RenderOptions render;
    render.color = Color(args);
    std::fputs(RenderCoachingAgenda(resp, render).c_str(), stdout);
  }
  return 0;
}

const char* ReviewHelp() { return kReviewHelp; }
const char* AgendaHelp() { return kAgendaHelp; }

}  // namespace dealcoach::server
