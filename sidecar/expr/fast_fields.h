// Plan-time table of generated-accessor readers for dealcoach.v1 message fields.
//
// Protobuf reflection costs 5-10 ns per HasField/Get* call; the generated accessors
// inline to about 1 ns. The planner asks FindFastField() once per selection and, when
// the field is in the table, the evaluator reads it through the generated class instead
// of reflection. The table is keyed by (message descriptor, field number); any field not
// in it (and any message not built from the generated pool) keeps the reflection path.
//
// Thread-safety: the table is immutable after its first (thread-safe) initialisation.
#ifndef DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_
#define DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_

#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "sidecar/expr/value.h"

namespace dealcoach::expr {

// Reads a singular field of a message of the generated class the reader was registered
// for. Returns false when the field has presence and is unset; otherwise stores the
// value in *out exactly as FieldToValue would (strings borrowed, Timestamp as a
// timestamp, submessages as borrowed messages).
using FastFieldReader = bool (*)(const google::protobuf::Message& message, Value* out);

// The reader for `field` of `descriptor`, or null when there is none. The caller must
// only use it on messages whose Reflection is `descriptor`'s generated one
// (GeneratedReflection(descriptor)).
FastFieldReader FindFastField(const google::protobuf::Descriptor* descriptor,
                              const google::protobuf::FieldDescriptor* field);

// Element `index` (in range) of a repeated message field of a message of the generated
// class the reader was registered for.
using FastElementReader =
    const google::protobuf::Message& (*)(const google::protobuf::Message& message, int index);

// The element reader for repeated message `field` of `descriptor`, or null.
FastElementReader FindFastElement(const google::protobuf::Descriptor* descriptor,
                                  const google::protobuf::FieldDescriptor* field);

// The Reflection of the generated class for `descriptor`, or null when the descriptor
// does not come from the generated pool.
const google::protobuf::Reflection* GeneratedReflection(
    const google::protobuf::Descriptor* descriptor);

}  // namespace dealcoach::expr

#endif  // DEALCOACH_SIDECAR_EXPR_FAST_FIELDS_H_
