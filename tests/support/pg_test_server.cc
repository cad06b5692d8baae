#include "tests/support/pg_test_server.h"

#include <stdlib.h>

#include <cstdio>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dealcoach::testing {
namespace {

std::string ScriptPath() {
  const char* script = std::getenv("DEALCOACH_TEST_PG_SCRIPT");
  if (script != nullptr && *script != '\0') return script;
  return std::string(DEALCOACH_SOURCE_DIR) + "/scripts/start-postgres.sh";
}

}  // namespace

std::string RunPgScript(const std::string& command) {
  const std::string cmd = absl::StrCat("bash '", ScriptPath(), "' ", command, " 2>&1");
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string output;
  char buf[512];
  while (fgets(buf, sizeof buf, pipe) != nullptr) output += buf;
  const int rc = pclose(pipe);
  if (rc != 0) return absl::StrCat(cmd, " failed (", rc, "): ", output);
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::ConsumePrefix(&line, "export ")) continue;
    std::vector<std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
    if (kv.size() != 2) continue;
    absl::string_view value = kv[1];
    absl::ConsumePrefix(&value, "'");
    absl::ConsumeSuffix(&value, "'");
    setenv(kv[0].c_str(), std::string(value).c_str(), 1);
  }
  return "";
}

std::string PgTestConninfo(std::string* why) {
  const char* env = std::getenv("DEALCOACH_TEST_PG");
  const bool external =
      env != nullptr && *env != '\0' && std::getenv("DEALCOACH_TEST_PG_SCRIPT") == nullptr;
  if (!external) {
    const std::string error = RunPgScript("start");
    if (!error.empty()) {
      *why = error;
      return "";
    }
    env = std::getenv("DEALCOACH_TEST_PG");
  }
  if (env == nullptr || *env == '\0') {
    *why = "DEALCOACH_TEST_PG is not set";
    return "";
  }
  return env;
}

}  // namespace dealcoach::testing
