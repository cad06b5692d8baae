#include "sidecar/server/cli.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dealcoach/v1/admin_service.grpc.pb.h"
#include "dealcoach/v1/coaching_service.grpc.pb.h"
#include "dealcoach/v1/playbook_service.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/bounded_file.h"
#include "sidecar/engine/engine.h"
#include "sidecar/oppschema/oppschema.h"
#include "sidecar/playbook_tests/playbook_tests.h"
#include "sidecar/server/config.h"
#include "sidecar/server/embedded.h"
#include "sidecar/server/render.h"
#include "sidecar/server/render_pipeline.h"
#include "sidecar/server/sidecar.h"

extern char** environ;

namespace dealcoach::server {
namespace {

constexpr char kUsage[] =
    R"(dealcoach: sales-methodology coaching for the CRM you already use.

usage: dealcoach <command> [options]

commands:
  serve   run the gRPC sidecar            dealcoach serve [--config config/sidecar.yaml]
  lint    check playbooks                 dealcoach lint PLAYBOOK|DIR...
  test    run playbook tests              dealcoach test [--root DIR] PLAYBOOK|DIR...
  eval    guidance for one deal, offline  dealcoach eval --playbook P --opportunity F.json
  expr    evaluate one expression         dealcoach expr 'EXPRESSION' [--vars F.json]
  demo    start a sidecar on the samples and ask it for guidance over gRPC
  store   operate the durable store       dealcoach store migrate|status|vacuum
  review  the manager's pipeline review   dealcoach review --manager ID [--demo]
  agenda  the 1:1 coaching agenda         dealcoach agenda --rep ID [--demo]

the admin's lifecycle, on a running sidecar (docs/admin.md):
  plan DRAFT.yaml   what a draft would change on the live pipeline (saved as a plan)
  publish --plan ID publish exactly what was planned
  revisions | diff FROM [TO] | rollback REV | audit | decisions --deal ID
  backtest [PLAYBOOK.yaml]   do the gates predict wins? (closed deals; --opportunities F)

Run 'dealcoach <command> --help' for a command's options.
)";

constexpr char kServeHelp[] =
    R"(usage: dealcoach serve [--config FILE] [--<setting> VALUE]...

Runs the gRPC sidecar (CoachingService, PlaybookService, grpc.health.v1, reflection).
Stops gracefully on SIGINT/SIGTERM. Refuses to start (exit 2) when no playbook is valid.

  --config FILE   config file (env DEALCOACH_CONFIG; default config/sidecar.yaml if it
                  exists, else built-in defaults)

Every setting can be overridden by a flag and by an environment variable;
precedence: flag > env > file > default.
)";

constexpr char kLintHelp[] =
    R"(usage: dealcoach lint PLAYBOOK|DIR...

A DIR stands for its playbooks: every *.yaml / *.yml in it not ending _test.yaml.

Parses, validates and type-checks each playbook. Prints every problem as
file:line:col: error: message, with the source line and a caret.
Exit 0 when every playbook is clean, 1 when any has errors.
)";

constexpr char kTestHelp[] =
    R"(usage: dealcoach test [--root DIR] PLAYBOOK|DIR...

Runs each playbook's tests (its `tests:` section and <playbook>_test.yaml beside it)
and prints PASS/FAIL per test, then "N passed, M failed". Exit 0 when all pass.
A DIR stands for its playbooks: every *.yaml / *.yml in it not ending _test.yaml.

Files are read only inside a root directory (default: the current directory when
the playbook is inside it, as in a playbook repository; otherwise the playbook's own
directory): a test's `opportunity_file:` is relative to the tests file and must not
leave the root ('..' above it, absolute paths and symlinks out are refused).
Only regular files up to 4 MiB are read.

  --root DIR   set the root explicitly (narrower or wider than the default)
)";

constexpr char kEvalHelp[] =
    R"(usage: dealcoach eval --playbook FILE --opportunity FILE.json [options]

Evaluates one opportunity against a playbook without a server and prints the deal card.

  --playbook FILE       playbook YAML
  --opportunity FILE    an Opportunity in proto3 JSON (an object, or an array with --id)
  --id ID               pick this opportunity when the file holds an array
  --now RFC3339         evaluate as of this time (default: now); --as-of is the same
  --max-behaviors N     behaviors to show (default 3)
  --checklist [NAME]    print the review checklist too ("" = the first)
  --json                print DealGuidance as proto3 JSON instead
  --no-color            no ANSI colors (default: colors only on a terminal)
)";

