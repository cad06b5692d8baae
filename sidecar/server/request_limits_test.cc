// ValidateInlineOpportunity skips the reflective walk when the opportunity's size and
// schema bound every limit (request_limits.cc, PassesWithoutWalk); these tests hold it
// to the walk: the same verdict and the same message for a Timestamp made invalid at
// every path the descriptor lists (so a Timestamp added to the schema but not to the
// typed check fails here), for valid opportunities, and for opportunities too large for
// the short cut.
#include "sidecar/server/request_limits.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/descriptor.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::server {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using Chain = std::vector<const FieldDescriptor*>;

// Every chain of fields from `d` that ends at a google.protobuf.Timestamp.
void TimestampChains(const Descriptor* d, Chain* chain, std::vector<Chain>* out) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    chain->push_back(f);
    if (f->message_type() == google::protobuf::Timestamp::descriptor()) {
      out->push_back(*chain);
    } else {
      TimestampChains(f->message_type(), chain, out);
    }
    chain->pop_back();
  }
}

// The message at the end of `chain` under `root`, creating one element of each
// repeated field (a map entry with key "k") on the way.
Message* Reach(Message* root, const Chain& chain) {
  Message* m = root;
  for (const FieldDescriptor* f : chain) {
    if (f->is_repeated()) {
      m = m->GetReflection()->AddMessage(m, f);
      if (f->is_map()) {
        const FieldDescriptor* key = m->GetDescriptor()->FindFieldByNumber(1);
        m->GetReflection()->SetString(m, key, "k");
      }
    } else {
      m = m->GetReflection()->MutableMessage(m, f);
    }
  }
  return m;
}

std::string Describe(const Chain& chain) {
  std::string out;
  for (const FieldDescriptor* f : chain) absl::StrAppend(&out, ".", f->name());
  return out;
}

v1::Opportunity Populated() {
  v1::Opportunity o;
  o.set_id("opp-1");
  o.set_name("Acme expansion");
  o.set_stage("Proposal");
  o.set_amount(120000);
  o.mutable_close_date()->set_seconds(1790000000);
  o.mutable_stage_entered_at()->set_seconds(1780000000);
  for (int i = 0; i < 20; ++i) {
    v1::Activity* a = o.add_activities();
    a->set_id(absl::StrCat("act-", i));
    a->set_type(i % 2 == 0 ? "meeting" : "email");
    a->mutable_at()->set_seconds(1770000000 + i * 86400);
    a->mutable_at()->set_nanos(999999999);
    a->add_participant_ids("c-1");
  }
  for (int i = 0; i < 4; ++i) {
    v1::Contact* c = o.add_contacts();
    c->set_id(absl::StrCat("c-", i));
    c->add_roles("champion");
    c->mutable_last_met_at()->set_seconds(1775000000);
  }
  (*o.mutable_fields())["signed_at"].mutable_timestamp_value()->set_seconds(1785000000);
  (*o.mutable_fields())["tier"].set_string_value("gold");
  o.add_close_date_history()->mutable_to_date()->set_seconds(-62135596800);  // 0001-01-01
  o.add_stage_history()->mutable_entered_at()->set_seconds(253402300799);    // 9999-12-31
  return o;
}

void ExpectSameAsWalk(const v1::Opportunity& o, const std::string& what) {
  const absl::Status fast = ValidateInlineOpportunity(o, "opportunity");
  const absl::Status walk = ValidateInlineOpportunityByWalk(o, "opportunity");
  EXPECT_EQ(fast.code(), walk.code()) << what;
  EXPECT_EQ(fast.message(), walk.message()) << what;
}

TEST(RequestLimits, EveryInvalidTimestampIsFoundWithoutTheWalk) {
  std::vector<Chain> chains;
  Chain chain;
  TimestampChains(v1::Opportunity::descriptor(), &chain, &chains);
  ASSERT_GE(chains.size(), 14u);  // 6 top-level, 8 in lists and the fields map
  for (const Chain& c : chains) {
    for (const bool bad_seconds : {true, false}) {
      v1::Opportunity o = Populated();
      auto* ts = static_cast<google::protobuf::Timestamp*>(Reach(&o, c));
      if (bad_seconds) {
        ts->set_seconds(kMaxTimestampSeconds + 1);
      } else {
        ts->set_nanos(-1);
      }
      ASSERT_LT(o.ByteSizeLong(), 10000u) << "the short cut must be the one tested";
      const absl::Status fast = ValidateInlineOpportunity(o, "opportunity");
      EXPECT_EQ(fast.code(), absl::StatusCode::kInvalidArgument) << Describe(c);
      EXPECT_NE(fast.message().find("not a valid timestamp"), absl::string_view::npos)
          << Describe(c) << ": " << fast;
      ExpectSameAsWalk(o, Describe(c));
    }
  }
}

TEST(RequestLimits, ValidOpportunitiesPassBothWays) {
  v1::Opportunity o = Populated();
  EXPECT_TRUE(ValidateInlineOpportunity(o, "opportunity").ok());
  EXPECT_TRUE(ValidateInlineOpportunityByWalk(o, "opportunity").ok());
  v1::Opportunity empty;
  EXPECT_TRUE(ValidateInlineOpportunity(empty, "opportunity").ok());
  EXPECT_TRUE(ValidateInlineOpportunityByWalk(empty, "opportunity").ok());
}

// Past the short cut's size bound the walk decides, with its messages.
TEST(RequestLimits, LargeOpportunitiesAreWalked) {
  InlineLimits tight;
  tight.max_repeated = 5;
  v1::Opportunity o = Populated();
  const absl::Status fast = ValidateInlineOpportunity(o, "opportunity", tight);
  const absl::Status walk = ValidateInlineOpportunityByWalk(o, "opportunity", tight);
  EXPECT_EQ(fast.message(), walk.message());
  EXPECT_EQ(fast.message(), "opportunity.activities: 20 entries; at most 5 are accepted");

  v1::Opportunity big = Populated();
  big.set_name(std::string(70 * 1024, 'x'));
  EXPECT_EQ(ValidateInlineOpportunity(big, "opportunity").message(),
            "opportunity.name: 71680 bytes; at most 65536 are accepted");
  ExpectSameAsWalk(big, "long name");

  v1::Opportunity many = Populated();
  for (int i = 0; i < 800; ++i) many.add_activities()->set_subject("call notes, follow-up");
  many.mutable_activities(700)->mutable_at()->set_seconds(kMinTimestampSeconds - 1);
  ASSERT_GT(many.ByteSizeLong(), 10000u);
  EXPECT_NE(ValidateInlineOpportunity(many, "opportunity").message().find("activities[700].at"),
            std::string::npos);
  ExpectSameAsWalk(many, "many activities");
}

}  // namespace
}  // namespace dealcoach::server
