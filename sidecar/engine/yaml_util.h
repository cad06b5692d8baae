// Helpers for walking yaml-cpp nodes while collecting positioned diagnostics: typed
// scalar reads, key checks with did-you-mean suggestions, and YAML -> JSON conversion
// (for opportunities written inline in playbook tests).
//
// Internal to the engine. A Diagnostics collector is not thread-safe; use one per load.
#ifndef DEALCOACH_SIDECAR_ENGINE_YAML_UTIL_H_
#define DEALCOACH_SIDECAR_ENGINE_YAML_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "dealcoach/v1/playbook_service.pb.h"
#include "nlohmann/json.hpp"
#include "sidecar/engine/source_map.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::engine::internal {

// Collects diagnostics for one source file.
class Diagnostics {
 public:
  Diagnostics(const SourceText* source, std::string file_name)
      : source_(source), file_(std::move(file_name)) {}

  void Error(const YAML::Mark& mark, std::string message);
  void ErrorAt(Position pos, std::string message);
  void WarningAt(Position pos, std::string message);

  bool has_errors() const { return errors_ > 0; }
  const std::string& file() const { return file_; }
  const SourceText& source() const { return *source_; }

  // All diagnostics, sorted by position (stable for equal positions).
  std::vector<v1::Diagnostic> Sorted() const;

 private:
  const SourceText* source_;
  std::string file_;
  std::vector<v1::Diagnostic> diagnostics_;
  int errors_ = 0;
};

// 1-based position of a yaml-cpp mark.
Position PositionOfMark(const YAML::Mark& mark);

// "; did you mean 'x'?" when a candidate is close to `word`, else "".
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates);

// Checks that `node` is a mapping; reports "<what>: expected a mapping, got a <kind>".
bool ExpectMap(const YAML::Node& node, absl::string_view what, Diagnostics* diag);
// Checks that `node` is a sequence.
bool ExpectSequence(const YAML::Node& node, absl::string_view what, Diagnostics* diag);

// Reports unknown keys (with a suggestion), duplicate keys and missing required keys.
void CheckKeys(const YAML::Node& map, absl::string_view what,
               const std::vector<std::string>& allowed, const std::vector<std::string>& required,
               Diagnostics* diag);

// Typed reads of an optional key of a mapping. Return nullopt when the key is absent or
// the value has the wrong type (which is reported).
std::optional<std::string> GetString(const YAML::Node& map, const char* key, absl::string_view what,
                                     Diagnostics* diag);
std::optional<int64_t> GetInt(const YAML::Node& map, const char* key, absl::string_view what,
                              Diagnostics* diag);
std::optional<bool> GetBool(const YAML::Node& map, const char* key, absl::string_view what,
                            Diagnostics* diag);
// A sequence of strings.
std::vector<std::string> GetStringList(const YAML::Node& map, const char* key,
                                       absl::string_view what, Diagnostics* diag);

// Bounds on the work a YAML document may cause, applied before the document is turned
// into a yaml-cpp tree (YAML::Load) and walked. yaml-cpp shares the node of an anchor
// among its aliases, so a "billion laughs" document of a few hundred bytes loads fine
// but expands to 10^9 nodes the moment anything walks it; and its recursive-descent
// parser recurses once per nesting level.
struct YamlLimits {
  // Size of the text.
  size_t max_bytes = 1 << 20;
  // Nesting of mappings and sequences; the top-level node is depth 1.
  int max_depth = 64;
  // Nodes of the document with every alias expanded (an alias counts the nodes of its
  // anchor). Shipped playbooks have a few thousand.
  int64_t max_nodes = 100000;
};

struct YamlBoundsError {
  Position position;
  std::string message;
};

// Checks `text` against `limits` with an event-level parse that stops as soon as a
// limit is passed (so parser recursion never goes deeper than max_depth + a few
// frames). nullopt when within bounds or when the text is not valid YAML (the
// caller's YAML::Load then reports the syntax error).
std::optional<YamlBoundsError> CheckYamlBounds(absl::string_view text,
                                               const YamlLimits& limits = {});

// "mapping", "sequence", "scalar" or "null".
const char* NodeKind(const YAML::Node& node);

// Converts YAML to JSON. Plain scalars become booleans, numbers or null when they look
// like one; quoted scalars are always strings.
nlohmann::json YamlToJson(const YAML::Node& node);

}  // namespace dealcoach::engine::internal

#endif  // DEALCOACH_SIDECAR_ENGINE_YAML_UTIL_H_
