#include "absl/strings/str_cat.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::engine {

std::string FormatDiagnostic(const v1::Diagnostic& diagnostic) {
  const char* severity =
      diagnostic.severity() == v1::DIAGNOSTIC_SEVERITY_WARNING ? "warning" : "error";
  std::string out = absl::StrCat(diagnostic.file(), ":", diagnostic.line(), ":",
                                 diagnostic.column(), ": ", severity, ": ", diagnostic.message());
  if (!diagnostic.snippet().empty()) absl::StrAppend(&out, "\n", diagnostic.snippet());
  return out;
}

}  // namespace dealcoach::engine
