// MessageSchema registration and the FastAccessors defaults (see schema.h).
#include "sidecar/expr/schema.h"

#include <atomic>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "sidecar/expr/schema_internal.h"

namespace dealcoach::expr {

namespace pb = google::protobuf;

namespace internal {
std::atomic<const RegisteredSchema*> g_schemas[kMaxSchemas];
}  // namespace internal

namespace {

bool IsIdentifier(absl::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

absl::Status Validate(const MessageSchema& s) {
  if (s.root_type == nullptr) return absl::InvalidArgumentError("schema: root_type is not set");
  if (!IsIdentifier(s.root_variable)) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema: root variable '", s.root_variable, "' is not an identifier"));
  }
  if (!s.clock_variable.empty() &&
      (!IsIdentifier(s.clock_variable) || s.clock_variable == s.root_variable)) {
    return absl::InvalidArgumentError(
        absl::StrCat("schema: clock variable '", s.clock_variable,
                     "' is not an identifier distinct from the root variable"));
  }
  if (const pb::Descriptor* d = s.dynamic_value_type) {
    bool single_oneof = d->oneof_decl_count() == 1 && d->field_count() > 0;
    for (int i = 0; single_oneof && i < d->field_count(); ++i) {
      single_oneof = d->field(i)->containing_oneof() == d->oneof_decl(0);
    }
    if (!single_oneof) {
      return absl::InvalidArgumentError(absl::StrCat("schema: dynamic value type ", d->full_name(),
                                                     " must hold all of its fields in one oneof"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterSchema(const MessageSchema* schema) {
  if (schema == nullptr) return absl::InvalidArgumentError("schema: null");
  static std::mutex* mu = new std::mutex();
  std::lock_guard<std::mutex> lock(*mu);
  int i = 0;
  for (; i < internal::kMaxSchemas; ++i) {
    const internal::RegisteredSchema* s = internal::g_schemas[i].load(std::memory_order_acquire);
    if (s == nullptr) break;
    if (s->schema == schema) return absl::OkStatus();
  }
  if (absl::Status st = Validate(*schema); !st.ok()) return st;
  if (i == internal::kMaxSchemas) {
    return absl::ResourceExhaustedError(absl::StrCat("schema: more than ", internal::kMaxSchemas,
                                                     " schemas registered in one process"));
  }
  // Never freed: readers hold it without a lock for the life of the process.
  const auto* entry = new internal::RegisteredSchema{schema, GeneratedReflection(schema->root_type),
                                                     schema->dynamic_value_type};
  internal::g_schemas[i].store(entry, std::memory_order_release);
  return absl::OkStatus();
}

const pb::Reflection* GeneratedReflection(const pb::Descriptor* descriptor) {
  if (descriptor == nullptr || descriptor->file()->pool() != pb::DescriptorPool::generated_pool()) {
    return nullptr;
  }
  const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(descriptor);
  return prototype == nullptr ? nullptr : prototype->GetReflection();
}

FastTime FastTime::FromDuration(absl::Duration d) {
  absl::Duration rem;
  const int64_t sec = absl::IDivDuration(d, absl::Seconds(1), &rem);
  return Normalized(sec, absl::ToInt64Nanoseconds(rem));
}

FastFieldReader FastAccessors::Field(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastElementReader FastAccessors::Element(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastScalarReader FastAccessors::Scalar(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastHasReader FastAccessors::Has(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastMessageReader FastAccessors::SubMessage(const pb::Descriptor*,
                                            const pb::FieldDescriptor*) const {
  return nullptr;
}
FastSizeReader FastAccessors::Size(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastStringsReader FastAccessors::Strings(const pb::Descriptor*, const pb::FieldDescriptor*) const {
  return nullptr;
}
FastFlagCounter FastAccessors::FlagCounter(const pb::Descriptor*, const pb::FieldDescriptor*,
                                           const pb::FieldDescriptor*) const {
  return nullptr;
}
FastRootCompareFactory FastAccessors::RootCompare(const pb::Descriptor*,
                                                  const pb::FieldDescriptor*) const {
  return nullptr;
}
FastCustomFieldLookup FastAccessors::CustomFieldLookup(const pb::Descriptor*,
                                                       const pb::FieldDescriptor*) const {
  return nullptr;
}
FastCustomFieldFactory FastAccessors::CustomField(const pb::Descriptor*,
                                                  const pb::FieldDescriptor*) const {
  return nullptr;
}

}  // namespace dealcoach::expr
