// Secrets for connectors: client secrets, API tokens, database passwords, private keys.
//
// A secret is named in the connector config by where it lives, never by its value:
//
//   client_secret_env: SF_CLIENT_SECRET        # an environment variable
//   client_secret_file: /run/secrets/sf         # a file (trailing newline stripped)
//
// An inline `client_secret: ...` is rejected: config files and playbooks are committed
// to git and shown in logs, secrets are not. Secret values never appear in Status
// messages produced here (only the variable or file name does); adapters must keep it
// that way (see DescribeCall in http_client.h and RedactSecret below).
//
// CMake target: dealcoach_connector_common.
//
// Thread safety: free functions, safe to call concurrently (getenv is not raced by
// anything in the sidecar after start-up).
#ifndef DEALCOACH_CONNECTORS_COMMON_SECRETS_H_
#define DEALCOACH_CONNECTORS_COMMON_SECRETS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "connectors/connector.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::connectors {

// Reads the secret `key` from `section`: `<key>_env: VAR` or `<key>_file: PATH` (relative
// paths resolve against context.base_dir). Errors, all InvalidArgument with the config
// position "file:line:col: ...":
//   - `<key>` itself is present (inline secret),
//   - both `<key>_env` and `<key>_file` are present,
//   - the variable is unset/empty, or the file is unreadable/empty,
//   - neither is present and `required` (when not required the result is "").
[[nodiscard]] absl::StatusOr<std::string> ReadSecret(const YAML::Node& section,
                                                     absl::string_view key,
                                                     const ConnectorContext& context,
                                                     bool required = true);

// Replaces every occurrence of `secret` in `text` with "<redacted>" (no-op for an empty
// secret). For the rare message built from text that might echo a credential.
std::string RedactSecret(absl::string_view text, absl::string_view secret);

}  // namespace dealcoach::connectors

#endif  // DEALCOACH_CONNECTORS_COMMON_SECRETS_H_
