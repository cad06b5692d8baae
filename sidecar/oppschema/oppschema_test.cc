// The opportunity schema: valid, registered, and its hand-kept accessor table covers every
// field of every message an expression can reach from `opp` (so a field added to
// opportunity.proto without a reader fails here instead of silently leaving the fast path).
#include "sidecar/oppschema/oppschema.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "gtest/gtest.h"

namespace dealcoach::oppschema {
namespace {

namespace pb = google::protobuf;

TEST(OpportunitySchema, IsValidAndDeclaresOppAndNow) {
  const expr::MessageSchema& s = OpportunitySchema();
  EXPECT_EQ(s.root_variable, "opp");
  EXPECT_EQ(s.root_type, v1::Opportunity::descriptor());
  EXPECT_EQ(s.clock_variable, "now");
  EXPECT_EQ(s.dynamic_value_type, v1::FieldValue::descriptor());
  EXPECT_TRUE(expr::RegisterSchema(&s).ok());
  absl::StatusOr<expr::Environment> env = expr::Environment::ForSchema(s);
  ASSERT_TRUE(env.ok()) << env.status();
  expr::CompileResult r = expr::Compile("opp.amount > 1.0 && now > opp.close_date", *env);
  ASSERT_TRUE(r.ok()) << r.issues[0].message;
  EXPECT_TRUE(expr::HasFastPath(*r.program));
}

// Every field of Opportunity and of the messages under it has the readers its shape
// calls for.
TEST(OpportunitySchema, AccessorTableCoversEveryField) {
  const expr::FastAccessors& acc = OpportunityAccessors();
  const pb::Descriptor* root = v1::Opportunity::descriptor();
  std::vector<const pb::Descriptor*> todo = {root};
  std::set<const pb::Descriptor*> seen;
  int checked = 0;
  while (!todo.empty()) {
    const pb::Descriptor* d = todo.back();
    todo.pop_back();
    if (!seen.insert(d).second) continue;
    for (int i = 0; i < d->field_count(); ++i) {
      const pb::FieldDescriptor* f = d->field(i);
      const std::string where = f->full_name();
      ++checked;
      const pb::Descriptor* m = f->message_type();
      const bool timestamp = m != nullptr && m->full_name() == "google.protobuf.Timestamp";
      if (f->is_map()) {
        EXPECT_EQ(f->message_type()->map_value()->message_type(), v1::FieldValue::descriptor())
            << where << ": the only map is the custom-field map";
        EXPECT_NE(acc.CustomField(d, f), nullptr) << where;
        EXPECT_NE(acc.CustomFieldLookup(d, f), nullptr) << where;
      } else if (f->is_repeated()) {
        EXPECT_NE(acc.Size(d, f), nullptr) << where;
        if (m != nullptr) {
          EXPECT_NE(acc.Element(d, f), nullptr) << where;
          todo.push_back(m);
        } else {
          EXPECT_EQ(f->cpp_type(), pb::FieldDescriptor::CPPTYPE_STRING) << where;
          EXPECT_NE(acc.Strings(d, f), nullptr) << where;
        }
      } else if (m != nullptr && !timestamp) {
        EXPECT_NE(acc.SubMessage(d, f), nullptr) << where;
        EXPECT_NE(acc.Has(d, f), nullptr) << where;
        todo.push_back(m);
      } else {
        EXPECT_NE(acc.Field(d, f), nullptr) << where;
        EXPECT_NE(acc.Scalar(d, f), nullptr) << where;
        if (f->has_presence()) {
          EXPECT_NE(acc.Has(d, f), nullptr) << where;
        }
        if (d == root) {
          EXPECT_NE(acc.RootCompare(d, f), nullptr) << where;
        }
      }
    }
  }
  EXPECT_GE(checked, 50);
  // Readers are only for the field they were asked about.
  EXPECT_EQ(acc.Field(v1::Contact::descriptor(), root->FindFieldByName("name")), nullptr);
  EXPECT_EQ(acc.Field(root, nullptr), nullptr);
  EXPECT_EQ(acc.RootCompare(v1::Contact::descriptor(),
                            v1::Contact::descriptor()->FindFieldByName("name")),
            nullptr);
}

TEST(OpportunitySchema, CliNamesTheRootTypeInItsErrors) {
  absl::StatusOr<std::string> r = EvaluateForCli("opp.amount", R"({"opp": {"amount": "x"}})");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::StartsWith(r.status().message(),
                               "vars: 'opp' is not a valid dealcoach.v1.Opportunity: "))
      << r.status();
  r = EvaluateForCli("now", R"({"now": 5})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "vars: 'now' must be an RFC 3339 timestamp string");
  // Plain JSON custom fields take the member of their type and are declared with it.
  r = EvaluateForCli("opp.fields.seats + 1",
                     R"({"opp": {"fields": {"seats": 41, "ok": true, "w": 0.5, "t": "a"}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "42");
  r = EvaluateForCli("opp.fields.ok && opp.fields.w == 0.5 && opp.fields.t == 'a'",
                     R"({"opp": {"fields": {"seats": 41, "ok": true, "w": 0.5, "t": "a"}}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "true");
  r = EvaluateForCli("opp.fields.seats == 'x'", R"({"opp": {"fields": {"seats": 41}}})");
  ASSERT_FALSE(r.ok());
}

}  // namespace
}  // namespace dealcoach::oppschema
