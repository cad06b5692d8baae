// Runs the cel-spec conformance suites (converted to JSON by scripts/gen-conformance.mjs)
// against the expression language and checks the value or error of every test.
//
// Every skipped test must be listed in skip.txt with its reason; a test that needs a
// feature outside the subset and is not listed there counts as a failure, and any
// failure fails the run. Every suite cel-spec ships is either converted or listed in
// skip.txt as `suite:<name> -- reason`. Set CONFORMANCE_VERBOSE=1 to print every failure.
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sidecar/expr/expr.h"

namespace dealcoach::expr {
namespace {

using Json = nlohmann::json;

struct Skip {
  std::string pattern;  // "suite/name" or a prefix ending in '*'
  std::string reason;
  mutable int used = 0;
};

// A whole cel-spec suite that gen-conformance.mjs does not convert.
constexpr absl::string_view kSuitePrefix = "suite:";

// Test entries go to the result, `suite:<name>` entries to *suites.
std::vector<Skip> LoadSkips(std::vector<Skip>* suites) {
  std::vector<Skip> skips;
  std::ifstream in(DEALCOACH_CONFORMANCE_SKIPS);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(l, absl::MaxSplits(" -- ", 1));
    Skip s;
    s.pattern = std::string(absl::StripAsciiWhitespace(parts[0]));
    s.reason = parts.size() > 1 ? parts[1] : "";
    if (absl::StartsWith(s.pattern, kSuitePrefix)) {
      s.pattern.erase(0, kSuitePrefix.size());
      suites->push_back(std::move(s));
    } else {
      skips.push_back(std::move(s));
    }
  }
  return skips;
}

const Skip* FindSkip(const std::vector<Skip>& skips, const std::string& id) {
  for (const Skip& s : skips) {
    if (!s.pattern.empty() && s.pattern.back() == '*') {
      if (id.compare(0, s.pattern.size() - 1, s.pattern, 0, s.pattern.size() - 1) == 0) return &s;
    } else if (s.pattern == id) {
      return &s;
    }
  }
  return nullptr;
}

// Converts a {"t": kind, "v": ...} value; false when it is outside the subset.
bool ToValue(const Json& j, Value* out) {
  const std::string t = j.at("t").get<std::string>();
  const Json& v = j.at("v");
  if (t == "int") {
    int64_t i;
    if (!absl::SimpleAtoi(v.get<std::string>(), &i)) return false;
    *out = Value::Int(i);
  } else if (t == "uint") {
    uint64_t u;
    if (!absl::SimpleAtoi(v.get<std::string>(), &u)) return false;
    *out = Value::Uint(u);
  } else if (t == "double") {
    if (v.is_string()) {
      std::string s = v.get<std::string>();
      *out = Value::Double(s == "NaN" ? std::nan("") : (s == "-Infinity" ? -INFINITY : INFINITY));
    } else {
      *out = Value::Double(v.get<double>());
    }
  } else if (t == "string") {
    *out = Value::String(v.get<std::string>());
  } else if (t == "bytes") {
    *out = Value::Bytes(absl::HexStringToBytes(v.get<std::string>()));
  } else if (t == "bool") {
    *out = Value::Bool(v.get<bool>());
  } else if (t == "null") {
    *out = Value::Null();
  } else if (t == "type") {
    *out = Value::Type(v.get<std::string>());
  } else if (t == "list") {
    std::vector<Value> elems;
    for (const Json& e : v) {
      Value ev;
      if (!ToValue(e, &ev)) return false;
      elems.push_back(ev);
    }
    *out = Value::List(std::move(elems));
  } else if (t == "map") {
    MapEntries entries;
    for (const Json& e : v) {
      Value k, ev;
      if (!ToValue(e.at(0), &k) || !ToValue(e.at(1), &ev)) return false;
      entries.emplace_back(k, ev);
    }
    *out = Value::Map(std::move(entries));
  } else if (t == "timestamp") {
    absl::Time time;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, v.get<std::string>(), &time, &err)) return false;
    *out = Value::Timestamp(time);
  } else if (t == "duration") {
    absl::Duration d;
    std::string s = v.get<std::string>();
    if (!absl::ParseDuration(s, &d)) return false;
    *out = Value::Duration(d);
  } else {
    return false;
  }
  return true;
}

