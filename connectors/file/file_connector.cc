#include "connectors/file/file_connector.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "connectors/common/config.h"
#include "connectors/registry.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "nlohmann/json.hpp"
#include "sidecar/common/status_macros.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::connectors {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

namespace {

void Shift(google::protobuf::Timestamp* ts, absl::Duration delta) {
  SetTimestamp(ToAbslTime(*ts) + delta, ts);
}

bool IsTimestamp(const google::protobuf::Descriptor* d) {
  return d->full_name() == "google.protobuf.Timestamp";
}

// The file's modification time in ns, or an error naming the file.
absl::StatusOr<int64_t> MtimeNs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("file: stat ", path, ": ", std::strerror(errno)));
  }
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::UnavailableError(absl::StrCat("file: read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Time UpdatedAt(const v1::Opportunity& opp) {
  if (!opp.has_updated_at()) return absl::InfinitePast();
  return ToAbslTime(opp.updated_at());
}

}  // namespace

void ShiftTimestamps(Message* message, absl::Duration delta) {
  const Reflection* r = message->GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(*message, &fields);  // only set fields: unset timestamps stay unset
  for (const FieldDescriptor* f : fields) {
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const bool ts = IsTimestamp(f->message_type());
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(*message, f); ++i) {
        Message* m = r->MutableRepeatedMessage(message, f, i);
        if (ts) {
          Shift(static_cast<google::protobuf::Timestamp*>(m), delta);
        } else {
          ShiftTimestamps(m, delta);
        }
      }
    } else {
      Message* m = r->MutableMessage(message, f);
      if (ts) {
        Shift(static_cast<google::protobuf::Timestamp*>(m), delta);
      } else {
        ShiftTimestamps(m, delta);
      }
    }
  }
}

absl::StatusOr<std::vector<v1::Opportunity>> FileConnector::ParseOpportunities(
    absl::string_view text, absl::string_view file, std::optional<absl::Time> rebase_from,
    absl::Time now) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": invalid JSON: ", e.what()));
  }
  // Accept a bare array or {"opportunities": [...]}.
  if (doc.is_object() && doc.contains("opportunities")) doc = doc["opportunities"];
  if (!doc.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ": expected a JSON array of opportunities (proto3 JSON)"));
  }
  const absl::Duration delta = rebase_from.has_value() ? now - *rebase_from : absl::ZeroDuration();
  std::vector<v1::Opportunity> out;
  out.reserve(doc.size());
  for (size_t i = 0; i < doc.size(); ++i) {
    v1::Opportunity opp;
    auto status = google::protobuf::util::JsonStringToMessage(doc[i].dump(), &opp);
    if (!status.ok()) {
      std::string id = doc[i].is_object() && doc[i].contains("id") && doc[i]["id"].is_string()
                           ? absl::StrCat(" (id \"", doc[i]["id"].get<std::string>(), "\")")
                           : "";
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": opportunity [", i, "]", id, ": ", status.message().as_string()));
    }
    if (opp.id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(file, ": opportunity [", i, "] has no \"id\""));
    }
    if (opp.source_system().empty()) opp.set_source_system("file");
    if (delta != absl::ZeroDuration()) ShiftTimestamps(&opp, delta);
    out.push_back(std::move(opp));
  }
  return out;
}

