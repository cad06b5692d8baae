// The one way dealcoach's tools read playbook-related files (playbooks, their tests,
// the opportunities those tests name): bounded in size, regular files only, and for
// names that come from file content, confined to a root directory.
//
// Opening never blocks: files are opened with O_NONBLOCK, so a FIFO (or a device) is
// opened and then refused by fstat before a byte is read, instead of waiting for a
// writer; /dev/zero and friends are refused the same way instead of filling memory.
//
// Server RPCs read no files at all (see docs/api.md, ValidatePlaybook); this is for the
// CLI and for loading the configured playbooks.
#ifndef DEALCOACH_SIDECAR_ENGINE_BOUNDED_FILE_H_
#define DEALCOACH_SIDECAR_ENGINE_BOUNDED_FILE_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace dealcoach::engine {

// Largest playbook, test or opportunity file read: 4 MiB.
inline constexpr size_t kMaxFileBytes = 4 << 20;

// Reads the regular file at `path` (symlinks followed) in full. InvalidArgument for a
// name with a NUL byte, a FIFO, device, directory or socket, or a file over
// `max_bytes`; NotFound / PermissionDenied etc. from open(2) otherwise. The messages
// name the path but never include file content.
[[nodiscard]] absl::StatusOr<std::string> ReadBoundedFile(absl::string_view path,
                                                          size_t max_bytes = kMaxFileBytes);

// Reads files named relative to one root directory. A name must be relative, without a
// NUL byte, and must not climb above the root through ".." (checked lexically:
// "a/../b" is "b"); after opening, the file's real path must lie inside the root's real
// path, so a symlink that leaves the root is refused too (symlinks within it, as in a
// Kubernetes ConfigMap mount, are fine).
class RootedFileReader {
 public:
  explicit RootedFileReader(std::string root_dir, size_t max_bytes = kMaxFileBytes);

  [[nodiscard]] absl::StatusOr<std::string> Read(absl::string_view name) const;
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  size_t max_bytes_;
};

}  // namespace dealcoach::engine

#endif  // DEALCOACH_SIDECAR_ENGINE_BOUNDED_FILE_H_
