#include "sidecar/server/request_limits.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/generated_message_util.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Where Walk is, as a chain of steps rendered only when an error names it (a valid
// request, the common case, builds no path strings): "opportunity.contacts[2].name",
// map entries by key ("opportunity.fields[\"deal_size\"]").
struct Path {
  enum Kind { kRoot, kField, kIndex, kKey };
  const Path* parent = nullptr;
  Kind kind = kRoot;
  absl::string_view text;  // the root path, a field name or a map key
  int index = 0;

  void AppendTo(std::string* out) const {
    if (parent != nullptr) parent->AppendTo(out);
    switch (kind) {
      case kRoot:
        out->append(text.data(), text.size());
        break;
      case kField:
        absl::StrAppend(out, ".", text);
        break;
      case kIndex:
        absl::StrAppend(out, "[", index, "]");
        break;
      case kKey:
        absl::StrAppend(out, "[\"", EchoValue(text), "\"]");
        break;
    }
  }
  std::string Render() const {
    std::string out;
    AppendTo(&out);
    return out;
  }
};

absl::Status Walk(const Message& message, const Path& path, const InlineLimits& limits, int depth) {
  if (depth > limits.max_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.Render(), ": nested deeper than ", limits.max_depth, " levels"));
  }
  const Reflection* reflection = message.GetReflection();
  if (message.GetDescriptor() == google::protobuf::Timestamp::descriptor()) {
    const auto* desc = message.GetDescriptor();
    google::protobuf::Timestamp ts;
    ts.set_seconds(reflection->GetInt64(message, desc->FindFieldByNumber(1)));
    ts.set_nanos(reflection->GetInt32(message, desc->FindFieldByNumber(2)));
    if (ValidateTimestamp(ts, "").ok()) return absl::OkStatus();
    return ValidateTimestamp(ts, path.Render());
  }
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    const Path field_path{&path, Path::kField, field->name()};
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      if (n > limits.max_repeated) {
        return absl::InvalidArgumentError(absl::StrCat(field_path.Render(), ": ", n,
                                                       " entries; at most ", limits.max_repeated,
                                                       " are accepted"));
      }
      for (int i = 0; i < n; ++i) {
        const Path item{&field_path, Path::kIndex, {}, i};
        if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
          const Message& sub = reflection->GetRepeatedMessage(message, field, i);
          if (field->is_map()) {
            // Name map entries by key: opportunity.fields["deal_size"].value.
            const FieldDescriptor* key = sub.GetDescriptor()->FindFieldByNumber(1);
            if (key->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
              std::string scratch;
              const std::string& k = sub.GetReflection()->GetStringReference(sub, key, &scratch);
              if (k.size() > limits.max_string_bytes) {
                return absl::InvalidArgumentError(
                    absl::StrCat(item.Render(), ".key: ", k.size(), " bytes; at most ",
                                 limits.max_string_bytes, " are accepted"));
              }
              const Path entry{&field_path, Path::kKey, k};
              absl::Status s = Walk(sub, entry, limits, depth + 1);
              if (!s.ok()) return s;
              continue;
            }
          }
          absl::Status s = Walk(sub, item, limits, depth + 1);
          if (!s.ok()) return s;
        } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
          std::string scratch;
          const std::string& v =
              reflection->GetRepeatedStringReference(message, field, i, &scratch);
          if (v.size() > limits.max_string_bytes) {
            return absl::InvalidArgumentError(
                absl::StrCat(item.Render(), ": ", v.size(), " bytes; at most ",
                             limits.max_string_bytes, " are accepted"));
          }
        }
      }
      continue;
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      absl::Status s = Walk(reflection->GetMessage(message, field), field_path, limits, depth + 1);
      if (!s.ok()) return s;
    } else if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      std::string scratch;
      const std::string& v = reflection->GetStringReference(message, field, &scratch);
      if (v.size() > limits.max_string_bytes) {
        return absl::InvalidArgumentError(absl::StrCat(field_path.Render(), ": ", v.size(),
                                                       " bytes; at most ", limits.max_string_bytes,
                                                       " are accepted"));
      }
    }
  }
  return absl::OkStatus();
}

bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= kMinTimestampSeconds && ts.seconds() <= kMaxTimestampSeconds &&
         ts.nanos() >= 0 && ts.nanos() <= 999999999;
}

