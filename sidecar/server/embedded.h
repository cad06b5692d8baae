// The embedded default configuration: config/sidecar.yaml, the shipped playbooks and
// the sample opportunities, compiled into the binary (cmake/embed_files.cmake) so that
// `dealcoach demo` works from any directory with nothing but the binary.
//
// Thread safety: immutable data.
#ifndef DEALCOACH_SIDECAR_SERVER_EMBEDDED_H_
#define DEALCOACH_SIDECAR_SERVER_EMBEDDED_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dealcoach::server {

struct EmbeddedFile {
  // Path relative to config/ ("sidecar.yaml", "playbooks/customer-journey.yaml").
  const char* path;
  const char* data;
  size_t size;
};

// Every embedded file.
const std::vector<EmbeddedFile>& EmbeddedDefaultFiles();

// Writes the embedded files into a new temporary directory and returns its path.
absl::StatusOr<std::string> MaterializeEmbeddedConfig();

// Removes a directory tree written by MaterializeEmbeddedConfig.
void RemoveTree(const std::string& dir);

}  // namespace dealcoach::server

#endif  // DEALCOACH_SIDECAR_SERVER_EMBEDDED_H_
