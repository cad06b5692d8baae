#include "sidecar/server/render_pipeline.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "sidecar/common/time_util.h"

namespace dealcoach::server {
namespace {

std::string Bar(absl::string_view title, int width) {
  std::string head = absl::StrCat("── ", title, " ");
  // Count code points, not bytes, for the rule's length.
  int len = 0;
  for (unsigned char c : head) len += (c & 0xC0) != 0x80;
  std::string out = head;
  for (int i = len; i < width; ++i) out += "─";
  return out + "\n";
}

std::string Bold(const RenderOptions& o, absl::string_view s) {
  return o.color ? absl::StrCat("\033[1m", s, "\033[0m") : std::string(s);
}

std::string Amount(double amount, absl::string_view currency) {
  std::string digits = absl::StrFormat("%.0f", std::fabs(amount));
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  return absl::StrCat(currency.empty() ? "" : absl::StrCat(currency, " "), grouped);
}

std::string Day(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0) return "no close date";
  return absl::FormatTime("%Y-%m-%d", ToAbslTime(ts), absl::UTCTimeZone());
}

std::string Pct(double share) { return absl::StrFormat("%.0f%%", 100 * share); }

std::string Clip(absl::string_view s, size_t n) {
  if (s.size() <= n) return std::string(s);
  size_t cut = n - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(s.substr(0, cut), "…");
}

std::string Pad(absl::string_view s, size_t n) {
  std::string out(s);
  size_t len = 0;
  for (unsigned char c : out) len += (c & 0xC0) != 0x80;
  while (len++ < n) out.push_back(' ');
  return out;
}

std::string Changes(const v1::DealReview& r) {
  std::vector<std::string> parts;
  for (const v1::DealChange& c : r.changes()) parts.push_back(c.detail());
  return absl::StrJoin(parts, "; ");
}

void AppendWrapped(std::string* out, absl::string_view indent, absl::string_view text, int width) {
  std::string line(indent);
  size_t col = indent.size();
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (col + word.size() + 1 > static_cast<size_t>(width) && col > indent.size()) {
      absl::StrAppend(out, line, "\n");
      line = std::string(indent.size(), ' ');
      col = indent.size();
    }
    if (col > indent.size()) {
      line.push_back(' ');
      ++col;
    }
    absl::StrAppend(&line, word);
    col += word.size();
  }
  absl::StrAppend(out, line, "\n");
}

void AppendIndicators(std::string* out, const RenderOptions& o,
                      const google::protobuf::RepeatedPtrField<v1::IndicatorShare>& rep,
                      const google::protobuf::RepeatedPtrField<v1::IndicatorShare>* team,
                      absl::string_view first_column) {
  if (rep.empty()) return;
  absl::StrAppend(out, "\n  ", Bold(o, "Leading indicators"), "\n");
  absl::StrAppend(out, "  ", Pad("", 46), Pad(first_column, 8), team != nullptr ? "team    " : "",
                  "target  trend\n");
  for (int i = 0; i < rep.size(); ++i) {
    const v1::IndicatorShare& s = rep[i];
    std::string line =
        absl::StrCat("  ", s.below_target() ? "▼ " : "  ", Pad(Clip(s.name(), 42), 44),
                     Pad(s.applicable() > 0 ? Pct(s.share()) : "n/a", 8));
    if (team != nullptr && i < team->size()) {
      absl::StrAppend(&line, Pad((*team)[i].applicable() > 0 ? Pct((*team)[i].share()) : "n/a", 8));
    }
    absl::StrAppend(&line, Pad(s.target() > 0 ? Pct(s.target()) : "-", 8));
    if (s.has_previous()) {
      const double d = s.share() - s.previous_share();
      absl::StrAppend(&line,
                      d > 0.005    ? "↑ "
                      : d < -0.005 ? "↓ "
                                   : "= ",
                      Pct(s.previous_share()), " before");
    }
    absl::StrAppend(out, line, "\n");
  }
}

void AppendPhases(std::string* out, const RenderOptions& o, const v1::PipelineRollup& r) {
  absl::StrAppend(out, "\n  ", Bold(o, "Where the pipeline really is"),
                  " (open deals: by evidence | as the CRM stage claims)\n");
  for (int i = 0; i < r.by_evidence_phase_size(); ++i) {
    const v1::PhaseBucket& e = r.by_evidence_phase(i);
    const v1::PhaseBucket* c = i < r.by_claimed_phase_size() ? &r.by_claimed_phase(i) : nullptr;
    absl::StrAppend(out, "  ", Pad(Clip(e.phase().name(), 26), 28),
                    Pad(absl::StrCat(e.deals(), " · ", Amount(e.amount(), "")), 22), "| ",
                    c == nullptr ? "" : absl::StrCat(c->deals(), " · ", Amount(c->amount(), "")),
                    "\n");
  }
  absl::StrAppend(out, "  stage ahead of evidence on ", r.stage_ahead_deals(), " of ",
                  r.open_deals(), " open deals (", Pct(r.stage_ahead_share()), ")\n");
}

}  // namespace

