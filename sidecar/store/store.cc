#include "sidecar/store/store.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "sidecar/common/status_macros.h"
#include "sidecar/store/backends.h"

namespace dealcoach::store {
namespace {

constexpr char kCurrentRevisionPayload[] = "type.dealcoach.dev/store.CurrentRevision";

absl::string_view CriterionName(CriterionState s) {
  switch (s) {
    case CRITERION_STATE_MET:
      return "MET";
    case CRITERION_STATE_UNMET:
      return "UNMET";
    case CRITERION_STATE_UNKNOWN:
      return "UNKNOWN";
    default:
      return "UNSPECIFIED";
  }
}

// "+kind id" / "-kind id" for ids only in one of the lists (order-insensitive).
void DiffIds(absl::string_view kind, const google::protobuf::RepeatedPtrField<std::string>& a,
             const google::protobuf::RepeatedPtrField<std::string>& b,
             std::vector<std::string>* out) {
  for (const std::string& id : b) {
    if (std::find(a.begin(), a.end(), id) == a.end())
      out->push_back(absl::StrCat("+", kind, " ", id));
  }
  for (const std::string& id : a) {
    if (std::find(b.begin(), b.end(), id) == b.end())
      out->push_back(absl::StrCat("-", kind, " ", id));
  }
}

}  // namespace

absl::string_view RevisionStateName(RevisionState state) {
  switch (state) {
    case RevisionState::kDraft:
      return "draft";
    case RevisionState::kPublished:
      return "published";
    case RevisionState::kArchived:
      return "archived";
  }
  return "draft";
}

absl::StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options) {
  switch (options.backend) {
    case Backend::kSqlite:
      return internal::OpenSqlite(options);
    case Backend::kPostgres:
      return internal::OpenPostgres(options);
  }
  return absl::InvalidArgumentError("store: unknown backend");
}

std::string DescribeLocation(const StoreOptions& options) {
  if (options.backend == Backend::kPostgres) {
    return internal::RedactConninfo(options.postgres_conninfo);
  }
  return absl::StrCat(options.data_dir, "/", options.sqlite_file);
}

absl::string_view BackendName(Backend backend) {
  return backend == Backend::kPostgres ? "postgres" : "sqlite";
}

std::optional<int64_t> CurrentRevisionOf(const absl::Status& status) {
  auto payload = status.GetPayload(kCurrentRevisionPayload);
  int64_t v = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &v)) return std::nullopt;
  return v;
}

std::string ContentHash(absl::string_view content) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest);
  return absl::StrCat("sha256:", absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<char*>(digest), sizeof(digest))));
}

std::string InputHash(const google::protobuf::Message& message) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
  }
  return ContentHash(bytes);
}

std::vector<std::string> DescribeChanges(const CompactResult& before, const CompactResult& after) {
  std::vector<std::string> out;
  auto field = [&out](absl::string_view name, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(absl::StrCat(name, ": ", a, " -> ", b));
  };
  field("claimed_phase", before.claimed_phase(), after.claimed_phase());
  field("evidence_phase", before.evidence_phase(), after.evidence_phase());
  for (const CriterionOutcome& b : after.criteria()) {
    CriterionState was = CRITERION_STATE_UNSPECIFIED;
    for (const CriterionOutcome& a : before.criteria()) {
      if (a.id() == b.id()) was = a.state();
    }
    if (was != b.state()) {
      out.push_back(absl::StrCat("criterion ", b.id(), ": ", CriterionName(was), " -> ",
                                 CriterionName(b.state())));
    }
  }
  DiffIds("behavior", before.fired_behaviors(), after.fired_behaviors(), &out);
  DiffIds("risk", before.fired_risks(), after.fired_risks(), &out);
  if (before.amount() != after.amount()) {
    out.push_back(absl::StrCat("amount: ", before.amount(), " -> ", after.amount()));
  }
  if (before.close_date_unix() != after.close_date_unix()) {
    out.push_back(
        absl::StrCat("close_date: ", before.close_date_unix(), " -> ", after.close_date_unix()));
  }
  field("owner", before.owner(), after.owner());
  field("stage", before.stage(), after.stage());
  return out;
}