constexpr char kExprHelp[] =
    R"(usage: dealcoach expr 'EXPRESSION' [--vars FILE.json]

Evaluates one playbook expression. Every top-level key of the JSON object in --vars is a
variable; `opp` is read as an Opportunity (proto3 JSON) and `now` as an RFC 3339 time.
Prints the result in CEL literal syntax; exit 1 with line:col on error.
)";

constexpr char kDemoHelp[] =
    R"(usage: dealcoach demo [--no-color]

Starts the sidecar in-process on a free loopback port with the embedded default
configuration (file connector over the sample opportunities, customer-journey
playbook), then acts as a gRPC client: checks health, prints guidance for a few sample
deals, a manager's review checklist and a rep's 1:1 coaching agenda (compared with
the sample history a week earlier), prints one line about the store its answers were
logged to (the embedded SQLite default, in the demo's temporary directory), and
shuts the sidecar down.
)";

// Sample deals the demo shows, chosen to cover the interesting cases.
// Stage far ahead of evidence (Proposal, still single-threaded in Awareness); a large
// deal with a criterion not recorded in the CRM; stage ahead by one phase with risks;
// a conservative rep whose evidence is ahead of the stage; a healthy late-stage deal.
constexpr absl::string_view kDemoDeals[] = {"006000000000006AAA", "006000000000052AAA",
                                            "006000000000020AAA", "006000000000037AAA",
                                            "006000000000053AAA"};

// The sample rep whose 1:1 agenda ends the demo (Jonas Weber, Enterprise East).
constexpr char kDemoRep[] = "005000000000012AAA";

// Files named on the command line: bounded (regular files, 4 MiB).
absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<std::string> text = engine::ReadBoundedFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat(path, ": cannot read file: ", text.status().message()));
  }
  return text;
}

bool UseColor(const CliArgs& args) {
  if (args.Has("no_color")) return false;
  if (getenv("NO_COLOR") != nullptr) return false;
  return isatty(STDOUT_FILENO) != 0;
}

int Usage(const char* help, const std::string& error) {
  std::fprintf(stderr, "dealcoach: %s\n\n%s", error.c_str(), help);
  return 2;
}

absl::StatusOr<absl::Time> ParseRfc3339(const std::string& text, absl::string_view flag) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": not an RFC 3339 time like 2026-11-20T12:00:00Z: ", err));
  }
  return t;
}

// Reads opportunities (an object or an array of objects) in proto3 JSON.
absl::StatusOr<std::vector<v1::Opportunity>> ReadOpportunities(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  std::vector<nlohmann::json> items;
  if (doc.is_array()) {
    for (auto& item : doc) items.push_back(item);
  } else {
    items.push_back(doc);
  }
  std::vector<v1::Opportunity> out;
  for (size_t i = 0; i < items.size(); ++i) {
    v1::Opportunity opp;
    auto status = google::protobuf::util::JsonStringToMessage(items[i].dump(), &opp);
    if (!status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, doc.is_array() ? absl::StrCat(" [", i, "]") : "",
                       ": not an Opportunity: ", std::string(status.message())));
    }
    out.push_back(std::move(opp));
  }
  return out;
}

void PrintDiagnostics(const std::vector<v1::Diagnostic>& diagnostics, FILE* out) {
  for (const v1::Diagnostic& d : diagnostics) {
    std::string text = engine::FormatDiagnostic(d);
    std::fprintf(out, "%s\n", text.c_str());
  }
}

}  // namespace

void PrintJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = true;
  std::string text;
  (void)google::protobuf::util::MessageToJsonString(m, &text, json);
  std::printf("%s\n", text.c_str());
}

bool CliArgs::Has(const std::string& key) const {
  for (const auto& kv : flags) {
    if (kv.first == key) return true;
  }
  return false;
}

std::string CliArgs::Get(const std::string& key, const std::string& fallback) const {
  std::string value = fallback;
  for (const auto& kv : flags) {
    if (kv.first == key) value = kv.second;
  }
  return value;
}

