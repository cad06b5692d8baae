// The one edit-distance helper behind every "did you mean 'x'?" hint (expression checker,
// playbook loader, config). Header-only; no dependencies beyond the standard library.
#ifndef DEALCOACH_SIDECAR_COMMON_EDIT_DISTANCE_H_
#define DEALCOACH_SIDECAR_COMMON_EDIT_DISTANCE_H_

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace dealcoach {

// Levenshtein distance (insertions, deletions, substitutions of bytes) between a and b.
// O(|a|·|b|) time, O(|b|) space.
inline size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The first candidate at the smallest distance from `word` that is at most `max_distance`,
// or null when none is that close.
inline const std::string* ClosestName(absl::string_view word,
                                      const std::vector<std::string>& candidates,
                                      size_t max_distance) {
  const std::string* best = nullptr;
  size_t best_distance = max_distance + 1;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = &c;
    }
  }
  return best;
}

}  // namespace dealcoach

#endif  // DEALCOACH_SIDECAR_COMMON_EDIT_DISTANCE_H_
