// Positions in playbook source text: line/column lookup, diagnostic snippets, and the
// mapping from a byte offset inside a YAML scalar's *value* back to the file, so that an
// expression error in a `when:` scalar points at the exact character in the file, for
// plain, single-quoted, double-quoted, literal (`|`) and folded (`>`) scalars.
//
// Internal to the engine. Thread-compatible: immutable after construction.
#ifndef DEALCOACH_SIDECAR_ENGINE_SOURCE_MAP_H_
#define DEALCOACH_SIDECAR_ENGINE_SOURCE_MAP_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace dealcoach::engine::internal {

// A 1-based file position.
struct Position {
  int line = 1;
  int column = 1;
};

class SourceText {
 public:
  explicit SourceText(std::string text);

  const std::string& text() const { return text_; }

  // Position of byte `offset` (clamped to the text).
  Position PositionOf(size_t offset) const;
  // Byte offset of a 1-based position (clamped).
  size_t OffsetOf(Position pos) const;
  // The 1-based line's text without its newline; empty when out of range.
  absl::string_view Line(int line) const;
  // "<line text>\n<spaces>^" for a diagnostic.
  std::string Snippet(Position pos) const;

  // Maps `value_offset` (a byte offset into the scalar's decoded value) to a file position.
  // `scalar_offset` is the byte offset of the scalar's first source character (yaml-cpp's
  // Mark::pos: the quote, the `|`/`>` indicator, or the first character of a plain
  // scalar). `value` is the decoded scalar, used to verify the mapping; when the source
  // cannot be mapped exactly, falls back to the scalar start plus the offset on one line.
  Position MapScalarOffset(size_t scalar_offset, const std::string& value,
                           size_t value_offset) const;

 private:
  // For each byte of the decoded value, the source offset it came from; empty on failure.
  std::vector<size_t> BuildScalarMap(size_t scalar_offset, const std::string& value) const;

  std::string text_;
  std::vector<size_t> line_starts_;
};

}  // namespace dealcoach::engine::internal

#endif  // DEALCOACH_SIDECAR_ENGINE_SOURCE_MAP_H_