namespace {

// "max-behaviors" -> "max_behaviors"; a configuration key's part after the first '.'
// (connector.<key>) is kept as written.
std::string NormalizeFlagName(absl::string_view name) {
  std::string out(name);
  const size_t dot = out.find('.');
  for (size_t i = 0; i < out.size() && i < dot; ++i) {
    if (out[i] == '-') out[i] = '_';
  }
  return out;
}

// "-x", "--name", "--name=value": a letter, then letters, digits, '-', '_', '.'.
bool LooksLikeFlag(absl::string_view arg) {
  absl::string_view body = arg;
  if (!absl::ConsumePrefix(&body, "--") && !absl::ConsumePrefix(&body, "-")) return false;
  body = body.substr(0, body.find('='));
  if (body.empty() || !absl::ascii_isalpha(static_cast<unsigned char>(body[0]))) return false;
  for (char c : body) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return false;
    }
  }
  // "-opp.amount" is an expression, "--connector.x" a setting.
  return absl::StartsWith(arg, "--") || body.find('.') == absl::string_view::npos;
}

}  // namespace

absl::StatusOr<CliArgs> ParseCliArgs(const std::vector<std::string>& argv,
                                     const std::vector<FlagSpec>& flags,
                                     bool (*accept_value_flag)(const std::string&)) {
  CliArgs args;
  bool flags_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    absl::string_view a = argv[i];
    if (flags_done || !LooksLikeFlag(a)) {
      if (!flags_done && a == "--") {
        flags_done = true;
        continue;
      }
      args.positional.push_back(std::string(a));
      continue;
    }
    absl::string_view body = a;
    if (!absl::ConsumePrefix(&body, "--")) absl::ConsumePrefix(&body, "-");
    const size_t eq = body.find('=');
    std::string name = NormalizeFlagName(body.substr(0, eq));
    if (name == "h") name = "help";
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& f : flags) {
      if (f.name == name) spec = &f;
    }
    FlagSpec dynamic{name, FlagSpec::kValue};
    if (spec == nullptr && name != "help" && accept_value_flag != nullptr &&
        accept_value_flag(name)) {
      spec = &dynamic;
    }
    if (spec == nullptr && name != "help") {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", std::string(a.substr(0, a.find('='))),
                       "; to pass an argument that starts with '-', put it after --"));
    }
    const FlagSpec::Kind kind = spec == nullptr ? FlagSpec::kBool : spec->kind;
    std::string value;
    if (eq != absl::string_view::npos) {
      value = std::string(body.substr(eq + 1));
      if (kind == FlagSpec::kBool && value != "true" && value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " is true or false, got '", value, "'"));
      }
      if (kind == FlagSpec::kBool && value == "false") continue;
    } else if (kind == FlagSpec::kBool) {
      value = "true";
    } else if (kind == FlagSpec::kOptionalValue) {
      if (i + 1 < argv.size() && !absl::StartsWith(argv[i + 1], "-")) value = argv[++i];
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
    }
    args.flags.emplace_back(name, value);
  }
  return args;
}

