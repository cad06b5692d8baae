// Generated-accessor readers for the dealcoach.v1 opportunity schema: the
// expr::FastAccessors of OpportunitySchema() (see oppschema.h and sidecar/expr/schema.h).
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/time/time.h"
#include "dealcoach/v1/opportunity.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "sidecar/common/time_util.h"
#include "sidecar/expr/expr.h"
#include "sidecar/expr/fast_fields.h"
#include "sidecar/expr/schema.h"
#include "sidecar/oppschema/oppschema.h"

namespace dealcoach::oppschema {

namespace pb = google::protobuf;
namespace v1 = dealcoach::v1;
namespace fast = expr::fast;
using expr::FastCustomFieldFactory;
using expr::FastCustomFieldLookup;
using expr::FastElementReader;
using expr::FastFieldReader;
using expr::FastFlagCounter;
using expr::FastHasReader;
using expr::FastMessageReader;
using expr::FastRootCompareFactory;
using expr::FastScalar;
using expr::FastScalarReader;
using expr::FastSizeReader;
using expr::FastString;
using expr::FastStringsReader;
using expr::FastTime;
using expr::FieldType;
using expr::Value;

namespace {

// Conversions matching FieldToValue / MessageToValue for each C++ field type.
Value Make(bool b) { return Value::Bool(b); }
Value Make(double d) { return Value::Double(d); }
Value Make(int64_t i) { return Value::Int(i); }
Value Make(const std::string& s) { return Value::StringView(s); }
Value Make(const pb::Timestamp& t) { return Value::Timestamp(ToAbslTime(t)); }

// Typed conversions for FastScalar, matching Make above.
void Put(bool b, FastScalar* out) { out->b = b; }
void Put(double d, FastScalar* out) { out->d = d; }
void Put(int64_t i, FastScalar* out) { out->i = i; }
void Put(const std::string& s, FastScalar* out) { out->s = FastString::Of(s); }
void Put(const pb::Timestamp& t, FastScalar* out) {
  out->t = FastTime::Normalized(t.seconds(), t.nanos());
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
bool PlainScalar(const pb::Message& m, FastScalar* out) {
  Put((static_cast<const M&>(m).*Get)(), out);
  return true;
}

template <typename M, auto Has, auto Get>
bool OptScalar(const pb::Message& m, FastScalar* out) {
  const M& x = static_cast<const M&>(m);
  if (!(x.*Has)()) return false;
  Put((x.*Get)(), out);
  return true;
}

template <typename M, auto Has>
bool HasOf(const pb::Message& m) {
  return (static_cast<const M&>(m).*Has)();
}

template <typename M, auto Has, auto Get>
const pb::Message* SubMessage(const pb::Message& m) {
  const M& x = static_cast<const M&>(m);
  return (x.*Has)() ? &(x.*Get)() : nullptr;
}

template <typename M, auto Size>
int SizeOf(const pb::Message& m) {
  return (static_cast<const M&>(m).*Size)();
}

template <typename M, auto Get>
const pb::RepeatedPtrField<std::string>& StringsOf(const pb::Message& m) {
  return (static_cast<const M&>(m).*Get)();
}

template <typename M, auto Range, auto Has, auto Get>
bool CountFlags(const pb::Message& m, bool negate, bool skip_unset, int64_t* count, int64_t* size) {
  const auto& range = (static_cast<const M&>(m).*Range)();
  int64_t n = 0;
  for (const auto& e : range) {
    if (!(e.*Has)()) {
      if (skip_unset) continue;
      return false;  // an unset flag is unknown
    }
    n += (e.*Get)() != negate ? 1 : 0;
  }
  *count = n;
  *size = range.size();
  return true;
}

template <typename M, auto Get>
const pb::Message& Element(const pb::Message& m, int i) {
  return (static_cast<const M&>(m).*Get)(i);
}

// Comparisons of a field value with the constant of a fused root comparison.
[[maybe_unused]] bool Compare(fast::CompareOp op, bool v, const FastScalar& k) {
  return fast::CompareWith(op, v, k.b);
}
[[maybe_unused]] bool Compare(fast::CompareOp op, double v, const FastScalar& k) {
  return fast::CompareWith(op, v, k.d);  // NaN: false for every relation, as CEL says
}
[[maybe_unused]] bool Compare(fast::CompareOp op, int64_t v, const FastScalar& k) {
  return fast::CompareWith(op, v, k.i);
}
[[maybe_unused]] bool Compare(fast::CompareOp op, const std::string& v, const FastScalar& k) {
  return fast::CompareWith(op, absl::string_view(v), k.s.view());
}
[[maybe_unused]] bool Compare(fast::CompareOp op, const pb::Timestamp& v, const FastScalar& k) {
  return fast::CompareWith(op, FastTime::Normalized(v.seconds(), v.nanos()), k.t);
}

// opp.<field> <op> k with the accessor inlined. `Has` is null for fields without
// presence (always set).
template <typename M, auto Has, auto Get>
class RootCompareNode final : public fast::FastNode {
 public:
  RootCompareNode(fast::CompareOp op, const FastScalar& k, std::string text)
      : op_(op), k_(k), text_(std::move(text)) {
    if (!text_.empty()) k_.s = FastString::Of(text_);
  }
  bool Eval(fast::Context& c, FastScalar* out) const override {
    const M& m = static_cast<const M&>(*c.root);
    if constexpr (Has != nullptr) {
      if (!(m.*Has)()) return false;  // not recorded: unknown, the general path decides
    }
    out->b = Compare(op_, (m.*Get)(), k_);
    return true;
  }

 private:
  fast::CompareOp op_;
  FastScalar k_;
  std::string text_;  // owns a string constant
};

template <typename M, auto Has, auto Get>
std::unique_ptr<const fast::FastNode> MakeRootCompare(fast::CompareOp op, const FastScalar& k,
                                                      std::string text) {
  return std::make_unique<RootCompareNode<M, Has, Get>>(op, k, std::move(text));
}

// opp.fields.<key> with its declared type, or has(opp.fields.<key>).
class CustomFieldNode final : public fast::FastNode {
 public:
  CustomFieldNode(std::string key, FieldType want, bool test_only)
      : key_(std::move(key)), want_(want), test_only_(test_only) {}
  bool Eval(fast::Context& c, FastScalar* out) const override {
    const auto& fields = static_cast<const v1::Opportunity*>(c.root)->fields();
    auto it = fields.find(key_);
    const v1::FieldValue* fv = it == fields.end() ? nullptr : &it->second;
    if (test_only_) {
      out->b = fv != nullptr && fv->kind_case() != v1::FieldValue::KIND_NOT_SET;
      return true;
    }
    if (fv == nullptr) return false;  // not recorded: unknown
    switch (fv->kind_case()) {
      case v1::FieldValue::kBoolValue:
        out->b = fv->bool_value();
        return want_ == FieldType::kBool;
      case v1::FieldValue::kIntValue:
        if (want_ == FieldType::kDouble) {
          out->d = static_cast<double>(fv->int_value());
          return true;
        }
        out->i = fv->int_value();
        return want_ == FieldType::kInt;
      case v1::FieldValue::kDoubleValue:
        out->d = fv->double_value();
        return want_ == FieldType::kDouble;
      case v1::FieldValue::kStringValue:
        out->s = FastString::Of(fv->string_value());
        return want_ == FieldType::kString;
      case v1::FieldValue::kTimestampValue:
        out->t =
            FastTime::Normalized(fv->timestamp_value().seconds(), fv->timestamp_value().nanos());
        return want_ == FieldType::kTimestamp;
      default:
        return false;
    }
  }

 private:
  std::string key_;
  FieldType want_;
  bool test_only_;
};

std::unique_ptr<const fast::FastNode> MakeCustomField(std::string key, FieldType want,
                                                      bool test_only) {
  return std::make_unique<CustomFieldNode>(std::move(key), want, test_only);
}

// The general evaluator's key lookup in opp.fields.
const pb::Message* LookupCustomField(const pb::Message& m, const std::string& key) {
  const auto& fields = static_cast<const v1::Opportunity&>(m).fields();
  auto it = fields.find(key);
  return it == fields.end() ? nullptr : &it->second;
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
  FastScalarReader scalar;
  FastHasReader has;
  FastRootCompareFactory root_compare;  // fields of Opportunity only
};

template <typename M, auto Has, auto Get>
constexpr FastRootCompareFactory RootCompareFor() {
  if constexpr (std::is_same_v<M, v1::Opportunity>) {
    return &MakeRootCompare<M, Has, Get>;
  } else {
    return nullptr;
  }
}

template <typename M, auto Get>
Entry PlainEntry(int number) {
  return {M::descriptor(),      number,  &Plain<M, Get>,
          &PlainScalar<M, Get>, nullptr, RootCompareFor<M, nullptr, Get>()};
}

template <typename M, auto Has, auto Get>
Entry OptEntry(int number) {
  return {M::descriptor(),         number,         &Opt<M, Has, Get>,
          &OptScalar<M, Has, Get>, &HasOf<M, Has>, RootCompareFor<M, Has, Get>()};
}

std::vector<Entry> BuildTable() {
  using O = v1::Opportunity;
  using A = v1::Account;
  using W = v1::Owner;
  using S = v1::StageChange;
  using C = v1::Contact;
  using D = v1::CloseDateChange;
  using T = v1::Activity;
  using R = v1::Artifact;
  using P = v1::Competitor;
  return {
      PlainEntry<O, &O::id>(O::kIdFieldNumber),
      PlainEntry<O, &O::name>(O::kNameFieldNumber),
      OptEntry<O, &O::has_stage, &O::stage>(O::kStageFieldNumber),
      OptEntry<O, &O::has_stage_entered_at, &O::stage_entered_at>(O::kStageEnteredAtFieldNumber),
      OptEntry<O, &O::has_amount, &O::amount>(O::kAmountFieldNumber),
      PlainEntry<O, &O::currency_code>(O::kCurrencyCodeFieldNumber),
      OptEntry<O, &O::has_close_date, &O::close_date>(O::kCloseDateFieldNumber),
      OptEntry<O, &O::has_created_at, &O::created_at>(O::kCreatedAtFieldNumber),
      OptEntry<O, &O::has_updated_at, &O::updated_at>(O::kUpdatedAtFieldNumber),
      OptEntry<O, &O::has_forecast_category, &O::forecast_category>(
          O::kForecastCategoryFieldNumber),
      OptEntry<O, &O::has_next_step, &O::next_step>(O::kNextStepFieldNumber),
      OptEntry<O, &O::has_is_closed, &O::is_closed>(O::kIsClosedFieldNumber),
      OptEntry<O, &O::has_is_won, &O::is_won>(O::kIsWonFieldNumber),
      OptEntry<O, &O::has_last_meeting_at, &O::last_meeting_at>(O::kLastMeetingAtFieldNumber),
      OptEntry<O, &O::has_last_activity_at, &O::last_activity_at>(O::kLastActivityAtFieldNumber),
      PlainEntry<O, &O::source_system>(O::kSourceSystemFieldNumber),
      PlainEntry<A, &A::id>(A::kIdFieldNumber),
      PlainEntry<A, &A::name>(A::kNameFieldNumber),
      OptEntry<A, &A::has_industry, &A::industry>(A::kIndustryFieldNumber),
      OptEntry<A, &A::has_employees, &A::employees>(A::kEmployeesFieldNumber),
      OptEntry<A, &A::has_segment, &A::segment>(A::kSegmentFieldNumber),
      PlainEntry<W, &W::id>(W::kIdFieldNumber),
      PlainEntry<W, &W::name>(W::kNameFieldNumber),
      PlainEntry<W, &W::manager_id>(W::kManagerIdFieldNumber),
      PlainEntry<W, &W::team>(W::kTeamFieldNumber),
      PlainEntry<S, &S::stage>(S::kStageFieldNumber),
      OptEntry<S, &S::has_entered_at, &S::entered_at>(S::kEnteredAtFieldNumber),
      OptEntry<D, &D::has_from_date, &D::from_date>(D::kFromDateFieldNumber),
      OptEntry<D, &D::has_to_date, &D::to_date>(D::kToDateFieldNumber),
      OptEntry<D, &D::has_changed_at, &D::changed_at>(D::kChangedAtFieldNumber),
      PlainEntry<C, &C::id>(C::kIdFieldNumber),
      PlainEntry<C, &C::name>(C::kNameFieldNumber),
      OptEntry<C, &C::has_title, &C::title>(C::kTitleFieldNumber),
      OptEntry<C, &C::has_confirmed_pain, &C::confirmed_pain>(C::kConfirmedPainFieldNumber),
      OptEntry<C, &C::has_sentiment, &C::sentiment>(C::kSentimentFieldNumber),
      OptEntry<C, &C::has_last_met_at, &C::last_met_at>(C::kLastMetAtFieldNumber),
      OptEntry<C, &C::has_is_primary, &C::is_primary>(C::kIsPrimaryFieldNumber),
      PlainEntry<T, &T::id>(T::kIdFieldNumber),
      PlainEntry<T, &T::type>(T::kTypeFieldNumber),
      OptEntry<T, &T::has_at, &T::at>(T::kAtFieldNumber),
      PlainEntry<T, &T::subject>(T::kSubjectFieldNumber),
      OptEntry<T, &T::has_outcome, &T::outcome>(T::kOutcomeFieldNumber),
      PlainEntry<R, &R::kind>(R::kKindFieldNumber),
      PlainEntry<R, &R::title>(R::kTitleFieldNumber),
      PlainEntry<R, &R::url>(R::kUrlFieldNumber),
      OptEntry<R, &R::has_updated_at, &R::updated_at>(R::kUpdatedAtFieldNumber),
      OptEntry<R, &R::has_customer_validated, &R::customer_validated>(
          R::kCustomerValidatedFieldNumber),
      PlainEntry<P, &P::name>(P::kNameFieldNumber),
      OptEntry<P, &P::has_status, &P::status>(P::kStatusFieldNumber),
  };
}

const Entry* FindEntry(const pb::Descriptor* descriptor, const pb::FieldDescriptor* field) {
  static const std::vector<Entry>* table = new std::vector<Entry>(BuildTable());
  if (descriptor == nullptr || field == nullptr || field->containing_type() != descriptor) {
    return nullptr;
  }
  for (const Entry& e : *table) {
    if (e.descriptor == descriptor && e.number == field->number()) return &e;
  }
  return nullptr;
}

// Repeated fields and submessages: size, string-list, submessage and flag-count readers.
struct RepeatedEntry {
  const pb::Descriptor* descriptor;
  int number;
  FastSizeReader size;
  FastStringsReader strings;  // repeated string fields only
};

std::vector<RepeatedEntry> BuildRepeatedTable() {
  using O = v1::Opportunity;
  using C = v1::Contact;
  using T = v1::Activity;
  using SizeFn = int (O::*)() const;
  using CSizeFn = int (C::*)() const;
  using TSizeFn = int (T::*)() const;
  using Strings = const pb::RepeatedPtrField<std::string>& (C::*)() const;
  using OStrings = const pb::RepeatedPtrField<std::string>& (O::*)() const;
  using TStrings = const pb::RepeatedPtrField<std::string>& (T::*)() const;
  const pb::Descriptor* o = O::descriptor();
  return {
      {o, O::kStageHistoryFieldNumber, &SizeOf<O, SizeFn{&O::stage_history_size}>, nullptr},
      {o, O::kCloseDateHistoryFieldNumber, &SizeOf<O, SizeFn{&O::close_date_history_size}>,
       nullptr},
      {o, O::kContactsFieldNumber, &SizeOf<O, SizeFn{&O::contacts_size}>, nullptr},
      {o, O::kActivitiesFieldNumber, &SizeOf<O, SizeFn{&O::activities_size}>, nullptr},
      {o, O::kArtifactsFieldNumber, &SizeOf<O, SizeFn{&O::artifacts_size}>, nullptr},
      {o, O::kCompetitorsFieldNumber, &SizeOf<O, SizeFn{&O::competitors_size}>, nullptr},
      {o, O::kNotRecordedFieldNumber, &SizeOf<O, SizeFn{&O::not_recorded_size}>,
       &StringsOf<O, OStrings{&O::not_recorded}>},
      {C::descriptor(), C::kRolesFieldNumber, &SizeOf<C, CSizeFn{&C::roles_size}>,
       &StringsOf<C, Strings{&C::roles}>},
      {T::descriptor(), T::kParticipantIdsFieldNumber,
       &SizeOf<T, TSizeFn{&T::participant_ids_size}>, &StringsOf<T, TStrings{&T::participant_ids}>},
  };
}

const RepeatedEntry* FindRepeated(const pb::Descriptor* descriptor,
                                  const pb::FieldDescriptor* field) {
  static const std::vector<RepeatedEntry>* table =
      new std::vector<RepeatedEntry>(BuildRepeatedTable());
  if (descriptor == nullptr || field == nullptr || field->containing_type() != descriptor) {
    return nullptr;
  }
  for (const RepeatedEntry& e : *table) {
    if (e.descriptor == descriptor && e.number == field->number()) return &e;
  }
  return nullptr;
}

FastFieldReader FindFastField(const pb::Descriptor* descriptor, const pb::FieldDescriptor* field) {
  const Entry* e = FindEntry(descriptor, field);
  return e == nullptr ? nullptr : e->reader;
}

FastRootCompareFactory FindFastRootCompare(const pb::Descriptor* descriptor,
                                           const pb::FieldDescriptor* field) {
  const Entry* e = FindEntry(descriptor, field);
  return e == nullptr ? nullptr : e->root_compare;
}

FastScalarReader FindFastScalar(const pb::Descriptor* descriptor,
                                const pb::FieldDescriptor* field) {
  const Entry* e = FindEntry(descriptor, field);
  return e == nullptr ? nullptr : e->scalar;
}

// Singular submessage fields (not Timestamp): their presence and the message.
struct SubMessageEntry {
  int number;
  FastHasReader has;
  FastMessageReader message;
};

const SubMessageEntry* FindSubMessage(const pb::Descriptor* descriptor,
                                      const pb::FieldDescriptor* field) {
  using O = v1::Opportunity;
  static const SubMessageEntry kEntries[] = {
      {O::kAccountFieldNumber, &HasOf<O, &O::has_account>,
       &SubMessage<O, &O::has_account, &O::account>},
      {O::kOwnerFieldNumber, &HasOf<O, &O::has_owner>, &SubMessage<O, &O::has_owner, &O::owner>},
  };
  if (descriptor != O::descriptor() || field == nullptr || field->containing_type() != descriptor) {
    return nullptr;
  }
  for (const SubMessageEntry& e : kEntries) {
    if (e.number == field->number()) return &e;
  }
  return nullptr;
}

FastHasReader FindFastHas(const pb::Descriptor* descriptor, const pb::FieldDescriptor* field) {
  if (const SubMessageEntry* sub = FindSubMessage(descriptor, field)) return sub->has;
  const Entry* e = FindEntry(descriptor, field);
  return e == nullptr ? nullptr : e->has;
}

FastMessageReader FindFastMessage(const pb::Descriptor* descriptor,
                                  const pb::FieldDescriptor* field) {
  const SubMessageEntry* sub = FindSubMessage(descriptor, field);
  return sub == nullptr ? nullptr : sub->message;
}

FastSizeReader FindFastSize(const pb::Descriptor* descriptor, const pb::FieldDescriptor* field) {
  const RepeatedEntry* e = FindRepeated(descriptor, field);
  return e == nullptr ? nullptr : e->size;
}

FastStringsReader FindFastStrings(const pb::Descriptor* descriptor,
                                  const pb::FieldDescriptor* field) {
  const RepeatedEntry* e = FindRepeated(descriptor, field);
  return e == nullptr ? nullptr : e->strings;
}

FastFlagCounter FindFastFlagCounter(const pb::Descriptor* descriptor,
                                    const pb::FieldDescriptor* range,
                                    const pb::FieldDescriptor* flag) {
  using O = v1::Opportunity;
  using C = v1::Contact;
  using R = v1::Artifact;
  using Contacts = const pb::RepeatedPtrField<C>& (O::*)() const;
  using Artifacts = const pb::RepeatedPtrField<R>& (O::*)() const;
  if (descriptor != O::descriptor() || range == nullptr || flag == nullptr ||
      range->containing_type() != descriptor) {
    return nullptr;
  }
  if (range->number() == O::kContactsFieldNumber && flag->containing_type() == C::descriptor()) {
    if (flag->number() == C::kConfirmedPainFieldNumber) {
      return &CountFlags<O, Contacts{&O::contacts}, &C::has_confirmed_pain, &C::confirmed_pain>;
    }
    if (flag->number() == C::kIsPrimaryFieldNumber) {
      return &CountFlags<O, Contacts{&O::contacts}, &C::has_is_primary, &C::is_primary>;
    }
  }
  if (range->number() == O::kArtifactsFieldNumber && flag->containing_type() == R::descriptor() &&
      flag->number() == R::kCustomerValidatedFieldNumber) {
    return &CountFlags<O, Artifacts{&O::artifacts}, &R::has_customer_validated,
                       &R::customer_validated>;
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

// The table above, as the schema's accessors.
class OpportunityAccessors final : public expr::FastAccessors {
 public:
  FastFieldReader Field(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastField(d, f);
  }
  FastElementReader Element(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastElement(d, f);
  }
  FastScalarReader Scalar(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastScalar(d, f);
  }
  FastHasReader Has(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastHas(d, f);
  }
  FastMessageReader SubMessage(const pb::Descriptor* d,
                               const pb::FieldDescriptor* f) const override {
    return FindFastMessage(d, f);
  }
  FastSizeReader Size(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastSize(d, f);
  }
  FastStringsReader Strings(const pb::Descriptor* d, const pb::FieldDescriptor* f) const override {
    return FindFastStrings(d, f);
  }
  FastFlagCounter FlagCounter(const pb::Descriptor* d, const pb::FieldDescriptor* range,
                              const pb::FieldDescriptor* flag) const override {
    return FindFastFlagCounter(d, range, flag);
  }
  FastRootCompareFactory RootCompare(const pb::Descriptor* d,
                                     const pb::FieldDescriptor* f) const override {
    return FindFastRootCompare(d, f);
  }
  FastCustomFieldLookup CustomFieldLookup(const pb::Descriptor* d,
                                          const pb::FieldDescriptor* map_field) const override {
    return IsFieldsMap(d, map_field) ? &LookupCustomField : nullptr;
  }
  FastCustomFieldFactory CustomField(const pb::Descriptor* d,
                                     const pb::FieldDescriptor* map_field) const override {
    return IsFieldsMap(d, map_field) ? &MakeCustomField : nullptr;
  }

 private:
  static bool IsFieldsMap(const pb::Descriptor* d, const pb::FieldDescriptor* f) {
    return d == v1::Opportunity::descriptor() && f != nullptr && f->containing_type() == d &&
           f->number() == v1::Opportunity::kFieldsFieldNumber;
  }
};

}  // namespace

const expr::FastAccessors& OpportunityAccessors() {
  static const expr::FastAccessors* accessors = new class OpportunityAccessors();
  return *accessors;
}

}  // namespace dealcoach::oppschema