namespace internal {

absl::Status PublishConflict(absl::string_view tenant, absl::string_view name, int64_t current,
                             int64_t expected) {
  absl::Status s = absl::AbortedError(absl::StrCat("store: playbook ", tenant, "/", name,
                                                   ": published revision is ", current,
                                                   ", not the expected ", expected));
  s.SetPayload(kCurrentRevisionPayload, absl::Cord(absl::StrCat(current)));
  return s;
}

absl::StatusOr<RevisionState> ParseRevisionState(absl::string_view text) {
  if (text == "draft") return RevisionState::kDraft;
  if (text == "published") return RevisionState::kPublished;
  if (text == "archived") return RevisionState::kArchived;
  return absl::InternalError(absl::StrCat("store: unknown revision state '", text, "'"));
}

absl::Status ValidateTenant(absl::string_view tenant) {
  if (tenant.empty()) return absl::InvalidArgumentError("store: tenant is required");
  return absl::OkStatus();
}

absl::StatusOr<Revision> NewDraftRevision(absl::string_view tenant, absl::string_view name,
                                          absl::string_view yaml, absl::string_view author,
                                          absl::string_view message) {
  DC_RETURN_IF_ERROR(ValidateTenant(tenant));
  if (name.empty()) return absl::InvalidArgumentError("store: playbook name is required");
  Revision r;
  r.tenant = std::string(tenant);
  r.name = std::string(name);
  r.yaml = std::string(yaml);
  r.author = std::string(author);
  r.message = std::string(message);
  r.content_hash = ContentHash(yaml);
  r.created_at = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  r.state = RevisionState::kDraft;
  return r;
}

bool IsKnownAction(absl::string_view action) {
  return action == "validate" || action == "plan" || action == "publish" || action == "rollback";
}

absl::Status EmitDealDiff(const std::string& deal_id, const absl::string_view* before,
                          const absl::string_view* after, DealDiff* scratch,
                          const std::function<void(const DealDiff&)>& fn) {
  DealDiff& diff = *scratch;
  diff = DealDiff{};
  diff.deal_id = deal_id;
  auto parse = [&](const absl::string_view* bytes, CompactResult* out) {
    return out->ParseFromArray(bytes->data(), static_cast<int>(bytes->size()));
  };
  if (before == nullptr && after == nullptr) return absl::OkStatus();
  if (before == nullptr) {
    diff.kind = DealDiff::Kind::kAdded;
    if (!parse(after, &diff.after)) {
      return absl::DataLossError(absl::StrCat("store: deal ", deal_id, ": unreadable result"));
    }
    diff.changes.push_back("added");
  } else if (after == nullptr) {
    diff.kind = DealDiff::Kind::kRemoved;
    if (!parse(before, &diff.before)) {
      return absl::DataLossError(absl::StrCat("store: deal ", deal_id, ": unreadable result"));
    }
    diff.changes.push_back("removed");
  } else {
    // Equal bytes are equal results (deterministic serialization of the same message),
    // so only differing ones are parsed.
    if (*before == *after) return absl::OkStatus();
    diff.kind = DealDiff::Kind::kChanged;
    if (!parse(before, &diff.before) || !parse(after, &diff.after)) {
      return absl::DataLossError(absl::StrCat("store: deal ", deal_id, ": unreadable result"));
    }
    diff.changes = DescribeChanges(diff.before, diff.after);
    if (diff.changes.empty()) return absl::OkStatus();
  }
  fn(diff);
  return absl::OkStatus();
}

absl::Status MergeSnapshots(const NextRow& next_before, const NextRow& next_after,
                            const std::function<void(const DealDiff&)>& fn) {
  std::string a_id, a_bytes, b_id, b_bytes;
  bool has_a = next_before(&a_id, &a_bytes);
  bool has_b = next_after(&b_id, &b_bytes);
  DealDiff diff;
  while (has_a || has_b) {
    const absl::string_view a(a_bytes), b(b_bytes);
    if (has_a && (!has_b || a_id < b_id)) {
      DC_RETURN_IF_ERROR(EmitDealDiff(a_id, &a, nullptr, &diff, fn));
      has_a = next_before(&a_id, &a_bytes);
    } else if (has_b && (!has_a || b_id < a_id)) {
      DC_RETURN_IF_ERROR(EmitDealDiff(b_id, nullptr, &b, &diff, fn));
      has_b = next_after(&b_id, &b_bytes);
    } else {
      DC_RETURN_IF_ERROR(EmitDealDiff(a_id, &a, &b, &diff, fn));
      has_a = next_before(&a_id, &a_bytes);
      has_b = next_after(&b_id, &b_bytes);
    }
  }
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace dealcoach::store
