// End-to-end tests of the shipped playbooks: they load cleanly and their own tests pass.
#include "sidecar/engine/engine.h"

#include <string>

#include "gtest/gtest.h"
#include "sidecar/playbook_tests/playbook_tests.h"

namespace dealcoach::engine {
namespace {

std::string PlaybookPath(const std::string& name) {
  return std::string(DEALCOACH_SOURCE_DIR) + "/config/playbooks/" + name + ".yaml";
}

std::string AllDiagnostics(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += FormatDiagnostic(d) + "\n";
  return out;
}

class ShippedPlaybookTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ShippedPlaybookTest, LoadsWithoutDiagnostics) {
  LoadResult r = LoadPlaybookFile(PlaybookPath(GetParam()));
  ASSERT_TRUE(r.ok()) << AllDiagnostics(r);
  EXPECT_TRUE(r.diagnostics.empty()) << AllDiagnostics(r);
  EXPECT_EQ(r.ref.name(), GetParam());
  EXPECT_EQ(r.ref.revision().size(), 16u);
}

TEST_P(ShippedPlaybookTest, OwnTestsPass) {
  LoadResult r = LoadPlaybookFile(PlaybookPath(GetParam()));
  ASSERT_TRUE(r.ok()) << AllDiagnostics(r);
  auto results = playbook_tests::RunPlaybookFileTests(
      *r.playbook, PlaybookPath(GetParam()), std::string(DEALCOACH_SOURCE_DIR) + "/config");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_GE(results->size(), 10u);
  for (const auto& t : *results) {
    std::string failures;
    for (const auto& f : t.failures()) failures += "\n  " + f;
    EXPECT_TRUE(t.passed()) << t.name() << failures;
  }
}

INSTANTIATE_TEST_SUITE_P(Playbooks, ShippedPlaybookTest,
                         ::testing::Values("customer-journey", "meddicc"));

}  // namespace
}  // namespace dealcoach::engine
