#include "sidecar/server/embedded.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

namespace dealcoach::server {
namespace {

absl::Status MakeParents(const std::string& path) {
  for (size_t pos = path.find('/', 1); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string dir = path.substr(0, pos);
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", dir));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> MaterializeEmbeddedConfig() {
  const char* tmp = getenv("TMPDIR");
  std::string tmpl =
      absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/dealcoach-demo-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a directory like ", tmpl));
  }
  for (const EmbeddedFile& f : EmbeddedDefaultFiles()) {
    std::string path = absl::StrCat(tmpl, "/", f.path);
    absl::Status s = MakeParents(path);
    if (!s.ok()) return s;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(f.data, static_cast<std::streamsize>(f.size));
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  }
  return tmpl;
}

void RemoveTree(const std::string& dir) {
  if (dir.empty()) return;
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

}  // namespace dealcoach::server
