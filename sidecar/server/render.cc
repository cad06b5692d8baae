#include "sidecar/server/render.h"

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "sidecar/common/time_util.h"
#include "sidecar/engine/engine.h"

namespace dealcoach::server {
namespace {

// ANSI styling that collapses to nothing when color is off.
class Style {
 public:
  explicit Style(bool color) : color_(color) {}
  std::string Bold(absl::string_view s) const { return Wrap("1", s); }
  std::string Dim(absl::string_view s) const { return Wrap("2", s); }
  std::string Green(absl::string_view s) const { return Wrap("32", s); }
  std::string Red(absl::string_view s) const { return Wrap("31", s); }
  std::string Yellow(absl::string_view s) const { return Wrap("33", s); }
  std::string Cyan(absl::string_view s) const { return Wrap("36", s); }

 private:
  std::string Wrap(absl::string_view code, absl::string_view s) const {
    if (!color_) return std::string(s);
    return absl::StrCat("\033[", code, "m", s, "\033[0m");
  }
  bool color_;
};

// Display width of UTF-8 text: one column per code point (our symbols are all
// single-width); ANSI escape sequences take none.
int Width(absl::string_view s) {
  int n = 0;
  bool in_escape = false;
  for (unsigned char c : s) {
    if (in_escape) {
      if (c == 'm') in_escape = false;
      continue;
    }
    if (c == 0x1b) {
      in_escape = true;
      continue;
    }
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Greedy word wrap. The first line starts after `first_prefix`; continuation lines are
// indented by `indent` spaces.
std::string Wrap(absl::string_view text, int width, absl::string_view first_prefix, int indent) {
  std::string out(first_prefix);
  int col = Width(first_prefix);
  bool line_empty = true;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    int w = Width(word);
    if (!line_empty && col + 1 + w > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      col = indent;
      line_empty = true;
    }
    if (!line_empty) {
      out.push_back(' ');
      ++col;
    }
    absl::StrAppend(&out, word);
    col += w;
    line_empty = false;
  }
  out.push_back('\n');
  return out;
}

std::string Rule(absl::string_view title, int width, const Style& st) {
  std::string head = absl::StrCat("── ", title, " ");
  int rest = width - Width(head);
  std::string line = head;
  for (int i = 0; i < rest; ++i) line += "─";
  return absl::StrCat(st.Bold(line), "\n");
}

std::string Mark(v1::CriterionStatus status, const Style& st) {
  switch (status) {
    case v1::CRITERION_STATUS_MET:
      return st.Green("✓");
    case v1::CRITERION_STATUS_UNMET:
      return st.Red("✗");
    default:
      return st.Yellow("?");
  }
}

std::string StatusWord(v1::CriterionStatus status) {
  switch (status) {
    case v1::CRITERION_STATUS_MET:
      return "met";
    case v1::CRITERION_STATUS_UNMET:
      return "not met";
    default:
      return "not recorded";
  }
}

std::string PhaseName(const v1::PhaseRef& phase) {
  if (!phase.name().empty()) return phase.name();
  if (!phase.id().empty()) return phase.id();
  return "(unmapped)";
}

std::string FormatTs(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", ToAbslTime(ts), absl::UTCTimeZone());
}

std::string FormatAge(const google::protobuf::Duration& d) {
  int64_t s = d.seconds();
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 86400) return absl::StrCat(s / 3600, "h", (s % 3600) / 60, "m");
  return absl::StrCat(s / 86400, "d");
}

std::string Footer(const v1::PlaybookRef& playbook, const v1::DataFreshness& f, int width,
                   const Style& st) {
  std::string data =
      f.source().empty() ? "data: unknown source" : absl::StrCat("data: ", f.source());
  if (f.has_fetched_at() && f.fetched_at().seconds() > 0) {
    absl::StrAppend(&data, ", fetched ", FormatTs(f.fetched_at()));
  }
  absl::StrAppend(&data, ", age ", FormatAge(f.age()));
  std::string text =
      absl::StrCat("playbook ", playbook.name(), "@", playbook.version(), " · ", data);
  std::string out;
  std::string rule;
  for (int i = 0; i < width; ++i) rule += "─";
  absl::StrAppend(&out, st.Dim(rule), "\n", st.Dim(Wrap(text, width, "", 0)));
  if (f.stale()) {
    absl::StrAppend(
        &out, st.Yellow(Wrap(absl::StrCat("⚠ stale data: ", f.stale_reason()), width, "", 2)));
  }
  if (f.partial()) {
    absl::StrAppend(
        &out, st.Yellow(Wrap(absl::StrCat("⚠ partial data: ", f.partial_reason()), width, "", 2)));
  }
  return out;
}

std::string FactsLine(const std::vector<std::string>& missing) {
  return absl::StrCat("not recorded in the CRM: ", absl::StrJoin(missing, ", "));
}

void AppendCriterion(const v1::CriterionResult& c, int width, const Style& st, std::string* out) {
  absl::StrAppend(out, Wrap(c.text(), width, absl::StrCat("    ", Mark(c.status(), st), " "), 6));
  if (c.status() == v1::CRITERION_STATUS_UNKNOWN && c.missing_fields_size() > 0) {
    std::vector<std::string> missing;
    for (const std::string& m : c.missing_fields()) {
      missing.push_back(engine::DescribeMissingAttribute(m));
    }
    absl::StrAppend(out, st.Dim(Wrap(FactsLine(missing), width, "      ", 6)));
  } else if (!c.error().empty()) {
    absl::StrAppend(out, st.Dim(Wrap(absl::StrCat("error: ", c.error()), width, "      ", 6)));
  }
  if (c.status() != v1::CRITERION_STATUS_MET && !c.hint().empty()) {
    absl::StrAppend(out, st.Dim(Wrap(absl::StrCat("→ ", c.hint()), width, "      ", 8)));
  }
}

std::string SeverityWord(v1::RiskSeverity s, const Style& st) {
  switch (s) {
    case v1::RISK_SEVERITY_HIGH:
      return st.Red("high");
    case v1::RISK_SEVERITY_MEDIUM:
      return st.Yellow("medium");
    case v1::RISK_SEVERITY_LOW:
      return "low";
    default:
      return "risk";
  }
}

}  // namespace

std::string FormatAmount(const v1::Opportunity& opportunity) {
  if (!opportunity.has_amount()) return "";
  double amount = opportunity.amount();
  double whole = std::floor(std::fabs(amount));
  int cents = static_cast<int>(std::lround((std::fabs(amount) - whole) * 100));
  if (cents == 100) {
    whole += 1;
    cents = 0;
  }
  std::string digits = absl::StrFormat("%.0f", whole);
  std::string grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped.push_back(',');
    grouped.push_back(digits[i]);
  }
  std::string code = opportunity.currency_code().empty() ? "" : opportunity.currency_code() + " ";
  return absl::StrCat(code, amount < 0 ? "-" : "", grouped,
                      cents > 0 ? absl::StrFormat(".%02d", cents) : "");
}

