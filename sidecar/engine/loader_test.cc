// Loader tests: every diagnostic the loader emits, with its exact line:col and message.
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::engine {
namespace {

using ::testing::ElementsAre;

// "line:col: message" for each diagnostic, in order.
[[maybe_unused]] std::vector<std::string> Messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    out.push_back(std::to_string(d.line()) + ":" + std::to_string(d.column()) + ": " + d.message());
  }
  return out;
}

LoadResult Load(const std::string& yaml) { return LoadPlaybook(yaml, "pb.yaml"); }

// A small valid playbook; tests append or substitute pieces.
constexpr char kHeader[] = R"(apiVersion: dealcoach/v1
kind: Playbook
metadata: {name: test, version: 3}
fields:
  decision_to_change: bool
roles: [economic_buyer, champion]
)";

// One phase with one criterion whose `when:` line is given (line 12 of the file).
std::string WithWhen(const std::string& when_line) {
  return std::string(kHeader) +
         "phases:\n"            // 7
         "  - id: a\n"          // 8
         "    exit_gate:\n"     // 9
         "      - id: c\n"      // 10
         "        text: t\n" +  // 11
         when_line +
         "\n";  // 12
}

TEST(LoaderTest, ValidPlaybookLoads) {
  LoadResult r = Load(WithWhen("        when: opp.amount > 1"));
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : FormatDiagnostic(r.diagnostics[0]));
  EXPECT_TRUE(r.diagnostics.empty());
  EXPECT_EQ(r.ref.name(), "test");
  EXPECT_EQ(r.ref.version(), 3);
  EXPECT_EQ(r.playbook->ref().revision(), r.ref.revision());
  EXPECT_EQ(r.playbook->file_name(), "pb.yaml");
}

TEST(LoaderTest, RevisionIsAContentHash) {
  LoadResult a = Load(WithWhen("        when: opp.amount > 1"));
  LoadResult b = Load(WithWhen("        when: opp.amount > 2"));
  LoadResult c = Load(WithWhen("        when: opp.amount > 1"));
  EXPECT_EQ(a.ref.revision().size(), 16u);
  EXPECT_NE(a.ref.revision(), b.ref.revision());
  EXPECT_EQ(a.ref.revision(), c.ref.revision());
}

TEST(LoaderTest, MalformedYaml) {
  LoadResult r = Load("apiVersion: dealcoach/v1\nkind: [Playbook\nmetadata: x\n");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Messages(r), ElementsAre("3:9: malformed YAML: end of sequence flow not found"));
  EXPECT_EQ(r.diagnostics[0].snippet(), "metadata: x\n        ^");
}

TEST(LoaderTest, NotAMapping) {
  EXPECT_THAT(Messages(Load("- a\n- b\n")),
              ElementsAre("1:1: a playbook must be a YAML mapping with apiVersion, kind, metadata "
                          "and phases; got a sequence"));
}

TEST(LoaderTest, MissingKeyAndUnknownKeyWithSuggestion) {
  LoadResult r = Load(std::string(kHeader) + "phasez: []\n");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Messages(r),
              ElementsAre("1:1: playbook: missing required key 'phases'",
                          "7:1: playbook: unknown key 'phasez'; did you mean 'phases'?"));
}

TEST(LoaderTest, UnknownKeyWithoutSuggestionListsTheKeys) {
  LoadResult r = Load(WithWhen("        when: opp.amount > 1\n        colour: red"));
  EXPECT_THAT(Messages(r), ElementsAre("13:9: exit-gate criterion #1 of phase 'a': unknown key "
                                       "'colour'; expected one of: id, text, when, hint"));
}

TEST(LoaderTest, HeaderChecks) {
  LoadResult r = Load(
      "apiVersion: dealcoach/v2\nkind: Playbok\nmetadata: {name: Bad Name, version: x}\n"
      "phases: []\n");
  EXPECT_THAT(Messages(r),
              ElementsAre("1:13: unsupported apiVersion 'dealcoach/v2'; use 'dealcoach/v1'",
                          "2:7: kind must be 'Playbook', got 'Playbok'",
                          "3:18: metadata: name 'Bad Name' must use lower-case letters, digits, "
                          "'-' or '_'",
                          "3:37: metadata: 'version' must be an integer, got 'x'",
                          "4:9: phases: a playbook needs at least one phase"));
}

TEST(LoaderTest, FieldTypes) {
  LoadResult r = Load(
      "apiVersion: dealcoach/v1\nkind: Playbook\nmetadata: {name: t, version: 1}\n"
      "fields:\n  a: boolean\n  b: {type: strin}\n  c: {kind: int}\n"
      "phases: [{id: p}]\n");
  EXPECT_THAT(
      Messages(r),
      ElementsAre("5:6: field 'a': unknown type 'boolean'; use one of bool, int, double, string, "
                  "timestamp",
                  "6:13: field 'b': unknown type 'strin'; did you mean 'string'?",
                  "7:6: field 'c': missing required key 'type'",
                  "7:7: field 'c': unknown key 'kind'; expected one of: type, description"));
}