std::string ChangeKindLabel(v1::ChangeKind kind) {
  switch (kind) {
    case v1::CHANGE_KIND_NEW:
      return "new";
    case v1::CHANGE_KIND_WON:
      return "won";
    case v1::CHANGE_KIND_LOST:
      return "lost";
    case v1::CHANGE_KIND_PUSHED_OUT:
      return "pushed out";
    case v1::CHANGE_KIND_PULLED_IN:
      return "pulled in";
    case v1::CHANGE_KIND_AMOUNT_UP:
      return "amount up";
    case v1::CHANGE_KIND_AMOUNT_DOWN:
      return "amount down";
    case v1::CHANGE_KIND_STAGE_MOVED:
      return "stage moved";
    case v1::CHANGE_KIND_EVIDENCE_ADVANCED:
      return "evidence advanced";
    case v1::CHANGE_KIND_EVIDENCE_REGRESSED:
      return "evidence regressed";
    case v1::CHANGE_KIND_GATE_NEWLY_MET:
      return "gate newly met";
    case v1::CHANGE_KIND_GATE_NEWLY_OPEN:
      return "gate newly open";
    case v1::CHANGE_KIND_REMOVED:
      return "removed";
    default:
      return "changed";
  }
}

std::string RenderPipelineReview(const v1::GetPipelineReviewResponse& r, const RenderOptions& o,
                                 int max_rows) {
  const int w = o.width;
  std::string out;
  absl::StrAppend(&out, Bar(absl::StrCat("Pipeline review · ", r.team().name()), w));
  absl::StrAppend(&out, "  playbook ", r.playbook().name(), "@", r.playbook().version(), " · ",
                  r.team().open_deals(), " open deals · ", Amount(r.team().open_amount(), ""),
                  "\n");
  AppendWrapped(&out, "  ", r.comparison().note(), w);
  absl::StrAppend(&out, "\n  ", Bold(o, "Ranked for attention"),
                  " (claimed phase ahead of evidence x amount x close date)\n");
  int shown = 0;
  for (const v1::DealReview& d : r.deals()) {
    if (shown >= max_rows) break;
    ++shown;
    const v1::DealResult& deal = d.deal();
    absl::StrAppend(&out, absl::StrFormat("  %2d. ", d.rank()), Clip(deal.name(), 44), " · ",
                    Amount(deal.amount(), deal.currency_code()), "\n");
    absl::StrAppend(
        &out, "      ", Clip(deal.owner().name(), 18), " · claims ",
        deal.claimed_phase().name().empty() ? "(unmapped stage)" : deal.claimed_phase().name(),
        ", evidence ", deal.evidence_phase().name(),
        d.phases_ahead() > 0 ? absl::StrCat(" (", d.phases_ahead(), " ahead)") : "", " · closes ",
        Day(deal.close_date()), "\n");
    if (!d.top_risk_text().empty()) absl::StrAppend(&out, "      ! ", d.top_risk_text(), "\n");
    if (d.changes_size() > 0) AppendWrapped(&out, "      Δ ", Changes(d), w);
  }
  if (r.deals_size() > shown) {
    absl::StrAppend(&out, "      … ", r.deals_size() - shown, " more open deals\n");
  }
  if (r.closed_size() > 0) {
    absl::StrAppend(&out, "\n  ", Bold(o, "Closed since the snapshot"), "\n");
    for (const v1::DealReview& d : r.closed()) {
      AppendWrapped(
          &out, "  · ",
          absl::StrCat(Clip(d.deal().name(), 40), " (", d.deal().owner().name(), "): ", Changes(d)),
          w);
    }
  }
  absl::StrAppend(&out, "\n  ", Bold(o, "Per rep"),
                  "          open   amount        stage ahead   indicators below target\n");
  for (const v1::PipelineRollup& rep : r.reps()) {
    int below = 0;
    for (const v1::IndicatorShare& s : rep.indicators()) below += s.below_target() ? 1 : 0;
    absl::StrAppend(&out, "  ", Pad(Clip(rep.name(), 20), 22),
                    Pad(absl::StrCat(rep.open_deals()), 7), Pad(Amount(rep.open_amount(), ""), 14),
                    Pad(Pct(rep.stage_ahead_share()), 14), below, " of ", rep.indicators_size(),
                    "\n");
  }
  AppendPhases(&out, o, r.team());
  AppendIndicators(&out, o, r.team().indicators(), nullptr, "share");
  if (r.not_evaluated_size() > 0) {
    absl::StrAppend(&out, "\n  ", r.not_evaluated_size(), " deal(s) not evaluated, e.g. ",
                    r.not_evaluated(0).opportunity_id(), ": ", r.not_evaluated(0).reason(), "\n");
  }
  return out;
}

