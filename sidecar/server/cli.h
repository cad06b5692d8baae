// The `dealcoach` command line: one binary, subcommands serve, lint, test, eval, expr
// and demo. Each subcommand has --help. Exit codes: 0 success, 1 the checked thing
// failed (lint errors, failing tests, expression error), 2 usage or start-up error.
//
// Thread safety: RunCli is called once, from main.
#ifndef DEALCOACH_SIDECAR_SERVER_CLI_H_
#define DEALCOACH_SIDECAR_SERVER_CLI_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

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

// Parses argv[start..). Flags named in `bool_flags` take no value. "--" ends flags.
absl::StatusOr<CliArgs> ParseCliArgs(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& bool_flags);

int RunCli(int argc, char** argv);

// Subcommands (exposed for tests).
int RunServe(const CliArgs& args);
int RunLint(const CliArgs& args);
int RunTest(const CliArgs& args);
int RunEval(const CliArgs& args);
int RunExpr(const CliArgs& args);
int RunDemo(const CliArgs& args);
int RunStore(const CliArgs& args);  // store_cli.cc
const char* StoreHelp();

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_CLI_H_
