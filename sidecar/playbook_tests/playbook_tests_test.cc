// RunPlaybookTests: inline tests documents, the resolver contract and YAML bounds.
#include "sidecar/playbook_tests/playbook_tests.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dealcoach::playbook_tests {
namespace {

using ::testing::HasSubstr;

constexpr char kPlaybook[] =
    "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: mini, version: 1}\n"
    "phases: [{id: a, crm_stages: [Prospecting]}]\n";

TEST(PlaybookTestsTest, InlineTestsDocumentRuns) {
  engine::LoadResult r = engine::LoadPlaybook(kPlaybook, "mini.yaml");
  ASSERT_TRUE(r.ok());
  TestsInput input;
  input.yaml =
      "now: 2026-11-20T12:00:00Z\ntests:\n  - name: ok\n    opportunity: {stage: Prospecting}\n"
      "    expect: {phase: a, claimed_phase: a}\n";
  auto results = RunPlaybookTests(*r.playbook, input);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_TRUE((*results)[0].passed());
}

TEST(PlaybookTestsTest, OpportunityFileWithoutResolverFails) {
  engine::LoadResult r = engine::LoadPlaybook(kPlaybook, "mini.yaml");
  ASSERT_TRUE(r.ok());
  TestsInput input;
  input.file_name = "mini_test.yaml";
  input.yaml =
      "now: 2026-11-20T12:00:00Z\ntests:\n  - name: reads\n    opportunity_file: /etc/passwd\n"
      "    expect: {phase: a}\n";
  auto results = RunPlaybookTests(*r.playbook, input);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 1u);
  EXPECT_FALSE((*results)[0].passed());
  EXPECT_THAT((*results)[0].failures(0),
              HasSubstr("mini_test.yaml:4:23: opportunity_file: tests here cannot read files"));
}

TEST(PlaybookTestsTest, ResolverErrorsAreFailures) {
  engine::LoadResult r = engine::LoadPlaybook(kPlaybook, "mini.yaml");
  ASSERT_TRUE(r.ok());
  TestsInput input;
  int calls = 0;
  input.resolver = [&calls](absl::string_view) -> absl::StatusOr<std::string> {
    ++calls;
    return absl::NotFoundError("no such file");
  };
  input.yaml =
      "- {name: one, now: 2026-11-20T12:00:00Z, opportunity_file: x.json, expect: {phase: a}}\n"
      "- {name: two, now: 2026-11-20T12:00:00Z, opportunity_file: x.json, expect: {phase: a}}\n";
  auto results = RunPlaybookTests(*r.playbook, input);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 2u);
  EXPECT_THAT((*results)[1].failures(0), HasSubstr("cannot read 'x.json': no such file"));
  EXPECT_EQ(calls, 1);  // resolved once per name
}

TEST(PlaybookTestsTest, TestsDocumentIsBounded) {
  engine::LoadResult r = engine::LoadPlaybook(kPlaybook, "mini.yaml");
  ASSERT_TRUE(r.ok());
  TestsInput input;
  input.file_name = "t.yaml";
  input.yaml = std::string(200, '[') + std::string(200, ']');
  auto deep = RunPlaybookTests(*r.playbook, input);
  EXPECT_EQ(deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(deep.status().message(), HasSubstr("t.yaml:1:65: nesting deeper than 64"));
}

// A "billion laughs" document (10^9 nodes once expanded) of under 1 KB.
std::string BillionLaughs() {
  std::string y = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += (k ? ", " : "") + prev;
    y += "]\n";
  }
  return y;
}

TEST(YamlBoundsTest, BillionLaughsIsRejected) {
  const std::string y = BillionLaughs();
  ASSERT_LT(y.size(), 1024u);
  engine::LoadResult r = engine::LoadPlaybook(y, "laughs.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_THAT(r.diagnostics[0].message(), HasSubstr("expands to more than 100000 nodes"));
}

TEST(YamlBoundsTest, DeepNestingIsRejectedNotCrashed) {
  for (const std::string& y : {std::string(100000, '['), std::string(100000, '{'), [] {
                                 std::string s;
                                 for (int i = 0; i < 5000; ++i) s += "- ";
                                 return s + "x\n";
                               }()}) {
    engine::LoadResult r = engine::LoadPlaybook(y, "deep.yaml");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 1u);
    EXPECT_THAT(r.diagnostics[0].message(), HasSubstr("nesting deeper than 64"));
  }
}

// A lone quote in a block scalar makes the syntax-aware scan think a quoted scalar runs
// on; the raw count still catches the bracket flood behind it.
TEST(YamlBoundsTest, QuoteInBlockScalarCannotHideABracketFlood) {
  const std::string y = "a: |\n  \"\nb: " + std::string(5000, '[');
  engine::LoadResult r = engine::LoadPlaybook(y, "hide.yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_THAT(r.diagnostics[0].message(), HasSubstr("nesting deeper than 64"));
  EXPECT_EQ(r.diagnostics[0].line(), 3);
}

TEST(YamlBoundsTest, SizeCapAndModestAliasesAreFine) {
  engine::LoadResult big = engine::LoadPlaybook(std::string((1 << 20) + 1, '#'), "big.yaml");
  ASSERT_EQ(big.diagnostics.size(), 1u);
  EXPECT_THAT(big.diagnostics[0].message(), HasSubstr("the limit is 1048576"));
  // Aliases within the budget are fine (the shipped playbooks use none, but may).
  engine::LoadResult aliased = engine::LoadPlaybook(
      "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: &m {name: mini, version: 1}\n"
      "phases: [{id: a, crm_stages: [Prospecting], description: &d hello}, {id: b, "
      "description: *d}]\n",
      "aliased.yaml");
  EXPECT_TRUE(aliased.ok()) << (aliased.diagnostics.empty() ? ""
                                                            : aliased.diagnostics[0].message());
}

}  // namespace
}  // namespace dealcoach::playbook_tests
