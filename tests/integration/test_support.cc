#include "tests/integration/test_support.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/server/config.h"
#include "sidecar/server/embedded.h"

namespace dealcoach::testing {

std::string SourceDir() { return DEALCOACH_SOURCE_DIR; }
std::string ShippedPlaybook(const std::string& name) {
  return absl::StrCat(SourceDir(), "/config/playbooks/", name, ".yaml");
}
std::string SamplesFile() {
  return absl::StrCat(SourceDir(), "/config/samples/opportunities.json");
}

TempDir::TempDir() {
  std::string tmpl = "/tmp/dealcoach_it_XXXXXX";
  if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() { server::RemoveTree(path_); }

std::string TempDir::Write(const std::string& name, const std::string& content) const {
  std::string path = absl::StrCat(path_, "/", name);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
  }
  std::rename(tmp.c_str(), path.c_str());
  return path;
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<std::unique_ptr<server::Sidecar>> StartSidecar(const std::string& yaml,
                                                              const std::string& base_dir) {
  // A test that does not configure a store gets none, instead of the default SQLite file
  // under `base_dir` (often the source tree, shared by tests running in parallel).
  std::string text = yaml;
  if (!absl::StartsWith(text, "store:") && !absl::StrContains(text, "\nstore:")) {
    absl::StrAppend(&text, "\nstore:\n  backend: none\n");
  }
  absl::StatusOr<server::SidecarConfig> config =
      server::ParseConfig(text, "test-sidecar.yaml", base_dir, {});
  if (!config.ok()) return config.status();
  // A config without a `store:` section runs without one: the default (SQLite under
  // base_dir, often the source tree) would share one database between parallel tests.
  if (yaml.find("store:") == std::string::npos) config->store.enabled = false;
  return server::Sidecar::Start(*config);
}

std::vector<v1::Opportunity> LoadSamples() {
  nlohmann::json doc = nlohmann::json::parse(ReadFileOrDie(SamplesFile()));
  std::vector<v1::Opportunity> out;
  for (const auto& item : doc) {
    v1::Opportunity o;
    auto status = google::protobuf::util::JsonStringToMessage(item.dump(), &o);
    if (!status.ok()) {
      std::fprintf(stderr, "bad sample: %s\n", status.ToString().c_str());
      abort();
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace dealcoach::testing