std::string RenderGuidance(const v1::DealGuidance& g, const v1::Opportunity* opp,
                           const RenderOptions& options) {
  const Style st(options.color);
  const int w = options.width;
  std::string out;
  std::string title = g.opportunity_name().empty() ? g.opportunity_id() : g.opportunity_name();
  absl::StrAppend(&out, Rule(title, w, st));

  std::vector<std::string> line1;
  if (opp != nullptr) {
    std::string amount = FormatAmount(*opp);
    if (!amount.empty()) line1.push_back(st.Bold(amount));
    if (!opp->account().name().empty()) line1.push_back(opp->account().name());
    if (!opp->owner().name().empty()) line1.push_back(absl::StrCat("owner ", opp->owner().name()));
  }
  line1.push_back(absl::StrCat("id ", g.opportunity_id()));
  absl::StrAppend(&out, Wrap(absl::StrJoin(line1, " · "), w, "  ", 2));

  std::string crm = g.crm_stage().empty() ? "(no stage)" : g.crm_stage();
  std::string claimed = g.has_claimed_phase() ? PhaseName(g.claimed_phase()) : "(unmapped)";
  absl::StrAppend(&out,
                  Wrap(absl::StrCat("CRM stage ", st.Bold(crm), " → claims ", st.Bold(claimed),
                                    " · evidence says ", st.Bold(PhaseName(g.evidence_phase()))),
                       w, "  ", 4));
  if (g.has_stage_ahead_of_evidence()) {
    const v1::StageWarning& warn = g.stage_ahead_of_evidence();
    std::string text = warn.message().empty() ? absl::StrCat("The CRM stage claims ", claimed,
                                                             " but the evidence supports ",
                                                             PhaseName(g.evidence_phase()))
                                              : warn.message();
    absl::StrAppend(&out, "\n",
                    st.Yellow(Wrap(absl::StrCat("Stage ahead of evidence: ", text), w, "  ⚠ ", 4)));
  }

  // Gates: passed gates on one line each; the open gate with its criteria.
  if (g.gates_size() > 0) {
    absl::StrAppend(&out, "\n", st.Bold("  Exit gates"), "\n");
    for (const v1::GateResult& gate : g.gates()) {
      std::string header =
          absl::StrCat(PhaseName(gate.phase()), " gate: ", StatusWord(gate.status()));
      if (gate.status() == v1::CRITERION_STATUS_MET) {
        absl::StrAppend(&out, Wrap(header, w, absl::StrCat("  ", Mark(gate.status(), st), " "), 4));
        continue;
      }
      int met = 0;
      for (const auto& c : gate.criteria()) met += c.status() == v1::CRITERION_STATUS_MET;
      absl::StrAppend(&out, Wrap(absl::StrCat(header, " (", met, " of ", gate.criteria_size(),
                                              " criteria met)"),
                                 w, absl::StrCat("  ", Mark(gate.status(), st), " "), 4));
      for (const v1::CriterionResult& c : gate.criteria()) AppendCriterion(c, w, st, &out);
    }
  }

  if (g.next_best_behaviors_size() > 0) {
    absl::StrAppend(&out, "\n", st.Bold("  Next best behaviors"), "\n");
    int n = 0;
    // A rep glances at this between calls: a link shown for a higher-ranked behavior is
    // not repeated under the next one (the API still lists it on every behavior).
    std::set<std::string> shown_urls;
    for (const v1::Behavior& b : g.next_best_behaviors()) {
      ++n;
      absl::StrAppend(&out, Wrap(st.Bold(b.prompt()), w, absl::StrCat("  ", n, ". "), 5));
      if (!b.why().empty()) {
        absl::StrAppend(&out, Wrap(absl::StrCat("why: ", b.why()), w, "     ", 10));
      }
      for (const v1::ContentLink& link : b.content()) {
        if (!shown_urls.insert(link.url()).second) continue;
        absl::StrAppend(
            &out, Wrap(absl::StrCat(link.title(), " ", st.Cyan(link.url())), w, "     ↗ ", 7));
      }
    }
    if (g.more_behaviors() > 0) {
      absl::StrAppend(&out, st.Dim(absl::StrCat("     (+", g.more_behaviors(), " more)")), "\n");
    }
  }

  if (g.risks_size() > 0) {
    absl::StrAppend(&out, "\n", st.Bold("  Risks"), "\n");
    for (const v1::Risk& r : g.risks()) {
      absl::StrAppend(&out, Wrap(absl::StrCat("[", SeverityWord(r.severity(), st), "] ", r.text()),
                                 w, "  ! ", 4));
    }
  }

  if (g.coaching_questions_size() > 0) {
    absl::StrAppend(&out, "\n", st.Bold("  Coaching question"), "\n");
    absl::StrAppend(&out, Wrap(g.coaching_questions(0).text(), w, "  » ", 4));
  }

  if (g.issues_size() > 0) {
    absl::StrAppend(&out, "\n", st.Bold("  Rules that could not be evaluated"), "\n");
    for (const v1::EvaluationIssue& i : g.issues()) {
      absl::StrAppend(&out,
                      st.Dim(Wrap(absl::StrCat(i.rule().id(), ": ", i.message()), w, "  - ", 4)));
    }
  }
  absl::StrAppend(&out, "\n", Footer(g.playbook(), g.freshness(), w, st));
  return out;
}

