#include "sidecar/admin/diff.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace dealcoach::admin {
namespace {

std::string Join(const std::vector<std::string>& lines) {
  return lines.empty() ? "" : absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
}

// The length of the longest common subsequence, by dynamic programming.
int Lcs(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::vector<int>> t(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      t[i][j] = a[i - 1] == b[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
    }
  }
  return t[a.size()][b.size()];
}

TEST(Diff, IdenticalTextsHaveNoDiff) {
  EXPECT_EQ(UnifiedDiff("a\nb\n", "a\nb\n", "x", "y"), "");
  EXPECT_EQ(UnifiedDiff("", "", "x", "y"), "");
}

TEST(Diff, OneChangedLineWithContext) {
  const std::string a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
  const std::string b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
  EXPECT_EQ(UnifiedDiff(a, b, "p@1", "p@2"),
            "--- p@1\n+++ p@2\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n");
}

TEST(Diff, FarApartChangesAreSeparateHunksAndNearOnesMerge) {
  std::vector<std::string> a;
  for (int i = 1; i <= 30; ++i) a.push_back(absl::StrCat(i));
  std::vector<std::string> b = a;
  b[1] = "two";
  b[25] = "twenty-six";
  std::string d = UnifiedDiff(Join(a), Join(b), "a", "b");
  EXPECT_NE(d.find("@@ -1,5 +1,5 @@"), std::string::npos) << d;
  EXPECT_NE(d.find("@@ -23,7 +23,7 @@"), std::string::npos) << d;
  b = a;
  b[5] = "six";
  b[10] = "eleven";  // 4 equal lines apart: one hunk
  d = UnifiedDiff(Join(a), Join(b), "a", "b");
  EXPECT_EQ(std::count(d.begin(), d.end(), '@'), 4) << d;
}

TEST(Diff, InsertIntoEmptyAndDeleteAll) {
  EXPECT_EQ(UnifiedDiff("", "x\ny\n", "a", "b"), "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n");
  EXPECT_EQ(UnifiedDiff("x\ny\n", "", "a", "b"), "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
}

TEST(Diff, ScriptsAreCorrectAndMinimalOnRandomEdits) {
  std::mt19937 gen(7);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::string> a;
    std::vector<std::string> b;
    const int n = static_cast<int>(gen() % 25);
    for (int i = 0; i < n; ++i) a.push_back(absl::StrCat("l", gen() % 6));
    for (const std::string& line : a) {
      const unsigned r = gen() % 10;
      if (r == 0) continue;                                   // delete
      if (r == 1) b.push_back(absl::StrCat("n", gen() % 6));  // insert
      b.push_back(line);
    }
    const std::string at = Join(a);
    const std::string bt = Join(b);
    std::vector<DiffLine> script = DiffLines(at, bt);
    std::vector<std::string> got_a;
    std::vector<std::string> got_b;
    int equal = 0;
    for (const DiffLine& l : script) {
      if (l.kind != DiffLine::Kind::kInsert) got_a.emplace_back(l.text);
      if (l.kind != DiffLine::Kind::kDelete) got_b.emplace_back(l.text);
      equal += l.kind == DiffLine::Kind::kEqual ? 1 : 0;
    }
    ASSERT_EQ(got_a, a) << "round " << round;
    ASSERT_EQ(got_b, b) << "round " << round;
    ASSERT_EQ(equal, Lcs(a, b)) << "round " << round << ": not a shortest edit script";
  }
}

TEST(Diff, UnrelatedLargeTextsFallBackToOneReplacement) {
  std::string a;
  std::string b;
  for (int i = 0; i < 3000; ++i) {
    absl::StrAppend(&a, "a", i, "\n");
    absl::StrAppend(&b, "b", i, "\n");
  }
  std::vector<DiffLine> script = DiffLines(a, b);
  ASSERT_EQ(script.size(), 6000u);
  EXPECT_EQ(script.front().kind, DiffLine::Kind::kDelete);
  EXPECT_EQ(script.back().kind, DiffLine::Kind::kInsert);
}

}  // namespace
}  // namespace dealcoach::admin
