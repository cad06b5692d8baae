// Minimal leveled logging to stderr for the sidecar process.
//
// The sidecar logs little: start-up, reloads (with diagnostics), connector trouble and
// shutdown. One line per event, "I 2026-11-20T12:00:00Z runtime: message", so that
// journald and kubectl logs read well. Not a general logging framework on purpose.
//
// Thread safety: every function may be called from any thread; lines never interleave.
#ifndef DEALCOACH_SIDECAR_RUNTIME_LOG_H_
#define DEALCOACH_SIDECAR_RUNTIME_LOG_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace dealcoach::runtime {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// Parses "debug" | "info" | "warning" (or "warn") | "error" | "off".
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view name);

enum class LogFormat {
  kText,  // "I 2026-11-20T12:00:00.000Z message"
  kJson,  // {"ts":"2026-11-20T12:00:00.000Z","level":"info","msg":"message"}, one per line
};
// Parses "text" | "json".
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view name);
// Default: kText. JSON is for log shippers (Loki, Elasticsearch, Cloud Logging): one
// object per line, a multi-line message stays one object.
void SetLogFormat(LogFormat format);

// Lines below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);

// Writes one line (a trailing newline is added; embedded newlines are kept, so
// multi-line diagnostics stay readable).
void LogLine(LogLevel level, absl::string_view message);

template <typename... Args>
void LogInfo(const Args&... args) {
  if (LogEnabled(LogLevel::kInfo)) LogLine(LogLevel::kInfo, absl::StrCat(args...));
}
template <typename... Args>
void LogWarning(const Args&... args) {
  if (LogEnabled(LogLevel::kWarning)) LogLine(LogLevel::kWarning, absl::StrCat(args...));
}
template <typename... Args>
void LogError(const Args&... args) {
  if (LogEnabled(LogLevel::kError)) LogLine(LogLevel::kError, absl::StrCat(args...));
}
template <typename... Args>
void LogDebug(const Args&... args) {
  if (LogEnabled(LogLevel::kDebug)) LogLine(LogLevel::kDebug, absl::StrCat(args...));
}

}  // namespace dealcoach::runtime

#endif  // DEALCOACH_SIDECAR_RUNTIME_LOG_H_