// Every google.protobuf.Timestamp of an Opportunity, read through the generated
// accessors (an unset one reads as the default, 1970, which is valid). Must name every
// Timestamp the schema has: request_limits_test builds an opportunity with an invalid
// value at each Timestamp path the descriptor lists and checks that this rejects it.
bool OpportunityTimestampsValid(const v1::Opportunity& o) {
  if (!ValidTimestamp(o.stage_entered_at()) || !ValidTimestamp(o.close_date()) ||
      !ValidTimestamp(o.created_at()) || !ValidTimestamp(o.updated_at()) ||
      !ValidTimestamp(o.last_meeting_at()) || !ValidTimestamp(o.last_activity_at())) {
    return false;
  }
  for (const v1::StageChange& c : o.stage_history()) {
    if (!ValidTimestamp(c.entered_at())) return false;
  }
  for (const v1::CloseDateChange& c : o.close_date_history()) {
    if (!ValidTimestamp(c.from_date()) || !ValidTimestamp(c.to_date()) ||
        !ValidTimestamp(c.changed_at())) {
      return false;
    }
  }
  for (const v1::Contact& c : o.contacts()) {
    if (!ValidTimestamp(c.last_met_at())) return false;
  }
  for (const v1::Activity& a : o.activities()) {
    if (!ValidTimestamp(a.at())) return false;
  }
  for (const v1::Artifact& a : o.artifacts()) {
    if (!ValidTimestamp(a.updated_at())) return false;
  }
  for (const auto& [key, value] : o.fields()) {
    if (value.kind_case() == v1::FieldValue::kTimestampValue &&
        !ValidTimestamp(value.timestamp_value())) {
      return false;
    }
  }
  return true;
}

// The deepest Walk can go in messages of `d`'s type (a map entry is a level, as in
// Walk; a Timestamp ends a branch), or -1 when the schema is recursive.
int StaticDepth(const google::protobuf::Descriptor* d, std::vector<const void*>* stack) {
  if (d == google::protobuf::Timestamp::descriptor()) return 0;
  for (const void* on : *stack) {
    if (on == d) return -1;
  }
  stack->push_back(d);
  int deepest = 0;
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const int sub = StaticDepth(f->message_type(), stack);
    if (sub < 0) {
      deepest = -1;
      break;
    }
    deepest = std::max(deepest, sub + 1);
  }
  stack->pop_back();
  return deepest;
}

// True when the inline opportunity provably passes Walk without walking it: its
// serialized size bounds every string (a string's bytes are part of it) and every
// repeated count (each element takes at least one byte), the schema bounds the nesting,
// and the timestamps are read through generated code. False means "walk it" (the walk
// then finds the problem, if any, and names it), never "invalid".
bool PassesWithoutWalk(const Message& message, size_t total, const InlineLimits& limits) {
  static const int kOpportunityDepth = [] {
    std::vector<const void*> stack;
    return StaticDepth(v1::Opportunity::descriptor(), &stack);
  }();
  if (total > limits.max_string_bytes || total > static_cast<size_t>(limits.max_repeated)) {
    return false;
  }
  const auto* opportunity = google::protobuf::DynamicCastToGenerated<v1::Opportunity>(&message);
  if (opportunity == nullptr || kOpportunityDepth < 0 || kOpportunityDepth > limits.max_depth) {
    return false;
  }
  return OpportunityTimestampsValid(*opportunity);
}

}  // namespace

std::string EchoValue(absl::string_view value) {
  if (value.size() <= kMaxEchoBytes) return std::string(value);
  size_t cut = kMaxEchoBytes;
  // Back up over UTF-8 continuation bytes so the prefix stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(value.substr(0, cut), "\xE2\x80\xA6(", value.size(), " bytes)");
}

absl::Status ValidateTimestamp(const google::protobuf::Timestamp& ts, absl::string_view path) {
  if (ts.seconds() < kMinTimestampSeconds || ts.seconds() > kMaxTimestampSeconds ||
      ts.nanos() < 0 || ts.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid timestamp (seconds ", ts.seconds(), ", nanos ",
                     ts.nanos(), "); use 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"));
  }
  return absl::OkStatus();
}

absl::Status ValidateInlineOpportunity(const google::protobuf::Message& message,
                                       absl::string_view path, const InlineLimits& limits) {
  const size_t total = message.ByteSizeLong();
  if (total > limits.max_total_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", total, " bytes; at most ",
                                                   limits.max_total_bytes, " are accepted"));
  }
  if (PassesWithoutWalk(message, total, limits)) return absl::OkStatus();
  const Path root{nullptr, Path::kRoot, path};
  return Walk(message, root, limits, 0);
}

absl::Status ValidateInlineOpportunityByWalk(const google::protobuf::Message& message,
                                             absl::string_view path, const InlineLimits& limits) {
  const size_t total = message.ByteSizeLong();
  if (total > limits.max_total_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", total, " bytes; at most ",
                                                   limits.max_total_bytes, " are accepted"));
  }
  const Path root{nullptr, Path::kRoot, path};
  return Walk(message, root, limits, 0);
}

}  // namespace dealcoach::server
