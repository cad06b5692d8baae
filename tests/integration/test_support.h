// Helpers for the integration tests: temp directories, atomic file writes, starting a
// sidecar from inline config text, and reading the shipped samples.
#ifndef DEALCOACH_TESTS_INTEGRATION_TEST_SUPPORT_H_
#define DEALCOACH_TESTS_INTEGRATION_TEST_SUPPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "sidecar/server/sidecar.h"

namespace dealcoach::testing {

// The repository root (compile-time).
std::string SourceDir();
std::string ShippedPlaybook(const std::string& name);  // config/playbooks/<name>.yaml
std::string SamplesFile();                             // config/samples/opportunities.json

// A directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  // Writes `content` to path()/name atomically (write + rename), so a poller never
  // sees half a file.
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

std::string ReadFileOrDie(const std::string& path);

// Starts a sidecar from config text (relative paths resolve against `base_dir`); without
// a `store:` section in `yaml`, with the store off.
absl::StatusOr<std::unique_ptr<server::Sidecar>> StartSidecar(const std::string& yaml,
                                                              const std::string& base_dir);

// The shipped sample opportunities, by id.
std::vector<v1::Opportunity> LoadSamples();

}  // namespace dealcoach::testing

#endif  // DEALCOACH_TESTS_INTEGRATION_TEST_SUPPORT_H_
