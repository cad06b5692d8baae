// The `store:` section of sidecar.yaml (docs/store.md):
//
//   store:
//     backend: sqlite            # sqlite | postgres | none
//     data_dir: ../data          # sqlite; relative to the config file's directory
//     busy_timeout: 5s           # sqlite
//     postgres:
//       conninfo: "host=db dbname=dealcoach user=dealcoach_app"
//       connect_timeout: 5s
//       statement_timeout: 60s
//     migrate: true              # apply pending migrations on open
//     snapshots: {keep: 10, max_age: 720h, batch_rows: 5000}
//     decisions:
//       queue_size: 10000
//       batch_size: 500
//       flush_interval: 200ms
//       retention: 720h          # 0s keeps decisions forever
//       masked_fields: [caller]  # caller, deal_id, input_hash
//       mask_salt: ""
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_STORE_STORE_CONFIG_H_
#define DEALCOACH_SIDECAR_STORE_STORE_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"
#include "sidecar/store/decision_logger.h"
#include "sidecar/store/store.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::store {

struct StoreConfig {
  // False for `backend: none`: the sidecar keeps no durable state.
  bool enabled = true;
  StoreOptions options;
  DecisionLoggerOptions decisions;
};

// Parses the section (a missing node gives the defaults: SQLite in <base_dir>/data).
// Errors are InvalidArgument naming "store.<key>" and the line.
absl::StatusOr<StoreConfig> ParseStoreConfig(const YAML::Node& section,
                                             const std::string& base_dir);

}  // namespace dealcoach::store

#endif  // DEALCOACH_SIDECAR_STORE_STORE_CONFIG_H_
