// The playbook's `indicators:` section: loading, line:col diagnostics, the outline and
// EvaluateIndicators (outline.h).
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sidecar/engine/engine.h"
#include "sidecar/engine/outline.h"

namespace dealcoach::engine {
namespace {

using ::testing::ElementsAre;

std::vector<std::string> Messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) {
    out.push_back(std::to_string(d.line()) + ":" + std::to_string(d.column()) + ": " + d.message());
  }
  return out;
}

// Lines 1-11; indicators start at line 12.
constexpr char kPlaybook[] = R"(apiVersion: dealcoach/v1
kind: Playbook
metadata: {name: test, version: 1}
phases:
  - id: early
    crm_stages: [Prospecting]
    exit_gate:
      - {id: c, text: t, when: opp.contacts.size() >= 2}
  - id: late
    crm_stages: [Negotiation]
    exit_gate: [{id: d, text: t, when: opp.amount > 0}]
indicators:
)";

LoadResult Load(const std::string& indicators) {
  return LoadPlaybook(std::string(kPlaybook) + indicators, "pb.yaml");
}

TEST(IndicatorsTest, LoadAndEvaluate) {
  LoadResult r = Load(
      "  - id: multi\n"
      "    name: Three contacts\n"
      "    when: opp.contacts.size() >= 3\n"
      "    target: 0.6\n"
      "  - id: late-amount\n"
      "    name: Has an amount\n"
      "    when: opp.amount > 1000\n"
      "    phases: [late]\n");
  ASSERT_TRUE(r.ok()) << Messages(r)[0];
  const PlaybookOutline& o = OutlineOf(*r.playbook);
  ASSERT_EQ(o.indicators.size(), 2u);
  EXPECT_EQ(o.indicators[0].id, "indicator/multi");
  EXPECT_EQ(o.indicators[0].name, "Three contacts");
  EXPECT_DOUBLE_EQ(o.indicators[0].target, 0.6);
  EXPECT_THAT(o.indicators[1].phase_ids, ElementsAre("late"));
  ASSERT_EQ(o.phases.size(), 2u);
  ASSERT_NE(o.FindRule("early/c"), nullptr);
  EXPECT_EQ(o.FindRule("early/c")->kind, OutlineRule::Kind::kCriterion);

  v1::Opportunity opp;
  for (int i = 0; i < 3; ++i) opp.add_contacts()->set_id(std::to_string(i));
  opp.set_amount(500);
  std::vector<IndicatorOutcome> early = EvaluateIndicators(*r.playbook, opp, absl::Now(), "early");
  ASSERT_EQ(early.size(), 2u);
  EXPECT_TRUE(early[0].applies);
  EXPECT_TRUE(early[0].met);
  EXPECT_FALSE(early[1].applies);  // restricted to the late phase
  std::vector<IndicatorOutcome> late = EvaluateIndicators(*r.playbook, opp, absl::Now(), "late");
  EXPECT_TRUE(late[1].applies);
  EXPECT_FALSE(late[1].met);
  // Unknown (amount not recorded) counts as not met.
  opp.clear_amount();
  EXPECT_FALSE(EvaluateIndicators(*r.playbook, opp, absl::Now(), "late")[1].met);
}

TEST(IndicatorsTest, DiagnosticsHaveLineAndColumn) {
  LoadResult r = Load(
      "  - id: a\n"                             // 13
      "    name: A\n"                           // 14
      "    when: opp.amout > 1\n"               // 15
      "    target: 60%\n"                       // 16
      "  - id: b\n"                             // 17
      "    name: B\n"                           // 18
      "    when: opp.amount\n"                  // 19
      "    phases: [erly]\n"                    // 20
      "  - id: a\n"                             // 21
      "    name: dup\n"                         // 22
      "    when: true\n"                        // 23
      "  - {id: c, when: true, colour: x}\n");  // 24
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(Messages(r), ::testing::IsSupersetOf({
                               ::testing::StartsWith("15:15: undefined field 'amout'"),
                               ::testing::StartsWith("16:13: indicator 'indicator/a': target must "
                                                     "be a share between 0 and 1"),
                               ::testing::StartsWith("19:11: indicator 'indicator/b': 'when' must "
                                                     "be a condition (bool)"),
                               ::testing::StartsWith("20:13: indicator 'indicator/b': unknown "
                                                     "phase 'erly'; did you mean 'early'?"),
                               ::testing::StartsWith("21:9: duplicate indicator id 'a'"),
                           }));
  bool unknown_key = false, missing_name = false;
  for (const std::string& m : Messages(r)) {
    unknown_key |= m.rfind("24:", 0) == 0 && m.find("colour") != std::string::npos;
    missing_name |= m.rfind("24:", 0) == 0 && m.find("name") != std::string::npos;
  }
  EXPECT_TRUE(unknown_key) << ::testing::PrintToString(Messages(r));
  EXPECT_TRUE(missing_name) << ::testing::PrintToString(Messages(r));
}

TEST(IndicatorsTest, ShippedPlaybooksDefineIndicators) {
  for (const char* name : {"customer-journey", "meddicc"}) {
    LoadResult r =
        LoadPlaybookFile(std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/" + name + ".yaml");
    ASSERT_TRUE(r.ok()) << name;
    EXPECT_GE(OutlineOf(*r.playbook).indicators.size(), 3u) << name;
    for (const OutlineIndicator& i : OutlineOf(*r.playbook).indicators) {
      EXPECT_FALSE(i.name.empty()) << i.id;
      EXPECT_GT(i.target, 0) << i.id;
    }
  }
}

}  // namespace
}  // namespace dealcoach::engine