int RunServe(const CliArgs& args) {
  if (args.Has("help")) {
    std::string help = kServeHelp;
    absl::StrAppend(&help, "\nsettings (flag / environment variable / default):\n");
    for (const SettingInfo& s : KnownSettings()) {
      absl::StrAppend(&help, "  --", s.key, "\n      ", EnvVarName(s.key), "  [", s.default_value,
                      "]  ", s.help, "\n");
    }
    std::fputs(help.c_str(), stdout);
    return 0;
  }
  if (!args.positional.empty()) {
    return Usage(kServeHelp, absl::StrCat("unexpected argument '", args.positional[0], "'"));
  }
  std::string config_path = args.Get("config");
  if (config_path.empty() && getenv("DEALCOACH_CONFIG") != nullptr) {
    config_path = getenv("DEALCOACH_CONFIG");
  }
  if (config_path.empty() && access("config/sidecar.yaml", R_OK) == 0) {
    config_path = "config/sidecar.yaml";
  }
  std::vector<ConfigOverride> overrides = OverridesFromEnvironment(environ);
  for (const auto& [key, value] : args.flags) {
    if (key == "config") continue;
    if (!IsConfigKey(key)) {
      return Usage(kServeHelp, absl::StrCat("unknown flag --", key,
                                            "; see 'dealcoach serve --help' for settings"));
    }
    overrides.push_back({key, value, absl::StrCat("flag --", key)});
  }
  absl::StatusOr<SidecarConfig> config = LoadConfig(config_path, overrides);
  if (!config.ok()) {
    std::fprintf(stderr, "dealcoach: invalid configuration: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }

  // Block the stop signals in every thread (gRPC's threads inherit the mask) and wait
  // for them on this one: no async-signal-safety puzzles.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<Sidecar>> sidecar = Sidecar::Start(*config);
  if (!sidecar.ok()) {
    std::fprintf(stderr, "dealcoach: cannot start: %s\n",
                 std::string(sidecar.status().message()).c_str());
    return 2;
  }
  if ((*sidecar)->serving_playbooks() == 0) {
    std::fprintf(stderr, "dealcoach: refusing to start: no valid playbook among %zu file(s):\n",
                 config->playbook_files.size());
    std::shared_ptr<const runtime::Snapshot> snapshot = (*sidecar)->playbooks().Get();
    for (const runtime::PlaybookEntry& e : snapshot->entries()) {
      PrintDiagnostics(e.last_reload_diagnostics, stderr);
    }
    (*sidecar)->Shutdown(absl::ZeroDuration());
    (*sidecar)->Wait();
    return 2;
  }
  std::fprintf(stderr, "dealcoach: serving on %s (Ctrl-C to stop)\n",
               (*sidecar)->address().c_str());
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "dealcoach: %s received; draining for up to %s\n", strsignal(sig),
               absl::FormatDuration(config->shutdown_grace).c_str());
  (*sidecar)->Shutdown(config->shutdown_grace);
  (*sidecar)->Wait();
  return 0;
}

namespace {

struct PlaybookArg {
  std::string path;
  // The root for the playbook's test files when --root is not given.
  std::string default_root;
};

// The root test files are read under when --root is not given: the current directory
// when `dir` lies inside it (an admin runs `dealcoach test playbooks/` from the playbook
// repository, whose tests may name ../samples), else `dir` itself.
std::string DefaultRoot(const std::string& dir) {
  std::error_code ec;
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (ec) return dir;
  const std::filesystem::path abs = std::filesystem::weakly_canonical(dir, ec);
  if (ec) return dir;
  auto rel = abs.lexically_relative(cwd);
  if (rel.empty() || *rel.begin() == "..") return dir;
  return ".";
}

// Playbook files named on the command line; a directory stands for its playbooks
// (*.yaml, *.yml not ending _test.yaml), in name order.
absl::StatusOr<std::vector<PlaybookArg>> ExpandPlaybookArgs(
    const std::vector<std::string>& positional) {
  std::vector<PlaybookArg> out;
  for (const std::string& arg : positional) {
    std::error_code ec;
    if (!std::filesystem::is_directory(arg, ec)) {
      const size_t slash = arg.rfind('/');
      const std::string dir = slash == std::string::npos ? "." : arg.substr(0, slash + 1);
      out.push_back({arg, DefaultRoot(dir)});
      continue;
    }
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
      const std::string name = entry.path().filename().string();
      if ((absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml")) &&
          !playbook_tests::IsTestFileName(name) && name[0] != '.') {
        found.push_back(name);
      }
    }
    if (ec) return absl::InvalidArgumentError(absl::StrCat(arg, ": ", ec.message()));
    if (found.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(arg, ": no playbooks (*.yaml) in it"));
    }
    std::sort(found.begin(), found.end());
    const std::string dir = absl::EndsWith(arg, "/") ? arg : arg + "/";
    for (const std::string& name : found) out.push_back({dir + name, DefaultRoot(dir)});
  }
  return out;
}

}  // namespace

int RunLint(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kLintHelp, stdout);
    return 0;
  }
  if (args.positional.empty()) return Usage(kLintHelp, "name at least one playbook");
  absl::StatusOr<std::vector<PlaybookArg>> playbooks = ExpandPlaybookArgs(args.positional);
  if (!playbooks.ok()) return Usage(kLintHelp, std::string(playbooks.status().message()));
  int failed = 0;
  for (const PlaybookArg& arg : *playbooks) {
    const std::string& path = arg.path;
    engine::LoadResult r = engine::LoadPlaybookFile(path);
    PrintDiagnostics(r.diagnostics, stdout);
    if (r.ok()) {
      std::printf("%s: ok (%s@%lld)\n", path.c_str(), r.playbook->ref().name().c_str(),
                  static_cast<long long>(r.playbook->ref().version()));
    } else {
      ++failed;
    }
  }
  if (failed > 0) {
    std::printf("%d of %zu playbook(s) have errors\n", failed, playbooks->size());
    return 1;
  }
  return 0;
}

