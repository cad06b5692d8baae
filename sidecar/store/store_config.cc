#include "sidecar/store/store_config.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sidecar/common/status_macros.h"

namespace dealcoach::store {
namespace {

absl::Status Error(const std::string& key, const YAML::Node& n, absl::string_view message) {
  std::string where = n && n.Mark().line >= 0 ? absl::StrCat("line ", n.Mark().line + 1, ": ") : "";
  return absl::InvalidArgumentError(absl::StrCat(where, "store.", key, ": ", message));
}

absl::Status CheckKeys(const YAML::Node& n, const std::string& key,
                       const std::set<std::string>& allowed) {
  if (!n) return absl::OkStatus();
  if (!n.IsMap()) return Error(key, n, "must be a mapping");
  for (const auto& kv : n) {
    if (allowed.count(kv.first.Scalar()) == 0) {
      std::vector<std::string> names(allowed.begin(), allowed.end());
      return Error(key.empty() ? kv.first.Scalar() : absl::StrCat(key, ".", kv.first.Scalar()),
                   kv.first,
                   absl::StrCat("unknown setting; expected one of ", absl::StrJoin(names, ", ")));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadString(const YAML::Node& n, const std::string& key, std::string* out) {
  if (!n) return absl::OkStatus();
  if (!n.IsScalar()) return Error(key, n, "must be a string");
  *out = n.Scalar();
  return absl::OkStatus();
}

absl::Status ReadDuration(const YAML::Node& n, const std::string& key, absl::Duration* out) {
  if (!n) return absl::OkStatus();
  absl::Duration d;
  if (!n.IsScalar() || !absl::ParseDuration(n.Scalar(), &d) || d < absl::ZeroDuration()) {
    return Error(key, n, "must be a duration like 200ms, 5s, 720h");
  }
  *out = d;
  return absl::OkStatus();
}

template <typename Int>
absl::Status ReadInt(const YAML::Node& n, const std::string& key, int64_t min, int64_t max,
                     Int* out) {
  if (!n) return absl::OkStatus();
  int64_t v = 0;
  if (!n.IsScalar() || !absl::SimpleAtoi(n.Scalar(), &v) || v < min || v > max) {
    return Error(key, n, absl::StrCat("must be an integer between ", min, " and ", max));
  }
  *out = static_cast<Int>(v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<StoreConfig> ParseStoreConfig(const YAML::Node& section,
                                             const std::string& base_dir) {
  StoreConfig c;
  std::string data_dir = "data";
  // Absent and empty (`store:` with nothing under it) both mean the defaults.
  const bool present = section && !section.IsNull();
  try {
    if (present) {
      DC_RETURN_IF_ERROR(CheckKeys(section, "",
                                   {"backend", "data_dir", "busy_timeout", "sqlite_cache_mib",
                                    "postgres", "migrate", "snapshots", "decisions"}));
    }
    if (present) {
      std::string backend = "sqlite";
      DC_RETURN_IF_ERROR(ReadString(section["backend"], "backend", &backend));
      if (backend == "sqlite") {
        c.options.backend = Backend::kSqlite;
      } else if (backend == "postgres") {
        c.options.backend = Backend::kPostgres;
      } else if (backend == "none") {
        c.enabled = false;
      } else {
        return Error("backend", section["backend"], "must be sqlite, postgres or none");
      }
      DC_RETURN_IF_ERROR(ReadString(section["data_dir"], "data_dir", &data_dir));
      DC_RETURN_IF_ERROR(
          ReadDuration(section["busy_timeout"], "busy_timeout", &c.options.busy_timeout));
      DC_RETURN_IF_ERROR(ReadInt(section["sqlite_cache_mib"], "sqlite_cache_mib", 0, 4096,
                                 &c.options.sqlite_cache_mib));
      if (section["migrate"]) {
        std::string v = section["migrate"].Scalar();
        if (v != "true" && v != "false") {
          return Error("migrate", section["migrate"], "must be true or false");
        }
        c.options.migrate = v == "true";
      }
      YAML::Node pg = section["postgres"];
      DC_RETURN_IF_ERROR(
          CheckKeys(pg, "postgres", {"conninfo", "connect_timeout", "statement_timeout"}));
      if (pg) {
        DC_RETURN_IF_ERROR(
            ReadString(pg["conninfo"], "postgres.conninfo", &c.options.postgres_conninfo));
        DC_RETURN_IF_ERROR(ReadDuration(pg["connect_timeout"], "postgres.connect_timeout",
                                        &c.options.connect_timeout));
        DC_RETURN_IF_ERROR(ReadDuration(pg["statement_timeout"], "postgres.statement_timeout",
                                        &c.options.statement_timeout));
      }
      if (c.enabled && c.options.backend == Backend::kPostgres &&
          c.options.postgres_conninfo.empty()) {
        return Error("postgres.conninfo", pg, "required with backend: postgres");
      }
      YAML::Node snaps = section["snapshots"];
      DC_RETURN_IF_ERROR(CheckKeys(snaps, "snapshots", {"keep", "max_age", "batch_rows"}));
      if (snaps) {
        DC_RETURN_IF_ERROR(
            ReadInt(snaps["keep"], "snapshots.keep", 1, 100000, &c.options.keep_snapshots));
        DC_RETURN_IF_ERROR(
            ReadDuration(snaps["max_age"], "snapshots.max_age", &c.options.snapshot_max_age));
        DC_RETURN_IF_ERROR(ReadInt(snaps["batch_rows"], "snapshots.batch_rows", 1, 1000000,
                                   &c.options.snapshot_batch_rows));
      }
      YAML::Node dec = section["decisions"];
      DC_RETURN_IF_ERROR(CheckKeys(dec, "decisions",
                                   {"queue_size", "batch_size", "flush_interval", "retention",
                                    "masked_fields", "mask_salt"}));
      if (dec) {
        DC_RETURN_IF_ERROR(ReadInt(dec["queue_size"], "decisions.queue_size", 1, 10000000,
                                   &c.decisions.queue_capacity));
        DC_RETURN_IF_ERROR(
            ReadInt(dec["batch_size"], "decisions.batch_size", 1, 100000, &c.decisions.batch_size));
        DC_RETURN_IF_ERROR(ReadDuration(dec["flush_interval"], "decisions.flush_interval",
                                        &c.decisions.flush_interval));
        DC_RETURN_IF_ERROR(
            ReadDuration(dec["retention"], "decisions.retention", &c.decisions.retention));
        DC_RETURN_IF_ERROR(
            ReadString(dec["mask_salt"], "decisions.mask_salt", &c.decisions.mask_salt));
        YAML::Node masked = dec["masked_fields"];
        if (masked) {
          if (masked.IsScalar()) {
            // From a flag or environment variable: comma-separated.
            for (absl::string_view f : absl::StrSplit(masked.Scalar(), ',', absl::SkipEmpty())) {
              c.decisions.masked_fields.insert(std::string(f));
            }
          } else if (masked.IsSequence()) {
            for (const YAML::Node& f : masked) c.decisions.masked_fields.insert(f.Scalar());
          } else {
            return Error("decisions.masked_fields", masked, "must be a list of field names");
          }
          absl::Status s = ValidateMaskedFields(c.decisions.masked_fields);
          if (!s.ok()) return Error("decisions.masked_fields", masked, s.message());
        }
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("store: ", e.msg));
  }
  c.options.data_dir = data_dir.empty() || data_dir[0] == '/' || base_dir.empty()
                           ? data_dir
                           : absl::StrCat(base_dir, "/", data_dir);
  return c;
}

}  // namespace dealcoach::store
