#include "connectors/common/secrets.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "connectors/common/config.h"

namespace dealcoach::connectors {

absl::StatusOr<std::string> ReadSecret(const YAML::Node& section, absl::string_view key,
                                       const ConnectorContext& context, bool required) {
  const std::string k(key);
  const std::string env_key = absl::StrCat(key, "_env");
  const std::string file_key = absl::StrCat(key, "_file");
  const bool is_map = section && section.IsMap();
  if (is_map && section[k]) {
    return ConfigError(section[k], context,
                       absl::StrCat("inline `", key, "` is not allowed: secrets come from `",
                                    env_key, ": VAR` or `", file_key, ": /path`"));
  }
  const YAML::Node env = is_map ? section[env_key] : YAML::Node();
  const YAML::Node file = is_map ? section[file_key] : YAML::Node();
  if (env && file) {
    return ConfigError(file, context,
                       absl::StrCat("set only one of `", env_key, "` and `", file_key, "`"));
  }
  if (env) {
    if (!env.IsScalar() || env.Scalar().empty()) {
      return ConfigError(env, context, absl::StrCat("`", env_key, "` must name a variable"));
    }
    const char* value = std::getenv(env.Scalar().c_str());
    if (value == nullptr || *value == '\0') {
      return ConfigError(
          env, context,
          absl::StrCat("environment variable ", env.Scalar(), " (", env_key, ") is not set"));
    }
    return std::string(value);
  }
  if (file) {
    if (!file.IsScalar() || file.Scalar().empty()) {
      return ConfigError(file, context, absl::StrCat("`", file_key, "` must be a path"));
    }
    const std::string path = ResolvePath(file.Scalar(), context);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return ConfigError(file, context, absl::StrCat("cannot read ", file_key, " ", path));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string value = buffer.str();
    // Files written by `echo` or secret managers often end with a newline.
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty()) {
      return ConfigError(file, context, absl::StrCat(file_key, " ", path, " is empty"));
    }
    return value;
  }
  if (!required) return std::string();
  return ConfigError(
      section, context,
      absl::StrCat("missing secret: set `", env_key, ": VAR` or `", file_key, ": /path`"));
}

std::string RedactSecret(absl::string_view text, absl::string_view secret) {
  if (secret.empty()) return std::string(text);
  return absl::StrReplaceAll(text, {{secret, "<redacted>"}});
}

}  // namespace dealcoach::connectors