// Exact equality: same kind (1 != 1u here), NaN == NaN, deep for lists and maps.
bool Same(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kDouble:
      if (std::isnan(a.double_value())) return std::isnan(b.double_value());
      return a.double_value() == b.double_value();
    case ValueKind::kList:
      if (a.size() != b.size()) return false;
      for (int64_t i = 0; i < a.size(); ++i) {
        if (!Same(a.list_element(i), b.list_element(i))) return false;
      }
      return true;
    case ValueKind::kMap:
      if (a.size() != b.size()) return false;
      for (const auto& [k, v] : a.map_entries()) {
        const Value* other = b.map_find(k);
        if (other == nullptr || !Same(v, *other)) return false;
      }
      return true;
    default:
      return ValuesEqual(a, b);
  }
}

enum class Outcome { kPass, kSkip, kFail };

struct Result {
  Outcome outcome;
  std::string detail;
};

Result RunOne(const Json& t) {
  Environment env;
  CompileOptions options;
  options.check_types = t.at("check").get<bool>();
  // Deep-nesting parse tests go beyond the playbook default of 128.
  options.limits.max_depth = 512;
  for (const Json& d : t.at("env")) {
    std::string type = d.at("type").get<std::string>();
    if (type.rfind("unsupported", 0) == 0)
      return {Outcome::kFail, "unsupported declaration " + type};
    absl::Status s = env.DeclareVariable(d.at("name").get<std::string>(), type);
    if (!s.ok()) return {Outcome::kFail, s.ToString()};
  }
  Activation act;
  for (auto it = t.at("bindings").begin(); it != t.at("bindings").end(); ++it) {
    Value v;
    if (!ToValue(it.value(), &v))
      return {Outcome::kFail, "unsupported binding " + it.value().dump()};
    bool declared = false;
    for (const Json& d : t.at("env")) declared = declared || d.at("name") == it.key();
    if (!declared) env.DeclareDynVariable(it.key());
    act.SetValue(it.key(), v);
  }
  const Json& expect = t.at("expect");
  bool want_error = expect.contains("error");
  Value want;
  if (!want_error && !ToValue(expect, &want)) {
    return {Outcome::kFail, "unsupported expected value " + expect.dump()};
  }
  CompileResult r = Compile(t.at("expr").get<std::string>(), env, options);
  if (!r.ok()) {
    std::string msg = r.issues.empty() ? "" : r.issues[0].message;
    if (want_error) return {Outcome::kPass, ""};
    return {Outcome::kFail, "compile error: " + msg};
  }
  Value got = r.program->Evaluate(act);
  if (want_error) {
    if (got.is_error()) return {Outcome::kPass, ""};
    return {Outcome::kFail, absl::StrCat("want error '", expect.at("error").get<std::string>(),
                                         "', got ", got.DebugString())};
  }
  if (Same(want, got)) return {Outcome::kPass, ""};
  return {Outcome::kFail, absl::StrCat("want ", want.DebugString(), ", got ", got.DebugString())};
}

struct Counts {
  int pass = 0, skip = 0, fail = 0;
};

class Conformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::ifstream in(DEALCOACH_CONFORMANCE_DATA);
    ASSERT_TRUE(in.good()) << "missing " << DEALCOACH_CONFORMANCE_DATA;
    Json data = Json::parse(in);
    suite_skips_ = new std::vector<Skip>();
    skips_ = new std::vector<Skip>(LoadSkips(suite_skips_));
    all_suites_ = new std::vector<std::string>(data.at("suites").get<std::vector<std::string>>());
    counts_ = new std::map<std::string, Counts>();
    failures_ = new std::vector<std::string>();
    bool verbose = std::getenv("CONFORMANCE_VERBOSE") != nullptr;
    for (const Json& t : data.at("tests")) {
      std::string suite = t.at("suite").get<std::string>();
      std::string id = suite + "/" + t.at("name").get<std::string>();
      Counts& c = (*counts_)[suite];
      if (const Skip* s = FindSkip(*skips_, id)) {
        ++s->used;
        ++c.skip;
        continue;
      }
      Result r = RunOne(t);
      if (r.outcome == Outcome::kPass) {
        ++c.pass;
      } else {
        ++c.fail;
        failures_->push_back(
            absl::StrCat(id, ": ", t.at("expr").get<std::string>(), " -> ", r.detail));
        if (verbose) std::cout << "FAIL " << failures_->back() << "\n";
      }
    }
    Counts total;
    std::cout << "\ncel-spec conformance\n";
    std::cout << "suite            pass  skip  fail\n";
    for (const auto& [suite, c] : *counts_) {
      std::printf("%-15s %5d %5d %5d\n", suite.c_str(), c.pass, c.skip, c.fail);
      total.pass += c.pass;
      total.skip += c.skip;
      total.fail += c.fail;
    }
    std::printf("%-15s %5d %5d %5d\n\n", "TOTAL", total.pass, total.skip, total.fail);
  }

  static std::vector<Skip>* skips_;
  static std::vector<Skip>* suite_skips_;
  static std::vector<std::string>* all_suites_;
  static std::map<std::string, Counts>* counts_;
  static std::vector<std::string>* failures_;
};

std::vector<Skip>* Conformance::skips_ = nullptr;
std::vector<Skip>* Conformance::suite_skips_ = nullptr;
std::vector<std::string>* Conformance::all_suites_ = nullptr;
std::map<std::string, Counts>* Conformance::counts_ = nullptr;
std::vector<std::string>* Conformance::failures_ = nullptr;

TEST_F(Conformance, EveryNonSkippedTestPasses) {
  for (const auto& [suite, c] : *counts_) {
    EXPECT_EQ(c.fail, 0) << suite << ": " << c.fail << " of " << c.pass + c.fail << " failed";
  }
  for (const std::string& f : *failures_) ADD_FAILURE() << f;
  // Guards against an empty or truncated data file passing vacuously.
  int pass = 0;
  for (const auto& [suite, c] : *counts_) pass += c.pass;
  EXPECT_GT(pass, 1000);
}

TEST_F(Conformance, EveryCelSpecSuiteIsConvertedOrSkipped) {
  ASSERT_FALSE(all_suites_->empty());
  std::set<std::string> known(all_suites_->begin(), all_suites_->end());
  std::map<std::string, const Skip*> skipped;
  for (const Skip& s : *suite_skips_) {
    EXPECT_TRUE(known.count(s.pattern)) << "skip.txt names no cel-spec suite: suite:" << s.pattern;
    EXPECT_FALSE(s.reason.empty()) << "skip.txt entry without a reason: suite:" << s.pattern;
    EXPECT_FALSE(counts_->count(s.pattern)) << "suite:" << s.pattern << " is skipped but converted";
    skipped[s.pattern] = &s;
  }
  for (const std::string& suite : *all_suites_) {
    EXPECT_TRUE(counts_->count(suite) || skipped.count(suite))
        << "cel-spec suite '" << suite
        << "' is neither converted (scripts/gen-conformance.mjs) nor in skip.txt";
  }
}

TEST_F(Conformance, EverySkipEntryMatchesATest) {
  for (const Skip& s : *skips_) {
    EXPECT_GT(s.used, 0) << "stale skip.txt entry: " << s.pattern;
    EXPECT_FALSE(s.reason.empty()) << "skip.txt entry without a reason: " << s.pattern;
  }
}

}  // namespace
}  // namespace dealcoach::expr
