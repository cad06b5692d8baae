// Playbook unit tests (`tests:` in a playbook, and a separate tests document such as the
// sibling <playbook>_test.yaml), run through the engine's real Evaluate.
//
// Kept out of the engine's pure interface (engine.h): running tests may need files
// (`opportunity_file:`), and whether a file may be read is the caller's decision. The
// caller passes the tests' YAML text and a resolver; with no resolver, a test naming an
// `opportunity_file` fails with a positioned message and nothing is read. The server's
// ValidatePlaybook passes none; the CLI passes one rooted at a directory
// (engine::RootedFileReader).
#ifndef DEALCOACH_SIDECAR_PLAYBOOK_TESTS_PLAYBOOK_TESTS_H_
#define DEALCOACH_SIDECAR_PLAYBOOK_TESTS_PLAYBOOK_TESTS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::playbook_tests {

// Returns the content of the file `name`, as written after `opportunity_file:` in the
// tests document. Errors become the test's failure message.
using FileResolver = std::function<absl::StatusOr<std::string>(absl::string_view name)>;

struct TestsInput {
  // A tests document: a mapping with `tests:` (and optionally `now:`) or a list of
  // tests. Empty: only the playbook's own `tests:` run. Bounded like a playbook
  // (size, nesting, alias expansion).
  std::string yaml;
  // Its name in failure messages.
  std::string file_name = "tests.yaml";
  // Reads `opportunity_file:`; null refuses every such test.
  FileResolver resolver;
};

// Runs the playbook's inline `tests:` and then those of `input.yaml`. Failures of a test
// (wrong expectations, malformed tests) are in its result, with file:line:col. Returns
// InvalidArgument (with file:line:col) when the tests document itself cannot be used:
// malformed YAML, out of bounds, not a mapping or list. `playbook` must come from
// engine::LoadPlaybook / LoadPlaybookFile.
[[nodiscard]] absl::StatusOr<std::vector<v1::PlaybookTestResult>> RunPlaybookTests(
    const engine::CompiledPlaybook& playbook, const TestsInput& input);

// "<dir>/x.yaml" -> "<dir>/x_test.yaml" (also .yml).
std::string SiblingTestFile(const std::string& playbook_path);

// True for a file name that is a tests document by convention (ends _test.yaml/.yml).
bool IsTestFileName(absl::string_view path);

// The CLI's way: tests of the playbook at `playbook_path` plus, when it exists, the
// sibling <name>_test.yaml, with every file read through engine::RootedFileReader at
// `root` (which must contain the playbook). `opportunity_file:` names are relative to
// the tests file's directory and must stay inside `root`.
[[nodiscard]] absl::StatusOr<std::vector<v1::PlaybookTestResult>> RunPlaybookFileTests(
    const engine::CompiledPlaybook& playbook, const std::string& playbook_path,
    const std::string& root);

}  // namespace dealcoach::playbook_tests

#endif  // DEALCOACH_SIDECAR_PLAYBOOK_TESTS_PLAYBOOK_TESTS_H_