std::string RenderCoachingAgenda(const v1::GetCoachingAgendaResponse& a, const RenderOptions& o) {
  const int w = o.width;
  std::string out;
  absl::StrAppend(&out, Bar(absl::StrCat("1:1 coaching agenda · ", a.rep().name()), w));
  absl::StrAppend(&out, "  ", a.rep().team().empty() ? "" : absl::StrCat(a.rep().team(), " · "),
                  a.rollup().open_deals(), " open deals · ", Amount(a.rollup().open_amount(), ""),
                  " · playbook ", a.playbook().name(), "@", a.playbook().version(), "\n");
  AppendWrapped(&out, "  ", a.comparison().note(), w);

  absl::StrAppend(&out, "\n  ", Bold(o, "1. Since last time"));
  if (!a.comparison().available()) {
    absl::StrAppend(&out, ": no comparison available\n");
  } else if (a.changes().empty()) {
    absl::StrAppend(&out, ": nothing changed on the rep's deals\n");
  } else {
    absl::StrAppend(&out, " (", a.changes_size(), " deals changed)\n");
    int n = 0;
    for (const v1::DealReview& d : a.changes()) {
      if (++n > 6) {
        absl::StrAppend(&out, "    … and ", a.changes_size() - 6, " more\n");
        break;
      }
      AppendWrapped(&out, "    · ", absl::StrCat(Clip(d.deal().name(), 38), ": ", Changes(d)), w);
    }
  }

  const v1::BehaviorGap& f = a.focus();
  absl::StrAppend(&out, "\n  ", Bold(o, "2. The one behavior to focus on"), "\n");
  if (f.rule_id().empty()) {
    absl::StrAppend(&out, "    no open criterion or behavior on the rep's open deals\n");
  } else {
    AppendWrapped(&out, "    » ", f.text(), w);
    absl::StrAppend(&out, "      open on ", f.rep_deals(), " of ", f.rep_open_deals(),
                    " open deals, ", Pct(f.rep_share()), " of the amount · team ",
                    Pct(f.team_share()), "\n");
    for (int i = 0; i < f.questions_size() && i < 2; ++i) {
      AppendWrapped(&out, "      ? ", f.questions(i), w);
    }
    for (int i = 0; i < f.content_size() && i < 2; ++i) {
      absl::StrAppend(&out, "      ↗ ", f.content(i).title(), "  ", f.content(i).url(), "\n");
    }
    AppendWrapped(&out, "      why: ", f.why(), w);
    if (!a.other_gaps().empty()) {
      std::vector<std::string> others;
      for (const v1::BehaviorGap& g : a.other_gaps()) {
        others.push_back(absl::StrCat(g.rule_id(), " ", Pct(g.rep_share()), " (team ",
                                      Pct(g.team_share()), ")"));
      }
      AppendWrapped(&out, "      next: ", absl::StrJoin(others, ", "), w);
    }
  }

  if (!a.practice_cases().empty()) {
    absl::StrAppend(&out, "\n  ", Bold(o, "3. Practice it on"), "\n");
    int n = 0;
    for (const v1::PracticeCase& pc : a.practice_cases()) {
      const v1::DealResult& d = pc.deal();
      absl::StrAppend(&out, "    ", ++n, ". ", Clip(d.name(), 40), " · ",
                      Amount(d.amount(), d.currency_code()), " · evidence ",
                      d.evidence_phase().name(), " · closes ", Day(d.close_date()), "\n");
      int items = 0;
      for (const v1::ChecklistItem& item : pc.open_items()) {
        if (++items > 2) break;
        AppendWrapped(&out, "       ✗ ", absl::StrCat(item.text(), " — ", item.coaching_question()),
                      w);
      }
    }
  }

  absl::StrAppend(&out, "\n  ", Bold(o, "4. Leading indicators"), " (rep vs team vs target)");
  std::string indicators;
  AppendIndicators(&indicators, o, a.rep_indicators(), &a.team_indicators(), "rep");
  // Drop AppendIndicators' own heading line: the section has one.
  const size_t first_nl = indicators.find('\n', 1);
  absl::StrAppend(&out, first_nl == std::string::npos ? "\n" : indicators.substr(first_nl));
  return out;
}

}  // namespace dealcoach::server
