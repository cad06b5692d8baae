// SourceText: positions, snippets, and offsets inside YAML scalars mapped back to the file.
#include "sidecar/engine/source_map.h"

#include <string>

#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace dealcoach::engine::internal {
namespace {

// Maps `offset` in the value of key `when` of the YAML document `text` to "line:col".
std::string MapWhen(const std::string& text, size_t offset) {
  YAML::Node root = YAML::Load(text);
  YAML::Node when = root["when"];
  SourceText source(text);
  Position p = source.MapScalarOffset(when.Mark().pos, when.Scalar(), offset);
  return std::to_string(p.line) + ":" + std::to_string(p.column);
}

TEST(SourceTextTest, PositionsLinesAndSnippets) {
  SourceText s("ab\n\tcd\n\nlast");
  EXPECT_EQ(s.PositionOf(0).line, 1);
  EXPECT_EQ(s.PositionOf(4).line, 2);
  EXPECT_EQ(s.PositionOf(4).column, 2);
  EXPECT_EQ(s.PositionOf(100).line, 4);
  EXPECT_EQ(s.OffsetOf({2, 2}), 4u);
  EXPECT_EQ(s.Line(2), "\tcd");
  EXPECT_EQ(s.Line(3), "");
  EXPECT_EQ(s.Line(9), "");
  // Tabs before the caret are kept so the caret lines up in a terminal.
  EXPECT_EQ(s.Snippet({2, 3}), "\tcd\n\t ^");
}

TEST(SourceTextTest, PlainScalar) {
  EXPECT_EQ(MapWhen("when: abc def\n", 4), "1:11");
  // Multi-line plain scalar: the line break folds to one space.
  EXPECT_EQ(MapWhen("when: abc\n  def\n", 4), "2:3");
  // One past the end points just after the last character.
  EXPECT_EQ(MapWhen("when: abc\n", 3), "1:10");
}

TEST(SourceTextTest, DoubleQuotedEscapes) {
  // \x41 is one byte, \u00e9 two bytes (UTF-8), \" one byte.
  const std::string text = "when: \"\\x41\\u00e9\\\"z\"\n";
  EXPECT_EQ(MapWhen(text, 0), "1:8");   // \x41
  EXPECT_EQ(MapWhen(text, 1), "1:12");  // first byte of é
  EXPECT_EQ(MapWhen(text, 2), "1:12");  // second byte of é
  EXPECT_EQ(MapWhen(text, 3), "1:18");  // \"
  EXPECT_EQ(MapWhen(text, 4), "1:20");  // z
  // Escaped line break joins lines without a space.
  EXPECT_EQ(MapWhen("when: \"ab\\\n   cd\"\n", 2), "2:4");
}

TEST(SourceTextTest, SingleQuoted) {
  EXPECT_EQ(MapWhen("when: 'it''s x'\n", 2), "1:10");  // '' is one quote
  EXPECT_EQ(MapWhen("when: 'it''s x'\n", 3), "1:12");
  EXPECT_EQ(MapWhen("when: 'a\n\n  b'\n", 2), "3:3");  // empty line = one newline
}

TEST(SourceTextTest, LiteralBlock) {
  const std::string text = "when: |\n  first\n\n    second\nnext: 1\n";
  EXPECT_EQ(MapWhen(text, 0), "2:3");
  EXPECT_EQ(MapWhen(text, 7), "4:3");  // "first\n\n" then two spaces of extra indentation
  EXPECT_EQ(MapWhen(text, 9), "4:5");
}

TEST(SourceTextTest, FoldedBlockWithExplicitIndent) {
  EXPECT_EQ(MapWhen("when: >-\n  a b\n  c\n", 4), "3:3");
  EXPECT_EQ(MapWhen("when: |2\n    x\n", 2), "2:5");
}

TEST(SourceTextTest, FallsBackWhenTheSourceDoesNotMatch) {
  SourceText s("when: abc\n");
  Position p = s.MapScalarOffset(6, "xyz", 2);
  EXPECT_EQ(p.line, 1);
  EXPECT_EQ(p.column, 9);
}

}  // namespace
}  // namespace dealcoach::engine::internal
