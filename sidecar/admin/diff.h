// Line diffs of playbook revisions: Myers' O(ND) algorithm ("An O(ND) Difference
// Algorithm and Its Variations", 1986), printed as a unified diff (the `diff -u` / git
// format: "--- a", "+++ b", "@@ -l,s +l,s @@" hunks with context lines).
//
// Common leading and trailing lines are stripped before the search, and the search is
// bounded: past kMaxEditDistance edits the middle is reported as one replacement (still
// a correct diff, not a minimal one), so a diff of two unrelated 1 MiB files costs
// O(kMaxEditDistance^2) memory, not O(N^2).
//
// Thread safety: pure functions.
#ifndef DEALCOACH_SIDECAR_ADMIN_DIFF_H_
#define DEALCOACH_SIDECAR_ADMIN_DIFF_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace dealcoach::admin {

inline constexpr int kMaxEditDistance = 4000;

// One line of an edit script.
struct DiffLine {
  enum class Kind { kEqual, kDelete, kInsert };
  Kind kind = Kind::kEqual;
  absl::string_view text;  // without its newline; points into the inputs
};

// The shortest edit script turning `a`'s lines into `b`'s (see the bound above). A
// missing final newline is not a difference.
[[nodiscard]] std::vector<DiffLine> DiffLines(absl::string_view a, absl::string_view b);

// The unified diff of `a` -> `b` with `context` lines around each change; "" when the
// texts have the same lines.
[[nodiscard]] std::string UnifiedDiff(absl::string_view a, absl::string_view b,
                                      absl::string_view a_label, absl::string_view b_label,
                                      int context = 3);

}  // namespace dealcoach::admin

#endif  // DEALCOACH_SIDECAR_ADMIN_DIFF_H_
