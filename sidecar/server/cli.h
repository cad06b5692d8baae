// The `dealcoach` command line: one binary, subcommands serve, lint, test, eval, expr
// and demo. Each subcommand has --help. Exit codes: 0 success, 1 the checked thing
// failed (lint errors, failing tests, expression error), 2 usage or start-up error.
//
// Thread safety: RunCli is called once, from main.
#ifndef DEALCOACH_SIDECAR_SERVER_CLI_H_
#define DEALCOACH_SIDECAR_SERVER_CLI_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace dealcoach::server {

// Parsed arguments of one subcommand.
struct CliArgs {
  std::vector<std::string> positional;
  // Flags in command-line order, "--key=value" or "--key value"; boolean flags get "true".
  std::vector<std::pair<std::string, std::string>> flags;
  bool Has(const std::string& key) const;
  // The last value of `key`, or `fallback`.
  std::string Get(const std::string& key, const std::string& fallback = "") const;
};

// One flag a subcommand accepts.
struct FlagSpec {
  enum Kind {
    kBool,           // --json; "--json=false" is also accepted
    kValue,          // --now T or --now=T
    kOptionalValue,  // --checklist, --checklist NAME or --checklist=NAME
  };
  std::string name;  // with underscores; "--max-behaviors" and "--max_behaviors" both match
  Kind kind = kBool;
};

// The one flag parser of every subcommand. "--flag value" and "--flag=value" mean the
// same; '-' and '_' in a flag name are the same; "-h" is "--help"; an unknown flag is an
// error. An argument is a flag only when it looks like one ("-name" or "--name[=...]",
// name = letters, digits, '-', '_'), so an expression such as "-7 / 2" or "-opp.amount"
// is positional; "--" ends the flags. A kOptionalValue flag takes the next argument as
// its value unless it starts with '-'. `accept_value_flag`, when set, accepts further
// value flags by name (serve: every configuration key).
absl::StatusOr<CliArgs> ParseCliArgs(const std::vector<std::string>& argv,
                                     const std::vector<FlagSpec>& flags,
                                     bool (*accept_value_flag)(const std::string&) = nullptr);

int RunCli(int argc, char** argv);

// Subcommands (exposed for tests).
int RunServe(const CliArgs& args);
int RunLint(const CliArgs& args);
int RunTest(const CliArgs& args);
int RunEval(const CliArgs& args);
// Prints `m` as indented proto3 JSON and a newline (every command's --json).
void PrintJson(const google::protobuf::Message& m);

int RunExpr(const CliArgs& args);
int RunDemo(const CliArgs& args);
int RunStore(const CliArgs& args);  // store_cli.cc
const char* StoreHelp();
int RunReview(const CliArgs& args);  // cli_pipeline.cc
int RunAgenda(const CliArgs& args);
const char* ReviewHelp();
const char* AgendaHelp();
// Snapshots the shipped sample history (config/samples/history) through TakeSnapshot,
// rebased like the samples, so the review and the agenda have something to compare with.
absl::Status SeedSampleHistory(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& config_dir);

// The admin's lifecycle commands (admin_cli.cc): plan, publish, revisions, diff,
// rollback, audit, decisions. They call a running sidecar over gRPC.
struct AdminCommand {
  const char* name;
  int (*run)(const CliArgs&);
  const char* help;
  std::vector<FlagSpec> flags;
};
const std::vector<AdminCommand>& AdminCommands();

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_CLI_H_
