#include "bench/engine/synthetic_playbook.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"

namespace dealcoach::bench {
namespace {

// Condition number `i`: one of eight typical shapes, constants varied by `i`.
std::string Condition(int i) {
  switch (i % 8) {
    case 0:
      return absl::StrCat("opp.contacts.filter(c, c.confirmed_pain == true).size() >= ", 2 + i % 3);
    case 1:
      return "opp.fields.decision_to_change == true";
    case 2:
      return "opp.contacts.exists(c, 'economic_buyer' in c.roles)";
    case 3:
      return absl::StrCat("now - opp.last_meeting_at < duration('", 24 * (7 + i % 30), "h')");
    case 4:
      return absl::StrCat("opp.amount > ", 1000 * (i % 500), ".0");
    case 5:
      return absl::StrCat("opp.close_date_history.size() <= ", i % 4);
    case 6:
      return "opp.artifacts.exists(a, a.kind == 'mutual_action_plan' && "
             "a.customer_validated == true)";
    default:
      return "opp.fields.technical_validation == true && opp.fields.compelling_event != ''";
  }
}

}  // namespace

std::string SyntheticPlaybookYaml(int rules) {
  const int criteria = std::max(1, rules * 2 / 5);
  const int behaviors = std::max(0, rules * 2 / 5);
  const int risks = std::max(0, rules - criteria - behaviors);
  std::string y = absl::StrCat(
      "apiVersion: dealcoach/v1\n"
      "kind: Playbook\n"
      "metadata: {name: synthetic-",
      rules,
      ", version: 1}\n"
      "fields:\n"
      "  decision_to_change: bool\n"
      "  technical_validation: bool\n"
      "  compelling_event: string\n"
      "roles: [economic_buyer, user_buyer, technical_buyer, coach, champion]\n"
      "phases:\n"
      "  - id: only\n"
      "    name: Only\n"
      "    crm_stages: [Prospecting, Qualification, Needs Analysis, Value Proposition,\n"
      "                 Id. Decision Makers, Perception Analysis, Proposal/Price Quote,\n"
      "                 Negotiation/Review, Closed Won, Closed Lost]\n"
      "    exit_gate:\n");
  int n = 0;
  for (int i = 0; i < criteria; ++i, ++n) {
    absl::StrAppend(&y, "      - id: c", i, "\n        text: Criterion ", i, "\n        when: \"",
                    Condition(n), "\"\n");
  }
  if (behaviors > 0) absl::StrAppend(&y, "    behaviors:\n");
  for (int i = 0; i < behaviors; ++i, ++n) {
    absl::StrAppend(&y, "      - id: b", i, "\n        prompt: Behavior ", i,
                    "\n        priority: ", i % 100, "\n        when: \"", Condition(n), "\"\n");
  }
  if (risks > 0) absl::StrAppend(&y, "risks:\n");
  for (int i = 0; i < risks; ++i, ++n) {
    absl::StrAppend(&y, "  - id: r", i, "\n    text: Risk ", i,
                    "\n    severity: medium\n    when: \"", Condition(n), "\"\n");
  }
  return y;
}

}  // namespace dealcoach::bench