TEST(LoaderTest, DuplicateIds) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - id: a\n"
                      "    exit_gate:\n"
                      "      - {id: c, text: t, when: 'true'}\n"
                      "    behaviors:\n"
                      "      - {id: c, prompt: p}\n"
                      "  - id: a\n");
  EXPECT_THAT(Messages(r),
              ElementsAre("12:14: duplicate behavior id 'c' (first defined at line 10); exit-gate "
                          "criteria and behaviors of a phase share one id space",
                          "13:9: duplicate phase id 'a' (first defined at line 8)"));
}

TEST(LoaderTest, StageMappedToTwoPhases) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - {id: a, crm_stages: [Prospecting, Qualification]}\n"
                      "  - {id: b, crm_stages: [' qualification ']}\n");
  EXPECT_THAT(Messages(r),
              ElementsAre("9:26: CRM stage ' qualification ' is already mapped to phase 'a' "
                          "(line 8); a stage can map to one phase only"));
}

TEST(LoaderTest, BadReferences) {
  LoadResult r = Load(std::string(kHeader) +
                      "content:\n"
                      "  - {id: guide, title: G, url: 'https://x', phases: [awarenes]}\n"
                      "phases:\n"
                      "  - id: awareness\n"
                      "    behaviors:\n"
                      "      - {id: b, prompt: p, role: econmic_buyer, content: [gide]}\n"
                      "behaviors:\n"
                      "  - {id: g, prompt: p, phases: [awarness], priority: 120}\n"
                      "risks:\n"
                      "  - {id: r, text: t, when: 'true', severity: hgh}\n");
  EXPECT_THAT(
      Messages(r),
      ElementsAre("8:53: content 'guide': unknown phase 'awarenes'; did you mean 'awareness'?",
                  "12:34: behavior 'awareness/b': unknown role 'econmic_buyer'; did you mean "
                  "'economic_buyer'?",
                  "12:59: behavior 'awareness/b': unknown content id 'gide'; did you mean 'guide'?",
                  "14:32: behavior 'behavior/g': unknown phase 'awarness'; did you mean "
                  "'awareness'?",
                  "14:54: behavior 'behavior/g': priority must be between 0 and 100, got 120",
                  "16:46: risk 'risk/r': unknown severity 'hgh'; did you mean 'high'?"));
}

TEST(LoaderTest, TypeErrorInPlainScalar) {
  LoadResult r = Load(WithWhen("        when: opp.amout > 1"));
  EXPECT_THAT(Messages(r),
              ElementsAre("12:19: undefined field 'amout' on dealcoach.v1.Opportunity; did you "
                          "mean 'amount'? (in 'when' of criterion 'a/c')"));
  EXPECT_EQ(r.diagnostics[0].snippet(), "        when: opp.amout > 1\n                  ^");
}

TEST(LoaderTest, TypeErrorInDoubleQuotedScalar) {
  LoadResult r =
      Load(WithWhen("        when: \"opp.amount > 1 && opp.fields.decision_to_chnage\""));
  EXPECT_THAT(Messages(r),
              ElementsAre("12:45: undeclared custom field 'decision_to_chnage' (declare it in the "
                          "playbook's custom fields); did you mean 'decision_to_change'? (in "
                          "'when' of criterion 'a/c')"));
}