int RunTest(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kTestHelp, stdout);
    return 0;
  }
  if (args.positional.empty()) return Usage(kTestHelp, "name at least one playbook");
  absl::StatusOr<std::vector<PlaybookArg>> playbooks = ExpandPlaybookArgs(args.positional);
  if (!playbooks.ok()) return Usage(kTestHelp, std::string(playbooks.status().message()));
  int passed = 0, failed = 0;
  bool broken = false;
  for (const PlaybookArg& arg : *playbooks) {
    const std::string& path = arg.path;
    engine::LoadResult r = engine::LoadPlaybookFile(path);
    if (!r.ok()) {
      PrintDiagnostics(r.diagnostics, stdout);
      std::printf("%s: cannot run tests: the playbook has errors\n", path.c_str());
      broken = true;
      continue;
    }
    absl::StatusOr<std::vector<v1::PlaybookTestResult>> results =
        playbook_tests::RunPlaybookFileTests(*r.playbook, path, args.Get("root", arg.default_root));
    if (!results.ok()) {
      std::printf("%s\n", std::string(results.status().message()).c_str());
      broken = true;
      continue;
    }
    std::printf("%s (%s@%lld): %zu test(s)\n", path.c_str(), r.playbook->ref().name().c_str(),
                static_cast<long long>(r.playbook->ref().version()), results->size());
    for (const v1::PlaybookTestResult& t : *results) {
      if (t.passed()) {
        ++passed;
        std::printf("  PASS %s\n", t.name().c_str());
      } else {
        ++failed;
        std::printf("  FAIL %s\n", t.name().c_str());
        for (const std::string& f : t.failures()) std::printf("       %s\n", f.c_str());
      }
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed > 0 || broken ? 1 : 0;
}

int RunEval(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kEvalHelp, stdout);
    return 0;
  }
  std::string playbook_path = args.Get("playbook");
  std::string opp_path = args.Get("opportunity");
  if (playbook_path.empty()) return Usage(kEvalHelp, "--playbook is required");
  if (opp_path.empty()) return Usage(kEvalHelp, "--opportunity is required");

  absl::Time now = absl::Now();
  if (args.Has("now") || args.Has("as_of")) {
    const bool as_of = args.Has("as_of");
    absl::StatusOr<absl::Time> t =
        ParseRfc3339(args.Get(as_of ? "as_of" : "now"), as_of ? "--as-of" : "--now");
    if (!t.ok()) return Usage(kEvalHelp, std::string(t.status().message()));
    now = *t;
  }
  engine::EvaluateOptions options;
  if (args.Has("max_behaviors") &&
      (!absl::SimpleAtoi(args.Get("max_behaviors"), &options.max_behaviors) ||
       options.max_behaviors < 0 || options.max_behaviors > kMaxBehaviorsLimit)) {
    return Usage(kEvalHelp, "--max_behaviors: must be between 0 and 50");
  }

  engine::LoadResult r = engine::LoadPlaybookFile(playbook_path);
  if (!r.ok()) {
    PrintDiagnostics(r.diagnostics, stderr);
    return 1;
  }
  absl::StatusOr<std::vector<v1::Opportunity>> opps = ReadOpportunities(opp_path);
  if (!opps.ok()) {
    std::fprintf(stderr, "dealcoach: %s\n", std::string(opps.status().message()).c_str());
    return 2;
  }
  const v1::Opportunity* chosen = nullptr;
  std::string id = args.Get("id");
  if (!id.empty()) {
    for (const v1::Opportunity& o : *opps) {
      if (o.id() == id) chosen = &o;
    }
    if (chosen == nullptr) {
      std::fprintf(stderr, "dealcoach: opportunity '%s' not found in %s\n", id.c_str(),
                   opp_path.c_str());
      return 2;
    }
  } else if (opps->size() == 1) {
    chosen = &opps->front();
  } else {
    return Usage(kEvalHelp, absl::StrCat(opp_path, " holds ", opps->size(),
                                         " opportunities; pick one with --id"));
  }
  v1::Opportunity opp = *chosen;
  engine::NormalizeOpportunity(&opp);

  v1::DealGuidance guidance = r.playbook->Evaluate(opp, now, options);
  guidance.mutable_freshness()->set_source(
      absl::StrCat("file ", opp_path.substr(opp_path.rfind('/') + 1)));
  RenderOptions render;
  render.color = UseColor(args);
  if (args.Has("json")) {
    PrintJson(guidance);
  } else {
    std::fputs(RenderGuidance(guidance, &opp, render).c_str(), stdout);
  }
  if (args.Has("checklist")) {
    const std::string name = args.Get("checklist");  // "" = the first
    absl::StatusOr<v1::ReviewChecklist> checklist = r.playbook->EvaluateChecklist(opp, now, name);
    if (!checklist.ok()) {
      std::fprintf(stderr, "dealcoach: %s\n", std::string(checklist.status().message()).c_str());
      return 2;
    }
    checklist->mutable_freshness()->set_source(
        absl::StrCat("file ", opp_path.substr(opp_path.rfind('/') + 1)));
    std::printf("\n%s", RenderChecklist(*checklist, render).c_str());
  }
  return 0;
}

