// Generated-accessor readers for the dealcoach.v1 schema (see fast_fields.h).
#include "sidecar/expr/fast_fields.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace dealcoach::expr {

namespace pb = google::protobuf;
namespace v1 = dealcoach::v1;

namespace {

// Conversions matching FieldToValue / MessageToValue for each C++ field type.
Value Make(bool b) { return Value::Bool(b); }
Value Make(double d) { return Value::Double(d); }
Value Make(int64_t i) { return Value::Int(i); }
Value Make(const std::string& s) { return Value::StringView(s); }
Value Make(const pb::Timestamp& t) {
  return Value::Timestamp(absl::UnixEpoch() +
                          (absl::Seconds(t.seconds()) + absl::Nanoseconds(t.nanos())));
}

// A field without presence (proto3 plain scalar): always set.
template <typename M, auto Get>
bool Plain(const pb::Message& m, Value* out) {
  *out = Make((static_cast<const M&>(m).*Get)());
  return true;
}

// A field with presence (optional scalar, submessage): unset reads as absent.
template <typename M, auto Has, auto Get>
bool Opt(const pb::Message& m, Value* out) {
  const M& x = static_cast<const M&>(m);
  if (!(x.*Has)()) return false;
  *out = Make((x.*Get)());
  return true;
}

template <typename M, auto Get>
const pb::Message& Element(const pb::Message& m, int i) {
  return (static_cast<const M&>(m).*Get)(i);
}

struct ElementEntry {
  const pb::Descriptor* descriptor;
  int number;
  FastElementReader reader;
};

std::vector<ElementEntry> BuildElementTable() {
  using O = v1::Opportunity;
  using C = v1::Contact;
  const pb::Descriptor* o = O::descriptor();
  // The generated accessors are overloaded (const / mutable); pick the const one.
  using StageChangeAt = const v1::StageChange& (O::*)(int) const;
  using CloseDateChangeAt = const v1::CloseDateChange& (O::*)(int) const;
  using ContactAt = const C& (O::*)(int) const;
  using ActivityAt = const v1::Activity& (O::*)(int) const;
  using ArtifactAt = const v1::Artifact& (O::*)(int) const;
  using CompetitorAt = const v1::Competitor& (O::*)(int) const;
  return {
      {o, O::kStageHistoryFieldNumber, &Element<O, StageChangeAt{&O::stage_history}>},
      {o, O::kCloseDateHistoryFieldNumber, &Element<O, CloseDateChangeAt{&O::close_date_history}>},
      {o, O::kContactsFieldNumber, &Element<O, ContactAt{&O::contacts}>},
      {o, O::kActivitiesFieldNumber, &Element<O, ActivityAt{&O::activities}>},
      {o, O::kArtifactsFieldNumber, &Element<O, ArtifactAt{&O::artifacts}>},
      {o, O::kCompetitorsFieldNumber, &Element<O, CompetitorAt{&O::competitors}>},
  };
}

struct Entry {
  const pb::Descriptor* descriptor;
  int number;
  FastFieldReader reader;
};

std::vector<Entry> BuildTable() {
  using O = v1::Opportunity;
  using A = v1::Account;
  using W = v1::Owner;
  using S = v1::StageChange;
  using C = v1::Contact;
  using T = v1::Activity;
  using R = v1::Artifact;
  using P = v1::Competitor;
  return {
      {O::descriptor(), O::kIdFieldNumber, &Plain<O, &O::id>},
      {O::descriptor(), O::kNameFieldNumber, &Plain<O, &O::name>},
      {O::descriptor(), O::kStageFieldNumber, &Opt<O, &O::has_stage, &O::stage>},
      {O::descriptor(), O::kStageEnteredAtFieldNumber,
       &Opt<O, &O::has_stage_entered_at, &O::stage_entered_at>},
      {O::descriptor(), O::kAmountFieldNumber, &Opt<O, &O::has_amount, &O::amount>},
      {O::descriptor(), O::kCurrencyCodeFieldNumber, &Plain<O, &O::currency_code>},
      {O::descriptor(), O::kCloseDateFieldNumber, &Opt<O, &O::has_close_date, &O::close_date>},
      {O::descriptor(), O::kCreatedAtFieldNumber, &Opt<O, &O::has_created_at, &O::created_at>},
      {O::descriptor(), O::kUpdatedAtFieldNumber, &Opt<O, &O::has_updated_at, &O::updated_at>},
      {O::descriptor(), O::kForecastCategoryFieldNumber,
       &Opt<O, &O::has_forecast_category, &O::forecast_category>},
      {O::descriptor(), O::kNextStepFieldNumber, &Opt<O, &O::has_next_step, &O::next_step>},
      {O::descriptor(), O::kIsClosedFieldNumber, &Opt<O, &O::has_is_closed, &O::is_closed>},
      {O::descriptor(), O::kIsWonFieldNumber, &Opt<O, &O::has_is_won, &O::is_won>},
      {O::descriptor(), O::kLastMeetingAtFieldNumber,
       &Opt<O, &O::has_last_meeting_at, &O::last_meeting_at>},
      {O::descriptor(), O::kLastActivityAtFieldNumber,
       &Opt<O, &O::has_last_activity_at, &O::last_activity_at>},
      {O::descriptor(), O::kSourceSystemFieldNumber, &Plain<O, &O::source_system>},
      {A::descriptor(), A::kIdFieldNumber, &Plain<A, &A::id>},
      {A::descriptor(), A::kNameFieldNumber, &Plain<A, &A::name>},
      {A::descriptor(), A::kIndustryFieldNumber, &Opt<A, &A::has_industry, &A::industry>},
      {A::descriptor(), A::kEmployeesFieldNumber, &Opt<A, &A::has_employees, &A::employees>},
      {A::descriptor(), A::kSegmentFieldNumber, &Opt<A, &A::has_segment, &A::segment>},
      {W::descriptor(), W::kIdFieldNumber, &Plain<W, &W::id>},
      {W::descriptor(), W::kNameFieldNumber, &Plain<W, &W::name>},
      {W::descriptor(), W::kManagerIdFieldNumber, &Plain<W, &W::manager_id>},
      {W::descriptor(), W::kTeamFieldNumber, &Plain<W, &W::team>},
      {S::descriptor(), S::kStageFieldNumber, &Plain<S, &S::stage>},
      {S::descriptor(), S::kEnteredAtFieldNumber, &Opt<S, &S::has_entered_at, &S::entered_at>},
      {C::descriptor(), C::kIdFieldNumber, &Plain<C, &C::id>},
      {C::descriptor(), C::kNameFieldNumber, &Plain<C, &C::name>},
      {C::descriptor(), C::kTitleFieldNumber, &Opt<C, &C::has_title, &C::title>},
      {C::descriptor(), C::kConfirmedPainFieldNumber,
       &Opt<C, &C::has_confirmed_pain, &C::confirmed_pain>},
      {C::descriptor(), C::kSentimentFieldNumber, &Opt<C, &C::has_sentiment, &C::sentiment>},
      {C::descriptor(), C::kLastMetAtFieldNumber, &Opt<C, &C::has_last_met_at, &C::last_met_at>},
      {C::descriptor(), C::kIsPrimaryFieldNumber, &Opt<C, &C::has_is_primary, &C::is_primary>},
      {T::descriptor(), T::kIdFieldNumber, &Plain<T, &T::id>},
      {T::descriptor(), T::kTypeFieldNumber, &Plain<T, &T::type>},
      {T::descriptor(), T::kAtFieldNumber, &Opt<T, &T::has_at, &T::at>},
      {T::descriptor(), T::kSubjectFieldNumber, &Plain<T, &T::subject>},
      {T::descriptor(), T::kOutcomeFieldNumber, &Opt<T, &T::has_outcome, &T::outcome>},
      {R::descriptor(), R::kKindFieldNumber, &Plain<R, &R::kind>},
      {R::descriptor(), R::kTitleFieldNumber, &Plain<R, &R::title>},
      {R::descriptor(), R::kUrlFieldNumber, &Plain<R, &R::url>},
      {R::descriptor(), R::kUpdatedAtFieldNumber, &Opt<R, &R::has_updated_at, &R::updated_at>},
      {R::descriptor(), R::kCustomerValidatedFieldNumber,
       &Opt<R, &R::has_customer_validated, &R::customer_validated>},
      {P::descriptor(), P::kNameFieldNumber, &Plain<P, &P::name>},
      {P::descriptor(), P::kStatusFieldNumber, &Opt<P, &P::has_status, &P::status>},
  };
}

}  // namespace

