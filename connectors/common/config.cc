#include "connectors/common/config.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sidecar/common/status_macros.h"

namespace dealcoach::connectors {

std::string ConfigPosition(const YAML::Node& node, const ConnectorContext& context) {
  const std::string file = context.config_file.empty() ? "<config>" : context.config_file;
  if (!node.IsDefined() || node.Mark().is_null()) return file;
  return absl::StrCat(file, ":", node.Mark().line + 1, ":", node.Mark().column + 1);
}

absl::Status ConfigError(const YAML::Node& node, const ConnectorContext& context,
                         absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(ConfigPosition(node, context), ": ", message));
}

std::string ResolvePath(absl::string_view path, const ConnectorContext& context) {
  if (path.empty() || path[0] == '/' || context.base_dir.empty()) return std::string(path);
  if (context.base_dir.back() == '/') return absl::StrCat(context.base_dir, path);
  return absl::StrCat(context.base_dir, "/", path);
}

ConfigReader::ConfigReader(YAML::Node section, const ConnectorContext& context)
    : section_(section ? section : YAML::Node(YAML::NodeType::Map)), context_(context) {}

bool ConfigReader::Has(absl::string_view key) const {
  return section_.IsMap() && section_[std::string(key)].IsDefined() &&
         !section_[std::string(key)].IsNull();
}

absl::Status ConfigReader::CheckKeys(std::initializer_list<absl::string_view> allowed) const {
  return CheckKeyList(std::vector<absl::string_view>(allowed));
}

absl::Status ConfigReader::CheckHttpConnectorKeys(
    std::initializer_list<absl::string_view> own) const {
  std::vector<absl::string_view> allowed(own);
  allowed.insert(allowed.end(), std::begin(kHttpSettingKeys), std::end(kHttpSettingKeys));
  return CheckKeyList(allowed);
}