TEST(LoaderTest, TypeErrorInDoubleQuotedScalarAfterAnEscape) {
  // \" is one character of the value but two in the file.
  LoadResult r = Load(WithWhen("        when: \"opp.stage == \\\"x\\\" && opp.nme == 'y'\""));
  EXPECT_THAT(Messages(r), ElementsAre("12:42: undefined field 'nme' on dealcoach.v1.Opportunity; "
                                       "did you mean 'name'? (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, TypeErrorInSingleQuotedScalarWithEscapedQuote) {
  // '' inside a single-quoted scalar is one character of the value but two in the file.
  LoadResult r = Load(WithWhen("        when: '''x'' == opp.nme'"));
  EXPECT_THAT(Messages(r), ElementsAre("12:29: undefined field 'nme' on dealcoach.v1.Opportunity; "
                                       "did you mean 'name'? (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, TypeErrorInLiteralBlockScalar) {
  LoadResult r =
      Load(WithWhen("        when: |\n          opp.amount > 1 &&\n"
                    "            opp.stag == \"x\""));
  EXPECT_THAT(Messages(r),
              ElementsAre("14:17: undefined field 'stag' on dealcoach.v1.Opportunity; did you "
                          "mean 'stage'? (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, TypeErrorInFoldedBlockScalar) {
  LoadResult r =
      Load(WithWhen("        when: >-\n          opp.amount > 1\n"
                    "          && opp.contacts.exists(c, c.rols.size() > 0)"));
  EXPECT_THAT(Messages(r),
              ElementsAre("14:39: undefined field 'rols' on dealcoach.v1.Contact; did you mean "
                          "'roles'? (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, TypeErrorInMultiLinePlainScalar) {
  LoadResult r = Load(WithWhen("        when: opp.amount > 1\n          && opp.nam == \"x\""));
  EXPECT_THAT(Messages(r), ElementsAre("13:18: undefined field 'nam' on dealcoach.v1.Opportunity; "
                                       "did you mean 'name'? (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, SyntaxErrorAtEndOfExpression) {
  LoadResult r = Load(WithWhen("        when: opp.amount >"));
  EXPECT_THAT(Messages(r), ElementsAre("12:27: syntax error: expected an expression, found end of "
                                       "expression (in 'when' of criterion 'a/c')"));
}

TEST(LoaderTest, NonBoolCondition) {
  LoadResult r = Load(WithWhen("        when: opp.amount"));
  EXPECT_THAT(Messages(r), ElementsAre("12:15: criterion 'a/c': 'when' must be a condition "
                                       "(bool), but this expression has type double"));
}

TEST(LoaderTest, WhenMustBeAScalar) {
  LoadResult r = Load(WithWhen("        when: [opp.amount]"));
  EXPECT_THAT(Messages(r), ElementsAre("12:15: criterion 'a/c': 'when' must be an expression "
                                       "string, got a sequence"));
}

TEST(LoaderTest, MisspeltRoleLiteral) {
  LoadResult r = Load(WithWhen("        when: opp.contacts.exists(x, \"champoin\" in x.roles)"));
  EXPECT_THAT(Messages(r), ElementsAre("12:39: unknown role 'champoin'; did you mean 'champion'?"));
}

TEST(LoaderTest, RoleLiteralsInEveryQuoteStyle) {
  LoadResult r =
      Load(WithWhen("        when: >-\n          opp.contacts.exists(x, 'champion' in x.roles\n"
                    "          || \"economic_buyer\" in x.roles || 'boss' in  x.roles)"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Messages(r),
              ElementsAre("14:46: unknown role 'boss'; declared roles: economic_buyer, champion"));
}

TEST(LoaderTest, MissingRequiredKeysOfACriterion) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - id: a\n"
                      "    exit_gate:\n"
                      "      - id: c\n");
  EXPECT_THAT(
      Messages(r),
      ElementsAre("10:9: exit-gate criterion #1 of phase 'a': missing required key 'text'",
                  "10:9: exit-gate criterion #1 of phase 'a': missing required key 'when'"));
}

TEST(LoaderTest, WrongNodeKinds) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - id: a\n"
                      "    exit_gate: {id: c}\n"
                      "    coaching_questions: [[q]]\n"
                      "checklists: [x]\n");
  EXPECT_THAT(Messages(r),
              ElementsAre("9:16: phase 'a': exit_gate: expected a sequence (a list), got a mapping",
                          "10:26: phase 'a': 'coaching_questions' entries must be strings, got a "
                          "sequence",
                          "11:13: checklists: expected a mapping, got a sequence"));
}

TEST(LoaderTest, BadIds) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - id: Awareness Phase\n");
  EXPECT_THAT(Messages(r), ElementsAre("8:9: phase id 'Awareness Phase' must use lower-case "
                                       "letters, digits, '-' or '_'"));
}

TEST(LoaderTest, CollectsEveryIssue) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases:\n"
                      "  - id: a\n"
                      "    exit_gate:\n"
                      "      - {id: c1, text: t, when: opp.amout > 1}\n"
                      "      - {id: c2, text: t, when: opp.stge == 'x'}\n"
                      "    behaviors:\n"
                      "      - {id: b, promt: p}\n");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Messages(r),
              ElementsAre("10:37: undefined field 'amout' on dealcoach.v1.Opportunity; did you "
                          "mean 'amount'? (in 'when' of criterion 'a/c1')",
                          "11:37: undefined field 'stge' on dealcoach.v1.Opportunity; did you "
                          "mean 'stage'? (in 'when' of criterion 'a/c2')",
                          "13:9: behavior #1 of phase 'a': missing required key 'prompt'",
                          "13:17: behavior #1 of phase 'a': unknown key 'promt'; did you mean "
                          "'prompt'?"));
}

TEST(LoaderTest, FormatDiagnosticHasFileLineColAndCaret) {
  LoadResult r = Load(WithWhen("        when: opp.amout > 1"));
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(FormatDiagnostic(r.diagnostics[0]),
            "pb.yaml:12:19: error: undefined field 'amout' on dealcoach.v1.Opportunity; did you "
            "mean 'amount'? (in 'when' of criterion 'a/c')\n"
            "        when: opp.amout > 1\n"
            "                  ^");
}

TEST(LoaderTest, UnreadableFile) {
  LoadResult r = LoadPlaybookFile("/nonexistent/playbook.yaml");
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(FormatDiagnostic(r.diagnostics[0]),
            "/nonexistent/playbook.yaml:1:1: error: cannot read playbook file: No such file or "
            "directory");
}

TEST(LoaderTest, ChecklistNames) {
  LoadResult r = Load(std::string(kHeader) +
                      "phases: [{id: a}]\n"
                      "checklists:\n"
                      "  review: [{id: x, text: t, when: 'true'}]\n"
                      "  forecast: [{id: y, text: t, when: 'false'}]\n");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r.playbook->checklist_names(), ElementsAre("review", "forecast"));
}

}  // namespace
}  // namespace dealcoach::engine