std::string RenderChecklist(const v1::ReviewChecklist& c, const RenderOptions& options) {
  const Style st(options.color);
  const int w = options.width;
  std::string out;
  std::string name = c.opportunity_name().empty() ? c.opportunity_id() : c.opportunity_name();
  absl::StrAppend(&out,
                  Rule(absl::StrCat("Review checklist (", c.checklist(), "): ", name), w, st));
  absl::StrAppend(&out,
                  Wrap(absl::StrCat("Evidence phase ", st.Bold(PhaseName(c.evidence_phase())),
                                    " · ", c.open_items(), " of ", c.items_size(), " items open"),
                       w, "  ", 2),
                  "\n");
  for (const v1::ChecklistItem& item : c.items()) {
    absl::StrAppend(&out,
                    Wrap(item.text(), w, absl::StrCat("  ", Mark(item.status(), st), " "), 4));
    if (item.status() == v1::CRITERION_STATUS_UNKNOWN && item.missing_fields_size() > 0) {
      std::vector<std::string> missing(item.missing_fields().begin(), item.missing_fields().end());
      absl::StrAppend(&out, st.Dim(Wrap(FactsLine(missing), w, "    ", 4)));
    }
    if (item.status() != v1::CRITERION_STATUS_MET && !item.coaching_question().empty()) {
      absl::StrAppend(&out, Wrap(absl::StrCat("ask: ", item.coaching_question()), w, "    ", 9));
    }
  }
  absl::StrAppend(&out, "\n", Footer(c.playbook(), c.freshness(), w, st));
  return out;
}

}  // namespace dealcoach::server