absl::Status ConfigReader::CheckKeyList(const std::vector<absl::string_view>& allowed) const {
  if (section_.IsNull()) return absl::OkStatus();
  if (!section_.IsMap()) return ConfigError(section_, context_, "expected a map");
  for (const auto& kv : section_) {
    const std::string key = kv.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::vector<std::string> known(allowed.begin(), allowed.end());
      std::sort(known.begin(), known.end());
      return ConfigError(
          kv.first, context_,
          absl::StrCat("unknown key '", key, "'; known keys: ", absl::StrJoin(known, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConfigReader::String(absl::string_view key) const {
  if (!Has(key)) {
    return ConfigError(section_, context_, absl::StrCat("missing required key `", key, "`"));
  }
  const YAML::Node n = section_[std::string(key)];
  if (!n.IsScalar()) {
    return ConfigError(n, context_, absl::StrCat("`", key, "` must be a string"));
  }
  return n.Scalar();
}

absl::StatusOr<std::string> ConfigReader::String(absl::string_view key,
                                                 absl::string_view dflt) const {
  if (!Has(key)) return std::string(dflt);
  return String(key);
}

absl::StatusOr<int64_t> ConfigReader::Int(absl::string_view key, int64_t dflt) const {
  if (!Has(key)) return dflt;
  DC_ASSIGN_OR_RETURN(std::string text, String(key));
  int64_t v = 0;
  if (!absl::SimpleAtoi(text, &v)) {
    return ConfigError(section_[std::string(key)], context_,
                       absl::StrCat("`", key, "` must be an integer, got '", text, "'"));
  }
  return v;
}

absl::StatusOr<double> ConfigReader::Double(absl::string_view key, double dflt) const {
  if (!Has(key)) return dflt;
  DC_ASSIGN_OR_RETURN(std::string text, String(key));
  double v = 0;
  if (!absl::SimpleAtod(text, &v)) {
    return ConfigError(section_[std::string(key)], context_,
                       absl::StrCat("`", key, "` must be a number, got '", text, "'"));
  }
  return v;
}

absl::StatusOr<bool> ConfigReader::Bool(absl::string_view key, bool dflt) const {
  if (!Has(key)) return dflt;
  DC_ASSIGN_OR_RETURN(std::string text, String(key));
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  return ConfigError(section_[std::string(key)], context_,
                     absl::StrCat("`", key, "` must be true or false, got '", text, "'"));
}

absl::StatusOr<absl::Duration> ConfigReader::Duration(absl::string_view key,
                                                      absl::Duration dflt) const {
  if (!Has(key)) return dflt;
  DC_ASSIGN_OR_RETURN(std::string text, String(key));
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) return absl::Seconds(seconds);
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d < absl::ZeroDuration()) {
    return ConfigError(
        section_[std::string(key)], context_,
        absl::StrCat("`", key, "` must be a duration like 500ms, 5s, 2m; got '", text, "'"));
  }
  return d;
}

absl::StatusOr<std::optional<absl::Time>> ConfigReader::Time(absl::string_view key) const {
  if (!Has(key)) return std::optional<absl::Time>();
  DC_ASSIGN_OR_RETURN(std::string text, String(key));
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return ConfigError(section_[std::string(key)], context_,
                       absl::StrCat("`", key,
                                    "` must be an RFC 3339 time like "
                                    "2026-11-20T12:00:00Z; got '",
                                    text, "'"));
  }
  return std::optional<absl::Time>(t);
}

absl::StatusOr<YAML::Node> ConfigReader::Map(absl::string_view key) const {
  if (!Has(key)) return YAML::Node();
  const YAML::Node n = section_[std::string(key)];
  if (!n.IsMap()) return ConfigError(n, context_, absl::StrCat("`", key, "` must be a map"));
  return n;
}

absl::StatusOr<ResilienceOptions> ParseResilience(const ConfigReader& reader,
                                                  const ResilienceOptions& defaults) {
  ResilienceOptions out = defaults;
  const ConnectorContext& ctx = reader.context();
  DC_ASSIGN_OR_RETURN(YAML::Node timeouts, reader.Map("timeouts"));
  {
    ConfigReader r(timeouts, ctx);
    DC_RETURN_IF_ERROR(r.CheckKeys({"connect", "request"}));
    DC_ASSIGN_OR_RETURN(out.request_timeout, r.Duration("request", out.request_timeout));
  }
  DC_ASSIGN_OR_RETURN(YAML::Node retry, reader.Map("retry"));
  {
    ConfigReader r(retry, ctx);
    DC_RETURN_IF_ERROR(
        r.CheckKeys({"max_attempts", "initial_backoff", "max_backoff", "max_retry_after"}));
    DC_ASSIGN_OR_RETURN(int64_t attempts, r.Int("max_attempts", out.retry.max_attempts));
    if (attempts < 1 || attempts > 20) {
      return ConfigError(retry["max_attempts"], ctx, "`max_attempts` must be 1..20");
    }
    out.retry.max_attempts = static_cast<int>(attempts);
    DC_ASSIGN_OR_RETURN(out.retry.initial_backoff,
                        r.Duration("initial_backoff", out.retry.initial_backoff));
    DC_ASSIGN_OR_RETURN(out.retry.max_backoff, r.Duration("max_backoff", out.retry.max_backoff));
    DC_ASSIGN_OR_RETURN(out.retry.max_retry_after,
                        r.Duration("max_retry_after", out.retry.max_retry_after));
  }
  DC_ASSIGN_OR_RETURN(YAML::Node rate, reader.Map("rate_limit"));
  {
    ConfigReader r(rate, ctx);
    DC_RETURN_IF_ERROR(r.CheckKeys({"requests_per_second", "burst"}));
    DC_ASSIGN_OR_RETURN(out.rate_limit.requests_per_second,
                        r.Double("requests_per_second", out.rate_limit.requests_per_second));
    DC_ASSIGN_OR_RETURN(out.rate_limit.burst, r.Double("burst", out.rate_limit.burst));
  }
  DC_ASSIGN_OR_RETURN(int64_t concurrent,
                      reader.Int("max_concurrent_requests", out.max_concurrent_requests));
  if (concurrent < 1 || concurrent > 64) {
    return ConfigError(reader.node()["max_concurrent_requests"], ctx,
                       "`max_concurrent_requests` must be 1..64");
  }
  out.max_concurrent_requests = static_cast<int>(concurrent);
  DC_ASSIGN_OR_RETURN(YAML::Node breaker, reader.Map("circuit_breaker"));
  {
    ConfigReader r(breaker, ctx);
    DC_RETURN_IF_ERROR(r.CheckKeys({"failure_threshold", "first_cool_down", "cool_down"}));
    DC_ASSIGN_OR_RETURN(int64_t threshold,
                        r.Int("failure_threshold", out.circuit_breaker.failure_threshold));
    out.circuit_breaker.failure_threshold = static_cast<int>(threshold);
    DC_ASSIGN_OR_RETURN(out.circuit_breaker.cool_down,
                        r.Duration("cool_down", out.circuit_breaker.cool_down));
    DC_ASSIGN_OR_RETURN(out.circuit_breaker.first_cool_down,
                        r.Duration("first_cool_down", out.circuit_breaker.first_cool_down));
  }
  return out;
}

absl::StatusOr<HttpClientOptions> ParseHttpClientOptions(const ConfigReader& reader) {
  HttpClientOptions out;
  DC_ASSIGN_OR_RETURN(out.tls_verify, reader.Bool("tls_verify", true));
  DC_ASSIGN_OR_RETURN(out.ca_file, reader.String("ca_file", ""));
  DC_ASSIGN_OR_RETURN(int64_t max_body, reader.Int("max_response_bytes",
                                                   static_cast<int64_t>(out.max_response_bytes)));
  if (max_body < 1024 || max_body > (int64_t{1} << 30)) {
    return ConfigError(
        reader.node()["max_response_bytes"], reader.context(),
        absl::StrCat("max_response_bytes: must be between 1024 and 1073741824, got ", max_body));
  }
  out.max_response_bytes = static_cast<size_t>(max_body);
  if (!out.ca_file.empty()) out.ca_file = ResolvePath(out.ca_file, reader.context());
  DC_ASSIGN_OR_RETURN(YAML::Node timeouts, reader.Map("timeouts"));
  ConfigReader r(timeouts, reader.context());
  DC_ASSIGN_OR_RETURN(out.connect_timeout, r.Duration("connect", out.connect_timeout));
  DC_ASSIGN_OR_RETURN(out.request_timeout, r.Duration("request", out.request_timeout));
  return out;
}

}  // namespace dealcoach::connectors