int RunExpr(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kExprHelp, stdout);
    return 0;
  }
  if (args.positional.size() != 1) return Usage(kExprHelp, "give exactly one EXPRESSION");
  std::string vars = "{}";
  if (args.Has("vars")) {
    absl::StatusOr<std::string> text = ReadFile(args.Get("vars"));
    if (!text.ok()) return Usage(kExprHelp, std::string(text.status().message()));
    vars = *text;
  }
  absl::StatusOr<std::string> result = oppschema::EvaluateForCli(args.positional[0], vars);
  if (!result.ok()) {
    std::printf("error: %s\n", std::string(result.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", result->c_str());
  return 0;
}

// One line on the store the demo's answers were logged to (AdminService.GetStatus),
// once the decision log has written the `answers` decisions (or after 3 s).
void PrintDemoStoreLine(const std::shared_ptr<grpc::Channel>& channel, int64_t answers) {
  auto admin = v1::AdminService::NewStub(channel);
  v1::GetStatusResponse status;
  const absl::Time deadline = absl::Now() + absl::Seconds(3);
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    status.Clear();
    grpc::Status s = admin->GetStatus(&ctx, v1::GetStatusRequest(), &status);
    if (!s.ok()) {
      std::printf("\nstore: GetStatus failed: %s\n", s.error_message().c_str());
      return;
    }
    const v1::StoreStatus& st = status.store();
    if (!st.enabled() || !st.healthy() || st.decisions_written() >= answers ||
        absl::Now() >= deadline) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const v1::StoreStatus& st = status.store();
  if (!st.enabled()) {
    std::printf("\nstore: off (store.backend: none)\n");
  } else if (!st.healthy()) {
    std::printf("\nstore: %s %s unhealthy: %s\n", st.backend().c_str(), st.location().c_str(),
                st.error().c_str());
  } else {
    std::printf("\nstore: %s %s, schema v%d, %lld decisions logged\n", st.backend().c_str(),
                st.location().c_str(), st.schema_version(),
                static_cast<long long>(st.decisions_written()));
  }
}

// The demo's last page: a frontline manager's 1:1 agenda for one sample rep, compared
// with the shipped history (a week earlier) after snapshotting it.
bool PrintDemoAgenda(const std::shared_ptr<grpc::Channel>& channel, const std::string& dir,
                     const RenderOptions& render) {
  std::printf("\nManager's view — GetCoachingAgenda(%s), the 1:1 agenda:\n\n", kDemoRep);
  if (absl::Status s = SeedSampleHistory(channel, dir); !s.ok()) {
    std::printf("cannot snapshot the sample history: %s\n", std::string(s.message()).c_str());
  }
  auto coaching = v1::CoachingService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetCoachingAgendaRequest req;
  req.set_rep_id(kDemoRep);
  v1::GetCoachingAgendaResponse resp;
  grpc::Status s = coaching->GetCoachingAgenda(&ctx, req, &resp);
  if (!s.ok()) {
    std::printf("error %d: %s\n", s.error_code(), s.error_message().c_str());
    return false;
  }
  std::fputs(RenderCoachingAgenda(resp, render).c_str(), stdout);
  std::printf("\n  (the whole team: dealcoach review --manager %s --demo)\n",
              resp.rep().manager_id().c_str());
  return true;
}

int RunDemo(const CliArgs& args) {
  if (args.Has("help")) {
    std::fputs(kDemoHelp, stdout);
    return 0;
  }
  RenderOptions render;
  render.color = UseColor(args);

  absl::StatusOr<std::string> dir = MaterializeEmbeddedConfig();
  if (!dir.ok()) {
    std::fprintf(stderr, "dealcoach demo: %s\n", std::string(dir.status().message()).c_str());
    return 2;
  }
  struct Cleanup {
    std::string dir;
    ~Cleanup() { RemoveTree(dir); }
  } cleanup{*dir};

  std::vector<ConfigOverride> overrides = {
      {"listen", "127.0.0.1:0", "demo"},
      {"log_level", args.Get("log_level", "warning"), "demo"},
  };
  absl::StatusOr<SidecarConfig> config = LoadConfig(*dir + "/sidecar.yaml", overrides);
  if (!config.ok()) {
    std::fprintf(stderr, "dealcoach demo: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::unique_ptr<Sidecar>> sidecar = Sidecar::Start(*config);
  if (!sidecar.ok()) {
    std::fprintf(stderr, "dealcoach demo: cannot start the sidecar: %s\n",
                 std::string(sidecar.status().message()).c_str());
    return 2;
  }
  std::printf("dealcoach demo: sidecar listening on %s (file connector over the samples)\n",
              (*sidecar)->address().c_str());

  // From here on the demo is an ordinary gRPC client.
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel((*sidecar)->address(), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto coaching = v1::CoachingService::NewStub(channel);
  auto playbooks = v1::PlaybookService::NewStub(channel);

  grpc::health::v1::HealthCheckResponse health_response;
  grpc::Status status;
  for (int attempt = 0; attempt < 50; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest req;
    status = health->Check(&ctx, req, &health_response);
    if (status.ok() && health_response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  std::printf("health check (grpc.health.v1): %s\n",
              status.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                                health_response.status())
                                .c_str()
                          : status.error_message().c_str());
  {
    grpc::ClientContext ctx;
    v1::GetActivePlaybookRequest req;
    v1::GetActivePlaybookResponse resp;
    if (playbooks->GetActivePlaybook(&ctx, req, &resp).ok()) {
      std::printf("active playbook: %s@%lld (loaded: %s)\n", resp.playbook().name().c_str(),
                  static_cast<long long>(resp.playbook().version()),
                  absl::StrJoin(resp.available_playbooks(), ", ").c_str());
    }
  }

  // Amounts and accounts for the cards come from the same samples the connector reads
  // (a CRM page has the record already; the guidance does not repeat it).
  std::map<std::string, v1::Opportunity> samples;
  absl::StatusOr<std::vector<v1::Opportunity>> opps =
      ReadOpportunities(*dir + "/samples/opportunities.json");
  if (opps.ok()) {
    for (v1::Opportunity& o : *opps) samples[o.id()] = std::move(o);
  }

  int failures = 0;
  std::string first_ahead;
  for (absl::string_view id : kDemoDeals) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetDealGuidanceRequest req;
    req.set_opportunity_id(std::string(id));
    v1::GetDealGuidanceResponse resp;
    grpc::Status s = coaching->GetDealGuidance(&ctx, req, &resp);
    std::printf("\n");
    if (!s.ok()) {
      std::printf("GetDealGuidance(%s): %d %s\n", std::string(id).c_str(), s.error_code(),
                  s.error_message().c_str());
      ++failures;
      continue;
    }
    if (first_ahead.empty() && resp.guidance().has_stage_ahead_of_evidence()) {
      first_ahead = std::string(id);
    }
    auto it = samples.find(std::string(id));
    std::fputs(RenderGuidance(resp.guidance(), it == samples.end() ? nullptr : &it->second, render)
                   .c_str(),
               stdout);
  }

  {
    std::string id = first_ahead.empty() ? std::string(kDemoDeals[0]) : first_ahead;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::GetReviewChecklistRequest req;
    req.set_opportunity_id(id);
    v1::GetReviewChecklistResponse resp;
    grpc::Status s = coaching->GetReviewChecklist(&ctx, req, &resp);
    std::printf("\nManager's view — GetReviewChecklist(%s):\n\n", id.c_str());
    if (s.ok()) {
      std::fputs(RenderChecklist(resp.checklist(), render).c_str(), stdout);
    } else {
      std::printf("error %d: %s\n", s.error_code(), s.error_message().c_str());
      ++failures;
    }
  }

  if (!PrintDemoAgenda(channel, *dir, render)) ++failures;

  PrintDemoStoreLine(channel, static_cast<int64_t>(std::size(kDemoDeals)) + 1 - failures);

  (*sidecar)->Shutdown(absl::Seconds(2));
  (*sidecar)->Wait();
  std::printf("\ndealcoach demo: sidecar shut down cleanly%s\n",
              failures > 0 ? absl::StrCat(" (", failures, " call(s) failed)").c_str() : "");
  return failures > 0 ? 1 : 0;
}

int RunCli(int argc, char** argv) {
  std::vector<std::string> rest(argv + (argc > 1 ? 2 : 1), argv + argc);
  std::string command = argc > 1 ? argv[1] : "";
  if (command.empty() || command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, command.empty() ? stderr : stdout);
    return command.empty() ? 2 : 0;
  }
  if (command == "version" || command == "--version") {
    std::printf("dealcoach 0.1.0\n");
    return 0;
  }
  struct Command {
    const char* name;
    int (*run)(const CliArgs&);
    const char* help;
    std::vector<FlagSpec> flags;
    bool (*accept_value_flag)(const std::string&) = nullptr;
  };
  using F = FlagSpec;
  static const Command kCommands[] = {
      {"serve",
       RunServe,
       kServeHelp,
       {{"config", F::kValue}},
       [](const std::string& key) { return IsConfigKey(key); }},
      {"lint", RunLint, kLintHelp, {{"root", F::kValue}}},
      {"test", RunTest, kTestHelp, {{"root", F::kValue}}},
      {"eval",
       RunEval,
       kEvalHelp,
       {{"playbook", F::kValue},
        {"opportunity", F::kValue},
        {"id", F::kValue},
        {"now", F::kValue},
        {"as_of", F::kValue},
        {"max_behaviors", F::kValue},
        {"checklist", F::kOptionalValue},
        {"json", F::kBool},
        {"no_color", F::kBool}}},
      {"expr", RunExpr, kExprHelp, {{"vars", F::kValue}}},
      {"demo", RunDemo, kDemoHelp, {{"no_color", F::kBool}, {"log_level", F::kValue}}},
      {"review",
       RunReview,
       ReviewHelp(),
       {{"manager", F::kValue},
        {"team", F::kValue},
        {"rep", F::kValue},
        {"all", F::kBool},
        {"address", F::kValue},
        {"demo", F::kBool},
        {"filter", F::kValue},
        {"since", F::kValue},
        {"compare_to", F::kValue},
        {"as_of", F::kValue},
        {"playbook", F::kValue},
        {"max_deals", F::kValue},
        {"json", F::kBool},
        {"no_color", F::kBool}}},
      {"agenda",
       RunAgenda,
       AgendaHelp(),
       {{"rep", F::kValue},
        {"address", F::kValue},
        {"demo", F::kBool},
        {"since", F::kValue},
        {"compare_to", F::kValue},
        {"as_of", F::kValue},
        {"playbook", F::kValue},
        {"json", F::kBool},
        {"no_color", F::kBool}}},
      {"store",
       RunStore,
       StoreHelp(),
       {{"config", F::kValue}},
       [](const std::string& key) { return absl::StartsWith(key, "store."); }},
  };
  for (const Command& c : kCommands) {
    if (command != c.name) continue;
    absl::StatusOr<CliArgs> args = ParseCliArgs(rest, c.flags, c.accept_value_flag);
    if (!args.ok()) return Usage(c.help, std::string(args.status().message()));
    return c.run(*args);
  }
  for (const AdminCommand& c : AdminCommands()) {
    if (command != c.name) continue;
    absl::StatusOr<CliArgs> args = ParseCliArgs(rest, c.flags);
    if (!args.ok()) return Usage(c.help, std::string(args.status().message()));
    return c.run(*args);
  }
  std::fprintf(stderr, "dealcoach: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}

}  // namespace dealcoach::server
