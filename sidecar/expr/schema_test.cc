// The schema hook (schema.h) with schemas that are not the sidecar's: protobuf's own
// descriptor messages (google.protobuf.FileDescriptorProto as `file`) and
// google.protobuf.Struct with Value as the dynamic value type. Shows that the library
// checks, plans the fast path for and evaluates any generated message an embedder
// declares, with the same results on the fast path and off it.
#include "sidecar/expr/schema.h"

#include <string>
#include <vector>

#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "sidecar/expr/expr.h"

namespace dealcoach::expr {
namespace {

namespace pb = google::protobuf;
using pb::DescriptorProto;
using pb::FileDescriptorProto;

// Readers for three fields: file.name, file.message_type (size, elements) and
// message_type[].name.
bool FileName(const pb::Message& m, FastScalar* out) {
  const auto& f = static_cast<const FileDescriptorProto&>(m);
  if (!f.has_name()) return false;
  out->s = FastString::Of(f.name());
  return true;
}
bool MessageName(const pb::Message& m, FastScalar* out) {
  const auto& d = static_cast<const DescriptorProto&>(m);
  if (!d.has_name()) return false;
  out->s = FastString::Of(d.name());
  return true;
}
int MessageCount(const pb::Message& m) {
  return static_cast<const FileDescriptorProto&>(m).message_type_size();
}
const pb::Message& MessageAt(const pb::Message& m, int i) {
  return static_cast<const FileDescriptorProto&>(m).message_type(i);
}

class FileAccessors final : public FastAccessors {
 public:
  FastScalarReader Scalar(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    if (f == nullptr || f->containing_type() != d) return nullptr;
    if (d == FileDescriptorProto::descriptor() &&
        f->number() == FileDescriptorProto::kNameFieldNumber) {
      return &FileName;
    }
    if (d == DescriptorProto::descriptor() && f->number() == DescriptorProto::kNameFieldNumber) {
      return &MessageName;
    }
    return nullptr;
  }
  FastSizeReader Size(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return IsMessageType(d, f) ? &MessageCount : nullptr;
  }
  FastElementReader Element(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return IsMessageType(d, f) ? &MessageAt : nullptr;
  }

 private:
  static bool IsMessageType(const pb::Descriptor* d, const pb::FieldDescriptor* f) {
    return d == FileDescriptorProto::descriptor() && f != nullptr && f->containing_type() == d &&
           f->number() == FileDescriptorProto::kMessageTypeFieldNumber;
  }
};

const MessageSchema& FileSchema() {
  static const MessageSchema* schema = [] {
    auto* s = new MessageSchema();
    s->root_variable = "file";
    s->root_type = FileDescriptorProto::descriptor();
    s->clock_variable = "at";
    s->accessors = new FileAccessors();
    return s;
  }();
  return *schema;
}

// The same schema without accessors: reflection only, no fast path.
const MessageSchema& SlowFileSchema() {
  static const MessageSchema* schema = [] {
    auto* s = new MessageSchema(FileSchema());
    s->root_variable = "slow";
    s->accessors = nullptr;
    return s;
  }();
  return *schema;
}

FileDescriptorProto File() {
  FileDescriptorProto f;
  f.set_name("deal.proto");
  f.add_message_type()->set_name("Deal");
  f.add_message_type()->set_name("Contact");
  f.add_message_type();  // no name: unknown, not unmet
  return f;
}

Condition Eval(const MessageSchema& schema, const std::string& source, const pb::Message& root,
               bool fast_path, bool* took_fast_path) {
  absl::StatusOr<Environment> env = Environment::ForSchema(schema);
  EXPECT_TRUE(env.ok()) << env.status();
  CompileOptions options;
  options.fast_path = fast_path;
  CompileResult r = Compile(source, *env, options);
  EXPECT_TRUE(r.ok()) << source << ": " << (r.issues.empty() ? "" : r.issues[0].message);
  if (!r.ok()) return {};
  *took_fast_path = HasFastPath(*r.program);
  Activation act;
  act.SetMessage(schema.root_variable, &root);
  act.SetTimestamp("at", absl::FromUnixSeconds(1790000000));
  return EvaluateCondition(*r.program, act);
}

TEST(MessageSchemaTest, AnyGeneratedMessageIsARootWithTheSameAnswerOnAndOffTheFastPath) {
  const FileDescriptorProto file = File();
  struct Case {
    std::string source;
    Truth want;
    bool fast;  // planned on the typed fast path
  };
  const std::vector<Case> cases = {
      {"file.name == 'deal.proto'", Truth::kTrue, true},
      {"file.name.startsWith('opp')", Truth::kFalse, true},
      {"size(file.message_type) == 3", Truth::kTrue, true},
      {"file.message_type.exists(m, m.name == 'Contact')", Truth::kTrue, true},
      {"file.message_type.all(m, m.name != '')", Truth::kUnknown, true},
      {"at > timestamp('2026-01-01T00:00:00Z') && file.name == 'deal.proto'", Truth::kTrue, true},
      // No reader for `dependency`: planned without the fast path, same semantics.
      {"size(file.dependency) == 0", Truth::kTrue, false},
  };
  for (const Case& c : cases) {
    bool fast = false, slow_fast = false, no_acc_fast = false;
    Condition on = Eval(FileSchema(), c.source, file, true, &fast);
    Condition off = Eval(FileSchema(), c.source, file, false, &slow_fast);
    EXPECT_EQ(on.truth, c.want) << c.source;
    EXPECT_EQ(off.truth, c.want) << c.source;
    EXPECT_EQ(on.missing, off.missing) << c.source;
    EXPECT_EQ(fast, c.fast) << c.source;
    EXPECT_FALSE(slow_fast) << c.source;
    // Without accessors: reflection only, never the fast path, same answer.
    std::string slow_source = c.source;
    for (size_t p = slow_source.find("file."); p != std::string::npos;
         p = slow_source.find("file.", p + 5)) {
      slow_source.replace(p, 4, "slow");
    }
    Condition reflection = Eval(SlowFileSchema(), slow_source, file, true, &no_acc_fast);
    EXPECT_EQ(reflection.truth, c.want) << slow_source;
    EXPECT_FALSE(no_acc_fast) << slow_source;
  }
}

TEST(MessageSchemaTest, CheckerNamesTheDeclaredType) {
  absl::StatusOr<Environment> env = Environment::ForSchema(FileSchema());
  ASSERT_TRUE(env.ok()) << env.status();
  CompileResult r = Compile("file.nme == 'x'", *env);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].message,
            "undefined field 'nme' on google.protobuf.FileDescriptorProto; did you mean 'name'?");
}

