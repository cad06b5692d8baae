#include "sidecar/admin/diff.h"

#include <algorithm>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dealcoach::admin {
namespace {

std::vector<absl::string_view> SplitLines(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

using Lines = std::vector<absl::string_view>;

// Myers' greedy forward search over a[0, n) and b[0, m), then the backtrack through
// the saved frontier of every round. Appends the script to `out`; false when the edit
// distance exceeds the bound (nothing appended).
bool Myers(const absl::string_view* a, int n, const absl::string_view* b, int m,
           std::vector<DiffLine>* out) {
  const int max = n + m;
  const int bound = std::min(max, kMaxEditDistance);
  const int offset = max + 1;
  std::vector<int> v(2 * static_cast<size_t>(max) + 3, 0);
  // trace[d] = v[-d..d] after round d.
  std::vector<std::vector<int>> trace;
  int found = -1;
  for (int d = 0; d <= bound && found < 0; ++d) {
    for (int k = -d; k <= d; k += 2) {
      int x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                  ? v[offset + k + 1]
                  : v[offset + k - 1] + 1;
      int y = x - k;
      while (x < n && y < m && a[x] == b[y]) ++x, ++y;
      v[offset + k] = x;
      if (x >= n && y >= m) found = d;
    }
    trace.emplace_back(v.begin() + offset - d, v.begin() + offset + d + 1);
  }
  if (found < 0) return false;
  std::vector<DiffLine> rev;
  int x = n;
  int y = m;
  for (int d = found; d > 0; --d) {
    const std::vector<int>& prev = trace[d - 1];
    auto at = [&](int k) { return prev[k + d - 1]; };
    const int k = x - y;
    const int prev_k = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? k + 1 : k - 1;
    const int prev_x = at(prev_k);
    const int prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      rev.push_back({DiffLine::Kind::kEqual, a[x - 1]});
      --x, --y;
    }
    if (x == prev_x) {
      rev.push_back({DiffLine::Kind::kInsert, b[y - 1]});
    } else {
      rev.push_back({DiffLine::Kind::kDelete, a[x - 1]});
    }
    x = prev_x;
    y = prev_y;
  }
  while (x > 0 && y > 0) {
    rev.push_back({DiffLine::Kind::kEqual, a[x - 1]});
    --x, --y;
  }
  out->insert(out->end(), rev.rbegin(), rev.rend());
  return true;
}

}  // namespace

std::vector<DiffLine> DiffLines(absl::string_view a_text, absl::string_view b_text) {
  const Lines a = SplitLines(a_text);
  const Lines b = SplitLines(b_text);
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<DiffLine> out;
  out.reserve(std::max(a.size(), b.size()) + 16);
  for (size_t i = 0; i < prefix; ++i) out.push_back({DiffLine::Kind::kEqual, a[i]});
  const int n = static_cast<int>(a.size() - prefix - suffix);
  const int m = static_cast<int>(b.size() - prefix - suffix);
  if (!Myers(a.data() + prefix, n, b.data() + prefix, m, &out)) {
    for (int i = 0; i < n; ++i) out.push_back({DiffLine::Kind::kDelete, a[prefix + i]});
    for (int i = 0; i < m; ++i) out.push_back({DiffLine::Kind::kInsert, b[prefix + i]});
  }
  for (size_t i = a.size() - suffix; i < a.size(); ++i) {
    out.push_back({DiffLine::Kind::kEqual, a[i]});
  }
  return out;
}

std::string UnifiedDiff(absl::string_view a, absl::string_view b, absl::string_view a_label,
                        absl::string_view b_label, int context) {
  const std::vector<DiffLine> script = DiffLines(a, b);
  const size_t size = script.size();
  // Line numbers (0-based) of each script entry on either side.
  std::vector<int> a_line(size + 1);
  std::vector<int> b_line(size + 1);
  int ai = 0;
  int bi = 0;
  for (size_t i = 0; i < size; ++i) {
    a_line[i] = ai;
    b_line[i] = bi;
    if (script[i].kind != DiffLine::Kind::kInsert) ++ai;
    if (script[i].kind != DiffLine::Kind::kDelete) ++bi;
  }
  a_line[size] = ai;
  b_line[size] = bi;
  std::string out;
  const size_t ctx = static_cast<size_t>(std::max(context, 0));
  size_t i = 0;
  while (i < size) {
    while (i < size && script[i].kind == DiffLine::Kind::kEqual) ++i;
    if (i == size) break;
    // A hunk: from `ctx` equal lines before the change to `ctx` after the last change
    // that is at most 2 * ctx equal lines from the next.
    const size_t start = i >= ctx ? i - ctx : 0;
    size_t end = i;  // one past the last change
    size_t j = i;
    while (j < size) {
      if (script[j].kind != DiffLine::Kind::kEqual) {
        end = ++j;
        continue;
      }
      size_t run = j;
      while (run < size && script[run].kind == DiffLine::Kind::kEqual) ++run;
      if (run == size || run - j > 2 * ctx) break;
      j = run;
    }
    const size_t stop = std::min(size, end + ctx);
    if (out.empty()) absl::StrAppend(&out, "--- ", a_label, "\n+++ ", b_label, "\n");
    const int a_count = a_line[stop] - a_line[start];
    const int b_count = b_line[stop] - b_line[start];
    absl::StrAppend(&out, "@@ -", a_count == 0 ? a_line[start] : a_line[start] + 1, ",", a_count,
                    " +", b_count == 0 ? b_line[start] : b_line[start] + 1, ",", b_count, " @@\n");
    for (size_t k = start; k < stop; ++k) {
      const char mark = script[k].kind == DiffLine::Kind::kEqual    ? ' '
                        : script[k].kind == DiffLine::Kind::kDelete ? '-'
                                                                    : '+';
      out.push_back(mark);
      absl::StrAppend(&out, script[k].text, "\n");
    }
    i = stop;
  }
  return out;
}

}  // namespace dealcoach::admin