FastFieldReader FindFastField(const pb::Descriptor* descriptor, const pb::FieldDescriptor* field) {
  static const std::vector<Entry>* table = new std::vector<Entry>(BuildTable());
  if (descriptor == nullptr || field == nullptr || field->containing_type() != descriptor) {
    return nullptr;
  }
  for (const Entry& e : *table) {
    if (e.descriptor == descriptor && e.number == field->number()) return e.reader;
  }
  return nullptr;
}

FastElementReader FindFastElement(const pb::Descriptor* descriptor,
                                  const pb::FieldDescriptor* field) {
  static const std::vector<ElementEntry>* table =
      new std::vector<ElementEntry>(BuildElementTable());
  if (descriptor == nullptr || field == nullptr || field->containing_type() != descriptor) {
    return nullptr;
  }
  for (const ElementEntry& e : *table) {
    if (e.descriptor == descriptor && e.number == field->number()) return e.reader;
  }
  return nullptr;
}

const pb::Reflection* GeneratedReflection(const pb::Descriptor* descriptor) {
  if (descriptor == nullptr || descriptor->file()->pool() != pb::DescriptorPool::generated_pool()) {
    return nullptr;
  }
  const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(descriptor);
  return prototype == nullptr ? nullptr : prototype->GetReflection();
}

}  // namespace dealcoach::expr
