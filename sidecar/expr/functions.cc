#include "sidecar/expr/functions.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::expr {

namespace {

using K = ValueKind;

// CEL's timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z.
const absl::Time kMinTime = absl::FromUnixSeconds(kMinTimestampSeconds);
const absl::Time kMaxTime =
    absl::FromUnixSeconds(kMaxTimestampSeconds) + absl::Nanoseconds(999999999);
// CEL's duration range: about +-10000 years.
const absl::Duration kMaxDuration = absl::Seconds(315576000000) + absl::Nanoseconds(999999999);

Value Overflow() { return Value::Error("integer overflow"); }

Value CheckTime(absl::Time t) {
  if (t < kMinTime || t > kMaxTime) return Value::Error("timestamp out of range");
  return Value::Timestamp(t);
}

Value CheckDuration(absl::Duration d) {
  if (d > kMaxDuration || d < -kMaxDuration || d == absl::InfiniteDuration() ||
      d == -absl::InfiniteDuration()) {
    return Value::Error("duration out of range");
  }
  return Value::Duration(d);
}

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;
    for (int j = 1; j <= n; ++j) {
      unsigned char cc = static_cast<unsigned char>(s[i + static_cast<size_t>(j)]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<size_t>(n) + 1;
  }
  return true;
}

// ---- arithmetic ----

Value Add(const Value* a) {
  const Value &x = a[0], &y = a[1];
  if (x.kind() != y.kind()) {
    if (x.kind() == K::kTimestamp && y.kind() == K::kDuration) {
      return CheckTime(x.timestamp_value() + y.duration_value());
    }
    if (x.kind() == K::kDuration && y.kind() == K::kTimestamp) {
      return CheckTime(y.timestamp_value() + x.duration_value());
    }
    return NoSuchOverload("_+_", a, 2);
  }
  switch (x.kind()) {
    case K::kInt: {
      int64_t r;
      if (__builtin_add_overflow(x.int_value(), y.int_value(), &r)) return Overflow();
      return Value::Int(r);
    }
    case K::kUint: {
      uint64_t r;
      if (__builtin_add_overflow(x.uint_value(), y.uint_value(), &r)) return Overflow();
      return Value::Uint(r);
    }
    case K::kDouble:
      return Value::Double(x.double_value() + y.double_value());
    case K::kString:
      return Value::String(absl::StrCat(x.string_value(), y.string_value()));
    case K::kBytes:
      return Value::Bytes(absl::StrCat(x.string_value(), y.string_value()));
    case K::kDuration:
      return CheckDuration(x.duration_value() + y.duration_value());
    case K::kList: {
      std::vector<Value> out;
      out.reserve(static_cast<size_t>(x.size() + y.size()));
      for (int64_t i = 0; i < x.size(); ++i) out.push_back(x.list_element(i));
      for (int64_t i = 0; i < y.size(); ++i) out.push_back(y.list_element(i));
      return Value::List(std::move(out));
    }
    default:
      return NoSuchOverload("_+_", a, 2);
  }
}

Value Sub(const Value* a) {
  const Value &x = a[0], &y = a[1];
  if (x.kind() == K::kTimestamp && y.kind() == K::kDuration) {
    return CheckTime(x.timestamp_value() - y.duration_value());
  }
  if (x.kind() != y.kind()) return NoSuchOverload("_-_", a, 2);
  switch (x.kind()) {
    case K::kInt: {
      int64_t r;
      if (__builtin_sub_overflow(x.int_value(), y.int_value(), &r)) return Overflow();
      return Value::Int(r);
    }
    case K::kUint: {
      uint64_t r;
      if (__builtin_sub_overflow(x.uint_value(), y.uint_value(), &r)) return Overflow();
      return Value::Uint(r);
    }
    case K::kDouble:
      return Value::Double(x.double_value() - y.double_value());
    case K::kDuration:
      return CheckDuration(x.duration_value() - y.duration_value());
    case K::kTimestamp: {
      // The difference must fit a duration of int64 nanoseconds (about 292 years), as in
      // the reference implementations.
      absl::Duration d = x.timestamp_value() - y.timestamp_value();
      if (d > absl::Nanoseconds(INT64_MAX) || d < absl::Nanoseconds(INT64_MIN)) {
        return Value::Error("duration out of range");
      }
      return Value::Duration(d);
    }
    default:
      return NoSuchOverload("_-_", a, 2);
  }
}

Value Mul(const Value* a) {
  const Value &x = a[0], &y = a[1];
  if (x.kind() != y.kind()) return NoSuchOverload("_*_", a, 2);
  switch (x.kind()) {
    case K::kInt: {
      int64_t r;
      if (__builtin_mul_overflow(x.int_value(), y.int_value(), &r)) return Overflow();
      return Value::Int(r);
    }
    case K::kUint: {
      uint64_t r;
      if (__builtin_mul_overflow(x.uint_value(), y.uint_value(), &r)) return Overflow();
      return Value::Uint(r);
    }
    case K::kDouble:
      return Value::Double(x.double_value() * y.double_value());
    default:
      return NoSuchOverload("_*_", a, 2);
  }
}

Value Div(const Value* a) {
  const Value &x = a[0], &y = a[1];
  if (x.kind() != y.kind()) return NoSuchOverload("_/_", a, 2);
  switch (x.kind()) {
    case K::kInt:
      if (y.int_value() == 0) return Value::Error("division by zero");
      if (x.int_value() == std::numeric_limits<int64_t>::min() && y.int_value() == -1) {
        return Overflow();
      }
      return Value::Int(x.int_value() / y.int_value());
    case K::kUint:
      if (y.uint_value() == 0) return Value::Error("division by zero");
      return Value::Uint(x.uint_value() / y.uint_value());
    case K::kDouble:
      return Value::Double(x.double_value() / y.double_value());
    default:
      return NoSuchOverload("_/_", a, 2);
  }
}

Value Mod(const Value* a) {
  const Value &x = a[0], &y = a[1];
  if (x.kind() != y.kind()) return NoSuchOverload("_%_", a, 2);
  switch (x.kind()) {
    case K::kInt:
      if (y.int_value() == 0) return Value::Error("modulus by zero");
      if (x.int_value() == std::numeric_limits<int64_t>::min() && y.int_value() == -1) {
        return Overflow();
      }
      return Value::Int(x.int_value() % y.int_value());
    case K::kUint:
      if (y.uint_value() == 0) return Value::Error("modulus by zero");
      return Value::Uint(x.uint_value() % y.uint_value());
    default:
      return NoSuchOverload("_%_", a, 2);
  }
}

Value Neg(const Value* a) {
  switch (a[0].kind()) {
    case K::kInt:
      if (a[0].int_value() == std::numeric_limits<int64_t>::min()) return Overflow();
      return Value::Int(-a[0].int_value());
    case K::kDouble:
      return Value::Double(-a[0].double_value());
    default:
      return NoSuchOverload("-_", a, 1);
  }
}

// ---- comparison ----

Value Eq(const Value* a) { return Value::Bool(ValuesEqual(a[0], a[1])); }
Value Ne(const Value* a) { return Value::Bool(!ValuesEqual(a[0], a[1])); }

template <int kOp>
Value Rel(const Value* a) {
  static const char* const kNames[] = {"_<_", "_<=_", "_>_", "_>=_"};
  bool comparable;
  int c = CompareValues(a[0], a[1], &comparable);
  if (!comparable) return NoSuchOverload(kNames[kOp], a, 2);
  if (c == 2) return Value::Bool(false);
  switch (kOp) {
    case 0:
      return Value::Bool(c < 0);
    case 1:
      return Value::Bool(c <= 0);
    case 2:
      return Value::Bool(c > 0);
    default:
      return Value::Bool(c >= 0);
  }
}

Value In(const Value* a) {
  const Value& c = a[1];
  if (c.kind() == K::kList) {
    for (int64_t i = 0, n = c.size(); i < n; ++i) {
      if (ValuesEqual(a[0], c.list_element(i))) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (c.kind() == K::kMap) return Value::Bool(c.map_find(a[0]) != nullptr);
  return NoSuchOverload("@in", a, 2);
}

// Converts a numeric list index to int64, or fails.
bool IndexOf(const Value& v, int64_t* out) {
  switch (v.kind()) {
    case K::kInt:
      *out = v.int_value();
      return true;
    case K::kUint:
      if (v.uint_value() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        *out = -1;
        return true;
      }
      *out = static_cast<int64_t>(v.uint_value());
      return true;
    case K::kDouble: {
      double d = v.double_value();
      if (d != std::trunc(d) || !(std::fabs(d) < 9.2e18)) return false;
      *out = static_cast<int64_t>(d);
      return true;
    }
    default:
      return false;
  }
}

Value Index(const Value* a) {
  const Value &c = a[0], &k = a[1];
  if (c.kind() == K::kList) {
    int64_t i;
    if (!IndexOf(k, &i)) {
      if (k.kind() == K::kDouble)
        return Value::Error("invalid_argument: list index is not an integer");
      return NoSuchOverload("_[_]", a, 2);
    }
    if (i < 0 || i >= c.size()) {
      return Value::Error(absl::StrCat("index out of bounds: ", i));
    }
    return c.list_element(i);
  }
  if (c.kind() == K::kMap) {
    if (k.kind() != K::kString && k.kind() != K::kInt && k.kind() != K::kUint &&
        k.kind() != K::kBool && k.kind() != K::kDouble) {
      return NoSuchOverload("_[_]", a, 2);
    }
    const Value* v = c.map_find(k);
    if (v == nullptr) return Value::Error(absl::StrCat("no such key: ", k.DebugString()));
    return *v;
  }
  return NoSuchOverload("_[_]", a, 2);
}

// ---- strings ----

Value Size(const Value* a) {
  switch (a[0].kind()) {
    case K::kString:
    case K::kBytes:
    case K::kList:
    case K::kMap:
      return Value::Int(a[0].size());
    default:
      return NoSuchOverload("size", a, 1);
  }
}

template <int kOp>
Value StrPred(const Value* a) {
  static const char* const kNames[] = {"contains", "startsWith", "endsWith"};
  if (a[0].kind() != K::kString || a[1].kind() != K::kString) {
    return NoSuchOverload(kNames[kOp], a, 2);
  }
  absl::string_view s = a[0].string_value(), t = a[1].string_value();
  switch (kOp) {
    case 0:
      return Value::Bool(absl::StrContains(s, t));
    case 1:
      return Value::Bool(absl::StartsWith(s, t));
    default:
      return Value::Bool(absl::EndsWith(s, t));
  }
}

Value Matches(const Value* a) {
  if (a[0].kind() != K::kString || a[1].kind() != K::kString) {
    return NoSuchOverload("matches", a, 2);
  }
  RE2::Options options;
  options.set_log_errors(false);
  RE2 re(re2::StringPiece(a[1].string_value().data(), a[1].string_value().size()), options);
  if (!re.ok()) return Value::Error(absl::StrCat("invalid regular expression: ", re.error()));
  return Value::Bool(RE2::PartialMatch(
      re2::StringPiece(a[0].string_value().data(), a[0].string_value().size()), re));
}

Value LowerAscii(const Value* a) {
  if (a[0].kind() != K::kString) return NoSuchOverload("lowerAscii", a, 1);
  return Value::String(absl::AsciiStrToLower(a[0].string_value()));
}
Value UpperAscii(const Value* a) {
  if (a[0].kind() != K::kString) return NoSuchOverload("upperAscii", a, 1);
  return Value::String(absl::AsciiStrToUpper(a[0].string_value()));
}
Value Trim(const Value* a) {
  if (a[0].kind() != K::kString) return NoSuchOverload("trim", a, 1);
  return Value::String(std::string(absl::StripAsciiWhitespace(a[0].string_value())));
}

// ---- conversions ----

Value ToInt(const Value* a) {
  const Value& v = a[0];
  switch (v.kind()) {
    case K::kInt:
      return v;
    case K::kUint:
      if (v.uint_value() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Value::Error("range error: uint value out of int range");
      }
      return Value::Int(static_cast<int64_t>(v.uint_value()));
    case K::kDouble: {
      double d = v.double_value();
      if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) {
        return Value::Error("range error: double value out of int range");
      }
      return Value::Int(static_cast<int64_t>(d));
    }
    case K::kString: {
      int64_t i;
      if (!absl::SimpleAtoi(v.string_value(), &i)) {
        return Value::Error(absl::StrCat("cannot convert \"", v.string_value(), "\" to int"));
      }
      return Value::Int(i);
    }
    case K::kTimestamp:
      return Value::Int(absl::ToUnixSeconds(v.timestamp_value()));
    case K::kDuration:
      return Value::Int(absl::ToInt64Seconds(v.duration_value()));
    default:
      return NoSuchOverload("int", a, 1);
  }
}

Value ToUint(const Value* a) {
  const Value& v = a[0];
  switch (v.kind()) {
    case K::kUint:
      return v;
    case K::kInt:
      if (v.int_value() < 0) return Value::Error("range error: negative int to uint");
      return Value::Uint(static_cast<uint64_t>(v.int_value()));
    case K::kDouble: {
      double d = v.double_value();
      if (!(d > -1.0 && d < 18446744073709551616.0)) {
        return Value::Error("range error: double value out of uint range");
      }
      return Value::Uint(static_cast<uint64_t>(d));
    }
    case K::kString: {
      uint64_t u;
      if (!absl::SimpleAtoi(v.string_value(), &u)) {
        return Value::Error(absl::StrCat("cannot convert \"", v.string_value(), "\" to uint"));
      }
      return Value::Uint(u);
    }
    default:
      return NoSuchOverload("uint", a, 1);
  }
}

Value ToDouble(const Value* a) {
  const Value& v = a[0];
  switch (v.kind()) {
    case K::kDouble:
      return v;
    case K::kInt:
      return Value::Double(static_cast<double>(v.int_value()));
    case K::kUint:
      return Value::Double(static_cast<double>(v.uint_value()));
    case K::kString: {
      std::string s(v.string_value());
      if (s == "NaN") return Value::Double(std::nan(""));
      if (s == "Infinity" || s == "+Infinity") return Value::Double(INFINITY);
      if (s == "-Infinity") return Value::Double(-INFINITY);
      char* end = nullptr;
      double d = std::strtod(s.c_str(), &end);
      if (s.empty() || end != s.c_str() + s.size() ||
          absl::StrContains(absl::AsciiStrToLower(s), "n")) {
        return Value::Error(absl::StrCat("cannot convert \"", s, "\" to double"));
      }
      return Value::Double(d);
    }
    default:
      return NoSuchOverload("double", a, 1);
  }
}

Value ToString(const Value* a) {
  const Value& v = a[0];
  switch (v.kind()) {
    case K::kString:
      return v;
    case K::kInt:
      return Value::String(absl::StrCat(v.int_value()));
    case K::kUint:
      return Value::String(absl::StrCat(v.uint_value()));
    case K::kDouble:
      return Value::String(FormatDouble(v.double_value()));
    case K::kBool:
      return Value::String(v.bool_value() ? "true" : "false");
    case K::kBytes:
      if (!ValidUtf8(v.string_value()))
        return Value::Error("invalid UTF-8 in bytes to string conversion");
      return Value::String(std::string(v.string_value()));
    case K::kTimestamp:
      return Value::String(FormatCelTimestamp(v.timestamp_value()));
    case K::kDuration:
      return Value::String(FormatCelDuration(v.duration_value()));
    default:
      return NoSuchOverload("string", a, 1);
  }
}

Value ToBytes(const Value* a) {
  if (a[0].kind() == K::kBytes) return a[0];
  if (a[0].kind() == K::kString) return Value::Bytes(std::string(a[0].string_value()));
  return NoSuchOverload("bytes", a, 1);
}

Value ToBool(const Value* a) {
  if (a[0].kind() == K::kBool) return a[0];
  if (a[0].kind() == K::kString) {
    absl::string_view s = a[0].string_value();
    if (s == "true" || s == "True" || s == "TRUE" || s == "t" || s == "1") return Value::Bool(true);
    if (s == "false" || s == "False" || s == "FALSE" || s == "f" || s == "0")
      return Value::Bool(false);
    return Value::Error(absl::StrCat("cannot convert \"", s, "\" to bool"));
  }
  return NoSuchOverload("bool", a, 1);
}

Value Dyn(const Value* a) { return a[0]; }

Value TypeOf(const Value* a) { return Value::Type(a[0].TypeName()); }

Value ToTimestamp(const Value* a) {
  switch (a[0].kind()) {
    case K::kTimestamp:
      return a[0];
    case K::kString: {
      absl::Time t;
      if (!ParseCelTimestamp(a[0].string_value(), &t)) {
        return Value::Error(absl::StrCat("invalid timestamp \"", a[0].string_value(), "\""));
      }
      return CheckTime(t);
    }
    case K::kInt:
      return CheckTime(absl::FromUnixSeconds(a[0].int_value()));
    default:
      return NoSuchOverload("timestamp", a, 1);
  }
}

Value ToDuration(const Value* a) {
  switch (a[0].kind()) {
    case K::kDuration:
      return a[0];
    case K::kString: {
      absl::Duration d;
      if (!ParseCelDuration(a[0].string_value(), &d)) {
        return Value::Error(absl::StrCat("invalid duration \"", a[0].string_value(), "\""));
      }
      return CheckDuration(d);
    }
    default:
      return NoSuchOverload("duration", a, 1);
  }
}

// ---- timestamp accessors ----

enum class Part {
  kYear,
  kMonth,
  kDate,
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kHours,
  kMinutes,
  kSeconds,
  kMillis
};

bool LoadZone(absl::string_view name, absl::TimeZone* tz) {
  // Fixed offsets ("+05:30", "-08:00") are accepted as well as IANA names.
  if (!name.empty() && (name[0] == '+' || name[0] == '-' || (name.size() == 5 && name[2] == ':'))) {
    int h = 0, m = 0;
    absl::string_view rest = name[0] == '+' || name[0] == '-' ? name.substr(1) : name;
    size_t colon = rest.find(':');
    if (colon == absl::string_view::npos || !absl::SimpleAtoi(rest.substr(0, colon), &h) ||
        !absl::SimpleAtoi(rest.substr(colon + 1), &m)) {
      return false;
    }
    int secs = (h * 60 + m) * 60;
    *tz = absl::FixedTimeZone(name[0] == '-' ? -secs : secs);
    return true;
  }
  return absl::LoadTimeZone(std::string(name), tz);
}

template <Part kPart>
Value TimePart(const Value* a, int arity) {
  static const char* const kNames[] = {
      "getFullYear",  "getMonth", "getDate",    "getDayOfMonth", "getDayOfWeek",
      "getDayOfYear", "getHours", "getMinutes", "getSeconds",    "getMilliseconds"};
  const char* name = kNames[static_cast<int>(kPart)];
  if (a[0].kind() == K::kDuration && arity == 1) {
    absl::Duration d = a[0].duration_value();
    switch (kPart) {
      case Part::kHours:
        return Value::Int(absl::ToInt64Hours(d));
      case Part::kMinutes:
        return Value::Int(absl::ToInt64Minutes(d));
      case Part::kSeconds:
        return Value::Int(absl::ToInt64Seconds(d));
      case Part::kMillis:
        return Value::Int(absl::ToInt64Milliseconds(d) % 1000);
      default:
        return NoSuchOverload(name, a, arity);
    }
  }
  if (a[0].kind() != K::kTimestamp || (arity == 2 && a[1].kind() != K::kString)) {
    return NoSuchOverload(name, a, arity);
  }
  absl::TimeZone tz = absl::UTCTimeZone();
  if (arity == 2 && !LoadZone(a[1].string_value(), &tz)) {
    return Value::Error(absl::StrCat("unknown time zone \"", a[1].string_value(), "\""));
  }
  absl::Time t = a[0].timestamp_value();
  absl::TimeZone::CivilInfo ci = tz.At(t);
  const absl::CivilSecond& cs = ci.cs;
  switch (kPart) {
    case Part::kYear:
      return Value::Int(cs.year());
    case Part::kMonth:
      return Value::Int(cs.month() - 1);
    case Part::kDate:
      return Value::Int(cs.day());
    case Part::kDayOfMonth:
      return Value::Int(cs.day() - 1);
    case Part::kDayOfWeek: {
      // absl::Weekday is Monday=0 .. Sunday=6; CEL wants Sunday=0.
      int wd = static_cast<int>(absl::GetWeekday(cs));
      return Value::Int((wd + 1) % 7);
    }
    case Part::kDayOfYear:
      return Value::Int(absl::GetYearDay(cs) - 1);
    case Part::kHours:
      return Value::Int(cs.hour());
    case Part::kMinutes:
      return Value::Int(cs.minute());
    case Part::kSeconds:
      return Value::Int(cs.second());
    case Part::kMillis:
      return Value::Int(absl::ToInt64Milliseconds(ci.subsecond));
  }
  return Value::Error("unreachable");
}

template <Part kPart>
Value TimePart1(const Value* a) {
  return TimePart<kPart>(a, 1);
}
template <Part kPart>
Value TimePart2(const Value* a) {
  return TimePart<kPart>(a, 2);
}

struct Entry {
  const char* name;
  int arity;
  BuiltinFn fn;
};

const std::vector<Entry>& Table() {
  static const auto* table = new std::vector<Entry>{
      {"_+_", 2, Add},
      {"_-_", 2, Sub},
      {"_*_", 2, Mul},
      {"_/_", 2, Div},
      {"_%_", 2, Mod},
      {"-_", 1, Neg},
      {"_==_", 2, Eq},
      {"_!=_", 2, Ne},
      {"_<_", 2, Rel<0>},
      {"_<=_", 2, Rel<1>},
      {"_>_", 2, Rel<2>},
      {"_>=_", 2, Rel<3>},
      {"@in", 2, In},
      {"_[_]", 2, Index},
      {"size", 1, Size},
      {"contains", 2, StrPred<0>},
      {"startsWith", 2, StrPred<1>},
      {"endsWith", 2, StrPred<2>},
      {"matches", 2, Matches},
      {"lowerAscii", 1, LowerAscii},
      {"upperAscii", 1, UpperAscii},
      {"trim", 1, Trim},
      {"int", 1, ToInt},
      {"uint", 1, ToUint},
      {"double", 1, ToDouble},
      {"string", 1, ToString},
      {"bytes", 1, ToBytes},
      {"bool", 1, ToBool},
      {"dyn", 1, Dyn},
      {"type", 1, TypeOf},
      {"timestamp", 1, ToTimestamp},
      {"duration", 1, ToDuration},
      {"getFullYear", 1, TimePart1<Part::kYear>},
      {"getFullYear", 2, TimePart2<Part::kYear>},
      {"getMonth", 1, TimePart1<Part::kMonth>},
      {"getMonth", 2, TimePart2<Part::kMonth>},
      {"getDate", 1, TimePart1<Part::kDate>},
      {"getDate", 2, TimePart2<Part::kDate>},
      {"getDayOfMonth", 1, TimePart1<Part::kDayOfMonth>},
      {"getDayOfMonth", 2, TimePart2<Part::kDayOfMonth>},
      {"getDayOfWeek", 1, TimePart1<Part::kDayOfWeek>},
      {"getDayOfWeek", 2, TimePart2<Part::kDayOfWeek>},
      {"getDayOfYear", 1, TimePart1<Part::kDayOfYear>},
      {"getDayOfYear", 2, TimePart2<Part::kDayOfYear>},
      {"getHours", 1, TimePart1<Part::kHours>},
      {"getHours", 2, TimePart2<Part::kHours>},
      {"getMinutes", 1, TimePart1<Part::kMinutes>},
      {"getMinutes", 2, TimePart2<Part::kMinutes>},
      {"getSeconds", 1, TimePart1<Part::kSeconds>},
      {"getSeconds", 2, TimePart2<Part::kSeconds>},
      {"getMilliseconds", 1, TimePart1<Part::kMillis>},
      {"getMilliseconds", 2, TimePart2<Part::kMillis>},
  };
  return *table;
}

}  // namespace

BuiltinFn LookupBuiltin(absl::string_view name, int arity) {
  for (const Entry& e : Table()) {
    if (e.arity == arity && name == e.name) return e.fn;
  }
  return nullptr;
}

bool BuiltinExists(absl::string_view name) {
  for (const Entry& e : Table()) {
    if (name == e.name) return true;
  }
  return false;
}

Value NoSuchOverload(absl::string_view name, const Value* args, int arity) {
  std::vector<std::string> types;
  for (int i = 0; i < arity; ++i) types.push_back(args[i].TypeName());
  return Value::Error(
      absl::StrCat("no such overload: ", name, "(", absl::StrJoin(types, ", "), ")"));
}

int CompareValues(const Value& a, const Value& b, bool* comparable) {
  *comparable = true;
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (x > y ? 1 : 0); };
  K ka = a.kind(), kb = b.kind();
  auto is_num = [](K k) { return k == K::kInt || k == K::kUint || k == K::kDouble; };
  if (is_num(ka) && is_num(kb)) {
    if (ka == K::kDouble && std::isnan(a.double_value())) return 2;
    if (kb == K::kDouble && std::isnan(b.double_value())) return 2;
    if (ka == kb) {
      if (ka == K::kInt) return cmp(a.int_value(), b.int_value());
      if (ka == K::kUint) return cmp(a.uint_value(), b.uint_value());
      return cmp(a.double_value(), b.double_value());
    }
    if (ka == K::kInt && kb == K::kUint) {
      if (a.int_value() < 0) return -1;
      return cmp(static_cast<uint64_t>(a.int_value()), b.uint_value());
    }
    if (ka == K::kUint && kb == K::kInt) {
      if (b.int_value() < 0) return 1;
      return cmp(a.uint_value(), static_cast<uint64_t>(b.int_value()));
    }
    // One side is a double: compare as doubles, as cel-spec does.
    auto as_d = [](const Value& v) -> double {
      switch (v.kind()) {
        case K::kInt:
          return static_cast<double>(v.int_value());
        case K::kUint:
          return static_cast<double>(v.uint_value());
        default:
          return v.double_value();
      }
    };
    return cmp(as_d(a), as_d(b));
  }
  if (ka != kb) {
    *comparable = false;
    return 0;
  }
  switch (ka) {
    case K::kBool:
      return cmp(a.bool_value(), b.bool_value());
    case K::kString:
    case K::kBytes: {
      int c = a.string_value().compare(b.string_value());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    case K::kTimestamp:
    case K::kDuration:
      return cmp(a.duration_value(), b.duration_value());
    default:
      *comparable = false;
      return 0;
  }
}

bool ParseCelTimestamp(absl::string_view text, absl::Time* out) {
  std::string err;
  // RFC 3339: a 'T' separator and an explicit offset or 'Z' are required.
  if (text.size() < 20 || (text[10] != 'T' && text[10] != 't')) return false;
  return absl::ParseTime(absl::RFC3339_full, std::string(text), out, &err);
}

bool ParseCelDuration(absl::string_view text, absl::Duration* out) {
  if (text.empty() || absl::StrContains(text, "inf")) return false;
  std::string s(text);
  // CEL durations may use "us"/"µs"; absl accepts "us".
  return absl::ParseDuration(s, out);
}

}  // namespace dealcoach::expr
