// Helpers for reading a connector's YAML config section with "file:line:col" errors,
// so every adapter reports config mistakes the same way.
//
//   ConfigReader r(section, context);
//   DC_RETURN_IF_ERROR(r.CheckKeys({"login_url", "client_id", "mapping", ...}));
//   DC_ASSIGN_OR_RETURN(std::string url, r.String("login_url"));           // required
//   DC_ASSIGN_OR_RETURN(std::string v, r.String("api_version", "v59.0"));  // default
//   DC_ASSIGN_OR_RETURN(ResilienceOptions res, ParseResilience(r));
//
// Durations are strings "250ms", "5s", "2m", "1h" (absl::ParseDuration) or bare numbers
// of seconds.
//
// Shared resilience keys (all optional, any adapter that uses ResilientHttp accepts them):
//
//   timeouts:        {connect: 5s, request: 30s}
//   retry:           {max_attempts: 4, initial_backoff: 200ms, max_backoff: 10s,
//                     max_retry_after: 60s}
//   rate_limit:      {requests_per_second: 10, burst: 20}
//   circuit_breaker: {failure_threshold: 5, first_cool_down: 1s, cool_down: 30s}
//   max_concurrent_requests: 8   (requests in flight to the CRM at once)
//   tls_verify: true
//   ca_file: /etc/ssl/certs/ca-certificates.crt
//   max_response_bytes: 16777216   (largest CRM response body accepted)
//
// CMake target: dealcoach_connector_common.
//
// Thread safety: a ConfigReader is a short-lived, single-thread helper.
#ifndef DEALCOACH_CONNECTORS_COMMON_CONFIG_H_
#define DEALCOACH_CONNECTORS_COMMON_CONFIG_H_

#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "connectors/common/http_client.h"
#include "connectors/common/resilience.h"
#include "connectors/connector.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors {

// "file:line:col" of `node` (1-based), or just the file when the node has no mark.
std::string ConfigPosition(const YAML::Node& node, const ConnectorContext& context);

// InvalidArgument "file:line:col: message".
[[nodiscard]] absl::Status ConfigError(const YAML::Node& node, const ConnectorContext& context,
                                       absl::string_view message);

// `path` resolved against context.base_dir unless absolute or base_dir is empty.
std::string ResolvePath(absl::string_view path, const ConnectorContext& context);

// The settings every HTTP adapter shares, read by ParseResilience and
// ParseHttpClientOptions.
inline constexpr absl::string_view kHttpSettingKeys[] = {
    "timeouts",   "retry",   "rate_limit",         "circuit_breaker",
    "tls_verify", "ca_file", "max_response_bytes", "max_concurrent_requests"};

class ConfigReader {
 public:
  // `section` may be null/undefined (treated as an empty map) or must be a map.
  ConfigReader(YAML::Node section, const ConnectorContext& context);

  const YAML::Node& node() const { return section_; }
  const ConnectorContext& context() const { return context_; }
  bool Has(absl::string_view key) const;

  // InvalidArgument when the section is not a map or has a key outside `allowed`
  // ("file:line:col: unknown key 'tokn_url' in salesforce config; known keys: ...").
  [[nodiscard]] absl::Status CheckKeys(std::initializer_list<absl::string_view> allowed) const;
  // CheckKeys for an HTTP adapter: its own keys plus kHttpSettingKeys, so no adapter
  // repeats (or forgets) the shared ones.
  [[nodiscard]] absl::Status CheckHttpConnectorKeys(
      std::initializer_list<absl::string_view> own) const;

  // Required when no default is given.
  [[nodiscard]] absl::StatusOr<std::string> String(absl::string_view key) const;
  [[nodiscard]] absl::StatusOr<std::string> String(absl::string_view key,
                                                   absl::string_view dflt) const;
  [[nodiscard]] absl::StatusOr<int64_t> Int(absl::string_view key, int64_t dflt) const;
  [[nodiscard]] absl::StatusOr<double> Double(absl::string_view key, double dflt) const;
  [[nodiscard]] absl::StatusOr<bool> Bool(absl::string_view key, bool dflt) const;
  [[nodiscard]] absl::StatusOr<absl::Duration> Duration(absl::string_view key,
                                                        absl::Duration dflt) const;
  // RFC 3339 time, or nullopt when absent.
  [[nodiscard]] absl::StatusOr<std::optional<absl::Time>> Time(absl::string_view key) const;
  // The sub-section, or a Null node when absent (test with IsMap()); error when present
  // but not a map.
  [[nodiscard]] absl::StatusOr<YAML::Node> Map(absl::string_view key) const;

 private:
  absl::Status CheckKeyList(const std::vector<absl::string_view>& allowed) const;

  YAML::Node section_;
  ConnectorContext context_;
};

// Reads the shared resilience keys listed above (timeouts, retry, rate_limit,
// circuit_breaker) from `reader`'s section, starting from `defaults`.
[[nodiscard]] absl::StatusOr<ResilienceOptions> ParseResilience(
    const ConfigReader& reader, const ResilienceOptions& defaults = {});

// Reads tls_verify, ca_file, max_response_bytes and timeouts.{connect,request} into
// HttpClientOptions.
[[nodiscard]] absl::StatusOr<HttpClientOptions> ParseHttpClientOptions(const ConfigReader& reader);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_CONFIG_H_
