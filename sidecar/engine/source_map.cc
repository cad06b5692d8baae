#include "sidecar/engine/source_map.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

namespace dealcoach::engine::internal {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsBreak(char c) { return c == '\n' || c == '\r'; }

// Decodes a flow or plain scalar starting at `i` (after the opening quote, if any),
// recording the source offset of every decoded byte. `quote` is '"', '\'' or 0 (plain).
// Stops once `want` bytes are produced or at the closing quote / end of text.
std::vector<size_t> DecodeFlow(const std::string& t, size_t i, char quote, size_t want) {
  std::vector<size_t> map;
  const size_t n = t.size();
  while (i < n && map.size() < want) {
    const char c = t[i];
    if (quote != 0 && c == quote) {
      if (quote == '\'' && i + 1 < n && t[i + 1] == '\'') {  // '' escapes a quote
        map.push_back(i);
        i += 2;
        continue;
      }
      break;  // closing quote
    }
    if (quote == '"' && c == '\\' && i + 1 < n) {
      const char e = t[i + 1];
      if (IsBreak(e)) {  // escaped line break: joins lines without a space
        i += 1;
        while (i < n && IsBreak(t[i])) ++i;
        while (i < n && IsBlank(t[i])) ++i;
        continue;
      }
      int bytes = 1;
      size_t consumed = 2;
      // \xXX, \uXXXX and \UXXXXXXXX decode to a UTF-8 sequence.
      int hex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
      if (hex > 0) {
        consumed += hex;
        unsigned long cp = std::strtoul(t.substr(i + 2, hex).c_str(), nullptr, 16);
        bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      }
      for (int b = 0; b < bytes; ++b) map.push_back(i);
      i += consumed;
      continue;
    }
    if (IsBlank(c) || IsBreak(c)) {
      // A run of white space: trailing blanks before a break are dropped, one break
      // folds to a space, each further (empty) line becomes a newline.
      size_t j = i;
      while (j < n && IsBlank(t[j])) ++j;
      if (j >= n || !IsBreak(t[j])) {  // blanks inside a line are content
        for (; i < j; ++i) map.push_back(i);
        continue;
      }
      const size_t first_break = j;
      int breaks = 0;
      while (j < n && (IsBreak(t[j]) || IsBlank(t[j]))) {
        if (t[j] == '\n') ++breaks;
        ++j;
      }
      if (breaks <= 1) {
        map.push_back(first_break);
      } else {
        for (int b = 1; b < breaks; ++b) map.push_back(first_break);
      }
      i = j;
      continue;
    }
    map.push_back(i);
    ++i;
  }
  return map;
}

// Decodes a block scalar whose indicator (`|` or `>`) is at `i`.
std::vector<size_t> DecodeBlock(const std::string& t, size_t i, size_t want) {
  const bool folded = t[i] == '>';
  const size_t n = t.size();
  int explicit_indent = 0;
  // Header: indicators and an optional comment, up to the end of the line.
  size_t j = i + 1;
  while (j < n && !IsBreak(t[j])) {
    if (t[j] >= '1' && t[j] <= '9' && explicit_indent == 0) explicit_indent = t[j] - '0';
    ++j;
  }
  if (j < n && t[j] == '\r') ++j;
  if (j < n && t[j] == '\n') ++j;
  // The parent's indentation: the line holding the indicator.
  size_t line_start = i;
  while (line_start > 0 && t[line_start - 1] != '\n') --line_start;
  size_t parent_indent = 0;
  while (line_start + parent_indent < n && t[line_start + parent_indent] == ' ') ++parent_indent;

  // Split content lines.
  struct Line {
    size_t start;  // offset of the first byte after the block indentation
    size_t end;    // offset of the line break
    bool empty;
  };
  std::vector<Line> lines;
  int indent = explicit_indent > 0 ? static_cast<int>(parent_indent) + explicit_indent : -1;
  size_t p = j;
  while (p < n) {
    size_t e = p;
    while (e < n && t[e] != '\n') ++e;
    size_t lead = p;
    while (lead < e && t[lead] == ' ') ++lead;
    const bool blank = lead == e || (lead + 1 == e && t[lead] == '\r');
    if (!blank) {
      if (indent < 0) indent = static_cast<int>(lead - p);
      if (static_cast<int>(lead - p) < indent) break;  // dedent ends the block
    }
    size_t start = blank ? e : p + std::max(indent, 0);
    size_t end = e;
    if (end > start && t[end - 1] == '\r') --end;
    lines.push_back({std::min(start, end), end, blank});
    p = e + 1;
  }

  std::vector<size_t> map;
  for (size_t k = 0; k < lines.size() && map.size() < want; ++k) {
    const Line& line = lines[k];
    for (size_t q = line.start; q < line.end; ++q) map.push_back(q);
    if (!folded) {
      map.push_back(line.end);
      continue;
    }
    // Folded: a break between two non-empty lines becomes one space; empty lines are
    // newlines. More-indented lines keep their breaks; approximate them as one byte.
    if (line.empty) {
      map.push_back(line.end);
    } else if (k + 1 < lines.size() && !lines[k + 1].empty) {
      map.push_back(line.end);
    } else if (k + 1 >= lines.size()) {
      map.push_back(line.end);
    }
  }
  return map;
}

}  // namespace