// google.protobuf.Struct's `fields` is a map<string, google.protobuf.Value>, and Value
// is one oneof: a custom-field map of a schema that declares Value as its dynamic type.
TEST(MessageSchemaTest, DynamicValueTypeMakesACustomFieldMap) {
  static const MessageSchema* schema = [] {
    auto* s = new MessageSchema();
    s->root_variable = "rec";
    s->root_type = pb::Struct::descriptor();
    s->clock_variable = "";
    s->dynamic_value_type = pb::Value::descriptor();
    return s;
  }();
  absl::StatusOr<Environment> env = Environment::ForSchema(*schema);
  ASSERT_TRUE(env.ok()) << env.status();
  env->DeclareCustomField("tier", FieldType::kString);
  env->DeclareCustomField("seats", FieldType::kDouble);
  env->DeclareCustomField("region", FieldType::kString);
  pb::Struct rec;
  (*rec.mutable_fields())["tier"].set_string_value("gold");
  (*rec.mutable_fields())["seats"].set_string_value("many");
  Activation act;
  act.SetMessage("rec", &rec);
  auto eval = [&](const std::string& source) {
    CompileResult r = Compile(source, *env);
    EXPECT_TRUE(r.ok()) << source << ": " << (r.issues.empty() ? "" : r.issues[0].message);
    return r.ok() ? r.program->Evaluate(act).DebugString() : std::string();
  };
  EXPECT_EQ(eval("rec.fields.tier == 'gold'"), "true");
  EXPECT_EQ(eval("rec.fields.region == 'emea'"), "unknown(rec.fields.region)");
  EXPECT_EQ(eval("has(rec.fields.tier)"), "true");
  EXPECT_EQ(eval("rec.fields.seats > 10.0"),
            "error(\"custom field 'seats' holds a string but is declared double\")");
  // An undeclared custom field, or a declared one used as another type, is a compile
  // issue.
  EXPECT_FALSE(Compile("rec.fields.plan == 'x'", *env).ok());
  EXPECT_FALSE(Compile("rec.fields.tier > 1", *env).ok());
}

TEST(MessageSchemaTest, InvalidSchemasAreRejectedWithAReason) {
  MessageSchema no_root;
  no_root.root_variable = "x";
  EXPECT_EQ(Environment::ForSchema(no_root).status(),
            absl::InvalidArgumentError("schema: root_type is not set"));

  MessageSchema bad_name;
  bad_name.root_variable = "1x";
  bad_name.root_type = FileDescriptorProto::descriptor();
  EXPECT_EQ(Environment::ForSchema(bad_name).status(),
            absl::InvalidArgumentError("schema: root variable '1x' is not an identifier"));

  MessageSchema same_clock;
  same_clock.root_variable = "now";
  same_clock.root_type = FileDescriptorProto::descriptor();
  EXPECT_EQ(Environment::ForSchema(same_clock).status().code(), absl::StatusCode::kInvalidArgument);

  MessageSchema bad_dynamic;
  bad_dynamic.root_variable = "x";
  bad_dynamic.root_type = pb::Struct::descriptor();
  bad_dynamic.dynamic_value_type = FileDescriptorProto::descriptor();
  EXPECT_EQ(Environment::ForSchema(bad_dynamic).status(),
            absl::InvalidArgumentError("schema: dynamic value type "
                                       "google.protobuf.FileDescriptorProto must hold all of its "
                                       "fields in one oneof"));
}

// A message under the root name that is not the schema's generated class (here a
// different message type, set as a dyn-typed Value) never feeds the fast path of a
// program planned for the schema: the answer comes from the general evaluator.
TEST(MessageSchemaTest, TheFastPathNeedsTheSchemasOwnClass) {
  absl::StatusOr<Environment> env = Environment::ForSchema(FileSchema());
  ASSERT_TRUE(env.ok()) << env.status();
  CompileResult r = Compile("file.name == 'deal.proto'", *env);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(HasFastPath(*r.program));
  DescriptorProto other;
  other.set_name("deal.proto");
  Activation act;
  act.SetMessage("file", &other);
  // The general evaluator reads `name` of whatever message it got.
  EXPECT_EQ(r.program->Evaluate(act).DebugString(), "true");
  const FileDescriptorProto file = File();
  act.SetMessage("file", &file);
  EXPECT_EQ(r.program->Evaluate(act).DebugString(), "true");
  act.SetValue("file", Value::Int(1));
  EXPECT_EQ(r.program->Evaluate(act).kind(), ValueKind::kError);
}

}  // namespace
}  // namespace dealcoach::expr
