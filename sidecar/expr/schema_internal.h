// Internal: the process-wide list of registered schemas (schema.h). Not part of the
// public API.
//
// Thread-safety: append-only. Entries are published with release stores and never
// change or go away, so readers need no lock.
#ifndef DEALCOACH_SIDECAR_EXPR_SCHEMA_INTERNAL_H_
#define DEALCOACH_SIDECAR_EXPR_SCHEMA_INTERNAL_H_

#include <atomic>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sidecar/expr/schema.h"

namespace dealcoach::expr::internal {

struct RegisteredSchema {
  const MessageSchema* schema;
  // GeneratedReflection(schema->root_type); null when the root type is not generated.
  const google::protobuf::Reflection* root_reflection;
  const google::protobuf::Descriptor* dynamic_value_type;  // may be null
};

constexpr int kMaxSchemas = 16;
// Filled from index 0 up; the first null ends the list.
extern std::atomic<const RegisteredSchema*> g_schemas[kMaxSchemas];

// True when `d` is a registered schema's dynamic value type.
inline bool IsDynamicValueType(const google::protobuf::Descriptor* d) {
  for (int i = 0; i < kMaxSchemas; ++i) {
    const RegisteredSchema* s = g_schemas[i].load(std::memory_order_acquire);
    if (s == nullptr) return false;
    if (s->dynamic_value_type == d) return true;
  }
  return false;
}

// The first registered schema whose root variable is `name` and whose generated root
// class has Reflection `reflection`; null when none.
inline const MessageSchema* FindRootSchema(absl::string_view name,
                                           const google::protobuf::Reflection* reflection) {
  for (int i = 0; i < kMaxSchemas; ++i) {
    const RegisteredSchema* s = g_schemas[i].load(std::memory_order_acquire);
    if (s == nullptr) return nullptr;
    if (s->root_reflection == reflection && s->schema->root_variable == name) return s->schema;
  }
  return nullptr;
}

}  // namespace dealcoach::expr::internal

#endif  // DEALCOACH_SIDECAR_EXPR_SCHEMA_INTERNAL_H_