SourceText::SourceText(std::string text) : text_(std::move(text)) {
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

Position SourceText::PositionOf(size_t offset) const {
  offset = std::min(offset, text_.size());
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line_index = static_cast<size_t>(it - line_starts_.begin()) - 1;
  return Position{static_cast<int>(line_index) + 1,
                  static_cast<int>(offset - line_starts_[line_index]) + 1};
}

size_t SourceText::OffsetOf(Position pos) const {
  const size_t line_index =
      std::min(static_cast<size_t>(std::max(pos.line, 1) - 1), line_starts_.size() - 1);
  return std::min(line_starts_[line_index] + static_cast<size_t>(std::max(pos.column, 1) - 1),
                  text_.size());
}

absl::string_view SourceText::Line(int line) const {
  if (line < 1 || static_cast<size_t>(line) > line_starts_.size()) return {};
  const size_t start = line_starts_[line - 1];
  size_t end = text_.find('\n', start);
  if (end == std::string::npos) end = text_.size();
  if (end > start && text_[end - 1] == '\r') --end;
  return absl::string_view(text_).substr(start, end - start);
}

std::string SourceText::Snippet(Position pos) const {
  absl::string_view line = Line(pos.line);
  std::string caret;
  for (int i = 0; i + 1 < pos.column; ++i) {
    caret.push_back(static_cast<size_t>(i) < line.size() && line[i] == '\t' ? '\t' : ' ');
  }
  caret.push_back('^');
  return std::string(line) + "\n" + caret;
}

std::vector<size_t> SourceText::BuildScalarMap(size_t scalar_offset,
                                               const std::string& value) const {
  if (scalar_offset >= text_.size()) return {};
  const char c = text_[scalar_offset];
  std::vector<size_t> map;
  if (c == '"' || c == '\'') {
    map = DecodeFlow(text_, scalar_offset + 1, c, value.size());
  } else if (c == '|' || c == '>') {
    map = DecodeBlock(text_, scalar_offset, value.size());
  } else {
    map = DecodeFlow(text_, scalar_offset, 0, value.size());
  }
  if (map.size() < value.size()) return {};
  // Verify: every decoded byte that is copied verbatim must match the source.
  for (size_t k = 0; k < value.size(); ++k) {
    const char v = value[k];
    const char s = text_[std::min(map[k], text_.size() - 1)];
    if (v == s || v == ' ' || v == '\n' || s == '\\' || s == '\'' || s == '\n' || s == '\r') {
      continue;
    }
    return {};
  }
  return map;
}

Position SourceText::MapScalarOffset(size_t scalar_offset, const std::string& value,
                                     size_t value_offset) const {
  std::vector<size_t> map = BuildScalarMap(scalar_offset, value);
  if (!map.empty()) {
    if (value_offset < map.size()) return PositionOf(map[value_offset]);
    // Just past the end (e.g. "unexpected end of expression"): after the last byte.
    return PositionOf(map.back() + 1);
  }
  Position start = PositionOf(scalar_offset);
  const char c = scalar_offset < text_.size() ? text_[scalar_offset] : 0;
  if (c == '"' || c == '\'') start.column += 1;
  start.column += static_cast<int>(value_offset);
  return start;
}

}  // namespace dealcoach::engine::internal
