#include "sidecar/engine/bounded_file.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dealcoach::engine {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string message = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InvalidArgumentError(message);
  }
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Reads an open regular file, refusing more than `max_bytes` even when it grows.
absl::StatusOr<std::string> ReadOpen(const Fd& fd, absl::string_view path, size_t max_bytes) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "cannot stat", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is ", FileKind(st.st_mode), "; only regular files are read"));
  }
  auto too_big = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is larger than the ", max_bytes, "-byte limit"));
  };
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return too_big();
  std::string out;
  out.resize(static_cast<size_t>(st.st_size) + 1);
  size_t used = 0;
  while (true) {
    if (used == out.size()) {
      if (out.size() > max_bytes) return too_big();
      out.resize(std::min(out.size() * 2, max_bytes + 1));
    }
    ssize_t n = read(fd.get(), out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read", path);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used > max_bytes) return too_big();
  }
  out.resize(used);
  return out;
}

absl::StatusOr<std::string> RealPath(absl::string_view path) {
  char buf[PATH_MAX];
  if (realpath(std::string(path).c_str(), buf) == nullptr) {
    return ErrnoStatus(errno, "cannot resolve", path);
  }
  return std::string(buf);
}

}  // namespace

absl::StatusOr<std::string> ReadBoundedFile(absl::string_view path, size_t max_bytes) {
  if (path.empty()) return absl::InvalidArgumentError("empty file name");
  if (absl::StrContains(path, '\0')) {
    return absl::InvalidArgumentError("a file name must not contain a NUL byte");
  }
  // O_NONBLOCK: opening a FIFO with no writer must not wait; fstat then refuses it.
  Fd fd(open(std::string(path).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    // Callers put the path in their own message ("cannot read playbook file: ...").
    const int err = errno;
    absl::Status s = ErrnoStatus(err, "", path);
    return absl::Status(s.code(), std::strerror(err));
  }
  return ReadOpen(fd, path, max_bytes);
}

RootedFileReader::RootedFileReader(std::string root_dir, size_t max_bytes)
    : root_(root_dir.empty() ? "." : std::move(root_dir)), max_bytes_(max_bytes) {}

absl::StatusOr<std::string> RootedFileReader::Read(absl::string_view name) const {
  if (name.empty()) return absl::InvalidArgumentError("empty file name");
  if (absl::StrContains(name, '\0')) {
    return absl::InvalidArgumentError("a file name must not contain a NUL byte");
  }
  if (name[0] == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is an absolute path; name a file relative to ", root_));
  }
  // Lexical normalisation: ".." may climb back up, never above the root.
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(name, '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", name, "' leaves the root directory ", root_, " (through '..')"));
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.empty()) return absl::InvalidArgumentError(absl::StrCat("'", name, "' names no file"));
  const std::string path = absl::StrCat(root_, "/", absl::StrJoin(parts, "/"));
  Fd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) return ErrnoStatus(errno, "cannot open", path);
  // Where the open actually landed (after any symlinks), checked on the open file.
  absl::StatusOr<std::string> root = RealPath(root_);
  if (!root.ok()) return root.status();
  absl::StatusOr<std::string> real = RealPath(absl::StrCat("/proc/self/fd/", fd.get()));
  if (!real.ok()) return real.status();
  const std::string prefix = *root == "/" ? "/" : absl::StrCat(*root, "/");
  if (!absl::StartsWith(*real, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' resolves outside ", root_, " (through a symlink)"));
  }
  return ReadOpen(fd, path, max_bytes_);
}

}  // namespace dealcoach::engine