FileConnector::FileConnector(FileConnectorOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<FileConnector>> FileConnector::Create(FileConnectorOptions options) {
  if (!options.now) options.now = [] { return absl::Now(); };
  std::unique_ptr<FileConnector> c(new FileConnector(std::move(options)));
  absl::MutexLock lock(&c->mu_);
  bool reloaded = false;
  absl::Status s = c->MaybeReload(&reloaded);
  if (!s.ok()) return absl::InvalidArgumentError(s.message());
  return c;
}

absl::Status FileConnector::MaybeReload(bool* reloaded) {
  *reloaded = false;
  absl::StatusOr<int64_t> mtime = MtimeNs(options_.path);
  absl::Status status = mtime.status();
  if (status.ok() && *mtime == loaded_mtime_ns_ && data_ != nullptr) return absl::OkStatus();
  if (status.ok()) {
    absl::StatusOr<std::string> text = ReadAll(options_.path);
    status = text.status();
    if (status.ok()) {
      auto parsed =
          ParseOpportunities(*text, options_.path, options_.rebase_dates_from, options_.now());
      if (parsed.ok()) {
        data_ = std::make_shared<const std::vector<v1::Opportunity>>(*std::move(parsed));
        loaded_mtime_ns_ = *mtime;
        loaded_at_ = options_.now();
        undelivered_change_ = true;
        *reloaded = true;
      } else {
        // A broken edit: keep serving the last good data; retry on the next change.
        status = absl::FailedPreconditionError(absl::StrCat("file: ", parsed.status().message()));
      }
    }
  }
  if (!status.ok()) {
    last_error_ = std::string(status.message());
    return status;
  }
  last_error_.clear();
  last_success_ = options_.now();
  return absl::OkStatus();
}

absl::StatusOr<v1::Opportunity> FileConnector::FetchOpportunity(absl::string_view id,
                                                                absl::Time deadline) {
  std::shared_ptr<const std::vector<v1::Opportunity>> data;
  {
    absl::MutexLock lock(&mu_);
    bool reloaded = false;
    absl::Status s = MaybeReload(&reloaded);
    if (!s.ok() && data_ == nullptr) return s;
    data = data_;
  }
  for (const v1::Opportunity& opp : *data) {
    if (opp.id() == id) return opp;
  }
  return absl::NotFoundError(
      absl::StrCat("file: no opportunity with id \"", id, "\" in ", options_.path));
}

absl::StatusOr<SyncResult> FileConnector::SyncChangedSince(
    absl::Time since, const std::function<absl::Status(v1::Opportunity)>& sink) {
  std::shared_ptr<const std::vector<v1::Opportunity>> data;
  bool deliver_all = false;
  absl::Time loaded_at;
  {
    absl::MutexLock lock(&mu_);
    bool reloaded = false;
    DC_RETURN_IF_ERROR(MaybeReload(&reloaded));
    data = data_;
    deliver_all = undelivered_change_;
    loaded_at = loaded_at_;
  }
  SyncResult result;
  result.high_water_mark = since;
  result.pages = 1;  // the loaded file
  for (const v1::Opportunity& opp : *data) {
    const absl::Time updated = UpdatedAt(opp);
    const absl::Time mark = updated == absl::InfinitePast() ? loaded_at : updated;
    if (!deliver_all && updated < since) continue;
    DC_RETURN_IF_ERROR(sink(opp));
    ++result.count;
    result.high_water_mark = std::max(result.high_water_mark, mark);
  }
  {
    absl::MutexLock lock(&mu_);
    if (data_ == data) undelivered_change_ = false;
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> FileConnector::ListIds(absl::Time deadline) {
  std::shared_ptr<const std::vector<v1::Opportunity>> data;
  {
    absl::MutexLock lock(&mu_);
    bool reloaded = false;
    DC_RETURN_IF_ERROR(MaybeReload(&reloaded));
    data = data_;
  }
  std::vector<std::string> ids;
  ids.reserve(data->size());
  for (const v1::Opportunity& opp : *data) ids.push_back(opp.id());
  return ids;
}

ConnectorHealth FileConnector::Health() const {
  absl::MutexLock lock(&mu_);
  ConnectorHealth h;
  h.healthy = last_error_.empty();
  h.detail = h.healthy ? absl::StrCat("ok: ", data_ ? data_->size() : 0, " opportunities from ",
                                      options_.path)
                       : last_error_;
  h.last_success = last_success_;
  return h;
}

namespace {

class FileConnectorFactory : public ConnectorFactory {
 public:
  absl::string_view type() const override { return "file"; }
  absl::StatusOr<std::unique_ptr<Connector>> Create(
      const YAML::Node& config, const ConnectorContext& context) const override {
    ConfigReader r(config, context);
    DC_RETURN_IF_ERROR(r.CheckKeys({"path", "rebase_dates_from"}));
    FileConnectorOptions options;
    DC_ASSIGN_OR_RETURN(std::string path, r.String("path"));
    options.path = ResolvePath(path, context);
    DC_ASSIGN_OR_RETURN(options.rebase_dates_from, r.Time("rebase_dates_from"));
    auto connector = FileConnector::Create(std::move(options));
    if (!connector.ok()) {
      return ConfigError(config["path"], context, connector.status().message());
    }
    return std::unique_ptr<Connector>(std::move(*connector));
  }
};

}  // namespace

DEALCOACH_REGISTER_CONNECTOR(FileConnectorFactory);

}  // namespace dealcoach::connectors
