// Bounded random-input fuzzing of parse/check/evaluate. Seeds are the cel-spec
// conformance expressions plus typical playbook conditions; each round mutates one
// (byte flips, token insertions, deletions, splices) and feeds it to FuzzOne, which
// asserts that nothing crashes and that every failure is a clean, positioned Issue.
//
// Deterministic by default (seed 1); FUZZ_SEED and FUZZ_ROUNDS override it.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_target.h"

namespace dealcoach::expr::fuzz {
namespace {

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds = {
      "opp.amount > 50000",
      "opp.contacts.filter(c, c.confirmed_pain).size() >= 2",
      "now - opp.close_date > duration('504h')",
      "opp.name.matches('^A.*e$') && opp.fields.tier == 'gold'",
      "has(opp.close_date) ? opp.close_date.getFullYear('America/New_York') : 0",
      "opp.contacts.exists(c, 'champion' in c.roles) || !opp.fields.decision_to_change",
      "x.map(e, type(e)) == [int, string, double]",
      "m.k + 1 == 8 && {'a': [1, 2u, 3.0]}.a.size() == 3",
      "opp.contacts.all(i, c, i >= 0 && c.name != '')",
      "r'raw\\d' + '''triple''' + b'\\x00'.size().string()",
  };
  std::ifstream in(DEALCOACH_CONFORMANCE_DATA);
  if (in.good()) {
    nlohmann::json data = nlohmann::json::parse(in);
    for (const auto& t : data.at("tests")) seeds.push_back(t.at("expr").get<std::string>());
  }
  return seeds;
}

const char* const kTokens[] = {
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ".",
    ",",
    ":",
    "?",
    "||",
    "&&",
    "!",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    " in ",
    "+",
    "-",
    "*",
    "/",
    "%",
    "opp",
    "now",
    "x",
    "m",
    "c",
    "size",
    "has(",
    ".filter(c, ",
    ".map(c, ",
    ".exists(c, ",
    ".all(c, ",
    "'",
    "\"",
    "'''",
    "r'",
    "b'",
    "\\",
    "\\x",
    "\\u",
    "0x",
    "9223372036854775807",
    "18446744073709551615u",
    "1e308",
    "-",
    "null",
    "true",
    "false",
    "duration('1h')",
    "timestamp('2026-03-08T07:00:00Z')",
    ".fields.",
    ".contacts",
    ".amount",
    "`",
    "//",
    "\n",
    "int(",
    "string(",
    "dyn(",
    "type(",
    ".matches('",
    "getHours('America/New_York')",
    "\xff",
    "\xc3\xa9",
};

std::string Mutate(std::string s, const std::vector<std::string>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 6) {
      case 0:  // flip a byte
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng() % 256);
        break;
      case 1:  // insert a token
        s.insert(pick(s.size() + 1), kTokens[pick(sizeof(kTokens) / sizeof(kTokens[0]))]);
        break;
      case 2: {  // delete a range
        if (s.empty()) break;
        size_t at = pick(s.size());
        s.erase(at, 1 + pick(std::min<size_t>(8, s.size() - at)));
        break;
      }
      case 3: {  // splice another seed
        const std::string& o = seeds[pick(seeds.size())];
        size_t at = pick(s.size() + 1);
        size_t from = pick(o.size() + 1);
        s = s.substr(0, at) + o.substr(from);
        break;
      }
      case 4: {  // duplicate a range (grows nesting)
        if (s.empty()) break;
        size_t at = pick(s.size());
        std::string part = s.substr(at, 1 + pick(16));
        s.insert(at, part);
        break;
      }
      default:  // wrap in parentheses or a negation
        s = (rng() % 2 ? "(" + s + ")" : "!" + s);
        break;
    }
  }
  return s;
}

TEST(ExprFuzz, RandomAndMutatedExpressionsFailCleanly) {
  uint64_t seed = 1;
  if (const char* env = std::getenv("FUZZ_SEED")) seed = std::strtoull(env, nullptr, 10);
  int rounds = 30000;
  if (const char* env = std::getenv("FUZZ_ROUNDS")) rounds = std::atoi(env);
  std::mt19937_64 rng(seed);
  std::vector<std::string> seeds = Seeds();
  ASSERT_GT(seeds.size(), 100u);

  // Every seed as is first.
  int compiled = 0;
  for (const std::string& s : seeds) {
    FuzzOutcome out = FuzzOne(s);
    ASSERT_TRUE(out.violation.empty()) << s << ": " << out.violation;
    compiled += out.compiled;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int run = 0, mutated_compiled = 0;
  for (; run < rounds && std::chrono::steady_clock::now() < deadline; ++run) {
    std::string input = Mutate(seeds[rng() % seeds.size()], seeds, rng);
    if (rng() % 20 == 0) {  // pure random bytes now and then
      input.clear();
      for (size_t n = rng() % 64; n > 0; --n) input.push_back(static_cast<char>(rng() % 256));
    }
    FuzzOutcome out = FuzzOne(input);
    ASSERT_TRUE(out.violation.empty())
        << "seed " << seed << " round " << run << ": " << out.violation << "\ninput: " << input;
    mutated_compiled += out.compiled;
  }
  std::cout << "fuzz: " << seeds.size() << " seeds (" << compiled << " compile), " << run
            << " mutations (" << mutated_compiled << " compile)\n";
  // The mutator must reach the evaluator, not only the parser.
  EXPECT_GT(mutated_compiled, run / 50);
}

}  // namespace
}  // namespace dealcoach::expr::fuzz
